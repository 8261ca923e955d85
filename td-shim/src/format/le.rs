// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Little-endian integers at a byte offset of an untrusted buffer: `None` when the value
//! does not lie wholly inside it. Shared by the parsers that read fields by offset.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::FromBytes;

/// The u16 at `at`.
pub fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    U16::read_from_prefix(bytes.get(at..)?)
        .ok()
        .map(|(v, _)| v.get())
}

/// The u32 at `at`.
pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    U32::read_from_prefix(bytes.get(at..)?)
        .ok()
        .map(|(v, _)| v.get())
}

/// The u64 at `at`.
pub fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    U64::read_from_prefix(bytes.get(at..)?)
        .ok()
        .map(|(v, _)| v.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_and_refuses_what_runs_past_the_end() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(u16_at(&b, 0), Some(0x0201));
        assert_eq!(u32_at(&b, 5), Some(0x0908_0706));
        assert_eq!(u64_at(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(u16_at(&b, 8), None);
        assert_eq!(u32_at(&b, 6), None);
        assert_eq!(u64_at(&b, 2), None);
        assert_eq!(u64_at(&b, usize::MAX), None);
    }
}
