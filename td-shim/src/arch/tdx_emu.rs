// SPDX-License-Identifier: BSD-2-Clause-Patent
//! A software model of the TDX module, standing in for the TDCALL instruction in test images
//! built with the `emulated-tdx` feature, so that every TD code path of the firmware runs in an
//! ordinary QEMU VM. Production images never contain it (the module only exists with the
//! feature).
//!
//! What it models (`../shared/spec/tdcall.md`):
//! - TDG.VP.INFO: GPAW 48, vCPU count from QEMU fw_cfg, vCPU index = initial APIC ID;
//! - TDG.MEM.PAGE.ACCEPT: keeps the set of accepted pages, starting with what the VMM added
//!   (the TD HOB's accepted RAM), zeroes what it accepts, and answers with the real status
//!   codes: TDX_PAGE_ALREADY_ACCEPTED, TDX_PAGE_SIZE_MISMATCH for a 2 MiB accept over a range
//!   already partly accepted in 4 KiB pages (as if the host had mapped it with 4 KiB pages).
//!   A page the firmware accepts twice is reported on the console as a double accept;
//! - TDG.MR.RTMR.EXTEND: four SHA-384 RTMRs; TDG.MR.REPORT: a TDREPORT-shaped structure with
//!   them; TDG.VP.VEINFO.GET: no #VE ever happens here, so it fails;
//! - TDG.VP.VMCALL: carried out natively (port I/O, CPUID, MSRs, HLT, MMIO); GetQuote is
//!   refused. MapGPA changes only the model's books (an ordinary VM has no private/shared
//!   split, so devices keep using real addresses: `shared_mask` is 0): a page converted to
//!   shared (GPA with bit 47 set) is no longer accepted, and accepting it while shared is an
//!   error; converted back to private (bit clear) it is pending again, so accepting it then is
//!   not a double accept. At hand-off the model prints what is still shared, and checks with
//!   a walk of the page tables in CR3 that no RAM it has not accepted is mapped (the firmware
//!   never maps unaccepted RAM, `boot::protect`).

use super::tdcall::{
    Regs, TDG_MEM_PAGE_ACCEPT, TDG_VP_INFO, TDG_VP_VMCALL, TDX_PAGE_ALREADY_ACCEPTED,
    TDX_PAGE_SIZE_MISMATCH,
};
use super::{cpu, io};
use crate::format::hob;
use crate::layout;
use crate::logger::Console;
use alloc::vec::Vec;
use core::fmt::Write;
use sha2::{Digest, Sha384};

const TDG_MR_RTMR_EXTEND: u64 = 2;
const TDG_VP_VEINFO_GET: u64 = 3;
const TDG_MR_REPORT: u64 = 4;
/// TDX_OPERAND_INVALID.
const OPERAND_INVALID: u64 = 0xC000_0100_0000_0000;
/// TDVMCALL sub-function status: invalid operand.
const VMCALL_INVALID_OPERAND: u64 = 0x8000_0000_0000_0000;
/// TDVMCALL sub-function status: alignment error.
const VMCALL_ALIGNMENT_ERROR: u64 = 0x8000_0000_0000_0002;

const PAGE: u64 = 0x1000;
const SIZE_2M: u64 = 0x20_0000;
/// The GPA width the model reports.
pub const GPAW: u64 = 48;

struct Model {
    initialized: bool,
    /// Accepted 4 KiB pages as sorted, merged `[start, end)` ranges.
    accepted: Vec<(u64, u64)>,
    /// Pages accepted through TDCALL (as opposed to added by the VMM), same form.
    by_guest: Vec<(u64, u64)>,
    /// Pages converted to shared by MapGPA and not converted back, same form.
    shared: Vec<(u64, u64)>,
    /// The TD HOB's RAM (accepted and unaccepted), same form.
    ram: Vec<(u64, u64)>,
    rtmr: [[u8; 48]; 4],
    accepts_2m: u64,
    accepts_4k: u64,
    double_accepts: u64,
}

static MODEL: spin::Mutex<Model> = spin::Mutex::new(Model {
    initialized: false,
    accepted: Vec::new(),
    by_guest: Vec::new(),
    shared: Vec::new(),
    ram: Vec::new(),
    rtmr: [[0; 48]; 4],
    accepts_2m: 0,
    accepts_4k: 0,
    double_accepts: 0,
});

