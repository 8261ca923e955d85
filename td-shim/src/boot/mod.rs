// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The boot sequence, top to bottom: decide the platform, collect and validate the inputs
//! (image metadata, memory map, payload), place the runtime regions, load the payload,
//! build its page tables and HOB, and jump. Any error is logged once and stops the machine.

pub mod acpi;
pub mod efi;
pub mod handoff;
pub mod inputs;
pub mod linux;
pub mod measurer;
pub mod protect;
pub mod tables;

use crate::arch::idt::{self, ExceptionFrame};
use crate::arch::{cpu, gdt};
use crate::error::Error;
use crate::layout::{self, FOUR_GIB, PAGE_SIZE};
use crate::loader::elf;
use crate::logger::{self, Console};
use crate::mem::{self, map::Usage, paging};
use crate::platform::fw_cfg::FwCfg;
use crate::platform::{self, Platform, PlatformKind};
use core::fmt::Write;
use handoff::Handoff;
use log::{debug, error, info};

/// What the reset vector passed (see `reset-vector/main.asm` and `src/main.rs`).
#[derive(Clone, Copy, Debug)]
pub struct EntryArgs {
    /// `layout::ENTRY_MODE_*`.
    pub mode: u64,
    /// Built-in self-test result (legacy entry only).
    pub bist: u64,
    /// vCPU index (TD entry only).
    pub vcpu_index: u64,
    /// VMM parameter from TDH.VP.INIT (untrusted; TD entry only).
    pub vmm_param: u64,
    /// EBX at reset in a TD (GPAW in bits 5:0).
    pub gpaw_word: u64,
}

/// Size of an executable payload's stack (its guard page comes on top of this).
pub const PAYLOAD_STACK_SIZE: u64 = 0x10_0000;
/// Size of the stack a Linux kernel is entered on. Both 64-bit entry points (the bzImage's
/// and vmlinux's `startup_64`) load their own stack before they use one; this only has to
/// hold what a kernel might push first. Small on purpose: it sits next to the zero page in
/// RAM that is touched anyway, where a 1 MiB stack took another 2 MiB of fresh RAM (a host
/// page fault and a page to clear in QEMU, a page to accept in a TD).
pub const LINUX_STACK_SIZE: u64 = 0x4000;
/// Size of the region holding the payload HOB (and later the ACPI tables).
pub const TABLES_SIZE: u64 = 0x1_0000;

static PLATFORM: spin::Once<&'static dyn Platform> = spin::Once::new();

/// Boots. Never returns: either jumps to the payload or stops the machine.
pub fn run(entry: EntryArgs) -> ! {
    let platform = match platform::detect(entry.mode) {
        Ok(p) => p,
        Err(e) => {
            // No trusted console yet: if this is not a TD, port I/O works; say it and stop.
            if !platform::cpuid_says_tdx() {
                logger::init(platform::legacy::get());
                let _ = writeln!(Console, "td-shim: ERROR cannot decide the platform: {e}");
            }
            loop {
                cpu::disable_interrupts();
                cpu::hlt();
            }
        }
    };
    PLATFORM.call_once(|| platform);
    logger::init(platform);
    idt::install(layout::SEL_CODE64, on_exception);
    info!(
        "td-shim {} starting on {}",
        env!("CARGO_PKG_VERSION"),
        platform.kind()
    );
    platform::announce(platform);
    // W^X and stack guard pages from here on, while the untrusted inputs are parsed.
    if let Err(e) = protect::early(platform) {
        fatal(platform, e);
    }
    if entry.bist != 0 {
        log::warn!("built-in self-test reported {:#x}", entry.bist);
    }
    match try_boot(&entry, platform) {
        Ok(h) => {
            info!("handing off to the {} at {:#x}", h.kind(), h.entry());
            platform.before_handoff();
            // SAFETY: `try_boot` built the hand-off from a loaded payload, its own stack and
            // HOB, and the page tables now in CR3 map all of them.
            unsafe { handoff::jump(h) }
        }
        Err(e) => fatal(platform, e),
    }
}

fn fatal(platform: &dyn Platform, e: Error) -> ! {
    error!("boot failed: {e}");
    measurer::on_fatal();
    platform.fatal(e.code())
}

