// SPDX-License-Identifier: BSD-2-Clause-Patent
//! What gets measured, into which RTMR, with which event (`../shared/spec/measurement.md`,
//! `doc/measurement.md`). One function per event: the firmware records what these return, and
//! the reference-value calculator (`td-payload-reference-calculator`) calls the same
//! functions on the files a verifier has, so the two cannot disagree about the policy.
//!
//! Pure: plain bytes in, events out. Event order (the same on the Linux and the executable
//! paths): RTMR0 gets the VMM's configuration as the firmware reads it (memory map, ACPI
//! files), the configuration volume and the secure-boot policy; RTMR1 gets the payload or
//! kernel, command line and initrd, and the payload SVN; then one separator each.

use crate::format::event_log::{
    self, Digest, EV_EFI_PLATFORM_FIRMWARE_BLOB2, EV_PLATFORM_CONFIG_FLAGS, EV_SEPARATOR,
};
use alloc::vec::Vec;

/// CC measurement-register index of RTMR0 (firmware configuration).
pub const MR_RTMR0: u32 = 1;
/// CC measurement-register index of RTMR1 (payload and its configuration).
pub const MR_RTMR1: u32 = 2;

/// Descriptions and descriptors used in event data (verifiers match on them).
pub const TD_HOB: &str = "td_hob";
pub const VMM_E820: &str = "etc/e820";
pub const CFV: &str = "td_cfv";
pub const PAYLOAD_BLOB: &[u8] = b"td_payload\0";
pub const INITRD_BLOB: &[u8] = b"td_initrd\0";
pub const CMDLINE: &str = "td_payload_info";
pub const SECURE_POLICY_DB: &str = "secure_policy_db";
pub const SECURE_AUTHORITY: &str = "secure_authority";
pub const PAYLOAD_SVN: &str = "td_payload_svn";

/// Header fields of a bzImage that the loader writes (Linux boot protocol, "write"/"modify"
/// fields): type_of_loader 0x210, loadflags 0x211 (CAN_USE_HEAP bit only), ramdisk_image
/// 0x218, ramdisk_size 0x21C, heap_end_ptr 0x224, ext_loader_ver/type 0x226, cmd_line_ptr
/// 0x228, setup_data 0x250. QEMU fills them in the setup part it serves through fw_cfg, so
/// their file values are lost (heap_end_ptr is not even zero in the file: Linux's build puts
/// a default there). Both sides zero them before hashing. `(offset, length)`.
pub const LOADER_WRITTEN_FIELDS: [(usize, usize); 7] = [
    (0x210, 1),
    (0x218, 4),
    (0x21C, 4),
    (0x224, 2),
    (0x226, 2),
    (0x228, 4),
    (0x250, 8),
];
/// loadflags offset and the CAN_USE_HEAP bit a loader sets.
pub const LOADFLAGS: usize = 0x211;
pub const CAN_USE_HEAP: u8 = 0x80;

/// One event: where it goes, its type, the digest extended, and the event data logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub mr_index: u32,
    pub event_type: u32,
    pub digest: Digest,
    pub data: Vec<u8>,
}

fn config(mr_index: u32, descriptor: &str, info: &[u8], digest: Digest) -> Event {
    Event {
        mr_index,
        event_type: EV_PLATFORM_CONFIG_FLAGS,
        digest,
        data: event_log::platform_config_info(descriptor, info),
    }
}

fn blob(mr_index: u32, description: &[u8], base: u64, digest: Digest, length: u64) -> Event {
    Event {
        mr_index,
        event_type: EV_EFI_PLATFORM_FIRMWARE_BLOB2,
        digest,
        data: event_log::firmware_blob2(description, base, length),
    }
}

/// RTMR0: the TD HOB as the VMM wrote it, from its start to the end of the End-of-HOB-list
/// HOB. Digest = SHA-384 of those bytes; the event data carries them too.
pub fn td_hob(hob: &[u8]) -> Event {
    config(MR_RTMR0, TD_HOB, hob, event_log::sha384(hob))
}

