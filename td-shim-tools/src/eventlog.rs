// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The CC event-log checker behind `td-shim-eventlog` (`../shared/spec/measurement.md` §2,
//! §5): parses a log with [`td_shim::format::event_log::parse`], decodes each event's data
//! (platform-config-info descriptors, firmware-blob2 description/base/length, separators),
//! replays it into RTMR0..3 and compares the result with expected values, given on the
//! command line or as a reference file (the `--json` output of
//! `td-payload-reference-calculator`, whose events, when present, also locate the first
//! event that differs).
//!
//! The log is untrusted (it is copied out of a guest or read from a file); so is the
//! reference file. Every problem is an error value, never a panic.

use crate::hex;
use serde_json::{json, Map, Value};
use std::fmt::{self, Write as _};
use td_shim::format::event_log::{
    self, Digest, Event, EV_EFI_HANDOFF_TABLES2, EV_EFI_PLATFORM_FIRMWARE_BLOB2, EV_NO_ACTION,
    EV_PLATFORM_CONFIG_FLAGS, EV_SEPARATOR, RTMR_COUNT,
};
use td_shim::measure;

/// Name of a TCG event type (TCG PC Client PFP), if it is one we know.
pub fn type_name(event_type: u32) -> Option<&'static str> {
    Some(match event_type {
        0x0000_0000 => "EV_PREBOOT_CERT",
        0x0000_0001 => "EV_POST_CODE",
        EV_NO_ACTION => "EV_NO_ACTION",
        EV_SEPARATOR => "EV_SEPARATOR",
        0x0000_0005 => "EV_ACTION",
        0x0000_0006 => "EV_EVENT_TAG",
        0x0000_0007 => "EV_S_CRTM_CONTENTS",
        0x0000_0008 => "EV_S_CRTM_VERSION",
        0x0000_0009 => "EV_CPU_MICROCODE",
        EV_PLATFORM_CONFIG_FLAGS => "EV_PLATFORM_CONFIG_FLAGS",
        0x0000_000B => "EV_TABLE_OF_DEVICES",
        0x0000_000C => "EV_COMPACT_HASH",
        0x0000_000D => "EV_IPL",
        0x0000_000E => "EV_IPL_PARTITION_DATA",
        0x0000_000F => "EV_NONHOST_CODE",
        0x0000_0010 => "EV_NONHOST_CONFIG",
        0x0000_0011 => "EV_NONHOST_INFO",
        0x0000_0012 => "EV_OMIT_BOOT_DEVICE_EVENTS",
        0x8000_0001 => "EV_EFI_VARIABLE_DRIVER_CONFIG",
        0x8000_0002 => "EV_EFI_VARIABLE_BOOT",
        0x8000_0003 => "EV_EFI_BOOT_SERVICES_APPLICATION",
        0x8000_0004 => "EV_EFI_BOOT_SERVICES_DRIVER",
        0x8000_0005 => "EV_EFI_RUNTIME_SERVICES_DRIVER",
        0x8000_0006 => "EV_EFI_GPT_EVENT",
        0x8000_0007 => "EV_EFI_ACTION",
        0x8000_0008 => "EV_EFI_PLATFORM_FIRMWARE_BLOB",
        0x8000_0009 => "EV_EFI_HANDOFF_TABLES",
        EV_EFI_PLATFORM_FIRMWARE_BLOB2 => "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        EV_EFI_HANDOFF_TABLES2 => "EV_EFI_HANDOFF_TABLES2",
        0x8000_000C => "EV_EFI_VARIABLE_BOOT2",
        0x8000_0010 => "EV_EFI_HCRTM_EVENT",
        0x8000_00E0 => "EV_EFI_VARIABLE_AUTHORITY",
        0x8000_00E1 => "EV_EFI_SPDM_FIRMWARE_BLOB",
        0x8000_00E2 => "EV_EFI_SPDM_FIRMWARE_CONFIG",
        _ => return None,
    })
}

/// Printable form of a type: the name, or the number in hex.
pub fn type_label(event_type: u32) -> String {
    type_name(event_type).map_or_else(|| format!("{event_type:#x}"), str::to_string)
}

