// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target: `hob::parse` on an arbitrary HOB region (the TD HOB comes from the VMM),
//! then every accessor of the validated list and the TD RAM checks (`hob::td_ram`) against
//! the firmware's limits for both GPAWs. Must never panic, and what `td_ram` lets through
//! must keep those limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::format::hob;
use td_shim::layout;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes choose the base GPA so that the EfiEndOfHobList check is exercised
    // with matching and non-matching bases.
    let (base, bytes) = match data.split_first_chunk::<8>() {
        Some((b, rest)) => (u64::from_le_bytes(*b), rest),
        None => (0, data),
    };
    for base in [base, layout::TD_HOB_BASE] {
        if let Ok(list) = hob::parse(bytes, base) {
            assert!(list.as_bytes().len() <= bytes.len());
            let _ = list.handoff();
            let n = list.iter().count();
            assert!(n >= 1, "a valid list starts with a PHIT");
            let _ = list.resources().count();
            let _ = list.guid_data(hob::ACPI_TABLE_GUID).count();
            // The default image, and what its metadata makes the VMM add: the TempMem
            // sections (run region to mailbox) and the TD HOB.
            let image = (
                layout::image_base(layout::DEFAULT_IMAGE_SIZE),
                layout::FOUR_GIB,
            );
            let added = [
                (layout::SHIM_RUN_BASE, layout::EARLY_RAM_END),
                (
                    layout::TD_HOB_BASE,
                    layout::TD_HOB_BASE + layout::TD_HOB_SIZE,
                ),
            ];
            for gpaw in [48u8, 52] {
                let Some(shared_bit) = hob::shared_bit(gpaw) else {
                    continue;
                };
                let limits = hob::TdLimits {
                    shared_bit,
                    image,
                    added: &added,
                };
                if let Ok(ram) = hob::td_ram(&list, &limits) {
                    for r in ram {
                        assert!(r.start < r.end && r.end <= shared_bit);
                        assert!(r.end <= image.0 || r.start >= image.1);
                        if !r.accepted {
                            assert!(added.iter().all(|&(s, e)| r.end <= s || e <= r.start));
                        }
                    }
                }
            }
        }
    }
});
