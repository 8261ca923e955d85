// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Key files for payload secure boot (`../shared/spec/secure-boot.md` §2): a minimal strict
//! DER reader for X.509 SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) with the two key types
//! the format supports — EC on secp384r1 as an uncompressed point (RFC 5480) and RSA with a
//! 3072-bit modulus and exponent 65537 (RFC 8017 A.1.1) — and PEM unwrapping (RFC 7468)
//! for both public and private key files. Key files are untrusted input: every refusal is
//! a [`KeyError`] saying what was found and what is needed.

use std::fmt;
use td_shim::format::signed_payload::{self, Algorithm};

/// DER of OID 1.2.840.10045.2.1 (id-ecPublicKey), contents only.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// 1.3.132.0.34 (secp384r1).
const OID_SECP384R1: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
/// 1.2.840.10045.3.1.7 (prime256v1), only to name it in an error.
const OID_PRIME256V1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// 1.3.132.0.35 (secp521r1), only to name it in an error.
const OID_SECP521R1: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
/// 1.2.840.113549.1.1.1 (rsaEncryption).
const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
/// 1.2.840.113549.1.1.10 (id-RSASSA-PSS), only to name it in an error.
const OID_RSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// Why a key file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The DER structure is broken at `what`.
    Der { what: &'static str },
    /// A PEM file without the expected block, or with bad base64.
    Pem(String),
    /// An algorithm other than EC or RSA.
    UnsupportedAlgorithm(String),
    /// An EC key on another curve.
    WrongCurve(String),
    /// An EC point that is not 97 bytes starting with 0x04.
    NotUncompressed { len: usize, first: Option<u8> },
    /// An RSA modulus of the wrong size.
    RsaBits { bits: usize },
    /// An RSA public exponent other than 65537.
    RsaExponent(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Der { what } => write!(
                f,
                "not a DER SubjectPublicKeyInfo ({what}); write one with `openssl pkey -pubout -outform DER`"
            ),
            KeyError::Pem(m) => write!(f, "{m}"),
            KeyError::UnsupportedAlgorithm(a) => write!(
                f,
                "public key algorithm {a} is not supported (EC P-384 or RSA 3072 only)"
            ),
            KeyError::WrongCurve(c) => {
                write!(f, "ec key is on curve {c}; secure boot needs secp384r1 (P-384)")
            }
            KeyError::NotUncompressed { len, first } => write!(
                f,
                "ec public key is not an uncompressed P-384 point ({len} bytes, first byte {}); \
                 need 97 bytes starting with 0x04",
                first.map_or_else(|| "none".to_string(), |b| format!("{b:#04x}"))
            ),
            KeyError::RsaBits { bits } => {
                write!(f, "rsa key has a {bits}-bit modulus; secure boot needs 3072 bits")
            }
            KeyError::RsaExponent(e) => {
                write!(f, "rsa public exponent is {e}; secure boot needs 65537")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// A public key the format can enroll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// X ‖ Y, 48 bytes each.
    EcdsaP384 { xy: Vec<u8> },
    /// 384-byte modulus (top bit set); the exponent is 65537.
    Rsa3072 { modulus: Vec<u8> },
}

impl PublicKey {
    /// The signing algorithm this key is for.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::EcdsaP384 { .. } => Algorithm::EcdsaP384Sha384,
            PublicKey::Rsa3072 { .. } => Algorithm::RsaPss3072Sha384,
        }
    }

    /// The public-key bytes of the signature block, which the trust anchor hashes: X‖Y, or
    /// N ‖ E (E as 8 big-endian bytes).
    pub fn block_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::EcdsaP384 { xy } => xy.clone(),
            PublicKey::Rsa3072 { modulus } => {
                let e = signed_payload::RSA_EXPONENT.to_be_bytes();
                signed_payload::rsa_public_key_bytes(modulus, &e)
                    .expect("a 384-byte modulus and an 8-byte exponent fill the block exactly")
            }
        }
    }
}

/// A strict DER reader over one buffer.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    /// Reads one element of type `tag` (definite, minimally encoded length) and returns its
    /// contents.
    fn read(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], KeyError> {
        let err = KeyError::Der { what };
        let (&t, rest) = self.rest.split_first().ok_or(err.clone())?;
        if t != tag {
            return Err(err);
        }
        let (&first, mut rest) = rest.split_first().ok_or(err.clone())?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(err);
            }
            let (bytes, tail) = rest.split_at(n);
            rest = tail;
            let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
            // DER: the shortest form, no leading zero bytes.
            if len < 0x80 || bytes[0] == 0 {
                return Err(err);
            }
            len
        };
        if rest.len() < len {
            return Err(err);
        }
        let (contents, tail) = rest.split_at(len);
        self.rest = tail;
        Ok(contents)
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn finish(&self, what: &'static str) -> Result<(), KeyError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(KeyError::Der { what })
        }
    }
}

