// SPDX-License-Identifier: BSD-2-Clause-Patent
//! EFI GUIDs in their on-disk (mixed-endian) byte order (`../shared/spec/README.md`,
//! "Conventions"): the first three fields little-endian, the last eight bytes as written.
//! Pure data; no trust decisions here.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use core::fmt;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// A GUID as stored in firmware structures.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(transparent)]
pub struct Guid([u8; 16]);

/// Why a GUID string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not of the form `AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE`.
    Syntax,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GUID must look like AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE")
    }
}

impl Guid {
    /// The all-zero GUID.
    pub const ZERO: Guid = Guid([0; 16]);

    /// Builds a GUID from its registry-form fields, e.g.
    /// `E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE` → `from_fields(0xE9EAF9F3, 0x168E, 0x44D5,
    /// [0xA8, 0xEB, 0x7F, 0x4D, 0x87, 0x38, 0xF6, 0xAE])`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// Wraps 16 on-disk bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Guid(bytes)
    }

    /// The 16 on-disk bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// Parses the registry form (`AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE`, any hex case).
    pub fn parse_str(s: &str) -> Result<Self, Error> {
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(Error::Syntax);
        }
        // 32 hex digits around dashes at 8, 13, 18 and 23 (36 bytes, checked above).
        let mut digits = b.iter().enumerate().filter_map(|(i, &c)| match i {
            8 | 13 | 18 | 23 => (c != b'-').then_some(Err(Error::Syntax)),
            _ => Some(hex_val(c)),
        });
        let mut hex = [0u8; 16];
        for out in hex.iter_mut() {
            let hi = digits.next().ok_or(Error::Syntax)??;
            let lo = digits.next().ok_or(Error::Syntax)??;
            *out = (hi << 4) | lo;
        }
        let d1 = u32::from_be_bytes([hex[0], hex[1], hex[2], hex[3]]);
        let d2 = u16::from_be_bytes([hex[4], hex[5]]);
        let d3 = u16::from_be_bytes([hex[6], hex[7]]);
        let d4 = [
            hex[8], hex[9], hex[10], hex[11], hex[12], hex[13], hex[14], hex[15],
        ];
        Ok(Self::from_fields(d1, d2, d3, d4))
    }
}

fn hex_val(c: u8) -> Result<u8, Error> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
        .ok_or(Error::Syntax)
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
            b[8],
            b[9],
            b[10],
            b[11],
            b[12],
            b[13],
            b[14],
            b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn spec_example_byte_order() {
        // ../shared/spec/README.md: E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE →
        // F3 F9 EA E9 8E 16 D5 44 A8 EB 7F 4D 87 38 F6 AE
        let g = Guid::parse_str("E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE").unwrap();
        assert_eq!(
            g.to_bytes(),
            [
                0xF3, 0xF9, 0xEA, 0xE9, 0x8E, 0x16, 0xD5, 0x44, 0xA8, 0xEB, 0x7F, 0x4D, 0x87, 0x38,
                0xF6, 0xAE
            ]
        );
        assert_eq!(g.to_string(), "E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE");
        let f = Guid::from_fields(
            0xE9EAF9F3,
            0x168E,
            0x44D5,
            [0xA8, 0xEB, 0x7F, 0x4D, 0x87, 0x38, 0xF6, 0xAE],
        );
        assert_eq!(f, g);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "E9EAF9F3-168E-44D5-A8EB-7F4D8738F6A",
            "E9EAF9F3x168E-44D5-A8EB-7F4D8738F6AE",
            "G9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE",
            "E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AEE",
        ] {
            assert_eq!(Guid::parse_str(s), Err(Error::Syntax), "{s}");
        }
    }
}
