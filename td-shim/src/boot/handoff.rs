// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The final jump. Executable payloads (`../shared/spec/hob.md` §5, System V flavour):
//! RDI = RCX = payload HOB GPA, RSI = load base, RSP = top of the payload stack with a zero
//! return address pushed (so RSP ≡ 8 mod 16 as right after a call), interrupts off.
//! Linux (`../shared/spec/linux-boot.md` §6): the 64-bit entry with RSI = zero page,
//! RDI = 0, CS = 0x10, DS = ES = SS = 0x18, interrupts off.

use core::arch::asm;

/// Everything the jump needs.
#[derive(Clone, Copy, Debug)]
pub enum Handoff {
    /// An executable payload (`hob.md` §5).
    Executable {
        /// Relocated entry point.
        entry: u64,
        /// GPA of the payload HOB.
        hob: u64,
        /// Load base of the payload (0 for ET_EXEC).
        load_base: u64,
        /// Top of the payload stack (16-byte aligned).
        stack_top: u64,
    },
    /// A Linux kernel's 64-bit entry (`linux-boot.md` §6): RSI = zero page.
    Linux {
        /// Load address + 0x200.
        entry: u64,
        /// GPA of the zero page.
        boot_params: u64,
        /// A stack the kernel uses until it sets up its own.
        stack_top: u64,
    },
}

impl Handoff {
    /// Entry address.
    pub fn entry(&self) -> u64 {
        match *self {
            Handoff::Executable { entry, .. } | Handoff::Linux { entry, .. } => entry,
        }
    }

    /// What is being entered, for the log.
    pub fn kind(&self) -> &'static str {
        match self {
            Handoff::Executable { .. } => "payload",
            Handoff::Linux { .. } => "linux kernel",
        }
    }
}

/// Jumps to the payload or kernel.
///
/// # Safety
/// The entry must belong to a payload or kernel loaded in memory the current page tables
/// map, the stack must be mapped and owned by it, and the HOB or zero page complete. The
/// current GDT must have a 64-bit code segment at 0x10 and a data segment at 0x18 (the
/// reset vector's does).
pub unsafe fn jump(h: Handoff) -> ! {
    match h {
        Handoff::Executable {
            entry,
            hob,
            load_base,
            stack_top,
        } => {
            // SAFETY: forwarded to the caller; nothing after the jump runs.
            unsafe {
                asm!(
                    "cli",
                    "mov rsp, {stack}",
                    "push 0",
                    "jmp {entry}",
                    stack = in(reg) stack_top,
                    entry = in(reg) entry,
                    in("rdi") hob,
                    in("rcx") hob,
                    in("rsi") load_base,
                    options(noreturn)
                )
            }
        }
        Handoff::Linux {
            entry,
            boot_params,
            stack_top,
        } => {
            // SAFETY: forwarded to the caller; nothing after the jump runs.
            unsafe {
                asm!(
                    "cli",
                    "mov rsp, {stack}",
                    "push 0",
                    "xor ebp, ebp",
                    "jmp {entry}",
                    stack = in(reg) stack_top,
                    entry = in(reg) entry,
                    in("rsi") boot_params,
                    in("rdi") 0u64,
                    options(noreturn)
                )
            }
        }
    }
}