/// An event's data, decoded according to its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// `TD_SHIM_PLATFORM_CONFIG_INFO`: descriptor (up to the first NUL), info, and bytes
    /// after the info (none in a well-formed record).
    ConfigInfo {
        descriptor: &'a [u8],
        info: &'a [u8],
        trailing: usize,
    },
    /// `UEFI_PLATFORM_FIRMWARE_BLOB2`.
    Blob2 {
        description: &'a [u8],
        base: u64,
        length: u64,
        trailing: usize,
    },
    /// A separator with its 4-byte value (0 = normal, 1 = error).
    Separator(u32),
    /// Data that does not decode as its type says, or a type with no decoder here.
    Opaque,
}

/// Decodes `data` of an event of `event_type`.
pub fn decode(event_type: u32, data: &[u8]) -> Decoded<'_> {
    match event_type {
        EV_PLATFORM_CONFIG_FLAGS => match event_log::parse_platform_config_info(data) {
            Some((descriptor, info)) => Decoded::ConfigInfo {
                descriptor,
                info,
                trailing: data
                    .len()
                    .saturating_sub(20usize.saturating_add(info.len())),
            },
            None => Decoded::Opaque,
        },
        EV_EFI_PLATFORM_FIRMWARE_BLOB2 => match event_log::parse_firmware_blob2(data) {
            Some((description, base, length)) => Decoded::Blob2 {
                description,
                base,
                length,
                trailing: data
                    .len()
                    .saturating_sub(17usize.saturating_add(description.len())),
            },
            None => Decoded::Opaque,
        },
        EV_SEPARATOR => match <[u8; 4]>::try_from(data) {
            Ok(b) => Decoded::Separator(u32::from_le_bytes(b)),
            Err(_) => Decoded::Opaque,
        },
        _ => Decoded::Opaque,
    }
}

