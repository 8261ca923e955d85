// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Identity-mapping 4-level page tables (Intel SDM vol. 3, 4.5), built into a buffer whose
//! physical address is known, with per-range access rights: read-only or writable, executable
//! or no-execute (bit 63, honoured once EFER.NXE is set), or not mapped at all (guard pages).
//! 2 MiB pages wherever a 2 MiB-aligned chunk lies inside one range; a chunk is split into
//! 4 KiB pages only where a range boundary falls inside it. Later ranges override earlier
//! ones, so a caller maps a default first and then the exceptions. Pure: the caller supplies
//! the buffer and loads CR3 (`arch`); every input is trusted (firmware policy), but errors are
//! returned, never panicked on.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use core::fmt;

/// Present.
pub const PTE_P: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// Accessed.
pub const PTE_A: u64 = 1 << 5;
/// Dirty.
pub const PTE_D: u64 = 1 << 6;
/// Large page (2 MiB in a page directory).
pub const PTE_PS: u64 = 1 << 7;
/// No-execute (needs EFER.NXE; reserved otherwise).
pub const PTE_NX: u64 = 1 << 63;
/// Physical-address bits of an entry.
pub const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

const PAGE: u64 = 0x1000;
const SIZE_2M: u64 = 0x20_0000;
const SIZE_1G: u64 = 0x4000_0000;
const SIZE_512G: u64 = 0x80_0000_0000;
/// Highest mapped end we support (4-level paging: 256 TiB, we stop at 64 TiB).
pub const MAX_END: u64 = 0x4000_0000_0000;

/// What a mapped page allows besides reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub write: bool,
    pub exec: bool,
}

impl Access {
    /// Read-only, no-execute (constants).
    pub const R: Access = Access {
        write: false,
        exec: false,
    };
    /// Read-write, no-execute (data, stacks, heap, MMIO).
    pub const RW: Access = Access {
        write: true,
        exec: false,
    };
    /// Read-only, executable (code).
    pub const RX: Access = Access {
        write: false,
        exec: true,
    };
    /// Everything (what a payload that asks for it, or a Linux kernel's load area, gets).
    pub const RWX: Access = Access {
        write: true,
        exec: true,
    };

    /// Everything either allows (for a page two ranges share).
    pub fn union(self, other: Access) -> Access {
        Access {
            write: self.write || other.write,
            exec: self.exec || other.exec,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.write, self.exec) {
            (false, false) => "r--",
            (true, false) => "rw-",
            (false, true) => "r-x",
            (true, true) => "rwx",
        })
    }
}

/// Why tables could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer has no page left.
    OutOfPages { needed: u64 },
    /// Address beyond what we map.
    TooHigh { addr: u64 },
    /// The buffer is not whole pages, or its base is not page aligned.
    BadBuffer,
    /// The address to unmap is not mapped by these tables.
    NotMapped { addr: u64 },
    /// A range boundary that is not 4 KiB aligned, or an empty/reversed range.
    BadRange { start: u64, end: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OutOfPages { needed } => {
                write!(f, "page-table buffer too small ({needed} pages needed)")
            }
            Error::TooHigh { addr } => write!(f, "address {addr:#x} beyond the mappable range"),
            Error::BadBuffer => f.write_str("page-table buffer not page aligned"),
            Error::NotMapped { addr } => write!(f, "address {addr:#x} is not mapped"),
            Error::BadRange { start, end } => {
                write!(f, "bad page range [{start:#x}, {end:#x})")
            }
        }
    }
}

/// Pages needed to identity-map `[0, end)` with 2 MiB pages plus `splits` 2 MiB pages split
/// into 4 KiB pages (each split costs one page table).
pub fn pages_needed(end: u64, splits: u64) -> u64 {
    let end = end.clamp(SIZE_1G, MAX_END);
    let pdpts = end.div_ceil(SIZE_512G);
    let pds = end.div_ceil(SIZE_1G);
    1u64.saturating_add(pdpts)
        .saturating_add(pds)
        .saturating_add(splits)
}

fn index(addr: u64, level_shift: u32) -> u64 {
    (addr >> level_shift) & 0x1FF
}

/// Page tables under construction in `mem`, which lives at physical address `base`.
pub struct Tables<'a> {
    mem: &'a mut [u8],
    base: u64,
    used: u64,
    nx: bool,
}

