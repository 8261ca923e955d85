// SPDX-License-Identifier: BSD-2-Clause-Patent
//! QEMU firmware configuration (fw_cfg) over I/O ports: selector 0x510, data 0x511, DMA
//! address 0x514/0x518. Bulk reads use DMA when the device offers it (byte-wise port reads
//! are slow under emulation); port reads otherwise. Every size and name it returns comes from
//! the VMM and is untrusted: the directory is parsed with bounds, and a file is read only
//! into a buffer of exactly its advertised size that the caller sized and bounded. In a TD the
//! device can only reach shared memory: DMA then goes through a bounce buffer the caller
//! shared ([`FwCfg::use_bounce_buffer`]) and takes back when it is done with the device
//! ([`FwCfg::into_bounce_buffer`]).

use super::{IoWidth, Platform};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{fence, Ordering};

const PORT_SELECTOR: u16 = 0x510;
const PORT_DATA: u16 = 0x511;
const PORT_DMA_HIGH: u16 = 0x514;
const PORT_DMA_LOW: u16 = 0x518;

/// Item keys.
pub const KEY_SIGNATURE: u16 = 0x0000;
pub const KEY_ID: u16 = 0x0001;
pub const KEY_NB_CPUS: u16 = 0x0005;
pub const KEY_KERNEL_ADDR: u16 = 0x0007;
pub const KEY_KERNEL_SIZE: u16 = 0x0008;
pub const KEY_INITRD_SIZE: u16 = 0x000b;
pub const KEY_KERNEL_DATA: u16 = 0x0011;
pub const KEY_INITRD_DATA: u16 = 0x0012;
pub const KEY_CMDLINE_SIZE: u16 = 0x0014;
pub const KEY_CMDLINE_DATA: u16 = 0x0015;
pub const KEY_SETUP_SIZE: u16 = 0x0017;
pub const KEY_SETUP_DATA: u16 = 0x0018;
pub const KEY_FILE_DIR: u16 = 0x0019;

const FEATURE_DMA: u32 = 1 << 1;
const DMA_CTL_ERROR: u32 = 0x01;
const DMA_CTL_READ: u32 = 0x02;
const DMA_CTL_SKIP: u32 = 0x04;
const DMA_CTL_SELECT: u32 = 0x08;
const DMA_CTL_WRITE: u32 = 0x10;

/// Size of one directory entry: u32 size, u16 select, u16 reserved, 56-byte name (all BE).
pub const DIR_ENTRY_SIZE: usize = 64;
/// Most directory entries we accept (QEMU has a few dozen).
pub const MAX_FILES: u32 = 4096;

/// Why fw_cfg could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Directory bytes shorter than its count says.
    DirectoryTruncated { count: u32 },
    /// Directory count beyond [`MAX_FILES`].
    TooManyFiles { count: u32 },
    /// A file's name is not NUL-terminated within 56 bytes or not UTF-8.
    BadName { index: u32 },
    /// A DMA transfer reported an error.
    Dma { select: u16 },
    /// The destination buffer does not match the file size.
    SizeMismatch {
        select: u16,
        size: u32,
        buffer: usize,
    },
    /// No file of that name.
    NotFound,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DirectoryTruncated { count } => {
                write!(f, "fw_cfg directory truncated ({count} entries claimed)")
            }
            Error::TooManyFiles { count } => {
                write!(f, "fw_cfg directory claims {count} files (max {MAX_FILES})")
            }
            Error::BadName { index } => write!(f, "fw_cfg file {index} has a malformed name"),
            Error::Dma { select } => write!(f, "fw_cfg dma read of item {select:#x} failed"),
            Error::SizeMismatch {
                select,
                size,
                buffer,
            } => {
                write!(
                    f,
                    "fw_cfg item {select:#x} has {size} bytes, buffer has {buffer}"
                )
            }
            Error::NotFound => f.write_str("fw_cfg file not found"),
        }
    }
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub name: alloc::string::String,
    pub select: u16,
    pub size: u32,
}

