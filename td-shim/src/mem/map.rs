// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The one memory map. Built from an untrusted source (QEMU's fw_cfg `etc/e820`, or TD HOB
//! resource descriptors), validated (no wrap, no overlap), then used to place the firmware's
//! runtime regions (top-down below 4 GiB) and to produce the E820 table and the payload HOB
//! resources. Pure: no `arch`, no `platform`.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::format::e820;
use alloc::vec::Vec;
use core::fmt;

const PAGE: u64 = 0x1000;

/// What a range of physical address space is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free RAM.
    Ram,
    /// RAM not yet accepted (TD only).
    Unaccepted,
    /// Reserved by the VMM (or the legacy hole): never used, reported as reserved.
    Reserved,
    /// Owned by the firmware or handed over for a purpose.
    Used(Usage),
}

/// Why the firmware took a range (decides its E820 type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// Early firmware memory (shim, temporary stack/heap, mailbox, TD HOB).
    Firmware,
    /// Page tables handed to the payload.
    PageTables,
    /// The payload HOB (and later ACPI tables).
    Tables,
    /// The loaded payload image.
    Payload,
    /// The payload's stack and its guard page.
    PayloadStack,
    /// A Linux kernel's load area ([load, load + init_size)): RAM to the kernel.
    Kernel,
    /// An initrd: RAM to the kernel, which reserves it itself.
    Initrd,
    /// ACPI tables.
    Acpi,
    /// The mailbox (and loop code) where a TD's APs wait for the OS: ACPI NVS.
    Mailbox,
    /// The CC event log area (published by the ACPI CCEL table): ACPI NVS.
    EventLog,
}

impl Kind {
    /// E820 type reported for this kind.
    pub fn e820_type(self) -> u32 {
        match self {
            Kind::Ram => e820::E820_RAM,
            Kind::Unaccepted => e820::E820_UNACCEPTED,
            Kind::Reserved => e820::E820_RESERVED,
            Kind::Used(Usage::Tables | Usage::Acpi) => e820::E820_ACPI,
            Kind::Used(Usage::Kernel | Usage::Initrd) => e820::E820_RAM,
            Kind::Used(Usage::Mailbox | Usage::EventLog) => e820::E820_NVS,
            Kind::Used(_) => e820::E820_RESERVED,
        }
    }
}

/// One range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub kind: Kind,
}

/// Why a map could not be built or a range not placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A source range wraps around the address space.
    Wraps { start: u64, size: u64 },
    /// Two source ranges overlap.
    Overlap { start: u64, end: u64 },
    /// No RAM at all.
    NoRam,
    /// A range to reserve is not entirely free RAM.
    NotFree { start: u64, end: u64 },
    /// No free RAM range can hold the request.
    OutOfMemory { size: u64, limit: u64 },
    /// Bad request (zero size, alignment not a power of two, wraps).
    BadRequest { size: u64, align: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Wraps { start, size } => {
                write!(f, "memory range {start:#x}+{size:#x} wraps around")
            }
            Error::Overlap { start, end } => {
                write!(f, "memory ranges overlap in [{start:#x}, {end:#x})")
            }
            Error::NoRam => f.write_str("the memory map has no ram"),
            Error::NotFree { start, end } => write!(f, "[{start:#x}, {end:#x}) is not free ram"),
            Error::OutOfMemory { size, limit } => {
                write!(f, "no free ram for {size:#x} bytes below {limit:#x}")
            }
            Error::BadRequest { size, align } => write!(
                f,
                "bad allocation request: size {size:#x}, align {align:#x}"
            ),
        }
    }
}

/// A sorted list of disjoint regions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryMap {
    regions: Vec<Region>,
}

impl MemoryMap {
    /// Builds the map from E820 entries (fw_cfg `etc/e820`): type 1 → RAM, every other
    /// type → reserved; zero-sized entries ignored. RAM is trimmed to whole pages. Wrapping or
    /// overlapping entries are refused (the VMM is not trusted to send a sane table).
    pub fn from_e820(entries: &[e820::Entry]) -> Result<Self, Error> {
        let mut regions = Vec::new();
        for e in entries {
            if e.size == 0 {
                continue;
            }
            let end = e.addr.checked_add(e.size).ok_or(Error::Wraps {
                start: e.addr,
                size: e.size,
            })?;
            let kind = if e.kind == e820::E820_RAM {
                Kind::Ram
            } else {
                Kind::Reserved
            };
            regions.push(Region {
                start: e.addr,
                end,
                kind,
            });
        }
        Self::from_regions(regions)
    }

