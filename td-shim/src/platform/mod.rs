// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The run-time platform choice: one firmware binary, two backends. [`detect`] decides once,
//! from a signal the host cannot forge (CPUID leaf 0x21 is answered by the TDX module), and
//! cross-checks it with how the reset vector was entered. Everything that differs between a
//! TD and an ordinary VM goes through the small [`Platform`] trait.

pub mod chipset;
pub mod fw_cfg;
pub mod legacy;
pub mod tdx;

use crate::arch::cpu;
use crate::layout;
use core::fmt;

/// Which backend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformKind {
    /// An Intel TDX Trust Domain.
    Tdx,
    /// An ordinary (non-confidential) VM.
    LegacyVm,
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlatformKind::Tdx => "tdx",
            PlatformKind::LegacyVm => "legacy-vm",
        })
    }
}

/// Port-I/O access width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoWidth {
    Byte = 1,
    Word = 2,
    Dword = 4,
}

/// A platform operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A TDCALL/TDVMCALL failed.
    Tdcall(crate::arch::tdcall::Error),
    /// Accepting memory failed at `gpa` with TDX status `status`.
    Accept { gpa: u64, status: u64 },
    /// The range given to accept is not 4 KiB aligned or wraps.
    BadRange { start: u64, end: u64 },
    /// An application processor did not answer through the mailbox.
    ApTimeout { vcpu: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tdcall(e) => write!(f, "{e}"),
            Error::Accept { gpa, status } => {
                write!(f, "accepting {gpa:#x} failed with status {status:#x}")
            }
            Error::BadRange { start, end } => {
                write!(f, "range [{start:#x}, {end:#x}) is not page aligned")
            }
            Error::ApTimeout { vcpu } => {
                write!(f, "vcpu {vcpu} did not answer through the mailbox")
            }
        }
    }
}

impl From<crate::arch::tdcall::Error> for Error {
    fn from(e: crate::arch::tdcall::Error) -> Self {
        Error::Tdcall(e)
    }
}

/// Everything the boot sequence needs from the platform.
pub trait Platform: Sync {
    /// Which backend this is.
    fn kind(&self) -> PlatformKind;
    /// Number of vCPUs (TDG.VP.INFO in a TD; fw_cfg in a legacy VM; 1 when unknown).
    fn vcpu_count(&self) -> u32;
    /// Makes `[start, end)` usable private memory (TD: TDG.MEM.PAGE.ACCEPT; legacy VM: RAM is
    /// usable as it is, nothing to do).
    ///
    /// # Safety
    /// Accepting zeroes the memory: the range must not hold anything in use.
    unsafe fn accept(&self, start: u64, end: u64) -> Result<(), Error>;
    /// Port output (TD: TDVMCALL<IO>; legacy VM: OUT).
    ///
    /// # Safety
    /// The caller must know what device sits at `port`.
    unsafe fn io_write(&self, port: u16, width: IoWidth, value: u32);
    /// Port input (TD: TDVMCALL<IO>; legacy VM: IN). Untrusted: comes from the VMM.
    ///
    /// # Safety
    /// The caller must know what device sits at `port`.
    unsafe fn io_read(&self, port: u16, width: IoWidth) -> u32;
    /// Tells the host that boot failed (TD: TDVMCALL<ReportFatalError>; legacy VM: nothing
    /// beyond the console line the caller already wrote), then stops this CPU for good.
    fn fatal(&self, code: u32) -> !;
    /// Stops this CPU for good (interrupts off, halted).
    fn halt(&self) -> !;
    /// Makes `[start, start + len)` (page aligned, accepted RAM) visible to the host, e.g. as
    /// a DMA buffer, and returns the mask to OR into addresses handed to the host (TD: MapGPA
    /// to shared, the shared bit; legacy VM: nothing to do, 0). The firmware's own mappings
    /// of the range take the same bit (`boot::protect::map_shared`). The range stays shared
    /// until [`Platform::unshare`].
    ///
    /// # Safety
    /// The host may read and write the range from now on: it must hold nothing private.
    unsafe fn share(&self, start: u64, len: u64) -> Result<u64, Error>;
    /// Makes a range [`Platform::share`] shared private RAM again (TD: MapGPA to private, then
    /// TDG.MEM.PAGE.ACCEPT, which zeroes it; legacy VM: nothing to do).
    ///
    /// # Safety
    /// The range must have been shared by `share` and must no longer be in use (no device
    /// access in flight, nothing reads it afterwards expecting the old contents).
    unsafe fn unshare(&self, start: u64, len: u64) -> Result<(), Error>;
    /// Moves the application processors (if the firmware holds any) into the loop of the OS
    /// mailbox at `mailbox` (8 KiB reserved: mailbox page + loop code), which the MADT's
    /// Multiprocessor Wakeup structure announces.
    fn park_aps(&self, mailbox: u64) -> Result<(), Error>;
    /// Extends RTMR[`index`] (0..=3) with a SHA-384 digest (TD: TDG.MR.RTMR.EXTEND; legacy VM:
    /// there are no RTMRs, `Ok(false)`: the event log alone records the measurement).
    /// `Ok(true)` when a register was extended.
    fn extend_rtmr(&self, index: u8, digest: &[u8; 48]) -> Result<bool, Error>;
    /// Last words before the jump to the payload (the emulated TDX prints its RTMRs).
    fn before_handoff(&self);
}

