// SPDX-License-Identifier: BSD-2-Clause-Patent
//! RAM as the payload HOB describes it (`../shared/spec/hob.md` §4): the SYSTEM_MEMORY
//! resource descriptors. The list was validated by `hob::parse`, so every range is free of
//! wrap-around; sums still saturate rather than trust that.

use td_shim::format::hob::{HobList, RESOURCE_SYSTEM_MEMORY};

/// RAM totals over the SYSTEM_MEMORY resource descriptors of a HOB list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RamSummary {
    /// Sum of the descriptor lengths, in bytes.
    pub total_size: u64,
    /// Number of SYSTEM_MEMORY descriptors.
    pub ranges: usize,
    /// Highest `start + length` of any of them (0 when there are none).
    pub highest_end: u64,
}

/// Sums the SYSTEM_MEMORY resource descriptors of `hob`. Other resource types (MMIO, reserved,
/// unaccepted memory) are not counted.
pub fn ram_summary(hob: &HobList<'_>) -> RamSummary {
    resource_summary(hob, RESOURCE_SYSTEM_MEMORY)
}

/// Sums the MEMORY_UNACCEPTED resource descriptors of `hob`: RAM a TD's firmware left for the
/// payload to accept (lazy accept).
pub fn unaccepted_summary(hob: &HobList<'_>) -> RamSummary {
    resource_summary(hob, td_shim::format::hob::RESOURCE_MEMORY_UNACCEPTED)
}

/// Sums the resource descriptors of type `resource_type`.
fn resource_summary(hob: &HobList<'_>, resource_type: u32) -> RamSummary {
    hob.resources()
        .filter(|r| r.resource_type == resource_type)
        .fold(RamSummary::default(), |acc, r| RamSummary {
            total_size: acc.total_size.saturating_add(r.length),
            ranges: acc.ranges.saturating_add(1),
            highest_end: acc.highest_end.max(r.start.saturating_add(r.length)),
        })
}

/// Total bytes of SYSTEM_MEMORY in `hob`.
pub fn ram_size(hob: &HobList<'_>) -> u64 {
    ram_summary(hob).total_size
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use td_shim::format::guid::Guid;
    use td_shim::format::hob::{
        self, Builder, Resource, RESOURCE_MEMORY_MAPPED_IO, RESOURCE_MEMORY_RESERVED,
        RESOURCE_MEMORY_UNACCEPTED,
    };

    const BASE: u64 = 0x7f00_0000;

    fn res(resource_type: u32, start: u64, length: u64) -> Resource {
        Resource {
            owner: Guid::ZERO,
            resource_type,
            attributes: 0x7,
            start,
            length,
        }
    }

    fn list(resources: &[Resource]) -> Vec<u8> {
        let mut b = Builder::new();
        b.cpu(46, 16);
        for r in resources {
            b.resource(r);
        }
        b.finish(BASE, 0, 0x2_4000_0000)
    }

    #[test]
    fn counts_only_system_memory() {
        // q35 with 6 GiB: [0, 2 GiB) and [4 GiB, 8 GiB) of RAM, plus MMIO, reserved and
        // unaccepted ranges that must not count.
        let bytes = list(&[
            res(RESOURCE_SYSTEM_MEMORY, 0, 0x8000_0000),
            res(RESOURCE_MEMORY_MAPPED_IO, 0xb000_0000, 0x1000_0000),
            res(RESOURCE_SYSTEM_MEMORY, 0x1_0000_0000, 0x1_0000_0000),
            res(RESOURCE_MEMORY_RESERVED, 0x7000_0000, 0x1000),
            res(RESOURCE_MEMORY_UNACCEPTED, 0x2_0000_0000, 0x4000_0000),
        ]);
        let hob = hob::parse(&bytes, BASE).unwrap();
        let s = ram_summary(&hob);
        assert_eq!(
            s,
            RamSummary {
                total_size: 6 << 30,
                ranges: 2,
                highest_end: 0x2_0000_0000
            }
        );
        assert_eq!(ram_size(&hob), 6 << 30);
    }

    #[test]
    fn no_memory_is_zero() {
        let bytes = list(&[res(RESOURCE_MEMORY_MAPPED_IO, 0xfec0_0000, 0x1000)]);
        let hob = hob::parse(&bytes, BASE).unwrap();
        assert_eq!(ram_summary(&hob), RamSummary::default());
    }

    #[test]
    fn huge_ranges_saturate_instead_of_overflowing() {
        // Two ranges each of 2^63 bytes sum to 2^64, one more than u64 holds.
        let half = 1u64 << 63;
        let bytes = list(&[
            res(RESOURCE_SYSTEM_MEMORY, 0, half),
            res(RESOURCE_SYSTEM_MEMORY, half - 0x1000, half),
        ]);
        let hob = hob::parse(&bytes, BASE).unwrap();
        let s = ram_summary(&hob);
        assert_eq!(s.total_size, u64::MAX);
        assert_eq!(s.highest_end, half - 0x1000 + half);
        assert_eq!(s.ranges, 2);
    }
}
