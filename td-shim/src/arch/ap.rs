// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Application processors of a TD (`../shared/spec/mp-wakeup.md`). Phase 1: the APs wait
//! in the reset vector's loop on the early mailbox and take commands from the bootstrap
//! processor ([`Mailbox::send`]). Phase 2: at hand-off they move to a loop copied into a
//! mailbox in reserved memory, where the OS wakes them through the ACPI MADT Multiprocessor
//! Wakeup protocol (command 1, WakeupVector, APIC ID).

use core::arch::global_asm;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{fence, Ordering};

/// Command: jump to WakeupVector (phase 1: with RBX = FwArgs[0]).
pub const CMD_WAKEUP: u16 = 1;
/// Command: call WakeupVector(vCPU index, FwArgs[1]) on the stack FwArgs[0].
pub const CMD_ASSIGN_WORK: u16 = 3;
/// Command: acknowledge only.
pub const CMD_CHECK_IN: u16 = 4;
/// Command: load FwArgs[0] into CR3.
pub const CMD_SET_CR3: u16 = 5;
/// ApicId value meaning "acknowledged / nobody".
pub const ACK: u32 = 0xFFFF_FFFF;

const OFF_COMMAND: u64 = 0x0;
const OFF_APIC_ID: u64 = 0x4;
const OFF_VECTOR: u64 = 0x8;
const OFF_FW_ARGS: u64 = 0x800;
const OFF_ARRIVED: u64 = 0x900;

/// How long to wait for an AP before giving up (spin iterations).
const SPIN_LIMIT: u64 = 2_000_000_000;

/// An AP that did not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout {
    pub vcpu: u32,
}

/// A mailbox page.
#[derive(Clone, Copy, Debug)]
pub struct Mailbox {
    base: u64,
}

impl Mailbox {
    /// # Safety
    /// `base` must be a 4 KiB page of identity-mapped RAM used as an AP mailbox and nothing
    /// else.
    pub unsafe fn at(base: u64) -> Self {
        Mailbox { base }
    }

    fn ptr<T>(&self, off: u64) -> *mut T {
        (self.base + off) as *mut T
    }

    /// How many APs have entered the phase-1 loop.
    pub fn arrived(&self) -> u32 {
        // SAFETY: inside the mailbox page (see `at`); APs update it with locked increments.
        unsafe { read_volatile(self.ptr::<u32>(OFF_ARRIVED)) }
    }

    /// Waits until `n` APs have arrived; false on timeout.
    pub fn wait_arrivals(&self, n: u32) -> bool {
        let mut spins = 0u64;
        while self.arrived() < n {
            core::hint::spin_loop();
            spins += 1;
            if spins > SPIN_LIMIT {
                return false;
            }
        }
        true
    }

    /// Sends `command` to the AP with vCPU index `vcpu` and waits for its acknowledgement.
    ///
    /// # Safety
    /// For CMD_SET_CR3, `args[0]` must be page tables that map everything the AP runs and
    /// touches (its loop, the mailbox, its stacks). For CMD_ASSIGN_WORK, `vector` must be an `extern "sysv64" fn(u64, u64)` that is safe to
    /// run on that AP with `args[1]`, and `args[0]` the top of a stack only that AP uses; for
    /// CMD_WAKEUP, `vector` must be code the AP may run forever with RBX = `args[0]`.
    pub unsafe fn send(
        &self,
        vcpu: u32,
        command: u16,
        vector: u64,
        args: [u64; 2],
    ) -> Result<(), Timeout> {
        // SAFETY: all writes stay inside the mailbox page (see `at`); the AP reads them only
        // after it sees its index in ApicId, which is written last, after a fence.
        unsafe {
            write_volatile(self.ptr::<u64>(OFF_FW_ARGS), args[0]);
            write_volatile(self.ptr::<u64>(OFF_FW_ARGS + 8), args[1]);
            write_volatile(self.ptr::<u64>(OFF_VECTOR), vector);
            write_volatile(self.ptr::<u16>(OFF_COMMAND), command);
            fence(Ordering::SeqCst);
            write_volatile(self.ptr::<u32>(OFF_APIC_ID), vcpu);
        }
        let mut spins = 0u64;
        // SAFETY: as above.
        while unsafe { read_volatile(self.ptr::<u32>(OFF_APIC_ID)) } != ACK {
            core::hint::spin_loop();
            spins += 1;
            if spins > SPIN_LIMIT {
                return Err(Timeout { vcpu });
            }
        }
        // SAFETY: as above.
        unsafe { write_volatile(self.ptr::<u16>(OFF_COMMAND), 0) };
        Ok(())
    }

