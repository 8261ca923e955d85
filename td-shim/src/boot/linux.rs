// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The Linux path: take the kernel (from QEMU fw_cfg or embedded in the image), check its
//! setup header, place the protected-mode kernel at a `kernel_alignment`-aligned address with
//! `init_size` of free RAM, load the initrd below the kernel's limit, validate the command
//! line, get ACPI tables, and fill the zero page (`../shared/spec/linux-boot.md`). The kernel
//! is read (fw_cfg DMA) or copied straight to its load address: never staged twice. Kernel,
//! command line and initrd are measured (RTMR1) right after they are read, before use
//! (`crate::measure` says how each digest is formed).

use super::{acpi, measurer};
use crate::error::Error;
use crate::format::e820;
use crate::layout::FOUR_GIB;
use crate::loader::bzimage::{self, BootParams, Kernel};
use crate::loader::vmlinux;
use crate::measure;
use crate::mem::{
    self,
    map::{Kind, MemoryMap, Usage},
};
use crate::platform::fw_cfg::{self, FwCfg};
use alloc::vec::Vec;
use log::{debug, info};

/// Where a kernel comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// QEMU `-kernel/-initrd/-append` through fw_cfg.
    FwCfg,
    /// Loaded by the VMM into the metadata Payload section (runs in place), the command line in
    /// PayloadParam.
    PayloadSection {
        base: u64,
        region: &'static [u8],
        cmdline: Option<&'static [u8]>,
    },
    /// Embedded in the image's payload FV by `cargo image -t linux -p KERNEL`.
    Embedded {
        kernel: &'static [u8],
        initrd: Option<&'static [u8]>,
        cmdline: Option<&'static [u8]>,
    },
}

/// Largest setup part we accept (setup_sects ≤ 127 → 64 KiB).
const MAX_SETUP: u32 = 64 * 1024;

/// A kernel placed in memory, waiting for its zero page.
#[derive(Debug)]
pub struct Prepared {
    /// Setup-header bytes to copy into the zero page.
    header: Vec<u8>,
    /// 64-bit entry point.
    pub entry: u64,
    cmdline_addr: u64,
    initrd: Option<(u64, u64)>,
    /// GPA of the ACPI RSDP (also named in the EFI configuration table with lazy accept).
    pub rsdp: Option<u64>,
    /// GPA of the zero page.
    pub boot_params: u64,
}