/// ASCII bytes as text with anything else escaped (`\xNN`), trailing NULs dropped.
pub fn ascii(bytes: &[u8]) -> String {
    let trimmed = match bytes.iter().rposition(|&b| b != 0) {
        Some(last) => bytes.get(..=last).unwrap_or(bytes),
        None => &[],
    };
    let mut s = String::new();
    for &b in trimmed {
        if (0x20..0x7F).contains(&b) && b != b'\\' && b != b'"' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// Whether `info` reads as a line of text (for printing command lines and the like).
fn is_text(info: &[u8]) -> bool {
    !info.is_empty() && info.iter().all(|&b| (0x20..0x7F).contains(&b))
}

/// A one-line, human description of an event's data.
pub fn describe(event_type: u32, digest: &Digest, data: &[u8]) -> String {
    match decode(event_type, data) {
        Decoded::ConfigInfo {
            descriptor,
            info,
            trailing,
        } => {
            let mut s = format!(
                "descriptor \"{}\", {} info bytes",
                ascii(descriptor),
                info.len()
            );
            if descriptor == measure::CFV.as_bytes() && info.len() == 16 {
                let (b, l) = info.split_at(8);
                let base = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                let len = u64::from_le_bytes(l.try_into().unwrap_or([0; 8]));
                let _ = write!(s, " (region base {base:#x}, length {len:#x})");
            } else if descriptor == measure::PAYLOAD_SVN.as_bytes() && info.len() == 8 {
                let svn = u64::from_le_bytes(info.try_into().unwrap_or([0; 8]));
                let _ = write!(s, " (svn {svn})");
            } else if is_text(info) && info.len() <= 256 {
                let _ = write!(s, " \"{}\"", ascii(info));
            }
            if event_log::sha384(info) == *digest {
                s.push_str(", digest = sha384(info)");
            }
            if trailing != 0 {
                let _ = write!(s, ", {trailing} unexpected bytes after the info");
            }
            s
        }
        Decoded::Blob2 {
            description,
            base,
            length,
            trailing,
        } => {
            let mut s = format!(
                "blob \"{}\" base {base:#x} length {length:#x}",
                ascii(description)
            );
            if trailing != 0 {
                let _ = write!(s, ", {trailing} unexpected bytes after the blob");
            }
            s
        }
        Decoded::Separator(0) => "separator 0".to_string(),
        Decoded::Separator(v) => format!("separator {v:#x} (error: the boot failed)"),
        Decoded::Opaque => format!("{} data bytes", data.len()),
    }
}

/// The JSON form of one event, shared by `td-shim-eventlog --json` and
/// `td-payload-reference-calculator --json`: `index`, `mr_index`, `rtmr`, `event_type`,
/// `type`, `digest`, `data_size`, and the decoded fields (`descriptor`, `info_size`,
/// `info_text`, `digest_is_sha384_of_info`; `blob` {`description`, `base`, `length`};
/// `separator`).
pub fn event_json(
    index: usize,
    mr_index: u32,
    event_type: u32,
    digest: &Digest,
    data: &[u8],
) -> Value {
    let mut o = Map::new();
    o.insert("index".into(), index.into());
    o.insert("mr_index".into(), mr_index.into());
    o.insert("rtmr".into(), mr_index.saturating_sub(1).into());
    o.insert("event_type".into(), event_type.into());
    o.insert("type".into(), type_label(event_type).into());
    o.insert("digest".into(), hex::encode(digest).into());
    o.insert("data_size".into(), data.len().into());
    match decode(event_type, data) {
        Decoded::ConfigInfo {
            descriptor, info, ..
        } => {
            o.insert("descriptor".into(), ascii(descriptor).into());
            o.insert("info_size".into(), info.len().into());
            if is_text(info) {
                o.insert("info_text".into(), ascii(info).into());
            }
            o.insert(
                "digest_is_sha384_of_info".into(),
                (event_log::sha384(info) == *digest).into(),
            );
        }
        Decoded::Blob2 {
            description,
            base,
            length,
            ..
        } => {
            o.insert(
                "blob".into(),
                json!({
                    "description": ascii(description),
                    "base": format!("{base:#x}"),
                    "length": length,
                }),
            );
        }
        Decoded::Separator(v) => {
            o.insert("separator".into(), v.into());
        }
        Decoded::Opaque => {}
    }
    Value::Object(o)
}

/// A short label for an event in messages: descriptor, blob description or type.
pub fn label(event_type: u32, data: &[u8]) -> String {
    match decode(event_type, data) {
        Decoded::ConfigInfo { descriptor, .. } => format!("\"{}\"", ascii(descriptor)),
        Decoded::Blob2 { description, .. } => format!("blob \"{}\"", ascii(description)),
        Decoded::Separator(v) => format!("separator {v}"),
        Decoded::Opaque => type_label(event_type),
    }
}

/// One expected event from a reference file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefEvent {
    pub mr_index: u32,
    pub digest: Digest,
    pub label: String,
}

/// Expected register values (`None` = not checked) and, optionally, the expected events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    pub rtmr: [Option<Digest>; RTMR_COUNT],
    pub events: Option<Vec<RefEvent>>,
}

/// Reads a reference file: a JSON object with optional `rtmr0`..`rtmr3` (96 hex digits, or
/// null = unknown) and an optional `events` array whose entries have `mr_index` (1..=4) and
/// `digest` (96 hex digits). Other keys are ignored (the calculator writes more).
pub fn parse_reference(text: &str) -> Result<Expected, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("reference: {e}"))?;
    let obj = v.as_object().ok_or("reference: expected a json object")?;
    let mut exp = Expected::default();
    for (i, slot) in exp.rtmr.iter_mut().enumerate() {
        let key = format!("rtmr{i}");
        match obj.get(&key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                *slot =
                    Some(hex::decode_array::<48>(s).map_err(|e| format!("reference: {key}: {e}"))?);
            }
            Some(other) => {
                return Err(format!(
                    "reference: {key}: expected a hex string, found {other}"
                ))
            }
        }
    }
    if let Some(events) = obj.get("events") {
        let arr = events
            .as_array()
            .ok_or("reference: events: expected an array")?;
        let mut out = Vec::with_capacity(arr.len());
        for (n, e) in arr.iter().enumerate() {
            let bad = |what: &str| format!("reference: events[{n}]: {what}");
            let mr_index = e
                .get("mr_index")
                .and_then(Value::as_u64)
                .filter(|m| (1..=RTMR_COUNT as u64).contains(m))
                .ok_or_else(|| bad("mr_index must be 1..=4"))?;
            let digest = e
                .get("digest")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("digest must be a hex string"))
                .and_then(|s| hex::decode_array::<48>(s).map_err(|x| bad(&x)))?;
            let label = e
                .get("descriptor")
                .and_then(Value::as_str)
                .map(|d| format!("\"{d}\""))
                .or_else(|| {
                    e.pointer("/blob/description")
                        .and_then(Value::as_str)
                        .map(|d| format!("blob \"{d}\""))
                })
                .or_else(|| e.get("type").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            out.push(RefEvent {
                mr_index: mr_index as u32,
                digest,
                label,
            });
        }
        exp.events = Some(out);
    }
    Ok(exp)
}

