// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target for the bzImage loader (`td_shim::loader::bzimage`; the kernel comes from the
//! VMM or the image). Arbitrary bytes go through `parse` (whole file and fw_cfg split), and
//! whatever parses through `plan_load`, the zero page, `validate_cmdline` and
//! `check_initrd`. Separately, a kernel description and free ranges taken straight from the
//! input drive `plan_load`, whose answer must always be a placement that really fits.
//! And the input as an ELF kernel (`td_shim::loader::vmlinux`: the head QEMU passes, and the
//! whole file as the calculator measures it). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::loader::bzimage::{self, BootParams, Kernel};
use td_shim::loader::vmlinux;

const FOUR_GIB: u64 = 1 << 32;

fn u64_at(b: &[u8], i: usize) -> u64 {
    b.get(i..i + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

/// What `plan_load` promises: `[load, align_up(load) + init_size)` inside one free range
/// below 4 GiB, and a load address ≠ pref is kernel_alignment-aligned.
fn check_plan(k: &Kernel, free: &[(u64, u64)]) {
    let Ok(load) = bzimage::plan_load(k, free) else {
        return;
    };
    let align = u64::from(k.kernel_alignment);
    if load != k.pref_address {
        assert!(k.relocatable);
        assert_eq!(load % align, 0);
    }
    let base = if k.relocatable {
        load.next_multiple_of(align)
    } else {
        load
    };
    let end = base + k.init_size;
    assert!(end <= FOUR_GIB);
    assert!(free.iter().any(|&(s, e)| s <= load && end <= e));
}

fuzz_target!(|data: &[u8]| {
    // 1. The input as a bzImage file.
    if let Ok(k) = bzimage::parse(data) {
        assert_eq!(k.pm_offset + k.pm_len, data.len() as u64);
        assert!(k.init_size >= k.pm_len && k.init_size > 0);
        let header = k.header_bytes(data);
        assert_eq!(header.len(), k.header_len);
        assert_eq!(k.pm_bytes(data).len() as u64, k.pm_len);
        let setup = &data[..k.setup_size];
        assert_eq!(bzimage::parse_parts(setup, k.pm_len), Ok(k));

        for free in [
            &[(0x10_0000, 0x8000_0000)][..],
            &[
                (0, 0xA_0000),
                (0x10_0000, 0x2000_0000),
                (FOUR_GIB, 2 * FOUR_GIB),
            ][..],
        ] {
            check_plan(&k, free);
        }
        let mut bp = BootParams::new(header);
        assert_eq!(&bp.as_bytes()[0x1F1..0x1F1 + header.len()], header);
        bp.set_type_of_loader(bzimage::TYPE_OF_LOADER_UNDEFINED);
        bp.set_cmdline(0x86_0000);
        // The protected-mode part doubles as a command line buffer.
        if let Ok(n) = bzimage::validate_cmdline(k.pm_bytes(data), &k) {
            assert!(n <= k.cmdline_size as usize);
            assert_eq!(k.pm_bytes(data)[n], 0);
        }
        let addr = u64_at(data, 0x10);
        let size = u64_at(data, 0x18);
        if bzimage::check_initrd(addr, size, &k).is_ok() && !k.can_load_above_4g {
            assert!(addr + size <= u64::from(k.initrd_addr_max) + 1);
        }
    }

    // 3. The input as the head of an ELF kernel, and as the whole file.
    if let Ok(v) = vmlinux::parse_head(data) {
        assert!(v.start >= vmlinux::MIN_ADDRESS && v.start < v.end);
        assert!(v.end - v.start <= vmlinux::MAX_SPAN);
        assert!(v.entry >= v.start && v.entry < v.end);
        assert!(!v.segments.is_empty() && v.segments.len() <= vmlinux::MAX_SEGMENTS);
        let setup = vmlinux::setup_header(&v);
        let k = vmlinux::kernel(&v);
        assert_eq!(k.header_bytes(&setup).len(), k.header_len);
        let _ = BootParams::new(k.header_bytes(&setup));
        // Bounded: a span of up to 1 GiB of zeros is not what this target is for.
        if v.end - v.start <= 1 << 20 {
            if let Ok(e) = td_shim::measure::vmlinux_file(data) {
                assert_eq!(e.mr_index, td_shim::measure::MR_RTMR1);
            }
        }
    }

    // 2. A kernel description and free ranges taken from the input.
    if data.len() >= 32 {
        let k = Kernel {
            version: 0x020F,
            setup_size: 0x1000,
            pm_offset: 0x1000,
            pm_len: 1,
            kernel_alignment: 1u32 << (data[0] % 32).max(12),
            pref_address: u64_at(data, 1),
            init_size: u64::from(u32::from_le_bytes(data[9..13].try_into().expect("4"))).max(1),
            cmdline_size: u32::from(data[13]),
            initrd_addr_max: u32::from_le_bytes(data[14..18].try_into().expect("4")),
            relocatable: data[18] & 1 != 0,
            can_load_above_4g: data[18] & 2 != 0,
            header_offset: 0x1F1,
            header_len: 0x7B,
        };
        let free: Vec<(u64, u64)> = data[32..]
            .chunks_exact(16)
            .map(|c| (u64_at(c, 0), u64_at(c, 8)))
            .collect();
        check_plan(&k, &free);
        let _ = bzimage::validate_cmdline(&data[19..], &k);
        let _ = bzimage::check_initrd(u64_at(data, 19), u64_at(data, 24), &k);
    }
});
