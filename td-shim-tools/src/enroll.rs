// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Enrollment behind `td-shim-enroll` and `cargo image --enroll-key`
//! (`../shared/spec/secure-boot.md` §2, §4): rebuilds an image's configuration FV from
//! scratch with the trust anchor (SHA-384 of the public key's X‖Y or N‖E), an optional
//! minimum payload SVN and extra RAW files, in the CFV region the image's TDVF metadata
//! names. The result is read back with the firmware's own policy parser.
//!
//! The image and the files are untrusted inputs: every refusal is an [`EnrollError`].

use crate::spki::PublicKey;
use std::fmt;
use td_shim::format::guid::Guid;
use td_shim::format::{cfv, metadata};

/// What was enrolled, and where.
#[derive(Clone, Debug)]
pub struct Enrolled {
    /// The image with its new CFV.
    pub image: Vec<u8>,
    /// Image offset and size of the CFV region.
    pub cfv_offset: u64,
    pub cfv_size: u64,
    /// SHA-384 of the public-key bytes (what the anchor holds).
    pub key_hash: [u8; cfv::SHA384_SIZE],
    /// The 88 trust-anchor bytes the firmware measures.
    pub anchor: [u8; cfv::ANCHOR_SIZE],
    /// Files the old CFV held (all replaced).
    pub replaced_files: usize,
}

/// Why an image could not be enrolled.
#[derive(Clone, Debug)]
pub enum EnrollError {
    /// The image's TDVF metadata could not be read.
    Metadata(metadata::Error),
    /// The metadata has no CFV section, or one outside the image.
    NoCfv(String),
    /// The new CFV does not fit its region, or an extra file uses a policy name.
    Build(cfv::Error),
    /// Reading back the new CFV gave another policy (a bug).
    ReadBack(String),
}

impl fmt::Display for EnrollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnrollError::Metadata(e) => write!(f, "image: {e}"),
            EnrollError::NoCfv(m) => write!(f, "image: {m}"),
            EnrollError::Build(cfv::Error::Duplicate { name }) => write!(
                f,
                "--file {name} uses the name of a secure-boot policy file; pick another GUID"
            ),
            EnrollError::Build(e) => write!(f, "configuration fv: {e}"),
            EnrollError::ReadBack(m) => write!(f, "enrolled cfv does not read back: {m}"),
        }
    }
}

impl std::error::Error for EnrollError {}

/// Image offset and size of the CFV region named by the image's metadata.
pub fn cfv_region(image: &[u8]) -> Result<(u64, u64), EnrollError> {
    let md = metadata::parse_image(image).map_err(EnrollError::Metadata)?;
    let cfvs: Vec<&metadata::Section> = md
        .sections
        .iter()
        .filter(|s| s.section_type == metadata::SectionType::Cfv as u32)
        .collect();
    let s = match cfvs.as_slice() {
        [s] => *s,
        [] => return Err(EnrollError::NoCfv("its metadata has no CFV section".into())),
        _ => {
            return Err(EnrollError::NoCfv(
                "its metadata has more than one CFV section".into(),
            ))
        }
    };
    let offset = u64::from(s.data_offset);
    let size = u64::from(s.raw_data_size);
    if size == 0 || offset.saturating_add(size) > image.len() as u64 {
        return Err(EnrollError::NoCfv(format!(
            "the CFV section [{offset:#x}, +{size:#x}) does not lie inside the {:#x}-byte image",
            image.len()
        )));
    }
    Ok((offset, size))
}

/// Enrolls `key` (with `min_svn` and `files`) into a copy of `image`.
pub fn enroll(
    image: &[u8],
    key: &PublicKey,
    min_svn: Option<u64>,
    files: &[(Guid, Vec<u8>)],
) -> Result<Enrolled, EnrollError> {
    let (offset, size) = cfv_region(image)?;
    let (start, end) = (offset as usize, (offset + size) as usize);
    let old = &image[start..end];
    let replaced_files = td_shim::format::fv::parse(old)
        .and_then(|v| v.files())
        .map_or(0, |f| f.len());
    let key_hash = cfv::public_key_hash(&key.block_bytes());
    let extra: Vec<(Guid, &[u8])> = files.iter().map(|(g, d)| (*g, d.as_slice())).collect();
    let new_cfv =
        cfv::build(Some(&key_hash), min_svn, &extra, size as usize).map_err(EnrollError::Build)?;
    let mut out = image.to_vec();
    out[start..end].copy_from_slice(&new_cfv);

    // Read back as the firmware will.
    let policy = cfv::policy(&out[start..end]).map_err(|e| EnrollError::ReadBack(e.to_string()))?;
    let anchor = policy
        .anchor
        .ok_or_else(|| EnrollError::ReadBack("no trust anchor".into()))?;
    if *anchor.hash != key_hash || policy.min_svn != min_svn {
        return Err(EnrollError::ReadBack("policy differs".into()));
    }
    metadata::parse_image(&out).map_err(EnrollError::Metadata)?;
    Ok(Enrolled {
        image: out,
        cfv_offset: offset,
        cfv_size: size,
        key_hash,
        anchor: cfv::build_anchor(&key_hash),
        replaced_files,
    })
}

/// Parses `GUID,PATH` (the `--file` argument): the GUID and the path.
pub fn parse_file_arg(arg: &str) -> Result<(Guid, std::path::PathBuf), String> {
    let (guid, path) = arg
        .split_once(',')
        .ok_or_else(|| format!("'{arg}' is not GUID,PATH"))?;
    let guid = Guid::parse_str(guid.trim()).map_err(|e| format!("'{guid}': {e}"))?;
    if path.is_empty() {
        return Err(format!("'{arg}' has no path after the comma"));
    }
    Ok((guid, std::path::PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_arg() {
        let (g, p) = parse_file_arg("F10E684E-3ABD-20E4-5932-8F973C355E57,cfg/a.json").unwrap();
        assert_eq!(g.to_string(), "F10E684E-3ABD-20E4-5932-8F973C355E57");
        assert_eq!(p, std::path::PathBuf::from("cfg/a.json"));
        // Paths may hold commas after the first one.
        let (_, p) = parse_file_arg("F10E684E-3ABD-20E4-5932-8F973C355E57,a,b").unwrap();
        assert_eq!(p, std::path::PathBuf::from("a,b"));
        for bad in [
            "F10E684E-3ABD-20E4-5932-8F973C355E57",
            "F10E684E-3ABD-20E4-5932-8F973C355E57,",
            "nope,file",
        ] {
            assert!(parse_file_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn not_an_image() {
        let key = PublicKey::EcdsaP384 { xy: vec![1; 96] };
        let e = enroll(&[0u8; 0x10000], &key, None, &[]).unwrap_err();
        assert!(matches!(e, EnrollError::Metadata(_)), "{e}");
    }
}
