// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The secure-boot policy in the configuration FV (`../shared/spec/secure-boot.md` §2, §4):
//! the trust-anchor file (the SHA-384 hash of the payload signer's public key, upstream's
//! 88-byte layout) and our optional minimum-SVN record.
//!
//! Minimum SVN ([OURS], spec §4): a RAW FFS file named [`MIN_SVN_FILE_NAME`]
//! (`2FDA9FCA-3A5C-4978-8DDD-B603F3FB1E05`, generated for this project) whose data is
//! exactly 8 bytes, the minimum payload SVN as a little-endian u64. It sits beside the
//! anchor; the wire formats of §1/§2 are unchanged, so an upstream firmware ignores it.
//!
//! The CFV is owner-supplied and not part of MRTD: everything here is parsed as untrusted
//! input and fails closed (a file with a policy name but the wrong type, size or contents,
//! or the same policy file twice, is an error rather than "nothing enrolled"). The files
//! are found with [`crate::format::fv`].
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::format::fv;
use crate::format::guid::Guid;
use alloc::vec::Vec;
use core::fmt;
use sha2::{Digest as _, Sha384};
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// FFS name of the trust-anchor file, `77A2742E-9340-4AC9-8F85-B7B978580021` (§2).
pub const TRUST_ANCHOR_FILE_NAME: Guid = Guid::from_fields(
    0x77A2742E,
    0x9340,
    0x4AC9,
    [0x8F, 0x85, 0xB7, 0xB9, 0x78, 0x58, 0x00, 0x21],
);
/// TypeGuid inside the trust-anchor data ("public-key hash"),
/// `BE8F65A3-A83B-415C-A1FB-F78E105E824E` (§2).
pub const PUBLIC_KEY_HASH_GUID: Guid = Guid::from_fields(
    0xBE8F65A3,
    0xA83B,
    0x415C,
    [0xA1, 0xFB, 0xF7, 0x8E, 0x10, 0x5E, 0x82, 0x4E],
);
/// FFS name of our minimum-SVN file, `2FDA9FCA-3A5C-4978-8DDD-B603F3FB1E05` ([OURS]).
pub const MIN_SVN_FILE_NAME: Guid = Guid::from_fields(
    0x2FDA9FCA,
    0x3A5C,
    0x4978,
    [0x8D, 0xDD, 0xB6, 0x03, 0xF3, 0xFB, 0x1E, 0x05],
);
/// Header of the trust-anchor data before the hash.
pub const ANCHOR_HEADER_SIZE: usize = 40;
/// SHA-384 digest size.
pub const SHA384_SIZE: usize = 48;
/// Length of the trust-anchor data (header + SHA-384 hash); also what gets measured.
pub const ANCHOR_SIZE: usize = ANCHOR_HEADER_SIZE + SHA384_SIZE;
/// StructVersion of the trust anchor.
pub const ANCHOR_STRUCT_VERSION: u32 = 1;
/// HashAlgorithm 1: SHA-384 (the only one).
pub const HASH_ALGORITHM_SHA384: u64 = 1;
/// Size of the minimum-SVN file data.
pub const MIN_SVN_SIZE: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The CFV is not a well-formed firmware volume.
    Fv(fv::Error),
    /// The volume's file system is not FFS3.
    NotCfv { file_system: Guid },
    /// A policy file appears more than once.
    Duplicate { name: Guid },
    /// A policy file is not a RAW file.
    FileType { name: Guid, file_type: u8 },
    /// Trust anchor data shorter than its 88 bytes.
    AnchorTruncated { len: usize },
    /// Trust anchor TypeGuid is not the public-key-hash GUID.
    AnchorBadGuid,
    /// Trust anchor StructVersion other than 1.
    AnchorBadVersion { found: u32 },
    /// Trust anchor Length other than 88.
    AnchorBadLength { length: u32 },
    /// Trust anchor HashAlgorithm other than 1 (SHA-384).
    AnchorBadHashAlgorithm { found: u64 },
    /// Trust anchor Reserved or Pad not zero.
    AnchorBadReserved,
    /// Minimum-SVN file data not exactly 8 bytes.
    MinSvnSize { len: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Fv(e) => write!(f, "configuration fv: {e}"),
            Error::NotCfv { file_system } => write!(
                f,
                "configuration fv has file system {file_system}, not ffs3"
            ),
            Error::Duplicate { name } => {
                write!(f, "configuration fv holds file {name} more than once")
            }
            Error::FileType { name, file_type } => write!(
                f,
                "configuration fv file {name} has type {file_type:#x}, not raw (0x1)"
            ),
            Error::AnchorTruncated { len } => {
                write!(f, "trust anchor is {len} bytes, shorter than {ANCHOR_SIZE}")
            }
            Error::AnchorBadGuid => {
                f.write_str("trust anchor type guid is not the public-key hash")
            }
            Error::AnchorBadVersion { found } => {
                write!(f, "trust anchor struct version {found} is not 1")
            }
            Error::AnchorBadLength { length } => {
                write!(f, "trust anchor length {length} is not {ANCHOR_SIZE}")
            }
            Error::AnchorBadHashAlgorithm { found } => {
                write!(f, "trust anchor hash algorithm {found} is not 1 (sha-384)")
            }
            Error::AnchorBadReserved => f.write_str("trust anchor reserved bytes are not zero"),
            Error::MinSvnSize { len } => {
                write!(f, "minimum-svn file is {len} bytes, not {MIN_SVN_SIZE}")
            }
        }
    }
}