fn insert(set: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(set.len() + 1);
    let (mut s, mut e) = (start, end);
    let mut placed = false;
    for &(a, b) in set.iter() {
        if b < s {
            out.push((a, b));
        } else if a > e {
            if !placed {
                out.push((s, e));
                placed = true;
            }
            out.push((a, b));
        } else {
            s = s.min(a);
            e = e.max(b);
        }
    }
    if !placed {
        out.push((s, e));
    }
    *set = out;
}

/// Takes `[start, end)` out of `set`.
fn remove(set: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(set.len() + 1);
    for &(a, b) in set.iter() {
        if b <= start || a >= end {
            out.push((a, b));
            continue;
        }
        if a < start {
            out.push((a, start));
        }
        if b > end {
            out.push((end, b));
        }
    }
    *set = out;
}

/// The parts of `[start, end)` not covered by `set`.
fn gaps(set: &[(u64, u64)], start: u64, end: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = start;
    for &(a, b) in set {
        if b <= at || a >= end {
            continue;
        }
        if a > at {
            out.push((at, a));
        }
        at = at.max(b);
    }
    if at < end {
        out.push((at, end));
    }
    out
}

/// Bytes of `[start, end)` covered by `set`.
fn covered(set: &[(u64, u64)], start: u64, end: u64) -> u64 {
    set.iter()
        .map(|&(a, b)| b.min(end).saturating_sub(a.max(start)))
        .sum()
}

impl Model {
    /// The pages a TDX VMM added before the TD started: the TD HOB's accepted RAM.
    fn init(&mut self) {
        if self.initialized {
            return;
        }
        self.initialized = true;
        // SAFETY: the TD_HOB section is fixed early RAM written by the VMM (simulator); the
        // model only reads it.
        let bytes = unsafe { crate::mem::phys_slice(layout::TD_HOB_BASE, layout::TD_HOB_SIZE) };
        // The current convention (hob.md §2.2): type 0 accepted RAM, type 7 unaccepted.
        if let Ok(list) = hob::parse(bytes, layout::TD_HOB_BASE) {
            for r in list.resources() {
                let Some(end) = r.start.checked_add(r.length) else {
                    continue;
                };
                match r.resource_type {
                    hob::RESOURCE_SYSTEM_MEMORY => {
                        insert(&mut self.accepted, r.start, end);
                        insert(&mut self.ram, r.start, end);
                    }
                    hob::RESOURCE_MEMORY_UNACCEPTED => insert(&mut self.ram, r.start, end),
                    _ => {}
                }
            }
        }
    }
}

fn accept(rcx: u64) -> u64 {
    let gpa = rcx & 0x000F_FFFF_FFFF_F000;
    let level = rcx & 0x7;
    let size = match level {
        0 => PAGE,
        1 => SIZE_2M,
        _ => return OPERAND_INVALID,
    };
    if !gpa.is_multiple_of(size) {
        return OPERAND_INVALID;
    }
    let end = gpa + size;
    {
        let mut m = MODEL.lock();
        m.init();
        if covered(&m.shared, gpa, end) != 0 {
            // In a real TD the private page is gone while the GPA is shared.
            let _ = writeln!(
                Console,
                "emulated-tdx: ERROR accept of [{gpa:#x}, {end:#x}) while it is shared"
            );
            return OPERAND_INVALID;
        }
        let done = covered(&m.accepted, gpa, end);
        if done == size {
            if covered(&m.by_guest, gpa, end) != 0 {
                m.double_accepts += 1;
                let _ = writeln!(
                    Console,
                    "emulated-tdx: ERROR double accept of [{gpa:#x}, {end:#x})"
                );
            }
            return TDX_PAGE_ALREADY_ACCEPTED;
        }
        if done != 0 {
            // Partly accepted 2 MiB: the host would have had to map it with 4 KiB pages.
            return TDX_PAGE_SIZE_MISMATCH;
        }
        insert(&mut m.accepted, gpa, end);
        insert(&mut m.by_guest, gpa, end);
        if level == 1 {
            m.accepts_2m += 1;
        } else {
            m.accepts_4k += 1;
        }
    }
    // Outside the lock, so that vCPUs accepting in parallel zero in parallel.
    // SAFETY: the page was unaccepted until now: in a real TD nothing could be in it, and the
    // firmware only accepts ranges it does not use; the model zeroes it as the TDX module does.
    unsafe { core::ptr::write_bytes(gpa as *mut u8, 0, size as usize) };
    0
}

