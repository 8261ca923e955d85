// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Integration tests for `td_shim_tools::reference` and `td-payload-reference-calculator`.
//! Synthetic images are built with the format builders (metadata, payload FV, HOB); every
//! expected digest and RTMR comes from `tests/rtmr_reference.py`, which hashes the files
//! with hashlib following doc/measurement.md (sha384sum of the kernel/initrd, the command
//! line without NUL, the section-padded Payload-section rule, the separator), not from the
//! Rust code. Then: one byte of kernel or command line moves RTMR1 (and only RTMR1), the
//! calculator and `td-shim-eventlog` agree on a log written from the prediction, and bad
//! inputs are errors.

use serde_json::{json, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use td_shim::format::event_log::Writer;
use td_shim::format::{fv, hob, metadata};
use td_shim_tools::reference::{self, BootPath, Error, Inputs, Platform};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rtmr_reference.py");
const CALC: &str = env!("CARGO_BIN_EXE_td-payload-reference-calculator");
const EVENTLOG: &str = env!("CARGO_BIN_EXE_td-shim-eventlog");

const IMAGE_SIZE: usize = 0x20000;
const BASE: u64 = (1 << 32) - IMAGE_SIZE as u64;
const CFV_LEN: usize = 0x1000;
const PAYLOAD_FV_AT: usize = 0x1000;
const PAYLOAD_FV_LEN: usize = 0x10000;
const MAIN_BFV_AT: usize = 0x11000;
const MD_AT: usize = 0x12000;
const HOB_GPA: u64 = 0x80_0000;
const PAYLOAD_GPA: u64 = 0x100_0000;
const PAYLOAD_SIZE: u64 = 0x10_0000;
const PARAM_GPA: u64 = 0xFF_F000;

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("td-shim-refcalc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sec(
    t: metadata::SectionType,
    off: usize,
    raw: usize,
    gpa: u64,
    size: u64,
    attr: u32,
) -> metadata::Section {
    metadata::Section {
        data_offset: off as u32,
        raw_data_size: raw as u32,
        memory_address: gpa,
        memory_data_size: size,
        section_type: t as u32,
        attributes: attr,
    }
}

/// What the image carries in its payload FV.
enum Fv<'a> {
    None,
    /// As our linker builds it: the PE32 section is exactly the ELF.
    Elf(&'a [u8]),
    /// Upstream's layout: the PE32 section spans the region (ELF, then zero padding).
    ElfPadded(&'a [u8]),
    Linux {
        kernel: &'a [u8],
        initrd: Option<&'a [u8]>,
        cmdline: Option<&'a [u8]>,
    },
}

/// A 128 KiB image: CFV at offset 0, an optional payload FV (in its own BFV), the main BFV
/// with the metadata ending at 4 GiB, a TD_HOB section and, with `payload_section`, the
/// Payload + PayloadParam sections.
fn image(payload: Fv<'_>, payload_section: bool) -> Vec<u8> {
    use metadata::SectionType as T;
    let mut img: Vec<u8> = (0..IMAGE_SIZE).map(|i| (i * 7 + 1) as u8).collect();
    let mut sections = vec![
        sec(T::Cfv, 0, CFV_LEN, BASE, CFV_LEN as u64, 0),
        sec(
            T::Bfv,
            MAIN_BFV_AT,
            IMAGE_SIZE - MAIN_BFV_AT,
            BASE + MAIN_BFV_AT as u64,
            (IMAGE_SIZE - MAIN_BFV_AT) as u64,
            1,
        ),
        sec(T::TdHob, 0, 0, HOB_GPA, 0x10000, 0),
    ];
    let fv_bytes = match payload {
        Fv::None => None,
        Fv::Elf(b) => Some(fv::build_payload_fv_with(b, &[], PAYLOAD_FV_LEN).unwrap()),
        Fv::ElfPadded(b) => Some(fv::build_payload_fv(b, PAYLOAD_FV_LEN).unwrap()),
        Fv::Linux {
            kernel,
            initrd,
            cmdline,
        } => {
            let mut extra: Vec<(td_shim::format::guid::Guid, &[u8])> = Vec::new();
            if let Some(i) = initrd {
                extra.push((fv::PAYLOAD_INITRD_FILE_NAME, i));
            }
            if let Some(c) = cmdline {
                extra.push((fv::PAYLOAD_CMDLINE_FILE_NAME, c));
            }
            Some(fv::build_payload_fv_with(kernel, &extra, PAYLOAD_FV_LEN).unwrap())
        }
    };
    if let Some(f) = fv_bytes {
        img[PAYLOAD_FV_AT..PAYLOAD_FV_AT + PAYLOAD_FV_LEN].copy_from_slice(&f);
        sections.push(sec(
            T::Bfv,
            PAYLOAD_FV_AT,
            PAYLOAD_FV_LEN,
            BASE + PAYLOAD_FV_AT as u64,
            PAYLOAD_FV_LEN as u64,
            1,
        ));
    }
    if payload_section {
        sections.push(sec(T::Payload, 0, 0, PAYLOAD_GPA, PAYLOAD_SIZE, 0));
        sections.push(sec(T::PayloadParam, 0, 0, PARAM_GPA, 0x1000, 0));
    }
    let md = metadata::build(&sections);
    img[MD_AT..MD_AT + md.len()].copy_from_slice(&md);
    metadata::write_tail_pointers(&mut img, MD_AT + 16).unwrap();
    metadata::parse_image(&img).expect("the synthetic image is valid");
    img
}

/// A bzImage that the loader accepts: 4 setup sectors, protocol 2.15, 64-bit, relocatable;
/// `heap_end_ptr` as given (Linux's build writes a non-zero one), `pm_len` kernel bytes.
fn bzimage(pm_len: usize, heap_end_ptr: u16, seed: u8) -> Vec<u8> {
    let mut k = vec![0u8; 5 * 512 + pm_len];
    k[0x1F1] = 4;
    k[0x1FE..0x200].copy_from_slice(&0xAA55u16.to_le_bytes());
    k[0x200..0x202].copy_from_slice(&[0xEB, 0x6A]); // header ends at 0x26C
    k[0x202..0x206].copy_from_slice(b"HdrS");
    k[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
    k[0x211] = 0x01; // LOADED_HIGH
    k[0x224..0x226].copy_from_slice(&heap_end_ptr.to_le_bytes());
    k[0x22C..0x230].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    k[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
    k[0x234] = 1;
    k[0x236..0x238].copy_from_slice(&1u16.to_le_bytes()); // XLF_KERNEL_64
    k[0x238..0x23C].copy_from_slice(&2047u32.to_le_bytes());
    k[0x258..0x260].copy_from_slice(&0x100_0000u64.to_le_bytes());
    k[0x260..0x264].copy_from_slice(&0x40_0000u32.to_le_bytes());
    for (i, b) in k[5 * 512..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
    k
}

/// A TD HOB for the image (PHIT, one RAM resource, End).
fn td_hob() -> Vec<u8> {
    let mut b = hob::Builder::new();
    b.resource(&hob::Resource {
        owner: td_shim::format::guid::Guid::from_fields(0, 0, 0, [0; 8]),
        resource_type: hob::RESOURCE_SYSTEM_MEMORY,
        attributes: hob::ATTR_PRESENT | hob::ATTR_INITIALIZED | hob::ATTR_TESTED,
        start: 0,
        length: 0x4000_0000,
    });
    let v = b.finish(HOB_GPA, 0, 0x4000_0000);
    hob::parse(&v, HOB_GPA).expect("builder output parses");
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs the Python reference on a spec of what each register gets.
fn python(spec: Value) -> Value {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the reference values");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn p(path: &Path) -> Value {
    Value::String(path.to_str().unwrap().into())
}

fn calc(args: &[&str]) -> Output {
    Command::new(CALC).args(args).output().unwrap()
}

fn calc_json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = calc(&a);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Checks the calculator's registers and per-register event digests against Python's.
fn assert_matches(got: &Value, want: &Value) {
    for r in ["rtmr0", "rtmr1"] {
        assert_eq!(got[r], want[r], "{r}");
        let idx: u64 = if r == "rtmr0" { 1 } else { 2 };
        let digests: Vec<&Value> = got["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["mr_index"] == idx)
            .map(|e| &e["digest"])
            .collect();
        let want_d: Vec<&Value> = want["digests"][r].as_array().unwrap().iter().collect();
        assert_eq!(digests, want_d, "{r} event digests");
    }
    assert_eq!(got["rtmr2"], "00".repeat(48));
    assert_eq!(got["rtmr3"], "00".repeat(48));
}

#[test]
fn linux_fw_cfg_path_matches_sha384sum_of_the_files() {
    let dir = tmp_dir("fwcfg");
    let img = write(&dir, "img.bin", &image(Fv::None, false));
    let kernel_bytes = bzimage(0x3000, 0, 5);
    let kernel = write(&dir, "bzImage", &kernel_bytes);
    let initrd = write(
        &dir,
        "initrd",
        &(0..0x2345u32).map(|i| (i * 3) as u8).collect::<Vec<_>>(),
    );
    let mut hob_file = td_hob();
    let hob_len = hob_file.len();
    hob_file.extend_from_slice(&[0u8; 64]); // the section runs on past End: not measured
    let hob_path = write(&dir, "hob.bin", &hob_file);
    let acpi = write(&dir, "tables", b"RSDT fake acpi tables");
    let loader = write(&dir, "loader", b"fake table-loader script");
    let cmdline = "console=ttyS0 root=/dev/vda";

    let got = calc_json(&[
        "--image",
        s(&img),
        "--kernel",
        s(&kernel),
        "--cmdline",
        cmdline,
        "--initrd",
        s(&initrd),
        "--td-hob",
        s(&hob_path),
        "--fw-cfg-file",
        &format!("etc/table-loader={}", s(&loader)),
        "--fw-cfg-file",
        &format!("etc/acpi/tables={}", s(&acpi)),
    ]);
    let want = python(json!({
        "rtmr0": [["slice", p(&hob_path), 0, hob_len], ["slice", p(&img), 0, CFV_LEN],
                  ["file", p(&loader)], ["file", p(&acpi)], ["separator"]],
        "rtmr1": [["kernel", p(&kernel)], ["text", cmdline], ["file", p(&initrd)], ["separator"]],
    }));
    assert_matches(&got, &want);
    assert_eq!(got["path"], "linux-fw-cfg");
    // With heap_end_ptr = 0 (as the loader-field rule assumes), the kernel digest is plain
    // sha384sum of the file.
    let plain = python(json!({"rtmr1": [["file", p(&kernel)]]}));
    assert_eq!(got["events"][2]["digest"], plain["digests"]["rtmr1"][0]);
    // The log order: hob, cfv, kernel, cmdline, initrd, acpi files, separators.
    let order: Vec<String> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["descriptor"]
                .as_str()
                .or(e["blob"]["description"].as_str())
                .unwrap_or(e["type"].as_str().unwrap())
                .to_string()
        })
        .collect();
    assert_eq!(
        order,
        [
            "td_hob",
            "td_cfv",
            "td_payload",
            "td_payload_info",
            "td_initrd",
            "etc/table-loader",
            "etc/acpi/tables",
            "EV_SEPARATOR",
            "EV_SEPARATOR"
        ]
    );
    assert_eq!(got["events"][2]["blob"]["base"], Value::Null);
    assert_eq!(got["events"][2]["base_known"], false);
    assert_eq!(got["events"][1]["base_known"], true);

    // A Linux-built kernel carries a non-zero heap_end_ptr, which QEMU overwrites: the
    // digest is that of the file with the loader fields reset (python's "kernel" rule).
    let k2 = write(&dir, "bzImage2", &bzimage(0x3000, 0x5C00, 5));
    let got2 = calc_json(&["--image", s(&img), "--kernel", s(&k2), "--no-fw-cfg-acpi"]);
    let want2 = python(json!({"rtmr1": [["kernel", p(&k2)], ["text", ""], ["separator"]]}));
    assert_eq!(got2["rtmr1"], want2["rtmr1"]);
    let plain2 = python(json!({"rtmr1": [["file", p(&k2)]]}));
    assert_ne!(got2["events"][1]["digest"], plain2["digests"]["rtmr1"][0]);
}

#[test]
fn one_byte_of_kernel_or_cmdline_moves_rtmr1_only() {
    let dir = tmp_dir("moves");
    let img = write(&dir, "img.bin", &image(Fv::None, false));
    let hob_path = write(&dir, "hob.bin", &td_hob());
    let k = bzimage(0x2000, 0, 9);
    let mut k_changed = k.clone();
    k_changed[5 * 512 + 0x1234] ^= 1;
    let kernel = write(&dir, "k", &k);
    let kernel2 = write(&dir, "k2", &k_changed);
    let run = |kernel: &Path, cmdline: &str| {
        calc_json(&[
            "--image",
            s(&img),
            "--kernel",
            s(kernel),
            "--cmdline",
            cmdline,
            "--td-hob",
            s(&hob_path),
            "--no-fw-cfg-acpi",
        ])
    };
    let base = run(&kernel, "quiet");
    let k_moved = run(&kernel2, "quiet");
    let c_moved = run(&kernel, "quieT");
    assert_eq!(base["rtmr0"], k_moved["rtmr0"]);
    assert_eq!(base["rtmr0"], c_moved["rtmr0"]);
    assert_ne!(base["rtmr1"], k_moved["rtmr1"]);
    assert_ne!(base["rtmr1"], c_moved["rtmr1"]);
    assert_ne!(k_moved["rtmr1"], c_moved["rtmr1"]);
    // And each moved value is the independently computed one.
    for (got, kfile, line) in [(&k_moved, &kernel2, "quiet"), (&c_moved, &kernel, "quieT")] {
        let want = python(json!({
            "rtmr1": [["file", p(kfile)], ["text", line], ["separator"]],
        }));
        assert_eq!(got["rtmr1"], want["rtmr1"]);
    }
}

#[test]
fn elf_embedded_and_legacy() {
    let dir = tmp_dir("elf");
    let elf: Vec<u8> = b"\x7fELF"
        .iter()
        .copied()
        .chain((0..5000u32).map(|i| i as u8))
        .collect();
    let elf_path = write(&dir, "payload.elf", &elf);
    let img_bytes = image(Fv::Elf(&elf), false);
    let img = write(&dir, "img.bin", &img_bytes);
    let hob_path = write(&dir, "hob.bin", &td_hob());
    let got = calc_json(&["--image", s(&img), "--td-hob", s(&hob_path)]);
    let want = python(json!({
        "rtmr0": [["file", p(&hob_path)], ["slice", p(&img), 0, CFV_LEN], ["separator"]],
        "rtmr1": [["file", p(&elf_path)], ["separator"]],
    }));
    assert_matches(&got, &want);
    assert_eq!(got["path"], "elf-embedded");
    // The payload's GPA is where the image maps the ELF inside the payload FV.
    let blob = &got["events"][2]["blob"];
    assert_eq!(blob["length"], elf.len());
    let gpa =
        u64::from_str_radix(blob["base"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let off = (gpa - BASE) as usize;
    assert_eq!(&img_bytes[off..off + elf.len()], &elf[..]);

    // Upstream's padded payload FV: the firmware measures the whole PE32 section (ELF and
    // its zero padding), so does the calculator.
    let padded_img = write(&dir, "padded.bin", &image(Fv::ElfPadded(&elf), false));
    let got = calc_json(&["--image", s(&padded_img), "--td-hob", s(&hob_path)]);
    let len = got["events"][2]["blob"]["length"].as_u64().unwrap();
    assert!(len > elf.len() as u64 && len < PAYLOAD_FV_LEN as u64);
    let want = python(json!({
        "rtmr0": [["file", p(&hob_path)], ["slice", p(&padded_img), 0, CFV_LEN], ["separator"]],
        "rtmr1": [["padded", p(&elf_path), len], ["separator"]],
    }));
    assert_matches(&got, &want);

    // Legacy VM: fw_cfg etc/e820 instead of the HOB (two 20-byte entries).
    let mut e820 = Vec::new();
    for (addr, size, kind) in [(0u64, 0x9_F000u64, 1u32), (0x10_0000, 0x3FF0_0000, 1)] {
        e820.extend_from_slice(&addr.to_le_bytes());
        e820.extend_from_slice(&size.to_le_bytes());
        e820.extend_from_slice(&kind.to_le_bytes());
    }
    let e820_path = write(&dir, "e820", &e820);
    let got = calc_json(&[
        "--image",
        s(&img),
        "--platform",
        "legacy",
        "--e820",
        s(&e820_path),
    ]);
    let want = python(json!({
        "rtmr0": [["file", p(&e820_path)], ["slice", p(&img), 0, CFV_LEN], ["separator"]],
        "rtmr1": [["file", p(&elf_path)], ["separator"]],
    }));
    assert_matches(&got, &want);
    assert_eq!(got["platform"], "legacy");
    assert_eq!(got["events"][0]["descriptor"], "etc/e820");
}

#[test]
fn linux_embedded_and_payload_section() {
    let dir = tmp_dir("linux");
    let k = bzimage(0x1800, 0x5C00, 3);
    let kernel = write(&dir, "k", &k);
    let initrd: Vec<u8> = (0..777u32).map(|i| (i ^ 0x5A) as u8).collect();
    let initrd_path = write(&dir, "initrd", &initrd);
    let hob_path = write(&dir, "hob.bin", &td_hob());
    // Embedded: the kernel file exactly (sha384sum, no loader-field reset), embedded cmdline.
    let img = write(
        &dir,
        "emb.bin",
        &image(
            Fv::Linux {
                kernel: &k,
                initrd: Some(&initrd),
                cmdline: Some(b"console=hvc0"),
            },
            false,
        ),
    );
    let got = calc_json(&[
        "--image",
        s(&img),
        "--td-hob",
        s(&hob_path),
        "--no-fw-cfg-acpi",
    ]);
    let want = python(json!({
        "rtmr0": [["file", p(&hob_path)], ["slice", p(&img), 0, CFV_LEN], ["separator"]],
        "rtmr1": [["file", p(&kernel)], ["text", "console=hvc0"], ["file", p(&initrd_path)], ["separator"]],
    }));
    assert_matches(&got, &want);
    assert_eq!(got["path"], "linux-embedded");

    // Payload section: kernel zero-padded to the section, command line + NUL padded to 4 KiB.
    let img = write(&dir, "ps.bin", &image(Fv::None, true));
    let cmd_blob = write(&dir, "cmdline.blob", b"console=ttyS0\0");
    let got = calc_json(&[
        "--image",
        s(&img),
        "--payload",
        s(&kernel),
        "--cmdline",
        "console=ttyS0",
        "--td-hob",
        s(&hob_path),
        "--no-fw-cfg-acpi",
    ]);
    let want = python(json!({
        "rtmr0": [["file", p(&hob_path)], ["slice", p(&img), 0, CFV_LEN], ["separator"]],
        "rtmr1": [["padded", p(&kernel), PAYLOAD_SIZE], ["padded", p(&cmd_blob), 4096], ["separator"]],
    }));
    assert_matches(&got, &want);
    assert_eq!(got["path"], "linux-payload-section");
    assert_eq!(
        got["events"][2]["blob"]["base"],
        format!("{PAYLOAD_GPA:#x}")
    );
}

#[test]
fn unknown_vmm_inputs_leave_rtmr0_unpredicted() {
    let dir = tmp_dir("unknown");
    let img = write(&dir, "img.bin", &image(Fv::None, false));
    let kernel = write(&dir, "k", &bzimage(0x1000, 0, 1));
    let hob_path = write(&dir, "hob.bin", &td_hob());
    let v = calc_json(&["--image", s(&img), "--kernel", s(&kernel)]);
    assert_eq!(v["rtmr0"], Value::Null);
    assert!(v["rtmr1"].is_string());
    assert_eq!(v["notes"].as_array().unwrap().len(), 3, "{}", v["notes"]);
    // HOB known but the ACPI files not: still unknown.
    let v = calc_json(&[
        "--image",
        s(&img),
        "--kernel",
        s(&kernel),
        "--td-hob",
        s(&hob_path),
    ]);
    assert_eq!(v["rtmr0"], Value::Null);
    // Text output says so.
    let o = calc(&["--image", s(&img), "--kernel", s(&kernel)]);
    assert!(String::from_utf8(o.stdout)
        .unwrap()
        .contains("rtmr0 (not predicted)"));
}

/// Writes the predicted events as a log with the library writer, as the firmware would.
fn log_from(pred: &reference::Prediction) -> Vec<u8> {
    let mut area = vec![0u8; 0x10000];
    let mut w = Writer::new(&mut area).unwrap();
    for e in &pred.events {
        w.append(
            e.event.mr_index,
            e.event.event_type,
            &e.event.digest,
            &e.event.data,
        )
        .unwrap();
    }
    area
}

#[test]
fn calculator_and_eventlog_tool_agree() {
    let dir = tmp_dir("agree");
    let img_bytes = image(Fv::None, false);
    let img = write(&dir, "img.bin", &img_bytes);
    let k = bzimage(0x1000, 0, 4);
    let kernel = write(&dir, "k", &k);
    let hob_bytes = td_hob();
    let inputs = Inputs {
        platform: Platform::Tdx,
        image: &img_bytes,
        vmm_memory: Some(&hob_bytes),
        fw_cfg_files: Some(vec![("etc/table-loader".into(), b"script".as_slice())]),
        kernel: Some(&k),
        payload: None,
        cmdline: Some(b"quiet"),
        initrd: None,
    };
    let pred = reference::predict(&inputs).unwrap();
    assert_eq!(pred.path, BootPath::LinuxFwCfg);
    let log = write(&dir, "ccel.bin", &log_from(&pred));
    let reference = write(&dir, "ref.json", pred.to_json().to_string().as_bytes());
    let o = Command::new(EVENTLOG)
        .arg(&log)
        .arg("--reference")
        .arg(&reference)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // --vmm-inputs-from-log: the HOB and ACPI files come from the log, the rest from files:
    // same prediction.
    let v = calc_json(&[
        "--image",
        s(&img),
        "--kernel",
        s(&kernel),
        "--cmdline",
        "quiet",
        "--vmm-inputs-from-log",
        s(&log),
    ]);
    assert_eq!(v, pred.to_json());
    // A guest that booted another cmdline: RTMR1 differs, the tool says where.
    let v = calc_json(&[
        "--image",
        s(&img),
        "--kernel",
        s(&kernel),
        "--cmdline",
        "quiet2",
        "--vmm-inputs-from-log",
        s(&log),
    ]);
    let other = write(&dir, "ref2.json", v.to_string().as_bytes());
    let o = Command::new(EVENTLOG)
        .arg(&log)
        .arg("--reference")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("rtmr1: event 1 of this register differs: log has \"td_payload_info\""),
        "{text}"
    );
    assert!(String::from_utf8(o.stderr).unwrap().contains("rtmr1"));
}

#[test]
fn bad_inputs_are_errors() {
    let dir = tmp_dir("bad");
    let elf: Vec<u8> = b"\x7fELF-payload".to_vec();
    let elf_img = image(Fv::Elf(&elf), false);
    let plain_img = image(Fv::None, false);
    let ps_img = image(Fv::None, true);
    let k = bzimage(0x1000, 0, 2);
    let hob_bytes = td_hob();
    let base = Inputs {
        platform: Platform::Tdx,
        image: &plain_img,
        vmm_memory: Some(&hob_bytes),
        fw_cfg_files: Some(vec![]),
        kernel: None,
        payload: None,
        cmdline: None,
        initrd: None,
    };
    let err = |i: &Inputs<'_>| reference::predict(i).unwrap_err();
    assert_eq!(err(&base), Error::NoPayload);
    assert!(matches!(
        err(&Inputs {
            image: &elf_img,
            kernel: Some(&k),
            ..base.clone()
        }),
        Error::Unused {
            what: "--kernel",
            path: BootPath::ElfEmbedded
        }
    ));
    assert!(matches!(
        err(&Inputs {
            image: &elf_img,
            cmdline: Some(b"x"),
            ..base.clone()
        }),
        Error::Unused {
            what: "--cmdline",
            ..
        }
    ));
    assert!(matches!(
        err(&Inputs {
            image: &ps_img,
            payload: Some(&k),
            initrd: Some(b"i"),
            ..base.clone()
        }),
        Error::Unused {
            what: "--initrd",
            ..
        }
    ));
    assert_eq!(
        err(&Inputs {
            payload: Some(&k),
            ..base.clone()
        }),
        Error::NoPayloadSection
    );
    assert_eq!(
        err(&Inputs {
            kernel: Some(&k),
            payload: Some(&k),
            ..base.clone()
        }),
        Error::TwoKernels
    );
    assert_eq!(
        err(&Inputs {
            kernel: Some(&k),
            cmdline: Some(b"a\0b"),
            ..base.clone()
        }),
        Error::CmdlineHasNul
    );
    assert!(matches!(
        err(&Inputs {
            kernel: Some(b"not a kernel"),
            ..base.clone()
        }),
        Error::NotAKernel {
            what: "--kernel",
            ..
        }
    ));
    let long = vec![b'x'; 4096];
    assert!(matches!(
        err(&Inputs {
            image: &ps_img,
            payload: Some(&k),
            cmdline: Some(&long),
            ..base.clone()
        }),
        Error::TooLarge {
            what: "the command line",
            size: 4097,
            region: 4096
        }
    ));
    let mut big = bzimage(PAYLOAD_SIZE as usize, 0, 1);
    big.truncate(PAYLOAD_SIZE as usize + 1);
    assert!(matches!(
        err(&Inputs {
            image: &ps_img,
            payload: Some(&big),
            ..base.clone()
        }),
        Error::TooLarge {
            what: "the payload",
            ..
        }
    ));
    // Hostile HOBs: truncated, garbage.
    for bad in [
        &hob_bytes[..hob_bytes.len() - 1],
        &[0xFFu8; 64][..],
        &[][..],
    ] {
        assert!(matches!(
            err(&Inputs {
                kernel: Some(&k),
                vmm_memory: Some(bad),
                ..base.clone()
            }),
            Error::Hob(_)
        ));
    }
    // Hostile image.
    let mut broken = plain_img.clone();
    broken[MD_AT + 16] ^= 0xFF;
    assert!(matches!(
        err(&Inputs {
            image: &broken,
            kernel: Some(&k),
            ..base.clone()
        }),
        Error::Metadata(_)
    ));
    assert!(matches!(
        err(&Inputs {
            image: &plain_img[..0x1000],
            kernel: Some(&k),
            ..base.clone()
        }),
        Error::Metadata(_)
    ));

    // CLI: one error line, exit 2.
    let img = write(&dir, "img.bin", &plain_img);
    let e = write(&dir, "e820", &[0u8; 20]);
    for (args, needle) in [
        (vec!["--image", s(&img)], "no payload"),
        (
            vec!["--image", s(&img), "--e820", s(&e)],
            "--e820 is for --platform legacy",
        ),
        (
            vec!["--image", s(&img), "--fw-cfg-file", "noequals"],
            "expected NAME=FILE",
        ),
        (vec!["--image", "/nonexistent/img"], "cannot open"),
    ] {
        let o = calc(&args);
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{needle}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let o = calc(&["--help"]);
    let help = String::from_utf8(o.stdout).unwrap();
    for w in [
        "--vmm-inputs-from-log",
        "--td-hob",
        "sha384sum",
        "RTMR2/3 stay zero",
    ] {
        assert!(help.contains(w), "{w}");
    }
}
