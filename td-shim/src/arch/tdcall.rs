// SPDX-License-Identifier: BSD-2-Clause-Patent
//! TDCALL and TDG.VP.VMCALL wrappers (`../shared/spec/tdcall.md`). Outside a TD the TDCALL
//! instruction raises #UD, so only the TDX platform backend calls these, after detection.
//! Results that come from the VMM (TDVMCALL outputs) are untrusted.

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
/// TDVMCALL sub-function: MapGPA.
pub const TDVMCALL_MAP_GPA: u64 = 0x10001;
/// TDVMCALL sub-function: ReportFatalError.
pub const TDVMCALL_REPORT_FATAL_ERROR: u64 = 0x10003;

/// TDX_PAGE_ALREADY_ACCEPTED (warning class): treated as success by accept.
pub const TDX_PAGE_ALREADY_ACCEPTED: u64 = 0x0000_0B0A_0000_0000;
/// TDX_PAGE_SIZE_MISMATCH: a 2 MiB accept over a range the host mapped with 4 KiB pages.
pub const TDX_PAGE_SIZE_MISMATCH: u64 = 0xC000_0B0B_0000_0001;
/// Status class (bits 63:32) of TDX_OPERAND_BUSY.
pub const TDX_OPERAND_BUSY_CLASS: u64 = 0x8000_0200;

/// GPR bitmap exposed to the VMM for ordinary TDVMCALLs: R10–R15 (never RBP: NO_RBP_MOD).
pub const VMCALL_EXPOSE_R10_R15: u64 = 0xFC00;