impl<'a> Tables<'a> {
    /// Starts with an empty PML4 in the first page of `mem` (which is zeroed). No-execute
    /// bits are not written until [`Tables::enable_nx`].
    pub fn new(mem: &'a mut [u8], base: u64) -> Result<Self, Error> {
        if !base.is_multiple_of(PAGE) || !(mem.len() as u64).is_multiple_of(PAGE) || mem.is_empty()
        {
            return Err(Error::BadBuffer);
        }
        mem.fill(0);
        Ok(Tables {
            mem,
            base,
            used: 1,
            nx: false,
        })
    }

    /// From now on, ranges mapped without `exec` get the no-execute bit. Only for tables that
    /// are loaded on CPUs with EFER.NXE set (the bit is reserved otherwise: #PF on every
    /// access).
    pub fn enable_nx(&mut self) {
        self.nx = true;
    }

    /// Whether no-execute bits are written.
    pub fn nx(&self) -> bool {
        self.nx
    }

    /// Physical address of the PML4 (the CR3 value).
    pub fn root(&self) -> u64 {
        self.base
    }

    /// Pages used so far.
    pub fn used_pages(&self) -> u64 {
        self.used
    }

    fn entry_offset(&self, table: u64, index: u64) -> Result<usize, Error> {
        let off = table
            .checked_sub(self.base)
            .and_then(|o| o.checked_add(index.checked_mul(8)?))
            .ok_or(Error::BadBuffer)?;
        usize::try_from(off).map_err(|_| Error::BadBuffer)
    }

