// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The bootstrap processor's GDT and 64-bit TSS (Intel SDM vol. 3, 3.4.5 and 8.7), and the
//! stacks with guard pages that go with them.
//!
//! The reset vector's GDT lives in the image (ROM in a legacy VM), where the CPU cannot set
//! a TSS descriptor's busy bit, so the firmware loads its own copy in RAM with the same
//! selectors (0x08 code32, 0x10 code64, 0x18 data: what the Linux boot protocol expects) plus
//! a TSS at 0x20. The TSS gives #PF and #DF their own interrupt stacks (IST1, IST2): a stack
//! overflow into a guard page raises #PF with RSP still inside the guard page, and only a
//! known-good stack lets the handler run and say so instead of the CPU escalating to a double
//! and then a triple fault.
//!
//! Every stack the firmware makes ([`alloc_stack`]) has an unmapped guard page below it and is
//! recorded here by name, so that the exception handler can turn a fault address into "stack
//! overflow in the … stack". Inputs are trusted (sizes and names are the firmware's own).

use alloc::vec::Vec;
use core::arch::asm;
use core::fmt;

/// Selector of the TSS descriptor (GDT entries 4 and 5).
pub const SEL_TSS: u16 = 0x20;
/// IST slot of the page-fault handler.
pub const IST_PAGE_FAULT: u8 = 1;
/// IST slot of the double-fault handler.
pub const IST_DOUBLE_FAULT: u8 = 2;
/// Size of each exception stack (the handler formats a few lines; 16 KiB is ample).
const IST_STACK_SIZE: u64 = 16 * 1024;
const PAGE: u64 = 0x1000;
/// Size of a 64-bit TSS.
const TSS_SIZE: usize = 104;

/// A stack's guard page: the 4 KiB page just below the stack, left unmapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    /// Base of the guard page.
    pub page: u64,
    /// Whose stack ("payload stack", "firmware stack", …).
    pub name: &'static str,
    /// The vCPU index, for per-CPU stacks.
    pub vcpu: Option<u32>,
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if let Some(v) = self.vcpu {
            write!(f, " of vcpu {v}")?;
        }
        Ok(())
    }
}

static GUARDS: spin::Mutex<Vec<Guard>> = spin::Mutex::new(Vec::new());

/// Records `page` as the guard page of a stack called `name` (the page tables built after this
/// leave it unmapped; see also [`alloc_stack`]). A page already recorded keeps its name.
pub fn register_guard(page: u64, name: &'static str, vcpu: Option<u32>) {
    let page = page & !(PAGE - 1);
    let mut guards = GUARDS.lock();
    if !guards.iter().any(|g| g.page == page) {
        guards.push(Guard { page, name, vcpu });
    }
}

/// Every guard page recorded so far.
pub fn guards() -> Vec<Guard> {
    GUARDS.lock().clone()
}

/// The guard page holding `addr`, if any. Never waits: from an exception handler, the
/// interrupted code may hold the lock (then the answer is `None`).
pub fn guard_at(addr: u64) -> Option<Guard> {
    let page = addr & !(PAGE - 1);
    GUARDS.try_lock()?.iter().find(|g| g.page == page).copied()
}

/// Allocates a stack of `size` bytes (rounded up to 4 KiB) with a guard page below it from
/// the heap, records the guard, and unmaps it right away when the current page tables allow
/// (4 KiB entries the firmware built; otherwise the next tables it builds leave it out).
/// Returns the 16-byte aligned top. The memory is never freed.
pub fn alloc_stack(size: u64, name: &'static str, vcpu: Option<u32>) -> u64 {
    let size = size.next_multiple_of(PAGE);
    let layout = core::alloc::Layout::from_size_align((size + PAGE) as usize, PAGE as usize)
        .expect("stack sizes are small multiples of 4 KiB");
    // SAFETY: a non-zero-sized layout; the block is never freed (stacks live forever).
    let base = unsafe { alloc::alloc::alloc_zeroed(layout) } as u64;
    if base == 0 {
        alloc::alloc::handle_alloc_error(layout);
    }
    register_guard(base, name, vcpu);
    // SAFETY: the firmware's identity-mapped tables are in CR3 (or the reset vector's, which
    // this leaves alone); the guard page is ours and nothing uses it; no other CPU has seen
    // this freshly allocated page.
    unsafe { crate::arch::cpu::unmap_4k_page(base) };
    base + PAGE + size
}

