// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Ordinary VM backend: native port I/O, RAM usable as it is, HLT to stop. There is no
//! RTMR and no fatal-error channel to the host; what would be measured is still logged by
//! the callers.

use super::{Error, IoWidth, Platform, PlatformKind};
use crate::arch::{cpu, io};
use core::sync::atomic::{AtomicU32, Ordering};

/// The legacy-VM platform.
pub struct LegacyVm {
    vcpus: AtomicU32,
}

static LEGACY: LegacyVm = LegacyVm {
    vcpus: AtomicU32::new(1),
};

/// The one instance.
pub fn get() -> &'static LegacyVm {
    &LEGACY
}

impl LegacyVm {
    /// Records the vCPU count learned from fw_cfg.
    pub fn set_vcpu_count(&self, n: u32) {
        self.vcpus.store(n.max(1), Ordering::Relaxed);
    }
}

impl Platform for LegacyVm {
    fn kind(&self) -> PlatformKind {
        PlatformKind::LegacyVm
    }

    fn vcpu_count(&self) -> u32 {
        self.vcpus.load(Ordering::Relaxed)
    }

    unsafe fn accept(&self, start: u64, end: u64) -> Result<(), Error> {
        if !start.is_multiple_of(0x1000) || !end.is_multiple_of(0x1000) || end < start {
            return Err(Error::BadRange { start, end });
        }
        Ok(())
    }

    unsafe fn io_write(&self, port: u16, width: IoWidth, value: u32) {
        // SAFETY: forwarded to the caller (who knows the device at `port`).
        unsafe {
            match width {
                IoWidth::Byte => io::outb(port, value as u8),
                IoWidth::Word => io::outw(port, value as u16),
                IoWidth::Dword => io::outl(port, value),
            }
        }
    }

    unsafe fn io_read(&self, port: u16, width: IoWidth) -> u32 {
        // SAFETY: forwarded to the caller (who knows the device at `port`).
        unsafe {
            match width {
                IoWidth::Byte => u32::from(io::inb(port)),
                IoWidth::Word => u32::from(io::inw(port)),
                IoWidth::Dword => io::inl(port),
            }
        }
    }

    fn fatal(&self, _code: u32) -> ! {
        self.halt()
    }

    fn park_aps(&self, _mailbox: u64) -> Result<(), Error> {
        // The VM's own APs are still in their reset state; the OS starts them with INIT-SIPI.
        Ok(())
    }

    fn extend_rtmr(&self, _index: u8, _digest: &[u8; 48]) -> Result<bool, Error> {
        Ok(false)
    }

    fn before_handoff(&self) {}

    unsafe fn share(&self, _start: u64, _len: u64) -> Result<u64, Error> {
        Ok(0)
    }

    unsafe fn unshare(&self, _start: u64, _len: u64) -> Result<(), Error> {
        Ok(())
    }

    fn halt(&self) -> ! {
        loop {
            cpu::disable_interrupts();
            cpu::hlt();
        }
    }
}
