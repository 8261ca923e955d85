// SPDX-License-Identifier: BSD-2-Clause-Patent
//! ACPI tables (`../shared/spec/mp-wakeup.md` §1, §2; ACPI 6.5 §5.2): the checksum rule, a
//! checked view of a table header, QEMU's table-loader script (fw_cfg `etc/table-loader`,
//! 128-byte ALLOCATE / ADD_POINTER / ADD_CHECKSUM / WRITE_POINTER commands) with a pure
//! executor over files the caller has already placed in memory, and builders for the RSDP,
//! XSDT and MADT the firmware publishes when the VMM gives none. Parsed input (fw_cfg files,
//! the script) is untrusted: every offset is bounds-checked and every sum is checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of the common system description table header.
pub const HEADER_SIZE: usize = 36;
/// Size of an ACPI 2.0+ RSDP.
pub const RSDP_SIZE: usize = 36;
/// Bytes covered by the ACPI 1.0 RSDP checksum.
pub const RSDP_V1_SIZE: usize = 20;
/// Offset of the checksum byte in a table header.
pub const CHECKSUM_OFFSET: usize = 9;
pub const RSDP_SIGNATURE: [u8; 8] = *b"RSD PTR ";
pub const XSDT_SIGNATURE: [u8; 4] = *b"XSDT";
pub const MADT_SIGNATURE: [u8; 4] = *b"APIC";
/// OEM fields of the tables built here (mp-wakeup.md §2, as upstream).
pub const OEM_ID: [u8; 6] = *b"INTEL ";
pub const OEM_TABLE_ID: [u8; 8] = *b"SHIM    ";
pub const OEM_REVISION: u32 = 1;
pub const CREATOR_ID: [u8; 4] = *b"SHIM";
pub const CREATOR_REVISION: u32 = 1;
pub const XSDT_REVISION: u8 = 1;
pub const MADT_REVISION: u8 = 1;
/// MADT fixed fields (mp-wakeup.md §2).
pub const LOCAL_APIC_ADDRESS: u32 = 0xFEE0_0000;
pub const MADT_FLAG_PCAT_COMPAT: u32 = 1;
pub const IO_APIC_ADDRESS: u32 = 0xFEC0_0000;
/// MADT interrupt controller structure types and lengths (ACPI 6.5 §5.2.12).
pub const MADT_LOCAL_APIC: u8 = 0;
pub const MADT_IO_APIC: u8 = 1;
pub const MADT_INTERRUPT_OVERRIDE: u8 = 2;
pub const MADT_LOCAL_X2APIC: u8 = 9;
pub const MADT_MP_WAKEUP: u8 = 0x10;
pub const MADT_LOCAL_APIC_LEN: u8 = 8;
pub const MADT_IO_APIC_LEN: u8 = 12;
pub const MADT_INTERRUPT_OVERRIDE_LEN: u8 = 10;
pub const MADT_LOCAL_X2APIC_LEN: u8 = 16;
pub const MADT_MP_WAKEUP_LEN: u8 = 16;
/// Local (x2)APIC flags bit 0.
pub const LAPIC_ENABLED: u32 = 1;
/// MPS INTI flags: polarity active high (bits 1:0 = 01), trigger level (bits 3:2 = 11).
pub const INTI_ACTIVE_HIGH_LEVEL: u16 = 0x000D;
/// First APIC ID that needs a Local x2APIC structure.
const X2APIC_MIN_ID: u32 = 255;
/// Offset of the first entry after the MADT's fixed fields.
const MADT_ENTRIES_OFFSET: usize = 44;

/// QEMU table-loader command size and numbers (hw/acpi/bios-linker-loader.c).
pub const LOADER_ENTRY_SIZE: usize = 128;
/// Length of every file name field (NUL-terminated within).
pub const LOADER_FILE_NAME_SIZE: usize = 56;
pub const LOADER_CMD_ALLOCATE: u32 = 1;
pub const LOADER_CMD_ADD_POINTER: u32 = 2;
pub const LOADER_CMD_ADD_CHECKSUM: u32 = 3;
pub const LOADER_CMD_WRITE_POINTER: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// `len` bytes given, `need` required (table header, RSDP).
    Truncated { need: usize, len: usize },
    /// A table's Length is below 36 or beyond the `available` bytes.
    BadLength {
        signature: [u8; 4],
        length: u32,
        available: usize,
    },
    /// A table's bytes do not sum to 0.
    BadChecksum { signature: [u8; 4] },
    /// A table has another signature than the one required.
    WrongSignature { expected: [u8; 4], found: [u8; 4] },
    /// An XSDT whose entry area is not a whole number of u64s.
    XsdtLength { length: u32 },
    /// The RSDP signature is not "RSD PTR ".
    RsdpSignature,
    /// RSDP revision below 2 (no XSDT address).
    RsdpRevision { revision: u8 },
    /// RSDP Length below 36 or beyond the bytes given.
    RsdpLength { length: u32 },
    /// RSDP checksum (first 20 bytes) or extended checksum does not sum to 0.
    RsdpChecksum,
    /// A table built here would exceed 4 GiB.
    TooLarge,
    /// The table-loader script is not a whole number of 128-byte commands.
    ScriptLength { len: usize },
    /// Command at script byte `offset`: a file name is empty, not NUL-terminated within 56
    /// bytes, or not UTF-8.
    BadName { offset: usize },
    /// Command at script byte `offset`: ALLOCATE alignment not a power of two.
    BadAlign { offset: usize, align: u32 },
    /// Command at script byte `offset`: ALLOCATE zone neither 1 (HIGH) nor 2 (FSEG).
    BadZone { offset: usize, zone: u8 },
    /// Command at script byte `offset`: pointer size not 1, 2, 4 or 8.
    BadPointerSize { offset: usize, size: u8 },
    /// Command `command` (index in the slice given to `execute`) carries a field that
    /// `parse_script` would have refused (size, alignment).
    InvalidCommand { command: usize },
    /// Command `command` names a file that is not among the files, or not yet allocated.
    UnknownFile { command: usize },
    /// Command `command` allocates a file a second time.
    DuplicateFile { command: usize },
    /// Command `command` allocates a file whose GPA is not aligned as requested.
    Misaligned {
        command: usize,
        gpa: u64,
        align: u32,
    },
    /// Command `command` reads or writes a pointer outside its file.
    PointerOutOfBounds { command: usize },
    /// Command `command` computes a pointer that does not fit its width.
    PointerOverflow { command: usize },
    /// Command `command` checksums a range, or stores a checksum, outside its file.
    ChecksumOutOfBounds { command: usize },
}

/// Shows a 4-byte signature as text (lossy, for messages only).
struct Sig<'a>(&'a [u8]);

impl fmt::Display for Sig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            let c = if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { need, len } => {
                write!(f, "acpi: {len} bytes given, {need} needed")
            }
            Error::BadLength {
                signature,
                length,
                available,
            } => write!(
                f,
                "acpi table {}: length {length:#x} outside [36, {available:#x}]",
                Sig(&signature)
            ),
            Error::BadChecksum { signature } => {
                write!(f, "acpi table {}: checksum is wrong", Sig(&signature))
            }
            Error::WrongSignature { expected, found } => write!(
                f,
                "acpi table {} where {} was expected",
                Sig(&found),
                Sig(&expected)
            ),
            Error::XsdtLength { length } => {
                write!(f, "xsdt length {length:#x} is not 36 + 8 * n")
            }
            Error::RsdpSignature => f.write_str("rsdp signature is not \"RSD PTR \""),
            Error::RsdpRevision { revision } => {
                write!(f, "rsdp revision {revision} has no xsdt (need 2)")
            }
            Error::RsdpLength { length } => write!(f, "rsdp length {length} is invalid"),
            Error::RsdpChecksum => f.write_str("rsdp checksum is wrong"),
            Error::TooLarge => f.write_str("acpi table would exceed 4 GiB"),
            Error::ScriptLength { len } => write!(
                f,
                "table-loader script of {len} bytes is not a multiple of {LOADER_ENTRY_SIZE}"
            ),
            Error::BadName { offset } => write!(
                f,
                "table-loader command at {offset:#x}: bad file name (empty, unterminated or not utf-8)"
            ),
            Error::BadAlign { offset, align } => write!(
                f,
                "table-loader command at {offset:#x}: alignment {align:#x} is not a power of two"
            ),
            Error::BadZone { offset, zone } => write!(
                f,
                "table-loader command at {offset:#x}: zone {zone} is neither 1 nor 2"
            ),
            Error::BadPointerSize { offset, size } => write!(
                f,
                "table-loader command at {offset:#x}: pointer size {size} is not 1, 2, 4 or 8"
            ),
            Error::InvalidCommand { command } => {
                write!(f, "table-loader command {command}: invalid field")
            }
            Error::UnknownFile { command } => {
                write!(f, "table-loader command {command}: file not allocated")
            }
            Error::DuplicateFile { command } => {
                write!(f, "table-loader command {command}: file allocated twice")
            }
            Error::Misaligned {
                command,
                gpa,
                align,
            } => write!(
                f,
                "table-loader command {command}: file at {gpa:#x} is not {align:#x}-aligned"
            ),
            Error::PointerOutOfBounds { command } => {
                write!(f, "table-loader command {command}: pointer outside its file")
            }
            Error::PointerOverflow { command } => {
                write!(f, "table-loader command {command}: pointer overflows its width")
            }
            Error::ChecksumOutOfBounds { command } => {
                write!(f, "table-loader command {command}: checksum outside its file")
            }
        }
    }
}

