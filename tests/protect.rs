// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Memory-protection boot tests (issue #7): each `protect-<case>.bin` embeds a payload from
//! `tests/payloads/protect-payload.asm` that breaks one rule of the firmware's page tables
//! (`td-shim/src/boot/protect.rs`). The firmware's exception handler must name the violation
//! and stop the machine: the run ends because we stop QEMU after the report (a triple fault
//! would end it on its own with `-no-reboot`), and the payload never gets to say
//! "NOT CAUGHT". The expected error codes are the SDM's #PF bits (vol. 3, 4.7: P = 1,
//! W = 2, I/D = 0x10) and the addresses come from `td_shim::layout` or from the firmware's own
//! log of where it put the payload.
//!
//! Test-only firmware builds break the rules from the firmware itself: on the bootstrap
//! processor right after the boot tables are loaded (`protect-selftest-code`/`-stack`), and on
//! vCPU 2 of an emulated TD with 4 vCPUs during parallel accept (`protect-selftest-ap-*`),
//! where the report must name the vCPU and the whole boot must stop without a reset.

use std::path::PathBuf;
use std::time::Duration;
use td_shim::format::metadata;
use td_shim::layout;
use td_shim_boot_tests::{image, images_dir, Outcome, Run};
use td_shim_tools::vmm;

const PF_PRESENT: u64 = 1;
const PF_WRITE: u64 = 2;
const PF_FETCH: u64 = 0x10;

/// Boots `protect-<case>.bin` until the line containing `last` (plus a moment), checks the
/// common outcome and returns it.
fn violation(case: &str, last: &str) -> Outcome {
    let o = Run::new(image(&format!("protect-{case}.bin")))
        .timeout(Duration::from_secs(60))
        .stop_on(last)
        .run()
        .expect("qemu starts");
    common_checks(&o, last);
    o
}

fn common_checks(o: &Outcome, last: &str) {
    // Stopped by us after the report: the CPU sat halted; it neither reset nor went on.
    assert!(o.stopped, "not stopped after the report\n{}", o.describe());
    assert!(o.find(last).is_some(), "{}", o.describe());
    assert!(
        o.find("NOT CAUGHT").is_none(),
        "the payload kept running\n{}",
        o.describe()
    );
    assert!(
        o.find("exception 8 (#DF").is_none(),
        "double fault instead of a clean report\n{}",
        o.describe()
    );
    // Both sets of tables had no-execute bits (TCG implements NX; the reset vector sets
    // EFER.NXE when CPUID reports it).
    for stage in ["for the boot", "for the payload"] {
        let want =
            format!("memory protection {stage}: code r-x, constants r--, data rw- no-execute");
        assert!(o.find(&want).is_some(), "no {want:?}\n{}", o.describe());
    }
}

/// The `#PF` report line: (error code, rip, rsp).
fn page_fault(o: &Outcome) -> (u64, u64, u64) {
    let (_, line) = o
        .find("td-shim: ERROR exception 14 (#PF page fault)")
        .unwrap_or_else(|| panic!("no #PF report\n{}", o.describe()));
    (
        hex_after(line, "error code 0x"),
        hex_after(line, "rip 0x"),
        hex_after(line, "rsp 0x"),
    )
}

fn hex_after(line: &str, marker: &str) -> u64 {
    let rest = line
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker:?} in {line:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    u64::from_str_radix(&digits, 16).unwrap_or_else(|_| panic!("bad hex in {line:?}"))
}

/// The payload entry point the firmware logged.
fn entry(o: &Outcome) -> u64 {
    let (_, line) = o
        .find("td-shim: INFO  payload: ")
        .unwrap_or_else(|| panic!("no payload line\n{}", o.describe()));
    hex_after(line, "entry 0x")
}

