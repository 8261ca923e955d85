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
    BadRange {
        subfunction: u64,
        gpa: u64,
        size: u64,
    },
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
    // SAFETY: forwarded to the caller.
    unsafe { vmcall_regs(subfunction, r12, r13, r14, r15) }.map(|r| r.r11)
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

// ---------------------------------------------------------------------------------------
// Further leaves and sub-functions (tdcall.md §1–§3), status names, and the #VE inputs.
// Register packing and status decoding are pure functions so that they test on the host;
// the `unsafe fn` wrappers only add the TDCALL.

/// TDG.MR.RTMR.EXTEND.
pub const TDG_MR_RTMR_EXTEND: u64 = 2;
/// TDG.VP.VEINFO.GET.
pub const TDG_VP_VEINFO_GET: u64 = 3;
/// TDG.MR.REPORT.
pub const TDG_MR_REPORT: u64 = 4;

/// TDVMCALL sub-function: Instruction.CPUID.
pub const TDVMCALL_CPUID: u64 = 10;
/// TDVMCALL sub-function: Instruction.RDMSR.
pub const TDVMCALL_RDMSR: u64 = 31;
/// TDVMCALL sub-function: Instruction.WRMSR.
pub const TDVMCALL_WRMSR: u64 = 32;
/// TDVMCALL sub-function: #VE.RequestMMIO.
pub const TDVMCALL_MMIO: u64 = 48;
/// TDVMCALL sub-function: GetQuote.
pub const TDVMCALL_GET_QUOTE: u64 = 0x10002;

/// TDCALL completion status: success.
pub const TDX_SUCCESS: u64 = 0;
/// Status class (bits 63:32) of TDX_OPERAND_INVALID.
pub const TDX_OPERAND_INVALID_CLASS: u64 = 0xC000_0100;
/// Completion status bit 63: error (clear for success and warnings).
pub const TDX_STATUS_ERROR: u64 = 1 << 63;
/// Completion status bit 62: non-recoverable error.
pub const TDX_STATUS_NON_RECOVERABLE: u64 = 1 << 62;

/// TDVMCALL sub-function status (R10): success.
pub const TDVMCALL_STATUS_SUCCESS: u64 = 0;
/// TDVMCALL sub-function status: retry (MapGPA: resume at R11).
pub const TDVMCALL_STATUS_RETRY: u64 = 1;
/// TDVMCALL sub-function status: invalid operand.
pub const TDVMCALL_STATUS_INVALID_OPERAND: u64 = 0x8000_0000_0000_0000;
/// TDVMCALL sub-function status: GPA already in use.
pub const TDVMCALL_STATUS_GPA_INUSE: u64 = 0x8000_0000_0000_0001;
/// TDVMCALL sub-function status: alignment error.
pub const TDVMCALL_STATUS_ALIGN_ERROR: u64 = 0x8000_0000_0000_0002;

/// Number of RTMRs (indices 0..=3).
pub const RTMR_COUNT: u8 = 4;
/// Size of TDREPORT_STRUCT written by TDG.MR.REPORT.
pub const TDREPORT_SIZE: usize = 1024;
/// Size of REPORTDATA.
pub const REPORT_DATA_SIZE: usize = 64;

/// How often MapGPA may answer "retry" without progress before we give up. The VMM is
/// untrusted: with progress the loop is bounded by the range size, without it by this.
const MAP_GPA_STALL_RETRIES: u32 = 16;
const PAGE_4K: u64 = 0x1000;

/// A value the TDX module reads or writes by GPA that must be 64-byte aligned (RTMR digest,
/// REPORTDATA).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Aligned64<T>(pub T);

/// A value the TDX module writes by GPA that must be 1024-byte aligned (TDREPORT_STRUCT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(1024))]
pub struct Aligned1024<T>(pub T);

/// Name of a TDCALL leaf we use.
pub fn leaf_name(leaf: u64) -> Option<&'static str> {
    Some(match leaf {
        TDG_VP_VMCALL => "tdg.vp.vmcall",
        TDG_VP_INFO => "tdg.vp.info",
        TDG_MR_RTMR_EXTEND => "tdg.mr.rtmr.extend",
        TDG_VP_VEINFO_GET => "tdg.vp.veinfo.get",
        TDG_MR_REPORT => "tdg.mr.report",
        TDG_MEM_PAGE_ACCEPT => "tdg.mem.page.accept",
        _ => return None,
    })
}

