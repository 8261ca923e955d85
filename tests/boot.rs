// SPDX-License-Identifier: BSD-2-Clause-Patent
//! QEMU (TCG) boot tests of whole images, from the reset vector to the payload. The images
//! come from `cargo xtask boot-test`, which builds them and then runs these tests.

use std::time::Duration;
use td_shim_boot_tests::{image, Outcome, Run};

const EXAMPLE_OK: i32 = (0x10 << 1) | 1;
const ASM_OK: i32 = (0x20 << 1) | 1;

fn boot(name: &str, memory: &str) -> Outcome {
    Run::new(image(name))
        .memory(memory)
        .timeout(Duration::from_secs(60))
        .run()
        .expect("qemu starts")
}

/// Parses the example payload's `ram` line: (MiB, ranges, highest end).
fn ram_line(o: &Outcome) -> (u64, u64, u64) {
    let (_, line) = o
        .find("td-payload: ram ")
        .unwrap_or_else(|| panic!("no ram line\n{}", o.describe()));
    // "td-payload: ram {} MiB ({:#x} bytes) in {} ranges, highest end {:#x}"
    let words: Vec<&str> = line.split_whitespace().collect();
    let mib = words[2].parse().unwrap();
    let ranges = words[7].parse().unwrap();
    let end = u64::from_str_radix(words[11].trim_start_matches("0x"), 16).unwrap();
    (mib, ranges, end)
}

#[test]
fn example_payload_boots_and_exits() {
    let o = boot("example.bin", "512M");
    assert_eq!(o.code(), Some(EXAMPLE_OK), "{}", o.describe());
    let s = o.serial();
    assert!(s.contains("td-shim: INFO  td-shim"), "{}", o.describe());
    assert!(
        s.contains("td-payload: hello from the example payload"),
        "{}",
        o.describe()
    );
    assert!(s.contains("td-payload: hob at 0x"), "{}", o.describe());
    let (mib, _, end) = ram_line(&o);
    // 512 MiB guest: everything below 4 GiB, nearly all of it RAM (minus small holes).
    assert!(
        (500..=512).contains(&mib),
        "ram {mib} MiB\n{}",
        o.describe()
    );
    assert!(end <= 512 << 20, "highest end {end:#x}");
}

#[test]
fn example_payload_128m() {
    let o = boot("example.bin", "128M");
    assert_eq!(o.code(), Some(EXAMPLE_OK), "{}", o.describe());
    let (mib, _, end) = ram_line(&o);
    assert!(
        (120..=128).contains(&mib),
        "ram {mib} MiB\n{}",
        o.describe()
    );
    assert!(end <= 128 << 20);
}

#[test]
fn example_payload_6g_sees_ram_above_4g() {
    let o = boot("example.bin", "6G");
    assert_eq!(o.code(), Some(EXAMPLE_OK), "{}", o.describe());
    let (mib, ranges, end) = ram_line(&o);
    // q35 puts 2 GiB below the PCI hole and the other 4 GiB at [4 GiB, 8 GiB).
    assert_eq!(end, 8 << 30, "{}", o.describe());
    assert!(ranges >= 2, "{}", o.describe());
    assert!(
        (6100..=6144).contains(&mib),
        "ram {mib} MiB\n{}",
        o.describe()
    );
}

#[test]
fn asm_payload_pie_gets_hob_in_rcx_and_rdi() {
    let o = boot("asm-pie.bin", "512M");
    assert_eq!(o.code(), Some(ASM_OK), "{}", o.describe());
    assert!(
        o.serial().contains("asm-payload: ok rdi=rcx="),
        "{}",
        o.describe()
    );
}

#[test]
fn asm_payload_exec_at_fixed_address() {
    let o = boot("asm-exec.bin", "512M");
    assert_eq!(o.code(), Some(ASM_OK), "{}", o.describe());
    assert!(
        o.serial().contains("asm-payload: ok rdi=rcx="),
        "{}",
        o.describe()
    );
}

#[test]
fn exception_in_payload_is_reported_and_the_machine_stops() {
    let o = Run::new(image("fault.bin"))
        .timeout(Duration::from_secs(60))
        .stop_on("td-shim: ERROR exception")
        .run()
        .expect("qemu starts");
    // Stopped by us after the report: the CPU halted, it did not triple-fault (which with
    // -no-reboot would have ended QEMU on its own).
    assert!(o.stopped, "{}", o.describe());
    let (_, line) = o
        .find("td-shim: ERROR exception 6 (#UD invalid opcode)")
        .unwrap_or_else(|| panic!("{}", o.describe()));
    // The payload's entry is logged; the UD2 sits two bytes after it.
    let (_, entry_line) = o.find("td-shim: INFO  payload: ").unwrap();
    let entry =
        u64::from_str_radix(entry_line.rsplit("entry 0x").next().unwrap().trim(), 16).unwrap();
    assert!(
        line.contains(&format!("rip {:#x}", entry + 2)),
        "{line}\n{}",
        o.describe()
    );
}

#[test]
fn corrupted_payload_is_refused_cleanly() {
    let bytes = std::fs::read(image("example.bin")).unwrap();
    // The payload ELF sits in the payload FV, the first ELF magic after the CFV.
    let at = 0x40000
        + bytes[0x40000..]
            .windows(4)
            .position(|w| w == b"\x7fELF")
            .expect("payload elf in the image");
    let mut bad = bytes.clone();
    bad[at + 4] = 9; // EI_CLASS: neither 32- nor 64-bit
    let dir = std::env::temp_dir().join(format!("td-shim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad-elf.bin");
    std::fs::write(&path, &bad).unwrap();
    let o = Run::new(&path)
        .timeout(Duration::from_secs(60))
        .stop_on("td-shim: ERROR")
        .run()
        .expect("qemu starts");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.stopped, "{}", o.describe());
    assert!(
        o.serial()
            .contains("td-shim: ERROR boot failed: payload elf"),
        "{}",
        o.describe()
    );
    assert!(!o.serial().contains("td-payload:"), "{}", o.describe());
}
