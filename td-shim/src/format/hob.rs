// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Hand-off blocks (`../shared/spec/hob.md`): strict parsing of an untrusted HOB list (the
//! TD HOB from the VMM, or the payload HOB as seen by a payload) per §1 and §2.1, and a
//! builder for the payload HOB the firmware hands to executable payloads (§4), and the
//! semantic checks of a TD HOB's RAM (§2.2, `tdcall.md` §5: below the shared bit, outside the
//! image, not unaccepted where the VMM must have added pages) in [`td_ram`]. Everything
//! `parse` reads is untrusted; every refusal names the byte offset of the offending HOB.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::format::guid::Guid;
use alloc::vec::Vec;
use core::fmt;
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

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
/// Resource types ≥ this are invalid (§1).
pub const RESOURCE_TYPE_LIMIT: u32 = 8;

pub const ATTR_PRESENT: u32 = 0x1;
pub const ATTR_INITIALIZED: u32 = 0x2;
pub const ATTR_TESTED: u32 = 0x4;
pub const ATTR_UNCACHEABLE: u32 = 0x400;
/// All attribute bits PI defines; anything outside is refused.
pub const ATTR_VALID_MASK: u32 = 0x07FF_FFFF;

/// PHIT version written by [`Builder::finish`] (§4).
pub const HANDOFF_VERSION: u32 = 9;
/// Size of the common HOB header.
pub const HEADER_SIZE: usize = 8;
/// Exact HobLength of each fixed-size HOB (§1).
pub const HANDOFF_LEN: usize = 56;
pub const MEMORY_ALLOCATION_LEN: usize = 48;
pub const RESOURCE_LEN: usize = 48;
pub const FV_LEN: usize = 24;
pub const CPU_LEN: usize = 16;
pub const FV2_LEN: usize = 56;
pub const FV3_LEN: usize = 64;
pub const END_LEN: usize = 8;
/// Header + name GUID of a GUID extension HOB; its data follows.
pub const GUID_HOB_HEADER_LEN: usize = 24;
/// Largest data a GUID HOB can carry: HobLength is a u16 and we keep it 8-byte aligned.
pub const MAX_GUID_DATA_LEN: usize = 0xFFF8 - GUID_HOB_HEADER_LEN;

/// ACPI table GUID HOB (`hob.md` §3.1).
pub const ACPI_TABLE_GUID: Guid = Guid::from_fields(
    0x6A0C5870,
    0xD4ED,
    0x44F4,
    [0xA1, 0x35, 0xDD, 0x23, 0x8B, 0x6F, 0x0C, 0x8D],
);
/// Payload info GUID HOB (§3.2).
pub const PAYLOAD_INFO_GUID: Guid = Guid::from_fields(
    0xB96FA412,
    0x461F,
    0x4BE3,
    [0x8C, 0x0D, 0xAD, 0x80, 0x5A, 0x49, 0x7A, 0xC0],
);
/// E820 table GUID HOB (§3.3).
pub const E820_TABLE_GUID: Guid = Guid::from_fields(
    0x8F8072EA,
    0x3486,
    0x4B47,
    [0x86, 0xA7, 0x23, 0x53, 0xB8, 0x8A, 0x87, 0x73],
);

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
    MemoryAllocation {
        name: Guid,
        base: u64,
        length: u64,
        memory_type: u32,
    },
    Guid {
        name: Guid,
        data: &'a [u8],
    },
    Fv {
        base: u64,
        length: u64,
    },
    Cpu {
        memory_space_bits: u8,
        io_space_bits: u8,
    },
    /// FV2/FV3: valid but unused; raw bytes after the header.
    Other {
        hob_type: u16,
        body: &'a [u8],
    },
}

/// Why a HOB list was refused; every variant carries the byte offset of the offending HOB
/// (from the start of the list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends inside the HOB header at `offset` (or is shorter than a PHIT).
    Truncated { offset: usize },
    /// HobLength = 0.
    ZeroLength { offset: usize },
    /// HobLength (or its 8-byte alignment) runs past the end of the buffer.
    LengthOverflow { offset: usize },
    /// The header's Reserved field, or a CPU HOB's reserved bytes, are not zero.
    ReservedNonZero { offset: usize },
    /// HobLength is wrong for the type.
    BadLength {
        offset: usize,
        hob_type: u16,
        length: u16,
    },
    /// A type this list may not contain.
    UnknownType { offset: usize, hob_type: u16 },
    /// The first HOB is not a PHIT.
    FirstNotHandoff { offset: usize, hob_type: u16 },
    /// A second PHIT.
    DuplicateHandoff { offset: usize },
    /// PHIT EfiMemoryTop is not 4 KiB aligned.
    MisalignedMemoryTop { offset: usize },
    /// Resource type ≥ 8.
    BadResourceType { offset: usize, resource_type: u32 },
    /// Resource attributes outside [`ATTR_VALID_MASK`].
    BadAttributes { offset: usize, attributes: u32 },
    /// start + length overflows 64 bits (resource, memory allocation or FV HOB), or the
    /// list's own end address does.
    RangeWraps { offset: usize },
    /// The buffer ends without an End-of-HOB-list HOB; `offset` is where one was expected.
    MissingEnd { offset: usize },
    /// PHIT EfiEndOfHobList is not the GPA just past the End HOB at `offset`.
    EndMismatch {
        offset: usize,
        expected: u64,
        found: u64,
    },
    /// Builder: GUID HOB data longer than [`MAX_GUID_DATA_LEN`].
    TooLarge { len: usize },
    /// TD HOB ([`td_ram`]): RAM `[start, end)` holds GPAs with the shared bit set.
    ReachesSharedBit {
        offset: usize,
        start: u64,
        end: u64,
        shared_bit: u64,
    },
    /// TD HOB ([`td_ram`]): RAM `[start, end)` overlaps the firmware image.
    OverlapsImage { offset: usize, start: u64, end: u64 },
    /// TD HOB ([`td_ram`]): unaccepted RAM `[start, end)` overlaps the section at `section`
    /// that the VMM adds (accepted) when it builds the TD.
    UnacceptedOverAdded {
        offset: usize,
        start: u64,
        end: u64,
        section: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { offset } => {
                write!(f, "hob at {offset:#x}: buffer ends inside the header")
            }
            Error::ZeroLength { offset } => write!(f, "hob at {offset:#x}: length is zero"),
            Error::LengthOverflow { offset } => {
                write!(f, "hob at {offset:#x}: length runs past the buffer")
            }
            Error::ReservedNonZero { offset } => {
                write!(f, "hob at {offset:#x}: reserved field is not zero")
            }
            Error::BadLength {
                offset,
                hob_type,
                length,
            } => {
                write!(
                    f,
                    "hob at {offset:#x}: length {length:#x} is wrong for type {hob_type:#x}"
                )
            }
            Error::UnknownType { offset, hob_type } => {
                write!(f, "hob at {offset:#x}: type {hob_type:#x} not allowed")
            }
            Error::FirstNotHandoff { offset, hob_type } => {
                write!(
                    f,
                    "hob at {offset:#x}: first hob has type {hob_type:#x}, not PHIT"
                )
            }
            Error::DuplicateHandoff { offset } => write!(f, "hob at {offset:#x}: second PHIT"),
            Error::MisalignedMemoryTop { offset } => {
                write!(f, "hob at {offset:#x}: PHIT memory top not 4 KiB aligned")
            }
            Error::BadResourceType {
                offset,
                resource_type,
            } => {
                write!(
                    f,
                    "hob at {offset:#x}: resource type {resource_type} is invalid"
                )
            }
            Error::BadAttributes { offset, attributes } => {
                write!(
                    f,
                    "hob at {offset:#x}: resource attributes {attributes:#x} has undefined bits"
                )
            }
            Error::RangeWraps { offset } => write!(f, "hob at {offset:#x}: range wraps past 2^64"),
            Error::MissingEnd { offset } => write!(
                f,
                "hob list: no end-of-list hob (buffer ends at {offset:#x})"
            ),
            Error::EndMismatch {
                offset,
                expected,
                found,
            } => write!(
                f,
                "hob at {offset:#x}: PHIT end of list is {found:#x}, expected {expected:#x}"
            ),
            Error::TooLarge { len } => {
                write!(f, "hob builder: guid data of {len:#x} bytes does not fit")
            }
            Error::ReachesSharedBit {
                offset,
                start,
                end,
                shared_bit,
            } => write!(
                f,
                "hob at {offset:#x}: ram [{start:#x}, {end:#x}) reaches the shared bit \
                 ({shared_bit:#x})"
            ),
            Error::OverlapsImage { offset, start, end } => write!(
                f,
                "hob at {offset:#x}: ram [{start:#x}, {end:#x}) overlaps the firmware image"
            ),
            Error::UnacceptedOverAdded {
                offset,
                start,
                end,
                section,
            } => write!(
                f,
                "hob at {offset:#x}: unaccepted ram [{start:#x}, {end:#x}) overlaps the \
                 section at {section:#x} that the vmm adds as private memory"
            ),
        }
    }
}

