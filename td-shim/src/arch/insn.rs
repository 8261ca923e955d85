// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Decoder for the x86-64 MOV forms that memory-mapped I/O accesses compile to, for the #VE
//! handler's MMIO emulation (`../shared/spec/tdcall.md` §6; encodings from the Intel SDM
//! vol. 2, §2.1–2.2 and the MOV/MOVZX/MOVSX pages). Pure: it sees only the instruction bytes
//! and reports operand size, direction, register, immediate and length; the caller does the
//! access and the register update.
//!
//! Supported (64-bit mode only): `88`/`89` (`mov r/m, r`), `8A`/`8B` (`mov r, r/m`), `C6 /0`
//! and `C7 /0` (`mov r/m, imm`), `0F B6`/`0F B7` (`movzx`), `0F BE`/`0F BF` (`movsx`), each
//! with a memory operand (any ModRM/SIB/displacement form), prefixes `66`, `67`, segment
//! overrides and REX. Everything else — string moves, `LOCK`/`REP` prefixes, register-only
//! forms — is refused with an [`Error`] rather than guessed at.
//!
//! The bytes are read from the interrupted RIP, so they are our own code, but the decoder
//! treats them as arbitrary input all the same (it is fuzzed): no panics, length ≤ 15.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use core::fmt;

/// Architectural maximum length of one instruction (SDM vol. 2 §2.3.11).
pub const MAX_INSN_LEN: usize = 15;

/// A general-purpose register operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// GPR by its encoding number: 0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI,
    /// 8–15 R8–R15. The operand is the low `size` bytes (for 8-bit operands with a REX
    /// prefix, 4–7 are SPL, BPL, SIL, DIL).
    Gpr(u8),
    /// Bits 15:8 of GPR 0–3: AH, CH, DH, BH (8-bit operands without a REX prefix).
    HighByte(u8),
}

/// How a value read from memory is widened into the destination register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extend {
    /// Plain MOV: the destination has the access size.
    None,
    /// MOVZX.
    Zero,
    /// MOVSX.
    Sign,
}

/// The data written to memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// The low `size` bytes of a register.
    Reg(Reg),
    /// An immediate, already widened to the access size (a 32-bit immediate of a 64-bit
    /// store is sign-extended); bits above the access size are zero.
    Imm(u64),
}

/// Direction of the memory access and the register side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Memory is read into `dest`, whose width is `dest_size` bytes (1, 2, 4 or 8).
    Read {
        dest: Reg,
        dest_size: u8,
        extend: Extend,
    },
    /// Memory is written from `src`.
    Write { src: Src },
}

/// A decoded MMIO instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Memory access size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Read or write, and the register/immediate side.
    pub kind: Kind,
    /// Instruction length in bytes (1..=15): how far to advance RIP.
    pub len: u8,
}

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input ended before the instruction did.
    Truncated,
    /// The instruction would be longer than 15 bytes (the CPU raises #GP for it).
    TooLong,
    /// A prefix we refuse to emulate: LOCK (`F0`) or REP/REPNE (`F3`/`F2`).
    UnsupportedPrefix { prefix: u8 },
    /// An opcode outside the supported MOV forms (`0Fxx` for two-byte opcodes).
    Unsupported { opcode: u16 },
    /// A supported opcode with a ModRM byte we do not emulate: a register operand
    /// (mod = 3, no memory access) or a non-zero `/digit` of `C6`/`C7`.
    UnsupportedModrm { opcode: u16, modrm: u8 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("instruction bytes end before the instruction"),
            Error::TooLong => f.write_str("instruction longer than 15 bytes"),
            Error::UnsupportedPrefix { prefix } => {
                write!(f, "unsupported instruction prefix {prefix:#04x}")
            }
            Error::Unsupported { opcode } => write!(f, "unsupported opcode {opcode:#x}"),
            Error::UnsupportedModrm { opcode, modrm } => {
                write!(f, "unsupported modrm {modrm:#04x} for opcode {opcode:#x}")
            }
        }
    }
}

/// Reads bytes from the instruction start, never past [`MAX_INSN_LEN`].
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::TooLong)?;
        if end > MAX_INSN_LEN {
            return Err(Error::TooLong);
        }
        let s = self.bytes.get(self.pos..end).ok_or(Error::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        self.take(1)?.first().copied().ok_or(Error::Truncated)
    }

    /// Little-endian unsigned value of the next `n` (≤ 8) bytes.
    fn le(&mut self, n: usize) -> Result<u64, Error> {
        let s = self.take(n)?;
        let mut buf = [0u8; 8];
        buf.get_mut(..s.len())
            .ok_or(Error::TooLong)?
            .copy_from_slice(s);
        Ok(u64::from_le_bytes(buf))
    }
}