/// Loads kernel, initrd and command line, and the ACPI tables.
///
/// `os_mailbox`: where a TD's APs will wait for the OS; the MADT gets a Multiprocessor
/// Wakeup structure pointing there.
pub fn prepare(
    src: Source,
    fw: Option<&FwCfg<'_>>,
    vcpus: u32,
    os_mailbox: Option<u64>,
    map: &mut MemoryMap,
) -> Result<Prepared, Error> {
    // 1. The setup part, and the length of the protected-mode part.
    let (setup, pm_len): (Vec<u8>, u64) = match src {
        Source::FwCfg => {
            let fw = fw.ok_or(Error::NoPayload)?;
            let setup_len = fw.read_u32(fw_cfg::KEY_SETUP_SIZE);
            let pm_len = fw.read_u32(fw_cfg::KEY_KERNEL_SIZE);
            if setup_len > MAX_SETUP {
                return Err(Error::Image("fw_cfg kernel setup part larger than 64 KiB"));
            }
            let mut setup = alloc::vec![0u8; setup_len as usize];
            fw.read_item_into(fw_cfg::KEY_SETUP_DATA, &mut setup)?;
            (setup, u64::from(pm_len))
        }
        Source::Embedded { kernel, .. } => {
            let n = kernel.len().min(MAX_SETUP as usize);
            (kernel[..n].to_vec(), 0)
        }
        Source::PayloadSection { region, .. } => {
            let n = region.len().min(MAX_SETUP as usize);
            (region[..n].to_vec(), 0)
        }
    };
    // An ELF kernel (vmlinux) through fw_cfg: QEMU loaded its segments itself (PVH path) and
    // the setup item is the file's first 8 KiB. It has no setup header: we make one.
    let elf = match src {
        Source::FwCfg if vmlinux::is_elf(&setup) => {
            let fw = fw.ok_or(Error::NoPayload)?;
            Some(loaded_vmlinux(fw, &setup)?)
        }
        _ => None,
    };
    // The loader-written header fields are ours to fill: drop whatever the VMM put there
    // (QEMU fills them in its copy; a setup_data pointer would hand the kernel unmeasured
    // data), so the zero page starts from the same bytes that are measured.
    let setup = match &elf {
        Some(v) => vmlinux::setup_header(v),
        None => measure::normalize_setup(&setup),
    };
    let kernel: Kernel = match (src, &elf) {
        (_, Some(v)) => vmlinux::kernel(v),
        (Source::FwCfg, None) => bzimage::parse_parts(&setup, pm_len)?,
        (Source::Embedded { kernel, .. }, None) => bzimage::parse(section_kernel(kernel))?,
        (Source::PayloadSection { region, .. }, None) => bzimage::parse(section_kernel(region))?,
    };
    let header = kernel.header_bytes(&setup).to_vec();
    info!(
        "linux: boot protocol {}.{:02}, setup {} bytes, kernel {} bytes, init_size {:#x}, alignment {:#x}",
        kernel.version >> 8,
        kernel.version & 0xFF,
        kernel.setup_size,
        kernel.pm_len,
        kernel.init_size,
        kernel.kernel_alignment
    );

    // 2. The command line: checked before anything is placed.
    let cmdline: Vec<u8> = match src {
        Source::FwCfg => {
            let fw = fw.ok_or(Error::NoPayload)?;
            let len = fw.read_u32(fw_cfg::KEY_CMDLINE_SIZE);
            if u64::from(len) > u64::from(kernel.cmdline_size) + 1 {
                return Err(Error::Linux(bzimage::Error::CmdlineTooLong {
                    len: len as usize,
                    max: kernel.cmdline_size as usize,
                }));
            }
            let mut c = alloc::vec![0u8; len as usize];
            fw.read_item_into(fw_cfg::KEY_CMDLINE_DATA, &mut c)?;
            c
        }
        Source::Embedded { cmdline, .. } => cmdline.map(<[u8]>::to_vec).unwrap_or_default(),
        // The VMM writes a NUL-terminated string into the 4 KiB section; the kernel's limit
        // applies as usual (validate_cmdline below stops at the first NUL).
        Source::PayloadSection { cmdline, .. } => cmdline.map(<[u8]>::to_vec).unwrap_or_default(),
    };
    let cmdline = if cmdline.is_empty() {
        alloc::vec![0u8]
    } else {
        cmdline
    };
    let cmdline_len = bzimage::validate_cmdline(&cmdline, &kernel)?;

    // 3. The kernel: at its preferred address, or the first aligned fit; a kernel in the
    // Payload section runs in place (its bytes stay what the VMM loaded and measured), and
    // the RAM it realigns and decompresses into must be free.
    let load = match src {
        // Loaded by QEMU at the segments' physical addresses: that RAM must still be free.
        Source::FwCfg if elf.is_some() => {
            let (start, end) = (kernel.pref_address, kernel.pref_address + kernel.init_size);
            map.reserve(start, end, Kind::Used(Usage::Kernel))
                .map_err(|_| Error::PayloadNotInFreeRam { start, end })?;
            start
        }
        Source::PayloadSection { base, region, .. } => {
            let load = base + kernel.pm_offset;
            let end = load.next_multiple_of(u64::from(kernel.kernel_alignment).max(0x1000))
                + kernel.init_size;
            let region_end = base + region.len() as u64;
            if end > region_end {
                map.reserve(region_end, end, Kind::Used(Usage::Kernel))
                    .map_err(|_| {
                        Error::Linux(bzimage::Error::NoRoomForKernel {
                            init_size: kernel.init_size,
                        })
                    })?;
            }
            load
        }
        _ => {
            let load = bzimage::plan_load(&kernel, &map.free_ranges())?;
            map.reserve(load, load + kernel.init_size, Kind::Used(Usage::Kernel))?;
            // SAFETY: [load, load + init_size) was free RAM and is now the kernel's;
            // pm_len ≤ init_size was checked by the bzImage parser.
            let dest = unsafe { mem::phys_slice_mut(load, kernel.pm_len) };
            match src {
                Source::FwCfg => fw
                    .ok_or(Error::NoPayload)?
                    .read_item_into(fw_cfg::KEY_KERNEL_DATA, dest)?,
                Source::Embedded { kernel: bytes, .. } => {
                    let pm = bytes
                        .get(kernel.pm_offset as usize..(kernel.pm_offset + kernel.pm_len) as usize)
                        .ok_or(Error::Image("embedded kernel shorter than its header says"))?;
                    dest.copy_from_slice(pm);
                }
                Source::PayloadSection { .. } => {}
            }
            load
        }
    };
    measurer::record(|| match (src, &elf) {
        (_, Some(v)) => {
            let segments: Vec<&[u8]> = v
                .segments
                .iter()
                // SAFETY: every segment lies inside [start, end), reserved above for the
                // kernel QEMU loaded there.
                .map(|seg| unsafe { mem::phys_slice(seg.paddr, seg.mem_size) })
                .collect();
            measure::vmlinux_parts(v.start, &v.headers, &segments)
        }
        (Source::FwCfg, None) => {
            // SAFETY: [load, load + pm_len) holds the kernel just read there (reserved above).
            let pm = unsafe { mem::phys_slice(load, kernel.pm_len) };
            measure::kernel_parts(load, &setup, pm)
        }
        (Source::Embedded { kernel: bytes, .. }, None) => {
            measure::payload(bytes.as_ptr() as u64, bytes)
        }
        (Source::PayloadSection { base, region, .. }, None) => measure::payload(base, region),
    })?;
    measurer::record(|| match src {
        Source::PayloadSection {
            cmdline: Some(param),
            ..
        } => measure::payload_param(param),
        _ => measure::cmdline(&cmdline),
    })?;
    info!(
        "linux: kernel at {:#x}, {:#x} bytes reserved",
        load, kernel.init_size
    );

    // 4. The initrd, below the kernel's limit.
    let initrd_len: u64 = match src {
        Source::FwCfg => u64::from(
            fw.ok_or(Error::NoPayload)?
                .read_u32(fw_cfg::KEY_INITRD_SIZE),
        ),
        Source::Embedded { initrd, .. } => initrd.map_or(0, |i| i.len() as u64),
        Source::PayloadSection { .. } => 0,
    };
    let initrd = if initrd_len == 0 {
        None
    } else {
        let limit = if kernel.can_load_above_4g {
            map.ram_end()
        } else {
            (u64::from(kernel.initrd_addr_max) + 1).min(FOUR_GIB)
        };
        let at = map
            .allocate(initrd_len, 0x1000, limit, Usage::Initrd)
            .map_err(|_| Error::InitrdDoesNotFit {
                size: initrd_len,
                limit,
            })?;
        bzimage::check_initrd(at, initrd_len, &kernel)?;
        // SAFETY: just allocated from free RAM for the initrd.
        let dest = unsafe { mem::phys_slice_mut(at, initrd_len) };
        match src {
            Source::FwCfg => fw
                .ok_or(Error::NoPayload)?
                .read_item_into(fw_cfg::KEY_INITRD_DATA, dest)?,
            Source::Embedded {
                initrd: Some(bytes),
                ..
            } => dest.copy_from_slice(bytes),
            Source::Embedded { initrd: None, .. } | Source::PayloadSection { .. } => {}
        }
        measurer::record(|| measure::initrd(at, dest))?;
        info!("linux: initrd at {:#x}, {:#x} bytes", at, initrd_len);
        Some((at, initrd_len))
    };

    // 5. ACPI: QEMU's tables when it has them, else our minimal set.
    let qemu = match fw {
        Some(fw) => acpi::load_qemu(fw, map)?,
        None => None,
    };
    let rsdp = match qemu {
        Some(t) => {
            if let Some(mailbox) = os_mailbox {
                acpi::add_mp_wakeup(t.rsdp, mailbox, map)?;
            }
            t.rsdp
        }
        None => acpi::build_minimal(vcpus, os_mailbox, map)?.rsdp,
    };
    // The event log, for the OS: the CCEL table (none when measuring is off).
    if let Some(ccel) = measurer::ccel_table() {
        acpi::add_table(rsdp, &ccel, map)?;
    }
    let rsdp = Some(rsdp);

    // 6. Command line and zero page, kept (E820 ACPI) until the kernel has copied them.
    let cmdline_addr = map.allocate(cmdline_len as u64 + 1, 0x1000, FOUR_GIB, Usage::Tables)?;
    // SAFETY: just allocated from free RAM.
    let out = unsafe { mem::phys_slice_mut(cmdline_addr, cmdline_len as u64 + 1) };
    out[..cmdline_len].copy_from_slice(&cmdline[..cmdline_len]);
    out[cmdline_len] = 0;
    debug!(
        "linux: cmdline at {:#x}: {}",
        cmdline_addr,
        core::str::from_utf8(&out[..cmdline_len]).unwrap_or("?")
    );
    let boot_params = map.allocate(0x1000, 0x1000, FOUR_GIB, Usage::Tables)?;

    Ok(Prepared {
        header,
        entry: match &elf {
            Some(v) => v.entry,
            None => load + 0x200,
        },
        cmdline_addr,
        initrd,
        rsdp,
        boot_params,
    })
}