// --- wire structures (PI Vol. 3) ----------------------------------------------------------

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader {
    hob_type: U16,
    hob_length: U16,
    reserved: U32,
}

impl RawHeader {
    fn new(hob_type: u16, len: u16) -> Self {
        RawHeader {
            hob_type: U16::new(hob_type),
            hob_length: U16::new(len),
            reserved: U32::new(0),
        }
    }
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHandoff {
    header: RawHeader,
    version: U32,
    boot_mode: U32,
    memory_top: U64,
    memory_bottom: U64,
    free_memory_top: U64,
    free_memory_bottom: U64,
    end_of_hob_list: U64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawMemoryAllocation {
    header: RawHeader,
    name: Guid,
    base: U64,
    length: U64,
    memory_type: U32,
    reserved: [u8; 4],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawResource {
    header: RawHeader,
    owner: Guid,
    resource_type: U32,
    attributes: U32,
    start: U64,
    length: U64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawGuidHeader {
    header: RawHeader,
    name: Guid,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawFv {
    header: RawHeader,
    base: U64,
    length: U64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawCpu {
    header: RawHeader,
    memory_space_bits: u8,
    io_space_bits: u8,
    reserved: [u8; 6],
}

const _: () = {
    assert!(core::mem::size_of::<RawHeader>() == HEADER_SIZE);
    assert!(core::mem::size_of::<RawHandoff>() == HANDOFF_LEN);
    assert!(core::mem::size_of::<RawMemoryAllocation>() == MEMORY_ALLOCATION_LEN);
    assert!(core::mem::size_of::<RawResource>() == RESOURCE_LEN);
    assert!(core::mem::size_of::<RawGuidHeader>() == GUID_HOB_HEADER_LEN);
    assert!(core::mem::size_of::<RawFv>() == FV_LEN);
    assert!(core::mem::size_of::<RawCpu>() == CPU_LEN);
};

fn align8(n: usize) -> Option<usize> {
    n.checked_add(7).map(|v| v & !7)
}

/// What a header says, after the checks common to every HOB.
struct Header<'a> {
    hob_type: u16,
    /// Exactly HobLength bytes.
    hob: &'a [u8],
}

/// Reads and checks the common header at `offset` (§2.1 rule 1).
fn read_header(bytes: &[u8], offset: usize) -> Result<Header<'_>, Error> {
    let rest = bytes.get(offset..).ok_or(Error::Truncated { offset })?;
    if rest.is_empty() {
        return Err(Error::MissingEnd { offset });
    }
    let (h, _) = RawHeader::ref_from_prefix(rest).map_err(|_| Error::Truncated { offset })?;
    let length = h.hob_length.get();
    let hob_type = h.hob_type.get();
    if length == 0 {
        return Err(Error::ZeroLength { offset });
    }
    if usize::from(length) < HEADER_SIZE {
        return Err(Error::BadLength {
            offset,
            hob_type,
            length,
        });
    }
    let hob = rest
        .get(..usize::from(length))
        .ok_or(Error::LengthOverflow { offset })?;
    if h.reserved.get() != 0 {
        return Err(Error::ReservedNonZero { offset });
    }
    Ok(Header { hob_type, hob })
}

/// Decodes one HOB whose common header passed [`read_header`], applying the per-type
/// rules of §2.1. `Ok(None)` is the End HOB.
fn decode<'a>(h: &Header<'a>, offset: usize) -> Result<Option<Hob<'a>>, Error> {
    let length = h.hob.len();
    let bad_len = |want: usize| -> Result<(), Error> {
        if length == want {
            Ok(())
        } else {
            Err(Error::BadLength {
                offset,
                hob_type: h.hob_type,
                length: length as u16,
            })
        }
    };
    let wrong = Error::BadLength {
        offset,
        hob_type: h.hob_type,
        length: length as u16,
    };
    let hob = match h.hob_type {
        HOB_TYPE_HANDOFF => {
            bad_len(HANDOFF_LEN)?;
            let r = RawHandoff::ref_from_bytes(h.hob).map_err(|_| wrong)?;
            if r.memory_top.get() & 0xFFF != 0 {
                return Err(Error::MisalignedMemoryTop { offset });
            }
            Hob::Handoff(Handoff {
                version: r.version.get(),
                boot_mode: r.boot_mode.get(),
                memory_top: r.memory_top.get(),
                memory_bottom: r.memory_bottom.get(),
                free_memory_top: r.free_memory_top.get(),
                free_memory_bottom: r.free_memory_bottom.get(),
                end_of_hob_list: r.end_of_hob_list.get(),
            })
        }
        HOB_TYPE_RESOURCE_DESCRIPTOR => {
            bad_len(RESOURCE_LEN)?;
            let r = RawResource::ref_from_bytes(h.hob).map_err(|_| wrong)?;
            let resource_type = r.resource_type.get();
            if resource_type >= RESOURCE_TYPE_LIMIT {
                return Err(Error::BadResourceType {
                    offset,
                    resource_type,
                });
            }
            let attributes = r.attributes.get();
            if attributes & !ATTR_VALID_MASK != 0 {
                return Err(Error::BadAttributes { offset, attributes });
            }
            if r.start.get().checked_add(r.length.get()).is_none() {
                return Err(Error::RangeWraps { offset });
            }
            Hob::Resource(Resource {
                owner: r.owner,
                resource_type,
                attributes,
                start: r.start.get(),
                length: r.length.get(),
            })
        }
        HOB_TYPE_MEMORY_ALLOCATION => {
            bad_len(MEMORY_ALLOCATION_LEN)?;
            let r = RawMemoryAllocation::ref_from_bytes(h.hob).map_err(|_| wrong)?;
            if r.base.get().checked_add(r.length.get()).is_none() {
                return Err(Error::RangeWraps { offset });
            }
            Hob::MemoryAllocation {
                name: r.name,
                base: r.base.get(),
                length: r.length.get(),
                memory_type: r.memory_type.get(),
            }
        }
        HOB_TYPE_GUID_EXTENSION => {
            let (r, data) = RawGuidHeader::ref_from_prefix(h.hob).map_err(|_| wrong)?;
            Hob::Guid { name: r.name, data }
        }
        HOB_TYPE_FV => {
            bad_len(FV_LEN)?;
            let r = RawFv::ref_from_bytes(h.hob).map_err(|_| wrong)?;
            if r.base.get().checked_add(r.length.get()).is_none() {
                return Err(Error::RangeWraps { offset });
            }
            Hob::Fv {
                base: r.base.get(),
                length: r.length.get(),
            }
        }
        HOB_TYPE_CPU => {
            bad_len(CPU_LEN)?;
            let r = RawCpu::ref_from_bytes(h.hob).map_err(|_| wrong)?;
            if r.reserved != [0; 6] {
                return Err(Error::ReservedNonZero { offset });
            }
            Hob::Cpu {
                memory_space_bits: r.memory_space_bits,
                io_space_bits: r.io_space_bits,
            }
        }
        HOB_TYPE_FV2 | HOB_TYPE_FV3 => {
            bad_len(if h.hob_type == HOB_TYPE_FV2 {
                FV2_LEN
            } else {
                FV3_LEN
            })?;
            Hob::Other {
                hob_type: h.hob_type,
                body: h.hob.get(HEADER_SIZE..).ok_or(wrong)?,
            }
        }
        HOB_TYPE_END_OF_HOB_LIST => {
            bad_len(END_LEN)?;
            return Ok(None);
        }
        hob_type => return Err(Error::UnknownType { offset, hob_type }),
    };
    Ok(Some(hob))
}

/// A validated HOB list borrowed from its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HobList<'a> {
    bytes: &'a [u8],
    handoff: Handoff,
}

/// Validates a whole list per `hob.md` §2.1 (with the [OURS] tweak: FV/FV2/FV3/CPU/memory
/// allocation HOBs that pass validation are kept, not fatal). `base` is the GPA of
/// `bytes[0]`; the PHIT's EfiEndOfHobList must equal `base + offset_of_End + 8`.
/// The returned list covers exactly [start, EfiEndOfHobList); `bytes` may run on past it.
///
/// Rules, in the order checked for each HOB: header inside the buffer, HobLength ≠ 0 and
/// ≥ 8, HobLength ≤ remaining, Reserved = 0; the first HOB is a PHIT and no other is; the
/// per-type rules (exact lengths, PHIT memory top 4 KiB aligned, resource type < 8,
/// attributes ⊆ 0x07FFFFFF, no wrapping range, CPU reserved bytes zero, End length 8);
/// the next HOB at align8(HobLength) stays inside the buffer.
pub fn parse(bytes: &[u8], base: u64) -> Result<HobList<'_>, Error> {
    if bytes.len() < HANDOFF_LEN {
        return Err(Error::Truncated { offset: 0 });
    }
    let mut offset = 0usize;
    let mut handoff: Option<Handoff> = None;
    loop {
        let h = read_header(bytes, offset)?;
        match (offset, h.hob_type) {
            (0, HOB_TYPE_HANDOFF) => {}
            (0, hob_type) => return Err(Error::FirstNotHandoff { offset, hob_type }),
            (_, HOB_TYPE_HANDOFF) => return Err(Error::DuplicateHandoff { offset }),
            _ => {}
        }
        match decode(&h, offset)? {
            Some(Hob::Handoff(p)) => handoff = Some(p),
            Some(_) => {}
            None => {
                // Offset 0 is always the PHIT, so `handoff` is set by now.
                let phit = handoff.ok_or(Error::FirstNotHandoff {
                    offset,
                    hob_type: h.hob_type,
                })?;
                let list_len = offset
                    .checked_add(END_LEN)
                    .ok_or(Error::RangeWraps { offset })?;
                let expected = base
                    .checked_add(list_len as u64)
                    .ok_or(Error::RangeWraps { offset })?;
                if phit.end_of_hob_list != expected {
                    return Err(Error::EndMismatch {
                        offset,
                        expected,
                        found: phit.end_of_hob_list,
                    });
                }
                let list = bytes
                    .get(..list_len)
                    .ok_or(Error::LengthOverflow { offset })?;
                return Ok(HobList {
                    bytes: list,
                    handoff: phit,
                });
            }
        }
        let next = align8(h.hob.len())
            .and_then(|l| offset.checked_add(l))
            .ok_or(Error::LengthOverflow { offset })?;
        if next > bytes.len() {
            return Err(Error::LengthOverflow { offset });
        }
        offset = next;
    }
}

