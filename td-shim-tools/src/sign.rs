// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Payload signing behind `td-shim-sign-payload` (`../shared/spec/secure-boot.md` §1):
//! header ‖ payload ELF, signed with an ECDSA P-384 or RSA-3072 PKCS#8 private key (ring,
//! SHA-384; RSA-PSS with MGF1-SHA-384 and a 48-byte salt), then the signature block. The
//! result is checked by running the firmware's own `secure_boot::verify` on it against a
//! trust anchor for the same key before it is returned.
//!
//! Inputs (key file, payload) are untrusted files: every refusal is a [`SignError`] that
//! says what was found and what to do.

use crate::spki::{self, KeyError};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PSS_SHA384,
};
use std::fmt;
use td_shim::format::cfv;
use td_shim::format::signed_payload::{self, Algorithm, HeaderFields};
use td_shim::loader::elf;
use td_shim::secure_boot::{self, Outcome};

/// What to sign.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The private-key file's bytes: PKCS#8 DER, or PEM "PRIVATE KEY".
    pub key_file: &'a [u8],
    pub algorithm: Algorithm,
    /// PayloadVersion (free-form).
    pub version: u64,
    /// PayloadSvn.
    pub svn: u64,
    /// The payload ELF.
    pub payload: &'a [u8],
}

/// A signed payload and the key that signed it.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The signed-payload blob.
    pub blob: Vec<u8>,
    /// Public-key bytes of the signature block (X‖Y or N‖E).
    pub public_key: Vec<u8>,
    /// SHA-384 of `public_key`: the hash `td-shim-enroll` puts into the trust anchor.
    pub key_hash: [u8; cfv::SHA384_SIZE],
}

/// Why a payload could not be signed.
#[derive(Clone, Debug)]
pub enum SignError {
    /// The key file is not usable PEM.
    Key(KeyError),
    /// The key is not a private key for the requested algorithm.
    KeyType(String),
    /// The payload is empty, already signed, or not an ELF the firmware loads.
    Payload(String),
    /// The signed blob could not be built.
    Format(signed_payload::Error),
    /// ring failed to sign.
    Crypto,
    /// The blob did not pass the firmware's own verification (a bug).
    SelfCheck(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Key(e) => write!(f, "private key: {e}"),
            SignError::KeyType(m) => write!(f, "private key: {m}"),
            SignError::Payload(m) => write!(f, "payload: {m}"),
            SignError::Format(e) => write!(f, "{e}"),
            SignError::Crypto => f.write_str("signing failed"),
            SignError::SelfCheck(m) => {
                write!(
                    f,
                    "the signed payload does not verify (internal error): {m}"
                )
            }
        }
    }
}

impl std::error::Error for SignError {}

/// The PKCS#8 hint shared by the key errors.
const PKCS8_HINT: &str =
    "write an unencrypted PKCS#8 key with `openssl pkcs8 -topk8 -nocrypt -outform DER`";

/// Which key type `der` is, for an error message, when it is not the requested one.
fn other_key_type(der: &[u8], rng: &SystemRandom) -> Option<&'static str> {
    if EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der, rng).is_ok() {
        Some("an ec p-384 key: use --algorithm ecdsa-p384")
    } else if RsaKeyPair::from_pkcs8(der).is_ok() {
        Some("an rsa key: use --algorithm rsa-pss-3072")
    } else if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, rng).is_ok() {
        Some("an ec p-256 key: secure boot needs p-384 (or rsa-3072)")
    } else {
        None
    }
}

