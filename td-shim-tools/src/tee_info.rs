// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Offline MRTD and TEE_INFO_HASH of a TDVF-format image (`td-shim-tee-info-hash`), per
//! `../shared/spec/measurement.md` §6 (MRTD: SHA-384 over 128-byte PAGE.ADD / MR.EXTEND
//! blocks in VMM call order) and §7 (TDINFO, the 512-byte second half of TDREPORT, and
//! TEE_INFO_HASH = SHA-384(TDINFO)), with the sections read by
//! [`td_shim::format::metadata::parse_image`] (`../shared/spec/metadata.md`).
//!
//! Two VMM call orders are modelled ([`PageOrder`]): the reference order of QEMU/KVM (per
//! page: PAGE.ADD, then its sixteen MR.EXTENDs) and "all PAGE.ADDs first". The values a
//! verifier cannot read from the image (ATTRIBUTES, XFAM, MRCONFIGID, MROWNER,
//! MROWNERCONFIG, RTMR0..3, SERVTD_HASH) come from a small JSON manifest ([`parse_manifest`]).
//!
//! Inputs are untrusted: the image (metadata validated before use), the optional payload file
//! and the manifest. Every problem is an [`Error`] or [`ManifestError`], never a panic.

use sha2::{Digest, Sha384};
use std::fmt;
use td_shim::format::metadata::{self, Metadata, Section, SectionType};

/// SHA-384 digest / measurement register size.
pub const DIGEST_SIZE: usize = 48;
/// Size of the TDINFO structure (TDREPORT bytes 512..1024).
pub const TDINFO_SIZE: usize = 512;
/// Size of one block fed to the MRTD hash.
pub const BLOCK_SIZE: usize = 128;
/// Bytes covered by one TDH.MR.EXTEND.
pub const EXTEND_CHUNK_SIZE: usize = 256;
/// Page size of TDH.MEM.PAGE.ADD.
pub const PAGE_SIZE: usize = 4096;
/// Most guest memory the sections may PAGE.ADD (and, separately, MR.EXTEND) before the
/// image is refused: a hostile MemoryDataSize must not keep the tool hashing for hours, and
/// no VMM copies gigabytes of build-time pages into a TD.
pub const MAX_MEASURED_SIZE: u64 = 4 << 30;

/// A 48-byte register or digest.
pub type Digest48 = [u8; DIGEST_SIZE];

/// Order in which the VMM issues PAGE.ADD and MR.EXTEND (MRTD depends on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageOrder {
    /// Sections in metadata order, pages ascending; per page PAGE.ADD, then (if the section
    /// has MR.EXTEND) its sixteen MR.EXTENDs. QEMU/KVM and the reference algorithm of §6.
    Interleaved,
    /// Every PAGE.ADD of every section first (same order), then every MR.EXTEND (same order).
    AddFirst,
}

impl PageOrder {
    /// Name used on the command line and in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            PageOrder::Interleaved => "interleaved",
            PageOrder::AddFirst => "add-first",
        }
    }
}