impl From<fv::Error> for Error {
    fn from(e: fv::Error) -> Self {
        Error::Fv(e)
    }
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawAnchorHeader {
    type_guid: Guid,
    struct_version: U32,
    length: U32,
    hash_algorithm: U64,
    reserved: U32,
    pad: U32,
}

const _: () = assert!(core::mem::size_of::<RawAnchorHeader>() == ANCHOR_HEADER_SIZE);

/// A parsed trust anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustAnchor<'a> {
    /// The anchor's 88 bytes `[0, Length)` (measured as "secure_policy_db" and
    /// "secure_authority"); file bytes past Length are not part of it.
    pub bytes: &'a [u8],
    /// SHA-384 of the signer's public-key bytes (X‖Y or N‖E, §2).
    pub hash: &'a [u8; SHA384_SIZE],
}

/// Parses trust-anchor file data. Stricter than upstream (which checks only the GUID and
/// Length ≤ size): StructVersion 1, Length 88, HashAlgorithm 1, Reserved and Pad 0. Data
/// past Length is allowed (upstream's CFV seed carries 8 trailing bytes).
pub fn parse_anchor(data: &[u8]) -> Result<TrustAnchor<'_>, Error> {
    let truncated = Error::AnchorTruncated { len: data.len() };
    let (h, rest) = RawAnchorHeader::ref_from_prefix(data).map_err(|_| truncated)?;
    if h.type_guid != PUBLIC_KEY_HASH_GUID {
        return Err(Error::AnchorBadGuid);
    }
    if h.struct_version.get() != ANCHOR_STRUCT_VERSION {
        return Err(Error::AnchorBadVersion {
            found: h.struct_version.get(),
        });
    }
    if usize::try_from(h.length.get()).ok() != Some(ANCHOR_SIZE) {
        return Err(Error::AnchorBadLength {
            length: h.length.get(),
        });
    }
    if h.hash_algorithm.get() != HASH_ALGORITHM_SHA384 {
        return Err(Error::AnchorBadHashAlgorithm {
            found: h.hash_algorithm.get(),
        });
    }
    if h.reserved.get() != 0 || h.pad.get() != 0 {
        return Err(Error::AnchorBadReserved);
    }
    let (hash, _) = <[u8; SHA384_SIZE]>::ref_from_prefix(rest).map_err(|_| truncated)?;
    let bytes = data.get(..ANCHOR_SIZE).ok_or(truncated)?;
    Ok(TrustAnchor { bytes, hash })
}

/// The 88 bytes of a trust anchor holding `hash`.
pub fn build_anchor(hash: &[u8; SHA384_SIZE]) -> [u8; ANCHOR_SIZE] {
    let h = RawAnchorHeader {
        type_guid: PUBLIC_KEY_HASH_GUID,
        struct_version: U32::new(ANCHOR_STRUCT_VERSION),
        length: U32::new(ANCHOR_SIZE as u32),
        hash_algorithm: U64::new(HASH_ALGORITHM_SHA384),
        reserved: U32::new(0),
        pad: U32::new(0),
    };
    let mut out = [0u8; ANCHOR_SIZE];
    let (head, tail) = out.split_at_mut(ANCHOR_HEADER_SIZE);
    head.copy_from_slice(h.as_bytes());
    tail.copy_from_slice(hash);
    out
}

