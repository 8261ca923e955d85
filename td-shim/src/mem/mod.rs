// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Memory: one memory map fed by either source (fw_cfg e820 or the TD HOB), runtime region
//! allocation from it, identity page tables, and the single place that turns a validated
//! physical range into a slice.

pub mod map;
pub mod paging;

/// Turns a physical range into a mutable slice.
///
/// # Safety
/// The range must be identity-mapped RAM (or image ROM for reads) that nothing else uses
/// for the lifetime of the slice; for RAM in a TD it must be accepted.
pub unsafe fn phys_slice_mut(start: u64, len: u64) -> &'static mut [u8] {
    // SAFETY: forwarded to the caller; the firmware runs identity-mapped, so the physical
    // address is the virtual address.
    unsafe { core::slice::from_raw_parts_mut(start as *mut u8, len as usize) }
}

/// Turns a physical range into a shared slice.
///
/// # Safety
/// The range must be identity-mapped and readable, and not written by anyone for the
/// lifetime of the slice.
pub unsafe fn phys_slice(start: u64, len: u64) -> &'static [u8] {
    // SAFETY: forwarded to the caller (identity mapping: physical = virtual).
    unsafe { core::slice::from_raw_parts(start as *const u8, len as usize) }
}
