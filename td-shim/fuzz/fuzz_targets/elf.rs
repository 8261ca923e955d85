// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target for the ELF loader (`td_shim::loader::elf`): arbitrary bytes go through
//! `parse`, and whatever parses is loaded into a buffer of the size `parse` advertised.
//! Neither step may panic; a successful load must return `base + entry`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::loader::elf::{self, Kind};

/// Skip loads whose memory image would be larger than this (parse already caps the span at
/// 1 GiB; the fuzzer should not spend its time zeroing huge buffers).
const MAX_FUZZ_SPAN: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = elf::parse(data) else {
        return;
    };
    let Some(span) = info.mem_end.checked_sub(info.mem_start) else {
        return;
    };
    if span > MAX_FUZZ_SPAN {
        return;
    }
    let base = match info.kind {
        Kind::Pie => info.align.saturating_mul(4),
        Kind::Exec => 0,
    };
    let mut dest = vec![0u8; span as usize];
    if let Ok(entry) = elf::load(data, &info, base, &mut dest) {
        assert_eq!(Some(entry), base.checked_add(info.entry));
    }
});
