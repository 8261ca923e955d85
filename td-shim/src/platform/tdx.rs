// SPDX-License-Identifier: BSD-2-Clause-Patent
//! TDX backend: port I/O and HLT through TDG.VP.VMCALL, memory accept through
//! TDG.MEM.PAGE.ACCEPT with the algorithm of `../shared/spec/tdcall.md` §4 (2 MiB pages where
//! aligned, 4 KiB at the edges and on a size mismatch, "already accepted" is success).
//! Selected only after CPUID 0x21 said TDX; every TDCALL here would #UD elsewhere.

use super::{Error, IoWidth, Platform, PlatformKind};
use crate::arch::{cpu, tdcall};

/// The TDX platform; fields from TDG.VP.INFO.
pub struct Tdx {
    info: tdcall::TdInfo,
}

static TDX: spin::Once<Tdx> = spin::Once::new();

/// Queries TDG.VP.INFO once and returns the backend.
pub fn init() -> Result<&'static Tdx, tdcall::Error> {
    if let Some(t) = TDX.get() {
        return Ok(t);
    }
    // SAFETY: `detect` calls this only after CPUID 0x21 reported TDX.
    let info = unsafe { tdcall::vp_info() }?;
    Ok(TDX.call_once(|| Tdx { info }))
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