/// RTMR0: a legacy VM's memory map, QEMU's fw_cfg `etc/e820` file as read.
pub fn vmm_e820(e820: &[u8]) -> Event {
    config(MR_RTMR0, VMM_E820, e820, event_log::sha384(e820))
}

/// RTMR0: a file QEMU offers through fw_cfg that the firmware hands on (the ACPI
/// table-loader script and the blobs it allocates), as read, before any pointer is patched.
/// The descriptor is the fw_cfg name, cut to 16 bytes; the data carries the bytes (the
/// firmware writes this same record without a heap copy: `boot::measurer::record_fw_cfg_file`).
pub fn fw_cfg_file(name: &str, bytes: &[u8]) -> Event {
    config(MR_RTMR0, name, bytes, event_log::sha384(bytes))
}

/// RTMR0: the whole configuration volume region of the image (it may hold the secure-boot
/// trust anchor and other configuration). Digest = SHA-384 of the region; the event data is
/// its GPA and length (u64 each) rather than the 256 KiB themselves.
pub fn cfv(base: u64, region: &[u8]) -> Event {
    let mut info = Vec::with_capacity(16);
    info.extend_from_slice(&base.to_le_bytes());
    info.extend_from_slice(&(region.len() as u64).to_le_bytes());
    config(MR_RTMR0, CFV, &info, event_log::sha384(region))
}

/// RTMR0: the trust anchor the payload is checked against (before the check).
pub fn secure_policy_db(anchor_file: &[u8]) -> Event {
    config(
        MR_RTMR0,
        SECURE_POLICY_DB,
        anchor_file,
        event_log::sha384(anchor_file),
    )
}

/// RTMR0: the trust anchor that verified the payload (after a successful check).
pub fn secure_authority(anchor_file: &[u8]) -> Event {
    config(
        MR_RTMR0,
        SECURE_AUTHORITY,
        anchor_file,
        event_log::sha384(anchor_file),
    )
}

/// RTMR1: the verified payload's SVN (u64 little-endian).
pub fn payload_svn(svn: u64) -> Event {
    let b = svn.to_le_bytes();
    config(MR_RTMR1, PAYLOAD_SVN, &b, event_log::sha384(&b))
}

/// RTMR1: an executable payload (the ELF file's bytes, or the inner image of a signed
/// payload) or a kernel embedded in the image, at `base`.
pub fn payload(base: u64, bytes: &[u8]) -> Event {
    blob(
        MR_RTMR1,
        PAYLOAD_BLOB,
        base,
        event_log::sha384(bytes),
        bytes.len() as u64,
    )
}

/// Copies `setup` with the loader-written header fields reset to what a kernel file carries
/// (see [`LOADER_WRITTEN_FIELDS`]).
pub fn normalize_setup(setup: &[u8]) -> Vec<u8> {
    let mut s = setup.to_vec();
    for (at, len) in LOADER_WRITTEN_FIELDS {
        if let Some(f) = at.checked_add(len).and_then(|end| s.get_mut(at..end)) {
            f.fill(0);
        }
    }
    if let Some(flags) = s.get_mut(LOADFLAGS) {
        *flags &= !CAN_USE_HEAP;
    }
    s
}

/// RTMR1: a bzImage received as its two fw_cfg parts, `setup` (QEMU's copy, with the
/// loader-written header fields that QEMU filled in) and the protected-mode part `pm` at
/// `base`. Digest = SHA-384(normalize_setup(setup) ‖ pm): the kernel file with the
/// loader-written fields zeroed ([`kernel_file`] computes it from the file). Not plain
/// `sha384sum bzImage`, which QEMU makes impossible by overwriting heap_end_ptr.
pub fn kernel_parts(base: u64, setup: &[u8], pm: &[u8]) -> Event {
    let setup = normalize_setup(setup);
    let len = (setup.len() as u64).saturating_add(pm.len() as u64);
    blob(
        MR_RTMR1,
        PAYLOAD_BLOB,
        base,
        event_log::sha384_parts(&[&setup, pm]),
        len,
    )
}