/// Builds the GDT and TSS in RAM (IST1 for #PF and IST2 for #DF, each a fresh stack with a
/// guard page), loads them, reloads the segment registers with the same selectors and loads
/// the task register. Call once, on the bootstrap processor, before the IDT that uses the IST
/// slots.
pub fn install() {
    let pf_top = alloc_stack(IST_STACK_SIZE, "#PF exception stack", None);
    let df_top = alloc_stack(IST_STACK_SIZE, "#DF exception stack", None);
    let mut tss = [0u8; TSS_SIZE];
    // IST1 at offset 0x24, IST2 at 0x2C; I/O map base = size (no I/O permission bitmap).
    tss[0x24..0x2C].copy_from_slice(&pf_top.to_le_bytes());
    tss[0x2C..0x34].copy_from_slice(&df_top.to_le_bytes());
    tss[0x66..0x68].copy_from_slice(&(TSS_SIZE as u16).to_le_bytes());
    let tss: &'static mut [u8; TSS_SIZE] = alloc::boxed::Box::leak(alloc::boxed::Box::new(tss));
    let tss_base = tss.as_ptr() as u64;
    let limit = (TSS_SIZE - 1) as u64;
    // 64-bit TSS descriptor: limit 15:0, base 23:0, type 9 (available 64-bit TSS), P, limit
    // 19:16, base 31:24; then base 63:32.
    let tss_low = (limit & 0xFFFF)
        | (tss_base & 0xFF_FFFF) << 16
        | 0x89 << 40
        | ((limit >> 16) & 0xF) << 48
        | ((tss_base >> 24) & 0xFF) << 56;
    let tss_high = tss_base >> 32;
    let gdt: &'static mut [u64; 6] = alloc::boxed::Box::leak(alloc::boxed::Box::new([
        0,
        0x00CF_9B00_0000_FFFF, // 0x08: flat 32-bit code, present, accessed
        0x00AF_9B00_0000_FFFF, // 0x10: 64-bit code (L=1), present, accessed
        0x00CF_9300_0000_FFFF, // 0x18: flat data, writable, present, accessed
        tss_low,               // 0x20: TSS (busy bit set by LTR: the GDT must be writable)
        tss_high,
    ]));
    #[repr(C, packed)]
    struct Gdtr {
        limit: u16,
        base: u64,
    }
    let gdtr = Gdtr {
        limit: (core::mem::size_of::<[u64; 6]>() - 1) as u16,
        base: gdt.as_ptr() as u64,
    };
    // SAFETY: the GDT and TSS are leaked heap memory that lives forever and is not touched
    // from Rust again; the selectors keep their meaning (same descriptors as the reset
    // vector's), so reloading CS, DS, ES, SS, FS, GS with them changes nothing but the table
    // they come from; the TSS descriptor is valid and not busy.
    unsafe {
        asm!(
            "lgdt [{gdtr}]",
            "push {code}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov {tmp:e}, {data:e}",
            "mov ds, {tmp:x}",
            "mov es, {tmp:x}",
            "mov ss, {tmp:x}",
            "mov fs, {tmp:x}",
            "mov gs, {tmp:x}",
            "mov {tmp:e}, {tss:e}",
            "ltr {tmp:x}",
            gdtr = in(reg) &gdtr,
            code = in(reg) u64::from(crate::layout::SEL_CODE64),
            data = in(reg) u32::from(crate::layout::SEL_DATA),
            tss = in(reg) u32::from(SEL_TSS),
            tmp = out(reg) _,
        );
    }
}