/// 8-bit sum of `bytes` (a valid table sums to 0).
pub fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b))
}

/// The byte that makes `bytes` sum to 0 when stored where a 0 was.
pub fn checksum_fix(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(sum(bytes))
}

/// The common table header (ACPI 6.5 §5.2.6).
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Header {
    signature: [u8; 4],
    length: U32,
    revision: u8,
    checksum: u8,
    oem_id: [u8; 6],
    oem_table_id: [u8; 8],
    oem_revision: U32,
    creator_id: [u8; 4],
    creator_revision: U32,
}

/// The ACPI 2.0+ RSDP (ACPI 6.5 §5.2.5.3).
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawRsdp {
    signature: [u8; 8],
    checksum: u8,
    oem_id: [u8; 6],
    revision: u8,
    rsdt_address: U32,
    length: U32,
    xsdt_address: U64,
    extended_checksum: u8,
    reserved: [u8; 3],
}

const _: () = {
    assert!(core::mem::size_of::<Header>() == HEADER_SIZE);
    assert!(core::mem::offset_of!(Header, checksum) == CHECKSUM_OFFSET);
    assert!(core::mem::size_of::<RawRsdp>() == RSDP_SIZE);
    assert!(core::mem::offset_of!(RawRsdp, length) == RSDP_V1_SIZE);
};

/// A checked table: its header fields and exactly `length` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableRef<'a> {
    pub signature: [u8; 4],
    pub length: u32,
    pub revision: u8,
    pub oem_id: [u8; 6],
    /// The whole table (`length` bytes, header included).
    pub bytes: &'a [u8],
}

impl<'a> TableRef<'a> {
    /// The bytes after the 36-byte header.
    pub fn body(&self) -> &'a [u8] {
        self.bytes.get(HEADER_SIZE..).unwrap_or(&[])
    }
}

/// Checks a table at the start of `bytes`: a 36-byte header, 36 ≤ Length ≤ `bytes.len()`,
/// and the first Length bytes summing to 0. Bytes after Length are ignored.
pub fn parse_table(bytes: &[u8]) -> Result<TableRef<'_>, Error> {
    let (h, _) = Header::ref_from_prefix(bytes).map_err(|_| Error::Truncated {
        need: HEADER_SIZE,
        len: bytes.len(),
    })?;
    let length = h.length.get();
    let bad_length = Error::BadLength {
        signature: h.signature,
        length,
        available: bytes.len(),
    };
    let table = usize::try_from(length)
        .ok()
        .filter(|&n| n >= HEADER_SIZE)
        .and_then(|n| bytes.get(..n))
        .ok_or(bad_length)?;
    if sum(table) != 0 {
        return Err(Error::BadChecksum {
            signature: h.signature,
        });
    }
    Ok(TableRef {
        signature: h.signature,
        length,
        revision: h.revision,
        oem_id: h.oem_id,
        bytes: table,
    })
}

/// Sets the header checksum byte (offset 9) so that the first Length bytes of `table` sum
/// to 0 (after patching a table in place, e.g. FADT.DSDT).
pub fn fix_table_checksum(table: &mut [u8]) -> Result<(), Error> {
    let (h, _) = Header::ref_from_prefix(table).map_err(|_| Error::Truncated {
        need: HEADER_SIZE,
        len: table.len(),
    })?;
    let signature = h.signature;
    let length = h.length.get();
    let available = table.len();
    let t = usize::try_from(length)
        .ok()
        .filter(|&n| n >= HEADER_SIZE)
        .and_then(|n| table.get_mut(..n))
        .ok_or(Error::BadLength {
            signature,
            length,
            available,
        })?;
    set_checksum_at(t, CHECKSUM_OFFSET);
    Ok(())
}

/// Zeroes `bytes[at]`, then stores there the byte that makes `bytes` sum to 0. `at` must be
/// inside `bytes` (callers pass constant offsets inside a checked length).
fn set_checksum_at(bytes: &mut [u8], at: usize) {
    if let Some(b) = bytes.get_mut(at) {
        *b = 0;
    }
    let fix = checksum_fix(bytes);
    if let Some(b) = bytes.get_mut(at) {
        *b = fix;
    }
}

/// A decoded RSDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    pub revision: u8,
    pub oem_id: [u8; 6],
    pub rsdt_address: u32,
    pub xsdt_address: u64,
}

/// Checks an RSDP (signature, revision ≥ 2, 36 ≤ Length ≤ `bytes.len()`, both checksums).
pub fn parse_rsdp(bytes: &[u8]) -> Result<Rsdp, Error> {
    let r = rsdp_view(bytes)?;
    Ok(Rsdp {
        revision: r.revision,
        oem_id: r.oem_id,
        rsdt_address: r.rsdt_address.get(),
        xsdt_address: r.xsdt_address.get(),
    })
}

/// The structural checks of [`parse_rsdp`] (not the sums); returns the view and Length.
fn rsdp_layout(bytes: &[u8]) -> Result<(&RawRsdp, usize), Error> {
    let (r, _) = RawRsdp::ref_from_prefix(bytes).map_err(|_| Error::Truncated {
        need: RSDP_SIZE,
        len: bytes.len(),
    })?;
    if r.signature != RSDP_SIGNATURE {
        return Err(Error::RsdpSignature);
    }
    if r.revision < 2 {
        return Err(Error::RsdpRevision {
            revision: r.revision,
        });
    }
    let length = r.length.get();
    let len = usize::try_from(length)
        .ok()
        .filter(|&n| (RSDP_SIZE..=bytes.len()).contains(&n))
        .ok_or(Error::RsdpLength { length })?;
    Ok((r, len))
}

fn rsdp_view(bytes: &[u8]) -> Result<&RawRsdp, Error> {
    let (r, len) = rsdp_layout(bytes)?;
    let v1 = bytes.get(..RSDP_V1_SIZE).unwrap_or(&[]);
    let all = bytes.get(..len).unwrap_or(&[]);
    if sum(v1) != 0 || sum(all) != 0 {
        return Err(Error::RsdpChecksum);
    }
    Ok(r)
}

/// Builds a revision-2 RSDP pointing at `xsdt_addr` (RsdtAddress 0), both checksums set.
pub fn build_rsdp(xsdt_addr: u64, oem_id: [u8; 6]) -> [u8; RSDP_SIZE] {
    let r = RawRsdp {
        signature: RSDP_SIGNATURE,
        checksum: 0,
        oem_id,
        revision: 2,
        rsdt_address: U32::new(0),
        length: U32::new(RSDP_SIZE as u32),
        xsdt_address: U64::new(xsdt_addr),
        extended_checksum: 0,
        reserved: [0; 3],
    };
    let mut out = [0u8; RSDP_SIZE];
    out.copy_from_slice(r.as_bytes());
    set_rsdp_checksums(&mut out, RSDP_SIZE);
    out
}

/// Sets the v1 checksum (over 20 bytes) and the extended one (over `len` bytes).
fn set_rsdp_checksums(rsdp: &mut [u8], len: usize) {
    const CHECKSUM: usize = 8;
    const EXTENDED_CHECKSUM: usize = 32;
    if let Some(v1) = rsdp.get_mut(..RSDP_V1_SIZE) {
        set_checksum_at(v1, CHECKSUM);
    }
    if let Some(all) = rsdp.get_mut(..len) {
        set_checksum_at(all, EXTENDED_CHECKSUM);
    }
}