/// Dotted form of an OID's contents, for messages.
fn oid_text(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for &b in oid {
        v = (v << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (v / 40).min(2);
                parts.push(first);
                parts.push(v - 40 * first);
            } else {
                parts.push(v);
            }
            v = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Parses a DER SubjectPublicKeyInfo holding an EC P-384 or an RSA-3072 (e = 65537) key.
pub fn parse_spki(der: &[u8]) -> Result<PublicKey, KeyError> {
    let mut outer = Der::new(der);
    let spki = outer.read(TAG_SEQUENCE, "SubjectPublicKeyInfo sequence")?;
    outer.finish("bytes after the SubjectPublicKeyInfo")?;
    let mut spki = Der::new(spki);
    let alg = spki.read(TAG_SEQUENCE, "AlgorithmIdentifier")?;
    let bits = spki.read(TAG_BIT_STRING, "subjectPublicKey bit string")?;
    spki.finish("bytes after the subjectPublicKey")?;
    let (&unused, key) = bits.split_first().ok_or(KeyError::Der {
        what: "empty bit string",
    })?;
    if unused != 0 {
        return Err(KeyError::Der {
            what: "bit string with unused bits",
        });
    }
    let mut alg = Der::new(alg);
    let oid = alg.read(TAG_OID, "algorithm oid")?;
    if oid == OID_EC_PUBLIC_KEY {
        let curve = alg.read(TAG_OID, "named curve oid")?;
        alg.finish("bytes after the named curve")?;
        if curve != OID_SECP384R1 {
            let name = match curve {
                OID_PRIME256V1 => "prime256v1 (P-256)".to_string(),
                OID_SECP521R1 => "secp521r1 (P-521)".to_string(),
                c => oid_text(c),
            };
            return Err(KeyError::WrongCurve(name));
        }
        let point_len = 1 + 2 * signed_payload::P384_SCALAR_SIZE;
        if key.len() != point_len || key[0] != 0x04 {
            return Err(KeyError::NotUncompressed {
                len: key.len(),
                first: key.first().copied(),
            });
        }
        return Ok(PublicKey::EcdsaP384 {
            xy: key[1..].to_vec(),
        });
    }
    if oid == OID_RSA {
        // Parameters: NULL (RFC 8017 A.1), absent tolerated.
        if alg.peek_tag() == Some(TAG_NULL) {
            let null = alg.read(TAG_NULL, "rsa parameters")?;
            if !null.is_empty() {
                return Err(KeyError::Der {
                    what: "rsa parameters not NULL",
                });
            }
        }
        alg.finish("bytes after the rsa parameters")?;
        let mut rsa_key = Der::new(key);
        let seq = rsa_key.read(TAG_SEQUENCE, "RSAPublicKey sequence")?;
        rsa_key.finish("bytes after the RSAPublicKey")?;
        let mut seq = Der::new(seq);
        let n = positive_integer(seq.read(TAG_INTEGER, "rsa modulus")?, "rsa modulus")?;
        let e = positive_integer(seq.read(TAG_INTEGER, "rsa exponent")?, "rsa exponent")?;
        seq.finish("bytes after the rsa exponent")?;
        let bits = n.len() * 8 - n[0].leading_zeros() as usize;
        if bits != 8 * signed_payload::RSA_3072_MODULUS_SIZE {
            return Err(KeyError::RsaBits { bits });
        }
        if e != [0x01, 0x00, 0x01] {
            let text = if e.len() <= 8 {
                e.iter()
                    .fold(0u64, |a, &b| (a << 8) | u64::from(b))
                    .to_string()
            } else {
                format!("a {}-byte number", e.len())
            };
            return Err(KeyError::RsaExponent(text));
        }
        return Ok(PublicKey::Rsa3072 {
            modulus: n.to_vec(),
        });
    }
    let name = if oid == OID_RSA_PSS {
        "id-RSASSA-PSS (generate the key with `-algorithm RSA`, not RSA-PSS)".to_string()
    } else {
        oid_text(oid)
    };
    Err(KeyError::UnsupportedAlgorithm(name))
}

/// The magnitude of a DER INTEGER that must be positive, without its sign byte.
fn positive_integer<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a [u8], KeyError> {
    let err = KeyError::Der { what };
    match bytes {
        [] => Err(err),
        [b, ..] if b & 0x80 != 0 => Err(err), // negative
        [0] => Err(err),                      // zero
        [0, next, ..] if next & 0x80 == 0 => Err(err), // not minimal
        [0, rest @ ..] => Ok(rest),
        _ => Ok(bytes),
    }
}

/// DER bytes of a key file: PEM (RFC 7468) with one of `labels` is unwrapped; anything not
/// starting with `-----BEGIN ` is taken as DER. `kind` names the file in errors.
pub fn der_from_pem_or_der(bytes: &[u8], labels: &[&str], kind: &str) -> Result<Vec<u8>, KeyError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) if t.trim_start().starts_with("-----BEGIN ") => t,
        _ => return Ok(bytes.to_vec()),
    };
    let mut lines = text.lines().map(str::trim);
    let begin = lines
        .find(|l| l.starts_with("-----BEGIN "))
        .ok_or_else(|| KeyError::Pem(format!("{kind}: no PEM BEGIN line")))?;
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| KeyError::Pem(format!("{kind}: malformed PEM BEGIN line")))?;
    if !labels.contains(&label) {
        let hint = match label {
            "ENCRYPTED PRIVATE KEY" => {
                "; encrypted keys are not supported, write it with `openssl pkcs8 -topk8 -nocrypt`"
            }
            "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
                "; convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt`"
            }
            "RSA PUBLIC KEY" => "; write a SubjectPublicKeyInfo with `openssl pkey -pubout`",
            _ => "",
        };
        return Err(KeyError::Pem(format!(
            "{kind}: PEM block is \"{label}\", expected \"{}\"{hint}",
            labels.join("\" or \"")
        )));
    }
    let end = format!("-----END {label}-----");
    let mut b64 = String::new();
    let mut ended = false;
    for l in lines {
        if l == end {
            ended = true;
            break;
        }
        if l.contains(':') {
            return Err(KeyError::Pem(format!(
                "{kind}: PEM headers are not supported (encrypted key?)"
            )));
        }
        b64.push_str(l);
    }
    if !ended {
        return Err(KeyError::Pem(format!("{kind}: no \"{end}\" line")));
    }
    base64_decode(&b64).ok_or_else(|| KeyError::Pem(format!("{kind}: bad base64 in the PEM body")))
}

