// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The GDT and 64-bit TSS of every CPU that runs firmware code (Intel SDM vol. 3, 3.4.5 and
//! 8.7), and the stacks with guard pages that go with them.
//!
//! The reset vector's GDT lives in the image (ROM in a legacy VM), where the CPU cannot set
//! a TSS descriptor's busy bit, so the firmware loads its own copy in RAM with the same
//! selectors (0x08 code32, 0x10 code64, 0x18 data: what the Linux boot protocol expects) plus
//! a TSS at 0x20. The TSS gives #PF and #DF their own interrupt stacks (IST1, IST2): a stack
//! overflow into a guard page raises #PF with RSP still inside the guard page, and only a
//! known-good stack lets the handler run and say so instead of the CPU escalating to a double
//! and then a triple fault.
//!
//! One set per CPU, since LTR marks a TSS busy and two CPUs must never share an interrupt
//! stack: [`install`] builds and loads the bootstrap processor's; for each application
//! processor of a TD that runs firmware work, the bootstrap processor builds a set with
//! [`prepare_ap`] (its exception stacks named after the vCPU) and the AP loads it with
//! [`load_ap`] (through a mailbox work item, see `super::ap`). [`current_vcpu`] tells the
//! exception handler which AP it runs on: SGDT gives the base of the loaded GDT, which is
//! looked up, without a lock and without reading behind an unknown GDTR, among the bases
//! [`prepare_ap`] recorded.
//!
//! Every stack the firmware makes ([`alloc_stack`]) has an unmapped guard page below it and is
//! recorded here by name, so that the exception handler can turn a fault address into "stack
//! overflow in the … stack". Inputs are trusted (sizes and names are the firmware's own).

use alloc::vec::Vec;
use core::arch::asm;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Selector of the TSS descriptor (GDT entries 4 and 5).
pub const SEL_TSS: u16 = 0x20;
/// IST slot of the page-fault handler.
pub const IST_PAGE_FAULT: u8 = 1;
/// IST slot of the double-fault handler.
pub const IST_DOUBLE_FAULT: u8 = 2;
/// Size of each of the bootstrap processor's exception stacks (the handler formats a few
/// lines; 16 KiB is ample).
const IST_STACK_SIZE: u64 = 16 * 1024;
/// Size of each of an AP's exception stacks: half the bootstrap processor's, still several
/// times what the report needs, because up to 15 APs take theirs from the 1 MiB heap.
const AP_IST_STACK_SIZE: u64 = 8 * 1024;
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

/// Number of GDT entries: null, code32, code64, data, and the two halves of the TSS.
const GDT_ENTRIES: usize = 6;

/// A CPU's GDT and TSS in RAM, built but not loaded yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    gdt_base: u64,
}

impl Tables {
    /// Address of the GDT (what an AP's work item passes to [`load_ap`]).
    pub fn gdt_base(&self) -> u64 {
        self.gdt_base
    }
}

/// Builds a GDT and a TSS in RAM (IST1 for #PF and IST2 for #DF, each a fresh stack of
/// `ist_size` bytes with a guard page, named with `vcpu`). The memory is never freed.
fn build(vcpu: Option<u32>, ist_size: u64) -> Tables {
    let pf_top = alloc_stack(ist_size, "#PF exception stack", vcpu);
    let df_top = alloc_stack(ist_size, "#DF exception stack", vcpu);
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
    let gdt: &'static mut [u64; GDT_ENTRIES] = alloc::boxed::Box::leak(alloc::boxed::Box::new([
        0,
        0x00CF_9B00_0000_FFFF, // 0x08: flat 32-bit code, present, accessed
        0x00AF_9B00_0000_FFFF, // 0x10: 64-bit code (L=1), present, accessed
        0x00CF_9300_0000_FFFF, // 0x18: flat data, writable, present, accessed
        tss_low,               // 0x20: TSS (busy bit set by LTR: the GDT must be writable)
        tss_high,
    ]));
    Tables {
        gdt_base: gdt.as_ptr() as u64,
    }
}

/// The operand of LGDT and SGDT.
#[repr(C, packed)]
struct Gdtr {
    limit: u16,
    base: u64,
}

