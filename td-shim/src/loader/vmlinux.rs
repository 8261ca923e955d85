// SPDX-License-Identifier: BSD-2-Clause-Patent
//! An uncompressed Linux kernel (`vmlinux`: ELF64, x86-64, ET_EXEC) as QEMU's `-kernel` hands
//! it over. QEMU loads an ELF kernel itself (its PVH path, which needs the kernel's
//! XEN_ELFNOTE_PHYS32_ENTRY note): every PT_LOAD segment at its physical address `p_paddr`
//! (file bytes, then zeros up to `p_memsz`), and gives the firmware the file's first
//! [`HEAD_SIZE`] bytes as the fw_cfg setup item and the loaded span as KERNEL_ADDR/SIZE.
//! td-shim does not take the PVH entry (32-bit, `hvm_start_info`): it enters the kernel's
//! 64-bit entry `e_entry` (`startup_64`, a physical address in a vmlinux) with RSI = the zero
//! page, as the x86-64 boot protocol enters a protected-mode kernel
//! (`../shared/spec/linux-boot.md`), which `startup_64` of the uncompressed kernel accepts too.
//! There is no setup header in an ELF file: [`setup_header`] makes the one the zero page needs.
//!
//! Only the ELF header and the program-header table of that head are used (and measured):
//! QEMU 7.2 serves the setup item of an ELF kernel from a buffer it no longer owns — after the
//! first few KiB the "head" holds whatever QEMU's stack holds later (seen: host pointers from
//! offset 0x1208 on). The headers come first and survived in every run; if they did not, the
//! result is refused (bad fields, or segments that do not match the range QEMU reports).
//!
//! Input is untrusted: the head comes from the VMM. Everything is checked with checked
//! arithmetic; nothing here panics.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use super::bzimage::Kernel;
use crate::format::le::{u16_at, u32_at, u64_at};
use alloc::vec::Vec;
use core::fmt;

/// Bytes of the file QEMU passes as the setup item of an ELF kernel (its header buffer).
pub const HEAD_SIZE: usize = 8192;
/// Most PT_LOAD segments accepted (a vmlinux has four or five).
pub const MAX_SEGMENTS: usize = 16;
/// Largest span from the lowest to the highest loaded byte (a distribution vmlinux: ~70 MiB).
pub const MAX_SPAN: u64 = 1 << 30;
/// Lowest physical address a segment may start at: the first MiB holds the real-mode area,
/// the BIOS data and (in a TD) the APs' trampoline.
pub const MIN_ADDRESS: u64 = 1 << 20;
/// Longest command line the zero page announces (x86 COMMAND_LINE_SIZE is 2048, NUL included).
pub const CMDLINE_SIZE: u32 = 2047;

const ELF_HEADER_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;

/// One PT_LOAD segment, placed at its physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub paddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    /// PF_X = 1, PF_W = 2, PF_R = 4.
    pub flags: u32,
}

/// What [`parse_head`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmlinux {
    /// `e_entry`: physical address of the 64-bit entry.
    pub entry: u64,
    /// Lowest `p_paddr` of a PT_LOAD segment.
    pub start: u64,
    /// Highest `p_paddr + p_memsz`.
    pub end: u64,
    /// The PT_LOAD segments with a non-zero size, in program-header order.
    pub segments: Vec<Segment>,
    /// The bytes this came from: the 64-byte ELF header, then the program-header table.
    pub headers: Vec<u8>,
}

