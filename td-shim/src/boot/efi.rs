// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Lazy accept for Linux (`../shared/spec/linux-boot.md` §5). A kernel that reads Linux's
//! unaccepted-memory table (≥ 6.5, see [`efi::linux_takes_unaccepted`]) gets the RAM the
//! firmware did not accept as unaccepted memory; an older one (or one without a version
//! string) gets everything accepted, as before.
//!
//! The rule for what the firmware accepts itself: the lowest `inputs::LAZY_ACCEPT_BUDGET`
//! bytes (done while reading the TD HOB), more below 4 GiB if the kernel, its `init_size`
//! area and the initrd need it ([`before_prepare`]), the 2 MiB unit after the kernel's area
//! (Linux's `accept_memory` also accepts the unit after a range that ends on a unit boundary)
//! and the sub-2 MiB head and tail of every unaccepted range, which the bitmap cannot
//! describe ([`after_prepare`]). Everything the firmware places (zero page, command line,
//! initrd, ACPI, these tables) comes from accepted RAM. The rest is described, at hand-off,
//! by a minimal EFI system table in reserved memory ([`publish`]): no boot or runtime
//! services, a configuration table with the ACPI 2.0 RSDP and the unaccepted-memory bitmap,
//! and the EFI memory map, all found through `boot_params.efi_info` ("EL64").
//!
//! Inputs: the kernel's setup part (untrusted; only its version string and sizes are read,
//! through `format::efi` and raw bounded reads; `linux::prepare` validates it fully) and the
//! memory map.

use super::linux::Source;
use crate::error::Error;
use crate::format::efi::{self, mem_type};
use crate::layout::{FOUR_GIB, PAGE_SIZE};
use crate::mem::map::{Kind, MemoryMap, Usage};
use crate::platform::fw_cfg::{self, FwCfg};
use crate::platform::Platform;
use alloc::vec::Vec;
use log::{debug, info, warn};

const UNIT: u64 = efi::UNACCEPTED_UNIT_SIZE;
/// Largest setup part read for the version string (setup_sects ≤ 127).
const MAX_SETUP: usize = 64 * 1024;
/// Room kept free below 4 GiB beyond the kernel and initrd: ACPI tables, command line, zero
/// page, payload stack, page tables and these EFI tables.
const SLACK: u64 = 32 << 20;

/// What [`publish`] wrote, for `boot_params`.
#[derive(Clone, Copy, Debug)]
pub struct Published {
    pub systab: u64,
    pub memmap: u64,
    pub memmap_size: u32,
    pub table: u64,
    pub unaccepted_bytes: u64,
}

/// Before the kernel is placed. With no unaccepted memory: `false`. For a kernel that cannot
/// take unaccepted memory: accepts all of it and returns `false`. Otherwise makes sure enough
/// accepted RAM below 4 GiB holds the kernel and initrd, and returns `true` (the rest goes to
/// the kernel: call [`after_prepare`] and, at hand-off, [`publish`]).
pub fn before_prepare(
    p: &dyn Platform,
    src: Source,
    fw: Option<&FwCfg<'_>>,
    map: &mut MemoryMap,
) -> Result<bool, Error> {
    if map.unaccepted_ranges().is_empty() {
        return Ok(false);
    }
    let setup = setup_part(src, fw)?;
    let version = efi::linux_version(&setup);
    if !efi::linux_takes_unaccepted(&setup) {
        let (a, b) = efi::UNACCEPTED_MIN_LINUX;
        match version {
            Some((x, y)) => warn!(
                "linux {x}.{y} predates the unaccepted-memory table ({a}.{b}): accepting the rest"
            ),
            None => warn!("linux has no version string: accepting the rest of memory"),
        }
        super::inputs::accept_rest(p, map)?;
        return Ok(false);
    }
    if let Some((x, y)) = version {
        info!("linux {x}.{y} reads the unaccepted-memory table: lazy accept");
    }

    // The kernel runs in place in the Payload section: its init_size area past the section
    // must be accepted RAM (linux::prepare reserves it).
    if let Source::PayloadSection { base, region, .. } = src {
        if let Some((start, end)) = in_place_tail(&setup, base, region.len() as u64) {
            accept_range(p, map, start, end)?;
        }
    }
    // Room for the kernel (fw_cfg, embedded) and the initrd in accepted RAM below 4 GiB.
    let init_size = u64::from(read_u32(&setup, 0x260));
    let align = u64::from(read_u32(&setup, 0x230)).min(1 << 30);
    let initrd = match src {
        Source::FwCfg => fw.map_or(0, |f| u64::from(f.read_u32(fw_cfg::KEY_INITRD_SIZE))),
        Source::Embedded { initrd, .. } => initrd.map_or(0, |i| i.len() as u64),
        Source::PayloadSection { .. } => 0,
    };
    let kernel = match src {
        Source::PayloadSection { .. } => 0,
        _ => init_size.saturating_add(align),
    };
    let need = kernel.saturating_add(initrd).saturating_add(SLACK);
    let free: u64 = map
        .free_ranges()
        .iter()
        .map(|&(s, e)| e.min(FOUR_GIB).saturating_sub(s))
        .sum();
    if free < need {
        let mut short = (need - free).next_multiple_of(UNIT);
        debug!("lazy accept: {short:#x} more bytes below 4 GiB for the kernel and initrd");
        for (s, e) in map.unaccepted_ranges() {
            let e = e.min(FOUR_GIB);
            if short == 0 || s >= e {
                continue;
            }
            let take = (e - s).min(short);
            accept_range(p, map, s, s + take)?;
            short -= take;
        }
    }
    Ok(true)
}

