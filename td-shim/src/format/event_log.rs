// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The confidential-computing event log (`../shared/spec/measurement.md` §2, §4, §5): a TCG
//! crypto-agile log with SHA-384 as the only algorithm. The first record is a SHA-1 style
//! `TCG_PCR_EVENT` carrying the Spec ID event; every other record is a `TCG_PCR_EVENT2`
//! whose index is the CC measurement-register index (1..=4 = RTMR0..3).
//!
//! The firmware writes it ([`Writer`]); tools and payloads read it ([`parse`]), which treats
//! the bytes as untrusted (a log copied out of a guest is as hostile as any file), and
//! replay it ([`replay`]). Also here: the ACPI CCEL table that publishes the log area.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use alloc::vec::Vec;
use core::fmt;
use sha2::{Digest as _, Sha384};

/// Size of a SHA-384 digest.
pub const SHA384_SIZE: usize = 48;
/// A SHA-384 digest (also the size of one RTMR).
pub type Digest = [u8; SHA384_SIZE];

/// TCG event types used here (TCG PC Client PFP).
pub const EV_NO_ACTION: u32 = 0x3;
pub const EV_SEPARATOR: u32 = 0x4;
pub const EV_PLATFORM_CONFIG_FLAGS: u32 = 0xA;
pub const EV_EFI_PLATFORM_FIRMWARE_BLOB2: u32 = 0x8000_000A;
pub const EV_EFI_HANDOFF_TABLES2: u32 = 0x8000_000B;

/// TPM_ALG_SHA384.
pub const TPM_ALG_SHA384: u16 = 0x000C;
/// The Spec ID event's signature.
pub const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";
/// Vendor string in our Spec ID event.
pub const VENDOR_INFO: &[u8] = b"td-shim";
/// Number of measurement registers a log can address (RTMR0..3 = MrIndex 1..=4).
pub const RTMR_COUNT: usize = 4;

/// Header of the first record: PCRIndex, EventType, SHA-1 digest, EventSize.
const FIRST_HEADER_SIZE: usize = 4 + 4 + 20 + 4;
/// Fixed part of the Spec ID event with one algorithm, before the vendor bytes.
const SPEC_ID_FIXED_SIZE: usize = 16 + 4 + 1 + 1 + 1 + 1 + 4 + 2 + 2 + 1;
/// Header of a `TCG_PCR_EVENT2` with one SHA-384 digest, up to and including EventSize.
pub const EVENT2_HEADER_SIZE: usize = 4 + 4 + 4 + 2 + SHA384_SIZE + 4;
/// Largest event data [`parse`] believes (the firmware's own events are far smaller; a
/// verifier reading a hostile log should not follow a 4 GiB length).
pub const MAX_EVENT_DATA: usize = 16 << 20;

/// Size of the ACPI CCEL table.
pub const CCEL_SIZE: usize = 56;
/// CC type of an Intel TDX guest in the CCEL table.
pub const CCEL_CC_TYPE_TDX: u8 = 2;
/// CC type 0 (reserved): used in a legacy VM, where the log has no registers behind it.
pub const CCEL_CC_TYPE_NONE: u8 = 0;

/// What is wrong with a log (parsing) or with the room for it (writing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes end inside the record at `offset`.
    Truncated { offset: usize },
    /// The first record is not an EV_NO_ACTION Spec ID event.
    NotSpecId,
    /// The Spec ID event's fields are not what a SHA-384-only log carries.
    SpecId(&'static str),
    /// A record's digest count is not 1.
    DigestCount { offset: usize, count: u32 },
    /// A record's digest algorithm is not SHA-384.
    Algorithm { offset: usize, alg: u16 },
    /// A record's EventSize is implausibly large.
    EventSize { offset: usize, size: u32 },
    /// A record's MrIndex is outside 1..=4.
    MrIndex { offset: usize, index: u32 },
    /// The log area cannot hold the next record.
    Full { needed: usize, free: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { offset } => {
                write!(f, "event log truncated in the record at offset {offset:#x}")
            }
            Error::NotSpecId => f.write_str("event log does not start with a spec id event"),
            Error::SpecId(what) => write!(f, "event log spec id header: {what}"),
            Error::DigestCount { offset, count } => write!(
                f,
                "event at offset {offset:#x} has {count} digests (expected 1, sha384)"
            ),
            Error::Algorithm { offset, alg } => write!(
                f,
                "event at offset {offset:#x} uses hash algorithm {alg:#06x} (expected sha384 0x000c)"
            ),
            Error::EventSize { offset, size } => write!(
                f,
                "event at offset {offset:#x} claims {size} bytes of event data"
            ),
            Error::MrIndex { offset, index } => write!(
                f,
                "event at offset {offset:#x} has measurement register index {index} (expected 1..=4)"
            ),
            Error::Full { needed, free } => write!(
                f,
                "event log area full: the next record needs {needed} bytes, {free} are free"
            ),
        }
    }
}

