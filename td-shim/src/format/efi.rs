// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The EFI structures through which a Linux kernel booted with the 64-bit boot protocol (no
//! EFI stub) learns about unaccepted memory (`../shared/spec/linux-boot.md` §5): a minimal
//! 64-bit EFI system table (no boot services, no runtime services, no consoles) whose
//! configuration table names the ACPI 2.0 RSDP and Linux's unaccepted-memory table
//! (`LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID`: version 1, one bit per 2 MiB unit, bit set =
//! unaccepted), an EFI memory map (unaccepted RAM is `EfiUnacceptedMemoryType`, 15), and the
//! `boot_params.efi_info` block ("EL64") that points the kernel at both.
//!
//! What mainline reads (Linux 6.12 source): the decompressor's `init_unaccepted_memory`
//! (`arch/x86/boot/compressed/mem.c`) checks `efi_info.efi_loader_signature`, takes
//! `efi_systab`/`efi_systab_hi`, walks `tables`/`nr_tables` (`compressed/efi.c`) for the
//! unaccepted table and accepts the kernel's own range through it; the kernel proper's
//! `efi_init` (`arch/x86/platform/efi/efi.c`) checks the system table signature, parses the
//! configuration table (`drivers/firmware/efi/efi.c`, which `memblock_reserve`s the
//! unaccepted table) and installs the memory map from `efi_info` (`efi_memmap`,
//! `efi_memmap_size`, `efi_memdesc_size`, `efi_memdesc_version` = 1). Unaccepted RAM must
//! also be E820 RAM ([`linux_e820`]), as the EFI stub reports it.
//!
//! Builders take firmware-computed values; the parsers (for payloads, tools and tests) take
//! untrusted bytes and never panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use super::e820;
use super::guid::Guid;
use alloc::vec::Vec;
use core::fmt;

/// `EFI_SYSTEM_TABLE_SIGNATURE`: "IBI SYST" read as a little-endian u64.
pub const SYSTEM_TABLE_SIGNATURE: u64 = 0x5453_5953_2049_4249;
/// UEFI 2.9 (`(2 << 16) | 90`): the first revision that defines `EfiUnacceptedMemoryType`.
pub const SYSTEM_TABLE_REVISION: u32 = (2 << 16) | 90;
/// Size of the 64-bit `EFI_SYSTEM_TABLE` (header included): also its `HeaderSize`.
pub const SYSTEM_TABLE_SIZE: usize = 120;
/// One `EFI_CONFIGURATION_TABLE` entry on x64: GUID + pointer.
pub const CONFIG_ENTRY_SIZE: usize = 24;
/// `EFI_MEMORY_DESCRIPTOR` as we write it (no padding): `efi_memdesc_size`.
pub const MEMORY_DESCRIPTOR_SIZE: usize = 40;
/// `EFI_MEMORY_DESCRIPTOR_VERSION`: `efi_memdesc_version`.
pub const MEMORY_DESCRIPTOR_VERSION: u32 = 1;
/// EFI pages are 4 KiB whatever the CPU maps.
pub const EFI_PAGE_SIZE: u64 = 0x1000;
/// Bytes per bitmap bit in the unaccepted table (Linux's `EFI_UNACCEPTED_UNIT_SIZE`).
pub const UNACCEPTED_UNIT_SIZE: u64 = 0x20_0000;
/// The only version of the unaccepted table Linux knows.
pub const UNACCEPTED_TABLE_VERSION: u32 = 1;
/// `{u32 version, u32 unit_size, u64 phys_base, u64 size}` before the bitmap.
pub const UNACCEPTED_HEADER_SIZE: usize = 24;
/// Largest bitmap we build or accept (covers 16 TiB of address space at 2 MiB per bit).
pub const MAX_BITMAP_BYTES: usize = 1 << 20;
/// `efi_info.efi_loader_signature` for a 64-bit EFI: "EL64".
pub const EFI64_LOADER_SIGNATURE: [u8; 4] = *b"EL64";
/// Offset of `struct efi_info` in `struct boot_params`.
pub const BOOT_PARAMS_EFI_INFO: usize = 0x1C0;
/// Size of `struct efi_info`.
pub const EFI_INFO_SIZE: usize = 32;
/// Offset of `boot_params.secure_boot`.
pub const BOOT_PARAMS_SECURE_BOOT: usize = 0x1EC;
/// `efi_secureboot_mode_disabled` (the kernel's enum: unset 0, unknown 1, disabled 2,
/// enabled 3): this firmware has no UEFI secure boot.
pub const SECURE_BOOT_DISABLED: u8 = 2;
/// First Linux release whose decompressor and kernel read the unaccepted table (6.5); any
/// later kernel built for TDX guests has it, since `INTEL_TDX_GUEST` selects
/// `UNACCEPTED_MEMORY`.
pub const UNACCEPTED_MIN_LINUX: (u32, u32) = (6, 5);

/// `ACPI_20_TABLE_GUID` 8868E871-E4F1-11D3-BC22-0080C73C8881.
pub const ACPI_20_TABLE_GUID: Guid = Guid::from_fields(
    0x8868_E871,
    0xE4F1,
    0x11D3,
    [0xBC, 0x22, 0x00, 0x80, 0xC7, 0x3C, 0x88, 0x81],
);
/// `LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID` D5D1DE3C-105C-44F9-9EA9-BCEF98120031.
pub const UNACCEPTED_TABLE_GUID: Guid = Guid::from_fields(
    0xD5D1_DE3C,
    0x105C,
    0x44F9,
    [0x9E, 0xA9, 0xBC, 0xEF, 0x98, 0x12, 0x00, 0x31],
);

/// `EFI_MEMORY_TYPE` values used here (UEFI 2.9, table 7-6).
pub mod mem_type {
    pub const RESERVED: u32 = 0;
    pub const LOADER_CODE: u32 = 1;
    pub const LOADER_DATA: u32 = 2;
    pub const CONVENTIONAL: u32 = 7;
    pub const ACPI_RECLAIM: u32 = 9;
    pub const ACPI_NVS: u32 = 10;
    pub const UNACCEPTED: u32 = 15;
}

