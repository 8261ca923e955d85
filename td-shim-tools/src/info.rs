// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The image inspector behind `td-shim-info`: reads any TDVF-format image (ours or not) and
//! reports its size, how the metadata was located, each metadata section, the image tail,
//! the firmware volumes it finds (IPL, payload, CFV) and every rule it breaks
//! (`../shared/spec/image-layout.md`, `../shared/spec/metadata.md`).
//!
//! The image is untrusted: nothing here panics on any input; what cannot be read is
//! reported as a violation and the rest of the report is still filled in.

use std::fmt::{self, Write as _};
use td_shim::format::guid::Guid;
use td_shim::format::{fv, metadata};
use td_shim::layout::{
    FOUR_GIB, IMAGE_SIZE_ALIGN, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, PAGE_SIZE, SHIM_RUN_BASE,
    SHIM_RUN_SIZE, TAIL_ENTRY_OFFSET, TAIL_IPL_BASE, TAIL_IPL_SIZE, TAIL_LEGACY_METADATA_PTR,
    TAIL_RESET_CODE,
};
use td_shim::loader::elf;

/// How the metadata descriptor was located.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locate {
    /// Descriptor offset given by the OVMF GUID table (image size − back-offset).
    pub ovmf: Option<u64>,
    /// Why the OVMF table could not be used, if it could not.
    pub ovmf_error: Option<String>,
    /// Raw legacy pointer at size − 0x20.
    pub legacy: Option<u64>,
    /// Whether both lookups were present and agree.
    pub agree: Option<bool>,
}

/// One metadata section, with its decoded type name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    pub type_name: &'static str,
    pub section: metadata::Section,
}

/// The descriptor as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataInfo {
    pub descriptor_offset: u64,
    pub has_guid: bool,
    pub version: u32,
    pub sections: Vec<SectionInfo>,
}

/// The linker-written tail fields and the reset code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    pub entry_offset: u32,
    pub ipl_base: u32,
    pub ipl_size: u32,
    pub reset_code: [u8; 16],
}

/// The IPL FV and the shim memory image in its PE32 section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IplInfo {
    pub fv_offset: u64,
    pub fv_length: u64,
    /// Image offset and length of the PE32 section body (the relocated shim memory image).
    pub image_offset: u64,
    pub image_size: u64,
    /// GPA of the shim entry once copied to SHIM_RUN_BASE (from the tail).
    pub entry: Option<u64>,
}

/// What the payload bytes look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    ElfPie,
    ElfExec,
    /// Starts with the ELF magic but the loader refuses it.
    ElfInvalid(elf::Error),
    /// Linux bzImage ("HdrS" at 0x202), with its boot-protocol version.
    BzImage {
        protocol: u16,
    },
    /// PE/COFF ("MZ", then "PE\0\0" at e_lfanew).
    Pe,
    Unknown,
}

impl PayloadKind {
    pub fn name(&self) -> String {
        match self {
            PayloadKind::ElfPie => "ELF PIE".into(),
            PayloadKind::ElfExec => "ELF EXEC".into(),
            PayloadKind::ElfInvalid(e) => format!("ELF (refused by the loader: {e})"),
            PayloadKind::BzImage { protocol } => {
                format!(
                    "bzImage (boot protocol {}.{:02})",
                    protocol >> 8,
                    protocol & 0xFF
                )
            }
            PayloadKind::Pe => "PE/COFF".into(),
            PayloadKind::Unknown => "unknown".into(),
        }
    }
}

/// The payload FV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadInfo {
    pub fv_offset: u64,
    pub fv_length: u64,
    /// Length of the PE32 section body (payload plus zero padding).
    pub section_size: u64,
    /// Length up to the last non-zero byte (the payload's size, give or take trailing zeros).
    pub content_size: u64,
    pub kind: PayloadKind,
}

