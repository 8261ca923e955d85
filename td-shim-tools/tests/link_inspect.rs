// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Integration tests: link synthetic images (fake reset vector, tiny PIE built here) with
//! `td_shim_tools::link`, inspect them with `td_shim_tools::info`, check the bytes against
//! values computed by hand from `../shared/spec/image-layout.md`, corrupt them and check the
//! violations; then drive the two binaries end to end.

use std::path::PathBuf;
use std::process::Command;
use td_shim_tools::info::{self, PayloadKind};
use td_shim_tools::link::{self, LinkError, LinkInput};

const MIB: u64 = 0x10_0000;

/// A fake 0x8000-byte reset vector: non-zero body, linker-reserved tail zero, "VTF" filler,
/// and 16 bytes of reset code (`nop; nop; jmp ...`).
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

/// Minimal ELF64 x86-64 builder: header, PT_LOAD headers, optional PT_DYNAMIC, blobs.
struct Ph {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

fn elf(e_type: u16, entry: u64, phdrs: &[Ph], blobs: &[(u64, Vec<u8>)], len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4..7].copy_from_slice(&[2, 1, 1]);
    f[16..18].copy_from_slice(&e_type.to_le_bytes());
    f[18..20].copy_from_slice(&62u16.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for (i, p) in phdrs.iter().enumerate() {
        let o = 64 + 56 * i;
        f[o..o + 4].copy_from_slice(&p.p_type.to_le_bytes());
        f[o + 4..o + 8].copy_from_slice(&p.flags.to_le_bytes());
        for (k, v) in [p.offset, p.vaddr, p.vaddr, p.filesz, p.memsz, 0x1000]
            .iter()
            .enumerate()
        {
            f[o + 8 + 8 * k..o + 16 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
    }
    for (off, data) in blobs {
        f[*off as usize..*off as usize + data.len()].copy_from_slice(data);
    }
    f
}

fn le_pairs(items: &[u64]) -> Vec<u8> {
    items.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A PIE linked at 0: text [0, 0x1000) R+X with code at 0x100 and a RELA table at 0x800;
/// data [0x1000, 0x1000 + data_mem) R+W with 0x100 file bytes (dynamic at 0x1080). Two
/// R_X86_64_RELATIVE relocations: slot 0x1000 = base + 0x100, slot 0x1010 = base + 0x1040.
fn tiny_pie(data_mem: u64) -> Vec<u8> {
    let rela = le_pairs(&[0x1000, 8, 0x100, 0x1010, 8, 0x1040]);
    let dynamic = le_pairs(&[7, 0x800, 8, rela.len() as u64, 9, 24, 0, 0]);
    let phdrs = [
        Ph {
            p_type: 1,
            flags: 5,
            offset: 0,
            vaddr: 0,
            filesz: 0x1000,
            memsz: 0x1000,
        },
        Ph {
            p_type: 1,
            flags: 6,
            offset: 0x1000,
            vaddr: 0x1000,
            filesz: 0x100,
            memsz: data_mem,
        },
        Ph {
            p_type: 2,
            flags: 6,
            offset: 0x1080,
            vaddr: 0x1080,
            filesz: dynamic.len() as u64,
            memsz: dynamic.len() as u64,
        },
    ];
    let blobs = [
        (0x100, vec![0xF4, 0xEB, 0xFD]),
        (0x800, rela),
        (0x1040, b"shim data".to_vec()),
        (0x1080, dynamic),
    ];
    elf(3, 0x100, &phdrs, &blobs, 0x1100)
}

/// The shim memory image the linker must produce for `tiny_pie(0x3000)` at 0x100000,
/// written out by hand.
fn expected_shim_memory(file: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 0x4000];
    m[..0x1100].copy_from_slice(&file[..0x1100]);
    m[0x1000..0x1008].copy_from_slice(&0x10_0100u64.to_le_bytes());
    m[0x1010..0x1018].copy_from_slice(&0x10_1040u64.to_le_bytes());
    m
}

fn input(payload: Option<Vec<u8>>, image_size: u64) -> LinkInput {
    LinkInput {
        payload_files: Vec::new(),
        td_payload_sections: false,
        reset_vector: fake_reset_vector(),
        shim_elf: tiny_pie(0x3000),
        payload,
        image_size,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn link_then_inspect_default_image() {
    let out = link::link(&input(None, 16 * MIB)).expect("link");
    let img = &out.image;
    let size = img.len();
    assert_eq!(size, 0x100_0000);

    // Layout by hand: base 0xFF000000; reset vector at 0xFF8000; IPL region 1 MiB below it
    // (offset 0xEF8000, GPA 0xFFEF8000); metadata page below that (offset 0xEF7000).
    let rv = fake_reset_vector();
    assert_eq!(
        &img[size - 0x8000..size - 0x54],
        &rv[..0x8000 - 0x54],
        "reset vector body"
    );
    assert_eq!(
        &img[size - 0x1C..],
        &rv[0x8000 - 0x1C..],
        "filler + reset code"
    );
    assert_eq!(
        &img[0xEF7000..0xEF7010],
        &td_shim::format::metadata::METADATA_GUID.to_bytes()
    );
    assert_eq!(&img[0xEF7010..0xEF7014], b"TDVF");
    // Tail: entry_offset = 0x100, ipl_base = 0xFFEF8000 + 148, ipl_size = 0x4000,
    // OVMF back-offset = 0x1000000 - 0xEF7010, legacy pointer = 0xEF7010.
    assert_eq!(u32_at(img, size - 0x54), 0x100);
    assert_eq!(u32_at(img, size - 0x50), 0xFFEF_8000 + 148);
    assert_eq!(u32_at(img, size - 0x4C), 0x4000);
    assert_eq!(u32_at(img, size - 0x48), 0x0010_8FF0);
    assert_eq!(u32_at(img, size - 0x20), 0x00EF_7010);
    // The relocated shim memory image sits at the ipl_base offset, byte for byte.
    let shim_at = 0xEF8000 + 148;
    assert_eq!(
        &img[shim_at..shim_at + 0x4000],
        &expected_shim_memory(&tiny_pie(0x3000))[..]
    );

    let s = &out.summary;
    assert_eq!(
        (s.shim_entry, s.entry_offset, s.ipl_size, s.shim_relocations),
        (0x10_0100, 0x100, 0x4000, 2)
    );
    assert_eq!(s.descriptor_offset, 0xEF_7010);
    assert!(s.to_string().contains("IPL FV"));

    let r = info::inspect(img);
    assert_eq!(r.violations, Vec::<String>::new(), "{r}");
    assert_eq!(r.image_base, Some(0xFF00_0000));
    assert_eq!(
        (r.locate.ovmf, r.locate.legacy, r.locate.agree),
        (Some(0xEF_7010), Some(0xEF_7010), Some(true))
    );
    let md = r.metadata.as_ref().unwrap();
    assert!(md.has_guid);
    let names: Vec<&str> = md.sections.iter().map(|x| x.type_name).collect();
    assert_eq!(names.len(), 7);
    assert_eq!(md.sections[0].section.data_offset, 0xEF_7000);
    let ipl = r.ipl.unwrap();
    assert_eq!(
        (ipl.fv_offset, ipl.image_offset, ipl.entry),
        (0xEF_8000, shim_at as u64, Some(0x10_0100))
    );
    assert!(ipl.image_size >= 0x4000);
    assert!(r.payload.is_none());
    let cfv = r.cfv.as_ref().unwrap();
    assert_eq!(
        (cfv.fv_offset, cfv.fv_length, cfv.files.len()),
        (0, 0x4_0000, 0)
    );
    let json = r.to_json();
    assert!(
        json.starts_with('{') && json.ends_with('}') && json.contains("\"violations\":[]"),
        "{json}"
    );
}

#[test]
fn link_with_elf_payload_and_bzimage() {
    // 2 MiB image: payload region = 0x200000 - 0x40000 - 0x109000 = 0xB7000.
    let payload = tiny_pie(0x1000);
    let out = link::link(&input(Some(payload.clone()), 2 * MIB)).expect("link");
    let r = info::inspect(&out.image);
    assert_eq!(r.violations, Vec::<String>::new(), "{r}");
    let p = r.payload.unwrap();
    assert_eq!(
        (p.fv_offset, p.fv_length, p.kind),
        (0x4_0000, 0xB_7000, PayloadKind::ElfPie)
    );
    assert_eq!(
        p.content_size,
        payload.iter().rposition(|&b| b != 0).unwrap() as u64 + 1
    );
    let bfv = &r.metadata.unwrap().sections[0].section;
    assert_eq!(
        (bfv.data_offset, bfv.raw_data_size, bfv.memory_address),
        (0x4_0000, 0x1C_0000, 0xFFE4_0000)
    );

    let mut bz = vec![0u8; 0x1000];
    bz[0x202..0x206].copy_from_slice(b"HdrS");
    bz[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
    let out = link::link(&input(Some(bz), 2 * MIB)).expect("link");
    let r = info::inspect(&out.image);
    assert_eq!(
        r.payload.unwrap().kind,
        PayloadKind::BzImage { protocol: 0x020F }
    );
    assert!(r.violations.is_empty(), "{r}");
}

#[test]
fn refusals() {
    let e = link::link(&input(Some(vec![1; 0xB7000]), 2 * MIB)).unwrap_err();
    assert_eq!(
        e,
        LinkError::PayloadTooLarge {
            size: 0xB7000,
            region_size: 0xB7000,
            image_size: 0x20_0000
        }
    );
    assert!(
        e.to_string()
            .contains("payload (749568 bytes) does not fit the payload region (0xb7000 bytes"),
        "{e}"
    );

    let mut i = input(None, 16 * MIB);
    i.shim_elf = b"#!/bin/sh\necho not an elf\n".to_vec();
    assert_eq!(
        link::link(&i).unwrap_err(),
        LinkError::ShimElf(td_shim::loader::elf::Error::NotElf)
    );

    let mut i = input(None, 16 * MIB);
    i.reset_vector.truncate(0x7FF0);
    let e = link::link(&i).unwrap_err();
    assert_eq!(e, LinkError::ResetVectorSize { size: 0x7FF0 });
    assert!(e.to_string().contains("0x8000"), "{e}");

    for size in [16 * MIB + 0x1000, 32 * MIB, MIB] {
        assert!(link::link(&input(None, size)).is_err(), "{size:#x}");
    }

    let mut i = input(None, 16 * MIB);
    let n = i.reset_vector.len();
    i.reset_vector[n - 0x50] = 1;
    assert_eq!(
        link::link(&i).unwrap_err(),
        LinkError::ResetVectorTailNotZero {
            offset_from_end: 0x50
        }
    );

    let mut i = input(None, 16 * MIB);
    i.shim_elf[16] = 2; // ET_EXEC (it has relocations, which the loader refuses first)
    assert!(matches!(
        link::link(&i).unwrap_err(),
        LinkError::ShimElf(_) | LinkError::ShimNotPie
    ));

    // 2 MiB of BSS does not fit the 512 KiB run region.
    let mut i = input(None, 16 * MIB);
    i.shim_elf = tiny_pie(2 * MIB);
    let e = link::link(&i).unwrap_err();
    assert!(
        matches!(e, LinkError::ShimTooLarge { size: 0x201000, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("shim run region"), "{e}");

    // Boundaries: the run region (layout::SHIM_RUN_SIZE, 0x80000) is smaller than what the
    // IPL PE32 section holds (0x100000 - 148 - 40 = 0xFFF44 bytes), so it is the limit: a
    // 0x80000-byte shim image fits exactly, one page more does not.
    assert_eq!(td_shim::layout::SHIM_RUN_SIZE, 0x8_0000);
    let mut i = input(None, 16 * MIB);
    i.shim_elf = tiny_pie(0x7F000);
    assert_eq!(link::link(&i).unwrap().summary.ipl_size, 0x8_0000);
    i.shim_elf = tiny_pie(0x80000);
    let e = link::link(&i).unwrap_err();
    assert_eq!(
        e,
        LinkError::ShimTooLarge {
            size: 0x8_1000,
            region: "shim run region",
            region_size: 0x8_0000
        }
    );
    // The payload FV holds region - 148 bytes (0x78 FV header blob, 24 file, 4 section).
    let out = link::link(&input(Some(vec![0x5A; 0xB7000 - 148]), 2 * MIB)).unwrap();
    assert_eq!(
        &out.image[0x40000 + 148..0x40000 + 0xB7000],
        &vec![0x5A; 0xB7000 - 148][..]
    );
    assert!(info::inspect(&out.image).violations.is_empty());
}

#[test]
fn corruption_is_reported() {
    let good = link::link(&input(None, 16 * MIB)).unwrap().image;
    let size = good.len();
    let check = |what: &str, img: &[u8], needle: &str| {
        let r = info::inspect(img);
        assert!(!r.violations.is_empty(), "{what}: no violation");
        assert!(
            r.violations
                .iter()
                .any(|v| v.to_lowercase().contains(needle)),
            "{what}: expected a violation mentioning '{needle}', got {:?}",
            r.violations
        );
        let _ = r.to_json();
    };

    let mut img = good.clone();
    img[0xEF7010] ^= 0xFF; // "TDVF" signature
    check("signature", &img, "descriptor");

    let mut img = good.clone();
    img[size - 0x20..size - 0x1C].copy_from_slice(&0x1234u32.to_le_bytes()); // legacy pointer
    check("legacy pointer", &img, "legacy pointer");

    let mut img = good.clone();
    img[size - 0x30] ^= 1; // OVMF footer GUID
    check("OVMF footer", &img, "ovmf");

    let mut img = good.clone();
    img[0xEF7000] ^= 1; // metadata GUID
    check("metadata GUID", &img, "guid");

    let mut img = good.clone();
    img[size - 0x10..].fill(0);
    check("reset code", &img, "reset code");

    let mut img = good.clone();
    img[size - 0x4C..size - 0x48].copy_from_slice(&0x20_0000u32.to_le_bytes()); // ipl_size
    check("ipl_size", &img, "ipl_size");

    let mut img = good.clone();
    img[size - 0x54..size - 0x50].copy_from_slice(&0x4000u32.to_le_bytes()); // entry_offset
    check("entry_offset", &img, "entry_offset");

    let mut img = good.clone();
    img[size - 0x50..size - 0x4C].copy_from_slice(&0xFFEF_0000u32.to_le_bytes()); // ipl_base
    check("ipl_base", &img, "ipl pe32 section");

    // Without the OVMF table the legacy pointer still finds the metadata (what older
    // producers write): reported, and the rest of the report is filled in.
    let mut img = good.clone();
    img[size - 0x48..size - 0x20].fill(0);
    let r = info::inspect(&img);
    assert_eq!((r.locate.ovmf, r.locate.legacy), (None, Some(0xEF_7010)));
    assert_eq!(r.metadata.as_ref().map(|m| m.sections.len()), Some(7));
    assert!(
        r.violations.iter().any(|v| v.contains("OVMF")),
        "{:?}",
        r.violations
    );

    // A TDVF image with no IPL FV (not one of ours): metadata and tail still reported.
    let mut img = good.clone();
    img[0xEF8000..0xEF9000].fill(0);
    let r = info::inspect(&img);
    assert!(r.ipl.is_none() && r.metadata.is_some() && r.tail.is_some());
    assert!(
        r.violations
            .iter()
            .any(|v| v.contains("no IPL firmware volume")),
        "{:?}",
        r.violations
    );

    // Truncating the image from the front keeps the tail but breaks sizes and offsets.
    check("truncated", &good[0x1000..], "image size");
}

#[test]
fn inspect_survives_random_damage() {
    let good = link::link(&input(Some(tiny_pie(0x1000)), 2 * MIB))
        .unwrap()
        .image;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Hit the interesting places: headers of each FV, metadata, tail.
    let hot = [0usize, 0x4_0000, 0x1F_7000, 0x1F_8000, good.len() - 0x60];
    for _ in 0..300 {
        let mut img = good.clone();
        for _ in 0..8 {
            let at = hot[(next() % hot.len() as u64) as usize] + (next() % 0xC0) as usize;
            if at < img.len() {
                img[at] = next() as u8;
            }
        }
        let r = info::inspect(&img);
        let _ = (r.to_string(), r.to_json());
    }
}

// ---------------------------------------------------------------------------------------
// The binaries.
// ---------------------------------------------------------------------------------------

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("td-shim-tools-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn binaries_end_to_end() {
    let d = scratch("bins");
    let (rv, shim, payload, out) = (
        d.join("rv.bin"),
        d.join("shim.elf"),
        d.join("payload.elf"),
        d.join("final.bin"),
    );
    std::fs::write(&rv, fake_reset_vector()).unwrap();
    std::fs::write(&shim, tiny_pie(0x3000)).unwrap();
    std::fs::write(&payload, tiny_pie(0x1000)).unwrap();
    let ld = env!("CARGO_BIN_EXE_td-shim-ld");
    let inf = env!("CARGO_BIN_EXE_td-shim-info");

    let o = Command::new(ld)
        .args([
            "--reset-vector".as_ref(),
            rv.as_os_str(),
            "--shim".as_ref(),
            shim.as_os_str(),
        ])
        .args([
            "--payload".as_ref(),
            payload.as_os_str(),
            "--image-size".as_ref(),
            "0x200000".as_ref(),
        ])
        .args(["-o".as_ref(), out.as_os_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("payload: "),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 0x20_0000);

    let o = Command::new(inf).arg(&out).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("violations: none"));
    let o = Command::new(inf).arg(&out).arg("--json").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout)
        .trim_start()
        .starts_with('{'));

    // A damaged image: exit 1. An unreadable one: exit 2.
    let mut img = std::fs::read(&out).unwrap();
    let n = img.len();
    img[n - 0x10..].fill(0);
    let bad = d.join("bad.bin");
    std::fs::write(&bad, &img).unwrap();
    assert_eq!(
        Command::new(inf).arg(&bad).output().unwrap().status.code(),
        Some(1)
    );
    assert_eq!(
        Command::new(inf)
            .arg(d.join("missing.bin"))
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );

    // A failing link prints one error line and leaves no output behind.
    let out2 = d.join("never.bin");
    let o = Command::new(ld)
        .args([
            "--reset-vector".as_ref(),
            shim.as_os_str(),
            "--shim".as_ref(),
            shim.as_os_str(),
        ])
        .args(["-o".as_ref(), out2.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(err.contains("reset vector"), "{err}");
    assert!(!out2.exists());
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().contains(".tmp")),
        "{leftovers:?}"
    );

    // --help documents every option.
    let o = Command::new(ld).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    for opt in [
        "--reset-vector",
        "--shim",
        "--payload",
        "--image-size",
        "--output",
    ] {
        assert!(help.contains(opt), "{opt} missing from help:\n{help}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A real static PIE from the host C compiler as the shim (skipped when `cc` is missing).
#[test]
fn real_cc_static_pie_as_shim() {
    if !Command::new("cc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipping real_cc_static_pie_as_shim: cc not found");
        return;
    }
    let d = scratch("cc");
    let src = d.join("shim.c");
    let exe = d.join("shim.elf");
    std::fs::write(
        &src,
        "static int n; int *p = &n;\nvoid _start(void) { for (;;) { (*p)++; } }\n",
    )
    .unwrap();
    let st = Command::new("cc")
        .args(["-nostdlib", "-static-pie", "-fPIE", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let mut i = input(None, 16 * MIB);
    i.shim_elf = std::fs::read(&exe).unwrap();
    let out = link::link(&i).expect("link real PIE");
    assert!(out.summary.shim_relocations >= 1);
    let r = info::inspect(&out.image);
    assert!(r.violations.is_empty(), "{r}");
    let _ = std::fs::remove_dir_all(&d);
}