/// Walks a list that [`parse`] accepted. Stops at End (or, defensively, at anything that
/// would not decode).
struct Iter<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Iter<'a> {
    /// A HOB and its byte offset in the list.
    type Item = (usize, Hob<'a>);

    fn next(&mut self) -> Option<(usize, Hob<'a>)> {
        let at = self.offset;
        let h = read_header(self.bytes, at).ok()?;
        let hob = decode(&h, at).ok()??;
        self.offset = align8(h.hob.len())
            .and_then(|l| at.checked_add(l))
            .unwrap_or(usize::MAX);
        Some((at, hob))
    }
}

impl<'a> HobList<'a> {
    /// The measured bytes: [start, EfiEndOfHobList).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The PHIT.
    pub fn handoff(&self) -> Handoff {
        self.handoff
    }
    /// All HOBs in order (excluding End).
    pub fn iter(&self) -> impl Iterator<Item = Hob<'a>> + 'a {
        self.iter_with_offsets().map(|(_, h)| h)
    }
    /// All HOBs in order (excluding End), each with its byte offset in the list.
    pub fn iter_with_offsets(&self) -> impl Iterator<Item = (usize, Hob<'a>)> + 'a {
        Iter {
            bytes: self.bytes,
            offset: 0,
        }
    }
    /// Resource descriptors in order.
    pub fn resources(&self) -> impl Iterator<Item = Resource> + 'a {
        self.iter().filter_map(|h| match h {
            Hob::Resource(r) => Some(r),
            _ => None,
        })
    }
    /// Data of every GUID HOB named `name` (HobLength − 24 bytes, so including any padding
    /// the producer counted in HobLength).
    pub fn guid_data(&self, name: Guid) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter_map(move |h| match h {
            Hob::Guid { name: n, data } if n == name => Some(data),
            _ => None,
        })
    }
}

// --- TD HOB memory (hob.md §2.2, tdcall.md §5) ------------------------------------------------

