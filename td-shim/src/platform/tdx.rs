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

/// The application processors waiting in the early mailbox, and a stack for each.
struct ApPool {
    mailbox: Mailbox,
    /// Stack tops, index i for vCPU i + 1.
    stacks: Vec<u64>,
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
extern "sysv64" fn ap_accept_worker(_vcpu: u64, job: u64) {
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
                    if unsafe { mailbox.send(vcpu, ap::CMD_SET_CR3, 0, [cpu::cr3(), 0]) }.is_err() {
                        log::warn!("vcpu {vcpu} did not take the page tables; accepting on one");
                        return None;
                    }
                }
                // Each with an unmapped guard page below it (arch::gdt records it by name).
                let stacks = (1..=aps)
                    .map(|vcpu| {
                        gdt::alloc_stack(
                            AP_STACK_SIZE as u64,
                            "application-processor stack",
                            Some(vcpu),
                        )
                    })
                    .collect();
                log::info!("{aps} application processors ready");
                Some(ApPool { mailbox, stacks })
            })
            .as_ref()
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
        } else {
            None
        };
        let Some(pool) = pool else {
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
        let workers = pool.stacks.len().min(MAX_ACCEPT_WORKERS);
        let mut started = 0u32;
        for (i, &stack) in pool.stacks.iter().take(workers).enumerate() {
            let vcpu = i as u32 + 1;
            let job_addr = &job as *const AcceptJob as u64;
            // SAFETY: `ap_accept_worker` is an extern "sysv64" fn(u64, u64) safe to run on an
            // AP with the job's address; the stack belongs to that AP alone; we wait below for
            // every started worker before `job` goes away.
            match unsafe {
                pool.mailbox.send(
                    vcpu,
                    ap::CMD_ASSIGN_WORK,
                    ap_accept_worker as extern "sysv64" fn(u64, u64) as usize as u64,
                    [stack, job_addr],
                )
            } {
                Ok(()) => started += 1,
                Err(_) => break,
            }
        }
        job.run();
        let mut spins = 0u64;
        while job.finished.load(Ordering::SeqCst) < started {
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
        self.halt()
    }

    unsafe fn share(&self, start: u64, len: u64) -> Result<u64, Error> {
        let mask = self.shared_mask();
        // SAFETY: forwarded to the caller: the range holds nothing private.
        unsafe { tdcall::vmcall(tdcall::TDVMCALL_MAP_GPA, start | mask, len, 0, 0) }?;
        Ok(mask)
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
        for vcpu in 1..=pool.stacks.len() as u32 {
            // SAFETY: the final page tables (reserved memory) map all RAM, the OS mailbox and
            // its loop code.
            unsafe { pool.mailbox.send(vcpu, ap::CMD_SET_CR3, 0, [cpu::cr3(), 0]) }
                .map_err(|t| Error::ApTimeout { vcpu: t.vcpu })?;
            // SAFETY: the loop code was just copied there and runs forever with RBX = mailbox.
            unsafe {
                pool.mailbox
                    .send(vcpu, ap::CMD_WAKEUP, loop_at, [mailbox, 0])
            }
            .map_err(|t| Error::ApTimeout { vcpu: t.vcpu })?;
        }
        log::info!(
            "{} application processors wait in the os mailbox at {mailbox:#x}",
            pool.stacks.len()
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