/// Parses the directory item: u32 BE count, then `count` 64-byte entries.
pub fn parse_directory(bytes: &[u8]) -> Result<Vec<File>, Error> {
    let count_bytes: [u8; 4] = bytes
        .get(0..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::DirectoryTruncated { count: 0 })?;
    let count = u32::from_be_bytes(count_bytes);
    if count > MAX_FILES {
        return Err(Error::TooManyFiles { count });
    }
    let mut files = Vec::new();
    for index in 0..count {
        let off = 4 + index as usize * DIR_ENTRY_SIZE;
        let e = bytes
            .get(off..off + DIR_ENTRY_SIZE)
            .ok_or(Error::DirectoryTruncated { count })?;
        let size = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        let select = u16::from_be_bytes([e[4], e[5]]);
        let raw_name = &e[8..];
        let len = raw_name
            .iter()
            .position(|&c| c == 0)
            .ok_or(Error::BadName { index })?;
        let name = core::str::from_utf8(&raw_name[..len]).map_err(|_| Error::BadName { index })?;
        files.push(File {
            name: name.into(),
            select,
            size,
        });
    }
    Ok(files)
}

/// An fw_cfg device that answered with the "QEMU" signature.
pub struct FwCfg<'p> {
    platform: &'p dyn Platform,
    dma: bool,
    files: Vec<File>,
    bounce: Option<Bounce>,
}

/// A DMA buffer the host can see (shared memory in a TD): the request block sits in its
/// first 64 bytes, data goes through the rest and is copied to its destination.
#[derive(Clone, Copy, Debug)]
struct Bounce {
    addr: u64,
    len: u64,
    /// OR-ed into addresses given to the device (the TD shared bit).
    mask: u64,
}

const BOUNCE_HEADER: u64 = 64;

#[repr(C)]
struct DmaAccess {
    control: u32,
    length: u32,
    address: u64,
}

impl<'p> FwCfg<'p> {
    /// Looks for the device; `Ok(None)` when nothing answers with the signature.
    pub fn probe(platform: &'p dyn Platform) -> Result<Option<Self>, Error> {
        let mut sig = [0u8; 4];
        let mut dev = FwCfg {
            platform,
            dma: false,
            files: Vec::new(),
            bounce: None,
        };
        dev.select(KEY_SIGNATURE);
        dev.read_port(&mut sig);
        if &sig != b"QEMU" {
            return Ok(None);
        }
        let mut id = [0u8; 4];
        dev.select(KEY_ID);
        dev.read_port(&mut id);
        dev.dma = u32::from_le_bytes(id) & FEATURE_DMA != 0;
        let mut count = [0u8; 4];
        dev.select(KEY_FILE_DIR);
        dev.read_port(&mut count);
        let n = u32::from_be_bytes(count);
        if n > MAX_FILES {
            return Err(Error::TooManyFiles { count: n });
        }
        let mut dir = alloc::vec![0u8; 4 + n as usize * DIR_ENTRY_SIZE];
        // Port I/O: DMA may need a bounce buffer (in a TD) that is not set up yet.
        dev.select(KEY_FILE_DIR);
        dev.read_port(&mut dir);
        dev.files = parse_directory(&dir)?;
        Ok(Some(dev))
    }

    /// Routes DMA through `[addr, addr + len)`, which the host can access at `addr | mask`
    /// (needed in a TD, where the device cannot write private memory).
    ///
    /// # Safety
    /// The range must be identity-mapped RAM shared with the host, used by nothing else, for
    /// as long as this device is used.
    pub unsafe fn use_bounce_buffer(&mut self, addr: u64, len: u64, mask: u64) {
        if len > BOUNCE_HEADER {
            self.bounce = Some(Bounce { addr, len, mask });
        }
    }

    /// Ends the use of this device and returns its bounce buffer `(addr, len)`, if it had
    /// one, for the caller to give back (in a TD: make it private again). Taking the device by
    /// value makes every later fw_cfg access a compile error.
    pub fn into_bounce_buffer(self) -> Option<(u64, u64)> {
        self.bounce.map(|b| (b.addr, b.len))
    }

