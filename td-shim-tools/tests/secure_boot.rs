// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Integration tests for payload secure boot: keys made with the openssl command line,
//! payloads signed with `td-shim-sign-payload`, enrolled with `td-shim-enroll` into images
//! linked here (fake reset vector, tiny PIE shim), then checked three ways: the blob layout
//! by hand (`../shared/spec/secure-boot.md` §1, §2), the signature with `openssl dgst`
//! (independent of ring and of our code), and the firmware's own `secure_boot::verify`
//! against every tampering the issue lists. Malformed keys and files must give one clear
//! `error:` line, a non-zero exit and no output file.
//!
//! Needs `openssl` on PATH (sh_script/preparation.sh installs it with the other tools).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use td_shim::format::signed_payload::{self, Algorithm};
use td_shim::format::{cfv, metadata};
use td_shim::secure_boot::{self, Error, Outcome};
use td_shim_tools::link::{self, LinkInput};

const SIGN: &str = env!("CARGO_BIN_EXE_td-shim-sign-payload");
const ENROLL: &str = env!("CARGO_BIN_EXE_td-shim-enroll");

/// A fresh scratch directory per test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("td-shim-sb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

fn openssl(args: &[&str]) -> Output {
    let o = run("openssl", args);
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Key pair files made by openssl: `NAME.pem` (private, PKCS#8 PEM), `NAME.pk8` (PKCS#8
/// DER), `NAME.pub.der` (SubjectPublicKeyInfo DER), `NAME.pub.pem`.
fn keypair(dir: &Path, name: &str, genpkey: &[&str]) -> PathBuf {
    let pem = dir.join(format!("{name}.pem"));
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey);
    args.extend_from_slice(&["-out", p(&pem)]);
    openssl(&args);
    let pk8 = dir.join(format!("{name}.pk8"));
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        p(&pem),
        "-outform",
        "DER",
        "-out",
        p(&pk8),
    ]);
    let pubder = dir.join(format!("{name}.pub.der"));
    openssl(&[
        "pkey",
        "-in",
        p(&pem),
        "-pubout",
        "-outform",
        "DER",
        "-out",
        p(&pubder),
    ]);
    let pubpem = dir.join(format!("{name}.pub.pem"));
    openssl(&["pkey", "-in", p(&pem), "-pubout", "-out", p(&pubpem)]);
    dir.join(name)
}

fn ec_key(dir: &Path, name: &str) -> PathBuf {
    keypair(
        dir,
        name,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    )
}

fn rsa_key(dir: &Path, name: &str, bits: &str) -> PathBuf {
    keypair(
        dir,
        name,
        &[
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
        ],
    )
}

fn with_ext(base: &Path, ext: &str) -> PathBuf {
    PathBuf::from(format!("{}.{ext}", base.display()))
}

/// A minimal ELF64 x86-64 executable of `kind` (2 = ET_EXEC at 0x400000, 3 = ET_DYN at 0)
/// with one R+X PT_LOAD of `code_len` file bytes (a `hlt; jmp` loop, then a counting
/// pattern) and a page of memory.
fn tiny_elf(kind: u16, code_len: usize) -> Vec<u8> {
    let base: u64 = if kind == 2 { 0x40_0000 } else { 0 };
    let len = 0x80 + code_len;
    let mut f = vec![0u8; len];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4..7].copy_from_slice(&[2, 1, 1]);
    f[16..18].copy_from_slice(&kind.to_le_bytes());
    f[18..20].copy_from_slice(&62u16.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&(base + 0x80).to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&1u16.to_le_bytes());
    let ph = 64;
    f[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    f[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes()); // R+X
    for (k, v) in [0, base, base, len as u64, 0x1000, 0x1000]
        .iter()
        .enumerate()
    {
        f[ph + 8 + 8 * k..ph + 16 + 8 * k].copy_from_slice(&v.to_le_bytes());
    }
    for (i, b) in f[0x80..].iter_mut().enumerate() {
        *b = (i * 7 + 1) as u8;
    }
    f[0x80..0x83].copy_from_slice(&[0xF4, 0xEB, 0xFD]);
    f
}