/// Name of a TDVMCALL sub-function we use.
pub fn subfunction_name(subfunction: u64) -> Option<&'static str> {
    Some(match subfunction {
        TDVMCALL_CPUID => "cpuid",
        TDVMCALL_HLT => "hlt",
        TDVMCALL_IO => "io",
        TDVMCALL_RDMSR => "rdmsr",
        TDVMCALL_WRMSR => "wrmsr",
        TDVMCALL_MMIO => "mmio",
        TDVMCALL_MAP_GPA => "mapgpa",
        TDVMCALL_GET_QUOTE => "getquote",
        TDVMCALL_REPORT_FATAL_ERROR => "reportfatalerror",
        _ => return None,
    })
}

/// Meaning of a TDCALL completion status (RAX), by exact value or by class (bits 63:32).
pub fn tdx_status_name(status: u64) -> Option<&'static str> {
    Some(match status {
        TDX_SUCCESS => "success",
        TDX_PAGE_ALREADY_ACCEPTED => "page already accepted",
        TDX_PAGE_SIZE_MISMATCH => "page size mismatch",
        _ => match status >> 32 {
            TDX_OPERAND_BUSY_CLASS => "operand busy",
            TDX_OPERAND_INVALID_CLASS => "operand invalid",
            _ if status & TDX_STATUS_NON_RECOVERABLE != 0 => "non-recoverable error",
            _ if status & TDX_STATUS_ERROR != 0 => "error",
            _ => return None,
        },
    })
}

/// Meaning of a TDVMCALL sub-function status (R10).
pub fn vmcall_status_name(status: u64) -> Option<&'static str> {
    Some(match status {
        TDVMCALL_STATUS_SUCCESS => "success",
        TDVMCALL_STATUS_RETRY => "retry",
        TDVMCALL_STATUS_INVALID_OPERAND => "invalid operand",
        TDVMCALL_STATUS_GPA_INUSE => "gpa in use",
        TDVMCALL_STATUS_ALIGN_ERROR => "alignment error",
        _ => return None,
    })
}

/// Mask of the low `size` bytes for an access of 1, 2, 4 or 8 bytes.
pub fn size_mask(size: u8) -> Option<u64> {
    match size {
        1 => Some(0xFF),
        2 => Some(0xFFFF),
        4 => Some(0xFFFF_FFFF),
        8 => Some(u64::MAX),
        _ => None,
    }
}

/// Input registers of TDG.VP.VMCALL `subfunction` (GHCI standard, R10 = 0) exposing
/// R10–R15.
pub fn vmcall_in(subfunction: u64, r12: u64, r13: u64, r14: u64, r15: u64) -> Regs {
    Regs {
        rax: TDG_VP_VMCALL,
        rcx: VMCALL_EXPOSE_R10_R15,
        r10: 0,
        r11: subfunction,
        r12,
        r13,
        r14,
        r15,
        ..Regs::default()
    }
}

/// Checks the output of a TDVMCALL: RAX (the TDCALL itself) first, then R10.
pub fn vmcall_out(subfunction: u64, out: Regs) -> Result<Regs, Error> {
    check_leaf(TDG_VP_VMCALL, out)?;
    if out.r10 != TDVMCALL_STATUS_SUCCESS {
        return Err(Error::Vmcall {
            subfunction,
            status: out.r10,
        });
    }
    Ok(out)
}

/// Checks the completion status (RAX) of a TDCALL leaf.
pub fn check_leaf(leaf: u64, out: Regs) -> Result<Regs, Error> {
    if out.rax != TDX_SUCCESS {
        return Err(Error::Tdcall {
            leaf,
            status: out.rax,
        });
    }
    Ok(out)
}