/// GPA of the shared bit, bit GPAW − 1 (`tdcall.md` §5), for the two widths the TDX module
/// reports (48 and 52); `None` for any other value.
pub fn shared_bit(gpaw: u8) -> Option<u64> {
    match gpaw {
        48 => Some(1 << 47),
        52 => Some(1 << 51),
        _ => None,
    }
}

/// What a TD HOB's RAM is checked against: facts the firmware trusts (TDG.VP.INFO and its own
/// metadata), never the HOB itself.
#[derive(Clone, Copy, Debug)]
pub struct TdLimits<'a> {
    /// [`shared_bit`] of the TD's GPAW: RAM must lie below it (a GPA with the bit set is the
    /// shared alias of the private page without it).
    pub shared_bit: u64,
    /// The firmware image `[base, 4 GiB)`: no RAM may overlap it.
    pub image: (u64, u64),
    /// Sections the VMM adds as private (accepted) memory when it builds the TD (metadata
    /// TempMem, TD_HOB, Payload, PayloadParam), as `[start, end)`: no unaccepted RAM may
    /// overlap them (accepting them would zero the firmware's stack, heap or this HOB).
    pub added: &'a [(u64, u64)],
}

/// One RAM range of a TD HOB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdRam {
    pub start: u64,
    pub end: u64,
    /// Added (accepted) by the VMM; otherwise the firmware or the OS must accept it.
    pub accepted: bool,
    /// Byte offset of its resource descriptor in the list.
    pub offset: usize,
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The RAM a TD HOB that [`parse`] accepted describes, in list order, checked against
/// `limits`. Classification (`hob.md` §2.2): with at least one MEMORY_UNACCEPTED descriptor
/// (current VMMs), SYSTEM_MEMORY is accepted RAM and MEMORY_UNACCEPTED unaccepted RAM;
/// without one (early qemu-tdx), MEMORY_RESERVED is accepted RAM and SYSTEM_MEMORY
/// unaccepted. Other descriptors (MMIO, I/O, reserved) and empty ones are not RAM. Refused,
/// naming the descriptor: RAM holding a GPA at or above the shared bit (every byte of it must
/// have the bit clear: `end ≤ shared_bit`), RAM overlapping the firmware image, unaccepted RAM
/// overlapping a section the VMM adds at build time.
pub fn td_ram(list: &HobList<'_>, limits: &TdLimits<'_>) -> Result<Vec<TdRam>, Error> {
    let modern = list
        .resources()
        .any(|r| r.resource_type == RESOURCE_MEMORY_UNACCEPTED);
    let mut out = Vec::new();
    for (offset, hob) in list.iter_with_offsets() {
        let Hob::Resource(r) = hob else { continue };
        let accepted = match (r.resource_type, modern) {
            (RESOURCE_MEMORY_UNACCEPTED, true) | (RESOURCE_SYSTEM_MEMORY, false) => false,
            (RESOURCE_SYSTEM_MEMORY, true) | (RESOURCE_MEMORY_RESERVED, false) => true,
            _ => continue,
        };
        if r.length == 0 {
            continue;
        }
        let start = r.start;
        let end = start
            .checked_add(r.length)
            .ok_or(Error::RangeWraps { offset })?;
        if end > limits.shared_bit {
            return Err(Error::ReachesSharedBit {
                offset,
                start,
                end,
                shared_bit: limits.shared_bit,
            });
        }
        if overlaps((start, end), limits.image) {
            return Err(Error::OverlapsImage { offset, start, end });
        }
        if !accepted {
            if let Some(&(section, _)) = limits.added.iter().find(|&&a| overlaps((start, end), a)) {
                return Err(Error::UnacceptedOverAdded {
                    offset,
                    start,
                    end,
                    section,
                });
            }
        }
        out.push(TdRam {
            start,
            end,
            accepted,
            offset,
        });
    }
    Ok(out)
}