/// SHA-384 of `data`.
pub fn sha384(data: &[u8]) -> Digest {
    Sha384::digest(data).into()
}

/// SHA-384 of several pieces, concatenated.
pub fn sha384_parts(parts: &[&[u8]]) -> Digest {
    let mut h = Sha384::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The extend operation of an RTMR: `mr ← SHA-384(mr ‖ digest)`.
pub fn extend(mr: &mut Digest, digest: &Digest) {
    *mr = sha384_parts(&[mr.as_slice(), digest.as_slice()]);
}

/// The 72-byte first record: TCG_PCR_EVENT header + Spec ID event (SHA-384 only).
pub fn spec_id_record() -> Vec<u8> {
    const EVENT_SIZE: usize = SPEC_ID_FIXED_SIZE + VENDOR_INFO.len();
    let event_size = EVENT_SIZE;
    let mut r = Vec::with_capacity(FIRST_HEADER_SIZE + EVENT_SIZE);
    r.extend_from_slice(&0u32.to_le_bytes()); // PCRIndex
    r.extend_from_slice(&EV_NO_ACTION.to_le_bytes());
    r.extend_from_slice(&[0u8; 20]); // SHA-1 digest
    r.extend_from_slice(&(event_size as u32).to_le_bytes());
    r.extend_from_slice(SPEC_ID_SIGNATURE);
    r.extend_from_slice(&0u32.to_le_bytes()); // platformClass: client
    r.extend_from_slice(&[0, 2, 105, 2]); // minor, major, errata, uintnSize (64-bit)
    r.extend_from_slice(&1u32.to_le_bytes()); // numberOfAlgorithms
    r.extend_from_slice(&TPM_ALG_SHA384.to_le_bytes());
    r.extend_from_slice(&(SHA384_SIZE as u16).to_le_bytes());
    r.push(VENDOR_INFO.len() as u8);
    r.extend_from_slice(VENDOR_INFO);
    r
}

/// The 66-byte header of a `TCG_PCR_EVENT2` record with one SHA-384 digest, for `data_len`
/// bytes of event data (which follow it).
pub fn event2_header(
    mr_index: u32,
    event_type: u32,
    digest: &Digest,
    data_len: u32,
) -> [u8; EVENT2_HEADER_SIZE] {
    let mut head = [0u8; EVENT2_HEADER_SIZE];
    let fields: [&[u8]; 6] = [
        &mr_index.to_le_bytes(),
        &event_type.to_le_bytes(),
        &1u32.to_le_bytes(),
        &TPM_ALG_SHA384.to_le_bytes(),
        digest,
        &data_len.to_le_bytes(),
    ];
    let mut at = 0usize;
    for f in fields {
        if let Some(dst) = head.get_mut(at..at.saturating_add(f.len())) {
            dst.copy_from_slice(f);
        }
        at = at.saturating_add(f.len());
    }
    head
}

/// `TD_SHIM_PLATFORM_CONFIG_INFO` event data: a 16-byte zero-padded ASCII descriptor,
/// InfoLength, Info. Descriptors longer than 16 bytes are cut (ours are all shorter).
pub fn platform_config_info(descriptor: &str, info: &[u8]) -> Vec<u8> {
    let head = platform_config_info_header(descriptor, info.len());
    let mut r = Vec::with_capacity(head.len().saturating_add(info.len()));
    r.extend_from_slice(&head);
    r.extend_from_slice(info);
    r
}

/// The 20-byte head of `TD_SHIM_PLATFORM_CONFIG_INFO` (descriptor, InfoLength) for `info_len`
/// bytes of info, for writers that append the info without copying it.
pub fn platform_config_info_header(descriptor: &str, info_len: usize) -> [u8; 20] {
    let mut h = [0u8; 20];
    for (slot, b) in h.iter_mut().zip(descriptor.bytes().take(16)) {
        *slot = b;
    }
    let len = u32::try_from(info_len).unwrap_or(u32::MAX).to_le_bytes();
    for (slot, b) in h.iter_mut().skip(16).zip(len) {
        *slot = b;
    }
    h
}

/// `UEFI_PLATFORM_FIRMWARE_BLOB2` event data: description (NUL included by the caller if
/// wanted), base, length. Descriptions longer than 255 bytes are cut.
pub fn firmware_blob2(description: &[u8], base: u64, length: u64) -> Vec<u8> {
    let desc = description.get(..255).unwrap_or(description);
    let mut r = Vec::with_capacity(17usize.saturating_add(desc.len()));
    r.push(desc.len() as u8);
    r.extend_from_slice(desc);
    r.extend_from_slice(&base.to_le_bytes());
    r.extend_from_slice(&length.to_le_bytes());
    r
}

/// Appends records into a fixed log area (the firmware's reserved region). The area is
/// filled with 0xFF first, so readers stop after the last record.
pub struct Writer<'a> {
    area: &'a mut [u8],
    used: usize,
}

