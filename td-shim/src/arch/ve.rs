// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The #VE (vector 20) handler of a TD (`../shared/spec/tdcall.md` §6): TDG.VP.VEINFO.GET
//! says what the TDX module refused to run, and the handler does it through a TDVMCALL
//! instead — CPUID, HLT, port I/O (not the string/REP forms), RDMSR/WRMSR, and MMIO on shared
//! GPAs (the MOV forms of [`super::insn`]) — skips the instructions a firmware can ignore, and
//! reports everything else as a [`VeError`] for the caller to log and halt on.
//!
//! The #VE information is trusted (it comes from the TDX module); TDVMCALL results come from
//! the VMM and are only ever put where the emulated instruction would have put its result.
//! The logic is [`handle_with`], a pure function over a plain register set ([`Gprs`]) and a
//! [`VeBackend`], so every exit reason is tested on the host with a fake backend; [`handle`]
//! binds it to the real TDCALLs and the saved [`ExceptionFrame`].
//!
//! Not done: CET shadow-stack fix-up on RIP advance (the shim does not enable CET).

use super::idt::ExceptionFrame;
use super::insn::{self, Extend, Kind, Reg, Src};
use super::tdcall::{self, VeInfo};
use core::arch::x86_64::CpuidResult;
use core::fmt;

/// VMX basic exit reasons that reach the #VE handler (SDM vol. 3, appendix C).
pub const EXIT_REASON_CPUID: u32 = 10;
pub const EXIT_REASON_HLT: u32 = 12;
pub const EXIT_REASON_RDPMC: u32 = 15;
pub const EXIT_REASON_VMCALL: u32 = 18;
pub const EXIT_REASON_IO: u32 = 30;
pub const EXIT_REASON_RDMSR: u32 = 31;
pub const EXIT_REASON_WRMSR: u32 = 32;
pub const EXIT_REASON_MWAIT: u32 = 36;
pub const EXIT_REASON_MONITOR: u32 = 39;
pub const EXIT_REASON_EPT_VIOLATION: u32 = 48;
pub const EXIT_REASON_WBINVD: u32 = 54;

/// I/O exit qualification fields (SDM vol. 3, table "Exit Qualification for I/O
/// Instructions").
const IO_SIZE_MASK: u64 = 0b111; // bits 2:0 = size - 1
const IO_DIRECTION_IN: u64 = 1 << 3;
const IO_STRING: u64 = 1 << 4;
const IO_REP: u64 = 1 << 5;
const IO_PORT_SHIFT: u32 = 16;

/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;
const PAGE_SIZE: u64 = 0x1000;

/// Why a #VE could not be handled. The interrupted context is left unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VeError {
    /// TDG.VP.VEINFO.GET failed.
    VeInfo(tdcall::Error),
    /// The TDVMCALL that emulates `exit_reason` failed.
    Tdvmcall {
        exit_reason: u32,
        error: tdcall::Error,
    },
    /// An exit reason we neither emulate nor skip.
    Unhandled { exit_reason: u32 },
    /// String or REP port I/O (`INS`/`OUTS`), refused rather than emulated half-way.
    IoString { port: u16, qualification: u64 },
    /// Port I/O with a size other than 1, 2 or 4.
    IoSize { port: u16, qualification: u64 },
    /// The reported instruction length is not 1..=15.
    InstructionLength { exit_reason: u32, len: u32 },
    /// An EPT violation on a private GPA (e.g. a page never accepted): not MMIO.
    PrivateGpa { gpa: u64 },
    /// The instruction of an MMIO access could not be decoded.
    Decode { rip: u64, error: insn::Error },
}

impl fmt::Display for VeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VeError::VeInfo(e) => write!(f, "#ve: {e}"),
            VeError::Tdvmcall { exit_reason, error } => {
                write!(f, "#ve exit reason {exit_reason}: {error}")
            }
            VeError::Unhandled { exit_reason } => {
                write!(f, "#ve exit reason {exit_reason} is not handled")
            }
            VeError::IoString {
                port,
                qualification,
            } => write!(
                f,
                "#ve: string/rep i/o on port {port:#x} is not emulated (qualification {qualification:#x})"
            ),
            VeError::IoSize {
                port,
                qualification,
            } => write!(
                f,
                "#ve: i/o on port {port:#x} has an invalid size (qualification {qualification:#x})"
            ),
            VeError::InstructionLength { exit_reason, len } => {
                write!(f, "#ve exit reason {exit_reason}: instruction length {len}")
            }
            VeError::PrivateGpa { gpa } => {
                write!(f, "#ve: ept violation on private gpa {gpa:#x}")
            }
            VeError::Decode { rip, error } => {
                write!(f, "#ve: mmio instruction at {rip:#x}: {error}")
            }
        }
    }
}

/// The interrupted context's general-purpose registers (indexed by their x86 encoding: 0
/// RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI, 8–15 R8–R15), RIP and RFLAGS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gprs {
    pub gpr: [u64; 16],
    pub rip: u64,
    pub rflags: u64,
}

fn mask(size: u8) -> u64 {
    tdcall::size_mask(size).unwrap_or(u64::MAX)
}

/// Sign-extends the low `size` bytes of `v` to 64 bits.
fn sign_extend(v: u64, size: u8) -> u64 {
    match size {
        1 => v as u8 as i8 as i64 as u64,
        2 => v as u16 as i16 as i64 as u64,
        4 => v as u32 as i32 as i64 as u64,
        _ => v,
    }
}

impl Gprs {
    /// Copies the registers out of a saved exception frame.
    pub fn from_frame(f: &ExceptionFrame) -> Self {
        Gprs {
            gpr: [
                f.rax, f.rcx, f.rdx, f.rbx, f.rsp, f.rbp, f.rsi, f.rdi, f.r8, f.r9, f.r10, f.r11,
                f.r12, f.r13, f.r14, f.r15,
            ],
            rip: f.rip,
            rflags: f.rflags,
        }
    }

