// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Memory protection: which page of the identity map allows what. The policy is a list of
//! [`Rule`]s (later rules win) made by the pure [`rules`] and written by `mem::paging`:
//!
//! | Range | Rights |
//! |---|---|
//! | all RAM and MMIO below max(4 GiB, end of RAM) | read-write, no-execute |
//! | firmware ELF headers and `.rodata` | read-only, no-execute |
//! | firmware `.text` | read-only, executable |
//! | firmware `.data.rel.ro`/`.got` (relocated by the image linker) | read-only, no-execute |
//! | firmware `.data`/`.bss`, heap, stacks, page tables, HOBs, ACPI | read-write, no-execute |
//! | the image (configuration/payload FV, metadata, IPL, reset-vector tables) | read-only, no-execute |
//! | reset-vector code (a TD's APs wait in it) | read-only, executable |
//! | the OS mailbox loop page (TD) | read-only, executable |
//! | an ELF payload's segments | as its `p_flags` say |
//! | a Linux kernel's load areas and RAM below 640 KiB | read-write-executable |
//! | page 0 (not for Linux; mapped in the emulated TD's boot tables), every stack's guard page | not mapped |
//! | RAM a TD has not accepted (yet) | not mapped |
//!
//! Two sets of tables: [`early`], right after the IDT, maps [0, 4 GiB) from the temporary
//! heap, so that the firmware parses its untrusted inputs (TD HOB, fw_cfg, ACPI, payload) with
//! W^X and guard pages in force; [`apply`], once the payload is placed, maps all RAM from
//! a region of the memory map and stays loaded for the payload. Boundaries come from the
//! firmware's linker script (`td-shim/firmware.ld`), the memory map and the payload's program
//! headers; all trusted (the payload's flags only say what the payload itself gets).
//!
//! Unaccepted RAM (a TD) is never mapped: once the TD HOB gave the memory map, [`early_for`]
//! rebuilds the boot tables without it, and every accept maps its range first
//! ([`map_accepted`], called by `inputs::accept_range`). So a stray access by the firmware to
//! memory it has not accepted is a page fault with a report, not an access to a pending page
//! (an EPT violation in a real TD). The hand-off tables of an executable payload map all RAM
//! as the HOB spec says (a payload may accept more and use it through the identity map),
//! except in the emulated TD's test images, which leave what is still unaccepted unmapped
//! there too so that the model can check it; Linux builds its own tables and accepts before
//! it touches.
//!
//! No-execute bits are written only when EFER.NXE is set on every CPU that loads the tables:
//! the TDX module fixes it in a TD (and the emulated TD's APs set it in the reset vector); in
//! a legacy VM the reset vector sets it when CPUID reports NX and only the bootstrap processor
//! runs firmware code.

use crate::arch::{ap, cpu, gdt};
use crate::error::Error;
use crate::layout::{
    self, FOUR_GIB, MAX_IMAGE_SIZE, PAGE_SIZE, RESET_PAGE_TABLE_PAGES, RESET_VECTOR_BASE,
};
use crate::mem::map::{Kind, MemoryMap, Usage};
use crate::mem::paging::{self, Access};
use crate::platform::{Platform, PlatformKind};
use alloc::vec::Vec;
use log::{debug, info, warn};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `[start, end)` gets `access`; `None` leaves it unmapped. Later rules override earlier
/// ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub start: u64,
    pub end: u64,
    pub access: Option<Access>,
    pub what: &'static str,
}

/// The firmware's memory image at `SHIM_RUN_BASE`, as laid out by `firmware.ld`: read-only
/// headers and constants from `base` to `text.0`, then code, relocated constants, data/BSS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Firmware {
    pub base: u64,
    pub text: (u64, u64),
    pub relro: (u64, u64),
    pub data: (u64, u64),
}

/// What the tables are for, as far as rights go.
#[derive(Clone, Copy, Debug)]
pub enum Payload<'a> {
    /// Nothing placed yet (the early tables).
    None,
    /// An ELF payload's loaded segments: `[start, end)` and the rights its `p_flags` ask for.
    Elf(&'a [(u64, u64, Access)]),
    /// A Linux kernel's load areas.
    Linux(&'a [(u64, u64)]),
}

/// Inputs of [`rules`].
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    /// Map `[0, end)`.
    pub end: u64,
    pub firmware: Firmware,
    /// First byte of the image (everything up to 4 GiB is image).
    pub image_base: u64,
    pub payload: Payload<'a>,
    /// The page holding the OS mailbox loop code (TD).
    pub os_loop: Option<u64>,
    /// Guard pages (base addresses).
    pub guards: &'a [u64],
    /// Leave page 0 unmapped (null pointers fault).
    pub unmap_page0: bool,
    /// RAM not accepted yet (TD lazy accept), `[start, end)` page aligned: left unmapped.
    pub unaccepted: &'a [(u64, u64)],
}

