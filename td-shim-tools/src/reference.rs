// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The reference-value calculator behind `td-payload-reference-calculator`: from the files a
//! verifier holds (the image, the kernel or payload, command line, initrd, and the VMM's
//! inputs when known) it predicts the event log td-shim writes and the RTMR values it leaves
//! (`doc/measurement.md`, `../shared/spec/measurement.md` §1-§3).
//!
//! Every event comes from a [`td_shim::measure`] function, the same the firmware calls, so the
//! policy (what is hashed, with which descriptor, into which register) is not restated here.
//! What this module owns is the *order* and the *inputs*: it walks the image the way the
//! firmware's boot sequence does (VMM memory description, configuration volume, then the
//! payload path the image selects, then QEMU's ACPI files on the Linux path, then the two
//! separators) and reads the files given.
//!
//! All inputs are untrusted files: a bad image, HOB or option combination is an [`Error`].

use crate::eventlog;
use crate::hex;
use serde_json::{Map, Value};
use std::fmt::{self, Write as _};
use td_shim::format::event_log::{self, Digest, RTMR_COUNT};
use td_shim::format::metadata::{self, Metadata, SectionType};
use td_shim::format::{fv, hob};
use td_shim::loader::{bzimage, vmlinux};
use td_shim::measure::{self, Event};

/// Which firmware backend the prediction is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// A TD: the VMM's memory description is the TD HOB; RTMRs are extended.
    Tdx,
    /// A legacy VM: QEMU's fw_cfg `etc/e820`; the log is written but no register exists, so
    /// the "registers" are only the log's replay.
    Legacy,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::Tdx => "tdx",
            Platform::Legacy => "legacy",
        }
    }
}

/// The boot path the inputs select (the firmware chooses the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootPath {
    /// An executable ELF in the image's payload FV.
    ElfEmbedded,
    /// A bzImage embedded in the image's payload FV (with its initrd and command line files).
    LinuxEmbedded,
    /// A bzImage the VMM put into the metadata Payload section (command line in PayloadParam).
    LinuxPayloadSection,
    /// A bzImage from QEMU `-kernel` (fw_cfg), with `-append` and `-initrd`.
    LinuxFwCfg,
}

impl BootPath {
    pub fn name(self) -> &'static str {
        match self {
            BootPath::ElfEmbedded => "elf-embedded",
            BootPath::LinuxEmbedded => "linux-embedded",
            BootPath::LinuxPayloadSection => "linux-payload-section",
            BootPath::LinuxFwCfg => "linux-fw-cfg",
        }
    }
}

/// The files a verifier gives.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    pub platform: Platform,
    /// The firmware image (final.bin).
    pub image: &'a [u8],
    /// TDX: the TD HOB as the VMM wrote it (may run on past the End HOB); legacy: the fw_cfg
    /// `etc/e820` file. `None` = unknown, RTMR0 is not predicted.
    pub vmm_memory: Option<&'a [u8]>,
    /// QEMU's ACPI fw_cfg files as the firmware reads them on the Linux path, in order (the
    /// `etc/table-loader` script first, then each file it allocates). `None` = unknown.
    pub fw_cfg_files: Option<Vec<(String, &'a [u8])>>,
    /// A kernel given to QEMU with `-kernel` (fw_cfg).
    pub kernel: Option<&'a [u8]>,
    /// A kernel the VMM loads into the metadata Payload section.
    pub payload: Option<&'a [u8]>,
    /// Command line (`-append`, or what the VMM writes into PayloadParam).
    pub cmdline: Option<&'a [u8]>,
    /// Initrd (`-initrd`).
    pub initrd: Option<&'a [u8]>,
}