fn try_boot(entry: &EntryArgs, p: &'static dyn Platform) -> Result<Handoff, Error> {
    let image = inputs::image()?;
    info!(
        "image: {:#x} bytes at {:#x}, {} metadata sections",
        image.size,
        image.base,
        image.metadata.sections.len()
    );
    let (mut map, fw, measuring) = inputs::memory_map(p, &image, entry)?;
    info!(
        "memory: {} MiB of ram, highest end {:#x}, {} vcpus",
        ram_mib(&map),
        map.ram_end(),
        p.vcpu_count()
    );

    // Measured boot: the log (which first records the VMM's memory description, measured
    // when it was read), then the image's configuration volume (RTMR0).
    measurer::start(p, &mut map, measuring)?;
    if let Some((base, region)) = image.cfv {
        measurer::record(|| crate::measure::cfv(base, region))?;
    }

    let target = choose_target(&image, fw.as_ref())?;

    // In a TD the firmware holds the APs: they go to a mailbox in reserved memory that the
    // MADT announces (ACPI Multiprocessor Wakeup).
    let os_mailbox = match p.kind() {
        PlatformKind::Tdx => Some(map.allocate(0x2000, PAGE_SIZE, FOUR_GIB, Usage::Mailbox)?),
        PlatformKind::LegacyVm => None,
    };

    let mut linux_lazy = false;
    let prepared = match target {
        Target::Elf(bytes) => {
            let elf = secure_payload(&image, bytes)?;
            measurer::record(|| crate::measure::payload(elf.as_ptr() as u64, elf))?;
            Prepared::Elf(load_elf(elf, &mut map)?)
        }
        Target::Linux(src) => {
            // Lazy accept: a kernel that reads Linux's unaccepted-memory table gets the rest
            // through a minimal EFI system table (efi.rs); an older one, all of it accepted.
            linux_lazy = efi::before_prepare(p, src, fw.as_ref(), &mut map)?;
            let l = linux::prepare(src, fw.as_ref(), p.vcpu_count(), os_mailbox, &mut map)?;
            if linux_lazy {
                efi::after_prepare(p, &mut map)?;
            }
            Prepared::Linux(l)
        }
    };
    // No fw_cfg access after this: its DMA bounce buffer (a TD) becomes private RAM again.
    inputs::release_fw_cfg(p, fw, &mut map)?;

    // A stack for the payload (Linux uses it only until it sets up its own), guard page below.
    let stack_size = match prepared {
        Prepared::Elf(_) => PAYLOAD_STACK_SIZE,
        Prepared::Linux(_) => LINUX_STACK_SIZE,
    };
    let stack_base = map.allocate(
        stack_size + PAGE_SIZE,
        PAGE_SIZE,
        FOUR_GIB,
        Usage::PayloadStack,
    )?;
    let stack_top = stack_base + PAGE_SIZE + stack_size;
    let tables_base = match prepared {
        Prepared::Elf(_) => map.allocate(TABLES_SIZE, PAGE_SIZE, FOUR_GIB, Usage::Tables)?,
        Prepared::Linux(_) => 0,
    };

    // Page tables for the rest of the boot and the payload: identity map of
    // [0, max(4 GiB, end of RAM)) with W^X, the payload's segments as it asks, guard pages
    // left out (boot::protect).
    let booting = match &prepared {
        Prepared::Elf(elf) => protect::Booting::Elf(&elf.segments),
        Prepared::Linux(_) => protect::Booting::Linux,
    };
    protect::apply(p, &mut map, image.base, booting, os_mailbox, stack_base)?;

    if let Some(mailbox) = os_mailbox {
        p.park_aps(mailbox)?;
    }

    // Hand-off data last, so that its memory view shows every region above.
    match prepared {
        Prepared::Elf(elf) => {
            let ccel = measurer::ccel_table();
            let acpi: alloc::vec::Vec<&[u8]> = ccel.iter().map(|t| t.as_slice()).collect();
            let hob = tables::payload_hob(&map, image.payload_fv, tables_base, &acpi);
            if hob.len() as u64 > TABLES_SIZE {
                return Err(Error::Image("payload hob larger than its region"));
            }
            // SAFETY: [tables_base, +TABLES_SIZE) was allocated above for exactly this.
            let out = unsafe { mem::phys_slice_mut(tables_base, TABLES_SIZE) };
            out.fill(0);
            out[..hob.len()].copy_from_slice(&hob);
            debug!("payload hob: {} bytes at {:#x}", hob.len(), tables_base);
            measurer::finish()?;
            Ok(Handoff::Executable {
                entry: elf.entry,
                hob: tables_base,
                load_base: elf.load_base,
                stack_top,
            })
        }
        Prepared::Linux(l) => {
            let efi = if linux_lazy {
                Some(efi::publish(&mut map, l.rsdp)?)
            } else {
                None
            };
            linux::finish(&l, &map, efi.as_ref())?;
            measurer::finish()?;
            Ok(Handoff::Linux {
                entry: l.entry,
                boot_params: l.boot_params,
                stack_top,
            })
        }
    }
}