/// Builds a HOB list. `new` reserves the PHIT; `finish` fills it and appends End.
/// Every HOB it writes has an 8-byte-multiple HobLength.
#[derive(Debug)]
pub struct Builder {
    buf: Vec<u8>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(0x1000);
        buf.resize(HANDOFF_LEN, 0);
        Builder { buf }
    }
    pub fn resource(&mut self, r: &Resource) -> &mut Self {
        let raw = RawResource {
            header: RawHeader::new(HOB_TYPE_RESOURCE_DESCRIPTOR, RESOURCE_LEN as u16),
            owner: r.owner,
            resource_type: U32::new(r.resource_type),
            attributes: U32::new(r.attributes),
            start: U64::new(r.start),
            length: U64::new(r.length),
        };
        self.buf.extend_from_slice(raw.as_bytes());
        self
    }
    pub fn memory_allocation(
        &mut self,
        name: Guid,
        base: u64,
        length: u64,
        memory_type: u32,
    ) -> &mut Self {
        let raw = RawMemoryAllocation {
            header: RawHeader::new(HOB_TYPE_MEMORY_ALLOCATION, MEMORY_ALLOCATION_LEN as u16),
            name,
            base: U64::new(base),
            length: U64::new(length),
            memory_type: U32::new(memory_type),
            reserved: [0; 4],
        };
        self.buf.extend_from_slice(raw.as_bytes());
        self
    }
    pub fn cpu(&mut self, memory_space_bits: u8, io_space_bits: u8) -> &mut Self {
        let raw = RawCpu {
            header: RawHeader::new(HOB_TYPE_CPU, CPU_LEN as u16),
            memory_space_bits,
            io_space_bits,
            reserved: [0; 6],
        };
        self.buf.extend_from_slice(raw.as_bytes());
        self
    }
    pub fn fv(&mut self, base: u64, length: u64) -> &mut Self {
        let raw = RawFv {
            header: RawHeader::new(HOB_TYPE_FV, FV_LEN as u16),
            base: U64::new(base),
            length: U64::new(length),
        };
        self.buf.extend_from_slice(raw.as_bytes());
        self
    }
    /// Appends a GUID extension HOB, padding data to 8 bytes.
    ///
    /// # Panics
    /// If `data` is longer than [`MAX_GUID_DATA_LEN`] (HobLength is a u16); use
    /// [`Builder::try_guid`] for data of unchecked size.
    pub fn guid(&mut self, name: Guid, data: &[u8]) -> &mut Self {
        self.try_guid(name, data)
            .expect("GUID HOB data fits in a u16 HobLength")
    }
    /// Appends a GUID extension HOB, padding data to 8 bytes (HobLength counts the padding).
    pub fn try_guid(&mut self, name: Guid, data: &[u8]) -> Result<&mut Self, Error> {
        let too_large = Error::TooLarge { len: data.len() };
        if data.len() > MAX_GUID_DATA_LEN {
            return Err(too_large);
        }
        let padded = align8(data.len()).ok_or(too_large)?;
        let total = padded.checked_add(GUID_HOB_HEADER_LEN).ok_or(too_large)?;
        let total_u16 = u16::try_from(total).map_err(|_| too_large)?;
        let raw = RawGuidHeader {
            header: RawHeader::new(HOB_TYPE_GUID_EXTENSION, total_u16),
            name,
        };
        self.buf.extend_from_slice(raw.as_bytes());
        self.buf.extend_from_slice(data);
        let pad = padded.checked_sub(data.len()).ok_or(too_large)?;
        self.buf.resize(self.buf.len().saturating_add(pad), 0);
        Ok(self)
    }
    /// Finishes the list for placement at GPA `base`: PHIT version 9, boot mode 0,
    /// memory top/bottom as given (free top/bottom the same), EfiEndOfHobList = base + len.
    pub fn finish(self, base: u64, memory_bottom: u64, memory_top: u64) -> Vec<u8> {
        let mut buf = self.buf;
        buf.extend_from_slice(RawHeader::new(HOB_TYPE_END_OF_HOB_LIST, END_LEN as u16).as_bytes());
        // A list at a base within a few KiB of 2^64 is meaningless; wrapping keeps this total.
        let end = base.wrapping_add(buf.len() as u64);
        let phit = RawHandoff {
            header: RawHeader::new(HOB_TYPE_HANDOFF, HANDOFF_LEN as u16),
            version: U32::new(HANDOFF_VERSION),
            boot_mode: U32::new(0),
            memory_top: U64::new(memory_top),
            memory_bottom: U64::new(memory_bottom),
            free_memory_top: U64::new(memory_top),
            free_memory_bottom: U64::new(memory_bottom),
            end_of_hob_list: U64::new(end),
        };
        if let Some(slot) = buf.get_mut(..HANDOFF_LEN) {
            slot.copy_from_slice(phit.as_bytes());
        }
        buf
    }
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

    const BASE: u64 = 0x80_0000;
    const OWNER: Guid = Guid::ZERO;

    fn ram(start: u64, length: u64, resource_type: u32) -> Resource {
        Resource {
            owner: OWNER,
            resource_type,
            attributes: ATTR_PRESENT | ATTR_INITIALIZED | ATTR_TESTED,
            start,
            length,
        }
    }

    /// A QEMU-style TD HOB: PHIT, accepted RAM, unaccepted RAM, MMIO, payload info.
    fn td_hob() -> Vec<u8> {
        let mut b = Builder::new();
        b.resource(&ram(0, 0x80_0000, RESOURCE_SYSTEM_MEMORY))
            .resource(&ram(0x80_0000, 0x7F80_0000, RESOURCE_MEMORY_UNACCEPTED))
            .resource(&Resource {
                owner: OWNER,
                resource_type: RESOURCE_MEMORY_MAPPED_IO,
                attributes: 0x403,
                start: 0xFEC0_0000,
                length: 0x1000,
            })
            .guid(
                PAYLOAD_INFO_GUID,
                &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            );
        b.finish(BASE, 0, 0x8000_0000)
    }

    // Offsets of each HOB in td_hob(): PHIT 0, resources 56/104/152, GUID 200, End 240.
    const END_AT: usize = 240;

    #[test]
    fn guid_constants_byte_order() {
        // B96FA412-461F-4BE3-8C0D-AD805A497AC0, mixed-endian by hand.
        assert_eq!(
            PAYLOAD_INFO_GUID.to_bytes(),
            [
                0x12, 0xA4, 0x6F, 0xB9, 0x1F, 0x46, 0xE3, 0x4B, 0x8C, 0x0D, 0xAD, 0x80, 0x5A, 0x49,
                0x7A, 0xC0
            ]
        );
        // 6A0C5870-D4ED-44F4-A135-DD238B6F0C8D
        assert_eq!(
            ACPI_TABLE_GUID.to_bytes(),
            [
                0x70, 0x58, 0x0C, 0x6A, 0xED, 0xD4, 0xF4, 0x44, 0xA1, 0x35, 0xDD, 0x23, 0x8B, 0x6F,
                0x0C, 0x8D
            ]
        );
        // 8F8072EA-3486-4B47-86A7-2353B88A8773
        assert_eq!(
            E820_TABLE_GUID.to_bytes(),
            [
                0xEA, 0x72, 0x80, 0x8F, 0x86, 0x34, 0x47, 0x4B, 0x86, 0xA7, 0x23, 0x53, 0xB8, 0x8A,
                0x87, 0x73
            ]
        );
    }

    #[test]
    fn builder_bytes_by_hand() {
        let bytes = td_hob();
        assert_eq!(bytes.len(), END_AT + 8);
        // PHIT header: type 1, length 56, reserved 0.
        assert_eq!(&bytes[0..8], &[1, 0, 56, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[8..12], &[9, 0, 0, 0]); // version 9
        assert_eq!(&bytes[12..16], &[0, 0, 0, 0]); // boot mode 0
        assert_eq!(&bytes[16..24], &0x8000_0000u64.to_le_bytes()); // memory top
        assert_eq!(&bytes[24..32], &[0; 8]); // memory bottom
        assert_eq!(&bytes[32..40], &0x8000_0000u64.to_le_bytes()); // free top
        assert_eq!(&bytes[40..48], &[0; 8]); // free bottom
        assert_eq!(&bytes[48..56], &(BASE + 248).to_le_bytes()); // just past End
                                                                 // First resource header: type 3, length 48.
        assert_eq!(&bytes[56..64], &[3, 0, 48, 0, 0, 0, 0, 0]);
        // GUID HOB: type 4, length 24 + 16.
        assert_eq!(&bytes[200..208], &[4, 0, 40, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[208..224], &PAYLOAD_INFO_GUID.to_bytes());
        // End HOB.
        assert_eq!(&bytes[240..248], &[0xFF, 0xFF, 8, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn round_trip() {
        let bytes = td_hob();
        let list = parse(&bytes, BASE).unwrap();
        assert_eq!(list.as_bytes(), &bytes[..]);
        let h = list.handoff();
        assert_eq!(
            (h.version, h.boot_mode, h.memory_top, h.end_of_hob_list),
            (9, 0, 0x8000_0000, BASE + 248)
        );
        let res: Vec<_> = list.resources().collect();
        assert_eq!(res.len(), 3);
        assert_eq!(
            res[1],
            ram(0x80_0000, 0x7F80_0000, RESOURCE_MEMORY_UNACCEPTED)
        );
        let info: Vec<_> = list.guid_data(PAYLOAD_INFO_GUID).collect();
        assert_eq!(
            info,
            vec![&[1u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]]
        );
        assert_eq!(list.guid_data(ACPI_TABLE_GUID).count(), 0);
        assert_eq!(list.iter().count(), 5);
        assert!(matches!(list.iter().next(), Some(Hob::Handoff(_))));
    }

    #[test]
    fn payload_hob_shape_kept_types() {
        // hob.md §4 order: PHIT, CPU, FV, ACPI × n, E820, End. Plus a memory allocation.
        let mut b = Builder::new();
        b.cpu(36, 16)
            .fv(0xFF04_0000, 0x10_0000)
            .guid(ACPI_TABLE_GUID, b"APIC-ish table, 27 bytes!!")
            .guid(E820_TABLE_GUID, &[0; 60]);
        b.memory_allocation(Guid::from_fields(1, 2, 3, [4; 8]), 0x1000, 0x2000, 4);
        let bytes = b.finish(0x7FF0_0000, 0x1000, 0x7FFF_F000);
        let list = parse(&bytes, 0x7FF0_0000).unwrap();
        let hobs: Vec<_> = list.iter().collect();
        assert_eq!(hobs.len(), 6);
        assert_eq!(
            hobs[1],
            Hob::Cpu {
                memory_space_bits: 36,
                io_space_bits: 16
            }
        );
        assert_eq!(
            hobs[2],
            Hob::Fv {
                base: 0xFF04_0000,
                length: 0x10_0000
            }
        );
        // 26 data bytes padded to 32; HobLength covers the padding.
        let acpi: Vec<_> = list.guid_data(ACPI_TABLE_GUID).collect();
        assert_eq!(acpi[0].len(), 32);
        assert_eq!(&acpi[0][..26], b"APIC-ish table, 27 bytes!!");
        assert_eq!(&acpi[0][26..], &[0; 6]);
        // 60 bytes of E820 data padded to 64.
        assert_eq!(list.guid_data(E820_TABLE_GUID).next().unwrap().len(), 64);
        assert_eq!(
            hobs[5],
            Hob::MemoryAllocation {
                name: Guid::from_fields(1, 2, 3, [4; 8]),
                base: 0x1000,
                length: 0x2000,
                memory_type: 4
            }
        );
    }

    #[test]
    fn fv2_fv3_kept_as_other() {
        let mut bytes = td_hob();
        let end = bytes.split_off(END_AT);
        let mut fv2 = vec![0u8; 56];
        fv2[..4].copy_from_slice(&[9, 0, 56, 0]);
        let mut fv3 = vec![0u8; 64];
        fv3[..4].copy_from_slice(&[0x0C, 0, 64, 0]);
        bytes.extend_from_slice(&fv2);
        bytes.extend_from_slice(&fv3);
        bytes.extend_from_slice(&end);
        let new_end = BASE + bytes.len() as u64;
        bytes[48..56].copy_from_slice(&new_end.to_le_bytes());
        let list = parse(&bytes, BASE).unwrap();
        let others: Vec<_> = list
            .iter()
            .filter(|h| matches!(h, Hob::Other { .. }))
            .collect();
        assert_eq!(others.len(), 2);
        assert_eq!(
            others[0],
            Hob::Other {
                hob_type: 9,
                body: &[0; 48]
            }
        );
        assert_eq!(
            others[1],
            Hob::Other {
                hob_type: 0xC,
                body: &[0; 56]
            }
        );
    }

    #[test]
    fn trailing_garbage_allowed_and_excluded() {
        let mut bytes = td_hob();
        let len = bytes.len();
        bytes.extend_from_slice(&[0xAB; 100]);
        let list = parse(&bytes, BASE).unwrap();
        assert_eq!(list.as_bytes().len(), len);
    }

    #[test]
    fn every_prefix_refused() {
        let bytes = td_hob();
        for cut in 0..bytes.len() {
            let r = parse(&bytes[..cut], BASE);
            assert!(r.is_err(), "prefix {cut}");
        }
        assert_eq!(
            parse(&bytes[..55], BASE),
            Err(Error::Truncated { offset: 0 })
        );
        assert_eq!(
            parse(&bytes[..END_AT], BASE),
            Err(Error::MissingEnd { offset: END_AT })
        );
        assert_eq!(
            parse(&bytes[..END_AT + 4], BASE),
            Err(Error::Truncated { offset: END_AT })
        );
        assert_eq!(
            parse(&bytes[..100], BASE),
            Err(Error::LengthOverflow { offset: 56 })
        );
    }

    fn set_u16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn header_rules() {
        let good = td_hob();
        let mut b = good.clone();
        set_u16(&mut b, 104 + 2, 0);
        assert_eq!(parse(&b, BASE), Err(Error::ZeroLength { offset: 104 }));
        let mut b = good.clone();
        set_u16(&mut b, 104 + 2, 4);
        assert_eq!(
            parse(&b, BASE),
            Err(Error::BadLength {
                offset: 104,
                hob_type: 3,
                length: 4
            })
        );
        let mut b = good.clone();
        set_u16(&mut b, 104 + 2, 0xFFFF);
        assert_eq!(parse(&b, BASE), Err(Error::LengthOverflow { offset: 104 }));
        let mut b = good.clone();
        b[104 + 7] = 1;
        assert_eq!(parse(&b, BASE), Err(Error::ReservedNonZero { offset: 104 }));
        let mut b = good.clone();
        set_u16(&mut b, 104, 0x0007);
        assert_eq!(
            parse(&b, BASE),
            Err(Error::UnknownType {
                offset: 104,
                hob_type: 7
            })
        );
        let mut b = good.clone();
        set_u16(&mut b, 0, HOB_TYPE_RESOURCE_DESCRIPTOR);
        assert_eq!(
            parse(&b, BASE),
            Err(Error::FirstNotHandoff {
                offset: 0,
                hob_type: 3
            })
        );
        // A second PHIT (replace the first resource's header; length 56 would misalign the
        // walk, so check the refusal happens at the header).
        let mut b = good.clone();
        set_u16(&mut b, 56, HOB_TYPE_HANDOFF);
        assert_eq!(parse(&b, BASE), Err(Error::DuplicateHandoff { offset: 56 }));
        // The End slot holding another type of length 8: refused by that type's length rule.
        let mut b = good.clone();
        set_u16(&mut b, END_AT, HOB_TYPE_CPU);
        assert_eq!(
            parse(&b, BASE),
            Err(Error::BadLength {
                offset: END_AT,
                hob_type: 6,
                length: 8
            })
        );
    }

    #[test]
    fn handoff_rules() {
        let good = td_hob();
        let mut b = good.clone();
        b[16] = 0x10; // memory top 0x8000_0010
        assert_eq!(
            parse(&b, BASE),
            Err(Error::MisalignedMemoryTop { offset: 0 })
        );
        // EDK2 PEI convention: EfiEndOfHobList points *at* End.
        let mut b = good.clone();
        b[48..56].copy_from_slice(&(BASE + END_AT as u64).to_le_bytes());
        assert_eq!(
            parse(&b, BASE),
            Err(Error::EndMismatch {
                offset: END_AT,
                expected: BASE + 248,
                found: BASE + END_AT as u64
            })
        );
        // Wrong base.
        assert!(matches!(
            parse(&good, BASE + 0x1000),
            Err(Error::EndMismatch { .. })
        ));
        // base + length wraps.
        assert_eq!(
            parse(&good, u64::MAX - 8),
            Err(Error::RangeWraps { offset: END_AT })
        );
        // PHIT of the wrong length (64: walk would continue) is refused first.
        let mut b = good.clone();
        set_u16(&mut b, 2, 64);
        assert_eq!(
            parse(&b, BASE),
            Err(Error::BadLength {
                offset: 0,
                hob_type: 1,
                length: 64
            })
        );
    }

    #[test]
    fn resource_rules() {
        let good = td_hob();
        let at = 104; // second resource
        let mut b = good.clone();
        b[at + 24..at + 28].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(
            parse(&b, BASE),
            Err(Error::BadResourceType {
                offset: at,
                resource_type: 8
            })
        );
        let mut b = good.clone();
        b[at + 28..at + 32].copy_from_slice(&0x0800_0007u32.to_le_bytes());
        assert_eq!(
            parse(&b, BASE),
            Err(Error::BadAttributes {
                offset: at,
                attributes: 0x0800_0007
            })
        );
        let mut b = good.clone();
        b[at + 32..at + 40].copy_from_slice(&0xFFFF_FFFF_FFFF_F000u64.to_le_bytes());
        assert_eq!(parse(&b, BASE), Err(Error::RangeWraps { offset: at }));
        // Legacy qemu-tdx attribute 0x04000007 (ENCRYPTED) is within the mask.
        let mut b = good.clone();
        b[at + 28..at + 32].copy_from_slice(&0x0400_0007u32.to_le_bytes());
        parse(&b, BASE).unwrap();
        let mut b = good.clone();
        set_u16(&mut b, at + 2, 56);
        assert_eq!(
            parse(&b, BASE),
            Err(Error::BadLength {
                offset: at,
                hob_type: 3,
                length: 56
            })
        );
    }

    #[test]
    fn other_type_rules() {
        // Build lists with one extra HOB and corrupt it.
        let base = 0x1000;
        let list = |f: &dyn Fn(&mut Builder)| {
            let mut b = Builder::new();
            f(&mut b);
            b.finish(base, 0, 0x10_0000)
        };
        let mut cpu = list(&|b| {
            b.cpu(48, 16);
        });
        cpu[56 + 10] = 1;
        assert_eq!(
            parse(&cpu, base),
            Err(Error::ReservedNonZero { offset: 56 })
        );
        let mut fv = list(&|b| {
            b.fv(u64::MAX, 2);
        });
        assert_eq!(parse(&fv, base), Err(Error::RangeWraps { offset: 56 }));
        set_u16(&mut fv, 56 + 2, 32);
        assert!(matches!(
            parse(&fv, base),
            Err(Error::BadLength {
                offset: 56,
                hob_type: 5,
                length: 32
            })
        ));
        let ma = list(&|b| {
            b.memory_allocation(Guid::ZERO, 1, u64::MAX, 0);
        });
        assert_eq!(parse(&ma, base), Err(Error::RangeWraps { offset: 56 }));
        let mut g = list(&|b| {
            b.guid(ACPI_TABLE_GUID, &[]);
        });
        set_u16(&mut g, 56 + 2, 16); // shorter than header + GUID
        assert!(matches!(
            parse(&g, base),
            Err(Error::BadLength {
                offset: 56,
                hob_type: 4,
                length: 16
            })
        ));
        let mut e = list(&|_| {});
        set_u16(&mut e, 56 + 2, 16);
        assert!(matches!(
            parse(&e, base),
            Err(Error::LengthOverflow { offset: 56 })
        ));
        e.extend_from_slice(&[0; 8]);
        assert!(matches!(
            parse(&e, base),
            Err(Error::BadLength {
                offset: 56,
                hob_type: 0xFFFF,
                length: 16
            })
        ));
    }

    #[test]
    fn unaligned_guid_length_walks_to_align8() {
        // A GUID HOB whose HobLength (27) is not a multiple of 8: data is 3 bytes, next HOB
        // at 56 + 32.
        let mut b = vec![0u8; 56];
        b.extend_from_slice(&[4, 0, 27, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&ACPI_TABLE_GUID.to_bytes());
        b.extend_from_slice(&[1, 2, 3, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0xFF, 0xFF, 8, 0, 0, 0, 0, 0]);
        let phit = RawHandoff {
            header: RawHeader::new(1, 56),
            version: U32::new(9),
            boot_mode: U32::new(0),
            memory_top: U64::new(0),
            memory_bottom: U64::new(0),
            free_memory_top: U64::new(0),
            free_memory_bottom: U64::new(0),
            end_of_hob_list: U64::new(0x5000 + 96),
        };
        b[..56].copy_from_slice(phit.as_bytes());
        let list = parse(&b, 0x5000).unwrap();
        assert_eq!(list.guid_data(ACPI_TABLE_GUID).next().unwrap(), &[1, 2, 3]);
        // Same, but the buffer ends before the aligned next offset.
        assert_eq!(
            parse(&b[..56 + 27], 0x5000),
            Err(Error::LengthOverflow { offset: 56 })
        );
    }

    #[test]
    fn builder_guid_limits() {
        let mut b = Builder::new();
        assert!(b
            .try_guid(ACPI_TABLE_GUID, &vec![0; MAX_GUID_DATA_LEN])
            .is_ok());
        assert_eq!(
            b.try_guid(ACPI_TABLE_GUID, &vec![0; MAX_GUID_DATA_LEN + 1])
                .err(),
            Some(Error::TooLarge {
                len: MAX_GUID_DATA_LEN + 1
            })
        );
        let bytes = b.finish(0, 0, 0);
        let list = parse(&bytes, 0).unwrap();
        assert_eq!(
            list.guid_data(ACPI_TABLE_GUID).next().unwrap().len(),
            MAX_GUID_DATA_LEN
        );
        assert_eq!(Builder::default().finish(0, 0, 0).len(), 64);
    }

    // --- td_ram -------------------------------------------------------------------------

    /// GPAW 48: bit 47 (hand-computed: 2^47 = 0x8000_0000_0000).
    const SHARED_48: u64 = 0x8000_0000_0000;
    /// Image and VMM-added sections of a 1.375 MiB image with the layout's early regions.
    const IMAGE: (u64, u64) = (0xFFEA_0000, 0x1_0000_0000);
    const ADDED: [(u64, u64); 2] = [(0x10_0000, 0x34_1000), (0x80_0000, 0x82_0000)];

    fn limits() -> TdLimits<'static> {
        TdLimits {
            shared_bit: SHARED_48,
            image: IMAGE,
            added: &ADDED,
        }
    }

    /// A TD HOB with these resource descriptors (at offsets 56, 104, 152, …).
    fn hob_of(res: &[Resource]) -> Vec<u8> {
        let mut b = Builder::new();
        for r in res {
            b.resource(r);
        }
        b.finish(BASE, 0, 0)
    }

    fn td_ram_of(res: &[Resource], l: &TdLimits<'_>) -> Result<Vec<(u64, u64, bool)>, Error> {
        let bytes = hob_of(res);
        let list = parse(&bytes, BASE).unwrap();
        td_ram(&list, l).map(|v| v.iter().map(|r| (r.start, r.end, r.accepted)).collect())
    }

    #[test]
    fn shared_bit_of_each_gpaw() {
        assert_eq!(shared_bit(48), Some(0x0000_8000_0000_0000));
        assert_eq!(shared_bit(52), Some(0x0008_0000_0000_0000));
        for bad in [0, 1, 47, 49, 51, 53, 64, 255] {
            assert_eq!(shared_bit(bad), None, "gpaw {bad}");
        }
    }

    #[test]
    fn td_ram_classifies_current_and_legacy_conventions() {
        // Current: type 0 accepted, type 7 unaccepted, MMIO skipped, empty skipped.
        let current = [
            ram(0, 0x80_0000, RESOURCE_SYSTEM_MEMORY),
            ram(0x82_0000, 0x7F7E_0000, RESOURCE_MEMORY_UNACCEPTED),
            ram(0xFEC0_0000, 0x1000, RESOURCE_MEMORY_MAPPED_IO),
            ram(0x1_0000_0000, 0, RESOURCE_MEMORY_UNACCEPTED),
            ram(0x1_0000_0000, 0x4000_0000, RESOURCE_MEMORY_RESERVED),
        ];
        let mut l = limits();
        l.added = &ADDED[..1];
        assert_eq!(
            td_ram_of(&current, &l).unwrap(),
            [(0, 0x80_0000, true), (0x82_0000, 0x8000_0000, false)]
        );
        // Legacy (no type 7): type 5 accepted, type 0 unaccepted.
        let legacy = [
            ram(0x10_0000, 0x24_1000, RESOURCE_MEMORY_RESERVED),
            ram(0x34_1000, 0x4CB_F000, RESOURCE_SYSTEM_MEMORY),
        ];
        assert_eq!(
            td_ram_of(&legacy, &l).unwrap(),
            [(0x10_0000, 0x34_1000, true), (0x34_1000, 0x500_0000, false)]
        );
        // The offsets name the descriptors.
        let bytes = hob_of(&current);
        let list = parse(&bytes, BASE).unwrap();
        let offsets: Vec<usize> = td_ram(&list, &l)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, [56, 104]);
    }

    #[test]
    fn td_ram_refuses_ram_at_the_shared_bit() {
        // Ends exactly at 2^47: every byte has bit 47 clear.
        let top = [ram(
            SHARED_48 - 0x20_0000,
            0x20_0000,
            RESOURCE_MEMORY_UNACCEPTED,
        )];
        assert_eq!(
            td_ram_of(&top, &limits()).unwrap(),
            [(0x7FFF_FFE0_0000, 0x8000_0000_0000, false)]
        );
        // One page more crosses it; the second descriptor (offset 104) is named.
        let crossing = [
            ram(0, 0x80_0000, RESOURCE_SYSTEM_MEMORY),
            ram(SHARED_48 - 0x20_0000, 0x20_1000, RESOURCE_MEMORY_UNACCEPTED),
        ];
        assert_eq!(
            td_ram_of(&crossing, &limits()),
            Err(Error::ReachesSharedBit {
                offset: 104,
                start: 0x7FFF_FFE0_0000,
                end: 0x8000_0000_1000,
                shared_bit: SHARED_48
            })
        );
        // Starting at the bit (the shared alias of page 0), accepted or not.
        for t in [RESOURCE_SYSTEM_MEMORY, RESOURCE_MEMORY_UNACCEPTED] {
            let alias = [
                ram(0x82_0000, 0x1000, RESOURCE_MEMORY_UNACCEPTED),
                ram(SHARED_48, 0x1000, t),
            ];
            assert!(matches!(
                td_ram_of(&alias, &limits()),
                Err(Error::ReachesSharedBit { offset: 104, .. })
            ));
        }
        // The same range is fine with GPAW 52 (bit 51).
        let mut l = limits();
        l.shared_bit = shared_bit(52).unwrap();
        assert!(td_ram_of(&crossing, &l).is_ok());
        // MMIO up there is not RAM: not checked.
        let mmio = [
            ram(0x82_0000, 0x1000, RESOURCE_MEMORY_UNACCEPTED),
            ram(SHARED_48, 0x1000, RESOURCE_MEMORY_MAPPED_IO),
        ];
        assert!(td_ram_of(&mmio, &limits()).is_ok());
    }

    #[test]
    fn td_ram_refuses_ram_over_the_image() {
        // Up to the image base: fine.
        let below = [ram(
            0xC000_0000,
            IMAGE.0 - 0xC000_0000,
            RESOURCE_SYSTEM_MEMORY,
        )];
        assert!(td_ram_of(&below, &limits()).is_ok());
        // The reset-vector page as RAM, accepted or not.
        for t in [RESOURCE_SYSTEM_MEMORY, RESOURCE_MEMORY_UNACCEPTED] {
            let over = [ram(0xFFFF_F000, 0x1000, t)];
            assert_eq!(
                td_ram_of(&over, &limits()),
                Err(Error::OverlapsImage {
                    offset: 56,
                    start: 0xFFFF_F000,
                    end: 0x1_0000_0000
                })
            );
        }
        // RAM running from below 4 GiB through the image to above it.
        let through = [ram(0x8000_0000, 0x1_0000_0000, RESOURCE_MEMORY_UNACCEPTED)];
        assert!(matches!(
            td_ram_of(&through, &limits()),
            Err(Error::OverlapsImage { offset: 56, .. })
        ));
    }

    #[test]
    fn td_ram_refuses_unaccepted_ram_where_the_vmm_adds_pages() {
        // The TD_HOB section [8 MiB, +128 KiB) described as unaccepted.
        let res = [
            ram(0x10_0000, 0x24_1000, RESOURCE_SYSTEM_MEMORY),
            ram(0x34_1000, 0x4BF_000, RESOURCE_MEMORY_UNACCEPTED),
            ram(0x80_0000, 0x2_0000, RESOURCE_MEMORY_UNACCEPTED),
        ];
        assert_eq!(
            td_ram_of(&res, &limits()),
            Err(Error::UnacceptedOverAdded {
                offset: 152,
                start: 0x80_0000,
                end: 0x82_0000,
                section: 0x80_0000
            })
        );
        // One page of the temporary memory inside a large unaccepted range.
        let res = [ram(0, 0x10_1000, RESOURCE_MEMORY_UNACCEPTED)];
        assert!(matches!(
            td_ram_of(&res, &limits()),
            Err(Error::UnacceptedOverAdded {
                offset: 56,
                section: 0x10_0000,
                ..
            })
        ));
        // Accepted there, unaccepted right up to and right after each section: fine.
        let res = [
            ram(0, 0x10_0000, RESOURCE_MEMORY_UNACCEPTED),
            ram(0x10_0000, 0x24_1000, RESOURCE_SYSTEM_MEMORY),
            ram(0x34_1000, 0x4BF_000, RESOURCE_MEMORY_UNACCEPTED),
            ram(0x80_0000, 0x2_0000, RESOURCE_SYSTEM_MEMORY),
            ram(0x82_0000, 0x1000, RESOURCE_MEMORY_UNACCEPTED),
        ];
        assert_eq!(td_ram_of(&res, &limits()).unwrap().len(), 5);
        // Legacy convention: type 0 is the unaccepted kind there.
        let res = [ram(0x80_0000, 0x2_0000, RESOURCE_SYSTEM_MEMORY)];
        assert!(matches!(
            td_ram_of(&res, &limits()),
            Err(Error::UnacceptedOverAdded { offset: 56, .. })
        ));
    }

    #[test]
    fn td_ram_refusals_name_the_hob() {
        for e in [
            Error::ReachesSharedBit {
                offset: 0x68,
                start: 1,
                end: 2,
                shared_bit: 3,
            },
            Error::OverlapsImage {
                offset: 0x68,
                start: 1,
                end: 2,
            },
            Error::UnacceptedOverAdded {
                offset: 0x68,
                start: 1,
                end: 2,
                section: 3,
            },
        ] {
            let text = alloc::format!("{e}");
            assert!(text.starts_with("hob at 0x68: "), "{text}");
        }
    }
}
