// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Payload secure boot (`../shared/spec/secure-boot.md` §3, §4): decides whether a built-in
//! payload may run, given the configuration FV. Pure (no `arch`, no `platform`, no
//! logging): the boot sequence calls [`verify`], measures what it returns and loads
//! `image`.
//!
//! Policy, from the CFV ([`cfv::policy`]):
//! - nothing enrolled: an unsigned payload runs as it is ([`Outcome::NoTrustAnchor`]); a
//!   signed blob is refused, since it cannot be checked against anything;
//! - a trust anchor enrolled: the payload must be a signed blob whose public key hashes to
//!   the anchor, whose signature over header ‖ image verifies (ECDSA P-384 or
//!   RSA-PSS-3072, both SHA-384, with `ring`), and whose SVN is at least the enrolled
//!   minimum, if any. Anything else is an [`Error`] naming the reason.
//!
//! Without the `secure-boot` cargo feature the crypto is not compiled in and an enrolled
//! anchor makes every payload fail ([`Error::NotCompiledIn`]): never a silent boot.
//!
//! Both inputs are untrusted (the CFV is owner-supplied, the payload comes from the
//! image); the parsers they go through never panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::format::cfv::{self, TrustAnchor};
use crate::format::signed_payload;
use core::fmt;

/// What the policy allows to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// No trust anchor enrolled: the (unsigned) payload runs as it is, measured by digest.
    NoTrustAnchor,
    /// The payload is signed by the enrolled key and its SVN is high enough.
    Verified {
        /// The payload image inside the blob (an ELF), to load.
        image: &'a [u8],
        /// The payload's SVN (measured as "td_payload_svn").
        svn: u64,
        /// The 88 trust-anchor bytes (measured as "secure_authority").
        anchor_file: &'a [u8],
        /// The enrolled minimum SVN, if any.
        min_svn: Option<u64>,
    },
}

/// Why a payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The CFV or its policy files are malformed.
    Cfv(cfv::Error),
    /// A trust anchor is enrolled but the payload carries no signed-payload header.
    Unsigned,
    /// The payload has a signed-payload header that does not parse.
    Malformed(signed_payload::Error),
    /// The payload is signed but no trust anchor is enrolled to check it against.
    SignedWithoutAnchor,
    /// A minimum SVN is enrolled without a trust anchor.
    MinSvnWithoutAnchor,
    /// The payload's public key does not hash to the enrolled trust anchor.
    KeyMismatch,
    /// The enrolled RSA key is not 3072-bit with exponent 65537.
    UnsupportedKey,
    /// The signature does not verify.
    BadSignature,
    /// The payload's SVN is below the enrolled minimum.
    SvnTooLow { svn: u64, min_svn: u64 },
    /// A trust anchor is enrolled but this firmware was built without `secure-boot`.
    NotCompiledIn,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Cfv(e) => write!(f, "{e}"),
            Error::Unsigned => f.write_str("payload is not signed but a trust anchor is enrolled"),
            Error::Malformed(e) => write!(f, "{e}"),
            Error::SignedWithoutAnchor => f.write_str(
                "payload is signed but no trust anchor is enrolled in the configuration fv",
            ),
            Error::MinSvnWithoutAnchor => {
                f.write_str("a minimum svn is enrolled without a trust anchor")
            }
            Error::KeyMismatch => {
                f.write_str("payload signing key does not match the enrolled trust anchor")
            }
            Error::UnsupportedKey => {
                f.write_str("payload rsa key is not 3072-bit with exponent 65537")
            }
            Error::BadSignature => f.write_str("payload signature does not verify"),
            Error::SvnTooLow { svn, min_svn } => write!(
                f,
                "payload svn {svn} is below the enrolled minimum svn {min_svn}"
            ),
            Error::NotCompiledIn => {
                f.write_str("a trust anchor is enrolled but secure boot is not compiled in")
            }
        }
    }
}

impl From<cfv::Error> for Error {
    fn from(e: cfv::Error) -> Self {
        Error::Cfv(e)
    }
}

