// SPDX-License-Identifier: BSD-2-Clause-Patent
//! PI firmware volumes, FFS files and sections (`../shared/spec/image-layout.md` §3): the
//! wrappers around the IPL (shim), the built-in payload and the configuration FV. Parsing
//! input is untrusted when a tool reads a file (and the CFV is owner-supplied).
//!
//! Layout choices (all builders): the upstream 120-byte "header blob" (FV header, two
//! block-map entries, a pad file holding the FV extension header, 4 zero bytes); files
//! 8-byte aligned from the FV start, sections 4-byte aligned from the file data; FFS file
//! checksum 0xAA with state 0x07; erase polarity 0 (attributes 0x0004F6FF), so free space
//! and alignment gaps are zero bytes. The FV header checksum follows PI (over HeaderLength
//! bytes); the parser also accepts upstream's rule (over the 56-byte base header).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::format::guid::Guid;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub const FFS2_GUID: Guid = Guid::from_fields(
    0x8C8CE578,
    0x8A3D,
    0x4F1C,
    [0x99, 0x35, 0x89, 0x61, 0x85, 0xC3, 0x2D, 0xD3],
);
pub const FFS3_GUID: Guid = Guid::from_fields(
    0x5473C07A,
    0x3DCB,
    0x4DCA,
    [0xBD, 0x6F, 0x1E, 0x96, 0x89, 0xE7, 0x34, 0x9A],
);
pub const IPL_FV_NAME: Guid = Guid::from_fields(
    0x763BED0D,
    0xDE9F,
    0x48F5,
    [0x81, 0xF1, 0x3E, 0x90, 0xE1, 0xB1, 0xA0, 0x15],
);
pub const IPL_FILE_NAME: Guid = Guid::from_fields(
    0x17ED4C9E,
    0x05E0,
    0x48A6,
    [0xA0, 0x1D, 0xFB, 0x0F, 0xA9, 0x1E, 0x63, 0x98],
);
pub const PAYLOAD_FV_NAME: Guid = Guid::from_fields(
    0x7CB8BDC9,
    0xF8EB,
    0x4F34,
    [0xAA, 0xEA, 0x3E, 0xE4, 0xAF, 0x65, 0x16, 0xA1],
);
pub const PAYLOAD_FILE_NAME: Guid = Guid::from_fields(
    0xA8F75D7C,
    0x8B85,
    0x49B6,
    [0x91, 0x3E, 0xAF, 0x99, 0x61, 0x55, 0x73, 0x08],
);
pub const RESET_VECTOR_FILE_NAME: Guid = Guid::from_fields(
    0x1BA0062E,
    0xC779,
    0x4582,
    [0x85, 0x66, 0x33, 0x6A, 0xE8, 0xF7, 0x8F, 0x09],
);

pub const FILE_TYPE_RAW: u8 = 0x01;
pub const FILE_TYPE_SECURITY_CORE: u8 = 0x03;
pub const FILE_TYPE_DXE_CORE: u8 = 0x05;
pub const FILE_TYPE_FFS_PAD: u8 = 0xF0;
pub const SECTION_PE32: u8 = 0x10;
pub const SECTION_RAW: u8 = 0x19;

/// Bytes the IPL FV puts before the shim memory image: FV header blob (120) + FFS file
/// header (24) + PE32 section header (4). `ipl_base` in the tail = IPL region GPA + this.
pub const IPL_IMAGE_OFFSET: usize = 120 + 24 + 4;
/// Bytes of the reset-vector FFS file header + sections placed just below the reset-vector
/// region (`image-layout.md` §3 table, last row).
pub const RESET_VECTOR_FILE_PREFIX: usize = 40;

/// `_FVH`.
pub const FV_SIGNATURE: u32 = 0x4856_465F;
/// FV attributes we write (upstream value; bit 11 ERASE_POLARITY = 0).
pub const FV_ATTRIBUTES: u32 = 0x0004_F6FF;
/// FV header revision we write.
pub const FV_REVISION: u8 = 2;
/// Size of the FV header before the block map.
pub const FV_HEADER_SIZE: usize = 56;
/// Size of the upstream header blob.
pub const HEADER_BLOB_SIZE: usize = 0x78;
/// HeaderLength of the IPL FV (header + block map only; the pad file is a real file).
pub const IPL_HEADER_LENGTH: usize = 0x48;
/// Where the blob puts the FV extension header.
pub const EXT_HEADER_OFFSET: usize = 0x60;
/// Block size of the block map we write.
pub const BLOCK_SIZE: usize = 0x1000;
/// FFS file header sizes (PI EFI_FFS_FILE_HEADER / EFI_FFS_FILE_HEADER2).
pub const FFS_HEADER_SIZE: usize = 24;
pub const FFS_HEADER2_SIZE: usize = 32;
/// FFS attribute: the file uses EFI_FFS_FILE_HEADER2 (u64 ExtendedSize).
pub const FFS_ATTRIB_LARGE_FILE: u8 = 0x01;
/// FFS attribute: FileChecksum is a real checksum of the file data.
pub const FFS_ATTRIB_CHECKSUM: u8 = 0x40;
/// FileChecksum when [`FFS_ATTRIB_CHECKSUM`] is clear.
pub const FFS_FIXED_CHECKSUM: u8 = 0xAA;
/// File state we write and require (HEADER_CONSTRUCTION | HEADER_VALID | DATA_VALID).
pub const FFS_STATE: u8 = 0x07;
/// Largest size a u24 field holds; also the section "extended size" escape value.
pub const MAX_U24: usize = 0xFF_FFFF;
/// Section header sizes (normal / extended).
pub const SECTION_HEADER_SIZE: usize = 4;
pub const SECTION_HEADER2_SIZE: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends inside a structure starting at `offset`.
    Truncated { offset: usize },
    /// FV signature is not `_FVH`.
    BadSignature { found: u32 },
    /// FvLength is smaller than HeaderLength or larger than the buffer.
    BadLength { fv_length: u64, available: usize },
    /// HeaderLength too small, odd, or beyond FvLength.
    BadHeaderLength { header_length: u16 },
    /// FV header checksum wrong by both the PI and the upstream rule.
    BadChecksum,
    /// Block map has no {0, 0} terminator inside HeaderLength.
    BadBlockMap,
    /// Extension header at `offset` does not fit or has a size below 20.
    BadExtHeader { offset: usize },
    /// FFS file header at `offset` fails its checksum.
    BadFileHeaderChecksum { offset: usize },
    /// FFS file at `offset` fails its data checksum (or is not 0xAA when unchecked).
    BadFileChecksum { offset: usize },
    /// FFS file at `offset` has a state other than 0x07.
    BadFileState { offset: usize, state: u8 },
    /// FFS file at `offset` is smaller than its header or runs past the FV.
    BadFileSize { offset: usize },
    /// Section at `offset` (from the FV start) is smaller than its header or runs past
    /// its file.
    BadSection { offset: usize },
    /// No file / section of the requested type.
    NotFound,
    /// Builder: content does not fit.
    TooLarge { needed: usize, available: usize },
    /// Builder: region size not a positive multiple of 4 KiB or too small for the headers.
    BadRegionSize { size: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { offset } => {
                write!(f, "fv: buffer ends inside the structure at {offset:#x}")
            }
            Error::BadSignature { found } => write!(f, "fv: signature {found:#x} is not _FVH"),
            Error::BadLength {
                fv_length,
                available,
            } => {
                write!(f, "fv: FvLength {fv_length:#x} does not fit (header or buffer of {available:#x} bytes)")
            }
            Error::BadHeaderLength { header_length } => {
                write!(f, "fv: bad HeaderLength {header_length:#x}")
            }
            Error::BadChecksum => f.write_str("fv: header checksum mismatch"),
            Error::BadBlockMap => f.write_str("fv: block map has no terminator"),
            Error::BadExtHeader { offset } => write!(f, "fv: bad extension header at {offset:#x}"),
            Error::BadFileHeaderChecksum { offset } => {
                write!(f, "fv: file at {offset:#x}: header checksum mismatch")
            }
            Error::BadFileChecksum { offset } => {
                write!(f, "fv: file at {offset:#x}: data checksum mismatch")
            }
            Error::BadFileState { offset, state } => {
                write!(f, "fv: file at {offset:#x}: state {state:#x} is not 0x07")
            }
            Error::BadFileSize { offset } => write!(f, "fv: file at {offset:#x}: bad size"),
            Error::BadSection { offset } => write!(f, "fv: section at {offset:#x}: bad size"),
            Error::NotFound => f.write_str("fv: no such file or section"),
            Error::TooLarge { needed, available } => {
                write!(
                    f,
                    "fv: {needed:#x} bytes needed but only {available:#x} available"
                )
            }
            Error::BadRegionSize { size } => write!(f, "fv: region size {size:#x} is not usable"),
        }
    }
}