/// Applies `--rtmrN HEX` values over the reference's.
pub fn override_rtmr(exp: &mut Expected, index: usize, text: &str) -> Result<(), String> {
    let d = hex::decode_array::<48>(text).map_err(|e| format!("--rtmr{index}: {e}"))?;
    let slot = exp
        .rtmr
        .get_mut(index)
        .ok_or_else(|| format!("rtmr{index} does not exist"))?;
    *slot = Some(d);
    Ok(())
}

/// How a replayed register compares with its expected value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    NotGiven,
    Match,
    Mismatch { expected: Digest },
}

/// The result of reading, replaying and checking a log.
#[derive(Clone, Debug)]
pub struct Report<'a> {
    pub log: event_log::Log<'a>,
    /// Bytes after the last record, and how many of them are not 0xFF / 0x00 fill.
    pub trailing: usize,
    pub trailing_non_fill: usize,
    pub rtmr: [Digest; RTMR_COUNT],
    pub checks: [Check; RTMR_COUNT],
    /// For each mismatching register: where the log first departs from the reference's
    /// events, when the reference has events.
    pub divergence: Vec<String>,
}

/// Parses `bytes` as a CC event log, replays it and compares with `expected`.
pub fn analyse<'a>(bytes: &'a [u8], expected: &Expected) -> Result<Report<'a>, event_log::Error> {
    let log = event_log::parse(bytes)?;
    let tail = bytes.get(log.end..).unwrap_or(&[]);
    let trailing_non_fill = tail.iter().filter(|&&b| b != 0xFF && b != 0).count();
    let rtmr = event_log::replay(&log.events);
    let mut checks = [Check::NotGiven; RTMR_COUNT];
    for ((c, got), want) in checks.iter_mut().zip(&rtmr).zip(&expected.rtmr) {
        if let Some(w) = want {
            *c = if w == got {
                Check::Match
            } else {
                Check::Mismatch { expected: *w }
            };
        }
    }
    let mut divergence = Vec::new();
    if let Some(ref_events) = &expected.events {
        for (i, c) in checks.iter().enumerate() {
            if matches!(c, Check::Mismatch { .. }) {
                if let Some(d) = first_divergence(&log.events, ref_events, i) {
                    divergence.push(d);
                }
            }
        }
    }
    Ok(Report {
        trailing: tail.len(),
        trailing_non_fill,
        log,
        rtmr,
        checks,
        divergence,
    })
}

