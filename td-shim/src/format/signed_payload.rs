// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The signed-payload blob (`../shared/spec/secure-boot.md` §1): a 48-byte header, the
//! payload image, then a signature block (ECDSA P-384: X‖Y‖R‖S, 192 bytes; RSA-PSS-3072:
//! N‖E‖S, 776 bytes). The signature covers bytes `[0, Length)`, header and image.
//!
//! The blob is untrusted: it comes from the image's payload FV (or a file a tool reads).
//! [`parse`] is stricter than upstream: besides the GUID, the lengths and the algorithm it
//! requires StructVersion 1 and Reserved 0. Bytes after the signature block are ignored
//! (the payload FV pads its PE32 section with zeros). This module only parses and builds;
//! `crate::secure_boot` decides whether to trust what it finds.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::format::guid::Guid;
use alloc::vec::Vec;
use core::fmt;
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// TypeGuid of a signed payload, `FCF2D558-9DF5-4F4D-B0D7-3E4B798AB066` (§1).
pub const SIGNED_PAYLOAD_GUID: Guid = Guid::from_fields(
    0xFCF2D558,
    0x9DF5,
    0x4F4D,
    [0xB0, 0xD7, 0x3E, 0x4B, 0x79, 0x8A, 0xB0, 0x66],
);
/// StructVersion we write and require.
pub const STRUCT_VERSION: u32 = 1;
/// Size of the header in front of the image.
pub const HEADER_SIZE: usize = 48;
/// SigningAlgorithm 1: ECDSA over NIST P-384 with SHA-384 (the code's numbering, §1 Δ).
pub const ALGORITHM_ECDSA_P384_SHA384: u32 = 1;
/// SigningAlgorithm 2: RSA-PSS, 3072-bit modulus, SHA-384, MGF1-SHA-384, salt 48.
pub const ALGORITHM_RSA_PSS_3072_SHA384: u32 = 2;
/// P-384 coordinate / scalar size.
pub const P384_SCALAR_SIZE: usize = 48;
/// RSA-3072 modulus (and signature) size.
pub const RSA_3072_MODULUS_SIZE: usize = 384;
/// Size of the big-endian exponent field of an RSA public key.
pub const RSA_EXPONENT_SIZE: usize = 8;
/// The only RSA public exponent the format's tools produce (and we accept).
pub const RSA_EXPONENT: u64 = 65537;

/// A signing algorithm of §1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    EcdsaP384Sha384,
    RsaPss3072Sha384,
}

impl Algorithm {
    /// From the SigningAlgorithm field.
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            ALGORITHM_ECDSA_P384_SHA384 => Some(Algorithm::EcdsaP384Sha384),
            ALGORITHM_RSA_PSS_3072_SHA384 => Some(Algorithm::RsaPss3072Sha384),
            _ => None,
        }
    }

    /// The SigningAlgorithm field.
    pub fn to_u32(self) -> u32 {
        match self {
            Algorithm::EcdsaP384Sha384 => ALGORITHM_ECDSA_P384_SHA384,
            Algorithm::RsaPss3072Sha384 => ALGORITHM_RSA_PSS_3072_SHA384,
        }
    }

    /// Bytes of the public key in the signature block (and hashed into the trust anchor):
    /// X‖Y (96) or N‖E (392).
    pub const fn public_key_size(self) -> usize {
        match self {
            Algorithm::EcdsaP384Sha384 => 2 * P384_SCALAR_SIZE,
            Algorithm::RsaPss3072Sha384 => RSA_3072_MODULUS_SIZE + RSA_EXPONENT_SIZE,
        }
    }

    /// Bytes of the signature: R‖S (96) or S (384).
    pub const fn signature_size(self) -> usize {
        match self {
            Algorithm::EcdsaP384Sha384 => 2 * P384_SCALAR_SIZE,
            Algorithm::RsaPss3072Sha384 => RSA_3072_MODULUS_SIZE,
        }
    }

    /// Size of the whole signature block (192 or 776).
    pub const fn block_size(self) -> usize {
        // Both terms are small constants: no overflow.
        #[allow(clippy::arithmetic_side_effects)]
        let n = self.public_key_size() + self.signature_size();
        n
    }

    /// Lower-case name as the tools spell it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP384Sha384 => "ecdsa-p384",
            Algorithm::RsaPss3072Sha384 => "rsa-pss-3072",
        }
    }
}

