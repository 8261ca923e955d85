// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Linux bzImage direct boot (`../shared/spec/linux-boot.md` §2, §3, §7; Linux x86 boot
//! protocol): parsing and checking the setup header of an untrusted kernel image (from the
//! VMM or the image), choosing where the protected-mode part runs, and building the zero
//! page (`struct boot_params`) handed to the 64-bit entry. Everything read from the kernel
//! file is untrusted and refused with an [`Error`] naming the field; nothing here touches
//! memory outside the slices it is given.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::format::e820;
use core::fmt;
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

/// File (and zero page) offset of the setup header: `setup_sects`.
pub const SETUP_HEADER_OFFSET: usize = 0x1F1;
/// `boot_flag` value at 0x1FE.
pub const BOOT_FLAG: u16 = 0xAA55;
/// `header` magic at 0x202: "HdrS".
pub const HDRS_MAGIC: u32 = 0x5372_6448;
/// Oldest protocol accepted: 2.12 is the first with `xloadflags` (the 64-bit entry flag).
pub const MIN_VERSION: u16 = 0x020C;
/// `loadflags` bit 0: the protected-mode part is loaded at 0x100000 or above.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `xloadflags` bit 0: the kernel has the 64-bit entry at load address + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `xloadflags` bit 1: kernel, boot_params, cmdline and initrd may live above 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// `type_of_loader` for a boot loader without an assigned ID.
pub const TYPE_OF_LOADER_UNDEFINED: u8 = 0xFF;
/// Offset of the 64-bit entry point from the protected-mode load address.
pub const ENTRY_64_OFFSET: u64 = 0x200;
/// Size of the zero page.
pub const BOOT_PARAMS_SIZE: usize = 4096;
/// Most E820 entries the zero page holds.
pub const E820_MAX_ENTRIES: usize = 128;
/// Sector size used by `setup_sects`.
const SECTOR_SIZE: usize = 512;
/// `setup_sects` value that old kernels store as 0.
const DEFAULT_SETUP_SECTS: u8 = 4;
/// The header must reach at least past `init_size` (0x260, 4 bytes): every field read here.
pub const MIN_HEADER_END: usize = 0x264;
/// boot_params has room for the header only up to `edd_mbr_sig_buffer` at 0x290.
pub const MAX_HEADER_END: usize = 0x290;
/// Smallest `kernel_alignment` accepted for a relocatable kernel (one page).
const MIN_KERNEL_ALIGNMENT: u32 = 0x1000;
/// Lowest load address tried first, and the fallback (linux-boot.md §2; boot protocol).
const LOAD_FLOOR_HIGH: u64 = 16 << 20;
const LOAD_FLOOR_LOW: u64 = 1 << 20;
/// Load candidates must end at or below 4 GiB.
const LOAD_CEILING: u64 = 1 << 32;

/// Zero-page offsets written by [`BootParams`] (linux-boot.md §3; Linux zero-page doc).
pub mod off {
    pub const ACPI_RSDP_ADDR: usize = 0x070;
    pub const EXT_RAMDISK_IMAGE: usize = 0x0C0;
    pub const EXT_RAMDISK_SIZE: usize = 0x0C4;
    pub const EXT_CMD_LINE_PTR: usize = 0x0C8;
    pub const E820_ENTRIES: usize = 0x1E8;
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const SYSSIZE: usize = 0x1F4;
    pub const BOOT_FLAG: usize = 0x1FE;
    pub const JUMP: usize = 0x200;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const CODE32_START: usize = 0x214;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21C;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const KERNEL_ALIGNMENT: usize = 0x230;
    pub const RELOCATABLE_KERNEL: usize = 0x234;
    pub const XLOADFLAGS: usize = 0x236;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const SETUP_DATA: usize = 0x250;
    pub const PREF_ADDRESS: usize = 0x258;
    pub const INIT_SIZE: usize = 0x260;
    pub const E820_TABLE: usize = 0x2D0;
}

