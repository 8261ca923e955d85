// SPDX-License-Identifier: BSD-2-Clause-Patent
//! TDX backend: port I/O and HLT through TDG.VP.VMCALL, memory accept through
//! TDG.MEM.PAGE.ACCEPT with the algorithm of `../shared/spec/tdcall.md` §4 (2 MiB pages where
//! aligned, 4 KiB at the edges and on a size mismatch, "already accepted" is success).
//! Selected only after CPUID 0x21 said TDX; every TDCALL here would #UD elsewhere.

use super::{Error, IoWidth, Platform, PlatformKind};
use crate::arch::ap::{self, Mailbox};
use crate::arch::{cpu, gdt, tdcall};
use crate::layout;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The TDX platform; fields from TDG.VP.INFO.
pub struct Tdx {
    info: tdcall::TdInfo,
    aps: spin::Once<Option<ApPool>>,
}

/// The application processors waiting in the early mailbox.
struct ApPool {
    mailbox: Mailbox,
    /// Number of APs (vCPUs 1..=aps).
    aps: u32,
    /// Stack tops of the APs that take accept work, index i for vCPU i + 1, made at the first
    /// parallel accept ([`Tdx::accept_workers`]); `None` when one of them failed to set up.
    workers: spin::Once<Option<Vec<u64>>>,
}

/// Most APs that take part in accepting memory.
const MAX_ACCEPT_WORKERS: usize = 15;
/// Chunk of 2 MiB-aligned memory a worker accepts at a time.
const ACCEPT_CHUNK: u64 = 32 << 20;
/// Below this much 2 MiB-aligned memory the APs are not worth waking.
const PARALLEL_THRESHOLD: u64 = 64 << 20;
/// Stack of an AP running firmware work.
const AP_STACK_SIZE: usize = 16 * 1024;

/// Work shared by the vCPUs accepting in parallel: they take chunks until none is left.
struct AcceptJob {
    chunks: Vec<(u64, u64)>,
    next: AtomicUsize,
    finished: AtomicU32,
    failed_gpa: AtomicU64,
    failed_status: AtomicU64,
}

impl AcceptJob {
    fn run(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(&(start, end)) = self.chunks.get(i) else {
                return;
            };
            // SAFETY: the chunks come from `Platform::accept`'s caller, who guarantees the
            // range holds nothing in use.
            if let Err(Error::Accept { gpa, status }) = unsafe { Tdx::accept_range(start, end) } {
                self.failed_status.store(status, Ordering::SeqCst);
                self.failed_gpa.store(gpa | 1, Ordering::SeqCst);
            }
        }
    }
}

/// Entry of an AP given accept work: `job` is the address of an [`AcceptJob`].
extern "sysv64" fn ap_accept_worker(vcpu: u64, job: u64) {
    ap::selftest(vcpu as u32);
    // SAFETY: the bootstrap processor passes the address of a live AcceptJob and waits for
    // every worker's `finished` increment before it drops it.
    let job = unsafe { &*(job as *const AcceptJob) };
    job.run();
    job.finished.fetch_add(1, Ordering::SeqCst);
}

static TDX: spin::Once<Tdx> = spin::Once::new();

/// Queries TDG.VP.INFO once and returns the backend.
pub fn init() -> Result<&'static Tdx, tdcall::Error> {
    if let Some(t) = TDX.get() {
        return Ok(t);
    }
    // SAFETY: `detect` calls this only after CPUID 0x21 reported TDX.
    let info = unsafe { tdcall::vp_info() }?;
    Ok(TDX.call_once(|| Tdx {
        info,
        aps: spin::Once::new(),
    }))
}

const SIZE_4K: u64 = 0x1000;
const SIZE_2M: u64 = 0x20_0000;
/// How often a busy accept is retried before giving up.
const BUSY_RETRIES: u32 = 1000;

impl Tdx {
    /// TDG.VP.INFO as read at start-up.
    pub fn info(&self) -> tdcall::TdInfo {
        self.info
    }

