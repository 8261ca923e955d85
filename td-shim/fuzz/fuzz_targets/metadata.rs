// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target: `metadata::parse_image` on an arbitrary "image" (untrusted file given to a
//! tool), plus the firmware's tail-only lookup. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::format::metadata;

fuzz_target!(|data: &[u8]| {
    let _ = metadata::ovmf_back_offset(data);
    if let Ok(md) = metadata::parse_image(data) {
        // A validated descriptor must lie inside the image it came from.
        assert!(md.descriptor_offset + md.descriptor_len() <= data.len());
    }
    // The descriptor parser alone, at offset 0.
    if let Ok(md) = metadata::parse_descriptor(data, 0, false) {
        let _ = metadata::validate(&md, data.len() as u64);
    }
});