/// REX prefix bits (SDM vol. 2 §2.2.1).
const REX_W: u8 = 0b1000;
const REX_R: u8 = 0b0100;

/// What an opcode does, before the ModRM byte is looked at.
enum Form {
    /// `88`/`89`: store the ModRM.reg register.
    StoreReg,
    /// `8A`/`8B`/`0F B6..BF`: load into the ModRM.reg register.
    Load { extend: Extend },
    /// `C6`/`C7`: store an immediate.
    StoreImm,
}

/// Decodes the instruction at the start of `bytes` (at most [`MAX_INSN_LEN`] bytes are
/// looked at; anything after the instruction is ignored).
pub fn decode(bytes: &[u8]) -> Result<Decoded, Error> {
    let mut cur = Cursor { bytes, pos: 0 };

    // Legacy prefixes and REX. A REX prefix counts only when it immediately precedes the
    // opcode; one followed by a legacy prefix is ignored (SDM vol. 2 §2.2.1).
    let mut opsize_16 = false;
    let mut rex: Option<u8> = None;
    let first = loop {
        let b = cur.byte()?;
        match b {
            0x66 => {
                opsize_16 = true;
                rex = None;
            }
            // Address size and segment overrides change the address, which the caller
            // takes from the #VE information, not the operand encoding or length.
            0x67 | 0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 => rex = None,
            0xF0 | 0xF2 | 0xF3 => return Err(Error::UnsupportedPrefix { prefix: b }),
            0x40..=0x4F => rex = Some(b & 0x0F),
            _ => break b,
        }
    };
    let rex_bits = rex.unwrap_or(0);
    let full_size: u8 = if rex_bits & REX_W != 0 {
        8
    } else if opsize_16 {
        2
    } else {
        4
    };

    // (opcode for errors, form, memory access size, register width)
    let (opcode, form, size, reg_size) = match first {
        0x88 => (0x88, Form::StoreReg, 1, 1),
        0x89 => (0x89, Form::StoreReg, full_size, full_size),
        0x8A => (
            0x8A,
            Form::Load {
                extend: Extend::None,
            },
            1,
            1,
        ),
        0x8B => (
            0x8B,
            Form::Load {
                extend: Extend::None,
            },
            full_size,
            full_size,
        ),
        0xC6 => (0xC6, Form::StoreImm, 1, 1),
        0xC7 => (0xC7, Form::StoreImm, full_size, full_size),
        0x0F => {
            let second = cur.byte()?;
            let opcode = 0x0F00 | u16::from(second);
            let (extend, size) = match second {
                0xB6 => (Extend::Zero, 1),
                0xB7 => (Extend::Zero, 2),
                0xBE => (Extend::Sign, 1),
                0xBF => (Extend::Sign, 2),
                _ => return Err(Error::Unsupported { opcode }),
            };
            (opcode, Form::Load { extend }, size, full_size)
        }
        _ => {
            return Err(Error::Unsupported {
                opcode: u16::from(first),
            })
        }
    };

    // ModRM, then SIB and displacement (SDM vol. 2 §2.1.5, tables 2-2 and 2-3; in 64-bit
    // mode 32-bit addressing uses the same encodings, so the `67` prefix changes no length).
    let modrm = cur.byte()?;
    let md = modrm >> 6;
    let rm = modrm & 0b111;
    let reg_field = (modrm >> 3) & 0b111;
    if md == 0b11 {
        return Err(Error::UnsupportedModrm { opcode, modrm });
    }
    let mut disp_len = match md {
        0b01 => 1,
        0b10 => 4,
        // mod = 00, r/m = 101: RIP-relative disp32 (also with REX.B, i.e. R13).
        _ if rm == 0b101 => 4,
        _ => 0,
    };
    if rm == 0b100 {
        let sib = cur.byte()?;
        // SIB base = 101 with mod = 00: no base register, disp32.
        if md == 0b00 && sib & 0b111 == 0b101 {
            disp_len = 4;
        }
    }
    cur.take(disp_len)?;

    let reg_num = reg_field | if rex_bits & REX_R != 0 { 0b1000 } else { 0 };
    let reg = |width: u8| -> Reg {
        match reg_num {
            4..=7 if width == 1 && rex.is_none() => Reg::HighByte(reg_num & 0b11),
            n => Reg::Gpr(n),
        }
    };

    let kind = match form {
        Form::StoreReg => Kind::Write {
            src: Src::Reg(reg(reg_size)),
        },
        Form::Load { extend } => Kind::Read {
            dest: reg(reg_size),
            dest_size: reg_size,
            extend,
        },
        Form::StoreImm => {
            if reg_field != 0 {
                return Err(Error::UnsupportedModrm { opcode, modrm });
            }
            let imm = match size {
                1 => cur.le(1)?,
                2 => cur.le(2)?,
                4 => cur.le(4)?,
                // REX.W C7: imm32 sign-extended to 64 bits.
                _ => {
                    let raw = cur.le(4)?;
                    i64::from(raw as u32 as i32) as u64
                }
            };
            Kind::Write { src: Src::Imm(imm) }
        }
    };

    let len = u8::try_from(cur.pos).map_err(|_| Error::TooLong)?;
    Ok(Decoded { size, kind, len })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn w(size: u8, src: Src, len: u8) -> Decoded {
        Decoded {
            size,
            kind: Kind::Write { src },
            len,
        }
    }

    fn r(size: u8, dest: Reg, dest_size: u8, extend: Extend, len: u8) -> Decoded {
        Decoded {
            size,
            kind: Kind::Read {
                dest,
                dest_size,
                extend,
            },
            len,
        }
    }

    use super::Extend::{None as Plain, Sign, Zero};
    use super::Reg::{Gpr, HighByte};

    // Bytes from `nasm -f bin` (bits 64) of the assembly in each comment; expectations
    // written from the assembly text and the SDM operand tables.
    #[test]
    fn stores_from_registers() {
        let cases: &[(&str, &[u8], Decoded)] = &[
            ("mov [rax], cl", &[0x88, 0x08], w(1, Src::Reg(Gpr(1)), 2)),
            (
                "mov [rax], ah",
                &[0x88, 0x20],
                w(1, Src::Reg(HighByte(0)), 2),
            ),
            (
                "mov [rax], bh",
                &[0x88, 0x38],
                w(1, Src::Reg(HighByte(3)), 2),
            ),
            (
                "mov [rbx-0x80], dh",
                &[0x88, 0x73, 0x80],
                w(1, Src::Reg(HighByte(2)), 3),
            ),
            (
                "mov [rax], spl",
                &[0x40, 0x88, 0x20],
                w(1, Src::Reg(Gpr(4)), 3),
            ),
            (
                "mov [rax], dil",
                &[0x40, 0x88, 0x38],
                w(1, Src::Reg(Gpr(7)), 3),
            ),
            (
                "mov [rax], r8b",
                &[0x44, 0x88, 0x00],
                w(1, Src::Reg(Gpr(8)), 3),
            ),
            (
                "mov [r15], r15b",
                &[0x45, 0x88, 0x3F],
                w(1, Src::Reg(Gpr(15)), 3),
            ),
            ("mov [rbx], eax", &[0x89, 0x03], w(4, Src::Reg(Gpr(0)), 2)),
            (
                "mov [rbx], ax",
                &[0x66, 0x89, 0x03],
                w(2, Src::Reg(Gpr(0)), 3),
            ),
            (
                "mov [rbx], rax",
                &[0x48, 0x89, 0x03],
                w(8, Src::Reg(Gpr(0)), 3),
            ),
            (
                "mov [rbx], r9",
                &[0x4C, 0x89, 0x0B],
                w(8, Src::Reg(Gpr(9)), 3),
            ),
            (
                "mov [rax], r12w",
                &[0x66, 0x44, 0x89, 0x20],
                w(2, Src::Reg(Gpr(12)), 4),
            ),
        ];
        check(cases);
    }

    #[test]
    fn addressing_forms() {
        let eax = Src::Reg(Gpr(0));
        let cases: &[(&str, &[u8], Decoded)] = &[
            (
                "mov [rbx+8], edx",
                &[0x89, 0x53, 0x08],
                w(4, Src::Reg(Gpr(2)), 3),
            ),
            (
                "mov [rbx+0x1000], edx",
                &[0x89, 0x93, 0x00, 0x10, 0x00, 0x00],
                w(4, Src::Reg(Gpr(2)), 6),
            ),
            (
                "mov [rip+0x10], eax",
                &[0x89, 0x05, 0x10, 0, 0, 0],
                w(4, eax, 6),
            ),
            ("mov [rsp], eax", &[0x89, 0x04, 0x24], w(4, eax, 3)),
            ("mov [rsp+8], eax", &[0x89, 0x44, 0x24, 0x08], w(4, eax, 4)),
            ("mov [rax+rcx*4], eax", &[0x89, 0x04, 0x88], w(4, eax, 3)),
            (
                "mov [rcx*4+0x100], eax",
                &[0x89, 0x04, 0x8D, 0x00, 0x01, 0x00, 0x00],
                w(4, eax, 7),
            ),
            ("mov [rbp], eax", &[0x89, 0x45, 0x00], w(4, eax, 3)),
            ("mov [r13], eax", &[0x41, 0x89, 0x45, 0x00], w(4, eax, 4)),
            ("mov [r12], eax", &[0x41, 0x89, 0x04, 0x24], w(4, eax, 4)),
            ("mov [r8], eax", &[0x41, 0x89, 0x00], w(4, eax, 3)),
            (
                "mov [rax+r9*4], eax",
                &[0x42, 0x89, 0x04, 0x88],
                w(4, eax, 4),
            ),
            (
                "mov [r13+r14*8+0x12345678], r11",
                &[0x4F, 0x89, 0x9C, 0xF5, 0x78, 0x56, 0x34, 0x12],
                w(8, Src::Reg(Gpr(11)), 8),
            ),
            (
                "mov eax, [fs:0x10]",
                &[0x64, 0x8B, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00],
                r(4, Gpr(0), 4, Plain, 8),
            ),
            (
                "mov eax, [eax]",
                &[0x67, 0x8B, 0x00],
                r(4, Gpr(0), 4, Plain, 3),
            ),
        ];
        check(cases);
    }

    #[test]
    fn loads() {
        let cases: &[(&str, &[u8], Decoded)] = &[
            ("mov al, [rdi]", &[0x8A, 0x07], r(1, Gpr(0), 1, Plain, 2)),
            (
                "mov ch, [rdi]",
                &[0x8A, 0x2F],
                r(1, HighByte(1), 1, Plain, 2),
            ),
            (
                "mov sil, [rdi]",
                &[0x40, 0x8A, 0x37],
                r(1, Gpr(6), 1, Plain, 3),
            ),
            (
                "mov r10b, [rdi]",
                &[0x44, 0x8A, 0x17],
                r(1, Gpr(10), 1, Plain, 3),
            ),
            ("mov eax, [rdi]", &[0x8B, 0x07], r(4, Gpr(0), 4, Plain, 2)),
            (
                "mov ax, [rdi]",
                &[0x66, 0x8B, 0x07],
                r(2, Gpr(0), 2, Plain, 3),
            ),
            (
                "mov rax, [rdi]",
                &[0x48, 0x8B, 0x07],
                r(8, Gpr(0), 8, Plain, 3),
            ),
            (
                "mov r14d, [rdi+4]",
                &[0x44, 0x8B, 0x77, 0x04],
                r(4, Gpr(14), 4, Plain, 4),
            ),
            (
                "movzx eax, byte [rsi]",
                &[0x0F, 0xB6, 0x06],
                r(1, Gpr(0), 4, Zero, 3),
            ),
            (
                "movzx eax, word [rsi]",
                &[0x0F, 0xB7, 0x06],
                r(2, Gpr(0), 4, Zero, 3),
            ),
            (
                "movzx rax, byte [rsi]",
                &[0x48, 0x0F, 0xB6, 0x06],
                r(1, Gpr(0), 8, Zero, 4),
            ),
            (
                "movzx ax, byte [rsi]",
                &[0x66, 0x0F, 0xB6, 0x06],
                r(1, Gpr(0), 2, Zero, 4),
            ),
            (
                "movzx r9d, word [rsi]",
                &[0x44, 0x0F, 0xB7, 0x0E],
                r(2, Gpr(9), 4, Zero, 4),
            ),
            (
                "movsx eax, byte [rsi]",
                &[0x0F, 0xBE, 0x06],
                r(1, Gpr(0), 4, Sign, 3),
            ),
            (
                "movsx rdx, word [rsi+0x10]",
                &[0x48, 0x0F, 0xBF, 0x56, 0x10],
                r(2, Gpr(2), 8, Sign, 5),
            ),
            (
                "movsx r12w, byte [r12]",
                &[0x66, 0x45, 0x0F, 0xBE, 0x24, 0x24],
                r(1, Gpr(12), 2, Sign, 6),
            ),
        ];
        check(cases);
    }

    #[test]
    fn immediates() {
        let cases: &[(&str, &[u8], Decoded)] = &[
            (
                "mov byte [rax], 0x5a",
                &[0xC6, 0x00, 0x5A],
                w(1, Src::Imm(0x5A), 3),
            ),
            (
                "mov word [rax], 0x1234",
                &[0x66, 0xC7, 0x00, 0x34, 0x12],
                w(2, Src::Imm(0x1234), 5),
            ),
            (
                "mov word [rbp-2], -1",
                &[0x66, 0xC7, 0x45, 0xFE, 0xFF, 0xFF],
                w(2, Src::Imm(0xFFFF), 6),
            ),
            (
                "mov dword [rax], 0x89abcdef",
                &[0xC7, 0x00, 0xEF, 0xCD, 0xAB, 0x89],
                w(4, Src::Imm(0x89AB_CDEF), 6),
            ),
            (
                "mov qword [rax], -2",
                &[0x48, 0xC7, 0x00, 0xFE, 0xFF, 0xFF, 0xFF],
                w(8, Src::Imm(0xFFFF_FFFF_FFFF_FFFE), 7),
            ),
            (
                "mov qword [rax], 0x7fffffff",
                &[0x48, 0xC7, 0x00, 0xFF, 0xFF, 0xFF, 0x7F],
                w(8, Src::Imm(0x7FFF_FFFF), 7),
            ),
            (
                "mov dword [rbx+rcx*2+0x40], 1",
                &[0xC7, 0x44, 0x4B, 0x40, 0x01, 0x00, 0x00, 0x00],
                w(4, Src::Imm(1), 8),
            ),
        ];
        check(cases);
    }

    #[test]
    fn prefix_rules() {
        let cases: &[(&str, &[u8], Decoded)] = &[
            // REX not immediately before the opcode is ignored: 16-bit store.
            (
                "rex.w; o16 mov [rbx], ax",
                &[0x48, 0x66, 0x89, 0x03],
                w(2, Src::Reg(Gpr(0)), 4),
            ),
            // REX.W wins over 66.
            (
                "o16 mov [rbx], rax",
                &[0x66, 0x48, 0x89, 0x03],
                w(8, Src::Reg(Gpr(0)), 4),
            ),
            // Of two REX prefixes only the last counts (here REX.R -> r9d, not REX.W).
            (
                "rex.w rex.r mov [rbx], r9d",
                &[0x48, 0x44, 0x89, 0x0B],
                w(4, Src::Reg(Gpr(9)), 4),
            ),
            // A REX before a segment override is ignored: AH, not SPL.
            (
                "rex; ds mov [rax], ah",
                &[0x40, 0x3E, 0x88, 0x20],
                w(1, Src::Reg(HighByte(0)), 4),
            ),
            // Trailing bytes after the instruction are not part of it.
            (
                "mov [rbx], eax; nop; nop",
                &[0x89, 0x03, 0x90, 0x90],
                w(4, Src::Reg(Gpr(0)), 2),
            ),
        ];
        check(cases);
    }

    #[test]
    fn fifteen_bytes_is_the_limit() {
        // 13 operand-size prefixes + 89 03 = 15 bytes: legal.
        let mut ok = [0x66u8; 15];
        ok[13] = 0x89;
        ok[14] = 0x03;
        assert_eq!(decode(&ok), Ok(w(2, Src::Reg(Gpr(0)), 15)));
        // 14 prefixes + 89 03 = 16 bytes.
        let mut long = [0x66u8; 16];
        long[14] = 0x89;
        long[15] = 0x03;
        assert_eq!(decode(&long), Err(Error::TooLong));
        // Immediate pushing the length to 16: 8 segment prefixes + 48 C7 80 disp32 imm32.
        let mut imm = [0x2Eu8; 20];
        imm[8..11].copy_from_slice(&[0x48, 0xC7, 0x80]);
        assert_eq!(decode(&imm), Err(Error::TooLong));
        // 15 prefixes and no opcode within the window.
        assert_eq!(decode(&[0x66; 40]), Err(Error::TooLong));
    }

    #[test]
    fn truncated_inputs() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x66],
            &[0x48],
            &[0x89],
            &[0x0F],
            &[0x0F, 0xB6],
            &[0x89, 0x04],                   // SIB missing
            &[0x89, 0x44, 0x24],             // disp8 missing
            &[0x89, 0x80, 0x00, 0x00, 0x00], // disp32 short by one
            &[0x89, 0x04, 0x25, 0x10],       // SIB no-base disp32 short
            &[0x89, 0x05, 0x10, 0x00],       // RIP-relative disp32 short
            &[0xC6, 0x00],                   // imm8 missing
            &[0x66, 0xC7, 0x00, 0x34],       // imm16 short
            &[0xC7, 0x00, 0x01, 0x02, 0x03], // imm32 short
        ];
        for bytes in cases {
            assert_eq!(decode(bytes), Err(Error::Truncated), "{bytes:02x?}");
        }
        // Every strict prefix of a valid instruction is truncated.
        let full = [0x4F, 0x89, 0x9C, 0xF5, 0x78, 0x56, 0x34, 0x12];
        for n in 0..full.len() {
            assert_eq!(decode(&full[..n]), Err(Error::Truncated), "prefix {n}");
        }
    }

    #[test]
    fn refused_forms() {
        let cases: &[(&str, &[u8], Error)] = &[
            (
                "rep movsb",
                &[0xF3, 0xA4],
                Error::UnsupportedPrefix { prefix: 0xF3 },
            ),
            (
                "repne prefix",
                &[0xF2, 0x89, 0x03],
                Error::UnsupportedPrefix { prefix: 0xF2 },
            ),
            (
                "lock mov",
                &[0xF0, 0x89, 0x03],
                Error::UnsupportedPrefix { prefix: 0xF0 },
            ),
            ("movsb", &[0xA4], Error::Unsupported { opcode: 0xA4 }),
            (
                "mov eax, moffs",
                &[0xA1, 0, 0, 0, 0, 0, 0, 0, 0],
                Error::Unsupported { opcode: 0xA1 },
            ),
            (
                "add [rbx], eax",
                &[0x01, 0x03],
                Error::Unsupported { opcode: 0x01 },
            ),
            (
                "movups xmm0, [rax]",
                &[0x0F, 0x10, 0x00],
                Error::Unsupported { opcode: 0x0F10 },
            ),
            (
                "movsxd rax, [rax]",
                &[0x48, 0x63, 0x00],
                Error::Unsupported { opcode: 0x63 },
            ),
            (
                "mov eax, eax",
                &[0x89, 0xC0],
                Error::UnsupportedModrm {
                    opcode: 0x89,
                    modrm: 0xC0,
                },
            ),
            (
                "movzx eax, cl",
                &[0x0F, 0xB6, 0xC1],
                Error::UnsupportedModrm {
                    opcode: 0x0FB6,
                    modrm: 0xC1,
                },
            ),
            (
                "c6 /1 (undefined)",
                &[0xC6, 0x08, 0x00],
                Error::UnsupportedModrm {
                    opcode: 0xC6,
                    modrm: 0x08,
                },
            ),
            (
                "xabort 0",
                &[0xC6, 0xF8, 0x00],
                Error::UnsupportedModrm {
                    opcode: 0xC6,
                    modrm: 0xF8,
                },
            ),
            (
                "xbegin",
                &[0xC7, 0xF8, 0, 0, 0, 0],
                Error::UnsupportedModrm {
                    opcode: 0xC7,
                    modrm: 0xF8,
                },
            ),
        ];
        for (asm, bytes, err) in cases {
            assert_eq!(decode(bytes), Err(*err), "{asm}");
        }
    }

    #[test]
    fn every_byte_pair_stays_in_bounds() {
        // Exhaustive over the first two bytes with a zero tail: never panics, and a
        // successful decode is within the input and the architectural limit.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let mut buf = [0u8; 15];
                buf[0] = a;
                buf[1] = b;
                if let Ok(d) = decode(&buf) {
                    assert!((1..=15).contains(&d.len));
                    assert!(matches!(d.size, 1 | 2 | 4 | 8));
                }
            }
        }
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            Error::Unsupported { opcode: 0x0F10 }.to_string(),
            "unsupported opcode 0xf10"
        );
        assert_eq!(
            Error::UnsupportedPrefix { prefix: 0xF3 }.to_string(),
            "unsupported instruction prefix 0xf3"
        );
    }

    fn check(cases: &[(&str, &[u8], Decoded)]) {
        for (asm, bytes, want) in cases {
            assert_eq!(decode(bytes), Ok(*want), "{asm}: {bytes:02x?}");
        }
    }
}