    /// Builds the map from arbitrary regions (checks overlap, sorts, trims RAM to pages,
    /// merges neighbours of the same kind).
    pub fn from_regions(mut regions: Vec<Region>) -> Result<Self, Error> {
        regions.sort_by_key(|r| (r.start, r.end));
        let mut prev_end = 0u64;
        let mut first = true;
        for r in &regions {
            if !first && r.start < prev_end {
                return Err(Error::Overlap {
                    start: r.start,
                    end: prev_end.min(r.end),
                });
            }
            prev_end = r.end;
            first = false;
        }
        let mut out: Vec<Region> = Vec::new();
        for mut r in regions {
            if matches!(r.kind, Kind::Ram | Kind::Unaccepted) {
                r.start = align_up(r.start, PAGE).unwrap_or(u64::MAX);
                r.end = align_down(r.end, PAGE);
                if r.end <= r.start {
                    continue;
                }
            }
            push_merged(&mut out, r);
        }
        if !out.iter().any(|r| r.kind == Kind::Ram) {
            return Err(Error::NoRam);
        }
        Ok(MemoryMap { regions: out })
    }

    /// All regions in address order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Ranges of usable (accepted) RAM, whatever it is used for: everything but `Reserved`
    /// and `Unaccepted`.
    pub fn ram_ranges(&self) -> Vec<(u64, u64)> {
        self.ranges_where(|k| !matches!(k, Kind::Reserved | Kind::Unaccepted))
    }

    /// Ranges of RAM not accepted yet (TD lazy accept).
    pub fn unaccepted_ranges(&self) -> Vec<(u64, u64)> {
        self.ranges_where(|k| k == Kind::Unaccepted)
    }