impl<'a> Writer<'a> {
    /// Fills `area` with 0xFF and writes the Spec ID record.
    pub fn new(area: &'a mut [u8]) -> Result<Self, Error> {
        area.fill(0xFF);
        let mut w = Writer { area, used: 0 };
        w.put(&spec_id_record())?;
        Ok(w)
    }

    /// Appends one event record.
    pub fn append(
        &mut self,
        mr_index: u32,
        event_type: u32,
        digest: &Digest,
        data: &[u8],
    ) -> Result<(), Error> {
        self.append_parts(mr_index, event_type, digest, &[data])
    }

    /// Appends one event record whose data is `parts` concatenated, copying each part once
    /// straight into the area (no heap: event data from the VMM can be large). Nothing is
    /// written unless the whole record fits.
    pub fn append_parts(
        &mut self,
        mr_index: u32,
        event_type: u32,
        digest: &Digest,
        parts: &[&[u8]],
    ) -> Result<(), Error> {
        let data_len = parts
            .iter()
            .try_fold(0usize, |n, p| n.checked_add(p.len()))
            .unwrap_or(usize::MAX);
        self.check_room(data_len)?;
        let data_len = u32::try_from(data_len).map_err(|_| Error::Full {
            needed: usize::MAX,
            free: self.free(),
        })?;
        self.put(&event2_header(mr_index, event_type, digest, data_len))?;
        for p in parts {
            self.put(p)?;
        }
        Ok(())
    }

    /// Whether a record with `data_len` bytes of event data fits (an EventSize beyond u32
    /// never does).
    pub fn check_room(&self, data_len: usize) -> Result<(), Error> {
        let free = self.free();
        let needed = EVENT2_HEADER_SIZE
            .checked_add(data_len)
            .filter(|_| u32::try_from(data_len).is_ok())
            .unwrap_or(usize::MAX);
        if needed > free {
            return Err(Error::Full { needed, free });
        }
        Ok(())
    }

    fn free(&self) -> usize {
        self.area.len().saturating_sub(self.used)
    }

    fn put(&mut self, record: &[u8]) -> Result<(), Error> {
        let free = self.area.len().saturating_sub(self.used);
        let end = self
            .used
            .checked_add(record.len())
            .filter(|&e| e <= self.area.len())
            .ok_or(Error::Full {
                needed: record.len(),
                free,
            })?;
        self.area
            .get_mut(self.used..end)
            .ok_or(Error::Full {
                needed: record.len(),
                free,
            })?
            .copy_from_slice(record);
        self.used = end;
        Ok(())
    }

