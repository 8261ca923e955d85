// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Image and early-memory layout: the one definition shared by the reset vector (through a
//! NASM include rendered by xtask from [`render_nasm_include`]), the firmware and the image
//! linker (`td-shim-ld`).
//!
//! The image is a TDVF-format raw binary whose last byte sits at 4 GiB − 1
//! (`../shared/spec/image-layout.md` §1). Its **top** part has a fixed size and position,
//! independent of the image size; the **bottom** part (configuration FV and payload region)
//! grows with the image:
//!
//! ```text
//!  image offset 0 ─┬────────────────────────────┐ GPA 4 GiB − image_size
//!                  │ CFV (config FV)            │ metadata: CFV
//!                  ├────────────────────────────┤
//!                  │ Payload FV (exec images)   │ metadata: part of BFV (exec images only)
//!                  ├────────────────────────────┤ GPA METADATA_BASE
//!                  │ Metadata (GUID+descriptor) │ ┐
//!                  ├────────────────────────────┤ │
//!                  │ IPL FV (relocated shim)    │ │ metadata: BFV
//!                  ├────────────────────────────┤ │
//!                  │ Reset vector (page tables, │ │
//!                  │ GDT, code, image tail)     │ ┘
//!  image end ──────┴────────────────────────────┘ GPA 4 GiB
//! ```
//!
//! Early RAM used before the firmware has a memory map lives at fixed GPAs in low memory.
//! In a TD these are TempMem sections (added and accepted by the VMM); in a legacy VM they are
//! ordinary RAM (the image itself is ROM there, so nothing writable may live inside it):
//!
//! ```text
//!  0x0010_0000  shim run region (the IPL is copied here by the reset vector)   SHIM_RUN_*
//!  0x0018_0000  temporary stack (lowest page is the guard page)               TEMP_STACK_*
//!  0x001C_0000  temporary heap                                                TEMP_HEAP_*
//!  0x002C_0000  AP mailbox                                                    MAILBOX_*
//!  0x0080_0000  TD HOB (written by a TDX VMM)                                 TD_HOB_*
//! ```
//!
//! The run region, the stack and the start of the heap share the 2 MiB page [1 MiB, 2 MiB):
//! QEMU backs RAM with transparent huge pages, and the first write into a 2 MiB page makes
//! the host allocate and clear all of it, so a boot that stays inside fewer of them is
//! faster (`doc/image-layout.md`).
//!
//! Every constant here is trusted (it is part of the measured firmware); the `const`
//! assertions at the bottom keep the regions disjoint and page aligned.

/// 4 KiB.
pub const PAGE_SIZE: u64 = 0x1000;
/// End of the 32-bit physical address space; the image ends here.
pub const FOUR_GIB: u64 = 0x1_0000_0000;

// ---------------------------------------------------------------------------------------
// Image: the fixed top part (GPAs are absolute, the image ends at 4 GiB).
// ---------------------------------------------------------------------------------------

/// Size of the reset-vector region at the very top of the image.
pub const RESET_VECTOR_SIZE: u64 = 0x8000;
/// GPA of the reset-vector region.
pub const RESET_VECTOR_BASE: u64 = FOUR_GIB - RESET_VECTOR_SIZE;
/// Offset of the prebuilt page tables inside the reset-vector region (6 pages:
/// PML4, PDPT, four page directories identity-mapping [0, 4 GiB) with 2 MiB pages).
pub const RESET_PAGE_TABLES_OFFSET: u64 = 0;
/// Number of page-table pages prebuilt by the reset vector.
pub const RESET_PAGE_TABLE_PAGES: u64 = 6;

/// Size of the IPL region (IPL FV: header, one SECURITY_CORE file holding the relocated shim
/// memory image, and the header of the reset-vector file in its last 40 bytes).
pub const IPL_SIZE: u64 = 0x10_0000;
/// GPA of the IPL region.
pub const IPL_BASE: u64 = RESET_VECTOR_BASE - IPL_SIZE;

