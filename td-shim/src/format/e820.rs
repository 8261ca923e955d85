// SPDX-License-Identifier: BSD-2-Clause-Patent
//! E820 entries (`../shared/spec/linux-boot.md` §4): the 20-byte `{addr u64, size u64,
//! type u32}` record used by boot_params, by QEMU's fw_cfg `etc/e820` file and by the E820
//! GUID HOB (`../shared/spec/hob.md` §3.3). Parsing input is untrusted (fw_cfg comes from
//! the VMM; the HOB copy comes from the firmware but a payload should not trust it blindly).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use alloc::vec::Vec;
use core::fmt;
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_ACPI: u32 = 3;
pub const E820_NVS: u32 = 4;
pub const E820_UNUSABLE: u32 = 5;
pub const E820_UNACCEPTED: u32 = 8;
/// Size of one packed entry.
pub const ENTRY_SIZE: usize = 20;
/// Longest all-zero tail accepted after the last whole entry: the E820 GUID HOB pads its
/// data to a multiple of 8 bytes (`hob.md` §3.3), which leaves 0 or 4 zero bytes.
const MAX_ZERO_PAD: usize = 7;

/// One entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

impl Entry {
    /// Exclusive end address, `None` if `addr + size` does not fit in 64 bits.
    pub fn end(&self) -> Option<u64> {
        self.addr.checked_add(self.size)
    }
}

/// The packed wire record.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawEntry {
    addr: U64,
    size: U64,
    kind: U32,
}

const _: () = assert!(core::mem::size_of::<RawEntry>() == ENTRY_SIZE);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Byte length is not a multiple of 20 (after allowing up to 7 trailing zero pad bytes).
    Length { len: usize },
    /// Entry `index` has `addr + size` beyond 2^64 (its end is not representable).
    Wraps { index: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Length { len } => write!(
                f,
                "e820 table of {len} bytes is not a whole number of 20-byte entries"
            ),
            Error::Wraps { index } => {
                write!(f, "e820 entry {index}: address + size wraps past 2^64")
            }
        }
    }
}

/// Decodes packed entries. The length must be a multiple of 20, except that a tail of fewer
/// than 8 bytes is accepted when it is all zero (the GUID HOB's 8-byte padding). Trailing
/// all-zero entries are dropped. Refuses an entry whose `addr + size` overflows 64 bits.
/// Does not check overlaps (the memory map does).
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, Error> {
    let (raw, tail) = <[RawEntry]>::ref_from_prefix_with_elems(bytes, bytes.len() / ENTRY_SIZE)
        .map_err(|_| Error::Length { len: bytes.len() })?;
    if tail.len() > MAX_ZERO_PAD || tail.iter().any(|&b| b != 0) {
        return Err(Error::Length { len: bytes.len() });
    }
    let mut entries = Vec::with_capacity(raw.len());
    for (index, r) in raw.iter().enumerate() {
        let e = Entry {
            addr: r.addr.get(),
            size: r.size.get(),
            kind: r.kind.get(),
        };
        if e.end().is_none() {
            return Err(Error::Wraps { index });
        }
        entries.push(e);
    }
    while entries
        .last()
        .is_some_and(|e| e.addr == 0 && e.size == 0 && e.kind == 0)
    {
        entries.pop();
    }
    Ok(entries)
}

/// Encodes entries packed (20 bytes each, no padding).
pub fn build(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len().saturating_mul(ENTRY_SIZE));
    for e in entries {
        let r = RawEntry {
            addr: U64::new(e.addr),
            size: U64::new(e.size),
            kind: U32::new(e.kind),
        };
        out.extend_from_slice(r.as_bytes());
    }
    out
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

    #[test]
    fn build_layout_is_packed_little_endian() {
        let bytes = build(&[Entry {
            addr: 0x1122_3344_5566_7788,
            size: 0x1000,
            kind: E820_ACPI,
        }]);
        let mut expected = vec![0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11];
        expected.extend_from_slice(&[0x00, 0x10, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[3, 0, 0, 0]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn round_trip() {
        let entries = vec![
            Entry {
                addr: 0,
                size: 0xA0000,
                kind: E820_RAM,
            },
            Entry {
                addr: 0x10_0000,
                size: 0x7FF0_0000,
                kind: E820_RAM,
            },
            Entry {
                addr: 0xB000_0000,
                size: 0x1000_0000,
                kind: E820_RESERVED,
            },
            Entry {
                addr: 0x1_0000_0000,
                size: 0x4000_0000,
                kind: E820_UNACCEPTED,
            },
        ];
        let bytes = build(&entries);
        assert_eq!(bytes.len(), 4 * 20);
        assert_eq!(parse(&bytes).unwrap(), entries);
        assert_eq!(parse(&[]).unwrap(), vec![]);
    }

    #[test]
    fn trailing_zero_entry_and_hob_padding_dropped() {
        let e = Entry {
            addr: 0x1000,
            size: 0x2000,
            kind: E820_RAM,
        };
        let mut bytes = build(&[e]);
        bytes.extend_from_slice(&[0; 20]);
        assert_eq!(parse(&bytes).unwrap(), vec![e]);
        // Three entries = 60 bytes, padded to 64 in a GUID HOB.
        let three = [e, e, e];
        let mut padded = build(&three);
        padded.extend_from_slice(&[0; 4]);
        assert_eq!(parse(&padded).unwrap(), three.to_vec());
        // A zero entry in the middle is kept (only trailing ones are padding).
        let zero = Entry {
            addr: 0,
            size: 0,
            kind: 0,
        };
        let mid = build(&[zero, e]);
        assert_eq!(parse(&mid).unwrap(), vec![zero, e]);
    }

    #[test]
    fn bad_lengths_refused() {
        // Low address byte non-zero, so no prefix looks like all-zero HOB padding.
        let bytes = build(&[Entry {
            addr: 0x1234_5678,
            size: 0x2000,
            kind: E820_RAM,
        }]);
        for cut in 1..bytes.len() {
            assert_eq!(
                parse(&bytes[..cut]),
                Err(Error::Length { len: cut }),
                "cut {cut}"
            );
        }
        // Non-zero padding is not padding.
        let mut b = bytes.clone();
        b.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(parse(&b), Err(Error::Length { len: 24 }));
        // Eight or more stray zero bytes are not HOB padding either.
        let mut b = bytes;
        b.extend_from_slice(&[0; 8]);
        assert_eq!(parse(&b), Err(Error::Length { len: 28 }));
    }

    #[test]
    fn wrap_refused() {
        let ok = Entry {
            addr: 0,
            size: 0x1000,
            kind: E820_RAM,
        };
        let top = Entry {
            addr: u64::MAX - 0xFFF,
            size: 0xFFF,
            kind: E820_RESERVED,
        };
        assert_eq!(parse(&build(&[ok, top])).unwrap(), vec![ok, top]);
        let wraps = Entry {
            addr: u64::MAX - 0xFFF,
            size: 0x1001,
            kind: E820_RAM,
        };
        assert_eq!(parse(&build(&[ok, wraps])), Err(Error::Wraps { index: 1 }));
        let huge = Entry {
            addr: 1,
            size: u64::MAX,
            kind: E820_RAM,
        };
        assert_eq!(parse(&build(&[huge])), Err(Error::Wraps { index: 0 }));
    }
}
