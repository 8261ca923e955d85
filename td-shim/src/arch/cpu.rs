// SPDX-License-Identifier: BSD-2-Clause-Patent
//! CPUID, control registers, halting. Queries are safe; writes that change translation or
//! protection are `unsafe fn`.

use core::arch::asm;
use core::arch::x86_64::{__cpuid_count, CpuidResult};

/// Executes CPUID. In a TD some leaves are answered by the VMM (through #VE); callers must
/// treat those results as untrusted. Leaf 0x21 (TDX) is answered by the TDX module.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    __cpuid_count(leaf, subleaf)
}

/// Highest basic CPUID leaf.
pub fn max_basic_leaf() -> u32 {
    cpuid(0, 0).eax
}

/// Highest extended CPUID leaf (0x8000_00xx).
pub fn max_extended_leaf() -> u32 {
    cpuid(0x8000_0000, 0).eax
}

/// Physical-address width in bits (CPUID 0x8000_0008 EAX[7:0]); 36 when the leaf is absent.
pub fn physical_address_bits() -> u8 {
    if max_extended_leaf() >= 0x8000_0008 {
        (cpuid(0x8000_0008, 0).eax & 0xFF) as u8
    } else {
        36
    }
}

/// Whether the CPU supports the NX bit (CPUID 0x8000_0001 EDX[20]).
pub fn has_nx() -> bool {
    max_extended_leaf() >= 0x8000_0001 && cpuid(0x8000_0001, 0).edx & (1 << 20) != 0
}

/// Current CR2 (faulting linear address of the last #PF).
pub fn cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects; we run at CPL 0.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Current CR3.
pub fn cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects; we run at CPL 0.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Switches to the page tables rooted at `pml4_addr`.
///
/// # Safety
/// `pml4_addr` must be the 4 KiB-aligned physical address of a complete 4-level table that
/// identity-maps everything the CPU touches from here on: this code, the current stack, the
/// IDT/GDT, the heap and every static.
pub unsafe fn write_cr3(pml4_addr: u64) {
    // SAFETY: the caller guarantees the new tables map everything in use.
    unsafe { asm!("mov cr3, {}", in(reg) pml4_addr, options(nostack, preserves_flags)) };
}

/// IA32_EFER.
const MSR_EFER: u32 = 0xC000_0080;
/// EFER.NXE: the no-execute bit (63) of page-table entries is honoured (reserved otherwise).
pub const EFER_NXE: u64 = 1 << 11;

/// IA32_EFER, read with RDMSR. Not for a real TD (where the TDX module fixes EFER and a
/// RDMSR might be forwarded to the VMM): see [`nx_enabled`].
pub fn efer() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: IA32_EFER exists on every x86-64 CPU (we run in long mode); reading it has no
    // side effects.
    unsafe {
        asm!("rdmsr", in("ecx") MSR_EFER, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// Whether this CPU honours no-execute bits. In a TD the TDX module fixes EFER.NXE to 1 on
/// every vCPU (its initial EFER is LME|LMA|NXE|SCE), so `in_td` answers without touching the
/// MSR; the emulated TD is an ordinary VM, whose EFER the reset vector wrote (NXE only when
/// CPUID says NX exists), so it is read there, as in a legacy VM.
pub fn nx_enabled(in_td: bool) -> bool {
    if in_td && !cfg!(feature = "emulated-tdx") {
        return true;
    }
    efer() & EFER_NXE != 0
}

/// Drops the TLB entry of the page holding `addr` on this CPU.
///
/// # Safety
/// None beyond CPL 0 in practice, but a stale entry may be what the caller relies on: only
/// call it after changing the page tables for `addr` on purpose.
pub unsafe fn invlpg(addr: u64) {
    // SAFETY: INVLPG only invalidates a translation; the caller changed the tables.
    unsafe { asm!("invlpg [{}]", in(reg) addr, options(nostack, preserves_flags)) };
}

/// Unmaps the 4 KiB page at `addr` in the current page tables, if it is mapped by a 4 KiB
/// entry (a guard page made after the tables were built). Returns whether the page is now
/// unmapped: `false` when it lies in a large page (e.g. the reset vector's read-only tables,
/// which are never written).
///
/// # Safety
/// The current tables must be identity-mapped RAM the firmware built (writable where they
/// have 4 KiB entries); nothing may use the page at `addr` any more. Other CPUs that loaded
/// the same tables must not have touched the page (their TLBs are not shot down).
pub unsafe fn unmap_4k_page(addr: u64) -> bool {
    const P: u64 = 1;
    const PS: u64 = 1 << 7;
    const ADDR: u64 = 0x000F_FFFF_FFFF_F000;
    let addr = addr & !0xFFF;
    let mut table = cr3() & ADDR;
    for shift in [39u32, 30, 21] {
        let slot = (table + ((addr >> shift) & 0x1FF) * 8) as *const u64;
        // SAFETY: `table` is a page-table page of the current, identity-mapped tables.
        let e = unsafe { core::ptr::read_volatile(slot) };
        if e & P == 0 {
            return true;
        }
        if e & PS != 0 {
            return false;
        }
        table = e & ADDR;
    }
    let pte = (table + ((addr >> 12) & 0x1FF) * 8) as *mut u64;
    // SAFETY: the 4 KiB entry of `addr` in writable tables (caller); the page is unused.
    unsafe {
        core::ptr::write_volatile(pte, 0);
        invlpg(addr);
    }
    true
}

/// Disables maskable interrupts.
pub fn disable_interrupts() {
    // SAFETY: CLI only clears RFLAGS.IF; the firmware never relies on interrupts.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Executes HLT once (wakes on an interrupt or NMI).
pub fn hlt() {
    // SAFETY: HLT only pauses the CPU; with IF = 0 it wakes on NMI/SMI/INIT only.
    unsafe { asm!("hlt", options(nomem, nostack, preserves_flags)) };
}

/// Spin-loop hint.
pub fn pause() {
    core::hint::spin_loop();
}