const _: () = {
    assert!(Algorithm::EcdsaP384Sha384.block_size() == 192);
    assert!(Algorithm::RsaPss3072Sha384.block_size() == 776);
};

/// Why a signed-payload blob was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Has the TypeGuid but is shorter than the 48-byte header.
    Truncated { len: usize },
    /// TypeGuid is not [`SIGNED_PAYLOAD_GUID`]: not a signed payload at all.
    NotSigned,
    /// StructVersion other than 1.
    BadStructVersion { found: u32 },
    /// Reserved field not zero.
    BadReserved { found: u32 },
    /// Length must be more than the header and less than the blob.
    BadLength { length: u32, blob_len: usize },
    /// SigningAlgorithm neither 1 nor 2.
    UnknownAlgorithm { found: u32 },
    /// The blob ends inside the signature block.
    SignatureTruncated { needed: usize, blob_len: usize },
    /// Builder: the image is empty or Length would not fit in a u32.
    BadImageSize { len: usize },
    /// Builder: public key or signature of the wrong size for the algorithm.
    BadBlockPart {
        what: &'static str,
        len: usize,
        expected: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { len } => write!(
                f,
                "signed payload of {len} bytes is shorter than its {HEADER_SIZE}-byte header"
            ),
            Error::NotSigned => f.write_str("payload is not signed (no signed-payload header)"),
            Error::BadStructVersion { found } => {
                write!(f, "signed payload struct version {found} is not 1")
            }
            Error::BadReserved { found } => {
                write!(f, "signed payload reserved field is {found:#x}, not 0")
            }
            Error::BadLength { length, blob_len } => write!(
                f,
                "signed payload length {length:#x} is not between the header and the blob size {blob_len:#x}"
            ),
            Error::UnknownAlgorithm { found } => write!(
                f,
                "signed payload algorithm {found} is unknown (1 = ecdsa-p384, 2 = rsa-pss-3072)"
            ),
            Error::SignatureTruncated { needed, blob_len } => write!(
                f,
                "signed payload ends inside its signature block ({needed:#x} bytes needed, {blob_len:#x} present)"
            ),
            Error::BadImageSize { len } => {
                write!(f, "payload of {len} bytes cannot be signed (empty or too large)")
            }
            Error::BadBlockPart {
                what,
                len,
                expected,
            } => write!(f, "{what} is {len} bytes, expected {expected}"),
        }
    }
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader {
    type_guid: Guid,
    struct_version: U32,
    length: U32,
    payload_version: U64,
    payload_svn: U64,
    signing_algorithm: U32,
    reserved: U32,
}

const _: () = assert!(core::mem::size_of::<RawHeader>() == HEADER_SIZE);

/// A parsed signed payload. Nothing here is verified yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedPayload<'a> {
    /// PayloadVersion (free-form).
    pub version: u64,
    /// PayloadSvn.
    pub svn: u64,
    pub algorithm: Algorithm,
    /// The signed span `[0, Length)`: header and image.
    pub signed: &'a [u8],
    /// The payload image `[48, Length)` (an ELF for an executable payload).
    pub image: &'a [u8],
    /// Public key from the signature block: X‖Y (ECDSA) or N‖E (RSA), the bytes the trust
    /// anchor hashes.
    pub public_key: &'a [u8],
    /// R‖S (ECDSA, raw, not ASN.1) or the RSA signature.
    pub signature: &'a [u8],
}

/// Whether `bytes` starts with the signed-payload TypeGuid (a cheap test to tell a signed
/// blob from an ELF or a bzImage; [`parse`] does the checking).
pub fn is_signed(bytes: &[u8]) -> bool {
    bytes.get(..16) == Some(SIGNED_PAYLOAD_GUID.to_bytes().as_slice())
}