    fn ranges_where(&self, keep: impl Fn(Kind) -> bool) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for r in self.regions.iter().filter(|r| keep(r.kind)) {
            match out.last_mut() {
                Some(last) if last.1 == r.start => last.1 = r.end,
                _ => out.push((r.start, r.end)),
            }
        }
        out
    }

    /// Free RAM ranges `(start, end)` in address order.
    pub fn free_ranges(&self) -> Vec<(u64, u64)> {
        self.regions
            .iter()
            .filter(|r| r.kind == Kind::Ram)
            .map(|r| (r.start, r.end))
            .collect()
    }

    /// Highest end address of any RAM, accepted or not.
    pub fn ram_end(&self) -> u64 {
        self.ranges_where(|k| k != Kind::Reserved)
            .last()
            .map(|r| r.1)
            .unwrap_or(0)
    }

    /// Marks `[start, end)` (page aligned) as `kind`. Every byte of it must currently be free
    /// RAM; the `Reserved` kind may also be laid over ranges the map does not know (holes),
    /// which is how fixed hardware windows are kept out.
    pub fn reserve(&mut self, start: u64, end: u64, kind: Kind) -> Result<(), Error> {
        if end <= start {
            return Err(Error::NotFree { start, end });
        }
        if kind != Kind::Reserved && !self.is_free(start, end) {
            return Err(Error::NotFree { start, end });
        }
        let mut out = Vec::with_capacity(self.regions.len().saturating_add(2));
        for r in &self.regions {
            if r.end <= start || r.start >= end {
                out.push(*r);
                continue;
            }
            if r.start < start {
                out.push(Region {
                    start: r.start,
                    end: start,
                    kind: r.kind,
                });
            }
            if r.end > end {
                out.push(Region {
                    start: end,
                    end: r.end,
                    kind: r.kind,
                });
            }
        }
        out.push(Region { start, end, kind });
        out.sort_by_key(|r| r.start);
        let mut merged = Vec::with_capacity(out.len());
        for r in out {
            push_merged(&mut merged, r);
        }
        self.regions = merged;
        Ok(())
    }

    /// Whether all of `[start, end)` is free RAM.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        let mut cursor = start;
        for r in &self.regions {
            if r.end <= cursor || r.kind != Kind::Ram {
                continue;
            }
            if r.start > cursor {
                return false;
            }
            cursor = r.end;
            if cursor >= end {
                return true;
            }
        }
        cursor >= end
    }

    /// Takes `size` bytes (rounded up to pages) of free RAM aligned to `align`, as high as
    /// possible with the end at or below `limit`, and marks it used for `usage`.
    pub fn allocate(
        &mut self,
        size: u64,
        align: u64,
        limit: u64,
        usage: Usage,
    ) -> Result<u64, Error> {
        let bad = Error::BadRequest { size, align };
        if size == 0 || !align.is_power_of_two() {
            return Err(bad);
        }
        let size = align_up(size, PAGE).ok_or(bad)?;
        let align = align.max(PAGE);
        let mut found = None;
        for r in self.regions.iter().rev() {
            if r.kind != Kind::Ram {
                continue;
            }
            let top = r.end.min(limit);
            let Some(candidate) = top.checked_sub(size) else {
                continue;
            };
            let start = align_down(candidate, align);
            if start >= r.start && start.checked_add(size).is_some_and(|e| e <= top) {
                found = Some(start);
                break;
            }
        }
        let start = found.ok_or(Error::OutOfMemory { size, limit })?;
        let end = start.checked_add(size).ok_or(bad)?;
        self.reserve(start, end, Kind::Used(usage))?;
        Ok(start)
    }

    /// Turns the parts of `[start, end)` that are of kind `from` into `to` (e.g. a range of
    /// unaccepted RAM once accepted).
    pub fn retype_range(&mut self, start: u64, end: u64, from: Kind, to: Kind) {
        let mut out: Vec<Region> = Vec::with_capacity(self.regions.len().saturating_add(2));
        for r in &self.regions {
            if r.kind != from || r.end <= start || r.start >= end {
                out.push(*r);
                continue;
            }
            let (a, b) = (r.start.max(start), r.end.min(end));
            if r.start < a {
                out.push(Region {
                    start: r.start,
                    end: a,
                    kind: r.kind,
                });
            }
            out.push(Region {
                start: a,
                end: b,
                kind: to,
            });
            if b < r.end {
                out.push(Region {
                    start: b,
                    end: r.end,
                    kind: r.kind,
                });
            }
        }
        let mut merged = Vec::with_capacity(out.len());
        for r in out {
            push_merged(&mut merged, r);
        }
        self.regions = merged;
    }

    /// Turns every region of kind `from` into `to` (e.g. unaccepted RAM once accepted).
    pub fn retype(&mut self, from: Kind, to: Kind) {
        let mut merged = Vec::with_capacity(self.regions.len());
        for mut r in self.regions.drain(..) {
            if r.kind == from {
                r.kind = to;
            }
            push_merged(&mut merged, r);
        }
        self.regions = merged;
    }

    /// The E820 view: one entry per region, neighbours of the same E820 type merged.
    pub fn to_e820(&self) -> Vec<e820::Entry> {
        let mut out: Vec<e820::Entry> = Vec::new();
        for r in &self.regions {
            let kind = r.kind.e820_type();
            let size = r.end.saturating_sub(r.start);
            match out.last_mut() {
                Some(last)
                    if last.kind == kind && last.addr.checked_add(last.size) == Some(r.start) =>
                {
                    last.size = last.size.saturating_add(size)
                }
                _ => out.push(e820::Entry {
                    addr: r.start,
                    size,
                    kind,
                }),
            }
        }
        out
    }
}

fn push_merged(out: &mut Vec<Region>, r: Region) {
    if let Some(last) = out.last_mut() {
        if last.kind == r.kind && last.end == r.start {
            last.end = r.end;
            return;
        }
    }
    out.push(r);
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    let mask = a.checked_sub(1)?;
    v.checked_add(mask).map(|x| x & !mask)
}