/// Size of the metadata region (metadata GUID + TDVF descriptor + sections).
pub const METADATA_SIZE: u64 = 0x1000;
/// GPA of the metadata region.
pub const METADATA_BASE: u64 = IPL_BASE - METADATA_SIZE;

/// Bytes of the image above the payload region: metadata, IPL and reset vector.
pub const IMAGE_TOP_SIZE: u64 = FOUR_GIB - METADATA_BASE;

/// Size of the configuration FV at image offset 0.
pub const CFV_SIZE: u64 = 0x4_0000;

/// Default image size. Any multiple of 64 KiB (QEMU's `-bios` rule) from
/// [`MIN_IMAGE_SIZE`] to [`MAX_IMAGE_SIZE`] works; the payload region takes what is left.
pub const DEFAULT_IMAGE_SIZE: u64 = 0x100_0000;
/// Smallest image: CFV + one 64 KiB payload region + the top part.
pub const MIN_IMAGE_SIZE: u64 = CFV_SIZE + 0x1_0000 + IMAGE_TOP_SIZE;
/// Largest image: QEMU maps at most 16 MiB of `-bios` below 4 GiB on q35 without
/// overlapping other firmware windows; larger images are refused by the linker.
pub const MAX_IMAGE_SIZE: u64 = 0x100_0000;
/// Granularity of the image size (QEMU requires `-bios` sizes to be multiples of 64 KiB).
pub const IMAGE_SIZE_ALIGN: u64 = 0x1_0000;

/// Image offset of the payload region (right after the CFV).
pub const PAYLOAD_OFFSET: u64 = CFV_SIZE;
/// Size of the payload region of an image of `image_size` bytes.
pub const fn payload_size(image_size: u64) -> u64 {
    image_size - CFV_SIZE - IMAGE_TOP_SIZE
}
/// GPA of the first byte of an image of `image_size` bytes.
pub const fn image_base(image_size: u64) -> u64 {
    FOUR_GIB - image_size
}

// ---------------------------------------------------------------------------------------
// Image tail (last 0x54 bytes), `../shared/spec/image-layout.md` §5. Offsets from the end.
// ---------------------------------------------------------------------------------------

/// Bytes of the tail written by the linker and the reset vector together.
pub const TAIL_SIZE: u64 = 0x54;
/// `entry_offset`: shim entry point minus [`SHIM_RUN_BASE`].
pub const TAIL_ENTRY_OFFSET: u64 = 0x54;
/// `ipl_base`: GPA of the relocated shim memory image inside the IPL FV.
pub const TAIL_IPL_BASE: u64 = 0x50;
/// `ipl_size`: bytes the reset vector copies to [`SHIM_RUN_BASE`] (includes zeroed BSS).
pub const TAIL_IPL_SIZE: u64 = 0x4C;
/// Start of the OVMF GUID table entries (TDX metadata entry).
pub const TAIL_OVMF_TABLE: u64 = 0x48;
/// The OVMF table footer GUID is at [size − 0x30, size − 0x20).
pub const TAIL_OVMF_FOOTER_GUID: u64 = 0x30;
/// Legacy TDVF metadata pointer (u32 descriptor offset from image start).
pub const TAIL_LEGACY_METADATA_PTR: u64 = 0x20;
/// Start of the 16 bytes of reset code at GPA 0xFFFF_FFF0.
pub const TAIL_RESET_CODE: u64 = 0x10;

// ---------------------------------------------------------------------------------------
// Early RAM (fixed GPAs, TempMem sections in a TD).
// ---------------------------------------------------------------------------------------

