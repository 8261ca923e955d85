// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Thin, `unsafe`-owning layer over x86-64 instructions: CPUID, port I/O, control registers,
//! the IDT and exception entry, TDCALL. It knows instructions, not policy: callers decide
//! when to use them. Compiled for x86-64 only (the host is x86-64 too, so the library still
//! builds and its pure parts test there).

pub mod ap;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod insn;
pub mod io;
pub mod tdcall;
#[cfg(feature = "emulated-tdx")]
pub mod tdx_emu;
pub mod ve;
