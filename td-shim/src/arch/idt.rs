// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Interrupt descriptor table for the 32 CPU exceptions. Every vector enters a small stub
//! (pushes a dummy error code where the CPU does not, then the vector number), a common path
//! saves all general-purpose registers and calls the handler registered with [`install`],
//! which must not return. Vectors 32–255 are left not-present: a stray interrupt becomes a
//! #GP that is reported like any other exception. #PF and #DF run on their own stacks (IST
//! slots of the TSS in [`super::gdt`]), so that a stack overflow into a guard page can still be
//! reported. [`page_fault_cause`] decodes a #PF error code (SDM vol. 3, 4.7).
//!
//! One IDT serves every CPU: the bootstrap processor fills and loads it ([`install`]); a TD's
//! application processors that run firmware work load the same table ([`load_ap`]) after
//! their own GDT and TSS (`super::gdt::load_ap`), so the IST slots name their own stacks. The
//! handler finds out which vCPU it runs on with `super::gdt::current_vcpu`.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Register state at the exception, as saved by the common entry path (lowest address
/// first).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ExceptionFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Name of an exception vector.
pub fn vector_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD error",
        20 => "#VE virtualization exception",
        21 => "#CP control protection",
        _ => "reserved exception",
    }
}

// Stubs are 16 bytes apart so that the IDT can be filled from the first stub's address
// without a table of absolute addresses (which would need relocations).
global_asm!(
    r#"
    .section .text.td_shim_exceptions, "ax"
    .balign 16
    .global td_shim_exception_stubs
td_shim_exception_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .balign 16
    .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
    .else
    push 0
    .endif
    push \n
    jmp td_shim_exception_common
    .endr

td_shim_exception_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    cld
    call {dispatch}
    test rax, rax
    jz 3f
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq
3:
    ud2
    "#,
    dispatch = sym exception_dispatch,
);

extern "C" {
    static td_shim_exception_stubs: u8;
}

/// Handler called with the saved frame. Returning `true` resumes the interrupted code with
/// the (possibly updated) frame, e.g. after a #VE was emulated; otherwise it must not return.
pub type Handler = fn(&mut ExceptionFrame) -> bool;

static HANDLER: AtomicUsize = AtomicUsize::new(0);

extern "sysv64" fn exception_dispatch(frame: &mut ExceptionFrame) -> u64 {
    let h = HANDLER.load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: HANDLER only ever holds a value written by `install` from a `Handler`.
        let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(h) };
        if handler(frame) {
            return 1;
        }
    }
    loop {
        crate::arch::cpu::disable_interrupts();
        crate::arch::cpu::hlt();
    }
}

#[repr(C, packed)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const GATE_NOT_PRESENT: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    type_attr: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
};

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: spin::Mutex<Idt> = spin::Mutex::new(Idt([GATE_NOT_PRESENT; 256]));

#[repr(C, packed)]
struct Idtr {
    limit: u16,
    base: u64,
}

/// Loads the firmware's GDT and TSS ([`super::gdt::install`]), then fills the IDT with the 32
/// exception stubs (interrupt gates, code selector `code_selector`, #PF and #DF on their IST
/// stacks) and loads it; `handler` receives every exception. Call once, on the bootstrap
/// processor.
pub fn install(code_selector: u16, handler: Handler) {
    HANDLER.store(handler as usize, Ordering::Release);
    super::gdt::install();
    let stubs = core::ptr::addr_of!(td_shim_exception_stubs) as u64;
    let mut idt = IDT.lock();
    for (vector, gate) in idt.0.iter_mut().take(32).enumerate() {
        let addr = stubs + 16 * vector as u64;
        *gate = Gate {
            offset_low: addr as u16,
            selector: code_selector,
            ist: match vector {
                8 => super::gdt::IST_DOUBLE_FAULT,
                14 => super::gdt::IST_PAGE_FAULT,
                _ => 0,
            },
            type_attr: 0x8E, // present, DPL 0, 64-bit interrupt gate
            offset_mid: (addr >> 16) as u16,
            offset_high: (addr >> 32) as u32,
            reserved: 0,
        };
    }
    drop(idt);
    // SAFETY: the gates were just filled, and `gdt::install` loaded this CPU's TSS.
    unsafe { load() };
}