/// The vmlinux QEMU loaded (`crate::loader::vmlinux`): its program headers from `head`
/// (the fw_cfg setup item), checked against the range QEMU says it loaded.
fn loaded_vmlinux(fw: &FwCfg<'_>, head: &[u8]) -> Result<vmlinux::Vmlinux, Error> {
    let v = vmlinux::parse_head(head)?;
    let addr = u64::from(fw.read_u32(fw_cfg::KEY_KERNEL_ADDR));
    let size = u64::from(fw.read_u32(fw_cfg::KEY_KERNEL_SIZE));
    if addr != v.start || addr.checked_add(size) != Some(v.end) {
        return Err(Error::Image(
            "fw_cfg: the range qemu loaded the elf kernel into is not its segments' span",
        ));
    }
    info!(
        "linux: elf kernel (vmlinux) loaded by qemu at [{:#x}, {:#x}), 64-bit entry {:#x}",
        v.start, v.end, v.entry
    );
    Ok(v)
}

/// The bzImage inside a zero-padded region (the Payload section, or a payload FV section that
/// spans its region): setup part + `syssize` paragraphs of protected-mode kernel (the whole
/// region when the header does not say), so that padding is neither checked nor copied.
fn section_kernel(region: &[u8]) -> &[u8] {
    let setup_sects = match region.get(0x1F1).copied().unwrap_or(0) {
        0 => 4,
        n => u64::from(n),
    };
    let syssize = region
        .get(0x1F4..0x1F8)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if syssize == 0 {
        return region;
    }
    let len = (setup_sects + 1) * 512 + u64::from(syssize) * 16;
    &region[..(len.min(region.len() as u64) as usize)]
}

