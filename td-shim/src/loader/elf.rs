// SPDX-License-Identifier: BSD-2-Clause-Patent
//! ELF64 x86-64 loader shared by the firmware (payloads) and `td-shim-ld` (the shim itself):
//! parse and validate with goblin, copy PT_LOAD segments, zero BSS, apply
//! R_X86_64_RELATIVE relocations for a chosen base (`../shared/spec/hob.md` §5).
//! Input is untrusted (a payload file, or whatever sits in the payload FV).
//!
//! goblin decodes the header, the program headers, the dynamic section and the RELA table,
//! but every size and offset it is handed has been checked here first (goblin itself may
//! panic on overflowing offsets or allocate according to header counts), and every value it
//! returns is validated again with checked arithmetic before it is used.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use alloc::vec::Vec;
use core::fmt;
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::dynamic::Dynamic;
use goblin::elf::program_header::{ProgramHeader, PT_DYNAMIC, PT_LOAD};
use goblin::elf::reloc::RelocSection;

/// ET_DYN (position-independent, relocated to a chosen base) or ET_EXEC (fixed addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pie,
    Exec,
}

/// One PT_LOAD segment (addresses relative to the link base, i.e. before relocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    /// PF_X = 1, PF_W = 2, PF_R = 4.
    pub flags: u32,
}

/// What `parse` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    pub kind: Kind,
    /// Lowest PT_LOAD vaddr rounded down to 4 KiB.
    pub mem_start: u64,
    /// Highest PT_LOAD vaddr + memsz rounded up to 4 KiB.
    pub mem_end: u64,
    /// e_entry (link-time address).
    pub entry: u64,
    /// Largest PT_LOAD p_align (at least 4 KiB); a PIE base must be a multiple of it.
    pub align: u64,
    pub segments: Vec<Segment>,
    /// Number of R_X86_64_RELATIVE relocations found (others are refused).
    pub relocations: usize,
    /// File offset of the DT_RELA table (0 when there is none).
    pub rela_offset: u64,
    /// Size in bytes of the DT_RELA table (DT_RELASZ; 0 when there is none).
    pub rela_size: u64,
}

