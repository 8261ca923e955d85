// SPDX-License-Identifier: BSD-2-Clause-Patent
//! TDCALL and TDG.VP.VMCALL wrappers (`../shared/spec/tdcall.md`). Outside a TD the TDCALL
//! instruction raises #UD, so only the TDX platform backend calls these, after detection.
//! Results that come from the VMM (TDVMCALL outputs) are untrusted.

use core::arch::asm;
use core::fmt;

/// TDG.VP.VMCALL.
pub const TDG_VP_VMCALL: u64 = 0;
/// TDG.VP.INFO.
pub const TDG_VP_INFO: u64 = 1;
/// TDG.MEM.PAGE.ACCEPT.
pub const TDG_MEM_PAGE_ACCEPT: u64 = 6;

/// TDVMCALL sub-function: Instruction.HLT.
pub const TDVMCALL_HLT: u64 = 12;
/// TDVMCALL sub-function: Instruction.IO.
pub const TDVMCALL_IO: u64 = 30;
/// TDVMCALL sub-function: ReportFatalError.
pub const TDVMCALL_REPORT_FATAL_ERROR: u64 = 0x10003;

/// TDX_PAGE_ALREADY_ACCEPTED (warning class): treated as success by accept.
pub const TDX_PAGE_ALREADY_ACCEPTED: u64 = 0x0000_0B0A_0000_0000;
/// TDX_PAGE_SIZE_MISMATCH: a 2 MiB accept over a range the host mapped with 4 KiB pages.
pub const TDX_PAGE_SIZE_MISMATCH: u64 = 0xC000_0B0B_0000_0001;
/// Status class (bits 63:32) of TDX_OPERAND_BUSY.
pub const TDX_OPERAND_BUSY_CLASS: u64 = 0x8000_0200;

/// GPR bitmap exposed to the VMM for ordinary TDVMCALLs: R10–R15 (never RBP: NO_RBP_MOD).
const VMCALL_EXPOSE_R10_R15: u64 = 0xFC00;

/// A failed TDCALL or TDVMCALL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The TDCALL itself returned a non-zero completion status (RAX).
    Tdcall { leaf: u64, status: u64 },
    /// The VMM returned a non-zero sub-function status (R10).
    Vmcall { subfunction: u64, status: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tdcall { leaf, status } => {
                write!(f, "tdcall leaf {leaf} failed with status {status:#x}")
            }
            Error::Vmcall {
                subfunction,
                status,
            } => {
                write!(
                    f,
                    "tdvmcall {subfunction:#x} failed with status {status:#x}"
                )
            }
        }
    }
}

/// What TDG.VP.INFO reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdInfo {
    /// Guest physical address width (48 or 52).
    pub gpaw: u8,
    /// TD attributes.
    pub attributes: u64,
    /// Number of vCPUs.
    pub num_vcpus: u32,
    /// Maximum number of vCPUs.
    pub max_vcpus: u32,
    /// This vCPU's index.
    pub vcpu_index: u32,
}

/// TDG.VP.INFO.
///
/// # Safety
/// Must run inside a TD (otherwise #UD).
pub unsafe fn vp_info() -> Result<TdInfo, Error> {
    let (rax, rcx, rdx, r8, r9): (u64, u64, u64, u64, u64);
    // SAFETY: the caller guarantees we are in a TD; TDG.VP.INFO writes only registers.
    unsafe {
        asm!(".byte 0x66, 0x0f, 0x01, 0xcc",
            inout("rax") TDG_VP_INFO => rax, out("rcx") rcx, out("rdx") rdx, out("r8") r8,
            out("r9") r9, out("r10") _, out("r11") _, options(nostack));
    }
    if rax != 0 {
        return Err(Error::Tdcall {
            leaf: TDG_VP_INFO,
            status: rax,
        });
    }
    Ok(TdInfo {
        gpaw: (rcx & 0x3F) as u8,
        attributes: rdx,
        num_vcpus: r8 as u32,
        max_vcpus: (r8 >> 32) as u32,
        vcpu_index: r9 as u32,
    })
}