/// `EFI_MEMORY_WB`: write-back cacheable.
pub const MEMORY_WB: u64 = 0x8;

/// Why a structure could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the structure needs.
    Truncated { need: usize, have: usize },
    /// Wrong system-table signature.
    Signature,
    /// System-table `HeaderSize` smaller than the 64-bit table or past the bytes given.
    HeaderSize(u32),
    /// System-table CRC32 does not match.
    Crc { stored: u32, computed: u32 },
    /// Unknown unaccepted-table or memory-descriptor version.
    Version(u32),
    /// Unit size not a power of two of at least 4 KiB, or a base not aligned to it.
    Unit(u64),
    /// A range or descriptor is not aligned as required.
    Misaligned { start: u64, end: u64 },
    /// Ranges out of order, overlapping, empty or wrapping.
    BadRange { start: u64, end: u64 },
    /// More than [`MAX_BITMAP_BYTES`] of bitmap, or a size that does not fit.
    TooLarge,
    /// Descriptor size too small for a descriptor.
    DescriptorSize(u32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { need, have } => {
                write!(f, "efi structure truncated: need {need} bytes, have {have}")
            }
            Error::Signature => f.write_str("efi system table signature is not \"IBI SYST\""),
            Error::HeaderSize(s) => write!(f, "efi system table header size {s} is invalid"),
            Error::Crc { stored, computed } => write!(
                f,
                "efi system table crc32 {stored:#010x} does not match {computed:#010x}"
            ),
            Error::Version(v) => write!(f, "unknown efi structure version {v}"),
            Error::Unit(u) => write!(f, "bad unaccepted-memory unit or base {u:#x}"),
            Error::Misaligned { start, end } => {
                write!(f, "range [{start:#x}, {end:#x}) is not aligned as required")
            }
            Error::BadRange { start, end } => write!(
                f,
                "range [{start:#x}, {end:#x}) is empty, wraps, overlaps or is out of order"
            ),
            Error::TooLarge => f.write_str("unaccepted-memory bitmap too large"),
            Error::DescriptorSize(s) => write!(f, "efi memory descriptor size {s} too small"),
        }
    }
}

/// CRC-32 as UEFI table headers use it (IEEE 802.3, reflected, init and final xor !0).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn put(out: &mut [u8], at: usize, value: &[u8]) {
    if let Some(dst) = out.get_mut(at..).and_then(|s| s.get_mut(..value.len())) {
        dst.copy_from_slice(value);
    }
}

fn get<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..)?.get(..N)?.try_into().ok()
}

fn get_u32(bytes: &[u8], at: usize) -> Option<u32> {
    get::<4>(bytes, at).map(u32::from_le_bytes)
}

fn get_u64(bytes: &[u8], at: usize) -> Option<u64> {
    get::<8>(bytes, at).map(u64::from_le_bytes)
}

/// `s` as a NUL-terminated UCS-2 string (the system table's `FirmwareVendor`). Characters
/// outside the basic plane become '?'.
pub fn ucs2(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().saturating_add(1).saturating_mul(2));
    for c in s.chars().chain(core::iter::once('\0')) {
        let unit = u16::try_from(u32::from(c)).unwrap_or(u16::from(b'?'));
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// A 64-bit `EFI_SYSTEM_TABLE` with only a vendor string and a configuration table:
/// `RuntimeServices`, `BootServices` and the console fields are 0. The CRC32 is filled.
pub fn system_table(fw_vendor: u64, tables: u64, nr_tables: u64) -> [u8; SYSTEM_TABLE_SIZE] {
    let mut t = [0u8; SYSTEM_TABLE_SIZE];
    put(&mut t, 0, &SYSTEM_TABLE_SIGNATURE.to_le_bytes());
    put(&mut t, 8, &SYSTEM_TABLE_REVISION.to_le_bytes());
    put(&mut t, 12, &(SYSTEM_TABLE_SIZE as u32).to_le_bytes());
    // 16: CRC32 (0 while computing), 20: reserved.
    put(&mut t, 24, &fw_vendor.to_le_bytes());
    // 32: FirmwareRevision 0; 40..88: console handles and protocols 0; 88: RuntimeServices
    // 0; 96: BootServices 0.
    put(&mut t, 104, &nr_tables.to_le_bytes());
    put(&mut t, 112, &tables.to_le_bytes());
    let crc = crc32(&t);
    put(&mut t, 16, &crc.to_le_bytes());
    t
}

/// The decoded fields of a 64-bit system table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemTable {
    pub revision: u32,
    pub fw_vendor: u64,
    pub runtime_services: u64,
    pub boot_services: u64,
    pub nr_tables: u64,
    pub tables: u64,
}

/// Parses a 64-bit system table: signature, `HeaderSize` and CRC32 are checked.
pub fn parse_system_table(bytes: &[u8]) -> Result<SystemTable, Error> {
    let short = Error::Truncated {
        need: SYSTEM_TABLE_SIZE,
        have: bytes.len(),
    };
    let u64_at = |o| get_u64(bytes, o).ok_or(short);
    if u64_at(0)? != SYSTEM_TABLE_SIGNATURE {
        return Err(Error::Signature);
    }
    let header_size = get_u32(bytes, 12).ok_or(short)?;
    let hs = header_size as usize;
    if hs < SYSTEM_TABLE_SIZE || hs > bytes.len() {
        return Err(Error::HeaderSize(header_size));
    }
    let stored = get_u32(bytes, 16).ok_or(short)?;
    let mut copy = bytes.get(..hs).ok_or(short)?.to_vec();
    put(&mut copy, 16, &[0; 4]);
    let computed = crc32(&copy);
    if stored != computed {
        return Err(Error::Crc { stored, computed });
    }
    Ok(SystemTable {
        revision: get_u32(bytes, 8).ok_or(short)?,
        fw_vendor: u64_at(24)?,
        runtime_services: u64_at(88)?,
        boot_services: u64_at(96)?,
        nr_tables: u64_at(104)?,
        tables: u64_at(112)?,
    })
}