/// TDVMCALL<MapGPA> on the model's books; returns the sub-function status (R10).
fn map_gpa(gpa: u64, size: u64) -> u64 {
    let shared_bit = 1u64 << (GPAW - 1);
    let start = gpa & !shared_bit;
    let Some(end) = start.checked_add(size) else {
        return VMCALL_INVALID_OPERAND;
    };
    if size == 0 || !start.is_multiple_of(PAGE) || !size.is_multiple_of(PAGE) {
        return VMCALL_ALIGNMENT_ERROR;
    }
    let mut m = MODEL.lock();
    m.init();
    if gpa & shared_bit != 0 {
        // The private pages are dropped: no longer accepted, by anyone.
        remove(&mut m.accepted, start, end);
        remove(&mut m.by_guest, start, end);
        insert(&mut m.shared, start, end);
    } else {
        // Private again, and pending: the guest must accept the pages before use.
        remove(&mut m.shared, start, end);
    }
    0
}

fn vp_info() -> Regs {
    let mut cpus = [0u8; 2];
    // SAFETY: QEMU's fw_cfg selector and data ports; reading the CPU-count item has no side
    // effect beyond the selection.
    unsafe {
        io::outw(0x510, 0x05);
        cpus[0] = io::inb(0x511);
        cpus[1] = io::inb(0x511);
    }
    let n = u64::from(u16::from_le_bytes(cpus).max(1));
    let apic_id = u64::from(cpu::cpuid(1, 0).ebx >> 24);
    Regs {
        rax: 0,
        rcx: GPAW,
        rdx: 0,
        r8: n | (n << 32),
        r9: apic_id,
        ..Regs::default()
    }
}

fn extend(rcx: u64, rdx: u64) -> u64 {
    if !rcx.is_multiple_of(64) || rdx > 3 {
        return OPERAND_INVALID;
    }
    // SAFETY: the caller of TDG.MR.RTMR.EXTEND passes the GPA of a 48-byte digest it owns; the
    // firmware runs identity-mapped.
    let digest = unsafe { core::slice::from_raw_parts(rcx as *const u8, 48) };
    let mut m = MODEL.lock();
    let i = rdx as usize;
    let mut h = Sha384::new();
    h.update(m.rtmr[i]);
    h.update(digest);
    m.rtmr[i].copy_from_slice(&h.finalize());
    0
}

fn report(rcx: u64, rdx: u64) -> u64 {
    if !rcx.is_multiple_of(1024) || !rdx.is_multiple_of(64) {
        return OPERAND_INVALID;
    }
    // SAFETY: the caller passes a 1024-byte output buffer and 64 bytes of REPORTDATA it owns.
    let (out, data) = unsafe {
        (
            core::slice::from_raw_parts_mut(rcx as *mut u8, 1024),
            core::slice::from_raw_parts(rdx as *const u8, 64),
        )
    };
    out.fill(0);
    // REPORTMACSTRUCT: report type (TDX = 0x81) at 0, REPORTDATA at 128.
    out[0] = 0x81;
    out[128..192].copy_from_slice(data);
    // TDINFO_STRUCT at 512: ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR[4].
    let m = MODEL.lock();
    for (i, r) in m.rtmr.iter().enumerate() {
        let at = 512 + 16 + 4 * 48 + i * 48;
        out[at..at + 48].copy_from_slice(r);
    }
    0
}