/// Why a vmlinux head was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No ELF magic, or the head is shorter than the ELF header.
    NotElf,
    /// Not ELFCLASS64 / ELFDATA2LSB / EV_CURRENT.
    NotElf64Le,
    /// e_machine is not EM_X86_64.
    NotX86_64 { machine: u16 },
    /// e_type is not ET_EXEC.
    NotExec { e_type: u16 },
    /// e_phentsize is not 56, or the program headers lie outside the head.
    ProgramHeaders,
    /// No PT_LOAD segment with a non-zero size, or more than [`MAX_SEGMENTS`].
    SegmentCount { count: usize },
    /// A segment has p_filesz > p_memsz, or an end that overflows.
    BadSegment { index: usize },
    /// A segment starts below [`MIN_ADDRESS`].
    TooLow { paddr: u64 },
    /// Two segments share physical memory (program-header indices).
    Overlap { first: usize, second: usize },
    /// The span is larger than [`MAX_SPAN`].
    TooLarge { span: u64 },
    /// e_entry is not inside an executable segment.
    EntryOutside { entry: u64 },
    /// A segment's file bytes are not inside the file (whole-file checks only).
    SegmentOutsideFile { index: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NotElf => f.write_str("vmlinux: not an elf file"),
            Error::NotElf64Le => f.write_str("vmlinux: not a 64-bit little-endian elf file"),
            Error::NotX86_64 { machine } => {
                write!(f, "vmlinux: e_machine {machine} is not x86-64 (62)")
            }
            Error::NotExec { e_type } => {
                write!(f, "vmlinux: e_type {e_type} is not ET_EXEC (2)")
            }
            Error::ProgramHeaders => f.write_str(
                "vmlinux: program headers are not 56-byte entries inside the first 8 KiB",
            ),
            Error::SegmentCount { count } => write!(
                f,
                "vmlinux: {count} loadable segments (want 1 to {MAX_SEGMENTS})"
            ),
            Error::BadSegment { index } => write!(
                f,
                "vmlinux: segment {index} has p_filesz > p_memsz or overflows"
            ),
            Error::TooLow { paddr } => write!(
                f,
                "vmlinux: a segment at {paddr:#x} is below {MIN_ADDRESS:#x}"
            ),
            Error::Overlap { first, second } => {
                write!(f, "vmlinux: segments {first} and {second} overlap")
            }
            Error::TooLarge { span } => {
                write!(f, "vmlinux: spans {span:#x} bytes (at most {MAX_SPAN:#x})")
            }
            Error::EntryOutside { entry } => write!(
                f,
                "vmlinux: entry {entry:#x} is not inside an executable segment"
            ),
            Error::SegmentOutsideFile { index } => write!(
                f,
                "vmlinux: segment {index}'s bytes are not inside the file"
            ),
        }
    }
}

