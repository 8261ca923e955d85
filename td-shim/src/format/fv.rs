// SPDX-License-Identifier: BSD-2-Clause-Patent
//! PI firmware volumes, FFS files and sections (`../shared/spec/image-layout.md` §3): the
//! wrappers around the IPL (shim), the built-in payload and the configuration FV. Parsing
//! input is untrusted when a tool reads a file (and the CFV is owner-supplied).
//
// API CONTRACT (skeleton written by the lead; bodies filled in by the formats work).

use crate::format::guid::Guid;
use alloc::vec::Vec;
use core::fmt;

pub const FFS2_GUID: Guid =
    Guid::from_fields(0x8C8CE578, 0x8A3D, 0x4F1C, [0x99, 0x35, 0x89, 0x61, 0x85, 0xC3, 0x2D, 0xD3]);
pub const FFS3_GUID: Guid =
    Guid::from_fields(0x5473C07A, 0x3DCB, 0x4DCA, [0xBD, 0x6F, 0x1E, 0x96, 0x89, 0xE7, 0x34, 0x9A]);
pub const IPL_FV_NAME: Guid =
    Guid::from_fields(0x763BED0D, 0xDE9F, 0x48F5, [0x81, 0xF1, 0x3E, 0x90, 0xE1, 0xB1, 0xA0, 0x15]);
pub const IPL_FILE_NAME: Guid =
    Guid::from_fields(0x17ED4C9E, 0x05E0, 0x48A6, [0xA0, 0x1D, 0xFB, 0x0F, 0xA9, 0x1E, 0x63, 0x98]);
pub const PAYLOAD_FV_NAME: Guid =
    Guid::from_fields(0x7CB8BDC9, 0xF8EB, 0x4F34, [0xAA, 0xEA, 0x3E, 0xE4, 0xAF, 0x65, 0x16, 0xA1]);
pub const PAYLOAD_FILE_NAME: Guid =
    Guid::from_fields(0xA8F75D7C, 0x8B85, 0x49B6, [0x91, 0x3E, 0xAF, 0x99, 0x61, 0x55, 0x73, 0x08]);
pub const RESET_VECTOR_FILE_NAME: Guid =
    Guid::from_fields(0x1BA0062E, 0xC779, 0x4582, [0x85, 0x66, 0x33, 0x6A, 0xE8, 0xF7, 0x8F, 0x09]);

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    Truncated { offset: usize },
    // formats work adds: BadSignature, BadLength, BadChecksum{..}, BadFileHeader{offset},
    // BadSection{offset}, NotFound, TooLarge{..}, ...
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
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
}

/// One section of a file.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    pub section_type: u8,
    /// Section body after its header.
    pub data: &'a [u8],
}

/// Parses and checks an FV header at the start of `bytes` (signature, FvLength ≤ bytes,
/// header length, checksum by the PI rule or upstream's 56-byte rule). The returned view
/// covers exactly FvLength bytes.
pub fn parse(bytes: &[u8]) -> Result<Volume<'_>, Error> {
    unimplemented!("formats {}", bytes.len())
}

impl<'a> Volume<'a> {
    /// Files in order (pad files included), each header checked.
    pub fn files(&self) -> Result<Vec<File<'a>>, Error> {
        unimplemented!("formats")
    }
}

impl<'a> File<'a> {
    /// Sections in order, each header checked.
    pub fn sections(&self) -> Result<Vec<Section<'a>>, Error> {
        unimplemented!("formats")
    }
}

/// Body of the first section of type `section_type` in the first file of type `file_type`.
pub fn find_section(fv: &[u8], file_type: u8, section_type: u8) -> Result<&[u8], Error> {
    unimplemented!("formats {} {file_type} {section_type}", fv.len())
}

/// Payload FV of exactly `region_size` bytes: FV (FFS2, name PAYLOAD_FV_NAME, header blob of
/// 0x78) holding one DXE_CORE file (PAYLOAD_FILE_NAME) with one PE32 section that spans the
/// rest of the region (payload then zero padding). Errors if the payload does not fit.
pub fn build_payload_fv(payload: &[u8], region_size: usize) -> Result<Vec<u8>, Error> {
    unimplemented!("formats {} {region_size}", payload.len())
}

/// IPL region of exactly `ipl_region_size` bytes: FV (FFS2, name IPL_FV_NAME, FvLength =
/// ipl_region_size + reset_vector_size) holding a SECURITY_CORE file (IPL_FILE_NAME) with
/// one PE32 section = `shim_image` at offset IPL_IMAGE_OFFSET, and in the last 40 bytes the
/// header of the RAW reset-vector file (RESET_VECTOR_FILE_NAME) whose data continues into
/// the reset-vector region (pad section 0x0C + RAW section header of RV + 4).
pub fn build_ipl_fv(shim_image: &[u8], ipl_region_size: usize, reset_vector_size: usize) -> Result<Vec<u8>, Error> {
    unimplemented!("formats {} {ipl_region_size} {reset_vector_size}", shim_image.len())
}

/// Configuration FV of exactly `region_size` bytes (FFS3, header blob 0x78, zero FvName),
/// with one RAW file per `(name, data)`; the rest is erased (0xFF) free space... or zero:
/// formats work decides and documents.
pub fn build_cfv(files: &[(Guid, &[u8])], region_size: usize) -> Result<Vec<u8>, Error> {
    unimplemented!("formats {} {region_size}", files.len())
}
