// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target: `fv::parse`, `Volume::files`, `File::sections` and `find_section` on an
//! arbitrary volume (the CFV is owner-supplied; tools read FV files). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::format::fv;

fuzz_target!(|data: &[u8]| {
    if let Ok(vol) = fv::parse(data) {
        assert!(vol.bytes.len() <= data.len());
        if let Ok(files) = vol.files() {
            for f in files {
                assert!(f.data_offset + f.data.len() <= vol.bytes.len());
                if let Ok(sections) = f.sections() {
                    for s in sections {
                        assert!(s.data.len() <= f.data.len());
                    }
                }
            }
        }
    }
    let _ = fv::find_section(data, fv::FILE_TYPE_DXE_CORE, fv::SECTION_PE32);
});
