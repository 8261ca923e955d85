// SPDX-License-Identifier: BSD-2-Clause-Patent
//! What the firmware hands a payload (`../shared/spec/hob.md` §4–5): the payload HOB's GPA and
//! the load base, turned into a [`BootInfo`]. The HOB bytes are untrusted; they are bounded by
//! the PHIT's EfiEndOfHobList and then validated by [`td_shim::format::hob::parse`].
//! [`hob_from_addr`] is the one place where a physical address becomes a slice.

use core::fmt;
use td_shim::format::hob::{self, HobList};

/// Size of a PHIT (Handoff Info Table) HOB, the first HOB of every list (`hob.md` §1).
pub const PHIT_SIZE: usize = 56;
/// Offset of EfiEndOfHobList inside the PHIT.
const PHIT_END_OF_HOB_LIST_OFFSET: usize = 48;
/// Smallest list: a PHIT followed by an 8-byte End HOB.
const MIN_HOB_LIST_SIZE: u64 = PHIT_SIZE as u64 + 8;
/// Largest payload HOB accepted. The firmware builds it inside its 1 MiB ACPI region
/// (`../shared/spec/image-layout.md` §7); 4 MiB leaves room without letting a corrupt PHIT make
/// us read gigabytes.
pub const MAX_HOB_SIZE: u64 = 4 << 20;

/// Why the payload HOB was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The HOB address is 0.
    NullAddress,
    /// The HOB address is not 8-byte aligned (every HOB is, `hob.md` §1).
    Misaligned { addr: u64 },
    /// The first HOB is not a 56-byte PHIT.
    NotHandoff { hob_type: u16, length: u16 },
    /// EfiEndOfHobList leaves no room for PHIT + End, or the range wraps around.
    BadEnd { addr: u64, end: u64 },
    /// EfiEndOfHobList − address exceeds [`MAX_HOB_SIZE`].
    TooLarge { size: u64 },
    /// The list itself is malformed.
    Parse(hob::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NullAddress => f.write_str("payload hob address is 0"),
            Error::Misaligned { addr } => {
                write!(f, "payload hob at {addr:#x} is not 8-byte aligned")
            }
            Error::NotHandoff { hob_type, length } => write!(
                f,
                "first hob is type {hob_type:#x} length {length}, not a {PHIT_SIZE}-byte phit"
            ),
            Error::BadEnd { addr, end } => {
                write!(
                    f,
                    "phit end of hob list {end:#x} does not fit a list at {addr:#x}"
                )
            }
            Error::TooLarge { size } => {
                write!(f, "hob list of {size:#x} bytes exceeds {MAX_HOB_SIZE:#x}")
            }
            Error::Parse(e) => write!(f, "invalid hob list: {e}"),
        }
    }
}

impl From<hob::Error> for Error {
    fn from(e: hob::Error) -> Self {
        Error::Parse(e)
    }
}

/// Everything the firmware passed to the payload entry point.
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    hob_addr: u64,
    load_base: u64,
    hob: Result<HobList<'static>, Error>,
}

impl BootInfo {
    /// Reads and validates the payload HOB at `hob_addr`.
    ///
    /// # Safety
    ///
    /// The same as [`hob_from_addr`]: `hob_addr` must be the GPA the firmware passed in RDI,
    /// with the entry contract of the crate docs in force.
    pub unsafe fn from_entry(hob_addr: u64, load_base: u64) -> Self {
        // SAFETY: forwarded from this function's own contract.
        let hob = unsafe { hob_from_addr(hob_addr) };
        BootInfo {
            hob_addr,
            load_base,
            hob,
        }
    }

    /// GPA of the payload HOB (RDI at entry).
    pub fn hob_addr(&self) -> u64 {
        self.hob_addr
    }

    /// Where the firmware loaded the payload (RSI at entry).
    pub fn load_base(&self) -> u64 {
        self.load_base
    }

    /// The validated payload HOB, or why it was refused.
    pub fn hob(&self) -> Result<HobList<'static>, Error> {
        self.hob
    }
}