/// RTMR1: a kernel file a verifier holds, as [`kernel_parts`] measures it when the kernel
/// comes through fw_cfg (the calculator's side; the setup part is (setup_sects + 1) × 512
/// bytes, as QEMU splits it).
pub fn kernel_file(base: u64, file: &[u8]) -> Event {
    let setup_sects = match file.get(0x1F1).copied().unwrap_or(0) {
        0 => 4,
        n => usize::from(n),
    };
    let split = ((setup_sects + 1) * 512).min(file.len());
    let (setup, pm) = file.split_at(split);
    kernel_parts(base, setup, pm)
}

/// RTMR1: an uncompressed kernel (`vmlinux`) that QEMU loaded itself (`-kernel vmlinux`, see
/// `crate::loader::vmlinux`): SHA-384 over `headers` (the ELF header and the program-header
/// table: where the entry point and the segments come from) followed by every loaded segment
/// as it is in memory (its `p_memsz` bytes at `p_paddr`: file bytes, then zeros), in
/// program-header order. The blob's base is the lowest segment address, its length the bytes
/// hashed. [`vmlinux_file`] gives the same from the file.
pub fn vmlinux_parts(start: u64, headers: &[u8], segments: &[&[u8]]) -> Event {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(segments.len().saturating_add(1));
    parts.push(headers);
    parts.extend_from_slice(segments);
    let len = parts
        .iter()
        .fold(0u64, |n, p| n.saturating_add(p.len() as u64));
    blob(
        MR_RTMR1,
        PAYLOAD_BLOB,
        start,
        event_log::sha384_parts(&parts),
        len,
    )
}

/// RTMR1: a `vmlinux` file a verifier holds, as [`vmlinux_parts`] measures it once QEMU has
/// loaded it. Errors for a file the firmware would refuse.
pub fn vmlinux_file(file: &[u8]) -> Result<Event, crate::loader::vmlinux::Error> {
    use crate::loader::vmlinux;
    let v = vmlinux::parse_head(&vmlinux::head_of(file))?;
    let segments = vmlinux::loaded_segments(file, &v)?;
    let views: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
    Ok(vmlinux_parts(v.start, &v.headers, &views))
}

/// RTMR1: the kernel command line, without its terminating NUL (so that
/// `printf %s "$cmdline" | sha384sum` is the digest); the data carries it.
pub fn cmdline(line: &[u8]) -> Event {
    let line = match line.iter().position(|&b| b == 0) {
        Some(n) => line.get(..n).unwrap_or(line),
        None => line,
    };
    config(MR_RTMR1, CMDLINE, line, event_log::sha384(line))
}

/// RTMR1: the PayloadParam region of a kernel the VMM put into the Payload section
/// (upstream's rule, kept for compatibility: the whole region, zero padding included).
pub fn payload_param(region: &[u8]) -> Event {
    config(MR_RTMR1, CMDLINE, region, event_log::sha384(region))
}

/// RTMR1: an initrd of `bytes` at `base`: SHA-384 of the file.
pub fn initrd(base: u64, bytes: &[u8]) -> Event {
    blob(
        MR_RTMR1,
        INITRD_BLOB,
        base,
        event_log::sha384(bytes),
        bytes.len() as u64,
    )
}

/// The separator closing `mr_index` before the hand-off (data 00 00 00 00).
pub fn separator(mr_index: u32) -> Event {
    let data = [0u8; 4];
    Event {
        mr_index,
        event_type: EV_SEPARATOR,
        digest: event_log::sha384(&data),
        data: data.to_vec(),
    }
}

/// The error separator: after a fatal error (data 01 00 00 00), so no later state can look
/// like a completed boot.
pub fn error_separator(mr_index: u32) -> Event {
    let data = 1u32.to_le_bytes();
    Event {
        mr_index,
        event_type: EV_SEPARATOR,
        digest: event_log::sha384(&data),
        data: data.to_vec(),
    }
}