/// Why an ELF file was refused. Offsets and addresses are as found in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Not an ELF file (bad magic) or goblin could not parse it.
    NotElf,
    /// The file is shorter than the structure that must be read.
    Truncated { needed: u64, available: u64 },
    /// EI_CLASS is not ELFCLASS64.
    Not64Bit { class: u8 },
    /// EI_DATA is not ELFDATA2LSB.
    NotLittleEndian { data: u8 },
    /// EI_VERSION or e_version is not EV_CURRENT (1).
    BadVersion { version: u32 },
    /// e_machine is not EM_X86_64 (62).
    NotX86_64 { machine: u16 },
    /// e_type is neither ET_EXEC (2) nor ET_DYN (3).
    BadType { e_type: u16 },
    /// e_phentsize is not 56.
    BadProgramHeaderSize { phentsize: u16 },
    /// The program-header table does not lie inside the file.
    ProgramHeadersOutsideFile { offset: u64, count: u16 },
    /// No PT_LOAD segment with a non-zero memory size.
    NoLoadSegments,
    /// A PT_LOAD segment's file bytes `[p_offset, p_offset + p_filesz)` are not in the file.
    SegmentOutsideFile { index: usize },
    /// A PT_LOAD segment has p_filesz > p_memsz.
    FileSizeExceedsMemSize { index: usize },
    /// A PT_LOAD segment's `p_vaddr + p_memsz` (rounded up to 4 KiB) overflows.
    AddressOverflow { index: usize },
    /// A PT_LOAD segment's p_align is not a power of two.
    BadAlignment { index: usize, align: u64 },
    /// Two PT_LOAD segments share memory (program-header indices).
    Overlap { first: usize, second: usize },
    /// The memory span `[mem_start, mem_end)` is larger than [`MAX_SPAN`].
    TooLarge { span: u64 },
    /// e_entry is not inside an executable PT_LOAD segment.
    EntryOutsideImage { entry: u64 },
    /// More than one PT_DYNAMIC segment.
    MultipleDynamic,
    /// The PT_DYNAMIC segment's bytes are not in the file.
    DynamicOutsideFile,
    /// A dynamic tag that needs something this loader does not do (DT_NEEDED, DT_REL,
    /// DT_RELR, DT_JMPREL/DT_PLTRELSZ...).
    UnsupportedDynamic { tag: u64 },
    /// DT_RELAENT is not 24.
    BadRelaEntrySize { relaent: u64 },
    /// DT_RELASZ is not a multiple of 24, or DT_RELA/DT_RELASZ is missing its partner.
    BadRelaSize { relasz: u64 },
    /// The DT_RELA table is not inside the file bytes of one PT_LOAD segment.
    RelocationTableOutsideFile { addr: u64 },
    /// A relocation type other than R_X86_64_NONE (0) / R_X86_64_RELATIVE (8).
    UnsupportedRelocation { r_type: u32, offset: u64 },
    /// A relocation whose 8 bytes are not inside a PT_LOAD segment.
    RelocationOutsideImage { offset: u64 },
    /// `base + addend` does not fit 64 bits.
    RelocationOverflow { offset: u64 },
    /// An ET_EXEC file with dynamic relocations (it cannot be moved, so it must need none).
    ExecHasRelocations { count: usize },
    /// `base` is not allowed: non-zero for ET_EXEC, or not a multiple of the alignment, or
    /// `base + mem_end` overflows.
    BadBase { base: u64, align: u64 },
    /// `dest` is not exactly `mem_end − mem_start` bytes.
    DestinationSize { expected: u64, actual: u64 },
    /// `info` does not describe `bytes` (a segment or table lies outside the file/destination).
    InfoMismatch,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NotElf => f.write_str("not an ELF file (bad magic or unparsable header)"),
            Error::Truncated { needed, available } => {
                write!(f, "ELF file truncated: need {needed} bytes, have {available}")
            }
            Error::Not64Bit { class } => write!(f, "ELF class {class} is not ELFCLASS64 (2)"),
            Error::NotLittleEndian { data } => {
                write!(f, "ELF data encoding {data} is not little-endian (1)")
            }
            Error::BadVersion { version } => write!(f, "ELF version {version} is not 1"),
            Error::NotX86_64 { machine } => {
                write!(f, "ELF machine {machine} is not x86-64 (62)")
            }
            Error::BadType { e_type } => {
                write!(f, "ELF type {e_type} is neither ET_EXEC (2) nor ET_DYN (3)")
            }
            Error::BadProgramHeaderSize { phentsize } => {
                write!(f, "program header size {phentsize} is not 56")
            }
            Error::ProgramHeadersOutsideFile { offset, count } => write!(
                f,
                "program header table ({count} entries at offset {offset:#x}) is outside the file"
            ),
            Error::NoLoadSegments => f.write_str("no PT_LOAD segment"),
            Error::SegmentOutsideFile { index } => {
                write!(f, "PT_LOAD segment (program header {index}) lies outside the file")
            }
            Error::FileSizeExceedsMemSize { index } => write!(
                f,
                "PT_LOAD segment (program header {index}) has p_filesz > p_memsz"
            ),
            Error::AddressOverflow { index } => write!(
                f,
                "PT_LOAD segment (program header {index}) end address overflows"
            ),
            Error::BadAlignment { index, align } => write!(
                f,
                "PT_LOAD segment (program header {index}) alignment {align:#x} is not a power of two"
            ),
            Error::Overlap { first, second } => write!(
                f,
                "PT_LOAD segments (program headers {first} and {second}) overlap"
            ),
            Error::TooLarge { span } => write!(
                f,
                "memory image span {span:#x} is larger than the supported {MAX_SPAN:#x} bytes"
            ),
            Error::EntryOutsideImage { entry } => {
                write!(f, "entry point {entry:#x} is not inside an executable PT_LOAD segment")
            }
            Error::MultipleDynamic => f.write_str("more than one PT_DYNAMIC segment"),
            Error::DynamicOutsideFile => f.write_str("PT_DYNAMIC segment lies outside the file"),
            Error::UnsupportedDynamic { tag } => write!(
                f,
                "unsupported dynamic tag {tag} (only DT_RELA relative relocations are supported)"
            ),
            Error::BadRelaEntrySize { relaent } => {
                write!(f, "DT_RELAENT {relaent} is not 24")
            }
            Error::BadRelaSize { relasz } => write!(
                f,
                "DT_RELASZ {relasz} is not a multiple of 24 (or DT_RELA/DT_RELASZ is incomplete)"
            ),
            Error::RelocationTableOutsideFile { addr } => write!(
                f,
                "relocation table at {addr:#x} is not inside the file bytes of a PT_LOAD segment"
            ),
            Error::UnsupportedRelocation { r_type, offset } => write!(
                f,
                "unsupported relocation type {r_type} at {offset:#x} (only R_X86_64_RELATIVE)"
            ),
            Error::RelocationOutsideImage { offset } => {
                write!(f, "relocation at {offset:#x} is outside the PT_LOAD segments")
            }
            Error::RelocationOverflow { offset } => {
                write!(f, "relocation at {offset:#x}: base + addend overflows")
            }
            Error::ExecHasRelocations { count } => {
                write!(f, "ET_EXEC file has {count} dynamic relocations")
            }
            Error::BadBase { base, align } => write!(
                f,
                "load base {base:#x} not allowed (ET_EXEC needs 0, a PIE a multiple of {align:#x}, no overflow)"
            ),
            Error::DestinationSize { expected, actual } => write!(
                f,
                "destination is {actual:#x} bytes, the memory image needs exactly {expected:#x}"
            ),
            Error::InfoMismatch => f.write_str("ELF info does not describe these bytes"),
        }
    }
}

/// Largest memory span (`mem_end − mem_start`) accepted: 1 GiB. Anything larger is not a
/// firmware or payload image and would only make callers allocate absurd buffers.
pub const MAX_SPAN: u64 = 0x4000_0000;

const PAGE: u64 = 0x1000;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: u16 = 56;
const RELA_SIZE: u64 = 24;
const EM_X86_64: u16 = 62;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PF_X: u32 = 1;
const R_X86_64_NONE: u32 = 0;
const R_X86_64_RELATIVE: u32 = 8;

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_PLTRELSZ: u64 = 2;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_REL: u64 = 17;
const DT_RELSZ: u64 = 18;
const DT_JMPREL: u64 = 23;
const DT_RELRSZ: u64 = 35;
const DT_RELR: u64 = 36;

fn ctx() -> Ctx {
    Ctx::new(Container::Big, Endian::Little)
}

fn range_in(len: usize, offset: u64, size: u64) -> bool {
    match offset.checked_add(size) {
        Some(end) => end <= len as u64,
        None => false,
    }
}

fn align_up(value: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    Some(value.checked_add(mask)? & !mask)
}

/// Checks the ELF identification and header fields that goblin would otherwise trust.
fn check_ident(bytes: &[u8]) -> Result<(), Error> {
    let ident = bytes.get(..16).ok_or(Error::Truncated {
        needed: EHDR_SIZE as u64,
        available: bytes.len() as u64,
    })?;
    if ident.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(Error::NotElf);
    }
    let class = ident.get(4).copied().unwrap_or(0);
    if class != 2 {
        return Err(Error::Not64Bit { class });
    }
    let data = ident.get(5).copied().unwrap_or(0);
    if data != 1 {
        return Err(Error::NotLittleEndian { data });
    }
    let version = ident.get(6).copied().unwrap_or(0);
    if version != 1 {
        return Err(Error::BadVersion {
            version: u32::from(version),
        });
    }
    if bytes.len() < EHDR_SIZE {
        return Err(Error::Truncated {
            needed: EHDR_SIZE as u64,
            available: bytes.len() as u64,
        });
    }
    Ok(())
}

