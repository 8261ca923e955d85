// SPDX-License-Identifier: BSD-2-Clause-Patent
//! ACPI tables for the OS. In QEMU: run the `etc/table-loader` script (ALLOCATE,
//! ADD_POINTER, ADD_CHECKSUM, WRITE_POINTER) so that the guest gets QEMU's own tables
//! (RSDP, XSDT, FADT, DSDT, MADT, MCFG, …). Without a table-loader: a minimal RSDP + XSDT +
//! MADT built here. The fw_cfg files and script are untrusted: sizes are bounded, every
//! offset is checked by `format::acpi`; each is measured (RTMR0) as read, before the script
//! runs. [`add_table`] appends the firmware's own tables (the CCEL) to either set.

use super::measurer;
use crate::error::Error;
use crate::format::acpi;
use crate::layout::FOUR_GIB;
use crate::mem::{
    self,
    map::{Kind, MemoryMap, Usage},
};
use crate::platform::fw_cfg::FwCfg;
use alloc::vec::Vec;
use log::{debug, info};

/// Largest table-loader script accepted (QEMU's is a few KiB).
const MAX_SCRIPT: u32 = 64 * 1024;
/// Largest total of ACPI files accepted.
const MAX_TABLES: u64 = 16 * 1024 * 1024;

/// Where the tables ended up.
#[derive(Clone, Copy, Debug)]
pub struct Tables {
    /// GPA of the RSDP.
    pub rsdp: u64,
}

/// Loads QEMU's ACPI tables through the table-loader; `Ok(None)` when QEMU offers none.
pub fn load_qemu(fw: &FwCfg<'_>, map: &mut MemoryMap) -> Result<Option<Tables>, Error> {
    let Some(script_file) = fw.find("etc/table-loader") else {
        return Ok(None);
    };
    // QEMU generates the FADT/MCFG from the chipset state when the files are first read.
    if let Some((start, end)) = crate::platform::chipset::init_qemu(fw.platform()) {
        // Reported as reserved, as the DSDT's motherboard resources also say.
        map.reserve(start, end, Kind::Reserved)?;
    }
    if script_file.size > MAX_SCRIPT {
        return Err(Error::Image("fw_cfg etc/table-loader is too large"));
    }
    let mut script = alloc::vec![0u8; script_file.size as usize];
    fw.read_file(script_file, &mut script)?;
    measurer::record_fw_cfg_file("etc/table-loader", &script)?;
    let commands = acpi::parse_script(&script)?;

    // Lay out every ALLOCATE'd file in one region: [offset, size, name, fw_cfg file].
    let mut layout = Vec::new();
    let mut total: u64 = 0;
    for c in &commands {
        if let acpi::Command::Allocate { file, align, .. } = c {
            let f = fw.find(file).ok_or(Error::Image(
                "table-loader allocates a file fw_cfg does not have",
            ))?;
            let align = u64::from(*align).max(1);
            let offset = total
                .checked_next_multiple_of(align)
                .ok_or(Error::Image("acpi layout overflows"))?;
            total = offset + u64::from(f.size);
            if total > MAX_TABLES {
                return Err(Error::Image("qemu acpi files exceed 16 MiB"));
            }
            layout.push((offset, f.clone()));
        }
    }
    if layout.is_empty() {
        return Ok(None);
    }
    let max_align = commands
        .iter()
        .filter_map(|c| match c {
            acpi::Command::Allocate { align, .. } => Some(u64::from(*align)),
            _ => None,
        })
        .max()
        .unwrap_or(1)
        .max(0x1000);
    let base = map.allocate(total.max(1), max_align, FOUR_GIB, Usage::Acpi)?;
    let size = total.next_multiple_of(0x1000);
    // SAFETY: [base, base + size) was just allocated from free RAM for the ACPI tables.
    let region = unsafe { mem::phys_slice_mut(base, size) };
    region.fill(0);

    let mut files: Vec<acpi::LoadedFile<'_>> = Vec::new();
    let mut rest: &mut [u8] = region;
    let mut consumed = 0u64;
    for (offset, f) in &layout {
        let (_, tail) = core::mem::take(&mut rest).split_at_mut((offset - consumed) as usize);
        let (bytes, tail) = tail.split_at_mut(f.size as usize);
        fw.read_file(f, bytes)?;
        measurer::record_fw_cfg_file(&f.name, bytes)?;
        consumed = offset + u64::from(f.size);
        rest = tail;
        files.push(acpi::LoadedFile {
            name: f.name.as_str(),
            gpa: base + offset,
            bytes,
        });
    }
    let writes = acpi::execute(&commands, &mut files)?;
    for w in &writes {
        let target = fw.find(&w.file).ok_or(Error::Image(
            "table-loader writes a file fw_cfg does not have",
        ))?;
        let value = w.value.to_le_bytes();
        fw.write_file(target, w.offset, &value[..usize::from(w.size).min(8)])?;
    }
    let rsdp = files
        .iter()
        .find(|f| f.bytes.starts_with(b"RSD PTR "))
        .map(|f| f.gpa)
        .ok_or(Error::Image("qemu acpi tables have no rsdp"))?;
    info!(
        "acpi: qemu tables, {} files, {:#x} bytes at {:#x}, rsdp at {:#x}",
        files.len(),
        total,
        base,
        rsdp
    );
    for (_, f) in &layout {
        debug!("acpi: fw_cfg {} ({} bytes)", f.name, f.size);
    }
    Ok(Some(Tables { rsdp }))
}

