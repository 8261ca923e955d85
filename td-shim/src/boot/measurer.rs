// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Records measurements: each event from `crate::measure` is extended into its RTMR (TD) and
//! appended to the CC event log, in that order, before the measured input is used
//! (`../shared/spec/measurement.md` §1–§4, `doc/measurement.md`). The log lives in an ACPI NVS
//! area that the CCEL table (Linux) or an ACPI GUID HOB (executable payloads) publishes.
//!
//! One measurer per boot, kept here so that the fatal-error path can close the log with the
//! error separator whatever stage failed.
//!
//! A TD always measures. A legacy VM has no measurement registers, so nothing could anchor
//! its log, and hashing the inputs is pure cost there (a 14 MB kernel takes ~140 ms under
//! QEMU's TCG): it measures only when the VMM asks, with the fw_cfg file [`OPT_FILE`] = `on`
//! (`-fw_cfg name=opt/td-shim/measured-boot,string=on`), e.g. to check a prediction
//! without TDX. Switched off, nothing is hashed, no log area is reserved and no CCEL is
//! published; the measuring functions here take a closure that they run only when on.

use crate::error::Error;
use crate::format::event_log::{self, Writer};
use crate::layout::{FOUR_GIB, PAGE_SIZE};
use crate::measure::{self, Event};
use crate::mem::{
    self,
    map::{MemoryMap, Usage},
};
use crate::platform::fw_cfg::FwCfg;
use crate::platform::{Platform, PlatformKind};
use alloc::vec::Vec;
use log::{debug, info};

/// fw_cfg file that switches measured boot on (`on`) or off (`off`) in a legacy VM; not read
/// in a TD, where the VMM is untrusted and measuring is not optional.
pub const OPT_FILE: &str = "opt/td-shim/measured-boot";

/// Size of the event log area (upstream's value; QEMU's ACPI files, logged in full, take
/// most of it).
pub const EVENT_LOG_SIZE: u64 = 0x10_0000;

struct Measurer {
    platform: &'static dyn Platform,
    log: Writer<'static>,
    base: u64,
    events: u32,
}

/// The boot's measuring state.
enum State {
    /// Before [`start`].
    Pending,
    /// Legacy VM, not asked to measure.
    Off,
    On(Measurer),
}

static MEASURER: spin::Mutex<State> = spin::Mutex::new(State::Pending);

impl Measurer {
    /// Extends RTMR[`mr_index` − 1] with `digest` and logs the record whose event data is
    /// `parts` concatenated. Nothing is extended unless the record fits in the log, so the
    /// registers never hold a measurement the log lacks. Returns the RTMR index.
    fn put(
        &mut self,
        mr_index: u32,
        event_type: u32,
        digest: &event_log::Digest,
        parts: &[&[u8]],
    ) -> Result<u8, Error> {
        let rtmr = rtmr_index(mr_index)?;
        let data_len = parts
            .iter()
            .try_fold(0usize, |n, p| n.checked_add(p.len()))
            .unwrap_or(usize::MAX);
        self.log.check_room(data_len)?;
        self.platform.extend_rtmr(rtmr, digest)?;
        self.log.append_parts(mr_index, event_type, digest, parts)?;
        self.events += 1;
        Ok(rtmr)
    }
}

/// Events extended before the log area exists (the VMM's memory description is measured
/// before the memory map built from it is used, and the log's area comes from that map);
/// [`start`] writes them first.
static EARLY: spin::Mutex<Vec<Event>> = spin::Mutex::new(Vec::new());

/// Extends the event's RTMR now and keeps the event for the log, which [`start`] creates.
pub fn extend_early(p: &dyn Platform, e: Event) -> Result<(), Error> {
    let rtmr = rtmr_index(e.mr_index)?;
    p.extend_rtmr(rtmr, &e.digest)?;
    EARLY.lock().push(e);
    Ok(())
}

fn rtmr_index(mr_index: u32) -> Result<u8, Error> {
    mr_index
        .checked_sub(1)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or(Error::Image("event for an invalid measurement register"))
}

/// Whether a legacy VM measures: when fw_cfg's [`OPT_FILE`] says `on` or `1` (absent, `off`
/// or `0`: no; anything else is refused, so a typo does not silently turn measuring off). A
/// TD always measures and never reads the switch (`inputs::memory_map`).
pub fn wanted(fw: &FwCfg<'_>) -> Result<bool, Error> {
    Ok(super::inputs::switch(fw, OPT_FILE)?.unwrap_or(false))
}