    /// Writes the registers back into a saved exception frame (RFLAGS is not changed by any
    /// emulation, so it is not written).
    pub fn store(&self, f: &mut ExceptionFrame) {
        let [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15] =
            self.gpr;
        f.rax = rax;
        f.rcx = rcx;
        f.rdx = rdx;
        f.rbx = rbx;
        f.rsp = rsp;
        f.rbp = rbp;
        f.rsi = rsi;
        f.rdi = rdi;
        f.r8 = r8;
        f.r9 = r9;
        f.r10 = r10;
        f.r11 = r11;
        f.r12 = r12;
        f.r13 = r13;
        f.r14 = r14;
        f.r15 = r15;
        f.rip = self.rip;
    }

    fn get(&self, n: u8) -> u64 {
        self.gpr.get(usize::from(n)).copied().unwrap_or(0)
    }

    fn set(&mut self, n: u8, v: u64) {
        if let Some(r) = self.gpr.get_mut(usize::from(n)) {
            *r = v;
        }
    }

    /// The low `size` bytes of `reg` (AH..BH: bits 15:8).
    pub fn read_reg(&self, reg: Reg, size: u8) -> u64 {
        match reg {
            Reg::Gpr(n) => self.get(n) & mask(size),
            Reg::HighByte(n) => (self.get(n) >> 8) & 0xFF,
        }
    }

    /// Writes `value` to the `size`-byte register `reg` as an x86-64 MOV does: 8- and
    /// 16-bit writes keep the other bits, a 32-bit write zero-extends to 64 bits.
    pub fn write_reg(&mut self, reg: Reg, size: u8, value: u64) {
        match reg {
            Reg::HighByte(n) => {
                let old = self.get(n);
                self.set(n, (old & !0xFF00) | ((value & 0xFF) << 8));
            }
            Reg::Gpr(n) => {
                let new = match size {
                    1 | 2 => (self.get(n) & !mask(size)) | (value & mask(size)),
                    4 => value & 0xFFFF_FFFF,
                    _ => value,
                };
                self.set(n, new);
            }
        }
    }
}

/// What the handler needs from the TD: the #VE information and one TDVMCALL per emulated
/// instruction. The real implementation issues TDCALLs; tests pass a fake.
pub trait VeBackend {
    /// TDG.VP.VEINFO.GET.
    fn ve_info(&mut self) -> Result<VeInfo, tdcall::Error>;
    /// The shared bit of GPAs (1 << (GPAW − 1)); 0 if unknown, which makes every EPT
    /// violation count as private.
    fn shared_bit(&mut self) -> u64;
    /// TDVMCALL<Instruction.CPUID>.
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<CpuidResult, tdcall::Error>;
    /// TDVMCALL<Instruction.HLT>.
    fn halt(&mut self, interrupts_blocked: bool) -> Result<(), tdcall::Error>;
    /// TDVMCALL<Instruction.IO> in; the result holds `size` bytes.
    fn io_read(&mut self, port: u16, size: u8) -> Result<u32, tdcall::Error>;
    /// TDVMCALL<Instruction.IO> out.
    fn io_write(&mut self, port: u16, size: u8, value: u32) -> Result<(), tdcall::Error>;
    /// TDVMCALL<Instruction.RDMSR>.
    fn rdmsr(&mut self, index: u32) -> Result<u64, tdcall::Error>;
    /// TDVMCALL<Instruction.WRMSR>.
    fn wrmsr(&mut self, index: u32, value: u64) -> Result<(), tdcall::Error>;
    /// TDVMCALL<#VE.RequestMMIO> read.
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, tdcall::Error>;
    /// TDVMCALL<#VE.RequestMMIO> write.
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), tdcall::Error>;
    /// Copies `buf.len()` instruction bytes starting at linear address `rip`. The handler
    /// never asks for bytes past the end of RIP's page unless the instruction continues
    /// there (so the CPU has fetched from that page too).
    fn fetch(&mut self, rip: u64, buf: &mut [u8]);
}

/// Exit reasons of instructions the handler emulates or skips (RIP advances by the
/// reported instruction length).
fn is_instruction_exit(reason: u32) -> bool {
    matches!(
        reason,
        EXIT_REASON_CPUID
            | EXIT_REASON_HLT
            | EXIT_REASON_IO
            | EXIT_REASON_RDMSR
            | EXIT_REASON_WRMSR
            | EXIT_REASON_VMCALL
            | EXIT_REASON_MWAIT
            | EXIT_REASON_MONITOR
            | EXIT_REASON_WBINVD
            | EXIT_REASON_RDPMC
    )
}

