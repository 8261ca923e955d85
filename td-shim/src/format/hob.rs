// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Hand-off blocks (`../shared/spec/hob.md`): strict parsing of an untrusted HOB list (the
//! TD HOB from the VMM, or the payload HOB as seen by a payload) and a builder for the
//! payload HOB the firmware hands to executable payloads.
//
// API CONTRACT (skeleton written by the lead; bodies filled in by the formats work).

use crate::format::guid::Guid;
use alloc::vec::Vec;
use core::fmt;

pub const HOB_TYPE_HANDOFF: u16 = 0x0001;
pub const HOB_TYPE_MEMORY_ALLOCATION: u16 = 0x0002;
pub const HOB_TYPE_RESOURCE_DESCRIPTOR: u16 = 0x0003;
pub const HOB_TYPE_GUID_EXTENSION: u16 = 0x0004;
pub const HOB_TYPE_FV: u16 = 0x0005;
pub const HOB_TYPE_CPU: u16 = 0x0006;
pub const HOB_TYPE_FV2: u16 = 0x0009;
pub const HOB_TYPE_FV3: u16 = 0x000C;
pub const HOB_TYPE_END_OF_HOB_LIST: u16 = 0xFFFF;

pub const RESOURCE_SYSTEM_MEMORY: u32 = 0;
pub const RESOURCE_MEMORY_MAPPED_IO: u32 = 1;
pub const RESOURCE_IO: u32 = 2;
pub const RESOURCE_FIRMWARE_DEVICE: u32 = 3;
pub const RESOURCE_MEMORY_MAPPED_IO_PORT: u32 = 4;
pub const RESOURCE_MEMORY_RESERVED: u32 = 5;
pub const RESOURCE_IO_RESERVED: u32 = 6;
pub const RESOURCE_MEMORY_UNACCEPTED: u32 = 7;

pub const ATTR_PRESENT: u32 = 0x1;
pub const ATTR_INITIALIZED: u32 = 0x2;
pub const ATTR_TESTED: u32 = 0x4;
pub const ATTR_UNCACHEABLE: u32 = 0x400;
/// All attribute bits PI defines; anything outside is refused.
pub const ATTR_VALID_MASK: u32 = 0x07FF_FFFF;

/// ACPI table GUID HOB (`hob.md` §3.1).
pub const ACPI_TABLE_GUID: Guid =
    Guid::from_fields(0x6A0C5870, 0xD4ED, 0x44F4, [0xA1, 0x35, 0xDD, 0x23, 0x8B, 0x6F, 0x0C, 0x8D]);
/// Payload info GUID HOB (§3.2).
pub const PAYLOAD_INFO_GUID: Guid =
    Guid::from_fields(0xB96FA412, 0x461F, 0x4BE3, [0x8C, 0x0D, 0xAD, 0x80, 0x5A, 0x49, 0x7A, 0xC0]);
/// E820 table GUID HOB (§3.3).
pub const E820_TABLE_GUID: Guid =
    Guid::from_fields(0x8F8072EA, 0x3486, 0x4B47, [0x86, 0xA7, 0x23, 0x53, 0xB8, 0x8A, 0x87, 0x73]);

/// A decoded resource descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    pub owner: Guid,
    pub resource_type: u32,
    pub attributes: u32,
    pub start: u64,
    pub length: u64,
}

/// A decoded PHIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handoff {
    pub version: u32,
    pub boot_mode: u32,
    pub memory_top: u64,
    pub memory_bottom: u64,
    pub free_memory_top: u64,
    pub free_memory_bottom: u64,
    pub end_of_hob_list: u64,
}