    /// The APs, waiting in the early mailbox: started first in an emulated TD, then counted
    /// in. `None` with a single vCPU, or when they do not all arrive (then everything runs on
    /// the bootstrap processor).
    fn ap_pool(&self) -> Option<&ApPool> {
        self.aps
            .call_once(|| {
                let aps = self.info.num_vcpus.saturating_sub(1);
                if aps == 0 {
                    return None;
                }
                #[cfg(feature = "emulated-tdx")]
                // SAFETY: emulated TD test image: the reset vector has the AP entry.
                unsafe {
                    ap::start_aps_emulated()
                };
                // SAFETY: the early mailbox is a fixed TempMem page used only for this.
                let mailbox = unsafe { Mailbox::at(layout::MAILBOX_BASE) };
                if !mailbox.wait_arrivals(aps) {
                    log::warn!(
                        "only {} of {} application processors arrived; accepting on one",
                        mailbox.arrived(),
                        aps
                    );
                    return None;
                }
                // The APs still run on the reset vector's tables: give them ours (all RAM).
                for vcpu in 1..=aps {
                    // SAFETY: the current CR3 maps all RAM, the image and the mailbox.
                    let r = unsafe { mailbox.send(vcpu, ap::CMD_SET_CR3, 0, [cpu::cr3(), 0]) };
                    if self.answered(r).is_err() {
                        log::warn!("vcpu {vcpu} did not take the page tables; accepting on one");
                        return None;
                    }
                }
                log::info!("{aps} application processors ready");
                Some(ApPool {
                    mailbox,
                    aps,
                    workers: spin::Once::new(),
                })
            })
            .as_ref()
    }

    /// The stacks of the APs that take accept work (vCPUs 1..=min(APs, 15)), made the first
    /// time: for each, a stack with an unmapped guard page below it (arch::gdt records it by
    /// name), then its own GDT, TSS and the firmware's IDT, so that a fault there is
    /// reported (`arch::ap` module docs). `None` (accept on one) when an AP did not answer.
    fn accept_workers<'a>(&self, pool: &'a ApPool) -> Option<&'a [u64]> {
        pool.workers
            .call_once(|| {
                let count = (pool.aps as usize).min(MAX_ACCEPT_WORKERS) as u32;
                let mut stacks = Vec::new();
                for vcpu in 1..=count {
                    let stack = gdt::alloc_stack(AP_STACK_SIZE as u64, "accept stack", Some(vcpu));
                    // SAFETY: the AP runs on the current tables (`ap_pool` sent them, and
                    // only `park_aps` changes them), which map the heap and the firmware; the
                    // stack is its alone; the IDT was installed first thing in the boot.
                    let r = unsafe { pool.mailbox.install_exception_tables(vcpu, stack) };
                    if self.answered(r).is_err() {
                        log::warn!(
                            "vcpu {vcpu} did not load its exception tables; accepting on one"
                        );
                        return None;
                    }
                    stacks.push(stack);
                }
                log::debug!("{count} application processors have exception tables");
                Some(stacks)
            })
            .as_deref()
    }

    /// The outcome of a mailbox command: `Err(vcpu)` when that AP did not answer; when an AP
    /// stopped on a fatal error instead, the boot stops here too ([`Tdx::stop_after_ap`]).
    fn answered(&self, r: Result<(), ap::Error>) -> Result<(), u32> {
        match r {
            Ok(()) => Ok(()),
            Err(ap::Error::Timeout { vcpu }) => Err(vcpu),
            Err(ap::Error::Stopped { vcpu }) => self.stop_after_ap(vcpu),
        }
    }

    /// Stops this (bootstrap) processor because the AP `vcpu` stopped on a fatal error. That
    /// AP reported it (console, ReportFatalError: in a real TD the VMM ends the TD then), so
    /// only a line saying why the boot ends here, no second fatal-error report.
    fn stop_after_ap(&self, vcpu: u32) -> ! {
        log::error!("boot stopped: vcpu {vcpu} stopped on a fatal error");
        self.halt()
    }

    /// The shared bit (bit GPAW − 1) as a mask; 0 under the emulated TDX module, where an
    /// ordinary VM has no private/shared split and DMA must use the real address.
    pub fn shared_mask(&self) -> u64 {
        #[cfg(feature = "emulated-tdx")]
        {
            crate::arch::tdx_emu::shared_mask()
        }
        #[cfg(not(feature = "emulated-tdx"))]
        {
            1u64 << (u32::from(self.info.gpaw.clamp(48, 52)) - 1)
        }
    }

    /// Accepts `[start, end)` on this vCPU: 2 MiB pages where aligned, 4 KiB pages at the
    /// edges and where the host mapped 4 KiB pages.
    ///
    /// # Safety
    /// As [`Platform::accept`].
    unsafe fn accept_range(start: u64, end: u64) -> Result<(), Error> {
        if !start.is_multiple_of(SIZE_4K) || !end.is_multiple_of(SIZE_4K) || end < start {
            return Err(Error::BadRange { start, end });
        }
        let mut gpa = start;
        while gpa < end {
            if gpa.is_multiple_of(SIZE_2M) && end - gpa >= SIZE_2M {
                // SAFETY: forwarded to the caller.
                let status = unsafe { Self::accept_one(gpa, true) };
                if status == tdcall::TDX_PAGE_SIZE_MISMATCH {
                    // SAFETY: forwarded to the caller.
                    unsafe { Self::accept_4k_run(gpa, gpa + SIZE_2M) }?;
                } else if status != 0 && status != tdcall::TDX_PAGE_ALREADY_ACCEPTED {
                    return Err(Error::Accept { gpa, status });
                }
                gpa += SIZE_2M;
            } else {
                let next = ((gpa / SIZE_2M) + 1) * SIZE_2M;
                let run_end = next.min(end);
                // SAFETY: forwarded to the caller.
                unsafe { Self::accept_4k_run(gpa, run_end) }?;
                gpa = run_end;
            }
        }
        Ok(())
    }

    /// Accepts one page, retrying while the TDX module reports the operand busy.
    /// Returns the final status.
    ///
    /// # Safety
    /// As [`Platform::accept`].
    unsafe fn accept_one(gpa: u64, level_2m: bool) -> u64 {
        let mut status = 0;
        for _ in 0..BUSY_RETRIES {
            // SAFETY: forwarded to the caller.
            status = unsafe { tdcall::accept_page(gpa, level_2m) };
            if status >> 32 != tdcall::TDX_OPERAND_BUSY_CLASS {
                break;
            }
            cpu::pause();
        }
        status
    }

    /// # Safety
    /// As [`Platform::accept`].
    unsafe fn accept_4k_run(start: u64, end: u64) -> Result<(), Error> {
        let mut gpa = start;
        while gpa < end {
            // SAFETY: forwarded to the caller.
            let status = unsafe { Self::accept_one(gpa, false) };
            if status != 0 && status != tdcall::TDX_PAGE_ALREADY_ACCEPTED {
                return Err(Error::Accept { gpa, status });
            }
            gpa += SIZE_4K;
        }
        Ok(())
    }
}