/// Why MRTD could not be computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The image's TDVF metadata is missing or invalid.
    Metadata(metadata::Error),
    /// Section `index` (Payload) is extended into MRTD but its contents are loaded by the VMM
    /// (RawDataSize = 0), so they must be given (`--payload`).
    PayloadContentsNeeded { index: usize },
    /// The payload file is larger than the Payload section's memory.
    PayloadTooLarge { size: u64, region: u64 },
    /// A payload file was given but no Payload section extends VMM-loaded contents into
    /// MRTD, so it would be ignored.
    PayloadNotMeasured,
    /// Section `index` names raw data outside the image (cannot happen after validation;
    /// reported rather than assumed).
    RawDataOutsideImage { index: usize },
    /// The sections PAGE.ADD or MR.EXTEND more than [`MAX_MEASURED_SIZE`] bytes.
    TooMuchMemory { what: &'static str, size: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Metadata(e) => write!(f, "{e}"),
            Error::PayloadContentsNeeded { index } => write!(
                f,
                "metadata section {index} (Payload) is extended into MRTD with contents the vmm \
                 loads; give them with --payload FILE"
            ),
            Error::PayloadTooLarge { size, region } => write!(
                f,
                "payload is {size:#x} bytes, larger than its {region:#x}-byte Payload section"
            ),
            Error::PayloadNotMeasured => f.write_str(
                "a payload was given but no Payload section extends vmm-loaded contents into mrtd",
            ),
            Error::RawDataOutsideImage { index } => {
                write!(f, "metadata section {index} raw data is outside the image")
            }
            Error::TooMuchMemory { what, size } => write!(
                f,
                "metadata sections {what} {size:#x} bytes, more than the {MAX_MEASURED_SIZE:#x} \
                 this tool accepts"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<metadata::Error> for Error {
    fn from(e: metadata::Error) -> Self {
        Error::Metadata(e)
    }
}

/// One section as the VMM builds it: the GPA range and the bytes it holds before PAGE.ADD
/// (zero-extended to the range size).
#[derive(Clone, Copy, Debug)]
struct BuildSection<'a> {
    base: u64,
    pages: u64,
    data: &'a [u8],
    add: bool,
    extend: bool,
}

impl BuildSection<'_> {
    fn page_gpa(&self, page: u64) -> u64 {
        // base + pages·4096 does not wrap: metadata::validate checked MemoryAddress +
        // MemoryDataSize, and page < pages.
        self.base.wrapping_add(page.wrapping_mul(PAGE_SIZE as u64))
    }

    /// Page `page` of the section contents, zero-filled past the data.
    fn page_bytes(&self, page: u64) -> [u8; PAGE_SIZE] {
        let mut out = [0u8; PAGE_SIZE];
        let start = usize::try_from(page)
            .ok()
            .and_then(|p| p.checked_mul(PAGE_SIZE));
        if let Some(chunk) = start.and_then(|s| self.data.get(s..)) {
            let n = chunk.len().min(PAGE_SIZE);
            if let (Some(dst), Some(src)) = (out.get_mut(..n), chunk.get(..n)) {
                dst.copy_from_slice(src);
            }
        }
        out
    }
}

/// The 128-byte block recorded for TDH.MEM.PAGE.ADD of the page at `gpa`.
pub fn page_add_block(gpa: u64) -> [u8; BLOCK_SIZE] {
    op_block(b"MEM.PAGE.ADD", gpa)
}

/// The 128-byte header block recorded for TDH.MR.EXTEND of the chunk at `gpa` (the chunk's
/// 256 bytes follow it as two more blocks).
pub fn mr_extend_block(gpa: u64) -> [u8; BLOCK_SIZE] {
    op_block(b"MR.EXTEND", gpa)
}

fn op_block(name: &[u8], gpa: u64) -> [u8; BLOCK_SIZE] {
    let mut b = [0u8; BLOCK_SIZE];
    if let Some(dst) = b.get_mut(..name.len()) {
        dst.copy_from_slice(name);
    }
    if let Some(dst) = b.get_mut(16..24) {
        dst.copy_from_slice(&gpa.to_le_bytes());
    }
    b
}

/// The sections that reach guest memory, with their contents, in metadata order.
fn build_sections<'a>(
    image: &'a [u8],
    md: &Metadata,
    payload: Option<&'a [u8]>,
) -> Result<Vec<BuildSection<'a>>, Error> {
    let mut out = Vec::new();
    let mut payload_used = false;
    for (index, s) in md.sections.iter().enumerate() {
        let kind = s.kind().ok_or(metadata::Error::ReservedType {
            index,
            section_type: s.section_type,
        })?;
        if matches!(kind, SectionType::TdInfo | SectionType::TdParams) {
            continue; // no memory (metadata.md §4)
        }
        let extend = s.attributes & metadata::ATTR_MR_EXTEND != 0;
        let data = section_data(image, index, s, kind, extend, payload, &mut payload_used)?;
        out.push(BuildSection {
            base: s.memory_address,
            pages: s.memory_data_size / PAGE_SIZE as u64,
            data,
            add: s.attributes & metadata::ATTR_PAGE_AUG == 0,
            extend,
        });
    }
    if payload.is_some() && !payload_used {
        return Err(Error::PayloadNotMeasured);
    }
    let total = |pick: fn(&BuildSection<'_>) -> bool| {
        out.iter().filter(|s| pick(s)).fold(0u64, |acc, s| {
            acc.saturating_add(s.pages.saturating_mul(PAGE_SIZE as u64))
        })
    };
    for (what, size) in [
        ("page.add", total(|s| s.add)),
        ("mr.extend", total(|s| s.extend)),
    ] {
        if size > MAX_MEASURED_SIZE {
            return Err(Error::TooMuchMemory { what, size });
        }
    }
    Ok(out)
}

