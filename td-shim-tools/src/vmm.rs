// SPDX-License-Identifier: BSD-2-Clause-Patent
//! A TDX VMM simulator for the emulated-TDX test images (issue #4): from an image's TDVF
//! metadata and a guest memory size it builds the TD HOB a TDX VMM would write into the
//! TD_HOB section (`../shared/spec/hob.md` §2, the QEMU ≥ 9.2 conventions of §2.2), and the
//! QEMU command line that places it there with QEMU's generic loader (`-device loader`), plus
//! a kernel in the metadata Payload section and its command line in PayloadParam, as Cloud
//! Hypervisor does for a TD. It also makes hostile TD HOBs, one per validation rule of
//! `hob.md` §2.1 and per semantic rule of the firmware's RAM checks (§2.2, `tdcall.md` §5:
//! `td_shim::format::hob::td_ram`), for the firmware's refusal tests.
//!
//! Guest RAM is laid out as QEMU's q35 machine does (`hw/i386/pc_q35.c`, `pc_q35_init`):
//! a guest of at least 0xB000_0000 bytes (2816 MiB) gets 2 GiB below 4 GiB and the rest from
//! 4 GiB; a smaller guest gets all of it at [0, size) (the `max-ram-below-4g` machine option
//! is not modelled). Like QEMU's TDX code (`tdx_init_ram_entries` from the e820 RAM entries,
//! then `tdvf_hob_add_memory_resources`), each RAM range is one descriptor except where
//! metadata sections the VMM adds at build time (TempMem, TD_HOB, and — Cloud Hypervisor —
//! Payload, PayloadParam) cut it: those parts are accepted RAM (type 0, attribute 0x7), the
//! rest unaccepted RAM (type 7, attribute 0x7). PermMem sections are PAGE.AUG memory the
//! guest accepts, so they stay unaccepted.
//!
//! Inputs (the image, sizes from the command line) are untrusted: every problem is a
//! [`VmmError`], never a panic.

use std::fmt;
use std::path::Path;
use td_shim::format::guid::Guid;
use td_shim::format::hob::{self, Builder, Resource};
use td_shim::format::metadata::{self, Metadata, SectionType};
use td_shim::layout::{FOUR_GIB, PAGE_SIZE};

/// q35: guests of at least this many bytes are split below/above 4 GiB.
pub const Q35_SPLIT_THRESHOLD: u64 = 0xB000_0000;
/// q35: RAM below 4 GiB when the guest is split.
pub const Q35_LOW_RAM_SPLIT: u64 = 0x8000_0000;
/// QEMU rounds `-m` up to this (8 KiB) before it lays out RAM.
pub const QEMU_RAM_ALIGN: u64 = 0x2000;

/// Accepted private RAM (PAGE.ADDed by the VMM): PRESENT | INITIALIZED | TESTED (`hob.md` §2.2).
pub const ATTR_TDVF_PRIVATE: u32 = hob::ATTR_PRESENT | hob::ATTR_INITIALIZED | hob::ATTR_TESTED;
/// Unaccepted RAM: the same attributes, type 7 (`hob.md` §2.2).
pub const ATTR_TDVF_UNACCEPTED: u32 = ATTR_TDVF_PRIVATE;
/// MMIO: PRESENT | INITIALIZED | UNCACHEABLE = 0x403 (`hob.md` §2.2).
pub const ATTR_TDVF_MMIO: u32 = hob::ATTR_PRESENT | hob::ATTR_INITIALIZED | hob::ATTR_UNCACHEABLE;

/// Payload info HOB image types (`hob.md` §3.2).
pub const PAYLOAD_IMAGE_EXECUTABLE: u32 = 0;
pub const PAYLOAD_IMAGE_BZIMAGE: u32 = 1;
pub const PAYLOAD_IMAGE_RAW_VMLINUX: u32 = 2;

/// GPA width the emulated TDX module reports in TDG.VP.INFO (`arch/tdx_emu.rs`): its shared
/// bit is bit 47.
pub const EMULATED_GPAW: u8 = 48;

/// fw_cfg file the emulated-TDX firmware reads to select lazy accept.
pub const LAZY_ACCEPT_FW_CFG: &str = "opt/td-shim/lazy-accept";

/// Why the simulator cannot do what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VmmError {
    /// The image's metadata was refused.
    Metadata(metadata::Error),
    /// The image has no TD_HOB section (PermMem-only images take no HOB).
    NoTdHobSection,
    /// The image has no section of this type, but an input needs it.
    MissingSection { section: &'static str },
    /// The memory size is zero, unparsable or too large.
    BadMemorySize,
    /// A section the VMM must back with RAM is not inside guest RAM of this size.
    SectionOutsideRam {
        section: &'static str,
        base: u64,
        size: u64,
        memory: u64,
    },
    /// The HOB does not fit its section.
    HobTooLarge { len: u64, section_size: u64 },
    /// A file does not fit the section it is loaded into.
    TooLargeForSection {
        what: &'static str,
        len: u64,
        section: &'static str,
        section_size: u64,
    },
    /// The kernel command line contains a NUL byte.
    CmdlineHasNul,
}

impl fmt::Display for VmmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VmmError::Metadata(e) => write!(f, "image: {e}"),
            VmmError::NoTdHobSection => {
                f.write_str("image metadata has no TD_HOB section, so it takes no TD HOB")
            }
            VmmError::MissingSection { section } => {
                write!(f, "image metadata has no {section} section")
            }
            VmmError::BadMemorySize => f.write_str(
                "memory size must be a non-zero QEMU -m size (e.g. 1G, 512M, 2048) below 2^52",
            ),
            VmmError::SectionOutsideRam {
                section,
                base,
                size,
                memory,
            } => write!(
                f,
                "{section} section [{base:#x}, +{size:#x}) is not inside the RAM of a \
                 {memory:#x}-byte q35 guest"
            ),
            VmmError::HobTooLarge { len, section_size } => write!(
                f,
                "TD HOB of {len:#x} bytes does not fit the TD_HOB section ({section_size:#x} bytes)"
            ),
            VmmError::TooLargeForSection {
                what,
                len,
                section,
                section_size,
            } => write!(
                f,
                "{what} ({len:#x} bytes) does not fit the {section} section ({section_size:#x} bytes)"
            ),
            VmmError::CmdlineHasNul => f.write_str("kernel command line contains a NUL byte"),
        }
    }
}

impl std::error::Error for VmmError {}

impl From<metadata::Error> for VmmError {
    fn from(e: metadata::Error) -> Self {
        VmmError::Metadata(e)
    }
}