/// Loads the IDT on the calling CPU.
///
/// # Safety
/// [`install`] must have filled the IDT, and this CPU must run on a GDT with the TSS whose
/// IST1/IST2 stacks the #PF/#DF gates use (`super::gdt`).
unsafe fn load() {
    let idtr = Idtr {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        // The static's address (the lock guards the gates, taken only while filling them).
        base: IDT.lock().0.as_ptr() as u64,
    };
    // SAFETY: the IDT is a static that lives forever, its gates point at the stubs above
    // with the firmware's 64-bit code segment (caller: filled), and the CPU has the TSS the
    // IST slots refer to (caller).
    unsafe { asm!("lidt [{}]", in(reg) &idtr, options(readonly, nostack, preserves_flags)) };
}

/// Loads the firmware's IDT on the calling application processor, so that an exception there
/// reaches the handler given to [`install`] (on this AP's exception stacks) instead of
/// ending in a triple fault.
///
/// # Safety
/// [`install`] must have run on the bootstrap processor, and this AP must have loaded its own
/// GDT and TSS with `super::gdt::load_ap`.
pub unsafe fn load_ap() {
    // SAFETY: forwarded to the caller.
    unsafe { load() };
}

/// #PF error-code bits (SDM vol. 3, 4.7).
const PF_PRESENT: u64 = 1 << 0;
const PF_WRITE: u64 = 1 << 1;
const PF_RESERVED: u64 = 1 << 3;
const PF_FETCH: u64 = 1 << 4;
const PF_PROTECTION_KEY: u64 = 1 << 5;
const PF_SHADOW_STACK: u64 = 1 << 6;

/// Whether a page fault with `error_code` was an instruction fetch.
pub fn page_fault_is_fetch(error_code: u64) -> bool {
    error_code & PF_FETCH != 0
}

/// What a page fault with `error_code` was, in words: which access, and why it was refused.
pub fn page_fault_cause(error_code: u64) -> &'static str {
    let access = if error_code & PF_FETCH != 0 {
        0
    } else if error_code & PF_WRITE != 0 {
        1
    } else {
        2
    };
    if error_code & PF_RESERVED != 0 {
        return "reserved bit set in a page-table entry";
    }
    if error_code & PF_PRESENT == 0 {
        return [
            "instruction fetch from an unmapped page",
            "write to an unmapped page",
            "read from an unmapped page",
        ][access];
    }
    if error_code & PF_SHADOW_STACK != 0 {
        return "shadow-stack access refused";
    }
    if error_code & PF_PROTECTION_KEY != 0 {
        return "access refused by a protection key";
    }
    [
        "instruction fetch from a no-execute page",
        "write to a read-only page",
        "read refused by the page permissions",
    ][access]
}

#[cfg(test)]
mod tests {
    use super::page_fault_cause;

    #[test]
    fn page_fault_error_codes_are_decoded() {
        // Error codes as the SDM defines them: P = 1, W/R = 2, U/S = 4, RSVD = 8, I/D = 16.
        assert_eq!(page_fault_cause(0b0_0011), "write to a read-only page");
        assert_eq!(
            page_fault_cause(0b1_0001),
            "instruction fetch from a no-execute page"
        );
        assert_eq!(page_fault_cause(0b0_0000), "read from an unmapped page");
        assert_eq!(page_fault_cause(0b0_0010), "write to an unmapped page");
        assert_eq!(
            page_fault_cause(0b1_0000),
            "instruction fetch from an unmapped page"
        );
        assert_eq!(
            page_fault_cause(0b0_1001),
            "reserved bit set in a page-table entry"
        );
        // User-mode bit does not change the answer.
        assert_eq!(page_fault_cause(0b0_0111), "write to a read-only page");
        assert!(super::page_fault_is_fetch(0b1_0000));
        assert!(!super::page_fault_is_fetch(0b0_0010));
    }
}