/// Turns the payload HOB's GPA into a validated list. It reads the 56-byte PHIT first, takes
/// the list length from its EfiEndOfHobList (bounded by [`MAX_HOB_SIZE`]), and only then
/// views and parses the whole list.
///
/// # Safety
///
/// - `addr` must be readable through the identity mapping (the firmware guarantees this for
///   the HOB it passes); 56 bytes at `addr` must be readable even if the list is bogus.
/// - If the PHIT is well formed, the range [`addr`, EfiEndOfHobList) must be readable and not
///   written by anyone for the rest of the program (the returned list borrows it for
///   `'static`). The firmware puts the HOB in memory reserved for the payload's use.
pub unsafe fn hob_from_addr(addr: u64) -> Result<HobList<'static>, Error> {
    if addr == 0 {
        return Err(Error::NullAddress);
    }
    if !addr.is_multiple_of(8) {
        return Err(Error::Misaligned { addr });
    }
    // SAFETY: the caller guarantees 56 readable bytes at `addr`.
    let phit = unsafe { phys_slice(addr, PHIT_SIZE) };
    let size = list_size(addr, phit)?;
    let size = usize::try_from(size).map_err(|_| Error::TooLarge { size })?;
    // SAFETY: `list_size` checked that the PHIT is well formed and that [addr, addr + size)
    // does not wrap and is at most MAX_HOB_SIZE; the caller guarantees that this range,
    // [addr, EfiEndOfHobList), is readable and stays unchanged.
    let bytes = unsafe { phys_slice(addr, size) };
    Ok(hob::parse(bytes, addr)?)
}

/// Checks the PHIT at the head of a list at GPA `addr` and returns the list's length in bytes
/// (EfiEndOfHobList − `addr`). `phit` holds at least the first 56 bytes.
fn list_size(addr: u64, phit: &[u8]) -> Result<u64, Error> {
    let field = |off: usize, len: usize| phit.get(off..off.saturating_add(len)).unwrap_or(&[]);
    let u16_at = |off| {
        field(off, 2)
            .try_into()
            .map(u16::from_le_bytes)
            .unwrap_or(0)
    };
    let hob_type = u16_at(0);
    let length = u16_at(2);
    if hob_type != hob::HOB_TYPE_HANDOFF || usize::from(length) != PHIT_SIZE {
        return Err(Error::NotHandoff { hob_type, length });
    }
    let end = field(PHIT_END_OF_HOB_LIST_OFFSET, 8)
        .try_into()
        .map(u64::from_le_bytes)
        .map_err(|_| Error::NotHandoff { hob_type, length })?;
    let size = end.checked_sub(addr).ok_or(Error::BadEnd { addr, end })?;
    if size < MIN_HOB_LIST_SIZE {
        return Err(Error::BadEnd { addr, end });
    }
    if size > MAX_HOB_SIZE {
        return Err(Error::TooLarge { size });
    }
    Ok(size)
}

/// Views `len` bytes of identity-mapped memory at GPA `addr`.
///
/// # Safety
///
/// [`addr`, `addr + len`) must be readable, must not wrap, and must not be written for the rest
/// of the program.
unsafe fn phys_slice(addr: u64, len: usize) -> &'static [u8] {
    let ptr = core::ptr::with_exposed_provenance::<u8>(addr as usize);
    // SAFETY: the caller guarantees the range is readable and immutable for 'static; u8 has
    // no alignment or validity requirements.
    unsafe { core::slice::from_raw_parts(ptr, len) }
}