/// The closing separators, RTMR0 then RTMR1, on every path.
pub fn separators() -> [Event; 2] {
    [separator(MR_RTMR0), separator(MR_RTMR1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::event_log::sha384;

    #[test]
    fn kernel_file_equals_the_fw_cfg_view() {
        // A fake bzImage: 2 setup sectors + 1 (setup_sects = 2), then 100 bytes of kernel.
        let mut file = vec![0u8; 3 * 512 + 100];
        file[0x1F1] = 2;
        file[0x202..0x206].copy_from_slice(b"HdrS");
        file[0x211] = 0x01;
        file[0x224..0x226].copy_from_slice(&0x5C00u16.to_le_bytes()); // as Debian's 6.12
        for (i, b) in file[3 * 512..].iter_mut().enumerate() {
            *b = i as u8;
        }
        // What QEMU serves: the same setup with loader fields filled in.
        let mut setup = file[..3 * 512].to_vec();
        setup[0x210] = 0xB0;
        setup[0x211] |= 0x80;
        setup[0x224..0x226].copy_from_slice(&0xFE00u16.to_le_bytes());
        setup[0x228..0x22C].copy_from_slice(&0x2_0000u32.to_le_bytes());
        setup[0x218..0x220].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let pm = &file[3 * 512..];
        let from_fw_cfg = kernel_parts(0x100_0000, &setup, pm);
        let from_file = kernel_file(0x100_0000, &file);
        assert_eq!(from_fw_cfg, from_file);
        let mut zeroed = file.clone();
        zeroed[0x224..0x226].fill(0);
        assert_eq!(from_file.digest, sha384(&zeroed));
        assert_ne!(from_file.digest, sha384(&file));
        let (d, base, len) = event_log::parse_firmware_blob2(&from_file.data).unwrap();
        assert_eq!(
            (d, base, len),
            (PAYLOAD_BLOB, 0x100_0000, file.len() as u64)
        );
        // A changed kernel byte or a changed header byte the loader does not own moves it.
        let mut other = file.clone();
        other[3 * 512 + 7] ^= 1;
        assert_ne!(kernel_file(0, &other).digest, from_file.digest);
        let mut other = file.clone();
        other[0x1F1 + 0x30] ^= 1; // inside the header, not a loader field
        assert_ne!(kernel_file(0, &other).digest, from_file.digest);
    }

    #[test]
    fn cmdline_digest_excludes_the_nul() {
        let e = cmdline(b"console=ttyS0\0garbage");
        assert_eq!(e.digest, sha384(b"console=ttyS0"));
        assert_eq!(e.mr_index, MR_RTMR1);
        let (desc, info) = event_log::parse_platform_config_info(&e.data).unwrap();
        assert_eq!(desc, b"td_payload_info");
        assert_eq!(info, b"console=ttyS0");
    }

    #[test]
    fn separators_and_targets() {
        assert_eq!(separator(1).digest, sha384(&[0, 0, 0, 0]));
        assert_eq!(error_separator(2).digest, sha384(&[1, 0, 0, 0]));
        assert_eq!(td_hob(b"x").mr_index, MR_RTMR0);
        assert_eq!(cfv(0, b"x").mr_index, MR_RTMR0);
        assert_eq!(payload(0, b"x").mr_index, MR_RTMR1);
        assert_eq!(initrd(0, b"x").mr_index, MR_RTMR1);
        assert_eq!(payload_svn(3).digest, sha384(&3u64.to_le_bytes()));
        // Descriptors fit the 16-byte field.
        for d in [
            TD_HOB,
            VMM_E820,
            CFV,
            CMDLINE,
            SECURE_POLICY_DB,
            SECURE_AUTHORITY,
            PAYLOAD_SVN,
        ] {
            assert!(d.len() <= 16, "{d}");
        }
    }
}