/// (public-key block bytes, signature) over `msg`.
fn sign_with(
    der: &[u8],
    algorithm: Algorithm,
    msg: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    let rng = SystemRandom::new();
    let refused = |name: &str, detail: String| {
        let what = match other_key_type(der, &rng) {
            Some(t) => format!("the key is {t}"),
            None => format!("not an {name} private key ({detail}); {PKCS8_HINT}"),
        };
        SignError::KeyType(what)
    };
    match algorithm {
        Algorithm::EcdsaP384Sha384 => {
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der, &rng)
                .map_err(|e| refused("ecdsa p-384", e.to_string()))?;
            let point = kp.public_key().as_ref();
            let xy = point.get(1..).ok_or(SignError::Crypto)?.to_vec();
            let sig = kp.sign(&rng, msg).map_err(|_| SignError::Crypto)?;
            Ok((xy, sig.as_ref().to_vec()))
        }
        Algorithm::RsaPss3072Sha384 => {
            let kp = RsaKeyPair::from_pkcs8(der).map_err(|e| refused("rsa", e.to_string()))?;
            let bits = kp.public().modulus_len() * 8;
            let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public());
            let n = c.n.strip_prefix(&[0][..]).unwrap_or(&c.n);
            let n_bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if n_bits != 3072 || bits != 3072 {
                return Err(SignError::KeyType(format!(
                    "the rsa key has a {n_bits}-bit modulus; rsa-pss-3072 needs 3072 bits"
                )));
            }
            if c.e != [1, 0, 1] {
                return Err(SignError::KeyType(
                    "the rsa public exponent is not 65537".into(),
                ));
            }
            let public = signed_payload::rsa_public_key_bytes(n, &c.e).ok_or(SignError::Crypto)?;
            let mut sig = vec![0u8; kp.public().modulus_len()];
            kp.sign(&RSA_PSS_SHA384, &rng, msg, &mut sig)
                .map_err(|_| SignError::Crypto)?;
            Ok((public, sig))
        }
    }
}

/// Signs a payload (see the module documentation).
pub fn sign(req: &Request<'_>) -> Result<Signed, SignError> {
    if req.payload.is_empty() {
        return Err(SignError::Payload("the file is empty".into()));
    }
    if signed_payload::is_signed(req.payload) {
        return Err(SignError::Payload(
            "it is already a signed payload (sign the ELF inside it instead)".into(),
        ));
    }
    elf::parse(req.payload).map_err(|e| {
        SignError::Payload(format!("not an ELF executable the firmware can load ({e})"))
    })?;
    let der = spki::der_from_pem_or_der(req.key_file, &["PRIVATE KEY"], "private key")
        .map_err(SignError::Key)?;
    let fields = HeaderFields {
        version: req.version,
        svn: req.svn,
        algorithm: req.algorithm,
    };
    let span =
        signed_payload::build_signed_span(&fields, req.payload).map_err(SignError::Format)?;
    let (public_key, signature) = sign_with(&der, req.algorithm, &span)?;
    let blob = signed_payload::attach_signature(span, req.algorithm, &public_key, &signature)
        .map_err(SignError::Format)?;
    let key_hash = cfv::public_key_hash(&public_key);

    // Verify the way the firmware will: CFV with this key enrolled, the firmware's code.
    let check = cfv::build(Some(&key_hash), Some(req.svn), &[], 0x1000)
        .map_err(|e| SignError::SelfCheck(e.to_string()))?;
    match secure_boot::verify(Some(&check), &blob) {
        Ok(Outcome::Verified { image, svn, .. }) if image == req.payload && svn == req.svn => {}
        Ok(o) => return Err(SignError::SelfCheck(format!("{o:?}"))),
        Err(e) => return Err(SignError::SelfCheck(e.to_string())),
    }
    Ok(Signed {
        blob,
        public_key,
        key_hash,
    })
}

/// Parses a u64 given as decimal or 0x-prefixed hex (`_` allowed between digits).
pub fn parse_u64(text: &str) -> Result<u64, String> {
    crate::parse_size(text).map_err(|_| format!("'{text}' is not a number (decimal or 0x hex)"))
}

/// A JSON string literal for `s`.
pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest ELF the firmware's loader accepts would need a real build; the
    /// integration tests (tests/secure_boot.rs) sign real ELFs. Here: the refusals that
    /// come before any key is touched.
    #[test]
    fn payload_refusals() {
        let req = |payload| Request {
            key_file: b"",
            algorithm: Algorithm::EcdsaP384Sha384,
            version: 0,
            svn: 0,
            payload,
        };
        let e = sign(&req(b"")).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = sign(&req(b"MZ not an elf")).unwrap_err();
        assert!(e.to_string().contains("not an ELF"), "{e}");
        let mut signed = signed_payload::SIGNED_PAYLOAD_GUID.to_bytes().to_vec();
        signed.extend_from_slice(&[0; 64]);
        let e = sign(&req(&signed)).unwrap_err();
        assert!(e.to_string().contains("already a signed payload"), "{e}");
    }

    #[test]
    fn numbers_and_json() {
        assert_eq!(parse_u64("0x10"), Ok(16));
        assert_eq!(parse_u64("18446744073709551615"), Ok(u64::MAX));
        assert!(parse_u64("-1").is_err());
        assert!(parse_u64("18446744073709551616").is_err());
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn hex_by_hand() {
        assert_eq!(hex(&[0x00, 0xAB, 0x7F]), "00ab7f");
    }
}