/// Raw TDG.VP.VMCALL like [`vmcall`], returning all registers (for sub-functions with more
/// than one output, e.g. CPUID in R12–R15). Outputs come from the untrusted VMM.
///
/// # Safety
/// As [`vmcall`].
pub unsafe fn vmcall_regs(
    subfunction: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
) -> Result<Regs, Error> {
    // SAFETY: forwarded to the caller; only the exposed registers change.
    let out = unsafe { tdcall(vmcall_in(subfunction, r12, r13, r14, r15)) };
    vmcall_out(subfunction, out)
}

/// What TDG.VP.VEINFO.GET reports about the pending #VE (from the TDX module: trusted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VeInfo {
    /// VMX exit reason of the instruction or event (RCX[31:0]).
    pub exit_reason: u32,
    /// Exit qualification (RDX).
    pub exit_qualification: u64,
    /// Guest linear address (R8).
    pub gla: u64,
    /// Guest physical address (R9), including the shared bit.
    pub gpa: u64,
    /// Instruction length (R10[31:0]); not meaningful for EPT violations.
    pub instruction_length: u32,
    /// Instruction information (R10[63:32]).
    pub instruction_info: u32,
}

impl VeInfo {
    /// Unpacks the output registers of TDG.VP.VEINFO.GET.
    pub fn from_regs(r: &Regs) -> Self {
        VeInfo {
            exit_reason: r.rcx as u32,
            exit_qualification: r.rdx,
            gla: r.r8,
            gpa: r.r9,
            instruction_length: r.r10 as u32,
            instruction_info: (r.r10 >> 32) as u32,
        }
    }
}

/// TDG.VP.VEINFO.GET: the information of the #VE being handled.
///
/// # Safety
/// Must run inside a TD (otherwise #UD).
pub unsafe fn ve_info() -> Result<VeInfo, Error> {
    // SAFETY: forwarded to the caller; the leaf writes only registers.
    let out = unsafe {
        tdcall(Regs {
            rax: TDG_VP_VEINFO_GET,
            ..Regs::default()
        })
    };
    check_leaf(TDG_VP_VEINFO_GET, out).map(|r| VeInfo::from_regs(&r))
}

/// Input registers of TDG.MR.RTMR.EXTEND with the digest at `digest_gpa`.
pub fn rtmr_extend_in(digest_gpa: u64, index: u8) -> Result<Regs, Error> {
    if index >= RTMR_COUNT {
        return Err(Error::BadRtmrIndex { index });
    }
    Ok(Regs {
        rax: TDG_MR_RTMR_EXTEND,
        rcx: digest_gpa,
        rdx: u64::from(index),
        ..Regs::default()
    })
}

/// TDG.MR.RTMR.EXTEND: RTMR[`index`] = SHA-384(RTMR[`index`] ‖ `digest`).
///
/// The firmware runs identity-mapped, so the buffer's address is its GPA; it is private
/// memory (the shim never maps its own data shared).
///
/// # Safety
/// Must run inside a TD, with `digest` in identity-mapped private memory.
pub unsafe fn extend_rtmr(digest: &Aligned64<[u8; 48]>, index: u8) -> Result<(), Error> {
    let regs = rtmr_extend_in(core::ptr::from_ref(digest) as u64, index)?;
    // SAFETY: forwarded to the caller; the TDX module only reads the 48-byte digest.
    let out = unsafe { tdcall(regs) };
    check_leaf(TDG_MR_RTMR_EXTEND, out).map(|_| ())
}

/// Input registers of TDG.MR.REPORT (subtype 0).
pub fn report_in(report_gpa: u64, report_data_gpa: u64) -> Regs {
    Regs {
        rax: TDG_MR_REPORT,
        rcx: report_gpa,
        rdx: report_data_gpa,
        r8: 0,
        ..Regs::default()
    }
}

/// TDG.MR.REPORT: writes TDREPORT_STRUCT for `report_data` into `report`. On failure the
/// error carries RAX, the completion status (not R10).
///
/// # Safety
/// Must run inside a TD, with both buffers in identity-mapped private memory.
pub unsafe fn report(
    report_data: &Aligned64<[u8; REPORT_DATA_SIZE]>,
    report: &mut Aligned1024<[u8; TDREPORT_SIZE]>,
) -> Result<(), Error> {
    let regs = report_in(
        core::ptr::from_mut(report) as u64,
        core::ptr::from_ref(report_data) as u64,
    );
    // SAFETY: forwarded to the caller; the TDX module writes only the 1024 bytes of
    // `report`, which we borrow mutably.
    let out = unsafe { tdcall(regs) };
    check_leaf(TDG_MR_REPORT, out).map(|_| ())
}