/// How the reset vector says the CPU started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryMode {
    /// 16-bit real mode (a legacy VM's reset state).
    Real,
    /// 32-bit protected mode (a TD vCPU's reset state).
    Protected,
}

impl EntryMode {
    /// Decodes the value the reset vector passes in RDI.
    pub fn from_raw(raw: u64) -> Option<Self> {
        match raw {
            layout::ENTRY_MODE_REAL => Some(EntryMode::Real),
            layout::ENTRY_MODE_PROTECTED => Some(EntryMode::Protected),
            _ => None,
        }
    }
}

/// Why the platform could not be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectError {
    /// CPUID says TDX but the CPU started in real mode: not a TD reset, refuse to guess.
    TdxButRealModeEntry,
    /// The reset vector passed an unknown entry mode.
    UnknownEntryMode(u64),
    /// TDG.VP.INFO failed inside what CPUID says is a TD.
    VpInfo(crate::arch::tdcall::Error),
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::TdxButRealModeEntry => {
                f.write_str("cpuid reports tdx but the reset vector was entered in real mode")
            }
            DetectError::UnknownEntryMode(m) => {
                write!(f, "unknown entry mode {m:#x} from the reset vector")
            }
            DetectError::VpInfo(e) => write!(f, "tdg.vp.info: {e}"),
        }
    }
}

/// Whether CPUID leaf 0x21 sub-leaf 0 carries the "IntelTDX    " vendor string. In test
/// images with the emulated TDX module, the model plays that part: always TDX.
pub fn cpuid_says_tdx() -> bool {
    if cfg!(feature = "emulated-tdx") {
        return true;
    }
    if cpu::max_basic_leaf() < 0x21 {
        return false;
    }
    let r = cpu::cpuid(0x21, 0);
    // EBX, EDX, ECX = "Inte", "lTDX", "    "
    r.ebx == u32::from_le_bytes(*b"Inte")
        && r.edx == u32::from_le_bytes(*b"lTDX")
        && r.ecx == u32::from_le_bytes(*b"    ")
}

/// Says loudly, once the console works, when the TDX module is only the software model of a
/// test image.
pub fn announce(p: &dyn Platform) {
    if cfg!(feature = "emulated-tdx") && p.kind() == PlatformKind::Tdx {
        log::warn!("EMULATED TDX: not a real TD, nothing here is confidential or attested; test image only");
    }
}

/// Decides the platform once. The decision rests on CPUID 0x21 (the TDX module answers it;
/// a VMM cannot make an ordinary VM claim to be a TD that then survives TDCALLs) and must
/// agree with the entry mode: a TD always starts in protected mode.
pub fn detect(entry_mode_raw: u64) -> Result<&'static dyn Platform, DetectError> {
    let mode =
        EntryMode::from_raw(entry_mode_raw).ok_or(DetectError::UnknownEntryMode(entry_mode_raw))?;
    if cpuid_says_tdx() {
        // The emulated TD's bootstrap processor is an ordinary VM's CPU: it starts in real mode.
        if mode != EntryMode::Protected && !cfg!(feature = "emulated-tdx") {
            return Err(DetectError::TdxButRealModeEntry);
        }
        let t: &'static dyn Platform = tdx::init().map_err(DetectError::VpInfo)?;
        return Ok(t);
    }
    Ok(legacy::get())
}