/// The setup header from `setup_sects` (0x1F1) through `init_size` (ends 0x264): every
/// field this module reads. Raw little-endian integers, no alignment.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawSetupHeader {
    setup_sects: u8,
    root_flags: U16,
    syssize: U32,
    ram_size: U16,
    vid_mode: U16,
    root_dev: U16,
    boot_flag: U16,
    jump: [u8; 2],
    header: U32,
    version: U16,
    realmode_swtch: U32,
    start_sys_seg: U16,
    kernel_version: U16,
    type_of_loader: u8,
    loadflags: u8,
    setup_move_size: U16,
    code32_start: U32,
    ramdisk_image: U32,
    ramdisk_size: U32,
    bootsect_kludge: U32,
    heap_end_ptr: U16,
    ext_loader_ver: u8,
    ext_loader_type: u8,
    cmd_line_ptr: U32,
    initrd_addr_max: U32,
    kernel_alignment: U32,
    relocatable_kernel: u8,
    min_alignment: u8,
    xloadflags: U16,
    cmdline_size: U32,
    hardware_subarch: U32,
    hardware_subarch_data: U64,
    payload_offset: U32,
    payload_length: U32,
    setup_data: U64,
    pref_address: U64,
    init_size: U32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    const B: usize = SETUP_HEADER_OFFSET;
    assert!(size_of::<RawSetupHeader>() == MIN_HEADER_END - B);
    assert!(offset_of!(RawSetupHeader, syssize) == off::SYSSIZE - B);
    assert!(offset_of!(RawSetupHeader, boot_flag) == off::BOOT_FLAG - B);
    assert!(offset_of!(RawSetupHeader, jump) == off::JUMP - B);
    assert!(offset_of!(RawSetupHeader, header) == off::HEADER - B);
    assert!(offset_of!(RawSetupHeader, version) == off::VERSION - B);
    assert!(offset_of!(RawSetupHeader, type_of_loader) == off::TYPE_OF_LOADER - B);
    assert!(offset_of!(RawSetupHeader, loadflags) == off::LOADFLAGS - B);
    assert!(offset_of!(RawSetupHeader, code32_start) == off::CODE32_START - B);
    assert!(offset_of!(RawSetupHeader, ramdisk_image) == off::RAMDISK_IMAGE - B);
    assert!(offset_of!(RawSetupHeader, cmd_line_ptr) == off::CMD_LINE_PTR - B);
    assert!(offset_of!(RawSetupHeader, initrd_addr_max) == off::INITRD_ADDR_MAX - B);
    assert!(offset_of!(RawSetupHeader, kernel_alignment) == off::KERNEL_ALIGNMENT - B);
    assert!(offset_of!(RawSetupHeader, relocatable_kernel) == off::RELOCATABLE_KERNEL - B);
    assert!(offset_of!(RawSetupHeader, xloadflags) == off::XLOADFLAGS - B);
    assert!(offset_of!(RawSetupHeader, cmdline_size) == off::CMDLINE_SIZE - B);
    assert!(offset_of!(RawSetupHeader, setup_data) == off::SETUP_DATA - B);
    assert!(offset_of!(RawSetupHeader, pref_address) == off::PREF_ADDRESS - B);
    assert!(offset_of!(RawSetupHeader, init_size) == off::INIT_SIZE - B);
    assert!(off::E820_TABLE + E820_MAX_ENTRIES * e820::ENTRY_SIZE <= BOOT_PARAMS_SIZE);
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The file is `len` bytes but `need` are required (header, setup or `syssize`).
    Truncated { need: u64, len: u64 },
    /// `boot_flag` (0x1FE) is not 0xAA55.
    BadBootFlag { found: u16 },
    /// The file is an ELF (an uncompressed `vmlinux`), not a bzImage.
    ElfKernel,
    /// `header` (0x202) is not "HdrS".
    BadMagic { found: u32 },
    /// Boot protocol older than 2.12 (no 64-bit entry flag).
    ProtocolTooOld { version: u16 },
    /// `xloadflags` lacks XLF_KERNEL_64: there is no 64-bit entry.
    NotKernel64,
    /// `loadflags` lacks LOADED_HIGH: not a bzImage.
    NotLoadedHigh,
    /// The setup header end (0x202 + byte at 0x201) is outside [0x264, 0x290].
    HeaderSpan { end: usize },
    /// The setup part (`(setup_sects + 1) * 512`) leaves no protected-mode part.
    NoProtectedMode { setup_size: usize, len: u64 },
    /// The separately supplied setup part is not `(setup_sects + 1) * 512` bytes.
    SetupSizeMismatch { setup_size: usize, len: usize },
    /// `kernel_alignment` of a relocatable kernel is not a power of two ≥ 4 KiB.
    BadAlignment { alignment: u32 },
    /// `init_size` is 0 or smaller than the protected-mode part.
    BadInitSize { init_size: u32, pm_len: u64 },
    /// No free range below 4 GiB holds the kernel's `init_size` bytes.
    NoRoomForKernel { init_size: u64 },
    /// More E820 entries than the zero page holds.
    TooManyE820 { count: usize },
    /// The command line is longer than the kernel's `cmdline_size` (NUL excluded).
    CmdlineTooLong { len: usize, max: usize },
    /// No NUL terminator in the command line buffer.
    CmdlineNotTerminated { len: usize },
    /// A command line byte is not ASCII.
    CmdlineNotAscii { offset: usize },
    /// The initrd ends above what the kernel can reach.
    InitrdTooHigh { end: u64, max: u64 },
    /// The initrd's `addr + size` wraps past 2^64.
    InitrdWraps { addr: u64, size: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { need, len } => {
                write!(f, "bzimage of {len:#x} bytes is truncated: needs {need:#x}")
            }
            Error::ElfKernel => f.write_str(
                "this is an elf file (vmlinux), not a bzimage: an elf kernel boots only through qemu -kernel; here give the bzimage (arch/x86/boot/bzImage, /boot/vmlinuz-*)",
            ),
            Error::BadBootFlag { found } => {
                write!(f, "bzimage boot_flag {found:#x} at 0x1fe is not 0xaa55")
            }
            Error::BadMagic { found } => {
                write!(f, "bzimage header magic {found:#x} at 0x202 is not HdrS")
            }
            Error::ProtocolTooOld { version } => write!(
                f,
                "bzimage boot protocol {}.{:02} is older than 2.12",
                version >> 8,
                version & 0xFF
            ),
            Error::NotKernel64 => f.write_str("bzimage has no 64-bit entry (xloadflags bit 0)"),
            Error::NotLoadedHigh => f.write_str("bzimage loadflags lack LOADED_HIGH"),
            Error::HeaderSpan { end } => write!(
                f,
                "bzimage setup header ends at {end:#x}, outside [{MIN_HEADER_END:#x}, {MAX_HEADER_END:#x}]"
            ),
            Error::NoProtectedMode { setup_size, len } => write!(
                f,
                "bzimage setup part of {setup_size:#x} bytes leaves no kernel in {len:#x} bytes"
            ),
            Error::SetupSizeMismatch { setup_size, len } => write!(
                f,
                "bzimage setup part is {len:#x} bytes but its header says {setup_size:#x}"
            ),
            Error::BadAlignment { alignment } => write!(
                f,
                "bzimage kernel_alignment {alignment:#x} is not a power of two >= 0x1000"
            ),
            Error::BadInitSize { init_size, pm_len } => write!(
                f,
                "bzimage init_size {init_size:#x} is zero or below its {pm_len:#x}-byte kernel"
            ),
            Error::NoRoomForKernel { init_size } => {
                write!(f, "no free ram below 4 GiB for a {init_size:#x}-byte kernel")
            }
            Error::TooManyE820 { count } => write!(
                f,
                "{count} e820 entries do not fit the zero page ({E820_MAX_ENTRIES} max)"
            ),
            Error::CmdlineTooLong { len, max } => {
                write!(f, "command line of {len} bytes exceeds the kernel's {max}")
            }
            Error::CmdlineNotTerminated { len } => {
                write!(f, "command line buffer of {len} bytes has no nul terminator")
            }
            Error::CmdlineNotAscii { offset } => {
                write!(f, "command line byte {offset} is not ascii")
            }
            Error::InitrdTooHigh { end, max } => {
                write!(f, "initrd ends at {end:#x}, above the kernel's limit {max:#x}")
            }
            Error::InitrdWraps { addr, size } => {
                write!(f, "initrd at {addr:#x} of {size:#x} bytes wraps past 2^64")
            }
        }
    }
}

/// A checked bzImage: where its parts are in the file and what the kernel asks of its
/// loader. Offsets are relative to the start of the file given to [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// Boot protocol version (0x020C = 2.12).
    pub version: u16,
    /// Size of the real-mode setup part: `(setup_sects + 1) * 512`.
    pub setup_size: usize,
    /// File offset of the protected-mode part (= `setup_size`).
    pub pm_offset: u64,
    /// Length of the protected-mode part (the rest of the file).
    pub pm_len: u64,
    /// Required physical alignment of the load address (validated for relocatable kernels).
    pub kernel_alignment: u32,
    /// Preferred load address of the protected-mode part.
    pub pref_address: u64,
    /// Bytes of contiguous memory the kernel needs from its load address (≥ `pm_len`).
    pub init_size: u64,
    /// Longest command line, NUL excluded.
    pub cmdline_size: u32,
    /// Highest address the initrd may occupy (inclusive), unless `can_load_above_4g`.
    pub initrd_addr_max: u32,
    /// `relocatable_kernel` != 0.
    pub relocatable: bool,
    /// XLF_CAN_BE_LOADED_ABOVE_4G.
    pub can_load_above_4g: bool,
    /// File offset of the setup header to copy into boot_params (always 0x1F1).
    pub header_offset: usize,
    /// Length of that header: `0x202 + byte at 0x201 - 0x1F1`.
    pub header_len: usize,
}