/// An `EFI_CONFIGURATION_TABLE` array.
pub fn config_table(entries: &[(Guid, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len().saturating_mul(CONFIG_ENTRY_SIZE));
    for (guid, addr) in entries {
        out.extend_from_slice(&guid.to_bytes());
        out.extend_from_slice(&addr.to_le_bytes());
    }
    out
}

/// Parses `count` configuration-table entries.
pub fn parse_config_table(bytes: &[u8], count: u64) -> Result<Vec<(Guid, u64)>, Error> {
    let need = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(CONFIG_ENTRY_SIZE))
        .ok_or(Error::TooLarge)?;
    let body = bytes.get(..need).ok_or(Error::Truncated {
        need,
        have: bytes.len(),
    })?;
    Ok(body
        .chunks_exact(CONFIG_ENTRY_SIZE)
        .filter_map(|e| {
            let guid = Guid::from_bytes(get::<16>(e, 0)?);
            Some((guid, get_u64(e, 16)?))
        })
        .collect())
}

/// One `EFI_MEMORY_DESCRIPTOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryDescriptor {
    pub kind: u32,
    pub start: u64,
    pub pages: u64,
    pub attribute: u64,
}

impl MemoryDescriptor {
    /// Exclusive end, `None` if it does not fit in 64 bits.
    pub fn end(&self) -> Option<u64> {
        self.pages
            .checked_mul(EFI_PAGE_SIZE)
            .and_then(|len| self.start.checked_add(len))
    }
}

/// Descriptors for `(start, end, type, attribute)` ranges, ascending and disjoint. A bound
/// that is not page aligned is rounded outwards, then clipped to the end of the descriptor
/// before (so a page shared by two ranges goes to the first: give RAM ranges page-trimmed,
/// as the memory map keeps them). Touching ranges of the same type and attribute merge.
pub fn memory_descriptors(ranges: &[(u64, u64, u32, u64)]) -> Result<Vec<MemoryDescriptor>, Error> {
    let mut out: Vec<MemoryDescriptor> = Vec::new();
    let mut prev_end = 0u64;
    for &(start, end, kind, attribute) in ranges {
        if end <= start || start < prev_end {
            return Err(Error::BadRange { start, end });
        }
        let bad = Error::Misaligned { start, end };
        let end_up = align_up(end, EFI_PAGE_SIZE).ok_or(bad)?;
        let start_down = align_down(start, EFI_PAGE_SIZE)
            .max(out.last().and_then(MemoryDescriptor::end).unwrap_or(0));
        prev_end = end;
        if end_up <= start_down {
            continue;
        }
        let pages = end_up.wrapping_sub(start_down) / EFI_PAGE_SIZE;
        match out.last_mut() {
            Some(last)
                if last.kind == kind
                    && last.attribute == attribute
                    && last.end() == Some(start_down) =>
            {
                last.pages = last.pages.saturating_add(pages);
            }
            _ => out.push(MemoryDescriptor {
                kind,
                start: start_down,
                pages,
                attribute,
            }),
        }
    }
    Ok(out)
}

/// The memory-map bytes (`MEMORY_DESCRIPTOR_SIZE` each, version 1, `VirtualStart` 0).
pub fn memory_map(descs: &[MemoryDescriptor]) -> Vec<u8> {
    let mut out = Vec::with_capacity(descs.len().saturating_mul(MEMORY_DESCRIPTOR_SIZE));
    for d in descs {
        out.extend_from_slice(&d.kind.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&d.start.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&d.pages.to_le_bytes());
        out.extend_from_slice(&d.attribute.to_le_bytes());
    }
    out
}

/// Parses a memory map of `desc_size`-byte descriptors (the tail shorter than one is
/// ignored, as Linux does); a descriptor whose end does not fit in 64 bits is refused.
pub fn parse_memory_map(
    bytes: &[u8],
    desc_size: u32,
    version: u32,
) -> Result<Vec<MemoryDescriptor>, Error> {
    if version != MEMORY_DESCRIPTOR_VERSION {
        return Err(Error::Version(version));
    }
    let size = desc_size as usize;
    if size < MEMORY_DESCRIPTOR_SIZE {
        return Err(Error::DescriptorSize(desc_size));
    }
    let mut out = Vec::new();
    for d in bytes.chunks_exact(size) {
        let field = |o| get_u64(d, o).unwrap_or(0);
        let desc = MemoryDescriptor {
            kind: get_u32(d, 0).unwrap_or(0),
            start: field(8),
            pages: field(24),
            attribute: field(32),
        };
        if desc.end().is_none() {
            return Err(Error::BadRange {
                start: desc.start,
                end: u64::MAX,
            });
        }
        out.push(desc);
    }
    Ok(out)
}

/// Unaccepted ranges split into what the bitmap can describe (whole 2 MiB units) and what
/// must be accepted before hand-off (the sub-unit head and tail of each range).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Unit-aligned ranges for the bitmap.
    pub units: Vec<(u64, u64)>,
    /// Pieces smaller than a unit, to accept now.
    pub edges: Vec<(u64, u64)>,
}

/// Splits `ranges` (any alignment, ascending or not) at [`UNACCEPTED_UNIT_SIZE`] boundaries.
/// Empty ranges are skipped.
pub fn split_unaccepted(ranges: &[(u64, u64)]) -> Split {
    let mut s = Split::default();
    for &(start, end) in ranges {
        if end <= start {
            continue;
        }
        let up = align_up(start, UNACCEPTED_UNIT_SIZE);
        let down = align_down(end, UNACCEPTED_UNIT_SIZE);
        match up {
            Some(up) if up < down => {
                if start < up {
                    s.edges.push((start, up));
                }
                s.units.push((up, down));
                if down < end {
                    s.edges.push((down, end));
                }
            }
            _ => s.edges.push((start, end)),
        }
    }
    s
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    v.checked_next_multiple_of(a)
}

