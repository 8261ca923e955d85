// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target: `e820::parse` on arbitrary bytes (fw_cfg `etc/e820` comes from the VMM).
//! Must never panic; what parses re-encodes to a prefix of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::format::e820;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = e820::parse(data) {
        for e in &entries {
            assert!(e.end().is_some());
        }
        let bytes = e820::build(&entries);
        assert_eq!(&data[..bytes.len()], &bytes[..]);
    }
});