    /// The platform this device is reached through.
    pub fn platform(&self) -> &'p dyn Platform {
        self.platform
    }

    /// Whether DMA is used for bulk reads.
    pub fn has_dma(&self) -> bool {
        self.dma
    }

    /// The directory.
    pub fn files(&self) -> &[File] {
        &self.files
    }

    /// Looks a file up by name.
    pub fn find(&self, name: &str) -> Option<&File> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Reads a whole file; `dest` must be exactly its size.
    pub fn read_file(&self, file: &File, dest: &mut [u8]) -> Result<(), Error> {
        if dest.len() != file.size as usize {
            return Err(Error::SizeMismatch {
                select: file.select,
                size: file.size,
                buffer: dest.len(),
            });
        }
        self.read_item(file.select, dest)
    }

    /// Reads a small fixed item (e.g. [`KEY_NB_CPUS`]) into `dest` by port I/O.
    pub fn read_small(&self, key: u16, dest: &mut [u8]) {
        self.select(key);
        self.read_port(dest);
    }

    /// Reads a little-endian u32 item (the `*_SIZE` keys).
    pub fn read_u32(&self, key: u16) -> u32 {
        let mut b = [0u8; 4];
        self.read_small(key, &mut b);
        u32::from_le_bytes(b)
    }

    /// Reads the first `dest.len()` bytes of item `key` (DMA when available). The caller
    /// sized `dest` from the item's advertised size and checked it against its destination.
    pub fn read_item_into(&self, key: u16, dest: &mut [u8]) -> Result<(), Error> {
        self.read_item(key, dest)
    }

    /// Writes `bytes` into file `file` at `offset` (QEMU's WRITE_POINTER targets). Needs DMA.
    pub fn write_file(&self, file: &File, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        let end = u64::from(offset) + bytes.len() as u64;
        if !self.dma || end > u64::from(file.size) {
            return Err(Error::SizeMismatch {
                select: file.select,
                size: file.size,
                buffer: end as usize,
            });
        }
        let mut buf = [0u8; 8];
        let len = bytes.len().min(8);
        buf[..len].copy_from_slice(&bytes[..len]);
        let skip_control = (DMA_CTL_SELECT | DMA_CTL_SKIP | (u32::from(file.select) << 16)).to_be();
        if let Some(b) = self.bounce {
            // In a TD the device reaches only shared memory: request block and data both go
            // through the bounce buffer.
            // SAFETY: the bounce buffer is ours and shared (see `use_bounce_buffer`).
            let (access, data) = unsafe {
                (
                    &mut *(b.addr as *mut DmaAccess),
                    core::slice::from_raw_parts_mut((b.addr + BOUNCE_HEADER) as *mut u8, 8),
                )
            };
            *access = DmaAccess {
                control: skip_control,
                length: offset.to_be(),
                address: 0,
            };
            self.dma_transfer_at(access, b.addr | b.mask, file.select)?;
            data.copy_from_slice(&buf);
            *access = DmaAccess {
                control: DMA_CTL_WRITE.to_be(),
                length: (len as u32).to_be(),
                address: ((b.addr + BOUNCE_HEADER) | b.mask).to_be(),
            };
            return self.dma_transfer_at(access, b.addr | b.mask, file.select);
        }
        let skip = DmaAccess {
            control: skip_control,
            length: offset.to_be(),
            address: 0,
        };
        self.dma_transfer(&skip, file.select)?;
        let write = DmaAccess {
            control: DMA_CTL_WRITE.to_be(),
            length: (len as u32).to_be(),
            address: (buf.as_ptr() as u64).to_be(),
        };
        self.dma_transfer(&write, file.select)
    }

    /// DMA through the shared bounce buffer, then copy to `dest`.
    fn read_item_bounced(&self, key: u16, dest: &mut [u8], b: Bounce) -> Result<(), Error> {
        let room = (b.len - BOUNCE_HEADER) as usize;
        let mut first = true;
        for chunk in dest.chunks_mut(room) {
            let mut control = DMA_CTL_READ;
            if first {
                control |= DMA_CTL_SELECT | (u32::from(key) << 16);
                first = false;
            }
            // SAFETY: the bounce buffer is ours and shared (see `use_bounce_buffer`); its first
            // 64 bytes hold the request, the rest the data.
            let access = unsafe { &mut *(b.addr as *mut DmaAccess) };
            *access = DmaAccess {
                control: control.to_be(),
                length: (chunk.len() as u32).to_be(),
                address: ((b.addr + BOUNCE_HEADER) | b.mask).to_be(),
            };
            self.dma_transfer_at(access, b.addr | b.mask, key)?;
            // SAFETY: as above; the device finished writing `chunk.len()` bytes there.
            let data = unsafe {
                core::slice::from_raw_parts((b.addr + BOUNCE_HEADER) as *const u8, chunk.len())
            };
            chunk.copy_from_slice(data);
        }
        Ok(())
    }

    /// Starts one DMA request and waits for the device to finish it.
    fn dma_transfer(&self, access: &DmaAccess, select: u16) -> Result<(), Error> {
        self.dma_transfer_at(access, access as *const DmaAccess as u64, select)
    }

    /// As `dma_transfer`, telling the device the request block is at `addr`.
    fn dma_transfer_at(&self, access: &DmaAccess, addr: u64, select: u16) -> Result<(), Error> {
        fence(Ordering::SeqCst);
        // SAFETY: the DMA registers take the physical address of `access` (the firmware runs
        // identity-mapped); the device touches only the buffer `access` names and
        // `access.control`, all of which outlive this call, which waits for completion.
        unsafe {
            self.platform
                .io_write(PORT_DMA_HIGH, IoWidth::Dword, ((addr >> 32) as u32).to_be());
            self.platform
                .io_write(PORT_DMA_LOW, IoWidth::Dword, (addr as u32).to_be());
        }
        loop {
            // SAFETY: `access` is live; the device updates `control` behind the compiler's
            // back, hence the volatile read.
            let ctl = u32::from_be(unsafe { core::ptr::read_volatile(&access.control) });
            if ctl & DMA_CTL_ERROR != 0 {
                return Err(Error::Dma { select });
            }
            if ctl == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        fence(Ordering::SeqCst);
        Ok(())
    }

    fn select(&self, key: u16) {
        // SAFETY: 0x510 is the fw_cfg selector register; selecting an item has no other effect.
        unsafe {
            self.platform
                .io_write(PORT_SELECTOR, IoWidth::Word, u32::from(key))
        };
    }

    fn read_port(&self, dest: &mut [u8]) {
        for b in dest.iter_mut() {
            // SAFETY: 0x511 is the fw_cfg data register; reading advances within the item.
            *b = unsafe { self.platform.io_read(PORT_DATA, IoWidth::Byte) } as u8;
        }
    }

    /// Reads item `key` from its start into `dest` (DMA when available).
    fn read_item(&self, key: u16, dest: &mut [u8]) -> Result<(), Error> {
        if !self.dma {
            self.select(key);
            self.read_port(dest);
            return Ok(());
        }
        if let Some(b) = self.bounce {
            return self.read_item_bounced(key, dest, b);
        }
        // Transfers are bounded to u32 per request; larger reads continue without re-selecting.
        let mut first = true;
        for chunk in dest.chunks_mut(0x4000_0000) {
            let mut control = DMA_CTL_READ;
            if first {
                control |= DMA_CTL_SELECT | (u32::from(key) << 16);
                first = false;
            }
            let access = DmaAccess {
                control: control.to_be(),
                length: (chunk.len() as u32).to_be(),
                address: (chunk.as_mut_ptr() as u64).to_be(),
            };
            self.dma_transfer(&access, key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u32, select: u16, name: &str) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(&size.to_be_bytes());
        e.extend_from_slice(&select.to_be_bytes());
        e.extend_from_slice(&[0, 0]);
        let mut n = [0u8; 56];
        n[..name.len()].copy_from_slice(name.as_bytes());
        e.extend_from_slice(&n);
        e
    }

    #[test]
    fn parses_directory() {
        let mut d = 2u32.to_be_bytes().to_vec();
        d.extend(entry(40, 0x20, "etc/e820"));
        d.extend(entry(7, 0x21, "opt/x"));
        let files = parse_directory(&d).unwrap();
        assert_eq!(
            files,
            [
                File {
                    name: "etc/e820".into(),
                    select: 0x20,
                    size: 40
                },
                File {
                    name: "opt/x".into(),
                    select: 0x21,
                    size: 7
                },
            ]
        );
    }

    #[test]
    fn hostile_directories() {
        assert_eq!(
            parse_directory(&[]),
            Err(Error::DirectoryTruncated { count: 0 })
        );
        let mut d = 2u32.to_be_bytes().to_vec();
        d.extend(entry(40, 0x20, "etc/e820"));
        assert_eq!(
            parse_directory(&d),
            Err(Error::DirectoryTruncated { count: 2 })
        );
        let d = u32::MAX.to_be_bytes().to_vec();
        assert_eq!(
            parse_directory(&d),
            Err(Error::TooManyFiles { count: u32::MAX })
        );
        let mut d = 1u32.to_be_bytes().to_vec();
        let mut e = entry(1, 1, "");
        e[8..].fill(b'a'); // no NUL terminator
        d.extend(e);
        assert_eq!(parse_directory(&d), Err(Error::BadName { index: 0 }));
        let mut d = 1u32.to_be_bytes().to_vec();
        let mut e = entry(1, 1, "x");
        e[8] = 0xFF; // not UTF-8
        d.extend(e);
        assert_eq!(parse_directory(&d), Err(Error::BadName { index: 0 }));
        // every truncation of a valid directory is refused, never a panic
        let mut d = 2u32.to_be_bytes().to_vec();
        d.extend(entry(40, 0x20, "etc/e820"));
        d.extend(entry(7, 0x21, "opt/x"));
        for len in 0..d.len() {
            assert!(parse_directory(&d[..len]).is_err(), "prefix {len}");
        }
    }
}