fn align_down(v: u64, a: u64) -> u64 {
    v.checked_rem(a).map_or(v, |r| v.wrapping_sub(r))
}

/// Size in bytes of the unaccepted table for `units` (unit-aligned, ascending, disjoint):
/// header plus the bitmap rounded up to whole 8-byte words (the kernel reads it as
/// `unsigned long`s). `None` if `units` is empty.
pub fn unaccepted_table_size(units: &[(u64, u64)]) -> Result<Option<usize>, Error> {
    Ok(bitmap_span(units)?.map(|(_, bytes)| UNACCEPTED_HEADER_SIZE.saturating_add(bytes)))
}

/// `(phys_base, bitmap bytes)` for `units`, after checking them.
fn bitmap_span(units: &[(u64, u64)]) -> Result<Option<(u64, usize)>, Error> {
    let (Some(&(base, _)), Some(&(_, last))) = (units.first(), units.last()) else {
        return Ok(None);
    };
    let mut prev_end = base;
    for &(start, end) in units {
        if end <= start || start < prev_end {
            return Err(Error::BadRange { start, end });
        }
        if start % UNACCEPTED_UNIT_SIZE != 0 || end % UNACCEPTED_UNIT_SIZE != 0 {
            return Err(Error::Misaligned { start, end });
        }
        prev_end = end;
    }
    let bits = last.wrapping_sub(base) / UNACCEPTED_UNIT_SIZE;
    let bytes = bits.div_ceil(64).saturating_mul(8);
    match usize::try_from(bytes) {
        Ok(b) if b <= MAX_BITMAP_BYTES => Ok(Some((base, b))),
        _ => Err(Error::TooLarge),
    }
}

/// Linux's unaccepted-memory table for `units` (see [`unaccepted_table_size`]): version 1,
/// unit 2 MiB, `phys_base` = the first unit, bit n set ⇔ [base + n·2 MiB, +2 MiB) is
/// unaccepted. `None` if there is nothing unaccepted.
pub fn unaccepted_table(units: &[(u64, u64)]) -> Result<Option<Vec<u8>>, Error> {
    let Some((base, bytes)) = bitmap_span(units)? else {
        return Ok(None);
    };
    let mut out = alloc::vec![0u8; UNACCEPTED_HEADER_SIZE.saturating_add(bytes)];
    put(&mut out, 0, &UNACCEPTED_TABLE_VERSION.to_le_bytes());
    put(&mut out, 4, &(UNACCEPTED_UNIT_SIZE as u32).to_le_bytes());
    put(&mut out, 8, &base.to_le_bytes());
    put(&mut out, 16, &(bytes as u64).to_le_bytes());
    let bitmap = out.get_mut(UNACCEPTED_HEADER_SIZE..).unwrap_or_default();
    for &(start, end) in units {
        let first = start.wrapping_sub(base) / UNACCEPTED_UNIT_SIZE;
        let last = end.wrapping_sub(base) / UNACCEPTED_UNIT_SIZE;
        for bit in first..last {
            // bitmap_span sized the bitmap to hold every bit up to the last unit.
            if let Some(byte) = usize::try_from(bit / 8)
                .ok()
                .and_then(|i| bitmap.get_mut(i))
            {
                *byte |= 1u8 << (bit % 8);
            }
        }
    }
    Ok(Some(out))
}

/// A parsed unaccepted-memory table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnacceptedTable<'a> {
    pub version: u32,
    pub unit_size: u64,
    pub phys_base: u64,
    pub bitmap: &'a [u8],
}

/// Parses an unaccepted-memory table: version 1, unit a power of two ≥ 4 KiB, base aligned
/// to the unit, bitmap no larger than [`MAX_BITMAP_BYTES`] and present in `bytes`.
pub fn parse_unaccepted_table(bytes: &[u8]) -> Result<UnacceptedTable<'_>, Error> {
    let short = Error::Truncated {
        need: UNACCEPTED_HEADER_SIZE,
        have: bytes.len(),
    };
    let version = get_u32(bytes, 0).ok_or(short)?;
    if version != UNACCEPTED_TABLE_VERSION {
        return Err(Error::Version(version));
    }
    let unit_size = u64::from(get_u32(bytes, 4).ok_or(short)?);
    let phys_base = get_u64(bytes, 8).ok_or(short)?;
    let size = get_u64(bytes, 16).ok_or(short)?;
    if !unit_size.is_power_of_two() || unit_size < EFI_PAGE_SIZE {
        return Err(Error::Unit(unit_size));
    }
    if phys_base.checked_rem(unit_size) != Some(0) {
        return Err(Error::Unit(phys_base));
    }
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= MAX_BITMAP_BYTES)
        .ok_or(Error::TooLarge)?;
    let need = UNACCEPTED_HEADER_SIZE.saturating_add(size);
    let bitmap = bytes
        .get(UNACCEPTED_HEADER_SIZE..need)
        .ok_or(Error::Truncated {
            need,
            have: bytes.len(),
        })?;
    Ok(UnacceptedTable {
        version,
        unit_size,
        phys_base,
        bitmap,
    })
}

impl UnacceptedTable<'_> {
    /// The unaccepted ranges the bitmap describes (runs of set bits), ascending. A run whose
    /// address does not fit in 64 bits is refused.
    pub fn ranges(&self) -> Result<Vec<(u64, u64)>, Error> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut bit = 0u64;
        for &byte in self.bitmap {
            for i in 0..8u64 {
                if byte & (1 << i) != 0 {
                    let n = bit.saturating_add(i);
                    let start = n
                        .checked_mul(self.unit_size)
                        .and_then(|o| o.checked_add(self.phys_base))
                        .ok_or(Error::TooLarge)?;
                    let end = start.checked_add(self.unit_size).ok_or(Error::TooLarge)?;
                    match out.last_mut() {
                        Some(last) if last.1 == start => last.1 = end,
                        _ => out.push((start, end)),
                    }
                }
            }
            bit = bit.saturating_add(8);
        }
        Ok(out)
    }

    /// Bytes marked unaccepted.
    pub fn unaccepted_bytes(&self) -> u64 {
        let bits: u64 = self.bitmap.iter().map(|b| u64::from(b.count_ones())).sum();
        bits.saturating_mul(self.unit_size)
    }
}