/// Where the log's events for RTMR `rtmr` first differ from the reference's.
pub fn first_divergence(log: &[Event<'_>], reference: &[RefEvent], rtmr: usize) -> Option<String> {
    let mine: Vec<&Event<'_>> = log.iter().filter(|e| e.rtmr() == rtmr).collect();
    let theirs: Vec<&RefEvent> = reference
        .iter()
        .filter(|e| e.mr_index as usize == rtmr.saturating_add(1))
        .collect();
    for n in 0..mine.len().max(theirs.len()) {
        match (mine.get(n), theirs.get(n)) {
            (Some(a), Some(b)) if a.digest == b.digest => continue,
            (Some(a), Some(b)) => {
                return Some(format!(
                    "rtmr{rtmr}: event {n} of this register differs: log has {} (offset {:#x}) \
                     digest {}, reference has {} digest {}",
                    label(a.event_type, a.data),
                    a.offset,
                    hex::encode(&a.digest),
                    b.label,
                    hex::encode(&b.digest)
                ))
            }
            (Some(a), None) => {
                return Some(format!(
                    "rtmr{rtmr}: the log has an extra event {n}: {} (offset {:#x})",
                    label(a.event_type, a.data),
                    a.offset
                ))
            }
            (None, Some(b)) => {
                return Some(format!(
                    "rtmr{rtmr}: the log lacks event {n} of the reference: {}",
                    b.label
                ))
            }
            (None, None) => break,
        }
    }
    None
}

impl Report<'_> {
    /// Registers whose replay differs from the expected value.
    pub fn mismatches(&self) -> Vec<usize> {
        self.checks
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c, Check::Mismatch { .. }))
            .map(|(i, _)| i)
            .collect()
    }

    /// The `--json` object: `vendor_info`, `events`, `end`, `trailing_bytes`,
    /// `trailing_non_fill_bytes`, `rtmr0`..`rtmr3`, `checks` and `match`.
    pub fn to_json(&self) -> Value {
        let events: Vec<Value> = self
            .log
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut v = event_json(i, e.mr_index, e.event_type, &e.digest, e.data);
                if let Some(o) = v.as_object_mut() {
                    o.insert("offset".into(), e.offset.into());
                }
                v
            })
            .collect();
        let mut o = Map::new();
        o.insert("vendor_info".into(), ascii(self.log.vendor_info).into());
        o.insert("event_count".into(), events.len().into());
        o.insert("events".into(), events.into());
        o.insert("end".into(), self.log.end.into());
        o.insert("trailing_bytes".into(), self.trailing.into());
        o.insert(
            "trailing_non_fill_bytes".into(),
            self.trailing_non_fill.into(),
        );
        let mut checks = Map::new();
        for (i, (r, c)) in self.rtmr.iter().zip(&self.checks).enumerate() {
            o.insert(format!("rtmr{i}"), hex::encode(r).into());
            let v = match c {
                Check::NotGiven => Value::Null,
                Check::Match => json!({"match": true}),
                Check::Mismatch { expected } => {
                    json!({"match": false, "expected": hex::encode(expected)})
                }
            };
            checks.insert(format!("rtmr{i}"), v);
        }
        o.insert("checks".into(), checks.into());
        o.insert("match".into(), self.mismatches().is_empty().into());
        o.insert("divergence".into(), self.divergence.clone().into());
        Value::Object(o)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "event log: spec id vendor \"{}\", {} events, records end at {:#x}",
            ascii(self.log.vendor_info),
            self.log.events.len(),
            self.log.end
        )?;
        for (i, e) in self.log.events.iter().enumerate() {
            writeln!(
                f,
                "[{i}] offset {:#x} rtmr{} (mr {}) {}",
                e.offset,
                e.rtmr(),
                e.mr_index,
                type_label(e.event_type)
            )?;
            writeln!(f, "    digest {}", hex::encode(&e.digest))?;
            writeln!(f, "    {}", describe(e.event_type, &e.digest, e.data))?;
        }
        if self.trailing_non_fill != 0 {
            writeln!(
                f,
                "warning: {} of the {} bytes after the last record are not 0xff/0x00 fill",
                self.trailing_non_fill, self.trailing
            )?;
        }
        writeln!(f, "replayed:")?;
        for (i, (r, c)) in self.rtmr.iter().zip(&self.checks).enumerate() {
            let status = match c {
                Check::NotGiven => String::new(),
                Check::Match => "  (matches)".into(),
                Check::Mismatch { expected } => {
                    format!("  (MISMATCH, expected {})", hex::encode(expected))
                }
            };
            writeln!(f, "  rtmr{i} {}{status}", hex::encode(r))?;
        }
        for d in &self.divergence {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}