/// After the kernel is placed: accepts the unit after each kernel area and the sub-unit
/// edges of every unaccepted range, so that what is left is whole 2 MiB units.
pub fn after_prepare(p: &dyn Platform, map: &mut MemoryMap) -> Result<(), Error> {
    let kernel_ends: Vec<u64> = map
        .regions()
        .iter()
        .filter(|r| r.kind == Kind::Used(Usage::Kernel))
        .map(|r| r.end)
        .collect();
    for end in kernel_ends {
        let from = end - end % UNIT;
        let to = end
            .checked_next_multiple_of(UNIT)
            .and_then(|e| e.checked_add(UNIT))
            .unwrap_or(u64::MAX);
        accept_range(p, map, from, to)?;
    }
    for (s, e) in efi::split_unaccepted(&map.unaccepted_ranges()).edges {
        accept_range(p, map, s, e)?;
    }
    let left: u64 = map.unaccepted_ranges().iter().map(|(s, e)| e - s).sum();
    info!("lazy accept: {} MiB left unaccepted for linux", left >> 20);
    Ok(())
}

/// At hand-off, after the last allocation but this one: writes the EFI system table, its
/// configuration table (ACPI 2.0 RSDP, unaccepted-memory table), the unaccepted-memory table
/// and the EFI memory map into one reserved (E820 type 2) region below 4 GiB.
pub fn publish(map: &mut MemoryMap, rsdp: Option<u64>) -> Result<Published, Error> {
    let split = efi::split_unaccepted(&map.unaccepted_ranges());
    if !split.edges.is_empty() {
        return Err(Error::Image(
            "unaccepted memory is not in whole 2 mib units",
        ));
    }
    let bad_units = |e: efi::Error| {
        log::error!("unaccepted-memory table: {e}");
        Error::Image("cannot describe the unaccepted memory")
    };
    let table_len = efi::unaccepted_table_size(&split.units)
        .map_err(bad_units)?
        .ok_or(Error::Image("no unaccepted memory to publish"))?;
    let vendor = efi::ucs2("td-shim");
    let n_config = if rsdp.is_some() { 2 } else { 1 };
    // One descriptor per region at most, plus two: the allocation below can split one free
    // range into three.
    let max_descs = map.regions().len() + 2;
    let o_systab = table_len.next_multiple_of(8);
    let o_vendor = o_systab + efi::SYSTEM_TABLE_SIZE;
    let o_config = (o_vendor + vendor.len()).next_multiple_of(8);
    let o_map = o_config + n_config * efi::CONFIG_ENTRY_SIZE;
    let size = (o_map + max_descs * efi::MEMORY_DESCRIPTOR_SIZE) as u64;
    let base = map.allocate(size, PAGE_SIZE, FOUR_GIB, Usage::Firmware)?;

    let ranges: Vec<(u64, u64, u32, u64)> = map
        .regions()
        .iter()
        .map(|r| {
            let (kind, attr) = efi_type(r.kind);
            (r.start, r.end, kind, attr)
        })
        .collect();
    let descs = efi::memory_descriptors(&ranges).map_err(bad_units)?;
    if descs.len() > max_descs {
        return Err(Error::Image("efi memory map larger than its room"));
    }
    let memmap = efi::memory_map(&descs);
    let table = efi::unaccepted_table(&split.units)
        .map_err(bad_units)?
        .ok_or(Error::Image("no unaccepted memory to publish"))?;
    let mut config = Vec::new();
    if let Some(r) = rsdp {
        config.push((efi::ACPI_20_TABLE_GUID, r));
    }
    config.push((efi::UNACCEPTED_TABLE_GUID, base));
    let config = efi::config_table(&config);
    let systab = efi::system_table(
        base + o_vendor as u64,
        base + o_config as u64,
        n_config as u64,
    );

    // SAFETY: [base, base + size) was just allocated from free, accepted RAM for this alone.
    let out = unsafe { crate::mem::phys_slice_mut(base, size) };
    out.fill(0);
    for (at, bytes) in [
        (0, &table[..]),
        (o_systab, &systab[..]),
        (o_vendor, &vendor[..]),
        (o_config, &config[..]),
        (o_map, &memmap[..]),
    ] {
        out[at..at + bytes.len()].copy_from_slice(bytes);
    }
    let unaccepted_bytes: u64 = split.units.iter().map(|(s, e)| e - s).sum();
    for (s, e) in &split.units {
        debug!("unaccepted for linux: [{s:#x}, {e:#x})");
    }
    info!(
        "linux: efi system table at {:#x}, unaccepted-memory table at {:#x}: {:#x} bytes unaccepted in {} ranges, {} memory descriptors",
        base + o_systab as u64,
        base,
        unaccepted_bytes,
        split.units.len(),
        descs.len()
    );
    Ok(Published {
        systab: base + o_systab as u64,
        memmap: base + o_map as u64,
        memmap_size: memmap.len() as u32,
        table: base,
        unaccepted_bytes,
    })
}

