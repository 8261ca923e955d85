// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Identity-mapping 4-level page tables, built into a buffer whose physical address is
//! known. 2 MiB pages everywhere, split into 4 KiB pages only where a page must be left out
//! (stack guard pages). Pure: the caller supplies the buffer and loads CR3 (`arch`).
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
/// Physical-address bits of an entry.
pub const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

const PAGE: u64 = 0x1000;
const SIZE_2M: u64 = 0x20_0000;
const SIZE_1G: u64 = 0x4000_0000;
const SIZE_512G: u64 = 0x80_0000_0000;
/// Highest mapped end we support (4-level paging: 256 TiB, we stop at 64 TiB).
pub const MAX_END: u64 = 0x4000_0000_0000;

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
        }
    }
}

/// Pages needed to identity-map `[0, end)` with 2 MiB pages plus `splits` 4 KiB splits.
pub fn pages_needed(end: u64, splits: u64) -> u64 {
    let end = end.clamp(SIZE_1G, MAX_END);
    let pdpts = end.div_ceil(SIZE_512G);
    let pds = end.div_ceil(SIZE_1G);
    1u64.saturating_add(pdpts)
        .saturating_add(pds)
        .saturating_add(splits)
}

/// Page tables under construction in `mem`, which lives at physical address `base`.
pub struct Tables<'a> {
    mem: &'a mut [u8],
    base: u64,
    used: u64,
}

impl<'a> Tables<'a> {
    /// Starts with an empty PML4 in the first page of `mem` (which is zeroed).
    pub fn new(mem: &'a mut [u8], base: u64) -> Result<Self, Error> {
        if !base.is_multiple_of(PAGE) || !(mem.len() as u64).is_multiple_of(PAGE) || mem.is_empty()
        {
            return Err(Error::BadBuffer);
        }
        mem.fill(0);
        Ok(Tables { mem, base, used: 1 })
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

    /// Returns the next-level table behind `table[index]`, creating it when absent.
    fn child(&mut self, table: u64, index: u64) -> Result<u64, Error> {
        let e = self.read(table, index)?;
        if e & PTE_P != 0 {
            return Ok(e & ADDR_MASK);
        }
        let t = self.new_table()?;
        self.write(table, index, t | PTE_P | PTE_RW | PTE_A)?;
        Ok(t)
    }

    /// Identity-maps `[0, end)` (end rounded up to 2 MiB) with writable 2 MiB pages.
    pub fn map_identity(&mut self, end: u64) -> Result<(), Error> {
        if end > MAX_END {
            return Err(Error::TooHigh { addr: end });
        }
        let mut addr = 0u64;
        while addr < end {
            let pdpt = self.child(self.base, (addr >> 39) & 0x1FF)?;
            let pd = self.child(pdpt, (addr >> 30) & 0x1FF)?;
            self.write(
                pd,
                (addr >> 21) & 0x1FF,
                addr | PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS,
            )?;
            addr = addr.checked_add(SIZE_2M).ok_or(Error::TooHigh { addr })?;
        }
        Ok(())
    }

    /// Leaves the 4 KiB page at `addr` unmapped (a guard page), splitting its 2 MiB page.
    pub fn unmap_page(&mut self, addr: u64) -> Result<(), Error> {
        let addr = addr & !(PAGE - 1);
        let not_mapped = Error::NotMapped { addr };
        let l4 = self.read(self.base, (addr >> 39) & 0x1FF)?;
        if l4 & PTE_P == 0 {
            return Err(not_mapped);
        }
        let l3 = self.read(l4 & ADDR_MASK, (addr >> 30) & 0x1FF)?;
        if l3 & PTE_P == 0 {
            return Err(not_mapped);
        }
        let pd = l3 & ADDR_MASK;
        let pdi = (addr >> 21) & 0x1FF;
        let l2 = self.read(pd, pdi)?;
        if l2 & PTE_P == 0 {
            return Err(not_mapped);
        }
        let pt = if l2 & PTE_PS != 0 {
            let pt = self.new_table()?;
            let big = l2 & ADDR_MASK & !(SIZE_2M - 1);
            let flags = l2 & !(ADDR_MASK | PTE_PS);
            for i in 0..512u64 {
                self.write(pt, i, big.wrapping_add(i.wrapping_mul(PAGE)) | flags)?;
            }
            self.write(pd, pdi, pt | PTE_P | PTE_RW | PTE_A)?;
            pt
        } else {
            l2 & ADDR_MASK
        };
        self.write(pt, (addr >> 12) & 0x1FF, 0)
    }

    /// Walks the tables like the CPU: the mapped physical address of `addr`, if any (test aid
    /// and self-check).
    pub fn translate(&self, addr: u64) -> Option<u64> {
        let l4 = self.read(self.base, (addr >> 39) & 0x1FF).ok()?;
        if l4 & PTE_P == 0 {
            return None;
        }
        let l3 = self.read(l4 & ADDR_MASK, (addr >> 30) & 0x1FF).ok()?;
        if l3 & PTE_P == 0 {
            return None;
        }
        let l2 = self.read(l3 & ADDR_MASK, (addr >> 21) & 0x1FF).ok()?;
        if l2 & PTE_P == 0 {
            return None;
        }
        if l2 & PTE_PS != 0 {
            return Some((l2 & ADDR_MASK & !(SIZE_2M - 1)) | (addr & (SIZE_2M - 1)));
        }
        let l1 = self.read(l2 & ADDR_MASK, (addr >> 12) & 0x1FF).ok()?;
        if l1 & PTE_P == 0 {
            return None;
        }
        Some((l1 & ADDR_MASK) | (addr & (PAGE - 1)))
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

    #[test]
    fn runs_out_of_pages_cleanly() {
        let mut buf = vec![0u8; 2 * PAGE as usize];
        let mut t = Tables::new(&mut buf, 0x1000).unwrap();
        assert!(matches!(
            t.map_identity(SIZE_1G),
            Err(Error::OutOfPages { .. })
        ));
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