/// Loads the GDT at `gdt_base`, reloads the segment registers with the same selectors and
/// loads the task register.
///
/// # Safety
/// `gdt_base` must come from [`build`] (through [`Tables::gdt_base`]), and no CPU may have
/// loaded that GDT's TSS yet (LTR of a busy TSS raises #GP; a shared TSS would share the
/// interrupt stacks). The current page tables must map the GDT and TSS writable.
unsafe fn load(gdt_base: u64) {
    let gdtr = Gdtr {
        limit: (GDT_ENTRIES * 8 - 1) as u16,
        base: gdt_base,
    };
    // SAFETY: the GDT and TSS are leaked heap memory that lives forever and is not touched
    // from Rust again; the selectors keep their meaning (same descriptors as the reset
    // vector's), so reloading CS, DS, ES, SS, FS, GS with them changes nothing but the table
    // they come from; the TSS descriptor is valid and not busy (caller).
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

/// Builds the bootstrap processor's GDT and TSS in RAM (IST1 for #PF and IST2 for #DF, each
/// a fresh stack with a guard page), loads them, reloads the segment registers with the same
/// selectors and loads the task register. Call once, on the bootstrap processor, before the
/// IDT that uses the IST slots.
pub fn install() {
    let tables = build(None, IST_STACK_SIZE);
    // SAFETY: just built, loaded by nobody else; the heap is mapped read-write.
    unsafe { load(tables.gdt_base) };
}

/// Most APs [`current_vcpu`] can name (the firmware gives work to at most 15; an AP beyond
/// this would be reported without its vCPU).
const MAX_NAMED_APS: usize = 64;
/// GDT bases from [`prepare_ap`] (0 = free slot) and, in the same slot, the vCPU index.
static AP_GDT_BASES: [AtomicU64; MAX_NAMED_APS] = [const { AtomicU64::new(0) }; MAX_NAMED_APS];
static AP_GDT_VCPUS: [AtomicU32; MAX_NAMED_APS] = [const { AtomicU32::new(0) }; MAX_NAMED_APS];
static AP_GDT_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Builds the GDT and TSS of the application processor `vcpu` (exception stacks named "#PF
/// exception stack of vcpu N" and "#DF …") and records the GDT for [`current_vcpu`]. The AP
/// loads them with [`load_ap`]. Call on the bootstrap processor, once per AP, while the
/// current page tables are the ones the APs run on (the guard pages are unmapped in them).
pub fn prepare_ap(vcpu: u32) -> Tables {
    let tables = build(Some(vcpu), AP_IST_STACK_SIZE);
    let slot = AP_GDT_COUNT.fetch_add(1, Ordering::SeqCst);
    if let (Some(base), Some(index)) = (AP_GDT_BASES.get(slot), AP_GDT_VCPUS.get(slot)) {
        // The index first: a reader that finds the base reads it after an Acquire load.
        index.store(vcpu, Ordering::Relaxed);
        base.store(tables.gdt_base, Ordering::Release);
    }
    tables
}

/// Loads, on the calling application processor, the tables [`prepare_ap`] built for it.
///
/// # Safety
/// `gdt_base` must be [`Tables::gdt_base`] of tables from [`prepare_ap`] for this vCPU, loaded
/// once; the current page tables must map them (the heap) writable.
pub unsafe fn load_ap(gdt_base: u64) {
    // SAFETY: forwarded to the caller: built by `build`, never loaded before.
    unsafe { load(gdt_base) };
}

/// The vCPU index of the application processor running this, if it runs on tables from
/// [`prepare_ap`]; `None` on the bootstrap processor (and on any CPU with some other GDT).
/// Lock-free and reads no memory but our own: usable from an exception handler.
pub fn current_vcpu() -> Option<u32> {
    let mut gdtr = Gdtr { limit: 0, base: 0 };
    // SAFETY: SGDT stores 10 bytes into `gdtr`, a local of exactly that size; it changes no
    // other state.
    unsafe {
        asm!("sgdt [{}]", in(reg) &mut gdtr, options(nostack, preserves_flags));
    }
    let loaded = gdtr.base;
    let count = AP_GDT_COUNT.load(Ordering::SeqCst).min(MAX_NAMED_APS);
    AP_GDT_BASES
        .iter()
        .zip(AP_GDT_VCPUS.iter())
        .take(count)
        .find(|(base, _)| base.load(Ordering::Acquire) == loaded)
        .map(|(_, vcpu)| vcpu.load(Ordering::Relaxed))
}

/// " on vcpu N" on an application processor ([`current_vcpu`]), nothing on the bootstrap
/// processor: for the exception report's first line.
#[derive(Clone, Copy, Debug)]
pub struct OnVcpu(pub Option<u32>);

impl fmt::Display for OnVcpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, " on vcpu {v}"),
            None => Ok(()),
        }
    }
}

/// [`OnVcpu`] for the CPU running this.
pub fn on_vcpu() -> OnVcpu {
    OnVcpu(current_vcpu())
}

/// TEST IMAGES ONLY (the stack-overflow self-tests of the BSP and of the APs): uses 512 bytes
/// of stack per level, for ever, until the guard page below the stack stops it.
pub fn overflow_stack(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if core::hint::black_box(true) {
        overflow_stack(frame[1] + 1) + frame[2]
    } else {
        frame[0]
    }
}

#[cfg(test)]
mod tests {
    use super::{Guard, OnVcpu};

    #[test]
    fn reports_name_the_vcpu_only_on_an_application_processor() {
        assert_eq!(OnVcpu(Some(2)).to_string(), " on vcpu 2");
        assert_eq!(OnVcpu(None).to_string(), "");
        let ap = Guard {
            page: 0x27_0000,
            name: "#PF exception stack",
            vcpu: Some(3),
        };
        assert_eq!(ap.to_string(), "#PF exception stack of vcpu 3");
        let bsp = Guard { vcpu: None, ..ap };
        assert_eq!(bsp.to_string(), "#PF exception stack");
    }
}
