// SPDX-License-Identifier: BSD-2-Clause-Patent
//! E820 entries (`../shared/spec/linux-boot.md` §4): the 20-byte `{addr u64, size u64,
//! type u32}` record used by boot_params, by QEMU's fw_cfg `etc/e820` file and by the E820
//! GUID HOB. Parsing input is untrusted (fw_cfg comes from the VMM).
//
// API CONTRACT (skeleton written by the lead; bodies filled in by the formats work).

use alloc::vec::Vec;
use core::fmt;

pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_ACPI: u32 = 3;
pub const E820_NVS: u32 = 4;
pub const E820_UNUSABLE: u32 = 5;
pub const E820_UNACCEPTED: u32 = 8;
/// Size of one packed entry.
pub const ENTRY_SIZE: usize = 20;

/// One entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Byte length not a multiple of 20.
    Length { len: usize },
    // formats work adds: Wraps{index}, Overlap{a, b}, ...
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Decodes packed entries (length must be a multiple of 20). A trailing all-zero entry is
/// dropped. Does not check overlaps (the memory map does).
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, Error> {
    unimplemented!("formats {}", bytes.len())
}

/// Encodes entries packed.
pub fn build(entries: &[Entry]) -> Vec<u8> {
    unimplemented!("formats {}", entries.len())
}