/// Parses a QEMU `-m` size: a whole number with an optional suffix B, K, M, G or T (any
/// case; no suffix means MiB, as QEMU reads it), rounded up to 8 KiB as QEMU does.
pub fn parse_memory(text: &str) -> Result<u64, VmmError> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(VmmError::BadMemorySize),
            };
            (&t[..i], shift)
        }
        _ => (t, 20),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VmmError::BadMemorySize);
    }
    let n: u64 = digits.parse().map_err(|_| VmmError::BadMemorySize)?;
    let bytes = n
        .checked_mul(1u64 << shift)
        .and_then(|b| b.checked_next_multiple_of(QEMU_RAM_ALIGN))
        .ok_or(VmmError::BadMemorySize)?;
    // 2^52 is the widest guest physical address space x86 defines.
    if bytes == 0 || bytes > 1 << 52 {
        return Err(VmmError::BadMemorySize);
    }
    Ok(bytes)
}

/// Guest RAM of a q35 machine: `below_4g` bytes at [0, below_4g), `above_4g` bytes from 4 GiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q35Memory {
    pub below_4g: u64,
    pub above_4g: u64,
}

impl Q35Memory {
    /// QEMU's split for `memory` bytes of RAM (`pc_q35_init`, gigabyte-aligned machine types).
    pub fn new(memory: u64) -> Self {
        let low_limit = if memory >= Q35_SPLIT_THRESHOLD {
            Q35_LOW_RAM_SPLIT
        } else {
            Q35_SPLIT_THRESHOLD
        };
        if memory >= low_limit {
            Q35Memory {
                below_4g: low_limit,
                above_4g: memory - low_limit,
            }
        } else {
            Q35Memory {
                below_4g: memory,
                above_4g: 0,
            }
        }
    }
    /// The RAM ranges as (start, end), ascending, non-empty.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        if self.below_4g > 0 {
            v.push((0, self.below_4g));
        }
        if self.above_4g > 0 {
            v.push((FOUR_GIB, FOUR_GIB + self.above_4g));
        }
        v
    }
    pub fn total(&self) -> u64 {
        self.below_4g + self.above_4g
    }
}

/// The payload info GUID HOB (`hob.md` §3.2) a VMM adds when it loads a kernel itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadInfo {
    pub image_type: u32,
    pub entry: u64,
}

/// What goes into the TD HOB besides the RAM descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdHobOptions {
    /// Add an MMIO descriptor for [below-4 GiB RAM end, image base).
    pub mmio: bool,
    /// Add a payload info GUID HOB.
    pub payload_info: Option<PayloadInfo>,
}

impl Default for TdHobOptions {
    /// MMIO descriptor on (the firmware must skip it), no payload info.
    fn default() -> Self {
        TdHobOptions {
            mmio: true,
            payload_info: None,
        }
    }
}

/// A TD HOB ready to be loaded at `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdHob {
    pub bytes: Vec<u8>,
    /// GPA of the TD_HOB section.
    pub base: u64,
    /// Size of the TD_HOB section.
    pub section_size: u64,
    pub memory: Q35Memory,
    /// The resource descriptors written, in order.
    pub resources: Vec<Resource>,
}

/// The one section of `kind`, if any (validated metadata has at most one TD_HOB, Payload
/// and PayloadParam).
pub fn section(md: &Metadata, kind: SectionType) -> Option<metadata::Section> {
    md.sections.iter().find(|s| s.kind() == Some(kind)).copied()
}

/// Sections the VMM adds (PAGE.ADD) at build time inside guest RAM, as (name, start, end).
fn added_sections(md: &Metadata) -> Vec<(&'static str, u64, u64)> {
    md.sections
        .iter()
        .filter_map(|s| {
            let kind = s.kind()?;
            matches!(
                kind,
                SectionType::TempMem
                    | SectionType::TdHob
                    | SectionType::Payload
                    | SectionType::PayloadParam
            )
            .then_some(())?;
            // Validated metadata: aligned, no wrap.
            let end = s.memory_address.checked_add(s.memory_data_size)?;
            (s.memory_data_size > 0).then_some((kind.name(), s.memory_address, end))
        })
        .collect()
}

fn ram(resource_type: u32, attributes: u32, start: u64, end: u64) -> Resource {
    Resource {
        owner: Guid::ZERO,
        resource_type,
        attributes,
        start,
        length: end - start,
    }
}

/// Builds the TD HOB a TDX VMM would place in `image`'s TD_HOB section for a q35 guest of
/// `memory` bytes (see the module documentation for the layout).
pub fn build_td_hob(image: &[u8], memory: u64, opts: &TdHobOptions) -> Result<TdHob, VmmError> {
    let md = metadata::parse_image(image)?;
    let hob_section = section(&md, SectionType::TdHob).ok_or(VmmError::NoTdHobSection)?;
    if memory == 0 || memory > 1 << 52 || !memory.is_multiple_of(PAGE_SIZE) {
        return Err(VmmError::BadMemorySize);
    }
    let mem = Q35Memory::new(memory);
    let ram_ranges = mem.ranges();

    let mut added = added_sections(&md);
    for &(name, start, end) in &added {
        if !ram_ranges.iter().any(|&(s, e)| start >= s && end <= e) {
            return Err(VmmError::SectionOutsideRam {
                section: name,
                base: start,
                size: end - start,
                memory,
            });
        }
    }
    // Validated metadata has no overlapping sections; sort and merge touching ones.
    added.sort_by_key(|&(_, s, _)| s);
    let mut accepted: Vec<(u64, u64)> = Vec::new();
    for &(_, s, e) in &added {
        match accepted.last_mut() {
            Some(last) if last.1 >= s => last.1 = last.1.max(e),
            _ => accepted.push((s, e)),
        }
    }

    let mut resources = Vec::new();
    for &(ram_start, ram_end) in &ram_ranges {
        let mut at = ram_start;
        for &(s, e) in accepted
            .iter()
            .filter(|&&(s, e)| s >= ram_start && e <= ram_end)
        {
            if s > at {
                resources.push(ram(
                    hob::RESOURCE_MEMORY_UNACCEPTED,
                    ATTR_TDVF_UNACCEPTED,
                    at,
                    s,
                ));
            }
            resources.push(ram(hob::RESOURCE_SYSTEM_MEMORY, ATTR_TDVF_PRIVATE, s, e));
            at = e;
        }
        if at < ram_end {
            resources.push(ram(
                hob::RESOURCE_MEMORY_UNACCEPTED,
                ATTR_TDVF_UNACCEPTED,
                at,
                ram_end,
            ));
        }
    }
    let image_base = FOUR_GIB.saturating_sub(image.len() as u64);
    if opts.mmio && mem.below_4g < image_base {
        resources.push(ram(
            hob::RESOURCE_MEMORY_MAPPED_IO,
            ATTR_TDVF_MMIO,
            mem.below_4g,
            image_base,
        ));
    }

    let mut b = Builder::new();
    for r in &resources {
        b.resource(r);
    }
    if let Some(p) = opts.payload_info {
        let mut data = [0u8; 16];
        data[..4].copy_from_slice(&p.image_type.to_le_bytes());
        data[8..].copy_from_slice(&p.entry.to_le_bytes());
        b.guid(hob::PAYLOAD_INFO_GUID, &data);
    }
    // hob.md §2: only Version and EfiEndOfHobList matter; QEMU leaves the memory fields 0.
    let bytes = b.finish(hob_section.memory_address, 0, 0);
    if bytes.len() as u64 > hob_section.memory_data_size {
        return Err(VmmError::HobTooLarge {
            len: bytes.len() as u64,
            section_size: hob_section.memory_data_size,
        });
    }
    Ok(TdHob {
        bytes,
        base: hob_section.memory_address,
        section_size: hob_section.memory_data_size,
        memory: mem,
        resources,
    })
}