/// One CFV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CfvFile {
    pub name: Guid,
    pub file_type: u8,
    pub size: u64,
}

/// The configuration FV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CfvInfo {
    pub fv_offset: u64,
    pub fv_length: u64,
    pub files: Vec<CfvFile>,
}

/// Everything `inspect` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub image_size: u64,
    /// GPA of the first byte (the image ends at 4 GiB); `None` if larger than 4 GiB.
    pub image_base: Option<u64>,
    pub locate: Locate,
    pub metadata: Option<MetadataInfo>,
    pub tail: Option<Tail>,
    pub ipl: Option<IplInfo>,
    pub payload: Option<PayloadInfo>,
    pub cfv: Option<CfvInfo>,
    /// Every rule the image breaks, one sentence each.
    pub violations: Vec<String>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}

fn from_end(b: &[u8], back: u64) -> Option<usize> {
    b.len().checked_sub(usize::try_from(back).ok()?)
}

/// Offset of `inner` (a sub-slice) inside `outer`.
fn offset_in(outer: &[u8], inner: &[u8]) -> u64 {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize) as u64
}

/// Inspects an image. Never panics; problems go to [`Report::violations`].
pub fn inspect(image: &[u8]) -> Report {
    let size = image.len() as u64;
    let image_base = FOUR_GIB.checked_sub(size);
    let mut v = Vec::new();
    check_size(size, &mut v);

    let locate = locate(image, &mut v);
    let metadata = read_metadata(image, &locate, &mut v);
    if let (Some(md), Some(base)) = (&metadata, image_base) {
        check_sections(md, size, base, &mut v);
    }

    let tail = read_tail(image);
    match &tail {
        Some(t) if t.reset_code.iter().all(|&b| b == 0) => {
            v.push("reset code (last 16 bytes, GPA 0xfffffff0) is all zero".into())
        }
        Some(_) => {}
        None => v.push(format!(
            "image ({size} bytes) is too small to hold the {TAIL_ENTRY_OFFSET:#x}-byte tail"
        )),
    }

    let (ipl, payload, cfv) = find_volumes(image, &tail, &mut v);
    if let Some(t) = &tail {
        check_ipl(t, ipl.as_ref(), image_base, &mut v);
    }
    if let Some(PayloadInfo {
        kind: PayloadKind::ElfInvalid(e),
        ..
    }) = &payload
    {
        v.push(format!("payload ELF is refused by the loader: {e}"));
    }
    Report {
        image_size: size,
        image_base,
        locate,
        metadata,
        tail,
        ipl,
        payload,
        cfv,
        violations: v,
    }
}

fn check_size(size: u64, v: &mut Vec<String>) {
    if size > FOUR_GIB {
        v.push(format!("image size {size:#x} is larger than 4 GiB"));
    }
    if !size.is_multiple_of(PAGE_SIZE) {
        v.push(format!(
            "image size {size:#x} is not a multiple of 4 KiB (TDVF)"
        ));
    } else if !size.is_multiple_of(IMAGE_SIZE_ALIGN) {
        v.push(format!(
            "image size {size:#x} is not a multiple of {IMAGE_SIZE_ALIGN:#x} (QEMU -bios)"
        ));
    }
    if !(MIN_IMAGE_SIZE..=MAX_IMAGE_SIZE).contains(&size) {
        v.push(format!(
            "image size {size:#x} is outside [{MIN_IMAGE_SIZE:#x}, {MAX_IMAGE_SIZE:#x}]"
        ));
    }
}