#[test]
fn writing_own_code_is_refused() {
    let o = violation(
        "write-code",
        "td-shim: ERROR page fault: write to a read-only page",
    );
    let at = entry(&o);
    let want = format!("td-shim: ERROR page fault: write to a read-only page at {at:#x}");
    assert!(o.find(&want).is_some(), "no {want:?}\n{}", o.describe());
    let (code, rip, _) = page_fault(&o);
    assert_eq!(code, PF_PRESENT | PF_WRITE, "{}", o.describe());
    // `lea rax, [rel _start]` is 7 bytes; the faulting `mov byte [rax], 0xcc` follows.
    assert_eq!(rip, at + 7, "{}", o.describe());
}

#[test]
fn executing_from_the_stack_is_refused() {
    let o = violation(
        "exec-stack",
        "td-shim: ERROR page fault: instruction fetch from a no-execute page",
    );
    let (code, rip, rsp) = page_fault(&o);
    assert_eq!(code, PF_PRESENT | PF_FETCH, "{}", o.describe());
    // `call rsp` jumped to the stack slot it had just written; the return address it pushed
    // sits 8 bytes below.
    assert_eq!(rsp, rip - 8, "{}", o.describe());
    let want = format!("instruction fetch from a no-execute page at {rip:#x}");
    assert!(o.find(&want).is_some(), "no {want:?}\n{}", o.describe());
}

#[test]
fn stack_overflow_hits_the_guard_page_and_is_named() {
    let o = violation(
        "stack-overflow",
        "td-shim: ERROR stack overflow in the payload stack",
    );
    let (_, line) = o.find("stack overflow in the payload stack").unwrap();
    let guard = hex_after(line, "(guard page 0x");
    assert_eq!(guard % 0x1000, 0, "{line}");
    let (code, _, rsp) = page_fault(&o);
    // A CALL pushing into a page that is not mapped.
    assert_eq!(code, PF_WRITE, "{}", o.describe());
    // The last push started at the lowest byte of the stack proper, right above the guard.
    assert_eq!(rsp, guard + 0x1000, "{}", o.describe());
    let (_, cr2_line) = o.find("td-shim: ERROR page fault address 0x").unwrap();
    let cr2 = hex_after(cr2_line, "address 0x");
    assert!(
        (guard..guard + 0x1000).contains(&cr2),
        "{cr2:#x}\n{}",
        o.describe()
    );
}

#[test]
fn firmware_headers_are_read_only_for_the_payload() {
    let o = violation(
        "write-firmware",
        "td-shim: ERROR page fault: write to a read-only page",
    );
    let want = format!(
        "td-shim: ERROR page fault: write to a read-only page at {:#x}",
        layout::SHIM_RUN_BASE
    );
    assert!(o.find(&want).is_some(), "no {want:?}\n{}", o.describe());
    assert_eq!(page_fault(&o).0, PF_PRESENT | PF_WRITE, "{}", o.describe());
}

#[test]
fn firmware_heap_is_not_executable() {
    let o = violation(
        "exec-heap",
        "td-shim: ERROR page fault: instruction fetch from a no-execute page",
    );
    let page = layout::TEMP_HEAP_BASE + layout::TEMP_HEAP_SIZE - layout::PAGE_SIZE;
    let (code, rip, _) = page_fault(&o);
    assert_eq!(code, PF_PRESENT | PF_FETCH, "{}", o.describe());
    assert_eq!(rip, page, "{}", o.describe());
    let want = format!("instruction fetch from a no-execute page at {page:#x}");
    assert!(o.find(&want).is_some(), "no {want:?}\n{}", o.describe());
}

#[test]
fn page_zero_is_not_mapped() {
    let o = violation(
        "null-read",
        "td-shim: ERROR page fault: read from an unmapped page at 0x0",
    );
    assert_eq!(page_fault(&o).0, 0, "{}", o.describe());
}