/// Handles one #VE against `regs`. On success `regs` holds the state after the emulated
/// (or skipped) instruction, RIP included; on error `regs` is unchanged.
pub fn handle_with<B: VeBackend>(b: &mut B, regs: &mut Gprs) -> Result<(), VeError> {
    let info = b.ve_info().map_err(VeError::VeInfo)?;
    let exit_reason = info.exit_reason;
    if exit_reason == EXIT_REASON_EPT_VIOLATION {
        return emulate_mmio(b, regs, &info);
    }
    if !is_instruction_exit(exit_reason) {
        return Err(VeError::Unhandled { exit_reason });
    }
    let len = match info.instruction_length {
        len @ 1..=15 => u64::from(len),
        len => return Err(VeError::InstructionLength { exit_reason, len }),
    };
    let vmcall = |error| VeError::Tdvmcall { exit_reason, error };
    let mut out = *regs;
    match exit_reason {
        EXIT_REASON_CPUID => {
            let r = b
                .cpuid(regs.gpr[0] as u32, regs.gpr[1] as u32)
                .map_err(vmcall)?;
            // CPUID writes EAX..EDX; 32-bit results zero-extend in 64-bit mode.
            out.gpr[0] = u64::from(r.eax);
            out.gpr[3] = u64::from(r.ebx);
            out.gpr[1] = u64::from(r.ecx);
            out.gpr[2] = u64::from(r.edx);
        }
        EXIT_REASON_HLT => b.halt(regs.rflags & RFLAGS_IF == 0).map_err(vmcall)?,
        EXIT_REASON_IO => emulate_io(b, &mut out, info.exit_qualification)?,
        EXIT_REASON_RDMSR => {
            let v = b.rdmsr(regs.gpr[1] as u32).map_err(vmcall)?;
            out.gpr[0] = v & 0xFFFF_FFFF;
            out.gpr[2] = v >> 32;
        }
        EXIT_REASON_WRMSR => {
            let v = ((regs.gpr[2] & 0xFFFF_FFFF) << 32) | (regs.gpr[0] & 0xFFFF_FFFF);
            b.wrmsr(regs.gpr[1] as u32, v).map_err(vmcall)?;
        }
        // VMCALL, MWAIT, MONITOR, WBINVD, RDPMC: nothing a firmware needs; skip.
        _ => {}
    }
    out.rip = out.rip.wrapping_add(len);
    *regs = out;
    Ok(())
}

/// IN/OUT with AL/AX/EAX; refuses the string and REP forms.
fn emulate_io<B: VeBackend>(b: &mut B, regs: &mut Gprs, qualification: u64) -> Result<(), VeError> {
    let port = (qualification >> IO_PORT_SHIFT) as u16;
    if qualification & (IO_STRING | IO_REP) != 0 {
        return Err(VeError::IoString {
            port,
            qualification,
        });
    }
    let size: u8 = match qualification & IO_SIZE_MASK {
        0 => 1,
        1 => 2,
        3 => 4,
        _ => {
            return Err(VeError::IoSize {
                port,
                qualification,
            })
        }
    };
    let vmcall = |error| VeError::Tdvmcall {
        exit_reason: EXIT_REASON_IO,
        error,
    };
    if qualification & IO_DIRECTION_IN != 0 {
        let v = b.io_read(port, size).map_err(vmcall)?;
        regs.write_reg(Reg::Gpr(0), size, u64::from(v));
    } else {
        let v = regs.read_reg(Reg::Gpr(0), size) as u32;
        b.io_write(port, size, v).map_err(vmcall)?;
    }
    Ok(())
}

/// An EPT violation on a shared GPA: decode the MOV at RIP and do it through the VMM.
fn emulate_mmio<B: VeBackend>(b: &mut B, regs: &mut Gprs, info: &VeInfo) -> Result<(), VeError> {
    let gpa = info.gpa;
    let shared = b.shared_bit();
    if shared == 0 || gpa & shared == 0 {
        return Err(VeError::PrivateGpa { gpa });
    }
    let rip = regs.rip;
    let d = fetch_and_decode(b, rip).map_err(|error| VeError::Decode { rip, error })?;
    let vmcall = |error| VeError::Tdvmcall {
        exit_reason: EXIT_REASON_EPT_VIOLATION,
        error,
    };
    let mut out = *regs;
    match d.kind {
        Kind::Read {
            dest,
            dest_size,
            extend,
        } => {
            let raw = b.mmio_read(gpa, d.size).map_err(vmcall)? & mask(d.size);
            let v = match extend {
                Extend::None | Extend::Zero => raw,
                Extend::Sign => sign_extend(raw, d.size),
            };
            out.write_reg(dest, dest_size, v);
        }
        Kind::Write { src } => {
            let v = match src {
                Src::Reg(r) => regs.read_reg(r, d.size),
                Src::Imm(imm) => imm & mask(d.size),
            };
            b.mmio_write(gpa, d.size, v).map_err(vmcall)?;
        }
    }
    out.rip = rip.wrapping_add(u64::from(d.len));
    *regs = out;
    Ok(())
}

/// Fetches the instruction at `rip` without reading past its page unless it continues on
/// the next one, then decodes it.
fn fetch_and_decode<B: VeBackend>(b: &mut B, rip: u64) -> Result<insn::Decoded, insn::Error> {
    let mut buf = [0u8; insn::MAX_INSN_LEN];
    let to_page_end = PAGE_SIZE - (rip % PAGE_SIZE);
    let first = usize::try_from(to_page_end).map_or(buf.len(), |n| n.min(buf.len()));
    b.fetch(rip, &mut buf[..first]);
    match insn::decode(&buf[..first]) {
        Err(insn::Error::Truncated) if first < buf.len() => {
            // The instruction crosses into the next page, which the CPU fetched it from.
            b.fetch(rip, &mut buf);
            insn::decode(&buf)
        }
        r => r,
    }
}

/// The real backend: TDCALLs and reads of the interrupted code.
struct TdxVe;

/// The shared bit, from TDG.VP.INFO's GPAW (queried once).
static SHARED_BIT: spin::Once<u64> = spin::Once::new();

impl VeBackend for TdxVe {
    fn ve_info(&mut self) -> Result<VeInfo, tdcall::Error> {
        // SAFETY: a `TdxVe` exists only inside `handle`, whose caller guarantees a TD.
        unsafe { tdcall::ve_info() }
    }

    fn shared_bit(&mut self) -> u64 {
        *SHARED_BIT.call_once(|| {
            // SAFETY: inside a TD (see `ve_info`); TDG.VP.INFO writes only registers.
            match unsafe { tdcall::vp_info() } {
                Ok(info) if info.gpaw == 48 || info.gpaw == 52 => 1 << (info.gpaw - 1),
                _ => 0,
            }
        })
    }

    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<CpuidResult, tdcall::Error> {
        // SAFETY: inside a TD; CPUID shares no memory.
        unsafe { tdcall::cpuid(leaf, subleaf) }
    }

