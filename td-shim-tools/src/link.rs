// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The image linker behind `td-shim-ld`: reset vector + shim ELF (+ optional payload) →
//! final TDVF-format image, laid out as `td_shim::layout` says
//! (`../shared/spec/image-layout.md` §2–§5, `../shared/spec/metadata.md`).
//!
//! Steps: check sizes; relocate the shim PIE for [`SHIM_RUN_BASE`] into a flat memory image
//! (BSS included as zeros) and wrap it in the IPL FV; wrap the payload in the payload FV;
//! build an empty CFV; write the metadata (BFV, CFV, one TempMem per early region, TD_HOB);
//! write the image tail (`entry_offset`, `ipl_base`, `ipl_size`, OVMF table, legacy
//! pointer); finally parse the result back and validate it. All inputs are untrusted files:
//! every refusal is a [`LinkError`] naming the region and the sizes involved.

use std::fmt;
use td_shim::format::{fv, metadata};
use td_shim::layout::{
    image_base, payload_size, CFV_SIZE, IMAGE_SIZE_ALIGN, IMAGE_TOP_SIZE, IPL_BASE, IPL_SIZE,
    MAILBOX_BASE, MAILBOX_SIZE, MAX_IMAGE_SIZE, METADATA_SIZE, MIN_IMAGE_SIZE, PAYLOAD_OFFSET,
    RESET_VECTOR_SIZE, SHIM_RUN_BASE, SHIM_RUN_SIZE, TAIL_ENTRY_OFFSET, TAIL_IPL_BASE,
    TAIL_IPL_SIZE, TAIL_LEGACY_METADATA_PTR, TD_HOB_BASE, TD_HOB_SIZE, TEMP_HEAP_BASE,
    TEMP_HEAP_SIZE, TEMP_STACK_BASE, TEMP_STACK_SIZE,
};
use td_shim::loader::elf;

/// What to link.
#[derive(Clone, Debug)]
pub struct LinkInput {
    /// The assembled reset vector, exactly [`RESET_VECTOR_SIZE`] bytes, with the linker's
    /// tail fields `[size − 0x54, size − 0x1C)` left zero.
    pub reset_vector: Vec<u8>,
    /// The firmware ELF (a PIE linked at 0, `x86_64-unknown-none`).
    pub shim_elf: Vec<u8>,
    /// Optional built-in payload (ELF, PE or any blob) for the payload FV.
    pub payload: Option<Vec<u8>>,
    /// Extra RAW files placed after the payload in the payload FV (an embedded kernel's
    /// initrd and command line: `fv::PAYLOAD_INITRD_FILE_NAME`, `PAYLOAD_CMDLINE_FILE_NAME`).
    pub payload_files: Vec<(td_shim::format::guid::Guid, Vec<u8>)>,
    /// Add Payload/PayloadParam metadata sections for a VMM that loads the kernel itself.
    pub td_payload_sections: bool,
    /// Size of the final image in bytes.
    pub image_size: u64,
}

/// One region of the output image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: &'static str,
    pub offset: u64,
    pub gpa: u64,
    pub size: u64,
}

/// What was linked, for printing and for callers that want the numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub image_size: u64,
    pub image_base: u64,
    /// Image regions from offset 0 upward.
    pub regions: Vec<Region>,
    /// GPA of the shim entry point once the reset vector has copied it to SHIM_RUN_BASE.
    pub shim_entry: u64,
    /// Tail field: entry − SHIM_RUN_BASE.
    pub entry_offset: u32,
    /// Tail field: GPA of the shim memory image inside the IPL FV.
    pub ipl_base: u32,
    /// Tail field: bytes the reset vector copies (the shim memory image, BSS included).
    pub ipl_size: u32,
    /// R_X86_64_RELATIVE relocations applied to the shim.
    pub shim_relocations: usize,
    /// Payload bytes embedded, if any.
    pub payload_size: Option<u64>,
    /// Image offset of the TDVF descriptor.
    pub descriptor_offset: u64,
    /// The metadata sections written, in order.
    pub sections: Vec<metadata::Section>,
}

