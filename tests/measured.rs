// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Measured-boot tests (issue #5) in QEMU: the firmware's CC event log, read back from where
//! the OS or payload finds it, must hold one event per measured input whose digest is the
//! SHA-384 of exactly what the test fed in; standard tools must parse it; under the emulated
//! TDX the RTMRs the emulated module holds at hand-off must equal the log's replay and the
//! values predicted here from the input files alone.
//!
//! Independence: expected digests come from coreutils' `sha384sum` over the files and
//! strings the test itself passes to QEMU (never from the firmware's own hashing code), and
//! expected RTMRs are chained here with `sha384sum` as well. The reference-value calculator
//! (`td_shim_tools::reference`, behind `td-payload-reference-calculator`) must agree too.
//!
//! Inputs as for `tests/linux.rs` and `tests/emulated.rs` (`cargo xtask boot-test`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use td_shim::format::event_log::{self, Event};
use td_shim::format::metadata;
use td_shim_boot_tests::{emulated_rtmrs, image, images_dir, Outcome, Run};
use td_shim_tools::{reference, vmm};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// The fw_cfg file that switches measured boot on in a legacy VM (off by default there).
const SWITCH: &str = "opt/td-shim/measured-boot";

/// Asks a legacy VM's firmware to measure (`-fw_cfg name=...,string=on`).
fn measuring(run: Run) -> Run {
    switch(run, "on")
}

fn switch(run: Run, value: &str) -> Run {
    run.arg("-fw_cfg")
        .arg(&format!("name={SWITCH},string={value}"))
}
const GIB: u64 = 1 << 30;

type Digest = [u8; 48];

/// SHA-384 by coreutils (`sha384sum`), not by the code under test.
fn sha384(bytes: &[u8]) -> Digest {
    let mut c = Command::new("sha384sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha384sum runs (coreutils)");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("feed sha384sum");
    let out = c.wait_with_output().expect("sha384sum output");
    let hex = String::from_utf8(out.stdout).expect("utf-8");
    unhex(&hex[..96])
}

fn unhex(s: &str) -> Digest {
    let mut d = [0u8; 48];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex digit");
    }
    d
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// RTMR extend, spelled out: SHA-384(old ‖ digest).
fn extend(r: &mut Digest, d: &Digest) {
    let mut both = r.to_vec();
    both.extend_from_slice(d);
    *r = sha384(&both);
}

fn kernels_dir() -> PathBuf {
    std::env::var_os("TD_SHIM_KERNELS")
        .map(PathBuf::from)
        .expect("TD_SHIM_KERNELS is not set: run the boot tests with `cargo xtask boot-test`")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A file for the guest's second serial port (where the initramfs dumps the CCEL log).
fn log_file(tag: &str) -> PathBuf {
    let d = images_dir().join("measured");
    std::fs::create_dir_all(&d).expect("create the log directory");
    let p = d.join(format!("{tag}.ccel"));
    let _ = std::fs::remove_file(&p);
    p
}

/// Boots with a kernel through fw_cfg (or none, for an image with an embedded kernel),
/// asks the initramfs to dump the log to ttyS1, and returns the run and the log bytes.
fn boot_and_dump(run: Run, kernel: Option<&Path>, cmdline: &str, tag: &str) -> (Outcome, Vec<u8>) {
    let dump = log_file(tag);
    let mut r = run
        .timeout(BOOT_TIMEOUT)
        .stop_on("td-shim: ERROR")
        .arg("-serial")
        .arg(&format!("file:{}", path_str(&dump)));
    if let Some(k) = kernel {
        r = r
            .arg("-kernel")
            .arg(path_str(k))
            .arg("-initrd")
            .arg(path_str(&images_dir().join("initramfs.img")))
            .arg("-append")
            .arg(cmdline);
    }
    let o = r.run().expect("qemu starts");
    assert!(
        o.find("TDSHIM-FACT ccel_dumped=yes").is_some(),
        "the guest did not dump its CCEL log\n{}",
        o.describe()
    );
    let log = std::fs::read(&dump).expect("read the dumped log");
    (o, log)
}

/// The events of a parsed log with their descriptor (platform-config-info) or description
/// (firmware blob2), for finding them by name.
fn named<'a>(events: &[Event<'a>]) -> Vec<(String, Event<'a>)> {
    events
        .iter()
        .map(|e| {
            let name = match e.event_type {
                event_log::EV_PLATFORM_CONFIG_FLAGS => {
                    event_log::parse_platform_config_info(e.data)
                        .map(|(d, _)| String::from_utf8_lossy(d).into_owned())
                }
                event_log::EV_EFI_PLATFORM_FIRMWARE_BLOB2 => {
                    event_log::parse_firmware_blob2(e.data).map(|(d, _, _)| {
                        String::from_utf8_lossy(d)
                            .trim_end_matches('\0')
                            .to_string()
                    })
                }
                event_log::EV_SEPARATOR => Some("separator".to_string()),
                _ => None,
            }
            .unwrap_or_else(|| format!("type {:#x}", e.event_type));
            (name, *e)
        })
        .collect()
}

