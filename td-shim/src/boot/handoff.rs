// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The final jump into an executable payload (`../shared/spec/hob.md` §5, System V flavour):
//! RDI = RCX = payload HOB GPA, RSI = load base, RSP = top of the payload stack with a zero
//! return address pushed (so RSP ≡ 8 mod 16 as right after a call), interrupts off.

use core::arch::asm;

/// Everything the jump needs.
#[derive(Clone, Copy, Debug)]
pub struct Handoff {
    /// Relocated entry point.
    pub entry: u64,
    /// GPA of the payload HOB.
    pub hob: u64,
    /// Load base of the payload (0 for ET_EXEC).
    pub load_base: u64,
    /// Top of the payload stack (16-byte aligned).
    pub stack_top: u64,
}

/// Jumps to the payload.
///
/// # Safety
/// `entry` must be the entry of a payload loaded in memory the current page tables map,
/// `stack_top` the top of a mapped stack owned by the payload, `hob` a complete HOB list.
pub unsafe fn jump(h: Handoff) -> ! {
    // SAFETY: forwarded to the caller; nothing after the jump runs.
    unsafe {
        asm!(
            "cli",
            "mov rsp, {stack}",
            "push 0",
            "jmp {entry}",
            stack = in(reg) h.stack_top,
            entry = in(reg) h.entry,
            in("rdi") h.hob,
            in("rcx") h.hob,
            in("rsi") h.load_base,
            options(noreturn)
        )
    }
}
