// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target: `arch::insn::decode` (the #VE handler's MMIO instruction decoder) on
//! arbitrary bytes. Must never panic; a decoded instruction is 1..=15 bytes and within the
//! input, its operands are in range, it decodes the same from its own bytes alone, and every
//! shorter prefix of it is reported as truncated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::arch::insn::{self, Kind, Reg, Src};

fn check_reg(r: Reg) {
    match r {
        Reg::Gpr(n) => assert!(n < 16),
        Reg::HighByte(n) => assert!(n < 4),
    }
}

fn is_size(s: u8) -> bool {
    matches!(s, 1 | 2 | 4 | 8)
}

fuzz_target!(|data: &[u8]| {
    let Ok(d) = insn::decode(data) else {
        return;
    };
    let len = usize::from(d.len);
    assert!((1..=insn::MAX_INSN_LEN).contains(&len));
    assert!(len <= data.len());
    assert!(is_size(d.size));
    match d.kind {
        Kind::Read {
            dest,
            dest_size,
            extend: _,
        } => {
            check_reg(dest);
            assert!(is_size(dest_size) && dest_size >= d.size);
        }
        Kind::Write { src: Src::Reg(r) } => check_reg(r),
        Kind::Write { src: Src::Imm(v) } => {
            assert!(d.size == 8 || v >> (u32::from(d.size) * 8) == 0);
        }
    }
    assert_eq!(insn::decode(&data[..len]), Ok(d));
    for k in 0..len {
        assert_eq!(insn::decode(&data[..k]), Err(insn::Error::Truncated));
    }
});