fn find<'a>(events: &[(String, Event<'a>)], name: &str) -> Event<'a> {
    events
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, e)| *e)
        .unwrap_or_else(|| {
            panic!(
                "no {name} event; events: {:?}",
                events.iter().map(|(n, _)| n).collect::<Vec<_>>()
            )
        })
}

/// A bzImage with the header fields a loader writes zeroed, as `doc/measurement.md` says a
/// kernel that comes through fw_cfg is measured (QEMU overwrites them in its copy).
fn kernel_as_measured_via_fw_cfg(file: &[u8]) -> Vec<u8> {
    let mut k = file.to_vec();
    for (at, len) in [
        (0x210, 1),
        (0x218, 4),
        (0x21C, 4),
        (0x224, 2),
        (0x226, 2),
        (0x228, 4),
        (0x250, 8),
    ] {
        k[at..at + len].fill(0);
    }
    k[0x211] &= !0x80;
    k
}

/// Every platform-config-info event's digest is the SHA-384 of the info it carries (the
/// VMM inputs: memory map, ACPI files) — except the CFV, whose info is (base, length).
fn check_config_events(events: &[(String, Event<'_>)]) {
    for (name, e) in events {
        if e.event_type != event_log::EV_PLATFORM_CONFIG_FLAGS || name == "td_cfv" {
            continue;
        }
        let (_, info) = event_log::parse_platform_config_info(e.data).expect("config info");
        assert_eq!(hex(&e.digest), hex(&sha384(info)), "digest of {name}");
    }
}

/// Standard tooling: tpm2-tools' `tpm2_eventlog` must parse the log (cut at its end: it
/// does not stop at the 0xFF fill). Skipped with a message where tpm2-tools is missing,
/// except in CI, where sh_script/preparation.sh installs it.
fn tpm2_eventlog_parses(log: &[u8], end: usize, tag: &str) {
    let have = Command::new("tpm2_eventlog")
        .arg("--version")
        .output()
        .is_ok();
    if !have {
        assert!(
            std::env::var_os("CI").is_none(),
            "tpm2_eventlog is missing in CI (sh_script/preparation.sh installs tpm2-tools)"
        );
        eprintln!("tpm2_eventlog not installed: skipping the tpm2-tools cross-check");
        return;
    }
    let p = images_dir().join("measured").join(format!("{tag}.trimmed"));
    std::fs::write(&p, &log[..end]).expect("write the trimmed log");
    let out = Command::new("tpm2_eventlog")
        .arg(&p)
        .output()
        .expect("tpm2_eventlog runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tpm2_eventlog refused the log: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("algorithmId: sha384"), "{text}");
    assert!(text.contains("EV_SEPARATOR"), "{text}");
}

#[test]
fn linux_via_fw_cfg_in_a_legacy_vm_logs_every_input() {
    let kernel_path = kernels_dir().join("vmlinuz-6.12");
    let cmdline = "console=ttyS0 tdshim-dump-ccel measured-boot-test";
    let (o, log) = boot_and_dump(
        measuring(Run::new(image("linux.bin")).memory("1G")),
        Some(&kernel_path),
        cmdline,
        "legacy-fw-cfg",
    );
    assert!(
        o.find("no rtmrs in a legacy vm").is_some(),
        "the firmware must say once that there are no RTMRs\n{}",
        o.describe()
    );
    let parsed = event_log::parse(&log).expect("the guest's CCEL log parses");
    let events = named(&parsed.events);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    // The order the firmware measures in: VMM memory map and CFV (RTMR0), kernel, command
    // line, initrd (RTMR1), QEMU's ACPI files (RTMR0), the separators.
    assert_eq!(
        names,
        [
            "etc/e820",
            "td_cfv",
            "td_payload",
            "td_payload_info",
            "td_initrd",
            "etc/table-loader",
            "etc/acpi/rsdp",
            "etc/acpi/tables",
            "separator",
            "separator"
        ],
        "{}",
        o.describe()
    );
    let kernel = std::fs::read(&kernel_path).expect("read the kernel");
    let initrd = std::fs::read(images_dir().join("initramfs.img")).expect("read the initramfs");
    let img = std::fs::read(image("linux.bin")).expect("read the image");
    let k = find(&events, "td_payload");
    assert_eq!(k.mr_index, 2);
    assert_eq!(
        hex(&k.digest),
        hex(&sha384(&kernel_as_measured_via_fw_cfg(&kernel)))
    );
    let (_, _, len) = event_log::parse_firmware_blob2(k.data).expect("blob2");
    assert_eq!(len, kernel.len() as u64);
    let c = find(&events, "td_payload_info");
    assert_eq!(hex(&c.digest), hex(&sha384(cmdline.as_bytes())));
    let i = find(&events, "td_initrd");
    assert_eq!(hex(&i.digest), hex(&sha384(&initrd)));
    let cfv = find(&events, "td_cfv");
    assert_eq!(cfv.mr_index, 1);
    assert_eq!(hex(&cfv.digest), hex(&sha384(&img[..0x40000])));
    check_config_events(&events);
    for (n, e) in &events {
        if n == "separator" {
            assert_eq!(e.data, [0, 0, 0, 0]);
            assert_eq!(hex(&e.digest), hex(&sha384(&[0, 0, 0, 0])));
        }
    }
    tpm2_eventlog_parses(&log, parsed.end, "legacy-fw-cfg");
}

#[test]
fn embedded_kernel_is_measured_as_the_file() {
    // linux-embedded-6.12.bin: 6.12, the initramfs and a command line asking for the dump,
    // all inside the image (`cargo xtask boot-test`).
    let (o, log) = boot_and_dump(
        measuring(Run::new(image("linux-embedded-6.12.bin")).memory("1G")),
        None,
        "",
        "embedded",
    );
    let parsed = event_log::parse(&log).expect("the guest's CCEL log parses");
    let events = named(&parsed.events);
    let kernel = std::fs::read(kernels_dir().join("vmlinuz-6.12")).expect("read the kernel");
    let initrd = std::fs::read(images_dir().join("initramfs.img")).expect("read the initramfs");
    assert_eq!(
        hex(&find(&events, "td_payload").digest),
        hex(&sha384(&kernel)),
        "an embedded kernel is measured as exactly the file (sha384sum)\n{}",
        o.describe()
    );
    assert_eq!(
        hex(&find(&events, "td_initrd").digest),
        hex(&sha384(&initrd))
    );
    let cmdline = find(&events, "td_payload_info");
    let (_, info) = event_log::parse_platform_config_info(cmdline.data).expect("config info");
    assert!(
        String::from_utf8_lossy(info).contains("tdshim-dump-ccel"),
        "{info:?}"
    );
    assert_eq!(hex(&cmdline.digest), hex(&sha384(info)));
    tpm2_eventlog_parses(&log, parsed.end, "embedded");
}

#[test]
fn emulated_tdx_linux_rtmrs_equal_log_replay_and_prediction() {
    let path = image("linux-emu.bin");
    let img = std::fs::read(&path).expect("read the image");
    let md = metadata::parse_image(&img).expect("image metadata");
    let hob = vmm::build_td_hob(&img, GIB, &vmm::TdHobOptions::default()).expect("TD HOB");
    let hob_path = images_dir().join("measured").join("linux-emu.hob");
    std::fs::create_dir_all(hob_path.parent().expect("dir")).expect("mkdir");
    std::fs::write(&hob_path, &hob.bytes).expect("write the HOB");
    let mut run = Run::new(&path).memory("1G");
    for a in vmm::loader_args(&md, &hob_path, None, None).expect("loader args") {
        run = run.arg(&a);
    }
    let kernel_path = kernels_dir().join("vmlinuz-6.12");
    let cmdline = "console=ttyS0 tdshim-dump-ccel";
    let (o, log) = boot_and_dump(run, Some(&kernel_path), cmdline, "emulated-linux");
    let parsed = event_log::parse(&log).expect("the guest's CCEL log parses");
    let events = named(&parsed.events);
    check_config_events(&events);

    // 1. The emulated module's registers are the log's replay.
    let emulated = emulated_rtmrs(&o);
    let replay: Vec<String> = event_log::replay(&parsed.events)
        .iter()
        .map(|r| hex(r))
        .collect();
    assert_eq!(emulated, replay, "{}", o.describe());

    // 2. Both equal what the inputs predict. RTMR0: the TD HOB as the test wrote it, the
    // image's CFV, QEMU's ACPI files (digest of the bytes the log carries), the separator.
    let sep = sha384(&[0, 0, 0, 0]);
    let mut r0 = [0u8; 48];
    extend(&mut r0, &sha384(&hob.bytes));
    extend(&mut r0, &sha384(&img[..0x40000]));
    for name in ["etc/table-loader", "etc/acpi/rsdp", "etc/acpi/tables"] {
        let (_, info) =
            event_log::parse_platform_config_info(find(&events, name).data).expect("config info");
        extend(&mut r0, &sha384(info));
    }
    extend(&mut r0, &sep);
    // RTMR1: kernel (as measured via fw_cfg), command line, initrd, separator.
    let kernel = std::fs::read(&kernel_path).expect("read the kernel");
    let initrd = std::fs::read(images_dir().join("initramfs.img")).expect("read the initramfs");
    let mut r1 = [0u8; 48];
    extend(&mut r1, &sha384(&kernel_as_measured_via_fw_cfg(&kernel)));
    extend(&mut r1, &sha384(cmdline.as_bytes()));
    extend(&mut r1, &sha384(&initrd));
    extend(&mut r1, &sep);
    assert_eq!(emulated[0], hex(&r0), "rtmr0\n{}", o.describe());
    assert_eq!(emulated[1], hex(&r1), "rtmr1\n{}", o.describe());
    assert_eq!(emulated[2], hex(&[0u8; 48]));
    assert_eq!(emulated[3], hex(&[0u8; 48]));
    tpm2_eventlog_parses(&log, parsed.end, "emulated-linux");

    // 3. The calculator, given the same files (QEMU's ACPI files taken from the log, as a
    // verifier would), predicts the same registers.
    let vmm_inputs = reference::vmm_inputs_from_log(&parsed);
    let fw_cfg_files: Vec<(String, &[u8])> = vmm_inputs
        .fw_cfg_files
        .iter()
        .map(|(n, b)| (n.clone(), b.as_slice()))
        .collect();
    let p = reference::predict(&reference::Inputs {
        platform: reference::Platform::Tdx,
        image: &img,
        vmm_memory: Some(&hob.bytes),
        fw_cfg_files: Some(fw_cfg_files),
        kernel: Some(&kernel),
        payload: None,
        cmdline: Some(cmdline.as_bytes()),
        initrd: Some(&initrd),
    })
    .expect("the calculator predicts");
    for (i, e) in emulated.iter().enumerate() {
        let predicted = p.rtmr[i].map(|d| hex(&d));
        assert_eq!(predicted.as_deref(), Some(e.as_str()), "calculator rtmr{i}");
    }
    // The worked example, for the record (`--nocapture`).
    eprintln!(
        "worked example: kernel sha384 (fw_cfg rule) {}\n  cmdline {cmdline:?} sha384 {}\n  initrd sha384 {}",
        hex(&sha384(&kernel_as_measured_via_fw_cfg(&kernel))),
        hex(&sha384(cmdline.as_bytes())),
        hex(&sha384(&initrd))
    );
    for (i, e) in emulated.iter().enumerate().take(2) {
        eprintln!("  rtmr{i}: predicted {} / emulated {e}", hex(&[r0, r1][i]));
    }
    // One byte of the command line moves the prediction of RTMR1 (and only RTMR1).
    let mut other = cmdline.as_bytes().to_vec();
    other[0] ^= 1;
    let q = reference::predict(&reference::Inputs {
        platform: reference::Platform::Tdx,
        image: &img,
        vmm_memory: Some(&hob.bytes),
        fw_cfg_files: None,
        kernel: Some(&kernel),
        payload: None,
        cmdline: Some(&other),
        initrd: Some(&initrd),
    })
    .expect("the calculator predicts");
    assert_ne!(q.rtmr[1], p.rtmr[1]);
}

#[test]
fn emulated_tdx_executable_rtmrs_equal_log_replay_and_prediction() {
    let path = image("example-emu.bin");
    let img = std::fs::read(&path).expect("read the image");
    let md = metadata::parse_image(&img).expect("image metadata");
    let hob = vmm::build_td_hob(&img, GIB, &vmm::TdHobOptions::default()).expect("TD HOB");
    let hob_path = images_dir().join("measured").join("example-emu.hob");
    std::fs::create_dir_all(hob_path.parent().expect("dir")).expect("mkdir");
    std::fs::write(&hob_path, &hob.bytes).expect("write the HOB");
    let mut run = Run::new(&path)
        .memory("1G")
        .timeout(Duration::from_secs(60))
        .stop_on("td-shim: ERROR");
    for a in vmm::loader_args(&md, &hob_path, None, None).expect("loader args") {
        run = run.arg(&a);
    }
    let o = run.run().expect("qemu starts");
    let emulated = emulated_rtmrs(&o);
    // The payload replayed the log it found through the CCEL HOB.
    for (i, e) in emulated.iter().enumerate() {
        let line = format!("td-payload: event log RTMR{i} = {e}");
        assert!(
            o.find(&line).is_some(),
            "missing '{line}'\n{}",
            o.describe()
        );
    }
    // Prediction from the files: RTMR0 = HOB, CFV, separator; RTMR1 = the payload ELF as
    // built (`example-payload.elf`, copied by `cargo xtask boot-test`), separator.
    let elf = std::fs::read(images_dir().join("example-payload.elf")).expect("read the payload");
    let sep = sha384(&[0, 0, 0, 0]);
    let mut r0 = [0u8; 48];
    extend(&mut r0, &sha384(&hob.bytes));
    extend(&mut r0, &sha384(&img[..0x40000]));
    extend(&mut r0, &sep);
    let mut r1 = [0u8; 48];
    extend(&mut r1, &sha384(&elf));
    extend(&mut r1, &sep);
    assert_eq!(emulated[0], hex(&r0), "rtmr0\n{}", o.describe());
    assert_eq!(emulated[1], hex(&r1), "rtmr1\n{}", o.describe());
    // The calculator, from the image and the TD HOB alone.
    let p = reference::predict(&reference::Inputs {
        platform: reference::Platform::Tdx,
        image: &img,
        vmm_memory: Some(&hob.bytes),
        fw_cfg_files: None,
        kernel: None,
        payload: None,
        cmdline: None,
        initrd: None,
    })
    .expect("the calculator predicts");
    for (i, e) in emulated.iter().enumerate() {
        let predicted = p.rtmr[i].map(|d| hex(&d));
        assert_eq!(predicted.as_deref(), Some(e.as_str()), "calculator rtmr{i}");
    }
}

#[test]
fn an_event_log_too_small_for_the_vmm_inputs_is_a_clean_refusal() {
    // 20 ACPI tables of 60,000 bytes from the VMM (QEMU -acpitable, at most 64 KiB each):
    // logging them would overflow the 1 MiB log area; the firmware must refuse to boot, not
    // truncate the log.
    let dir = images_dir().join("measured");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let big = dir.join("big-acpi.aml");
    let mut table = vec![0u8; 60_000];
    table[..4].copy_from_slice(b"XXXX");
    let len = table.len() as u32;
    table[4..8].copy_from_slice(&len.to_le_bytes());
    let sum = table.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    table[9] = 0u8.wrapping_sub(sum);
    std::fs::write(&big, &table).expect("write the table");
    let kernel_path = kernels_dir().join("vmlinuz-6.12");
    let mut run = measuring(Run::new(image("linux.bin")))
        .memory("1G")
        .timeout(Duration::from_secs(60))
        .stop_on("td-shim: ERROR");
    for _ in 0..20 {
        run = run
            .arg("-acpitable")
            .arg(&format!("file={}", path_str(&big)));
    }
    let o = run
        .arg("-kernel")
        .arg(path_str(&kernel_path))
        .run()
        .expect("qemu starts");
    assert!(
        o.find("td-shim: ERROR boot failed: measured boot: event log area full")
            .is_some(),
        "{}",
        o.describe()
    );
    assert!(o.find("Linux version").is_none(), "{}", o.describe());
}

// ---- A legacy VM measures only when asked (boot/measurer.rs) ----

#[test]
fn a_legacy_vm_measures_nothing_by_default_and_publishes_no_log() {
    let kernel_path = kernels_dir().join("vmlinuz-6.12");
    let o = Run::new(image("linux.bin"))
        .memory("1G")
        .timeout(BOOT_TIMEOUT)
        .stop_on("td-shim: ERROR")
        .arg("-kernel")
        .arg(path_str(&kernel_path))
        .arg("-initrd")
        .arg(path_str(&images_dir().join("initramfs.img")))
        .arg("-append")
        .arg("console=ttyS0")
        .run()
        .expect("qemu starts");
    assert!(o.find("TDSHIM-INIT-DONE").is_some(), "{}", o.describe());
    assert!(
        o.find("td-shim: INFO  measured boot: off in a legacy vm")
            .is_some(),
        "{}",
        o.describe()
    );
    assert!(o.find("event log at").is_none(), "{}", o.describe());
    // QEMU's tables reached the kernel; the CCEL did not.
    let (_, acpi) = o.find("TDSHIM-FACT acpi=").expect("acpi fact");
    assert!(acpi.contains("FACP") && acpi.contains("APIC"), "{acpi}");
    assert!(!acpi.contains("CCEL"), "{acpi}");
}

/// The example payload in a legacy VM with the switch at `value` (None: no switch).
fn example_with_switch(value: Option<&str>) -> Outcome {
    let mut run = Run::new(image("example.bin"))
        .memory("512M")
        .timeout(Duration::from_secs(60))
        .stop_on("td-shim: ERROR");
    if let Some(v) = value {
        run = switch(run, v);
    }
    run.run().expect("qemu starts")
}

#[test]
fn the_switch_turns_measuring_on_and_off_for_an_executable_payload() {
    for value in [None, Some("off"), Some("0")] {
        let o = example_with_switch(value);
        assert!(
            o.find("measured boot: off in a legacy vm").is_some(),
            "{value:?}\n{}",
            o.describe()
        );
        assert!(
            o.find("td-payload: event log: no ccel table in the payload hob")
                .is_some(),
            "{value:?}\n{}",
            o.describe()
        );
    }
    let o = example_with_switch(Some("on"));
    assert!(
        o.find("no rtmrs in a legacy vm, measurements go to the event log")
            .is_some(),
        "{}",
        o.describe()
    );
    // The VMM's e820, the CFV, the payload and the two separators.
    let (_, line) = o
        .find("td-payload: event log at")
        .expect("the payload found the log");
    assert!(line.ends_with(": 5 events"), "{line}");
}

#[test]
fn a_misspelt_switch_is_refused_not_ignored() {
    for value in ["yes", "ON", "on\n\n", "of"] {
        let o = example_with_switch(Some(value));
        assert!(
            o.find(r#"td-shim: ERROR boot failed: fw_cfg opt/td-shim/measured-boot must be "on" or "off" (or 1 or 0)"#)
                .is_some(),
            "{value:?}\n{}",
            o.describe()
        );
        assert!(o.find("td-payload").is_none(), "{}", o.describe());
    }
}

// ---- An uncompressed kernel (vmlinux) through QEMU's -kernel (loader/vmlinux.rs) ----

/// What `doc/measurement.md` says a vmlinux loaded by QEMU is measured as, built here from
/// binutils' view of the file (`readelf -lW`), not the firmware's parser: the 64-byte ELF
/// header and the program-header table, then every PT_LOAD with a non-zero memory size as
/// loaded (file bytes, zeros up to p_memsz), in program-header order. Also returns the lowest
/// physical address.
fn vmlinux_as_measured(path: &Path) -> (Vec<u8>, u64) {
    let out = Command::new("readelf")
        .args(["-lW", path_str(path)])
        .output()
        .expect("readelf runs (binutils)");
    assert!(out.status.success(), "readelf -lW failed");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let file = std::fs::read(path).expect("read the vmlinux");
    // "There are 5 program headers, starting at offset 64"
    let (count, offset) = text
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("There are ")?;
            let (n, rest) = rest.split_once(" program headers, starting at offset ")?;
            Some((n.parse::<usize>().ok()?, rest.trim().parse::<usize>().ok()?))
        })
        .expect("readelf names the program-header table");
    let mut bytes = file[..64].to_vec();
    bytes.extend_from_slice(&file[offset..offset + 56 * count]);
    let mut low = u64::MAX;
    let num = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex field");
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("LOAD "))
    {
        // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align
        let f: Vec<&str> = line.split_whitespace().collect();
        let (off, paddr, filesz, memsz) = (num(f[1]), num(f[3]), num(f[4]), num(f[5]));
        if memsz == 0 {
            continue;
        }
        low = low.min(paddr);
        bytes.extend_from_slice(&file[off as usize..(off + filesz) as usize]);
        bytes.resize(bytes.len() + (memsz - filesz) as usize, 0);
    }
    assert!(low != u64::MAX, "no LOAD lines in:\n{text}");
    (bytes, low)
}

#[test]
fn a_vmlinux_through_fw_cfg_boots_and_is_measured_as_loaded() {
    let vmlinux = kernels_dir().join("vmlinux-6.12");
    let cmdline = "console=ttyS0 tdshim-dump-ccel vmlinux-test";
    let (o, log) = boot_and_dump(
        measuring(Run::new(image("linux.bin")).memory("1G").smp(2)),
        Some(&vmlinux),
        cmdline,
        "vmlinux",
    );
    // Booted as an ELF kernel, through its 64-bit entry, to the initramfs with both CPUs.
    assert!(
        o.find("td-shim: INFO  linux: elf kernel (vmlinux) loaded by qemu at [0x1000000, ")
            .is_some(),
        "{}",
        o.describe()
    );
    assert!(
        o.find("TDSHIM-FACT cpus_online=0-1").is_some(),
        "{}",
        o.describe()
    );
    assert!(
        o.find(&format!("TDSHIM-FACT cmdline={cmdline}")).is_some(),
        "{}",
        o.describe()
    );
    let parsed = event_log::parse(&log).expect("the guest's CCEL log parses");
    let events = named(&parsed.events);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..5],
        [
            "etc/e820",
            "td_cfv",
            "td_payload",
            "td_payload_info",
            "td_initrd"
        ]
    );
    let (measured, low) = vmlinux_as_measured(&vmlinux);
    let k = find(&events, "td_payload");
    assert_eq!(k.mr_index, 2);
    assert_eq!(hex(&k.digest), hex(&sha384(&measured)));
    let (_, base, len) = event_log::parse_firmware_blob2(k.data).expect("blob2");
    assert_eq!((base, len), (low, measured.len() as u64));
    // The calculator predicts the same RTMR1 from the file (a legacy VM: what the log
    // replays to).
    let initrd = std::fs::read(images_dir().join("initramfs.img")).expect("read the initramfs");
    let file = std::fs::read(&vmlinux).expect("read the vmlinux");
    let img = std::fs::read(image("linux.bin")).expect("read the image");
    let vmm = reference::vmm_inputs_from_log(&parsed);
    let p = reference::predict(&reference::Inputs {
        platform: reference::Platform::Legacy,
        image: &img,
        vmm_memory: vmm.memory.as_deref(),
        fw_cfg_files: None,
        kernel: Some(&file),
        payload: None,
        cmdline: Some(cmdline.as_bytes()),
        initrd: Some(&initrd),
    })
    .expect("the calculator predicts");
    let replayed = event_log::replay(&parsed.events);
    assert_eq!(p.rtmr[1].map(|d| hex(&d)), Some(hex(&replayed[1])));
    tpm2_eventlog_parses(&log, parsed.end, "vmlinux");
}