fn align_down(v: u64, a: u64) -> u64 {
    v & !a.wrapping_sub(1)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::format::e820::Entry;

    const G: u64 = 1 << 30;

    fn q35_6g() -> MemoryMap {
        MemoryMap::from_e820(&[
            Entry {
                addr: 0,
                size: 2 * G,
                kind: 1,
            },
            Entry {
                addr: 0xFEFF_C000,
                size: 0x4000,
                kind: 2,
            },
            Entry {
                addr: 4 * G,
                size: 4 * G,
                kind: 1,
            },
        ])
        .unwrap()
    }

    #[test]
    fn builds_and_reports_ram() {
        let m = q35_6g();
        assert_eq!(m.ram_ranges(), [(0, 2 * G), (4 * G, 8 * G)]);
        assert_eq!(m.ram_end(), 8 * G);
    }

    #[test]
    fn refuses_overlap_wrap_and_empty() {
        let e = |addr, size, kind| Entry { addr, size, kind };
        assert_eq!(
            MemoryMap::from_e820(&[e(0, 0x2000, 1), e(0x1000, 0x2000, 1)]),
            Err(Error::Overlap {
                start: 0x1000,
                end: 0x2000
            })
        );
        assert_eq!(
            MemoryMap::from_e820(&[e(u64::MAX - 10, 0x1000, 1)]),
            Err(Error::Wraps {
                start: u64::MAX - 10,
                size: 0x1000
            })
        );
        assert_eq!(
            MemoryMap::from_e820(&[e(0xA0000, 0x1000, 2)]),
            Err(Error::NoRam)
        );
        assert_eq!(MemoryMap::from_e820(&[]), Err(Error::NoRam));
        // RAM smaller than a page after trimming disappears
        assert_eq!(
            MemoryMap::from_e820(&[e(0x10, 0xFF0, 1)]),
            Err(Error::NoRam)
        );
    }

    #[test]
    fn allocates_top_down_below_limit() {
        let mut m = q35_6g();
        let a = m.allocate(0x3000, 0x1000, 4 * G, Usage::Tables).unwrap();
        assert_eq!(a, 2 * G - 0x3000);
        let b = m
            .allocate(0x1000, 0x20_0000, 4 * G, Usage::PageTables)
            .unwrap();
        assert_eq!(b, 2 * G - 0x20_0000);
        assert!(!m.is_free(a, a + 0x3000));
        assert!(m.is_free(0x10_0000, 0x20_0000));
        let e = m.to_e820();
        assert!(e.contains(&Entry {
            addr: a,
            size: 0x3000,
            kind: e820::E820_ACPI
        }));
        assert!(e.contains(&Entry {
            addr: b,
            size: 0x1000,
            kind: e820::E820_RESERVED
        }));
        // Free RAM between b+0x1000 and a stays RAM.
        assert!(e.contains(&Entry {
            addr: b + 0x1000,
            size: a - b - 0x1000,
            kind: 1
        }));
    }

    #[test]
    fn reserve_checks_freeness() {
        let mut m = q35_6g();
        m.reserve(0x10_0000, 0x20_0000, Kind::Used(Usage::Firmware))
            .unwrap();
        assert_eq!(
            m.reserve(0x1F_F000, 0x20_1000, Kind::Used(Usage::Payload)),
            Err(Error::NotFree {
                start: 0x1F_F000,
                end: 0x20_1000
            })
        );
        // spanning the hole between 2G and 4G is not free
        assert!(!m.is_free(2 * G - 0x1000, 4 * G + 0x1000));
        // the Reserved kind can cover holes
        m.reserve(0xA0000, 0x10_0000, Kind::Reserved).unwrap();
        assert!(!m.is_free(0xA0000, 0xA1000));
    }

    #[test]
    fn out_of_memory_and_bad_requests() {
        let mut m = MemoryMap::from_e820(&[Entry {
            addr: 0,
            size: 0x10_0000,
            kind: 1,
        }])
        .unwrap();
        assert_eq!(
            m.allocate(0x20_0000, 0x1000, 4 * G, Usage::Payload),
            Err(Error::OutOfMemory {
                size: 0x20_0000,
                limit: 4 * G
            })
        );
        assert!(matches!(
            m.allocate(0, 0x1000, 4 * G, Usage::Payload),
            Err(Error::BadRequest { .. })
        ));
        assert!(matches!(
            m.allocate(0x1000, 3, 4 * G, Usage::Payload),
            Err(Error::BadRequest { .. })
        ));
        assert!(matches!(
            m.allocate(u64::MAX, 0x1000, 4 * G, Usage::Payload),
            Err(Error::BadRequest { .. })
        ));
    }

    #[test]
    fn retype_range_splits_and_merges() {
        let mut m = MemoryMap::from_regions(alloc::vec![
            Region {
                start: 0,
                end: 0x10_0000,
                kind: Kind::Ram
            },
            Region {
                start: 0x10_0000,
                end: 0x100_0000,
                kind: Kind::Unaccepted
            },
        ])
        .unwrap();
        m.retype_range(0x10_0000, 0x40_0000, Kind::Unaccepted, Kind::Ram);
        assert_eq!(m.ram_ranges(), [(0, 0x40_0000)]);
        assert_eq!(m.unaccepted_ranges(), [(0x40_0000, 0x100_0000)]);
        assert_eq!(m.ram_end(), 0x100_0000);
        // Only regions of the `from` kind change.
        m.retype_range(0, 0x20_0000, Kind::Unaccepted, Kind::Reserved);
        assert_eq!(m.ram_ranges(), [(0, 0x40_0000)]);
    }
}