/// Starts measured boot when `on` ([`wanted`]): allocates the log area (below 4 GiB, ACPI
/// NVS) and writes the Spec ID header and the events measured before it existed. Says once
/// when there are no registers behind the log (legacy VM), or that measuring is off.
pub fn start(p: &'static dyn Platform, map: &mut MemoryMap, on: bool) -> Result<(), Error> {
    if !on {
        EARLY.lock().clear();
        *MEASURER.lock() = State::Off;
        info!("measured boot: off in a legacy vm (no measurement registers); fw_cfg {OPT_FILE}=on turns it on");
        return Ok(());
    }
    let base = map.allocate(EVENT_LOG_SIZE, PAGE_SIZE, FOUR_GIB, Usage::EventLog)?;
    // SAFETY: just allocated from free (accepted) RAM for the log alone, identity mapped; the
    // slice lives as long as the boot (the area is reserved for the OS afterwards).
    let area = unsafe { mem::phys_slice_mut(base, EVENT_LOG_SIZE) };
    let mut log = Writer::new(area)?;
    let early = core::mem::take(&mut *EARLY.lock());
    for e in &early {
        log.append(e.mr_index, e.event_type, &e.digest, &e.data)?;
    }
    match p.kind() {
        PlatformKind::Tdx => info!("measured boot: rtmrs + event log at {base:#x}"),
        PlatformKind::LegacyVm => info!(
            "measured boot: no rtmrs in a legacy vm, measurements go to the event log at {base:#x} only"
        ),
    }
    *MEASURER.lock() = State::On(Measurer {
        platform: p,
        log,
        base,
        events: early.len() as u32,
    });
    Ok(())
}

/// Runs `f` on the measurer when measuring is on; errors before [`start`].
fn with_measurer<T>(f: impl FnOnce(&mut Measurer) -> Result<T, Error>) -> Result<Option<T>, Error> {
    match &mut *MEASURER.lock() {
        State::Pending => Err(Error::Image(
            "measurement before the event log exists (firmware bug)",
        )),
        State::Off => Ok(None),
        State::On(m) => f(m).map(Some),
    }
}

/// Forms the event with `event` (the hashing happens there) when measuring is on, extends its
/// RTMR, then logs it.
pub fn record(event: impl FnOnce() -> Event) -> Result<(), Error> {
    with_measurer(|m| {
        let e = event();
        let rtmr = m.put(e.mr_index, e.event_type, &e.digest, &[&e.data])?;
        debug!(
        "measured into rtmr{}: type {:#x}, {} bytes of event data, digest {:02x}{:02x}{:02x}{:02x}…",
        rtmr,
        e.event_type,
        e.data.len(),
        e.digest[0],
        e.digest[1],
            e.digest[2],
            e.digest[3]
        );
        Ok(())
    })?;
    Ok(())
}

/// Measures a large VMM file (an ACPI blob) as [`measure::fw_cfg_file`] describes it, writing
/// its bytes into the log without a heap copy (a VMM can make them large: a log that cannot
/// take them is a clean refusal, not an out-of-memory panic).
pub fn record_fw_cfg_file(name: &str, bytes: &[u8]) -> Result<(), Error> {
    with_measurer(|m| {
        let head = event_log::platform_config_info_header(name, bytes.len());
        m.put(
            measure::MR_RTMR0,
            event_log::EV_PLATFORM_CONFIG_FLAGS,
            &event_log::sha384(bytes),
            &[&head, bytes],
        )
    })?;
    Ok(())
}

/// Closes RTMR0 and RTMR1 with the separator (the last measurement before the hand-off).
pub fn finish() -> Result<(), Error> {
    // Off: nothing to close (and the separators are not even hashed).
    if matches!(*MEASURER.lock(), State::Off) {
        return Ok(());
    }
    for e in measure::separators() {
        record(|| e)?;
    }
    if let State::On(m) = &*MEASURER.lock() {
        info!(
            "measured boot: {} events, {} bytes of event log",
            m.events,
            m.log.used()
        );
    }
    Ok(())
}

/// The ACPI CCEL table for the log area, once started; `None` when measuring is off.
pub fn ccel_table() -> Option<[u8; event_log::CCEL_SIZE]> {
    let guard = MEASURER.lock();
    let State::On(m) = &*guard else { return None };
    let cc_type = match m.platform.kind() {
        PlatformKind::Tdx => event_log::CCEL_CC_TYPE_TDX,
        PlatformKind::LegacyVm => event_log::CCEL_CC_TYPE_NONE,
    };
    Some(event_log::ccel_table(cc_type, m.base, EVENT_LOG_SIZE))
}

/// After a fatal error: extends and logs the error separator into RTMR0 and RTMR1, so that
/// no later state can pass for a completed boot. Best effort (the boot is failing anyway);
/// does nothing before the log exists or if the lock is held by the failing code.
pub fn on_fatal() {
    let Some(mut guard) = MEASURER.try_lock() else {
        return;
    };
    let State::On(m) = &mut *guard else { return };
    for e in [
        measure::error_separator(measure::MR_RTMR0),
        measure::error_separator(measure::MR_RTMR1),
    ] {
        // The registers first, even when the log is full (that may be why the boot failed).
        if let Ok(rtmr) = rtmr_index(e.mr_index) {
            let _ = m.platform.extend_rtmr(rtmr, &e.digest);
        }
        let _ = m.log.append(e.mr_index, e.event_type, &e.digest, &e.data);
    }
}