/// Writes the zero page with the final E820 view of `map` (call after the last allocation).
/// With `efi` (lazy accept, `super::efi`), unaccepted RAM is E820 RAM and `efi_info` points
/// at the published EFI system table and memory map.
pub fn finish(
    p: &Prepared,
    map: &MemoryMap,
    efi: Option<&super::efi::Published>,
) -> Result<(), Error> {
    let mut bp = BootParams::new(&p.header);
    bp.set_type_of_loader(0xFF);
    bp.set_cmdline(p.cmdline_addr);
    if let Some((addr, size)) = p.initrd {
        bp.set_ramdisk(addr, size);
    }
    if let Some(rsdp) = p.rsdp {
        bp.set_acpi_rsdp(rsdp);
    }
    let table = match efi {
        Some(_) => crate::format::efi::linux_e820(&map.to_e820()),
        None => map.to_e820(),
    };
    for e in &table {
        debug!(
            "e820: [{:#x}, {:#x}) type {}",
            e.addr,
            e.addr + e.size,
            e.kind
        );
    }
    let table: Vec<e820::Entry> = table;
    bp.set_e820(&table)?;
    // SAFETY: `boot_params` is the 4 KiB allocated for the zero page in `prepare`.
    let out = unsafe { mem::phys_slice_mut(p.boot_params, 0x1000) };
    out.copy_from_slice(bp.as_bytes());
    if let Some(efi) = efi {
        super::efi::patch_boot_params(out, efi);
    }
    Ok(())
}
