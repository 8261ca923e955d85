// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target for QEMU's ACPI table-loader (`td_shim::format::acpi`; the script and the
//! files come from the VMM through fw_cfg). The input is split into a header (sizes and
//! GPAs of two files), the two files' contents and the script; the script goes through
//! `parse_script` and `execute` over the two buffers, then the patched buffers through the
//! table parsers and the XSDT / MADT / RSDP rewriters. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::format::acpi::{self, LoadedFile};

const HEADER: usize = 20;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<HEADER>() else {
        return;
    };
    let len_a = usize::from(u16::from_le_bytes([head[0], head[1]]) % 4097);
    let len_b = usize::from(u16::from_le_bytes([head[2], head[3]]) % 4097);
    let gpa_a = u64::from_le_bytes(head[4..12].try_into().expect("8"));
    let gpa_b = u64::from_le_bytes(head[12..20].try_into().expect("8"));
    // File contents come from the input (zero-filled when it runs out), the script is the rest.
    let mut a = vec![0u8; len_a];
    let mut b = vec![0u8; len_b];
    let take_a = len_a.min(rest.len());
    a[..take_a].copy_from_slice(&rest[..take_a]);
    let rest = &rest[take_a..];
    let take_b = len_b.min(rest.len());
    b[..take_b].copy_from_slice(&rest[..take_b]);
    let script = &rest[take_b..];

    let Ok(commands) = acpi::parse_script(script) else {
        return;
    };
    let mut files = [
        LoadedFile {
            name: "etc/acpi/rsdp",
            gpa: gpa_a,
            bytes: &mut a,
        },
        LoadedFile {
            name: "etc/acpi/tables",
            gpa: gpa_b,
            bytes: &mut b,
        },
    ];
    if let Ok(writes) = acpi::execute(&commands, &mut files) {
        for w in &writes {
            assert!(matches!(w.size, 1 | 2 | 4 | 8));
            assert!(w.size == 8 || w.value >> (u32::from(w.size) * 8) == 0);
        }
    }

    // Whatever the buffers hold now, the table helpers must cope.
    for buf in [&a[..], &b[..]] {
        if let Ok(t) = acpi::parse_table(buf) {
            assert!(t.bytes.len() >= acpi::HEADER_SIZE && t.bytes.len() <= buf.len());
            assert_eq!(acpi::sum(t.bytes), 0);
        }
        if let Ok(x) = acpi::rebuild_xsdt(buf, &[gpa_a]) {
            assert_eq!(acpi::sum(&x), 0);
            assert!(acpi::parse_table(&x).is_ok());
        }
        if let Ok(m) = acpi::append_mp_wakeup(buf, gpa_b) {
            assert!(acpi::parse_table(&m).is_ok());
        }
        let _ = acpi::parse_rsdp(buf);
        let mut copy = buf.to_vec();
        if acpi::patch_rsdp(&mut copy, gpa_b).is_ok() {
            assert_eq!(acpi::parse_rsdp(&copy).map(|r| r.xsdt_address), Ok(gpa_b));
        }
    }
});