/// Whether `head` starts like an ELF file (what QEMU loaded itself instead of a bzImage).
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Parses and checks the ELF header and program headers in `head` (the file's first bytes;
/// they must hold the program headers): ELF64 LE x86-64 ET_EXEC, 1 to [`MAX_SEGMENTS`]
/// PT_LOAD segments, none below [`MIN_ADDRESS`], none overlapping another, span at most
/// [`MAX_SPAN`], entry inside an executable segment. Where the segments' file bytes lie is
/// not checked (QEMU loaded them; see [`check_file`]).
pub fn parse_head(head: &[u8]) -> Result<Vmlinux, Error> {
    if !is_elf(head) || head.len() < ELF_HEADER_SIZE {
        return Err(Error::NotElf);
    }
    // EI_CLASS 2 (64-bit), EI_DATA 1 (LE), EI_VERSION 1.
    if head.get(4..7) != Some(&[2, 1, 1][..]) {
        return Err(Error::NotElf64Le);
    }
    let e_type = u16_at(head, 16).ok_or(Error::NotElf)?;
    let machine = u16_at(head, 18).ok_or(Error::NotElf)?;
    if machine != EM_X86_64 {
        return Err(Error::NotX86_64 { machine });
    }
    if e_type != ET_EXEC {
        return Err(Error::NotExec { e_type });
    }
    let entry = u64_at(head, 24).ok_or(Error::NotElf)?;
    let phoff = u64_at(head, 32).ok_or(Error::NotElf)?;
    let phentsize = u16_at(head, 54).ok_or(Error::NotElf)?;
    let phnum = u16_at(head, 56).ok_or(Error::NotElf)?;
    if usize::from(phentsize) != PHDR_SIZE {
        return Err(Error::ProgramHeaders);
    }
    let table = usize::try_from(phoff)
        .ok()
        .and_then(|off| {
            let len = usize::from(phnum).checked_mul(PHDR_SIZE)?;
            head.get(off..off.checked_add(len)?)
        })
        .ok_or(Error::ProgramHeaders)?;

    let mut segments = Vec::new();
    for (index, ph) in table.chunks_exact(PHDR_SIZE).enumerate() {
        let field = |at| u64_at(ph, at).ok_or(Error::ProgramHeaders);
        if u32_at(ph, 0) != Some(PT_LOAD) {
            continue;
        }
        let s = Segment {
            flags: u32_at(ph, 4).ok_or(Error::ProgramHeaders)?,
            file_offset: field(8)?,
            paddr: field(24)?,
            file_size: field(32)?,
            mem_size: field(40)?,
        };
        if s.mem_size == 0 {
            continue;
        }
        if s.file_size > s.mem_size || s.paddr.checked_add(s.mem_size).is_none() {
            return Err(Error::BadSegment { index });
        }
        if s.paddr < MIN_ADDRESS {
            return Err(Error::TooLow { paddr: s.paddr });
        }
        if segments.len() == MAX_SEGMENTS {
            return Err(Error::SegmentCount {
                count: MAX_SEGMENTS.saturating_add(1),
            });
        }
        segments.push((index, s));
    }
    if segments.is_empty() {
        return Err(Error::SegmentCount { count: 0 });
    }
    let end_of = |s: &Segment| s.paddr.saturating_add(s.mem_size);
    for (i, (a_index, a)) in segments.iter().enumerate() {
        for (b_index, b) in segments.iter().skip(i.saturating_add(1)) {
            if a.paddr < end_of(b) && b.paddr < end_of(a) {
                return Err(Error::Overlap {
                    first: *a_index,
                    second: *b_index,
                });
            }
        }
    }
    let start = segments.iter().map(|(_, s)| s.paddr).min().unwrap_or(0);
    let end = segments.iter().map(|(_, s)| end_of(s)).max().unwrap_or(0);
    let span = end.saturating_sub(start);
    if span > MAX_SPAN {
        return Err(Error::TooLarge { span });
    }
    let in_code = segments
        .iter()
        .any(|(_, s)| s.flags & PF_X != 0 && entry >= s.paddr && entry < end_of(s));
    if !in_code {
        return Err(Error::EntryOutside { entry });
    }
    let mut headers = head.get(..ELF_HEADER_SIZE).unwrap_or_default().to_vec();
    headers.extend_from_slice(table);
    Ok(Vmlinux {
        entry,
        start,
        end,
        segments: segments.into_iter().map(|(_, s)| s).collect(),
        headers,
    })
}

/// Checks that every segment's file bytes lie inside `file` (for tools that hold the file).
pub fn check_file(file: &[u8], v: &Vmlinux) -> Result<(), Error> {
    for (index, s) in v.segments.iter().enumerate() {
        let inside = s
            .file_offset
            .checked_add(s.file_size)
            .is_some_and(|end| end <= file.len() as u64);
        if !inside {
            return Err(Error::SegmentOutsideFile { index });
        }
    }
    Ok(())
}

/// The segments as they are in memory once loaded: each segment's file bytes followed by
/// zeros up to its memory size, in program-header order (what the firmware measures, built
/// from the file). Call after [`check_file`].
pub fn loaded_segments(file: &[u8], v: &Vmlinux) -> Result<Vec<Vec<u8>>, Error> {
    check_file(file, v)?;
    let mut out = Vec::new();
    for (index, s) in v.segments.iter().enumerate() {
        let bad = Error::SegmentOutsideFile { index };
        let from = usize::try_from(s.file_offset).map_err(|_| bad)?;
        let len = usize::try_from(s.file_size).map_err(|_| bad)?;
        let total = usize::try_from(s.mem_size).map_err(|_| bad)?;
        let bytes = file
            .get(from..from.checked_add(len).ok_or(bad)?)
            .ok_or(bad)?;
        let mut seg = Vec::with_capacity(total);
        seg.extend_from_slice(bytes);
        seg.resize(total, 0);
        out.push(seg);
    }
    Ok(out)
}

/// The file's first [`HEAD_SIZE`] bytes as QEMU passes them (zero-padded when shorter).
pub fn head_of(file: &[u8]) -> Vec<u8> {
    let mut head = file.get(..HEAD_SIZE).unwrap_or(file).to_vec();
    head.resize(HEAD_SIZE, 0);
    head
}

/// Size of the made-up setup area: up to the end of the protocol 2.12 header.
const SETUP_END: usize = 0x268;
/// Where the setup header starts in the setup area (boot protocol).
const HEADER_OFFSET: usize = 0x1F1;
// The values the made-up header holds and [`kernel`] reports, written once for both.
/// Boot protocol version: 2.15.
const VERSION: u16 = 0x020F;
/// kernel_alignment: 2 MiB.
const ALIGNMENT: u32 = 0x20_0000;
/// initrd_addr_max: 2 GiB − 1.
const INITRD_ADDR_MAX: u32 = 0x7FFF_FFFF;

/// A setup area (the file's first 0x268 bytes of a bzImage) holding the setup header an ELF
/// kernel does not have: boot_flag, "HdrS", protocol 2.15, LOADED_HIGH, XLF_KERNEL_64,
/// kernel_alignment 2 MiB, not relocatable, init_size = the span, cmdline_size
/// [`CMDLINE_SIZE`], initrd_addr_max 2 GiB − 1. What `bzimage::parse` reads from it is
/// [`kernel`]'s view.
pub fn setup_header(v: &Vmlinux) -> Vec<u8> {
    let mut s = alloc::vec![0u8; SETUP_END];
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(dst) = s.get_mut(at..at.saturating_add(bytes.len())) {
            dst.copy_from_slice(bytes);
        }
    };
    put(HEADER_OFFSET, &[0]); // setup_sects: none
    put(0x1FE, &0xAA55u16.to_le_bytes());
    put(0x201, &[(SETUP_END - 0x202) as u8]); // jump: header length
    put(0x202, b"HdrS");
    put(0x206, &VERSION.to_le_bytes());
    put(0x211, &[0x01]); // LOADED_HIGH
    put(0x214, &(v.start as u32).to_le_bytes()); // code32_start
    put(0x22C, &INITRD_ADDR_MAX.to_le_bytes()); // initrd_addr_max
    put(0x230, &ALIGNMENT.to_le_bytes()); // kernel_alignment
    put(0x236, &0x0001u16.to_le_bytes()); // XLF_KERNEL_64
    put(0x238, &CMDLINE_SIZE.to_le_bytes());
    put(0x258, &v.start.to_le_bytes()); // pref_address
    put(0x260, &(v.end.saturating_sub(v.start) as u32).to_le_bytes()); // init_size
    s
}