/// Below this, RAM stays executable for a Linux kernel: a TD's APs jump through the OS
/// mailbox to the kernel's real-mode trampoline (allocated below 1 MiB) while still on these
/// tables (without this the emulated-TD SMP boot dies bringing up the secondary CPUs), and a
/// decompressor that switches between 4- and 5-level paging runs a 32-bit trampoline it puts
/// in the highest free RAM below the EBDA.
pub const LINUX_LOW_EXEC_END: u64 = 0xA_0000;

/// First byte of the reset vector's code (after its page tables): the phase-1 AP loop, the
/// GDT and the entry code.
pub const RESET_CODE_BASE: u64 = RESET_VECTOR_BASE + RESET_PAGE_TABLE_PAGES * PAGE_SIZE;

fn page_floor(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

fn page_ceil(a: u64) -> u64 {
    a.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// The protection policy for `plan`, as ordered rules (see the module table).
pub fn rules(plan: &Plan<'_>) -> Vec<Rule> {
    let rule = |start, end, access, what| Rule {
        start,
        end,
        access,
        what,
    };
    let mut r = Vec::new();
    r.push(rule(0, plan.end, Some(Access::RW), "ram and mmio"));
    match plan.payload {
        Payload::None => {}
        Payload::Linux(areas) => {
            r.push(rule(
                0,
                LINUX_LOW_EXEC_END,
                Some(Access::RWX),
                "low ram (linux trampolines)",
            ));
            for &(s, e) in areas {
                r.push(rule(
                    page_floor(s),
                    page_ceil(e),
                    Some(Access::RWX),
                    "linux load area",
                ));
            }
        }
        Payload::Elf(segments) => {
            let segs: Vec<(u64, u64, Access)> = segments
                .iter()
                .filter(|s| s.1 > s.0)
                .map(|&(s, e, a)| (page_floor(s), page_ceil(e), a))
                .collect();
            for &(s, e, a) in &segs {
                r.push(rule(s, e, Some(a), "payload segment"));
            }
            // A page two segments share (linkers that do not page-align segments) gets what
            // either asks for. Segments do not overlap (the ELF parser refuses that), so only
            // their rounded edges can; a handful of segments: pairs are cheap.
            for (i, a) in segs.iter().enumerate() {
                for b in segs.iter().skip(i + 1) {
                    let (start, end) = (a.0.max(b.0), a.1.min(b.1));
                    if start < end {
                        r.push(rule(
                            start,
                            end,
                            Some(a.2.union(b.2)),
                            "page shared by payload segments",
                        ));
                    }
                }
            }
        }
    }
    r.push(rule(plan.image_base, FOUR_GIB, Some(Access::R), "image"));
    r.push(rule(
        RESET_CODE_BASE,
        FOUR_GIB,
        Some(Access::RX),
        "reset-vector code",
    ));
    let fw = plan.firmware;
    r.push(rule(
        fw.base,
        fw.text.0,
        Some(Access::R),
        "firmware headers and constants",
    ));
    r.push(rule(
        fw.text.0,
        fw.text.1,
        Some(Access::RX),
        "firmware code",
    ));
    r.push(rule(
        fw.relro.0,
        fw.relro.1,
        Some(Access::R),
        "firmware relocated constants",
    ));
    r.push(rule(
        fw.data.0,
        fw.data.1,
        Some(Access::RW),
        "firmware data",
    ));
    if let Some(l) = plan.os_loop {
        r.push(rule(
            l,
            l + PAGE_SIZE,
            Some(Access::RX),
            "os mailbox loop code",
        ));
    }
    if plan.unmap_page0 && !matches!(plan.payload, Payload::Linux(_)) {
        r.push(rule(0, PAGE_SIZE, None, "page 0"));
    }
    for &g in plan.guards {
        r.push(rule(
            page_floor(g),
            page_floor(g) + PAGE_SIZE,
            None,
            "stack guard page",
        ));
    }
    // Last, so that nothing above can map a page the TD has not accepted.
    for &(s, e) in plan.unaccepted {
        r.push(rule(page_floor(s), page_ceil(e), None, "unaccepted ram"));
    }
    r
}

/// Writes `rules` into `tables`, in order.
pub fn build(tables: &mut paging::Tables<'_>, rules: &[Rule]) -> Result<(), paging::Error> {
    for r in rules.iter().filter(|r| r.end > r.start) {
        match r.access {
            Some(a) => tables.map(r.start, r.end, a)?,
            None => tables.unmap(r.start, r.end)?,
        }
    }
    Ok(())
}

/// Table pages enough for `rules` over `[0, end)`: the 2 MiB skeleton plus one page table
/// for each 2 MiB page a rule boundary may fall into (two per rule).
pub fn pages_for(end: u64, rules: &[Rule]) -> u64 {
    paging::pages_needed(end, 2 * rules.len() as u64)
}

/// The firmware's sections, from the symbols `firmware.ld` defines (relocated with the
/// firmware, so these are run-time addresses).
#[cfg(target_os = "none")]
fn firmware_layout() -> Result<Firmware, Error> {
    extern "C" {
        static __td_shim_text_start: u8;
        static __td_shim_text_end: u8;
        static __td_shim_relro_start: u8;
        static __td_shim_relro_end: u8;
        static __td_shim_data_start: u8;
        static __td_shim_end: u8;
    }
    let a = |p: *const u8| p as u64;
    let fw = Firmware {
        base: layout::SHIM_RUN_BASE,
        text: (
            a(core::ptr::addr_of!(__td_shim_text_start)),
            a(core::ptr::addr_of!(__td_shim_text_end)),
        ),
        relro: (
            a(core::ptr::addr_of!(__td_shim_relro_start)),
            a(core::ptr::addr_of!(__td_shim_relro_end)),
        ),
        data: (
            a(core::ptr::addr_of!(__td_shim_data_start)),
            a(core::ptr::addr_of!(__td_shim_end)),
        ),
    };
    check_layout(&fw)?;
    Ok(fw)
}

/// Off target there is no firmware image to protect (host builds of the library).
#[cfg(not(target_os = "none"))]
fn firmware_layout() -> Result<Firmware, Error> {
    Err(Error::Image("no firmware image off target"))
}

/// The sections must be page aligned, in order, and inside the run region.
#[cfg_attr(not(any(target_os = "none", test)), allow(dead_code))]
fn check_layout(fw: &Firmware) -> Result<(), Error> {
    let points = [
        fw.base, fw.text.0, fw.text.1, fw.relro.0, fw.relro.1, fw.data.0, fw.data.1,
    ];
    let aligned = points.iter().all(|p| p % PAGE_SIZE == 0);
    let ordered = points.windows(2).all(|w| w[0] <= w[1]);
    let inside = fw.data.1 <= layout::SHIM_RUN_BASE + layout::SHIM_RUN_SIZE;
    if aligned && ordered && inside && fw.text.1 > fw.text.0 {
        Ok(())
    } else {
        Err(Error::Image(
            "firmware sections are not page aligned and ordered (firmware.ld)",
        ))
    }
}

/// Whether every CPU that will load the tables honours no-execute bits (module docs).
fn nx_available(p: &dyn Platform) -> bool {
    cpu::nx_enabled(p.kind() == PlatformKind::Tdx)
}

fn guard_pages() -> Vec<u64> {
    gdt::guards().iter().map(|g| g.page).collect()
}

fn log_rules(rules: &[Rule]) {
    for r in rules {
        let rights: &dyn core::fmt::Display = match &r.access {
            Some(a) => a,
            None => &"unmapped",
        };
        debug!(
            "protect: [{:#x}, {:#x}) {} {}",
            r.start, r.end, rights, r.what
        );
    }
}

fn summary(stage: &str, nx: bool, pages: u64) {
    let guards = gdt::guards().len();
    if nx {
        info!("memory protection {stage}: code r-x, constants r--, data rw- no-execute, {guards} stack guard pages, {pages} table pages");
    } else {
        warn!("memory protection {stage} without no-execute (EFER.NXE is off): code and constants read-only, {guards} stack guard pages");
    }
}

/// One page of page-table memory (the heap hands out 4 KiB-aligned blocks of these).
#[derive(Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C, align(4096))]
struct TablePage([u8; PAGE_SIZE as usize]);

/// Most heap pages the early tables may take (the temporary heap is 1 MiB; 256 pages map
/// about 250 GiB with 2 MiB pages).
const MAX_EARLY_PAGES: u64 = 256;

/// Table pages kept spare in tables that [`map_accepted`] changes: each range accepted with
/// an edge inside a 2 MiB page not split yet takes one.
const SPARE_PAGES: u64 = 16;

/// The tables in CR3 that [`map_accepted`] adds ranges to (the boot tables of [`early_for`],
/// then the hand-off tables of [`apply`]); `None` before the memory map is known.
static LIVE: spin::Mutex<Option<paging::Tables<'static>>> = spin::Mutex::new(None);

/// Registers the bootstrap processor's temporary stack guard and loads tables for
/// [0, 4 GiB) built on the heap (no memory map yet): firmware W^X, image read-only, page 0
/// and every guard page known so far unmapped, the rest read-write no-execute. Call right
/// after the IDT is installed.
pub fn early(p: &dyn Platform) -> Result<(), Error> {
    early_tables(p, FOUR_GIB, &[])
}

/// The same early tables over [0, max(4 GiB, `end`)): for RAM above 4 GiB that the firmware
/// touches before [`apply`] (reading an initrd placed there in a legacy VM), once the memory
/// map says where RAM ends.
pub fn early_to(p: &dyn Platform, end: u64) -> Result<(), Error> {
    early_tables(p, end, &[])
}

/// The early tables once the TD HOB gave the memory map, before anything is accepted: over
/// [0, max(4 GiB, end of RAM)), with the RAM still unaccepted left unmapped. Each range is
/// mapped as it gets accepted ([`map_accepted`]).
pub fn early_for(p: &dyn Platform, map: &MemoryMap) -> Result<(), Error> {
    let unaccepted = map.unaccepted_ranges();
    early_tables(p, map.ram_end(), &unaccepted)?;
    let left: u64 = unaccepted.iter().map(|(s, e)| e - s).sum();
    if left != 0 {
        info!(
            "memory protection: {} MiB of unaccepted ram unmapped until accepted",
            left >> 20
        );
    }
    Ok(())
}

fn early_tables(p: &dyn Platform, end: u64, unaccepted: &[(u64, u64)]) -> Result<(), Error> {
    gdt::register_guard(layout::TEMP_STACK_BASE, "firmware stack", None);
    let guards = guard_pages();
    let plan = Plan {
        end: end.max(FOUR_GIB),
        firmware: firmware_layout()?,
        image_base: FOUR_GIB - MAX_IMAGE_SIZE,
        payload: Payload::None,
        os_loop: None,
        guards: &guards,
        // The emulated TDX module (test images) zeroes the pages it accepts through the
        // identity map, page 0 included; a real one does not touch the guest's mappings.
        unmap_page0: !cfg!(feature = "emulated-tdx"),
        unaccepted,
    };
    let rules = rules(&plan);
    let mut pages = pages_for(plan.end, &rules);
    if !unaccepted.is_empty() {
        pages += SPARE_PAGES;
    }
    if pages > MAX_EARLY_PAGES {
        return Err(Error::Image("too much ram for the early page tables"));
    }
    // Leaked on purpose: these tables stay in use, by this CPU and by the APs given them for
    // parallel accept, until `apply` (identity-mapped heap: the address is the physical one).
    let buf: &'static mut [TablePage] =
        alloc::vec![TablePage([0; PAGE_SIZE as usize]); pages as usize].leak();
    let base = buf.as_ptr() as u64;
    let mut tables = paging::Tables::new(buf.as_mut_bytes(), base)?;
    let nx = nx_available(p);
    if nx {
        tables.enable_nx();
    }
    build(&mut tables, &rules)?;
    log_rules(&rules);
    // SAFETY: the tables map this code (r-x), the stack above its guard page, the heap, the
    // IDT/GDT/TSS and every static (rw-), the image (r--, reset-vector code r-x) and all MMIO
    // below 4 GiB, like the reset vector's tables did (and RAM above if asked), minus page 0,
    // the guard pages and RAM not accepted yet (nothing of the firmware is there); NX bits
    // only if EFER.NXE is set here (and on the APs, see the module docs).
    unsafe { cpu::write_cr3(tables.root()) };
    summary("for the boot", nx, tables.used_pages());
    *LIVE.lock() = Some(tables);
    selftest(&plan.firmware);
    Ok(())
}

/// Maps `[start, end)` (page aligned), RAM about to be accepted, read-write no-execute in the
/// tables in CR3 (and so for the APs that share them). Called right before the accept: the
/// emulated TDX module zeroes what it accepts through the identity map (a real one ignores
/// the guest's mappings), and nothing else touches the range until the accept is done. No TLB
/// flush: a not-present entry is never cached (SDM vol. 3, 4.10.4.3).
pub fn map_accepted(start: u64, end: u64) -> Result<(), Error> {
    if let Some(tables) = LIVE.lock().as_mut() {
        tables.map(start, end, Access::RW)?;
        debug!("protect: [{start:#x}, {end:#x}) rw- accepted ram");
    }
    Ok(())
}

/// Maps `[start, end)` (page aligned, RAM the TD just shared with the host) read-write
/// no-execute to its shared alias (`addr | shared_bit`) in the tables in CR3, so that the
/// firmware reads and writes what the host sees; `shared_bit` 0 (a VM where the alias is the
/// address itself, e.g. the emulated TD) keeps the identity map. [`map_private`] undoes it.
/// The entries were present: the TLB is flushed (CR3 reloaded; only the bootstrap processor
/// touches shared memory).
pub fn map_shared(start: u64, end: u64, shared_bit: u64) -> Result<(), Error> {
    remap(start, end, shared_bit)?;
    debug!("protect: [{start:#x}, {end:#x}) rw- shared (alias bit {shared_bit:#x})");
    Ok(())
}

/// Maps `[start, end)` back to its private identity (after [`map_shared`]), before the range
/// is converted back to private memory.
pub fn map_private(start: u64, end: u64) -> Result<(), Error> {
    remap(start, end, 0)
}

fn remap(start: u64, end: u64, shared_bit: u64) -> Result<(), Error> {
    let mut live = LIVE.lock();
    let tables = live.as_mut().ok_or(Error::Image(
        "shared memory before the boot page tables exist",
    ))?;
    tables.map_shared(start, end, Access::RW, shared_bit)?;
    // SAFETY: the same tables stay in CR3; reloading it drops stale translations of the
    // range (no global pages are used).
    unsafe { cpu::write_cr3(tables.root()) };
    Ok(())
}

/// TEST IMAGES ONLY (feature `protect-selftest-unaccepted`, tests/emulated.rs): reads the
/// lowest page of RAM still unaccepted, which the tables leave unmapped: the read must end in
/// the exception handler's page-fault report.
pub fn selftest_unaccepted(map: &MemoryMap) {
    if !cfg!(feature = "protect-selftest-unaccepted") {
        return;
    }
    let Some(&(start, _)) = map.unaccepted_ranges().first() else {
        warn!("protect self-test: no unaccepted ram to read");
        return;
    };
    warn!("protect self-test: reading unaccepted ram at {start:#x}");
    // SAFETY: a page the TD has not accepted, left unmapped by the tables in CR3: the read
    // faults before it returns anything (test images only).
    let _ = unsafe { core::ptr::read_volatile(start as *const u8) };
}

/// TEST IMAGES ONLY (features `protect-selftest-*`, tests/protect.rs): break a rule of the
/// boot tables from firmware code, which must end in the exception handler's report.
fn selftest(fw: &Firmware) {
    if cfg!(feature = "protect-selftest-code") {
        warn!(
            "protect self-test: writing to the firmware's code at {:#x}",
            fw.text.0
        );
        // SAFETY: the firmware's first code page, mapped read-only by the tables just loaded:
        // the write faults before it changes anything (test images only).
        unsafe { core::ptr::write_volatile(fw.text.0 as *mut u8, 0xCC) };
    }
    if cfg!(feature = "protect-selftest-stack") {
        warn!("protect self-test: overflowing the firmware stack");
        core::hint::black_box(crate::arch::gdt::overflow_stack(0));
    }
}

/// What is about to run, for [`apply`].
#[derive(Clone, Copy, Debug)]
pub enum Booting<'a> {
    /// An ELF payload with its loaded segments (`[start, end)`, rights from `p_flags`).
    Elf(&'a [(u64, u64, Access)]),
    /// A Linux kernel (its load areas are the memory map's `Usage::Kernel` ranges).
    Linux,
}

/// Builds the final tables over [0, max(4 GiB, end of RAM)) in a region taken from `map`, puts
/// the OS mailbox loop code in place (it becomes read-only), and loads them. `stack_guard` is
/// the payload stack's guard page.
pub fn apply(
    p: &dyn Platform,
    map: &mut MemoryMap,
    image_base: u64,
    booting: Booting<'_>,
    os_mailbox: Option<u64>,
    stack_guard: u64,
) -> Result<(), Error> {
    gdt::register_guard(layout::TEMP_STACK_BASE, "firmware stack", None);
    gdt::register_guard(stack_guard, "payload stack", None);
    let kernel: Vec<(u64, u64)> = map
        .regions()
        .iter()
        .filter(|r| r.kind == Kind::Used(Usage::Kernel))
        .map(|r| (r.start, r.end))
        .collect();
    let guards = guard_pages();
    // The payload's tables map all RAM, accepted or not (`../shared/spec/hob.md` §5: a
    // payload that accepts memory later uses the identity map); only the emulated TD's test
    // images leave it unmapped here too, so that its model can check at hand-off that no
    // mapping of unaccepted RAM was ever needed. The firmware's own boot tables never map it.
    let unaccepted = if cfg!(feature = "emulated-tdx") {
        map.unaccepted_ranges()
    } else {
        Vec::new()
    };
    let plan = Plan {
        end: map.ram_end().max(FOUR_GIB),
        firmware: firmware_layout()?,
        image_base,
        payload: match booting {
            Booting::Elf(segments) => Payload::Elf(segments),
            Booting::Linux => Payload::Linux(&kernel),
        },
        os_loop: os_mailbox.map(|m| m + PAGE_SIZE),
        guards: &guards,
        unmap_page0: true,
        unaccepted: &unaccepted,
    };
    let rules = rules(&plan);
    let mut pages = pages_for(plan.end, &rules);
    if !unaccepted.is_empty() {
        pages += SPARE_PAGES;
    }
    let base = map.allocate(pages * PAGE_SIZE, PAGE_SIZE, FOUR_GIB, Usage::PageTables)?;
    // SAFETY: just allocated from free RAM; identity mapped by the current tables.
    let mem = unsafe { crate::mem::phys_slice_mut(base, pages * PAGE_SIZE) };
    let mut tables = paging::Tables::new(mem, base)?;
    let nx = nx_available(p);
    if nx {
        tables.enable_nx();
    }
    build(&mut tables, &rules)?;
    if let Some(l) = plan.os_loop {
        // SAFETY: the page after the OS mailbox, reserved with it (Usage::Mailbox) for the
        // loop code and writable in the current tables; the new ones make it read-only.
        unsafe { ap::install_os_loop(l) };
    }
    log_rules(&rules);
    debug!(
        "page tables: {} of {} pages at {:#x}, mapping [0, {:#x})",
        tables.used_pages(),
        pages,
        base,
        plan.end
    );
    // SAFETY: the tables identity-map [0, end) holding all accepted RAM, MMIO below 4 GiB and
    // the image: this code (r-x), the stack above its guard page, the heap, statics,
    // IDT/GDT/TSS (rw-) and the payload; NX bits only if EFER.NXE is set on every CPU that
    // loads them.
    unsafe { cpu::write_cr3(tables.root()) };
    summary("for the payload", nx, tables.used_pages());
    // The boot tables are not freed: APs that took accept work still run on them until
    // `park_aps` gives them these.
    *LIVE.lock() = Some(tables);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec;

    const G: u64 = 0x4000_0000;

    /// A layout like `firmware.ld` produces (addresses picked by hand).
    fn fw() -> Firmware {
        Firmware {
            base: 0x10_0000,
            text: (0x10_7000, 0x12_9000),
            relro: (0x12_9000, 0x12_A000),
            data: (0x12_A000, 0x12_C000),
        }
    }

    fn tables_for(plan: &Plan<'_>, buf: &mut alloc::vec::Vec<u8>) -> u64 {
        let rules = rules(plan);
        let pages = pages_for(plan.end, &rules);
        *buf = vec![0u8; (pages * PAGE_SIZE) as usize];
        pages
    }

    fn check(plan: &Plan<'_>, expect: &[(u64, Option<Access>)]) {
        let rules = rules(plan);
        let mut buf = Vec::new();
        let pages = tables_for(plan, &mut buf);
        let mut t = paging::Tables::new(&mut buf, 0x7000_0000).unwrap();
        t.enable_nx();
        build(&mut t, &rules).unwrap();
        assert!(t.used_pages() <= pages);
        for &(addr, want) in expect {
            assert_eq!(t.access(addr), want, "at {addr:#x}");
            if want.is_some() {
                assert_eq!(t.translate(addr), Some(addr), "identity at {addr:#x}");
            }
        }
    }

    #[test]
    fn early_map_protects_the_firmware_and_its_stack() {
        let guards = [layout::TEMP_STACK_BASE, 0x25_0000];
        let plan = Plan {
            end: 4 * G,
            firmware: fw(),
            image_base: FOUR_GIB - MAX_IMAGE_SIZE,
            payload: Payload::None,
            os_loop: None,
            guards: &guards,
            unmap_page0: true,
            unaccepted: &[],
        };
        check(
            &plan,
            &[
                (0, None),
                (0xFFF, None),
                (0x1000, Some(Access::RW)),
                (0x10_0000, Some(Access::R)), // ELF header
                (0x10_6FFF, Some(Access::R)),
                (0x10_7000, Some(Access::RX)),
                (0x12_8FFF, Some(Access::RX)),
                (0x12_9000, Some(Access::R)),
                (0x12_A000, Some(Access::RW)),
                (0x12_BFFF, Some(Access::RW)),
                (0x12_C000, Some(Access::RW)), // rest of the run region
                (layout::TEMP_STACK_BASE, None), // temporary stack guard
                (layout::TEMP_STACK_BASE + 0x1000, Some(Access::RW)),
                (0x24_F000, Some(Access::RW)),
                (0x25_0000, None),
                (0x25_1000, Some(Access::RW)),
                (0xFEE0_0300, Some(Access::RW)), // local APIC
                (0xFF00_0000, Some(Access::R)),
                (RESET_VECTOR_BASE, Some(Access::R)), // reset-vector page tables
                (RESET_CODE_BASE - 1, Some(Access::R)),
                (RESET_CODE_BASE, Some(Access::RX)),
                (0xFFFF_FFF0, Some(Access::RX)),
                (4 * G, None),
            ],
        );
    }

    #[test]
    fn elf_payload_gets_its_flags_and_its_stack_a_guard() {
        // Segments as lld lays them out (R, RX, RW on their own pages) plus two GNU-ld-like
        // ones sharing a page (RX ending and RW starting inside 0x3A0_1000).
        let base = 0x3A0_0000;
        let segs = [
            (base, base + 0x99C, Access::R),
            (base + 0x19A0, base + 0x385C, Access::RX),
            (base + 0x4860, base + 0x5000, Access::RW),
            (0x3B0_0000, 0x3B0_1800, Access::RX),
            (0x3B0_1800, 0x3B0_3000, Access::RW),
            // Empty (p_memsz 0): asks for nothing, shares nothing.
            (0x3B0_2800, 0x3B0_2800, Access::RX),
        ];
        let guards = [layout::TEMP_STACK_BASE, 0x3C0_0000];
        let plan = Plan {
            end: 6 * G,
            firmware: fw(),
            image_base: FOUR_GIB - 0x20_0000,
            payload: Payload::Elf(&segs),
            os_loop: None,
            guards: &guards,
            unmap_page0: true,
            unaccepted: &[],
        };
        check(
            &plan,
            &[
                (0, None),
                (base, Some(Access::R)),
                (base + 0x1000, Some(Access::RX)), // rounded out to the page
                (base + 0x3FFF, Some(Access::RX)),
                (base + 0x4000, Some(Access::RW)),
                (base + 0x5000, Some(Access::RW)), // gap after the payload: data
                (0x3B0_0000, Some(Access::RX)),
                (0x3B0_1000, Some(Access::RWX)), // shared page: union
                (0x3B0_2000, Some(Access::RW)),
                (0x3C0_0000, None), // payload stack guard
                (0x3C0_1000, Some(Access::RW)),
                (FOUR_GIB - 0x20_0000 - 1, Some(Access::RW)),
                (FOUR_GIB - 0x20_0000, Some(Access::R)),
                (5 * G, Some(Access::RW)), // RAM above 4 GiB
                (6 * G, None),
            ],
        );
    }

    #[test]
    fn linux_gets_low_ram_and_its_load_area_executable() {
        let kernel = [(0x100_0000, 0x100_0000 + 0x2A3_4567)];
        let guards = [layout::TEMP_STACK_BASE];
        let plan = Plan {
            end: 4 * G,
            firmware: fw(),
            image_base: FOUR_GIB - 0x20_0000,
            payload: Payload::Linux(&kernel),
            os_loop: Some(0x7FF0_1000),
            guards: &guards,
            unmap_page0: true,
            unaccepted: &[],
        };
        check(
            &plan,
            &[
                (0, Some(Access::RWX)), // page 0 readable: the kernel reads the BDA
                (0x9_F000, Some(Access::RWX)),
                (0xA_0000, Some(Access::RW)),
                (0x10_7000, Some(Access::RX)), // the firmware is still protected
                (0x100_0000, Some(Access::RWX)),
                (0x100_0000 + 0x2A3_4000, Some(Access::RWX)),
                (0x100_0000 + 0x2A3_5000, Some(Access::RW)),
                (0x7FF0_0000, Some(Access::RW)), // the mailbox
                (0x7FF0_1000, Some(Access::RX)), // its loop code
                (0x7FF0_2000, Some(Access::RW)),
                (layout::TEMP_STACK_BASE, None),
            ],
        );
    }

    #[test]
    fn table_budget_covers_every_boundary() {
        // Many small, unaligned segments: each may split two 2 MiB pages.
        let segs: Vec<(u64, u64, Access)> = (0..40u64)
            .map(|i| {
                let s = 0x400_0000 + i * 0x30_1000;
                (s + 0x123, s + 0x2345, Access::RX)
            })
            .collect();
        let plan = Plan {
            end: 8 * G,
            firmware: fw(),
            image_base: FOUR_GIB - MAX_IMAGE_SIZE,
            payload: Payload::Elf(&segs),
            os_loop: None,
            guards: &[0x20_0000, 0x30_0000, 0x80_0000],
            unmap_page0: false,
            unaccepted: &[],
        };
        let rules = rules(&plan);
        let pages = pages_for(plan.end, &rules);
        let mut buf = vec![0u8; (pages * PAGE_SIZE) as usize];
        let mut t = paging::Tables::new(&mut buf, 0).unwrap();
        build(&mut t, &rules).unwrap();
        assert!(t.used_pages() <= pages);
    }

    #[test]
    fn unaccepted_ram_stays_unmapped_until_mapped_as_accepted() {
        // Lazy accept in an 8 GiB TD: [0x1040_0000, 2 GiB) and [4.5 GiB, 10 GiB) unaccepted,
        // the second starting inside a 2 MiB page (an edge the bitmap cannot describe).
        let unaccepted = [(0x1040_0000, 2 * G), (4 * G + G / 2 + 0x3000, 10 * G)];
        let guards = [layout::TEMP_STACK_BASE];
        let plan = Plan {
            end: 10 * G,
            firmware: fw(),
            image_base: FOUR_GIB - MAX_IMAGE_SIZE,
            payload: Payload::None,
            os_loop: None,
            guards: &guards,
            unmap_page0: false,
            unaccepted: &unaccepted,
        };
        let rules = rules(&plan);
        // The unaccepted rules come last: nothing can map those pages again.
        assert_eq!(rules[rules.len() - 1].what, "unaccepted ram");
        assert_eq!(rules[rules.len() - 2].what, "unaccepted ram");
        let pages = pages_for(plan.end, &rules) + SPARE_PAGES;
        let mut buf = vec![0u8; (pages * PAGE_SIZE) as usize];
        let mut t = paging::Tables::new(&mut buf, 0x7000_0000).unwrap();
        t.enable_nx();
        build(&mut t, &rules).unwrap();
        for (addr, want) in [
            (0x103F_F000, Some(Access::RW)),
            (0x1040_0000, None),
            (2 * G - 1, None),
            (2 * G, Some(Access::RW)), // MMIO hole below 4 GiB
            (4 * G, Some(Access::RW)),
            (4 * G + G / 2 + 0x2FFF, Some(Access::RW)),
            (4 * G + G / 2 + 0x3000, None),
            (10 * G - 1, None),
        ] {
            assert_eq!(t.access(addr), want, "at {addr:#x}");
        }
        // Accepting maps, in place: a 2 MiB-aligned piece, the unaligned head of the second
        // range, and a piece with both edges inside 2 MiB pages (takes spare pages).
        t.map(0x1040_0000, 0x2040_0000, Access::RW).unwrap();
        t.map(
            4 * G + G / 2 + 0x3000,
            4 * G + G / 2 + 0x20_0000,
            Access::RW,
        )
        .unwrap();
        t.map(5 * G + 0x1000, 5 * G + 0x40_5000, Access::RW)
            .unwrap();
        assert!(t.used_pages() <= pages);
        for (addr, want) in [
            (0x1040_0000, Some(Access::RW)),
            (0x203F_FFFF, Some(Access::RW)),
            (0x2040_0000, None),
            (4 * G + G / 2 + 0x3000, Some(Access::RW)),
            (4 * G + G / 2 + 0x20_0000, None),
            (5 * G, None),
            (5 * G + 0x1000, Some(Access::RW)),
            (5 * G + 0x40_4FFF, Some(Access::RW)),
            (5 * G + 0x40_5000, None),
        ] {
            assert_eq!(t.access(addr), want, "at {addr:#x}");
        }
    }

    #[test]
    fn firmware_layout_is_checked() {
        assert!(check_layout(&fw()).is_ok());
        let mut bad = fw();
        bad.text.0 += 0x10;
        assert!(check_layout(&bad).is_err());
        let mut bad = fw();
        bad.relro = (0x12_A000, 0x12_9000);
        assert!(check_layout(&bad).is_err());
        let mut bad = fw();
        bad.data.1 = layout::SHIM_RUN_BASE + layout::SHIM_RUN_SIZE + PAGE_SIZE;
        assert!(check_layout(&bad).is_err());
    }
}