/// One HOB of a validated list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hob<'a> {
    Handoff(Handoff),
    Resource(Resource),
    MemoryAllocation { name: Guid, base: u64, length: u64, memory_type: u32 },
    Guid { name: Guid, data: &'a [u8] },
    Fv { base: u64, length: u64 },
    Cpu { memory_space_bits: u8, io_space_bits: u8 },
    /// FV2/FV3: valid but unused; raw bytes after the header.
    Other { hob_type: u16, body: &'a [u8] },
}

/// Why a HOB list was refused; every variant carries the byte offset of the offending HOB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    Truncated { offset: usize },
    // ... formats work adds: ZeroLength{offset}, LengthOverflow{offset}, ReservedNonZero{offset},
    // BadLength{offset, hob_type, length}, UnknownType{offset, hob_type}, FirstNotHandoff,
    // BadResourceType{offset}, BadAttributes{offset}, RangeWraps{offset}, MisalignedTop,
    // MissingEnd, EndMismatch{..}, ...
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A validated HOB list borrowed from its buffer.
#[derive(Clone, Copy, Debug)]
pub struct HobList<'a> {
    bytes: &'a [u8],
}

/// Validates a whole list per `hob.md` §2.1 (with the [OURS] tweak: FV/FV2/FV3/CPU/memory
/// allocation HOBs that pass validation are kept, not fatal). `base` is the GPA of
/// `bytes[0]`; the PHIT's EfiEndOfHobList must equal `base + offset_of_End + 8`.
/// The returned list covers exactly [start, EfiEndOfHobList).
pub fn parse(bytes: &[u8], base: u64) -> Result<HobList<'_>, Error> {
    unimplemented!("formats: {} {base}", bytes.len())
}

impl<'a> HobList<'a> {
    /// The measured bytes: [start, EfiEndOfHobList).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The PHIT.
    pub fn handoff(&self) -> Handoff {
        unimplemented!("formats")
    }
    /// All HOBs in order (excluding End).
    pub fn iter(&self) -> impl Iterator<Item = Hob<'a>> + 'a {
        unimplemented!("formats");
        #[allow(unreachable_code)]
        core::iter::empty()
    }
    /// Resource descriptors in order.
    pub fn resources(&self) -> impl Iterator<Item = Resource> + 'a {
        unimplemented!("formats");
        #[allow(unreachable_code)]
        core::iter::empty()
    }
    /// Data of every GUID HOB named `name`.
    pub fn guid_data(&self, name: Guid) -> impl Iterator<Item = &'a [u8]> + 'a {
        unimplemented!("formats {name}");
        #[allow(unreachable_code)]
        core::iter::empty()
    }
}

/// Builds a HOB list. `new` reserves the PHIT; `finish` fills it and appends End.
#[derive(Debug, Default)]
pub struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    pub fn new() -> Self {
        unimplemented!("formats")
    }
    pub fn resource(&mut self, r: &Resource) -> &mut Self {
        unimplemented!("formats {r:?}")
    }
    pub fn memory_allocation(&mut self, name: Guid, base: u64, length: u64, memory_type: u32) -> &mut Self {
        unimplemented!("formats {name} {base} {length} {memory_type}")
    }
    pub fn cpu(&mut self, memory_space_bits: u8, io_space_bits: u8) -> &mut Self {
        unimplemented!("formats {memory_space_bits} {io_space_bits}")
    }
    pub fn fv(&mut self, base: u64, length: u64) -> &mut Self {
        unimplemented!("formats {base} {length}")
    }
    /// Appends a GUID extension HOB, padding data to 8 bytes.
    pub fn guid(&mut self, name: Guid, data: &[u8]) -> &mut Self {
        unimplemented!("formats {name} {}", data.len())
    }
    /// Finishes the list for placement at GPA `base`: PHIT version 9, boot mode 0,
    /// memory top/bottom as given (free top/bottom the same), EfiEndOfHobList = base + len.
    pub fn finish(self, base: u64, memory_bottom: u64, memory_top: u64) -> Vec<u8> {
        unimplemented!("formats {base} {memory_bottom} {memory_top} {}", self.buf.len())
    }
}