/// Runtime start-up used by [`crate::entry!`]: sets up the heap, parses the HOB, calls `main`.
///
/// # Safety
///
/// Must be called once, from the payload entry point, with the firmware's arguments (see
/// [`hob_from_addr`]).
#[doc(hidden)]
pub unsafe fn start(hob_addr: u64, load_base: u64, main: fn(&BootInfo) -> !) -> ! {
    // SAFETY: this is the one call from the entry point, before anything allocates.
    unsafe { crate::heap::init() };
    // SAFETY: forwarded from this function's contract.
    let info = unsafe { BootInfo::from_entry(hob_addr, load_base) };
    main(&info)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use td_shim::format::guid::Guid;
    use td_shim::format::hob::{Builder, Resource, RESOURCE_SYSTEM_MEMORY};

    /// Places `make(addr)` in an 8-byte-aligned buffer at `addr`; returns the buffer (keep it
    /// alive while the address is used) and the address.
    fn place(len: usize, make: impl FnOnce(u64) -> Vec<u8>) -> (Vec<u64>, u64) {
        let mut words = vec![0u64; len.div_ceil(8)];
        let addr = words.as_mut_ptr().expose_provenance() as u64;
        let bytes = make(addr);
        assert_eq!(bytes.len(), len);
        for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        (words, addr)
    }

    /// A hand-written PHIT (`hob.md` §1 table) with the given type, length and end.
    fn phit(hob_type: u16, length: u16, end: u64) -> Vec<u8> {
        let mut b = vec![0u8; PHIT_SIZE];
        b[0..2].copy_from_slice(&hob_type.to_le_bytes());
        b[2..4].copy_from_slice(&length.to_le_bytes());
        b[8..12].copy_from_slice(&9u32.to_le_bytes());
        b[48..56].copy_from_slice(&end.to_le_bytes());
        b
    }

    #[test]
    fn refuses_null_and_misaligned() {
        // SAFETY: both are refused before any memory is read.
        assert_eq!(unsafe { hob_from_addr(0) }.unwrap_err(), Error::NullAddress);
        // SAFETY: as above.
        let e = unsafe { hob_from_addr(0x1004) }.unwrap_err();
        assert_eq!(e, Error::Misaligned { addr: 0x1004 });
    }

    #[test]
    fn refuses_first_hob_that_is_not_a_phit() {
        for (t, l) in [(3u16, 56u16), (1, 48), (1, 64), (0xffff, 8)] {
            let (_keep, addr) = place(PHIT_SIZE, |a| phit(t, l, a + 0x100));
            // SAFETY: `_keep` holds 56 readable bytes at `addr`; refused before reading more.
            let e = unsafe { hob_from_addr(addr) }.unwrap_err();
            assert_eq!(
                e,
                Error::NotHandoff {
                    hob_type: t,
                    length: l
                }
            );
        }
    }

    #[test]
    fn refuses_end_that_wraps_or_leaves_no_room_for_end_hob() {
        // 0 lies below the start; +0, +56 and +63 leave less than PHIT (56) + End (8) bytes.
        for delta in [None, Some(0u64), Some(56), Some(63)] {
            let mut end = 0;
            let (_keep, addr) = place(PHIT_SIZE, |a| {
                end = delta.map_or(0, |d| a + d);
                phit(1, 56, end)
            });
            // SAFETY: 56 readable bytes; the end is refused before the rest would be read.
            let e = unsafe { hob_from_addr(addr) }.unwrap_err();
            assert_eq!(e, Error::BadEnd { addr, end }, "delta {delta:?}");
        }
    }

    #[test]
    fn refuses_oversized_list() {
        let (_keep, addr) = place(PHIT_SIZE, |a| phit(1, 56, a + MAX_HOB_SIZE + 8));
        // SAFETY: 56 readable bytes; the size is refused before the rest would be read.
        let e = unsafe { hob_from_addr(addr) }.unwrap_err();
        assert_eq!(
            e,
            Error::TooLarge {
                size: MAX_HOB_SIZE + 8
            }
        );
    }

    #[test]
    fn reads_only_up_to_end_of_hob_list_then_parses() {
        // A PHIT whose end claims 64 bytes, followed by an End HOB: the minimal list
        // (hob.md §1: End = type 0xFFFF, length 8). Bytes after it must not be part of it.
        let (_keep, addr) = place(PHIT_SIZE + 16, |a| {
            let mut b = phit(1, 56, a + 64);
            b.extend_from_slice(&[0xff, 0xff, 8, 0, 0, 0, 0, 0]);
            b.extend_from_slice(&[0xaa; 8]);
            b
        });
        // SAFETY: `_keep` holds the 72 bytes at `addr` and outlives the list.
        let list = unsafe { hob_from_addr(addr) }.unwrap();
        assert_eq!(list.as_bytes().len(), 64);
        assert_eq!(list.handoff().end_of_hob_list, addr + 64);
        assert_eq!(list.iter().count(), 1, "only the PHIT precedes End");
    }

    #[test]
    fn boot_info_reads_a_list_built_for_its_address() {
        let res = Resource {
            owner: Guid::ZERO,
            resource_type: RESOURCE_SYSTEM_MEMORY,
            attributes: 0x7,
            start: 0,
            length: 0x8000_0000,
        };
        let build = |base| {
            let mut b = Builder::new();
            b.resource(&res);
            b.finish(base, 0, 0x8000_0000)
        };
        // PHIT 56 + resource 48 + End 8 (hob.md §1).
        let len = 56 + 48 + 8;
        let (_keep, addr) = place(len, build);
        // SAFETY: `_keep` holds the whole list at `addr` and outlives every use below.
        let info = unsafe { BootInfo::from_entry(addr, 0x20_0000) };
        let list = info.hob().unwrap();
        assert_eq!(list.as_bytes().len(), len);
        assert_eq!(list.handoff().end_of_hob_list, addr + len as u64);
        assert_eq!(list.resources().collect::<Vec<_>>(), vec![res]);
        assert_eq!(info.hob_addr(), addr);
        assert_eq!(info.load_base(), 0x20_0000);
    }

    #[test]
    fn boot_info_keeps_the_parse_error() {
        // A well-bounded list whose second HOB has a zero length (hob.md §2.1 rule 1).
        let (_keep, addr) = place(PHIT_SIZE + 16, |a| {
            let mut b = phit(1, 56, a + 72);
            b.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
            b.extend_from_slice(&[0xff, 0xff, 8, 0, 0, 0, 0, 0]);
            b
        });
        // SAFETY: `_keep` holds the 72 bytes at `addr`.
        let info = unsafe { BootInfo::from_entry(addr, 0) };
        assert!(matches!(info.hob(), Err(Error::Parse(_))));
    }
}
