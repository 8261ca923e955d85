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