/// The bytes a section holds before measurement: the image's raw data, or for a Payload
/// section without raw data that is extended into MRTD, the VMM-loaded payload. Other
/// sections without raw data (TD_HOB, TempMem, PermMem, PayloadParam, unextended Payload)
/// only contribute their GPAs, so their contents do not matter.
fn section_data<'a>(
    image: &'a [u8],
    index: usize,
    s: &Section,
    kind: SectionType,
    extend: bool,
    payload: Option<&'a [u8]>,
    payload_used: &mut bool,
) -> Result<&'a [u8], Error> {
    if s.raw_data_size != 0 {
        let start = s.data_offset as usize;
        let end = start.checked_add(s.raw_data_size as usize);
        return end
            .and_then(|e| image.get(start..e))
            .ok_or(Error::RawDataOutsideImage { index });
    }
    if kind != SectionType::Payload || !extend {
        return Ok(&[]);
    }
    let p = payload.ok_or(Error::PayloadContentsNeeded { index })?;
    if p.len() as u64 > s.memory_data_size {
        return Err(Error::PayloadTooLarge {
            size: p.len() as u64,
            region: s.memory_data_size,
        });
    }
    *payload_used = true;
    Ok(p)
}

fn add_page(h: &mut Sha384, s: &BuildSection<'_>, page: u64) {
    if s.add {
        h.update(page_add_block(s.page_gpa(page)));
    }
}

fn extend_page(h: &mut Sha384, s: &BuildSection<'_>, page: u64) {
    if !s.extend {
        return;
    }
    let gpa = s.page_gpa(page);
    let bytes = s.page_bytes(page);
    for (k, chunk) in bytes.chunks_exact(EXTEND_CHUNK_SIZE).enumerate() {
        // k < 16, so the offset stays inside the page whose GPA did not wrap.
        let off = (k as u64).wrapping_mul(EXTEND_CHUNK_SIZE as u64);
        h.update(mr_extend_block(gpa.wrapping_add(off)));
        h.update(chunk);
    }
}

/// MRTD of `image` as built by a VMM issuing calls in `order`. `payload` supplies the
/// contents of a Payload section that the VMM fills and extends (RawDataSize = 0,
/// MR.EXTEND set); it is an error to give one when no such section exists.
pub fn mrtd(image: &[u8], payload: Option<&[u8]>, order: PageOrder) -> Result<Digest48, Error> {
    let md = metadata::parse_image(image)?;
    mrtd_of(image, &md, payload, order)
}

/// [`mrtd`] for metadata already parsed and validated from `image`.
pub fn mrtd_of(
    image: &[u8],
    md: &Metadata,
    payload: Option<&[u8]>,
    order: PageOrder,
) -> Result<Digest48, Error> {
    let sections = build_sections(image, md, payload)?;
    let mut h = Sha384::new();
    match order {
        // Sections with neither PAGE.ADD nor MR.EXTEND (PermMem) are skipped, not walked:
        // their size is not capped.
        PageOrder::Interleaved => {
            for s in sections.iter().filter(|s| s.add || s.extend) {
                for page in 0..s.pages {
                    add_page(&mut h, s, page);
                    extend_page(&mut h, s, page);
                }
            }
        }
        PageOrder::AddFirst => {
            for s in sections.iter().filter(|s| s.add) {
                for page in 0..s.pages {
                    add_page(&mut h, s, page);
                }
            }
            for s in sections.iter().filter(|s| s.extend) {
                for page in 0..s.pages {
                    extend_page(&mut h, s, page);
                }
            }
        }
    }
    Ok(h.finalize().into())
}