/// The PayloadParam bytes for a kernel command line: the text and a terminating NUL.
pub fn cmdline_blob(cmdline: &str) -> Result<Vec<u8>, VmmError> {
    if cmdline.bytes().any(|b| b == 0) {
        return Err(VmmError::CmdlineHasNul);
    }
    let mut v = cmdline.as_bytes().to_vec();
    v.push(0);
    Ok(v)
}

/// A file QEMU loads, with its length (checked against the section it goes to).
#[derive(Clone, Copy, Debug)]
pub struct LoadFile<'a> {
    pub path: &'a Path,
    pub len: u64,
}

fn loader(path: &Path, addr: u64) -> [String; 2] {
    [
        "-device".into(),
        format!("loader,file={},addr={addr:#x},force-raw=on", path.display()),
    ]
}

/// The `-device loader` arguments a TDX VMM's work reduces to in a legacy VM: the TD HOB
/// file at the TD_HOB section GPA, and when given a kernel at the Payload section GPA and a
/// command-line file (see [`cmdline_blob`]) at the PayloadParam GPA. A kernel or command line
/// for an image without the section is an error (use fw_cfg `-kernel` for those).
pub fn loader_args(
    md: &Metadata,
    hob: &Path,
    kernel: Option<LoadFile<'_>>,
    cmdline: Option<LoadFile<'_>>,
) -> Result<Vec<String>, VmmError> {
    let hob_section = section(md, SectionType::TdHob).ok_or(VmmError::NoTdHobSection)?;
    let mut args = Vec::new();
    args.extend(loader(hob, hob_section.memory_address));
    for (file, kind, what) in [
        (kernel, SectionType::Payload, "kernel"),
        (cmdline, SectionType::PayloadParam, "command line"),
    ] {
        let Some(file) = file else { continue };
        let s = section(md, kind).ok_or(VmmError::MissingSection {
            section: kind.name(),
        })?;
        if file.len > s.memory_data_size {
            return Err(VmmError::TooLargeForSection {
                what,
                len: file.len,
                section: kind.name(),
                section_size: s.memory_data_size,
            });
        }
        args.extend(loader(file.path, s.memory_address));
    }
    Ok(args)
}

/// A whole QEMU run of an emulated-TDX image.
#[derive(Clone, Copy, Debug)]
pub struct QemuOptions<'a> {
    pub image: &'a Path,
    pub hob: &'a Path,
    /// QEMU `-m` text (the HOB must have been built for the same size).
    pub memory: &'a str,
    pub smp: u32,
    pub kernel: Option<LoadFile<'a>>,
    /// A file holding [`cmdline_blob`].
    pub cmdline: Option<LoadFile<'a>>,
    /// QEMU `-accel` (tcg, or kvm where it works).
    pub accel: &'a str,
    pub lazy_accept: bool,
}

/// The full QEMU argument list (without the program name): q35, accel, memory, vCPUs,
/// serial on stdio, no display/monitor/reboot, `-bios IMAGE`, isa-debug-exit at 0xf4, and
/// the [`loader_args`]; with `lazy_accept` the fw_cfg file [`LAZY_ACCEPT_FW_CFG`].
pub fn qemu_args(md: &Metadata, opts: &QemuOptions<'_>) -> Result<Vec<String>, VmmError> {
    let mut args: Vec<String> = [
        "-accel",
        opts.accel,
        "-M",
        "q35",
        "-m",
        opts.memory,
        "-smp",
        &opts.smp.to_string(),
        "-display",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
        "-bios",
        &opts.image.display().to_string(),
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(loader_args(md, opts.hob, opts.kernel, opts.cmdline)?);
    if opts.lazy_accept {
        args.push("-fw_cfg".into());
        args.push(format!("name={LAZY_ACCEPT_FW_CFG},string=1"));
    }
    Ok(args)
}

/// Quotes `arg` for a POSIX shell when it needs it.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=,./:+@%".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

// --- hostile TD HOBs ------------------------------------------------------------------------

const END_HEADER: [u8; 8] = [0xFF, 0xFF, 8, 0, 0, 0, 0, 0];

/// Offset of the End HOB of a well-formed list (walking headers), if there is one.
fn end_offset(list: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let t = u16::from_le_bytes(list.get(at..at.checked_add(2)?)?.try_into().ok()?);
        let l = u16::from_le_bytes(
            list.get(at.checked_add(2)?..at.checked_add(4)?)?
                .try_into()
                .ok()?,
        );
        if t == hob::HOB_TYPE_END_OF_HOB_LIST {
            return Some(at);
        }
        if l == 0 {
            return None;
        }
        at = at.checked_add(usize::from(l).next_multiple_of(8))?;
    }
}

