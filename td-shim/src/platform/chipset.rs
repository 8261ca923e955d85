// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The little chipset set-up a QEMU guest expects from its firmware before it reads the
//! ACPI tables (QEMU generates the FADT and MCFG from this state when the table-loader files
//! are first read): the ACPI power-management I/O base and ACPI enable bit, and on q35 the
//! PCIe ECAM window. Without it Linux finds a FADT with no PM1a block, cannot enter ACPI
//! mode and cannot power off. Registers per the Intel ICH9 / 82371AB (PIIX4) datasheets, at
//! the addresses SeaBIOS and OVMF also use.

use super::{IoWidth, Platform};
use log::info;

const PCI_ADDR: u16 = 0xCF8;
const PCI_DATA: u16 = 0xCFC;

/// ACPI PM I/O base programmed into the chipset.
pub const PM_BASE: u32 = 0x600;
/// q35 PCIe ECAM base (256 buses, 256 MiB).
pub const PCIEXBAR_BASE: u32 = 0xB000_0000;

const Q35_MCH: u32 = 0x29C0_8086;
const ICH9_LPC: u32 = 0x2918_8086;
const I440FX: u32 = 0x1237_8086;
const PIIX4_PM: u32 = 0x7113_8086;

fn config_address(dev: u8, func: u8, offset: u8) -> u32 {
    0x8000_0000 | (u32::from(dev) << 11) | (u32::from(func) << 8) | u32::from(offset & 0xFC)
}

fn read32(p: &dyn Platform, dev: u8, func: u8, offset: u8) -> u32 {
    // SAFETY: 0xCF8/0xCFC is the PCI configuration mechanism #1 of every QEMU x86 machine;
    // selecting and reading a config dword has no side effect on the devices we touch.
    unsafe {
        p.io_write(PCI_ADDR, IoWidth::Dword, config_address(dev, func, offset));
        p.io_read(PCI_DATA, IoWidth::Dword)
    }
}

fn write32(p: &dyn Platform, dev: u8, func: u8, offset: u8, value: u32) {
    // SAFETY: as `read32`; the writes below only program the PM base, the ACPI enable bit
    // and the ECAM window, which nothing else in the firmware uses.
    unsafe {
        p.io_write(PCI_ADDR, IoWidth::Dword, config_address(dev, func, offset));
        p.io_write(PCI_DATA, IoWidth::Dword, value);
    }
}

fn write8(p: &dyn Platform, dev: u8, func: u8, offset: u8, value: u8) {
    // SAFETY: as `write32`, for one byte of the dword.
    unsafe {
        p.io_write(PCI_ADDR, IoWidth::Dword, config_address(dev, func, offset));
        p.io_write(
            PCI_DATA + u16::from(offset & 3),
            IoWidth::Byte,
            u32::from(value),
        );
    }
}

fn read8(p: &dyn Platform, dev: u8, func: u8, offset: u8) -> u8 {
    (read32(p, dev, func, offset) >> (8 * u32::from(offset & 3))) as u8
}

/// Programs the chipset of a QEMU q35 or i440FX machine; does nothing on anything else.
/// Returns the PCIe ECAM window `[start, end)` it enabled, which must be kept out of RAM.
pub fn init_qemu(p: &dyn Platform) -> Option<(u64, u64)> {
    match read32(p, 0, 0, 0) {
        Q35_MCH if read32(p, 0x1F, 0, 0) == ICH9_LPC => {
            // MCH PCIEXBAR (0x60, 64-bit): base, length 256 MiB (bits 2:1 = 0), enable (bit 0).
            write32(p, 0, 0, 0x64, 0);
            write32(p, 0, 0, 0x60, PCIEXBAR_BASE | 1);
            // LPC PMBASE (0x40) and ACPI_CNTL.ACPI_EN (0x44 bit 7).
            write32(p, 0x1F, 0, 0x40, PM_BASE | 1);
            let cntl = read8(p, 0x1F, 0, 0x44);
            write8(p, 0x1F, 0, 0x44, cntl | 0x80);
            info!("chipset: q35, acpi pm at {PM_BASE:#x}, pcie ecam at {PCIEXBAR_BASE:#x}");
            let base = u64::from(PCIEXBAR_BASE);
            Some((base, base + 0x1000_0000))
        }
        I440FX if read32(p, 1, 3, 0) == PIIX4_PM => {
            // PIIX4 PMBA (0x40) and PMREGMISC.PMIOSE (0x80 bit 0).
            write32(p, 1, 3, 0x40, PM_BASE | 1);
            write8(p, 1, 3, 0x80, 1);
            info!("chipset: i440fx, acpi pm at {PM_BASE:#x}");
            None
        }
        _ => None,
    }
}