/// Why no prediction can be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    Metadata(metadata::Error),
    /// The payload FV exists but cannot be read.
    PayloadFv(String),
    /// The TD HOB is not a list the firmware would accept.
    Hob(String),
    /// The legacy memory map is not one the firmware would accept.
    E820(String),
    /// The image has no section a TD HOB goes into.
    NoTdHobSection,
    /// Inputs that the selected boot path does not use (the firmware would ignore them, so
    /// the prediction would silently not reflect them).
    Unused {
        what: &'static str,
        path: BootPath,
    },
    /// No payload at all: neither embedded, nor `--kernel`, nor `--payload`.
    NoPayload,
    /// `--payload` given, but the image has no Payload section.
    NoPayloadSection,
    /// A file is larger than the section it goes to.
    TooLarge {
        what: &'static str,
        size: u64,
        region: u64,
    },
    /// Both `--kernel` and `--payload`.
    TwoKernels,
    /// A command line with a NUL byte.
    CmdlineHasNul,
    /// A kernel file the firmware would refuse.
    NotAKernel {
        what: &'static str,
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Metadata(e) => write!(f, "image: {e}"),
            Error::PayloadFv(e) => write!(f, "image: payload firmware volume: {e}"),
            Error::Hob(e) => write!(f, "td hob: {e}"),
            Error::E820(e) => write!(f, "e820: {e}"),
            Error::NoTdHobSection => f.write_str("image: no TD_HOB section for the td hob"),
            Error::Unused { what, path } => write!(
                f,
                "{what} is not used on the {} path the image selects (the firmware would ignore it)",
                path.name()
            ),
            Error::NoPayload => f.write_str(
                "no payload: the image embeds none; give --kernel (qemu -kernel) or --payload \
                 (a kernel the vmm loads into the Payload section)",
            ),
            Error::NoPayloadSection => {
                f.write_str("--payload given but the image has no Payload section")
            }
            Error::TooLarge { what, size, region } => write!(
                f,
                "{what} is {size:#x} bytes, larger than its {region:#x}-byte section"
            ),
            Error::TwoKernels => f.write_str("give either --kernel or --payload, not both"),
            Error::CmdlineHasNul => f.write_str("the command line contains a nul byte"),
            Error::NotAKernel { what, reason } => {
                write!(f, "{what} is not a kernel the firmware boots: {reason}")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<metadata::Error> for Error {
    fn from(e: metadata::Error) -> Self {
        Error::Metadata(e)
    }
}

/// One predicted event. `base_known` is false where the event data carries an address the
/// firmware picks at run time (a kernel or initrd it allocates): the digest, and so the
/// registers, do not depend on it, but the logged event data does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Predicted {
    pub event: Event,
    pub base_known: bool,
}

/// The predicted log and registers.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub platform: Platform,
    pub path: BootPath,
    pub events: Vec<Predicted>,
    /// `None` where an input it depends on was not given.
    pub rtmr: [Option<Digest>; RTMR_COUNT],
    /// Why a register is not predicted, and other things a verifier should know.
    pub notes: Vec<String>,
}

/// The payload found in the image's payload FV.
enum Embedded<'a> {
    Elf {
        gpa: u64,
        bytes: &'a [u8],
    },
    Linux {
        gpa: u64,
        kernel: &'a [u8],
        initrd: Option<&'a [u8]>,
        cmdline: Option<&'a [u8]>,
    },
}

/// Raw data of metadata section `s` in the image file.
fn section_bytes<'a>(image: &'a [u8], s: &metadata::Section) -> Option<&'a [u8]> {
    let start = s.data_offset as usize;
    image.get(start..start.checked_add(s.raw_data_size as usize)?)
}

/// Finds the payload FV in a BFV section and its payload, as the firmware's input stage does
/// (payload FV by name; its DXE-core file's PE32 section is the payload; an ELF, or a bzImage
/// with optional initrd and command-line files beside it).
fn embedded_payload<'a>(image: &'a [u8], md: &Metadata) -> Result<Option<Embedded<'a>>, Error> {
    for s in md
        .sections
        .iter()
        .filter(|s| s.kind() == Some(SectionType::Bfv))
    {
        let Some(bytes) = section_bytes(image, s) else {
            continue;
        };
        let Ok(vol) = fv::parse(bytes) else { continue };
        if vol.name != Some(fv::PAYLOAD_FV_NAME) {
            continue;
        }
        let body = fv::find_section(vol.bytes, fv::FILE_TYPE_DXE_CORE, fv::SECTION_PE32)
            .map_err(|e| Error::PayloadFv(e.to_string()))?;
        // body lies inside bytes (both borrow the image): its GPA follows from the offset.
        let offset = (body.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize) as u64;
        let gpa = s.memory_address.wrapping_add(offset);
        if body.starts_with(b"\x7fELF") {
            return Ok(Some(Embedded::Elf { gpa, bytes: body }));
        }
        if body.get(0x202..0x206) == Some(b"HdrS".as_slice()) {
            let files = vol.files().map_err(|e| Error::PayloadFv(e.to_string()))?;
            let find = |name| files.iter().find(|f| f.name == name).map(|f| f.data);
            return Ok(Some(Embedded::Linux {
                gpa,
                kernel: body,
                initrd: find(fv::PAYLOAD_INITRD_FILE_NAME),
                cmdline: find(fv::PAYLOAD_CMDLINE_FILE_NAME),
            }));
        }
        return Err(Error::PayloadFv(
            "holds neither an elf nor a bzimage".into(),
        ));
    }
    Ok(None)
}