/// Writes the PHIT EfiEndOfHobList (offset 48) of `list`.
fn set_end_of_list(list: &mut [u8], value: u64) {
    if let Some(slot) = list.get_mut(48..56) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

fn put(list: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = at
        .checked_add(bytes.len())
        .and_then(|end| list.get_mut(at..end))
    {
        slot.copy_from_slice(bytes);
    }
}

/// `good` with `extra` (padded to 8 bytes) inserted before its End HOB and the PHIT's
/// EfiEndOfHobList moved accordingly, so that only `extra` is wrong.
fn insert_before_end(good: &[u8], base: u64, extra: &[u8]) -> Vec<u8> {
    let end = end_offset(good).unwrap_or(good.len());
    let mut v = good.get(..end).unwrap_or(good).to_vec();
    v.extend_from_slice(extra);
    v.resize(v.len().next_multiple_of(8), 0);
    v.extend_from_slice(&END_HEADER);
    let end_of_list = base.wrapping_add(v.len() as u64);
    set_end_of_list(&mut v, end_of_list);
    v
}

/// A HOB of `len` bytes: header (type, HobLength field, reserved) and a zero body.
fn raw_hob(hob_type: u16, len: usize, length_field: u16, reserved: u32) -> Vec<u8> {
    let mut v = vec![0u8; len.max(8)];
    put(&mut v, 0, &hob_type.to_le_bytes());
    put(&mut v, 2, &length_field.to_le_bytes());
    put(&mut v, 4, &reserved.to_le_bytes());
    v
}

/// A 48-byte resource descriptor with the given fields.
fn resource_hob(resource_type: u32, attributes: u32, start: u64, length: u64) -> Vec<u8> {
    let mut v = raw_hob(hob::HOB_TYPE_RESOURCE_DESCRIPTOR, 48, 48, 0);
    put(&mut v, 24, &resource_type.to_le_bytes());
    put(&mut v, 28, &attributes.to_le_bytes());
    put(&mut v, 32, &start.to_le_bytes());
    put(&mut v, 40, &length.to_le_bytes());
    v
}

/// A plausible unaccepted-RAM descriptor (so that only the header is wrong).
fn plausible_resource() -> Vec<u8> {
    resource_hob(
        hob::RESOURCE_MEMORY_UNACCEPTED,
        ATTR_TDVF_UNACCEPTED,
        0x1_0000_0000,
        0x1000,
    )
}

fn with_header(mut hob_bytes: Vec<u8>, length_field: u16, reserved: u32) -> Vec<u8> {
    put(&mut hob_bytes, 2, &length_field.to_le_bytes());
    put(&mut hob_bytes, 4, &reserved.to_le_bytes());
    hob_bytes
}

/// One corrupted copy of `good` (a well-formed TD HOB for GPA `base`, e.g. from
/// [`build_td_hob`]) per validation rule of `hob.md` §2.1, named after the rule it breaks.
/// [`td_shim::format::hob::parse`] refuses each, both as it is and padded with zeros to the
/// TD_HOB section size (which is what the firmware sees), except the last three: they parse,
/// and [`td_shim::format::hob::td_ram`] refuses them for the emulated TD ([`EMULATED_GPAW`])
/// and any image (RAM reaching the shared bit, RAM over the image's last page, the TD_HOB
/// section at `base` described as unaccepted).
pub fn hostile_td_hobs(good: &[u8], base: u64) -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let end = end_offset(good).unwrap_or(good.len());
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = good.to_vec();
        f(&mut v);
        v
    };
    let insert = |extra: Vec<u8>| insert_before_end(good, base, &extra);

    // Rule 1: the buffer and every header.
    // What a section the VMM never wrote looks like.
    out.push(("all-zero", vec![0u8; 64]));
    out.push(("truncated-phit", good.get(..40).unwrap_or(good).to_vec()));
    out.push((
        "zero-length",
        insert(with_header(plausible_resource(), 0, 0)),
    ));
    out.push((
        "length-below-header",
        insert(with_header(plausible_resource(), 4, 0)),
    ));
    out.push((
        "length-past-end",
        insert(with_header(plausible_resource(), 0xFFF8, 0)),
    ));
    out.push((
        "reserved-nonzero",
        insert(with_header(plausible_resource(), 48, 1)),
    ));
    // Rule 2: the PHIT.
    out.push((
        "first-not-phit",
        mutate(&|v| put(v, 0, &hob::HOB_TYPE_RESOURCE_DESCRIPTOR.to_le_bytes())),
    ));
    out.push(("phit-length", mutate(&|v| put(v, 2, &64u16.to_le_bytes()))));
    out.push((
        "phit-memory-top-misaligned",
        mutate(&|v| put(v, 16, &0x8000_0010u64.to_le_bytes())),
    ));
    out.push((
        "duplicate-phit",
        insert(good.get(..hob::HANDOFF_LEN).unwrap_or(&[]).to_vec()),
    ));
    // Rule 3: resource descriptors.
    out.push((
        "resource-length",
        insert(with_header(
            {
                let mut r = plausible_resource();
                r.resize(56, 0);
                r
            },
            56,
            0,
        )),
    ));
    out.push((
        "resource-type-8",
        insert(resource_hob(8, ATTR_TDVF_UNACCEPTED, 0x1_0000_0000, 0x1000)),
    ));
    out.push((
        "resource-attribute-bit27",
        insert(resource_hob(
            hob::RESOURCE_MEMORY_UNACCEPTED,
            ATTR_TDVF_UNACCEPTED | 0x0800_0000,
            0x1_0000_0000,
            0x1000,
        )),
    ));
    out.push((
        "resource-range-wraps",
        insert(resource_hob(
            hob::RESOURCE_MEMORY_UNACCEPTED,
            ATTR_TDVF_UNACCEPTED,
            0xFFFF_FFFF_FFFF_F000,
            0x2000,
        )),
    ));
    // Rule 4: the other fixed-size HOBs.
    out.push((
        "memory-allocation-length",
        insert(raw_hob(hob::HOB_TYPE_MEMORY_ALLOCATION, 40, 40, 0)),
    ));
    out.push(("memory-allocation-wraps", {
        let mut h = raw_hob(hob::HOB_TYPE_MEMORY_ALLOCATION, 48, 48, 0);
        put(&mut h, 24, &0x1000u64.to_le_bytes());
        put(&mut h, 32, &u64::MAX.to_le_bytes());
        insert(h)
    }));
    out.push(("fv-length", insert(raw_hob(hob::HOB_TYPE_FV, 32, 32, 0))));
    out.push(("fv-wraps", {
        let mut h = raw_hob(hob::HOB_TYPE_FV, 24, 24, 0);
        put(&mut h, 8, &u64::MAX.to_le_bytes());
        put(&mut h, 16, &2u64.to_le_bytes());
        insert(h)
    }));
    out.push(("fv2-length", insert(raw_hob(hob::HOB_TYPE_FV2, 48, 48, 0))));
    out.push(("fv3-length", insert(raw_hob(hob::HOB_TYPE_FV3, 56, 56, 0))));
    out.push(("cpu-length", insert(raw_hob(hob::HOB_TYPE_CPU, 24, 24, 0))));
    out.push(("cpu-reserved-nonzero", {
        let mut h = raw_hob(hob::HOB_TYPE_CPU, 16, 16, 0);
        put(&mut h, 8, &[48, 16, 0, 0, 1, 0, 0, 0]);
        insert(h)
    }));
    out.push((
        "guid-shorter-than-header",
        insert(raw_hob(hob::HOB_TYPE_GUID_EXTENSION, 16, 16, 0)),
    ));
    // Rule 5: types, End and the PHIT's end of list.
    out.push(("unknown-type", insert(raw_hob(0x0007, 48, 48, 0))));
    out.push(("missing-end", good.get(..end).unwrap_or(good).to_vec()));
    out.push((
        "end-length",
        mutate(&|v| put(v, end + 2, &16u16.to_le_bytes())),
    ));
    out.push((
        "end-of-list-at-end-hob",
        mutate(&|v| set_end_of_list(v, base.wrapping_add(end as u64))),
    ));
    out.push((
        "end-of-list-past-section",
        mutate(&|v| set_end_of_list(v, base.wrapping_add(0x2_0000 + 8))),
    ));
    out.push(("end-of-list-zero", mutate(&|v| set_end_of_list(v, 0))));
    // The semantic rules of td_ram (hob.md §2.2, tdcall.md §5).
    let shared_bit = 1u64 << (EMULATED_GPAW - 1);
    out.push((
        "ram-reaches-shared-bit",
        insert(resource_hob(
            hob::RESOURCE_MEMORY_UNACCEPTED,
            ATTR_TDVF_UNACCEPTED,
            shared_bit - 0x20_0000,
            0x40_0000,
        )),
    ));
    out.push((
        "ram-overlaps-image",
        insert(resource_hob(
            hob::RESOURCE_SYSTEM_MEMORY,
            ATTR_TDVF_PRIVATE,
            FOUR_GIB - PAGE_SIZE,
            PAGE_SIZE,
        )),
    ));
    out.push((
        "unaccepted-over-td-hob",
        match accepted_descriptor_at(good, base) {
            // The VMM's own descriptor of the TD_HOB section, retyped.
            Some(at) => {
                mutate(&|v| put(v, at + 24, &hob::RESOURCE_MEMORY_UNACCEPTED.to_le_bytes()))
            }
            None => insert(resource_hob(
                hob::RESOURCE_MEMORY_UNACCEPTED,
                ATTR_TDVF_UNACCEPTED,
                base,
                PAGE_SIZE,
            )),
        },
    ));
    out
}