/// Builds a minimal RSDP + XSDT + MADT for `vcpus` CPUs (APIC IDs 0..vcpus), with a
/// Multiprocessor Wakeup structure when the APs wait in `os_mailbox`.
pub fn build_minimal(
    vcpus: u32,
    os_mailbox: Option<u64>,
    map: &mut MemoryMap,
) -> Result<Tables, Error> {
    let ids: Vec<u32> = (0..vcpus.max(1)).collect();
    let madt = acpi::build_madt(&ids, os_mailbox);
    let base = map.allocate(0x1000 + madt.len() as u64, 0x1000, FOUR_GIB, Usage::Acpi)?;
    let madt_at = base + 0x100;
    let xsdt = acpi::build_xsdt(&[madt_at]);
    let xsdt_at = base + 0x40;
    let rsdp = acpi::build_rsdp(xsdt_at, *b"TDSHIM");
    let len = 0x100 + madt.len();
    // SAFETY: just allocated from free RAM for these tables.
    let region = unsafe { mem::phys_slice_mut(base, len as u64) };
    region.fill(0);
    region[..rsdp.len()].copy_from_slice(&rsdp);
    region[0x40..0x40 + xsdt.len()].copy_from_slice(&xsdt);
    region[0x100..].copy_from_slice(&madt);
    info!(
        "acpi: minimal tables (madt for {} cpus) at {:#x}",
        ids.len(),
        base
    );
    Ok(Tables { rsdp: base })
}

/// Replaces the MADT that QEMU's tables reach from `rsdp` with a copy carrying a
/// Multiprocessor Wakeup structure for `mailbox` (the root table's entry is repointed and
/// its checksum fixed). Works with an RSDT (RSDP revision 0) or an XSDT.
pub fn add_mp_wakeup(rsdp: u64, mailbox: u64, map: &mut MemoryMap) -> Result<(), Error> {
    let bad = Error::Image("qemu acpi tables: cannot find the madt to add the mp wakeup structure");
    let RootTable {
        addr: root,
        len: root_len,
        entry_size,
    } = root_table(rsdp).ok_or(bad)?;
    // SAFETY: `root_table` checked the root table's header and length; it lies in our ACPI
    // region (identity-mapped RAM), which we patch in place. Every address read below is
    // bounds-checked against the table lengths before use.
    let root_table = unsafe { mem::phys_slice_mut(root, root_len as u64) };
    let mut found = None;
    for (i, e) in root_table[36..].chunks_exact(entry_size).enumerate() {
        let addr = if entry_size == 8 {
            u64::from_le_bytes(e.try_into().expect("8 bytes"))
        } else {
            u64::from(u32::from_le_bytes(e.try_into().expect("4 bytes")))
        };
        // SAFETY: as above (a table header inside the loaded tables).
        if unsafe { mem::phys_slice(addr, 4) } == b"APIC" {
            found = Some((i, addr));
            break;
        }
    }
    let (index, madt_addr) = found.ok_or(bad)?;
    // SAFETY: as above.
    let madt_len = u32::from_le_bytes(
        unsafe { mem::phys_slice(madt_addr + 4, 4) }
            .try_into()
            .expect("4 bytes"),
    );
    if !(44..=0x1_0000).contains(&madt_len) {
        return Err(bad);
    }
    // SAFETY: as above.
    let madt = unsafe { mem::phys_slice(madt_addr, u64::from(madt_len)) };
    let new_madt = acpi::append_mp_wakeup(madt, mailbox)?;
    let limit = if entry_size == 4 {
        FOUR_GIB
    } else {
        map.ram_end()
    };
    let at = map.allocate(new_madt.len() as u64, 0x1000, limit, Usage::Acpi)?;
    // SAFETY: just allocated for the new MADT.
    unsafe { mem::phys_slice_mut(at, new_madt.len() as u64) }.copy_from_slice(&new_madt);
    let slot = &mut root_table[36 + index * entry_size..36 + (index + 1) * entry_size];
    slot.copy_from_slice(&at.to_le_bytes()[..entry_size]);
    acpi::fix_table_checksum(root_table)?;
    // (Linux clears MailBoxAddress in this MADT once it has read it, to keep a kexec'd kernel
    // away from the mailbox, and then reports a bad checksum: expected, not ours.)
    info!("acpi: madt with mp wakeup (mailbox {mailbox:#x}) at {at:#x}");
    Ok(())
}