impl Kernel {
    /// The setup header bytes of `file` (the same bytes given to [`parse`]) to copy to
    /// boot_params at 0x1F1. Empty if `file` is shorter than the span (another file).
    pub fn header_bytes<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        self.header_offset
            .checked_add(self.header_len)
            .and_then(|end| file.get(self.header_offset..end))
            .unwrap_or(&[])
    }

    /// The protected-mode part of `file` (the bytes placed at the load address).
    pub fn pm_bytes<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        let (Ok(start), Ok(len)) = (
            usize::try_from(self.pm_offset),
            usize::try_from(self.pm_len),
        ) else {
            return &[];
        };
        start
            .checked_add(len)
            .and_then(|end| file.get(start..end))
            .unwrap_or(&[])
    }

    /// The 64-bit entry point for a protected-mode part loaded at `load_addr`.
    pub fn entry_64(load_addr: u64) -> Option<u64> {
        load_addr.checked_add(ENTRY_64_OFFSET)
    }
}

/// Checks a whole bzImage file (setup part followed by the protected-mode part). See
/// [`Error`] for every refusal.
pub fn parse(bytes: &[u8]) -> Result<Kernel, Error> {
    check(bytes, bytes.len() as u64)
}

/// Checks a bzImage supplied in two parts, as QEMU's fw_cfg does: `setup` is the setup part
/// (exactly `(setup_sects + 1) * 512` bytes) and `pm_len` the length of the protected-mode
/// part, which the caller reads later straight to the load address. Same rules as [`parse`]
/// on the concatenation.
pub fn parse_parts(setup: &[u8], pm_len: u64) -> Result<Kernel, Error> {
    let k = check(setup, (setup.len() as u64).saturating_add(pm_len))?;
    if k.setup_size != setup.len() {
        return Err(Error::SetupSizeMismatch {
            setup_size: k.setup_size,
            len: setup.len(),
        });
    }
    Ok(k)
}

/// The rules of [`parse`]: `head` is a prefix of the file holding at least the setup header,
/// `len` the length of the whole file.
fn check(head: &[u8], len: u64) -> Result<Kernel, Error> {
    if head.starts_with(b"\x7fELF") {
        return Err(Error::ElfKernel);
    }
    let truncated = |need: usize| Error::Truncated {
        need: need as u64,
        len: head.len() as u64,
    };
    let (hdr, _) = head
        .get(SETUP_HEADER_OFFSET..)
        .and_then(|b| RawSetupHeader::ref_from_prefix(b).ok())
        .ok_or(truncated(MIN_HEADER_END))?;

    if hdr.boot_flag.get() != BOOT_FLAG {
        return Err(Error::BadBootFlag {
            found: hdr.boot_flag.get(),
        });
    }
    if hdr.header.get() != HDRS_MAGIC {
        return Err(Error::BadMagic {
            found: hdr.header.get(),
        });
    }
    let version = hdr.version.get();
    if version < MIN_VERSION {
        return Err(Error::ProtocolTooOld { version });
    }
    // The jump at 0x200 is `jmp rel8` over the header: its end is 0x202 + the offset byte.
    let [_, jump_rel] = hdr.jump;
    let header_end = off::HEADER.saturating_add(usize::from(jump_rel));
    if !(MIN_HEADER_END..=MAX_HEADER_END).contains(&header_end) {
        return Err(Error::HeaderSpan { end: header_end });
    }
    if head.len() < header_end {
        return Err(truncated(header_end));
    }
    let xloadflags = hdr.xloadflags.get();
    if xloadflags & XLF_KERNEL_64 == 0 {
        return Err(Error::NotKernel64);
    }
    if hdr.loadflags & LOADED_HIGH == 0 {
        return Err(Error::NotLoadedHigh);
    }

    let setup_sects = match hdr.setup_sects {
        0 => DEFAULT_SETUP_SECTS,
        n => n,
    };
    // At most 256 * 512: cannot overflow.
    let setup_size = usize::from(setup_sects)
        .saturating_add(1)
        .saturating_mul(SECTOR_SIZE);
    let pm_len = match len.checked_sub(setup_size as u64) {
        Some(n) if n > 0 => n,
        _ => return Err(Error::NoProtectedMode { setup_size, len }),
    };
    // `syssize` counts 16-byte paragraphs of the protected-mode part (0 = unknown).
    let sys_len = u64::from(hdr.syssize.get()).saturating_mul(16);
    if sys_len > pm_len {
        return Err(Error::Truncated {
            need: (setup_size as u64).saturating_add(sys_len),
            len,
        });
    }

    let relocatable = hdr.relocatable_kernel != 0;
    let kernel_alignment = hdr.kernel_alignment.get();
    if relocatable
        && (!kernel_alignment.is_power_of_two() || kernel_alignment < MIN_KERNEL_ALIGNMENT)
    {
        return Err(Error::BadAlignment {
            alignment: kernel_alignment,
        });
    }
    let init_size = hdr.init_size.get();
    if init_size == 0 || u64::from(init_size) < pm_len {
        return Err(Error::BadInitSize { init_size, pm_len });
    }

    Ok(Kernel {
        version,
        setup_size,
        pm_offset: setup_size as u64,
        pm_len,
        kernel_alignment,
        pref_address: hdr.pref_address.get(),
        init_size: u64::from(init_size),
        cmdline_size: hdr.cmdline_size.get(),
        initrd_addr_max: hdr.initrd_addr_max.get(),
        relocatable,
        can_load_above_4g: xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G != 0,
        header_offset: SETUP_HEADER_OFFSET,
        // header_end ≥ MIN_HEADER_END > SETUP_HEADER_OFFSET.
        header_len: header_end.saturating_sub(SETUP_HEADER_OFFSET),
    })
}

/// Whether `[start, end)` lies inside one of the `free` `(start, end)` ranges.
fn inside_one(free: &[(u64, u64)], start: u64, end: u64) -> bool {
    free.iter().any(|&(s, e)| s <= start && end <= e)
}

/// Lowest `align`-aligned address ≥ `floor` such that `[addr, addr + size)` fits in one
/// free range ending at or below 4 GiB.
fn lowest_fit(free: &[(u64, u64)], floor: u64, align: u64, size: u64) -> Option<u64> {
    free.iter()
        .filter_map(|&(s, e)| {
            let end = e.min(LOAD_CEILING);
            let addr = align_up(s.max(floor), align)?;
            (addr.checked_add(size)? <= end).then_some(addr)
        })
        .min()
}

/// Rounds `v` up to a power of two `align`; `None` on overflow.
fn align_up(v: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    Some(v.checked_add(mask)? & !mask)
}