/// What to boot: the image's own payload; else a kernel the VMM put into the Payload section
/// (cloud-hypervisor style); else one QEMU offers through fw_cfg.
fn choose_target(image: &inputs::Image, fw: Option<&FwCfg<'_>>) -> Result<Target, Error> {
    Ok(match image.payload {
        Some(inputs::Payload::Elf(bytes)) => Target::Elf(bytes),
        // Signed or not, `secure_payload` decides what may run.
        Some(inputs::Payload::Signed(blob)) => Target::Elf(blob),
        Some(inputs::Payload::Linux {
            kernel,
            initrd,
            cmdline,
        }) => Target::Linux(linux::Source::Embedded {
            kernel,
            initrd,
            cmdline,
        }),
        None => {
            // A kernel the VMM put into the Payload section (cloud-hypervisor style), else one
            // offered through QEMU's fw_cfg.
            let in_section = image.td_payload.and_then(|tp| {
                // SAFETY: the Payload section is RAM the VMM loaded (accepted in a TD) and the
                // memory map reserved for it; it is only read here.
                let region = unsafe { mem::phys_slice(tp.base, tp.size) };
                region
                    .get(0x202..0x206)
                    .filter(|m| *m == b"HdrS")
                    .map(|_| (tp, region))
            });
            match (in_section, fw) {
                (Some((tp, region)), _) => {
                    let cmdline = tp.param.map(|(base, size)| {
                        // SAFETY: the PayloadParam section, reserved like the Payload section.
                        unsafe { mem::phys_slice(base, size) }
                    });
                    Target::Linux(linux::Source::PayloadSection {
                        base: tp.base,
                        region,
                        cmdline,
                    })
                }
                (None, Some(fw)) if fw.read_u32(crate::platform::fw_cfg::KEY_KERNEL_SIZE) != 0 => {
                    Target::Linux(linux::Source::FwCfg)
                }
                _ => return Err(Error::NoPayload),
            }
        }
    })
}