/// Parses and validates: ELF64, little-endian, EM_X86_64, ET_DYN or ET_EXEC; PT_LOAD
/// segments inside the file, filesz ≤ memsz, no address overflow, no overlapping segments;
/// entry inside an executable segment; only R_X86_64_RELATIVE (and NONE) dynamic relocations.
pub fn parse(bytes: &[u8]) -> Result<ElfInfo, Error> {
    check_ident(bytes)?;
    let header = goblin::elf64::header::Header::parse(bytes).map_err(|_| Error::NotElf)?;
    if header.e_machine != EM_X86_64 {
        return Err(Error::NotX86_64 {
            machine: header.e_machine,
        });
    }
    if header.e_version != 1 {
        return Err(Error::BadVersion {
            version: header.e_version,
        });
    }
    let kind = match header.e_type {
        ET_DYN => Kind::Pie,
        ET_EXEC => Kind::Exec,
        e_type => return Err(Error::BadType { e_type }),
    };
    if header.e_phentsize != PHDR_SIZE {
        return Err(Error::BadProgramHeaderSize {
            phentsize: header.e_phentsize,
        });
    }
    let table_size = u64::from(header.e_phnum).checked_mul(u64::from(PHDR_SIZE));
    let outside = Error::ProgramHeadersOutsideFile {
        offset: header.e_phoff,
        count: header.e_phnum,
    };
    // 0xFFFF is PN_XNUM (real count in a section header): not supported.
    if header.e_phnum == 0xFFFF
        || !table_size.is_some_and(|s| range_in(bytes.len(), header.e_phoff, s))
    {
        return Err(outside);
    }
    let phoff = usize::try_from(header.e_phoff).map_err(|_| outside)?;
    let phdrs = ProgramHeader::parse(bytes, phoff, usize::from(header.e_phnum), ctx())
        .map_err(|_| outside)?;

    let segments = load_segments(bytes, &phdrs)?;
    let mut align = PAGE;
    let mut lowest = u64::MAX;
    let mut highest = 0u64;
    for (index, ph) in phdrs.iter().enumerate() {
        if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        if ph.p_align > 1 && !ph.p_align.is_power_of_two() {
            return Err(Error::BadAlignment {
                index,
                align: ph.p_align,
            });
        }
        align = align.max(ph.p_align);
        lowest = lowest.min(ph.p_vaddr);
        // load_segments checked that this end (rounded up to a page) does not overflow.
        let end = ph
            .p_vaddr
            .checked_add(ph.p_memsz)
            .ok_or(Error::AddressOverflow { index })?;
        highest = highest.max(end);
    }
    let mem_start = lowest & !(PAGE - 1);
    let mem_end = align_up(highest, PAGE).ok_or(Error::AddressOverflow { index: 0 })?;
    let span = mem_end
        .checked_sub(mem_start)
        .ok_or(Error::NoLoadSegments)?;
    if span > MAX_SPAN {
        return Err(Error::TooLarge { span });
    }

    let entry = header.e_entry;
    let entry_ok = segments.iter().any(|s| {
        s.flags & PF_X != 0
            && entry >= s.vaddr
            && entry.checked_sub(s.vaddr).is_some_and(|d| d < s.mem_size)
    });
    if !entry_ok {
        return Err(Error::EntryOutsideImage { entry });
    }

    let (rela_offset, rela_size) = dynamic_relocations(bytes, &phdrs, &segments)?;
    let relocations = check_relocations(bytes, rela_offset, rela_size, &segments)?;
    if kind == Kind::Exec && relocations != 0 {
        return Err(Error::ExecHasRelocations { count: relocations });
    }

    Ok(ElfInfo {
        kind,
        mem_start,
        mem_end,
        entry,
        align,
        segments,
        relocations,
        rela_offset,
        rela_size,
    })
}

/// Validates every PT_LOAD with a non-zero memory size and returns them in vaddr order.
fn load_segments(bytes: &[u8], phdrs: &[ProgramHeader]) -> Result<Vec<Segment>, Error> {
    let mut found: Vec<(usize, Segment)> = Vec::new();
    for (index, ph) in phdrs.iter().enumerate() {
        if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        if ph.p_filesz > ph.p_memsz {
            return Err(Error::FileSizeExceedsMemSize { index });
        }
        if !range_in(bytes.len(), ph.p_offset, ph.p_filesz) {
            return Err(Error::SegmentOutsideFile { index });
        }
        let end = ph
            .p_vaddr
            .checked_add(ph.p_memsz)
            .ok_or(Error::AddressOverflow { index })?;
        align_up(end, PAGE).ok_or(Error::AddressOverflow { index })?;
        found.push((
            index,
            Segment {
                vaddr: ph.p_vaddr,
                mem_size: ph.p_memsz,
                file_offset: ph.p_offset,
                file_size: ph.p_filesz,
                flags: ph.p_flags,
            },
        ));
    }
    if found.is_empty() {
        return Err(Error::NoLoadSegments);
    }
    found.sort_by_key(|(_, s)| s.vaddr);
    for pair in found.windows(2) {
        if let [(first, a), (second, b)] = pair {
            // a.vaddr + a.mem_size was checked above.
            if a.vaddr.saturating_add(a.mem_size) > b.vaddr {
                return Err(Error::Overlap {
                    first: *first.min(second),
                    second: *first.max(second),
                });
            }
        }
    }
    Ok(found.into_iter().map(|(_, s)| s).collect())
}

