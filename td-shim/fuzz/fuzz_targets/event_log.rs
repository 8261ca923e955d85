// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target: the CC event log parser (`format::event_log::parse`, what `td-shim-eventlog`
//! and payloads run on a log they did not write), replay and the event-data decoders; plus
//! the EFI-table parsers and the bzImage version probe of `format::efi` (lazy accept reads
//! the kernel's version string from its untrusted setup header). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::format::{efi, event_log};

fuzz_target!(|data: &[u8]| {
    if let Ok(log) = event_log::parse(data) {
        assert!(log.end <= data.len());
        let _ = event_log::replay(&log.events);
        for e in &log.events {
            assert!((1..=4).contains(&e.mr_index));
            let _ = event_log::parse_platform_config_info(e.data);
            let _ = event_log::parse_firmware_blob2(e.data);
        }
    }
    let _ = efi::linux_version(data);
    let _ = efi::linux_takes_unaccepted(data);
    let _ = efi::parse_system_table(data);
    let _ = efi::parse_unaccepted_table(data).map(|t| t.ranges());
    let _ = efi::parse_config_table(data, (data.len() / 24) as u64);
});