/// TDG.VP.VMCALL carried out with native instructions.
fn vmcall(mut r: Regs) -> Regs {
    r.rax = 0;
    r.r10 = 0;
    match r.r11 {
        // Instruction.IO: R12 size, R13 direction (1 = out), R14 port, R15 data.
        30 => {
            let port = r.r14 as u16;
            // SAFETY: the firmware asked for this port access; natively it is what it is.
            unsafe {
                match (r.r13, r.r12) {
                    (1, 1) => io::outb(port, r.r15 as u8),
                    (1, 2) => io::outw(port, r.r15 as u16),
                    (1, 4) => io::outl(port, r.r15 as u32),
                    (0, 1) => r.r11 = u64::from(io::inb(port)),
                    (0, 2) => r.r11 = u64::from(io::inw(port)),
                    (0, 4) => r.r11 = u64::from(io::inl(port)),
                    _ => r.r10 = VMCALL_INVALID_OPERAND,
                }
            }
        }
        // Instruction.HLT.
        12 => cpu::hlt(),
        // Instruction.CPUID.
        10 => {
            let c = cpu::cpuid(r.r12 as u32, r.r13 as u32);
            (r.r12, r.r13, r.r14, r.r15) = (c.eax.into(), c.ebx.into(), c.ecx.into(), c.edx.into());
        }
        // Instruction.RDMSR / WRMSR.
        31 => {
            let (lo, hi): (u32, u32);
            // SAFETY: the firmware asked to read this MSR.
            unsafe {
                core::arch::asm!("rdmsr", in("ecx") r.r12 as u32, out("eax") lo, out("edx") hi, options(nomem, nostack))
            };
            r.r11 = u64::from(lo) | (u64::from(hi) << 32);
        }
        32 => {
            // SAFETY: the firmware asked to write this MSR.
            unsafe {
                core::arch::asm!("wrmsr", in("ecx") r.r12 as u32, in("eax") r.r13 as u32, in("edx") (r.r13 >> 32) as u32, options(nostack))
            };
        }
        // #VE.RequestMMIO: R12 size, R13 direction (1 = write), R14 GPA, R15 data.
        48 => {
            let addr = r.r14 & !(1 << (GPAW - 1));
            // SAFETY: the firmware asked for this device access; the address is MMIO.
            unsafe {
                match (r.r13, r.r12) {
                    (1, 1) => core::ptr::write_volatile(addr as *mut u8, r.r15 as u8),
                    (1, 2) => core::ptr::write_volatile(addr as *mut u16, r.r15 as u16),
                    (1, 4) => core::ptr::write_volatile(addr as *mut u32, r.r15 as u32),
                    (1, 8) => core::ptr::write_volatile(addr as *mut u64, r.r15),
                    (0, 1) => r.r11 = u64::from(core::ptr::read_volatile(addr as *const u8)),
                    (0, 2) => r.r11 = u64::from(core::ptr::read_volatile(addr as *const u16)),
                    (0, 4) => r.r11 = u64::from(core::ptr::read_volatile(addr as *const u32)),
                    (0, 8) => r.r11 = core::ptr::read_volatile(addr as *const u64),
                    _ => r.r10 = VMCALL_INVALID_OPERAND,
                }
            }
        }
        // MapGPA: R12 GPA (shared bit set: to shared; clear: to private), R13 size.
        0x10001 => r.r10 = map_gpa(r.r12, r.r13),
        // ReportFatalError.
        0x10003 => {
            let _ = writeln!(
                Console,
                "emulated-tdx: ReportFatalError code {:#x}",
                r.r12 & 0xFFFF_FFFF
            );
        }
        _ => r.r10 = VMCALL_INVALID_OPERAND,
    }
    r
}

/// The model's TDCALL.
///
/// # Safety
/// As `tdcall::tdcall`: the caller owns whatever memory the leaf touches.
pub unsafe fn tdcall(regs: Regs) -> Regs {
    match regs.rax & 0xFFFF {
        TDG_VP_VMCALL => vmcall(regs),
        TDG_VP_INFO => vp_info(),
        TDG_MEM_PAGE_ACCEPT => Regs {
            rax: accept(regs.rcx),
            ..regs
        },
        TDG_MR_RTMR_EXTEND => Regs {
            rax: extend(regs.rcx, regs.rdx),
            ..regs
        },
        TDG_MR_REPORT => Regs {
            rax: report(regs.rcx, regs.rdx),
            ..regs
        },
        TDG_VP_VEINFO_GET => Regs {
            rax: OPERAND_INVALID,
            ..regs
        },
        _ => Regs {
            rax: OPERAND_INVALID,
            ..regs
        },
    }
}