// --- wire structures ------------------------------------------------------------------

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawFvHeader {
    zero_vector: [u8; 16],
    file_system: Guid,
    fv_length: U64,
    signature: U32,
    attributes: U32,
    header_length: U16,
    checksum: U16,
    ext_header_offset: U16,
    reserved: u8,
    revision: u8,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawBlockMapEntry {
    num_blocks: U32,
    length: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawFfsHeader {
    name: Guid,
    header_checksum: u8,
    file_checksum: u8,
    file_type: u8,
    attributes: u8,
    size: [u8; 3],
    state: u8,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawFfsHeader2 {
    base: RawFfsHeader,
    extended_size: U64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawSectionHeader {
    size: [u8; 3],
    section_type: u8,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawSectionHeader2 {
    base: RawSectionHeader,
    extended_size: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawExtHeader {
    fv_name: Guid,
    ext_header_size: U32,
}

const EXT_HEADER_SIZE: usize = 20;

const _: () = {
    assert!(core::mem::size_of::<RawFvHeader>() == FV_HEADER_SIZE);
    assert!(core::mem::size_of::<RawFfsHeader>() == FFS_HEADER_SIZE);
    assert!(core::mem::size_of::<RawFfsHeader2>() == FFS_HEADER2_SIZE);
    assert!(core::mem::size_of::<RawSectionHeader2>() == SECTION_HEADER2_SIZE);
    assert!(core::mem::size_of::<RawExtHeader>() == EXT_HEADER_SIZE);
    // FV header + 2 block-map entries + pad file header + ext header + 4 = the blob.
    assert!(FV_HEADER_SIZE + 16 + FFS_HEADER_SIZE + EXT_HEADER_SIZE + 4 == HEADER_BLOB_SIZE);
    assert!(FV_HEADER_SIZE + 16 == IPL_HEADER_LENGTH);
    assert!(IPL_HEADER_LENGTH + FFS_HEADER_SIZE == EXT_HEADER_OFFSET);
};

fn u24(b: [u8; 3]) -> usize {
    usize::from(b[0]) | (usize::from(b[1]) << 8) | (usize::from(b[2]) << 16)
}

fn to_u24(v: usize) -> Option<[u8; 3]> {
    if v > MAX_U24 {
        return None;
    }
    let b = (v as u32).to_le_bytes();
    Some([b[0], b[1], b[2]])
}

fn align_up(n: usize, a: usize) -> Option<usize> {
    let mask = a.checked_sub(1)?;
    n.checked_add(mask).map(|v| v & !mask)
}

fn sum8(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, &x| a.wrapping_add(x))
}

/// 16-bit word sum; `None` for an odd length.
fn sum16(b: &[u8]) -> Option<u16> {
    let words = <[U16]>::ref_from_bytes(b).ok()?;
    Some(words.iter().fold(0u16, |a, w| a.wrapping_add(w.get())))
}

/// Free space: a would-be header that is all erase bytes (0x00 for our polarity; 0xFF is
/// accepted too so volumes from tools that erase to 0xFF also walk).
fn is_free(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0) || b.iter().all(|&x| x == 0xFF)
}

/// A validated FV header view.
#[derive(Clone, Copy, Debug)]
pub struct Volume<'a> {
    /// The whole FV (FvLength bytes).
    pub bytes: &'a [u8],
    pub file_system: Guid,
    /// FvName from the extension header, if any.
    pub name: Option<Guid>,
    pub header_length: usize,
}

/// One FFS file.
#[derive(Clone, Copy, Debug)]
pub struct File<'a> {
    pub name: Guid,
    pub file_type: u8,
    /// File body after the (24- or 32-byte) header.
    pub data: &'a [u8],
    /// FFS attributes byte.
    pub attributes: u8,
    /// Offset of `data` from the start of the volume.
    pub data_offset: usize,
}

/// One section of a file.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    pub section_type: u8,
    /// Section body after its header.
    pub data: &'a [u8],
}

/// Parses and checks an FV header at the start of `bytes` (signature, FvLength ≤ bytes,
/// header length, checksum by the PI rule or upstream's 56-byte rule, block-map
/// terminator, extension header bounds). The returned view covers exactly FvLength bytes;
/// `bytes` may be longer.
pub fn parse(bytes: &[u8]) -> Result<Volume<'_>, Error> {
    let (h, _) = RawFvHeader::ref_from_prefix(bytes).map_err(|_| Error::Truncated { offset: 0 })?;
    if h.signature.get() != FV_SIGNATURE {
        return Err(Error::BadSignature {
            found: h.signature.get(),
        });
    }
    let fv_length = h.fv_length.get();
    let header_length_raw = h.header_length.get();
    let header_length = usize::from(header_length_raw);
    let bad_len = Error::BadLength {
        fv_length,
        available: bytes.len(),
    };
    let fv_len = usize::try_from(fv_length).map_err(|_| bad_len)?;
    let fv = bytes.get(..fv_len).ok_or(bad_len)?;
    // Header + at least the block-map terminator, whole 16-bit words.
    if header_length < FV_HEADER_SIZE.saturating_add(8) || header_length % 2 != 0 {
        return Err(Error::BadHeaderLength {
            header_length: header_length_raw,
        });
    }
    let header = fv.get(..header_length).ok_or(bad_len)?;
    let pi_ok = sum16(header) == Some(0);
    let upstream_ok = fv.get(..FV_HEADER_SIZE).and_then(sum16) == Some(0);
    if !pi_ok && !upstream_ok {
        return Err(Error::BadChecksum);
    }
    let map = header.get(FV_HEADER_SIZE..).ok_or(Error::BadBlockMap)?;
    let (entries, _) = <[RawBlockMapEntry]>::ref_from_prefix_with_elems(map, map.len() / 8)
        .map_err(|_| Error::BadBlockMap)?;
    if !entries
        .iter()
        .any(|e| e.num_blocks.get() == 0 && e.length.get() == 0)
    {
        return Err(Error::BadBlockMap);
    }
    let ext_offset = usize::from(h.ext_header_offset.get());
    let name = if ext_offset == 0 {
        None
    } else {
        let bad = Error::BadExtHeader { offset: ext_offset };
        let (ext, _) =
            RawExtHeader::ref_from_prefix(fv.get(ext_offset..).ok_or(bad)?).map_err(|_| bad)?;
        let size = usize::try_from(ext.ext_header_size.get()).map_err(|_| bad)?;
        if size < EXT_HEADER_SIZE || ext_offset.checked_add(size).is_none_or(|end| end > fv_len) {
            return Err(bad);
        }
        Some(ext.fv_name)
    };
    Ok(Volume {
        bytes: fv,
        file_system: h.file_system,
        name,
        header_length,
    })
}