    fn read(&self, table: u64, index: u64) -> Result<u64, Error> {
        let off = self.entry_offset(table, index)?;
        let b = self
            .mem
            .get(off..off.checked_add(8).ok_or(Error::BadBuffer)?)
            .ok_or(Error::BadBuffer)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn write(&mut self, table: u64, index: u64, value: u64) -> Result<(), Error> {
        let off = self.entry_offset(table, index)?;
        let b = self
            .mem
            .get_mut(off..off.checked_add(8).ok_or(Error::BadBuffer)?)
            .ok_or(Error::BadBuffer)?;
        b.copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn new_table(&mut self) -> Result<u64, Error> {
        let capacity = self.mem.len() as u64 / PAGE;
        if self.used >= capacity {
            return Err(Error::OutOfPages {
                needed: self.used.saturating_add(1),
            });
        }
        let addr = self
            .base
            .checked_add(self.used.checked_mul(PAGE).ok_or(Error::BadBuffer)?)
            .ok_or(Error::BadBuffer)?;
        self.used = self.used.saturating_add(1);
        Ok(addr)
    }

    /// Returns the next-level table behind `table[index]`, creating it when absent. Upper
    /// levels allow everything; the leaf entries decide.
    fn child(&mut self, table: u64, index: u64) -> Result<u64, Error> {
        let e = self.read(table, index)?;
        if e & PTE_P != 0 {
            return Ok(e & ADDR_MASK);
        }
        let t = self.new_table()?;
        self.write(table, index, t | PTE_P | PTE_RW | PTE_A)?;
        Ok(t)
    }

    /// Leaf flags for `access` (accessed/dirty preset: nothing needs the CPU to set them).
    fn leaf(&self, access: Access) -> u64 {
        let mut f = PTE_P | PTE_A | PTE_D;
        if access.write {
            f |= PTE_RW;
        }
        if self.nx && !access.exec {
            f |= PTE_NX;
        }
        f
    }

    /// The page table behind page-directory entry `pd[pdi]` (value `e`), made if needed: a
    /// 2 MiB page becomes 512 4 KiB pages with the same rights, an empty entry an empty table.
    fn split(&mut self, pd: u64, pdi: u64, e: u64) -> Result<u64, Error> {
        if e & PTE_P != 0 && e & PTE_PS == 0 {
            return Ok(e & ADDR_MASK);
        }
        let pt = self.new_table()?;
        if e & PTE_P != 0 {
            let big = e & ADDR_MASK & !(SIZE_2M - 1);
            // PS becomes PAT in a 4 KiB entry: drop it; keep RW, NX, A, D.
            let flags = e & !(ADDR_MASK | PTE_PS);
            for i in 0..512u64 {
                self.write(pt, i, big.wrapping_add(i.wrapping_mul(PAGE)) | flags)?;
            }
        }
        self.write(pd, pdi, pt | PTE_P | PTE_RW | PTE_A)?;
        Ok(pt)
    }

    /// Sets `[start, end)` (4 KiB aligned) to `access`, or unmaps it (`None`); each page maps
    /// the physical address `addr | alias` (0: the identity map).
    fn set(
        &mut self,
        start: u64,
        end: u64,
        access: Option<Access>,
        alias: u64,
    ) -> Result<(), Error> {
        if !start.is_multiple_of(PAGE) || !end.is_multiple_of(PAGE) || end < start {
            return Err(Error::BadRange { start, end });
        }
        if alias & !ADDR_MASK != 0 || alias & (SIZE_2M - 1) != 0 {
            return Err(Error::BadRange {
                start: alias,
                end: alias,
            });
        }
        if end > MAX_END {
            return Err(Error::TooHigh { addr: end });
        }
        let mut addr = start;
        while addr < end {
            let chunk = addr & !(SIZE_2M - 1);
            let chunk_end = chunk.checked_add(SIZE_2M).ok_or(Error::TooHigh { addr })?;
            let (pd, pdi) = match access {
                Some(_) => {
                    let pdpt = self.child(self.base, index(addr, 39))?;
                    (self.child(pdpt, index(addr, 30))?, index(addr, 21))
                }
                None => {
                    // Nothing to unmap where the upper levels are absent.
                    let l4 = self.read(self.base, index(addr, 39))?;
                    let l3 = if l4 & PTE_P != 0 {
                        self.read(l4 & ADDR_MASK, index(addr, 30))?
                    } else {
                        0
                    };
                    if l3 & PTE_P == 0 {
                        addr = chunk_end;
                        continue;
                    }
                    (l3 & ADDR_MASK, index(addr, 21))
                }
            };
            let e = self.read(pd, pdi)?;
            let whole = addr == chunk && chunk_end <= end;
            if whole && (e & PTE_P == 0 || e & PTE_PS != 0) {
                let value = access.map_or(0, |a| chunk | alias | self.leaf(a) | PTE_PS);
                self.write(pd, pdi, value)?;
                addr = chunk_end;
                continue;
            }
            if access.is_none() && e & PTE_P == 0 {
                addr = chunk_end;
                continue;
            }
            let pt = self.split(pd, pdi, e)?;
            let stop = end.min(chunk_end);
            while addr < stop {
                let value = access.map_or(0, |a| addr | alias | self.leaf(a));
                self.write(pt, index(addr, 12), value)?;
                addr = addr.checked_add(PAGE).ok_or(Error::TooHigh { addr })?;
            }
        }
        Ok(())
    }

    /// Identity-maps `[start, end)` (4 KiB aligned) with `access`, replacing whatever was
    /// mapped there.
    pub fn map(&mut self, start: u64, end: u64, access: Access) -> Result<(), Error> {
        self.set(start, end, Some(access), 0)
    }

    /// Maps `[start, end)` (4 KiB aligned) with `access` to the physical addresses with
    /// `shared_bit` set: how a TD reaches memory it shares with the host (the GPA's shared
    /// bit, TDX GHCI; the identity-mapped private alias of a shared page must not be used).
    /// `shared_bit` 0 gives the identity map; anything else must be a single address bit at
    /// or above bit 21 within the 52-bit physical range.
    pub fn map_shared(
        &mut self,
        start: u64,
        end: u64,
        access: Access,
        shared_bit: u64,
    ) -> Result<(), Error> {
        if shared_bit != 0 && !shared_bit.is_power_of_two() {
            return Err(Error::BadRange {
                start: shared_bit,
                end: shared_bit,
            });
        }
        self.set(start, end, Some(access), shared_bit)
    }

    /// Leaves `[start, end)` (4 KiB aligned) unmapped.
    pub fn unmap(&mut self, start: u64, end: u64) -> Result<(), Error> {
        self.set(start, end, None, 0)
    }

    /// Identity-maps `[0, end)` (end rounded up to 2 MiB) with writable, executable 2 MiB
    /// pages.
    pub fn map_identity(&mut self, end: u64) -> Result<(), Error> {
        if end > MAX_END {
            return Err(Error::TooHigh { addr: end });
        }
        self.map(0, end.next_multiple_of(SIZE_2M), Access::RWX)
    }

    /// Leaves the 4 KiB page at `addr` unmapped (a guard page), splitting its 2 MiB page; an
    /// error if it was not mapped.
    pub fn unmap_page(&mut self, addr: u64) -> Result<(), Error> {
        let addr = addr & !(PAGE - 1);
        if self.translate(addr).is_none() {
            return Err(Error::NotMapped { addr });
        }
        self.unmap(addr, addr.saturating_add(PAGE))
    }

    /// The leaf entry for `addr` and the AND of the writable bits and OR of the no-execute
    /// bits on the way (what the CPU checks), or `None` if not mapped.
    fn walk(&self, addr: u64) -> Option<(u64, u64, bool, bool)> {
        let mut table = self.base;
        let mut write = true;
        let mut nx = false;
        for shift in [39u32, 30, 21, 12] {
            let e = self.read(table, index(addr, shift)).ok()?;
            if e & PTE_P == 0 {
                return None;
            }
            write &= e & PTE_RW != 0;
            nx |= e & PTE_NX != 0;
            let size = 1u64 << shift;
            if shift == 12 || (shift == 21 && e & PTE_PS != 0) {
                let mask = size.wrapping_sub(1);
                let phys = (e & ADDR_MASK & !mask) | (addr & mask);
                return Some((e, phys, write, nx));
            }
            table = e & ADDR_MASK;
        }
        None
    }

    /// Walks the tables like the CPU: the mapped physical address of `addr`, if any (test aid
    /// and self-check).
    pub fn translate(&self, addr: u64) -> Option<u64> {
        self.walk(addr).map(|(_, phys, _, _)| phys)
    }

    /// What the CPU would allow at `addr` (`None`: not mapped). Without [`Tables::enable_nx`]
    /// everything mapped is executable.
    pub fn access(&self, addr: u64) -> Option<Access> {
        self.walk(addr)
            .map(|(_, _, write, nx)| Access { write, exec: !nx })
    }

    /// Whether `addr` is mapped by a 2 MiB page (test aid: boundaries split only what they
    /// must).
    pub fn is_large(&self, addr: u64) -> bool {
        self.walk(addr).is_some_and(|(e, _, _, _)| e & PTE_PS != 0)
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn identity_map_with_guard_pages() {
        let end = 6 * SIZE_1G;
        let pages = pages_needed(end, 2);
        assert_eq!(pages, 1 + 1 + 6 + 2);
        let mut buf = vec![0u8; (pages * PAGE) as usize];
        let base = 0x7000_0000;
        let mut t = Tables::new(&mut buf, base).unwrap();
        t.map_identity(end).unwrap();
        t.unmap_page(0x20_0000).unwrap();
        t.unmap_page(0x20_3000).unwrap(); // same 2 MiB page: no second split
        t.unmap_page(5 * SIZE_1G + 0x1000).unwrap();
        assert_eq!(t.used_pages(), pages);
        for a in [
            0u64,
            0x1234,
            0x1F_FFFF,
            0x20_1000,
            0x20_2FFF,
            4 * SIZE_1G + 77,
            end - 1,
        ] {
            assert_eq!(t.translate(a), Some(a), "{a:#x}");
            assert_eq!(t.access(a), Some(Access::RWX), "{a:#x}");
        }
        for a in [
            0x20_0000u64,
            0x20_0FFF,
            0x20_3000,
            5 * SIZE_1G + 0x1000,
            end,
            7 * SIZE_1G,
        ] {
            assert_eq!(t.translate(a), None, "{a:#x}");
        }
        assert_eq!(
            t.unmap_page(7 * SIZE_1G),
            Err(Error::NotMapped { addr: 7 * SIZE_1G })
        );
    }

    /// Reads entry `i` of the table at physical `table` straight from the buffer (bytes, not
    /// through the code under test).
    fn raw(buf: &[u8], base: u64, table: u64, i: u64) -> u64 {
        let off = (table - base + i * 8) as usize;
        u64::from_le_bytes(buf[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn rights_are_written_as_the_sdm_bits() {
        let pages = pages_needed(SIZE_1G, 2);
        let mut buf = vec![0u8; (pages * PAGE) as usize];
        let base = 0x10_0000;
        {
            let mut t = Tables::new(&mut buf, base).unwrap();
            t.enable_nx();
            t.map(0, SIZE_1G, Access::RW).unwrap();
            t.map(0x40_0000, 0x60_0000, Access::RX).unwrap();
            t.map(0x60_1000, 0x60_2000, Access::R).unwrap();
        }
        // PML4[0] -> PDPT (page 1) -> PD (page 2); PT for [6 MiB, 8 MiB) is page 3.
        let pml4e = raw(&buf, base, base, 0);
        assert_eq!(
            pml4e,
            (base + 0x1000) | 0x23,
            "P|RW|A, no NX above the leaves"
        );
        let pdpte = raw(&buf, base, base + 0x1000, 0);
        assert_eq!(pdpte, (base + 0x2000) | 0x23);
        // 2 MiB page at 0: P|RW|A|D|PS|NX.
        assert_eq!(raw(&buf, base, base + 0x2000, 0), 0xE3 | (1 << 63));
        // 2 MiB code page at 4 MiB: P|A|D|PS, no RW, no NX.
        assert_eq!(raw(&buf, base, base + 0x2000, 2), 0x40_0000 | 0xE1);
        // [6 MiB, 8 MiB) split: PDE points at a page table.
        assert_eq!(raw(&buf, base, base + 0x2000, 3), (base + 0x3000) | 0x23);
        // Its entry 0 stays RW NX (no PS bit: that would be PAT), entry 1 read-only NX.
        assert_eq!(
            raw(&buf, base, base + 0x3000, 0),
            0x60_0000 | 0x63 | (1 << 63)
        );
        assert_eq!(
            raw(&buf, base, base + 0x3000, 1),
            0x60_1000 | 0x61 | (1 << 63)
        );
    }

    #[test]
    fn boundaries_split_only_their_own_2m_pages() {
        let end = 4 * SIZE_1G;
        let pages = pages_needed(end, 4);
        let mut buf = vec![0u8; (pages * PAGE) as usize];
        let mut t = Tables::new(&mut buf, 0x8000_0000).unwrap();
        t.enable_nx();
        t.map(0, end, Access::RW).unwrap();
        // A code range from 1 MiB + 28 KiB to 2 MiB + 2 MiB + 8 KiB: splits [0, 2M) and
        // [4M, 6M), keeps [2M, 4M) a large page.
        t.map(0x10_7000, 0x40_2000, Access::RX).unwrap();
        t.unmap(0x20_0000 - 0x1000, 0x20_0000).unwrap(); // same chunk as the start: no new table
        assert_eq!(t.used_pages(), 1 + 1 + 4 + 2);
        assert!(t.is_large(0x30_0000));
        assert!(!t.is_large(0x10_7000));
        assert!(t.is_large(0x60_0000));
        assert_eq!(t.access(0x10_6FFF), Some(Access::RW));
        assert_eq!(t.access(0x10_7000), Some(Access::RX));
        assert_eq!(t.access(0x1F_EFFF), Some(Access::RX));
        assert_eq!(t.access(0x1F_F000), None);
        assert_eq!(t.access(0x20_0000), Some(Access::RX));
        assert_eq!(t.access(0x40_1FFF), Some(Access::RX));
        assert_eq!(t.access(0x40_2000), Some(Access::RW));
        assert_eq!(t.access(end - 1), Some(Access::RW));
        assert_eq!(t.access(end), None);
        // Overriding a whole split chunk reuses its table; re-mapping the guard works.
        t.map(0, 0x20_0000, Access::R).unwrap();
        assert_eq!(t.used_pages(), 1 + 1 + 4 + 2);
        assert_eq!(t.access(0x1F_F000), Some(Access::R));
        assert_eq!(t.translate(0x1F_F123), Some(0x1F_F123));
    }

    #[test]
    fn without_nx_everything_mapped_executes() {
        let mut buf = vec![0u8; (pages_needed(SIZE_1G, 1) * PAGE) as usize];
        let mut t = Tables::new(&mut buf, 0).unwrap();
        assert!(!t.nx());
        t.map(0, SIZE_1G, Access::RW).unwrap();
        t.map(0x1000, 0x2000, Access::R).unwrap();
        assert_eq!(
            t.access(0x1000),
            Some(Access {
                write: false,
                exec: true
            })
        );
        assert_eq!(t.access(0x5000), Some(Access::RWX));
    }

    #[test]
    fn unmapping_what_is_absent_costs_nothing() {
        let mut buf = vec![0u8; (pages_needed(SIZE_1G, 0) * PAGE) as usize];
        let mut t = Tables::new(&mut buf, 0).unwrap();
        t.unmap(0, 8 * SIZE_1G).unwrap();
        assert_eq!(t.used_pages(), 1);
        t.map(0, 0x20_0000, Access::RW).unwrap();
        t.unmap(0x40_0000, 0x40_1000).unwrap(); // PD exists, entry empty: no table
        assert_eq!(t.used_pages(), 3);
    }

    #[test]
    fn shared_pages_map_the_alias_with_the_shared_bit() {
        // A TD with GPAW 48: a 2 MiB + 8 KiB buffer at 0x30_1000 shared with the host; the
        // identity map stays everywhere else, and mapping it again as private restores it.
        let bit = 1u64 << 47;
        let pages = pages_needed(SIZE_1G, 4);
        let mut buf = vec![0u8; (pages * PAGE) as usize];
        let base = 0x10_0000;
        let (start, end) = (0x30_1000u64, 0x50_3000u64);
        {
            let mut t = Tables::new(&mut buf, base).unwrap();
            t.enable_nx();
            t.map(0, SIZE_1G, Access::RW).unwrap();
            t.map_shared(start, end, Access::RW, bit).unwrap();
            for a in [start, start + 0x1234, 0x40_0000, end - 1] {
                assert_eq!(t.translate(a), Some(a | bit), "{a:#x}");
                assert_eq!(t.access(a), Some(Access::RW));
            }
            for a in [start - 1, end, 0, SIZE_1G - 1] {
                assert_eq!(t.translate(a), Some(a), "{a:#x}");
            }
        }
        // The 2 MiB page [0x40_0000, 0x60_0000) is split (the buffer ends inside it); the
        // whole-2 MiB page case takes the bit in its large entry: check both raw.
        {
            let mut t = Tables::new(&mut buf, base).unwrap();
            t.enable_nx();
            t.map(0, SIZE_1G, Access::RW).unwrap();
            t.map_shared(0x60_0000, 0x80_0000, Access::RW, bit).unwrap();
            assert!(t.is_large(0x60_0000));
            assert_eq!(t.translate(0x7F_FFFF), Some(0x7F_FFFF | bit));
        }
        let l3 = raw(&buf, base, base, 0) & ADDR_MASK;
        let pd = raw(&buf, base, l3, 0) & ADDR_MASK;
        let e = raw(&buf, base, pd, 3);
        assert_eq!(e & ADDR_MASK, 0x60_0000 | bit);
        assert_ne!(e & PTE_PS, 0);
        assert_ne!(e & PTE_NX, 0);
        let mut t = Tables::new(&mut buf, base).unwrap();
        t.map(0, SIZE_1G, Access::RW).unwrap();
        t.map_shared(start, end, Access::RW, bit).unwrap();
        t.map(start, end, Access::RW).unwrap();
        assert_eq!(t.translate(start), Some(start), "private again");
        // Not one bit, or not a page-frame bit: refused.
        for bad in [3u64 << 46, 1 << 63, 1 << 12] {
            assert!(
                t.map_shared(start, end, Access::RW, bad).is_err(),
                "{bad:#x}"
            );
        }
        assert!(
            t.map_shared(start, end, Access::RW, 0).is_ok(),
            "0: identity"
        );
        assert_eq!(t.translate(start), Some(start));
    }

    #[test]
    fn bad_requests_are_errors() {
        let mut buf = vec![0u8; 2 * PAGE as usize];
        let mut t = Tables::new(&mut buf, 0x1000).unwrap();
        assert!(matches!(
            t.map_identity(SIZE_1G),
            Err(Error::OutOfPages { .. })
        ));
        assert_eq!(
            t.map(0x1001, 0x2000, Access::R),
            Err(Error::BadRange {
                start: 0x1001,
                end: 0x2000
            })
        );
        assert_eq!(
            t.map(0x2000, 0x1000, Access::R),
            Err(Error::BadRange {
                start: 0x2000,
                end: 0x1000
            })
        );
        assert_eq!(
            t.unmap(0, 0x1800),
            Err(Error::BadRange {
                start: 0,
                end: 0x1800
            })
        );
        assert_eq!(
            t.map(0, MAX_END + PAGE, Access::R),
            Err(Error::TooHigh {
                addr: MAX_END + PAGE
            })
        );
        // Near the top of the address space: refused, no wrap-around.
        assert_eq!(
            t.map(u64::MAX - 0x1FFF, u64::MAX - 0xFFF, Access::R),
            Err(Error::TooHigh {
                addr: u64::MAX - 0xFFF
            })
        );
        let mut odd = vec![0u8; 100];
        assert!(Tables::new(&mut odd, 0x1000).is_err());
        let mut buf = vec![0u8; PAGE as usize];
        assert!(Tables::new(&mut buf, 0x1001).is_err());
        let mut buf = vec![0u8; 4 * PAGE as usize];
        let mut t = Tables::new(&mut buf, 0).unwrap();
        assert_eq!(
            t.map_identity(MAX_END + 1),
            Err(Error::TooHigh { addr: MAX_END + 1 })
        );
    }
}
