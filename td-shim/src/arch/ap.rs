// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Application processors of a TD (`../shared/spec/mp-wakeup.md`). Phase 1: the APs wait
//! in the reset vector's loop on the early mailbox and take commands from the bootstrap
//! processor ([`Mailbox::send`]). Phase 2: at hand-off they move to a loop copied into a
//! mailbox in reserved memory, where the OS wakes them through the ACPI MADT Multiprocessor
//! Wakeup protocol (command 1, WakeupVector, APIC ID).
//!
//! Exceptions on an AP. An AP that runs firmware code (parallel accept) first gets what the
//! bootstrap processor has: [`Mailbox::install_exception_tables`] builds the AP's own GDT and
//! TSS (#PF and #DF stacks with guard pages, named after the vCPU) and sends one work item
//! (CMD_ASSIGN_WORK with `load_exception_tables`) in which the AP loads them and the firmware's
//! IDT; a check-in after it proves the item returned. No new mailbox command is needed, so
//! the reset vector is unchanged. Do it after CMD_SET_CR3 (only the firmware's tables leave
//! the new guard pages unmapped; the reset vector's map everything with 2 MiB pages) and
//! before the first real work item. A fault on the AP then reaches the firmware's exception
//! handler, which names the vCPU (`gdt::current_vcpu`) and takes the platform's fatal path:
//! the console report, then TDVMCALL<ReportFatalError>, on which a TDX VMM ends the whole TD,
//! then halt.
//!
//! The bootstrap processor does not rely on the VMM for that (it is untrusted, and the
//! emulated TD's ReportFatalError only prints): the fatal path of an AP records it with
//! [`note_stop`] just before the AP halts, [`Mailbox::send`] returns [`Error::Stopped`] instead
//! of waiting out its timeout, and the platform's other waits for APs check [`stopped`] and
//! stop the boot too, without a second report.

use super::{gdt, idt};
use core::arch::global_asm;
use core::fmt;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{fence, AtomicU32, Ordering};

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

/// A mailbox command that did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The AP `vcpu` did not answer in time.
    Timeout { vcpu: u32 },
    /// The AP `vcpu` (not necessarily the one addressed) stopped on a fatal error, which it
    /// reported itself ([`note_stop`]).
    Stopped { vcpu: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout { vcpu } => write!(f, "vcpu {vcpu} did not answer through the mailbox"),
            Error::Stopped { vcpu } => write!(f, "vcpu {vcpu} stopped on a fatal error"),
        }
    }
}

/// [`STOPPED`] when no AP has stopped.
const NOBODY: u32 = u32::MAX;
/// The first AP that stopped on a fatal error.
static STOPPED: AtomicU32 = AtomicU32::new(NOBODY);

/// Records that the CPU running this stops for good, if it is an AP with its own exception
/// tables (`gdt::current_vcpu`); nothing on the bootstrap processor. For the fatal path,
/// after the error was reported and just before the halt.
pub fn note_stop() {
    if let Some(vcpu) = gdt::current_vcpu() {
        let _ = STOPPED.compare_exchange(NOBODY, vcpu, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// The first AP that stopped on a fatal error ([`note_stop`]), if any.
pub fn stopped() -> Option<u32> {
    match STOPPED.load(Ordering::SeqCst) {
        NOBODY => None,
        vcpu => Some(vcpu),
    }
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

    /// Sends `command` to the AP with vCPU index `vcpu` and waits for its acknowledgement;
    /// gives up early when an AP has stopped on a fatal error ([`Error::Stopped`]).
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
    ) -> Result<(), Error> {
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
            if let Some(stopped) = stopped() {
                return Err(Error::Stopped { vcpu: stopped });
            }
            core::hint::spin_loop();
            spins += 1;
            if spins > SPIN_LIMIT {
                return Err(Error::Timeout { vcpu });
            }
        }
        // SAFETY: as above.
        unsafe { write_volatile(self.ptr::<u16>(OFF_COMMAND), 0) };
        Ok(())
    }

    /// Gives the AP `vcpu` its own GDT and TSS (`gdt::prepare_ap`: #PF/#DF stacks with guard
    /// pages) and has it load them and the firmware's IDT, in a work item on `stack`; returns
    /// once the item has returned (a check-in answered after it). Once per AP, before its
    /// first work item.
    ///
    /// # Safety
    /// The AP must run on page tables that map the heap writable, the firmware and the
    /// mailbox (after CMD_SET_CR3 with the firmware's tables, which are the current ones
    /// here: the new guard pages are unmapped in them); `stack` must be the top of a stack
    /// only that AP uses; `idt::install` must have run on this (bootstrap) processor.
    pub unsafe fn install_exception_tables(&self, vcpu: u32, stack: u64) -> Result<(), Error> {
        let tables = gdt::prepare_ap(vcpu);
        // SAFETY: `load_exception_tables` is an extern "sysv64" fn(u64, u64) that only loads
        // the tables just built for this AP (never loaded before) and the filled IDT (caller);
        // the stack is that AP's alone (caller).
        unsafe {
            self.send(
                vcpu,
                CMD_ASSIGN_WORK,
                load_exception_tables as extern "sysv64" fn(u64, u64) as usize as u64,
                [stack, tables.gdt_base()],
            )
        }?;
        // The AP reads the mailbox again only after the work item returned.
        // SAFETY: a check-in only makes the AP acknowledge.
        unsafe { self.send(vcpu, CMD_CHECK_IN, 0, [0, 0]) }
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

/// Work item of [`Mailbox::install_exception_tables`], on the AP: loads the GDT and TSS at
/// `gdt_base`, then the firmware's IDT.
extern "sysv64" fn load_exception_tables(_vcpu: u64, gdt_base: u64) {
    // SAFETY: the bootstrap processor built these tables for this AP alone and sends them
    // once; its page tables (in CR3 here) map the heap writable; the IDT was filled by
    // `idt::install` before any AP got work, and the TSS it needs is loaded first.
    unsafe {
        gdt::load_ap(gdt_base);
        idt::load_ap();
    }
}

/// TEST IMAGES ONLY (features `protect-selftest-ap-*`, tests/protect.rs): at the start of the
/// accept work of vCPU 2, break a rule of the boot tables on that AP, which must end in the
/// exception handler's report naming vCPU 2 and a stop of the whole boot. `ap-stack`
/// overflows the AP's work stack into its guard page; `ap-code` writes to the firmware's
/// code (read-only). Does nothing on other vCPUs and in ordinary builds.
pub fn selftest(vcpu: u32) {
    const VICTIM: u32 = 2;
    if vcpu != VICTIM {
        return;
    }
    if cfg!(feature = "protect-selftest-ap-code") {
        let at = selftest as fn(u32) as usize as u64;
        log::warn!("protect self-test: vcpu {vcpu} writes to the firmware's code at {at:#x}");
        // SAFETY: this function's own code, mapped read-only and executable by the boot
        // tables: the write faults before it changes anything (test images only).
        unsafe { write_volatile(at as *mut u8, 0xCC) };
    }
    if cfg!(feature = "protect-selftest-ap-stack") {
        log::warn!("protect self-test: vcpu {vcpu} overflows its accept stack");
        core::hint::black_box(gdt::overflow_stack(0));
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