fn find_section(md: &Metadata, t: SectionType) -> Option<&metadata::Section> {
    md.sections.iter().find(|s| s.kind() == Some(t))
}

/// `bytes` zero-extended to `size` (a section's content after the VMM loaded a file).
fn padded(what: &'static str, bytes: &[u8], size: u64) -> Result<Vec<u8>, Error> {
    if bytes.len() as u64 > size {
        return Err(Error::TooLarge {
            what,
            size: bytes.len() as u64,
            region: size,
        });
    }
    let mut v = bytes.to_vec();
    v.resize(usize::try_from(size).unwrap_or(usize::MAX), 0);
    Ok(v)
}

/// The RTMR0 event for the VMM's memory description.
fn vmm_memory_event(inputs: &Inputs<'_>, md: &Metadata, raw: &[u8]) -> Result<Event, Error> {
    match inputs.platform {
        Platform::Tdx => {
            let sec = find_section(md, SectionType::TdHob).ok_or(Error::NoTdHobSection)?;
            let list =
                hob::parse(raw, sec.memory_address).map_err(|e| Error::Hob(e.to_string()))?;
            Ok(measure::td_hob(list.as_bytes()))
        }
        Platform::Legacy => {
            td_shim::format::e820::parse(raw).map_err(|e| Error::E820(e.to_string()))?;
            Ok(measure::vmm_e820(raw))
        }
    }
}