/// Where the reset vector copies the shim and runs it; the linker relocates the shim for
/// this address.
pub const SHIM_RUN_BASE: u64 = 0x10_0000;
/// Size of the run region; the relocated shim memory image (with BSS) must fit (it is about
/// 270 KiB). Half of the IPL region, so that the run region, the stack and the start of the
/// heap share the 2 MiB page of RAM above 1 MiB (see the layout note above).
pub const SHIM_RUN_SIZE: u64 = 0x8_0000;

/// Temporary stack of the bootstrap processor. Its lowest page is a guard page (left
/// unmapped once the firmware has its own page tables).
pub const TEMP_STACK_BASE: u64 = SHIM_RUN_BASE + SHIM_RUN_SIZE;
/// Size of the temporary stack including its guard page.
pub const TEMP_STACK_SIZE: u64 = 0x4_0000;
/// Initial stack pointer of the bootstrap processor.
pub const TEMP_STACK_TOP: u64 = TEMP_STACK_BASE + TEMP_STACK_SIZE;

/// Temporary heap of the firmware.
pub const TEMP_HEAP_BASE: u64 = TEMP_STACK_TOP;
/// Size of the temporary heap.
pub const TEMP_HEAP_SIZE: u64 = 0x10_0000;

/// Early AP mailbox (TDX: non-BSP vCPUs wait here).
pub const MAILBOX_BASE: u64 = TEMP_HEAP_BASE + TEMP_HEAP_SIZE;
/// Size of the early mailbox.
pub const MAILBOX_SIZE: u64 = PAGE_SIZE;

/// End of all fixed early RAM below the TD HOB.
pub const EARLY_RAM_END: u64 = MAILBOX_BASE + MAILBOX_SIZE;

/// GPA of the TD HOB section (the VMM writes the TD HOB here).
pub const TD_HOB_BASE: u64 = 0x80_0000;
/// Size of the TD HOB section.
pub const TD_HOB_SIZE: u64 = 0x2_0000;

/// GPA of the metadata Payload section of images for VMMs that load the kernel themselves
/// (`cargo image --td-payload-sections`, cloud-hypervisor style): the VMM copies the bzImage
/// here and the kernel runs in place.
pub const TD_PAYLOAD_BASE: u64 = 0x400_0000;
/// Size of the Payload section.
pub const TD_PAYLOAD_SIZE: u64 = 0x200_0000;
/// GPA of the PayloadParam section (the NUL-terminated kernel command line).
pub const TD_PAYLOAD_PARAM_BASE: u64 = TD_PAYLOAD_BASE - PAGE_SIZE;
/// Size of the PayloadParam section.
pub const TD_PAYLOAD_PARAM_SIZE: u64 = PAGE_SIZE;

/// Every fixed low-RAM range the firmware owns before it has a memory map, as
/// `(name, base, size)`; used to keep runtime allocations away from them.
pub const EARLY_REGIONS: [(&str, u64, u64); 5] = [
    ("shim", SHIM_RUN_BASE, SHIM_RUN_SIZE),
    ("temp-stack", TEMP_STACK_BASE, TEMP_STACK_SIZE),
    ("temp-heap", TEMP_HEAP_BASE, TEMP_HEAP_SIZE),
    ("mailbox", MAILBOX_BASE, MAILBOX_SIZE),
    ("td-hob", TD_HOB_BASE, TD_HOB_SIZE),
];

// ---------------------------------------------------------------------------------------
// Segment selectors of the GDT built by the reset vector (and rebuilt by the firmware).
// 0x10/0x18 are what the Linux 64-bit boot protocol expects.
// ---------------------------------------------------------------------------------------

/// Flat 32-bit code segment.
pub const SEL_CODE32: u16 = 0x08;
/// Flat 64-bit code segment.
pub const SEL_CODE64: u16 = 0x10;
/// Flat data segment.
pub const SEL_DATA: u16 = 0x18;