    /// Bytes written so far.
    pub fn used(&self) -> usize {
        self.used
    }
}

/// One parsed `TCG_PCR_EVENT2` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Offset of the record in the log.
    pub offset: usize,
    /// CC measurement-register index (1..=4).
    pub mr_index: u32,
    pub event_type: u32,
    pub digest: Digest,
    pub data: &'a [u8],
}

impl Event<'_> {
    /// RTMR number this event extends (MrIndex − 1).
    pub fn rtmr(&self) -> usize {
        (self.mr_index as usize).saturating_sub(1)
    }
}

/// A parsed log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log<'a> {
    /// Vendor bytes of the Spec ID event.
    pub vendor_info: &'a [u8],
    pub events: Vec<Event<'a>>,
    /// Offset just past the last record.
    pub end: usize,
}

fn take(bytes: &[u8], at: usize, len: usize, record: usize) -> Result<&[u8], Error> {
    at.checked_add(len)
        .and_then(|end| bytes.get(at..end))
        .ok_or(Error::Truncated { offset: record })
}

fn u32_at(bytes: &[u8], at: usize, record: usize) -> Result<u32, Error> {
    let b = take(bytes, at, 4, record)?;
    Ok(u32::from_le_bytes(
        b.try_into()
            .map_err(|_| Error::Truncated { offset: record })?,
    ))
}

fn u16_at(bytes: &[u8], at: usize, record: usize) -> Result<u16, Error> {
    let b = take(bytes, at, 2, record)?;
    Ok(u16::from_le_bytes(
        b.try_into()
            .map_err(|_| Error::Truncated { offset: record })?,
    ))
}

/// Parses a log: the Spec ID record, then records until the bytes end or the next record
/// header is fill (MrIndex 0xFFFFFFFF, i.e. the 0xFF the firmware pre-fills the area with,
/// or all zeros). Anything else that does not parse is an error, not a silent stop: a
/// verifier must not accept a log whose tail it could not read.
pub fn parse(bytes: &[u8]) -> Result<Log<'_>, Error> {
    // First record.
    let pcr = u32_at(bytes, 0, 0)?;
    let ty = u32_at(bytes, 4, 0)?;
    if pcr != 0 || ty != EV_NO_ACTION {
        return Err(Error::NotSpecId);
    }
    let size = u32_at(bytes, 28, 0)? as usize;
    let spec = take(bytes, FIRST_HEADER_SIZE, size, 0)?;
    if spec.get(..16) != Some(SPEC_ID_SIGNATURE.as_slice()) {
        return Err(Error::NotSpecId);
    }
    let n_alg = u32_at(spec, 24, 0)?;
    if n_alg != 1 {
        return Err(Error::SpecId("numberOfAlgorithms is not 1"));
    }
    if u16_at(spec, 28, 0)? != TPM_ALG_SHA384 {
        return Err(Error::SpecId("the algorithm is not sha384"));
    }
    if u16_at(spec, 30, 0)? as usize != SHA384_SIZE {
        return Err(Error::SpecId("the sha384 digest size is not 48"));
    }
    let vendor_len = usize::from(*spec.get(32).ok_or(Error::Truncated { offset: 0 })?);
    if 33usize.checked_add(vendor_len) != Some(size) {
        return Err(Error::SpecId(
            "eventSize does not match the vendor info size",
        ));
    }
    let vendor_info = take(spec, 33, vendor_len, 0)?;
    let mut at = FIRST_HEADER_SIZE
        .checked_add(size)
        .ok_or(Error::Truncated { offset: 0 })?;

    let mut events = Vec::new();
    while let Some(rest) = bytes.get(at..) {
        if rest.is_empty() {
            break;
        }
        let Some(head) = rest.get(..4) else {
            return Err(Error::Truncated { offset: at });
        };
        if head == [0xFF; 4] || head == [0; 4] {
            break; // fill after the last record
        }
        let mr_index = u32_at(bytes, at, at)?;
        if !(1..=RTMR_COUNT as u32).contains(&mr_index) {
            return Err(Error::MrIndex {
                offset: at,
                index: mr_index,
            });
        }
        let event_type = u32_at(bytes, at.saturating_add(4), at)?;
        let count = u32_at(bytes, at.saturating_add(8), at)?;
        if count != 1 {
            return Err(Error::DigestCount { offset: at, count });
        }
        let alg = u16_at(bytes, at.saturating_add(12), at)?;
        if alg != TPM_ALG_SHA384 {
            return Err(Error::Algorithm { offset: at, alg });
        }
        let digest: Digest = take(bytes, at.saturating_add(14), SHA384_SIZE, at)?
            .try_into()
            .map_err(|_| Error::Truncated { offset: at })?;
        let data_size = u32_at(bytes, at.saturating_add(14 + SHA384_SIZE), at)?;
        if data_size as usize > MAX_EVENT_DATA {
            return Err(Error::EventSize {
                offset: at,
                size: data_size,
            });
        }
        let data_at = at.saturating_add(EVENT2_HEADER_SIZE);
        let data = take(bytes, data_at, data_size as usize, at)?;
        events.push(Event {
            offset: at,
            mr_index,
            event_type,
            digest,
            data,
        });
        at = data_at.saturating_add(data.len());
    }
    Ok(Log {
        vendor_info,
        events,
        end: at,
    })
}