/// Firmware self-test image (test-only feature): boots until the line containing `last`.
fn selftest(name: &str, last: &str) -> Outcome {
    let o = Run::new(image(&format!("protect-selftest-{name}.bin")))
        .timeout(Duration::from_secs(60))
        .stop_on(last)
        .run()
        .expect("qemu starts");
    assert!(o.stopped, "not stopped after the report\n{}", o.describe());
    assert!(o.find(last).is_some(), "{}", o.describe());
    assert!(
        o.find("exception 8 (#DF").is_none(),
        "double fault instead of a clean report\n{}",
        o.describe()
    );
    // The fault came before the firmware looked at its inputs.
    assert!(
        o.find("td-shim: INFO  image:").is_none(),
        "{}",
        o.describe()
    );
    o
}

#[test]
fn firmware_code_is_read_only_under_the_boot_tables() {
    let o = selftest(
        "code",
        "td-shim: ERROR page fault: write to a read-only page at",
    );
    let (_, line) = o
        .find("protect self-test: writing to the firmware's code at 0x")
        .unwrap_or_else(|| panic!("{}", o.describe()));
    let text = hex_after(line, "code at 0x");
    // The code starts on a page of its own, inside the shim's run region.
    assert_eq!(text % 0x1000, 0, "{line}");
    assert!(
        (layout::SHIM_RUN_BASE..layout::SHIM_RUN_BASE + layout::SHIM_RUN_SIZE).contains(&text),
        "{line}"
    );
    let want = format!("write to a read-only page at {text:#x}");
    assert!(o.find(&want).is_some(), "no {want:?}\n{}", o.describe());
    assert_eq!(page_fault(&o).0, PF_PRESENT | PF_WRITE, "{}", o.describe());
}

#[test]
fn firmware_stack_overflow_is_named() {
    // The guard is the lowest page of the temporary stack (layout.rs).
    let want = format!(
        "td-shim: ERROR stack overflow in the firmware stack (guard page {:#x})",
        layout::TEMP_STACK_BASE
    );
    let o = selftest("stack", &want);
    let (code, _, rsp) = page_fault(&o);
    assert_eq!(code, PF_WRITE, "{}", o.describe());
    let (_, cr2_line) = o.find("td-shim: ERROR page fault address 0x").unwrap();
    let cr2 = hex_after(cr2_line, "address 0x");
    let guard = layout::TEMP_STACK_BASE..layout::TEMP_STACK_BASE + layout::PAGE_SIZE;
    assert!(guard.contains(&cr2), "cr2 {cr2:#x}\n{}", o.describe());
    // The interrupted RSP is in the guard page or just above it (a frame's `sub rsp` may
    // move it into the guard page before the first store). No #DF and a report: the #PF
    // handler ran on its own (IST) stack.
    assert!(
        (guard.start..guard.end + layout::PAGE_SIZE).contains(&rsp),
        "rsp {rsp:#x}\n{}",
        o.describe()
    );
}

/// Boots the emulated-TD image `name` with 1 GiB and 4 vCPUs, the TD HOB built as a TDX VMM
/// would (`td_shim_tools::vmm`), until the line containing `last` (plus a moment).
fn emulated_td(name: &str, last: &str) -> Outcome {
    let path = image(name);
    let img = std::fs::read(&path).expect("read the image");
    let md = metadata::parse_image(&img).expect("image metadata");
    let memory = "1G";
    let bytes = vmm::parse_memory(memory).expect("memory size");
    let hob = vmm::build_td_hob(&img, bytes, &vmm::TdHobOptions::default()).expect("TD HOB");
    let dir = images_dir().join("protect-hobs");
    std::fs::create_dir_all(&dir).expect("create the HOB directory");
    let hob_path: PathBuf = dir.join(format!("{name}-1G.hob"));
    std::fs::write(&hob_path, &hob.bytes).expect("write the HOB");
    let mut r = Run::new(&path)
        .memory(memory)
        .smp(4)
        .timeout(Duration::from_secs(180))
        .stop_on(last);
    for a in vmm::loader_args(&md, &hob_path, None, None).expect("loader args") {
        r = r.arg(&a);
    }
    r.run().expect("qemu starts")
}