/// Offset of the accepted-RAM (type 0) descriptor starting at `start` in a well-formed list.
fn accepted_descriptor_at(list: &[u8], start: u64) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let field = |off: usize, n: usize| list.get(at.checked_add(off)?..at.checked_add(off + n)?);
        let t = u16::from_le_bytes(field(0, 2)?.try_into().ok()?);
        let l = u16::from_le_bytes(field(2, 2)?.try_into().ok()?);
        if t == hob::HOB_TYPE_END_OF_HOB_LIST || l == 0 {
            return None;
        }
        if t == hob::HOB_TYPE_RESOURCE_DESCRIPTOR
            && usize::from(l) == hob::RESOURCE_LEN
            && u32::from_le_bytes(field(24, 4)?.try_into().ok()?) == hob::RESOURCE_SYSTEM_MEMORY
            && u64::from_le_bytes(field(32, 8)?.try_into().ok()?) == start
        {
            return Some(at);
        }
        at = at.checked_add(usize::from(l).next_multiple_of(8))?;
    }
}

/// The hostile HOB called `name` (see [`hostile_td_hobs`]), if there is one.
pub fn hostile_td_hob(good: &[u8], base: u64, name: &str) -> Option<Vec<u8>> {
    hostile_td_hobs(good, base)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| b)
}