/// The bzImage parser's view of [`setup_header`] (the limits the Linux path applies:
/// command-line length, initrd placement, the memory the kernel occupies).
pub fn kernel(v: &Vmlinux) -> Kernel {
    let span = v.end.saturating_sub(v.start);
    Kernel {
        version: VERSION,
        setup_size: 0,
        pm_offset: 0,
        pm_len: span,
        kernel_alignment: ALIGNMENT,
        pref_address: v.start,
        init_size: span,
        cmdline_size: CMDLINE_SIZE,
        initrd_addr_max: INITRD_ADDR_MAX,
        relocatable: false,
        can_load_above_4g: false,
        header_offset: HEADER_OFFSET,
        header_len: SETUP_END - HEADER_OFFSET,
    }
}

/// One program header for [`test_file`]: `(p_type, p_flags, p_offset, p_paddr, p_filesz,
/// p_memsz)`.
#[cfg(any(test, feature = "test-inputs"))]
pub type TestPh = (u32, u32, u64, u64, u64, u64);

/// TEST INPUTS ONLY (feature `test-inputs`: this module's unit tests, the QEMU boot tests,
/// the fuzz seeds): an ELF64 x86-64 ET_EXEC file of `len` bytes (zeros; longer if the headers
/// need it) with entry `entry` and the program headers `phs` at offset 64. Each p_vaddr is
/// the kernel-virtual alias `0xFFFF_FFFF_8000_0000 | p_paddr`, as in a vmlinux; p_align is
/// 0x1000 for PT_LOAD and 4 otherwise (QEMU steps through a note segment by its alignment).
#[cfg(any(test, feature = "test-inputs"))]
pub fn test_file(entry: u64, phs: &[TestPh], len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(b"\x7fELF");
    f.extend_from_slice(&[2, 1, 1]); // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
    f.resize(16, 0);
    f.extend_from_slice(&ET_EXEC.to_le_bytes());
    f.extend_from_slice(&EM_X86_64.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    f.extend_from_slice(&entry.to_le_bytes());
    f.extend_from_slice(&(ELF_HEADER_SIZE as u64).to_le_bytes()); // e_phoff
    f.extend_from_slice(&[0; 12]); // e_shoff, e_flags
    f.extend_from_slice(&(ELF_HEADER_SIZE as u16).to_le_bytes());
    f.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
    f.extend_from_slice(&(phs.len() as u16).to_le_bytes());
    f.resize(ELF_HEADER_SIZE, 0); // no section headers
    for &(p_type, flags, offset, paddr, file_size, mem_size) in phs {
        f.extend_from_slice(&p_type.to_le_bytes());
        f.extend_from_slice(&flags.to_le_bytes());
        let align: u64 = if p_type == PT_LOAD { 0x1000 } else { 4 };
        let vaddr = 0xFFFF_FFFF_8000_0000 | paddr;
        for v in [offset, vaddr, paddr, file_size, mem_size, align] {
            f.extend_from_slice(&v.to_le_bytes());
        }
    }
    if f.len() < len {
        f.resize(len, 0);
    }
    f
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

    const M: u64 = 1 << 20;

    /// Like a distribution vmlinux: text r-x at 16 MiB, data rw-, a zero-sized PT_LOAD, a
    /// PT_NOTE, bss beyond the file bytes.
    fn good() -> Vec<u8> {
        let mut f = test_file(
            16 * M + 0xB53,
            &[
                (1, 5, 0x1000, 16 * M, 0x3000, 0x3000),
                (1, 6, 0x4000, 20 * M, 0x800, 0x2000),
                (1, 6, 0x5000, 30 * M, 0, 0),
                (4, 4, 0x100, 0, 0x14, 0x14),
            ],
            0x6000,
        );
        for (i, b) in f[0x1000..0x4800].iter_mut().enumerate() {
            *b = (i % 251) as u8 + 1;
        }
        f
    }

    #[test]
    fn a_vmlinux_like_file_parses() {
        let f = good();
        let v = parse_head(&head_of(&f)).unwrap();
        assert_eq!(v.entry, 16 * M + 0xB53);
        assert_eq!((v.start, v.end), (16 * M, 20 * M + 0x2000));
        assert_eq!(
            v.segments.len(),
            2,
            "zero-sized loads and notes are not segments"
        );
        assert_eq!(v.segments[1].file_size, 0x800);
        assert_eq!(
            v.headers,
            f[..64 + 4 * 56].to_vec(),
            "elf header + the 4 program headers"
        );
        check_file(&f, &v).unwrap();
        let loaded = loaded_segments(&f, &v).unwrap();
        assert_eq!(loaded[0], f[0x1000..0x4000].to_vec());
        assert_eq!(loaded[1].len(), 0x2000);
        assert_eq!(&loaded[1][..0x800], &f[0x4000..0x4800]);
        assert!(loaded[1][0x800..].iter().all(|&b| b == 0), "bss is zeros");
        // QEMU's head is 8 KiB, zero padded for a shorter file.
        assert_eq!(head_of(&f[..100]).len(), HEAD_SIZE);
        assert_eq!(&head_of(&f)[..], &f[..HEAD_SIZE]);
    }

    #[test]
    fn hostile_headers_are_refused_by_rule() {
        let g = good();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = g.clone();
            f(&mut b);
            parse_head(&head_of(&b))
        };
        assert_eq!(parse_head(b"\x7fEL"), Err(Error::NotElf));
        assert_eq!(parse_head(&g[..63]), Err(Error::NotElf));
        assert_eq!(with(&|b| b[0] = 0), Err(Error::NotElf));
        assert_eq!(with(&|b| b[4] = 1), Err(Error::NotElf64Le));
        assert_eq!(with(&|b| b[5] = 2), Err(Error::NotElf64Le));
        assert_eq!(with(&|b| b[6] = 0), Err(Error::NotElf64Le));
        assert_eq!(with(&|b| b[18] = 3), Err(Error::NotX86_64 { machine: 3 }));
        assert_eq!(with(&|b| b[16] = 3), Err(Error::NotExec { e_type: 3 }));
        assert_eq!(with(&|b| b[54] = 32), Err(Error::ProgramHeaders));
        // Program headers beyond the head, or an offset that overflows.
        assert_eq!(
            with(&|b| b[32..40].copy_from_slice(&0x2000u64.to_le_bytes())),
            Err(Error::ProgramHeaders)
        );
        assert_eq!(
            with(&|b| b[32..40].copy_from_slice(&u64::MAX.to_le_bytes())),
            Err(Error::ProgramHeaders)
        );
        assert_eq!(
            with(&|b| b[56..58].copy_from_slice(&0xFFFFu16.to_le_bytes())),
            Err(Error::ProgramHeaders)
        );
        // p_filesz > p_memsz; p_paddr + p_memsz overflows.
        assert_eq!(
            with(&|b| b[64 + 32..64 + 40].copy_from_slice(&0x4000u64.to_le_bytes())),
            Err(Error::BadSegment { index: 0 })
        );
        assert_eq!(
            with(&|b| b[120 + 24..120 + 32].copy_from_slice(&(u64::MAX - 0x100).to_le_bytes())),
            Err(Error::BadSegment { index: 1 })
        );
        // Below 1 MiB (the real-mode area).
        assert_eq!(
            with(&|b| b[120 + 24..120 + 32].copy_from_slice(&0x9_0000u64.to_le_bytes())),
            Err(Error::TooLow { paddr: 0x9_0000 })
        );
        // The data segment on top of the text.
        assert_eq!(
            with(&|b| b[120 + 24..120 + 32].copy_from_slice(&(16 * M + 0x2000).to_le_bytes())),
            Err(Error::Overlap {
                first: 0,
                second: 1
            })
        );
        // Entry in the data segment (not executable), and beyond every segment.
        assert_eq!(
            with(&|b| b[24..32].copy_from_slice(&(20 * M).to_le_bytes())),
            Err(Error::EntryOutside { entry: 20 * M })
        );
        assert_eq!(
            with(&|b| b[24..32].copy_from_slice(&(16 * M + 0x3000).to_le_bytes())),
            Err(Error::EntryOutside {
                entry: 16 * M + 0x3000
            })
        );
        // Spanning more than 1 GiB.
        assert_eq!(
            with(&|b| b[120 + 24..120 + 32].copy_from_slice(&(2048 * M).to_le_bytes())),
            Err(Error::TooLarge {
                span: 2048 * M + 0x2000 - 16 * M
            })
        );
    }

    #[test]
    fn segment_counts_are_bounded() {
        let none = test_file(16 * M, &[(4, 4, 0x100, 0, 0x14, 0x14)], 0x1000);
        assert_eq!(parse_head(&none), Err(Error::SegmentCount { count: 0 }));
        let many: Vec<TestPh> = (0..17u64)
            .map(|i| (1, 5, 0x1000, 16 * M + i * 0x1000, 0x10, 0x10))
            .collect();
        assert_eq!(
            parse_head(&test_file(16 * M, &many, 0x2000)),
            Err(Error::SegmentCount { count: 17 })
        );
        let sixteen = &many[..16];
        assert_eq!(
            parse_head(&test_file(16 * M, sixteen, 0x2000))
                .unwrap()
                .segments
                .len(),
            16
        );
    }

    #[test]
    fn file_bytes_outside_the_file_are_refused_for_the_file_checks() {
        let f = good();
        let v = parse_head(&f).unwrap();
        assert_eq!(
            check_file(&f[..0x4400], &v),
            Err(Error::SegmentOutsideFile { index: 1 })
        );
        assert_eq!(
            loaded_segments(&f[..0x3000], &v),
            Err(Error::SegmentOutsideFile { index: 0 })
        );
        let mut bad = v.clone();
        bad.segments[0].file_offset = u64::MAX;
        assert_eq!(
            check_file(&f, &bad),
            Err(Error::SegmentOutsideFile { index: 0 })
        );
    }

    #[test]
    fn the_made_up_setup_header_says_what_the_kernel_needs() {
        let v = parse_head(&good()).unwrap();
        let s = setup_header(&v);
        let u16_at = |o: usize| u16::from_le_bytes([s[o], s[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(s[o..o + 4].try_into().unwrap());
        assert_eq!(u16_at(0x1FE), 0xAA55);
        assert_eq!(&s[0x202..0x206], b"HdrS");
        assert_eq!(u16_at(0x206), 0x020F);
        assert_eq!(s[0x211] & 0x01, 0x01, "LOADED_HIGH");
        assert_eq!(u16_at(0x236) & 1, 1, "XLF_KERNEL_64");
        assert_eq!(u32_at(0x238), 2047);
        assert_eq!(u32_at(0x260) as u64, v.end - v.start);
        assert_eq!(u32_at(0x22C), 0x7FFF_FFFF);
        // The header span the zero page copies is the one `kernel` announces.
        let k = kernel(&v);
        assert_eq!(k.header_bytes(&s), &s[0x1F1..0x268]);
        assert_eq!(s[0x201] as usize + 0x202, 0x268);
        assert_eq!((k.pref_address, k.init_size), (v.start, v.end - v.start));
        assert_eq!(k.cmdline_size, CMDLINE_SIZE);
        // Every fuzz-style truncation of a good head is refused or parsed, never a panic.
        let g = good();
        for n in 0..g.len().min(600) {
            let _ = parse_head(&g[..n]);
        }
    }
}