    fn halt(&mut self, interrupts_blocked: bool) -> Result<(), tdcall::Error> {
        // SAFETY: inside a TD; HLT shares no memory.
        unsafe { tdcall::halt(interrupts_blocked) }
    }

    fn io_read(&mut self, port: u16, size: u8) -> Result<u32, tdcall::Error> {
        // SAFETY: inside a TD; the interrupted code executed this very IN, so it meant to
        // read this port.
        unsafe { tdcall::io_read(port, size) }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) -> Result<(), tdcall::Error> {
        // SAFETY: inside a TD; the interrupted code executed this very OUT.
        unsafe { tdcall::io_write(port, size, value) }
    }

    fn rdmsr(&mut self, index: u32) -> Result<u64, tdcall::Error> {
        // SAFETY: inside a TD; the interrupted code executed this very RDMSR.
        unsafe { tdcall::rdmsr(index) }
    }

    fn wrmsr(&mut self, index: u32, value: u64) -> Result<(), tdcall::Error> {
        // SAFETY: inside a TD; the interrupted code executed this very WRMSR.
        unsafe { tdcall::wrmsr(index, value) }
    }

    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, tdcall::Error> {
        // SAFETY: inside a TD; `gpa` is the shared GPA the interrupted code was reading
        // (from VEINFO), so the access is the one it asked for.
        unsafe { tdcall::mmio_read(gpa, size) }
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), tdcall::Error> {
        // SAFETY: as `mmio_read`, for the write the interrupted code was doing.
        unsafe { tdcall::mmio_write(gpa, size, value) }
    }

    fn fetch(&mut self, rip: u64, buf: &mut [u8]) {
        for (i, byte) in buf.iter_mut().enumerate() {
            let addr = rip.wrapping_add(i as u64) as *const u8;
            // SAFETY: `handle`'s caller guarantees RIP points at the interrupted
            // instruction in identity-mapped memory; `fetch_and_decode` stays within RIP's
            // page unless the instruction itself continues on the next one.
            *byte = unsafe { core::ptr::read_volatile(addr) };
        }
    }
}