/// Entry mode passed from the reset vector in RDI: the CPU started in real mode (legacy VM).
pub const ENTRY_MODE_REAL: u64 = 0;
/// Entry mode passed from the reset vector in RDI: the CPU started in 32-bit protected mode
/// (a TD vCPU, or a VMM that starts vCPUs like one).
pub const ENTRY_MODE_PROTECTED: u64 = 1;

const _: () = {
    assert!(RESET_VECTOR_SIZE.is_multiple_of(PAGE_SIZE));
    assert!(IPL_SIZE.is_multiple_of(PAGE_SIZE) && METADATA_SIZE.is_multiple_of(PAGE_SIZE));
    assert!((RESET_PAGE_TABLE_PAGES + 1) * PAGE_SIZE <= RESET_VECTOR_SIZE);
    assert!(CFV_SIZE.is_multiple_of(PAGE_SIZE));
    assert!(DEFAULT_IMAGE_SIZE.is_multiple_of(IMAGE_SIZE_ALIGN));
    assert!(DEFAULT_IMAGE_SIZE >= MIN_IMAGE_SIZE && DEFAULT_IMAGE_SIZE <= MAX_IMAGE_SIZE);
    assert!(TEMP_STACK_BASE.is_multiple_of(PAGE_SIZE) && TEMP_HEAP_BASE.is_multiple_of(PAGE_SIZE));
    assert!(MAILBOX_BASE.is_multiple_of(PAGE_SIZE));
    assert!(EARLY_RAM_END <= TD_HOB_BASE);
    // Everything early stays below 16 MiB, where Linux kernels like to be loaded, and above
    // the legacy 1 MiB area.
    assert!(TD_HOB_BASE + TD_HOB_SIZE <= 0x100_0000);
    assert!(SHIM_RUN_BASE >= 0x10_0000);
    // The reset vector's tail must fit in the last page.
    assert!(TAIL_SIZE < PAGE_SIZE);
};

/// Renders the layout as a NASM include for the reset vector (`%define NAME value` lines).
/// xtask writes it next to the assembled reset vector; the assembly never hard-codes these.
pub fn render_nasm_include() -> alloc::string::String {
    use core::fmt::Write;
    let mut s = alloc::string::String::new();
    let items: [(&str, u64); 19] = [
        ("RESET_VECTOR_BASE", RESET_VECTOR_BASE),
        ("RESET_VECTOR_SIZE", RESET_VECTOR_SIZE),
        ("RESET_PAGE_TABLE_PAGES", RESET_PAGE_TABLE_PAGES),
        ("TAIL_ENTRY_OFFSET_GPA", FOUR_GIB - TAIL_ENTRY_OFFSET),
        ("TAIL_IPL_BASE_GPA", FOUR_GIB - TAIL_IPL_BASE),
        ("TAIL_IPL_SIZE_GPA", FOUR_GIB - TAIL_IPL_SIZE),
        ("TAIL_SIZE", TAIL_SIZE),
        ("SHIM_RUN_BASE", SHIM_RUN_BASE),
        ("SHIM_RUN_SIZE", SHIM_RUN_SIZE),
        ("TEMP_STACK_BASE", TEMP_STACK_BASE),
        ("TEMP_STACK_TOP", TEMP_STACK_TOP),
        ("MAILBOX_BASE", MAILBOX_BASE),
        ("TD_HOB_BASE", TD_HOB_BASE),
        ("SEL_CODE32", SEL_CODE32 as u64),
        ("SEL_CODE64", SEL_CODE64 as u64),
        ("SEL_DATA", SEL_DATA as u64),
        ("ENTRY_MODE_REAL", ENTRY_MODE_REAL),
        ("ENTRY_MODE_PROTECTED", ENTRY_MODE_PROTECTED),
        ("PAGE_SIZE", PAGE_SIZE),
    ];
    let _ = writeln!(
        s,
        "; Generated by xtask from td-shim/src/layout.rs. Do not edit."
    );
    for (name, value) in items {
        let _ = writeln!(s, "%define {name} {value:#x}");
    }
    s
}
