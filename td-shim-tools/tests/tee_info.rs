// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Integration tests for `td_shim_tools::tee_info` and `td-shim-tee-info-hash`. The synthetic
//! images and every expected MRTD / TEE_INFO_HASH come from `tests/mrtd_reference.py`, an
//! independent Python implementation of measurement.md §6-§7 (hashlib, its own metadata
//! writer), run through `python3`; nothing expected is copied from the Rust code's output.
//! Then hostile images, payloads and manifests must give errors, not panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use td_shim_tools::tee_info::{self, Error, PageOrder, Report, TdParams};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mrtd_reference.py");
const TOOL: &str = env!("CARGO_BIN_EXE_td-shim-tee-info-hash");
const DESC: usize = 0x3A10; // descriptor offset the script uses

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("td-shim-tee-info-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn python(args: &[&str]) -> serde_json::Value {
    let o = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("python3 is needed for the reference values");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

struct Synth {
    image: Vec<u8>,
    image_path: PathBuf,
    payload: Option<Vec<u8>>,
    payload_path: Option<PathBuf>,
    interleaved: String,
    add_first: String,
}

/// Variant "a" (payload raw data inside the image) or "b" (VMM-loaded payload file).
fn synth(dir: &Path, with_payload_file: bool) -> Synth {
    let image_path = dir.join(if with_payload_file { "b.bin" } else { "a.bin" });
    let payload_path = with_payload_file.then(|| dir.join("b.payload"));
    let mut args = vec!["synth", image_path.to_str().unwrap()];
    if let Some(p) = &payload_path {
        args.push(p.to_str().unwrap());
    }
    let v = python(&args);
    assert_eq!(v["descriptor_offset"], DESC);
    Synth {
        image: std::fs::read(&image_path).unwrap(),
        payload: payload_path.as_ref().map(|p| std::fs::read(p).unwrap()),
        image_path,
        payload_path,
        interleaved: v["interleaved"].as_str().unwrap().to_string(),
        add_first: v["add_first"].as_str().unwrap().to_string(),
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn mrtd_hex(image: &[u8], payload: Option<&[u8]>, order: PageOrder) -> String {
    hex(&tee_info::mrtd(image, payload, order).unwrap())
}

#[test]
fn mrtd_matches_independent_reference_in_both_orders() {
    let dir = tmp_dir("orders");
    for with_payload in [false, true] {
        let s = synth(&dir, with_payload);
        let p = s.payload.as_deref();
        assert_eq!(mrtd_hex(&s.image, p, PageOrder::Interleaved), s.interleaved);
        assert_eq!(mrtd_hex(&s.image, p, PageOrder::AddFirst), s.add_first);
        assert_ne!(s.interleaved, s.add_first, "the two VMM orders must differ");
    }
}

#[test]
fn mrtd_covers_exactly_what_the_spec_says() {
    let dir = tmp_dir("coverage");
    let s = synth(&dir, false);
    let base = mrtd_hex(&s.image, None, PageOrder::Interleaved);
    let flip = |at: usize| {
        let mut b = s.image.clone();
        b[at] ^= 0x5A;
        mrtd_hex(&b, None, PageOrder::Interleaved)
    };
    // BFV raw data [0x1000, 0x3000) and Payload raw data [0x3000, 0x3800) are extended.
    assert_ne!(flip(0x1000), base);
    assert_ne!(flip(0x2FFF), base);
    assert_ne!(flip(0x3000), base);
    assert_ne!(flip(0x37FF), base);
    // CFV [0, 0x1000) is only PAGE.ADDed; [0x3800, 0x3A00) belongs to no section.
    assert_eq!(flip(0x0), base);
    assert_eq!(flip(0xFFF), base);
    assert_eq!(flip(0x3800), base);
    assert_eq!(flip(0x39FF), base);
    // Moving the TD_HOB by one page moves MRTD (its GPA is measured, not its contents).
    let mut b = s.image.clone();
    let hob_addr = DESC + 16 + 32 * 2 + 8;
    b[hob_addr..hob_addr + 8].copy_from_slice(&0x30_1000u64.to_le_bytes());
    assert_ne!(mrtd_hex(&b, None, PageOrder::Interleaved), base);
}

#[test]
fn vmm_loaded_payload() {
    let dir = tmp_dir("payload");
    let a = synth(&dir, false);
    let b = synth(&dir, true);
    let payload = b.payload.clone().unwrap();
    // Without the payload contents MRTD is unknowable.
    assert_eq!(
        tee_info::mrtd(&b.image, None, PageOrder::Interleaved),
        Err(Error::PayloadContentsNeeded { index: 5 })
    );
    // One byte of the payload moves MRTD.
    let mut p2 = payload.clone();
    p2[0x1000] ^= 1;
    assert_ne!(
        mrtd_hex(&b.image, Some(&p2), PageOrder::Interleaved),
        b.interleaved
    );
    // Larger than the 0x2000-byte section.
    let big = vec![0u8; 0x2001];
    assert_eq!(
        tee_info::mrtd(&b.image, Some(&big), PageOrder::Interleaved),
        Err(Error::PayloadTooLarge {
            size: 0x2001,
            region: 0x2000
        })
    );
    // Exactly the section size is fine.
    assert!(tee_info::mrtd(&b.image, Some(&big[1..]), PageOrder::AddFirst).is_ok());
    // A payload for an image that does not measure one is refused, not ignored.
    assert_eq!(
        tee_info::mrtd(&a.image, Some(&payload), PageOrder::Interleaved),
        Err(Error::PayloadNotMeasured)
    );
}

#[test]
fn hostile_images_are_errors() {
    let dir = tmp_dir("hostile");
    let s = synth(&dir, false);
    let img = &s.image;
    let is_md_err = |b: &[u8]| {
        matches!(
            tee_info::mrtd(b, None, PageOrder::Interleaved),
            Err(Error::Metadata(_))
        )
    };
    // Every truncation (the tail pointers sit at the end) and a few cuts from the front.
    for cut in (0..img.len()).step_by(7).chain([img.len() - 1]) {
        assert!(is_md_err(&img[..cut]), "prefix {cut}");
    }
    // Cutting the front keeps the OVMF table (relative to the end) but pushes raw data
    // beyond the shorter image. (A one-byte cut is a valid-looking different image.)
    for cut in [0x900, 0x1000, 0x3A00] {
        assert!(is_md_err(&img[cut..]), "suffix {cut}");
    }
    let patch = |at: usize, bytes: &[u8]| {
        let mut b = img.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    let sec = |i: usize, field: usize| DESC + 16 + 32 * i + field;
    for (what, b) in [
        ("signature", patch(DESC, b"TDVX")),
        ("version", patch(DESC + 8, &2u32.to_le_bytes())),
        ("length", patch(DESC + 4, &17u32.to_le_bytes())),
        ("count", patch(DESC + 12, &0xFFFF_FFFFu32.to_le_bytes())),
        ("raw outside", patch(sec(0, 4), &0x3_0000u32.to_le_bytes())),
        ("type", patch(sec(3, 24), &9u32.to_le_bytes())),
        ("attributes", patch(sec(1, 28), &1u32.to_le_bytes())),
        ("misaligned", patch(sec(2, 8), &0x30_0800u64.to_le_bytes())),
        (
            "wrap",
            patch(sec(3, 8), &0xFFFF_FFFF_FFFF_F000u64.to_le_bytes()),
        ),
        ("overlap", patch(sec(3, 8), &0x30_1000u64.to_le_bytes())),
        (
            "ovmf back-offset",
            patch(img.len() - 0x48, &u32::MAX.to_le_bytes()),
        ),
    ] {
        assert!(is_md_err(&b), "{what}");
    }
    // A huge MemoryDataSize is refused by validation (wraps) rather than hashed for ages.
    let b = patch(sec(3, 16), &0xFFFF_FFFF_FFFF_0000u64.to_le_bytes());
    assert!(is_md_err(&b));
    // A huge TempMem that does not wrap passes validation but is refused by the size cap
    // (a VMM would not build it; hashing it would take hours).
    let b = patch(sec(3, 8), &0x1_0000_0000_0000u64.to_le_bytes());
    let b = {
        let mut b = b;
        b[sec(3, 16)..sec(3, 16) + 8].copy_from_slice(&0x1000_0000_0000u64.to_le_bytes());
        b
    };
    assert!(matches!(
        tee_info::mrtd(&b, None, PageOrder::Interleaved),
        Err(Error::TooMuchMemory {
            what: "page.add",
            ..
        })
    ));
    // The same size as PermMem (PAGE.AUG) is not hashed at all, so it is accepted.
    let mut b = b;
    b[sec(3, 24)..sec(3, 32)].copy_from_slice(&[4, 0, 0, 0, 2, 0, 0, 0]);
    assert!(tee_info::mrtd(&b, None, PageOrder::Interleaved).is_ok());
}

#[test]
fn tee_info_hash_matches_reference() {
    let dir = tmp_dir("teeinfo");
    let s = synth(&dir, false);
    let reg = |seed: u8| -> String { (0..48u8).map(|i| format!("{:02x}", i ^ seed)).collect() };
    let manifest = serde_json::json!({
        "attributes": "0x0000000010000000",
        "xfam": "00000000000602e7",
        "mrconfigid": reg(0x10),
        "mrowner": format!("0x{}", reg(0x20)),
        "mrownerconfig": reg(0x30).to_uppercase(),
        "rtmr0": reg(0x40),
        "rtmr1": reg(0x50),
        "rtmr2": reg(0x60),
        "rtmr3": reg(0x70),
        "servtd_hash": reg(0x80),
    });
    let mpath = dir.join("manifest.json");
    std::fs::write(&mpath, manifest.to_string()).unwrap();
    let want = python(&["tdinfo", &s.interleaved, mpath.to_str().unwrap()]);

    let params = tee_info::parse_manifest(&manifest.to_string()).unwrap();
    let r = Report::compute(&s.image, None, PageOrder::Interleaved, params).unwrap();
    assert_eq!(hex(&r.tdinfo.to_bytes()), want["tdinfo"].as_str().unwrap());
    assert_eq!(
        hex(&r.tee_info_hash),
        want["tee_info_hash"].as_str().unwrap()
    );

    // Through the binary, --json.
    let o = Command::new(TOOL)
        .arg(&s.image_path)
        .arg("--manifest")
        .arg(&mpath)
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mrtd"], s.interleaved.as_str());
    assert_eq!(v["tee_info_hash"], want["tee_info_hash"]);
    assert_eq!(v["tdinfo_bytes"], want["tdinfo"]);
    assert_eq!(v["page_order"], "interleaved");
    assert_eq!(v["tdinfo"]["xfam"], "00000000000602e7");
    assert_eq!(v["tdinfo"]["attributes"], "0000000010000000");
    assert_eq!(v["tdinfo"]["mrownerconfig"], reg(0x30).as_str());

    // Without a manifest: every field but MRTD is zero.
    let zero = dir.join("zero.json");
    std::fs::write(&zero, "{}").unwrap();
    let want0 = python(&["tdinfo", &s.add_first, zero.to_str().unwrap()]);
    let r0 = Report::compute(&s.image, None, PageOrder::AddFirst, TdParams::default()).unwrap();
    assert_eq!(
        hex(&r0.tee_info_hash),
        want0["tee_info_hash"].as_str().unwrap()
    );
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(TOOL).args(args).output().unwrap()
}

#[test]
fn cli_orders_errors_and_help() {
    let dir = tmp_dir("cli");
    let a = synth(&dir, false);
    let b = synth(&dir, true);
    let img = a.image_path.as_os_str();
    for (order, want) in [("interleaved", &a.interleaved), ("add-first", &a.add_first)] {
        let o = run(&[
            img,
            "--page-order".as_ref(),
            order.as_ref(),
            "--json".as_ref(),
        ]);
        assert!(o.status.success());
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["mrtd"], want.as_str(), "{order}");
        assert_eq!(v["page_order"], order);
    }
    // Text output names MRTD on its own line.
    let o = run(&[img]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains(&format!("mrtd:          {}\n", a.interleaved)));
    // The VMM-loaded payload variant through --payload.
    let o = run(&[
        b.image_path.as_os_str(),
        "--payload".as_ref(),
        b.payload_path.as_ref().unwrap().as_os_str(),
        "--json".as_ref(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mrtd"], b.interleaved.as_str());

    // Errors: one "error:" line naming the problem, exit status 2.
    let bad_sig = dir.join("badsig.bin");
    let mut bytes = a.image.clone();
    bytes[DESC] = b'X';
    std::fs::write(&bad_sig, &bytes).unwrap();
    let unknown = dir.join("unknown.json");
    std::fs::write(&unknown, r#"{"xfam":"0xe7","rtmr4":"00"}"#).unwrap();
    let badhex = dir.join("badhex.json");
    std::fs::write(&badhex, r#"{"mrowner":"0x1234"}"#).unwrap();
    for (args, needle) in [
        (vec![bad_sig.as_os_str()], "signature"),
        (vec![dir.join("missing.bin").as_os_str()], "cannot open"),
        (vec![b.image_path.as_os_str()], "--payload"),
        (
            vec![img, "--manifest".as_ref(), unknown.as_os_str()],
            "\"rtmr4\"",
        ),
        (
            vec![img, "--manifest".as_ref(), badhex.as_os_str()],
            "\"mrowner\"",
        ),
    ] {
        let o = run(&args);
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(needle), "{needle} not in {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(o.stdout.is_empty());
    }
    let o = run(&["--help".as_ref()]);
    let help = String::from_utf8(o.stdout).unwrap();
    for word in ["MANIFEST FORMAT", "servtd_hash", "add-first", "--payload"] {
        assert!(help.contains(word), "{word}");
    }
}