/// Points the zero page at the published tables: `efi_info` ("EL64", system table, memory
/// map) and `secure_boot` = disabled (this firmware has no UEFI secure boot).
pub fn patch_boot_params(zero_page: &mut [u8], p: &Published) {
    let info = efi::efi_info(p.systab, p.memmap, p.memmap_size);
    let at = efi::BOOT_PARAMS_EFI_INFO;
    zero_page[at..at + info.len()].copy_from_slice(&info);
    zero_page[efi::BOOT_PARAMS_SECURE_BOOT] = efi::SECURE_BOOT_DISABLED;
}

/// EFI memory type and attribute for a memory-map kind, consistent with its E820 type.
fn efi_type(kind: Kind) -> (u32, u64) {
    use crate::format::e820;
    match kind {
        Kind::Ram => (mem_type::CONVENTIONAL, efi::MEMORY_WB),
        Kind::Unaccepted => (mem_type::UNACCEPTED, efi::MEMORY_WB),
        Kind::Reserved => (mem_type::RESERVED, 0),
        // In use but RAM to the kernel (its image area, the initrd): what a loader leaves.
        Kind::Used(_) => match kind.e820_type() {
            e820::E820_RAM => (mem_type::LOADER_DATA, efi::MEMORY_WB),
            e820::E820_ACPI => (mem_type::ACPI_RECLAIM, efi::MEMORY_WB),
            e820::E820_NVS => (mem_type::ACPI_NVS, efi::MEMORY_WB),
            _ => (mem_type::RESERVED, efi::MEMORY_WB),
        },
    }
}

/// Accepts the unaccepted parts of `[start, end)` (widened to pages).
fn accept_range(p: &dyn Platform, map: &mut MemoryMap, start: u64, end: u64) -> Result<(), Error> {
    let start = start - start % PAGE_SIZE;
    let end = end.checked_next_multiple_of(PAGE_SIZE).unwrap_or(u64::MAX);
    for (s, e) in map.unaccepted_ranges() {
        let (a, b) = (s.max(start), e.min(end));
        if a >= b {
            continue;
        }
        debug!("accepting [{a:#x}, {b:#x}) for linux");
        super::inputs::accept_range(p, map, a, b)?;
    }
    Ok(())
}

/// The kernel's setup part (enough for its header and version string).
fn setup_part(src: Source, fw: Option<&FwCfg<'_>>) -> Result<Vec<u8>, Error> {
    Ok(match src {
        Source::FwCfg => {
            let fw = fw.ok_or(Error::NoPayload)?;
            let len = (fw.read_u32(fw_cfg::KEY_SETUP_SIZE) as usize).min(MAX_SETUP);
            let mut setup = alloc::vec![0u8; len];
            fw.read_item_into(fw_cfg::KEY_SETUP_DATA, &mut setup)?;
            setup
        }
        Source::Embedded { kernel, .. } => kernel[..kernel.len().min(MAX_SETUP)].to_vec(),
        Source::PayloadSection { region, .. } => region[..region.len().min(MAX_SETUP)].to_vec(),
    })
}

/// A setup-header field, 0 when the part read is too short to hold it (the header is
/// validated later, by `linux::prepare`).
fn read_u32(b: &[u8], at: usize) -> u32 {
    crate::format::le::u32_at(b, at).unwrap_or(0)
}

/// For a kernel running in place in the Payload section `[base, base + len)`: the part of its
/// realigned `init_size` area past the section, if any (as `linux::prepare` computes it; the
/// header is validated there).
fn in_place_tail(setup: &[u8], base: u64, len: u64) -> Option<(u64, u64)> {
    let sects = match setup.get(0x1F1).copied()? {
        0 => 4,
        n => u64::from(n),
    };
    let align = u64::from(read_u32(setup, 0x230)).max(0x1000);
    let init_size = u64::from(read_u32(setup, 0x260));
    let load = base.checked_add((sects + 1) * 512)?;
    let end = load
        .checked_next_multiple_of(align)?
        .checked_add(init_size)?
        .min(FOUR_GIB);
    let section_end = base.checked_add(len)?;
    (end > section_end).then_some((section_end, end))
}
