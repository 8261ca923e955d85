// SPDX-License-Identifier: BSD-2-Clause-Patent
//! ELF64 x86-64 loader shared by the firmware (payloads) and `td-shim-ld` (the shim itself):
//! parse and validate with goblin, copy PT_LOAD segments, zero BSS, apply
//! R_X86_64_RELATIVE relocations for a chosen base (`../shared/spec/hob.md` §5).
//! Input is untrusted (a payload file, or whatever sits in the payload FV).
//
// API CONTRACT (skeleton written by the lead; bodies filled in by the tools work).

use alloc::vec::Vec;
use core::fmt;

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Not an ELF file (bad magic) or goblin could not parse it.
    NotElf,
    // tools work adds: NotX86_64, Not64Bit, NotLittleEndian, BadType{e_type}, NoLoadSegments,
    // SegmentOutsideFile{index}, FileSizeExceedsMemSize{index}, Overlap{..}, AddressOverflow,
    // EntryOutsideImage, UnsupportedRelocation{r_type}, RelocationOutsideImage{offset},
    // BadBase{..}, DestinationSize{..}, TooLarge ...
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Parses and validates: ELF64, little-endian, EM_X86_64, ET_DYN or ET_EXEC; PT_LOAD
/// segments inside the file, filesz ≤ memsz, no address overflow, no overlapping segments;
/// entry inside an executable segment; only R_X86_64_RELATIVE (and NONE) dynamic relocations.
pub fn parse(bytes: &[u8]) -> Result<ElfInfo, Error> {
    unimplemented!("tools {}", bytes.len())
}

/// Loads into `dest`, which is the memory for [base + mem_start, base + mem_end) and must be
/// exactly that long. For Kind::Exec, `base` must be 0. Zeroes `dest` first, copies file
/// bytes, applies relocations (value = base + addend, 8-byte writes, inside `dest`).
/// Returns the relocated entry address (base + entry).
pub fn load(bytes: &[u8], info: &ElfInfo, base: u64, dest: &mut [u8]) -> Result<u64, Error> {
    unimplemented!("tools {} {base} {} {:?}", bytes.len(), dest.len(), info.kind)
}
