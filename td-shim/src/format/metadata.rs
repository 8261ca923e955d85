// SPDX-License-Identifier: BSD-2-Clause-Patent
//! TDVF metadata (`../shared/spec/metadata.md`): locating it in an image (OVMF GUID table at
//! the tail, then the legacy pointer), the descriptor and its 32-byte sections, validation,
//! and a builder for the linker. Input is untrusted when it comes from a file given to a
//! tool; in the firmware it is part of the measured image but is validated all the same.
//! The tail layout written here is `../shared/spec/image-layout.md` §5.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::format::guid::Guid;
use crate::format::le::{u16_at, u32_at};
use alloc::vec::Vec;
use core::fmt;
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE`, the 16 bytes just before the descriptor.
pub const METADATA_GUID: Guid = Guid::from_fields(
    0xE9EAF9F3,
    0x168E,
    0x44D5,
    [0xA8, 0xEB, 0x7F, 0x4D, 0x87, 0x38, 0xF6, 0xAE],
);
/// OVMF GUID-table entry that carries the metadata back-offset.
pub const TDX_METADATA_OFFSET_GUID: Guid = Guid::from_fields(
    0xE47A6535,
    0x984A,
    0x4798,
    [0x86, 0x5E, 0x46, 0x85, 0xA7, 0xBF, 0x8E, 0xC2],
);
/// OVMF GUID-table footer GUID.
pub const OVMF_TABLE_FOOTER_GUID: Guid = Guid::from_fields(
    0x96B582DE,
    0x1FB2,
    0x45F7,
    [0xBA, 0xEA, 0xA3, 0x66, 0xC5, 0x5A, 0x08, 0x2D],
);
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

/// Fewest sections QEMU accepts (`metadata.md` §7 step 3).
pub const MIN_SECTIONS: usize = 2;

/// Offset from the image end of the OVMF table footer GUID (`image-layout.md` §5).
const FOOTER_GUID_FROM_END: usize = 0x30;
/// Offset from the image end of the OVMF table length (u16 just below the footer GUID).
const TABLE_LEN_FROM_END: usize = 0x32;
/// Offset from the image end of the legacy metadata pointer.
const LEGACY_PTR_FROM_END: usize = 0x20;
/// Offset from the image end of the TDX entry we write (its u32 data).
const TDX_ENTRY_FROM_END: usize = 0x48;
/// u16 length + GUID: the trailing part of every OVMF table entry and of the footer.
const OVMF_ENTRY_TRAILER: usize = 18;
/// Length of the TDX entry we write: u32 data + trailer.
const TDX_ENTRY_LEN: u16 = 22;
/// Table length we write: the TDX entry + the footer's own 18 bytes.
const OVMF_TABLE_LEN: u16 = 40;
const PAGE_MASK: u64 = 0xFFF;

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
        Some(match raw {
            0 => SectionType::Bfv,
            1 => SectionType::Cfv,
            2 => SectionType::TdHob,
            3 => SectionType::TempMem,
            4 => SectionType::PermMem,
            5 => SectionType::Payload,
            6 => SectionType::PayloadParam,
            7 => SectionType::TdInfo,
            8 => SectionType::TdParams,
            _ => return None,
        })
    }
    /// Spec name (BFV, CFV, TD_HOB, TempMem, PermMem, Payload, PayloadParam, TD_INFO, TD_PARAMS).
    pub fn name(self) -> &'static str {
        match self {
            SectionType::Bfv => "BFV",
            SectionType::Cfv => "CFV",
            SectionType::TdHob => "TD_HOB",
            SectionType::TempMem => "TempMem",
            SectionType::PermMem => "PermMem",
            SectionType::Payload => "Payload",
            SectionType::PayloadParam => "PayloadParam",
            SectionType::TdInfo => "TD_INFO",
            SectionType::TdParams => "TD_PARAMS",
        }
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

impl Section {
    /// The decoded type, `None` if reserved.
    pub fn kind(&self) -> Option<SectionType> {
        SectionType::from_raw(self.section_type)
    }
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

impl Metadata {
    /// Byte length of the descriptor including its sections (16 + 32·N), saturating.
    pub fn descriptor_len(&self) -> usize {
        self.sections
            .len()
            .saturating_mul(SECTION_SIZE)
            .saturating_add(DESCRIPTOR_HEADER_SIZE)
    }
}

/// Why metadata was refused. Every variant names enough to find the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Image shorter than needed to hold the tail / table / descriptor.
    Truncated { needed: u64, available: u64 },
    /// No OVMF table footer GUID at image size − 48.
    NoOvmfTable,
    /// The OVMF table length (or an entry length in it) is impossible.
    BadOvmfTable { table_len: u16 },
    /// The OVMF table has no TDX metadata entry.
    NoTdxEntry,
    /// The TDX entry's back-offset does not leave a 16-byte descriptor header inside the image.
    BadBackOffset { back_offset: u32 },
    /// Neither the OVMF table nor the legacy pointer leads to a descriptor.
    NotFound,
    /// The OVMF table and the legacy pointer name different descriptors.
    PointersDisagree { ovmf: u64, legacy: u64 },
    /// Signature is not "TDVF".
    BadSignature { found: u32 },
    /// Version is not 1.
    BadVersion { found: u32 },
    /// Descriptor Length is not 16 + 32·N.
    BadLength { length: u32, sections: u32 },
    /// N = 0.
    NoSections,
    /// Fewer sections than QEMU requires ([`MIN_SECTIONS`]).
    TooFewSections { count: usize },
    /// The descriptor (header and sections) does not fit in the image.
    DescriptorOutsideImage { offset: u64, length: u64 },
    /// Section `index` has a reserved type.
    ReservedType { index: usize, section_type: u32 },
    /// Section `index` has raw data that does not fit in the image.
    SectionOutsideImage { index: usize },
    /// Section `index` has MemoryAddress or MemoryDataSize not 4 KiB aligned.
    Misaligned { index: usize },
    /// Section `index` has MemoryAddress + MemoryDataSize beyond 2^64.
    MemoryRangeWraps { index: usize },
    /// Section `index` has RawDataSize > MemoryDataSize.
    RawLargerThanMemory { index: usize },
    /// Section `index` has RawDataSize = 0 but DataOffset ≠ 0.
    OffsetWithoutData { index: usize },
    /// Section `index` must carry raw data (BFV, CFV, TD_INFO, TD_PARAMS).
    MissingRawData { index: usize },
    /// Section `index` must not carry raw data (TD_HOB, TempMem, PermMem).
    UnexpectedRawData { index: usize },
    /// Section `index` must have MemoryAddress = MemoryDataSize = 0 (TD_INFO, TD_PARAMS).
    UnexpectedMemory { index: usize },
    /// Section `index` has attributes its type does not allow.
    BadAttributes { index: usize, attributes: u32 },
    /// Section `index` repeats a type allowed at most once.
    Duplicate { index: usize, section_type: u32 },
    /// Section `index` (TD_INFO / TD_PARAMS) has raw data outside every BFV's file range.
    NotInsideBfv { index: usize },
    /// A PayloadParam section without a Payload section.
    PayloadParamWithoutPayload,
    /// No BFV section.
    MissingBfv,
    /// Neither a TD_HOB nor a PermMem section.
    MissingHobOrPermMem,
    /// Sections `first` and `second` claim overlapping guest memory.
    OverlappingMemory { first: usize, second: usize },
    /// An offset or size does not fit the 32-bit fields of the tail.
    TooLarge { value: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { needed, available } => {
                write!(
                    f,
                    "metadata: image too short ({available:#x} bytes, need {needed:#x})"
                )
            }
            Error::NoOvmfTable => {
                f.write_str("metadata: no OVMF GUID table footer at image end - 0x30")
            }
            Error::BadOvmfTable { table_len } => write!(
                f,
                "metadata: malformed OVMF GUID table (length {table_len:#x})"
            ),
            Error::NoTdxEntry => f.write_str("metadata: OVMF GUID table has no TDX metadata entry"),
            Error::BadBackOffset { back_offset } => {
                write!(
                    f,
                    "metadata: TDX entry back-offset {back_offset:#x} points outside the image"
                )
            }
            Error::NotFound => {
                f.write_str("metadata: neither OVMF table nor legacy pointer locates a descriptor")
            }
            Error::PointersDisagree { ovmf, legacy } => {
                write!(
                    f,
                    "metadata: OVMF table says {ovmf:#x} but legacy pointer says {legacy:#x}"
                )
            }
            Error::BadSignature { found } => {
                write!(f, "metadata: signature {found:#x} is not TDVF")
            }
            Error::BadVersion { found } => write!(f, "metadata: version {found} is not 1"),
            Error::BadLength { length, sections } => {
                write!(
                    f,
                    "metadata: descriptor length {length:#x} does not match {sections} sections"
                )
            }
            Error::NoSections => f.write_str("metadata: descriptor has no sections"),
            Error::TooFewSections { count } => {
                write!(f, "metadata: {count} sections, QEMU requires at least 2")
            }
            Error::DescriptorOutsideImage { offset, length } => {
                write!(
                    f,
                    "metadata: descriptor [{offset:#x}, +{length:#x}) is outside the image"
                )
            }
            Error::ReservedType {
                index,
                section_type,
            } => {
                write!(
                    f,
                    "metadata: section {index} has reserved type {section_type}"
                )
            }
            Error::SectionOutsideImage { index } => {
                write!(f, "metadata: section {index} raw data is outside the image")
            }
            Error::Misaligned { index } => {
                write!(f, "metadata: section {index} memory is not 4 KiB aligned")
            }
            Error::MemoryRangeWraps { index } => {
                write!(f, "metadata: section {index} memory range wraps")
            }
            Error::RawLargerThanMemory { index } => {
                write!(
                    f,
                    "metadata: section {index} raw data is larger than its memory"
                )
            }
            Error::OffsetWithoutData { index } => {
                write!(
                    f,
                    "metadata: section {index} has a data offset but no raw data"
                )
            }
            Error::MissingRawData { index } => {
                write!(f, "metadata: section {index} must have raw data")
            }
            Error::UnexpectedRawData { index } => {
                write!(f, "metadata: section {index} must not have raw data")
            }
            Error::UnexpectedMemory { index } => {
                write!(f, "metadata: section {index} must not claim memory")
            }
            Error::BadAttributes { index, attributes } => {
                write!(
                    f,
                    "metadata: section {index} attributes {attributes:#x} not allowed for its type"
                )
            }
            Error::Duplicate {
                index,
                section_type,
            } => {
                write!(
                    f,
                    "metadata: section {index} repeats type {section_type}, allowed once"
                )
            }
            Error::NotInsideBfv { index } => {
                write!(f, "metadata: section {index} raw data is not inside a BFV")
            }
            Error::PayloadParamWithoutPayload => {
                f.write_str("metadata: PayloadParam section without Payload")
            }
            Error::MissingBfv => f.write_str("metadata: no BFV section"),
            Error::MissingHobOrPermMem => {
                f.write_str("metadata: neither TD_HOB nor PermMem section")
            }
            Error::OverlappingMemory { first, second } => {
                write!(
                    f,
                    "metadata: sections {first} and {second} overlap in guest memory"
                )
            }
            Error::TooLarge { value } => write!(f, "metadata: {value:#x} does not fit in 32 bits"),
        }
    }
}

/// Descriptor header on the wire.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawDescriptor {
    signature: U32,
    length: U32,
    version: U32,
    number_of_section_entry: U32,
}

/// Section entry on the wire.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawSection {
    data_offset: U32,
    raw_data_size: U32,
    memory_address: U64,
    memory_data_size: U64,
    section_type: U32,
    attributes: U32,
}

const _: () = assert!(core::mem::size_of::<RawDescriptor>() == DESCRIPTOR_HEADER_SIZE);
const _: () = assert!(core::mem::size_of::<RawSection>() == SECTION_SIZE);

fn truncated(needed: usize, available: usize) -> Error {
    Error::Truncated {
        needed: needed as u64,
        available: available as u64,
    }
}

/// `bytes[start..start + 16]` as a GUID.
fn guid_at(bytes: &[u8], start: usize) -> Option<Guid> {
    let end = start.checked_add(16)?;
    let b: [u8; 16] = bytes.get(start..end)?.try_into().ok()?;
    Some(Guid::from_bytes(b))
}

/// Finds the descriptor offset in a whole image: OVMF GUID table first (footer at
/// size−48), then the legacy pointer at size−0x20. Errors if neither is valid, or if both
/// are present and disagree. The legacy pointer counts as present only when it points at a
/// "TDVF" signature inside the image (so a tail that leaves it zero or stale is not an
/// error when the OVMF table is good). A malformed OVMF table (footer present, lengths
/// impossible) is an error, not a reason to fall back.
pub fn locate(image: &[u8]) -> Result<usize, Error> {
    let size = image.len();
    let ovmf = match ovmf_back_offset(image) {
        Ok(back) => {
            let back_usize = back as usize;
            // QEMU: descriptor offset + 16 ≤ size.
            if back_usize > size || back_usize < DESCRIPTOR_HEADER_SIZE {
                return Err(Error::BadBackOffset { back_offset: back });
            }
            Some(size.wrapping_sub(back_usize))
        }
        Err(Error::NoOvmfTable | Error::NoTdxEntry) => None,
        Err(e) => return Err(e),
    };
    let legacy = legacy_pointer(image);
    match (ovmf, legacy) {
        (Some(o), Some(l)) if o != l => Err(Error::PointersDisagree {
            ovmf: o as u64,
            legacy: l as u64,
        }),
        (Some(o), _) => Ok(o),
        (None, Some(l)) => Ok(l),
        (None, None) => Err(Error::NotFound),
    }
}

/// The legacy pointer, if it points at a "TDVF" signature with a whole header in the image.
fn legacy_pointer(image: &[u8]) -> Option<usize> {
    let at = image.len().checked_sub(LEGACY_PTR_FROM_END)?;
    let ptr = u32_at(image, at)? as usize;
    let header_end = ptr.checked_add(DESCRIPTOR_HEADER_SIZE)?;
    if header_end > image.len() {
        return None;
    }
    (u32_at(image, ptr)? == TDVF_SIGNATURE).then_some(ptr)
}

/// Reads the back-offset from the OVMF GUID table in `tail`, any slice that ends where the
/// image ends (the firmware passes its last page). Returns `image_size − descriptor_offset`.
/// Walks every entry of the table (`metadata.md` §1) and takes the first 4 data bytes of the
/// TDX entry.
pub fn ovmf_back_offset(tail: &[u8]) -> Result<u32, Error> {
    let len = tail.len();
    let footer_at = len
        .checked_sub(FOOTER_GUID_FROM_END)
        .ok_or(truncated(FOOTER_GUID_FROM_END, len))?;
    let table_len_at = len
        .checked_sub(TABLE_LEN_FROM_END)
        .ok_or(truncated(TABLE_LEN_FROM_END, len))?;
    if guid_at(tail, footer_at) != Some(OVMF_TABLE_FOOTER_GUID) {
        return Err(Error::NoOvmfTable);
    }
    let table_len = u16_at(tail, table_len_at).ok_or(truncated(TABLE_LEN_FROM_END, len))?;
    let bad = Error::BadOvmfTable { table_len };
    // The table occupies [len − 0x20 − table_len, len − 0x20); the footer is its last 18 bytes.
    let table_end = len.checked_sub(LEGACY_PTR_FROM_END).ok_or(bad)?;
    let table_start = table_end.checked_sub(usize::from(table_len)).ok_or(bad)?;
    if usize::from(table_len) < OVMF_ENTRY_TRAILER {
        return Err(bad);
    }
    // p = end of the entry being looked at; entries are packed below the footer.
    let mut p = table_len_at;
    while p > table_start {
        let room = p.checked_sub(table_start).ok_or(bad)?;
        if room < OVMF_ENTRY_TRAILER {
            return Err(bad);
        }
        let guid_at_p = p.checked_sub(16).ok_or(bad)?;
        let len_at_p = p.checked_sub(OVMF_ENTRY_TRAILER).ok_or(bad)?;
        let entry_guid = guid_at(tail, guid_at_p).ok_or(bad)?;
        let entry_len = usize::from(u16_at(tail, len_at_p).ok_or(bad)?);
        if entry_len < OVMF_ENTRY_TRAILER || entry_len > room {
            return Err(bad);
        }
        let entry_start = p.checked_sub(entry_len).ok_or(bad)?;
        if entry_guid == TDX_METADATA_OFFSET_GUID {
            if entry_len < OVMF_ENTRY_TRAILER.saturating_add(4) {
                return Err(bad);
            }
            return u32_at(tail, entry_start).ok_or(bad);
        }
        p = entry_start;
    }
    Err(Error::NoTdxEntry)
}

/// Parses the descriptor at the start of `bytes` (which may run on past it; the descriptor
/// Length must fit). `guid_before` is whether the 16 preceding bytes held [`METADATA_GUID`].
/// Checks signature, version, Length = 16 + 32·N, N ≥ 1. Does not apply §6 rules.
pub fn parse_descriptor(
    bytes: &[u8],
    descriptor_offset: usize,
    guid_before: bool,
) -> Result<Metadata, Error> {
    let (hdr, rest) = RawDescriptor::ref_from_prefix(bytes)
        .map_err(|_| truncated(DESCRIPTOR_HEADER_SIZE, bytes.len()))?;
    if hdr.signature.get() != TDVF_SIGNATURE {
        return Err(Error::BadSignature {
            found: hdr.signature.get(),
        });
    }
    if hdr.version.get() != TDVF_VERSION {
        return Err(Error::BadVersion {
            found: hdr.version.get(),
        });
    }
    let n = hdr.number_of_section_entry.get();
    if n == 0 {
        return Err(Error::NoSections);
    }
    let length = hdr.length.get();
    let expected = u64::from(n)
        .checked_mul(SECTION_SIZE as u64)
        .and_then(|s| s.checked_add(DESCRIPTOR_HEADER_SIZE as u64));
    if expected != Some(u64::from(length)) {
        return Err(Error::BadLength {
            length,
            sections: n,
        });
    }
    let (raw, _) = <[RawSection]>::ref_from_prefix_with_elems(rest, n as usize)
        .map_err(|_| truncated(length as usize, bytes.len()))?;
    let sections = raw
        .iter()
        .map(|r| Section {
            data_offset: r.data_offset.get(),
            raw_data_size: r.raw_data_size.get(),
            memory_address: r.memory_address.get(),
            memory_data_size: r.memory_data_size.get(),
            section_type: r.section_type.get(),
            attributes: r.attributes.get(),
        })
        .collect();
    Ok(Metadata {
        descriptor_offset,
        has_guid: guid_before,
        version: hdr.version.get(),
        sections,
    })
}

/// `locate` + `parse_descriptor` + `validate` on a whole image file.
pub fn parse_image(image: &[u8]) -> Result<Metadata, Error> {
    let offset = locate(image)?;
    let has_guid = offset.checked_sub(16).and_then(|g| guid_at(image, g)) == Some(METADATA_GUID);
    let bytes = image.get(offset..).ok_or(truncated(offset, image.len()))?;
    let md = parse_descriptor(bytes, offset, has_guid)?;
    validate(&md, image.len() as u64)?;
    Ok(md)
}

/// Applies the section rules of §6 (our stricter form: MemoryDataSize 4 KiB aligned too) and
/// the VMM rules of §7 for an image of `image_size` bytes. Sections with raw data must lie
/// inside the image.
///
/// Beyond the tables: N ≥ 2 (QEMU), the descriptor must lie inside the image, no memory
/// range may wrap, and no two sections may claim overlapping guest memory (a VMM cannot add
/// a page twice). TD_INFO / TD_PARAMS are exempt from "MemoryDataSize ≥ RawDataSize" because
/// they claim no memory by definition.
pub fn validate(md: &Metadata, image_size: u64) -> Result<(), Error> {
    let desc_len = md.descriptor_len() as u64;
    let desc_off = md.descriptor_offset as u64;
    if desc_off
        .checked_add(desc_len)
        .is_none_or(|end| end > image_size)
    {
        return Err(Error::DescriptorOutsideImage {
            offset: desc_off,
            length: desc_len,
        });
    }
    if md.sections.is_empty() {
        return Err(Error::NoSections);
    }
    if md.sections.len() < MIN_SECTIONS {
        return Err(Error::TooFewSections {
            count: md.sections.len(),
        });
    }

    let mut seen = [false; 9];
    for (index, s) in md.sections.iter().enumerate() {
        let kind = s.kind().ok_or(Error::ReservedType {
            index,
            section_type: s.section_type,
        })?;
        // Common rules.
        if s.raw_data_size == 0 && s.data_offset != 0 {
            return Err(Error::OffsetWithoutData { index });
        }
        if u64::from(s.data_offset).saturating_add(u64::from(s.raw_data_size)) > image_size {
            return Err(Error::SectionOutsideImage { index });
        }
        if s.memory_address & PAGE_MASK != 0 || s.memory_data_size & PAGE_MASK != 0 {
            return Err(Error::Misaligned { index });
        }
        if s.memory_address.checked_add(s.memory_data_size).is_none() {
            return Err(Error::MemoryRangeWraps { index });
        }
        let claims_no_memory = matches!(kind, SectionType::TdInfo | SectionType::TdParams);
        if !claims_no_memory && u64::from(s.raw_data_size) > s.memory_data_size {
            return Err(Error::RawLargerThanMemory { index });
        }
        // Per-type rules (§6 table).
        let (needs_raw, forbids_raw, attrs_ok, once) = match kind {
            SectionType::Bfv => (true, false, s.attributes == ATTR_MR_EXTEND, false),
            SectionType::Cfv => (true, false, s.attributes == 0, false),
            SectionType::TdHob => (false, true, s.attributes == 0, true),
            SectionType::TempMem => (false, true, s.attributes == 0, false),
            SectionType::PermMem => (false, true, s.attributes == ATTR_PAGE_AUG, false),
            SectionType::Payload => (false, false, s.attributes & !ATTR_MR_EXTEND == 0, true),
            SectionType::PayloadParam => (false, false, s.attributes == 0, true),
            SectionType::TdInfo | SectionType::TdParams => (true, false, s.attributes == 0, true),
        };
        if needs_raw && s.raw_data_size == 0 {
            return Err(Error::MissingRawData { index });
        }
        if forbids_raw && s.raw_data_size != 0 {
            return Err(Error::UnexpectedRawData { index });
        }
        if !attrs_ok {
            return Err(Error::BadAttributes {
                index,
                attributes: s.attributes,
            });
        }
        let slot = seen.get_mut(kind as usize).ok_or(Error::ReservedType {
            index,
            section_type: s.section_type,
        })?;
        if once && *slot {
            return Err(Error::Duplicate {
                index,
                section_type: s.section_type,
            });
        }
        *slot = true;
        if claims_no_memory {
            if s.memory_address != 0 || s.memory_data_size != 0 {
                return Err(Error::UnexpectedMemory { index });
            }
            let start = u64::from(s.data_offset);
            let end = start.saturating_add(u64::from(s.raw_data_size));
            let inside = md.sections.iter().any(|b| {
                let b_start = u64::from(b.data_offset);
                b.kind() == Some(SectionType::Bfv)
                    && b_start <= start
                    && end <= b_start.saturating_add(u64::from(b.raw_data_size))
            });
            if !inside {
                return Err(Error::NotInsideBfv { index });
            }
        }
    }
    let has = |t: SectionType| seen.get(t as usize).copied().unwrap_or(false);
    if !has(SectionType::Bfv) {
        return Err(Error::MissingBfv);
    }
    if !has(SectionType::TdHob) && !has(SectionType::PermMem) {
        return Err(Error::MissingHobOrPermMem);
    }
    if has(SectionType::PayloadParam) && !has(SectionType::Payload) {
        return Err(Error::PayloadParamWithoutPayload);
    }
    check_memory_overlap(&md.sections)
}

/// Sorts the claimed memory ranges and checks neighbours: O(N log N) on hostile N.
fn check_memory_overlap(sections: &[Section]) -> Result<(), Error> {
    let mut ranges: Vec<(u64, u64, usize)> = sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.memory_data_size != 0)
        .map(|(i, s)| {
            (
                s.memory_address,
                s.memory_address.saturating_add(s.memory_data_size),
                i,
            )
        })
        .collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        if let [(_, a_end, a), (b_start, _, b)] = *pair {
            if b_start < a_end {
                return Err(Error::OverlappingMemory {
                    first: a.min(b),
                    second: a.max(b),
                });
            }
        }
    }
    Ok(())
}

/// Serialises METADATA_GUID ‖ descriptor ‖ sections (16 + 16 + 32·N bytes).
pub fn build(sections: &[Section]) -> Vec<u8> {
    let n = sections.len();
    let length = n
        .saturating_mul(SECTION_SIZE)
        .saturating_add(DESCRIPTOR_HEADER_SIZE);
    let mut out = Vec::with_capacity(length.saturating_add(16));
    out.extend_from_slice(&METADATA_GUID.to_bytes());
    let hdr = RawDescriptor {
        signature: U32::new(TDVF_SIGNATURE),
        length: U32::new(u32::try_from(length).unwrap_or(u32::MAX)),
        version: U32::new(TDVF_VERSION),
        number_of_section_entry: U32::new(u32::try_from(n).unwrap_or(u32::MAX)),
    };
    out.extend_from_slice(hdr.as_bytes());
    for s in sections {
        let r = RawSection {
            data_offset: U32::new(s.data_offset),
            raw_data_size: U32::new(s.raw_data_size),
            memory_address: U64::new(s.memory_address),
            memory_data_size: U64::new(s.memory_data_size),
            section_type: U32::new(s.section_type),
            attributes: U32::new(s.attributes),
        };
        out.extend_from_slice(r.as_bytes());
    }
    out
}

/// Writes the image tail fields that locate the metadata: the OVMF GUID table (TDX entry +
/// footer, exactly as `../shared/spec/image-layout.md` §5) and the legacy pointer.
/// `image` is the whole image; `descriptor_offset` the descriptor's offset in it.
/// Touches only [size − 0x48, size − 0x1C).
pub fn write_tail_pointers(image: &mut [u8], descriptor_offset: usize) -> Result<(), Error> {
    let size = image.len();
    let tail_at = size
        .checked_sub(TDX_ENTRY_FROM_END)
        .ok_or(truncated(TDX_ENTRY_FROM_END, size))?;
    // The descriptor header must lie below the tail fields it is located by.
    if descriptor_offset
        .checked_add(DESCRIPTOR_HEADER_SIZE)
        .is_none_or(|end| end > tail_at)
    {
        return Err(Error::DescriptorOutsideImage {
            offset: descriptor_offset as u64,
            length: DESCRIPTOR_HEADER_SIZE as u64,
        });
    }
    let back = size.wrapping_sub(descriptor_offset); // descriptor_offset < size, checked above
    let back = u32::try_from(back).map_err(|_| Error::TooLarge { value: back as u64 })?;
    let ptr = u32::try_from(descriptor_offset).map_err(|_| Error::TooLarge {
        value: descriptor_offset as u64,
    })?;

    let mut tail = [0u8; 0x2C]; // [size − 0x48, size − 0x1C)
    let fields: [(usize, &[u8]); 6] = [
        (0x00, &back.to_le_bytes()),
        (0x04, &TDX_ENTRY_LEN.to_le_bytes()),
        (0x06, &TDX_METADATA_OFFSET_GUID.to_bytes()),
        (0x16, &OVMF_TABLE_LEN.to_le_bytes()),
        (0x18, &OVMF_TABLE_FOOTER_GUID.to_bytes()),
        (0x28, &ptr.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        let end = at.checked_add(bytes.len()).ok_or(truncated(size, size))?;
        tail.get_mut(at..end)
            .ok_or(truncated(size, size))?
            .copy_from_slice(bytes);
    }
    let tail_end = tail_at
        .checked_add(tail.len())
        .ok_or(truncated(size, size))?;
    image
        .get_mut(tail_at..tail_end)
        .ok_or(truncated(TDX_ENTRY_FROM_END, size))?
        .copy_from_slice(&tail);
    Ok(())
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

    const IMAGE_SIZE: usize = 0x20000;
    const MD_OFFSET: usize = 0x10000; // GUID here, descriptor at +16

    fn sec(t: SectionType, data_offset: u32, raw: u32, addr: u64, mem: u64, attr: u32) -> Section {
        Section {
            data_offset,
            raw_data_size: raw,
            memory_address: addr,
            memory_data_size: mem,
            section_type: t as u32,
            attributes: attr,
        }
    }

    /// A small but valid set for a 128 KiB image based at 4 GiB − 0x20000.
    fn good_sections() -> Vec<Section> {
        vec![
            sec(
                SectionType::Bfv,
                0x10000,
                0x10000,
                0xFFFF_0000,
                0x10000,
                ATTR_MR_EXTEND,
            ),
            sec(SectionType::Cfv, 0, 0x1000, 0xFFFE_0000, 0x1000, 0),
            sec(SectionType::TempMem, 0, 0, 0x20_0000, 0x4_0000, 0),
            sec(SectionType::TdHob, 0, 0, 0x80_0000, 0x2_0000, 0),
        ]
    }

    fn image_with(sections: &[Section]) -> Vec<u8> {
        let mut img = vec![0u8; IMAGE_SIZE];
        let md = build(sections);
        img[MD_OFFSET..MD_OFFSET + md.len()].copy_from_slice(&md);
        write_tail_pointers(&mut img, MD_OFFSET + 16).unwrap();
        img
    }

    fn md_of(sections: Vec<Section>) -> Metadata {
        Metadata {
            descriptor_offset: MD_OFFSET + 16,
            has_guid: true,
            version: 1,
            sections,
        }
    }

    #[test]
    fn guid_constants_have_spec_byte_order() {
        assert_eq!(
            METADATA_GUID.to_bytes(),
            [
                0xF3, 0xF9, 0xEA, 0xE9, 0x8E, 0x16, 0xD5, 0x44, 0xA8, 0xEB, 0x7F, 0x4D, 0x87, 0x38,
                0xF6, 0xAE
            ]
        );
        // E47A6535-984A-4798-865E-4685A7BF8EC2, mixed-endian by hand.
        assert_eq!(
            TDX_METADATA_OFFSET_GUID.to_bytes(),
            [
                0x35, 0x65, 0x7A, 0xE4, 0x4A, 0x98, 0x98, 0x47, 0x86, 0x5E, 0x46, 0x85, 0xA7, 0xBF,
                0x8E, 0xC2
            ]
        );
        // 96B582DE-1FB2-45F7-BAEA-A366C55A082D
        assert_eq!(
            OVMF_TABLE_FOOTER_GUID.to_bytes(),
            [
                0xDE, 0x82, 0xB5, 0x96, 0xB2, 0x1F, 0xF7, 0x45, 0xBA, 0xEA, 0xA3, 0x66, 0xC5, 0x5A,
                0x08, 0x2D
            ]
        );
        assert_eq!(&TDVF_SIGNATURE.to_le_bytes(), b"TDVF");
    }

    #[test]
    fn section_type_names_and_raw_values() {
        let all = [
            (0, "BFV"),
            (1, "CFV"),
            (2, "TD_HOB"),
            (3, "TempMem"),
            (4, "PermMem"),
            (5, "Payload"),
            (6, "PayloadParam"),
            (7, "TD_INFO"),
            (8, "TD_PARAMS"),
        ];
        for (raw, name) in all {
            let t = SectionType::from_raw(raw).unwrap();
            assert_eq!(t as u32, raw);
            assert_eq!(t.name(), name);
        }
        assert_eq!(SectionType::from_raw(9), None);
        assert_eq!(SectionType::from_raw(u32::MAX), None);
    }

    #[test]
    fn build_layout_by_hand() {
        let s = sec(SectionType::TdHob, 0, 0, 0x80_0000, 0x2_0000, 0);
        let bytes = build(&[s]);
        assert_eq!(bytes.len(), 16 + 16 + 32);
        assert_eq!(&bytes[..16], &METADATA_GUID.to_bytes());
        assert_eq!(&bytes[16..20], b"TDVF");
        assert_eq!(&bytes[20..24], &[48, 0, 0, 0]); // 16 + 32
        assert_eq!(&bytes[24..28], &[1, 0, 0, 0]);
        assert_eq!(&bytes[28..32], &[1, 0, 0, 0]);
        let mut entry = vec![0u8; 8];
        entry.extend_from_slice(&[0, 0, 0x80, 0, 0, 0, 0, 0]);
        entry.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
        entry.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[32..], &entry[..]);
    }

    #[test]
    fn tail_layout_matches_image_layout_table() {
        let mut img = vec![0x5Au8; 0x1000];
        write_tail_pointers(&mut img, 0x123).unwrap();
        let end = img.len();
        let t = &img[end - 0x48..end - 0x1C];
        // −0x48: back-offset = 0x1000 − 0x123 = 0xEDD.
        assert_eq!(&t[0x00..0x04], &[0xDD, 0x0E, 0, 0]);
        // −0x44: entry length 22.
        assert_eq!(&t[0x04..0x06], &[22, 0]);
        // −0x42: E47A6535-984A-4798-865E-4685A7BF8EC2.
        assert_eq!(
            &t[0x06..0x16],
            &[
                0x35, 0x65, 0x7A, 0xE4, 0x4A, 0x98, 0x98, 0x47, 0x86, 0x5E, 0x46, 0x85, 0xA7, 0xBF,
                0x8E, 0xC2
            ]
        );
        // −0x32: table length 40.
        assert_eq!(&t[0x16..0x18], &[40, 0]);
        // −0x30: 96B582DE-1FB2-45F7-BAEA-A366C55A082D.
        assert_eq!(
            &t[0x18..0x28],
            &[
                0xDE, 0x82, 0xB5, 0x96, 0xB2, 0x1F, 0xF7, 0x45, 0xBA, 0xEA, 0xA3, 0x66, 0xC5, 0x5A,
                0x08, 0x2D
            ]
        );
        // −0x20: legacy pointer.
        assert_eq!(&t[0x28..0x2C], &[0x23, 0x01, 0, 0]);
        // Nothing else touched.
        assert!(img[..end - 0x48].iter().all(|&b| b == 0x5A));
        assert!(img[end - 0x1C..].iter().all(|&b| b == 0x5A));
        // And the reader walks it back.
        assert_eq!(ovmf_back_offset(&img).unwrap(), 0xEDD);
        assert_eq!(ovmf_back_offset(&img[end - 0x48..]).unwrap(), 0xEDD);
    }

    #[test]
    fn round_trip_image() {
        let img = image_with(&good_sections());
        assert_eq!(locate(&img).unwrap(), MD_OFFSET + 16);
        let md = parse_image(&img).unwrap();
        assert_eq!(md, md_of(good_sections()));
        assert!(md.has_guid);
        // Firmware path: the last page only.
        let back = ovmf_back_offset(&img[IMAGE_SIZE - 0x1000..]).unwrap();
        assert_eq!(back as usize, IMAGE_SIZE - MD_OFFSET - 16);
    }

    #[test]
    fn ovmf_table_walks_other_entries() {
        // Table: [TDX entry][another 20-byte entry][footer], table length 22 + 20 + 18.
        let mut img = vec![0u8; 0x1000];
        let end = img.len();
        let other = Guid::from_fields(0x11111111, 0x2222, 0x3333, [4; 8]);
        let footer_len_at = end - 0x32;
        let mut p = footer_len_at;
        // other entry: 2 data bytes + len + guid
        img[p - 16..p].copy_from_slice(&other.to_bytes());
        img[p - 18..p - 16].copy_from_slice(&20u16.to_le_bytes());
        p -= 20;
        img[p - 16..p].copy_from_slice(&TDX_METADATA_OFFSET_GUID.to_bytes());
        img[p - 18..p - 16].copy_from_slice(&22u16.to_le_bytes());
        img[p - 22..p - 18].copy_from_slice(&0x800u32.to_le_bytes());
        img[footer_len_at..footer_len_at + 2].copy_from_slice(&60u16.to_le_bytes());
        img[end - 0x30..end - 0x20].copy_from_slice(&OVMF_TABLE_FOOTER_GUID.to_bytes());
        assert_eq!(ovmf_back_offset(&img), Ok(0x800));
        // Without the TDX entry inside the table length, it is not found.
        img[footer_len_at..footer_len_at + 2].copy_from_slice(&38u16.to_le_bytes());
        assert_eq!(ovmf_back_offset(&img), Err(Error::NoTdxEntry));
    }

    #[test]
    fn ovmf_table_hostile() {
        let mut img = vec![0u8; 0x1000];
        write_tail_pointers(&mut img, 0x100).unwrap();
        let end = img.len();
        // Table length shorter than the footer itself.
        let mut b = img.clone();
        b[end - 0x32..end - 0x30].copy_from_slice(&17u16.to_le_bytes());
        assert_eq!(
            ovmf_back_offset(&b),
            Err(Error::BadOvmfTable { table_len: 17 })
        );
        // Table length beyond the slice.
        let mut b = img.clone();
        b[end - 0x32..end - 0x30].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert_eq!(
            ovmf_back_offset(&b[end - 0x100..]),
            Err(Error::BadOvmfTable { table_len: 0xFFFF })
        );
        // Entry length 0 (would loop forever if not refused) and entry length > room.
        for bad_len in [0u16, 17, 23, 0xFFFF] {
            let mut b = img.clone();
            b[end - 0x44..end - 0x42].copy_from_slice(&bad_len.to_le_bytes());
            assert_eq!(
                ovmf_back_offset(&b),
                Err(Error::BadOvmfTable { table_len: 40 }),
                "len {bad_len}"
            );
        }
        // TDX entry too short to hold a u32 (entry length 18, table length 36).
        let mut b = img.clone();
        b[end - 0x44..end - 0x42].copy_from_slice(&18u16.to_le_bytes());
        b[end - 0x32..end - 0x30].copy_from_slice(&36u16.to_le_bytes());
        assert_eq!(
            ovmf_back_offset(&b),
            Err(Error::BadOvmfTable { table_len: 36 })
        );
        // Footer GUID damaged.
        let mut b = img.clone();
        b[end - 0x21] ^= 1;
        assert_eq!(ovmf_back_offset(&b), Err(Error::NoOvmfTable));
        // Every short tail: an error, no panic.
        for cut in 0..0x48 {
            assert!(ovmf_back_offset(&img[end - cut..]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn locate_fallbacks_and_disagreement() {
        let img = image_with(&good_sections());
        // Legacy only (footer wiped).
        let mut b = img.clone();
        b[IMAGE_SIZE - 0x30..IMAGE_SIZE - 0x20].fill(0);
        assert_eq!(locate(&b), Ok(MD_OFFSET + 16));
        assert_eq!(parse_image(&b).unwrap().descriptor_offset, MD_OFFSET + 16);
        // OVMF only (legacy pointer zeroed: points at no TDVF signature).
        let mut b = img.clone();
        b[IMAGE_SIZE - 0x20..IMAGE_SIZE - 0x1C].fill(0);
        assert_eq!(locate(&b), Ok(MD_OFFSET + 16));
        // Legacy pointer at another TDVF signature: disagreement.
        let mut b = img.clone();
        b[0x200..0x204].copy_from_slice(b"TDVF");
        b[IMAGE_SIZE - 0x20..IMAGE_SIZE - 0x1C].copy_from_slice(&0x200u32.to_le_bytes());
        assert_eq!(
            locate(&b),
            Err(Error::PointersDisagree {
                ovmf: (MD_OFFSET + 16) as u64,
                legacy: 0x200
            })
        );
        // Neither.
        let mut b = img.clone();
        b[IMAGE_SIZE - 0x30..IMAGE_SIZE - 0x1C].fill(0);
        assert_eq!(locate(&b), Err(Error::NotFound));
        // Legacy pointer past the end, no OVMF table.
        b[IMAGE_SIZE - 0x20..IMAGE_SIZE - 0x1C].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(locate(&b), Err(Error::NotFound));
        // Back-offset larger than the image, or leaving no room for the header.
        for back in [IMAGE_SIZE as u32 + 1, u32::MAX, 15, 0] {
            let mut b = img.clone();
            b[IMAGE_SIZE - 0x48..IMAGE_SIZE - 0x44].copy_from_slice(&back.to_le_bytes());
            assert_eq!(
                locate(&b),
                Err(Error::BadBackOffset { back_offset: back }),
                "back {back:#x}"
            );
        }
    }

    #[test]
    fn every_truncated_image_is_refused() {
        let img = image_with(&good_sections());
        // Keep the end of the image (where the pointers are) and cut from the front too.
        // Cutting the end loses the tail pointers; cutting the front keeps the OVMF table
        // (it is relative to the end) but moves the BFV raw data outside the image.
        for cut in 0..img.len() {
            assert!(parse_image(&img[..cut]).is_err(), "prefix {cut}");
            if cut > 0 {
                assert!(parse_image(&img[cut..]).is_err(), "suffix from {cut}");
            }
        }
        // Any prefix of the descriptor alone is refused.
        let md = build(&good_sections());
        let desc = &md[16..];
        for cut in 0..desc.len() {
            assert!(
                parse_descriptor(&desc[..cut], 0, false).is_err(),
                "cut {cut}"
            );
        }
        assert!(parse_descriptor(desc, 0, false).is_ok());
    }

    #[test]
    fn descriptor_hostile() {
        let md = build(&good_sections());
        let desc = md[16..].to_vec();
        let mut b = desc.clone();
        b[0] = b'X';
        assert!(matches!(
            parse_descriptor(&b, 0, false),
            Err(Error::BadSignature { .. })
        ));
        let mut b = desc.clone();
        b[8] = 2;
        assert_eq!(
            parse_descriptor(&b, 0, false),
            Err(Error::BadVersion { found: 2 })
        );
        // N = 0 (Length 16 would otherwise be consistent).
        let mut b = desc.clone();
        b[4..8].copy_from_slice(&16u32.to_le_bytes());
        b[12..16].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse_descriptor(&b, 0, false), Err(Error::NoSections));
        // Length mismatch, both directions.
        for len in [16 + 32 * 4 - 1, 16 + 32 * 4 + 32, 0, u32::MAX] {
            let mut b = desc.clone();
            b[4..8].copy_from_slice(&len.to_le_bytes());
            assert_eq!(
                parse_descriptor(&b, 0, false),
                Err(Error::BadLength {
                    length: len,
                    sections: 4
                })
            );
        }
        // N so large that 16 + 32N overflows u32: Length cannot match.
        let mut b = desc.clone();
        b[12..16].copy_from_slice(&0x0800_0000u32.to_le_bytes());
        b[4..8].copy_from_slice(&16u32.to_le_bytes());
        assert!(matches!(
            parse_descriptor(&b, 0, false),
            Err(Error::BadLength { .. })
        ));
        // Consistent but longer than the buffer.
        let mut b = desc.clone();
        b[12..16].copy_from_slice(&5u32.to_le_bytes());
        b[4..8].copy_from_slice(&(16u32 + 160).to_le_bytes());
        assert!(matches!(
            parse_descriptor(&b, 0, false),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn validate_accepts_good_and_upstream_default() {
        validate(&md_of(good_sections()), IMAGE_SIZE as u64).unwrap();
        // metadata.md §8, executable image (types 0–3 only), 16 MiB.
        let up = vec![
            sec(
                SectionType::Bfv,
                0x81000,
                0xF7F000,
                0xFF08_1000,
                0xF7F000,
                1,
            ),
            sec(SectionType::Cfv, 0, 0x40000, 0xFF00_0000, 0x40000, 0),
            sec(SectionType::TempMem, 0, 0, 0xFF04_1000, 0x20000, 0),
            sec(SectionType::TempMem, 0, 0, 0xFF06_1000, 0x20000, 0),
            sec(SectionType::TempMem, 0, 0, 0xFF04_0000, 0x1000, 0),
            sec(SectionType::TdHob, 0, 0, 0x80_0000, 0x20000, 0),
        ];
        let md = Metadata {
            descriptor_offset: 0xCAE010,
            has_guid: true,
            version: 1,
            sections: up.clone(),
        };
        validate(&md, 0x100_0000).unwrap();
        // Linux variant adds Payload + PayloadParam.
        let mut linux = up;
        linux[0] = sec(
            SectionType::Bfv,
            0xCAE000,
            0x352000,
            0xFFCA_E000,
            0x352000,
            1,
        );
        linux.push(sec(SectionType::Payload, 0, 0, 0x86_1000, 0x200_0000, 0));
        linux.push(sec(SectionType::PayloadParam, 0, 0, 0x86_0000, 0x1000, 0));
        let md = Metadata {
            sections: linux,
            ..md
        };
        validate(&md, 0x100_0000).unwrap();
    }

    fn expect_err(sections: Vec<Section>, err: Error) {
        assert_eq!(validate(&md_of(sections), IMAGE_SIZE as u64), Err(err));
    }

    #[test]
    fn validate_common_rules() {
        let g = good_sections();
        let mut s = g.clone();
        s.push(sec(SectionType::TempMem, 0, 0, 0x40_0000, 0x1800, 0));
        expect_err(s, Error::Misaligned { index: 4 }); // MemoryDataSize (our stricter rule)
        let mut s = g.clone();
        s.push(sec(SectionType::TempMem, 0, 0, 0x40_0800, 0x1000, 0));
        expect_err(s, Error::Misaligned { index: 4 });
        let mut s = g.clone();
        s[1].memory_data_size = 0; // CFV raw 0x1000 > memory 0
        expect_err(s, Error::RawLargerThanMemory { index: 1 });
        let mut s = g.clone();
        s[2].data_offset = 0x10; // TempMem: offset without data
        expect_err(s, Error::OffsetWithoutData { index: 2 });
        let mut s = g.clone();
        s[1].data_offset = (IMAGE_SIZE - 0x800) as u32; // CFV raw runs past the end
        expect_err(s, Error::SectionOutsideImage { index: 1 });
        let mut s = g.clone();
        s[1].data_offset = u32::MAX;
        s[1].raw_data_size = u32::MAX;
        s[1].memory_data_size = 0x1_0000_0000;
        expect_err(s, Error::SectionOutsideImage { index: 1 });
        let mut s = g.clone();
        s.push(sec(
            SectionType::TempMem,
            0,
            0,
            0xFFFF_FFFF_FFFF_F000,
            0x2000,
            0,
        ));
        expect_err(s, Error::MemoryRangeWraps { index: 4 });
        let mut s = g.clone();
        s.push(sec(SectionType::TempMem, 0, 0, 0x20_1000, 0x1000, 0)); // inside TempMem #2
        expect_err(
            s,
            Error::OverlappingMemory {
                first: 2,
                second: 4,
            },
        );
        let mut s = g.clone();
        s.push(Section {
            section_type: 9,
            ..s[2]
        });
        expect_err(
            s,
            Error::ReservedType {
                index: 4,
                section_type: 9,
            },
        );
    }

    #[test]
    fn validate_per_type_rules() {
        let g = good_sections();
        let with = |extra: Section| {
            let mut s = g.clone();
            s.push(extra);
            s
        };
        // Attributes per type.
        let mut s = g.clone();
        s[0].attributes = 0;
        expect_err(
            s,
            Error::BadAttributes {
                index: 0,
                attributes: 0,
            },
        );
        let mut s = g.clone();
        s[0].attributes = 3;
        expect_err(
            s,
            Error::BadAttributes {
                index: 0,
                attributes: 3,
            },
        );
        let mut s = g.clone();
        s[1].attributes = ATTR_MR_EXTEND;
        expect_err(
            s,
            Error::BadAttributes {
                index: 1,
                attributes: 1,
            },
        );
        let mut s = g.clone();
        s[3].attributes = ATTR_PAGE_AUG;
        expect_err(
            s,
            Error::BadAttributes {
                index: 3,
                attributes: 2,
            },
        );
        let mut s = g.clone();
        s[2].attributes = 0x8000_0000; // reserved bit
        expect_err(
            s,
            Error::BadAttributes {
                index: 2,
                attributes: 0x8000_0000,
            },
        );
        expect_err(
            with(sec(SectionType::PermMem, 0, 0, 0x1_0000_0000, 0x1000, 0)),
            Error::BadAttributes {
                index: 4,
                attributes: 0,
            },
        );
        validate(
            &md_of(with(sec(
                SectionType::PermMem,
                0,
                0,
                0x1_0000_0000,
                0x1000,
                2,
            ))),
            IMAGE_SIZE as u64,
        )
        .unwrap();
        expect_err(
            with(sec(SectionType::Payload, 0, 0, 0x100_0000, 0x1000, 2)),
            Error::BadAttributes {
                index: 4,
                attributes: 2,
            },
        );
        validate(
            &md_of(with(sec(SectionType::Payload, 0, 0, 0x100_0000, 0x1000, 1))),
            IMAGE_SIZE as u64,
        )
        .unwrap();
        // Raw data presence.
        let mut s = g.clone();
        s[0].raw_data_size = 0;
        s[0].data_offset = 0;
        expect_err(s, Error::MissingRawData { index: 0 });
        let mut s = g.clone();
        s[3].raw_data_size = 0x100; // TD_HOB with raw data (offset 0)
        expect_err(s, Error::UnexpectedRawData { index: 3 });
        let mut s = g.clone();
        s[2].raw_data_size = 0x100; // TempMem with raw data
        expect_err(s, Error::UnexpectedRawData { index: 2 });
        // Counts.
        expect_err(
            with(sec(SectionType::TdHob, 0, 0, 0x90_0000, 0x1000, 0)),
            Error::Duplicate {
                index: 4,
                section_type: 2,
            },
        );
        let mut s = g.clone();
        s.push(sec(SectionType::Payload, 0, 0, 0x100_0000, 0x1000, 0));
        s.push(sec(SectionType::Payload, 0, 0, 0x200_0000, 0x1000, 0));
        expect_err(
            s,
            Error::Duplicate {
                index: 5,
                section_type: 5,
            },
        );
        expect_err(
            with(sec(SectionType::PayloadParam, 0, 0, 0x100_0000, 0x1000, 0)),
            Error::PayloadParamWithoutPayload,
        );
        // Globals.
        expect_err(g[1..].to_vec(), Error::MissingBfv);
        expect_err(g[..3].to_vec(), Error::MissingHobOrPermMem);
        expect_err(g[..1].to_vec(), Error::TooFewSections { count: 1 });
        expect_err(vec![], Error::NoSections);
    }

    #[test]
    fn validate_td_info_and_params() {
        let g = good_sections();
        let with = |extra: Section| {
            let mut s = g.clone();
            s.push(extra);
            s
        };
        // Inside the BFV's file range [0x10000, 0x20000), no memory: fine.
        validate(
            &md_of(with(sec(SectionType::TdInfo, 0x1F000, 0x100, 0, 0, 0))),
            IMAGE_SIZE as u64,
        )
        .unwrap();
        validate(
            &md_of(with(sec(SectionType::TdParams, 0x1E000, 0x400, 0, 0, 0))),
            IMAGE_SIZE as u64,
        )
        .unwrap();
        expect_err(
            with(sec(SectionType::TdInfo, 0x800, 0x100, 0, 0, 0)),
            Error::NotInsideBfv { index: 4 },
        );
        expect_err(
            with(sec(SectionType::TdInfo, 0xFFF0, 0x100, 0, 0, 0)),
            Error::NotInsideBfv { index: 4 },
        );
        expect_err(
            with(sec(SectionType::TdInfo, 0x1F000, 0x100, 0x1000, 0, 0)),
            Error::UnexpectedMemory { index: 4 },
        );
        expect_err(
            with(sec(SectionType::TdInfo, 0x1F000, 0, 0, 0, 0)),
            Error::OffsetWithoutData { index: 4 },
        );
        expect_err(
            with(sec(SectionType::TdParams, 0x1F000, 0x400, 0, 0, 1)),
            Error::BadAttributes {
                index: 4,
                attributes: 1,
            },
        );
        let mut s = with(sec(SectionType::TdInfo, 0x1F000, 0x100, 0, 0, 0));
        s.push(sec(SectionType::TdInfo, 0x1F100, 0x100, 0, 0, 0));
        expect_err(
            s,
            Error::Duplicate {
                index: 5,
                section_type: 7,
            },
        );
    }

    #[test]
    fn descriptor_must_be_inside_image() {
        let md = Metadata {
            descriptor_offset: IMAGE_SIZE - 0x20,
            ..md_of(good_sections())
        };
        assert_eq!(
            validate(&md, IMAGE_SIZE as u64),
            Err(Error::DescriptorOutsideImage {
                offset: (IMAGE_SIZE - 0x20) as u64,
                length: 16 + 32 * 4
            })
        );
        let md = Metadata {
            descriptor_offset: usize::MAX,
            ..md_of(good_sections())
        };
        assert!(matches!(
            validate(&md, IMAGE_SIZE as u64),
            Err(Error::DescriptorOutsideImage { .. })
        ));
    }

    #[test]
    fn write_tail_pointers_refuses_bad_input() {
        let mut small = vec![0u8; 0x47];
        assert!(matches!(
            write_tail_pointers(&mut small, 0),
            Err(Error::Truncated { .. })
        ));
        let mut img = vec![0u8; 0x1000];
        assert!(matches!(
            write_tail_pointers(&mut img, 0x1000 - 0x48 - 15),
            Err(Error::DescriptorOutsideImage { .. })
        ));
        assert!(matches!(
            write_tail_pointers(&mut img, usize::MAX),
            Err(Error::DescriptorOutsideImage { .. })
        ));
        assert!(img.iter().all(|&b| b == 0));
        write_tail_pointers(&mut img, 0x1000 - 0x48 - 16).unwrap();
    }

    #[test]
    fn parse_image_rejects_invalid_sections() {
        let mut s = good_sections();
        s[0].attributes = 0;
        let img = image_with(&s);
        assert_eq!(
            parse_image(&img),
            Err(Error::BadAttributes {
                index: 0,
                attributes: 0
            })
        );
        // GUID missing before the descriptor is reported, not fatal.
        let mut img = image_with(&good_sections());
        img[MD_OFFSET] ^= 0xFF;
        assert!(!parse_image(&img).unwrap().has_guid);
    }
}