/// Predicts the event log and RTMRs for `inputs`.
pub fn predict(inputs: &Inputs<'_>) -> Result<Prediction, Error> {
    let md = metadata::parse_image(inputs.image)?;
    let mut events: Vec<Predicted> = Vec::new();
    let mut notes = Vec::new();
    let known = |event: Event| Predicted {
        event,
        base_known: true,
    };
    let mut rtmr0_known = true;

    // 1. RTMR0: the VMM's memory description, as read.
    match inputs.vmm_memory {
        Some(raw) => events.push(known(vmm_memory_event(inputs, &md, raw)?)),
        None => {
            rtmr0_known = false;
            notes.push(format!(
                "rtmr0 not predicted: give the vmm's memory description ({})",
                match inputs.platform {
                    Platform::Tdx => "--td-hob",
                    Platform::Legacy => "--e820",
                }
            ));
        }
    }
    // 2. RTMR0: the configuration volume region.
    if let Some((index, s)) = md
        .sections
        .iter()
        .enumerate()
        .find(|(_, s)| s.kind() == Some(SectionType::Cfv))
    {
        let region = section_bytes(inputs.image, s).ok_or(Error::Metadata(
            metadata::Error::SectionOutsideImage { index },
        ))?;
        events.push(known(measure::cfv(s.memory_address, region)));
    }

    // 3. RTMR1: the payload the image selects.
    let embedded = embedded_payload(inputs.image, &md)?;
    if inputs.kernel.is_some() && inputs.payload.is_some() {
        return Err(Error::TwoKernels);
    }
    if inputs.cmdline.is_some_and(|c| c.contains(&0)) {
        return Err(Error::CmdlineHasNul);
    }
    let path = match &embedded {
        Some(Embedded::Elf { .. }) => BootPath::ElfEmbedded,
        Some(Embedded::Linux { .. }) => BootPath::LinuxEmbedded,
        None if inputs.payload.is_some() => BootPath::LinuxPayloadSection,
        None if inputs.kernel.is_some() => BootPath::LinuxFwCfg,
        None => return Err(Error::NoPayload),
    };
    let unused = |what: &'static str| Err(Error::Unused { what, path });
    for (what, k) in [("--kernel", inputs.kernel), ("--payload", inputs.payload)] {
        if let Some(k) = k {
            let refused = |reason: String| Error::NotAKernel { what, reason };
            // An ELF kernel boots through fw_cfg only (QEMU loads it: `--kernel`).
            if what == "--kernel" && vmlinux::is_elf(k) {
                measure::vmlinux_file(k).map_err(|e| refused(e.to_string()))?;
            } else {
                bzimage::parse(k).map_err(|e| refused(e.to_string()))?;
            }
        }
    }
    match (&embedded, path) {
        (Some(Embedded::Elf { gpa, bytes }), _) => {
            for (given, what) in [
                (inputs.kernel.is_some(), "--kernel"),
                (inputs.payload.is_some(), "--payload"),
                (inputs.cmdline.is_some(), "--cmdline"),
                (inputs.initrd.is_some(), "--initrd"),
            ] {
                if given {
                    return unused(what);
                }
            }
            events.push(known(measure::payload(*gpa, bytes)));
        }
        (
            Some(Embedded::Linux {
                gpa,
                kernel,
                initrd,
                cmdline,
            }),
            _,
        ) => {
            for (given, what) in [
                (inputs.kernel.is_some(), "--kernel"),
                (inputs.payload.is_some(), "--payload"),
                (
                    inputs.cmdline.is_some(),
                    "--cmdline (the image embeds its own)",
                ),
                (
                    inputs.initrd.is_some(),
                    "--initrd (the image embeds its own)",
                ),
            ] {
                if given {
                    return unused(what);
                }
            }
            events.push(known(measure::payload(*gpa, kernel)));
            events.push(known(measure::cmdline(cmdline.unwrap_or_default())));
            if let Some(i) = initrd.filter(|i| !i.is_empty()) {
                events.push(Predicted {
                    event: measure::initrd(0, i),
                    base_known: false,
                });
            }
        }
        (None, BootPath::LinuxPayloadSection) => {
            if inputs.initrd.is_some() {
                return unused("--initrd");
            }
            let sec = find_section(&md, SectionType::Payload).ok_or(Error::NoPayloadSection)?;
            let kernel = inputs.payload.unwrap_or_default();
            let region = padded("the payload", kernel, sec.memory_data_size)?;
            events.push(known(measure::payload(sec.memory_address, &region)));
            match find_section(&md, SectionType::PayloadParam) {
                Some(param) => {
                    // What the VMM writes: the text and a NUL, in a zeroed section.
                    let mut blob = inputs.cmdline.unwrap_or_default().to_vec();
                    if inputs.cmdline.is_some() {
                        blob.push(0);
                    }
                    let region = padded("the command line", &blob, param.memory_data_size)?;
                    events.push(known(measure::payload_param(&region)));
                }
                None => {
                    if inputs.cmdline.is_some() {
                        return unused("--cmdline (the image has no PayloadParam section)");
                    }
                    events.push(known(measure::cmdline(b"")));
                }
            }
        }
        (None, _) => {
            let kernel = inputs.kernel.unwrap_or_default();
            events.push(if vmlinux::is_elf(kernel) {
                // QEMU loads a vmlinux at its segments' physical addresses: base known.
                Predicted {
                    event: measure::vmlinux_file(kernel).map_err(|e| Error::NotAKernel {
                        what: "--kernel",
                        reason: e.to_string(),
                    })?,
                    base_known: true,
                }
            } else {
                Predicted {
                    event: measure::kernel_file(0, kernel),
                    base_known: false,
                }
            });
            events.push(known(measure::cmdline(inputs.cmdline.unwrap_or_default())));
            if let Some(i) = inputs.initrd.filter(|i| !i.is_empty()) {
                events.push(Predicted {
                    event: measure::initrd(0, i),
                    base_known: false,
                });
            }
        }
    }

    // 4. RTMR0, Linux path: QEMU's ACPI files through fw_cfg, when it offers them.
    if path != BootPath::ElfEmbedded {
        match &inputs.fw_cfg_files {
            Some(files) => {
                for (name, bytes) in files {
                    events.push(known(measure::fw_cfg_file(name, bytes)));
                }
            }
            None => {
                rtmr0_known = false;
                notes.push(
                    "rtmr0 not predicted: on the linux path the firmware measures qemu's acpi \
                     fw_cfg files; give them (--fw-cfg-file, --vmm-inputs-from-log) or say there \
                     are none (--no-fw-cfg-acpi)"
                        .into(),
                );
            }
        }
    }

    // 5. The separators.
    for e in measure::separators() {
        events.push(known(e));
    }

    if events.iter().any(|e| !e.base_known) {
        notes.push(
            "the kernel and initrd addresses are chosen at run time: their events' base is \
             unknown here (digests and registers do not depend on it)"
                .into(),
        );
    }
    if inputs.platform == Platform::Legacy {
        notes.push("legacy vm: there are no rtmrs; the values are what the log replays to".into());
    }

    let mut rtmr = [Some([0u8; 48]); RTMR_COUNT];
    for p in &events {
        let i = (p.event.mr_index as usize).saturating_sub(1);
        if let Some(Some(r)) = rtmr.get_mut(i) {
            event_log::extend(r, &p.event.digest);
        }
    }
    if !rtmr0_known {
        rtmr[0] = None;
    }
    Ok(Prediction {
        platform: inputs.platform,
        path,
        events,
        rtmr,
        notes,
    })
}

