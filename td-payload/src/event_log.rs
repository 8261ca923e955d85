// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The firmware's CC event log, as a payload finds it: the CCEL ACPI table arrives as an ACPI
//! GUID HOB (`../shared/spec/hob.md` §4) giving the log area (LASA/LAML), whose records
//! [`td_shim::format::event_log::parse`] reads. The table and the log are untrusted input
//! like the rest of the HOB: bad values give an error, never a panic.

use td_shim::format::event_log::{self, CCEL_SIZE};
use td_shim::format::hob::{HobList, ACPI_TABLE_GUID};

/// Largest log area believed (the firmware uses 1 MiB).
pub const MAX_LOG_SIZE: u64 = 16 << 20;

/// Why the log could not be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No ACPI GUID HOB holds a CCEL table.
    NoCcel,
    /// The CCEL table is too short or its log area is empty, too large or wraps.
    BadCcel,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::NoCcel => "no ccel table in the payload hob",
            Error::BadCcel => "the ccel table's log area is malformed",
        })
    }
}

/// `(LASA, LAML)` of the CCEL table in the HOB.
pub fn log_area(hob: &HobList<'_>) -> Result<(u64, u64), Error> {
    let t = hob
        .guid_data(ACPI_TABLE_GUID)
        .find(|t| t.starts_with(b"CCEL"))
        .ok_or(Error::NoCcel)?;
    let t = t.get(..CCEL_SIZE).ok_or(Error::BadCcel)?;
    let field = |at: usize| {
        t.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (laml, lasa) = (
        field(40).ok_or(Error::BadCcel)?,
        field(48).ok_or(Error::BadCcel)?,
    );
    if laml == 0 || laml > MAX_LOG_SIZE || lasa.checked_add(laml).is_none() {
        return Err(Error::BadCcel);
    }
    Ok((lasa, laml))
}

/// The log area as bytes.
///
/// # Safety
/// `[lasa, lasa + laml)` from [`log_area`] must be identity mapped and not written while the
/// slice lives (the firmware reserves it as ACPI NVS and maps all RAM).
pub unsafe fn log_bytes(lasa: u64, laml: u64) -> &'static [u8] {
    // SAFETY: forwarded to the caller; `log_area` bounded the length.
    unsafe { core::slice::from_raw_parts(lasa as *const u8, laml as usize) }
}

/// Parses the log and replays it into RTMR0..3.
pub fn replay(log: &[u8]) -> Result<(usize, [event_log::Digest; 4]), event_log::Error> {
    let parsed = event_log::parse(log)?;
    Ok((parsed.events.len(), event_log::replay(&parsed.events)))
}