impl<'a> Volume<'a> {
    /// Files in order (pad files included), each header checked. Walks from HeaderLength
    /// (8-byte aligned) until the end of the volume or free space (a header of all 0x00 or
    /// all 0xFF bytes).
    pub fn files(&self) -> Result<Vec<File<'a>>, Error> {
        let fv = self.bytes;
        let mut out = Vec::new();
        let mut offset = align_up(self.header_length, 8).ok_or(Error::Truncated {
            offset: self.header_length,
        })?;
        while let Some(rest) = fv.get(offset..).filter(|r| !r.is_empty()) {
            let head = rest.get(..FFS_HEADER_SIZE).unwrap_or(rest);
            if is_free(head) {
                break;
            }
            let file = parse_file(rest, offset)?;
            let size = file.1;
            out.push(file.0);
            let end = offset
                .checked_add(size)
                .ok_or(Error::BadFileSize { offset })?;
            offset = align_up(end, 8).ok_or(Error::BadFileSize { offset })?;
        }
        Ok(out)
    }
}

/// Checks the file at the start of `rest` (`offset` in the volume); returns it and its
/// total size.
fn parse_file(rest: &[u8], offset: usize) -> Result<(File<'_>, usize), Error> {
    let (h, _) = RawFfsHeader::ref_from_prefix(rest).map_err(|_| Error::Truncated { offset })?;
    let large = h.attributes & FFS_ATTRIB_LARGE_FILE != 0;
    let (size, header_size) = if large {
        let (h2, _) =
            RawFfsHeader2::ref_from_prefix(rest).map_err(|_| Error::Truncated { offset })?;
        (
            usize::try_from(h2.extended_size.get()).map_err(|_| Error::BadFileSize { offset })?,
            FFS_HEADER2_SIZE,
        )
    } else {
        (u24(h.size), FFS_HEADER_SIZE)
    };
    if size < header_size {
        return Err(Error::BadFileSize { offset });
    }
    let file = rest.get(..size).ok_or(Error::BadFileSize { offset })?;
    // Header checksum: the header sums to 0 with FileChecksum and State taken as 0. For a
    // large file PI covers all 32 bytes; accept the 24-byte form too.
    let excluded = h.file_checksum.wrapping_add(h.state);
    let header_sum = |n: usize| file.get(..n).map(|b| sum8(b).wrapping_sub(excluded));
    let header_ok =
        header_sum(header_size) == Some(0) || (large && header_sum(FFS_HEADER_SIZE) == Some(0));
    if !header_ok {
        return Err(Error::BadFileHeaderChecksum { offset });
    }
    if h.state != FFS_STATE {
        return Err(Error::BadFileState {
            offset,
            state: h.state,
        });
    }
    let data = file
        .get(header_size..)
        .ok_or(Error::BadFileSize { offset })?;
    let checksum_ok = if h.attributes & FFS_ATTRIB_CHECKSUM == 0 {
        h.file_checksum == FFS_FIXED_CHECKSUM
    } else {
        sum8(data).wrapping_add(h.file_checksum) == 0
    };
    if !checksum_ok {
        return Err(Error::BadFileChecksum { offset });
    }
    let data_offset = offset
        .checked_add(header_size)
        .ok_or(Error::BadFileSize { offset })?;
    Ok((
        File {
            name: h.name,
            file_type: h.file_type,
            data,
            attributes: h.attributes,
            data_offset,
        },
        size,
    ))
}

impl<'a> File<'a> {
    /// Sections in order, each header checked (size ≥ its header, inside the file; a u24
    /// size of 0xFFFFFF means an 8-byte header with a u32 size). Sections are 4-byte
    /// aligned from the start of the file data.
    pub fn sections(&self) -> Result<Vec<Section<'a>>, Error> {
        let data = self.data;
        let mut out = Vec::new();
        let mut off = 0usize;
        while let Some(rest) = data.get(off..).filter(|r| !r.is_empty()) {
            let at = self.data_offset.saturating_add(off);
            let bad = Error::BadSection { offset: at };
            let (h, _) = RawSectionHeader::ref_from_prefix(rest).map_err(|_| bad)?;
            let (size, header_size) = if u24(h.size) == MAX_U24 {
                let (h2, _) = RawSectionHeader2::ref_from_prefix(rest).map_err(|_| bad)?;
                (
                    usize::try_from(h2.extended_size.get()).map_err(|_| bad)?,
                    SECTION_HEADER2_SIZE,
                )
            } else {
                (u24(h.size), SECTION_HEADER_SIZE)
            };
            if size < header_size {
                return Err(bad);
            }
            let body = rest.get(header_size..size).ok_or(bad)?;
            out.push(Section {
                section_type: h.section_type,
                data: body,
            });
            off = off
                .checked_add(size)
                .and_then(|e| align_up(e, 4))
                .ok_or(bad)?;
        }
        Ok(out)
    }
}

/// Body of the first section of type `section_type` in the first file of type `file_type`.
pub fn find_section(fv: &[u8], file_type: u8, section_type: u8) -> Result<&[u8], Error> {
    let volume = parse(fv)?;
    let files = volume.files()?;
    let file = files
        .iter()
        .find(|f| f.file_type == file_type)
        .ok_or(Error::NotFound)?;
    let sections = file.sections()?;
    sections
        .iter()
        .find(|s| s.section_type == section_type)
        .map(|s| s.data)
        .ok_or(Error::NotFound)
}

// --- builders ---------------------------------------------------------------------------

/// Writes `src` at `dst[at..]`.
fn put(dst: &mut [u8], at: usize, src: &[u8]) -> Result<(), Error> {
    let end = at.checked_add(src.len()).ok_or(Error::TooLarge {
        needed: usize::MAX,
        available: dst.len(),
    })?;
    let available = dst.len();
    dst.get_mut(at..end)
        .ok_or(Error::TooLarge {
            needed: end,
            available,
        })?
        .copy_from_slice(src);
    Ok(())
}

/// The 120-byte header blob. `header_length` is 0x78 (payload FV, CFV) or 0x48 (IPL FV);
/// the checksum covers `header_length` bytes (PI rule).
fn header_blob(
    file_system: Guid,
    fv_length: usize,
    header_length: usize,
    fv_name: Guid,
) -> Result<[u8; HEADER_BLOB_SIZE], Error> {
    let bad = Error::BadRegionSize { size: fv_length };
    let num_blocks = u32::try_from(fv_length / BLOCK_SIZE).map_err(|_| bad)?;
    let mut blob = [0u8; HEADER_BLOB_SIZE];
    let hdr = RawFvHeader {
        zero_vector: [0; 16],
        file_system,
        fv_length: U64::new(fv_length as u64),
        signature: U32::new(FV_SIGNATURE),
        attributes: U32::new(FV_ATTRIBUTES),
        header_length: U16::new(u16::try_from(header_length).map_err(|_| bad)?),
        checksum: U16::new(0),
        ext_header_offset: U16::new(EXT_HEADER_OFFSET as u16),
        reserved: 0,
        revision: FV_REVISION,
    };
    put(&mut blob, 0, hdr.as_bytes())?;
    let map = RawBlockMapEntry {
        num_blocks: U32::new(num_blocks),
        length: U32::new(BLOCK_SIZE as u32),
    };
    put(&mut blob, FV_HEADER_SIZE, map.as_bytes())?;
    // The terminator {0, 0} is already zero.
    let pad = file_header(Guid::ZERO, FILE_TYPE_FFS_PAD, EXT_HEADER_SIZE, false)?;
    put(&mut blob, IPL_HEADER_LENGTH, &pad)?;
    let ext = RawExtHeader {
        fv_name,
        ext_header_size: U32::new(EXT_HEADER_SIZE as u32),
    };
    put(&mut blob, EXT_HEADER_OFFSET, ext.as_bytes())?;
    let sum = blob.get(..header_length).and_then(sum16).ok_or(bad)?;
    put(&mut blob, 0x32, &0u16.wrapping_sub(sum).to_le_bytes())?;
    Ok(blob)
}