/// Reads PT_DYNAMIC (if any) and returns the DT_RELA table as (file offset, size).
fn dynamic_relocations(
    bytes: &[u8],
    phdrs: &[ProgramHeader],
    segments: &[Segment],
) -> Result<(u64, u64), Error> {
    let mut dynamic = phdrs.iter().filter(|ph| ph.p_type == PT_DYNAMIC);
    let Some(dyn_ph) = dynamic.next() else {
        return Ok((0, 0));
    };
    if dynamic.next().is_some() {
        return Err(Error::MultipleDynamic);
    }
    if !range_in(bytes.len(), dyn_ph.p_offset, dyn_ph.p_filesz) {
        return Err(Error::DynamicOutsideFile);
    }
    let parsed = Dynamic::parse(bytes, phdrs, ctx()).map_err(|_| Error::DynamicOutsideFile)?;
    let Some(parsed) = parsed else {
        return Ok((0, 0));
    };
    let mut rela: Option<u64> = None;
    let mut relasz: Option<u64> = None;
    for d in &parsed.dyns {
        match d.d_tag {
            DT_NULL => break,
            DT_RELA => rela = Some(d.d_val),
            DT_RELASZ => relasz = Some(d.d_val),
            DT_RELAENT if d.d_val != RELA_SIZE => {
                return Err(Error::BadRelaEntrySize { relaent: d.d_val })
            }
            DT_NEEDED => return Err(Error::UnsupportedDynamic { tag: d.d_tag }),
            DT_RELSZ | DT_PLTRELSZ | DT_RELRSZ if d.d_val != 0 => {
                return Err(Error::UnsupportedDynamic { tag: d.d_tag })
            }
            DT_REL | DT_JMPREL | DT_RELR => return Err(Error::UnsupportedDynamic { tag: d.d_tag }),
            _ => {}
        }
    }
    let (addr, size) = match (rela, relasz) {
        (None, None) | (None, Some(0)) => return Ok((0, 0)),
        (Some(addr), Some(size)) => (addr, size),
        (Some(_), None) => return Err(Error::BadRelaSize { relasz: 0 }),
        (None, Some(size)) => return Err(Error::BadRelaSize { relasz: size }),
    };
    if !size.is_multiple_of(RELA_SIZE) {
        return Err(Error::BadRelaSize { relasz: size });
    }
    if size == 0 {
        return Ok((0, 0));
    }
    // The table must be file-backed: inside [vaddr, vaddr + filesz) of one segment.
    let end = addr
        .checked_add(size)
        .ok_or(Error::RelocationTableOutsideFile { addr })?;
    let seg = segments
        .iter()
        .find(|s| addr >= s.vaddr && s.vaddr.checked_add(s.file_size).is_some_and(|e| end <= e))
        .ok_or(Error::RelocationTableOutsideFile { addr })?;
    let offset = addr
        .checked_sub(seg.vaddr)
        .and_then(|d| seg.file_offset.checked_add(d))
        .ok_or(Error::RelocationTableOutsideFile { addr })?;
    if !range_in(bytes.len(), offset, size) {
        return Err(Error::RelocationTableOutsideFile { addr });
    }
    Ok((offset, size))
}

/// Decodes the RELA table (already known to be inside the file).
fn rela_section(bytes: &[u8], offset: u64, size: u64) -> Result<RelocSection<'_>, Error> {
    if !range_in(bytes.len(), offset, size) || !size.is_multiple_of(RELA_SIZE) {
        return Err(Error::InfoMismatch);
    }
    let offset = usize::try_from(offset).map_err(|_| Error::InfoMismatch)?;
    let size = usize::try_from(size).map_err(|_| Error::InfoMismatch)?;
    RelocSection::parse(bytes, offset, size, true, ctx()).map_err(|_| Error::InfoMismatch)
}

fn check_relocations(
    bytes: &[u8],
    offset: u64,
    size: u64,
    segments: &[Segment],
) -> Result<usize, Error> {
    if size == 0 {
        return Ok(0);
    }
    let mut count = 0usize;
    for r in rela_section(bytes, offset, size)?.iter() {
        match r.r_type {
            R_X86_64_NONE => {}
            R_X86_64_RELATIVE => {
                let inside = r.r_offset.checked_add(8).is_some_and(|end| {
                    segments
                        .iter()
                        .any(|s| r.r_offset >= s.vaddr && s.vaddr.saturating_add(s.mem_size) >= end)
                });
                if !inside {
                    return Err(Error::RelocationOutsideImage { offset: r.r_offset });
                }
                count = count.saturating_add(1);
            }
            r_type => {
                return Err(Error::UnsupportedRelocation {
                    r_type,
                    offset: r.r_offset,
                })
            }
        }
    }
    Ok(count)
}

/// Loads into `dest`, which is the memory for [base + mem_start, base + mem_end) and must be
/// exactly that long. For Kind::Exec, `base` must be 0. Zeroes `dest` first, copies file
/// bytes, applies relocations (value = base + addend, 8-byte writes, inside `dest`).
/// Returns the relocated entry address (base + entry).
pub fn load(bytes: &[u8], info: &ElfInfo, base: u64, dest: &mut [u8]) -> Result<u64, Error> {
    let bad_base = Error::BadBase {
        base,
        align: info.align,
    };
    match info.kind {
        Kind::Exec if base != 0 => return Err(bad_base),
        Kind::Pie if !base.is_multiple_of(info.align) => return Err(bad_base),
        _ => {}
    }
    base.checked_add(info.mem_end).ok_or(bad_base)?;
    let expected = info
        .mem_end
        .checked_sub(info.mem_start)
        .ok_or(Error::InfoMismatch)?;
    if dest.len() as u64 != expected {
        return Err(Error::DestinationSize {
            expected,
            actual: dest.len() as u64,
        });
    }
    dest.fill(0);
    for seg in &info.segments {
        let src = usize::try_from(seg.file_offset)
            .ok()
            .zip(usize::try_from(seg.file_size).ok())
            .and_then(|(o, n)| bytes.get(o..o.checked_add(n)?))
            .ok_or(Error::InfoMismatch)?;
        let at = seg
            .vaddr
            .checked_sub(info.mem_start)
            .ok_or(Error::InfoMismatch)?;
        dest_range(dest, at, src.len() as u64)?.copy_from_slice(src);
    }
    if info.rela_size != 0 {
        for r in rela_section(bytes, info.rela_offset, info.rela_size)?.iter() {
            match r.r_type {
                R_X86_64_NONE => {}
                R_X86_64_RELATIVE => {
                    let offset = r.r_offset;
                    let value = base
                        .checked_add_signed(r.r_addend.unwrap_or(0))
                        .ok_or(Error::RelocationOverflow { offset })?;
                    let at = offset
                        .checked_sub(info.mem_start)
                        .ok_or(Error::RelocationOutsideImage { offset })?;
                    dest_range(dest, at, 8)
                        .map_err(|_| Error::RelocationOutsideImage { offset })?
                        .copy_from_slice(&value.to_le_bytes());
                }
                r_type => {
                    return Err(Error::UnsupportedRelocation {
                        r_type,
                        offset: r.r_offset,
                    })
                }
            }
        }
    }
    base.checked_add(info.entry).ok_or(bad_base)
}

