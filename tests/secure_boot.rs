// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Payload secure boot in QEMU (issue #6, `doc/secure-boot.md`). `cargo xtask boot-test`
//! makes keys with openssl, signs the example payload with ECDSA P-384 and RSA-PSS 3072
//! (SVN 5) and builds images with a key enrolled (`secure/*.bin`). A good signature boots
//! and its trust anchor and SVN appear in the event log; every tampering and policy
//! violation ends in one `td-shim: ERROR boot failed: secure boot: …` line naming the reason,
//! then a halted machine, and the payload never runs.

use std::path::PathBuf;
use std::time::Duration;
use td_shim_boot_tests::{images_dir, Outcome, Run};

const TIMEOUT: Duration = Duration::from_secs(60);

/// On-disk bytes of the signed-payload TypeGuid FCF2D558-9DF5-4F4D-B0D7-3E4B798AB066.
const SIGNED_GUID: [u8; 16] = [
    0x58, 0xD5, 0xF2, 0xFC, 0xF5, 0x9D, 0x4D, 0x4F, 0xB0, 0xD7, 0x3E, 0x4B, 0x79, 0x8A, 0xB0, 0x66,
];
/// On-disk bytes of the trust-anchor TypeGuid BE8F65A3-A83B-415C-A1FB-F78E105E824E.
const ANCHOR_GUID: [u8; 16] = [
    0xA3, 0x65, 0x8F, 0xBE, 0x3B, 0xA8, 0x5C, 0x41, 0xA1, 0xFB, 0xF7, 0x8E, 0x10, 0x5E, 0x82, 0x4E,
];

fn secure(name: &str) -> PathBuf {
    images_dir().join("secure").join(name)
}

/// Boots in a legacy VM, asking the firmware to measure (off there by default) so that the
/// payload can count the secure-boot events in the log.
fn boot(image: PathBuf) -> Outcome {
    Run::new(image)
        .arg("-fw_cfg")
        .arg("name=opt/td-shim/measured-boot,string=on")
        .memory("512M")
        .timeout(TIMEOUT)
        .stop_on("td-shim: ERROR")
        .run()
        .expect("qemu starts")
}

fn assert_boots(o: &Outcome) {
    assert!(
        o.find("td-shim: INFO  secure boot: payload signature verified, svn 5")
            .is_some(),
        "{}",
        o.describe()
    );
    assert!(
        o.find("td-payload: hello from the example payload")
            .is_some(),
        "{}",
        o.describe()
    );
}

fn assert_refused(o: &Outcome, reason: &str) {
    let line = format!("td-shim: ERROR boot failed: secure boot: {reason}");
    assert!(
        o.lines.iter().any(|(_, l)| l.starts_with(&line)),
        "expected '{line}…'\n{}",
        o.describe()
    );
    assert!(
        o.find("td-payload:").is_none(),
        "the payload ran\n{}",
        o.describe()
    );
    assert!(
        o.find("handing off").is_none(),
        "the firmware handed off\n{}",
        o.describe()
    );
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("pattern not found in the image"))
}

/// A copy of secure-ecdsa.bin with one byte flipped at `at(image)`, booted.
fn boot_tampered(tag: &str, at: impl Fn(&[u8]) -> usize) -> Outcome {
    let mut img = std::fs::read(secure("secure-ecdsa.bin")).expect("read the image");
    let i = at(&img);
    img[i] ^= 0x01;
    let p = secure(&format!("tampered-{tag}.bin"));
    std::fs::write(&p, &img).expect("write the tampered image");
    boot(p)
}

/// Offset of the signed blob in the image and its Length field (header + payload).
fn blob(img: &[u8]) -> (usize, usize) {
    let at = find(img, &SIGNED_GUID);
    let len = u32::from_le_bytes(img[at + 20..at + 24].try_into().unwrap()) as usize;
    (at, len)
}

#[test]
fn ecdsa_signed_payload_boots_and_is_measured() {
    let o = boot(secure("secure-ecdsa.bin"));
    assert_boots(&o);
    // The payload replayed an event log that holds the anchor and the SVN events: the log
    // is checked in tests/measured.rs; here, that the firmware recorded two more events
    // (policy db, authority, svn) than an unsigned boot's five.
    assert!(
        o.find("td-payload: event log at")
            .is_some_and(|(_, l)| l.ends_with(": 8 events")),
        "{}",
        o.describe()
    );
}

#[test]
fn rsa_signed_payload_boots() {
    assert_boots(&boot(secure("secure-rsa.bin")));
}

#[test]
fn a_flipped_payload_byte_is_refused() {
    let o = boot_tampered("payload", |img| blob(img).0 + 48 + 0x400);
    assert_refused(&o, "payload signature does not verify");
}

#[test]
fn a_flipped_signature_byte_is_refused() {
    // ECDSA block after the signed span: X, Y (96 bytes), then R, S.
    let o = boot_tampered("signature", |img| {
        let (at, len) = blob(img);
        at + len + 96 + 10
    });
    assert_refused(&o, "payload signature does not verify");
}

#[test]
fn a_flipped_header_byte_is_refused() {
    // PayloadSvn (offset 32): signed, so the signature no longer verifies.
    let o = boot_tampered("header", |img| blob(img).0 + 32);
    assert_refused(&o, "payload signature does not verify");
}

#[test]
fn a_flipped_public_key_byte_is_refused() {
    let o = boot_tampered("key", |img| {
        let (at, len) = blob(img);
        at + len + 5
    });
    assert_refused(
        &o,
        "payload signing key does not match the enrolled trust anchor",
    );
}

#[test]
fn a_flipped_enrolled_hash_is_refused() {
    // The trust anchor's SHA-384 hash field (offset 40 of the 88-byte file).
    let o = boot_tampered("anchor", |img| find(img, &ANCHOR_GUID) + 40 + 7);
    assert_refused(
        &o,
        "payload signing key does not match the enrolled trust anchor",
    );
}

#[test]
fn the_wrong_key_is_refused() {
    assert_refused(
        &boot(secure("secure-wrong-key.bin")),
        "payload signing key does not match the enrolled trust anchor",
    );
}

#[test]
fn an_svn_below_the_minimum_is_refused() {
    assert_refused(
        &boot(secure("secure-svn-low.bin")),
        "payload svn 5 is below the enrolled minimum svn 6",
    );
}

#[test]
fn an_unsigned_payload_with_a_key_enrolled_is_refused() {
    assert_refused(
        &boot(secure("secure-unsigned.bin")),
        "payload is not signed but a trust anchor is enrolled",
    );
}