/// Whether `content_len` bytes of file data need the large-file header (the file with a
/// 24-byte header would reach 16 MiB).
fn file_needs_large(content_len: usize) -> bool {
    content_len.saturating_add(FFS_HEADER_SIZE) > MAX_U24
}

/// FFS file header for `content_len` bytes of data: 24 bytes, or the 32-byte large-file
/// header if `large`. State 0x07, FileChecksum 0xAA, header checksum over the whole header.
fn file_header(
    name: Guid,
    file_type: u8,
    content_len: usize,
    large: bool,
) -> Result<Vec<u8>, Error> {
    let too_large = Error::TooLarge {
        needed: content_len,
        available: MAX_U24,
    };
    let mut out = if !large {
        let small_size = content_len.checked_add(FFS_HEADER_SIZE).ok_or(too_large)?;
        let size = to_u24(small_size).ok_or(too_large)?;
        let h = RawFfsHeader {
            name,
            header_checksum: 0,
            file_checksum: 0,
            file_type,
            attributes: 0,
            size,
            state: 0,
        };
        h.as_bytes().to_vec()
    } else {
        let size = content_len.checked_add(FFS_HEADER2_SIZE).ok_or(too_large)?;
        let h = RawFfsHeader2 {
            base: RawFfsHeader {
                name,
                header_checksum: 0,
                file_checksum: 0,
                file_type,
                attributes: FFS_ATTRIB_LARGE_FILE,
                size: [0; 3],
                state: 0,
            },
            extended_size: U64::new(size as u64),
        };
        h.as_bytes().to_vec()
    };
    let checksum = 0u8.wrapping_sub(sum8(&out));
    // Offsets 16/17/23 of the PI header: HeaderChecksum, FileChecksum, State.
    put(&mut out, 16, &[checksum, FFS_FIXED_CHECKSUM])?;
    put(&mut out, 23, &[FFS_STATE])?;
    Ok(out)
}

/// Section header for `content_len` bytes of body: 4 bytes, or 8 with the 0xFFFFFF escape
/// if `extended`.
fn section_header(section_type: u8, content_len: usize, extended: bool) -> Result<Vec<u8>, Error> {
    let too_large = Error::TooLarge {
        needed: content_len,
        available: u32::MAX as usize,
    };
    if !extended {
        let small = content_len
            .checked_add(SECTION_HEADER_SIZE)
            .ok_or(too_large)?;
        if small >= MAX_U24 {
            return Err(too_large);
        }
        let size = to_u24(small).ok_or(too_large)?;
        return Ok(RawSectionHeader { size, section_type }.as_bytes().to_vec());
    }
    let size = content_len
        .checked_add(SECTION_HEADER2_SIZE)
        .ok_or(too_large)?;
    let h = RawSectionHeader2 {
        base: RawSectionHeader {
            size: [0xFF; 3],
            section_type,
        },
        extended_size: U32::new(u32::try_from(size).map_err(|_| too_large)?),
    };
    Ok(h.as_bytes().to_vec())
}

/// Header choices (large file, extended section) for a file of exactly `file_len` bytes
/// holding one section that fills it.
fn spanning_headers(file_len: usize) -> (bool, bool) {
    let large = file_len > MAX_U24;
    let file_hdr = if large {
        FFS_HEADER2_SIZE
    } else {
        FFS_HEADER_SIZE
    };
    (large, file_len.saturating_sub(file_hdr) >= MAX_U24)
}

fn file_header_size(large: bool) -> usize {
    if large {
        FFS_HEADER2_SIZE
    } else {
        FFS_HEADER_SIZE
    }
}

fn section_header_size(extended: bool) -> usize {
    if extended {
        SECTION_HEADER2_SIZE
    } else {
        SECTION_HEADER_SIZE
    }
}

fn check_region(size: usize, min: usize) -> Result<(), Error> {
    if size == 0 || !size.is_multiple_of(BLOCK_SIZE) || size < min {
        return Err(Error::BadRegionSize { size });
    }
    Ok(())
}

/// Payload FV of exactly `region_size` bytes: FV (FFS2, name PAYLOAD_FV_NAME, header blob of
/// 0x78) holding one DXE_CORE file (PAYLOAD_FILE_NAME) with one PE32 section that spans the
/// rest of the region (payload then zero padding). Errors if the payload does not fit.
/// The file uses the large-file header if it reaches 16 MiB, the section the extended
/// header if it does; `find_section` finds the payload either way.
pub fn build_payload_fv(payload: &[u8], region_size: usize) -> Result<Vec<u8>, Error> {
    check_region(region_size, BLOCK_SIZE)?;
    let mut fv = vec![0u8; region_size];
    put(
        &mut fv,
        0,
        &header_blob(FFS2_GUID, region_size, HEADER_BLOB_SIZE, PAYLOAD_FV_NAME)?,
    )?;
    let file_len = region_size.saturating_sub(HEADER_BLOB_SIZE);
    let (large, extended) = spanning_headers(file_len);
    let section_len = file_len.saturating_sub(file_header_size(large));
    let capacity = section_len.saturating_sub(section_header_size(extended));
    if payload.len() > capacity {
        return Err(Error::TooLarge {
            needed: payload.len(),
            available: capacity,
        });
    }
    let fh = file_header(PAYLOAD_FILE_NAME, FILE_TYPE_DXE_CORE, section_len, large)?;
    let sh = section_header(SECTION_PE32, capacity, extended)?;
    let mut at = HEADER_BLOB_SIZE;
    for part in [&fh[..], &sh[..], payload] {
        put(&mut fv, at, part)?;
        at = at.saturating_add(part.len());
    }
    Ok(fv)
}

/// FFS name of the RAW file holding an initrd next to an embedded Linux kernel (ours).
pub const PAYLOAD_INITRD_FILE_NAME: Guid = Guid::from_fields(
    0x3D5F1C52,
    0x8A2B,
    0x4C61,
    [0x9E, 0x07, 0x51, 0xB4, 0x3A, 0x6C, 0x2F, 0x91],
);
/// FFS name of the RAW file holding the command line of an embedded Linux kernel (ours),
/// NUL-terminated.
pub const PAYLOAD_CMDLINE_FILE_NAME: Guid = Guid::from_fields(
    0x7E2A94D3,
    0x1B6C,
    0x4F0E,
    [0xA5, 0x38, 0xC2, 0x19, 0x6D, 0x84, 0x0B, 0x57],
);