/// Chooses the load address of the protected-mode part given `free` RAM ranges as
/// `(start, end)` pairs (any order; each must be usable for the whole `init_size`).
///
/// `pref_address` wins when `[pref, align_up(pref, kernel_alignment) + init_size)` (the
/// span a relocatable kernel may use after realigning itself, linux-boot.md §2) lies inside
/// one free range below 4 GiB. Otherwise, for relocatable kernels only, the lowest
/// `kernel_alignment`-aligned address ≥ 16 MiB whose `[addr, addr + init_size)` fits one
/// free range below 4 GiB, then the same from 1 MiB. A non-relocatable kernel can only run
/// at `pref_address`. The 64-bit entry is the result + 0x200 ([`Kernel::entry_64`]).
pub fn plan_load(k: &Kernel, free: &[(u64, u64)]) -> Result<u64, Error> {
    let init_size = k.init_size;
    let no_room = Error::NoRoomForKernel { init_size };
    let align = u64::from(k.kernel_alignment);

    let pref = k.pref_address;
    let pref_base = if k.relocatable {
        align_up(pref, align)
    } else {
        Some(pref)
    };
    if let Some(end) = pref_base.and_then(|b| b.checked_add(init_size)) {
        if end <= LOAD_CEILING && inside_one(free, pref, end) {
            return Ok(pref);
        }
    }
    if !k.relocatable {
        return Err(no_room);
    }
    lowest_fit(free, LOAD_FLOOR_HIGH, align, init_size)
        .or_else(|| lowest_fit(free, LOAD_FLOOR_LOW, align, init_size))
        .ok_or(no_room)
}

/// Checks a command line buffer (e.g. the PayloadParam region): it must hold a NUL within
/// its first `cmdline_size + 1` bytes, and every byte before the NUL must be ASCII. Bytes
/// after the first NUL are ignored. Returns the length without the NUL.
pub fn validate_cmdline(cmdline: &[u8], k: &Kernel) -> Result<usize, Error> {
    let max = k.cmdline_size as usize;
    let nul = cmdline.iter().position(|&b| b == 0);
    let len = nul.unwrap_or(cmdline.len());
    if len > max {
        return Err(Error::CmdlineTooLong { len, max });
    }
    if nul.is_none() {
        return Err(Error::CmdlineNotTerminated { len });
    }
    let text = cmdline.get(..len).unwrap_or(&[]);
    if let Some(offset) = text.iter().position(|b| !b.is_ascii()) {
        return Err(Error::CmdlineNotAscii { offset });
    }
    Ok(len)
}

/// Checks that an initrd at `[addr, addr + size)` is reachable by the kernel: it must end at
/// or below `initrd_addr_max + 1` unless the kernel can be loaded above 4 GiB.
pub fn check_initrd(addr: u64, size: u64, k: &Kernel) -> Result<(), Error> {
    let end = addr
        .checked_add(size)
        .ok_or(Error::InitrdWraps { addr, size })?;
    if k.can_load_above_4g {
        return Ok(());
    }
    let max = u64::from(k.initrd_addr_max).saturating_add(1);
    if end > max {
        return Err(Error::InitrdTooHigh { end, max });
    }
    Ok(())
}

/// The zero page (`struct boot_params`, 4 KiB) under construction.
#[derive(Clone)]
pub struct BootParams {
    bytes: [u8; BOOT_PARAMS_SIZE],
}

impl BootParams {
    /// A zero page holding `header` (from [`Kernel::header_bytes`]) at 0x1F1. A longer
    /// header is cut at 0x290, where the zero page's header area ends.
    pub fn new(header: &[u8]) -> Self {
        let mut bytes = [0u8; BOOT_PARAMS_SIZE];
        let room = MAX_HEADER_END.saturating_sub(SETUP_HEADER_OFFSET);
        let n = header.len().min(room);
        if let (Some(dst), Some(src)) = (
            bytes.get_mut(SETUP_HEADER_OFFSET..SETUP_HEADER_OFFSET.saturating_add(n)),
            header.get(..n),
        ) {
            dst.copy_from_slice(src);
        }
        BootParams { bytes }
    }

    /// Writes `value` at a constant offset of this module (always inside the page).
    fn put<const N: usize>(&mut self, offset: usize, value: [u8; N]) {
        self.bytes
            .get_mut(offset..)
            .and_then(|s| s.get_mut(..N))
            .expect("zero-page field offsets are constants inside the 4 KiB page")
            .copy_from_slice(&value);
    }

    /// `type_of_loader` (0x210); use [`TYPE_OF_LOADER_UNDEFINED`].
    pub fn set_type_of_loader(&mut self, value: u8) {
        self.put(off::TYPE_OF_LOADER, [value]);
    }

    /// `cmd_line_ptr` (0x228, low 32 bits) and `ext_cmd_line_ptr` (0x0C8, high 32 bits).
    pub fn set_cmdline(&mut self, ptr: u64) {
        self.put(off::CMD_LINE_PTR, (ptr as u32).to_le_bytes());
        self.put(off::EXT_CMD_LINE_PTR, ((ptr >> 32) as u32).to_le_bytes());
    }

    /// `ramdisk_image`/`ramdisk_size` (0x218/0x21C) and their high halves (0x0C0/0x0C4).
    pub fn set_ramdisk(&mut self, addr: u64, size: u64) {
        self.put(off::RAMDISK_IMAGE, (addr as u32).to_le_bytes());
        self.put(off::RAMDISK_SIZE, (size as u32).to_le_bytes());
        self.put(off::EXT_RAMDISK_IMAGE, ((addr >> 32) as u32).to_le_bytes());
        self.put(off::EXT_RAMDISK_SIZE, ((size >> 32) as u32).to_le_bytes());
    }

    /// `acpi_rsdp_addr` (0x070, u64).
    pub fn set_acpi_rsdp(&mut self, addr: u64) {
        self.put(off::ACPI_RSDP_ADDR, addr.to_le_bytes());
    }

    /// `code32_start` (0x214): the 32-bit field holding the protected-mode load address.
    pub fn set_code32_start(&mut self, addr: u32) {
        self.put(off::CODE32_START, addr.to_le_bytes());
    }

    /// `setup_data` (0x250): physical address of the first `setup_data` node, 0 for none.
    pub fn set_setup_data(&mut self, ptr: u64) {
        self.put(off::SETUP_DATA, ptr.to_le_bytes());
    }

    /// `e820_table` (0x2D0, 20 bytes each) and `e820_entries` (0x1E8). Unused slots are
    /// zeroed. At most 128 entries.
    pub fn set_e820(&mut self, entries: &[e820::Entry]) -> Result<(), Error> {
        let count = entries.len();
        let count_u8 = u8::try_from(count)
            .ok()
            .filter(|_| count <= E820_MAX_ENTRIES)
            .ok_or(Error::TooManyE820 { count })?;
        let table = self
            .bytes
            .get_mut(off::E820_TABLE..)
            .and_then(|s| s.get_mut(..E820_MAX_ENTRIES.saturating_mul(e820::ENTRY_SIZE)))
            .expect("the e820 table is inside the zero page (const assert)");
        table.fill(0);
        let packed = e820::build(entries);
        if let Some(dst) = table.get_mut(..packed.len()) {
            dst.copy_from_slice(&packed);
        }
        self.put(off::E820_ENTRIES, [count_u8]);
        Ok(())
    }

    /// The finished page.
    pub fn as_bytes(&self) -> &[u8; BOOT_PARAMS_SIZE] {
        &self.bytes
    }