/// SHA-384 of a signer's public-key bytes (X‖Y for ECDSA P-384, N‖E for RSA, §2): what a
/// trust anchor holds.
pub fn public_key_hash(public_key: &[u8]) -> [u8; SHA384_SIZE] {
    Sha384::digest(public_key).into()
}

/// Parses minimum-SVN file data: exactly 8 bytes, a little-endian u64.
pub fn parse_min_svn(data: &[u8]) -> Result<u64, Error> {
    let bytes =
        <[u8; MIN_SVN_SIZE]>::try_from(data).map_err(|_| Error::MinSvnSize { len: data.len() })?;
    Ok(u64::from_le_bytes(bytes))
}

/// The data of a minimum-SVN file.
pub fn build_min_svn(svn: u64) -> [u8; MIN_SVN_SIZE] {
    svn.to_le_bytes()
}

/// The secure-boot policy a CFV enrolls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy<'a> {
    pub anchor: Option<TrustAnchor<'a>>,
    pub min_svn: Option<u64>,
}

/// Reads the policy from a CFV: parses the volume (FFS3), walks its files, and parses the
/// trust-anchor and minimum-SVN files if present. Other files are ignored.
pub fn policy(cfv: &[u8]) -> Result<Policy<'_>, Error> {
    let volume = fv::parse(cfv)?;
    if volume.file_system != fv::FFS3_GUID {
        return Err(Error::NotCfv {
            file_system: volume.file_system,
        });
    }
    let mut out = Policy::default();
    for file in volume.files()? {
        let is_anchor = file.name == TRUST_ANCHOR_FILE_NAME;
        if !is_anchor && file.name != MIN_SVN_FILE_NAME {
            continue;
        }
        if file.file_type != fv::FILE_TYPE_RAW {
            return Err(Error::FileType {
                name: file.name,
                file_type: file.file_type,
            });
        }
        let duplicate = Error::Duplicate { name: file.name };
        if is_anchor {
            if out.anchor.is_some() {
                return Err(duplicate);
            }
            out.anchor = Some(parse_anchor(file.data)?);
        } else {
            if out.min_svn.is_some() {
                return Err(duplicate);
            }
            out.min_svn = Some(parse_min_svn(file.data)?);
        }
    }
    Ok(out)
}