/// Payload FV of exactly `region_size` bytes holding the payload in a DXE_CORE file with a
/// PE32 section of exactly the payload's size, followed by one RAW file per `(name, data)`
/// (e.g. an initrd and a command line for an embedded kernel); the rest is free space.
/// Unlike [`build_payload_fv`] (whose section spans the region, upstream's layout), the
/// section is exactly the payload, so the firmware measures exactly the file's bytes.
pub fn build_payload_fv_with(
    payload: &[u8],
    extra: &[(Guid, &[u8])],
    region_size: usize,
) -> Result<Vec<u8>, Error> {
    check_region(region_size, BLOCK_SIZE)?;
    let mut fv = vec![0u8; region_size];
    put(
        &mut fv,
        0,
        &header_blob(FFS2_GUID, region_size, HEADER_BLOB_SIZE, PAYLOAD_FV_NAME)?,
    )?;
    let overflow = Error::TooLarge {
        needed: usize::MAX,
        available: region_size,
    };
    let extended = payload.len().saturating_add(SECTION_HEADER_SIZE) > MAX_U24;
    let sh = section_header(SECTION_PE32, payload.len(), extended)?;
    let section_len = sh.len().checked_add(payload.len()).ok_or(overflow)?;
    let fh = file_header(
        PAYLOAD_FILE_NAME,
        FILE_TYPE_DXE_CORE,
        section_len,
        file_needs_large(section_len),
    )?;
    let mut parts: Vec<(Vec<u8>, &[u8])> = Vec::new();
    let mut first = fh;
    first.extend_from_slice(&sh);
    parts.push((first, payload));
    for (name, data) in extra {
        parts.push((
            file_header(
                *name,
                FILE_TYPE_RAW,
                data.len(),
                file_needs_large(data.len()),
            )?,
            data,
        ));
    }
    let mut at = HEADER_BLOB_SIZE;
    for (head, data) in &parts {
        let end = at
            .checked_add(head.len())
            .and_then(|v| v.checked_add(data.len()))
            .ok_or(overflow)?;
        if end > region_size {
            return Err(Error::TooLarge {
                needed: end,
                available: region_size,
            });
        }
        put(&mut fv, at, head)?;
        put(&mut fv, at.saturating_add(head.len()), data)?;
        at = align_up(end, 8).ok_or(overflow)?;
    }
    Ok(fv)
}

/// IPL region of exactly `ipl_region_size` bytes: FV (FFS2, name IPL_FV_NAME, FvLength =
/// ipl_region_size + reset_vector_size) holding a SECURITY_CORE file (IPL_FILE_NAME) with
/// one PE32 section = `shim_image` at offset IPL_IMAGE_OFFSET, and in the last 40 bytes the
/// header of the RAW reset-vector file (RESET_VECTOR_FILE_NAME) whose data continues into
/// the reset-vector region (pad section 0x0C + RAW section header of RV + 4).
///
/// Layout: HeaderLength 0x48, so the blob's pad file (holding the extension header) is the
/// first file at 0x48; the SECURITY_CORE file at 0x78 spans up to the reset-vector file
/// (its PE32 section is the shim image followed by zeros), so `Volume::files()` walks
/// straight from one to the next with no pad file in between.
pub fn build_ipl_fv(
    shim_image: &[u8],
    ipl_region_size: usize,
    reset_vector_size: usize,
) -> Result<Vec<u8>, Error> {
    check_region(ipl_region_size, BLOCK_SIZE)?;
    check_region(reset_vector_size, BLOCK_SIZE)?;
    let fv_length = ipl_region_size
        .checked_add(reset_vector_size)
        .ok_or(Error::BadRegionSize { size: usize::MAX })?;
    let mut fv = vec![0u8; ipl_region_size];
    put(
        &mut fv,
        0,
        &header_blob(FFS2_GUID, fv_length, IPL_HEADER_LENGTH, IPL_FV_NAME)?,
    )?;

    // SECURITY_CORE file: [0x78, ipl − 40).
    let rv_file_at = ipl_region_size.saturating_sub(RESET_VECTOR_FILE_PREFIX);
    let file_len = rv_file_at.saturating_sub(HEADER_BLOB_SIZE);
    if file_len > MAX_U24 {
        // IPL_IMAGE_OFFSET assumes the 24-byte file header.
        return Err(Error::TooLarge {
            needed: file_len,
            available: MAX_U24,
        });
    }
    let section_len = file_len.saturating_sub(FFS_HEADER_SIZE);
    let capacity = section_len.saturating_sub(SECTION_HEADER_SIZE);
    if shim_image.len() > capacity {
        return Err(Error::TooLarge {
            needed: shim_image.len(),
            available: capacity,
        });
    }
    put(
        &mut fv,
        HEADER_BLOB_SIZE,
        &file_header(IPL_FILE_NAME, FILE_TYPE_SECURITY_CORE, section_len, false)?,
    )?;
    let sh = section_header(SECTION_PE32, capacity, false)?;
    put(
        &mut fv,
        HEADER_BLOB_SIZE.saturating_add(FFS_HEADER_SIZE),
        &sh,
    )?;
    put(&mut fv, IPL_IMAGE_OFFSET, shim_image)?;

    // Reset-vector file: header (24) + RAW pad section (4 + 8) + RAW section header (4),
    // then the data is the reset-vector region itself.
    let rv_content = reset_vector_size.checked_add(RESET_VECTOR_FILE_PREFIX - FFS_HEADER_SIZE);
    let rv_content = rv_content.ok_or(Error::TooLarge {
        needed: usize::MAX,
        available: MAX_U24,
    })?;
    if rv_content.saturating_add(FFS_HEADER_SIZE) > MAX_U24 {
        return Err(Error::TooLarge {
            needed: reset_vector_size,
            available: MAX_U24 - RESET_VECTOR_FILE_PREFIX,
        });
    }
    let mut rv = file_header(RESET_VECTOR_FILE_NAME, FILE_TYPE_RAW, rv_content, false)?;
    rv.extend_from_slice(&section_header(SECTION_RAW, 8, false)?);
    rv.extend_from_slice(&[0; 8]);
    rv.extend_from_slice(&section_header(SECTION_RAW, reset_vector_size, false)?);
    put(&mut fv, rv_file_at, &rv)?;
    Ok(fv)
}

