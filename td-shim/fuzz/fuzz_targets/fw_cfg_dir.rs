// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target: `fw_cfg::parse_directory` on arbitrary bytes (QEMU's fw_cfg file directory
//! comes from the VMM, in a legacy VM and in a TD). Must never panic; a parsed directory
//! holds no more entries than the bytes can carry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::platform::fw_cfg;

fuzz_target!(|data: &[u8]| {
    if let Ok(files) = fw_cfg::parse_directory(data) {
        assert!(4 + files.len() * 64 <= data.len());
        for f in &files {
            assert!(f.name.len() < 56);
        }
    }
});