/// `struct efi_info` for a 64-bit EFI: "EL64", the system table and the memory map (each
/// address split into low and high 32 bits).
pub fn efi_info(systab: u64, memmap: u64, memmap_size: u32) -> [u8; EFI_INFO_SIZE] {
    let mut b = [0u8; EFI_INFO_SIZE];
    put(&mut b, 0, &EFI64_LOADER_SIGNATURE);
    put(&mut b, 4, &(systab as u32).to_le_bytes());
    put(&mut b, 8, &(MEMORY_DESCRIPTOR_SIZE as u32).to_le_bytes());
    put(&mut b, 12, &MEMORY_DESCRIPTOR_VERSION.to_le_bytes());
    put(&mut b, 16, &(memmap as u32).to_le_bytes());
    put(&mut b, 20, &memmap_size.to_le_bytes());
    put(&mut b, 24, &((systab >> 32) as u32).to_le_bytes());
    put(&mut b, 28, &((memmap >> 32) as u32).to_le_bytes());
    b
}

/// The E820 view Linux needs next to the unaccepted table: unaccepted RAM (our type 8) is
/// plain RAM (type 1), as the EFI stub reports it; touching entries of one type merge.
pub fn linux_e820(entries: &[e820::Entry]) -> Vec<e820::Entry> {
    let mut out: Vec<e820::Entry> = Vec::with_capacity(entries.len());
    for e in entries {
        let kind = if e.kind == e820::E820_UNACCEPTED {
            e820::E820_RAM
        } else {
            e.kind
        };
        match out.last_mut() {
            Some(last) if last.kind == kind && last.end() == Some(e.addr) => {
                last.size = last.size.saturating_add(e.size)
            }
            _ => out.push(e820::Entry { kind, ..*e }),
        }
    }
    out
}

/// `(major, minor)` from the setup header's `kernel_version` string (a pointer at 0x20E, the
/// string at that value + 0x200 in the setup part, e.g. "6.12.117+deb12-cloud-amd64 (…)").
/// `None` when the field is 0 or the string does not start with "MAJOR.MINOR".
pub fn linux_version(setup: &[u8]) -> Option<(u32, u32)> {
    let ptr = u16::from_le_bytes(get::<2>(setup, 0x20E)?);
    if ptr == 0 {
        return None;
    }
    let text = setup.get(usize::from(ptr).checked_add(0x200)?..)?;
    let text = text.get(..text.len().min(64))?;
    let mut parts = text.split(|&b| b == b'.');
    let number = |s: &[u8]| -> Option<u32> {
        let digits: Vec<u8> = s.iter().copied().take_while(u8::is_ascii_digit).collect();
        if digits.is_empty() || digits.len() > 6 {
            return None;
        }
        core::str::from_utf8(&digits).ok()?.parse().ok()
    };
    let major_bytes = parts.next()?;
    // The major number is the whole first field; the minor only its leading digits.
    if !major_bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((number(major_bytes)?, number(parts.next()?)?))
}