impl Platform for Tdx {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Tdx
    }

    fn vcpu_count(&self) -> u32 {
        self.info.num_vcpus.max(1)
    }

    unsafe fn accept(&self, start: u64, end: u64) -> Result<(), Error> {
        if !start.is_multiple_of(SIZE_4K) || !end.is_multiple_of(SIZE_4K) || end < start {
            return Err(Error::BadRange { start, end });
        }
        let mid_start = start.next_multiple_of(SIZE_2M);
        let mid_end = end - end % SIZE_2M;
        let pool = if mid_end > mid_start && mid_end - mid_start >= PARALLEL_THRESHOLD {
            self.ap_pool()
                .and_then(|pool| Some((pool, self.accept_workers(pool)?)))
        } else {
            None
        };
        let Some((pool, stacks)) = pool else {
            // SAFETY: forwarded to the caller.
            return unsafe { Self::accept_range(start, end) };
        };
        // Edges on this vCPU, the 2 MiB-aligned middle in chunks shared with the APs.
        // SAFETY: forwarded to the caller.
        unsafe { Self::accept_range(start, mid_start) }?;
        // SAFETY: forwarded to the caller.
        unsafe { Self::accept_range(mid_end, end) }?;
        let mut chunks = Vec::new();
        let mut at = mid_start;
        while at < mid_end {
            let next = (at + ACCEPT_CHUNK).min(mid_end);
            chunks.push((at, next));
            at = next;
        }
        let job = AcceptJob {
            chunks,
            next: AtomicUsize::new(0),
            finished: AtomicU32::new(0),
            failed_gpa: AtomicU64::new(0),
            failed_status: AtomicU64::new(0),
        };
        let mut started = 0u32;
        for (i, &stack) in stacks.iter().enumerate() {
            let vcpu = i as u32 + 1;
            let job_addr = &job as *const AcceptJob as u64;
            // SAFETY: `ap_accept_worker` is an extern "sysv64" fn(u64, u64) safe to run on an
            // AP with the job's address; the stack belongs to that AP alone; we wait below for
            // every started worker before `job` goes away.
            let r = unsafe {
                pool.mailbox.send(
                    vcpu,
                    ap::CMD_ASSIGN_WORK,
                    ap_accept_worker as extern "sysv64" fn(u64, u64) as usize as u64,
                    [stack, job_addr],
                )
            };
            match self.answered(r) {
                Ok(()) => started += 1,
                Err(_) => break,
            }
        }
        job.run();
        let mut spins = 0u64;
        while job.finished.load(Ordering::SeqCst) < started {
            // A worker that faulted never finishes: do not wait out the timeout.
            if let Some(vcpu) = ap::stopped() {
                self.stop_after_ap(vcpu);
            }
            core::hint::spin_loop();
            spins += 1;
            if spins > 20_000_000_000 {
                return Err(Error::ApTimeout { vcpu: 0 });
            }
        }
        let failed = job.failed_gpa.load(Ordering::SeqCst);
        if failed != 0 {
            return Err(Error::Accept {
                gpa: failed & !1,
                status: job.failed_status.load(Ordering::SeqCst),
            });
        }
        Ok(())
    }

    unsafe fn io_write(&self, port: u16, width: IoWidth, value: u32) {
        // SAFETY: we are in a TD (this backend exists only then); the caller knows the port.
        // A failed TDVMCALL for a console or fw_cfg write has no better outcome than dropping it.
        let _ = unsafe { tdcall::io_write(port, width as u8, value) };
    }

    unsafe fn io_read(&self, port: u16, width: IoWidth) -> u32 {
        // SAFETY: we are in a TD; the caller knows the port. A failed read reads as all ones,
        // like a port with nothing behind it.
        unsafe { tdcall::io_read(port, width as u8) }.unwrap_or(u32::MAX)
    }

    fn fatal(&self, code: u32) -> ! {
        // SAFETY: we are in a TD; ReportFatalError shares no memory.
        let _ = unsafe { tdcall::report_fatal_error(code) };
        // On an AP: let the bootstrap processor, which may be waiting for it, stop too.
        ap::note_stop();
        self.halt()
    }

    unsafe fn share(&self, start: u64, len: u64) -> Result<u64, Error> {
        // MapGPA takes the GPA with the shared bit (GPAW − 1) set; devices get addresses with
        // `shared_mask`, the same bit, except under the emulated module (the real address).
        let bit = crate::format::hob::shared_bit(self.info.gpaw).unwrap_or(1 << 47);
        // SAFETY: forwarded to the caller: the range holds nothing private.
        unsafe { tdcall::map_gpa(start | bit, len) }?;
        Ok(self.shared_mask())
    }

    unsafe fn unshare(&self, start: u64, len: u64) -> Result<(), Error> {
        let end = start
            .checked_add(len)
            .ok_or(Error::BadRange { start, end: start })?;
        // GHCI order: MapGPA to private (shared bit clear), then accept the pages again.
        // SAFETY: forwarded to the caller: the range was shared and is no longer in use.
        unsafe { tdcall::map_gpa(start, len) }?;
        // SAFETY: the pages just became private and pending: nothing can be in them.
        unsafe { Self::accept_range(start, end) }
    }

    fn park_aps(&self, mailbox: u64) -> Result<(), Error> {
        let Some(pool) = self.ap_pool() else {
            return Ok(());
        };
        let loop_at = mailbox + 0x1000;
        // SAFETY: the caller reserved [mailbox, mailbox + 8 KiB) for the OS mailbox and its
        // loop code; no AP uses it yet. (The boot sequence's page tables map the loop page
        // read-only and executable, with the code already in place: nothing is written then.)
        unsafe {
            let os = Mailbox::at(mailbox);
            os.reset_for_os();
            ap::install_os_loop(loop_at);
        }
        for vcpu in 1..=pool.aps {
            // SAFETY: the final page tables (reserved memory) map all RAM, the OS mailbox and
            // its loop code (and the heap and firmware, where an AP's exception tables are).
            let r = unsafe { pool.mailbox.send(vcpu, ap::CMD_SET_CR3, 0, [cpu::cr3(), 0]) };
            self.answered(r).map_err(|vcpu| Error::ApTimeout { vcpu })?;
            // SAFETY: the loop code was just copied there and runs forever with RBX = mailbox.
            let r = unsafe {
                pool.mailbox
                    .send(vcpu, ap::CMD_WAKEUP, loop_at, [mailbox, 0])
            };
            self.answered(r).map_err(|vcpu| Error::ApTimeout { vcpu })?;
        }
        log::info!(
            "{} application processors wait in the os mailbox at {mailbox:#x}",
            pool.aps
        );
        Ok(())
    }

    fn extend_rtmr(&self, index: u8, digest: &[u8; 48]) -> Result<bool, Error> {
        let buf = tdcall::Aligned64(*digest);
        // SAFETY: we are in a TD; `buf` is on our identity-mapped private stack, 64-byte
        // aligned; the TDX module only reads it.
        unsafe { tdcall::extend_rtmr(&buf, index) }?;
        Ok(true)
    }

    fn before_handoff(&self) {
        #[cfg(feature = "emulated-tdx")]
        crate::arch::tdx_emu::report_at_handoff();
    }

    fn halt(&self) -> ! {
        loop {
            cpu::disable_interrupts();
            // SAFETY: we are in a TD; HLT through TDVMCALL changes no guest memory.
            if unsafe { tdcall::hlt() }.is_err() {
                cpu::pause();
            }
        }
    }
}