/// Handles the #VE whose saved state is `frame`. On success the frame holds the state after
/// the instruction (RIP advanced) and the caller returns to it; on error the frame is
/// unchanged and the caller should report the error and halt.
///
/// # Safety
/// Must run inside a TD, in the vector-20 handler, with `frame` the state the CPU saved for
/// this #VE: its RIP is the address of the interrupted instruction in identity-mapped,
/// readable memory.
pub unsafe fn handle(frame: &mut ExceptionFrame) -> Result<(), VeError> {
    let mut regs = Gprs::from_frame(frame);
    handle_with(&mut TdxVe, &mut regs)?;
    regs.store(frame);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const SHARED: u64 = 1 << 47;
    const VMM_FAIL: tdcall::Error = tdcall::Error::Vmcall {
        subfunction: 0,
        status: 0x8000_0000_0000_0000,
    };

    /// One TDVMCALL the handler made.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Call {
        Cpuid(u32, u32),
        Halt(bool),
        IoRead(u16, u8),
        IoWrite(u16, u8, u32),
        Rdmsr(u32),
        Wrmsr(u32, u64),
        MmioRead(u64, u8),
        MmioWrite(u64, u8, u64),
    }

    /// Fake TD: a scripted VEINFO, fixed TDVMCALL answers, code bytes at `code_base`.
    struct Fake {
        info: Result<VeInfo, tdcall::Error>,
        fail: bool,
        answer: u64,
        code_base: u64,
        code: Vec<u8>,
        calls: Vec<Call>,
        fetches: Vec<(u64, usize)>,
    }

    impl Fake {
        fn new(exit_reason: u32, qualification: u64, len: u32) -> Self {
            Fake {
                info: Ok(VeInfo {
                    exit_reason,
                    exit_qualification: qualification,
                    instruction_length: len,
                    ..VeInfo::default()
                }),
                fail: false,
                answer: 0,
                code_base: 0,
                code: Vec::new(),
                calls: Vec::new(),
                fetches: Vec::new(),
            }
        }

        fn mmio(gpa: u64, rip: u64, code: &[u8], answer: u64) -> Self {
            let mut f = Fake::new(EXIT_REASON_EPT_VIOLATION, 0x181, 0);
            f.info = Ok(VeInfo {
                exit_reason: EXIT_REASON_EPT_VIOLATION,
                gpa,
                ..VeInfo::default()
            });
            f.code_base = rip;
            f.code = code.to_vec();
            f.answer = answer;
            f
        }

        fn result<T>(&mut self, call: Call, v: T) -> Result<T, tdcall::Error> {
            self.calls.push(call);
            if self.fail {
                Err(VMM_FAIL)
            } else {
                Ok(v)
            }
        }
    }

    impl VeBackend for Fake {
        fn ve_info(&mut self) -> Result<VeInfo, tdcall::Error> {
            self.info
        }
        fn shared_bit(&mut self) -> u64 {
            SHARED
        }
        fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<CpuidResult, tdcall::Error> {
            let r = CpuidResult {
                eax: 0xA0A0_A0A0,
                ebx: 0xB0B0_B0B0,
                ecx: 0xC0C0_C0C0,
                edx: 0xD0D0_D0D0,
            };
            self.result(Call::Cpuid(leaf, subleaf), r)
        }
        fn halt(&mut self, blocked: bool) -> Result<(), tdcall::Error> {
            self.result(Call::Halt(blocked), ())
        }
        fn io_read(&mut self, port: u16, size: u8) -> Result<u32, tdcall::Error> {
            let v = self.answer as u32;
            self.result(Call::IoRead(port, size), v)
        }
        fn io_write(&mut self, port: u16, size: u8, value: u32) -> Result<(), tdcall::Error> {
            self.result(Call::IoWrite(port, size, value), ())
        }
        fn rdmsr(&mut self, index: u32) -> Result<u64, tdcall::Error> {
            let v = self.answer;
            self.result(Call::Rdmsr(index), v)
        }
        fn wrmsr(&mut self, index: u32, value: u64) -> Result<(), tdcall::Error> {
            self.result(Call::Wrmsr(index, value), ())
        }
        fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, tdcall::Error> {
            let v = self.answer;
            self.result(Call::MmioRead(gpa, size), v)
        }
        fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), tdcall::Error> {
            self.result(Call::MmioWrite(gpa, size, value), ())
        }
        fn fetch(&mut self, rip: u64, buf: &mut [u8]) {
            self.fetches.push((rip, buf.len()));
            for (i, b) in buf.iter_mut().enumerate() {
                let off = (rip + i as u64 - self.code_base) as usize;
                // Past the end of the scripted code reads as NOP.
                *b = self.code.get(off).copied().unwrap_or(0x90);
            }
        }
    }

    /// Distinct, recognisable register values; IF set.
    fn regs() -> Gprs {
        let mut g = Gprs {
            rip: 0x10_0000,
            rflags: 0x202,
            ..Gprs::default()
        };
        for (i, r) in g.gpr.iter_mut().enumerate() {
            *r = (0x0101_0101_0101_0101 * (i as u64 + 1)) ^ 0x0123_4567_89AB_CDEF;
        }
        g
    }

    fn run(f: &mut Fake, g: &mut Gprs) -> Result<(), VeError> {
        handle_with(f, g)
    }

    #[test]
    fn cpuid_writes_the_four_registers_zero_extended() {
        let mut f = Fake::new(EXIT_REASON_CPUID, 0, 2);
        let mut g = regs();
        g.gpr[0] = 0xFFFF_FFFF_0000_0007; // EAX = leaf 7
        g.gpr[1] = 0xEEEE_EEEE_0000_0001; // ECX = sub-leaf 1
        let before = g;
        run(&mut f, &mut g).unwrap();
        assert_eq!(f.calls, [Call::Cpuid(7, 1)]);
        let mut want = before;
        want.gpr[0] = 0xA0A0_A0A0;
        want.gpr[3] = 0xB0B0_B0B0;
        want.gpr[1] = 0xC0C0_C0C0;
        want.gpr[2] = 0xD0D0_D0D0;
        want.rip = before.rip + 2;
        assert_eq!(g, want);
    }

    #[test]
    fn hlt_passes_the_interrupt_flag() {
        let mut f = Fake::new(EXIT_REASON_HLT, 0, 1);
        let mut g = regs();
        run(&mut f, &mut g).unwrap();
        g.rflags = 0x2; // IF clear
        run(&mut f, &mut g).unwrap();
        assert_eq!(f.calls, [Call::Halt(false), Call::Halt(true)]);
        assert_eq!(g.rip, regs().rip + 2);
    }

    #[test]
    fn io_in_merges_al_ax_and_zero_extends_eax() {
        // (qualification size bits, bytes, expected RAX from 0x1122_3344_5566_7788)
        let cases = [
            (0u64, 1u8, 0x1122_3344_5566_77ABu64),
            (1, 2, 0x1122_3344_5566_90AB),
            (3, 4, 0x0000_0000_DEAD_90AB),
        ];
        for (bits, size, want) in cases {
            let q = (0x3F8 << 16) | IO_DIRECTION_IN | bits;
            let mut f = Fake::new(EXIT_REASON_IO, q, 1);
            // Only the low `size` bytes come back from io_read.
            f.answer = 0xDEAD_90AB & tdcall::size_mask(size).unwrap();
            let mut g = regs();
            g.gpr[0] = 0x1122_3344_5566_7788;
            let before = g;
            run(&mut f, &mut g).unwrap();
            assert_eq!(f.calls, [Call::IoRead(0x3F8, size)]);
            let mut expect = before;
            expect.gpr[0] = want;
            expect.rip += 1;
            assert_eq!(g, expect, "size {size}");
        }
    }

    #[test]
    fn io_out_sends_the_low_bytes_of_rax() {
        for (bits, size, want) in [(0u64, 1u8, 0x78u32), (1, 2, 0x5678), (3, 4, 0x1234_5678)] {
            let q = (0x70 << 16) | bits;
            let mut f = Fake::new(EXIT_REASON_IO, q, 2);
            let mut g = regs();
            g.gpr[0] = 0xFFFF_FFFF_1234_5678;
            let before = g;
            run(&mut f, &mut g).unwrap();
            assert_eq!(f.calls, [Call::IoWrite(0x70, size, want)]);
            let mut expect = before;
            expect.rip += 2;
            assert_eq!(g, expect);
        }
    }

    #[test]
    fn io_string_rep_and_bad_sizes_are_refused() {
        let port = 0x1F0u64 << 16;
        for q in [
            port | IO_STRING,
            port | IO_STRING | IO_REP | IO_DIRECTION_IN,
            port | IO_REP,
        ] {
            let mut f = Fake::new(EXIT_REASON_IO, q, 2);
            let mut g = regs();
            assert_eq!(
                run(&mut f, &mut g),
                Err(VeError::IoString {
                    port: 0x1F0,
                    qualification: q
                })
            );
            assert!(f.calls.is_empty());
            assert_eq!(g, regs());
        }
        for bits in [2u64, 4, 5, 6, 7] {
            let q = port | bits;
            let mut f = Fake::new(EXIT_REASON_IO, q, 2);
            let mut g = regs();
            assert_eq!(
                run(&mut f, &mut g),
                Err(VeError::IoSize {
                    port: 0x1F0,
                    qualification: q
                })
            );
            assert!(f.calls.is_empty());
        }
    }

    #[test]
    fn rdmsr_splits_into_edx_eax() {
        let mut f = Fake::new(EXIT_REASON_RDMSR, 0, 2);
        f.answer = 0x1122_3344_5566_7788;
        let mut g = regs();
        g.gpr[1] = 0xFFFF_FFFF_0000_001B;
        let before = g;
        run(&mut f, &mut g).unwrap();
        assert_eq!(f.calls, [Call::Rdmsr(0x1B)]);
        let mut want = before;
        want.gpr[0] = 0x5566_7788;
        want.gpr[2] = 0x1122_3344;
        want.rip += 2;
        assert_eq!(g, want);
    }

    #[test]
    fn wrmsr_joins_edx_eax() {
        let mut f = Fake::new(EXIT_REASON_WRMSR, 0, 2);
        let mut g = regs();
        g.gpr[1] = 0xAAAA_AAAA_0000_0277;
        g.gpr[2] = 0xFFFF_FFFF_0007_0406;
        g.gpr[0] = 0xEEEE_EEEE_0001_0203;
        let before = g;
        run(&mut f, &mut g).unwrap();
        assert_eq!(f.calls, [Call::Wrmsr(0x277, 0x0007_0406_0001_0203)]);
        let mut want = before;
        want.rip += 2;
        assert_eq!(g, want);
    }

    #[test]
    fn skipped_instructions_only_advance_rip() {
        for (reason, len) in [
            (EXIT_REASON_VMCALL, 3),
            (EXIT_REASON_MWAIT, 3),
            (EXIT_REASON_MONITOR, 3),
            (EXIT_REASON_WBINVD, 2),
            (EXIT_REASON_RDPMC, 2),
        ] {
            let mut f = Fake::new(reason, 0, len);
            let mut g = regs();
            run(&mut f, &mut g).unwrap();
            assert!(f.calls.is_empty());
            let mut want = regs();
            want.rip += u64::from(len);
            assert_eq!(g, want, "exit reason {reason}");
        }
    }

    #[test]
    fn other_exit_reasons_are_unhandled() {
        for reason in [0u32, 1, 28, 44, 49, 55, 0x8000_0030] {
            let mut f = Fake::new(reason, 0, 3);
            let mut g = regs();
            assert_eq!(
                run(&mut f, &mut g),
                Err(VeError::Unhandled {
                    exit_reason: reason
                })
            );
            assert!(f.calls.is_empty());
            assert_eq!(g, regs());
        }
    }

    #[test]
    fn bad_instruction_lengths_are_refused() {
        for len in [0u32, 16, u32::MAX] {
            let mut f = Fake::new(EXIT_REASON_CPUID, 0, len);
            let mut g = regs();
            assert_eq!(
                run(&mut f, &mut g),
                Err(VeError::InstructionLength {
                    exit_reason: EXIT_REASON_CPUID,
                    len
                })
            );
            assert!(f.calls.is_empty());
        }
    }

    #[test]
    fn failures_leave_the_registers_alone() {
        let mut f = Fake::new(EXIT_REASON_RDMSR, 0, 2);
        f.fail = true;
        let mut g = regs();
        assert_eq!(
            run(&mut f, &mut g),
            Err(VeError::Tdvmcall {
                exit_reason: EXIT_REASON_RDMSR,
                error: VMM_FAIL
            })
        );
        assert_eq!(g, regs());

        let err = tdcall::Error::Tdcall {
            leaf: 3,
            status: 0xC000_0100_0000_0000,
        };
        let mut f = Fake::new(EXIT_REASON_CPUID, 0, 2);
        f.info = Err(err);
        assert_eq!(run(&mut f, &mut g), Err(VeError::VeInfo(err)));
        assert_eq!(g, regs());

        let mut f = Fake::mmio(SHARED | 0xFEC0_0000, regs().rip, &[0x8B, 0x07], 5);
        f.fail = true;
        assert_eq!(
            run(&mut f, &mut g),
            Err(VeError::Tdvmcall {
                exit_reason: EXIT_REASON_EPT_VIOLATION,
                error: VMM_FAIL
            })
        );
        assert_eq!(g, regs());
    }

    /// Runs one MMIO #VE at a shared GPA with `code` at RIP; returns (calls, regs before,
    /// regs after).
    fn mmio(code: &[u8], answer: u64, setup: impl Fn(&mut Gprs)) -> (Vec<Call>, Gprs, Gprs) {
        let mut g = regs();
        setup(&mut g);
        let before = g;
        let mut f = Fake::mmio(SHARED | 0xFEC0_0020, g.rip, code, answer);
        run(&mut f, &mut g).unwrap();
        (f.calls, before, g)
    }

    const GPA: u64 = SHARED | 0xFEC0_0020;

    #[test]
    fn mmio_reads_update_the_destination_like_mov() {
        // (asm, bytes, size, MMIO answer, dest gpr, dest before, dest after)
        type Case<'a> = (&'a str, &'a [u8], u8, u64, usize, u64, u64);
        let cases: &[Case] = &[
            (
                "mov eax, [rdi]",
                &[0x8B, 0x07],
                4,
                0x1234_5678,
                0,
                u64::MAX,
                0x1234_5678,
            ),
            (
                "mov ax, [rdi]",
                &[0x66, 0x8B, 0x07],
                2,
                0xBEEF,
                0,
                u64::MAX,
                0xFFFF_FFFF_FFFF_BEEF,
            ),
            ("mov al, [rdi]", &[0x8A, 0x07], 1, 0x5A, 0, 0, 0x5A),
            (
                "mov ah, [rdi]",
                &[0x8A, 0x27],
                1,
                0xAB,
                0,
                0x1111_1111_1111_1111,
                0x1111_1111_1111_AB11,
            ),
            (
                "mov rax, [rdi]",
                &[0x48, 0x8B, 0x07],
                8,
                0x0102_0304_0506_0708,
                0,
                0,
                0x0102_0304_0506_0708,
            ),
            (
                "mov r14d, [rdi+4]",
                &[0x44, 0x8B, 0x77, 0x04],
                4,
                0x8000_0000,
                14,
                u64::MAX,
                0x8000_0000,
            ),
            (
                "mov sil, [rdi]",
                &[0x40, 0x8A, 0x37],
                1,
                0x01,
                6,
                0xFFFF,
                0xFF01,
            ),
            (
                "movzx eax, byte [rsi]",
                &[0x0F, 0xB6, 0x06],
                1,
                0x80,
                0,
                u64::MAX,
                0x80,
            ),
            (
                "movzx rax, byte [rsi]",
                &[0x48, 0x0F, 0xB6, 0x06],
                1,
                0xFF,
                0,
                u64::MAX,
                0xFF,
            ),
            (
                "movzx ax, byte [rsi]",
                &[0x66, 0x0F, 0xB6, 0x06],
                1,
                0x80,
                0,
                u64::MAX,
                0xFFFF_FFFF_FFFF_0080,
            ),
            (
                "movzx r9d, word [rsi]",
                &[0x44, 0x0F, 0xB7, 0x0E],
                2,
                0x8001,
                9,
                u64::MAX,
                0x8001,
            ),
            (
                "movsx eax, byte [rsi]",
                &[0x0F, 0xBE, 0x06],
                1,
                0xFF,
                0,
                0x1234_5678_0000_0000,
                0xFFFF_FFFF,
            ),
            (
                "movsx rdx, word [rsi+0x10]",
                &[0x48, 0x0F, 0xBF, 0x56, 0x10],
                2,
                0x8001,
                2,
                0,
                0xFFFF_FFFF_FFFF_8001,
            ),
            (
                "movsx rdx, word [rsi+0x10] (positive)",
                &[0x48, 0x0F, 0xBF, 0x56, 0x10],
                2,
                0x7001,
                2,
                u64::MAX,
                0x7001,
            ),
            (
                "movsx r12w, byte [r12]",
                &[0x66, 0x45, 0x0F, 0xBE, 0x24, 0x24],
                1,
                0x80,
                12,
                0x1111_1111_1111_1111,
                0x1111_1111_1111_FF80,
            ),
        ];
        for &(asm, code, size, answer, dest, old, new) in cases {
            let (calls, before, after) = mmio(code, answer, |g| g.gpr[dest] = old);
            assert_eq!(calls, [Call::MmioRead(GPA, size)], "{asm}");
            let mut want = before;
            want.gpr[dest] = new;
            want.rip += code.len() as u64;
            assert_eq!(after, want, "{asm}");
        }
    }

    #[test]
    fn mmio_read_ignores_vmm_bits_above_the_access_size() {
        // The VMM answers with garbage above the byte it was asked for.
        let (_, _, after) = mmio(&[0x0F, 0xB6, 0x06], 0xFFFF_FFFF_FFFF_FF7F, |_| {});
        assert_eq!(after.gpr[0], 0x7F);
        let (_, _, after) = mmio(&[0x0F, 0xBE, 0x06], 0xFFFF_FF00_0000_007F, |_| {});
        assert_eq!(after.gpr[0], 0x7F, "sign of bit 7 only");
    }

    #[test]
    fn mmio_writes_send_the_source() {
        // (asm, bytes, size, value sent)
        let cases: &[(&str, &[u8], u8, u64)] = &[
            ("mov [rax], bh", &[0x88, 0x38], 1, 0xCD),
            ("mov [rax], cl", &[0x88, 0x08], 1, 0xEF),
            ("mov [rbx], ax", &[0x66, 0x89, 0x03], 2, 0x5678),
            ("mov [rbx], eax", &[0x89, 0x03], 4, 0x1234_5678),
            (
                "mov [rbx], r9",
                &[0x4C, 0x89, 0x0B],
                8,
                0x9999_8888_7777_6666,
            ),
            ("mov [rax], r12w", &[0x66, 0x44, 0x89, 0x20], 2, 0xC0DE),
            ("mov byte [rax], 0x5a", &[0xC6, 0x00, 0x5A], 1, 0x5A),
            (
                "mov word [rax], 0x1234",
                &[0x66, 0xC7, 0x00, 0x34, 0x12],
                2,
                0x1234,
            ),
            (
                "mov dword [rax], 0x89abcdef",
                &[0xC7, 0x00, 0xEF, 0xCD, 0xAB, 0x89],
                4,
                0x89AB_CDEF,
            ),
            (
                "mov qword [rax], -2",
                &[0x48, 0xC7, 0x00, 0xFE, 0xFF, 0xFF, 0xFF],
                8,
                0xFFFF_FFFF_FFFF_FFFE,
            ),
        ];
        for &(asm, code, size, sent) in cases {
            let (calls, before, after) = mmio(code, 0, |g| {
                g.gpr[0] = 0xFFFF_FFFF_1234_5678;
                g.gpr[1] = 0x0000_0000_0000_ABEF;
                g.gpr[3] = 0x0000_0000_0000_CDEF;
                g.gpr[9] = 0x9999_8888_7777_6666;
                g.gpr[12] = 0x0000_0000_0000_C0DE;
            });
            assert_eq!(calls, [Call::MmioWrite(GPA, size, sent)], "{asm}");
            let mut want = before;
            want.rip += code.len() as u64;
            assert_eq!(after, want, "{asm}: only RIP changes");
        }
    }

    #[test]
    fn mmio_uses_the_decoded_length_not_veinfo() {
        let mut g = regs();
        let mut f = Fake::mmio(GPA, g.rip, &[0x89, 0x93, 0x00, 0x10, 0x00, 0x00], 0);
        if let Ok(info) = f.info.as_mut() {
            info.instruction_length = 2; // not meaningful for EPT violations
        }
        run(&mut f, &mut g).unwrap();
        assert_eq!(g.rip, regs().rip + 6);
    }

    #[test]
    fn mmio_on_private_gpa_or_undecodable_code_is_refused() {
        let mut g = regs();
        let mut f = Fake::mmio(0xFEC0_0000, g.rip, &[0x8B, 0x07], 0);
        assert_eq!(
            run(&mut f, &mut g),
            Err(VeError::PrivateGpa { gpa: 0xFEC0_0000 })
        );
        assert!(f.calls.is_empty() && f.fetches.is_empty());

        let rip = g.rip;
        let mut f = Fake::mmio(GPA, rip, &[0xF3, 0xA4], 0);
        assert_eq!(
            run(&mut f, &mut g),
            Err(VeError::Decode {
                rip,
                error: insn::Error::UnsupportedPrefix { prefix: 0xF3 }
            })
        );
        assert!(f.calls.is_empty());
        assert_eq!(g, regs());
    }

    #[test]
    fn fetch_stays_on_the_page_unless_the_instruction_crosses() {
        // 2-byte instruction 2 bytes before the page end: one fetch of those 2 bytes.
        let mut g = Gprs {
            rip: 0x1FFE,
            ..regs()
        };
        let mut f = Fake::mmio(GPA, 0x1FFE, &[0x8B, 0x07], 7);
        run(&mut f, &mut g).unwrap();
        assert_eq!(f.fetches, [(0x1FFE, 2)]);
        assert_eq!((g.gpr[0], g.rip), (7, 0x2000));

        // 6-byte instruction crossing the page: first 2 bytes, then the full window.
        let mut g = Gprs {
            rip: 0x1FFE,
            ..regs()
        };
        let code = [0x89, 0x93, 0x00, 0x10, 0x00, 0x00];
        let mut f = Fake::mmio(GPA, 0x1FFE, &code, 0);
        run(&mut f, &mut g).unwrap();
        assert_eq!(f.fetches, [(0x1FFE, 2), (0x1FFE, 15)]);
        assert_eq!(g.rip, 0x2004);

        // Far from the page end: one 15-byte fetch.
        let mut g = Gprs {
            rip: 0x1FF0,
            ..regs()
        };
        let mut f = Fake::mmio(GPA, 0x1FF0, &[0x8B, 0x07], 0);
        run(&mut f, &mut g).unwrap();
        assert_eq!(f.fetches, [(0x1FF0, 15)]);
    }

    #[test]
    fn frame_round_trip_maps_registers_by_encoding() {
        let frame = ExceptionFrame {
            r15: 15,
            r14: 14,
            r13: 13,
            r12: 12,
            r11: 11,
            r10: 10,
            r9: 9,
            r8: 8,
            rbp: 5,
            rdi: 7,
            rsi: 6,
            rdx: 2,
            rcx: 1,
            rbx: 3,
            rax: 100,
            vector: 20,
            error_code: 0,
            rip: 0x1000,
            cs: 0x38,
            rflags: 0x202,
            rsp: 4,
            ss: 0x30,
        };
        let g = Gprs::from_frame(&frame);
        assert_eq!(
            g.gpr,
            [100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        );
        assert_eq!((g.rip, g.rflags), (0x1000, 0x202));
        let mut changed = g;
        for (i, r) in changed.gpr.iter_mut().enumerate() {
            *r = 0x100 + i as u64;
        }
        changed.rip = 0x1003;
        let mut out = frame;
        changed.store(&mut out);
        assert_eq!(
            [
                out.rax, out.rcx, out.rdx, out.rbx, out.rsp, out.rbp, out.rsi, out.rdi, out.r8,
                out.r9, out.r10, out.r11, out.r12, out.r13, out.r14, out.r15
            ],
            [
                0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10B,
                0x10C, 0x10D, 0x10E, 0x10F
            ]
        );
        assert_eq!(out.rip, 0x1003);
        // Not touched: the CPU-pushed selectors, flags, vector and error code.
        assert_eq!(
            (out.cs, out.ss, out.rflags, out.vector, out.error_code),
            (0x38, 0x30, 0x202, 20, 0)
        );
    }

    #[test]
    fn register_write_rules() {
        let mut g = Gprs::default();
        g.gpr[2] = 0xAAAA_AAAA_AAAA_AAAA;
        g.write_reg(Reg::Gpr(2), 1, 0x1FF);
        assert_eq!(g.gpr[2], 0xAAAA_AAAA_AAAA_AAFF);
        g.write_reg(Reg::Gpr(2), 2, 0x1_2345);
        assert_eq!(g.gpr[2], 0xAAAA_AAAA_AAAA_2345);
        g.write_reg(Reg::HighByte(2), 1, 0x77);
        assert_eq!(g.gpr[2], 0xAAAA_AAAA_AAAA_7745);
        g.write_reg(Reg::Gpr(2), 4, 0xFFFF_FFFF_0000_0001);
        assert_eq!(g.gpr[2], 1);
        g.write_reg(Reg::Gpr(2), 8, 0xFFFF_FFFF_0000_0001);
        assert_eq!(g.gpr[2], 0xFFFF_FFFF_0000_0001);
        assert_eq!(g.read_reg(Reg::HighByte(2), 1), 0x00);
        assert_eq!(g.read_reg(Reg::Gpr(2), 2), 0x0001);
        // Out-of-range register numbers cannot come from the decoder; they are ignored.
        g.write_reg(Reg::Gpr(16), 8, 5);
        assert_eq!(g.read_reg(Reg::Gpr(16), 8), 0);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            VeError::Unhandled { exit_reason: 28 }.to_string(),
            "#ve exit reason 28 is not handled"
        );
        assert_eq!(
            VeError::PrivateGpa { gpa: 0x1000 }.to_string(),
            "#ve: ept violation on private gpa 0x1000"
        );
    }
}