/// A fake 0x8000-byte reset vector with the linker-owned tail left zero.
fn fake_reset_vector() -> Vec<u8> {
    let mut rv: Vec<u8> = (0..0x8000u32).map(|i| (i % 251) as u8 | 1).collect();
    let n = rv.len();
    rv[n - 0x54..n - 0x1C].fill(0);
    rv[n - 0x10..].copy_from_slice(&[
        0x90, 0x90, 0xE9, 0x10, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    rv
}

/// Links an image (1.375 MiB) with `payload` in its payload FV and writes it to `path`.
fn image_with(payload: &[u8], path: &Path) {
    let input = LinkInput {
        payload_files: Vec::new(),
        td_payload_sections: false,
        reset_vector: fake_reset_vector(),
        shim_elf: tiny_elf(3, 0x200),
        payload: Some(payload.to_vec()),
        image_size: 0x16_0000,
    };
    let out = link::link(&input).unwrap();
    std::fs::write(path, out.image).unwrap();
}

/// (CFV region, payload FV PE32 body) of an image, found through its metadata like the
/// firmware does.
fn regions(image: &[u8]) -> (&[u8], &[u8]) {
    use td_shim::format::fv;
    let md = metadata::parse_image(image).unwrap();
    let slice = |t: metadata::SectionType| {
        md.sections
            .iter()
            .filter(|s| s.section_type == t as u32)
            .map(|s| &image[s.data_offset as usize..(s.data_offset + s.raw_data_size) as usize])
            .collect::<Vec<_>>()
    };
    let cfv = slice(metadata::SectionType::Cfv)[0];
    let payload = slice(metadata::SectionType::Bfv)
        .into_iter()
        .find_map(|b| {
            let vol = fv::parse(b).ok()?;
            (vol.name == Some(fv::PAYLOAD_FV_NAME))
                .then(|| fv::find_section(vol.bytes, fv::FILE_TYPE_DXE_CORE, fv::SECTION_PE32))
                .and_then(Result::ok)
        })
        .unwrap();
    (cfv, payload)
}

fn sign(key: &Path, alg: &str, svn: &str, payload: &Path, out: &Path) -> Output {
    run(
        SIGN,
        &[
            "--key",
            p(key),
            "--algorithm",
            alg,
            "--svn",
            svn,
            "--version",
            "0x1122334455667788",
            "-o",
            p(out),
            p(payload),
        ],
    )
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A refusal: non-zero exit, exactly one line on stderr starting with "error: " and
/// containing `want`, and no `out` file.
fn refused(o: Output, want: &str, out: &Path) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "accepted; stdout {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(want), "wanted {want:?} in {err}");
    assert!(!out.exists(), "{} was written", out.display());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `openssl dgst -sha384` of a file, as hex.
fn openssl_sha384(file: &Path) -> String {
    let o = openssl(&["dgst", "-sha384", "-r", p(file)]);
    String::from_utf8(o.stdout).unwrap()[..96].to_string()
}

/// DER INTEGER of a big-endian magnitude.
fn der_int(mag: &[u8]) -> Vec<u8> {
    let mut m: Vec<u8> = mag.iter().copied().skip_while(|&b| b == 0).collect();
    if m.first().is_none_or(|&b| b & 0x80 != 0) {
        m.insert(0, 0);
    }
    let mut v = vec![0x02, m.len() as u8];
    v.extend(m);
    v
}

#[test]
fn sign_enroll_verify_both_algorithms() {
    let d = scratch("roundtrip");
    let elf = tiny_elf(3, 0x300);
    assert!(td_shim::loader::elf::parse(&elf).is_ok());
    let elf_path = d.join("payload.elf");
    std::fs::write(&elf_path, &elf).unwrap();
    for (alg, key) in [
        ("ecdsa-p384", ec_key(&d, "ec")),
        ("rsa-pss-3072", rsa_key(&d, "rsa", "3072")),
    ] {
        let blob_path = d.join(format!("{alg}.signed"));
        let out = ok(sign(
            &with_ext(&key, "pk8"),
            alg,
            "7",
            &elf_path,
            &blob_path,
        ));
        let blob = std::fs::read(&blob_path).unwrap();
        let algorithm = if alg == "ecdsa-p384" {
            Algorithm::EcdsaP384Sha384
        } else {
            Algorithm::RsaPss3072Sha384
        };
        // Header by hand (§1): GUID FCF2D558-9DF5-4F4D-B0D7-3E4B798AB066, version 1,
        // Length = 48 + ELF, the payload version and SVN, the algorithm, reserved 0.
        assert_eq!(
            blob[..16],
            [
                0x58, 0xD5, 0xF2, 0xFC, 0xF5, 0x9D, 0x4D, 0x4F, 0xB0, 0xD7, 0x3E, 0x4B, 0x79, 0x8A,
                0xB0, 0x66
            ]
        );
        assert_eq!(blob[16..20], 1u32.to_le_bytes());
        let length = 48 + elf.len();
        assert_eq!(blob[20..24], (length as u32).to_le_bytes());
        assert_eq!(blob[24..32], 0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(blob[32..40], 7u64.to_le_bytes());
        let alg_code: u32 = if alg == "ecdsa-p384" { 1 } else { 2 };
        assert_eq!(blob[40..44], alg_code.to_le_bytes());
        assert_eq!(blob[44..48], [0; 4]);
        assert_eq!(&blob[48..length], &elf[..]);
        assert_eq!(blob.len(), length + algorithm.block_size());

        // The public key in the block is the openssl key's (SPKI bit string contents).
        let spki = std::fs::read(with_ext(&key, "pub.der")).unwrap();
        let key_bytes = &blob[length..length + algorithm.public_key_size()];
        if alg == "ecdsa-p384" {
            assert_eq!(key_bytes, &spki[spki.len() - 96..]);
        } else {
            let o = openssl(&[
                "rsa",
                "-pubin",
                "-inform",
                "DER",
                "-in",
                p(&with_ext(&key, "pub.der")),
                "-noout",
                "-modulus",
            ]);
            let text = String::from_utf8(o.stdout).unwrap();
            let n = text.trim().strip_prefix("Modulus=").unwrap().to_lowercase();
            assert_eq!(hex(&key_bytes[..384]), n);
            assert_eq!(key_bytes[384..], [0, 0, 0, 0, 0, 1, 0, 1]);
        }
        // The printed key hash is SHA-384 of those bytes (openssl's digest).
        let key_file = d.join(format!("{alg}.keybytes"));
        std::fs::write(&key_file, key_bytes).unwrap();
        let want_hash = openssl_sha384(&key_file);
        assert!(out.contains(&format!("key sha-384 {want_hash}")), "{out}");

        // openssl verifies the signature over [0, Length).
        let span = d.join(format!("{alg}.span"));
        std::fs::write(&span, &blob[..length]).unwrap();
        let sig = &blob[length + algorithm.public_key_size()..];
        let sig_file = d.join(format!("{alg}.sig"));
        let pubder = with_ext(&key, "pub.der");
        let mut args = vec!["dgst", "-sha384", "-verify", p(&pubder), "-keyform", "DER"];
        if alg == "ecdsa-p384" {
            // r ‖ s → DER SEQUENCE { INTEGER r, INTEGER s }.
            let body = [der_int(&sig[..48]), der_int(&sig[48..])].concat();
            let mut der = vec![0x30, body.len() as u8];
            der.extend(body);
            std::fs::write(&sig_file, der).unwrap();
        } else {
            std::fs::write(&sig_file, sig).unwrap();
            args.extend_from_slice(&[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:48",
                "-sigopt",
                "rsa_mgf1_md:sha384",
            ]);
        }
        args.extend_from_slice(&["-signature", p(&sig_file), p(&span)]);
        let o = openssl(&args);
        assert!(String::from_utf8_lossy(&o.stdout).contains("Verified OK"));

        // Enroll with a minimum SVN, read back as the firmware does.
        let img = d.join(format!("{alg}.bin"));
        image_with(&blob, &img);
        let enrolled = d.join(format!("{alg}-enrolled.bin"));
        let out = ok(run(
            ENROLL,
            &[
                p(&img),
                "--key",
                p(&pubder),
                "--min-svn",
                "7",
                "-o",
                p(&enrolled),
                "--json",
            ],
        ));
        assert!(
            out.contains(&format!("\"key_sha384\":\"{want_hash}\"")),
            "{out}"
        );
        assert!(out.contains("\"min_svn\":7"), "{out}");
        let image = std::fs::read(&enrolled).unwrap();
        let (cfv_region, payload) = regions(&image);
        // The anchor file by hand: first file of the CFV, at 0x78 + 24.
        let anchor = &cfv_region[0x78 + 24..0x78 + 24 + 88];
        assert_eq!(
            anchor[..16],
            [
                0xA3, 0x65, 0x8F, 0xBE, 0x3B, 0xA8, 0x5C, 0x41, 0xA1, 0xFB, 0xF7, 0x8E, 0x10, 0x5E,
                0x82, 0x4E
            ]
        );
        assert_eq!(anchor[16..24], [1, 0, 0, 0, 88, 0, 0, 0]);
        assert_eq!(hex(&anchor[40..]), want_hash);
        match secure_boot::verify(Some(cfv_region), payload).unwrap() {
            Outcome::Verified {
                image,
                svn,
                anchor_file,
                min_svn,
            } => {
                assert_eq!(image, &elf[..]);
                assert_eq!(svn, 7);
                assert_eq!(anchor_file, anchor);
                assert_eq!(min_svn, Some(7));
            }
            o => panic!("{o:?}"),
        }
        // PEM keys work the same.
        let blob_pem = d.join(format!("{alg}-pem.signed"));
        ok(sign(&with_ext(&key, "pem"), alg, "7", &elf_path, &blob_pem));
        let enrolled_pem = d.join(format!("{alg}-pem.bin"));
        ok(run(
            ENROLL,
            &[
                p(&img),
                "--key",
                p(&with_ext(&key, "pub.pem")),
                "-o",
                p(&enrolled_pem),
            ],
        ));
        let image = std::fs::read(&enrolled_pem).unwrap();
        let (c, _) = regions(&image);
        let blob2 = std::fs::read(&blob_pem).unwrap();
        assert!(matches!(
            secure_boot::verify(Some(c), &blob2),
            Ok(Outcome::Verified { .. })
        ));
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn every_tampering_is_refused() {
    let d = scratch("tamper");
    let elf = tiny_elf(3, 0x80);
    let elf_path = d.join("payload.elf");
    std::fs::write(&elf_path, &elf).unwrap();
    let ec = ec_key(&d, "ec");
    let ec2 = ec_key(&d, "ec2");
    let rsa = rsa_key(&d, "rsa", "3072");
    for (alg, key, other) in [("ecdsa-p384", &ec, &ec2), ("rsa-pss-3072", &rsa, &ec)] {
        let blob_path = d.join(format!("{alg}.signed"));
        ok(sign(&with_ext(key, "pk8"), alg, "5", &elf_path, &blob_path));
        let blob = std::fs::read(&blob_path).unwrap();
        let key_hash = cfv::public_key_hash(signed_payload::parse(&blob).unwrap().public_key);
        let c = cfv::build(Some(&key_hash), Some(5), &[], 0x1000).unwrap();
        assert!(matches!(
            secure_boot::verify(Some(&c), &blob),
            Ok(Outcome::Verified { svn: 5, .. })
        ));
        // A flipped byte anywhere in header, payload, key or signature.
        let length = 48 + elf.len();
        let key_end = length + signed_payload::parse(&blob).unwrap().public_key.len();
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 0x10;
            let r = secure_boot::verify(Some(&c), &b);
            let want_ok = match i {
                0..16 => r == Err(Error::Unsigned),
                // A changed Length may still parse, reading the block elsewhere.
                16..24 => matches!(r, Err(Error::Malformed(_) | Error::KeyMismatch)),
                40..48 => matches!(r, Err(Error::Malformed(_))),
                i if (length..key_end).contains(&i) => r == Err(Error::KeyMismatch),
                _ => r == Err(Error::BadSignature),
            };
            assert!(want_ok, "{alg}: byte {i}: {r:?}");
        }
        // A flipped byte in the enrolled anchor (whole file data).
        let at = 0x78 + 24;
        for i in at..at + 88 {
            let mut b = c.clone();
            b[i] ^= 0x01;
            assert!(
                secure_boot::verify(Some(&b), &blob).is_err(),
                "{alg}: cfv byte {i:#x}"
            );
        }
        // The wrong key enrolled.
        let img = d.join(format!("{alg}.bin"));
        image_with(&blob, &img);
        let wrong = d.join(format!("{alg}-wrong.bin"));
        ok(run(
            ENROLL,
            &[
                p(&img),
                "--key",
                p(&with_ext(other, "pub.der")),
                "-o",
                p(&wrong),
            ],
        ));
        let image = std::fs::read(&wrong).unwrap();
        let (c2, payload) = regions(&image);
        assert_eq!(
            secure_boot::verify(Some(c2), payload),
            Err(Error::KeyMismatch)
        );
        // SVN below the minimum: refused; at the minimum: accepted.
        for (min, expect) in [
            ("6", Err(Error::SvnTooLow { svn: 5, min_svn: 6 })),
            ("5", Ok(5)),
        ] {
            let out = d.join(format!("{alg}-min{min}.bin"));
            ok(run(
                ENROLL,
                &[
                    p(&img),
                    "--key",
                    p(&with_ext(key, "pub.der")),
                    "--min-svn",
                    min,
                    "-o",
                    p(&out),
                ],
            ));
            let image = std::fs::read(&out).unwrap();
            let (c3, payload) = regions(&image);
            let r = secure_boot::verify(Some(c3), payload).map(|o| match o {
                Outcome::Verified { svn, .. } => svn,
                Outcome::NoTrustAnchor => u64::MAX,
            });
            assert_eq!(r, expect, "{alg} min {min}");
        }
    }
    // An unsigned payload with a key enrolled.
    let img = d.join("unsigned.bin");
    image_with(&elf, &img);
    let out = d.join("unsigned-enrolled.bin");
    ok(run(
        ENROLL,
        &[
            p(&img),
            "--key",
            p(&with_ext(&ec, "pub.der")),
            "-o",
            p(&out),
        ],
    ));
    let image = std::fs::read(&out).unwrap();
    let (c, payload) = regions(&image);
    assert_eq!(secure_boot::verify(Some(c), payload), Err(Error::Unsigned));
    // Without the enrollment it boots as it is.
    let image = std::fs::read(&img).unwrap();
    let (c, payload) = regions(&image);
    assert_eq!(
        secure_boot::verify(Some(c), payload),
        Ok(Outcome::NoTrustAnchor)
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn malformed_keys_give_clear_errors() {
    let d = scratch("keys");
    let elf_path = d.join("payload.elf");
    std::fs::write(&elf_path, tiny_elf(2, 0x40)).unwrap();
    let ec = ec_key(&d, "ec");
    let rsa = rsa_key(&d, "rsa", "3072");
    let p256 = keypair(
        &d,
        "p256",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let rsa2048 = rsa_key(&d, "rsa2048", "2048");
    let rsa_e3 = keypair(
        &d,
        "rsae3",
        &[
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:3072",
            "-pkeyopt",
            "rsa_keygen_pubexp:3",
        ],
    );
    let pss = keypair(
        &d,
        "pss",
        &["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:3072"],
    );
    let encrypted = d.join("enc.pem");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        p(&with_ext(&ec, "pem")),
        "-passout",
        "pass:x",
        "-out",
        p(&encrypted),
    ]);
    let traditional = d.join("trad.pem");
    openssl(&[
        "ec",
        "-in",
        p(&with_ext(&ec, "pem")),
        "-out",
        p(&traditional),
    ]);
    let garbage = d.join("garbage");
    std::fs::write(&garbage, b"\x30\x82\xff\xffnot a key").unwrap();
    let out = d.join("out.signed");

    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (
            with_ext(&rsa, "pk8"),
            "ecdsa-p384",
            "the key is an rsa key: use --algorithm rsa-pss-3072",
        ),
        (
            with_ext(&ec, "pk8"),
            "rsa-pss-3072",
            "the key is an ec p-384 key: use --algorithm ecdsa-p384",
        ),
        (with_ext(&p256, "pk8"), "ecdsa-p384", "p-256"),
        (
            with_ext(&rsa2048, "pk8"),
            "rsa-pss-3072",
            "2048-bit modulus",
        ),
        (
            with_ext(&ec, "pub.der"),
            "ecdsa-p384",
            "pkcs8 -topk8 -nocrypt",
        ),
        (
            encrypted.clone(),
            "ecdsa-p384",
            "encrypted keys are not supported",
        ),
        (traditional.clone(), "ecdsa-p384", "convert it to PKCS#8"),
        (
            garbage.clone(),
            "ecdsa-p384",
            "not an ecdsa p-384 private key",
        ),
        (d.join("missing.pk8"), "ecdsa-p384", "cannot open"),
    ];
    for (key, alg, want) in cases {
        refused(sign(&key, alg, "1", &elf_path, &out), want, &out);
    }
    // Exponent 3: refused (ring itself refuses such private keys; either message will do).
    let o = sign(
        &with_ext(&rsa_e3, "pk8"),
        "rsa-pss-3072",
        "1",
        &elf_path,
        &out,
    );
    refused(o, "private key: ", &out);

    let img = d.join("image.bin");
    image_with(&tiny_elf(3, 0x40), &img);
    let out = d.join("out.bin");
    let cases: Vec<(PathBuf, &str)> = vec![
        (with_ext(&p256, "pub.der"), "prime256v1 (P-256)"),
        (with_ext(&rsa2048, "pub.der"), "2048-bit modulus"),
        (with_ext(&rsa_e3, "pub.der"), "rsa public exponent is 3"),
        (with_ext(&pss, "pub.der"), "id-RSASSA-PSS"),
        (with_ext(&ec, "pk8"), "not a DER SubjectPublicKeyInfo"),
        (with_ext(&ec, "pem"), "expected \"PUBLIC KEY\""),
        (garbage.clone(), "not a DER SubjectPublicKeyInfo"),
        (d.join("missing.der"), "cannot open"),
    ];
    for (key, want) in cases {
        refused(
            run(ENROLL, &[p(&img), "--key", p(&key), "-o", p(&out)]),
            want,
            &out,
        );
    }
    // Truncated DER: every cut of a good key is refused.
    let good = std::fs::read(with_ext(&rsa, "pub.der")).unwrap();
    let cut_key = d.join("cut.der");
    for cut in [0, 1, 2, 24, good.len() / 2, good.len() - 1] {
        std::fs::write(&cut_key, &good[..cut]).unwrap();
        refused(
            run(ENROLL, &[p(&img), "--key", p(&cut_key), "-o", p(&out)]),
            "error",
            &out,
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn malformed_files_give_clear_errors() {
    let d = scratch("files");
    let ec = ec_key(&d, "ec");
    let pk8 = with_ext(&ec, "pk8");
    let pubder = with_ext(&ec, "pub.der");
    let out = d.join("out.signed");
    // Payloads: not an ELF, empty, already signed.
    let not_elf = d.join("kernel");
    std::fs::write(&not_elf, b"MZ\x90\x00 a PE or anything else").unwrap();
    refused(
        sign(&pk8, "ecdsa-p384", "1", &not_elf, &out),
        "not an ELF executable",
        &out,
    );
    let empty = d.join("empty");
    std::fs::write(&empty, b"").unwrap();
    refused(sign(&pk8, "ecdsa-p384", "1", &empty, &out), "empty", &out);
    let elf = d.join("payload.elf");
    std::fs::write(&elf, tiny_elf(3, 0x40)).unwrap();
    let signed = d.join("signed");
    ok(sign(&pk8, "ecdsa-p384", "1", &elf, &signed));
    refused(
        sign(&pk8, "ecdsa-p384", "1", &signed, &out),
        "already a signed payload",
        &out,
    );
    // Bad numbers are refused by the option parser.
    let o = sign(&pk8, "ecdsa-p384", "-1", &elf, &out);
    assert!(!o.status.success() && !out.exists());

    // Images: not an image; --file with a bad GUID, a policy GUID, a file too large.
    let out = d.join("out.bin");
    refused(
        run(ENROLL, &[p(&elf), "--key", p(&pubder), "-o", p(&out)]),
        "image: ",
        &out,
    );
    let img = d.join("image.bin");
    image_with(&std::fs::read(&signed).unwrap(), &img);
    let o = run(
        ENROLL,
        &[
            p(&img),
            "--key",
            p(&pubder),
            "--file",
            "nope,x",
            "-o",
            p(&out),
        ],
    );
    assert!(!o.status.success() && !out.exists());
    let cfg = d.join("cfg.json");
    std::fs::write(&cfg, b"{}").unwrap();
    let policy = format!("77A2742E-9340-4AC9-8F85-B7B978580021,{}", p(&cfg));
    refused(
        run(
            ENROLL,
            &[
                p(&img),
                "--key",
                p(&pubder),
                "--file",
                &policy,
                "-o",
                p(&out),
            ],
        ),
        "uses the name of a secure-boot policy file",
        &out,
    );
    let big = d.join("big");
    std::fs::write(&big, vec![0u8; 0x40000]).unwrap();
    let arg = format!("F10E684E-3ABD-20E4-5932-8F973C355E57,{}", p(&big));
    refused(
        run(
            ENROLL,
            &[p(&img), "--key", p(&pubder), "--file", &arg, "-o", p(&out)],
        ),
        "configuration fv",
        &out,
    );
    // Extra files land in the CFV after the policy files; a second enrollment replaces
    // the first CFV whole.
    let arg = format!("F10E684E-3ABD-20E4-5932-8F973C355E57,{}", p(&cfg));
    ok(run(
        ENROLL,
        &[
            p(&img),
            "--key",
            p(&pubder),
            "--min-svn",
            "1",
            "--file",
            &arg,
            "-o",
            p(&out),
        ],
    ));
    let again = d.join("again.bin");
    let text = ok(run(
        ENROLL,
        &[p(&out), "--key", p(&pubder), "-o", p(&again)],
    ));
    assert!(text.contains("3 file(s) of the old cfv replaced"), "{text}");
    let image = std::fs::read(&again).unwrap();
    let (c, payload) = regions(&image);
    let policy = cfv::policy(c).unwrap();
    assert_eq!(policy.min_svn, None);
    assert!(matches!(
        secure_boot::verify(Some(c), payload),
        Ok(Outcome::Verified { svn: 1, .. })
    ));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn help_works() {
    for bin in [SIGN, ENROLL] {
        let out = ok(run(bin, &["--help"]));
        assert!(out.contains("Usage:"), "{out}");
    }
    let out = ok(run(SIGN, &["--help"]));
    for opt in ["--key", "--algorithm", "--svn", "--version", "-o"] {
        assert!(out.contains(opt), "{opt} in {out}");
    }
    let out = ok(run(ENROLL, &["--help"]));
    for opt in ["--key", "--min-svn", "--file", "-o"] {
        assert!(out.contains(opt), "{opt} in {out}");
    }
}

#[test]
fn payload_id_is_a_reported_label_not_part_of_the_blob() {
    let d = scratch("payload-id");
    let key = with_ext(&ec_key(&d, "k"), "pk8");
    let elf = d.join("p.elf");
    std::fs::write(&elf, tiny_elf(2, 64)).unwrap();
    let (a, b) = (d.join("a.signed"), d.join("b.signed"));
    ok(sign(&key, "ecdsa-p384", "1", &elf, &a));
    let out = ok(run(
        SIGN,
        &[
            "--key",
            p(&key),
            "--algorithm",
            "ecdsa-p384",
            "--svn",
            "1",
            "--version",
            "0x1122334455667788",
            "--payload-id",
            "migtd-7",
            "--json",
            "-o",
            p(&b),
            p(&elf),
        ],
    ));
    assert!(out.contains("\"payload_id\":\"migtd-7\""), "{out}");
    // Same signed span (ECDSA signatures differ run to run, so compare the header + ELF).
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    let len = u32::from_le_bytes(a[20..24].try_into().unwrap()) as usize;
    assert_eq!(a.len(), b.len());
    assert_eq!(a[..len], b[..len]);
}