/// Replays events into RTMR0..3, starting from zeros.
pub fn replay(events: &[Event<'_>]) -> [Digest; RTMR_COUNT] {
    let mut rtmrs = [[0u8; SHA384_SIZE]; RTMR_COUNT];
    for e in events {
        if let Some(r) = rtmrs.get_mut(e.rtmr()) {
            extend(r, &e.digest);
        }
    }
    rtmrs
}

/// A decoded `TD_SHIM_PLATFORM_CONFIG_INFO`: descriptor (up to the first NUL) and info.
pub fn parse_platform_config_info(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let desc = data.get(..16)?;
    let len = u32::from_le_bytes(data.get(16..20)?.try_into().ok()?) as usize;
    let info = data.get(20..20usize.checked_add(len)?)?;
    let name_len = desc.iter().position(|&b| b == 0).unwrap_or(16);
    Some((desc.get(..name_len)?, info))
}

/// A decoded `UEFI_PLATFORM_FIRMWARE_BLOB2`: description, base, length.
pub fn parse_firmware_blob2(data: &[u8]) -> Option<(&[u8], u64, u64)> {
    let n = usize::from(*data.first()?);
    let desc = data.get(1..n.checked_add(1)?)?;
    let base_at = n.checked_add(1)?;
    let base = u64::from_le_bytes(
        data.get(base_at..base_at.checked_add(8)?)?
            .try_into()
            .ok()?,
    );
    let len_at = base_at.checked_add(8)?;
    let length = u64::from_le_bytes(data.get(len_at..len_at.checked_add(8)?)?.try_into().ok()?);
    Some((desc, base, length))
}

/// The ACPI CCEL table (ACPI 6.5) pointing at a log area of `laml` bytes at `lasa`;
/// `cc_type` [`CCEL_CC_TYPE_TDX`] in a TD, [`CCEL_CC_TYPE_NONE`] where no CC measurement
/// registers back the log (a legacy VM).
pub fn ccel_table(cc_type: u8, lasa: u64, laml: u64) -> [u8; CCEL_SIZE] {
    let mut t = [0u8; CCEL_SIZE];
    let fields: [(usize, &[u8]); 11] = [
        (0, b"CCEL"),
        (4, &(CCEL_SIZE as u32).to_le_bytes()),
        (8, &[1]),                 // revision
        (10, b"TDSHIM"),           // OEM ID
        (16, b"TDSHIMCC"),         // OEM table ID
        (24, &1u32.to_le_bytes()), // OEM revision
        (28, b"TDSH"),             // creator ID
        (32, &1u32.to_le_bytes()), // creator revision
        (36, &[cc_type, 0]),       // CC type, subtype
        (40, &laml.to_le_bytes()),
        (48, &lasa.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        if let Some(dst) = t.get_mut(at..at.saturating_add(bytes.len())) {
            dst.copy_from_slice(bytes);
        }
    }
    let sum = t.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    if let Some(c) = t.get_mut(9) {
        *c = 0u8.wrapping_sub(sum);
    }
    t
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    fn sample() -> (Vec<u8>, [Digest; 4]) {
        let mut area = vec![0u8; 4096];
        let d1 = sha384(b"one");
        let d2 = sha384(b"two");
        let mut w = Writer::new(&mut area).unwrap();
        w.append(
            1,
            EV_PLATFORM_CONFIG_FLAGS,
            &d1,
            &platform_config_info("td_hob", b"one"),
        )
        .unwrap();
        w.append(
            2,
            EV_EFI_PLATFORM_FIRMWARE_BLOB2,
            &d2,
            &firmware_blob2(b"td_payload\0", 0x100, 3),
        )
        .unwrap();
        w.append(1, EV_SEPARATOR, &sha384(&[0; 4]), &[0; 4])
            .unwrap();
        assert_eq!(w.used(), 72 + 3 * 66 + 23 + 28 + 4);
        // Expected registers, by the extend rule written out.
        let mut r0 = [0u8; 48];
        r0 = sha384(&[r0.as_slice(), d1.as_slice()].concat());
        r0 = sha384(&[r0.as_slice(), sha384(&[0; 4]).as_slice()].concat());
        let r1 = sha384(&[[0u8; 48].as_slice(), d2.as_slice()].concat());
        (area, [r0, r1, [0; 48], [0; 48]])
    }

    #[test]
    fn spec_id_record_layout() {
        let r = spec_id_record();
        assert_eq!(r.len(), 72);
        assert_eq!(&r[4..8], &3u32.to_le_bytes());
        assert_eq!(&r[28..32], &40u32.to_le_bytes());
        assert_eq!(&r[32..48], b"Spec ID Event03\0");
        assert_eq!(&r[52..56], &[0, 2, 105, 2]);
        assert_eq!(&r[56..60], &1u32.to_le_bytes());
        assert_eq!(&r[60..64], &[0x0C, 0, 48, 0]);
        assert_eq!(r[64], 7);
        assert_eq!(&r[65..72], b"td-shim");
    }

    #[test]
    fn write_parse_replay() {
        let (area, expected) = sample();
        let log = parse(&area).unwrap();
        assert_eq!(log.vendor_info, b"td-shim");
        assert_eq!(log.events.len(), 3);
        assert_eq!(log.events[0].offset, 72);
        assert_eq!(log.events[1].mr_index, 2);
        let (desc, info) = parse_platform_config_info(log.events[0].data).unwrap();
        assert_eq!((desc, info), (b"td_hob".as_slice(), b"one".as_slice()));
        let (d, base, len) = parse_firmware_blob2(log.events[1].data).unwrap();
        assert_eq!((d, base, len), (b"td_payload\0".as_slice(), 0x100, 3));
        assert_eq!(replay(&log.events), expected);
        assert!(area[log.end..].iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn append_parts_equals_append_of_the_concatenation() {
        let mut a = vec![0u8; 1024];
        let mut b = vec![0u8; 1024];
        let d = sha384(b"x");
        let head = platform_config_info_header("etc/acpi/tables", 5);
        let data = platform_config_info("etc/acpi/tables", b"hello");
        assert_eq!(&data[..20], &head);
        Writer::new(&mut a)
            .unwrap()
            .append(1, EV_PLATFORM_CONFIG_FLAGS, &d, &data)
            .unwrap();
        Writer::new(&mut b)
            .unwrap()
            .append_parts(1, EV_PLATFORM_CONFIG_FLAGS, &d, &[&head, b"hello"])
            .unwrap();
        assert_eq!(a, b);
        // A record that does not fit leaves the area as it was.
        let mut c = vec![0u8; 200];
        let mut w = Writer::new(&mut c).unwrap();
        let big = [7u8; 100];
        assert!(w.append_parts(1, 4, &d, &[&big, &big]).is_err());
        assert_eq!(w.used(), 72);
        assert!(c[72..].iter().all(|&x| x == 0xFF));
    }

    #[test]
    fn full_area_is_an_error() {
        let mut area = vec![0u8; 100];
        let mut w = Writer::new(&mut area).unwrap();
        assert_eq!(
            w.append(1, EV_SEPARATOR, &[0; 48], &[0; 4]),
            Err(Error::Full {
                needed: 70,
                free: 28
            })
        );
        let mut tiny = vec![0u8; 71];
        assert!(Writer::new(&mut tiny).is_err());
    }

    #[test]
    fn hostile_logs() {
        let (area, _) = sample();
        let end = parse(&area).unwrap().end;
        // Every truncation inside a record is an error, never a panic or a shorter log.
        for cut in 0..end {
            let boundaries = [72, 72 + 66 + 23, 72 + 66 + 23 + 66 + 28];
            let r = parse(&area[..cut]);
            if boundaries.contains(&cut) {
                assert!(r.is_ok(), "cut {cut}");
            } else {
                assert!(r.is_err(), "cut {cut}");
            }
        }
        let mut bad = area.clone();
        bad[0] = 1;
        assert_eq!(parse(&bad), Err(Error::NotSpecId));
        let mut bad = area.clone();
        bad[32] = b'X';
        assert_eq!(parse(&bad), Err(Error::NotSpecId));
        let mut bad = area.clone();
        bad[56] = 2;
        assert!(matches!(parse(&bad), Err(Error::SpecId(_))));
        let mut bad = area.clone();
        bad[60] = 0x0B; // SHA-256
        assert!(matches!(parse(&bad), Err(Error::SpecId(_))));
        let mut bad = area.clone();
        bad[64] = 8; // vendor size disagrees with EventSize
        assert!(matches!(parse(&bad), Err(Error::SpecId(_))));
        let mut bad = area.clone();
        bad[72 + 8] = 2;
        assert_eq!(
            parse(&bad),
            Err(Error::DigestCount {
                offset: 72,
                count: 2
            })
        );
        let mut bad = area.clone();
        bad[72 + 12] = 0x0B;
        assert_eq!(
            parse(&bad),
            Err(Error::Algorithm {
                offset: 72,
                alg: 0x0B
            })
        );
        let mut bad = area.clone();
        bad[72] = 5;
        assert_eq!(
            parse(&bad),
            Err(Error::MrIndex {
                offset: 72,
                index: 5
            })
        );
        let mut bad = area.clone();
        bad[72 + 62..72 + 66].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            parse(&bad),
            Err(Error::EventSize {
                offset: 72,
                size: u32::MAX
            })
        );
        let mut bad = area.clone();
        bad[72 + 62..72 + 66].copy_from_slice(&5000u32.to_le_bytes());
        assert_eq!(parse(&bad), Err(Error::Truncated { offset: 72 }));
    }

    #[test]
    fn ccel_table_checksums() {
        let t = ccel_table(CCEL_CC_TYPE_TDX, 0x7F00_0000, 0x10_0000);
        assert_eq!(&t[0..4], b"CCEL");
        assert_eq!(t.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
        assert_eq!(t[36], 2);
        assert_eq!(u64::from_le_bytes(t[40..48].try_into().unwrap()), 0x10_0000);
        assert_eq!(
            u64::from_le_bytes(t[48..56].try_into().unwrap()),
            0x7F00_0000
        );
    }

    #[test]
    fn separator_example_from_the_spec() {
        // measurement.md §5: a log with only the separators gives
        // RTMR = SHA-384(0^48 || SHA-384(00 00 00 00)).
        let mut area = vec![0u8; 512];
        let d = sha384(&[0; 4]);
        let mut w = Writer::new(&mut area).unwrap();
        w.append(1, EV_SEPARATOR, &d, &[0; 4]).unwrap();
        w.append(2, EV_SEPARATOR, &d, &[0; 4]).unwrap();
        let r = replay(&parse(&area).unwrap().events);
        let mut expected = [0u8; 96];
        expected[48..].copy_from_slice(&d);
        assert_eq!(r[0], sha384(&expected));
        assert_eq!(r[1], r[0]);
    }
}