/// Names of the hostile HOBs, in [`hostile_td_hobs`] order.
pub fn hostile_names() -> Vec<&'static str> {
    let good = Builder::new().finish(0, 0, 0);
    hostile_td_hobs(&good, 0)
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{self, LinkInput};
    use td_shim::format::hob::Error as HobError;
    use td_shim::layout::{MAILBOX_BASE, MAILBOX_SIZE, SHIM_RUN_BASE, TD_HOB_BASE, TD_HOB_SIZE};

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    /// A fake 0x8000-byte reset vector whose linker-owned tail is zero (as in
    /// td-shim-tools/tests/link_inspect.rs).
    fn fake_reset_vector() -> Vec<u8> {
        let mut rv: Vec<u8> = (0..0x8000u32).map(|i| (i % 251) as u8 | 1).collect();
        let n = rv.len();
        rv[n - 0x54..n - 0x1C].fill(0);
        rv[n - 0x1C..n - 0x10].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, b'V', b'T', b'F', 0]);
        rv[n - 0x10..].copy_from_slice(&[
            0x90, 0x90, 0xE9, 0x10, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        rv
    }

    /// A minimal PIE linked at 0: one R+X PT_LOAD [0, 0x1000) with `hlt; jmp $-1` at 0x100.
    fn tiny_pie() -> Vec<u8> {
        let mut f = vec![0u8; 0x1000];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4..7].copy_from_slice(&[2, 1, 1]);
        f[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
        f[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&0x100u64.to_le_bytes()); // entry
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        f[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        f[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes()); // R+X
        for (k, v) in [0u64, 0, 0, 0x1000, 0x1000, 0x1000].iter().enumerate() {
            f[ph + 8 + 8 * k..ph + 16 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
        f[0x100..0x103].copy_from_slice(&[0xF4, 0xEB, 0xFD]);
        f
    }

    fn linked(image_size: u64) -> Vec<u8> {
        link::link(&LinkInput {
            payload_files: Vec::new(),
            td_payload_sections: false,
            reset_vector: fake_reset_vector(),
            shim_elf: tiny_pie(),
            payload: None,
            image_size,
        })
        .expect("test image links")
        .image
    }

    /// A linked image whose metadata also has PayloadParam [0x860000, +0x1000) and Payload
    /// [0x861000, +32 MiB) (upstream's Linux layout, `metadata.md` §8).
    fn with_payload_sections(mut image: Vec<u8>) -> Vec<u8> {
        let md = metadata::parse_image(&image).unwrap();
        let mut sections = md.sections.clone();
        let mem = |kind: SectionType, addr: u64, size: u64| metadata::Section {
            data_offset: 0,
            raw_data_size: 0,
            memory_address: addr,
            memory_data_size: size,
            section_type: kind as u32,
            attributes: 0,
        };
        sections.push(mem(SectionType::Payload, 0x86_1000, 32 * MIB));
        sections.push(mem(SectionType::PayloadParam, 0x86_0000, 0x1000));
        let blob = metadata::build(&sections);
        let at = md.descriptor_offset - 16;
        image[at..at + blob.len()].copy_from_slice(&blob);
        assert_eq!(
            metadata::parse_image(&image).unwrap().sections.len(),
            sections.len()
        );
        image
    }

    fn image() -> Vec<u8> {
        linked(td_shim::layout::MIN_IMAGE_SIZE.next_multiple_of(0x1_0000))
    }

    /// Early RAM the linker declares as TempMem: the shim run region through the mailbox is
    /// one contiguous block (layout.rs), then the TD HOB section.
    const TEMP_START: u64 = SHIM_RUN_BASE;
    const TEMP_END: u64 = MAILBOX_BASE + MAILBOX_SIZE;

    fn parse_back(h: &TdHob) -> Vec<Resource> {
        let list = hob::parse(&h.bytes, h.base).expect("our HOB parses");
        assert_eq!(list.as_bytes().len(), h.bytes.len());
        let phit = list.handoff();
        assert_eq!(phit.version, 9);
        assert_eq!(phit.end_of_hob_list, TD_HOB_BASE + h.bytes.len() as u64);
        assert_eq!(
            (
                phit.memory_top,
                phit.memory_bottom,
                phit.free_memory_top,
                phit.free_memory_bottom
            ),
            (0, 0, 0, 0)
        );
        let res: Vec<Resource> = list.resources().collect();
        assert_eq!(res, h.resources);
        res
    }

    /// Checks that the RAM descriptors tile exactly `expect_ram` (ascending (start, end)),
    /// without overlaps, with type 0 exactly on the early RAM and the TD HOB section.
    fn check_ram(res: &[Resource], expect_ram: &[(u64, u64)], accepted: &[(u64, u64)]) {
        let ram: Vec<&Resource> = res
            .iter()
            .filter(|r| r.resource_type != hob::RESOURCE_MEMORY_MAPPED_IO)
            .collect();
        // Ascending and gap-free within each expected RAM range.
        let mut covered: Vec<(u64, u64)> = Vec::new();
        for r in &ram {
            assert_eq!(r.attributes, 0x7, "{r:?}");
            assert!(r.length > 0);
            let (s, e) = (r.start, r.start + r.length);
            match covered.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                Some(last) => {
                    assert!(s > last.1, "overlap or disorder at {s:#x}");
                    covered.push((s, e));
                }
                None => covered.push((s, e)),
            }
            let inside_accepted = accepted.iter().any(|&(a, b)| s >= a && e <= b);
            let touches_accepted = accepted.iter().any(|&(a, b)| s < b && e > a);
            if r.resource_type == 0 {
                assert!(inside_accepted, "type 0 outside the added sections: {r:?}");
            } else {
                assert_eq!(r.resource_type, 7, "{r:?}");
                assert!(!touches_accepted, "type 7 over an added section: {r:?}");
            }
        }
        assert_eq!(covered, expect_ram);
        // Every accepted range is type 0 in full.
        for &(a, b) in accepted {
            let n: u64 = ram
                .iter()
                .filter(|r| r.resource_type == 0 && r.start >= a && r.start + r.length <= b)
                .map(|r| r.length)
                .sum();
            assert_eq!(n, b - a, "[{a:#x}, {b:#x})");
        }
    }

    #[test]
    fn q35_split_rule() {
        // pc_q35_init: < 0xB0000000 all low; ≥ 0xB0000000 2 GiB low, rest from 4 GiB.
        assert_eq!(
            Q35Memory::new(GIB),
            Q35Memory {
                below_4g: GIB,
                above_4g: 0
            }
        );
        assert_eq!(
            Q35Memory::new(2816 * MIB - 8192),
            Q35Memory {
                below_4g: 2816 * MIB - 8192,
                above_4g: 0
            }
        );
        assert_eq!(
            Q35Memory::new(2816 * MIB),
            Q35Memory {
                below_4g: 2 * GIB,
                above_4g: 768 * MIB
            }
        );
        assert_eq!(
            Q35Memory::new(8 * GIB).ranges(),
            vec![(0, 2 * GIB), (4 * GIB, 10 * GIB)]
        );
    }

    #[test]
    fn memory_sizes_as_qemu_reads_them() {
        assert_eq!(parse_memory("1G"), Ok(GIB));
        assert_eq!(parse_memory("8g"), Ok(8 * GIB));
        assert_eq!(parse_memory("512M"), Ok(512 * MIB));
        assert_eq!(parse_memory("2048"), Ok(2 * GIB)); // no suffix: MiB
        assert_eq!(parse_memory("1T"), Ok(1 << 40));
        assert_eq!(parse_memory("100K"), Ok(104 * 1024)); // rounded up to 8 KiB
        assert_eq!(parse_memory("8192B"), Ok(8192));
        for bad in [
            "",
            "G",
            "0",
            "0G",
            "1.5G",
            "-1G",
            "12Q",
            "99999999999T",
            "1 G",
        ] {
            assert_eq!(parse_memory(bad), Err(VmmError::BadMemorySize), "{bad:?}");
        }
    }

    #[test]
    fn hob_1g_all_below_4g() {
        let img = image();
        let h = build_td_hob(&img, GIB, &TdHobOptions::default()).unwrap();
        assert_eq!((h.base, h.section_size), (TD_HOB_BASE, TD_HOB_SIZE));
        let res = parse_back(&h);
        let accepted = [
            (TEMP_START, TEMP_END),
            (TD_HOB_BASE, TD_HOB_BASE + TD_HOB_SIZE),
        ];
        check_ram(&res, &[(0, GIB)], &accepted);
        // Written out by hand: 0..1M unaccepted, early RAM, gap, TD HOB, rest unaccepted.
        let spans: Vec<(u32, u64, u64)> = res
            .iter()
            .map(|r| (r.resource_type, r.start, r.start + r.length))
            .collect();
        let image_base = FOUR_GIB - img.len() as u64;
        assert_eq!(
            spans,
            vec![
                (7, 0, 0x10_0000),
                (0, 0x10_0000, 0x2C_1000),
                (7, 0x2C_1000, 0x80_0000),
                (0, 0x80_0000, 0x82_0000),
                (7, 0x82_0000, GIB),
                (1, GIB, image_base),
            ]
        );
        assert_eq!(res.last().unwrap().attributes, 0x403);
    }

    #[test]
    fn hob_8g_and_split_boundary() {
        let img = image();
        let accepted = [
            (TEMP_START, TEMP_END),
            (TD_HOB_BASE, TD_HOB_BASE + TD_HOB_SIZE),
        ];
        for (mem, expect) in [
            (8 * GIB, vec![(0, 2 * GIB), (4 * GIB, 10 * GIB)]),
            (
                2816 * MIB,
                vec![(0, 2 * GIB), (4 * GIB, 4 * GIB + 768 * MIB)],
            ),
            (2816 * MIB - 0x1000, vec![(0, 2816 * MIB - 0x1000)]),
            (3 * GIB, vec![(0, 2 * GIB), (4 * GIB, 5 * GIB)]),
            (16 * MIB, vec![(0, 16 * MIB)]),
        ] {
            let h = build_td_hob(&img, mem, &TdHobOptions::default()).unwrap();
            let res = parse_back(&h);
            check_ram(&res, &expect, &accepted);
            let total: u64 = res
                .iter()
                .filter(|r| r.resource_type != 1)
                .map(|r| r.length)
                .sum();
            assert_eq!(total, mem);
            // The above-4G part is one unaccepted descriptor.
            if let Some(&(s, e)) = expect.get(1) {
                assert!(res
                    .iter()
                    .any(|r| r.resource_type == 7 && r.start == s && r.length == e - s));
            }
            // MMIO: [below-4G end, image base).
            let mmio: Vec<_> = res.iter().filter(|r| r.resource_type == 1).collect();
            assert_eq!(mmio.len(), 1);
            assert_eq!(mmio[0].start, expect[0].1);
            assert_eq!(mmio[0].start + mmio[0].length, FOUR_GIB - img.len() as u64);
        }
    }

    #[test]
    fn hob_without_mmio_and_with_payload_info() {
        let img = with_payload_sections(image());
        let opts = TdHobOptions {
            mmio: false,
            payload_info: Some(PayloadInfo {
                image_type: PAYLOAD_IMAGE_BZIMAGE,
                entry: 0,
            }),
        };
        let h = build_td_hob(&img, GIB, &opts).unwrap();
        let res = parse_back(&h);
        assert!(res.iter().all(|r| r.resource_type != 1));
        // PayloadParam + Payload are PAGE.ADDed by the VMM (Cloud Hypervisor): accepted.
        let accepted = [
            (TEMP_START, TEMP_END),
            (TD_HOB_BASE, TD_HOB_BASE + TD_HOB_SIZE),
            (0x86_0000, 0x86_1000 + 32 * MIB),
        ];
        check_ram(&res, &[(0, GIB)], &accepted);
        let list = hob::parse(&h.bytes, h.base).unwrap();
        let info: Vec<_> = list.guid_data(hob::PAYLOAD_INFO_GUID).collect();
        assert_eq!(
            info,
            vec![&[1u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]]
        );
    }

    #[test]
    fn refusals() {
        let img = image();
        let o = TdHobOptions::default();
        // The TD HOB section ends at 0x820000: 8 MiB of RAM cannot hold it.
        assert_eq!(
            build_td_hob(&img, 8 * MIB, &o),
            Err(VmmError::SectionOutsideRam {
                section: "TD_HOB",
                base: TD_HOB_BASE,
                size: TD_HOB_SIZE,
                memory: 8 * MIB
            })
        );
        assert_eq!(build_td_hob(&img, 0, &o), Err(VmmError::BadMemorySize));
        assert_eq!(
            build_td_hob(&img, GIB + 1, &o),
            Err(VmmError::BadMemorySize)
        );
        assert!(matches!(
            build_td_hob(&img[1..], GIB, &o),
            Err(VmmError::Metadata(_))
        ));
        assert!(matches!(
            build_td_hob(&[], GIB, &o),
            Err(VmmError::Metadata(_))
        ));
    }

    #[test]
    fn hob_too_large_for_its_section() {
        // Shrink the TD_HOB section to one page and cut RAM into more pieces than it holds.
        let mut img = image();
        let md = metadata::parse_image(&img).unwrap();
        let mut sections: Vec<_> = md
            .sections
            .iter()
            .copied()
            .filter(|s| s.kind() != Some(SectionType::TempMem))
            .collect();
        for s in &mut sections {
            if s.kind() == Some(SectionType::TdHob) {
                s.memory_data_size = 0x1000;
            }
        }
        // 90 separate one-page TempMem sections above 16 MiB, each followed by a gap.
        for i in 0..90u64 {
            sections.push(metadata::Section {
                data_offset: 0,
                raw_data_size: 0,
                memory_address: 0x100_0000 + i * 0x2000,
                memory_data_size: 0x1000,
                section_type: SectionType::TempMem as u32,
                attributes: 0,
            });
        }
        let blob = metadata::build(&sections);
        let at = md.descriptor_offset - 16;
        assert!(blob.len() < 0x1000);
        img[at..at + blob.len()].copy_from_slice(&blob);
        match build_td_hob(&img, GIB, &TdHobOptions::default()) {
            Err(VmmError::HobTooLarge { len, section_size }) => {
                assert_eq!(section_size, 0x1000);
                // PHIT, RAM: [0, 8M) 7, TD HOB 0, [8M+4K, 16M) 7, 90 × (0 + 7), MMIO, End.
                assert_eq!(len, 56 + (3 + 180 + 1) * 48 + 8);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loader_and_qemu_arguments() {
        let img = with_payload_sections(image());
        let md = metadata::parse_image(&img).unwrap();
        let hob = Path::new("/t/hob.bin");
        let k = LoadFile {
            path: Path::new("/t/bzImage"),
            len: 10 * MIB,
        };
        let c = LoadFile {
            path: Path::new("/t/cmdline"),
            len: 20,
        };
        let args = loader_args(&md, hob, Some(k), Some(c)).unwrap();
        assert_eq!(
            args,
            vec![
                "-device",
                "loader,file=/t/hob.bin,addr=0x800000,force-raw=on",
                "-device",
                "loader,file=/t/bzImage,addr=0x861000,force-raw=on",
                "-device",
                "loader,file=/t/cmdline,addr=0x860000,force-raw=on",
            ]
        );
        let big = LoadFile {
            path: k.path,
            len: 32 * MIB + 1,
        };
        assert_eq!(
            loader_args(&md, hob, Some(big), None),
            Err(VmmError::TooLargeForSection {
                what: "kernel",
                len: 32 * MIB + 1,
                section: "Payload",
                section_size: 32 * MIB
            })
        );
        // The linker's own images have no Payload/PayloadParam section.
        let plain = metadata::parse_image(&image()).unwrap();
        assert_eq!(
            loader_args(&plain, hob, Some(k), None),
            Err(VmmError::MissingSection { section: "Payload" })
        );
        assert_eq!(
            loader_args(&plain, hob, None, Some(c)),
            Err(VmmError::MissingSection {
                section: "PayloadParam"
            })
        );
        let q = qemu_args(
            &plain,
            &QemuOptions {
                image: Path::new("/t/final.bin"),
                hob,
                memory: "1G",
                smp: 4,
                kernel: None,
                cmdline: None,
                accel: "tcg",
                lazy_accept: true,
            },
        )
        .unwrap();
        let joined = q.join(" ");
        for want in [
            "-accel tcg",
            "-M q35",
            "-m 1G",
            "-smp 4",
            "-serial stdio",
            "-bios /t/final.bin",
            "-device isa-debug-exit,iobase=0xf4,iosize=4",
            "-device loader,file=/t/hob.bin,addr=0x800000,force-raw=on",
            "-fw_cfg name=opt/td-shim/lazy-accept,string=1",
        ] {
            assert!(joined.contains(want), "{want} missing from {joined}");
        }
    }

    #[test]
    fn cmdline_and_quoting() {
        assert_eq!(cmdline_blob("console=ttyS0").unwrap(), b"console=ttyS0\0");
        assert_eq!(cmdline_blob("a\0b"), Err(VmmError::CmdlineHasNul));
        assert_eq!(shell_quote("-m"), "-m");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn every_hostile_hob_is_refused() {
        let h = build_td_hob(&image(), GIB, &TdHobOptions::default()).unwrap();
        let base = h.base;
        let pad = |b: &[u8]| {
            let mut v = b.to_vec();
            v.resize(TD_HOB_SIZE as usize, 0);
            v
        };
        // The good one passes as it is and as the firmware sees it.
        hob::parse(&h.bytes, base).unwrap();
        hob::parse(&pad(&h.bytes), base).unwrap();
        let hostile = hostile_td_hobs(&h.bytes, base);
        let mut names: Vec<_> = hostile.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), hostile.len(), "names are unique");
        assert!(hostile.len() >= 25);
        let end = h.bytes.len() - 8; // offset of End in the good list
        let ins = end; // where insert_before_end puts its HOB

        // What the firmware checks RAM against in the emulated TD: bit 47, the image, and
        // the sections the VMM adds.
        let md = metadata::parse_image(&image()).unwrap();
        let added: Vec<(u64, u64)> = added_sections(&md)
            .iter()
            .map(|&(_, s, e)| (s, e))
            .collect();
        let limits = hob::TdLimits {
            shared_bit: 0x8000_0000_0000,
            image: (FOUR_GIB - image().len() as u64, FOUR_GIB),
            added: &added,
        };
        let check = |b: &[u8]| hob::parse(b, base).and_then(|l| hob::td_ram(&l, &limits));
        // The good one passes the semantic checks too.
        check(&h.bytes).unwrap();
        for (name, bytes) in &hostile {
            assert!(bytes.len() as u64 <= TD_HOB_SIZE, "{name}");
            let exact = check(bytes);
            let padded_bytes = pad(bytes);
            let padded = check(&padded_bytes);
            assert!(exact.is_err(), "{name} accepted as is");
            assert!(padded.is_err(), "{name} accepted padded to the section");
            let semantic = [
                "ram-reaches-shared-bit",
                "ram-overlaps-image",
                "unaccepted-over-td-hob",
            ];
            assert_eq!(
                hob::parse(bytes, base).is_ok(),
                semantic.contains(name),
                "{name}: only the semantic cases parse"
            );
            // The reason, derived from the rule each one breaks.
            let e = exact.unwrap_err();
            let ok = match *name {
                "all-zero" => e == HobError::ZeroLength { offset: 0 },
                "truncated-phit" => e == HobError::Truncated { offset: 0 },
                "zero-length" => e == HobError::ZeroLength { offset: ins },
                "length-below-header" => {
                    e == HobError::BadLength {
                        offset: ins,
                        hob_type: 3,
                        length: 4,
                    }
                }
                "length-past-end" => e == HobError::LengthOverflow { offset: ins },
                "reserved-nonzero" => e == HobError::ReservedNonZero { offset: ins },
                "first-not-phit" => {
                    e == HobError::FirstNotHandoff {
                        offset: 0,
                        hob_type: 3,
                    }
                }
                "phit-length" => {
                    e == HobError::BadLength {
                        offset: 0,
                        hob_type: 1,
                        length: 64,
                    }
                }
                "phit-memory-top-misaligned" => e == HobError::MisalignedMemoryTop { offset: 0 },
                "duplicate-phit" => e == HobError::DuplicateHandoff { offset: ins },
                "resource-length" => {
                    e == HobError::BadLength {
                        offset: ins,
                        hob_type: 3,
                        length: 56,
                    }
                }
                "resource-type-8" => {
                    e == HobError::BadResourceType {
                        offset: ins,
                        resource_type: 8,
                    }
                }
                "resource-attribute-bit27" => {
                    e == HobError::BadAttributes {
                        offset: ins,
                        attributes: 0x0800_0007,
                    }
                }
                "resource-range-wraps" | "memory-allocation-wraps" | "fv-wraps" => {
                    e == HobError::RangeWraps { offset: ins }
                }
                "memory-allocation-length" => {
                    e == HobError::BadLength {
                        offset: ins,
                        hob_type: 2,
                        length: 40,
                    }
                }
                "fv-length" => {
                    e == HobError::BadLength {
                        offset: ins,
                        hob_type: 5,
                        length: 32,
                    }
                }
                "fv2-length" => {
                    e == HobError::BadLength {
                        offset: ins,
                        hob_type: 9,
                        length: 48,
                    }
                }
                "fv3-length" => {
                    e == HobError::BadLength {
                        offset: ins,
                        hob_type: 0xC,
                        length: 56,
                    }
                }
                "cpu-length" => {
                    e == HobError::BadLength {
                        offset: ins,
                        hob_type: 6,
                        length: 24,
                    }
                }
                "cpu-reserved-nonzero" => e == HobError::ReservedNonZero { offset: ins },
                "guid-shorter-than-header" => {
                    e == HobError::BadLength {
                        offset: ins,
                        hob_type: 4,
                        length: 16,
                    }
                }
                "unknown-type" => {
                    e == HobError::UnknownType {
                        offset: ins,
                        hob_type: 7,
                    }
                }
                "missing-end" => e == HobError::MissingEnd { offset: end },
                // 16 bytes run past this buffer; padded, the End length rule says it.
                "end-length" => {
                    e == HobError::LengthOverflow { offset: end }
                        && padded
                            == Err(HobError::BadLength {
                                offset: end,
                                hob_type: 0xFFFF,
                                length: 16,
                            })
                }
                "end-of-list-at-end-hob" | "end-of-list-past-section" | "end-of-list-zero" => {
                    matches!(e, HobError::EndMismatch { offset, expected, .. }
                        if offset == end && expected == base + end as u64 + 8)
                }
                // Inserted before End: [2^47 − 2 MiB, 2^47 + 2 MiB).
                "ram-reaches-shared-bit" => {
                    e == HobError::ReachesSharedBit {
                        offset: ins,
                        start: 0x7FFF_FFE0_0000,
                        end: 0x8000_0020_0000,
                        shared_bit: 0x8000_0000_0000,
                    }
                }
                "ram-overlaps-image" => {
                    e == HobError::OverlapsImage {
                        offset: ins,
                        start: 0xFFFF_F000,
                        end: 0x1_0000_0000,
                    }
                }
                // The fourth descriptor of the 1 GiB list (hob_1g_all_below_4g): 56 + 3 × 48.
                "unaccepted-over-td-hob" => {
                    e == HobError::UnacceptedOverAdded {
                        offset: 200,
                        start: TD_HOB_BASE,
                        end: TD_HOB_BASE + TD_HOB_SIZE,
                        section: TD_HOB_BASE,
                    }
                }
                other => panic!("hostile HOB {other} has no expected reason here"),
            };
            assert!(ok, "{name}: {e:?}");
        }
    }
}