/// Applies the CFV's policy to `payload` (the PE32 body of the payload FV: an ELF, or a
/// signed blob, possibly followed by zero padding). `cfv` is the CFV region, `None` if the
/// image has none. See the module documentation for the rules.
pub fn verify<'a>(cfv: Option<&'a [u8]>, payload: &'a [u8]) -> Result<Outcome<'a>, Error> {
    let policy = match cfv {
        Some(bytes) => cfv::policy(bytes)?,
        None => cfv::Policy::default(),
    };
    let Some(anchor) = policy.anchor else {
        if policy.min_svn.is_some() {
            return Err(Error::MinSvnWithoutAnchor);
        }
        if signed_payload::is_signed(payload) {
            return Err(Error::SignedWithoutAnchor);
        }
        return Ok(Outcome::NoTrustAnchor);
    };
    verify_signed(&anchor, policy.min_svn, payload)
}

#[cfg(not(feature = "secure-boot"))]
fn verify_signed<'a>(
    _anchor: &TrustAnchor<'a>,
    _min_svn: Option<u64>,
    _payload: &'a [u8],
) -> Result<Outcome<'a>, Error> {
    Err(Error::NotCompiledIn)
}

#[cfg(feature = "secure-boot")]
fn verify_signed<'a>(
    anchor: &TrustAnchor<'a>,
    min_svn: Option<u64>,
    payload: &'a [u8],
) -> Result<Outcome<'a>, Error> {
    let blob = signed_payload::parse(payload).map_err(|e| match e {
        signed_payload::Error::NotSigned => Error::Unsigned,
        e => Error::Malformed(e),
    })?;
    if cfv::public_key_hash(blob.public_key) != *anchor.hash {
        return Err(Error::KeyMismatch);
    }
    crypto::verify(&blob)?;
    if let Some(min) = min_svn {
        if blob.svn < min {
            return Err(Error::SvnTooLow {
                svn: blob.svn,
                min_svn: min,
            });
        }
    }
    Ok(Outcome::Verified {
        image: blob.image,
        svn: blob.svn,
        anchor_file: anchor.bytes,
        min_svn,
    })
}

/// The signature check proper: the only code that touches `ring`.
#[cfg(feature = "secure-boot")]
mod crypto {
    use super::Error;
    use crate::format::signed_payload::{
        Algorithm, SignedPayload, P384_SCALAR_SIZE, RSA_3072_MODULUS_SIZE, RSA_EXPONENT,
    };
    use ring::signature::{
        RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P384_SHA384_FIXED,
        RSA_PSS_2048_8192_SHA384,
    };

    /// SEC 1 tag of an uncompressed point.
    const UNCOMPRESSED: u8 = 0x04;
    /// 65537 big-endian without leading zeros, as ring wants the exponent.
    const E_65537: [u8; 3] = [0x01, 0x00, 0x01];