/// Unpacks the CPUID outputs R12..R15 (EAX, EBX, ECX, EDX; low 32 bits each).
pub fn cpuid_out(r: &Regs) -> core::arch::x86_64::CpuidResult {
    core::arch::x86_64::CpuidResult {
        eax: r.r12 as u32,
        ebx: r.r13 as u32,
        ecx: r.r14 as u32,
        edx: r.r15 as u32,
    }
}

/// TDVMCALL<Instruction.CPUID>: the VMM's answer for `leaf`/`subleaf` (untrusted).
///
/// # Safety
/// Must run inside a TD.
pub unsafe fn cpuid(leaf: u32, subleaf: u32) -> Result<core::arch::x86_64::CpuidResult, Error> {
    // SAFETY: forwarded to the caller; CPUID shares no memory.
    let r = unsafe { vmcall_regs(TDVMCALL_CPUID, u64::from(leaf), u64::from(subleaf), 0, 0) }?;
    Ok(cpuid_out(&r))
}

/// TDVMCALL<Instruction.HLT>; `interrupts_blocked` is the interrupted context's !RFLAGS.IF.
///
/// # Safety
/// Must run inside a TD.
pub unsafe fn halt(interrupts_blocked: bool) -> Result<(), Error> {
    // SAFETY: forwarded to the caller; HLT changes no guest memory.
    unsafe { vmcall(TDVMCALL_HLT, u64::from(interrupts_blocked), 0, 0, 0) }.map(|_| ())
}

/// TDVMCALL<Instruction.RDMSR> (value from the untrusted VMM).
///
/// # Safety
/// Must run inside a TD; as a native RDMSR, the caller must know the MSR.
pub unsafe fn rdmsr(index: u32) -> Result<u64, Error> {
    // SAFETY: forwarded to the caller.
    unsafe { vmcall(TDVMCALL_RDMSR, u64::from(index), 0, 0, 0) }
}

/// TDVMCALL<Instruction.WRMSR>.
///
/// # Safety
/// Must run inside a TD; as a native WRMSR, the caller must know the MSR.
pub unsafe fn wrmsr(index: u32, value: u64) -> Result<(), Error> {
    // SAFETY: forwarded to the caller.
    unsafe { vmcall(TDVMCALL_WRMSR, u64::from(index), value, 0, 0) }.map(|_| ())
}

/// Input registers of TDVMCALL<#VE.RequestMMIO>: a read when `write` is `None`. The value
/// written is truncated to `size` bytes.
pub fn mmio_in(gpa: u64, size: u8, write: Option<u64>) -> Result<Regs, Error> {
    let mask = size_mask(size).ok_or(Error::BadSize {
        subfunction: TDVMCALL_MMIO,
        size: u64::from(size),
    })?;
    let (direction, data) = match write {
        None => (0, 0),
        Some(v) => (1, v & mask),
    };
    Ok(vmcall_in(
        TDVMCALL_MMIO,
        u64::from(size),
        direction,
        gpa,
        data,
    ))
}

/// MMIO read of `size` (1, 2, 4, 8) bytes at `gpa` through the VMM; the result (untrusted)
/// is truncated to `size` bytes.
///
/// # Safety
/// Must run inside a TD. `gpa` carries the shared bit and the caller must know the device
/// behind it (a read can have side effects).
pub unsafe fn mmio_read(gpa: u64, size: u8) -> Result<u64, Error> {
    let regs = mmio_in(gpa, size, None)?;
    // SAFETY: forwarded to the caller; the VMM writes only R11.
    let out = unsafe { tdcall(regs) };
    let mask = size_mask(size).unwrap_or(u64::MAX);
    vmcall_out(TDVMCALL_MMIO, out).map(|r| r.r11 & mask)
}