fn dest_range(dest: &mut [u8], at: u64, len: u64) -> Result<&mut [u8], Error> {
    let start = usize::try_from(at).map_err(|_| Error::InfoMismatch)?;
    let len = usize::try_from(len).map_err(|_| Error::InfoMismatch)?;
    let end = start.checked_add(len).ok_or(Error::InfoMismatch)?;
    dest.get_mut(start..end).ok_or(Error::InfoMismatch)
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

    const PF_R: u32 = 4;
    const PF_W: u32 = 2;

    /// A raw program header for the test builder.
    #[derive(Clone, Copy)]
    struct Ph {
        p_type: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
        align: u64,
    }

    fn load_ph(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
        Ph {
            p_type: PT_LOAD,
            flags,
            offset,
            vaddr,
            filesz,
            memsz,
            align: 0x1000,
        }
    }

    /// Tiny ELF64 builder: header at 0, program headers at 64, then `blobs` written at their
    /// file offsets into a file of `len` bytes.
    fn build(e_type: u16, entry: u64, phdrs: &[Ph], blobs: &[(u64, &[u8])], len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // little-endian
        f[6] = 1; // EV_CURRENT
        f[16..18].copy_from_slice(&e_type.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        f[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        f[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, ph) in phdrs.iter().enumerate() {
            let o = 64 + 56 * i;
            f[o..o + 4].copy_from_slice(&ph.p_type.to_le_bytes());
            f[o + 4..o + 8].copy_from_slice(&ph.flags.to_le_bytes());
            f[o + 8..o + 16].copy_from_slice(&ph.offset.to_le_bytes());
            f[o + 16..o + 24].copy_from_slice(&ph.vaddr.to_le_bytes());
            f[o + 24..o + 32].copy_from_slice(&ph.vaddr.to_le_bytes());
            f[o + 32..o + 40].copy_from_slice(&ph.filesz.to_le_bytes());
            f[o + 40..o + 48].copy_from_slice(&ph.memsz.to_le_bytes());
            f[o + 48..o + 56].copy_from_slice(&ph.align.to_le_bytes());
        }
        for (off, data) in blobs {
            let o = *off as usize;
            f[o..o + data.len()].copy_from_slice(data);
        }
        f
    }

    fn dyn_bytes(entries: &[(u64, u64)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (tag, val) in entries.iter().chain([(DT_NULL, 0)].iter()) {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&val.to_le_bytes());
        }
        v
    }

    fn rela_bytes(relocs: &[(u64, u32, i64)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (off, ty, addend) in relocs {
            v.extend_from_slice(&off.to_le_bytes());
            v.extend_from_slice(&u64::from(*ty).to_le_bytes()); // r_sym 0, r_type
            v.extend_from_slice(&addend.to_le_bytes());
        }
        v
    }

    const CODE: &[u8] = &[0xF4, 0xEB, 0xFD]; // hlt; jmp $-1
    const DATA: &[u8] = b"td-shim test data";
    const TEXT_ENTRY: u64 = 0x100;
    const RELA_AT: u64 = 0x800;
    const DYN_AT: u64 = 0x1080;

    /// A PIE linked at 0: text [0, 0x1000) R+X (headers, code at 0x100, RELA table at 0x800),
    /// data [0x1000, 0x4000) R+W with 0x100 file bytes (DATA at 0x1040, dynamic at 0x1080),
    /// the rest BSS. Relocation slots at 0x1000 and 0x1010.
    fn pie_with(relocs: &[(u64, u32, i64)], extra_dyn: &[(u64, u64)]) -> Vec<u8> {
        let rela = rela_bytes(relocs);
        let mut dyns = vec![
            (DT_RELA, RELA_AT),
            (DT_RELASZ, rela.len() as u64),
            (DT_RELAENT, 24),
        ];
        dyns.extend_from_slice(extra_dyn);
        let dynamic = dyn_bytes(&dyns);
        let phdrs = [
            load_ph(PF_R | PF_X, 0, 0, 0x1000, 0x1000),
            load_ph(PF_R | PF_W, 0x1000, 0x1000, 0x100, 0x3000),
            Ph {
                p_type: PT_DYNAMIC,
                flags: PF_R | PF_W,
                offset: DYN_AT,
                vaddr: DYN_AT,
                filesz: dynamic.len() as u64,
                memsz: dynamic.len() as u64,
                align: 8,
            },
        ];
        build(
            ET_DYN,
            TEXT_ENTRY,
            &phdrs,
            &[
                (TEXT_ENTRY, CODE),
                (RELA_AT, &rela),
                (0x1040, DATA),
                (DYN_AT, &dynamic),
            ],
            0x1100,
        )
    }

    fn default_relocs() -> Vec<(u64, u32, i64)> {
        vec![
            (0x1000, R_X86_64_RELATIVE, 0x100),
            (0x1010, R_X86_64_RELATIVE, 0x1040),
            (0, R_X86_64_NONE, 0),
        ]
    }

    fn pie() -> Vec<u8> {
        pie_with(&default_relocs(), &[])
    }

    #[test]
    fn parses_pie() {
        let info = parse(&pie()).unwrap();
        assert_eq!(info.kind, Kind::Pie);
        assert_eq!(
            (info.mem_start, info.mem_end, info.entry, info.align),
            (0, 0x4000, 0x100, 0x1000)
        );
        assert_eq!(info.relocations, 2);
        assert_eq!((info.rela_offset, info.rela_size), (RELA_AT, 72));
        assert_eq!(
            info.segments,
            vec![
                Segment {
                    vaddr: 0,
                    mem_size: 0x1000,
                    file_offset: 0,
                    file_size: 0x1000,
                    flags: 5
                },
                Segment {
                    vaddr: 0x1000,
                    mem_size: 0x3000,
                    file_offset: 0x1000,
                    file_size: 0x100,
                    flags: 6
                },
            ]
        );
    }

    #[test]
    fn loads_pie_byte_for_byte() {
        let file = pie();
        let info = parse(&file).unwrap();
        let base = 0x10_0000u64;
        let mut dest = vec![0xCCu8; 0x4000];
        let entry = load(&file, &info, base, &mut dest).unwrap();
        assert_eq!(entry, 0x10_0100);
        // Expected memory built by hand: file bytes, then BSS zero, then the two slots.
        let mut want = vec![0u8; 0x4000];
        want[..0x1100].copy_from_slice(&file[..0x1100]);
        want[0x1000..0x1008].copy_from_slice(&0x10_0100u64.to_le_bytes());
        want[0x1010..0x1018].copy_from_slice(&0x10_1040u64.to_le_bytes());
        assert_eq!(dest, want);
        assert_eq!(&dest[0x100..0x103], CODE);
        assert_eq!(&dest[0x1040..0x1040 + DATA.len()], DATA);
        assert!(dest[0x1100..].iter().all(|&b| b == 0), "BSS must be zeroed");
    }

    #[test]
    fn load_checks_base_and_destination() {
        let file = pie();
        let info = parse(&file).unwrap();
        let mut dest = vec![0u8; 0x4000];
        assert_eq!(
            load(&file, &info, 0x10_0800, &mut dest),
            Err(Error::BadBase {
                base: 0x10_0800,
                align: 0x1000
            })
        );
        assert_eq!(
            load(&file, &info, 0xFFFF_FFFF_FFFF_F000, &mut dest),
            Err(Error::BadBase {
                base: 0xFFFF_FFFF_FFFF_F000,
                align: 0x1000
            })
        );
        let mut short = vec![0u8; 0x3000];
        assert_eq!(
            load(&file, &info, 0, &mut short),
            Err(Error::DestinationSize {
                expected: 0x4000,
                actual: 0x3000
            })
        );
        // Info that does not describe the bytes is refused, not trusted.
        let mut lying = info.clone();
        lying.segments[1].file_size = 0x10_0000;
        assert_eq!(load(&file, &lying, 0, &mut dest), Err(Error::InfoMismatch));
    }

    #[test]
    fn negative_addend_and_overflow() {
        let file = pie_with(&[(0x1000, R_X86_64_RELATIVE, -0x10)], &[]);
        let info = parse(&file).unwrap();
        let mut dest = vec![0u8; 0x4000];
        load(&file, &info, 0x20_0000, &mut dest).unwrap();
        assert_eq!(&dest[0x1000..0x1008], &0x1F_FFF0u64.to_le_bytes());
        assert_eq!(
            load(&file, &info, 0, &mut dest),
            Err(Error::RelocationOverflow { offset: 0x1000 })
        );
    }

    #[test]
    fn exec_loads_at_zero_only() {
        let phdrs = [load_ph(PF_R | PF_X, 0, 0x40_0000, 0x200, 0x1800)];
        let file = build(ET_EXEC, 0x40_0100, &phdrs, &[(0x100, CODE)], 0x200);
        let info = parse(&file).unwrap();
        assert_eq!(info.kind, Kind::Exec);
        assert_eq!(
            (info.mem_start, info.mem_end, info.relocations),
            (0x40_0000, 0x40_2000, 0)
        );
        let mut dest = vec![0xAAu8; 0x2000];
        assert_eq!(
            load(&file, &info, 0x1000, &mut dest),
            Err(Error::BadBase {
                base: 0x1000,
                align: 0x1000
            })
        );
        assert_eq!(load(&file, &info, 0, &mut dest), Ok(0x40_0100));
        let mut want = vec![0u8; 0x2000];
        want[..0x200].copy_from_slice(&file[..0x200]);
        assert_eq!(dest, want);
    }

    #[test]
    fn exec_with_relocations_is_refused() {
        let mut file = pie();
        file[16] = ET_EXEC as u8;
        assert_eq!(parse(&file), Err(Error::ExecHasRelocations { count: 2 }));
    }

    #[test]
    fn truncated_at_every_length() {
        let file = pie();
        for n in 0..file.len() {
            assert!(
                parse(&file[..n]).is_err(),
                "truncated to {n} bytes was accepted"
            );
        }
        assert_eq!(
            parse(&file[..10]),
            Err(Error::Truncated {
                needed: 64,
                available: 10
            })
        );
    }

    #[test]
    fn wrong_identity() {
        let file = pie();
        let mut f = file.clone();
        f[0] = 0x7E;
        assert_eq!(parse(&f), Err(Error::NotElf));
        let mut f = file.clone();
        f[4] = 1;
        assert_eq!(parse(&f), Err(Error::Not64Bit { class: 1 }));
        let mut f = file.clone();
        f[5] = 2;
        assert_eq!(parse(&f), Err(Error::NotLittleEndian { data: 2 }));
        let mut f = file.clone();
        f[18] = 0x3E + 1;
        assert_eq!(parse(&f), Err(Error::NotX86_64 { machine: 63 }));
        let mut f = file.clone();
        f[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        assert_eq!(parse(&f), Err(Error::NotX86_64 { machine: 183 }));
        let mut f = file.clone();
        f[16] = 1; // ET_REL
        assert_eq!(parse(&f), Err(Error::BadType { e_type: 1 }));
        let mut f = file.clone();
        f[54] = 64;
        assert_eq!(
            parse(&f),
            Err(Error::BadProgramHeaderSize { phentsize: 64 })
        );
        let mut f = file;
        f[6] = 0;
        assert_eq!(parse(&f), Err(Error::BadVersion { version: 0 }));
    }

    #[test]
    fn program_headers_outside_file() {
        let mut f = pie();
        f[32..40].copy_from_slice(&0x1000u64.to_le_bytes());
        f[56..58].copy_from_slice(&10u16.to_le_bytes()); // 0x1000 + 560 > 0x1100
        assert_eq!(
            parse(&f),
            Err(Error::ProgramHeadersOutsideFile {
                offset: 0x1000,
                count: 10
            })
        );
        let mut f = pie();
        f[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            parse(&f),
            Err(Error::ProgramHeadersOutsideFile { .. })
        ));
        let mut f = pie();
        f[56..58].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(matches!(
            parse(&f),
            Err(Error::ProgramHeadersOutsideFile { .. })
        ));
    }

    #[test]
    fn hostile_segments() {
        let text = load_ph(PF_R | PF_X, 0, 0, 0x200, 0x1000);
        let mk = |second: Ph| build(ET_DYN, 0x100, &[text, second], &[], 0x200);
        // File bytes beyond the end of the file.
        assert_eq!(
            parse(&mk(load_ph(PF_R, 0x100, 0x1000, 0x200, 0x200))),
            Err(Error::SegmentOutsideFile { index: 1 })
        );
        assert_eq!(
            parse(&mk(load_ph(PF_R, u64::MAX, 0x1000, 2, 2))),
            Err(Error::SegmentOutsideFile { index: 1 })
        );
        // filesz > memsz.
        assert_eq!(
            parse(&mk(load_ph(PF_R, 0, 0x1000, 0x100, 0x80))),
            Err(Error::FileSizeExceedsMemSize { index: 1 })
        );
        // Overlap with the text segment.
        assert_eq!(
            parse(&mk(load_ph(PF_R, 0, 0xFFF, 0, 0x10))),
            Err(Error::Overlap {
                first: 0,
                second: 1
            })
        );
        // vaddr + memsz overflow, and end rounding up past 2^64.
        assert_eq!(
            parse(&mk(load_ph(PF_R, 0, u64::MAX - 0x10, 0, 0x20))),
            Err(Error::AddressOverflow { index: 1 })
        );
        assert_eq!(
            parse(&mk(load_ph(PF_R, 0, u64::MAX - 0x10, 0, 0x8))),
            Err(Error::AddressOverflow { index: 1 })
        );
        // Bad alignment.
        let mut odd = load_ph(PF_R, 0, 0x1000, 0, 0x10);
        odd.align = 0x1800;
        assert_eq!(
            parse(&mk(odd)),
            Err(Error::BadAlignment {
                index: 1,
                align: 0x1800
            })
        );
        // A span that would make callers allocate gigabytes.
        assert_eq!(
            parse(&mk(load_ph(PF_R, 0, 0x1000, 0, MAX_SPAN))),
            Err(Error::TooLarge {
                span: MAX_SPAN + 0x1000
            })
        );
        // No loadable segment at all (an empty PT_LOAD does not count).
        assert_eq!(
            parse(&build(ET_DYN, 0, &[load_ph(PF_X, 0, 0, 0, 0)], &[], 0x100)),
            Err(Error::NoLoadSegments)
        );
        // Larger alignments are reported.
        let mut big = load_ph(PF_R, 0, 0x20_0000, 0, 0x10);
        big.align = 0x20_0000;
        assert_eq!(parse(&mk(big)).unwrap().align, 0x20_0000);
    }

    #[test]
    fn entry_must_be_in_executable_segment() {
        let phdrs = [
            load_ph(PF_R | PF_X, 0, 0, 0x200, 0x1000),
            load_ph(PF_R | PF_W, 0, 0x1000, 0, 0x1000),
        ];
        assert!(parse(&build(ET_DYN, 0xFFF, &phdrs, &[], 0x200)).is_ok());
        assert_eq!(
            parse(&build(ET_DYN, 0x1000, &phdrs, &[], 0x200)),
            Err(Error::EntryOutsideImage { entry: 0x1000 })
        );
        assert_eq!(
            parse(&build(ET_DYN, 0x5000, &phdrs, &[], 0x200)),
            Err(Error::EntryOutsideImage { entry: 0x5000 })
        );
    }

    #[test]
    fn hostile_relocations() {
        // Slot outside every segment (mem_end is 0x4000), straddling the end, or wrapping.
        for off in [0x4000u64, 0x3FFC, u64::MAX - 3] {
            let f = pie_with(&[(off, R_X86_64_RELATIVE, 0)], &[]);
            assert_eq!(
                parse(&f),
                Err(Error::RelocationOutsideImage { offset: off }),
                "{off:#x}"
            );
        }
        // R_X86_64_64 needs a symbol: refused.
        assert_eq!(
            parse(&pie_with(&[(0x1000, 1, 0)], &[])),
            Err(Error::UnsupportedRelocation {
                r_type: 1,
                offset: 0x1000
            })
        );
        // Tags this loader does not handle.
        for (tag, val) in [
            (DT_RELR, 0x1000),
            (DT_RELRSZ, 8),
            (DT_NEEDED, 1),
            (DT_REL, 0x800),
            (DT_JMPREL, 0x800),
        ] {
            assert_eq!(
                parse(&pie_with(&default_relocs(), &[(tag, val)])),
                Err(Error::UnsupportedDynamic { tag })
            );
        }
        // Zero-sized PLT/REL tables are harmless.
        assert!(parse(&pie_with(
            &default_relocs(),
            &[(DT_PLTRELSZ, 0), (DT_RELSZ, 0)]
        ))
        .is_ok());
        // Entry size and table size.
        let f = pie_with(&default_relocs(), &[(DT_RELAENT, 16)]);
        assert_eq!(parse(&f), Err(Error::BadRelaEntrySize { relaent: 16 }));
        let f = pie_with(&default_relocs(), &[(DT_RELASZ, 30)]);
        assert_eq!(parse(&f), Err(Error::BadRelaSize { relasz: 30 }));
        // Table in BSS (not file-backed), or running past its segment's file bytes.
        let f = pie_with(&default_relocs(), &[(DT_RELA, 0x2000)]);
        assert_eq!(
            parse(&f),
            Err(Error::RelocationTableOutsideFile { addr: 0x2000 })
        );
        let f = pie_with(&default_relocs(), &[(DT_RELA, 0xFF0)]);
        assert_eq!(
            parse(&f),
            Err(Error::RelocationTableOutsideFile { addr: 0xFF0 })
        );
        let f = pie_with(&default_relocs(), &[(DT_RELASZ, u64::MAX - 7)]);
        assert!(parse(&f).is_err());
    }

    #[test]
    fn dynamic_outside_file_and_duplicates() {
        let mut f = pie();
        // Third program header is PT_DYNAMIC: point its offset past the end.
        let o = 64 + 56 * 2 + 8;
        f[o..o + 8].copy_from_slice(&0x2000u64.to_le_bytes());
        assert_eq!(parse(&f), Err(Error::DynamicOutsideFile));
        let mut f = pie();
        f[o + 24..o + 32].copy_from_slice(&u64::MAX.to_le_bytes()); // p_filesz
        assert_eq!(parse(&f), Err(Error::DynamicOutsideFile));
        // A second PT_DYNAMIC (turn the data PT_LOAD into one).
        let mut f = pie();
        f[64 + 56..64 + 60].copy_from_slice(&PT_DYNAMIC.to_le_bytes());
        assert_eq!(parse(&f), Err(Error::MultipleDynamic));
    }

    /// Mutates a valid file at random (fixed seed) and makes sure nothing panics; whatever
    /// parses must also load without error into a buffer of the advertised size.
    #[test]
    fn random_mutations_never_panic() {
        let base = pie();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut f = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() % 0x200) as usize; // headers, phdrs, code area
                let at = if next() % 3 == 0 {
                    (next() as usize) % f.len()
                } else {
                    at
                };
                f[at] = next() as u8;
            }
            if let Ok(info) = parse(&f) {
                let span = info.mem_end - info.mem_start;
                if span <= 0x100_0000 {
                    let mut dest = vec![0u8; span as usize];
                    let b = if info.kind == Kind::Pie {
                        info.align.max(0x1000) * 16
                    } else {
                        0
                    };
                    let _ = load(&f, &info, b, &mut dest);
                }
            }
        }
    }

    /// A real static PIE from the host C toolchain, checked against `readelf`'s view of it.
    #[test]
    fn real_static_pie_from_cc() {
        use std::process::Command;
        let have = |tool: &str| {
            Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !have("cc") || !have("readelf") {
            std::eprintln!("skipping real_static_pie_from_cc: cc or readelf not found");
            return;
        }
        let dir =
            std::env::temp_dir().join(std::format!("td-shim-elf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("t.c");
        let out = dir.join("t.elf");
        std::fs::write(
            &src,
            "static int counter;\nint *ptrs[2] = { &counter, 0 };\n\
            const char *msg = \"hello\";\nstatic char big[20000];\n\
            void _start(void) { for (;;) { counter++; big[counter % 20000] = *msg; } }\n",
        )
        .unwrap();
        let status = Command::new("cc")
            .args(["-nostdlib", "-static-pie", "-fPIE", "-O1", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .unwrap();
        assert!(status.success(), "cc failed");
        let file = std::fs::read(&out).unwrap();
        let info = parse(&file).unwrap();
        assert_eq!(info.kind, Kind::Pie);
        assert_eq!(info.mem_start, 0);
        assert!(
            info.relocations >= 2,
            "expected relative relocations, got {}",
            info.relocations
        );

        // readelf: RELATIVE relocations (offset, addend) and the entry point.
        let text = |args: &[&str]| {
            let o = Command::new("readelf")
                .args(args)
                .arg(&out)
                .output()
                .unwrap();
            std::string::String::from_utf8(o.stdout).unwrap()
        };
        let mut relocs = Vec::new();
        for line in text(&["-rW"])
            .lines()
            .filter(|l| l.contains("R_X86_64_RELATIVE"))
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let off = u64::from_str_radix(cols[0], 16).unwrap();
            let addend = u64::from_str_radix(cols.last().unwrap(), 16).unwrap();
            relocs.push((off, addend));
        }
        assert_eq!(relocs.len(), info.relocations);
        let entry_line = text(&["-hW"])
            .lines()
            .find(|l| l.contains("Entry point"))
            .unwrap()
            .to_owned();
        let entry = u64::from_str_radix(entry_line.split("0x").nth(1).unwrap().trim(), 16).unwrap();

        let base = 0x20_0000u64;
        let mut dest = vec![0xEEu8; (info.mem_end - info.mem_start) as usize];
        assert_eq!(load(&file, &info, base, &mut dest), Ok(base + entry));
        for (off, addend) in &relocs {
            let o = *off as usize;
            assert_eq!(
                &dest[o..o + 8],
                &(base + addend).to_le_bytes(),
                "slot {off:#x}"
            );
        }
        // Everything else is the file's bytes or zero (BSS and gaps).
        for seg in &info.segments {
            for i in 0..seg.mem_size {
                let at = (seg.vaddr + i) as usize;
                if relocs
                    .iter()
                    .any(|(o, _)| (*o..*o + 8).contains(&(at as u64)))
                {
                    continue;
                }
                let want = if i < seg.file_size {
                    file[(seg.file_offset + i) as usize]
                } else {
                    0
                };
                assert_eq!(dest[at], want, "byte at {at:#x}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