/// Parses a signed-payload blob (§1). Rules: TypeGuid matches (else [`Error::NotSigned`],
/// whatever the length); StructVersion 1; Reserved
/// 0; 48 < Length < blob size; a known algorithm; the blob holds the whole signature
/// block after Length. Trailing bytes after the block are allowed.
pub fn parse(blob: &[u8]) -> Result<SignedPayload<'_>, Error> {
    // The GUID first: anything without it (an ELF, however short) is "not signed".
    if !is_signed(blob) {
        return Err(Error::NotSigned);
    }
    let (h, _) =
        RawHeader::ref_from_prefix(blob).map_err(|_| Error::Truncated { len: blob.len() })?;
    if h.struct_version.get() != STRUCT_VERSION {
        return Err(Error::BadStructVersion {
            found: h.struct_version.get(),
        });
    }
    if h.reserved.get() != 0 {
        return Err(Error::BadReserved {
            found: h.reserved.get(),
        });
    }
    let length_raw = h.length.get();
    let bad_length = Error::BadLength {
        length: length_raw,
        blob_len: blob.len(),
    };
    let length = usize::try_from(length_raw).map_err(|_| bad_length)?;
    if length <= HEADER_SIZE || length >= blob.len() {
        return Err(bad_length);
    }
    let algorithm =
        Algorithm::from_u32(h.signing_algorithm.get()).ok_or(Error::UnknownAlgorithm {
            found: h.signing_algorithm.get(),
        })?;
    let end = length
        .checked_add(algorithm.block_size())
        .ok_or(bad_length)?;
    let truncated = Error::SignatureTruncated {
        needed: end,
        blob_len: blob.len(),
    };
    let signed = blob.get(..length).ok_or(bad_length)?;
    let image = signed.get(HEADER_SIZE..).ok_or(bad_length)?;
    let block = blob.get(length..end).ok_or(truncated)?;
    let (public_key, signature) = block
        .split_at_checked(algorithm.public_key_size())
        .ok_or(truncated)?;
    Ok(SignedPayload {
        version: h.payload_version.get(),
        svn: h.payload_svn.get(),
        algorithm,
        signed,
        image,
        public_key,
        signature,
    })
}

/// What the signer puts in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderFields {
    pub version: u64,
    pub svn: u64,
    pub algorithm: Algorithm,
}

/// Builder, step 1: the span to sign, header ‖ image.
pub fn build_signed_span(fields: &HeaderFields, image: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = Error::BadImageSize { len: image.len() };
    if image.is_empty() {
        return Err(bad);
    }
    let length = image.len().checked_add(HEADER_SIZE).ok_or(bad)?;
    let length = u32::try_from(length).map_err(|_| bad)?;
    let header = RawHeader {
        type_guid: SIGNED_PAYLOAD_GUID,
        struct_version: U32::new(STRUCT_VERSION),
        length: U32::new(length),
        payload_version: U64::new(fields.version),
        payload_svn: U64::new(fields.svn),
        signing_algorithm: U32::new(fields.algorithm.to_u32()),
        reserved: U32::new(0),
    };
    let mut out = Vec::new();
    out.try_reserve_exact(
        usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(fields.algorithm.block_size()))
            .ok_or(bad)?,
    )
    .map_err(|_| bad)?;
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(image);
    Ok(out)
}

/// Builder, step 2: appends the signature block (public key, then signature) to the span
/// from [`build_signed_span`], checking both sizes against the algorithm.
pub fn attach_signature(
    mut span: Vec<u8>,
    algorithm: Algorithm,
    public_key: &[u8],
    signature: &[u8],
) -> Result<Vec<u8>, Error> {
    for (what, part, expected) in [
        ("public key", public_key, algorithm.public_key_size()),
        ("signature", signature, algorithm.signature_size()),
    ] {
        if part.len() != expected {
            return Err(Error::BadBlockPart {
                what,
                len: part.len(),
                expected,
            });
        }
    }
    span.extend_from_slice(public_key);
    span.extend_from_slice(signature);
    Ok(span)
}