/// TDG.MEM.PAGE.ACCEPT of one page; returns the raw completion status so that the caller
/// can apply the accept algorithm (already accepted, size mismatch, busy).
///
/// # Safety
/// Must run inside a TD. Accepting a page zeroes it: `gpa` must not hold anything in use.
pub unsafe fn accept_page(gpa: u64, level_2m: bool) -> u64 {
    let rax: u64;
    let rcx = (gpa & !0xFFF) | u64::from(level_2m);
    // SAFETY: the caller guarantees we are in a TD and that the page holds nothing in use.
    unsafe {
        asm!(".byte 0x66, 0x0f, 0x01, 0xcc",
            inout("rax") TDG_MEM_PAGE_ACCEPT => rax, in("rcx") rcx, out("rdx") _, out("r8") _,
            options(nostack));
    }
    rax
}

/// Raw TDG.VP.VMCALL with sub-function `subfunction` and arguments in R12–R15.
/// Returns R11 (the primary output).
///
/// # Safety
/// Must run inside a TD. The sub-function must not make the host write guest memory the
/// caller still relies on.
pub unsafe fn vmcall(
    subfunction: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
) -> Result<u64, Error> {
    let (rax, r10, r11): (u64, u64, u64);
    // SAFETY: the caller guarantees we are in a TD; only the exposed registers change.
    unsafe {
        asm!(".byte 0x66, 0x0f, 0x01, 0xcc",
            inout("rax") TDG_VP_VMCALL => rax, inout("rcx") VMCALL_EXPOSE_R10_R15 => _,
            inout("r10") 0u64 => r10, inout("r11") subfunction => r11,
            inout("r12") r12 => _, inout("r13") r13 => _, inout("r14") r14 => _, inout("r15") r15 => _,
            options(nostack));
    }
    if rax != 0 {
        return Err(Error::Tdcall {
            leaf: TDG_VP_VMCALL,
            status: rax,
        });
    }
    if r10 != 0 {
        return Err(Error::Vmcall {
            subfunction,
            status: r10,
        });
    }
    Ok(r11)
}

/// Port write through TDVMCALL<Instruction.IO>. `size` is 1, 2 or 4.
///
/// # Safety
/// Must run inside a TD; as native port writes, the caller must know the device.
pub unsafe fn io_write(port: u16, size: u8, value: u32) -> Result<(), Error> {
    // SAFETY: forwarded to the caller.
    unsafe {
        vmcall(
            TDVMCALL_IO,
            u64::from(size),
            1,
            u64::from(port),
            u64::from(value),
        )
    }
    .map(|_| ())
}

/// Port read through TDVMCALL<Instruction.IO>. `size` is 1, 2 or 4.
///
/// # Safety
/// As [`io_write`].
pub unsafe fn io_read(port: u16, size: u8) -> Result<u32, Error> {
    // SAFETY: forwarded to the caller.
    let v = unsafe { vmcall(TDVMCALL_IO, u64::from(size), 0, u64::from(port), 0) }?;
    let mask = match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    };
    Ok((v & mask) as u32)
}

/// TDVMCALL<Instruction.HLT> with interrupts blocked.
///
/// # Safety
/// Must run inside a TD.
pub unsafe fn hlt() -> Result<(), Error> {
    // SAFETY: forwarded to the caller; HLT changes no guest memory.
    unsafe { vmcall(TDVMCALL_HLT, 1, 0, 0, 0) }.map(|_| ())
}

/// TDVMCALL<ReportFatalError> with an error code and no message buffer.
///
/// # Safety
/// Must run inside a TD.
pub unsafe fn report_fatal_error(code: u32) -> Result<(), Error> {
    // SAFETY: forwarded to the caller; no guest memory is shared.
    unsafe { vmcall(TDVMCALL_REPORT_FATAL_ERROR, u64::from(code), 0, 0, 0) }.map(|_| ())
}