/// Appends `table` (a complete ACPI table) to the tables reached from `rsdp`: a copy of the
/// root table (XSDT with RSDP revision ≥ 2, else RSDT) with one more entry, the RSDP
/// repointed and its checksums fixed. The RSDP and root table are ones this firmware placed
/// (QEMU's, loaded by [`load_qemu`], or [`build_minimal`]'s).
pub fn add_table(rsdp: u64, table: &[u8], map: &mut MemoryMap) -> Result<(), Error> {
    let bad = Error::Image("acpi tables: cannot find the root table to add a table to");
    let RootTable {
        addr: root,
        len: root_len,
        entry_size,
    } = root_table(rsdp).ok_or(bad)?;
    let xsdt = entry_size == 8;
    let (rsdp_len, pointer_at) = if xsdt {
        (36u64, 24usize)
    } else {
        (20u64, 16usize)
    };
    // SAFETY: `root_table` found the RSDP signature there, in our ACPI region (identity-mapped
    // RAM allocated by this module): 36 bytes for revision ≥ 2 (ACPI 2.0 RSDP), else 20.
    let rsdp_bytes = unsafe { mem::phys_slice_mut(rsdp, rsdp_len) };
    // SAFETY: `root_table` checked the root table's header and length (our ACPI region).
    let old = unsafe { mem::phys_slice(root, root_len as u64) };

    let new_len = root_len + entry_size;
    let table_at = map.allocate(
        (table.len() as u64).next_multiple_of(0x40) + new_len as u64,
        0x1000,
        FOUR_GIB,
        Usage::Acpi,
    )?;
    let root_at = table_at + (table.len() as u64).next_multiple_of(0x40);
    // SAFETY: just allocated for the table and the new root table.
    unsafe { mem::phys_slice_mut(table_at, table.len() as u64) }.copy_from_slice(table);
    let mut new_root = Vec::with_capacity(new_len);
    new_root.extend_from_slice(old);
    new_root.extend_from_slice(&table_at.to_le_bytes()[..entry_size]);
    new_root[4..8].copy_from_slice(&(new_len as u32).to_le_bytes());
    new_root[9] = 0;
    acpi::fix_table_checksum(&mut new_root)?;
    // SAFETY: just allocated (after the table).
    unsafe { mem::phys_slice_mut(root_at, new_len as u64) }.copy_from_slice(&new_root);

    rsdp_bytes[pointer_at..pointer_at + entry_size]
        .copy_from_slice(&root_at.to_le_bytes()[..entry_size]);
    rsdp_bytes[8] = 0;
    rsdp_bytes[8] = acpi::checksum_fix(&rsdp_bytes[..20]);
    if xsdt {
        rsdp_bytes[32] = 0;
        rsdp_bytes[32] = acpi::checksum_fix(&rsdp_bytes[..36]);
    }
    info!(
        "acpi: {} at {:#x}, {} now at {:#x}",
        core::str::from_utf8(&table[..4.min(table.len())]).unwrap_or("table"),
        table_at,
        if xsdt { "xsdt" } else { "rsdt" },
        root_at
    );
    Ok(())
}

/// The root table an RSDP points to.
struct RootTable {
    addr: u64,
    /// Length from its header: 36..=64 KiB, a whole number of entries.
    len: usize,
    /// 8 for an XSDT (RSDP revision ≥ 2), 4 for an RSDT.
    entry_size: usize,
}

/// Follows the RSDP at `rsdp` (QEMU's, loaded by [`load_qemu`], or [`build_minimal`]'s) to its
/// root table; `None` if the signature or the root table's length is wrong.
fn root_table(rsdp: u64) -> Option<RootTable> {
    // SAFETY: the RSDP lies in our ACPI region (identity-mapped RAM allocated by this module);
    // its first 20 bytes are read before the revision says whether 36 exist.
    let head = unsafe { mem::phys_slice(rsdp, 20) };
    if !head.starts_with(b"RSD PTR ") {
        return None;
    }
    let (addr, entry_size) = if head[15] >= 2 {
        // SAFETY: as above; an ACPI 2.0 RSDP is 36 bytes.
        let full = unsafe { mem::phys_slice(rsdp, 36) };
        (
            u64::from_le_bytes(full[24..32].try_into().expect("8 bytes")),
            8,
        )
    } else {
        (
            u64::from(u32::from_le_bytes(
                head[16..20].try_into().expect("4 bytes"),
            )),
            4,
        )
    };
    // SAFETY: the root table was placed in our ACPI region with the RSDP; header first.
    let header = unsafe { mem::phys_slice(addr, 36) };
    let len = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize;
    if !(36..=0x1_0000).contains(&len) || !(len - 36).is_multiple_of(entry_size) {
        return None;
    }
    Some(RootTable {
        addr,
        len,
        entry_size,
    })
}