/// The TD parameters a verifier supplies (everything in TDINFO except MRTD).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TdParams {
    pub attributes: u64,
    pub xfam: u64,
    pub mrconfigid: Digest48Field,
    pub mrowner: Digest48Field,
    pub mrownerconfig: Digest48Field,
    pub rtmr: [Digest48Field; 4],
    pub servtd_hash: Digest48Field,
}

/// A 48-byte field with a zero default (arrays this large have no `Default`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest48Field(pub Digest48);

impl Default for Digest48Field {
    fn default() -> Self {
        Digest48Field([0; DIGEST_SIZE])
    }
}

/// TDINFO_STRUCT (`measurement.md` §7): the 512 bytes TEE_INFO_HASH covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdInfo {
    pub params: TdParams,
    pub mrtd: Digest48,
}

impl TdInfo {
    /// Serialises TDINFO: ATTRIBUTES@0 · XFAM@8 · MRTD@16 · MRCONFIGID@64 · MROWNER@112 ·
    /// MROWNERCONFIG@160 · RTMR0..3@208,256,304,352 · SERVTD_HASH@400 · reserved(64)@448.
    pub fn to_bytes(&self) -> [u8; TDINFO_SIZE] {
        let p = &self.params;
        let mut v = Vec::with_capacity(TDINFO_SIZE);
        v.extend_from_slice(&p.attributes.to_le_bytes());
        v.extend_from_slice(&p.xfam.to_le_bytes());
        v.extend_from_slice(&self.mrtd);
        v.extend_from_slice(&p.mrconfigid.0);
        v.extend_from_slice(&p.mrowner.0);
        v.extend_from_slice(&p.mrownerconfig.0);
        for r in &p.rtmr {
            v.extend_from_slice(&r.0);
        }
        v.extend_from_slice(&p.servtd_hash.0);
        let mut out = [0u8; TDINFO_SIZE];
        // v is 448 bytes; the last 64 stay zero (reserved).
        if let Some(dst) = out.get_mut(..v.len()) {
            dst.copy_from_slice(&v);
        }
        out
    }

    /// TEE_INFO_HASH = SHA-384(TDINFO).
    pub fn tee_info_hash(&self) -> Digest48 {
        Sha384::digest(self.to_bytes()).into()
    }
}

/// Names of the manifest fields, in TDINFO order.
pub const MANIFEST_FIELDS: [&str; 10] = [
    "attributes",
    "xfam",
    "mrconfigid",
    "mrowner",
    "mrownerconfig",
    "rtmr0",
    "rtmr1",
    "rtmr2",
    "rtmr3",
    "servtd_hash",
];

/// Why a TD-parameters manifest was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Not JSON, or not a JSON object.
    Syntax(String),
    /// A key that is not one of [`MANIFEST_FIELDS`].
    UnknownField(String),
    /// A known field with a bad value.
    BadField { field: &'static str, reason: String },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Syntax(e) => write!(f, "manifest: {e}"),
            ManifestError::UnknownField(name) => write!(
                f,
                "manifest: unknown field \"{name}\" (known: {})",
                MANIFEST_FIELDS.join(", ")
            ),
            ManifestError::BadField { field, reason } => {
                write!(f, "manifest: field \"{field}\": {reason}")
            }
        }
    }
}

impl std::error::Error for ManifestError {}