fn locate(image: &[u8], v: &mut Vec<String>) -> Locate {
    let mut l = Locate::default();
    match metadata::ovmf_back_offset(image) {
        Ok(back) => match image.len().checked_sub(back as usize) {
            Some(off) => l.ovmf = Some(off as u64),
            None => {
                l.ovmf_error = Some(format!(
                    "TDX entry back-offset {back:#x} is larger than the image"
                ))
            }
        },
        Err(e) => l.ovmf_error = Some(e.to_string()),
    }
    if let Some(e) = &l.ovmf_error {
        v.push(format!("OVMF GUID table (what QEMU reads): {e}"));
    }
    l.legacy = from_end(image, TAIL_LEGACY_METADATA_PTR)
        .and_then(|at| u32_at(image, at))
        .map(u64::from);
    if let (Some(o), Some(p)) = (l.ovmf, l.legacy) {
        l.agree = Some(o == p);
        if o != p {
            v.push(format!(
                "OVMF table locates the descriptor at {o:#x} but the legacy pointer says {p:#x}"
            ));
        }
    }
    l
}

fn read_metadata(image: &[u8], l: &Locate, v: &mut Vec<String>) -> Option<MetadataInfo> {
    // Prefer the OVMF table (what a VMM uses), then the legacy pointer (what the firmware uses).
    let offset = l.ovmf.or(l.legacy)? as usize;
    let Some(bytes) = image.get(offset..) else {
        v.push(format!(
            "metadata descriptor offset {offset:#x} is outside the image"
        ));
        return None;
    };
    let has_guid = offset
        .checked_sub(16)
        .and_then(|g| image.get(g..offset))
        .is_some_and(|g| g == metadata::METADATA_GUID.to_bytes());
    let md = match metadata::parse_descriptor(bytes, offset, has_guid) {
        Ok(md) => md,
        Err(e) => {
            v.push(format!("descriptor at {offset:#x}: {e}"));
            return None;
        }
    };
    if !has_guid {
        v.push(format!(
            "metadata GUID {} is missing before the descriptor at {offset:#x}",
            metadata::METADATA_GUID
        ));
    }
    if let Err(e) = metadata::validate(&md, image.len() as u64) {
        v.push(e.to_string());
    }
    let sections = md
        .sections
        .iter()
        .map(|s| SectionInfo {
            type_name: s.kind().map_or("reserved", |k| k.name()),
            section: *s,
        })
        .collect();
    Some(MetadataInfo {
        descriptor_offset: offset as u64,
        has_guid,
        version: md.version,
        sections,
    })
}

/// Layout checks beyond `metadata::validate`: image-backed sections are mapped at their own
/// image GPA, and the reset code lies inside a BFV.
fn check_sections(md: &MetadataInfo, size: u64, base: u64, v: &mut Vec<String>) {
    let mut reset_in_bfv = false;
    for (i, s) in md.sections.iter().enumerate() {
        let s = &s.section;
        let kind = s.kind();
        let start = u64::from(s.data_offset);
        let end = start.saturating_add(u64::from(s.raw_data_size));
        if matches!(
            kind,
            Some(metadata::SectionType::Bfv | metadata::SectionType::Cfv)
        ) && s.raw_data_size != 0
        {
            let want = base.saturating_add(start);
            if s.memory_address != want {
                v.push(format!(
                    "section {i} ({}): MemoryAddress {:#x} is not the image GPA of its data ({want:#x})",
                    kind.map_or("reserved", |k| k.name()),
                    s.memory_address
                ));
            }
        }
        if kind == Some(metadata::SectionType::Bfv)
            && start <= size.saturating_sub(TAIL_RESET_CODE)
            && end >= size
        {
            reset_in_bfv = true;
        }
    }
    if !reset_in_bfv {
        v.push("no BFV section covers the reset vector at the end of the image".into());
    }
}

fn read_tail(image: &[u8]) -> Option<Tail> {
    let at = |back: u64| from_end(image, back).and_then(|o| u32_at(image, o));
    let code_at = from_end(image, TAIL_RESET_CODE)?;
    let reset_code: [u8; 16] = image.get(code_at..)?.try_into().ok()?;
    Some(Tail {
        entry_offset: at(TAIL_ENTRY_OFFSET)?,
        ipl_base: at(TAIL_IPL_BASE)?,
        ipl_size: at(TAIL_IPL_SIZE)?,
        reset_code,
    })
}