/// The RSA public-key bytes of the block (N ‖ E as 8 big-endian bytes) from a modulus and
/// an exponent given big-endian without leading zeros; `None` if they do not fit.
pub fn rsa_public_key_bytes(modulus: &[u8], exponent: &[u8]) -> Option<Vec<u8>> {
    let n_pad = RSA_3072_MODULUS_SIZE.checked_sub(modulus.len())?;
    let e_pad = RSA_EXPONENT_SIZE.checked_sub(exponent.len())?;
    let mut out = Vec::with_capacity(RSA_3072_MODULUS_SIZE + RSA_EXPONENT_SIZE);
    out.resize(n_pad, 0);
    out.extend_from_slice(modulus);
    out.resize(RSA_3072_MODULUS_SIZE.checked_add(e_pad)?, 0);
    out.extend_from_slice(exponent);
    Some(out)
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
    use alloc::vec;

    fn blob(alg: Algorithm, image: &[u8]) -> Vec<u8> {
        let span = build_signed_span(
            &HeaderFields {
                version: 0x0102_0304_0506_0708,
                svn: 7,
                algorithm: alg,
            },
            image,
        )
        .unwrap();
        let pk = vec![0xAA; alg.public_key_size()];
        let sig = vec![0x55; alg.signature_size()];
        attach_signature(span, alg, &pk, &sig).unwrap()
    }

    #[test]
    fn guid_bytes_match_the_registry_form() {
        // FCF2D558-9DF5-4F4D-B0D7-3E4B798AB066 in on-disk order, written out by hand.
        assert_eq!(
            SIGNED_PAYLOAD_GUID.to_bytes(),
            [
                0x58, 0xD5, 0xF2, 0xFC, 0xF5, 0x9D, 0x4D, 0x4F, 0xB0, 0xD7, 0x3E, 0x4B, 0x79, 0x8A,
                0xB0, 0x66
            ]
        );
    }

    #[test]
    fn layout_by_hand() {
        // Header fields at the offsets of the §1 table.
        let b = blob(Algorithm::EcdsaP384Sha384, b"\x7fELF-image");
        assert_eq!(&b[0..16], &SIGNED_PAYLOAD_GUID.to_bytes());
        assert_eq!(b[16..20], [1, 0, 0, 0]);
        assert_eq!(b[20..24], [58, 0, 0, 0]); // 48 + 10
        assert_eq!(b[24..32], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b[32..40], [7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(b[40..44], [1, 0, 0, 0]);
        assert_eq!(b[44..48], [0; 4]);
        assert_eq!(&b[48..58], b"\x7fELF-image");
        assert_eq!(b.len(), 58 + 192);
        let p = parse(&b).unwrap();
        assert_eq!(p.version, 0x0102_0304_0506_0708);
        assert_eq!(p.svn, 7);
        assert_eq!(p.algorithm, Algorithm::EcdsaP384Sha384);
        assert_eq!(p.signed, &b[..58]);
        assert_eq!(p.image, b"\x7fELF-image");
        assert_eq!(p.public_key, &[0xAA; 96][..]);
        assert_eq!(p.signature, &[0x55; 96][..]);
        assert!(is_signed(&b));

        let b = blob(Algorithm::RsaPss3072Sha384, b"img");
        assert_eq!(b[40..44], [2, 0, 0, 0]);
        assert_eq!(b.len(), 51 + 776);
        let p = parse(&b).unwrap();
        assert_eq!(p.public_key.len(), 392);
        assert_eq!(p.signature.len(), 384);
        assert_eq!(p.image, b"img");
    }

    #[test]
    fn trailing_padding_is_ignored() {
        let mut b = blob(Algorithm::EcdsaP384Sha384, b"payload");
        let good = parse(&b).unwrap().signature.to_vec();
        b.extend_from_slice(&[0; 4096]);
        let p = parse(&b).unwrap();
        assert_eq!(p.signature, &good[..]);
        assert_eq!(p.image, b"payload");
    }

    #[test]
    fn every_field_hostile() {
        let good = blob(Algorithm::EcdsaP384Sha384, &[0x42; 100]);
        // TypeGuid: every byte.
        for i in 0..16 {
            let mut b = good.clone();
            b[i] ^= 0x01;
            assert_eq!(parse(&b), Err(Error::NotSigned), "guid byte {i}");
            assert!(!is_signed(&b));
        }
        for v in [0u32, 2, 0xFFFF_FFFF, 0x0100_0000] {
            let mut b = good.clone();
            b[16..20].copy_from_slice(&v.to_le_bytes());
            assert_eq!(parse(&b), Err(Error::BadStructVersion { found: v }));
        }
        for v in [1u32, 0x8000_0000] {
            let mut b = good.clone();
            b[44..48].copy_from_slice(&v.to_le_bytes());
            assert_eq!(parse(&b), Err(Error::BadReserved { found: v }));
        }
        for a in [0u32, 3, 0x100, u32::MAX] {
            let mut b = good.clone();
            b[40..44].copy_from_slice(&a.to_le_bytes());
            assert_eq!(parse(&b), Err(Error::UnknownAlgorithm { found: a }));
        }
        // Length: at or below the header, at or past the blob end.
        let blob_len = good.len();
        for l in [
            0u32,
            1,
            47,
            48,
            blob_len as u32,
            blob_len as u32 + 1,
            u32::MAX,
        ] {
            let mut b = good.clone();
            b[20..24].copy_from_slice(&l.to_le_bytes());
            assert_eq!(
                parse(&b),
                Err(Error::BadLength {
                    length: l,
                    blob_len
                }),
                "length {l:#x}"
            );
        }
        // Length inside the blob but leaving less than a signature block after it.
        for l in [blob_len - 191, blob_len - 1] {
            let mut b = good.clone();
            b[20..24].copy_from_slice(&(l as u32).to_le_bytes());
            assert_eq!(
                parse(&b),
                Err(Error::SignatureTruncated {
                    needed: l + 192,
                    blob_len
                })
            );
        }
        // ECDSA length switched to RSA: 776 bytes no longer fit.
        let mut b = good.clone();
        b[40..44].copy_from_slice(&2u32.to_le_bytes());
        assert!(matches!(parse(&b), Err(Error::SignatureTruncated { .. })));
        // Length = 49 (a one-byte image) with the block right behind is valid.
        let mut b = good.clone();
        b[20..24].copy_from_slice(&49u32.to_le_bytes());
        let p = parse(&b).unwrap();
        assert_eq!(p.image, &[0x42]);
        assert_eq!(p.public_key, &good[49..49 + 96]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for alg in [Algorithm::EcdsaP384Sha384, Algorithm::RsaPss3072Sha384] {
            let good = blob(alg, &[0x11; 64]);
            // Length = 48 + 64 = 112.
            for cut in 0..good.len() {
                let r = parse(&good[..cut]);
                let expected = if cut < 16 {
                    Error::NotSigned
                } else if cut < HEADER_SIZE {
                    Error::Truncated { len: cut }
                } else if cut <= 112 {
                    Error::BadLength {
                        length: 112,
                        blob_len: cut,
                    }
                } else {
                    Error::SignatureTruncated {
                        needed: 112 + alg.block_size(),
                        blob_len: cut,
                    }
                };
                assert_eq!(r, Err(expected), "{alg:?} cut {cut}");
            }
            assert!(parse(&good).is_ok());
        }
    }

    #[test]
    fn flipped_bytes_never_panic() {
        // Every bit of the header, and every byte everywhere: Ok or Err, never a panic; an
        // Ok keeps every view inside the blob.
        let good = blob(Algorithm::RsaPss3072Sha384, &[0x99; 40]);
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80, 0xFF] {
                let mut b = good.clone();
                b[i] ^= bit;
                if let Ok(p) = parse(&b) {
                    assert!(p.signed.len() + p.public_key.len() + p.signature.len() <= b.len());
                    // Only the image and the block may change without an error.
                    assert!(i >= HEADER_SIZE || (24..40).contains(&i), "byte {i}");
                }
            }
        }
    }

    #[test]
    fn builder_refusals() {
        let f = HeaderFields {
            version: 0,
            svn: 0,
            algorithm: Algorithm::EcdsaP384Sha384,
        };
        assert_eq!(
            build_signed_span(&f, &[]),
            Err(Error::BadImageSize { len: 0 })
        );
        let span = build_signed_span(&f, b"x").unwrap();
        assert_eq!(
            attach_signature(span.clone(), f.algorithm, &[0; 97], &[0; 96]),
            Err(Error::BadBlockPart {
                what: "public key",
                len: 97,
                expected: 96
            })
        );
        assert_eq!(
            attach_signature(span, f.algorithm, &[0; 96], &[0; 384]),
            Err(Error::BadBlockPart {
                what: "signature",
                len: 384,
                expected: 96
            })
        );
    }

    #[test]
    fn rsa_key_bytes_are_left_padded() {
        let n = vec![0x80; 384];
        let k = rsa_public_key_bytes(&n, &[1, 0, 1]).unwrap();
        assert_eq!(k.len(), 392);
        assert_eq!(&k[..384], &n[..]);
        assert_eq!(&k[384..], &[0, 0, 0, 0, 0, 1, 0, 1]);
        let k = rsa_public_key_bytes(&[0x7F; 383], &[3]).unwrap();
        assert_eq!(k[0], 0);
        assert_eq!(k[391], 3);
        assert!(rsa_public_key_bytes(&[1; 385], &[3]).is_none());
        assert!(rsa_public_key_bytes(&n, &[1; 9]).is_none());
    }
}
