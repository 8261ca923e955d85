// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Tables handed to the payload. For executable payloads: the payload HOB
//! (`../shared/spec/hob.md` §4): PHIT, CPU, the payload FV, one resource descriptor per RAM
//! range (above 4 GiB included), the ACPI tables the firmware installed (the CCEL) as ACPI
//! GUID HOBs, the E820 view as a GUID HOB, End.

use crate::arch::cpu;
use crate::format::{e820, hob};
use crate::mem::map::MemoryMap;
use alloc::vec::Vec;

/// Builds the payload HOB for placement at GPA `base`.
pub fn payload_hob(
    map: &MemoryMap,
    payload_fv: Option<(u64, u64)>,
    base: u64,
    acpi_tables: &[&[u8]],
) -> Vec<u8> {
    build_payload_hob(
        map,
        payload_fv,
        base,
        cpu::physical_address_bits(),
        acpi_tables,
    )
}

/// Pure part of [`payload_hob`] (host-tested).
pub fn build_payload_hob(
    map: &MemoryMap,
    payload_fv: Option<(u64, u64)>,
    base: u64,
    phys_bits: u8,
    acpi_tables: &[&[u8]],
) -> Vec<u8> {
    let ram = map.ram_ranges();
    let bottom = ram.first().map(|r| r.0).unwrap_or(0);
    // PHIT EfiMemoryTop must be page aligned (hob.md §2.1); map ends are, but say it here.
    let top = ram.last().map(|r| r.1 & !0xFFF).unwrap_or(0);
    let mut b = hob::Builder::new();
    b.cpu(phys_bits, 16);
    if let Some((fv_base, fv_len)) = payload_fv {
        b.fv(fv_base, fv_len);
    }
    for (start, end) in &ram {
        b.resource(&hob::Resource {
            owner: crate::format::guid::Guid::ZERO,
            resource_type: hob::RESOURCE_SYSTEM_MEMORY,
            attributes: hob::ATTR_PRESENT | hob::ATTR_INITIALIZED | hob::ATTR_TESTED,
            start: *start,
            length: end - start,
        });
    }
    // RAM a TD left unaccepted (lazy accept): the payload accepts it before use.
    for (start, end) in &map.unaccepted_ranges() {
        b.resource(&hob::Resource {
            owner: crate::format::guid::Guid::ZERO,
            resource_type: hob::RESOURCE_MEMORY_UNACCEPTED,
            attributes: hob::ATTR_PRESENT | hob::ATTR_INITIALIZED | hob::ATTR_TESTED,
            start: *start,
            length: end - start,
        });
    }
    for t in acpi_tables {
        b.guid(hob::ACPI_TABLE_GUID, t);
    }
    b.guid(hob::E820_TABLE_GUID, &e820::build(&map.to_e820()));
    b.finish(base, bottom, top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::e820::Entry;
    use crate::mem::map::Usage;

    #[test]
    fn payload_hob_lists_all_ram_and_the_e820_view() {
        const G: u64 = 1 << 30;
        let mut map = MemoryMap::from_e820(&[
            Entry {
                addr: 0,
                size: 2 * G,
                kind: 1,
            },
            Entry {
                addr: 4 * G,
                size: 4 * G,
                kind: 1,
            },
        ])
        .unwrap();
        let tables = map
            .allocate(0x1_0000, 0x1000, 4 * G, Usage::Tables)
            .unwrap();
        let bytes = build_payload_hob(
            &map,
            Some((0xFF04_0000, 0x1000)),
            tables,
            39,
            &[b"CCEL-like table!"],
        );
        let list = hob::parse(&bytes, tables).unwrap();
        let res: Vec<(u64, u64)> = list.resources().map(|r| (r.start, r.length)).collect();
        assert_eq!(res, [(0, 2 * G), (4 * G, 4 * G)]);
        let h = list.handoff();
        assert_eq!((h.memory_bottom, h.memory_top), (0, 8 * G));
        assert_eq!(h.end_of_hob_list, tables + bytes.len() as u64);
        let acpi: Vec<&[u8]> = list.guid_data(hob::ACPI_TABLE_GUID).collect();
        assert_eq!(acpi, [b"CCEL-like table!".as_slice()]);
        let e820_data: Vec<&[u8]> = list.guid_data(hob::E820_TABLE_GUID).collect();
        assert_eq!(e820_data.len(), 1);
        let entries = e820::parse(e820_data[0]).unwrap();
        assert!(entries.contains(&Entry {
            addr: tables,
            size: 0x1_0000,
            kind: e820::E820_ACPI
        }));
        assert!(list.iter().any(|h| h
            == hob::Hob::Cpu {
                memory_space_bits: 39,
                io_space_bits: 16
            }));
        assert!(list.iter().any(|h| h
            == hob::Hob::Fv {
                base: 0xFF04_0000,
                length: 0x1000
            }));
    }
}