    pub(super) fn verify(blob: &SignedPayload<'_>) -> Result<(), Error> {
        match blob.algorithm {
            Algorithm::EcdsaP384Sha384 => {
                // 0x04 ‖ X ‖ Y: ring checks the point is on the curve.
                let mut point = [0u8; 1 + 2 * P384_SCALAR_SIZE];
                let (tag, xy) = point.split_at_mut(1);
                tag.copy_from_slice(&[UNCOMPRESSED]);
                if xy.len() != blob.public_key.len() {
                    return Err(Error::BadSignature);
                }
                xy.copy_from_slice(blob.public_key);
                UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &point[..])
                    .verify(blob.signed, blob.signature)
                    .map_err(|_| Error::BadSignature)
            }
            Algorithm::RsaPss3072Sha384 => {
                let (n, e) = blob
                    .public_key
                    .split_at_checked(RSA_3072_MODULUS_SIZE)
                    .ok_or(Error::UnsupportedKey)?;
                // Exactly 3072 bits (top bit set), exponent exactly 65537.
                let top = n.first().copied().unwrap_or(0);
                if top & 0x80 == 0 || e != RSA_EXPONENT.to_be_bytes() {
                    return Err(Error::UnsupportedKey);
                }
                RsaPublicKeyComponents { n, e: &E_65537[..] }
                    .verify(&RSA_PSS_2048_8192_SHA384, blob.signed, blob.signature)
                    .map_err(|_| Error::BadSignature)
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::format::guid::Guid;
    use crate::format::signed_payload::{Algorithm, HeaderFields};
    use crate::format::{cfv, fv, signed_payload};
    use alloc::vec;
    use alloc::vec::Vec;

    const IMAGE: &[u8] = b"\x7fELF pretend payload image";

    /// A blob with a fake (all 0x5A) signature and the given public key.
    fn fake_blob(alg: Algorithm, key: &[u8], svn: u64) -> Vec<u8> {
        let span = signed_payload::build_signed_span(
            &HeaderFields {
                version: 1,
                svn,
                algorithm: alg,
            },
            IMAGE,
        )
        .unwrap();
        signed_payload::attach_signature(span, alg, key, &vec![0x5A; alg.signature_size()]).unwrap()
    }

    fn cfv_for(key: Option<&[u8]>, min_svn: Option<u64>) -> Vec<u8> {
        let hash = key.map(cfv::public_key_hash);
        cfv::build(hash.as_ref(), min_svn, &[], 0x1000).unwrap()
    }

    #[test]
    fn nothing_enrolled() {
        let empty = cfv_for(None, None);
        assert_eq!(verify(None, IMAGE), Ok(Outcome::NoTrustAnchor));
        assert_eq!(verify(Some(&empty), IMAGE), Ok(Outcome::NoTrustAnchor));
        let blob = fake_blob(Algorithm::EcdsaP384Sha384, &[1; 96], 0);
        assert_eq!(verify(None, &blob), Err(Error::SignedWithoutAnchor));
        assert_eq!(verify(Some(&empty), &blob), Err(Error::SignedWithoutAnchor));
        let svn_only = cfv_for(None, Some(1));
        assert_eq!(
            verify(Some(&svn_only), IMAGE),
            Err(Error::MinSvnWithoutAnchor)
        );
        // A malformed CFV fails closed, also with an unsigned payload.
        assert!(matches!(
            verify(Some(&[0u8; 0x1000]), IMAGE),
            Err(Error::Cfv(_))
        ));
        // An extra file alone is no policy.
        let other = Guid::parse_str("F10E684E-3ABD-20E4-5932-8F973C355E57").unwrap();
        let c = fv::build_cfv(&[(other, b"x")], 0x1000).unwrap();
        assert_eq!(verify(Some(&c), IMAGE), Ok(Outcome::NoTrustAnchor));
    }

    #[cfg(not(feature = "secure-boot"))]
    #[test]
    fn enrolled_without_the_feature_refuses() {
        let key = [7u8; 96];
        let c = cfv_for(Some(&key), None);
        let blob = fake_blob(Algorithm::EcdsaP384Sha384, &key, 0);
        assert_eq!(verify(Some(&c), &blob), Err(Error::NotCompiledIn));
        assert_eq!(verify(Some(&c), IMAGE), Err(Error::NotCompiledIn));
        assert_eq!(
            Error::NotCompiledIn.to_string(),
            "a trust anchor is enrolled but secure boot is not compiled in"
        );
    }

    #[cfg(feature = "secure-boot")]
    mod with_crypto {
        use super::*;
        use ring::rand::SystemRandom;
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};

        /// A fresh P-384 key: (key pair, X‖Y).
        fn ecdsa_key() -> (EcdsaKeyPair, Vec<u8>) {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
            let kp =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            let xy = kp.public_key().as_ref()[1..].to_vec();
            (kp, xy)
        }

        fn signed(kp: &EcdsaKeyPair, xy: &[u8], svn: u64, image: &[u8]) -> Vec<u8> {
            let alg = Algorithm::EcdsaP384Sha384;
            let span = signed_payload::build_signed_span(
                &HeaderFields {
                    version: 3,
                    svn,
                    algorithm: alg,
                },
                image,
            )
            .unwrap();
            let sig = kp.sign(&SystemRandom::new(), &span).unwrap();
            signed_payload::attach_signature(span, alg, xy, sig.as_ref()).unwrap()
        }

        #[test]
        fn good_signature_and_every_refusal() {
            let (kp, xy) = ecdsa_key();
            let c = cfv_for(Some(&xy), Some(4));
            let blob = signed(&kp, &xy, 4, IMAGE);
            let anchor = cfv::build_anchor(&cfv::public_key_hash(&xy));
            match verify(Some(&c), &blob).unwrap() {
                Outcome::Verified {
                    image,
                    svn,
                    anchor_file,
                    min_svn,
                } => {
                    assert_eq!(image, IMAGE);
                    assert_eq!(svn, 4);
                    assert_eq!(anchor_file, &anchor[..]);
                    assert_eq!(min_svn, Some(4));
                }
                o => panic!("{o:?}"),
            }
            // Zero padding after the blob (payload FV section) is fine.
            let mut padded = blob.clone();
            padded.resize(blob.len() + 0x1000, 0);
            assert!(matches!(
                verify(Some(&c), &padded),
                Ok(Outcome::Verified { .. })
            ));
            // Unsigned payload.
            assert_eq!(verify(Some(&c), IMAGE), Err(Error::Unsigned));
            // SVN below the minimum (validly signed).
            let old = signed(&kp, &xy, 3, IMAGE);
            assert_eq!(
                verify(Some(&c), &old),
                Err(Error::SvnTooLow { svn: 3, min_svn: 4 })
            );
            // Another key: the key hash does not match.
            let (kp2, xy2) = ecdsa_key();
            let other = signed(&kp2, &xy2, 9, IMAGE);
            assert_eq!(verify(Some(&c), &other), Err(Error::KeyMismatch));
            // Another key, but its X‖Y replaced by the enrolled key's: bad signature.
            let mut forged = other.clone();
            let at = forged.len() - 192;
            forged[at..at + 96].copy_from_slice(&xy);
            assert_eq!(verify(Some(&c), &forged), Err(Error::BadSignature));
            // A flipped byte anywhere in header, image or signature: refused; in the
            // public key: key mismatch. Never accepted.
            let key_at = blob.len() - 192;
            for i in 0..blob.len() {
                let mut b = blob.clone();
                b[i] ^= 0x01;
                let r = verify(Some(&c), &b);
                assert!(r.is_err(), "byte {i} accepted");
                if (key_at..key_at + 96).contains(&i) {
                    assert_eq!(r, Err(Error::KeyMismatch), "byte {i}");
                } else if i >= signed_payload::HEADER_SIZE || (24..40).contains(&i) {
                    assert_eq!(r, Err(Error::BadSignature), "byte {i}");
                }
            }
            // A flipped byte in the enrolled hash.
            let mut h = cfv::public_key_hash(&xy);
            h[17] ^= 0x80;
            let c2 = cfv::build(Some(&h), None, &[], 0x1000).unwrap();
            assert_eq!(verify(Some(&c2), &blob), Err(Error::KeyMismatch));
            // Every truncation of the blob: refused.
            for cut in 0..blob.len() {
                assert!(verify(Some(&c), &blob[..cut]).is_err(), "cut {cut}");
            }
        }

        #[test]
        fn displays_name_the_reason() {
            for (e, want) in [
                (Error::Unsigned, "not signed"),
                (Error::BadSignature, "signature does not verify"),
                (
                    Error::KeyMismatch,
                    "does not match the enrolled trust anchor",
                ),
                (Error::SvnTooLow { svn: 1, min_svn: 2 }, "svn 1 is below"),
            ] {
                assert!(e.to_string().contains(want), "{e}");
            }
        }

        #[test]
        fn rsa_key_shape_is_checked() {
            // The hash matches (the anchor is of these very bytes), so only the key shape
            // or the signature can fail.
            let mut key = vec![0xC3; 392];
            key[384..].copy_from_slice(&65537u64.to_be_bytes());
            let c = cfv_for(Some(&key), None);
            let blob = fake_blob(Algorithm::RsaPss3072Sha384, &key, 0);
            assert_eq!(verify(Some(&c), &blob), Err(Error::BadSignature));
            let mut small = key.clone();
            small[0] = 0x7F; // 3071 bits
            let c = cfv_for(Some(&small), None);
            let blob = fake_blob(Algorithm::RsaPss3072Sha384, &small, 0);
            assert_eq!(verify(Some(&c), &blob), Err(Error::UnsupportedKey));
            let mut e3 = key.clone();
            e3[384..].copy_from_slice(&3u64.to_be_bytes());
            let c = cfv_for(Some(&e3), None);
            let blob = fake_blob(Algorithm::RsaPss3072Sha384, &e3, 0);
            assert_eq!(verify(Some(&c), &blob), Err(Error::UnsupportedKey));
        }

        #[test]
        fn ecdsa_point_off_the_curve_is_a_bad_signature() {
            let key = [0x11u8; 96];
            let c = cfv_for(Some(&key), None);
            let blob = fake_blob(Algorithm::EcdsaP384Sha384, &key, 0);
            assert_eq!(verify(Some(&c), &blob), Err(Error::BadSignature));
        }
    }
}