/// The stack overflow again, in an emulated TD with 4 vCPUs: the APs accept memory in
/// parallel on the boot tables (no-execute bits: EFER.NXE must be set on them) and wait in
/// the OS mailbox on the final ones; the report goes through the TD's fatal-error path.
#[test]
fn stack_overflow_in_an_emulated_td() {
    let o = emulated_td(
        "protect-stack-overflow-emu.bin",
        "emulated-tdx: ReportFatalError",
    );
    common_checks(
        &o,
        "td-shim: ERROR stack overflow in the payload stack (guard page 0x",
    );
    assert!(
        o.find("td-shim: INFO  3 application processors ready")
            .is_some(),
        "the APs did not take part\n{}",
        o.describe()
    );
    // The payload runs on the bootstrap processor: its report names no AP, although the APs
    // have exception tables of their own by now.
    assert!(
        o.find("td-shim: ERROR exception 14 (#PF page fault), error code 0x")
            .is_some(),
        "{}",
        o.describe()
    );
    // 0x100 + vector 14: the code the firmware reports for an exception.
    assert!(
        o.find("emulated-tdx: ReportFatalError code 0x10e")
            .is_some(),
        "{}",
        o.describe()
    );
}

/// The line the bootstrap processor prints when it stops because vCPU 2 did.
const BSP_STOPS: &str = "td-shim: ERROR boot stopped: vcpu 2 stopped on a fatal error";

/// Checks shared by the AP self-tests (`protect-selftest-ap-*`, test-only features: vCPU 2
/// breaks a rule of the boot tables at the start of its parallel-accept work), in an emulated
/// TD with 4 vCPUs: the AP's report names vCPU 2 and goes through the TD's fatal-error path
/// once, the bootstrap processor stops soon after without a report of its own, and nothing
/// resets or goes on. Returns the AP's `#PF` report (error code, rip, rsp).
fn ap_fault(name: &str) -> (Outcome, (u64, u64, u64)) {
    let o = emulated_td(name, BSP_STOPS);
    // Stopped by us once the bootstrap processor gave up: QEMU had not exited (with
    // -no-reboot a triple fault on any vCPU ends it) and had not run into the timeout.
    assert!(o.stopped, "not stopped after the report\n{}", o.describe());
    assert!(!o.timed_out, "{}", o.describe());
    assert!(
        o.find("td-shim: INFO  3 application processors ready")
            .is_some(),
        "the APs did not take part\n{}",
        o.describe()
    );
    let banners = o
        .lines
        .iter()
        .filter(|(_, l)| l.contains("td-shim: INFO  td-shim ") && l.contains(" starting on "))
        .count();
    assert_eq!(banners, 1, "a second boot\n{}", o.describe());
    assert!(
        o.find("exception 8 (#DF").is_none(),
        "double fault instead of a clean report\n{}",
        o.describe()
    );
    let (report_at, report) = o
        .find("td-shim: ERROR exception 14 (#PF page fault) on vcpu 2, error code 0x")
        .unwrap_or_else(|| panic!("no #PF report naming vcpu 2\n{}", o.describe()))
        .clone();
    // One fatal-error report to the VMM: the AP's, 0x100 + vector 14 (the bootstrap
    // processor does not send its own).
    let fatal: Vec<_> = o
        .lines
        .iter()
        .filter(|(_, l)| l.contains("emulated-tdx: ReportFatalError"))
        .collect();
    assert_eq!(fatal.len(), 1, "{}", o.describe());
    assert!(
        fatal[0].1.contains("ReportFatalError code 0x10e"),
        "{}",
        o.describe()
    );
    assert!(fatal[0].0 >= report_at, "{}", o.describe());
    // The bootstrap processor stopped: last line, after the AP's report and well within the
    // time an AP answer may take (the mailbox gives up only after billions of spins).
    let (stop_at, last) = o.lines.last().expect("serial output").clone();
    assert!(last.contains(BSP_STOPS), "{}", o.describe());
    assert!(stop_at >= fatal[0].0, "{}", o.describe());
    assert!(
        stop_at - report_at < Duration::from_secs(60),
        "the bootstrap processor took {:?} to stop\n{}",
        stop_at - report_at,
        o.describe()
    );
    for never in [
        "td-shim: ERROR boot failed",
        "handing off",
        "td-shim: INFO  payload",
    ] {
        assert!(o.find(never).is_none(), "{never:?}\n{}", o.describe());
    }
    (
        o,
        (
            hex_after(&report, "error code 0x"),
            hex_after(&report, "rip 0x"),
            hex_after(&report, "rsp 0x"),
        ),
    )
}