/// The VMM-supplied inputs recorded in a guest's log: the memory description (TD HOB or
/// e820) and the ACPI fw_cfg files, as `(descriptor, info)` in log order. For a verifier
/// who judges those by policy and wants the rest of the prediction from its own files.
/// The bytes are the events' info; the calculator re-measures them, so a log whose digest
/// does not match its info still fails the comparison.
pub fn vmm_inputs_from_log(log: &event_log::Log<'_>) -> VmmInputs {
    let mut out = VmmInputs::default();
    for e in log
        .events
        .iter()
        .filter(|e| e.mr_index == measure::MR_RTMR0)
    {
        if let eventlog::Decoded::ConfigInfo {
            descriptor, info, ..
        } = eventlog::decode(e.event_type, e.data)
        {
            let name = String::from_utf8_lossy(descriptor).into_owned();
            match name.as_str() {
                measure::TD_HOB | measure::VMM_E820 => out.memory = Some(info.to_vec()),
                measure::CFV | measure::SECURE_POLICY_DB | measure::SECURE_AUTHORITY => {}
                _ => out.fw_cfg_files.push((name, info.to_vec())),
            }
        }
    }
    out
}

/// See [`vmm_inputs_from_log`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmmInputs {
    pub memory: Option<Vec<u8>>,
    pub fw_cfg_files: Vec<(String, Vec<u8>)>,
}

impl Prediction {
    /// The `--json` object: `platform`, `path`, `rtmr0`..`rtmr3` (hex, or null when not
    /// predicted), `events` (as `td-shim-eventlog --json` prints them, plus `base_known`;
    /// a run-time base is null) and `notes`.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("platform".into(), self.platform.name().into());
        o.insert("path".into(), self.path.name().into());
        for (i, r) in self.rtmr.iter().enumerate() {
            let v = r.map_or(Value::Null, |d| hex::encode(&d).into());
            o.insert(format!("rtmr{i}"), v);
        }
        let events: Vec<Value> = self
            .events
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let e = &p.event;
                let mut v = eventlog::event_json(i, e.mr_index, e.event_type, &e.digest, &e.data);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("base_known".into(), p.base_known.into());
                    if !p.base_known {
                        if let Some(b) = obj.get_mut("blob").and_then(Value::as_object_mut) {
                            b.insert("base".into(), Value::Null);
                        }
                    }
                }
                v
            })
            .collect();
        o.insert("events".into(), events.into());
        o.insert("notes".into(), self.notes.clone().into());
        Value::Object(o)
    }
}

impl fmt::Display for Prediction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "platform {}, path {}, {} events",
            self.platform.name(),
            self.path.name(),
            self.events.len()
        )?;
        for (i, p) in self.events.iter().enumerate() {
            let e = &p.event;
            let mut line = eventlog::describe(e.event_type, &e.digest, &e.data);
            if !p.base_known {
                let _ = write!(line, " (base chosen at run time)");
            }
            writeln!(
                f,
                "[{i}] rtmr{} (mr {}) {}",
                e.mr_index.saturating_sub(1),
                e.mr_index,
                eventlog::type_label(e.event_type)
            )?;
            writeln!(f, "    digest {}", hex::encode(&e.digest))?;
            writeln!(f, "    {line}")?;
        }
        writeln!(f, "predicted:")?;
        for (i, r) in self.rtmr.iter().enumerate() {
            match r {
                Some(d) => writeln!(f, "  rtmr{i} {}", hex::encode(d))?,
                None => writeln!(f, "  rtmr{i} (not predicted)")?,
            }
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}
