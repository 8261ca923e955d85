// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Integration tests for `td_shim_tools::eventlog` and `td-shim-eventlog`. The logs and the
//! expected replay come from `tests/eventlog_reference.py`, an independent writer built from
//! the spec tables (measurement.md §2, §5) with hashlib; hostile logs are made by patching
//! its output at the record offsets it reports. Nothing expected is taken from the Rust code.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use td_shim_tools::eventlog::{self, Check, Expected};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/eventlog_reference.py");
const TOOL: &str = env!("CARGO_BIN_EXE_td-shim-eventlog");

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("td-shim-eventlog-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Sample {
    path: PathBuf,
    bytes: Vec<u8>,
    want: Value,
    offsets: Vec<usize>,
    end: usize,
}

fn sample(dir: &Path, fill: usize) -> Sample {
    let path = dir.join(format!("log-{fill}.bin"));
    let o = Command::new("python3")
        .arg(SCRIPT)
        .arg("write")
        .arg(&path)
        .arg(fill.to_string())
        .output()
        .expect("python3 is needed for the reference values");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want: Value = serde_json::from_slice(&o.stdout).unwrap();
    let offsets = want["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    Sample {
        bytes: std::fs::read(&path).unwrap(),
        path,
        end: want["end"].as_u64().unwrap() as usize,
        want,
        offsets,
    }
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(TOOL).args(args).output().unwrap()
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn replay_matches_the_independent_writer() {
    let dir = tmp_dir("replay");
    for fill in [0, 4096] {
        let s = sample(&dir, fill);
        let r = eventlog::analyse(&s.bytes, &Expected::default()).unwrap();
        assert_eq!(r.log.events.len(), 8);
        assert_eq!(r.log.end, s.end);
        assert_eq!(r.trailing, fill);
        assert_eq!(r.trailing_non_fill, 0);
        for i in 0..4 {
            assert_eq!(
                hex(&r.rtmr[i]),
                s.want[format!("rtmr{i}")],
                "rtmr{i} fill {fill}"
            );
        }
        for (e, off) in r.log.events.iter().zip(&s.offsets) {
            assert_eq!(e.offset, *off);
        }
        assert!(r.checks.iter().all(|c| *c == Check::NotGiven));
    }
}

#[test]
fn cli_prints_decoded_events_and_json() {
    let dir = tmp_dir("print");
    let s = sample(&dir, 4096);
    let o = run(&[s.path.as_os_str()]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    for needle in [
        "[0] offset 0x48 rtmr0 (mr 1) EV_PLATFORM_CONFIG_FLAGS",
        "descriptor \"td_hob\", 768 info bytes, digest = sha384(info)",
        "descriptor \"td_cfv\", 16 info bytes (region base 0xffe00000, length 0x1000)",
        "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        "blob \"td_payload\" base 0x1000000 length 0x138a",
        "\"console=ttyS0 quiet\"",
        "rtmr2 (mr 3) EV_IPL",
        "rtmr3 (mr 4) EV_EFI_ACTION",
        "separator 0",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    // The payload and cmdline digests are the files' SHA-384 (as sha384sum prints them).
    assert!(text.contains(s.want["sha384_kernel"].as_str().unwrap()));
    assert!(text.contains(s.want["sha384_cmdline"].as_str().unwrap()));

    let o = run(&[s.path.as_os_str(), "--json".as_ref()]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["event_count"], 8);
    assert_eq!(v["vendor_info"], "td-shim");
    for i in 0..4 {
        assert_eq!(v[format!("rtmr{i}")], s.want[format!("rtmr{i}")]);
    }
    let ev = &v["events"];
    assert_eq!(ev[0]["descriptor"], "td_hob");
    assert_eq!(ev[0]["digest_is_sha384_of_info"], true);
    assert_eq!(ev[1]["digest_is_sha384_of_info"], false); // td_cfv: info is base/length
    assert_eq!(ev[2]["blob"]["description"], "td_payload");
    assert_eq!(ev[2]["blob"]["base"], "0x1000000");
    assert_eq!(ev[2]["blob"]["length"], 5002);
    assert_eq!(ev[3]["info_text"], "console=ttyS0 quiet");
    assert_eq!(ev[6]["separator"], 0);
    assert_eq!(ev[6]["type"], "EV_SEPARATOR");
    for (i, e) in s.want["events"].as_array().unwrap().iter().enumerate() {
        assert_eq!(ev[i]["digest"], e["digest"]);
        assert_eq!(ev[i]["mr_index"], e["mr_index"]);
        assert_eq!(ev[i]["event_type"], e["event_type"]);
        assert_eq!(ev[i]["index"], i);
        assert_eq!(ev[i]["offset"], s.offsets[i]);
    }
    assert_eq!(v["match"], true);
}

#[test]
fn compare_with_reference_and_flags() {
    let dir = tmp_dir("compare");
    let s = sample(&dir, 4096);
    let reference = dir.join("ref.json");
    std::fs::write(&reference, s.want.to_string()).unwrap();
    let log = s.path.as_os_str();
    let o = run(&[log, "--reference".as_ref(), reference.as_os_str()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8(o.stdout).unwrap().contains("(matches)"));

    // Flags alone, both right.
    let r0 = s.want["rtmr0"].as_str().unwrap();
    let r1 = s.want["rtmr1"].as_str().unwrap();
    let o = run(&[
        log,
        "--rtmr0".as_ref(),
        r0.as_ref(),
        "--rtmr1".as_ref(),
        r1.as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(0));

    // A flag overrides the reference: rtmr1 wrong → exit 1, one line naming rtmr1 only.
    let wrong = "00".repeat(48);
    let o = run(&[
        log,
        "--reference".as_ref(),
        reference.as_os_str(),
        "--rtmr1".as_ref(),
        wrong.as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(
        err,
        "error: rtmr1 of the replayed log does not match the expected value\n"
    );

    // A reference whose events differ in one digest: rtmr0 and the event are named.
    let mut bad = s.want.clone();
    bad["rtmr0"] = Value::String("11".repeat(48));
    bad["events"][1]["digest"] = Value::String("22".repeat(48));
    bad["events"][1]["descriptor"] = Value::String("td_cfv".into());
    let bad_ref = dir.join("bad.json");
    std::fs::write(&bad_ref, bad.to_string()).unwrap();
    let o = run(&[
        log,
        "--reference".as_ref(),
        bad_ref.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["match"], false);
    assert_eq!(v["checks"]["rtmr0"]["match"], false);
    assert_eq!(v["checks"]["rtmr1"]["match"], true);
    let d = v["divergence"][0].as_str().unwrap();
    assert!(
        d.starts_with("rtmr0: event 1 of this register differs: log has \"td_cfv\""),
        "{d}"
    );
    assert!(d.contains(&"22".repeat(48)));

    // A reference with one event fewer in RTMR1: "lacks"/"extra" is reported.
    let mut fewer = s.want.clone();
    fewer["rtmr1"] = Value::String("33".repeat(48));
    fewer["events"].as_array_mut().unwrap().remove(3);
    let exp = eventlog::parse_reference(&fewer.to_string()).unwrap();
    let r = eventlog::analyse(&s.bytes, &exp).unwrap();
    assert_eq!(r.mismatches(), vec![1]);
    assert!(r.divergence[0].starts_with("rtmr1: event 1 of this register differs"));

    // null = not checked.
    let mut partial = s.want.clone();
    partial["rtmr2"] = Value::Null;
    partial["rtmr3"] = Value::String("44".repeat(48));
    let exp = eventlog::parse_reference(&partial.to_string()).unwrap();
    assert!(exp.rtmr[2].is_none());
    let r = eventlog::analyse(&s.bytes, &exp).unwrap();
    assert_eq!(r.checks[2], Check::NotGiven);
    assert_eq!(r.mismatches(), vec![3]);
}

#[test]
fn bad_references_and_flags_are_errors() {
    let dir = tmp_dir("badref");
    let s = sample(&dir, 0);
    for (text, needle) in [
        ("[]", "expected a json object"),
        ("{\"rtmr0\": 5}", "rtmr0: expected a hex string"),
        ("{\"rtmr1\": \"abcd\"}", "rtmr1: expected 96 hex digits"),
        ("{\"events\": {}}", "events: expected an array"),
        (
            "{\"events\": [{\"mr_index\": 5, \"digest\": \"\"}]}",
            "events[0]: mr_index",
        ),
        ("{\"events\": [{\"mr_index\": 1}]}", "events[0]: digest"),
        ("{", "reference:"),
    ] {
        let err = eventlog::parse_reference(text).unwrap_err();
        assert!(err.contains(needle), "{text}: {err}");
    }
    let o = run(&[s.path.as_os_str(), "--rtmr2".as_ref(), "xyz".as_ref()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.starts_with("error: --rtmr2:"), "{err}");
}

/// Runs the tool on `bytes`; asserts exit 2 and one error line containing `needle`.
fn expect_parse_error(dir: &Path, name: &str, bytes: &[u8], needle: &str) {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    let o = run(&[p.as_os_str()]);
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    assert!(err.starts_with("error: "), "{name}: {err}");
    assert!(err.contains(needle), "{name}: '{needle}' not in {err}");
    assert_eq!(err.lines().count(), 1, "{name}: {err}");
    assert!(o.stdout.is_empty(), "{name}");
}

#[test]
fn hostile_logs_give_clear_errors() {
    let dir = tmp_dir("hostile");
    let s = sample(&dir, 0);
    let b = &s.bytes;
    let patch = |at: usize, v: &[u8]| {
        let mut x = b.clone();
        x[at..at + v.len()].copy_from_slice(v);
        x
    };
    let rec = s.offsets[2]; // the blob2 record
                            // Truncated: inside the header, inside a record header, inside event data.
    expect_parse_error(&dir, "empty", &[], "truncated");
    expect_parse_error(&dir, "t-header", &b[..40], "truncated");
    expect_parse_error(
        &dir,
        "t-rec",
        &b[..rec + 30],
        "truncated in the record at offset 0x404",
    );
    expect_parse_error(&dir, "t-data", &b[..s.end - 1], "truncated");
    // Oversized EventSize: beyond the parser's limit, and beyond the file.
    expect_parse_error(
        &dir,
        "size-huge",
        &patch(rec + 62, &u32::MAX.to_le_bytes()),
        "claims 4294967295 bytes",
    );
    expect_parse_error(
        &dir,
        "size-past-end",
        &patch(rec + 62, &100_000u32.to_le_bytes()),
        "truncated in the record at offset 0x404",
    );
    // Wrong digest count, wrong algorithm, bad register index.
    expect_parse_error(
        &dir,
        "count0",
        &patch(rec + 8, &0u32.to_le_bytes()),
        "has 0 digests",
    );
    expect_parse_error(
        &dir,
        "count2",
        &patch(rec + 8, &2u32.to_le_bytes()),
        "has 2 digests",
    );
    expect_parse_error(
        &dir,
        "alg",
        &patch(rec + 12, &0x000Bu16.to_le_bytes()),
        "hash algorithm 0x000b",
    );
    expect_parse_error(&dir, "mr5", &patch(rec, &5u32.to_le_bytes()), "index 5");
    // Bad Spec ID header: first record type, signature, algorithm count, algorithm, digest
    // size, vendor size vs EventSize.
    expect_parse_error(&dir, "sid-type", &patch(4, &4u32.to_le_bytes()), "spec id");
    expect_parse_error(&dir, "sid-sig", &patch(32, b"Spec ID Event02"), "spec id");
    expect_parse_error(
        &dir,
        "sid-nalg",
        &patch(56, &2u32.to_le_bytes()),
        "numberOfAlgorithms",
    );
    expect_parse_error(
        &dir,
        "sid-alg",
        &patch(60, &0x000Bu16.to_le_bytes()),
        "not sha384",
    );
    expect_parse_error(
        &dir,
        "sid-dsize",
        &patch(62, &32u16.to_le_bytes()),
        "digest size",
    );
    expect_parse_error(&dir, "sid-vendor", &patch(64, &[9]), "vendor info size");
    expect_parse_error(
        &dir,
        "sid-size",
        &patch(28, &0xFFFF_FF00u32.to_le_bytes()),
        "truncated",
    );
    // Not a log at all.
    expect_parse_error(&dir, "zeros", &[0u8; 4096], "spec id");
    expect_parse_error(&dir, "ff", &[0xFFu8; 4096], "spec id");
}

#[test]
fn every_cut_is_a_log_or_an_error() {
    let dir = tmp_dir("cuts");
    let s = sample(&dir, 0);
    // Cuts at record boundaries are shorter, valid logs; every other cut is an error.
    let mut boundaries: Vec<usize> = s.offsets.clone();
    boundaries.push(s.end);
    for cut in 0..=s.end {
        let r = eventlog::analyse(&s.bytes[..cut], &Expected::default());
        if boundaries.contains(&cut) {
            let n = boundaries.iter().position(|&x| x == cut).unwrap();
            assert_eq!(r.unwrap().log.events.len(), n, "cut {cut}");
        } else {
            assert!(r.is_err(), "cut {cut}");
        }
    }
}

#[test]
fn trailing_garbage_after_fill_is_reported() {
    let dir = tmp_dir("trailing");
    let s = sample(&dir, 64);
    let mut b = s.bytes.clone();
    let n = b.len();
    b[n - 3] = 0x42;
    let p = dir.join("garbage.bin");
    std::fs::write(&p, &b).unwrap();
    let o = run(&[p.as_os_str()]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("warning: 1 of the 64 bytes after the last record"),
        "{text}"
    );
}
