// SPDX-License-Identifier: BSD-2-Clause-Patent
//! TDVF metadata (`../shared/spec/metadata.md`): locating it in an image (OVMF GUID table at
//! the tail, then the legacy pointer), the descriptor and its 32-byte sections, validation,
//! and a builder for the linker. Input is untrusted when it comes from a file given to a
//! tool; in the firmware it is part of the measured image but is validated all the same.
//
// API CONTRACT (skeleton written by the lead; bodies filled in by the formats work):

use crate::format::guid::Guid;
use alloc::vec::Vec;
use core::fmt;

/// `E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE`, the 16 bytes just before the descriptor.
pub const METADATA_GUID: Guid =
    Guid::from_fields(0xE9EAF9F3, 0x168E, 0x44D5, [0xA8, 0xEB, 0x7F, 0x4D, 0x87, 0x38, 0xF6, 0xAE]);
/// OVMF GUID-table entry that carries the metadata back-offset.
pub const TDX_METADATA_OFFSET_GUID: Guid =
    Guid::from_fields(0xE47A6535, 0x984A, 0x4798, [0x86, 0x5E, 0x46, 0x85, 0xA7, 0xBF, 0x8E, 0xC2]);
/// OVMF GUID-table footer GUID.
pub const OVMF_TABLE_FOOTER_GUID: Guid =
    Guid::from_fields(0x96B582DE, 0x1FB2, 0x45F7, [0xBA, 0xEA, 0xA3, 0x66, 0xC5, 0x5A, 0x08, 0x2D]);
/// "TDVF".
pub const TDVF_SIGNATURE: u32 = 0x4656_4454;
/// Descriptor version.
pub const TDVF_VERSION: u32 = 1;
/// Size of the descriptor header (before the sections).
pub const DESCRIPTOR_HEADER_SIZE: usize = 16;
/// Size of one section entry.
pub const SECTION_SIZE: usize = 32;

/// Section attribute bit 0: the VMM extends the section into MRTD.
pub const ATTR_MR_EXTEND: u32 = 1 << 0;
/// Section attribute bit 1: pages are added with PAGE.AUG (guest accepts).
pub const ATTR_PAGE_AUG: u32 = 1 << 1;

/// Section types (§4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SectionType {
    Bfv = 0,
    Cfv = 1,
    TdHob = 2,
    TempMem = 3,
    PermMem = 4,
    Payload = 5,
    PayloadParam = 6,
    TdInfo = 7,
    TdParams = 8,
}

impl SectionType {
    /// Decodes a raw type; `None` for reserved values (≥ 9).
    pub fn from_raw(raw: u32) -> Option<Self> {
        unimplemented!("formats: {raw}")
    }
    /// Spec name (BFV, CFV, TD_HOB, TempMem, PermMem, Payload, PayloadParam, TD_INFO, TD_PARAMS).
    pub fn name(self) -> &'static str {
        unimplemented!("formats")
    }
}

/// One section entry, decoded (raw integer fields; the type is kept raw so that a tool can
/// print what it found before refusing it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    pub data_offset: u32,
    pub raw_data_size: u32,
    pub memory_address: u64,
    pub memory_data_size: u64,
    pub section_type: u32,
    pub attributes: u32,
}

/// A parsed descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Image offset of the descriptor (not of the GUID before it), when known.
    pub descriptor_offset: usize,
    /// Whether the 16 bytes before the descriptor are [`METADATA_GUID`].
    pub has_guid: bool,
    pub version: u32,
    pub sections: Vec<Section>,
}

/// Why metadata was refused. Every variant names enough to find the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Image shorter than needed to hold the tail / table / descriptor.
    Truncated { needed: u64, available: u64 },
    // ... (formats work adds variants: NoOvmfTable, NoTdxEntry, BadBackOffset, BadSignature,
    // BadVersion, BadLength, NoSections, SectionOutsideImage{index}, Misaligned{index},
    // RawLargerThanMemory{index}, BadAttributes{index}, ReservedType{index}, Count{..},
    // MissingBfv, MissingHobOrPermMem, PointersDisagree{..}, ...)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Finds the descriptor offset in a whole image: OVMF GUID table first (footer at
/// size−48), then the legacy pointer at size−0x20. Errors if neither is valid, or if both
/// are present and disagree.
pub fn locate(image: &[u8]) -> Result<usize, Error> {
    unimplemented!("formats: {}", image.len())
}

/// Reads the back-offset from the OVMF GUID table in `tail`, any slice that ends where the
/// image ends (the firmware passes its last page). Returns `image_size − descriptor_offset`.
pub fn ovmf_back_offset(tail: &[u8]) -> Result<u32, Error> {
    unimplemented!("formats: {}", tail.len())
}

/// Parses the descriptor at the start of `bytes` (which may run on past it; the descriptor
/// Length must fit). `guid_before` is whether the 16 preceding bytes held [`METADATA_GUID`].
/// Checks signature, version, Length = 16 + 32·N, N ≥ 1. Does not apply §6 rules.
pub fn parse_descriptor(bytes: &[u8], descriptor_offset: usize, guid_before: bool) -> Result<Metadata, Error> {
    unimplemented!("formats: {} {descriptor_offset} {guid_before}", bytes.len())
}

/// `locate` + `parse_descriptor` + `validate` on a whole image file.
pub fn parse_image(image: &[u8]) -> Result<Metadata, Error> {
    unimplemented!("formats: {}", image.len())
}

/// Applies the section rules of §6 (our stricter form: MemoryDataSize 4 KiB aligned too) and
/// the VMM rules of §7 for an image of `image_size` bytes. Sections with raw data must lie
/// inside the image.
pub fn validate(md: &Metadata, image_size: u64) -> Result<(), Error> {
    unimplemented!("formats: {} {image_size}", md.sections.len())
}

/// Serialises METADATA_GUID ‖ descriptor ‖ sections (16 + 16 + 32·N bytes).
pub fn build(sections: &[Section]) -> Vec<u8> {
    unimplemented!("formats: {}", sections.len())
}

/// Writes the image tail fields that locate the metadata: the OVMF GUID table (TDX entry +
/// footer, exactly as `../shared/spec/image-layout.md` §5) and the legacy pointer.
/// `image` is the whole image; `descriptor_offset` the descriptor's offset in it.
pub fn write_tail_pointers(image: &mut [u8], descriptor_offset: usize) -> Result<(), Error> {
    unimplemented!("formats: {} {descriptor_offset}", image.len())
}