    /// Prepares a fresh OS mailbox: zero, then ApicId = nobody.
    ///
    /// # Safety
    /// As [`Mailbox::at`]; no AP may be using this page yet.
    pub unsafe fn reset_for_os(&self) {
        // SAFETY: the page is ours (see `at`).
        unsafe {
            core::ptr::write_bytes(self.base as *mut u8, 0, 0x1000);
            write_volatile(self.ptr::<u32>(OFF_APIC_ID), ACK);
        }
    }
}

// Phase-2 loop, copied next to the OS mailbox (position independent). RBX = mailbox. The AP
// finds its APIC ID with CPUID leaf 1, waits for Command = 1 (Wakeup) addressed to it,
// acknowledges by clearing only the 16-bit Command, and jumps to the 64-bit WakeupVector.
global_asm!(
    r#"
    .section .rodata.td_shim_ap_os_loop, "a"
    .global td_shim_ap_os_loop_start
    .global td_shim_ap_os_loop_end
td_shim_ap_os_loop_start:
    mov r8, rbx
    mov eax, 1
    cpuid
    shr ebx, 24
    mov r9d, ebx
2:
    pause
    mov eax, dword ptr [r8 + 4]
    cmp eax, r9d
    jne 2b
    movzx eax, word ptr [r8]
    cmp eax, 1
    jne 2b
    mov rax, qword ptr [r8 + 8]
    mov word ptr [r8], 0
    jmp rax
td_shim_ap_os_loop_end:
    "#
);

extern "C" {
    static td_shim_ap_os_loop_start: u8;
    static td_shim_ap_os_loop_end: u8;
}

/// The phase-2 loop's code bytes.
pub fn os_loop_code() -> &'static [u8] {
    let start = core::ptr::addr_of!(td_shim_ap_os_loop_start);
    let end = core::ptr::addr_of!(td_shim_ap_os_loop_end);
    // SAFETY: both symbols delimit the bytes of the global_asm! block above, in .rodata.
    unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
}

/// Puts the phase-2 loop at `at`, unless the same bytes are already there (then nothing is
/// written: the firmware's page tables map the loop page read-only and executable once the
/// boot sequence has placed the code, see `boot::protect`).
///
/// # Safety
/// `at` must be reserved memory for the loop code (the page after the OS mailbox), used by
/// nothing else, and writable in the current page tables unless it already holds the loop.
pub unsafe fn install_os_loop(at: u64) {
    let code = os_loop_code();
    // SAFETY: the caller reserved the page for the loop (and `code` is far shorter than it).
    let dest = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, code.len()) };
    if dest != code {
        dest.copy_from_slice(code);
    }
}

/// Starts the other CPUs of an emulated TD: INIT, then two SIPIs with vector 0xFE to all but
/// ourselves, through the local APIC (xAPIC mode, as an ordinary VM starts). They enter the
/// reset vector's TD path and arrive in the phase-1 loop.
///
/// # Safety
/// Only for the emulated TDX of test images (a real TD has no INIT/SIPI); the reset vector
/// must carry the emulated-TDX AP entry at 0xFFFFE000 (visible at 0xFE000).
#[cfg(feature = "emulated-tdx")]
pub unsafe fn start_aps_emulated() {
    const ICR_LOW: u64 = 0xFEE0_0300;
    const ICR_HIGH: u64 = 0xFEE0_0310;
    // All excluding self (bits 19:18 = 11), level assert (bit 14), INIT (101) / start-up (110).
    const INIT: u32 = 0x000C_4500;
    const SIPI: u32 = 0x000C_4600 | 0xFE;
    // SAFETY: the local APIC's ICR at its architectural default address; writing it sends
    // IPIs to the other CPUs, which nothing else uses yet.
    unsafe {
        write_volatile(ICR_HIGH as *mut u32, 0);
        write_volatile(ICR_LOW as *mut u32, INIT);
        for _ in 0..2 {
            for _ in 0..10_000 {
                core::hint::spin_loop();
            }
            write_volatile(ICR_LOW as *mut u32, SIPI);
        }
    }
}