/// Parses a TD-parameters manifest: one JSON object whose keys are a subset of
/// [`MANIFEST_FIELDS`], each a string. `attributes` and `xfam` are u64 numbers in hex (16
/// digits, or `0x` + 1..16 digits), stored little-endian in TDINFO; the others are 48 bytes
/// as 96 hex digits in memory order (optional `0x`). Missing fields are zero.
pub fn parse_manifest(text: &str) -> Result<TdParams, ManifestError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ManifestError::Syntax("expected a json object".into()))?;
    let mut p = TdParams::default();
    for (key, val) in obj {
        let field = MANIFEST_FIELDS
            .iter()
            .copied()
            .find(|f| *f == key.as_str())
            .ok_or_else(|| ManifestError::UnknownField(key.clone()))?;
        let bad = |reason: String| ManifestError::BadField { field, reason };
        let text = val
            .as_str()
            .ok_or_else(|| bad(format!("expected a hex string, found {val}")))?;
        let reg = |t: &str| crate::hex::decode_array::<DIGEST_SIZE>(t).map(Digest48Field);
        match field {
            "attributes" => p.attributes = crate::hex::decode_u64(text).map_err(bad)?,
            "xfam" => p.xfam = crate::hex::decode_u64(text).map_err(bad)?,
            "mrconfigid" => p.mrconfigid = reg(text).map_err(bad)?,
            "mrowner" => p.mrowner = reg(text).map_err(bad)?,
            "mrownerconfig" => p.mrownerconfig = reg(text).map_err(bad)?,
            "servtd_hash" => p.servtd_hash = reg(text).map_err(bad)?,
            _ => {
                // rtmr0..rtmr3: the digit after "rtmr".
                let slot = field
                    .strip_prefix("rtmr")
                    .and_then(|d| d.parse::<usize>().ok())
                    .and_then(|i| p.rtmr.get_mut(i))
                    .ok_or_else(|| bad("internal: unmapped field".into()))?;
                *slot = reg(text).map_err(bad)?;
            }
        }
    }
    Ok(p)
}

/// Everything `td-shim-tee-info-hash` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    pub order: PageOrder,
    pub tdinfo: TdInfo,
    pub tee_info_hash: Digest48,
}

impl Report {
    /// MRTD of `image` in `order`, then TDINFO with `params` and its hash.
    pub fn compute(
        image: &[u8],
        payload: Option<&[u8]>,
        order: PageOrder,
        params: TdParams,
    ) -> Result<Self, Error> {
        let mrtd = mrtd(image, payload, order)?;
        let tdinfo = TdInfo { params, mrtd };
        Ok(Report {
            order,
            tdinfo,
            tee_info_hash: tdinfo.tee_info_hash(),
        })
    }