/// Standard base64 with padding (RFC 4648 §4), whitespace already removed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let chunks = s.len() / 4;
    for (i, c) in s.chunks(4).enumerate() {
        let last = i + 1 == chunks;
        let pad = c.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &b in &c[..4 - pad] {
            n = (n << 6) | val(b)?;
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER TLV with a short or one/two-byte long length.
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        match body.len() {
            n if n < 0x80 => v.push(n as u8),
            n if n < 0x100 => v.extend_from_slice(&[0x81, n as u8]),
            n => v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
        }
        v.extend_from_slice(body);
        v
    }

    fn ec_spki(curve: &[u8], point: &[u8]) -> Vec<u8> {
        let alg = [tlv(TAG_OID, OID_EC_PUBLIC_KEY), tlv(TAG_OID, curve)].concat();
        let mut bits = vec![0];
        bits.extend_from_slice(point);
        tlv(
            TAG_SEQUENCE,
            &[tlv(TAG_SEQUENCE, &alg), tlv(TAG_BIT_STRING, &bits)].concat(),
        )
    }

    fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
        let alg = [tlv(TAG_OID, OID_RSA), vec![TAG_NULL, 0]].concat();
        let key = tlv(
            TAG_SEQUENCE,
            &[tlv(TAG_INTEGER, n), tlv(TAG_INTEGER, e)].concat(),
        );
        let mut bits = vec![0];
        bits.extend_from_slice(&key);
        tlv(
            TAG_SEQUENCE,
            &[tlv(TAG_SEQUENCE, &alg), tlv(TAG_BIT_STRING, &bits)].concat(),
        )
    }

    #[test]
    fn ec_p384() {
        let mut point = vec![0x04];
        point.extend((0..96).map(|i| i as u8));
        let k = parse_spki(&ec_spki(OID_SECP384R1, &point)).unwrap();
        assert_eq!(k.algorithm(), Algorithm::EcdsaP384Sha384);
        assert_eq!(k.block_bytes(), point[1..].to_vec());
        assert_eq!(
            parse_spki(&ec_spki(OID_PRIME256V1, &point)),
            Err(KeyError::WrongCurve("prime256v1 (P-256)".into()))
        );
        assert_eq!(
            parse_spki(&ec_spki(&[0x2B, 0x81, 0x04, 0x00, 0x0A], &point)),
            Err(KeyError::WrongCurve("1.3.132.0.10".into()))
        );
        let mut compressed = vec![0x02];
        compressed.extend_from_slice(&point[1..49]);
        assert_eq!(
            parse_spki(&ec_spki(OID_SECP384R1, &compressed)),
            Err(KeyError::NotUncompressed {
                len: 49,
                first: Some(2)
            })
        );
    }

    #[test]
    fn rsa_3072() {
        let mut n = vec![0x00, 0xC1];
        n.extend(vec![0x5A; 383]);
        let k = parse_spki(&rsa_spki(&n, &[1, 0, 1])).unwrap();
        assert_eq!(k.algorithm(), Algorithm::RsaPss3072Sha384);
        let b = k.block_bytes();
        assert_eq!(b.len(), 392);
        assert_eq!(&b[..384], &n[1..]);
        assert_eq!(&b[384..], &[0, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(
            parse_spki(&rsa_spki(&n, &[3])),
            Err(KeyError::RsaExponent("3".into()))
        );
        // 2048-bit and 3071-bit moduli.
        let mut n2048 = vec![0x00, 0x80];
        n2048.extend(vec![1; 255]);
        assert_eq!(
            parse_spki(&rsa_spki(&n2048, &[1, 0, 1])),
            Err(KeyError::RsaBits { bits: 2048 })
        );
        let mut n3071 = vec![0x40];
        n3071.extend(vec![1; 383]);
        assert_eq!(
            parse_spki(&rsa_spki(&n3071, &[1, 0, 1])),
            Err(KeyError::RsaBits { bits: 3071 })
        );
        // Negative modulus (no sign byte) and a non-minimal one.
        assert!(matches!(
            parse_spki(&rsa_spki(&n[1..], &[1, 0, 1])),
            Err(KeyError::Der { .. })
        ));
        let mut padded = vec![0x00, 0x00];
        padded.extend_from_slice(&n[1..]);
        assert!(matches!(
            parse_spki(&rsa_spki(&padded, &[1, 0, 1])),
            Err(KeyError::Der { .. })
        ));
    }

    #[test]
    fn hostile_der() {
        let mut point = vec![0x04];
        point.extend(vec![7; 96]);
        let good = ec_spki(OID_SECP384R1, &point);
        assert!(parse_spki(&good).is_ok());
        // Every truncation and a trailing byte.
        for cut in 0..good.len() {
            assert!(parse_spki(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(parse_spki(&long), Err(KeyError::Der { .. })));
        // Every byte of the structure (not the point itself) flipped: refused or, where
        // only the point changes, a different key; never a panic.
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x40;
            if let Ok(k) = parse_spki(&b) {
                assert_ne!(k, parse_spki(&good).unwrap(), "byte {i}");
            }
        }
        // Non-minimal long length.
        let mut b = vec![0x30, 0x81, 0x03, 0x05, 0x00, 0x00];
        assert!(parse_spki(&b).is_err());
        b.clear();
        assert!(parse_spki(&b).is_err());
        // An unknown algorithm is named.
        let alg = tlv(TAG_OID, &[0x2B, 0x65, 0x70]); // 1.3.101.112 Ed25519
        let spki = tlv(
            TAG_SEQUENCE,
            &[tlv(TAG_SEQUENCE, &alg), tlv(TAG_BIT_STRING, &[0; 33])].concat(),
        );
        assert_eq!(
            parse_spki(&spki),
            Err(KeyError::UnsupportedAlgorithm("1.3.101.112".into()))
        );
    }

    #[test]
    fn pem() {
        // "hello" in base64 (RFC 4648 test vectors by hand).
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("Zm9vYmFy"), Some(b"foobar".to_vec()));
        assert_eq!(base64_decode("Zm9vYg=="), Some(b"foob".to_vec()));
        for bad in ["", "Zm9", "Zm9v*mFy", "Zg==Zg==", "Z==="] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
        let pem = "-----BEGIN PUBLIC KEY-----\nZm9v\nYmFy\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            der_from_pem_or_der(pem.as_bytes(), &["PUBLIC KEY"], "key").unwrap(),
            b"foobar"
        );
        let e = der_from_pem_or_der(
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nZm9v\n-----END ENCRYPTED PRIVATE KEY-----\n",
            &["PRIVATE KEY"],
            "key",
        )
        .unwrap_err();
        assert!(e.to_string().contains("-nocrypt"), "{e}");
        let e = der_from_pem_or_der(
            b"-----BEGIN PUBLIC KEY-----\nZm9v\n",
            &["PUBLIC KEY"],
            "key",
        )
        .unwrap_err();
        assert!(e.to_string().contains("END PUBLIC KEY"), "{e}");
        // Not PEM: passed through as DER.
        assert_eq!(
            der_from_pem_or_der(&[0x30, 0x00], &["PUBLIC KEY"], "key").unwrap(),
            vec![0x30, 0x00]
        );
    }
}