/// Whether a kernel reads the unaccepted table: its version string says ≥ 6.5. Without a
/// version string the answer is no (the safe side: the firmware then accepts everything).
pub fn linux_takes_unaccepted(setup: &[u8]) -> bool {
    linux_version(setup).is_some_and(|v| v >= UNACCEPTED_MIN_LINUX)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use alloc::vec;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    #[test]
    fn crc32_check_value() {
        // The standard CRC-32/ISO-HDLC check value for "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn guids_match_their_registry_form() {
        assert_eq!(
            ACPI_20_TABLE_GUID,
            Guid::parse_str("8868e871-e4f1-11d3-bc22-0080c73c8881").unwrap()
        );
        assert_eq!(
            UNACCEPTED_TABLE_GUID,
            Guid::parse_str("d5d1de3c-105c-44f9-9ea9-bcef98120031").unwrap()
        );
        // On-disk order: first three fields little-endian.
        assert_eq!(
            &UNACCEPTED_TABLE_GUID.to_bytes()[..8],
            &[0x3C, 0xDE, 0xD1, 0xD5, 0x5C, 0x10, 0xF9, 0x44]
        );
    }

    #[test]
    fn system_table_layout_by_hand() {
        let t = system_table(0x1122_3344_5566_7788, 0xAABB_CCDD_0000_1000, 2);
        assert_eq!(&t[0..8], b"IBI SYST");
        assert_eq!(
            u32::from_le_bytes(t[8..12].try_into().unwrap()),
            0x0002_005A
        );
        assert_eq!(u32::from_le_bytes(t[12..16].try_into().unwrap()), 120);
        assert_eq!(&t[20..24], &[0; 4]);
        assert_eq!(
            u64::from_le_bytes(t[24..32].try_into().unwrap()),
            0x1122_3344_5566_7788
        );
        // Consoles, runtime services (88) and boot services (96) all zero.
        assert!(t[32..104].iter().all(|&b| b == 0));
        assert_eq!(u64::from_le_bytes(t[104..112].try_into().unwrap()), 2);
        assert_eq!(
            u64::from_le_bytes(t[112..120].try_into().unwrap()),
            0xAABB_CCDD_0000_1000
        );
        // python3: zlib.crc32 of the same 120 bytes with the CRC field zero.
        // b = bytearray(120); b[0:8] = b"IBI SYST"; b[8:12] = (0x2005A).to_bytes(4,'little')
        // b[12:16] = (120).to_bytes(4,'little'); b[24:32] = (0x1122334455667788).to_bytes(8,'little')
        // b[104:112] = (2).to_bytes(8,'little'); b[112:120] = (0xAABBCCDD00001000).to_bytes(8,'little')
        assert_eq!(
            u32::from_le_bytes(t[16..20].try_into().unwrap()),
            SYSTAB_CRC_FROM_PYTHON
        );
    }

    /// See `system_table_layout_by_hand` for the python3 line that produced it.
    const SYSTAB_CRC_FROM_PYTHON: u32 = 0x1E5C_38B4;

    #[test]
    fn system_table_round_trip_and_hostile() {
        let t = system_table(0x1000, 0x2000, 3);
        let p = parse_system_table(&t).unwrap();
        assert_eq!(
            p,
            SystemTable {
                revision: SYSTEM_TABLE_REVISION,
                fw_vendor: 0x1000,
                runtime_services: 0,
                boot_services: 0,
                nr_tables: 3,
                tables: 0x2000,
            }
        );
        // Truncated.
        assert!(matches!(
            parse_system_table(&t[..119]),
            Err(Error::HeaderSize(120))
        ));
        assert!(matches!(
            parse_system_table(&t[..4]),
            Err(Error::Truncated { .. })
        ));
        assert!(parse_system_table(&[]).is_err());
        // Bad signature.
        let mut bad = t;
        bad[0] ^= 1;
        assert_eq!(parse_system_table(&bad), Err(Error::Signature));
        // A flipped bit anywhere else breaks the CRC.
        let mut bad = t;
        bad[100] ^= 0x40;
        assert!(matches!(parse_system_table(&bad), Err(Error::Crc { .. })));
        // Header size too small or past the end.
        for hs in [0u32, 119, 121, u32::MAX] {
            let mut bad = t;
            bad[12..16].copy_from_slice(&hs.to_le_bytes());
            assert_eq!(parse_system_table(&bad), Err(Error::HeaderSize(hs)));
        }
    }

    #[test]
    fn vendor_string_is_ucs2() {
        assert_eq!(ucs2("td"), vec![b't', 0, b'd', 0, 0, 0]);
        assert_eq!(ucs2(""), vec![0, 0]);
        assert_eq!(ucs2("\u{1F600}"), vec![b'?', 0, 0, 0]);
    }

    #[test]
    fn config_table_round_trip() {
        let entries = [
            (ACPI_20_TABLE_GUID, 0xE0000),
            (UNACCEPTED_TABLE_GUID, 0x7F00_0000),
        ];
        let b = config_table(&entries);
        assert_eq!(b.len(), 48);
        assert_eq!(&b[16..24], &0xE0000u64.to_le_bytes());
        assert_eq!(parse_config_table(&b, 2).unwrap(), entries.to_vec());
        assert_eq!(parse_config_table(&b, 0).unwrap(), vec![]);
        assert!(matches!(
            parse_config_table(&b, 3),
            Err(Error::Truncated { need: 72, have: 48 })
        ));
        assert!(parse_config_table(&b, u64::MAX).is_err());
    }

    #[test]
    fn memory_descriptors_merge_and_check() {
        let d = memory_descriptors(&[
            (0, 0x1000, mem_type::RESERVED, 0),
            (0x1000, 0xA_0000, mem_type::CONVENTIONAL, MEMORY_WB),
            (0x10_0000, 0x20_0000, mem_type::CONVENTIONAL, MEMORY_WB),
            (0x20_0000, 0x40_0000, mem_type::CONVENTIONAL, MEMORY_WB),
            (0x40_0000, 0x80_0000, mem_type::UNACCEPTED, MEMORY_WB),
        ])
        .unwrap();
        assert_eq!(
            d,
            vec![
                MemoryDescriptor {
                    kind: 0,
                    start: 0,
                    pages: 1,
                    attribute: 0
                },
                MemoryDescriptor {
                    kind: 7,
                    start: 0x1000,
                    pages: 0x9F,
                    attribute: 8
                },
                // The hole at [0xA0000, 1 MiB) keeps these apart from the one above.
                MemoryDescriptor {
                    kind: 7,
                    start: 0x10_0000,
                    pages: 0x300,
                    attribute: 8
                },
                MemoryDescriptor {
                    kind: 15,
                    start: 0x40_0000,
                    pages: 0x400,
                    attribute: 8
                },
            ]
        );
        // Unaligned bounds round outwards; a shared page goes to the first range.
        let d = |kind, start, pages| MemoryDescriptor {
            kind,
            start,
            pages,
            attribute: 0,
        };
        assert_eq!(
            memory_descriptors(&[(0x1000, 0x1800, 0, 0)]).unwrap(),
            vec![d(0, 0x1000, 1)]
        );
        assert_eq!(
            memory_descriptors(&[(0x800, 0x1800, 0, 0), (0x1800, 0x3000, 7, 0)]).unwrap(),
            vec![d(0, 0, 2), d(7, 0x2000, 1)]
        );
        // A range wholly inside the page before it disappears.
        assert_eq!(
            memory_descriptors(&[(0, 0x1800, 0, 0), (0x1800, 0x1900, 2, 0)]).unwrap(),
            vec![d(0, 0, 2)]
        );
        // No page end above the last one.
        assert!(matches!(
            memory_descriptors(&[(u64::MAX - 0x10, u64::MAX, 0, 0)]),
            Err(Error::Misaligned { .. })
        ));
        assert!(matches!(
            memory_descriptors(&[(0x2000, 0x1000, 7, 0)]),
            Err(Error::BadRange { .. })
        ));
        assert!(matches!(
            memory_descriptors(&[(0, 0x2000, 7, 0), (0x1000, 0x3000, 7, 0)]),
            Err(Error::BadRange { .. })
        ));
    }

    #[test]
    fn memory_map_bytes_by_hand() {
        let d = [MemoryDescriptor {
            kind: 15,
            start: 0x4000_0000,
            pages: 0x4_0000,
            attribute: 8,
        }];
        let b = memory_map(&d);
        let mut want = vec![0u8; 40];
        want[0] = 15;
        want[8..16].copy_from_slice(&0x4000_0000u64.to_le_bytes());
        want[24..32].copy_from_slice(&0x4_0000u64.to_le_bytes());
        want[32] = 8;
        assert_eq!(b, want);
        assert_eq!(parse_memory_map(&b, 40, 1).unwrap(), d.to_vec());
    }

    #[test]
    fn memory_map_parser_hostile() {
        let good = memory_map(&[MemoryDescriptor {
            kind: 7,
            start: 0,
            pages: 1,
            attribute: 0,
        }]);
        assert_eq!(parse_memory_map(&good, 40, 2), Err(Error::Version(2)));
        assert_eq!(
            parse_memory_map(&good, 39, 1),
            Err(Error::DescriptorSize(39))
        );
        assert_eq!(parse_memory_map(&good, 0, 1), Err(Error::DescriptorSize(0)));
        // A larger descriptor size (as EDK2's 48) reads the first 40 bytes of each.
        let mut wide = good.clone();
        wide.extend_from_slice(&[0xEE; 8]);
        assert_eq!(parse_memory_map(&wide, 48, 1).unwrap().len(), 1);
        // Trailing bytes shorter than a descriptor are ignored; empty is empty.
        assert_eq!(parse_memory_map(&good[..39], 40, 1).unwrap(), vec![]);
        // A descriptor that wraps past 2^64.
        let mut wrap = good.clone();
        wrap[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            parse_memory_map(&wrap, 40, 1),
            Err(Error::BadRange { .. })
        ));
        let mut huge = good;
        huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse_memory_map(&huge, 40, 1).is_err());
    }

    #[test]
    fn split_keeps_whole_units_and_accepts_edges() {
        let s = split_unaccepted(&[
            (0x80_0000 + 0x5000, 256 * MIB + 0x3000),
            (GIB, 2 * GIB),
            (3 * GIB, 3 * GIB + MIB),
            (5, 5),
        ]);
        assert_eq!(
            s.units,
            vec![(0xA0_0000, 256 * MIB), (GIB, 2 * GIB)],
            "whole 2 MiB units only"
        );
        assert_eq!(
            s.edges,
            vec![
                (0x80_5000, 0xA0_0000),
                (256 * MIB, 256 * MIB + 0x3000),
                (3 * GIB, 3 * GIB + MIB),
            ]
        );
        // A range inside one unit, and one straddling a boundary with no whole unit.
        let s = split_unaccepted(&[(0x1000, 0x2000), (MIB, 3 * MIB)]);
        assert!(s.units.is_empty());
        assert_eq!(s.edges, vec![(0x1000, 0x2000), (MIB, 3 * MIB)]);
        // Near the top of the address space.
        let top = u64::MAX - 0xFFF;
        let s = split_unaccepted(&[(top - 0x1000, top)]);
        assert!(s.units.is_empty());
        assert_eq!(s.edges, vec![(top - 0x1000, top)]);
    }

    #[test]
    fn unaccepted_bitmap_by_hand() {
        // Units [256M, 260M) and [262M, 264M): base 256M, bits 0, 1 and 3 → 0b1011.
        let units = [(256 * MIB, 260 * MIB), (262 * MIB, 264 * MIB)];
        let t = unaccepted_table(&units).unwrap().unwrap();
        assert_eq!(unaccepted_table_size(&units).unwrap(), Some(t.len()));
        assert_eq!(t.len(), 24 + 8, "bitmap rounded up to one 8-byte word");
        assert_eq!(&t[0..4], &1u32.to_le_bytes());
        assert_eq!(&t[4..8], &0x20_0000u32.to_le_bytes());
        assert_eq!(&t[8..16], &(256 * MIB).to_le_bytes());
        assert_eq!(&t[16..24], &8u64.to_le_bytes());
        assert_eq!(t[24], 0b1011);
        assert!(t[25..].iter().all(|&b| b == 0));
        let p = parse_unaccepted_table(&t).unwrap();
        assert_eq!(p.ranges().unwrap(), units.to_vec());
        assert_eq!(p.unaccepted_bytes(), 6 * MIB);
    }

    #[test]
    fn unaccepted_bitmap_large_round_trip() {
        // 2 GiB at 4 GiB and 6 GiB at 8 GiB: (14 GiB - 4 GiB) / 2 MiB = 5120 bits = 640 bytes.
        let units = [(4 * GIB, 6 * GIB), (8 * GIB, 14 * GIB)];
        let t = unaccepted_table(&units).unwrap().unwrap();
        assert_eq!(t.len(), 24 + 640);
        let p = parse_unaccepted_table(&t).unwrap();
        assert_eq!(p.phys_base, 4 * GIB);
        assert_eq!(p.ranges().unwrap(), units.to_vec());
        assert_eq!(p.unaccepted_bytes(), 8 * GIB);
        // 1024 bits for the first range = 128 bytes of 0xFF, then zeros up to 8 GiB.
        assert!(t[24..24 + 128].iter().all(|&b| b == 0xFF));
        assert!(t[24 + 128..24 + 256].iter().all(|&b| b == 0));
    }

    #[test]
    fn unaccepted_builder_refuses_bad_units() {
        assert_eq!(unaccepted_table(&[]).unwrap(), None);
        assert_eq!(unaccepted_table_size(&[]).unwrap(), None);
        assert!(matches!(
            unaccepted_table(&[(0x1000, 4 * MIB)]),
            Err(Error::Misaligned { .. })
        ));
        assert!(matches!(
            unaccepted_table(&[(4 * MIB, 8 * MIB), (6 * MIB, 10 * MIB)]),
            Err(Error::BadRange { .. })
        ));
        assert!(matches!(
            unaccepted_table(&[(8 * MIB, 4 * MIB)]),
            Err(Error::BadRange { .. })
        ));
        // A span needing more than MAX_BITMAP_BYTES.
        assert_eq!(
            unaccepted_table(&[(0, 2 * MIB), (1 << 46, (1 << 46) + 2 * MIB)]),
            Err(Error::TooLarge)
        );
    }

    #[test]
    fn unaccepted_parser_hostile() {
        let good = unaccepted_table(&[(0, 2 * MIB)]).unwrap().unwrap();
        assert!(parse_unaccepted_table(&good).is_ok());
        assert!(matches!(
            parse_unaccepted_table(&good[..23]),
            Err(Error::Truncated { .. })
        ));
        assert!(parse_unaccepted_table(&[]).is_err());
        let with = |o: usize, v: &[u8]| {
            let mut b = good.clone();
            b[o..o + v.len()].copy_from_slice(v);
            parse_unaccepted_table(&b).map(|t| t.phys_base)
        };
        assert_eq!(with(0, &2u32.to_le_bytes()), Err(Error::Version(2)));
        assert_eq!(with(4, &0u32.to_le_bytes()), Err(Error::Unit(0)));
        assert_eq!(with(4, &0x3000u32.to_le_bytes()), Err(Error::Unit(0x3000)));
        assert_eq!(with(4, &0x800u32.to_le_bytes()), Err(Error::Unit(0x800)));
        assert_eq!(with(8, &0x1000u64.to_le_bytes()), Err(Error::Unit(0x1000)));
        assert!(matches!(
            with(16, &9u64.to_le_bytes()),
            Err(Error::Truncated { need: 33, .. })
        ));
        assert_eq!(with(16, &u64::MAX.to_le_bytes()), Err(Error::TooLarge));
        // A bit whose address does not fit in 64 bits.
        let mut top = good.clone();
        top[8..16].copy_from_slice(&(u64::MAX - (2 * MIB - 1)).to_le_bytes());
        top[24] = 0x02;
        let p = parse_unaccepted_table(&top).unwrap();
        assert_eq!(p.ranges(), Err(Error::TooLarge));
    }

    #[test]
    fn efi_info_by_hand() {
        let b = efi_info(0x1_2345_6000, 0x7FFF_F000, 0x280);
        assert_eq!(&b[0..4], b"EL64");
        assert_eq!(&b[4..8], &0x2345_6000u32.to_le_bytes());
        assert_eq!(&b[8..12], &40u32.to_le_bytes());
        assert_eq!(&b[12..16], &1u32.to_le_bytes());
        assert_eq!(&b[16..20], &0x7FFF_F000u32.to_le_bytes());
        assert_eq!(&b[20..24], &0x280u32.to_le_bytes());
        assert_eq!(&b[24..28], &1u32.to_le_bytes());
        assert_eq!(&b[28..32], &0u32.to_le_bytes());
        // boot_params: efi_info at 0x1c0 ends at 0x1e0, before e820_entries (0x1e8).
        const { assert!(BOOT_PARAMS_EFI_INFO + EFI_INFO_SIZE <= 0x1E8) };
    }

    #[test]
    fn e820_for_linux_turns_unaccepted_into_ram() {
        let e = |addr, size, kind| e820::Entry { addr, size, kind };
        let input = [
            e(0, 0x1000, 2),
            e(0x1000, 0x9_F000, 1),
            e(0x10_0000, 0xFF0_0000, 1),
            e(0x1000_0000, 0x3000_0000, 8),
            e(0x4000_0000, 0x1000, 3),
            e(0x4000_1000, 0x1000, 8),
            e(0x1_0000_0000, GIB, 8),
        ];
        assert_eq!(
            linux_e820(&input),
            vec![
                e(0, 0x1000, 2),
                e(0x1000, 0x9_F000, 1),
                e(0x10_0000, 0x3FF0_0000, 1),
                e(0x4000_0000, 0x1000, 3),
                e(0x4000_1000, 0x1000, 1),
                e(0x1_0000_0000, GIB, 1),
            ]
        );
    }

    /// A setup part with `version` at the kernel_version pointer 0x3000 (string at 0x3200).
    fn setup_with(version: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; 0x4000];
        s[0x20E..0x210].copy_from_slice(&0x3000u16.to_le_bytes());
        s[0x3200..0x3200 + version.len()].copy_from_slice(version);
        s
    }

    #[test]
    fn linux_version_strings() {
        // The strings of Debian's kernels used by the boot tests.
        let v612 = setup_with(b"6.12.117+deb12-cloud-amd64 (debian-kernel@lists.debian.org) #1");
        assert_eq!(linux_version(&v612), Some((6, 12)));
        assert!(linux_takes_unaccepted(&v612));
        let v61 = setup_with(b"6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP");
        assert_eq!(linux_version(&v61), Some((6, 1)));
        assert!(!linux_takes_unaccepted(&v61));
        assert!(linux_takes_unaccepted(&setup_with(b"6.5.0\0")));
        assert!(!linux_takes_unaccepted(&setup_with(b"6.4.16\0")));
        assert!(linux_takes_unaccepted(&setup_with(b"7.0-rc1\0")));
        assert!(!linux_takes_unaccepted(&setup_with(b"5.19.0\0")));
        assert_eq!(linux_version(&setup_with(b"10.3\0")), Some((10, 3)));
    }

    #[test]
    fn linux_version_hostile() {
        // No pointer, pointer past the end, no digits, no dot, junk before the number.
        let mut none = setup_with(b"6.12");
        none[0x20E..0x210].copy_from_slice(&[0, 0]);
        assert_eq!(linux_version(&none), None);
        let mut past = vec![0u8; 0x300];
        past[0x20E..0x210].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert_eq!(linux_version(&past), None);
        assert_eq!(linux_version(&[]), None);
        assert_eq!(linux_version(&[0; 0x20F]), None);
        for bad in [
            &b"\0"[..],
            b"linux 6.12",
            b"6",
            b"6.",
            b".12",
            b"x6.12",
            b"6x.12",
        ] {
            assert_eq!(linux_version(&setup_with(bad)), None, "{bad:?}");
        }
        // Absurdly long numbers are not numbers.
        assert_eq!(linux_version(&setup_with(b"99999999999.1")), None);
        // A string at the very end of the setup part, without a NUL.
        let mut s = vec![0u8; 0x400];
        s[0x20E..0x210].copy_from_slice(&0x1FCu16.to_le_bytes());
        s[0x3FC..0x400].copy_from_slice(b"6.12");
        assert_eq!(linux_version(&s), Some((6, 12)));
    }
}