/// Points an existing RSDP at `xsdt_addr` and recomputes both checksums. The RSDP must pass
/// the structural checks of [`parse_rsdp`] (its old checksums are not required to be right).
pub fn patch_rsdp(rsdp: &mut [u8], xsdt_addr: u64) -> Result<(), Error> {
    let (_, len) = rsdp_layout(rsdp)?;
    let available = rsdp.len();
    let (r, _) = RawRsdp::mut_from_prefix(rsdp).map_err(|_| Error::Truncated {
        need: RSDP_SIZE,
        len: available,
    })?;
    r.xsdt_address = U64::new(xsdt_addr);
    set_rsdp_checksums(rsdp, len);
    Ok(())
}

/// The header of a table built here (Length and checksum 0 until `finish`).
fn new_header(signature: [u8; 4], revision: u8) -> Header {
    Header {
        signature,
        length: U32::new(0),
        revision,
        checksum: 0,
        oem_id: OEM_ID,
        oem_table_id: OEM_TABLE_ID,
        oem_revision: U32::new(OEM_REVISION),
        creator_id: CREATOR_ID,
        creator_revision: U32::new(CREATOR_REVISION),
    }
}

/// Writes Length and checksum into a table whose header is at the start of `table`.
fn finish(table: &mut [u8]) -> Result<(), Error> {
    let length = u32::try_from(table.len()).map_err(|_| Error::TooLarge)?;
    let available = table.len();
    let (h, _) = Header::mut_from_prefix(table).map_err(|_| Error::Truncated {
        need: HEADER_SIZE,
        len: available,
    })?;
    h.length = U32::new(length);
    set_checksum_at(table, CHECKSUM_OFFSET);
    Ok(())
}

/// Finishes a table built here from a bounded input; only absurd inputs (≥ 4 GiB of
/// table) can fail, which is a caller bug.
fn finish_built(mut table: Vec<u8>) -> Vec<u8> {
    finish(&mut table).expect("tables built here hold far less than 4 GiB");
    table
}

/// Builds an XSDT (revision 1, OEM fields of this module) listing `entries` in order.
pub fn build_xsdt(entries: &[u64]) -> Vec<u8> {
    let mut t = Vec::with_capacity(entries.len().saturating_mul(8).saturating_add(HEADER_SIZE));
    t.extend_from_slice(new_header(XSDT_SIGNATURE, XSDT_REVISION).as_bytes());
    for e in entries {
        t.extend_from_slice(&e.to_le_bytes());
    }
    finish_built(t)
}

/// The table pointers of a checked XSDT.
pub fn xsdt_entries(xsdt: &[u8]) -> Result<Vec<u64>, Error> {
    let t = parse_table(xsdt)?;
    if t.signature != XSDT_SIGNATURE {
        return Err(Error::WrongSignature {
            expected: XSDT_SIGNATURE,
            found: t.signature,
        });
    }
    let body = t.body();
    let (ptrs, rest) = <[U64]>::ref_from_prefix_with_elems(body, body.len() / 8)
        .map_err(|_| Error::XsdtLength { length: t.length })?;
    if !rest.is_empty() {
        return Err(Error::XsdtLength { length: t.length });
    }
    Ok(ptrs.iter().map(|p| p.get()).collect())
}

/// A new XSDT with the header (signature, revision, OEM fields) of a checked `old_xsdt`,
/// its entries, then `extra`; Length and checksum recomputed.
pub fn rebuild_xsdt(old_xsdt: &[u8], extra: &[u64]) -> Result<Vec<u8>, Error> {
    let entries = xsdt_entries(old_xsdt)?;
    let header = old_xsdt.get(..HEADER_SIZE).ok_or(Error::Truncated {
        need: HEADER_SIZE,
        len: old_xsdt.len(),
    })?;
    let mut t = Vec::with_capacity(
        entries
            .len()
            .saturating_add(extra.len())
            .saturating_mul(8)
            .saturating_add(HEADER_SIZE),
    );
    t.extend_from_slice(header);
    for e in entries.iter().chain(extra) {
        t.extend_from_slice(&e.to_le_bytes());
    }
    finish(&mut t)?;
    Ok(t)
}

/// The Multiprocessor Wakeup structure, mailbox version 0 (mp-wakeup.md §2).
fn push_mp_wakeup(t: &mut Vec<u8>, mailbox: u64) {
    t.extend_from_slice(&[MADT_MP_WAKEUP, MADT_MP_WAKEUP_LEN]);
    t.extend_from_slice(&0u16.to_le_bytes()); // MailBoxVersion
    t.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    t.extend_from_slice(&mailbox.to_le_bytes());
}

/// Builds a MADT (revision 1): local APIC address 0xFEE00000, PCAT_COMPAT; per ID a Local
/// APIC structure (type 0, UID = APIC ID) when the ID is below 255, else a Local x2APIC
/// structure (type 9, UID = x2APIC ID), all enabled; one I/O APIC (ID 0 at 0xFEC00000, GSI
/// base 0); ISA overrides IRQ 0 → GSI 2 and IRQ 9 → GSI 9 level/active-high; then, with a
/// mailbox, the Multiprocessor Wakeup structure (version 0).
pub fn build_madt(lapic_ids: &[u32], wakeup_mailbox: Option<u64>) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(new_header(MADT_SIGNATURE, MADT_REVISION).as_bytes());
    t.extend_from_slice(&LOCAL_APIC_ADDRESS.to_le_bytes());
    t.extend_from_slice(&MADT_FLAG_PCAT_COMPAT.to_le_bytes());
    for &id in lapic_ids {
        match u8::try_from(id).ok().filter(|_| id < X2APIC_MIN_ID) {
            Some(id8) => {
                t.extend_from_slice(&[MADT_LOCAL_APIC, MADT_LOCAL_APIC_LEN, id8, id8]);
                t.extend_from_slice(&LAPIC_ENABLED.to_le_bytes());
            }
            None => {
                t.extend_from_slice(&[MADT_LOCAL_X2APIC, MADT_LOCAL_X2APIC_LEN, 0, 0]);
                t.extend_from_slice(&id.to_le_bytes());
                t.extend_from_slice(&LAPIC_ENABLED.to_le_bytes());
                t.extend_from_slice(&id.to_le_bytes()); // ACPI processor UID
            }
        }
    }
    t.extend_from_slice(&[MADT_IO_APIC, MADT_IO_APIC_LEN, 0, 0]);
    t.extend_from_slice(&IO_APIC_ADDRESS.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes()); // GSI base
    for (irq, gsi, flags) in [(0u8, 2u32, 0u16), (9, 9, INTI_ACTIVE_HIGH_LEVEL)] {
        // Bus 0 = ISA.
        t.extend_from_slice(&[MADT_INTERRUPT_OVERRIDE, MADT_INTERRUPT_OVERRIDE_LEN, 0, irq]);
        t.extend_from_slice(&gsi.to_le_bytes());
        t.extend_from_slice(&flags.to_le_bytes());
    }
    if let Some(mailbox) = wakeup_mailbox {
        push_mp_wakeup(&mut t, mailbox);
    }
    finish_built(t)
}

/// A copy of a checked MADT (e.g. the VMM's) with the Multiprocessor Wakeup structure
/// appended, Length and checksum fixed (mp-wakeup.md §2).
pub fn append_mp_wakeup(madt: &[u8], mailbox: u64) -> Result<Vec<u8>, Error> {
    let t = parse_table(madt)?;
    if t.signature != MADT_SIGNATURE {
        return Err(Error::WrongSignature {
            expected: MADT_SIGNATURE,
            found: t.signature,
        });
    }
    if t.bytes.len() < MADT_ENTRIES_OFFSET {
        return Err(Error::BadLength {
            signature: t.signature,
            length: t.length,
            available: madt.len(),
        });
    }
    let mut out = Vec::with_capacity(t.bytes.len().saturating_add(16));
    out.extend_from_slice(t.bytes);
    push_mp_wakeup(&mut out, mailbox);
    finish(&mut out)?;
    Ok(out)
}

/// ALLOCATE zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// Anywhere in 32-bit memory.
    High = 1,
    /// The F-segment (0xE0000..0x100000), where a legacy OS scans for the RSDP.
    FSeg = 2,
}