/// The shared-bit mask the model wants OR-ed into GPAs given to the host: none, since an
/// ordinary VM has no private/shared split (DMA must reach the real address).
pub fn shared_mask() -> u64 {
    0
}

/// Prints the emulated RTMRs and accept statistics (at hand-off).
pub fn report_at_handoff() {
    let m = MODEL.lock();
    for (i, r) in m.rtmr.iter().enumerate() {
        let _ = write!(Console, "emulated RTMR{i} = ");
        for b in r {
            let _ = write!(Console, "{b:02x}");
        }
        let _ = writeln!(Console);
    }
    let _ = writeln!(
        Console,
        "emulated-tdx: accept calls: {} x 2 MiB, {} x 4 KiB, {} double accepts",
        m.accepts_2m, m.accepts_4k, m.double_accepts
    );
    let total: u64 = m.accepted.iter().map(|(a, b)| b - a).sum();
    let _ = writeln!(Console, "emulated-tdx: accepted {total:#x} bytes in total");
    let shared: u64 = m.shared.iter().map(|(a, b)| b - a).sum();
    let _ = writeln!(
        Console,
        "emulated-tdx: shared {shared:#x} bytes at hand-off"
    );
    // The RAM not accepted (nor shared), and how much of it the tables in CR3 map. The walk
    // must see the tables' own root page (RAM the firmware uses) mapped, or it proves nothing.
    let cr3 = cpu::cr3();
    let root = cr3 & 0x000F_FFFF_FFFF_F000;
    if mapped_bytes(cr3, root, root + PAGE).0 != PAGE {
        let _ = writeln!(
            Console,
            "emulated-tdx: ERROR page-table walk does not see the tables at {root:#x}"
        );
    }
    let (mut unaccepted, mut mapped, mut first) = (0u64, 0u64, None);
    for &(s, e) in &m.ram {
        for (a, b) in gaps(&m.accepted, s, e) {
            for (c, d) in gaps(&m.shared, a, b) {
                unaccepted += d - c;
                let (n, at) = mapped_bytes(cr3, c, d);
                mapped += n;
                first = first.or(at);
            }
        }
    }
    let _ = writeln!(
        Console,
        "emulated-tdx: unaccepted ram at hand-off: {unaccepted:#x} bytes, {mapped:#x} of them mapped"
    );
    if let Some(at) = first {
        let _ = writeln!(
            Console,
            "emulated-tdx: ERROR unaccepted ram is mapped, first at {at:#x}"
        );
    }
}

/// Bytes of `[start, end)` (page aligned) that the 4-level tables at `cr3` map, and the first
/// mapped address: a walk like the CPU's, skipping absent upper-level entries whole.
fn mapped_bytes(cr3: u64, start: u64, end: u64) -> (u64, Option<u64>) {
    const ADDR: u64 = 0x000F_FFFF_FFFF_F000;
    const P: u64 = 1;
    const PS: u64 = 1 << 7;
    let read = |table: u64, index: u64| -> u64 {
        // SAFETY: the firmware's page tables live in identity-mapped RAM (heap or a region
        // of the memory map); the model only reads them.
        unsafe { core::ptr::read_volatile(((table & ADDR) + (index & 511) * 8) as *const u64) }
    };
    let (mut total, mut first) = (0u64, None);
    let mut at = start;
    while at < end {
        let l4 = read(cr3, at >> 39);
        let (size, present) = if l4 & P == 0 {
            (1u64 << 39, false)
        } else {
            let l3 = read(l4, at >> 30);
            if l3 & P == 0 || l3 & PS != 0 {
                (1 << 30, l3 & P != 0)
            } else {
                let l2 = read(l3, at >> 21);
                if l2 & P == 0 || l2 & PS != 0 {
                    (1 << 21, l2 & P != 0)
                } else {
                    (1 << 12, read(l2, at >> 12) & P != 0)
                }
            }
        };
        let stop = ((at / size + 1) * size).min(end);
        if present {
            total += stop - at;
            first = first.or(Some(at));
        }
        at = stop;
    }
    (total, first)
}

/// The current RTMR values.
pub fn rtmrs() -> [[u8; 48]; 4] {
    MODEL.lock().rtmr
}