/// MMIO write of the low `size` (1, 2, 4, 8) bytes of `value` at `gpa` through the VMM.
///
/// # Safety
/// As [`mmio_read`].
pub unsafe fn mmio_write(gpa: u64, size: u8, value: u64) -> Result<(), Error> {
    let regs = mmio_in(gpa, size, Some(value))?;
    // SAFETY: forwarded to the caller.
    let out = unsafe { tdcall(regs) };
    vmcall_out(TDVMCALL_MMIO, out).map(|_| ())
}

/// MapGPA loop over any TDCALL implementation (the real one, or a test fake).
fn map_gpa_with(mut call: impl FnMut(Regs) -> Regs, gpa: u64, size: u64) -> Result<(), Error> {
    let bad = Error::BadRange {
        subfunction: TDVMCALL_MAP_GPA,
        gpa,
        size,
    };
    let end = gpa.checked_add(size).ok_or(bad)?;
    if size == 0 || !gpa.is_multiple_of(PAGE_4K) || !size.is_multiple_of(PAGE_4K) {
        return Err(bad);
    }
    let mut start = gpa;
    let mut stalls = 0;
    loop {
        let out = call(vmcall_in(TDVMCALL_MAP_GPA, start, end - start, 0, 0));
        check_leaf(TDG_VP_VMCALL, out)?;
        match out.r10 {
            TDVMCALL_STATUS_SUCCESS => return Ok(()),
            TDVMCALL_STATUS_RETRY => {
                let resume = out.r11;
                if resume < start || resume >= end || !resume.is_multiple_of(PAGE_4K) {
                    return Err(Error::MapGpaResume { gpa, size, resume });
                }
                if resume == start {
                    stalls += 1;
                    if stalls > MAP_GPA_STALL_RETRIES {
                        return Err(Error::Vmcall {
                            subfunction: TDVMCALL_MAP_GPA,
                            status: TDVMCALL_STATUS_RETRY,
                        });
                    }
                }
                start = resume;
            }
            status => {
                return Err(Error::Vmcall {
                    subfunction: TDVMCALL_MAP_GPA,
                    status,
                })
            }
        }
    }
}

/// TDVMCALL<MapGPA>: converts `[gpa, gpa + size)` to shared (shared bit set in `gpa`) or to
/// private (bit clear). Follows "retry" answers from the GPA the VMM reports in R11, which
/// must lie in the part still to do.
///
/// # Safety
/// Must run inside a TD. The range must not hold anything in use: its contents are lost
/// (pages converted to private must be accepted again before use; pages converted to
/// shared are visible to the host).
pub unsafe fn map_gpa(gpa: u64, size: u64) -> Result<(), Error> {
    // SAFETY: forwarded to the caller.
    map_gpa_with(|r| unsafe { tdcall(r) }, gpa, size)
}

/// Input registers of TDVMCALL<GetQuote>.
pub fn get_quote_in(buffer_gpa: u64, size: u64) -> Result<Regs, Error> {
    if size == 0 || !buffer_gpa.is_multiple_of(PAGE_4K) || buffer_gpa.checked_add(size).is_none() {
        return Err(Error::BadRange {
            subfunction: TDVMCALL_GET_QUOTE,
            gpa: buffer_gpa,
            size,
        });
    }
    Ok(vmcall_in(TDVMCALL_GET_QUOTE, buffer_gpa, size, 0, 0))
}