/// Scans 4 KiB boundaries for firmware volumes and classifies them: IPL (FvName or a
/// SECURITY_CORE file), payload (FvName or a DXE_CORE file), CFV (FFS3 file system).
fn find_volumes(
    image: &[u8],
    tail: &Option<Tail>,
    v: &mut Vec<String>,
) -> (Option<IplInfo>, Option<PayloadInfo>, Option<CfvInfo>) {
    let (mut ipl, mut payload, mut cfv) = (None, None, None);
    let mut off = 0usize;
    let page = PAGE_SIZE as usize;
    while off < image.len() {
        let here = image.get(off..).unwrap_or(&[]);
        let is_fvh = here.get(0x28..0x2C) == Some(b"_FVH".as_slice());
        let parsed = if is_fvh { fv::parse(here).ok() } else { None };
        let Some(vol) = parsed else {
            off = off.saturating_add(page);
            continue;
        };
        let fv_offset = off as u64;
        let fv_length = vol.bytes.len() as u64;
        let files = match vol.files() {
            Ok(f) => f,
            Err(e) => {
                v.push(format!("firmware volume at {fv_offset:#x}: {e}"));
                Vec::new()
            }
        };
        let has_type = |t: u8| files.iter().any(|f| f.file_type == t);
        if ipl.is_none()
            && (vol.name == Some(fv::IPL_FV_NAME) || has_type(fv::FILE_TYPE_SECURITY_CORE))
        {
            match fv::find_section(vol.bytes, fv::FILE_TYPE_SECURITY_CORE, fv::SECTION_PE32) {
                Ok(body) => {
                    let entry = tail
                        .as_ref()
                        .map(|t| SHIM_RUN_BASE.saturating_add(u64::from(t.entry_offset)));
                    ipl = Some(IplInfo {
                        fv_offset,
                        fv_length,
                        image_offset: offset_in(image, body),
                        image_size: body.len() as u64,
                        entry,
                    });
                }
                Err(e) => v.push(format!(
                    "IPL FV at {fv_offset:#x}: no SECURITY_CORE PE32 section ({e})"
                )),
            }
        } else if payload.is_none()
            && (vol.name == Some(fv::PAYLOAD_FV_NAME) || has_type(fv::FILE_TYPE_DXE_CORE))
        {
            match fv::find_section(vol.bytes, fv::FILE_TYPE_DXE_CORE, fv::SECTION_PE32) {
                Ok(body) => {
                    let content = body
                        .iter()
                        .rposition(|&b| b != 0)
                        .map_or(0, |p| p.saturating_add(1));
                    payload = Some(PayloadInfo {
                        fv_offset,
                        fv_length,
                        section_size: body.len() as u64,
                        content_size: content as u64,
                        kind: payload_kind(body),
                    });
                }
                Err(e) => v.push(format!(
                    "payload FV at {fv_offset:#x}: no DXE_CORE PE32 section ({e})"
                )),
            }
        } else if cfv.is_none() && vol.file_system == fv::FFS3_GUID {
            let files = files
                .iter()
                .filter(|f| f.file_type != fv::FILE_TYPE_FFS_PAD)
                .map(|f| CfvFile {
                    name: f.name,
                    file_type: f.file_type,
                    size: f.data.len() as u64,
                })
                .collect();
            cfv = Some(CfvInfo {
                fv_offset,
                fv_length,
                files,
            });
        }
        // Continue after this volume (at the next page boundary).
        let next = off.saturating_add(vol.bytes.len().max(1));
        off = next.div_ceil(page).saturating_mul(page);
    }
    (ipl, payload, cfv)
}