/// The linked image and its summary.
#[derive(Clone, Debug)]
pub struct LinkOutput {
    pub image: Vec<u8>,
    pub summary: Summary,
}

/// Why an image could not be linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The image size is not a multiple of [`IMAGE_SIZE_ALIGN`].
    ImageSizeUnaligned { size: u64 },
    /// The image size is outside [`MIN_IMAGE_SIZE`, `MAX_IMAGE_SIZE`].
    ImageSizeOutOfRange { size: u64 },
    /// The reset vector is not exactly [`RESET_VECTOR_SIZE`] bytes.
    ResetVectorSize { size: u64 },
    /// The reset vector has non-zero bytes where the linker writes the tail fields.
    ResetVectorTailNotZero { offset_from_end: u64 },
    /// The shim ELF was refused by the loader.
    ShimElf(elf::Error),
    /// The shim is an ET_EXEC; it must be a PIE (it is relocated to SHIM_RUN_BASE).
    ShimNotPie,
    /// The shim PIE is not linked at address 0.
    ShimNotLinkedAtZero { mem_start: u64 },
    /// The shim memory image does not fit a region.
    ShimTooLarge {
        size: u64,
        region: &'static str,
        region_size: u64,
    },
    /// The payload is empty.
    PayloadEmpty,
    /// The payload does not fit the payload region.
    PayloadTooLarge {
        size: u64,
        region_size: u64,
        image_size: u64,
    },
    /// A firmware-volume builder refused its input.
    Fv {
        region: &'static str,
        size: u64,
        region_size: u64,
        error: fv::Error,
    },
    /// The metadata could not be written or does not validate.
    Metadata(metadata::Error),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LinkError::ImageSizeUnaligned { size } => write!(
                f,
                "image size {size:#x} is not a multiple of {IMAGE_SIZE_ALIGN:#x} (QEMU loads -bios files in 64 KiB units)"
            ),
            LinkError::ImageSizeOutOfRange { size } => write!(
                f,
                "image size {size:#x} is outside the supported range [{MIN_IMAGE_SIZE:#x}, {MAX_IMAGE_SIZE:#x}]"
            ),
            LinkError::ResetVectorSize { size } => write!(
                f,
                "reset vector is {size:#x} bytes; it must be exactly {RESET_VECTOR_SIZE:#x} bytes"
            ),
            LinkError::ResetVectorTailNotZero { offset_from_end } => write!(
                f,
                "reset vector byte at end - {offset_from_end:#x} is not zero: bytes [end - {TAIL_ENTRY_OFFSET:#x}, \
                 end - 0x1c) are reserved for the linker (not a td-shim reset vector?)"
            ),
            LinkError::ShimElf(e) => write!(f, "shim ELF: {e}"),
            LinkError::ShimNotPie => {
                f.write_str("shim ELF is ET_EXEC; it must be a position-independent executable (ET_DYN)")
            }
            LinkError::ShimNotLinkedAtZero { mem_start } => {
                write!(f, "shim ELF is linked at {mem_start:#x}; it must be linked at 0")
            }
            LinkError::ShimTooLarge { size, region, region_size } => write!(
                f,
                "shim memory image ({size} bytes, {size:#x}) does not fit the {region} ({region_size:#x} bytes)"
            ),
            LinkError::PayloadEmpty => f.write_str("payload file is empty"),
            LinkError::PayloadTooLarge { size, region_size, image_size } => write!(
                f,
                "payload ({size} bytes) does not fit the payload region ({region_size:#x} bytes, \
                 {PAYLOAD_FV_OVERHEAD} of them FV headers) of a {image_size:#x}-byte image"
            ),
            LinkError::Fv { region, size, region_size, error } => {
                write!(f, "{region} ({size} bytes) could not be built in {region_size:#x} bytes: {error}")
            }
            LinkError::Metadata(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Bytes the payload FV puts before the payload: FV header blob (0x78) + FFS file header
/// (24) + PE32 section header (4).
pub const PAYLOAD_FV_OVERHEAD: u64 = 0x78 + 24 + 4;

/// Room for the shim memory image inside the IPL region: the region minus what the IPL FV
/// puts before it ([`fv::IPL_IMAGE_OFFSET`]) and the reset-vector file header at its end
/// ([`fv::RESET_VECTOR_FILE_PREFIX`]); the PE32 section fills exactly the space between.
pub const IPL_IMAGE_CAPACITY: u64 =
    IPL_SIZE - fv::IPL_IMAGE_OFFSET as u64 - fv::RESET_VECTOR_FILE_PREFIX as u64;

/// Start of the tail bytes the linker owns, from the end (entry_offset).
const TAIL_LINKER_START: u64 = TAIL_ENTRY_OFFSET;
/// End of the tail bytes the linker owns, from the end (just past the legacy pointer).
const TAIL_LINKER_END: u64 = TAIL_LEGACY_METADATA_PTR - 4;

/// Checks an image size against the layout rules.
pub fn check_image_size(size: u64) -> Result<(), LinkError> {
    if !size.is_multiple_of(IMAGE_SIZE_ALIGN) {
        return Err(LinkError::ImageSizeUnaligned { size });
    }
    if !(MIN_IMAGE_SIZE..=MAX_IMAGE_SIZE).contains(&size) {
        return Err(LinkError::ImageSizeOutOfRange { size });
    }
    Ok(())
}

/// The metadata sections for an image of `image_size` bytes (`payload`: whether a payload
/// FV is embedded, which puts the payload region inside the BFV). `image_size` must have
/// passed [`check_image_size`].
pub fn sections(image_size: u64, payload: bool) -> Vec<metadata::Section> {
    sections_with(image_size, payload, false)
}

/// [`sections`], plus (with `td_payload`) a Payload and a PayloadParam section at
/// `TD_PAYLOAD_BASE` / `TD_PAYLOAD_PARAM_BASE`, into which a VMM loads a kernel and its
/// command line (cloud-hypervisor style; QEMU refuses these section types).
pub fn sections_with(image_size: u64, payload: bool, td_payload: bool) -> Vec<metadata::Section> {
    let base = image_base(image_size);
    let bfv_offset = if payload {
        PAYLOAD_OFFSET
    } else {
        image_size - IMAGE_TOP_SIZE
    };
    let bfv_size = image_size - bfv_offset;
    let temp = |gpa: u64, size: u64| metadata::Section {
        data_offset: 0,
        raw_data_size: 0,
        memory_address: gpa,
        memory_data_size: size,
        section_type: metadata::SectionType::TempMem as u32,
        attributes: 0,
    };
    vec![
        metadata::Section {
            data_offset: bfv_offset as u32,
            raw_data_size: bfv_size as u32,
            memory_address: base + bfv_offset,
            memory_data_size: bfv_size,
            section_type: metadata::SectionType::Bfv as u32,
            attributes: metadata::ATTR_MR_EXTEND,
        },
        metadata::Section {
            data_offset: 0,
            raw_data_size: CFV_SIZE as u32,
            memory_address: base,
            memory_data_size: CFV_SIZE,
            section_type: metadata::SectionType::Cfv as u32,
            attributes: 0,
        },
        temp(SHIM_RUN_BASE, SHIM_RUN_SIZE),
        temp(TEMP_STACK_BASE, TEMP_STACK_SIZE),
        temp(TEMP_HEAP_BASE, TEMP_HEAP_SIZE),
        temp(MAILBOX_BASE, MAILBOX_SIZE),
        metadata::Section {
            data_offset: 0,
            raw_data_size: 0,
            memory_address: TD_HOB_BASE,
            memory_data_size: TD_HOB_SIZE,
            section_type: metadata::SectionType::TdHob as u32,
            attributes: 0,
        },
    ]
    .into_iter()
    .chain(if td_payload {
        vec![
            metadata::Section {
                data_offset: 0,
                raw_data_size: 0,
                memory_address: td_shim::layout::TD_PAYLOAD_BASE,
                memory_data_size: td_shim::layout::TD_PAYLOAD_SIZE,
                section_type: metadata::SectionType::Payload as u32,
                attributes: 0,
            },
            metadata::Section {
                data_offset: 0,
                raw_data_size: 0,
                memory_address: td_shim::layout::TD_PAYLOAD_PARAM_BASE,
                memory_data_size: td_shim::layout::TD_PAYLOAD_PARAM_SIZE,
                section_type: metadata::SectionType::PayloadParam as u32,
                attributes: 0,
            },
        ]
    } else {
        Vec::new()
    })
    .collect()
}

/// Relocates the shim for [`SHIM_RUN_BASE`]: returns (memory image, entry GPA, relocations).
pub fn shim_memory_image(shim_elf: &[u8]) -> Result<(Vec<u8>, u64, usize), LinkError> {
    let info = elf::parse(shim_elf).map_err(LinkError::ShimElf)?;
    if info.kind != elf::Kind::Pie {
        return Err(LinkError::ShimNotPie);
    }
    if info.mem_start != 0 {
        return Err(LinkError::ShimNotLinkedAtZero {
            mem_start: info.mem_start,
        });
    }
    let size = info.mem_end;
    for (region, region_size) in [
        ("shim run region", SHIM_RUN_SIZE),
        ("IPL FV", IPL_IMAGE_CAPACITY),
    ] {
        if size > region_size {
            return Err(LinkError::ShimTooLarge {
                size,
                region,
                region_size,
            });
        }
    }
    let mut image = vec![0u8; size as usize];
    let entry =
        elf::load(shim_elf, &info, SHIM_RUN_BASE, &mut image).map_err(LinkError::ShimElf)?;
    Ok((image, entry, info.relocations))
}

fn put(image: &mut [u8], offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    image[start..start + bytes.len()].copy_from_slice(bytes);
}

/// Links an image. See the module documentation for the steps.
pub fn link(input: &LinkInput) -> Result<LinkOutput, LinkError> {
    let size = input.image_size;
    check_image_size(size)?;
    let base = image_base(size);

    // Reset vector: exact size, linker-owned tail bytes zero.
    let rv = &input.reset_vector;
    if rv.len() as u64 != RESET_VECTOR_SIZE {
        return Err(LinkError::ResetVectorSize {
            size: rv.len() as u64,
        });
    }
    for from_end in (TAIL_LINKER_END + 1..=TAIL_LINKER_START).rev() {
        if rv[rv.len() - from_end as usize] != 0 {
            return Err(LinkError::ResetVectorTailNotZero {
                offset_from_end: from_end,
            });
        }
    }

    // Payload (checked before the shim so that the cheap refusal comes first).
    let payload_region = payload_size(size);
    if let Some(p) = &input.payload {
        if p.is_empty() {
            return Err(LinkError::PayloadEmpty);
        }
        if p.len() as u64 > payload_region - PAYLOAD_FV_OVERHEAD {
            return Err(LinkError::PayloadTooLarge {
                size: p.len() as u64,
                region_size: payload_region,
                image_size: size,
            });
        }
    }

    let (shim_image, shim_entry, shim_relocations) = shim_memory_image(&input.shim_elf)?;
    let ipl_fv = fv::build_ipl_fv(&shim_image, IPL_SIZE as usize, RESET_VECTOR_SIZE as usize)
        .map_err(|error| LinkError::Fv {
            region: "IPL FV (shim memory image)",
            size: shim_image.len() as u64,
            region_size: IPL_SIZE,
            error,
        })?;
    let cfv = fv::build_cfv(&[], CFV_SIZE as usize).map_err(|error| LinkError::Fv {
        region: "configuration FV",
        size: 0,
        region_size: CFV_SIZE,
        error,
    })?;

    let metadata_offset = size - IMAGE_TOP_SIZE;
    let ipl_offset = IPL_BASE - base;
    let rv_offset = size - RESET_VECTOR_SIZE;
    let descriptor_offset = metadata_offset + 16;
    let sections = sections_with(size, input.payload.is_some(), input.td_payload_sections);
    let md = metadata::build(&sections);
    assert!(
        md.len() as u64 <= METADATA_SIZE,
        "seven sections always fit the metadata page"
    );

    let mut image = vec![0u8; size as usize];
    let mut regions = vec![Region {
        name: "CFV",
        offset: 0,
        gpa: base,
        size: CFV_SIZE,
    }];
    put_region(&mut image, 0, &cfv, "configuration FV", CFV_SIZE)?;
    let mut payload_len = None;
    if let Some(p) = &input.payload {
        let extra: Vec<(td_shim::format::guid::Guid, &[u8])> = input
            .payload_files
            .iter()
            .map(|(g, d)| (*g, d.as_slice()))
            .collect();
        let pfv =
            fv::build_payload_fv_with(p, &extra, payload_region as usize).map_err(|error| {
                LinkError::Fv {
                    region: "payload FV",
                    size: p.len() as u64,
                    region_size: payload_region,
                    error,
                }
            })?;
        put_region(
            &mut image,
            PAYLOAD_OFFSET,
            &pfv,
            "payload FV",
            payload_region,
        )?;
        payload_len = Some(p.len() as u64);
        regions.push(Region {
            name: "payload FV",
            offset: PAYLOAD_OFFSET,
            gpa: base + PAYLOAD_OFFSET,
            size: payload_region,
        });
    } else {
        regions.push(Region {
            name: "payload (unused)",
            offset: PAYLOAD_OFFSET,
            gpa: base + PAYLOAD_OFFSET,
            size: payload_region,
        });
    }
    put(&mut image, metadata_offset, &md);
    regions.push(Region {
        name: "metadata",
        offset: metadata_offset,
        gpa: base + metadata_offset,
        size: METADATA_SIZE,
    });
    put_region(&mut image, ipl_offset, &ipl_fv, "IPL FV", IPL_SIZE)?;
    regions.push(Region {
        name: "IPL FV",
        offset: ipl_offset,
        gpa: IPL_BASE,
        size: IPL_SIZE,
    });
    put(&mut image, rv_offset, rv);
    regions.push(Region {
        name: "reset vector",
        offset: rv_offset,
        gpa: base + rv_offset,
        size: RESET_VECTOR_SIZE,
    });

    // Tail: entry_offset, ipl_base, ipl_size, then the metadata pointers.
    let entry_offset = (shim_entry - SHIM_RUN_BASE) as u32;
    let ipl_base = (IPL_BASE + fv::IPL_IMAGE_OFFSET as u64) as u32;
    let ipl_size = shim_image.len() as u32;
    put(
        &mut image,
        size - TAIL_ENTRY_OFFSET,
        &entry_offset.to_le_bytes(),
    );
    put(&mut image, size - TAIL_IPL_BASE, &ipl_base.to_le_bytes());
    put(&mut image, size - TAIL_IPL_SIZE, &ipl_size.to_le_bytes());
    metadata::write_tail_pointers(&mut image, descriptor_offset as usize)
        .map_err(LinkError::Metadata)?;

    // Read back what a VMM and the firmware will read.
    let parsed = metadata::parse_image(&image).map_err(LinkError::Metadata)?;
    assert_eq!(
        parsed.descriptor_offset as u64, descriptor_offset,
        "metadata located where it was written"
    );
    assert_eq!(
        &image[(size - TAIL_IPL_BASE) as usize - 4..(size - TAIL_IPL_SIZE) as usize + 4],
        [
            entry_offset.to_le_bytes(),
            ipl_base.to_le_bytes(),
            ipl_size.to_le_bytes()
        ]
        .concat(),
        "tail fields untouched by write_tail_pointers"
    );

    let summary = Summary {
        image_size: size,
        image_base: base,
        regions,
        shim_entry,
        entry_offset,
        ipl_base,
        ipl_size,
        shim_relocations,
        payload_size: payload_len,
        descriptor_offset,
        sections,
    };
    Ok(LinkOutput { image, summary })
}

/// Places a builder's output; the `fv` builders return exactly the region size they are
/// asked for, so a mismatch is a bug in our own code.
fn put_region(
    image: &mut [u8],
    offset: u64,
    bytes: &[u8],
    region: &'static str,
    region_size: u64,
) -> Result<(), LinkError> {
    assert_eq!(
        bytes.len() as u64,
        region_size,
        "{region} builder returned the wrong size"
    );
    put(image, offset, bytes);
    Ok(())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "image: {:#x} bytes at GPA [{:#x}, {:#x})",
            self.image_size,
            self.image_base,
            self.image_base + self.image_size
        )?;
        writeln!(
            f,
            "  {:<18} {:>10} {:>12} {:>10}",
            "region", "offset", "GPA", "size"
        )?;
        for r in &self.regions {
            writeln!(
                f,
                "  {:<18} {:>#10x} {:>#12x} {:>#10x}",
                r.name, r.offset, r.gpa, r.size
            )?;
        }
        writeln!(
            f,
            "shim: {} bytes in memory (ipl_size), {} relocations, entry {:#x} (entry_offset {:#x}), ipl_base {:#x}",
            self.ipl_size, self.shim_relocations, self.shim_entry, self.entry_offset, self.ipl_base
        )?;
        match self.payload_size {
            Some(n) => writeln!(f, "payload: {n} bytes")?,
            None => writeln!(f, "payload: none")?,
        }
        writeln!(
            f,
            "metadata: descriptor at {:#x}, {} sections",
            self.descriptor_offset,
            self.sections.len()
        )?;
        for (i, s) in self.sections.iter().enumerate() {
            let name = s.kind().map_or("reserved", |k| k.name());
            writeln!(
                f,
                "  [{i}] {name:<8} data [{:#x}, +{:#x}) memory [{:#x}, +{:#x}) attr {:#x}",
                s.data_offset, s.raw_data_size, s.memory_address, s.memory_data_size, s.attributes
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_size_rules() {
        assert_eq!(check_image_size(0x100_0000), Ok(()));
        assert_eq!(
            check_image_size(0x100_1000),
            Err(LinkError::ImageSizeUnaligned { size: 0x100_1000 })
        );
        assert_eq!(
            check_image_size(0x110_0000),
            Err(LinkError::ImageSizeOutOfRange { size: 0x110_0000 })
        );
        // MIN_IMAGE_SIZE = 0x40000 + 0x10000 + 0x109000 = 0x159000: the smallest 64 KiB
        // multiple at or above it is 0x160000.
        assert_eq!(
            check_image_size(0x150_000),
            Err(LinkError::ImageSizeOutOfRange { size: 0x150_000 })
        );
        assert_eq!(check_image_size(0x160_000), Ok(()));
        assert_eq!(
            check_image_size(0),
            Err(LinkError::ImageSizeOutOfRange { size: 0 })
        );
    }

    #[test]
    fn sections_follow_the_layout() {
        // 16 MiB image: base 0xFF000000; top part = 0x1000 + 0x100000 + 0x8000 = 0x109000.
        let s = sections(0x100_0000, false);
        assert_eq!(s.len(), 7);
        assert_eq!(
            (
                s[0].data_offset,
                s[0].raw_data_size,
                s[0].memory_address,
                s[0].memory_data_size,
                s[0].attributes
            ),
            (0xEF_7000, 0x10_9000, 0xFFEF_7000, 0x10_9000, 1)
        );
        assert_eq!(
            (s[1].data_offset, s[1].raw_data_size, s[1].memory_address),
            (0, 0x4_0000, 0xFF00_0000)
        );
        let temp: Vec<(u64, u64)> = s[2..6]
            .iter()
            .map(|x| (x.memory_address, x.memory_data_size))
            .collect();
        assert_eq!(
            temp,
            vec![
                (0x10_0000, 0x8_0000),
                (0x18_0000, 0x4_0000),
                (0x1C_0000, 0x10_0000),
                (0x2C_0000, 0x1000)
            ]
        );
        assert_eq!(
            (
                s[6].section_type,
                s[6].memory_address,
                s[6].memory_data_size
            ),
            (2, 0x80_0000, 0x2_0000)
        );
        let p = sections(0x100_0000, true);
        assert_eq!(
            (p[0].data_offset, p[0].raw_data_size, p[0].memory_address),
            (0x4_0000, 0xFC_0000, 0xFF04_0000)
        );
    }

    #[test]
    fn refusals_name_sizes() {
        let e = LinkError::PayloadTooLarge {
            size: 123_456,
            region_size: 0xd6000,
            image_size: 0x100_0000,
        };
        let text = e.to_string();
        assert!(
            text.contains("payload (123456 bytes)")
                && text.contains("0xd6000")
                && text.contains("0x1000000"),
            "{text}"
        );
        let e = LinkError::ShimTooLarge {
            size: 0x20_0000,
            region: "IPL FV",
            region_size: IPL_IMAGE_CAPACITY,
        };
        assert!(e.to_string().contains("IPL FV"), "{e}");
    }

    #[test]
    fn early_refusals() {
        let rv = vec![0u8; RESET_VECTOR_SIZE as usize];
        let mk = |rv: Vec<u8>, size: u64, payload: Option<Vec<u8>>| LinkInput {
            payload_files: Vec::new(),
            td_payload_sections: false,
            reset_vector: rv,
            shim_elf: b"not an elf at all, clearly".to_vec(),
            payload,
            image_size: size,
        };
        assert_eq!(
            link(&mk(rv.clone(), 0x100_8000, None)).unwrap_err(),
            LinkError::ImageSizeUnaligned { size: 0x100_8000 }
        );
        assert_eq!(
            link(&mk(vec![0; 0x7000], 0x100_0000, None)).unwrap_err(),
            LinkError::ResetVectorSize { size: 0x7000 }
        );
        let mut bad_rv = rv.clone();
        let n = bad_rv.len();
        bad_rv[n - 0x30] = 0x96; // where the OVMF footer GUID goes
        assert_eq!(
            link(&mk(bad_rv, 0x100_0000, None)).unwrap_err(),
            LinkError::ResetVectorTailNotZero {
                offset_from_end: 0x30
            }
        );
        let mut ok_filler = rv.clone();
        ok_filler[n - 0x1C] = 1; // the filler after the legacy pointer belongs to the RV
        assert_eq!(
            link(&mk(ok_filler, 0x100_0000, None)).unwrap_err(),
            LinkError::ShimElf(elf::Error::NotElf)
        );
        assert_eq!(
            link(&mk(rv.clone(), 0x100_0000, Some(vec![]))).unwrap_err(),
            LinkError::PayloadEmpty
        );
        // 0x160000-byte image: payload region = 0x160000 - 0x40000 - 0x109000 = 0x17000.
        let big = vec![0xAB; 0x17000];
        assert_eq!(
            link(&mk(rv, 0x16_0000, Some(big))).unwrap_err(),
            LinkError::PayloadTooLarge {
                size: 0x17000,
                region_size: 0x17000,
                image_size: 0x16_0000
            }
        );
    }
}