/// A failed TDCALL or TDVMCALL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The TDCALL itself returned a non-zero completion status (RAX).
    Tdcall { leaf: u64, status: u64 },
    /// The VMM returned a non-zero sub-function status (R10).
    Vmcall { subfunction: u64, status: u64 },
    /// An access size the sub-function does not take (I/O: 1, 2, 4; MMIO: 1, 2, 4, 8);
    /// refused before the call.
    BadSize { subfunction: u64, size: u64 },
    /// An RTMR index above 3; refused before the call.
    BadRtmrIndex { index: u8 },
    /// A GPA range that is not 4 KiB aligned, is empty or wraps; refused before the call.
    BadRange { subfunction: u64, gpa: u64, size: u64 },
    /// MapGPA asked to retry from `resume`, which lies outside the part of
    /// `[gpa, gpa + size)` still to do (the value comes from the untrusted VMM).
    MapGpaResume { gpa: u64, size: u64, resume: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tdcall { leaf, status } => {
                write!(f, "tdcall leaf {leaf}")?;
                if let Some(name) = leaf_name(*leaf) {
                    write!(f, " ({name})")?;
                }
                write!(f, " failed with status {status:#x}")?;
                match tdx_status_name(*status) {
                    Some(name) => write!(f, " ({name})"),
                    None => Ok(()),
                }
            }
            Error::Vmcall {
                subfunction,
                status,
            } => {
                write!(f, "tdvmcall {subfunction:#x}")?;
                if let Some(name) = subfunction_name(*subfunction) {
                    write!(f, " ({name})")?;
                }
                write!(f, " failed with status {status:#x}")?;
                match vmcall_status_name(*status) {
                    Some(name) => write!(f, " ({name})"),
                    None => Ok(()),
                }
            }
            Error::BadSize { subfunction, size } => {
                write!(f, "tdvmcall {subfunction:#x}: unsupported access size {size}")
            }
            Error::BadRtmrIndex { index } => write!(f, "rtmr index {index} is not 0..=3"),
            Error::BadRange {
                subfunction,
                gpa,
                size,
            } => write!(
                f,
                "tdvmcall {subfunction:#x}: range at {gpa:#x} size {size:#x} is empty, wraps or is not 4 KiB aligned"
            ),
            Error::MapGpaResume { gpa, size, resume } => write!(
                f,
                "mapgpa of {gpa:#x} size {size:#x}: vmm asked to resume at {resume:#x}, outside the remaining range"
            ),
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

/// Registers in and out of one TDCALL (the ones the leaves we use read or write).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

/// Executes TDCALL with `regs` (RAX = leaf) and returns the registers after it. The one
/// place the instruction is issued; in test images built with the `emulated-tdx` feature it
/// is replaced by the software model in `arch::tdx_emu` instead.
///
/// # Safety
/// Must run inside a TD (otherwise #UD). The leaf and its operands decide what memory may
/// change (ACCEPT zeroes a page, REPORT writes a buffer, some TDVMCALLs let the host write
/// shared memory): the caller must own all of it.
pub unsafe fn tdcall(regs: Regs) -> Regs {
    #[cfg(feature = "emulated-tdx")]
    {
        // SAFETY: forwarded to the caller; the model honours the same contract.
        unsafe { super::tdx_emu::tdcall(regs) }
    }
    #[cfg(not(feature = "emulated-tdx"))]
    {
        let mut out = regs;
        // SAFETY: forwarded to the caller. RBX/RBP/RSI/RDI are never exposed by our leaves
        // (the TDVMCALL masks used here exclude them), so the compiler's registers survive.
        unsafe {
            core::arch::asm!(".byte 0x66, 0x0f, 0x01, 0xcc",
                inout("rax") out.rax, inout("rcx") out.rcx, inout("rdx") out.rdx,
                inout("r8") out.r8, inout("r9") out.r9, inout("r10") out.r10, inout("r11") out.r11,
                inout("r12") out.r12, inout("r13") out.r13, inout("r14") out.r14, inout("r15") out.r15,
                options(nostack));
        }
        out
    }
}

/// TDG.VP.INFO.
///
/// # Safety
/// Must run inside a TD (otherwise #UD).
pub unsafe fn vp_info() -> Result<TdInfo, Error> {
    // SAFETY: forwarded to the caller; TDG.VP.INFO writes only registers.
    let r = unsafe {
        tdcall(Regs {
            rax: TDG_VP_INFO,
            ..Regs::default()
        })
    };
    if r.rax != 0 {
        return Err(Error::Tdcall {
            leaf: TDG_VP_INFO,
            status: r.rax,
        });
    }
    Ok(TdInfo {
        gpaw: (r.rcx & 0x3F) as u8,
        attributes: r.rdx,
        num_vcpus: r.r8 as u32,
        max_vcpus: (r.r8 >> 32) as u32,
        vcpu_index: r.r9 as u32,
    })
}

/// TDG.MEM.PAGE.ACCEPT of one page; returns the raw completion status so that the caller
/// can apply the accept algorithm (already accepted, size mismatch, busy).
///
/// # Safety
/// Must run inside a TD. Accepting a page zeroes it: `gpa` must not hold anything in use.
pub unsafe fn accept_page(gpa: u64, level_2m: bool) -> u64 {
    let rcx = (gpa & !0xFFF) | u64::from(level_2m);
    // SAFETY: forwarded to the caller.
    unsafe {
        tdcall(Regs {
            rax: TDG_MEM_PAGE_ACCEPT,
            rcx,
            ..Regs::default()
        })
    }
    .rax
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
    let regs = Regs {
        rax: TDG_VP_VMCALL,
        rcx: VMCALL_EXPOSE_R10_R15,
        r10: 0,
        r11: subfunction,
        r12,
        r13,
        r14,
        r15,
        ..Regs::default()
    };
    // SAFETY: forwarded to the caller; only the exposed registers change.
    let r = unsafe { tdcall(regs) };
    if r.rax != 0 {
        return Err(Error::Tdcall {
            leaf: TDG_VP_VMCALL,
            status: r.rax,
        });
    }
    if r.r10 != 0 {
        return Err(Error::Vmcall {
            subfunction,
            status: r.r10,
        });
    }
    Ok(r.r11)
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