/// vCPU 2 overflows its parallel-accept stack: the #PF runs on that AP's own IST stack, the
/// guard page (from the heap, where the AP stacks come from) is named with the vCPU, and
/// the whole TD stops.
#[test]
fn ap_stack_overflow_is_named_with_its_vcpu() {
    let (o, (code, _, rsp)) = ap_fault("protect-selftest-ap-stack-emu.bin");
    assert!(
        o.find("protect self-test: vcpu 2 overflows its accept stack")
            .is_some(),
        "{}",
        o.describe()
    );
    let (_, line) = o
        .find("td-shim: ERROR stack overflow in the accept stack of vcpu 2 (guard page 0x")
        .unwrap_or_else(|| panic!("no named stack overflow\n{}", o.describe()));
    let guard = hex_after(line, "(guard page 0x");
    assert_eq!(guard % layout::PAGE_SIZE, 0, "{line}");
    let heap = layout::TEMP_HEAP_BASE..layout::TEMP_HEAP_BASE + layout::TEMP_HEAP_SIZE;
    assert!(heap.contains(&guard), "{line}");
    // A push (CALL or store) into a page that is not mapped: W, not P.
    assert_eq!(code, PF_WRITE, "{}", o.describe());
    let (_, cr2_line) = o
        .find("td-shim: ERROR page fault address 0x")
        .unwrap_or_else(|| panic!("{}", o.describe()));
    let cr2 = hex_after(cr2_line, "address 0x");
    assert!(
        (guard..guard + layout::PAGE_SIZE).contains(&cr2),
        "cr2 {cr2:#x}\n{}",
        o.describe()
    );
    assert!(
        (guard..guard + 2 * layout::PAGE_SIZE).contains(&rsp),
        "rsp {rsp:#x}\n{}",
        o.describe()
    );
}

/// vCPU 2 writes to the firmware's code (read-only under the boot tables): an ordinary #PF,
/// no guard page, reported with the vCPU.
#[test]
fn ap_write_to_firmware_code_is_named_with_its_vcpu() {
    let (o, (code, rip, _)) = ap_fault("protect-selftest-ap-code-emu.bin");
    let (_, line) = o
        .find("protect self-test: vcpu 2 writes to the firmware's code at 0x")
        .unwrap_or_else(|| panic!("{}", o.describe()));
    let at = hex_after(line, "code at 0x");
    assert!(
        (layout::SHIM_RUN_BASE..layout::SHIM_RUN_BASE + layout::SHIM_RUN_SIZE).contains(&at),
        "{line}"
    );
    assert_eq!(code, PF_PRESENT | PF_WRITE, "{}", o.describe());
    let want = format!("td-shim: ERROR page fault: write to a read-only page at {at:#x}");
    assert!(o.find(&want).is_some(), "no {want:?}\n{}", o.describe());
    // The faulting store is in the self-test function, whose first byte it writes to.
    assert!(
        (at..at + layout::PAGE_SIZE).contains(&rip),
        "rip {rip:#x}\n{}",
        o.describe()
    );
    assert!(o.find("stack overflow").is_none(), "{}", o.describe());
}