/// Classifies payload bytes by their magic numbers.
pub fn payload_kind(bytes: &[u8]) -> PayloadKind {
    if bytes.starts_with(b"\x7fELF") {
        return match elf::parse(bytes) {
            Ok(info) if info.kind == elf::Kind::Pie => PayloadKind::ElfPie,
            Ok(_) => PayloadKind::ElfExec,
            Err(e) => PayloadKind::ElfInvalid(e),
        };
    }
    if bytes.get(0x202..0x206) == Some(b"HdrS".as_slice()) {
        return PayloadKind::BzImage {
            protocol: u16_at(bytes, 0x206).unwrap_or(0),
        };
    }
    if bytes.starts_with(b"MZ") {
        let pe =
            u32_at(bytes, 0x3C).and_then(|o| bytes.get(o as usize..(o as usize).checked_add(4)?));
        if pe == Some(b"PE\0\0".as_slice()) {
            return PayloadKind::Pe;
        }
    }
    PayloadKind::Unknown
}

fn check_ipl(t: &Tail, ipl: Option<&IplInfo>, image_base: Option<u64>, v: &mut Vec<String>) {
    let (ipl_base, ipl_size) = (u64::from(t.ipl_base), u64::from(t.ipl_size));
    if ipl_size > SHIM_RUN_SIZE {
        v.push(format!(
            "tail ipl_size {ipl_size:#x} is larger than the shim run region ({SHIM_RUN_SIZE:#x})"
        ));
    }
    if u64::from(t.entry_offset) >= ipl_size {
        v.push(format!(
            "tail entry_offset {:#x} is not below ipl_size {ipl_size:#x}",
            t.entry_offset
        ));
    }
    let Some(ipl) = ipl else {
        v.push("no IPL firmware volume (SECURITY_CORE file with a PE32 section) found".into());
        return;
    };
    let Some(base) = image_base else { return };
    let body_gpa = base.saturating_add(ipl.image_offset);
    let body_end = body_gpa.saturating_add(ipl.image_size);
    if ipl_base < body_gpa || ipl_base.saturating_add(ipl_size) > body_end {
        v.push(format!(
            "tail [ipl_base, +ipl_size) = [{ipl_base:#x}, +{ipl_size:#x}) is not inside the IPL PE32 section \
             [{body_gpa:#x}, {body_end:#x})"
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Output.
// ---------------------------------------------------------------------------------------

fn opt_hex(v: Option<u64>) -> String {
    v.map_or_else(|| "none".into(), |x| format!("{x:#x}"))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.image_base {
            Some(b) => writeln!(
                f,
                "image: {:#x} bytes, GPA [{b:#x}, 0x100000000)",
                self.image_size
            )?,
            None => writeln!(f, "image: {:#x} bytes (larger than 4 GiB)", self.image_size)?,
        }
        let l = &self.locate;
        let ovmf = match (&l.ovmf, &l.ovmf_error) {
            (Some(o), _) => format!("{o:#x}"),
            (None, Some(e)) => format!("unusable ({e})"),
            (None, None) => "none".into(),
        };
        let agree = match l.agree {
            Some(true) => "agree",
            Some(false) => "DISAGREE",
            None => "not both present",
        };
        writeln!(
            f,
            "metadata lookup: OVMF table -> {ovmf}; legacy pointer -> {}; {agree}",
            opt_hex(l.legacy)
        )?;
        match &self.metadata {
            Some(md) => {
                writeln!(
                    f,
                    "metadata: descriptor at {:#x}, GUID {}, version {}, {} sections",
                    md.descriptor_offset,
                    if md.has_guid { "present" } else { "MISSING" },
                    md.version,
                    md.sections.len()
                )?;
                writeln!(
                    f,
                    "  {:>2}  {:<12} {:>10} {:>10} {:>12} {:>10} {:>5}",
                    "#", "type", "offset", "raw size", "GPA", "mem size", "attr"
                )?;
                for (i, s) in md.sections.iter().enumerate() {
                    let x = &s.section;
                    writeln!(
                        f,
                        "  {i:>2}  {:<12} {:>#10x} {:>#10x} {:>#12x} {:>#10x} {:>#5x}",
                        s.type_name,
                        x.data_offset,
                        x.raw_data_size,
                        x.memory_address,
                        x.memory_data_size,
                        x.attributes
                    )?;
                }
            }
            None => writeln!(f, "metadata: not readable")?,
        }
        match &self.tail {
            Some(t) => writeln!(
                f,
                "tail: entry_offset {:#x}, ipl_base {:#x}, ipl_size {:#x}, reset code {}",
                t.entry_offset,
                t.ipl_base,
                t.ipl_size,
                t.reset_code
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )?,
            None => writeln!(f, "tail: not readable")?,
        }
        match &self.ipl {
            Some(i) => writeln!(
                f,
                "IPL FV: offset {:#x}, length {:#x}; shim memory image at offset {:#x}, {:#x} bytes; entry {}",
                i.fv_offset,
                i.fv_length,
                i.image_offset,
                i.image_size,
                opt_hex(i.entry)
            )?,
            None => writeln!(f, "IPL FV: not found")?,
        }
        match &self.payload {
            Some(p) => writeln!(
                f,
                "payload FV: offset {:#x}, length {:#x}; section {:#x} bytes, content {:#x} bytes; kind {}",
                p.fv_offset,
                p.fv_length,
                p.section_size,
                p.content_size,
                p.kind.name()
            )?,
            None => writeln!(f, "payload FV: none")?,
        }
        match &self.cfv {
            Some(c) => {
                writeln!(
                    f,
                    "CFV: offset {:#x}, length {:#x}, {} files",
                    c.fv_offset,
                    c.fv_length,
                    c.files.len()
                )?;
                for file in &c.files {
                    writeln!(
                        f,
                        "  {} type {:#04x} {} bytes",
                        file.name, file.file_type, file.size
                    )?;
                }
            }
            None => writeln!(f, "CFV: not found")?,
        }
        if self.violations.is_empty() {
            writeln!(f, "violations: none")?;
        } else {
            writeln!(f, "violations: {}", self.violations.len())?;
            for x in &self.violations {
                writeln!(f, "  - {x}")?;
            }
        }
        Ok(())
    }
}

/// JSON string literal with the escapes RFC 8259 requires.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "null".into(), |x| x.to_string())
}

impl Report {
    /// Whether the image breaks any rule.
    pub fn has_violations(&self) -> bool {
        !self.violations.is_empty()
    }

    /// The report as one JSON object (numbers as JSON integers, GUIDs as strings).
    pub fn to_json(&self) -> String {
        let mut j = String::from("{");
        let _ = write!(
            j,
            "\"image_size\":{},\"image_base\":{},",
            self.image_size,
            json_opt(self.image_base)
        );
        let l = &self.locate;
        let _ = write!(
            j,
            "\"locate\":{{\"ovmf\":{},\"ovmf_error\":{},\"legacy\":{},\"agree\":{}}},",
            json_opt(l.ovmf),
            l.ovmf_error
                .as_deref()
                .map_or_else(|| "null".into(), json_str),
            json_opt(l.legacy),
            l.agree.map_or_else(|| "null".into(), |a| a.to_string())
        );
        match &self.metadata {
            Some(md) => {
                let _ = write!(
                    j,
                    "\"metadata\":{{\"descriptor_offset\":{},\"has_guid\":{},\"version\":{},\"sections\":[",
                    md.descriptor_offset, md.has_guid, md.version
                );
                for (i, s) in md.sections.iter().enumerate() {
                    let x = &s.section;
                    let _ = write!(
                        j,
                        "{}{{\"type\":{},\"type_raw\":{},\"data_offset\":{},\"raw_data_size\":{},\
                         \"memory_address\":{},\"memory_data_size\":{},\"attributes\":{}}}",
                        if i == 0 { "" } else { "," },
                        json_str(s.type_name),
                        x.section_type,
                        x.data_offset,
                        x.raw_data_size,
                        x.memory_address,
                        x.memory_data_size,
                        x.attributes
                    );
                }
                j.push_str("]},");
            }
            None => j.push_str("\"metadata\":null,"),
        }
        match &self.tail {
            Some(t) => {
                let code: Vec<String> = t.reset_code.iter().map(|b| b.to_string()).collect();
                let _ = write!(
                    j,
                    "\"tail\":{{\"entry_offset\":{},\"ipl_base\":{},\"ipl_size\":{},\"reset_code\":[{}]}},",
                    t.entry_offset,
                    t.ipl_base,
                    t.ipl_size,
                    code.join(",")
                );
            }
            None => j.push_str("\"tail\":null,"),
        }
        match &self.ipl {
            Some(i) => {
                let _ = write!(
                    j,
                    "\"ipl\":{{\"fv_offset\":{},\"fv_length\":{},\"image_offset\":{},\"image_size\":{},\"entry\":{}}},",
                    i.fv_offset,
                    i.fv_length,
                    i.image_offset,
                    i.image_size,
                    json_opt(i.entry)
                );
            }
            None => j.push_str("\"ipl\":null,"),
        }
        match &self.payload {
            Some(p) => {
                let _ = write!(
                    j,
                    "\"payload\":{{\"fv_offset\":{},\"fv_length\":{},\"section_size\":{},\"content_size\":{},\"kind\":{}}},",
                    p.fv_offset,
                    p.fv_length,
                    p.section_size,
                    p.content_size,
                    json_str(&p.kind.name())
                );
            }
            None => j.push_str("\"payload\":null,"),
        }
        match &self.cfv {
            Some(c) => {
                let _ = write!(
                    j,
                    "\"cfv\":{{\"fv_offset\":{},\"fv_length\":{},\"files\":[",
                    c.fv_offset, c.fv_length
                );
                for (i, file) in c.files.iter().enumerate() {
                    let _ = write!(
                        j,
                        "{}{{\"name\":{},\"type\":{},\"size\":{}}}",
                        if i == 0 { "" } else { "," },
                        json_str(&file.name.to_string()),
                        file.file_type,
                        file.size
                    );
                }
                j.push_str("]},");
            }
            None => j.push_str("\"cfv\":null,"),
        }
        let vs: Vec<String> = self.violations.iter().map(|s| json_str(s)).collect();
        let _ = write!(j, "\"violations\":[{}]}}", vs.join(","));
        j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn payload_kinds_by_magic() {
        let mut bz = vec![0u8; 0x300];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
        assert_eq!(payload_kind(&bz), PayloadKind::BzImage { protocol: 0x020F });
        assert_eq!(
            PayloadKind::BzImage { protocol: 0x020F }.name(),
            "bzImage (boot protocol 2.15)"
        );
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(payload_kind(&pe), PayloadKind::Pe);
        pe[0x3C..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(payload_kind(&pe), PayloadKind::Unknown);
        assert_eq!(
            payload_kind(b"\x7fELF"),
            PayloadKind::ElfInvalid(elf::Error::Truncated {
                needed: 64,
                available: 4
            })
        );
        assert_eq!(payload_kind(&[]), PayloadKind::Unknown);
    }

    #[test]
    fn tiny_and_empty_inputs_do_not_panic() {
        for len in [0usize, 1, 0x10, 0x53, 0x54, 0x1000] {
            let r = inspect(&vec![0u8; len]);
            assert!(r.has_violations(), "{len}");
            assert!(r.metadata.is_none());
            let _ = r.to_string();
            let _ = r.to_json();
        }
        let r = inspect(&[]);
        assert!(
            r.violations.iter().any(|v| v.contains("too small")),
            "{:?}",
            r.violations
        );
    }
}