/// One table-loader command (padding entries, command 0, are dropped by the parser).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Load fw_cfg file `file` into memory aligned to `align` in `zone`.
    Allocate {
        file: &'a str,
        align: u32,
        zone: Zone,
    },
    /// Add the GPA of `src_file` to the `size`-byte little-endian value at `offset` in
    /// `dest_file`.
    AddPointer {
        dest_file: &'a str,
        src_file: &'a str,
        offset: u32,
        size: u8,
    },
    /// Store at `offset` in `file` the checksum of `[start, start + length)`.
    AddChecksum {
        file: &'a str,
        offset: u32,
        start: u32,
        length: u32,
    },
    /// Write `GPA(src_file) + src_offset` (`size` bytes) into fw_cfg file `dest_file` at
    /// `dst_offset` (the VMM learns where the guest put something).
    WritePointer {
        dest_file: &'a str,
        src_file: &'a str,
        dst_offset: u32,
        src_offset: u32,
        size: u8,
    },
    /// A command number this parser does not know (skipped by `execute`).
    Unknown(u32),
}

#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawEntry {
    command: U32,
    body: [u8; LOADER_ENTRY_SIZE - 4],
}

type RawName = [u8; LOADER_FILE_NAME_SIZE];

#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawAllocate {
    file: RawName,
    align: U32,
    zone: u8,
}

#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawAddPointer {
    dest_file: RawName,
    src_file: RawName,
    offset: U32,
    size: u8,
}

#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawAddChecksum {
    file: RawName,
    offset: U32,
    start: U32,
    length: U32,
}

#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawWritePointer {
    dest_file: RawName,
    src_file: RawName,
    dst_offset: U32,
    src_offset: U32,
    size: u8,
}

const _: () = {
    use core::mem::size_of;
    assert!(size_of::<RawEntry>() == LOADER_ENTRY_SIZE);
    assert!(size_of::<RawAllocate>() <= LOADER_ENTRY_SIZE - 4);
    assert!(size_of::<RawAddPointer>() <= LOADER_ENTRY_SIZE - 4);
    assert!(size_of::<RawAddChecksum>() <= LOADER_ENTRY_SIZE - 4);
    assert!(size_of::<RawWritePointer>() == 121);
};

/// A file name field: NUL-terminated within 56 bytes, non-empty, UTF-8.
fn name(raw: &RawName, offset: usize) -> Result<&str, Error> {
    let bad = Error::BadName { offset };
    let n = raw.iter().position(|&b| b == 0).ok_or(bad)?;
    let s = raw.get(..n).ok_or(bad)?;
    match core::str::from_utf8(s) {
        Ok(s) if !s.is_empty() => Ok(s),
        _ => Err(bad),
    }
}

fn is_pointer_size(size: u8) -> bool {
    matches!(size, 1 | 2 | 4 | 8)
}

/// Decodes a table-loader script (fw_cfg `etc/table-loader`, untrusted). Its length must be
/// a multiple of 128; padding entries (command 0) are dropped; unknown commands are kept as
/// [`Command::Unknown`]. Errors name the byte offset of the offending command.
pub fn parse_script(bytes: &[u8]) -> Result<Vec<Command<'_>>, Error> {
    let (entries, rest) =
        <[RawEntry]>::ref_from_prefix_with_elems(bytes, bytes.len() / LOADER_ENTRY_SIZE)
            .map_err(|_| Error::ScriptLength { len: bytes.len() })?;
    if !rest.is_empty() {
        return Err(Error::ScriptLength { len: bytes.len() });
    }
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let offset = i.saturating_mul(LOADER_ENTRY_SIZE);
        let body = &e.body;
        // The body is 124 bytes and each view is at most 121 (const asserts): infallible.
        let short = Error::ScriptLength { len: bytes.len() };
        let cmd = match e.command.get() {
            0 => continue,
            LOADER_CMD_ALLOCATE => {
                let (a, _) = RawAllocate::ref_from_prefix(body).map_err(|_| short)?;
                let align = a.align.get();
                if !align.is_power_of_two() {
                    return Err(Error::BadAlign { offset, align });
                }
                let zone = match a.zone {
                    1 => Zone::High,
                    2 => Zone::FSeg,
                    zone => return Err(Error::BadZone { offset, zone }),
                };
                Command::Allocate {
                    file: name(&a.file, offset)?,
                    align,
                    zone,
                }
            }
            LOADER_CMD_ADD_POINTER => {
                let (p, _) = RawAddPointer::ref_from_prefix(body).map_err(|_| short)?;
                if !is_pointer_size(p.size) {
                    return Err(Error::BadPointerSize {
                        offset,
                        size: p.size,
                    });
                }
                Command::AddPointer {
                    dest_file: name(&p.dest_file, offset)?,
                    src_file: name(&p.src_file, offset)?,
                    offset: p.offset.get(),
                    size: p.size,
                }
            }
            LOADER_CMD_ADD_CHECKSUM => {
                let (c, _) = RawAddChecksum::ref_from_prefix(body).map_err(|_| short)?;
                Command::AddChecksum {
                    file: name(&c.file, offset)?,
                    offset: c.offset.get(),
                    start: c.start.get(),
                    length: c.length.get(),
                }
            }
            LOADER_CMD_WRITE_POINTER => {
                let (w, _) = RawWritePointer::ref_from_prefix(body).map_err(|_| short)?;
                if !is_pointer_size(w.size) {
                    return Err(Error::BadPointerSize {
                        offset,
                        size: w.size,
                    });
                }
                Command::WritePointer {
                    dest_file: name(&w.dest_file, offset)?,
                    src_file: name(&w.src_file, offset)?,
                    dst_offset: w.dst_offset.get(),
                    src_offset: w.src_offset.get(),
                    size: w.size,
                }
            }
            other => Command::Unknown(other),
        };
        out.push(cmd);
    }
    Ok(out)
}

/// A file the caller loaded (ALLOCATE) at guest-physical address `gpa`; `bytes` is its
/// content in memory, patched in place by [`execute`].
#[derive(Debug)]
pub struct LoadedFile<'a> {
    pub name: &'a str,
    pub gpa: u64,
    pub bytes: &'a mut [u8],
}

/// A WRITE_POINTER request for the caller to carry out: write the low `size` bytes of
/// `value` (little-endian) into fw_cfg file `file` at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointerWrite {
    pub file: String,
    pub offset: u32,
    pub value: u64,
    pub size: u8,
}

/// Whether `value` fits in `size` bytes (`size` ∈ {1, 2, 4, 8}).
fn fits(value: u64, size: u8) -> bool {
    size >= 8 || value >> (u32::from(size).saturating_mul(8)) == 0
}