    /// (name, lowercase hex) of each TDINFO field, in TDINFO order.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        use crate::hex::encode;
        let p = &self.tdinfo.params;
        let mut v = vec![
            ("attributes", format!("{:016x}", p.attributes)),
            ("xfam", format!("{:016x}", p.xfam)),
            ("mrtd", encode(&self.tdinfo.mrtd)),
            ("mrconfigid", encode(&p.mrconfigid.0)),
            ("mrowner", encode(&p.mrowner.0)),
            ("mrownerconfig", encode(&p.mrownerconfig.0)),
        ];
        for (name, r) in ["rtmr0", "rtmr1", "rtmr2", "rtmr3"].iter().zip(&p.rtmr) {
            v.push((name, encode(&r.0)));
        }
        v.push(("servtd_hash", encode(&p.servtd_hash.0)));
        v
    }

    /// The JSON object printed by `--json`: `mrtd`, `tee_info_hash`, `page_order`, `tdinfo`
    /// (each field as hex) and `tdinfo_bytes` (the 512 hashed bytes as hex).
    pub fn to_json(&self) -> serde_json::Value {
        let mut td = serde_json::Map::new();
        for (name, hex) in self.fields() {
            td.insert(name.into(), hex.into());
        }
        serde_json::json!({
            "mrtd": crate::hex::encode(&self.tdinfo.mrtd),
            "tee_info_hash": crate::hex::encode(&self.tee_info_hash),
            "page_order": self.order.name(),
            "tdinfo": td,
            "tdinfo_bytes": crate::hex::encode(&self.tdinfo.to_bytes()),
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "page order:    {}", self.order.name())?;
        writeln!(
            f,
            "mrtd:          {}",
            crate::hex::encode(&self.tdinfo.mrtd)
        )?;
        writeln!(
            f,
            "tee_info_hash: {}",
            crate::hex::encode(&self.tee_info_hash)
        )?;
        writeln!(f, "tdinfo:")?;
        for (name, hex) in self.fields() {
            writeln!(f, "  {name:<14} {hex}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_match_spec_table() {
        let b = page_add_block(0x1122_3344_5566_7788);
        assert_eq!(&b[..12], b"MEM.PAGE.ADD");
        assert!(b[12..16].iter().all(|&x| x == 0));
        assert_eq!(b[16..24], [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
        assert!(b[24..].iter().all(|&x| x == 0));
        let e = mr_extend_block(0xFFC0_0100);
        assert_eq!(&e[..9], b"MR.EXTEND");
        assert!(e[9..16].iter().all(|&x| x == 0));
        assert_eq!(e[16..24], [0x00, 0x01, 0xC0, 0xFF, 0, 0, 0, 0]);
        assert!(e[24..].iter().all(|&x| x == 0));
    }

    #[test]
    fn tdinfo_offsets() {
        let mut params = TdParams {
            attributes: 0x0102_0304_0506_0708,
            xfam: 0xE7,
            ..TdParams::default()
        };
        params.mrconfigid = Digest48Field([1; 48]);
        params.mrowner = Digest48Field([2; 48]);
        params.mrownerconfig = Digest48Field([3; 48]);
        for (i, r) in params.rtmr.iter_mut().enumerate() {
            *r = Digest48Field([4 + i as u8; 48]);
        }
        params.servtd_hash = Digest48Field([8; 48]);
        let b = TdInfo {
            params,
            mrtd: [9; 48],
        }
        .to_bytes();
        // measurement.md §7 offsets relative to TDREPORT, minus 512.
        assert_eq!(b[0..8], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b[8..16], [0xE7, 0, 0, 0, 0, 0, 0, 0]);
        for (off, val) in [
            (16, 9),
            (64, 1),
            (112, 2),
            (160, 3),
            (208, 4),
            (256, 5),
            (304, 6),
            (352, 7),
            (400, 8),
        ] {
            assert!(b[off..off + 48].iter().all(|&x| x == val), "offset {off}");
        }
        assert!(b[448..].iter().all(|&x| x == 0));
    }

    #[test]
    fn manifest_fields_and_errors() {
        let p = parse_manifest(
            r#"{"attributes":"0x10000000","xfam":"00000000000602e7",
                "rtmr2":"0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"}"#,
        )
        .unwrap();
        assert_eq!(p.attributes, 0x1000_0000);
        assert_eq!(p.xfam, 0x602E7);
        let want: Vec<u8> = (0..48).collect();
        assert_eq!(p.rtmr[2].0.to_vec(), want);
        assert_eq!(p.rtmr[0], Digest48Field::default());
        assert_eq!(parse_manifest("{}"), Ok(TdParams::default()));

        let err = parse_manifest(r#"{"mrtd":"00"}"#).unwrap_err();
        assert_eq!(err, ManifestError::UnknownField("mrtd".into()));
        assert!(err.to_string().contains("\"mrtd\""));
        for (text, field) in [
            (r#"{"xfam":"0xe7g"}"#, "xfam"),
            (r#"{"attributes":"e7"}"#, "attributes"),
            (r#"{"attributes":7}"#, "attributes"),
            (r#"{"mrowner":"00"}"#, "mrowner"),
            (r#"{"rtmr3":null}"#, "rtmr3"),
            (r#"{"servtd_hash":"zz"}"#, "servtd_hash"),
        ] {
            match parse_manifest(text) {
                Err(ManifestError::BadField { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        for text in ["", "[]", "\"x\"", "{", "{\"xfam\":\"0x1\",}"] {
            assert!(
                matches!(parse_manifest(text), Err(ManifestError::Syntax(_))),
                "{text}"
            );
        }
    }
}
