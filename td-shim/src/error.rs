// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The firmware's top-level error: every leaf error wraps in with `From`, and `Display`
//! gives the one line printed before the firmware stops.

use crate::format::{acpi, e820, event_log, fv, hob, metadata};
use crate::loader::{bzimage, elf, vmlinux};
use crate::mem::{map, paging};
use crate::platform;
use crate::secure_boot;
use core::fmt;

/// Why boot stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    Metadata(metadata::Error),
    Fv(fv::Error),
    Hob(hob::Error),
    E820(e820::Error),
    Elf(elf::Error),
    Linux(bzimage::Error),
    /// An ELF kernel (vmlinux) QEMU loaded was refused.
    Vmlinux(vmlinux::Error),
    Acpi(acpi::Error),
    Map(map::Error),
    Paging(paging::Error),
    FwCfg(platform::fw_cfg::Error),
    Platform(platform::Error),
    /// The event log area cannot take the next measurement.
    EventLog(event_log::Error),
    /// Payload secure boot refused the payload.
    SecureBoot(secure_boot::Error),
    /// The image's metadata lacks something the firmware needs.
    Image(&'static str),
    /// No memory map: neither fw_cfg `etc/e820` nor a TD HOB.
    NoMemoryMap,
    /// The image carries no payload and the VMM supplied none.
    NoPayload,
    /// A fw_cfg switch file (`opt/td-shim/...`) holds a value the firmware does not know.
    BadSwitch {
        file: &'static str,
        expected: &'static str,
    },
    /// A fixed early region is not RAM in the memory map.
    EarlyRegionNotRam {
        name: &'static str,
        base: u64,
    },
    /// An ET_EXEC payload's addresses are not free RAM.
    PayloadNotInFreeRam {
        start: u64,
        end: u64,
    },
    /// No free RAM below the kernel's limit holds the initrd.
    InitrdDoesNotFit {
        size: u64,
        limit: u64,
    },
}

impl Error {
    /// A stable code for ReportFatalError.
    pub fn code(&self) -> u32 {
        match self {
            Error::Metadata(_) => 1,
            Error::Fv(_) => 2,
            Error::Hob(_) => 3,
            Error::E820(_) => 4,
            Error::Elf(_) => 5,
            Error::Map(_) => 6,
            Error::Paging(_) => 7,
            Error::FwCfg(_) => 8,
            Error::Platform(_) => 9,
            Error::Image(_) => 10,
            Error::NoMemoryMap => 11,
            Error::NoPayload => 12,
            Error::EarlyRegionNotRam { .. } => 13,
            Error::PayloadNotInFreeRam { .. } => 14,
            Error::Linux(_) => 15,
            Error::Acpi(_) => 16,
            Error::InitrdDoesNotFit { .. } => 17,
            Error::EventLog(_) => 18,
            Error::SecureBoot(_) => 19,
            Error::BadSwitch { .. } => 20,
            Error::Vmlinux(_) => 21,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Metadata(e) => write!(f, "metadata: {e}"),
            Error::Fv(e) => write!(f, "firmware volume: {e}"),
            Error::Hob(e) => write!(f, "hob: {e}"),
            Error::E820(e) => write!(f, "e820: {e}"),
            Error::Elf(e) => write!(f, "payload elf: {e}"),
            Error::Map(e) => write!(f, "memory map: {e}"),
            Error::Paging(e) => write!(f, "page tables: {e}"),
            Error::FwCfg(e) => write!(f, "{e}"),
            Error::Platform(e) => write!(f, "platform: {e}"),
            Error::Image(what) => write!(f, "image: {what}"),
            Error::NoMemoryMap => {
                f.write_str("no memory map: neither fw_cfg etc/e820 nor a td hob")
            }
            Error::NoPayload => {
                f.write_str("no payload: the image has no payload fv and the vmm gave none")
            }
            Error::BadSwitch { file, expected } => {
                write!(f, "fw_cfg {file} must be {expected}")
            }
            Error::EarlyRegionNotRam { name, base } => {
                write!(
                    f,
                    "early region {name} at {base:#x} is not ram in the memory map"
                )
            }
            Error::PayloadNotInFreeRam { start, end } => {
                write!(
                    f,
                    "payload needs [{start:#x}, {end:#x}) which is not free ram"
                )
            }
            Error::Linux(e) => write!(f, "linux kernel: {e}"),
            Error::Vmlinux(e) => write!(f, "linux kernel: {e}"),
            Error::Acpi(e) => write!(f, "acpi: {e}"),
            Error::EventLog(e) => write!(f, "measured boot: {e}"),
            Error::SecureBoot(e) => write!(f, "secure boot: {e}"),
            Error::InitrdDoesNotFit { size, limit } => {
                write!(
                    f,
                    "initrd of {size:#x} bytes does not fit in free ram below {limit:#x}"
                )
            }
        }
    }
}

macro_rules! wrap {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::$v(e)
            }
        })*
    };
}

wrap!(
    metadata::Error => Metadata,
    fv::Error => Fv,
    hob::Error => Hob,
    e820::Error => E820,
    elf::Error => Elf,
    bzimage::Error => Linux,
    vmlinux::Error => Vmlinux,
    acpi::Error => Acpi,
    map::Error => Map,
    paging::Error => Paging,
    platform::fw_cfg::Error => FwCfg,
    platform::Error => Platform,
    event_log::Error => EventLog,
    secure_boot::Error => SecureBoot,
);
