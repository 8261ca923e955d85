// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Collects and validates the boot inputs: the image's own metadata (found through the OVMF
//! GUID table at the image tail), the payload in the image's payload FV, and the memory map
//! (fw_cfg `etc/e820` in a legacy VM, the TD HOB in a TD). VMM-supplied inputs are untrusted
//! and go through the strict parsers in `format`.

use super::EntryArgs;
use crate::error::Error;
use crate::format::{e820, fv, hob, metadata};
use crate::layout::{self, FOUR_GIB, PAGE_SIZE};
use crate::mem::{
    self,
    map::{Kind, MemoryMap, Region, Usage},
};
use crate::platform::{fw_cfg::FwCfg, legacy, Platform, PlatformKind};
use alloc::vec::Vec;
use log::{debug, info, warn};

/// Size of the shared fw_cfg DMA bounce buffer in a TD (shared while fw_cfg is used, private
/// RAM again from [`release_fw_cfg`] on).
const FW_CFG_BOUNCE_SIZE: u64 = 0x20_0000;

/// Largest fw_cfg `etc/e820` we read (QEMU sends a handful of entries).
const MAX_E820_BYTES: u32 = 128 * e820::ENTRY_SIZE as u32;

/// The payload found in the image.
#[derive(Clone, Copy, Debug)]
pub enum Payload {
    /// An executable ELF (the PE32 section body, zero padding included).
    Elf(&'static [u8]),
    /// A signed payload blob (`format::signed_payload`) holding an executable ELF, zero
    /// padding included: loaded only after `secure_boot::verify`.
    Signed(&'static [u8]),
    /// A Linux bzImage, with the initrd and command line embedded next to it, if any.
    Linux {
        kernel: &'static [u8],
        initrd: Option<&'static [u8]>,
        cmdline: Option<&'static [u8]>,
    },
}

/// The metadata Payload (and PayloadParam) sections, into which a VMM that loads the kernel
/// itself (cloud-hypervisor style) puts a bzImage and its command line.
#[derive(Clone, Copy, Debug)]
pub struct TdPayload {
    pub base: u64,
    pub size: u64,
    /// `(gpa, size)` of the PayloadParam section.
    pub param: Option<(u64, u64)>,
}

/// What the image says about itself.
#[derive(Clone, Debug)]
pub struct Image {
    pub td_payload: Option<TdPayload>,
    pub size: u64,
    pub base: u64,
    pub metadata: metadata::Metadata,
    /// `(gpa, length)` of the payload FV, if the image has one.
    pub payload_fv: Option<(u64, u64)>,
    /// `(gpa, bytes)` of the configuration volume region, if the image has one.
    pub cfv: Option<(u64, &'static [u8])>,
    pub payload: Option<Payload>,
}

/// Reads and validates the image's metadata and finds the built-in payload.
pub fn image() -> Result<Image, Error> {
    // SAFETY: the last page below 4 GiB is the image's reset-vector page: mapped (ROM in a
    // legacy VM, private memory in a TD) and never written.
    let tail = unsafe { mem::phys_slice(FOUR_GIB - PAGE_SIZE, PAGE_SIZE) };
    let back = u64::from(metadata::ovmf_back_offset(tail)?);
    if !(16..=layout::MAX_IMAGE_SIZE).contains(&back) {
        return Err(Error::Image(
            "metadata back-offset outside the image window",
        ));
    }
    let desc_gpa = FOUR_GIB - back;
    // SAFETY: [desc_gpa, 4 GiB) lies inside the image window (back ≤ MAX_IMAGE_SIZE), which
    // is mapped and read-only for us.
    let desc = unsafe { mem::phys_slice(desc_gpa, back) };
    // SAFETY: as above; the 16 bytes before the descriptor are in the image window too
    // unless the descriptor sits at the very start, which `validate` refuses anyway.
    let guid = unsafe { mem::phys_slice(desc_gpa - 16, 16) };
    let guid_before = guid == metadata::METADATA_GUID.to_bytes().as_slice();
    let mut md = metadata::parse_descriptor(desc, 0, guid_before)?;

    // The BFV holding the reset vector ends at 4 GiB; it fixes the image size.
    let bfv = md
        .sections
        .iter()
        .find(|s| {
            s.section_type == metadata::SectionType::Bfv as u32
                && s.memory_address.checked_add(s.memory_data_size) == Some(FOUR_GIB)
        })
        .ok_or(Error::Image("no bfv section ends at 4 GiB"))?;
    let size = (FOUR_GIB - bfv.memory_address)
        .checked_add(u64::from(bfv.data_offset))
        .filter(|s| *s <= layout::MAX_IMAGE_SIZE && *s >= back)
        .ok_or(Error::Image("bfv section does not fit the image window"))?;
    let base = FOUR_GIB - size;
    md.descriptor_offset = (size - back) as usize;
    metadata::validate(&md, size)?;
    // Sections with bytes must sit where the image maps them (they are read in place).
    for s in md.sections.iter().filter(|s| s.raw_data_size != 0) {
        if s.memory_address != base + u64::from(s.data_offset) {
            return Err(Error::Image(
                "a section with raw data is not mapped in place",
            ));
        }
    }

    let mut payload_fv = None;
    let mut payload = None;
    for s in md
        .sections
        .iter()
        .filter(|s| s.section_type == metadata::SectionType::Bfv as u32)
    {
        // SAFETY: validated above: inside the image window, mapped in place.
        let bytes = unsafe { mem::phys_slice(s.memory_address, u64::from(s.raw_data_size)) };
        let Ok(vol) = fv::parse(bytes) else { continue };
        if vol.name != Some(fv::PAYLOAD_FV_NAME) {
            continue;
        }
        let body = fv::find_section(vol.bytes, fv::FILE_TYPE_DXE_CORE, fv::SECTION_PE32)?;
        payload_fv = Some((s.memory_address, vol.bytes.len() as u64));
        payload = Some(if body.starts_with(b"\x7fELF") {
            Payload::Elf(body)
        } else if crate::format::signed_payload::is_signed(body) {
            Payload::Signed(body)
        } else if body.get(0x202..0x206) == Some(b"HdrS".as_slice()) {
            let files = vol.files()?;
            let find = |name| files.iter().find(|f| f.name == name).map(|f| f.data);
            Payload::Linux {
                kernel: body,
                initrd: find(fv::PAYLOAD_INITRD_FILE_NAME),
                cmdline: find(fv::PAYLOAD_CMDLINE_FILE_NAME),
            }
        } else {
            return Err(Error::Image(
                "payload fv holds neither an elf, a signed payload nor a bzimage",
            ));
        });
        debug!(
            "payload fv at {:#x}, {} bytes",
            s.memory_address,
            vol.bytes.len()
        );
        break;
    }
    let find = |t: metadata::SectionType| md.sections.iter().find(|s| s.section_type == t as u32);
    let cfv = find(metadata::SectionType::Cfv).map(|s| {
        // SAFETY: validated above: a section with raw data inside the image window, mapped in
        // place and read-only.
        let bytes = unsafe { mem::phys_slice(s.memory_address, u64::from(s.raw_data_size)) };
        (s.memory_address, bytes)
    });
    let td_payload = find(metadata::SectionType::Payload).map(|p| TdPayload {
        base: p.memory_address,
        size: p.memory_data_size,
        param: find(metadata::SectionType::PayloadParam)
            .map(|q| (q.memory_address, q.memory_data_size)),
    });
    Ok(Image {
        size,
        base,
        metadata: md,
        payload_fv,
        cfv,
        payload,
        td_payload,
    })
}

/// The memory map from whatever the platform offers (with the fixed ranges already kept out,
/// see [`reserve_fixed`]), QEMU's fw_cfg if it is there, and whether this boot measures (a TD
/// always; a legacy VM as fw_cfg's switch says, [`super::measurer::wanted`]). When measuring,
/// the VMM's description of memory (TD HOB or fw_cfg `etc/e820`) is measured as soon as it is
/// read.
pub fn memory_map<'p>(
    p: &'p dyn Platform,
    image: &Image,
    entry: &EntryArgs,
) -> Result<(MemoryMap, Option<FwCfg<'p>>, bool), Error> {
    match p.kind() {
        PlatformKind::LegacyVm => {
            let fw = FwCfg::probe(p)?.ok_or(Error::NoMemoryMap)?;
            // Known before the first input is read: a legacy VM that does not measure hashes
            // nothing, not even the memory map.
            let measuring = super::measurer::wanted(&fw)?;
            let mut map = legacy_map(&fw, measuring)?;
            // RAM above 4 GiB (an initrd QEMU may place there is read to be measured) gets
            // mapped now; the boot tables cover [0, 4 GiB) only.
            if map.ram_end() > FOUR_GIB {
                crate::boot::protect::early_to(p, map.ram_end())?;
            }
            reserve_fixed(&mut map)?;
            reserve_td_payload(&mut map, image)?;
            Ok((map, Some(fw), measuring))
        }
        PlatformKind::Tdx => {
            // QEMU's fw_cfg works in a TD too (through TDVMCALL port I/O); its DMA can only
            // reach shared memory, so bulk reads go through a shared bounce buffer, made private
            // again and returned to the RAM once the firmware is done with fw_cfg
            // (`release_fw_cfg`).
            let fw = FwCfg::probe(p)?;
            let lazy = match fw.as_ref() {
                Some(fw) => lazy_accept_requested(fw)?,
                None => false,
            };
            let mut map = td_map(p, image, entry, lazy)?;
            reserve_fixed(&mut map)?;
            reserve_td_payload(&mut map, image)?;
            let fw = match fw {
                Some(mut fw) => {
                    if fw.has_dma() {
                        let at =
                            map.allocate(FW_CFG_BOUNCE_SIZE, PAGE_SIZE, FOUR_GIB, Usage::Firmware)?;
                        // SAFETY: just allocated from accepted RAM; nothing private goes there.
                        let mask = unsafe { p.share(at, FW_CFG_BOUNCE_SIZE) }?;
                        // The firmware reaches the shared pages through their shared alias
                        // (the device address), not the private identity map.
                        crate::boot::protect::map_shared(at, at + FW_CFG_BOUNCE_SIZE, mask)?;
                        info!(
                            "fw_cfg dma bounce buffer [{at:#x}, {:#x}) shared with the host",
                            at + FW_CFG_BOUNCE_SIZE
                        );
                        // SAFETY: shared, mapped to its shared alias at its own address,
                        // reserved for this buffer alone.
                        unsafe { fw.use_bounce_buffer(at, FW_CFG_BOUNCE_SIZE, mask) };
                    }
                    Some(fw)
                }
                None => None,
            };
            // A TD always measures (the switch is not read there).
            Ok((map, fw, true))
        }
    }
}

/// Ends the firmware's use of fw_cfg (the device is consumed: no read can follow). In a TD its
/// DMA bounce buffer becomes private again (MapGPA to private, then accepted again: GHCI
/// order) and goes back to the memory map as free RAM, so the OS gets it as ordinary RAM.
pub fn release_fw_cfg(
    p: &dyn Platform,
    fw: Option<FwCfg<'_>>,
    map: &mut MemoryMap,
) -> Result<(), Error> {
    let Some((start, len)) = fw.and_then(FwCfg::into_bounce_buffer) else {
        return Ok(());
    };
    let end = start + len;
    crate::boot::protect::map_private(start, end)?;
    // SAFETY: the buffer `memory_map` shared, and the device that used it is gone: no DMA in
    // flight, nothing reads it any more.
    unsafe { p.unshare(start, len) }?;
    map.retype_range(start, end, Kind::Used(Usage::Firmware), Kind::Ram);
    info!("fw_cfg dma bounce buffer [{start:#x}, {end:#x}) private again, returned to the ram");
    Ok(())
}

fn legacy_map(fw: &FwCfg<'_>, measuring: bool) -> Result<MemoryMap, Error> {
    let mut cpus = [0u8; 2];
    fw.read_small(crate::platform::fw_cfg::KEY_NB_CPUS, &mut cpus);
    legacy::get().set_vcpu_count(u32::from(u16::from_le_bytes(cpus)));
    let file = fw.find("etc/e820").ok_or(Error::NoMemoryMap)?;
    if file.size > MAX_E820_BYTES {
        return Err(Error::Image("fw_cfg etc/e820 is larger than 128 entries"));
    }
    let mut raw = alloc::vec![0u8; file.size as usize];
    fw.read_file(file, &mut raw)?;
    // Measured (RTMR0, logged once the log exists) before anything uses it.
    if measuring {
        super::measurer::extend_early(fw.platform(), crate::measure::vmm_e820(&raw))?;
    }
    let entries = e820::parse(&raw)?;
    for e in &entries {
        debug!(
            "fw_cfg e820: [{:#x}, {:#x}) type {}",
            e.addr,
            e.addr.wrapping_add(e.size),
            e.kind
        );
    }
    Ok(MemoryMap::from_e820(&entries)?)
}

/// A fw_cfg switch file (`opt/td-shim/...`): `Some(true)` for `on` or `1`, `Some(false)` for
/// `off` or `0` (one trailing newline allowed: a file from QEMU's `file=` may have one), `None`
/// when the VMM did not add it. Any other value stops the boot with the file's name, so that
/// a typo is not silently read as "off".
pub fn switch(fw: &FwCfg<'_>, name: &'static str) -> Result<Option<bool>, Error> {
    let Some(file) = fw.find(name) else {
        return Ok(None);
    };
    let bad = Error::BadSwitch {
        file: name,
        expected: "\"on\" or \"off\" (or 1 or 0)",
    };
    let mut value = [0u8; 8];
    let dest = value.get_mut(..file.size as usize).ok_or(bad)?;
    fw.read_file(file, dest)?;
    match dest.strip_suffix(b"\n").unwrap_or(dest) {
        b"on" | b"1" => Ok(Some(true)),
        b"off" | b"0" => Ok(Some(false)),
        _ => Err(bad),
    }
}

/// Whether the VMM asks for lazy accept (`opt/td-shim/lazy-accept` on in fw_cfg). Lazy vs.
/// eager changes only who accepts memory and when, never what is private.
fn lazy_accept_requested(fw: &FwCfg<'_>) -> Result<bool, Error> {
    Ok(switch(fw, "opt/td-shim/lazy-accept")?.unwrap_or(false))
}

/// With lazy accept, how much unaccepted RAM the firmware accepts itself (the lowest, in
/// address order): enough for the payload, its stack and tables; the rest is handed over
/// unaccepted.
pub const LAZY_ACCEPT_BUDGET: u64 = 256 << 20;

fn td_map(
    p: &dyn Platform,
    image: &Image,
    entry: &EntryArgs,
    lazy: bool,
) -> Result<MemoryMap, Error> {
    let section = image
        .metadata
        .sections
        .iter()
        .find(|s| s.section_type == metadata::SectionType::TdHob as u32)
        .ok_or(Error::NoMemoryMap)?;
    if entry.vmm_param != section.memory_address {
        warn!(
            "vmm passed hob address {:#x}, metadata says {:#x}: using the metadata",
            entry.vmm_param, section.memory_address
        );
    }
    // SAFETY: the TD_HOB section was added (accepted) by the VMM at this GPA, inside early
    // low RAM that nothing else uses; the size comes from our own validated metadata.
    let bytes = unsafe { mem::phys_slice(section.memory_address, section.memory_data_size) };
    let list = hob::parse(bytes, section.memory_address)?;
    // Measured (RTMR0, logged once the log exists) before any resource in it is used: the
    // bytes [start, EfiEndOfHobList) as checked by the parser.
    super::measurer::extend_early(p, crate::measure::td_hob(list.as_bytes()))?;
    // The semantic checks (hob.md §2.2, tdcall.md §5) against what we trust: the shared bit
    // from TDG.VP.INFO's GPAW, the image and the sections the VMM must have added.
    let gpaw = crate::platform::tdx::init()
        .map_err(|e| Error::Platform(e.into()))?
        .info()
        .gpaw;
    let shared_bit = hob::shared_bit(gpaw).ok_or(Error::Image(
        "tdg.vp.info reports a gpaw other than 48 or 52",
    ))?;
    let added: Vec<(u64, u64)> = image
        .metadata
        .sections
        .iter()
        .filter(|s| {
            [
                metadata::SectionType::TempMem,
                metadata::SectionType::TdHob,
                metadata::SectionType::Payload,
                metadata::SectionType::PayloadParam,
            ]
            .iter()
            .any(|&t| s.section_type == t as u32)
        })
        .filter_map(|s| {
            Some((
                s.memory_address,
                s.memory_address.checked_add(s.memory_data_size)?,
            ))
        })
        .collect();
    let ram = hob::td_ram(
        &list,
        &hob::TdLimits {
            shared_bit,
            image: (image.base, FOUR_GIB),
            added: &added,
        },
    )?;
    let mut regions = Vec::new();
    for r in &ram {
        // Nothing inside the firmware window below 4 GiB (hob.md §2.2 step 2: clipped).
        let end = if r.start < FOUR_GIB {
            r.end.min(FOUR_GIB - layout::MAX_IMAGE_SIZE)
        } else {
            r.end
        };
        if end > r.start {
            regions.push(Region {
                start: r.start,
                end,
                kind: if r.accepted {
                    Kind::Ram
                } else {
                    Kind::Unaccepted
                },
            });
        }
    }
    let mut map = MemoryMap::from_regions(regions)?;
    // From here on the tables map all RAM (above 4 GiB too) but what is still unaccepted;
    // `accept_range` maps each range as it accepts it.
    crate::boot::protect::early_for(p, &map)?;
    // Accept everything (eager), or the lowest LAZY_ACCEPT_BUDGET bytes (lazy).
    accept(
        p,
        &mut map,
        if lazy { LAZY_ACCEPT_BUDGET } else { u64::MAX },
    )?;
    if lazy {
        let left: u64 = map.unaccepted_ranges().iter().map(|(s, e)| e - s).sum();
        info!(
            "lazy accept: {} MiB left unaccepted for the payload",
            left >> 20
        );
    }
    crate::boot::protect::selftest_unaccepted(&map);
    Ok(map)
}

/// Keeps the Payload/PayloadParam sections (what the VMM loaded there) out of allocations.
fn reserve_td_payload(map: &mut MemoryMap, image: &Image) -> Result<(), Error> {
    let Some(tp) = image.td_payload else {
        return Ok(());
    };
    map.reserve(tp.base, tp.base + tp.size, Kind::Used(Usage::Kernel))
        .map_err(|_| Error::EarlyRegionNotRam {
            name: "payload section",
            base: tp.base,
        })?;
    if let Some((base, size)) = tp.param {
        map.reserve(base, base + size, Kind::Used(Usage::Tables))
            .map_err(|_| Error::EarlyRegionNotRam {
                name: "payload-param section",
                base,
            })?;
    }
    Ok(())
}

/// Accepts whatever RAM is still unaccepted (for payloads that cannot take unaccepted memory).
pub fn accept_rest(p: &dyn Platform, map: &mut MemoryMap) -> Result<(), Error> {
    accept(p, map, u64::MAX)
}

/// Accepts unaccepted RAM in address order until `budget` bytes are done (the last piece
/// rounded up to 2 MiB); the APs help with large ranges.
fn accept(p: &dyn Platform, map: &mut MemoryMap, mut budget: u64) -> Result<(), Error> {
    for (start, end) in map.unaccepted_ranges() {
        if budget == 0 {
            break;
        }
        let mut stop = end;
        if end - start > budget {
            stop = (start + budget).next_multiple_of(0x20_0000).min(end);
        }
        info!("accepting [{start:#x}, {stop:#x})");
        accept_range(p, map, start, stop)?;
        budget = budget.saturating_sub(stop - start);
    }
    Ok(())
}

/// Accepts `[start, end)` (page aligned), which must be unaccepted RAM of `map`: maps it in
/// the live page tables (boot::protect keeps unaccepted RAM unmapped), accepts it, and marks
/// it free RAM. Every accept of the boot goes through here.
pub fn accept_range(
    p: &dyn Platform,
    map: &mut MemoryMap,
    start: u64,
    end: u64,
) -> Result<(), Error> {
    if !map
        .unaccepted_ranges()
        .iter()
        .any(|&(s, e)| s <= start && end <= e)
    {
        return Err(Error::Image("accepting a range that is not unaccepted ram"));
    }
    crate::boot::protect::map_accepted(start, end)?;
    // SAFETY: the range is unaccepted RAM from the TD HOB (checked above): nothing can be in
    // it yet.
    unsafe { p.accept(start, end) }?;
    map.retype_range(start, end, Kind::Unaccepted, Kind::Ram);
    Ok(())
}

/// Keeps fixed ranges out of every allocation: page 0 (RAM, but never handed out), the legacy VGA/BIOS window
/// [0xA0000, 1 MiB), and the firmware's early regions (which must be RAM).
pub fn reserve_fixed(map: &mut MemoryMap) -> Result<(), Error> {
    map.reserve(0, PAGE_SIZE, Kind::Used(Usage::Firmware))?;
    map.reserve(0xA_0000, 0x10_0000, Kind::Reserved)?;
    for (name, base, size) in layout::EARLY_REGIONS {
        map.reserve(base, base + size, Kind::Used(Usage::Firmware))
            .map_err(|_| Error::EarlyRegionNotRam { name, base })?;
    }
    Ok(())
}