/// Configuration FV of exactly `region_size` bytes (FFS3, header blob 0x78, zero FvName),
/// with one RAW file per `(name, data)` (file data = the bytes, no sections), files
/// 8-byte aligned from 0x78. The rest is zero: the FV attributes say erase polarity 0, so
/// zero is the erased value, and `Volume::files()` stops at the first all-zero header.
pub fn build_cfv(files: &[(Guid, &[u8])], region_size: usize) -> Result<Vec<u8>, Error> {
    check_region(region_size, BLOCK_SIZE)?;
    let mut fv = vec![0u8; region_size];
    put(
        &mut fv,
        0,
        &header_blob(FFS3_GUID, region_size, HEADER_BLOB_SIZE, Guid::ZERO)?,
    )?;
    let mut at = HEADER_BLOB_SIZE;
    for (name, data) in files {
        let h = file_header(
            *name,
            FILE_TYPE_RAW,
            data.len(),
            file_needs_large(data.len()),
        )?;
        let end = at
            .checked_add(h.len())
            .and_then(|v| v.checked_add(data.len()));
        let end = end.ok_or(Error::TooLarge {
            needed: usize::MAX,
            available: region_size,
        })?;
        if end > region_size {
            return Err(Error::TooLarge {
                needed: end,
                available: region_size,
            });
        }
        put(&mut fv, at, &h)?;
        put(&mut fv, at.saturating_add(h.len()), data)?;
        at = align_up(end, 8).ok_or(Error::TooLarge {
            needed: end,
            available: region_size,
        })?;
    }
    Ok(fv)
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

    const RV: usize = 0x8000;

    fn sum16_ref(b: &[u8]) -> u16 {
        b.chunks(2).fold(0u16, |a, c| {
            a.wrapping_add(u16::from_le_bytes([c[0], c[1]]))
        })
    }

    #[test]
    fn guid_byte_order() {
        // 8C8CE578-8A3D-4F1C-9935-896185C32DD3, by hand.
        assert_eq!(
            FFS2_GUID.to_bytes(),
            [
                0x78, 0xE5, 0x8C, 0x8C, 0x3D, 0x8A, 0x1C, 0x4F, 0x99, 0x35, 0x89, 0x61, 0x85, 0xC3,
                0x2D, 0xD3
            ]
        );
        // 1BA0062E-C779-4582-8566-336AE8F78F09
        assert_eq!(
            RESET_VECTOR_FILE_NAME.to_bytes(),
            [
                0x2E, 0x06, 0xA0, 0x1B, 0x79, 0xC7, 0x82, 0x45, 0x85, 0x66, 0x33, 0x6A, 0xE8, 0xF7,
                0x8F, 0x09
            ]
        );
    }

    #[test]
    fn header_blob_by_hand() {
        let fv = build_payload_fv(b"hello", 0x4000).unwrap();
        assert_eq!(fv.len(), 0x4000);
        assert_eq!(&fv[0..16], &[0; 16]);
        assert_eq!(&fv[0x10..0x20], &FFS2_GUID.to_bytes());
        assert_eq!(&fv[0x20..0x28], &0x4000u64.to_le_bytes());
        assert_eq!(&fv[0x28..0x2C], b"_FVH");
        assert_eq!(&fv[0x2C..0x30], &[0xFF, 0xF6, 0x04, 0x00]);
        assert_eq!(&fv[0x30..0x32], &[0x78, 0]);
        assert_eq!(&fv[0x34..0x38], &[0x60, 0, 0, 2]);
        // Block map: {4 blocks, 4096}, {0, 0}.
        assert_eq!(
            &fv[0x38..0x48],
            &[4, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // Pad file header: zero name, type F0, size 0x2C, state 7, file checksum AA.
        assert_eq!(&fv[0x48..0x58], &[0; 16]);
        assert_eq!(fv[0x59], 0xAA);
        assert_eq!(&fv[0x5A..0x60], &[0xF0, 0, 0x2C, 0, 0, 0x07]);
        // Header checksum: sum of 24 bytes minus FileChecksum and State is 0 mod 256.
        let s = fv[0x48..0x60].iter().fold(0u8, |a, &x| a.wrapping_add(x));
        assert_eq!(s.wrapping_sub(0xAA).wrapping_sub(0x07), 0);
        // Extension header: FvName, size 0x14, then 4 zero bytes.
        assert_eq!(&fv[0x60..0x70], &PAYLOAD_FV_NAME.to_bytes());
        assert_eq!(&fv[0x70..0x78], &[0x14, 0, 0, 0, 0, 0, 0, 0]);
        // PI checksum over HeaderLength (0x78) bytes.
        assert_eq!(sum16_ref(&fv[..0x78]), 0);
        // Payload file right after: DXE_CORE, size = 0x4000 − 0x78, PE32 section, payload.
        assert_eq!(&fv[0x78..0x88], &PAYLOAD_FILE_NAME.to_bytes());
        assert_eq!(fv[0x8A], FILE_TYPE_DXE_CORE);
        assert_eq!(&fv[0x8C..0x90], &[0x88, 0x3F, 0, 0x07]);
        assert_eq!(&fv[0x90..0x94], &[0x70, 0x3F, 0, SECTION_PE32]);
        assert_eq!(&fv[0x94..0x99], b"hello");
        assert!(fv[0x99..].iter().all(|&b| b == 0));
    }

    #[test]
    fn payload_round_trip() {
        let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let fv = build_payload_fv(&payload, 0x2000).unwrap();
        let vol = parse(&fv).unwrap();
        assert_eq!(vol.file_system, FFS2_GUID);
        assert_eq!(vol.name, Some(PAYLOAD_FV_NAME));
        assert_eq!(vol.header_length, 0x78);
        let files = vol.files().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, PAYLOAD_FILE_NAME);
        assert_eq!(files[0].file_type, FILE_TYPE_DXE_CORE);
        let data = find_section(&fv, FILE_TYPE_DXE_CORE, SECTION_PE32).unwrap();
        assert_eq!(data.len(), 0x2000 - 0x78 - 24 - 4);
        assert_eq!(&data[..payload.len()], &payload[..]);
        assert_eq!(
            find_section(&fv, FILE_TYPE_RAW, SECTION_PE32),
            Err(Error::NotFound)
        );
        assert_eq!(
            find_section(&fv, FILE_TYPE_DXE_CORE, SECTION_RAW),
            Err(Error::NotFound)
        );
        // Exactly full, and one byte too many.
        let cap = 0x2000 - 0x78 - 28;
        build_payload_fv(&vec![1; cap], 0x2000).unwrap();
        assert_eq!(
            build_payload_fv(&vec![1; cap + 1], 0x2000),
            Err(Error::TooLarge {
                needed: cap + 1,
                available: cap
            })
        );
        assert_eq!(
            build_payload_fv(b"", 0x2001),
            Err(Error::BadRegionSize { size: 0x2001 })
        );
        assert_eq!(
            build_payload_fv(b"", 0),
            Err(Error::BadRegionSize { size: 0 })
        );
    }

    #[test]
    fn large_payload_uses_large_headers() {
        // 17 MiB region: file ≥ 16 MiB → 32-byte header, section → 8-byte header.
        let region = 0x110_0000;
        let fv = build_payload_fv(b"big", region).unwrap();
        assert_eq!(fv[0x78 + 19], FFS_ATTRIB_LARGE_FILE);
        assert_eq!(
            &fv[0x78 + 24..0x78 + 32],
            &((region - 0x78) as u64).to_le_bytes()
        );
        assert_eq!(&fv[0x98..0x9C], &[0xFF, 0xFF, 0xFF, SECTION_PE32]);
        assert_eq!(
            &fv[0x9C..0xA0],
            &((region - 0x78 - 32) as u32).to_le_bytes()
        );
        let data = find_section(&fv, FILE_TYPE_DXE_CORE, SECTION_PE32).unwrap();
        assert_eq!(data.len(), region - 0x78 - 32 - 8);
        assert_eq!(&data[..3], b"big");
    }

    fn ipl_with_rv(shim: &[u8], ipl: usize) -> Vec<u8> {
        let mut fv = build_ipl_fv(shim, ipl, RV).unwrap();
        assert_eq!(fv.len(), ipl);
        fv.extend((0..RV).map(|i| (i * 7) as u8));
        fv
    }

    #[test]
    fn ipl_fv_walks_to_reset_vector_file() {
        let shim: Vec<u8> = (0..5000u32).map(|i| (i ^ 0x5A) as u8).collect();
        let ipl = 0x10_0000;
        let fv = ipl_with_rv(&shim, ipl);
        // The shim memory image sits at IPL_IMAGE_OFFSET (= 148).
        assert_eq!(IPL_IMAGE_OFFSET, 148);
        assert_eq!(&fv[148..148 + shim.len()], &shim[..]);
        let vol = parse(&fv).unwrap();
        assert_eq!(vol.bytes.len(), ipl + RV);
        assert_eq!(vol.header_length, 0x48);
        assert_eq!(vol.name, Some(IPL_FV_NAME));
        let files = vol.files().unwrap();
        let kinds: Vec<_> = files.iter().map(|f| (f.name, f.file_type)).collect();
        assert_eq!(
            kinds,
            vec![
                (Guid::ZERO, FILE_TYPE_FFS_PAD),
                (IPL_FILE_NAME, FILE_TYPE_SECURITY_CORE),
                (RESET_VECTOR_FILE_NAME, FILE_TYPE_RAW),
            ]
        );
        // Pad file body = the extension header.
        assert_eq!(&files[0].data[..16], &IPL_FV_NAME.to_bytes());
        let pe = find_section(&fv, FILE_TYPE_SECURITY_CORE, SECTION_PE32).unwrap();
        assert_eq!(&pe[..shim.len()], &shim[..]);
        assert_eq!(files[1].data_offset + 4, 148);
        // Reset-vector file: header at ipl − 40, data covers the whole RV region.
        assert_eq!(files[2].data_offset, ipl - 16);
        let secs = files[2].sections().unwrap();
        assert_eq!(secs.len(), 2);
        assert_eq!(
            (secs[0].section_type, secs[0].data),
            (SECTION_RAW, &[0u8; 8][..])
        );
        assert_eq!(secs[1].section_type, SECTION_RAW);
        assert_eq!(secs[1].data, &fv[ipl..]);
        // Bytes of the last 40 of the IPL region by hand.
        let t = &fv[ipl - 40..ipl];
        assert_eq!(&t[..16], &RESET_VECTOR_FILE_NAME.to_bytes());
        assert_eq!(t[17], 0xAA);
        assert_eq!(t[18], FILE_TYPE_RAW);
        assert_eq!(&t[20..24], &[0x28, 0x80, 0x00, 0x07]); // size RV + 40 = 0x8028
        assert_eq!(
            t.iter()
                .take(24)
                .fold(0u8, |a, &x| a.wrapping_add(x))
                .wrapping_sub(0xAA + 7),
            0
        );
        assert_eq!(&t[24..28], &[0x0C, 0, 0, SECTION_RAW]);
        assert_eq!(&t[28..36], &[0; 8]);
        assert_eq!(&t[36..40], &[0x04, 0x80, 0x00, SECTION_RAW]); // RV + 4
                                                                  // FvLength = IPL + RV; IPL FV checksum by the PI rule over 0x48 bytes.
        assert_eq!(&fv[0x20..0x28], &((ipl + RV) as u64).to_le_bytes());
        assert_eq!(sum16_ref(&fv[..0x48]), 0);
        assert_eq!(
            &fv[0x38..0x40],
            &[
                (((ipl + RV) / 4096) as u32).to_le_bytes(),
                4096u32.to_le_bytes()
            ]
            .concat()[..]
        );
    }

    #[test]
    fn ipl_fv_limits() {
        let ipl = 0x2000;
        let cap = ipl - 40 - 148;
        ipl_with_rv(&vec![0xCC; cap], ipl);
        assert_eq!(
            build_ipl_fv(&vec![0; cap + 1], ipl, RV),
            Err(Error::TooLarge {
                needed: cap + 1,
                available: cap
            })
        );
        assert_eq!(
            build_ipl_fv(b"", ipl, 0x100),
            Err(Error::BadRegionSize { size: 0x100 })
        );
        assert_eq!(
            build_ipl_fv(b"", 0x20_0000 * 9, RV).err(),
            Some(Error::TooLarge {
                needed: 0x20_0000 * 9 - 40 - 0x78,
                available: MAX_U24
            })
        );
        // Without the RV bytes the FV claims more than the buffer holds.
        let fv = build_ipl_fv(b"x", ipl, RV).unwrap();
        assert_eq!(
            parse(&fv).err(),
            Some(Error::BadLength {
                fv_length: (ipl + RV) as u64,
                available: ipl
            })
        );
    }

    #[test]
    fn cfv_round_trip() {
        let a = Guid::from_fields(0x11, 0x22, 0x33, [1, 2, 3, 4, 5, 6, 7, 8]);
        let b = Guid::from_fields(0x44, 0x55, 0x66, [8, 7, 6, 5, 4, 3, 2, 1]);
        let cfv = build_cfv(&[(a, b"first"), (b, &[0xEE; 100])], 0x1000).unwrap();
        assert_eq!(cfv.len(), 0x1000);
        let vol = parse(&cfv).unwrap();
        assert_eq!(vol.file_system, FFS3_GUID);
        assert_eq!(vol.name, Some(Guid::ZERO));
        let files = vol.files().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            (files[0].name, files[0].file_type, files[0].data),
            (a, FILE_TYPE_RAW, &b"first"[..])
        );
        assert_eq!((files[1].name, files[1].data), (b, &[0xEE; 100][..]));
        // Second file at align8(0x78 + 24 + 5) = 0x98.
        assert_eq!(files[1].data_offset, 0x98 + 24);
        // Empty CFV and overflow.
        assert!(parse(&build_cfv(&[], 0x1000).unwrap())
            .unwrap()
            .files()
            .unwrap()
            .is_empty());
        assert!(matches!(
            build_cfv(&[(a, &[0; 0x1000])], 0x1000),
            Err(Error::TooLarge { .. })
        ));
        // Exactly full.
        let cfv = build_cfv(&[(a, &[1; 0x1000 - 0x78 - 24])], 0x1000).unwrap();
        assert_eq!(parse(&cfv).unwrap().files().unwrap().len(), 1);
    }

    #[test]
    fn parse_accepts_longer_buffer_and_upstream_checksum() {
        let mut fv = build_payload_fv(b"p", 0x1000).unwrap();
        fv.extend_from_slice(&[0x77; 100]);
        assert_eq!(parse(&fv).unwrap().bytes.len(), 0x1000);
        // Upstream rule: checksum makes the first 56 bytes sum to 0 (not HeaderLength).
        let mut up = build_payload_fv(b"p", 0x1000).unwrap();
        up[0x32..0x34].fill(0);
        let c = 0u16.wrapping_sub(sum16_ref(&up[..56]));
        up[0x32..0x34].copy_from_slice(&c.to_le_bytes());
        assert_ne!(sum16_ref(&up[..0x78]), 0);
        parse(&up).unwrap();
        // Neither rule.
        up[0x32] ^= 1;
        assert_eq!(parse(&up).err(), Some(Error::BadChecksum));
    }

    #[test]
    fn header_hostile() {
        let good = build_payload_fv(b"payload", 0x2000).unwrap();
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err(), "prefix {cut}");
        }
        let mut b = good.clone();
        b[0x28] = b'X';
        assert!(matches!(parse(&b), Err(Error::BadSignature { .. })));
        // FvLength beyond the buffer / absurd.
        for len in [0x2001u64, u64::MAX] {
            let mut b = good.clone();
            b[0x20..0x28].copy_from_slice(&len.to_le_bytes());
            assert_eq!(
                parse(&b).err(),
                Some(Error::BadLength {
                    fv_length: len,
                    available: 0x2000
                })
            );
        }
        // FvLength smaller than HeaderLength.
        let mut b = good.clone();
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        assert!(matches!(parse(&b), Err(Error::BadLength { .. })));
        // HeaderLength odd / too small.
        for hl in [0x77u16, 0x38, 0] {
            let mut b = good.clone();
            b[0x30..0x32].copy_from_slice(&hl.to_le_bytes());
            assert_eq!(
                parse(&b).err(),
                Some(Error::BadHeaderLength { header_length: hl })
            );
        }
        // Block map without terminator (checksum fixed up so that is the only fault).
        let mut b = good.clone();
        b[0x40] = 1;
        // With HeaderLength 0x78 the pad file's zero name would read as {0, 0}: use 0x48.
        b[0x30..0x32].copy_from_slice(&0x48u16.to_le_bytes());
        b[0x32..0x34].fill(0);
        let c = 0u16.wrapping_sub(sum16_ref(&b[..0x48]));
        b[0x32..0x34].copy_from_slice(&c.to_le_bytes());
        assert_eq!(parse(&b).err(), Some(Error::BadBlockMap));
        // Extension header offset past the end / size too small.
        for (off, size) in [(0x1FF0u16, 0x14u32), (0x60, 0x10), (0x60, 0xFFFF_FFFF)] {
            let mut b = good.clone();
            b[0x34..0x36].copy_from_slice(&off.to_le_bytes());
            b[0x70..0x74].copy_from_slice(&size.to_le_bytes());
            b[0x32..0x34].fill(0);
            let c = 0u16.wrapping_sub(sum16_ref(&b[..0x78]));
            b[0x32..0x34].copy_from_slice(&c.to_le_bytes());
            assert_eq!(
                parse(&b).err(),
                Some(Error::BadExtHeader {
                    offset: usize::from(off)
                }),
                "{off:#x} {size:#x}"
            );
        }
    }

    #[test]
    fn file_hostile() {
        let good = build_payload_fv(b"payload", 0x2000).unwrap();
        let at = 0x78;
        let files = |b: &[u8]| parse(b).unwrap().files().map(|f| f.len());
        // Header checksum.
        let mut b = good.clone();
        b[at + 16] ^= 1;
        assert_eq!(files(&b), Err(Error::BadFileHeaderChecksum { offset: at }));
        // File checksum must be 0xAA when not checksummed.
        let mut b = good.clone();
        b[at + 17] = 0xAB;
        assert_eq!(files(&b), Err(Error::BadFileChecksum { offset: at }));
        // State (checksum excludes it, so only the state check fires).
        let mut b = good.clone();
        b[at + 23] = 0x03;
        assert_eq!(
            files(&b),
            Err(Error::BadFileState {
                offset: at,
                state: 3
            })
        );
        // Size past the FV, and smaller than the header (fix the header checksum each time).
        for size in [0x2000 - 0x78 + 8, 10, 0] {
            let mut b = good.clone();
            b[at + 20..at + 23].copy_from_slice(&(size as u32).to_le_bytes()[..3]);
            b[at + 16] = 0;
            let s = b[at..at + 24]
                .iter()
                .fold(0u8, |a, &x| a.wrapping_add(x))
                .wrapping_sub(0xAA + 7);
            b[at + 16] = 0u8.wrapping_sub(s);
            assert_eq!(
                files(&b),
                Err(Error::BadFileSize { offset: at }),
                "size {size:#x}"
            );
        }
        // Large-file attribute with an ExtendedSize past the end.
        let mut b = good.clone();
        b[at + 19] = FFS_ATTRIB_LARGE_FILE;
        b[at + 24..at + 32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            files(&b),
            Err(Error::BadFileSize { .. } | Error::BadFileHeaderChecksum { .. })
        ));
        // Checksummed file: attribute 0x40 with the right and a wrong data checksum.
        let mut b = good.clone();
        b[at + 19] = FFS_ATTRIB_CHECKSUM;
        let data_sum = b[at + 24..0x2000]
            .iter()
            .fold(0u8, |a, &x| a.wrapping_add(x));
        b[at + 17] = 0u8.wrapping_sub(data_sum);
        b[at + 16] = 0;
        let s = b[at..at + 24]
            .iter()
            .fold(0u8, |a, &x| a.wrapping_add(x))
            .wrapping_sub(b[at + 17])
            .wrapping_sub(7);
        b[at + 16] = 0u8.wrapping_sub(s);
        assert_eq!(files(&b), Ok(1));
        b[0x1FFF] ^= 1;
        assert_eq!(files(&b), Err(Error::BadFileChecksum { offset: at }));
        // Garbage (not free space) after the last file in a CFV: a header error, not a panic.
        let mut cfv = build_cfv(&[(Guid::ZERO, b"abc")], 0x1000).unwrap();
        cfv[0xA0] = 0x11;
        assert!(parse(&cfv).unwrap().files().is_err());
        // Fewer than 24 bytes left that are not free space.
        let mut cfv = build_cfv(&[(Guid::ZERO, &[7; 0x1000 - 0x78 - 24 - 16])], 0x1000).unwrap();
        cfv[0xFFF] = 1;
        assert_eq!(
            parse(&cfv).unwrap().files().err(),
            Some(Error::Truncated { offset: 0xFF0 })
        );
    }

    #[test]
    fn section_hostile() {
        let good = build_payload_fv(b"payload", 0x2000).unwrap();
        let sec = 0x78 + 24;
        let sections = |b: &[u8]| {
            let vol = parse(b).unwrap();
            let files = vol.files().unwrap();
            files[0].sections().map(|s| s.len())
        };
        assert_eq!(sections(&good), Ok(1));
        // Section size beyond the file / below its header / extended beyond the file.
        for size in [0x2000 - sec + 1, 3, 0] {
            let mut b = good.clone();
            b[sec..sec + 3].copy_from_slice(&(size as u32).to_le_bytes()[..3]);
            assert_eq!(
                sections(&b),
                Err(Error::BadSection { offset: sec }),
                "size {size:#x}"
            );
        }
        let mut b = good.clone();
        b[sec..sec + 3].fill(0xFF);
        b[sec + 4..sec + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(sections(&b), Err(Error::BadSection { offset: sec }));
        // A smaller first section leaves a second header to check: make it garbage.
        let mut b = good.clone();
        b[sec..sec + 3].copy_from_slice(&[0x10, 0, 0]);
        b[sec + 0x10..sec + 0x14].copy_from_slice(&[0xF0, 0xFF, 0x7F, 0x19]);
        assert_eq!(sections(&b), Err(Error::BadSection { offset: sec + 0x10 }));
        // Every truncation of the file data: error or fewer sections, never a panic.
        let vol = parse(&good).unwrap();
        let file = vol.files().unwrap()[0];
        for cut in 0..file.data.len() {
            let f = File {
                data: &file.data[..cut],
                ..file
            };
            let r = f.sections();
            assert!(r.is_err() || cut == 0, "cut {cut}");
        }
    }
    #[test]
    fn payload_fv_with_extra_files_keeps_exact_sizes() {
        let kernel = vec![0x5Au8; 5000];
        let initrd = vec![0xA5u8; 3001];
        let cmdline = b"console=ttyS0\0".to_vec();
        let fv = build_payload_fv_with(
            &kernel,
            &[
                (PAYLOAD_INITRD_FILE_NAME, &initrd[..]),
                (PAYLOAD_CMDLINE_FILE_NAME, &cmdline[..]),
            ],
            0x10000,
        )
        .unwrap();
        assert_eq!(fv.len(), 0x10000);
        let vol = parse(&fv).unwrap();
        assert_eq!(vol.name, Some(PAYLOAD_FV_NAME));
        assert_eq!(
            find_section(vol.bytes, FILE_TYPE_DXE_CORE, SECTION_PE32).unwrap(),
            &kernel[..]
        );
        let files = vol.files().unwrap();
        let find = |n: Guid| files.iter().find(|f| f.name == n).unwrap().data;
        assert_eq!(find(PAYLOAD_INITRD_FILE_NAME), &initrd[..]);
        assert_eq!(find(PAYLOAD_CMDLINE_FILE_NAME), &cmdline[..]);
        // Too big for the region: refused, not truncated.
        assert!(matches!(
            build_payload_fv_with(
                &kernel,
                &[(PAYLOAD_INITRD_FILE_NAME, &vec![0u8; 0x10000][..])],
                0x10000
            ),
            Err(Error::TooLarge { .. })
        ));
    }
}