/// Runs the script over `files` in order: checks each ALLOCATE against the loaded files
/// (present, allocated once, GPA aligned), applies ADD_POINTER and ADD_CHECKSUM in place,
/// and returns the WRITE_POINTER requests. Every file a command reads or patches must have
/// been allocated by an earlier command; WRITE_POINTER's destination is a fw_cfg file and is
/// only named. Stops at the first error (files may then be partly patched). Errors name the
/// index of the command in `commands`.
pub fn execute(
    commands: &[Command<'_>],
    files: &mut [LoadedFile<'_>],
) -> Result<Vec<PointerWrite>, Error> {
    let mut allocated: Vec<usize> = Vec::new();
    let mut writes = Vec::new();
    for (command, c) in commands.iter().enumerate() {
        let lookup = |allocated: &[usize], files: &[LoadedFile<'_>], name: &str| {
            allocated
                .iter()
                .copied()
                .find(|&i| files.get(i).is_some_and(|f| f.name == name))
                .ok_or(Error::UnknownFile { command })
        };
        match *c {
            Command::Allocate { file, align, .. } => {
                let i = files
                    .iter()
                    .position(|f| f.name == file)
                    .ok_or(Error::UnknownFile { command })?;
                if allocated.contains(&i) {
                    return Err(Error::DuplicateFile { command });
                }
                let gpa = files.get(i).map_or(0, |f| f.gpa);
                let mask = u64::from(align)
                    .checked_sub(1)
                    .filter(|_| align.is_power_of_two())
                    .ok_or(Error::InvalidCommand { command })?;
                if gpa & mask != 0 {
                    return Err(Error::Misaligned {
                        command,
                        gpa,
                        align,
                    });
                }
                allocated.push(i);
            }
            Command::AddPointer {
                dest_file,
                src_file,
                offset,
                size,
            } => {
                if !is_pointer_size(size) {
                    return Err(Error::InvalidCommand { command });
                }
                let d = lookup(&allocated, files, dest_file)?;
                let s = lookup(&allocated, files, src_file)?;
                let src_gpa = files.get(s).map_or(0, |f| f.gpa);
                let oob = Error::PointerOutOfBounds { command };
                let dest = files.get_mut(d).ok_or(oob)?;
                let start = usize::try_from(offset).map_err(|_| oob)?;
                let end = start.checked_add(usize::from(size)).ok_or(oob)?;
                let slot = dest.bytes.get_mut(start..end).ok_or(oob)?;
                let mut buf = [0u8; 8];
                let low = buf.get_mut(..slot.len()).ok_or(oob)?;
                low.copy_from_slice(slot);
                let value = u64::from_le_bytes(buf)
                    .checked_add(src_gpa)
                    .filter(|&v| fits(v, size))
                    .ok_or(Error::PointerOverflow { command })?;
                let out = value.to_le_bytes();
                slot.copy_from_slice(out.get(..slot.len()).ok_or(oob)?);
            }
            Command::AddChecksum {
                file,
                offset,
                start,
                length,
            } => {
                let f = lookup(&allocated, files, file)?;
                let oob = Error::ChecksumOutOfBounds { command };
                let bytes = &mut files.get_mut(f).ok_or(oob)?.bytes;
                let at = usize::try_from(offset).map_err(|_| oob)?;
                let start = usize::try_from(start).map_err(|_| oob)?;
                let end = usize::try_from(length)
                    .ok()
                    .and_then(|l| start.checked_add(l))
                    .ok_or(oob)?;
                if end > bytes.len() || at >= bytes.len() {
                    return Err(oob);
                }
                if let Some(b) = bytes.get_mut(at) {
                    *b = 0;
                }
                let fix = checksum_fix(bytes.get(start..end).ok_or(oob)?);
                if let Some(b) = bytes.get_mut(at) {
                    *b = fix;
                }
            }
            Command::WritePointer {
                dest_file,
                src_file,
                dst_offset,
                src_offset,
                size,
            } => {
                if !is_pointer_size(size) {
                    return Err(Error::InvalidCommand { command });
                }
                let s = lookup(&allocated, files, src_file)?;
                let oob = Error::PointerOutOfBounds { command };
                let src = files.get(s).ok_or(oob)?;
                if usize::try_from(src_offset).map_or(true, |o| o >= src.bytes.len()) {
                    return Err(oob);
                }
                dst_offset.checked_add(u32::from(size)).ok_or(oob)?;
                let value = src
                    .gpa
                    .checked_add(u64::from(src_offset))
                    .filter(|&v| fits(v, size))
                    .ok_or(Error::PointerOverflow { command })?;
                writes.push(PointerWrite {
                    file: dest_file.to_string(),
                    offset: dst_offset,
                    value,
                    size,
                });
            }
            Command::Unknown(_) => {}
        }
    }
    Ok(writes)
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

    fn le32(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }
    fn le64(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }
    fn byte_sum(b: &[u8]) -> u32 {
        b.iter().map(|&x| u32::from(x)).sum::<u32>() % 256
    }

    #[test]
    fn sum_and_fix() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[1, 2, 3]), 6);
        assert_eq!(sum(&[0xFF, 0x02]), 1);
        assert_eq!(checksum_fix(&[1, 2, 3]), 250);
        assert_eq!(checksum_fix(&[1, 2, 0, 3]), 250);
        assert_eq!(checksum_fix(&[0x80, 0x80]), 0);
        assert_eq!(byte_sum(&[1, 2, 250, 3]), 0);
    }

    #[test]
    fn rsdp_layout_by_hand() {
        let r = build_rsdp(0x1122_3344_5566_7788, *b"TDSHIM");
        assert_eq!(&r[0..8], b"RSD PTR ");
        assert_eq!(&r[9..15], b"TDSHIM");
        assert_eq!(r[15], 2); // revision
        assert_eq!(le32(&r, 16), 0); // RsdtAddress
        assert_eq!(le32(&r, 20), 36); // Length
        assert_eq!(le64(&r, 24), 0x1122_3344_5566_7788);
        assert_eq!(&r[33..36], &[0, 0, 0]);
        assert_eq!(byte_sum(&r[..20]), 0);
        assert_eq!(byte_sum(&r), 0);
        assert_eq!(
            parse_rsdp(&r),
            Ok(Rsdp {
                revision: 2,
                oem_id: *b"TDSHIM",
                rsdt_address: 0,
                xsdt_address: 0x1122_3344_5566_7788
            })
        );
    }

    #[test]
    fn rsdp_hostile() {
        let good = build_rsdp(0x1000, OEM_ID);
        for cut in 0..RSDP_SIZE {
            assert!(parse_rsdp(&good[..cut]).is_err(), "{cut}");
        }
        let mut r = good;
        r[0] = b'r';
        assert_eq!(parse_rsdp(&r), Err(Error::RsdpSignature));
        let mut r = good;
        r[15] = 0;
        assert_eq!(parse_rsdp(&r), Err(Error::RsdpRevision { revision: 0 }));
        let mut r = good;
        r[20] = 20;
        assert_eq!(parse_rsdp(&r), Err(Error::RsdpLength { length: 20 }));
        let mut r = good;
        r[20] = 37;
        assert_eq!(parse_rsdp(&r), Err(Error::RsdpLength { length: 37 }));
        // v1 checksum broken, compensated in the extended range: still refused.
        let mut r = good;
        r[10] = r[10].wrapping_add(1);
        r[34] = r[34].wrapping_sub(1);
        assert_eq!(byte_sum(&r), 0);
        assert_eq!(parse_rsdp(&r), Err(Error::RsdpChecksum));
        // Extended checksum broken only.
        let mut r = good;
        r[34] = 1;
        assert_eq!(parse_rsdp(&r), Err(Error::RsdpChecksum));
    }

    #[test]
    fn patch_rsdp_updates_address_and_sums() {
        let mut r = build_rsdp(0x1000, OEM_ID).to_vec();
        patch_rsdp(&mut r, 0xDEAD_BEEF_0000).unwrap();
        assert_eq!(le64(&r, 24), 0xDEAD_BEEF_0000);
        assert_eq!(byte_sum(&r[..20]), 0);
        assert_eq!(byte_sum(&r), 0);
        assert_eq!(parse_rsdp(&r).unwrap().xsdt_address, 0xDEAD_BEEF_0000);
        // Stale checksums are repaired; structure is still required.
        r[8] ^= 0x5A;
        patch_rsdp(&mut r, 0x2000).unwrap();
        assert!(parse_rsdp(&r).is_ok());
        let mut short = r[..35].to_vec();
        assert!(matches!(
            patch_rsdp(&mut short, 0),
            Err(Error::Truncated { need: 36, len: 35 })
        ));
        let mut bad = r.clone();
        bad[15] = 1;
        assert_eq!(
            patch_rsdp(&mut bad, 0),
            Err(Error::RsdpRevision { revision: 1 })
        );
        let mut bad = r.clone();
        bad[20] = 40;
        assert_eq!(
            patch_rsdp(&mut bad, 0),
            Err(Error::RsdpLength { length: 40 })
        );
    }

    #[test]
    fn xsdt_layout_and_round_trip() {
        let x = build_xsdt(&[0x1000, 0xFFFF_FFFF_0000_0001]);
        assert_eq!(x.len(), 52);
        assert_eq!(&x[0..4], b"XSDT");
        assert_eq!(le32(&x, 4), 52);
        assert_eq!(x[8], 1);
        assert_eq!(&x[10..16], b"INTEL ");
        assert_eq!(&x[16..24], b"SHIM    ");
        assert_eq!(le32(&x, 24), 1);
        assert_eq!(&x[28..32], b"SHIM");
        assert_eq!(le32(&x, 32), 1);
        assert_eq!(le64(&x, 36), 0x1000);
        assert_eq!(le64(&x, 44), 0xFFFF_FFFF_0000_0001);
        assert_eq!(byte_sum(&x), 0);
        let t = parse_table(&x).unwrap();
        assert_eq!((t.signature, t.length, t.revision), (*b"XSDT", 52, 1));
        assert_eq!(t.body().len(), 16);
        assert_eq!(
            xsdt_entries(&x).unwrap(),
            vec![0x1000, 0xFFFF_FFFF_0000_0001]
        );
        let empty = build_xsdt(&[]);
        assert_eq!(empty.len(), 36);
        assert!(xsdt_entries(&empty).unwrap().is_empty());
    }

    #[test]
    fn parse_table_hostile() {
        let x = build_xsdt(&[1, 2, 3]);
        for cut in 0..x.len() {
            assert!(parse_table(&x[..cut]).is_err(), "{cut}");
        }
        // Trailing bytes are ignored.
        let mut longer = x.clone();
        longer.extend_from_slice(&[0xAA; 7]);
        assert_eq!(parse_table(&longer).unwrap().bytes, &x[..]);
        let mut bad = x.clone();
        bad[4..8].copy_from_slice(&35u32.to_le_bytes());
        assert_eq!(
            parse_table(&bad),
            Err(Error::BadLength {
                signature: *b"XSDT",
                length: 35,
                available: 60
            })
        );
        bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_table(&bad), Err(Error::BadLength { .. })));
        let mut bad = x.clone();
        bad[50] ^= 1;
        assert_eq!(
            parse_table(&bad),
            Err(Error::BadChecksum {
                signature: *b"XSDT"
            })
        );
        fix_table_checksum(&mut bad).unwrap();
        assert!(parse_table(&bad).is_ok());
        assert!(fix_table_checksum(&mut [0u8; 20]).is_err());
    }

    #[test]
    fn rebuild_xsdt_appends_and_keeps_header() {
        let mut old = build_xsdt(&[0x1000, 0x2000]);
        old[10..16].copy_from_slice(b"BOCHS ");
        fix_table_checksum(&mut old).unwrap();
        let new = rebuild_xsdt(&old, &[0x3000]).unwrap();
        assert_eq!(new.len(), 36 + 24);
        assert_eq!(le32(&new, 4), 60);
        assert_eq!(&new[10..16], b"BOCHS ");
        assert_eq!(&new[16..36], &old[16..36]);
        assert_eq!(byte_sum(&new), 0);
        assert_eq!(xsdt_entries(&new).unwrap(), vec![0x1000, 0x2000, 0x3000]);

        let madt = build_madt(&[0], None);
        assert_eq!(
            rebuild_xsdt(&madt, &[]),
            Err(Error::WrongSignature {
                expected: *b"XSDT",
                found: *b"APIC"
            })
        );
        // Length 37: body not a whole u64.
        let mut odd = build_xsdt(&[]);
        odd.push(0);
        odd[4] = 37;
        fix_table_checksum(&mut odd).unwrap();
        assert_eq!(
            rebuild_xsdt(&odd, &[1]),
            Err(Error::XsdtLength { length: 37 })
        );
        let mut bad = old.clone();
        bad[40] ^= 0xFF;
        assert!(matches!(
            rebuild_xsdt(&bad, &[]),
            Err(Error::BadChecksum { .. })
        ));
    }

    #[test]
    fn madt_layout_by_hand() {
        let m = build_madt(&[0, 1, 300], Some(0x1234_5000));
        let mut expected: Vec<u8> = Vec::new();
        expected.extend_from_slice(b"APIC");
        expected.extend_from_slice(&124u32.to_le_bytes());
        expected.push(1); // revision
        expected.push(m[9]); // checksum, checked below by summing
        expected.extend_from_slice(b"INTEL SHIM    ");
        expected.extend_from_slice(&[1, 0, 0, 0]);
        expected.extend_from_slice(b"SHIM");
        expected.extend_from_slice(&[1, 0, 0, 0]);
        expected.extend_from_slice(&[0x00, 0x00, 0xE0, 0xFE, 1, 0, 0, 0]);
        // Local APIC, UID 0 ID 0 enabled; UID 1 ID 1.
        expected.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]);
        expected.extend_from_slice(&[0, 8, 1, 1, 1, 0, 0, 0]);
        // Local x2APIC ID 300 (0x12C), enabled, UID 300.
        expected.extend_from_slice(&[9, 16, 0, 0, 0x2C, 1, 0, 0, 1, 0, 0, 0, 0x2C, 1, 0, 0]);
        // I/O APIC 0 at 0xFEC00000, GSI base 0.
        expected.extend_from_slice(&[1, 12, 0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0]);
        // ISA IRQ 0 -> GSI 2 (conforming); IRQ 9 -> GSI 9, level, active high.
        expected.extend_from_slice(&[2, 10, 0, 0, 2, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[2, 10, 0, 9, 9, 0, 0, 0, 0x0D, 0]);
        // MP wakeup: version 0, reserved, mailbox.
        expected.extend_from_slice(&[0x10, 16, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0x00, 0x50, 0x34, 0x12, 0, 0, 0, 0]);
        assert_eq!(expected.len(), 124);
        assert_eq!(m, expected);
        assert_eq!(byte_sum(&m), 0);
        let t = parse_table(&m).unwrap();
        assert_eq!((t.signature, t.revision), (*b"APIC", 1));
    }

    #[test]
    fn madt_apic_id_boundary() {
        let m = build_madt(&[254, 255], None);
        // 44 + 8 (type 0) + 16 (type 9) + 12 + 2 * 10 = 100.
        assert_eq!(m.len(), 100);
        assert_eq!(&m[44..52], &[0, 8, 254, 254, 1, 0, 0, 0]);
        assert_eq!(&m[52..56], &[9, 16, 0, 0]);
        assert_eq!(le32(&m, 56), 255);
        assert_eq!(le32(&m, 64), 255);
        assert_eq!(byte_sum(&m), 0);
        // No CPUs and no mailbox still gives a valid table.
        assert!(parse_table(&build_madt(&[], None)).is_ok());
    }

    #[test]
    fn append_mp_wakeup_to_vmm_madt() {
        let plain = build_madt(&[0, 1], None);
        let with = append_mp_wakeup(&plain, 0xABC000).unwrap();
        assert_eq!(with.len(), plain.len() + 16);
        assert_eq!(le32(&with, 4) as usize, with.len());
        assert_eq!(&with[..4], b"APIC");
        assert_eq!(&with[10..plain.len()], &plain[10..]);
        let tail = &with[plain.len()..];
        assert_eq!(&tail[..8], &[0x10, 16, 0, 0, 0, 0, 0, 0]);
        assert_eq!(le64(tail, 8), 0xABC000);
        assert_eq!(byte_sum(&with), 0);
        assert_eq!(
            append_mp_wakeup(&build_xsdt(&[]), 0),
            Err(Error::WrongSignature {
                expected: *b"APIC",
                found: *b"XSDT"
            })
        );
        // A 36-byte "APIC" without the fixed fields.
        let mut stub = build_xsdt(&[]);
        stub[..4].copy_from_slice(b"APIC");
        fix_table_checksum(&mut stub).unwrap();
        assert!(matches!(
            append_mp_wakeup(&stub, 0),
            Err(Error::BadLength { .. })
        ));
    }

    // ---- table-loader ----

    fn entry(cmd: u32) -> [u8; 128] {
        let mut e = [0u8; 128];
        e[0..4].copy_from_slice(&cmd.to_le_bytes());
        e
    }
    fn put_name(e: &mut [u8; 128], at: usize, name: &str) {
        e[at..at + name.len()].copy_from_slice(name.as_bytes());
    }
    fn allocate(file: &str, align: u32, zone: u8) -> [u8; 128] {
        let mut e = entry(1);
        put_name(&mut e, 4, file);
        e[60..64].copy_from_slice(&align.to_le_bytes());
        e[64] = zone;
        e
    }
    fn add_pointer(dest: &str, src: &str, offset: u32, size: u8) -> [u8; 128] {
        let mut e = entry(2);
        put_name(&mut e, 4, dest);
        put_name(&mut e, 60, src);
        e[116..120].copy_from_slice(&offset.to_le_bytes());
        e[120] = size;
        e
    }
    fn add_checksum(file: &str, offset: u32, start: u32, length: u32) -> [u8; 128] {
        let mut e = entry(3);
        put_name(&mut e, 4, file);
        e[60..64].copy_from_slice(&offset.to_le_bytes());
        e[64..68].copy_from_slice(&start.to_le_bytes());
        e[68..72].copy_from_slice(&length.to_le_bytes());
        e
    }
    fn write_pointer(dest: &str, src: &str, dst_off: u32, src_off: u32, size: u8) -> [u8; 128] {
        let mut e = entry(4);
        put_name(&mut e, 4, dest);
        put_name(&mut e, 60, src);
        e[116..120].copy_from_slice(&dst_off.to_le_bytes());
        e[120..124].copy_from_slice(&src_off.to_le_bytes());
        e[124] = size;
        e
    }
    fn script(entries: &[[u8; 128]]) -> Vec<u8> {
        entries.concat()
    }

    const RSDP: &str = "etc/acpi/rsdp";
    const TABLES: &str = "etc/acpi/tables";
    const TABLES_GPA: u64 = 0x7FFE_0000;
    const RSDP_GPA: u64 = 0xF_5A40;

    /// `etc/acpi/tables` as QEMU ships it: a 40-byte "TEST" table at 0 whose u32 at 36 is
    /// an offset (0x10) into the blob, and at 64 an XSDT with one entry holding offset 0.
    /// Checksums are left 0 for the loader to fill.
    fn qemu_tables() -> Vec<u8> {
        let mut t = vec![0u8; 108];
        t[0..4].copy_from_slice(b"TEST");
        t[4..8].copy_from_slice(&40u32.to_le_bytes());
        t[8] = 1;
        t[36..40].copy_from_slice(&0x10u32.to_le_bytes());
        t[64..68].copy_from_slice(b"XSDT");
        t[68..72].copy_from_slice(&44u32.to_le_bytes());
        t[72] = 1;
        t[100..108].copy_from_slice(&0u64.to_le_bytes());
        t
    }

    /// `etc/acpi/rsdp`: offsets into the tables blob (RSDT field 0x40, XSDT field 64).
    fn qemu_rsdp() -> Vec<u8> {
        let mut r = vec![0u8; 36];
        r[0..8].copy_from_slice(b"RSD PTR ");
        r[9..15].copy_from_slice(b"BOCHS ");
        r[15] = 2;
        r[16..20].copy_from_slice(&0x40u32.to_le_bytes());
        r[20..24].copy_from_slice(&36u32.to_le_bytes());
        r[24..32].copy_from_slice(&64u64.to_le_bytes());
        r
    }

    fn qemu_script() -> Vec<u8> {
        script(&[
            allocate(RSDP, 16, 2),
            allocate(TABLES, 64, 1),
            entry(0), // padding
            add_pointer(TABLES, TABLES, 36, 4),
            add_pointer(TABLES, TABLES, 100, 8),
            add_checksum(TABLES, 9, 0, 40),
            add_checksum(TABLES, 64 + 9, 64, 44),
            add_pointer(RSDP, TABLES, 16, 4),
            add_pointer(RSDP, TABLES, 24, 8),
            add_checksum(RSDP, 8, 0, 20),
            add_checksum(RSDP, 32, 0, 36),
            entry(0x77), // unknown: skipped
            write_pointer("etc/vmgenid_addr", TABLES, 0, 0x20, 8),
        ])
    }

    #[test]
    fn parse_qemu_like_script() {
        let s = qemu_script();
        let cmds = parse_script(&s).unwrap();
        assert_eq!(cmds.len(), 12);
        assert_eq!(
            cmds[0],
            Command::Allocate {
                file: RSDP,
                align: 16,
                zone: Zone::FSeg
            }
        );
        assert_eq!(
            cmds[1],
            Command::Allocate {
                file: TABLES,
                align: 64,
                zone: Zone::High
            }
        );
        assert_eq!(
            cmds[2],
            Command::AddPointer {
                dest_file: TABLES,
                src_file: TABLES,
                offset: 36,
                size: 4
            }
        );
        assert_eq!(
            cmds[4],
            Command::AddChecksum {
                file: TABLES,
                offset: 9,
                start: 0,
                length: 40
            }
        );
        assert_eq!(cmds[10], Command::Unknown(0x77));
        assert_eq!(
            cmds[11],
            Command::WritePointer {
                dest_file: "etc/vmgenid_addr",
                src_file: TABLES,
                dst_offset: 0,
                src_offset: 0x20,
                size: 8
            }
        );
        assert!(parse_script(&[]).unwrap().is_empty());
        assert!(parse_script(&[0u8; 512]).unwrap().is_empty());
    }

    #[test]
    fn execute_qemu_like_script() {
        let s = qemu_script();
        let cmds = parse_script(&s).unwrap();
        let mut rsdp = qemu_rsdp();
        let mut tables = qemu_tables();
        let mut files = [
            LoadedFile {
                name: TABLES,
                gpa: TABLES_GPA,
                bytes: &mut tables,
            },
            LoadedFile {
                name: RSDP,
                gpa: RSDP_GPA,
                bytes: &mut rsdp,
            },
        ];
        let writes = execute(&cmds, &mut files).unwrap();
        assert_eq!(
            writes,
            vec![PointerWrite {
                file: "etc/vmgenid_addr".to_string(),
                offset: 0,
                value: 0x7FFE_0020,
                size: 8
            }]
        );
        // Pointers: value in the file + GPA of the tables blob.
        assert_eq!(&tables[36..40], &[0x10, 0x00, 0xFE, 0x7F]);
        assert_eq!(&tables[100..108], &[0x00, 0x00, 0xFE, 0x7F, 0, 0, 0, 0]);
        assert_eq!(&rsdp[16..20], &[0x40, 0x00, 0xFE, 0x7F]);
        assert_eq!(&rsdp[24..32], &[0x40, 0x00, 0xFE, 0x7F, 0, 0, 0, 0]);
        // Checksums: every covered range sums to 0 and the bytes outside are untouched.
        assert_eq!(byte_sum(&tables[0..40]), 0);
        assert_eq!(byte_sum(&tables[64..108]), 0);
        assert!(tables[40..64].iter().all(|&b| b == 0));
        assert_eq!(byte_sum(&rsdp[..20]), 0);
        assert_eq!(byte_sum(&rsdp), 0);
        // "TEST": 0x54+0x45+0x53+0x54 + 40 (length) + 1 (revision) + 0x10+0xFE+0x7F
        // (patched pointer) = 0x2F6 → checksum byte 0x100 - 0xF6 = 0x0A.
        assert_eq!(tables[9], 0x0A);
        // And the results parse.
        assert_eq!(parse_rsdp(&rsdp).unwrap().xsdt_address, 0x7FFE_0040);
        assert_eq!(xsdt_entries(&tables[64..]).unwrap(), vec![0x7FFE_0000]);
        assert_eq!(parse_table(&tables).unwrap().signature, *b"TEST");
    }

    fn run(entries: &[[u8; 128]], a: &mut [u8], b: &mut [u8]) -> Result<Vec<PointerWrite>, Error> {
        let s = script(entries);
        let cmds = parse_script(&s)?;
        let mut files = [
            LoadedFile {
                name: "a",
                gpa: 0x1000,
                bytes: a,
            },
            LoadedFile {
                name: "b",
                gpa: 0xFFFF_F000,
                bytes: b,
            },
        ];
        execute(&cmds, &mut files)
    }

    #[test]
    fn script_length_and_names() {
        let good = script(&[allocate("a", 1, 1)]);
        for cut in 0..good.len() {
            assert_eq!(
                parse_script(&good[..cut]).map(|c| c.len()),
                if cut == 0 {
                    Ok(0)
                } else {
                    Err(Error::ScriptLength { len: cut })
                }
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(parse_script(&long), Err(Error::ScriptLength { len: 129 }));
        // Name filling all 56 bytes: no terminator.
        let mut e = allocate("a", 1, 1);
        e[4..60].fill(b'x');
        assert_eq!(
            parse_script(&script(&[entry(0), e])),
            Err(Error::BadName { offset: 128 })
        );
        // 55 characters + NUL is fine.
        let mut e = allocate("a", 1, 1);
        e[4..59].fill(b'x');
        assert!(parse_script(&e).is_ok());
        // Empty, not UTF-8, and a bad second name in ADD_POINTER / WRITE_POINTER.
        assert_eq!(
            parse_script(&allocate("", 1, 1)),
            Err(Error::BadName { offset: 0 })
        );
        let mut e = allocate("a", 1, 1);
        e[4] = 0xFF;
        assert_eq!(parse_script(&e), Err(Error::BadName { offset: 0 }));
        let mut e = add_pointer("a", "b", 0, 4);
        e[60..116].fill(b'y');
        assert_eq!(parse_script(&e), Err(Error::BadName { offset: 0 }));
        let e = write_pointer("a", "", 0, 0, 4);
        assert_eq!(parse_script(&e), Err(Error::BadName { offset: 0 }));
        let mut e = add_checksum("a", 0, 0, 0);
        e[4..60].fill(b'z');
        assert_eq!(parse_script(&e), Err(Error::BadName { offset: 0 }));
    }

    #[test]
    fn script_field_rules() {
        for align in [0u32, 3, 6, 0xFFFF_FFFF] {
            assert_eq!(
                parse_script(&allocate("a", align, 1)),
                Err(Error::BadAlign { offset: 0, align })
            );
        }
        assert!(parse_script(&allocate("a", 0x8000_0000, 1)).is_ok());
        for zone in [0u8, 3, 0xFF] {
            assert_eq!(
                parse_script(&allocate("a", 1, zone)),
                Err(Error::BadZone { offset: 0, zone })
            );
        }
        for size in [0u8, 3, 5, 7, 16, 0xFF] {
            assert_eq!(
                parse_script(&add_pointer("a", "b", 0, size)),
                Err(Error::BadPointerSize { offset: 0, size })
            );
            assert_eq!(
                parse_script(&script(&[entry(0), write_pointer("a", "b", 0, 0, size)])),
                Err(Error::BadPointerSize { offset: 128, size })
            );
        }
        for size in [1u8, 2, 4, 8] {
            assert!(parse_script(&add_pointer("a", "b", 0, size)).is_ok());
        }
    }

    #[test]
    fn execute_pointer_bounds_and_overflow() {
        let alloc = [allocate("a", 16, 1), allocate("b", 4096, 1)];
        let with = |extra: [u8; 128]| {
            let mut v = alloc.to_vec();
            v.push(extra);
            v
        };
        let (mut a, mut b) = (vec![0u8; 16], vec![0u8; 16]);
        // Last 4 bytes of "a": fine. One further: out of bounds.
        run(&with(add_pointer("a", "b", 12, 4)), &mut a, &mut b).unwrap();
        assert_eq!(&a[12..16], &[0x00, 0xF0, 0xFF, 0xFF]);
        for (offset, size) in [(13u32, 4u8), (16, 1), (9, 8), (u32::MAX, 8)] {
            assert_eq!(
                run(&with(add_pointer("a", "b", offset, size)), &mut a, &mut b),
                Err(Error::PointerOutOfBounds { command: 2 }),
                "{offset} {size}"
            );
        }
        // 0xFFFFF000 + 0x1000 overflows 4 bytes; fits 8.
        let mut a = vec![0u8; 16];
        a[0..4].copy_from_slice(&0x1000u32.to_le_bytes());
        assert_eq!(
            run(&with(add_pointer("a", "b", 0, 4)), &mut a, &mut b),
            Err(Error::PointerOverflow { command: 2 })
        );
        run(&with(add_pointer("a", "b", 0, 8)), &mut a, &mut b).unwrap();
        assert_eq!(le64(&a, 0), 0x1_0000_0000);
        // 1- and 2-byte pointers overflow with any real GPA of "a" (0x1000) beyond 0xFF.
        assert_eq!(
            run(&with(add_pointer("b", "a", 0, 1)), &mut a, &mut b),
            Err(Error::PointerOverflow { command: 2 })
        );
        run(&with(add_pointer("b", "a", 0, 2)), &mut a, &mut b).unwrap();
        assert_eq!(&b[0..2], &[0x00, 0x10]);
        // u64 wrap.
        let mut a = vec![0xFFu8; 16];
        assert_eq!(
            run(&with(add_pointer("a", "b", 0, 8)), &mut a, &mut b),
            Err(Error::PointerOverflow { command: 2 })
        );
    }

    #[test]
    fn execute_checksum_bounds() {
        let alloc = [allocate("a", 1, 1), allocate("b", 1, 1)];
        let with = |extra: [u8; 128]| {
            let mut v = alloc.to_vec();
            v.push(extra);
            v
        };
        let (mut a, mut b) = (vec![7u8; 16], vec![0u8; 16]);
        // Whole file, checksum byte inside: the file then sums to 0.
        run(&with(add_checksum("a", 15, 0, 16)), &mut a, &mut b).unwrap();
        assert_eq!(a[15], 0u8.wrapping_sub(7 * 15));
        assert_eq!(byte_sum(&a), 0);
        // Checksum byte outside the range: range sum 4 * 7 = 28 → byte 228.
        let mut a = vec![7u8; 16];
        run(&with(add_checksum("a", 0, 8, 4)), &mut a, &mut b).unwrap();
        assert_eq!(a[0], 228);
        let oob = Err(Error::ChecksumOutOfBounds { command: 2 });
        for (offset, start, length) in [
            (16u32, 0u32, 1u32),
            (0, 0, 17),
            (0, 16, 1),
            (0, 17, 0),
            (0, u32::MAX, u32::MAX),
            (u32::MAX, 0, 0),
        ] {
            assert_eq!(
                run(
                    &with(add_checksum("a", offset, start, length)),
                    &mut a,
                    &mut b
                ),
                oob,
                "{offset} {start} {length}"
            );
        }
        // An empty range at the end is fine (sets the byte to 0).
        run(&with(add_checksum("a", 3, 16, 0)), &mut a, &mut b).unwrap();
        assert_eq!(a[3], 0);
    }

    #[test]
    fn execute_files_must_be_allocated() {
        let (mut a, mut b) = (vec![0u8; 16], vec![0u8; 16]);
        // Not allocated yet (ALLOCATE comes after).
        assert_eq!(
            run(
                &[
                    allocate("a", 1, 1),
                    add_pointer("a", "b", 0, 4),
                    allocate("b", 1, 1)
                ],
                &mut a,
                &mut b
            ),
            Err(Error::UnknownFile { command: 1 })
        );
        // Not among the loaded files.
        assert_eq!(
            run(&[allocate("c", 1, 1)], &mut a, &mut b),
            Err(Error::UnknownFile { command: 0 })
        );
        assert_eq!(
            run(
                &[allocate("a", 1, 1), add_checksum("zz", 0, 0, 1)],
                &mut a,
                &mut b
            ),
            Err(Error::UnknownFile { command: 1 })
        );
        assert_eq!(
            run(
                &[allocate("a", 1, 1), write_pointer("x", "b", 0, 0, 8)],
                &mut a,
                &mut b
            ),
            Err(Error::UnknownFile { command: 1 })
        );
        // Twice.
        assert_eq!(
            run(&[allocate("a", 1, 1), allocate("a", 1, 1)], &mut a, &mut b),
            Err(Error::DuplicateFile { command: 1 })
        );
        // "b" sits at 0xFFFFF000: not 8 KiB aligned.
        assert_eq!(
            run(&[allocate("b", 0x2000, 1)], &mut a, &mut b),
            Err(Error::Misaligned {
                command: 0,
                gpa: 0xFFFF_F000,
                align: 0x2000
            })
        );
        // Padding and unknown commands alone do nothing.
        assert_eq!(run(&[entry(0), entry(99)], &mut a, &mut b), Ok(vec![]));
    }

    #[test]
    fn execute_write_pointer_rules() {
        let alloc = [allocate("a", 1, 1), allocate("b", 1, 1)];
        let with = |extra: [u8; 128]| {
            let mut v = alloc.to_vec();
            v.push(extra);
            v
        };
        let (mut a, mut b) = (vec![0u8; 16], vec![0u8; 16]);
        let w = run(&with(write_pointer("fw", "b", 8, 15, 4)), &mut a, &mut b).unwrap();
        assert_eq!(
            w,
            vec![PointerWrite {
                file: "fw".to_string(),
                offset: 8,
                value: 0xFFFF_F00F,
                size: 4
            }]
        );
        // src_offset must be inside the source file.
        assert_eq!(
            run(&with(write_pointer("fw", "b", 8, 16, 4)), &mut a, &mut b),
            Err(Error::PointerOutOfBounds { command: 2 })
        );
        // Value must fit the width; destination offset + size must not wrap.
        assert_eq!(
            run(&with(write_pointer("fw", "b", 0, 0, 2)), &mut a, &mut b),
            Err(Error::PointerOverflow { command: 2 })
        );
        assert_eq!(
            run(
                &with(write_pointer("fw", "b", u32::MAX - 3, 0, 8)),
                &mut a,
                &mut b
            ),
            Err(Error::PointerOutOfBounds { command: 2 })
        );
        // Nothing was patched in the files.
        assert!(a.iter().chain(b.iter()).all(|&x| x == 0));
    }

    #[test]
    fn execute_rejects_hand_built_invalid_commands() {
        let mut a = vec![0u8; 8];
        let mut files = [LoadedFile {
            name: "a",
            gpa: 0,
            bytes: &mut a,
        }];
        let bad = [Command::Allocate {
            file: "a",
            align: 0,
            zone: Zone::High,
        }];
        assert_eq!(
            execute(&bad, &mut files),
            Err(Error::InvalidCommand { command: 0 })
        );
        let bad = [
            Command::Allocate {
                file: "a",
                align: 1,
                zone: Zone::High,
            },
            Command::AddPointer {
                dest_file: "a",
                src_file: "a",
                offset: 0,
                size: 3,
            },
        ];
        assert_eq!(
            execute(&bad, &mut files),
            Err(Error::InvalidCommand { command: 1 })
        );
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            alloc::format!(
                "{}",
                Error::BadChecksum {
                    signature: *b"AP\x01C"
                }
            ),
            "acpi table AP?C: checksum is wrong"
        );
        assert_eq!(
            alloc::format!("{}", Error::ScriptLength { len: 5 }),
            "table-loader script of 5 bytes is not a multiple of 128"
        );
    }
}