/// A CFV of exactly `region_size` bytes holding the trust anchor for `key_hash` (if any),
/// the minimum SVN (if any), then `extra` files, all RAW (see [`fv::build_cfv`]). Extra
/// files may not use the policy file names.
pub fn build(
    key_hash: Option<&[u8; SHA384_SIZE]>,
    min_svn: Option<u64>,
    extra: &[(Guid, &[u8])],
    region_size: usize,
) -> Result<Vec<u8>, Error> {
    if let Some((name, _)) = extra
        .iter()
        .find(|(n, _)| *n == TRUST_ANCHOR_FILE_NAME || *n == MIN_SVN_FILE_NAME)
    {
        return Err(Error::Duplicate { name: *name });
    }
    let anchor = key_hash.map(build_anchor);
    let svn = min_svn.map(build_min_svn);
    let mut files: Vec<(Guid, &[u8])> = Vec::new();
    if let Some(a) = &anchor {
        files.push((TRUST_ANCHOR_FILE_NAME, a));
    }
    if let Some(s) = &svn {
        files.push((MIN_SVN_FILE_NAME, s));
    }
    files.extend_from_slice(extra);
    Ok(fv::build_cfv(&files, region_size)?)
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

    const HASH: [u8; 48] = [0x3C; 48];

    #[test]
    fn guids_in_on_disk_order() {
        // Registry forms from the spec, byte-swapped by hand.
        assert_eq!(
            TRUST_ANCHOR_FILE_NAME.to_bytes(),
            [
                0x2E, 0x74, 0xA2, 0x77, 0x40, 0x93, 0xC9, 0x4A, 0x8F, 0x85, 0xB7, 0xB9, 0x78, 0x58,
                0x00, 0x21
            ]
        );
        assert_eq!(
            PUBLIC_KEY_HASH_GUID.to_bytes(),
            [
                0xA3, 0x65, 0x8F, 0xBE, 0x3B, 0xA8, 0x5C, 0x41, 0xA1, 0xFB, 0xF7, 0x8E, 0x10, 0x5E,
                0x82, 0x4E
            ]
        );
        assert_eq!(
            MIN_SVN_FILE_NAME,
            Guid::parse_str("2FDA9FCA-3A5C-4978-8DDD-B603F3FB1E05").unwrap()
        );
    }

    #[test]
    fn anchor_layout_by_hand() {
        let a = build_anchor(&HASH);
        assert_eq!(&a[..16], &PUBLIC_KEY_HASH_GUID.to_bytes());
        assert_eq!(a[16..20], [1, 0, 0, 0]);
        assert_eq!(a[20..24], [88, 0, 0, 0]);
        assert_eq!(a[24..32], [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(a[32..40], [0; 8]);
        assert_eq!(a[40..], HASH);
        let p = parse_anchor(&a).unwrap();
        assert_eq!(p.bytes, &a[..]);
        assert_eq!(p.hash, &HASH);
        // Upstream's seed: 8 trailing bytes in the file; the anchor stays 88 bytes.
        let mut long = a.to_vec();
        long.extend_from_slice(&[0xEE; 8]);
        assert_eq!(parse_anchor(&long).unwrap().bytes, &a[..]);
    }

    #[test]
    fn public_key_hash_is_sha384() {
        // sha384sum of the empty input and of "abc" (FIPS 180-2 example).
        let empty = "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b";
        let abc = "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7";
        for (input, hex) in [(&b""[..], empty), (&b"abc"[..], abc)] {
            let h = public_key_hash(input);
            let mut s = alloc::string::String::new();
            for b in h {
                s.push_str(&alloc::format!("{b:02x}"));
            }
            assert_eq!(s, hex);
        }
    }

    #[test]
    fn anchor_every_field_hostile() {
        let good = build_anchor(&HASH);
        for i in 0..16 {
            let mut b = good;
            b[i] ^= 0x20;
            assert_eq!(parse_anchor(&b), Err(Error::AnchorBadGuid), "guid byte {i}");
        }
        for v in [0u32, 2, u32::MAX] {
            let mut b = good;
            b[16..20].copy_from_slice(&v.to_le_bytes());
            assert_eq!(parse_anchor(&b), Err(Error::AnchorBadVersion { found: v }));
        }
        for l in [0u32, 40, 87, 89, 120, u32::MAX] {
            let mut b = good;
            b[20..24].copy_from_slice(&l.to_le_bytes());
            assert_eq!(parse_anchor(&b), Err(Error::AnchorBadLength { length: l }));
        }
        for a in [0u64, 2, 1 << 32] {
            let mut b = good;
            b[24..32].copy_from_slice(&a.to_le_bytes());
            assert_eq!(
                parse_anchor(&b),
                Err(Error::AnchorBadHashAlgorithm { found: a })
            );
        }
        for i in 32..40 {
            let mut b = good;
            b[i] = 1;
            assert_eq!(parse_anchor(&b), Err(Error::AnchorBadReserved), "byte {i}");
        }
        // Hash bytes are data: a flip parses, with the flipped hash.
        let mut b = good;
        b[87] ^= 1;
        assert_eq!(parse_anchor(&b).unwrap().hash[47], HASH[47] ^ 1);
        for cut in 0..ANCHOR_SIZE {
            assert_eq!(
                parse_anchor(&good[..cut]),
                Err(Error::AnchorTruncated { len: cut }),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn min_svn_exact_size() {
        assert_eq!(build_min_svn(0x1122), [0x22, 0x11, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse_min_svn(&build_min_svn(u64::MAX)), Ok(u64::MAX));
        for len in [0usize, 1, 7, 9, 16] {
            assert_eq!(parse_min_svn(&vec![0; len]), Err(Error::MinSvnSize { len }));
        }
    }

    #[test]
    fn policy_round_trip() {
        let other = Guid::parse_str("F10E684E-3ABD-20E4-5932-8F973C355E57").unwrap();
        let cfv = build(Some(&HASH), Some(5), &[(other, b"{}")], 0x1000).unwrap();
        let p = policy(&cfv).unwrap();
        assert_eq!(p.anchor.unwrap().hash, &HASH);
        assert_eq!(p.anchor.unwrap().bytes, &build_anchor(&HASH)[..]);
        assert_eq!(p.min_svn, Some(5));
        // The anchor is the first file at 0x78 (+ 24-byte FFS header), 8-aligned files after.
        assert_eq!(&cfv[0x78..0x78 + 16], &TRUST_ANCHOR_FILE_NAME.to_bytes());
        assert_eq!(cfv[0x78 + 18], fv::FILE_TYPE_RAW);
        assert_eq!(cfv[0x78 + 20..0x78 + 23], [24 + 88, 0, 0]);
        assert_eq!(&cfv[0x78 + 24..0x78 + 24 + 88], &build_anchor(&HASH));
        // 0x78 + 112 = 0xE8 (8-aligned): the minimum-SVN file.
        assert_eq!(&cfv[0xE8..0xE8 + 16], &MIN_SVN_FILE_NAME.to_bytes());
        assert_eq!(cfv[0xE8 + 24..0xE8 + 32], [5, 0, 0, 0, 0, 0, 0, 0]);

        let empty = build(None, None, &[], 0x1000).unwrap();
        assert_eq!(policy(&empty), Ok(Policy::default()));
        let only_anchor = build(Some(&HASH), None, &[], 0x1000).unwrap();
        assert_eq!(policy(&only_anchor).unwrap().min_svn, None);
        assert_eq!(
            build(None, None, &[(MIN_SVN_FILE_NAME, &[0; 8])], 0x1000),
            Err(Error::Duplicate {
                name: MIN_SVN_FILE_NAME
            })
        );
    }

    #[test]
    fn policy_hostile() {
        let anchor = build_anchor(&HASH);
        // Two anchors, two minimum SVNs.
        let two = fv::build_cfv(
            &[
                (TRUST_ANCHOR_FILE_NAME, &anchor),
                (TRUST_ANCHOR_FILE_NAME, &anchor),
            ],
            0x1000,
        )
        .unwrap();
        assert_eq!(
            policy(&two),
            Err(Error::Duplicate {
                name: TRUST_ANCHOR_FILE_NAME
            })
        );
        let two = fv::build_cfv(
            &[(MIN_SVN_FILE_NAME, &[0; 8]), (MIN_SVN_FILE_NAME, &[0; 8])],
            0x1000,
        )
        .unwrap();
        assert!(matches!(policy(&two), Err(Error::Duplicate { .. })));
        // Anchor file with another type (the header checksum is fixed up).
        let mut cfv = build(Some(&HASH), None, &[], 0x1000).unwrap();
        cfv[0x78 + 18] = fv::FILE_TYPE_DXE_CORE;
        cfv[0x78 + 16] = cfv[0x78 + 16].wrapping_sub(fv::FILE_TYPE_DXE_CORE - fv::FILE_TYPE_RAW);
        assert_eq!(
            policy(&cfv),
            Err(Error::FileType {
                name: TRUST_ANCHOR_FILE_NAME,
                file_type: fv::FILE_TYPE_DXE_CORE
            })
        );
        // A bad anchor or minimum SVN inside a good volume.
        let mut bad = anchor;
        bad[16] = 9;
        let cfv = fv::build_cfv(&[(TRUST_ANCHOR_FILE_NAME, &bad)], 0x1000).unwrap();
        assert_eq!(policy(&cfv), Err(Error::AnchorBadVersion { found: 9 }));
        let cfv = fv::build_cfv(&[(MIN_SVN_FILE_NAME, &[1; 4])], 0x1000).unwrap();
        assert_eq!(policy(&cfv), Err(Error::MinSvnSize { len: 4 }));
        // Not an FV; an FFS2 volume.
        assert!(matches!(policy(&[0u8; 0x1000]), Err(Error::Fv(_))));
        let pfv = fv::build_payload_fv(b"x", 0x1000).unwrap();
        assert_eq!(
            policy(&pfv),
            Err(Error::NotCfv {
                file_system: fv::FFS2_GUID
            })
        );
        // Every byte flipped in the anchor file's header and data: an error or a policy
        // whose anchor differs from the enrolled one; never a panic, never the same anchor.
        let good = build(Some(&HASH), Some(3), &[], 0x1000).unwrap();
        for i in 0x78..0x78 + 24 + 88 {
            let mut b = good.clone();
            b[i] ^= 0x04;
            if let Ok(p) = policy(&b) {
                assert_ne!(p.anchor.map(|a| *a.hash), Some(HASH), "byte {i:#x}");
            }
        }
        // Every truncation of the volume: an error or a policy, never a panic.
        for cut in 0..0x120 {
            let _ = policy(&good[..cut]);
        }
    }
}