    /// Reads a little-endian u32 at `offset` (for tests and logging); `None` past the page.
    pub fn read_u32(&self, offset: usize) -> Option<u32> {
        let b = self.bytes.get(offset..)?.get(..4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// Reads a little-endian u64 at `offset`; `None` past the page.
    pub fn read_u64(&self, offset: usize) -> Option<u64> {
        let b = self.bytes.get(offset..)?.get(..8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

impl fmt::Debug for BootParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootParams").finish_non_exhaustive()
    }
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
    use alloc::vec::Vec;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    const PM_LEN: usize = 0x1000;

    /// Writes `val` little-endian at `o` (offsets spelled out from the boot protocol table,
    /// not taken from `off`, so a wrong constant in the module shows up here).
    fn put(b: &mut [u8], o: usize, val: &[u8]) {
        b[o..o + val.len()].copy_from_slice(val);
    }

    /// A synthetic bzImage: 4 setup sectors + boot sector (2560 bytes), then a 4 KiB
    /// protected-mode part filled with 0xCC, header fields written by hand.
    fn image() -> Vec<u8> {
        let setup = 5 * 512;
        let mut b = vec![0u8; setup + PM_LEN];
        b[setup..].fill(0xCC);
        b[0x1F1] = 4; // setup_sects
        put(&mut b, 0x1F4, &((PM_LEN / 16) as u32).to_le_bytes()); // syssize
        put(&mut b, 0x1FE, &[0x55, 0xAA]); // boot_flag
        put(&mut b, 0x200, &[0xEB, 0x6A]); // jmp to 0x26C
        put(&mut b, 0x202, b"HdrS");
        put(&mut b, 0x206, &0x020Fu16.to_le_bytes()); // version 2.15
        b[0x211] = 0x01; // loadflags: LOADED_HIGH
        put(&mut b, 0x22C, &0x7FFF_FFFFu32.to_le_bytes()); // initrd_addr_max
        put(&mut b, 0x230, &0x20_0000u32.to_le_bytes()); // kernel_alignment 2 MiB
        b[0x234] = 1; // relocatable_kernel
        put(&mut b, 0x236, &0x0001u16.to_le_bytes()); // xloadflags: KERNEL_64
        put(&mut b, 0x238, &2047u32.to_le_bytes()); // cmdline_size
        put(&mut b, 0x258, &0x100_0000u64.to_le_bytes()); // pref_address 16 MiB
        put(&mut b, 0x260, &0x40_0000u32.to_le_bytes()); // init_size 4 MiB
        b
    }

    fn with(f: impl FnOnce(&mut Vec<u8>)) -> Result<Kernel, Error> {
        let mut b = image();
        f(&mut b);
        parse(&b)
    }

    fn kernel() -> Kernel {
        parse(&image()).unwrap()
    }

    #[test]
    fn good_image_fields() {
        let img = image();
        let k = parse(&img).unwrap();
        assert_eq!(k.version, 0x020F);
        assert_eq!(k.setup_size, 2560);
        assert_eq!(k.pm_offset, 2560);
        assert_eq!(k.pm_len, PM_LEN as u64);
        assert_eq!(k.kernel_alignment, 0x20_0000);
        assert_eq!(k.pref_address, 0x100_0000);
        assert_eq!(k.init_size, 0x40_0000);
        assert_eq!(k.cmdline_size, 2047);
        assert_eq!(k.initrd_addr_max, 0x7FFF_FFFF);
        assert!(k.relocatable);
        assert!(!k.can_load_above_4g);
        assert_eq!(k.header_offset, 0x1F1);
        assert_eq!(k.header_len, 0x26C - 0x1F1);
        assert_eq!(k.header_bytes(&img), &img[0x1F1..0x26C]);
        assert_eq!(k.pm_bytes(&img), &img[2560..]);
        assert!(k.pm_bytes(&img).iter().all(|&b| b == 0xCC));
        assert_eq!(Kernel::entry_64(0x100_0000), Some(0x100_0200));
        assert_eq!(Kernel::entry_64(u64::MAX), None);
        // A different (short) file gives empty views, not a panic.
        assert!(k.header_bytes(&img[..0x200]).is_empty());
        assert!(k.pm_bytes(&img[..100]).is_empty());
    }

    #[test]
    fn header_magic_and_flags() {
        assert_eq!(
            with(|b| b[0x1FE] = 0x54),
            Err(Error::BadBootFlag { found: 0xAA54 })
        );
        assert_eq!(
            with(|b| put(b, 0x202, b"HdrT")),
            Err(Error::BadMagic { found: 0x5472_6448 })
        );
        assert_eq!(
            with(|b| put(b, 0x206, &0x020Bu16.to_le_bytes())),
            Err(Error::ProtocolTooOld { version: 0x020B })
        );
        assert!(with(|b| put(b, 0x206, &0x020Cu16.to_le_bytes())).is_ok());
        assert_eq!(
            with(|b| put(b, 0x236, &0xFFFEu16.to_le_bytes())),
            Err(Error::NotKernel64)
        );
        assert_eq!(with(|b| b[0x211] = 0xFE), Err(Error::NotLoadedHigh));
        let k = with(|b| put(b, 0x236, &0x0003u16.to_le_bytes())).unwrap();
        assert!(k.can_load_above_4g);
    }

    #[test]
    fn an_elf_vmlinux_is_named_as_such() {
        // ELF magic: refused by name, whether whole or as QEMU's setup part (the first 8 KiB).
        let mut elf = vec![0u8; 8192];
        elf[..4].copy_from_slice(b"\x7fELF");
        assert_eq!(parse(&elf), Err(Error::ElfKernel));
        assert_eq!(parse_parts(&elf, 1 << 20), Err(Error::ElfKernel));
        assert!(Error::ElfKernel.to_string().contains("vmlinux"));
        // Three magic bytes are not enough to be called an ELF file.
        elf[3] = b'F' ^ 0x20;
        assert_eq!(parse(&elf), Err(Error::BadBootFlag { found: 0 }));
    }

    #[test]
    fn header_span_limits() {
        // End = 0x202 + byte at 0x201, accepted in [0x264, 0x290].
        assert_eq!(
            with(|b| b[0x201] = 0x61),
            Err(Error::HeaderSpan { end: 0x263 })
        );
        assert_eq!(with(|b| b[0x201] = 0x62).unwrap().header_len, 0x264 - 0x1F1);
        assert_eq!(with(|b| b[0x201] = 0x8E).unwrap().header_len, 0x290 - 0x1F1);
        assert_eq!(
            with(|b| b[0x201] = 0x8F),
            Err(Error::HeaderSpan { end: 0x291 })
        );
        assert_eq!(
            with(|b| b[0x201] = 0xFF),
            Err(Error::HeaderSpan { end: 0x301 })
        );
    }

    #[test]
    fn setup_sects_and_sizes() {
        // setup_sects 0 means 4.
        let k = with(|b| b[0x1F1] = 0).unwrap();
        assert_eq!(k.setup_size, 2560);
        assert_eq!(k.pm_len, PM_LEN as u64);
        // 12 sectors + boot sector = 6656 = the whole file: nothing left.
        assert_eq!(
            with(|b| b[0x1F1] = 12),
            Err(Error::NoProtectedMode {
                setup_size: 6656,
                len: 6656
            })
        );
        assert_eq!(
            with(|b| b[0x1F1] = 255),
            Err(Error::NoProtectedMode {
                setup_size: 256 * 512,
                len: 6656
            })
        );
        // 11 sectors: 6144 of setup, 512 left; syssize must shrink with it.
        let k = with(|b| {
            b[0x1F1] = 11;
            put(b, 0x1F4, &32u32.to_le_bytes());
        })
        .unwrap();
        assert_eq!((k.setup_size, k.pm_offset, k.pm_len), (6144, 6144, 512));
        // syssize 0 = unknown: accepted.
        assert!(with(|b| put(b, 0x1F4, &0u32.to_le_bytes())).is_ok());
        // One paragraph more than the file holds.
        assert_eq!(
            with(|b| put(b, 0x1F4, &((PM_LEN / 16 + 1) as u32).to_le_bytes())),
            Err(Error::Truncated {
                need: 2560 + PM_LEN as u64 + 16,
                len: 6656
            })
        );
        // Huge syssize does not overflow.
        assert_eq!(
            with(|b| put(b, 0x1F4, &u32::MAX.to_le_bytes())),
            Err(Error::Truncated {
                need: 2560 + u64::from(u32::MAX) * 16,
                len: 6656
            })
        );
    }

    #[test]
    fn alignment_and_init_size() {
        for bad in [0u32, 1, 0x800, 0x3000, 0x20_0001, 0xFFFF_FFFF] {
            assert_eq!(
                with(|b| put(b, 0x230, &bad.to_le_bytes())),
                Err(Error::BadAlignment { alignment: bad }),
                "{bad:#x}"
            );
        }
        for good in [0x1000u32, 0x20_0000, 0x8000_0000] {
            assert_eq!(
                with(|b| put(b, 0x230, &good.to_le_bytes()))
                    .unwrap()
                    .kernel_alignment,
                good
            );
        }
        // Not relocatable: the alignment is not used, so not checked.
        let k = with(|b| {
            b[0x234] = 0;
            put(b, 0x230, &0u32.to_le_bytes());
        })
        .unwrap();
        assert!(!k.relocatable);

        assert_eq!(
            with(|b| put(b, 0x260, &0u32.to_le_bytes())),
            Err(Error::BadInitSize {
                init_size: 0,
                pm_len: PM_LEN as u64
            })
        );
        assert_eq!(
            with(|b| put(b, 0x260, &(PM_LEN as u32 - 1).to_le_bytes())),
            Err(Error::BadInitSize {
                init_size: PM_LEN as u32 - 1,
                pm_len: PM_LEN as u64
            })
        );
        assert!(with(|b| put(b, 0x260, &(PM_LEN as u32).to_le_bytes())).is_ok());
    }

    #[test]
    fn parse_parts_matches_whole_file() {
        let img = image();
        let whole = parse(&img).unwrap();
        assert_eq!(parse_parts(&img[..2560], PM_LEN as u64), Ok(whole));
        // The same rules apply to the pair.
        assert_eq!(
            parse_parts(&img[..2560], 0),
            Err(Error::NoProtectedMode {
                setup_size: 2560,
                len: 2560
            })
        );
        assert_eq!(
            parse_parts(&img[..2560], PM_LEN as u64 - 1),
            Err(Error::Truncated {
                need: 2560 + PM_LEN as u64,
                len: 2560 + PM_LEN as u64 - 1
            })
        );
        // A setup part that is not (setup_sects + 1) * 512 bytes.
        assert_eq!(
            parse_parts(&img[..2048], PM_LEN as u64 + 512),
            Err(Error::SetupSizeMismatch {
                setup_size: 2560,
                len: 2048
            })
        );
        assert_eq!(
            parse_parts(&img[..3072], PM_LEN as u64 - 512),
            Err(Error::SetupSizeMismatch {
                setup_size: 2560,
                len: 3072
            })
        );
        // A huge pm_len does not overflow.
        let e = parse_parts(&img[..2560], u64::MAX);
        assert!(matches!(e, Err(Error::BadInitSize { .. })), "{e:?}");
        for cut in 0..2560 {
            assert!(parse_parts(&img[..cut], PM_LEN as u64).is_err(), "{cut}");
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let img = image();
        assert!(parse(&img).is_ok());
        for cut in 0..img.len() {
            assert!(parse(&img[..cut]).is_err(), "prefix {cut}");
        }
        // Cuts inside the header report the header end as the need.
        assert_eq!(
            parse(&img[..0x263]),
            Err(Error::Truncated {
                need: 0x264,
                len: 0x263
            })
        );
        assert_eq!(
            parse(&img[..0x26B]),
            Err(Error::Truncated {
                need: 0x26C,
                len: 0x26B
            })
        );
        assert_eq!(
            parse(&img[..img.len() - 1]),
            Err(Error::Truncated {
                need: img.len() as u64,
                len: img.len() as u64 - 1
            })
        );
    }

    #[test]
    fn plan_load_prefers_pref_address() {
        let k = kernel(); // pref 16 MiB, init 4 MiB, align 2 MiB
        assert_eq!(plan_load(&k, &[(MIB, GIB)]), Ok(16 * MIB));
        // Exactly fitting range.
        assert_eq!(plan_load(&k, &[(16 * MIB, 20 * MIB)]), Ok(16 * MIB));
    }

    #[test]
    fn plan_load_pref_blocked_takes_aligned_alternative() {
        let k = kernel();
        // Pref range too short by one byte: next candidate is the range at 37 MiB,
        // aligned up to 38 MiB (2 MiB alignment).
        let free = [(16 * MIB, 20 * MIB - 1), (37 * MIB, 64 * MIB)];
        assert_eq!(plan_load(&k, &free), Ok(38 * MIB));
        // Order of ranges does not matter; the lowest wins.
        let free = [
            (100 * MIB, 200 * MIB),
            (37 * MIB, 64 * MIB),
            (MIB, 15 * MIB),
        ];
        assert_eq!(plan_load(&k, &free), Ok(38 * MIB));
        // Aligned-up start must leave init_size before the range end.
        let free = [(37 * MIB, 42 * MIB - 1), (50 * MIB + 1, 60 * MIB)];
        assert_eq!(plan_load(&k, &free), Ok(52 * MIB));
    }

    #[test]
    fn plan_load_alignment_honoured() {
        let mut k = kernel();
        k.pref_address = 0x200_0000; // 32 MiB: not free below
        k.kernel_alignment = 0x100_0000; // 16 MiB
        let free = [(17 * MIB, 100 * MIB)];
        let addr = plan_load(&k, &free).unwrap();
        assert_eq!(addr, 32 * MIB);
        assert_eq!(addr % u64::from(k.kernel_alignment), 0);
        // pref itself fits here.
        k.pref_address = 48 * MIB;
        assert_eq!(plan_load(&k, &free), Ok(48 * MIB));
        // An unaligned pref of a relocatable kernel needs room up to
        // align_up(pref) + init_size: 49 MiB → 64 MiB + 4 MiB.
        k.pref_address = 49 * MIB;
        assert_eq!(plan_load(&k, &[(49 * MIB, 68 * MIB)]), Ok(49 * MIB));
        assert_eq!(
            plan_load(&k, &[(49 * MIB, 68 * MIB - 1)]),
            Err(Error::NoRoomForKernel { init_size: 4 * MIB })
        );
    }

    #[test]
    fn plan_load_falls_back_below_16_mib() {
        let k = kernel();
        // Only RAM between 1 and 15 MiB: lowest 2 MiB-aligned address ≥ 1 MiB is 2 MiB.
        assert_eq!(plan_load(&k, &[(0, 15 * MIB)]), Ok(2 * MIB));
        // Nothing fits at all.
        assert_eq!(
            plan_load(&k, &[(0, 5 * MIB)]),
            Err(Error::NoRoomForKernel { init_size: 4 * MIB })
        );
        assert_eq!(
            plan_load(&k, &[]),
            Err(Error::NoRoomForKernel { init_size: 4 * MIB })
        );
    }

    #[test]
    fn plan_load_ignores_ram_above_4_gib() {
        let mut k = kernel();
        k.pref_address = 5 * GIB;
        let free = [(4 * GIB, 8 * GIB)];
        assert_eq!(
            plan_load(&k, &free),
            Err(Error::NoRoomForKernel { init_size: 4 * MIB })
        );
        // A range crossing 4 GiB is usable up to 4 GiB only.
        let free = [(4 * GIB - 5 * MIB, 8 * GIB)];
        assert_eq!(plan_load(&k, &free), Ok(4 * GIB - 4 * MIB));
        let free = [(4 * GIB - 3 * MIB, 8 * GIB)];
        assert!(plan_load(&k, &free).is_err());
    }

    #[test]
    fn plan_load_non_relocatable_only_at_pref() {
        let mut k = kernel();
        k.relocatable = false;
        assert_eq!(plan_load(&k, &[(MIB, GIB)]), Ok(16 * MIB));
        assert!(plan_load(&k, &[(MIB, 16 * MIB), (17 * MIB, GIB)]).is_err());
    }

    #[test]
    fn plan_load_hostile_values_do_not_overflow() {
        let mut k = kernel();
        k.pref_address = u64::MAX - 10;
        k.init_size = u64::from(u32::MAX);
        k.kernel_alignment = 0x8000_0000;
        // ~4 GiB of init_size cannot fit below 4 GiB above 1 MiB, whatever the ranges say.
        let no_room = Err(Error::NoRoomForKernel {
            init_size: u64::from(u32::MAX),
        });
        assert_eq!(plan_load(&k, &[(0, u64::MAX), (u64::MAX - 1, 3)]), no_room);
        assert_eq!(plan_load(&k, &[(u64::MAX - 0x1000, u64::MAX)]), no_room);
        // Alignment 2 GiB, 1 GiB kernel: only 2 GiB works.
        k.init_size = GIB;
        assert_eq!(plan_load(&k, &[(0, u64::MAX)]), Ok(2 * GIB));
        // Inverted ranges are ignored.
        assert_eq!(
            plan_load(&k, &[(3 * GIB, GIB)]),
            Err(Error::NoRoomForKernel { init_size: GIB })
        );
    }

    #[test]
    fn boot_params_offsets_match_spec_table() {
        let img = image();
        let k = parse(&img).unwrap();
        let mut bp = BootParams::new(k.header_bytes(&img));
        // The header lands at 0x1F1..0x26C, the rest is zero.
        let b = bp.as_bytes();
        assert_eq!(&b[0x1F1..0x26C], &img[0x1F1..0x26C]);
        assert!(b[..0x1F1].iter().all(|&x| x == 0));
        assert!(b[0x26C..].iter().all(|&x| x == 0));

        bp.set_type_of_loader(TYPE_OF_LOADER_UNDEFINED);
        bp.set_cmdline(0x1122_3344_5566_7788);
        bp.set_ramdisk(0xA1A2_A3A4_A5A6_A7A8, 0xB1B2_B3B4_B5B6_B7B8);
        bp.set_acpi_rsdp(0xC1C2_C3C4_C5C6_C7C8);
        bp.set_code32_start(0xD1D2_D3D4);
        bp.set_setup_data(0xE1E2_E3E4_E5E6_E7E8);
        let b = bp.as_bytes();
        assert_eq!(b[0x210], 0xFF);
        assert_eq!(&b[0x228..0x22C], &[0x88, 0x77, 0x66, 0x55]);
        assert_eq!(&b[0x0C8..0x0CC], &[0x44, 0x33, 0x22, 0x11]);
        assert_eq!(&b[0x218..0x21C], &[0xA8, 0xA7, 0xA6, 0xA5]);
        assert_eq!(&b[0x0C0..0x0C4], &[0xA4, 0xA3, 0xA2, 0xA1]);
        assert_eq!(&b[0x21C..0x220], &[0xB8, 0xB7, 0xB6, 0xB5]);
        assert_eq!(&b[0x0C4..0x0C8], &[0xB4, 0xB3, 0xB2, 0xB1]);
        assert_eq!(
            &b[0x070..0x078],
            &[0xC8, 0xC7, 0xC6, 0xC5, 0xC4, 0xC3, 0xC2, 0xC1]
        );
        assert_eq!(&b[0x214..0x218], &[0xD4, 0xD3, 0xD2, 0xD1]);
        assert_eq!(
            &b[0x250..0x258],
            &[0xE8, 0xE7, 0xE6, 0xE5, 0xE4, 0xE3, 0xE2, 0xE1]
        );
        // Fields copied from the file and not touched stay.
        assert_eq!(&b[0x202..0x206], b"HdrS");
        assert_eq!(&b[0x230..0x234], &0x20_0000u32.to_le_bytes());
        assert_eq!(&b[0x238..0x23C], &2047u32.to_le_bytes());
        assert_eq!(bp.read_u32(0x228), Some(0x5566_7788));
        assert_eq!(bp.read_u64(0x070), Some(0xC1C2_C3C4_C5C6_C7C8));
        assert_eq!(bp.read_u32(4093), None);
        assert_eq!(bp.read_u64(usize::MAX), None);
    }

    #[test]
    fn boot_params_header_is_capped() {
        let long = vec![0xAB; 0x200];
        let bp = BootParams::new(&long);
        let b = bp.as_bytes();
        assert!(b[0x1F1..0x290].iter().all(|&x| x == 0xAB));
        assert!(b[0x290..].iter().all(|&x| x == 0));
        assert!(BootParams::new(&[]).as_bytes().iter().all(|&x| x == 0));
    }

    #[test]
    fn boot_params_e820() {
        let mut bp = BootParams::new(&[]);
        let entries = [
            e820::Entry {
                addr: 0,
                size: 0x9_F000,
                kind: 1,
            },
            e820::Entry {
                addr: 0x1122_3344_5566_7788,
                size: 0x1000,
                kind: 3,
            },
        ];
        bp.set_e820(&entries).unwrap();
        let b = bp.as_bytes();
        assert_eq!(b[0x1E8], 2);
        // Entry 0 at 0x2D0: addr 0, size 0x9F000, type 1.
        assert_eq!(&b[0x2D0..0x2D8], &[0; 8]);
        assert_eq!(&b[0x2D8..0x2E0], &[0x00, 0xF0, 0x09, 0, 0, 0, 0, 0]);
        assert_eq!(&b[0x2E0..0x2E4], &[1, 0, 0, 0]);
        // Entry 1 at 0x2E4.
        assert_eq!(
            &b[0x2E4..0x2EC],
            &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        );
        assert_eq!(&b[0x2EC..0x2F4], &[0x00, 0x10, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[0x2F4..0x2F8], &[3, 0, 0, 0]);
        assert!(b[0x2F8..].iter().all(|&x| x == 0));

        // 128 entries fill the table exactly up to 0xCD0; a shorter second call clears it.
        let many = vec![entries[1]; 128];
        bp.set_e820(&many).unwrap();
        assert_eq!(bp.as_bytes()[0x1E8], 128);
        assert_eq!(&bp.as_bytes()[0xCBC..0xCC4], &entries[1].addr.to_le_bytes());
        assert!(bp.as_bytes()[0xCD0..].iter().all(|&x| x == 0));
        bp.set_e820(&entries[..1]).unwrap();
        assert_eq!(bp.as_bytes()[0x1E8], 1);
        assert!(bp.as_bytes()[0x2E4..0xCD0].iter().all(|&x| x == 0));

        let too_many = vec![entries[0]; 129];
        assert_eq!(
            bp.set_e820(&too_many),
            Err(Error::TooManyE820 { count: 129 })
        );
        let way_too_many = vec![entries[0]; 300];
        assert_eq!(
            bp.set_e820(&way_too_many),
            Err(Error::TooManyE820 { count: 300 })
        );
        // A refusal leaves the previous table.
        assert_eq!(bp.as_bytes()[0x1E8], 1);
    }

    #[test]
    fn cmdline_rules() {
        let mut k = kernel();
        k.cmdline_size = 8;
        assert_eq!(validate_cmdline(b"\0", &k), Ok(0));
        assert_eq!(validate_cmdline(b"quiet\0garbage\xFF", &k), Ok(5));
        assert_eq!(validate_cmdline(b"12345678\0", &k), Ok(8));
        assert_eq!(
            validate_cmdline(b"123456789\0", &k),
            Err(Error::CmdlineTooLong { len: 9, max: 8 })
        );
        assert_eq!(
            validate_cmdline(b"123456789", &k),
            Err(Error::CmdlineTooLong { len: 9, max: 8 })
        );
        assert_eq!(
            validate_cmdline(b"1234", &k),
            Err(Error::CmdlineNotTerminated { len: 4 })
        );
        assert_eq!(
            validate_cmdline(b"", &k),
            Err(Error::CmdlineNotTerminated { len: 0 })
        );
        assert_eq!(
            validate_cmdline(b"ab\xC3\xA9\0", &k),
            Err(Error::CmdlineNotAscii { offset: 2 })
        );
        // A 4 KiB region with a short line is fine.
        let mut region = vec![0u8; 4096];
        region[..15].copy_from_slice(b"console=ttyS0 x");
        assert_eq!(validate_cmdline(&region, &kernel()), Ok(15));
        region.fill(b'a');
        assert_eq!(
            validate_cmdline(&region, &kernel()),
            Err(Error::CmdlineTooLong {
                len: 4096,
                max: 2047
            })
        );
    }

    #[test]
    fn initrd_rules() {
        let k = kernel(); // initrd_addr_max 0x7FFFFFFF, not above 4G
        assert_eq!(check_initrd(0x7000_0000, 0x1000_0000, &k), Ok(()));
        assert_eq!(
            check_initrd(0x7000_0000, 0x1000_0001, &k),
            Err(Error::InitrdTooHigh {
                end: 0x8000_0001,
                max: 0x8000_0000
            })
        );
        assert_eq!(
            check_initrd(u64::MAX, 2, &k),
            Err(Error::InitrdWraps {
                addr: u64::MAX,
                size: 2
            })
        );
        let mut k64 = k;
        k64.can_load_above_4g = true;
        assert_eq!(check_initrd(0x1_0000_0000, 0x1000_0000, &k64), Ok(()));
        assert!(check_initrd(u64::MAX, 2, &k64).is_err());
        let mut kmax = k;
        kmax.initrd_addr_max = u32::MAX;
        assert_eq!(check_initrd(0xFFFF_F000, 0x1000, &kmax), Ok(()));
        assert!(check_initrd(0xFFFF_F000, 0x1001, &kmax).is_err());
    }

    #[test]
    fn errors_display() {
        let e = Error::ProtocolTooOld { version: 0x020B };
        assert_eq!(
            alloc::format!("{e}"),
            "bzimage boot protocol 2.11 is older than 2.12"
        );
        let e = Error::NoRoomForKernel { init_size: 0x1000 };
        assert_eq!(
            alloc::format!("{e}"),
            "no free ram below 4 GiB for a 0x1000-byte kernel"
        );
    }

    /// Parses a real Debian kernel when one is cached (`target/kernels/`) or installed.
    #[test]
    fn real_kernel_if_present() {
        extern crate std;
        let mut candidates: Vec<std::path::PathBuf> = Vec::new();
        let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kernels");
        for dir in [cache.as_path(), std::path::Path::new("/boot")] {
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with("vmlinuz-") {
                        candidates.push(e.path());
                    }
                }
            }
        }
        if candidates.is_empty() {
            std::eprintln!("no vmlinuz-* found in target/kernels or /boot; skipping");
            return;
        }
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else {
                std::eprintln!("{}: unreadable; skipping", path.display());
                continue;
            };
            let k = parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            std::eprintln!("{}: {k:x?}", path.display());
            assert!(k.version >= MIN_VERSION);
            assert!(k.relocatable);
            assert_eq!(k.header_offset + k.header_len, 0x26C);
            assert_eq!(k.pm_offset + k.pm_len, bytes.len() as u64);
            let setup = &bytes[..k.setup_size];
            assert_eq!(parse_parts(setup, k.pm_len), Ok(k));
            assert!(k.cmdline_size >= 255);
            let load = plan_load(&k, &[(MIB, 2 * GIB)]).unwrap();
            assert_eq!(load % u64::from(k.kernel_alignment), 0);
            let bp = BootParams::new(k.header_bytes(&bytes));
            assert_eq!(&bp.as_bytes()[0x1F1..0x26C], &bytes[0x1F1..0x26C]);
            assert_eq!(validate_cmdline(b"console=ttyS0\0", &k), Ok(13));
        }
    }
}