/// Payload secure boot (`doc/secure-boot.md`): with a trust anchor enrolled in the image's
/// configuration volume, the executable payload must be a signed payload whose key hashes to
/// the anchor, whose signature verifies and whose SVN is at least the enrolled minimum; then
/// its inner image runs. Without an anchor an unsigned payload runs as it is (measured by
/// digest). The anchor is measured before the check ("secure_policy_db", RTMR0), again after
/// it ("secure_authority"), and the SVN into RTMR1.
fn secure_payload(image: &inputs::Image, payload: &'static [u8]) -> Result<&'static [u8], Error> {
    let cfv = image.cfv.map(|(_, bytes)| bytes);
    if let Some(Ok(policy)) = cfv.map(crate::format::cfv::policy) {
        if let Some(anchor) = policy.anchor {
            measurer::record(|| crate::measure::secure_policy_db(anchor.bytes))?;
        }
    }
    match crate::secure_boot::verify(cfv, payload)? {
        crate::secure_boot::Outcome::NoTrustAnchor => Ok(payload),
        crate::secure_boot::Outcome::Verified {
            image,
            svn,
            anchor_file,
            min_svn,
        } => {
            measurer::record(|| crate::measure::secure_authority(anchor_file))?;
            measurer::record(|| crate::measure::payload_svn(svn))?;
            info!(
                "secure boot: payload signature verified, svn {svn} (minimum {})",
                min_svn.unwrap_or(0)
            );
            Ok(image)
        }
    }
}

enum Target {
    Elf(&'static [u8]),
    Linux(linux::Source),
}

enum Prepared {
    Elf(LoadedElf),
    Linux(linux::Prepared),
}

struct LoadedElf {
    entry: u64,
    load_base: u64,
    /// Loaded segments `[start, end)` with the rights their `p_flags` ask for.
    segments: alloc::vec::Vec<(u64, u64, paging::Access)>,
}

/// Parses an executable payload and loads it: a PIE into free RAM top-down below 4 GiB, an
/// ET_EXEC at its own addresses, which must be free RAM.
fn load_elf(bytes: &[u8], map: &mut mem::map::MemoryMap) -> Result<LoadedElf, Error> {
    let info = elf::parse(bytes)?;
    let span = info.mem_end - info.mem_start;
    let (load_base, dest_start) = match info.kind {
        elf::Kind::Pie => {
            let at = map.allocate(span, info.align, FOUR_GIB, Usage::Payload)?;
            (at - info.mem_start, at)
        }
        elf::Kind::Exec => {
            let (start, end) = (info.mem_start, info.mem_end);
            map.reserve(start, end, mem::map::Kind::Used(Usage::Payload))
                .map_err(|_| Error::PayloadNotInFreeRam { start, end })?;
            (0, start)
        }
    };
    // SAFETY: [dest_start, +span) was just taken from free RAM in the map (accepted, identity
    // mapped, used by nothing else).
    let dest = unsafe { mem::phys_slice_mut(dest_start, span) };
    let entry = elf::load(bytes, &info, load_base, dest)?;
    info!(
        "payload: {:?} elf, {:#x} bytes at {:#x}, entry {:#x}",
        info.kind, span, dest_start, entry
    );
    let segments = info
        .segments
        .iter()
        .map(|s| {
            let start = load_base + s.vaddr;
            let access = paging::Access {
                write: s.flags & goblin::elf::program_header::PF_W != 0,
                exec: s.flags & goblin::elf::program_header::PF_X != 0,
            };
            (start, start + s.mem_size, access)
        })
        .collect();
    Ok(LoadedElf {
        entry,
        load_base,
        segments,
    })
}

fn ram_mib(map: &mem::map::MemoryMap) -> u64 {
    map.ram_ranges().iter().map(|(s, e)| e - s).sum::<u64>() >> 20
}

fn on_exception(frame: &mut ExceptionFrame) -> bool {
    // A #VE in a TD: an instruction the TDX module wants emulated (CPUID, port I/O, MMIO…).
    if frame.vector == 20 && PLATFORM.get().map(|p| p.kind()) == Some(PlatformKind::Tdx) {
        // SAFETY: we are in a TD, in the vector-20 handler, with the frame the CPU saved; RIP
        // points at identity-mapped code.
        match unsafe { crate::arch::ve::handle(frame) } {
            Ok(()) => return true,
            Err(e) => {
                let _ = writeln!(
                    Console,
                    "td-shim: ERROR unhandled #VE at rip {:#x}: {e}",
                    frame.rip
                );
            }
        }
    }
    report_exception(frame)
}

fn report_exception(frame: &ExceptionFrame) -> ! {
    // A fault while reporting one would report forever: the second one just stops.
    static REPORTING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    if REPORTING.swap(true, core::sync::atomic::Ordering::SeqCst) {
        match PLATFORM.get() {
            Some(p) => p.halt(),
            None => loop {
                cpu::disable_interrupts();
                cpu::hlt();
            },
        }
    }
    let _ = writeln!(
        Console,
        "td-shim: ERROR exception {} ({}){}, error code {:#x}, rip {:#x}, cs {:#x}, rflags {:#x}, rsp {:#x}",
        frame.vector,
        idt::vector_name(frame.vector),
        gdt::on_vcpu(),
        frame.error_code,
        frame.rip,
        frame.cs,
        frame.rflags,
        frame.rsp
    );
    // A guard page hit (CR2 for #PF; RSP for a #DF raised while pushing onto a full stack)
    // is a stack overflow; any other #PF says which access the page tables refused.
    let guard = match frame.vector {
        14 => {
            let cr2 = cpu::cr2();
            let _ = writeln!(Console, "td-shim: ERROR page fault address {cr2:#x}");
            // Pushes and pops are data accesses: a jump into a guard page is no overflow.
            let guard = gdt::guard_at(cr2).filter(|_| !idt::page_fault_is_fetch(frame.error_code));
            if guard.is_none() {
                let _ = writeln!(
                    Console,
                    "td-shim: ERROR page fault: {} at {cr2:#x}",
                    idt::page_fault_cause(frame.error_code)
                );
            }
            guard
        }
        8 => gdt::guard_at(frame.rsp).or_else(|| gdt::guard_at(frame.rsp.wrapping_sub(8))),
        _ => None,
    };
    if let Some(g) = guard {
        let _ = writeln!(
            Console,
            "td-shim: ERROR stack overflow in the {g} (guard page {:#x})",
            g.page
        );
    }
    match PLATFORM.get() {
        Some(p) => p.fatal(0x100 + frame.vector as u32),
        None => loop {
            cpu::disable_interrupts();
            cpu::hlt();
        },
    }
}

/// Stops after a panic (called by the binary's panic handler).
pub fn halt_after_panic() -> ! {
    match PLATFORM.get() {
        Some(p) => p.fatal(0xFFFF),
        None => loop {
            cpu::disable_interrupts();
            cpu::hlt();
        },
    }
}