/// TDVMCALL<GetQuote>: asks the host to turn the TDREPORT in the shared buffer at
/// `buffer_gpa` (shared bit set, 4 KiB aligned, `size` bytes, GHCI header {version = 1,
/// status, in_len, out_len} first) into a quote. Success only means the request was
/// queued: the caller polls the header's status field.
///
/// # Safety
/// Must run inside a TD. The buffer must be shared memory the caller owns: the host writes
/// it asynchronously, so nothing in it may be trusted or relied on while in flight.
pub unsafe fn get_quote(buffer_gpa: u64, size: u64) -> Result<(), Error> {
    let regs = get_quote_in(buffer_gpa, size)?;
    // SAFETY: forwarded to the caller.
    let out = unsafe { tdcall(regs) };
    vmcall_out(TDVMCALL_GET_QUOTE, out).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn completion_status_names() {
        assert_eq!(tdx_status_name(0), Some("success"));
        assert_eq!(
            tdx_status_name(0x0000_0B0A_0000_0000),
            Some("page already accepted")
        );
        assert_eq!(
            tdx_status_name(0xC000_0B0B_0000_0001),
            Some("page size mismatch")
        );
        // Classes are decided by bits 63:32, whatever the operand id in the low half.
        assert_eq!(tdx_status_name(0x8000_0200_0000_0011), Some("operand busy"));
        assert_eq!(
            tdx_status_name(0xC000_0100_0000_0002),
            Some("operand invalid")
        );
        assert_eq!(
            tdx_status_name(0xC000_0999_0000_0000),
            Some("non-recoverable error")
        );
        assert_eq!(tdx_status_name(0x8000_0999_0000_0000), Some("error"));
        // A warning class we do not know.
        assert_eq!(tdx_status_name(0x0000_0999_0000_0000), None);
    }

    #[test]
    fn vmcall_status_names() {
        assert_eq!(vmcall_status_name(0), Some("success"));
        assert_eq!(vmcall_status_name(1), Some("retry"));
        assert_eq!(
            vmcall_status_name(0x8000_0000_0000_0000),
            Some("invalid operand")
        );
        assert_eq!(
            vmcall_status_name(0x8000_0000_0000_0001),
            Some("gpa in use")
        );
        assert_eq!(
            vmcall_status_name(0x8000_0000_0000_0002),
            Some("alignment error")
        );
        assert_eq!(vmcall_status_name(2), None);
    }

    #[test]
    fn error_display_names_leaf_and_status() {
        let e = Error::Tdcall {
            leaf: 4,
            status: 0xC000_0100_0000_0000,
        };
        assert_eq!(
            e.to_string(),
            "tdcall leaf 4 (tdg.mr.report) failed with status 0xc000010000000000 (operand invalid)"
        );
        let e = Error::Vmcall {
            subfunction: 0x10001,
            status: 0x8000_0000_0000_0002,
        };
        assert_eq!(
            e.to_string(),
            "tdvmcall 0x10001 (mapgpa) failed with status 0x8000000000000002 (alignment error)"
        );
        let e = Error::Tdcall {
            leaf: 99,
            status: 0x0000_0999_0000_0000,
        };
        assert_eq!(
            e.to_string(),
            "tdcall leaf 99 failed with status 0x99900000000"
        );
        assert_eq!(
            Error::BadRtmrIndex { index: 4 }.to_string(),
            "rtmr index 4 is not 0..=3"
        );
    }

    #[test]
    fn veinfo_unpacks_registers() {
        let r = Regs {
            rcx: 0xFFFF_FFFF_0000_0030,
            rdx: 0x181,
            r8: 0xFFFF_8000_0000_1000,
            r9: 0x8000_FEC0_0000,
            r10: 0x1234_5678_0000_0003,
            ..Regs::default()
        };
        assert_eq!(
            VeInfo::from_regs(&r),
            VeInfo {
                exit_reason: 0x30,
                exit_qualification: 0x181,
                gla: 0xFFFF_8000_0000_1000,
                gpa: 0x8000_FEC0_0000,
                instruction_length: 3,
                instruction_info: 0x1234_5678,
            }
        );
    }

    #[test]
    fn vmcall_packing_and_status_order() {
        let r = vmcall_in(TDVMCALL_CPUID, 1, 2, 3, 4);
        assert_eq!(
            r,
            Regs {
                rax: 0,
                rcx: 0xFC00,
                r10: 0,
                r11: 10,
                r12: 1,
                r13: 2,
                r14: 3,
                r15: 4,
                ..Regs::default()
            }
        );
        let ok = Regs {
            r11: 7,
            ..Regs::default()
        };
        assert_eq!(vmcall_out(48, ok), Ok(ok));
        let vmm_err = Regs {
            r10: 0x8000_0000_0000_0000,
            ..Regs::default()
        };
        assert_eq!(
            vmcall_out(48, vmm_err),
            Err(Error::Vmcall {
                subfunction: 48,
                status: 0x8000_0000_0000_0000
            })
        );
        // A failed TDCALL wins over whatever R10 holds.
        let both = Regs {
            rax: 0xC000_0100_0000_0000,
            r10: 1,
            ..Regs::default()
        };
        assert_eq!(
            vmcall_out(48, both),
            Err(Error::Tdcall {
                leaf: 0,
                status: 0xC000_0100_0000_0000
            })
        );
    }

    #[test]
    fn rtmr_extend_packing() {
        assert_eq!(
            rtmr_extend_in(0x1_0040, 3),
            Ok(Regs {
                rax: 2,
                rcx: 0x1_0040,
                rdx: 3,
                ..Regs::default()
            })
        );
        assert_eq!(
            rtmr_extend_in(0x1_0040, 4),
            Err(Error::BadRtmrIndex { index: 4 })
        );
        assert_eq!(core::mem::align_of::<Aligned64<[u8; 48]>>(), 64);
        assert_eq!(core::mem::size_of::<Aligned64<[u8; 48]>>(), 64);
        assert_eq!(core::mem::align_of::<Aligned1024<[u8; 1024]>>(), 1024);
        assert_eq!(core::mem::size_of::<Aligned1024<[u8; 1024]>>(), 1024);
    }

    #[test]
    fn report_packing_and_rax_on_failure() {
        assert_eq!(
            report_in(0x40_0000, 0x40_0400),
            Regs {
                rax: 4,
                rcx: 0x40_0000,
                rdx: 0x40_0400,
                r8: 0,
                ..Regs::default()
            }
        );
        // The error carries RAX, not R10.
        let out = Regs {
            rax: 0xC000_0100_0000_0001,
            r10: 0x55,
            ..Regs::default()
        };
        assert_eq!(
            check_leaf(TDG_MR_REPORT, out),
            Err(Error::Tdcall {
                leaf: 4,
                status: 0xC000_0100_0000_0001
            })
        );
    }

    #[test]
    fn cpuid_takes_low_halves_of_r12_to_r15() {
        let r = Regs {
            r12: 0xDEAD_0000_0000_000D,
            r13: 0x756E_6547,
            r14: 0x6C65_746E,
            r15: 0xFFFF_FFFF_4965_6E69,
            ..Regs::default()
        };
        let c = cpuid_out(&r);
        assert_eq!(
            (c.eax, c.ebx, c.ecx, c.edx),
            (0xD, 0x756E_6547, 0x6C65_746E, 0x4965_6E69)
        );
    }

    #[test]
    fn mmio_packing() {
        assert_eq!(size_mask(1), Some(0xFF));
        assert_eq!(size_mask(8), Some(u64::MAX));
        assert_eq!(size_mask(3), None);
        assert_eq!(size_mask(0), None);
        let gpa = (1 << 47) | 0xFEC0_0000;
        assert_eq!(
            mmio_in(gpa, 4, None),
            Ok(vmcall_in(48, 4, 0, gpa, 0)),
            "read: direction 0, no data"
        );
        assert_eq!(
            mmio_in(gpa, 2, Some(0x1234_5678)),
            Ok(vmcall_in(48, 2, 1, gpa, 0x5678)),
            "write: direction 1, data truncated to the size"
        );
        for size in [0u8, 3, 5, 16] {
            assert_eq!(
                mmio_in(gpa, size, None),
                Err(Error::BadSize {
                    subfunction: 48,
                    size: u64::from(size)
                })
            );
        }
    }

    #[test]
    fn get_quote_packing() {
        let gpa = (1 << 47) | 0x7000;
        assert_eq!(
            get_quote_in(gpa, 0x2000),
            Ok(vmcall_in(0x10002, gpa, 0x2000, 0, 0))
        );
        for (g, s) in [(gpa + 8, 0x1000), (gpa, 0), (u64::MAX - 0xFFF, 0x2000)] {
            assert_eq!(
                get_quote_in(g, s),
                Err(Error::BadRange {
                    subfunction: 0x10002,
                    gpa: g,
                    size: s
                })
            );
        }
    }

    /// A scripted VMM for MapGPA: answers (rax, r10, r11) in order, records inputs.
    struct FakeVmm {
        answers: Vec<(u64, u64, u64)>,
        calls: Vec<Regs>,
    }

    impl FakeVmm {
        fn call(&mut self, r: Regs) -> Regs {
            self.calls.push(r);
            let i = (self.calls.len() - 1).min(self.answers.len() - 1);
            let (rax, r10, r11) = self.answers[i];
            Regs { rax, r10, r11, ..r }
        }
    }

    fn run_map(answers: &[(u64, u64, u64)], gpa: u64, size: u64) -> (Result<(), Error>, Vec<Regs>) {
        let mut vmm = FakeVmm {
            answers: answers.to_vec(),
            calls: Vec::new(),
        };
        let res = map_gpa_with(|r| vmm.call(r), gpa, size);
        (res, vmm.calls)
    }

    const SHARED: u64 = 1 << 47;

    #[test]
    fn map_gpa_one_call() {
        let (res, calls) = run_map(&[(0, 0, 0)], SHARED | 0x10_0000, 0x4000);
        assert_eq!(res, Ok(()));
        assert_eq!(
            calls,
            [vmcall_in(0x10001, SHARED | 0x10_0000, 0x4000, 0, 0)]
        );
    }

    #[test]
    fn map_gpa_resumes_where_the_vmm_says() {
        let start = SHARED | 0x10_0000;
        let (res, calls) = run_map(
            &[(0, 1, start + 0x1000), (0, 1, start + 0x3000), (0, 0, 0)],
            start,
            0x4000,
        );
        assert_eq!(res, Ok(()));
        assert_eq!(
            calls,
            [
                vmcall_in(0x10001, start, 0x4000, 0, 0),
                vmcall_in(0x10001, start + 0x1000, 0x3000, 0, 0),
                vmcall_in(0x10001, start + 0x3000, 0x1000, 0, 0),
            ]
        );
    }

    #[test]
    fn map_gpa_refuses_resume_outside_the_remaining_range() {
        let start = 0x10_0000;
        for resume in [
            start - 0x1000,
            start + 0x4000,
            start + 0x10_0000,
            start + 0x800,
        ] {
            let (res, calls) = run_map(&[(0, 1, resume)], start, 0x4000);
            assert_eq!(
                res,
                Err(Error::MapGpaResume {
                    gpa: start,
                    size: 0x4000,
                    resume
                }),
                "resume {resume:#x}"
            );
            assert_eq!(calls.len(), 1);
        }
        // Going backwards after progress is refused too.
        let (res, calls) = run_map(
            &[(0, 1, start + 0x2000), (0, 1, start + 0x1000)],
            start,
            0x4000,
        );
        assert!(matches!(res, Err(Error::MapGpaResume { .. })));
        assert_eq!(calls.len(), 2);
    }

    #[test]
    fn map_gpa_gives_up_without_progress() {
        let start = 0x10_0000;
        let (res, calls) = run_map(&[(0, 1, start)], start, 0x4000);
        assert_eq!(
            res,
            Err(Error::Vmcall {
                subfunction: 0x10001,
                status: 1
            })
        );
        // The first call plus MAP_GPA_STALL_RETRIES retries.
        assert_eq!(calls.len(), 17);
    }

    #[test]
    fn map_gpa_errors() {
        let start = 0x10_0000;
        let (res, _) = run_map(&[(0, 0x8000_0000_0000_0001, 0)], start, 0x1000);
        assert_eq!(
            res,
            Err(Error::Vmcall {
                subfunction: 0x10001,
                status: 0x8000_0000_0000_0001
            })
        );
        let (res, _) = run_map(&[(0xC000_0100_0000_0000, 0, 0)], start, 0x1000);
        assert_eq!(
            res,
            Err(Error::Tdcall {
                leaf: 0,
                status: 0xC000_0100_0000_0000
            })
        );
        for (gpa, size) in [
            (start + 1, 0x1000),
            (start, 0x1001),
            (start, 0),
            (0xFFFF_FFFF_FFFF_F000, 0x2000),
        ] {
            let (res, calls) = run_map(&[(0, 0, 0)], gpa, size);
            assert_eq!(
                res,
                Err(Error::BadRange {
                    subfunction: 0x10001,
                    gpa,
                    size
                })
            );
            assert!(calls.is_empty());
        }
    }
}
