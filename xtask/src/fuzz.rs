// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `cargo xtask fuzz`: writes a seed corpus for every cargo-fuzz target in `td-shim/fuzz`
//! (built with the `td_shim::format` builders and the `td_shim_tools` linker, plus real
//! payloads and kernels found in `target/`), runs each target under libFuzzer for a fixed
//! time and prints one table of executions, coverage and findings. Exits non-zero when a
//! target crashes, leaks, times out or runs out of memory, naming the artifact to replay.
//!
//! Needs the nightly toolchain (libFuzzer and the sanitizers are nightly-only) and
//! cargo-fuzz. Without nightly it prints `skipped: …` and succeeds, so CI machines without
//! it still pass; a missing cargo-fuzz is installed with `cargo install cargo-fuzz --locked`.
//! Inputs here are our own build outputs (trusted); the fuzzer's output is parsed leniently.

use crate::image::{self, workspace_root, ImageArgs};
use clap::{Args, Parser};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use td_shim::format::guid::Guid;
use td_shim::format::{acpi, e820, fv, hob, metadata};

/// `cargo image`'s arguments on their own, to build seed images exactly as the command would.
#[derive(Parser)]
struct ImageCli {
    #[command(flatten)]
    args: ImageArgs,
}

/// Seconds per target of a full run.
const DEFAULT_SECONDS: u64 = 60;
/// Seconds per target of `--smoke`.
const SMOKE_SECONDS: u64 = 5;
/// libFuzzer per-input time limit: an input that takes longer is a finding (a hang).
const INPUT_TIMEOUT_SECONDS: u64 = 10;
/// Bytes of a real kernel's protected-mode part kept in a bzImage seed.
const BZIMAGE_PM_SEED_LEN: usize = 0x1000;

#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// Seconds per target [default: 60, or 5 with --smoke].
    #[arg(long, value_name = "N")]
    pub seconds: Option<u64>,
    /// Fuzz only this target (repeatable) [default: every target in td-shim/fuzz].
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// CI smoke: a few seconds per target.
    #[arg(long)]
    pub smoke: bool,
    /// Only (re)write the seed corpora under td-shim/fuzz/corpus; do not fuzz.
    #[arg(long)]
    pub seeds_only: bool,
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("td-shim").join("fuzz")
}

/// The `[[bin]]` names of a cargo-fuzz Cargo.toml, in file order.
pub fn discover_targets(cargo_toml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_bin = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            continue;
        }
        if !in_bin {
            continue;
        }
        if let Some(rest) = line.strip_prefix("name") {
            if let Some(value) = rest.trim_start().strip_prefix('=') {
                let name = value.trim().trim_matches('"');
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// What libFuzzer reported for one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub executions: Option<u64>,
    pub exec_per_sec: Option<u64>,
    /// Coverage (edges) and features of the last status line.
    pub cov: Option<u64>,
    pub ft: Option<u64>,
    /// Corpus size (inputs) of the last status line.
    pub corpus: Option<u64>,
    pub new_units: Option<u64>,
    pub peak_rss_mb: Option<u64>,
    /// First line saying what went wrong (panic message, sanitizer or libFuzzer error, or
    /// a failed build when the sources changed under the run).
    pub finding: Option<String>,
    /// Crash / timeout / OOM / leak inputs libFuzzer wrote.
    pub artifacts: Vec<String>,
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)?;
    let rest = line.get(at + key.len()..)?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Parses libFuzzer's log (status lines, `-print_final_stats=1` lines, errors, artifacts).
pub fn parse_log(log: &str) -> Stats {
    let mut s = Stats::default();
    for line in log.lines() {
        let t = line.trim();
        if t.starts_with('#') && t.contains("cov: ") {
            s.cov = number_after(t, "cov:").or(s.cov);
            s.ft = number_after(t, "ft:").or(s.ft);
            s.corpus = number_after(t, "corp:").or(s.corpus);
            s.executions = number_after(t, "#").or(s.executions);
        }
        if let Some(n) = number_after(t, "stat::number_of_executed_units:") {
            s.executions = Some(n);
        }
        if let Some(n) = number_after(t, "stat::average_exec_per_sec:") {
            s.exec_per_sec = Some(n);
        }
        if let Some(n) = number_after(t, "stat::new_units_added:") {
            s.new_units = Some(n);
        }
        if let Some(n) = number_after(t, "stat::peak_rss_mb:") {
            s.peak_rss_mb = Some(n);
        }
        if let Some(at) = t.find("Test unit written to ") {
            let path = t[at + "Test unit written to ".len()..].trim();
            if !path.is_empty() && !s.artifacts.iter().any(|a| a == path) {
                s.artifacts.push(path.to_string());
            }
        }
        let is_finding = (t.contains("panicked at") && t.starts_with("thread"))
            || t.contains("ERROR: AddressSanitizer")
            || t.contains("ERROR: LeakSanitizer")
            || t.contains("ERROR: libFuzzer")
            || t.starts_with("ALARM: working on the last Unit")
            || t.starts_with("SUMMARY: ")
            || t.starts_with("error: could not compile");
        if is_finding && s.finding.is_none() {
            s.finding = Some(t.to_string());
        }
    }
    s
}

/// A seed file: name (no directory) and bytes.
pub type Seed = (String, Vec<u8>);

/// Everything the seed builders may read from the build tree (paths that exist).
#[derive(Clone, Debug, Default)]
pub struct SeedInputs {
    /// Linked images (the smallest size, about 1.4 MiB) made for the seeds.
    pub images: Vec<PathBuf>,
    /// Payload and firmware ELFs.
    pub elfs: Vec<PathBuf>,
    /// bzImage kernels (e.g. target/kernels/vmlinuz-*).
    pub kernels: Vec<PathBuf>,
}

fn read_all(paths: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    paths
        .iter()
        .filter_map(|p| {
            let bytes = fs::read(p).ok()?;
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((name, bytes))
        })
        .collect()
}

/// Seeds for `target`, or an empty list for a target this generator does not know.
pub fn seeds_for(target: &str, inputs: &SeedInputs) -> Vec<Seed> {
    match target {
        "metadata" => metadata_seeds(inputs),
        "hob" => hob_seeds(),
        "fv" => fv_seeds(inputs),
        "e820" => e820_seeds(),
        "elf" => read_all(&inputs.elfs)
            .into_iter()
            .map(|(n, b)| (format!("elf-{n}"), b))
            .collect(),
        "bzimage" => bzimage_seeds(inputs),
        "acpi_loader" => acpi_loader_seeds(),
        "insn" => insn_seeds(),
        "signed_payload" => signed_payload_seeds(inputs),
        "event_log" => event_log_seeds(),
        "fw_cfg_dir" => fw_cfg_dir_seeds(),
        _ => Vec::new(),
    }
}

/// fw_cfg directories shaped like QEMU's: an empty one and one with the files the firmware
/// looks for (count and fields big-endian, names NUL-padded to 56 bytes).
fn fw_cfg_dir_seeds() -> Vec<Seed> {
    let names = [
        ("etc/e820", 0x19u16, 100u32),
        ("etc/table-loader", 0x20, 4096),
        ("etc/acpi/tables", 0x21, 0x20000),
        ("etc/acpi/rsdp", 0x22, 20),
        ("opt/td-shim/lazy-accept", 0x23, 1),
    ];
    let mut dir = (names.len() as u32).to_be_bytes().to_vec();
    for (name, select, size) in names {
        dir.extend_from_slice(&size.to_be_bytes());
        dir.extend_from_slice(&select.to_be_bytes());
        dir.extend_from_slice(&[0, 0]);
        let mut n = [0u8; 56];
        n[..name.len()].copy_from_slice(name.as_bytes());
        dir.extend_from_slice(&n);
    }
    vec![("empty".to_string(), vec![0; 4]), ("qemu".to_string(), dir)]
}

/// Event logs from the writer: the Spec ID header alone, one with each event kind the
/// firmware writes, and the same with the 0xFF fill after it.
fn event_log_seeds() -> Vec<Seed> {
    use td_shim::format::event_log::Writer;
    use td_shim::measure;
    let events = [
        measure::td_hob(&[1u8; 64]),
        measure::cfv(0xFFEA_0000, &[0u8; 256]),
        measure::payload(0x100_0000, b"\x7fELF payload"),
        measure::cmdline(b"console=ttyS0"),
        measure::initrd(0x2000_0000, b"initrd"),
        measure::payload_svn(5),
    ];
    let mut area = vec![0u8; 4096];
    let mut seeds = Vec::new();
    {
        let w = Writer::new(&mut area).expect("a 4 KiB area takes the header");
        let used = w.used();
        seeds.push(("spec-id-only".to_string(), area[..used].to_vec()));
    }
    let mut w = Writer::new(&mut area).expect("a 4 KiB area takes the header");
    for e in events.iter().chain(measure::separators().iter()) {
        w.append(e.mr_index, e.event_type, &e.digest, &e.data)
            .expect("the seed events fit");
    }
    let used = w.used();
    seeds.push(("boot".to_string(), area[..used].to_vec()));
    seeds.push(("boot-with-fill".to_string(), area[..used + 256].to_vec()));
    seeds
}

/// Signed-payload blobs from the builder (both algorithms, around the smallest ELF found or
/// a stub; the signatures are filler: the target checks parsing, not crypto), a trust
/// anchor, a minimum-SVN record and CFVs enrolling them.
fn signed_payload_seeds(inputs: &SeedInputs) -> Vec<Seed> {
    use td_shim::format::cfv;
    use td_shim::format::signed_payload::{self, Algorithm, HeaderFields};
    let image = read_all(&inputs.elfs)
        .into_iter()
        .map(|(_, b)| b)
        .min_by_key(Vec::len)
        .unwrap_or_else(|| b"\x7fELF\x02\x01\x01".to_vec());
    let mut out = Vec::new();
    for (name, algorithm) in [
        ("ecdsa", Algorithm::EcdsaP384Sha384),
        ("rsa", Algorithm::RsaPss3072Sha384),
    ] {
        let fields = HeaderFields {
            version: 1,
            svn: 2,
            algorithm,
        };
        let key = vec![0xA5; algorithm.public_key_size()];
        let sig = vec![0x5A; algorithm.signature_size()];
        let blob = signed_payload::build_signed_span(&fields, &image)
            .and_then(|span| signed_payload::attach_signature(span, algorithm, &key, &sig));
        if let Ok(mut blob) = blob {
            out.push((format!("signed-{name}"), blob.clone()));
            // As the firmware sees it: zero padding after the blob.
            blob.resize(blob.len() + 0x100, 0);
            out.push((format!("signed-{name}-padded"), blob));
        }
    }
    let hash = cfv::public_key_hash(&[0xA5; 96]);
    out.push(("trust-anchor".into(), cfv::build_anchor(&hash).to_vec()));
    out.push(("min-svn".into(), cfv::build_min_svn(2).to_vec()));
    if let Ok(v) = cfv::build(Some(&hash), Some(2), &[], 0x1000) {
        out.push(("cfv-anchor-min-svn".into(), v));
    }
    if let Ok(v) = cfv::build(Some(&hash), None, &[], 0x1000) {
        out.push(("cfv-anchor".into(), v));
    }
    out
}

/// MMIO-style MOV encodings (Intel SDM opcode tables): loads, stores, immediates, MOVZX/MOVSX,
/// with operand-size and REX prefixes and the common ModRM/SIB/displacement forms.
fn insn_seeds() -> Vec<Seed> {
    let forms: [(&str, &[u8]); 10] = [
        ("mov-eax-mem-rdi", &[0x8B, 0x07]),
        ("mov-mem-rdi-eax", &[0x89, 0x07]),
        ("mov-rax-mem-rdi", &[0x48, 0x8B, 0x07]),
        ("mov-ax-mem-disp8", &[0x66, 0x8B, 0x47, 0x10]),
        ("mov-mem-rdi-imm32", &[0xC7, 0x07, 0x78, 0x56, 0x34, 0x12]),
        ("mov-mem-rdi-imm8", &[0xC6, 0x07, 0x12]),
        ("mov-mem-al", &[0x88, 0x07]),
        ("movzx-eax-byte", &[0x0F, 0xB6, 0x07]),
        ("movsx-r9d-word-sib", &[0x44, 0x0F, 0xBF, 0x0C, 0x24]),
        (
            "mov-r8-mem-disp32",
            &[0x4C, 0x8B, 0x87, 0x00, 0x01, 0x00, 0x00],
        ),
    ];
    forms
        .iter()
        .map(|(n, b)| (format!("insn-{n}"), b.to_vec()))
        .collect()
}

/// Sections for a compact image of `size` bytes (a multiple of 8 KiB) that pass
/// `metadata::validate`: the BFV is the top half, the CFV the first page, and every
/// memory-only section type appears once.
pub fn compact_sections(size: u64, all_types: bool) -> Vec<metadata::Section> {
    use metadata::SectionType as T;
    let base = td_shim::layout::FOUR_GIB - size;
    let s = |t: T, data_offset: u64, raw: u64, addr: u64, mem: u64, attributes| metadata::Section {
        data_offset: data_offset as u32,
        raw_data_size: raw as u32,
        memory_address: addr,
        memory_data_size: mem,
        section_type: t as u32,
        attributes,
    };
    let half = size / 2;
    let mut v = vec![
        s(
            T::Bfv,
            half,
            half,
            base + half,
            half,
            metadata::ATTR_MR_EXTEND,
        ),
        s(T::Cfv, 0, 0x1000, base, 0x1000, 0),
        s(T::TempMem, 0, 0, 0x10_0000, 0x10_0000, 0),
        s(T::TdHob, 0, 0, 0x80_0000, 0x2_0000, 0),
    ];
    if all_types {
        v.extend([
            s(T::PermMem, 0, 0, 0x90_0000, 0x1000, metadata::ATTR_PAGE_AUG),
            s(
                T::Payload,
                0,
                0,
                0x100_0000,
                0x20_0000,
                metadata::ATTR_MR_EXTEND,
            ),
            s(T::PayloadParam, 0, 0, 0x120_0000, 0x1000, 0),
            s(T::TdInfo, half, 0x100, 0, 0, 0),
        ]);
    }
    v
}

/// A tail-located descriptor in a small buffer: GUID ‖ descriptor at `at`, the OVMF table
/// and the legacy pointer at the end, the reset code non-zero.
fn compact_metadata(sections: &[metadata::Section], size: usize, at: usize) -> Option<Vec<u8>> {
    let mut img = vec![0u8; size];
    let md = metadata::build(sections);
    img.get_mut(at..at + md.len())?.copy_from_slice(&md);
    metadata::write_tail_pointers(&mut img, at + 16).ok()?;
    let len = img.len();
    img.get_mut(len - 16..)?.fill(0x90);
    Some(img)
}

fn metadata_seeds(inputs: &SeedInputs) -> Vec<Seed> {
    let mut out: Vec<Seed> = read_all(&inputs.images)
        .into_iter()
        .map(|(n, b)| (format!("image-{n}"), b))
        .collect();
    for (name, size, all) in [
        ("compact-minimal", 0x2000, false),
        ("compact-all-types", 0x4000, true),
    ] {
        let sections = compact_sections(size as u64, all);
        if let Some(img) = compact_metadata(&sections, size, size / 2 + 0x100) {
            out.push((name.into(), img));
        }
    }
    // The descriptor alone at offset 0 (the target's `parse_descriptor(data, 0)` path).
    let md = metadata::build(&compact_sections(0x2000, true));
    let mut desc = md[16..].to_vec();
    desc.resize(0x2000, 0);
    out.push(("descriptor-at-0".into(), desc));
    out
}

fn with_base(base: u64, list: Vec<u8>) -> Vec<u8> {
    let mut v = base.to_le_bytes().to_vec();
    v.extend_from_slice(&list);
    v
}

fn ram(start: u64, length: u64, resource_type: u32) -> hob::Resource {
    hob::Resource {
        owner: Guid::default(),
        resource_type,
        attributes: hob::ATTR_PRESENT | hob::ATTR_INITIALIZED | hob::ATTR_TESTED,
        start,
        length,
    }
}

fn hob_seeds() -> Vec<Seed> {
    let base = td_shim::layout::TD_HOB_BASE;
    let mut out = Vec::new();
    out.push((
        "phit-only".into(),
        with_base(base, hob::Builder::new().finish(base, 0, 0x8000_0000)),
    ));
    // A TD HOB as a VMM hands it over: accepted low RAM, unaccepted RAM, MMIO.
    let mut b = hob::Builder::new();
    b.resource(&ram(0, 0xA_0000, hob::RESOURCE_SYSTEM_MEMORY))
        .resource(&ram(0x10_0000, 0x70_0000, hob::RESOURCE_SYSTEM_MEMORY))
        .resource(&ram(
            0x80_0000,
            0x7F80_0000,
            hob::RESOURCE_MEMORY_UNACCEPTED,
        ))
        .resource(&hob::Resource {
            attributes: hob::ATTR_PRESENT | hob::ATTR_UNCACHEABLE,
            ..ram(0xFEC0_0000, 0x140_0000, hob::RESOURCE_MEMORY_MAPPED_IO)
        })
        .resource(&ram(
            0x1_0000_0000,
            0x4000_0000,
            hob::RESOURCE_MEMORY_UNACCEPTED,
        ));
    out.push((
        "td-hob".into(),
        with_base(base, b.finish(base, 0x80_0000, 0x82_0000)),
    ));
    // A payload HOB: every HOB kind the builder makes, GUID HOBs included.
    let e820_table = e820::build(&[
        e820::Entry {
            addr: 0,
            size: 0xA_0000,
            kind: e820::E820_RAM,
        },
        e820::Entry {
            addr: 0x10_0000,
            size: 0x7FF0_0000,
            kind: e820::E820_RAM,
        },
        e820::Entry {
            addr: 0xB000_0000,
            size: 0x1000_0000,
            kind: e820::E820_RESERVED,
        },
    ]);
    let mut b = hob::Builder::new();
    b.resource(&ram(0x10_0000, 0x7FF0_0000, hob::RESOURCE_SYSTEM_MEMORY))
        .memory_allocation(fv::PAYLOAD_FILE_NAME, 0x100_0000, 0x20_0000, 4)
        .cpu(48, 16)
        .fv(0xFF00_0000, td_shim::layout::CFV_SIZE)
        .guid(hob::ACPI_TABLE_GUID, &0x7FFE_0000u64.to_le_bytes())
        .guid(hob::E820_TABLE_GUID, &e820_table)
        .guid(hob::PAYLOAD_INFO_GUID, &[1, 0, 0, 0, 0, 0, 0x20, 0]);
    let list = b.finish(0x7F00_0000, 0x7F00_0000, 0x7F10_0000);
    out.push(("payload-hob".into(), with_base(0x7F00_0000, list.clone())));
    // The same list announced at the wrong base (EfiEndOfHobList no longer matches).
    out.push(("payload-hob-base-0".into(), with_base(0, list)));
    out
}

fn fv_seeds(inputs: &SeedInputs) -> Vec<Seed> {
    let mut out = Vec::new();
    let payload = read_all(&inputs.elfs)
        .into_iter()
        .map(|(_, b)| b)
        .min_by_key(Vec::len)
        .unwrap_or_else(|| vec![0x7F, b'E', b'L', b'F', 2, 1, 1]);
    let region = (payload.len() + 0x1000).next_multiple_of(0x1000);
    if let Ok(v) = fv::build_payload_fv(&payload, region) {
        out.push(("payload-fv".into(), v));
    }
    let cmdline = b"console=ttyS0\0";
    let initrd = [0x30u8; 300];
    let extra: [(Guid, &[u8]); 2] = [
        (fv::PAYLOAD_INITRD_FILE_NAME, &initrd),
        (fv::PAYLOAD_CMDLINE_FILE_NAME, cmdline),
    ];
    if let Ok(v) = fv::build_payload_fv_with(&payload, &extra, region + 0x1000) {
        out.push(("payload-fv-with-files".into(), v));
    }
    let shim = [0xCCu8; 0x300];
    if let Ok(mut v) = fv::build_ipl_fv(&shim, 0x2000, 0x1000) {
        // The FV runs on into the reset-vector region (the RAW file's data).
        v.resize(0x3000, 0xF4);
        out.push(("ipl-fv".into(), v));
    }
    let cfv_files: [(Guid, &[u8]); 2] = [
        (fv::PAYLOAD_CMDLINE_FILE_NAME, b"root=/dev/vda\0"),
        (hob::ACPI_TABLE_GUID, &[1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ];
    if let Ok(v) = fv::build_cfv(&cfv_files, 0x1000) {
        out.push(("cfv".into(), v));
    }
    if let Ok(v) = fv::build_cfv(&[], 0x1000) {
        out.push(("cfv-empty".into(), v));
    }
    // The CFV of each linked image (a region of CFV_SIZE at offset 0).
    for (n, img) in read_all(&inputs.images) {
        let cfv = usize::try_from(td_shim::layout::CFV_SIZE).unwrap_or(0);
        if let Some(v) = img.get(..cfv) {
            out.push((format!("cfv-of-{n}"), v.to_vec()));
        }
    }
    out
}

fn e820_seeds() -> Vec<Seed> {
    let entry = |addr, size, kind| e820::Entry { addr, size, kind };
    let qemu = [
        entry(0, 0x8000_0000, e820::E820_RAM),
        entry(0xFEFF_C000, 0x4000, e820::E820_RESERVED),
        entry(0x1_0000_0000, 0x8000_0000, e820::E820_RAM),
    ];
    let mut padded = e820::build(&qemu[..1]);
    padded.extend_from_slice(&[0; 4]); // as stored in an 8-byte padded GUID HOB
    vec![
        ("qemu-etc-e820".into(), e820::build(&qemu)),
        ("one-entry-padded".into(), padded),
        (
            "all-kinds".into(),
            e820::build(&[
                entry(0, 0x9_F000, e820::E820_RAM),
                entry(0xE_0000, 0x2_0000, e820::E820_RESERVED),
                entry(0x7FFE_0000, 0x2_0000, e820::E820_ACPI),
                entry(0x7FFD_0000, 0x1_0000, e820::E820_NVS),
                entry(0x7FF0_0000, 0x1000, e820::E820_UNUSABLE),
                entry(0x1_0000_0000, 0x1_0000_0000, e820::E820_UNACCEPTED),
            ]),
        ),
    ]
}

/// Setup-header field offsets from the Linux boot protocol (linux-boot.md §1).
mod bz {
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const SYSSIZE: usize = 0x1F4;
    pub const BOOT_FLAG: usize = 0x1FE;
    pub const JUMP: usize = 0x200;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const LOADFLAGS: usize = 0x211;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const KERNEL_ALIGNMENT: usize = 0x230;
    pub const RELOCATABLE: usize = 0x234;
    pub const XLOADFLAGS: usize = 0x236;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const PREF_ADDRESS: usize = 0x258;
    pub const INIT_SIZE: usize = 0x260;
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A bzImage built from the boot-protocol field list: 8 setup sectors, protocol 2.15,
/// relocatable, 64-bit, loadable above 4 GiB, and `pm_len` bytes of protected-mode code.
pub fn synthetic_bzimage(pm_len: usize) -> Vec<u8> {
    let setup_sects = 7u8;
    let setup_len = (usize::from(setup_sects) + 1) * 512;
    let mut b = vec![0u8; setup_len + pm_len];
    b[bz::SETUP_SECTS] = setup_sects;
    put(&mut b, bz::SYSSIZE, &((pm_len / 16) as u32).to_le_bytes());
    put(&mut b, bz::BOOT_FLAG, &0xAA55u16.to_le_bytes());
    // `jmp short` over the header: it ends at 0x202 + 0x66 = 0x268 (protocol 2.15).
    put(&mut b, bz::JUMP, &[0xEB, 0x66]);
    put(&mut b, bz::HEADER, b"HdrS");
    put(&mut b, bz::VERSION, &0x020Fu16.to_le_bytes());
    b[bz::LOADFLAGS] = 0x01;
    put(&mut b, bz::INITRD_ADDR_MAX, &0x7FFF_FFFFu32.to_le_bytes());
    put(&mut b, bz::KERNEL_ALIGNMENT, &0x20_0000u32.to_le_bytes());
    b[bz::RELOCATABLE] = 1;
    put(&mut b, bz::XLOADFLAGS, &0x0003u16.to_le_bytes());
    put(&mut b, bz::CMDLINE_SIZE, &0x7FFu32.to_le_bytes());
    put(&mut b, bz::PREF_ADDRESS, &0x100_0000u64.to_le_bytes());
    put(&mut b, bz::INIT_SIZE, &0x200_0000u32.to_le_bytes());
    b[setup_len..].fill(0x90);
    b
}

/// A real kernel cut down to its setup part plus `pm_keep` bytes, `syssize` adjusted so
/// that the loader accepts the shorter file.
pub fn shortened_kernel(kernel: &[u8], pm_keep: usize) -> Option<Vec<u8>> {
    let sects = match *kernel.get(bz::SETUP_SECTS)? {
        0 => 4,
        n => n,
    };
    let setup_len = (usize::from(sects) + 1) * 512;
    let end = setup_len.checked_add(pm_keep)?.min(kernel.len());
    let mut out = kernel.get(..end)?.to_vec();
    let paragraphs = u32::try_from((end - setup_len) / 16).ok()?;
    out.get_mut(bz::SYSSIZE..bz::SYSSIZE + 4)?
        .copy_from_slice(&paragraphs.to_le_bytes());
    Some(out)
}

/// An ELF kernel's first bytes as QEMU hands them over (`loader::vmlinux`): ELF64 x86-64
/// ET_EXEC with text r-x at 16 MiB (the entry inside) and data rw- with bss at 20 MiB.
pub fn synthetic_vmlinux() -> Vec<u8> {
    td_shim::loader::vmlinux::test_file(
        0x100_0B53,
        &[
            (1, 5, 0x1000, 0x100_0000, 0x3000, 0x3000),
            (1, 6, 0x4000, 0x140_0000, 0x800, 0x2000),
        ],
        0x200,
    )
}

fn bzimage_seeds(inputs: &SeedInputs) -> Vec<Seed> {
    let mut out = vec![
        ("synthetic-2.15".into(), synthetic_bzimage(0x1000)),
        ("synthetic-small-pm".into(), synthetic_bzimage(0x10)),
        ("synthetic-vmlinux-head".into(), synthetic_vmlinux()),
    ];
    for (n, k) in read_all(&inputs.kernels) {
        if let Some(v) = shortened_kernel(&k, BZIMAGE_PM_SEED_LEN) {
            out.push((format!("kernel-{n}"), v));
        }
    }
    out
}

/// Table-loader commands, encoded as QEMU writes them (128-byte entries).
fn loader_entry(command: u32, fields: &[&[u8]]) -> Vec<u8> {
    let mut e = command.to_le_bytes().to_vec();
    for f in fields {
        e.extend_from_slice(f);
    }
    e.resize(acpi::LOADER_ENTRY_SIZE, 0);
    e
}

fn file_name(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.resize(acpi::LOADER_FILE_NAME_SIZE, 0);
    v
}

fn allocate(file: &str, align: u32, zone: u8) -> Vec<u8> {
    loader_entry(
        acpi::LOADER_CMD_ALLOCATE,
        &[&file_name(file), &align.to_le_bytes(), &[zone]],
    )
}

fn add_pointer(dest: &str, src: &str, offset: u32, size: u8) -> Vec<u8> {
    loader_entry(
        acpi::LOADER_CMD_ADD_POINTER,
        &[
            &file_name(dest),
            &file_name(src),
            &offset.to_le_bytes(),
            &[size],
        ],
    )
}

fn add_checksum(file: &str, offset: u32, start: u32, length: u32) -> Vec<u8> {
    loader_entry(
        acpi::LOADER_CMD_ADD_CHECKSUM,
        &[
            &file_name(file),
            &offset.to_le_bytes(),
            &start.to_le_bytes(),
            &length.to_le_bytes(),
        ],
    )
}

fn write_pointer(dest: &str, src: &str, dst_offset: u32, src_offset: u32, size: u8) -> Vec<u8> {
    loader_entry(
        acpi::LOADER_CMD_WRITE_POINTER,
        &[
            &file_name(dest),
            &file_name(src),
            &dst_offset.to_le_bytes(),
            &src_offset.to_le_bytes(),
            &[size],
        ],
    )
}

/// An ACPI table: 36-byte header (ACPI 6.5 §5.2.6) + body, checksum left 0 (the loader
/// script's ADD_CHECKSUM sets it, as with QEMU's tables).
fn acpi_table(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let len = (acpi::HEADER_SIZE + body.len()) as u32;
    let mut t = signature.to_vec();
    t.extend_from_slice(&len.to_le_bytes());
    t.push(revision);
    t.push(0);
    t.extend_from_slice(b"BOCHS ");
    t.extend_from_slice(b"BXPC    ");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(b"BXPC");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(body);
    t
}

const RSDP_FILE: &str = "etc/acpi/rsdp";
const TABLES_FILE: &str = "etc/acpi/tables";

/// A QEMU-like ACPI build: `etc/acpi/tables` = DSDT, FACP, APIC, XSDT (table pointers as
/// offsets into the file), `etc/acpi/rsdp`, and the script that links them. Returned in the
/// `acpi_loader` target's input format: a 20-byte header (file lengths, GPAs), the two
/// files, then the script.
pub fn acpi_loader_input(with_write_pointer: bool) -> Vec<u8> {
    let dsdt = acpi_table(b"DSDT", 2, &[0x10, 0x05, b'_', b'S', b'B', b'_']);
    // FADT revision 6 is 276 bytes; DSDT (u32) at 40, X_DSDT (u64) at 140.
    let mut facp = acpi_table(b"FACP", 6, &[0u8; 276 - 36]);
    let madt = acpi::build_madt(&[0, 1], None);
    let dsdt_at = 0usize;
    let facp_at = dsdt.len().next_multiple_of(8);
    let madt_at = (facp_at + facp.len()).next_multiple_of(8);
    let xsdt_at = (madt_at + madt.len()).next_multiple_of(8);
    put(&mut facp, 40, &(dsdt_at as u32).to_le_bytes());
    put(&mut facp, 140, &(dsdt_at as u64).to_le_bytes());
    let mut xsdt = acpi::build_xsdt(&[facp_at as u64, madt_at as u64]);
    xsdt[acpi::CHECKSUM_OFFSET] = 0;
    let mut tables = vec![0u8; xsdt_at + xsdt.len()];
    put(&mut tables, dsdt_at, &dsdt);
    put(&mut tables, facp_at, &facp);
    put(&mut tables, madt_at, &madt);
    put(&mut tables, xsdt_at, &xsdt);
    let rsdp = acpi::build_rsdp(xsdt_at as u64, *b"BOCHS ");

    let (f, x) = (facp_at as u32, xsdt_at as u32);
    let mut script = Vec::new();
    for e in [
        allocate(RSDP_FILE, 16, 2),
        allocate(TABLES_FILE, 64, 1),
        add_checksum(TABLES_FILE, 9, 0, dsdt.len() as u32),
        add_pointer(TABLES_FILE, TABLES_FILE, f + 40, 4),
        add_pointer(TABLES_FILE, TABLES_FILE, f + 140, 8),
        add_checksum(TABLES_FILE, f + 9, f, facp.len() as u32),
        add_checksum(
            TABLES_FILE,
            madt_at as u32 + 9,
            madt_at as u32,
            madt.len() as u32,
        ),
        add_pointer(TABLES_FILE, TABLES_FILE, x + 36, 8),
        add_pointer(TABLES_FILE, TABLES_FILE, x + 44, 8),
        add_checksum(TABLES_FILE, x + 9, x, xsdt.len() as u32),
        add_pointer(RSDP_FILE, TABLES_FILE, 24, 8),
        add_checksum(RSDP_FILE, 8, 0, 20),
        add_checksum(RSDP_FILE, 32, 0, 36),
    ] {
        script.extend_from_slice(&e);
    }
    if with_write_pointer {
        script.extend_from_slice(&write_pointer("etc/vmgenid_addr", TABLES_FILE, 0, 40, 8));
        script.extend_from_slice(&loader_entry(0, &[])); // a padding entry
    }
    let mut input = Vec::new();
    input.extend_from_slice(&(rsdp.len() as u16).to_le_bytes());
    input.extend_from_slice(&(tables.len() as u16).to_le_bytes());
    input.extend_from_slice(&0xF_5A40u64.to_le_bytes());
    input.extend_from_slice(&0x7FFE_0000u64.to_le_bytes());
    input.extend_from_slice(&rsdp);
    input.extend_from_slice(&tables);
    input.extend_from_slice(&script);
    input
}

fn acpi_loader_seeds() -> Vec<Seed> {
    vec![
        ("qemu-like".into(), acpi_loader_input(false)),
        ("qemu-like-write-pointer".into(), acpi_loader_input(true)),
    ]
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds the small images the metadata/fv seeds use (the default, smallest size, with and
/// without the example payload) and collects ELFs and kernels from the build tree. A failed build only
/// costs those seeds (with a warning): the synthetic ones remain.
fn collect_inputs() -> SeedInputs {
    let dir = target_dir().join("fuzz-seeds");
    let mut inputs = SeedInputs::default();
    if let Err(e) = fs::create_dir_all(&dir) {
        eprintln!("warning: cannot create {}: {e}", dir.display());
    }
    for (name, example) in [("image-linux.bin", false), ("image-example.bin", true)] {
        // Through `cargo image`'s own option parser: the defaults stay the command's (the
        // smallest image that holds the payload), whatever fields ImageArgs grows.
        let out = dir.join(name);
        let mut argv = vec![
            "image".into(),
            "--release".into(),
            "-o".into(),
            out.into_os_string(),
        ];
        if example {
            argv.push("--example-payload".into());
        }
        let args = match ImageCli::try_parse_from(argv) {
            Ok(c) => c.args,
            Err(e) => {
                eprintln!("warning: no {name} seed ({e})");
                continue;
            }
        };
        match image::image(&args) {
            Ok(p) => inputs.images.push(p),
            Err(e) => eprintln!("warning: no {name} seed ({e})"),
        }
    }
    let mut roots = vec![target_dir()];
    let default = workspace_root().join("target");
    if !roots.contains(&default) {
        roots.push(default);
    }
    for root in &roots {
        let none = root.join("x86_64-unknown-none").join("release");
        for elf in [none.join("example-payload"), none.join("td-shim")] {
            if elf.is_file() && !inputs.elfs.contains(&elf) {
                inputs.elfs.push(elf);
            }
        }
        let payloads = root.join("test-images").join("payloads");
        if let Ok(rd) = fs::read_dir(&payloads) {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| Some(e.ok()?.path())).collect();
            v.sort();
            inputs.elfs.extend(v.into_iter().filter(|p| p.is_file()));
        }
    }
    if let Ok(rd) = fs::read_dir(workspace_root().join("target").join("kernels")) {
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz"))
            })
            .collect();
        v.sort();
        // Symlinks (vmlinuz-6.1 → vmlinuz-6.1.0-…) would give the same seed twice.
        let mut seen = Vec::new();
        for p in v {
            let c = fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            if !seen.contains(&c) {
                seen.push(c);
                inputs.kernels.push(p);
            }
        }
    }
    inputs
}

/// Rewrites `corpus/<target>/` with the seeds; returns how many were written.
fn write_corpus(dir: &Path, seeds: &[Seed]) -> Result<usize, String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, bytes) in seeds {
        let path = dir.join(format!("seed-{name}"));
        fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(seeds.len())
}

/// `rustup`, from PATH or CARGO_HOME/bin.
fn rustup() -> Option<PathBuf> {
    image::which("rustup").or_else(|| {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        let p = home.join("bin").join("rustup");
        p.is_file().then_some(p)
    })
}

/// `rustup run nightly <args>` with the variables `cargo run` set for xtask removed, so
/// that the nightly cargo (not ours) and cargo-fuzz's own flags are used.
fn nightly(rustup: &Path) -> Command {
    let mut c = Command::new(rustup);
    c.args(["run", "nightly"]);
    for v in [
        "CARGO",
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        c.env_remove(v);
    }
    c
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why fuzzing cannot run here, if it cannot (the caller prints `skipped: …` and exits 0).
fn tool_check() -> Result<PathBuf, String> {
    let Some(rustup) = rustup() else {
        return Err("rustup not found; fuzzing needs rustup with a nightly toolchain".into());
    };
    if !succeeds(nightly(&rustup).args(["rustc", "--version"])) {
        return Err(
            "the nightly toolchain is not installed (libFuzzer and the sanitizers \
                    need it): `rustup toolchain install nightly` enables fuzzing"
                .into(),
        );
    }
    if !succeeds(nightly(&rustup).args(["cargo", "fuzz", "--version"])) {
        eprintln!("cargo-fuzz not found: cargo install cargo-fuzz --locked");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let ok = Command::new(cargo)
            .args(["install", "cargo-fuzz", "--locked"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !succeeds(nightly(&rustup).args(["cargo", "fuzz", "--version"])) {
            return Err(
                "cargo-fuzz is missing and `cargo install cargo-fuzz --locked` \
                        failed"
                    .into(),
            );
        }
    }
    Ok(rustup)
}

/// cargo-fuzz's target dir: our own under CARGO_TARGET_DIR, else the fuzz crate's default.
fn fuzz_target_dir() -> Option<PathBuf> {
    std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("fuzz"))
}

fn cargo_fuzz(rustup: &Path, sub: &str) -> Command {
    let mut c = nightly(rustup);
    c.current_dir(workspace_root().join("td-shim"));
    c.args(["cargo", "fuzz", sub, "--fuzz-dir"]).arg(fuzz_dir());
    if let Some(d) = fuzz_target_dir() {
        c.arg("--target-dir").arg(d);
    }
    c
}

struct Row {
    target: String,
    seeds: usize,
    stats: Stats,
    status: Option<i32>,
    log: PathBuf,
}

impl Row {
    fn failed(&self) -> bool {
        self.status != Some(0) || !self.stats.artifacts.is_empty() || self.stats.finding.is_some()
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |n| n.to_string())
}

fn print_table(rows: &[Row], seconds: u64) {
    println!();
    println!("fuzz results ({seconds} s per target)");
    println!(
        "{:<12} {:>6} {:>12} {:>9} {:>6} {:>7} {:>7} {:>5}  findings",
        "target", "seeds", "executions", "exec/s", "cov", "ft", "corpus", "new"
    );
    for r in rows {
        let finding = if r.failed() {
            let what = r
                .stats
                .finding
                .clone()
                .unwrap_or_else(|| format!("exit status {}", opt(r.status.map(|s| s as u64))));
            format!("FAIL: {what}")
        } else {
            "none".into()
        };
        println!(
            "{:<12} {:>6} {:>12} {:>9} {:>6} {:>7} {:>7} {:>5}  {}",
            r.target,
            r.seeds,
            opt(r.stats.executions),
            opt(r.stats.exec_per_sec),
            opt(r.stats.cov),
            opt(r.stats.ft),
            opt(r.stats.corpus),
            opt(r.stats.new_units),
            finding
        );
    }
}

/// `cargo xtask fuzz`.
pub fn fuzz(args: &FuzzArgs) -> Result<(), String> {
    let seconds = args.seconds.unwrap_or(if args.smoke {
        SMOKE_SECONDS
    } else {
        DEFAULT_SECONDS
    });
    let toml_path = fuzz_dir().join("Cargo.toml");
    let toml = fs::read_to_string(&toml_path)
        .map_err(|e| format!("cannot read {}: {e}", toml_path.display()))?;
    let all = discover_targets(&toml);
    if all.is_empty() {
        return Err(format!(
            "no [[bin]] fuzz targets in {}",
            toml_path.display()
        ));
    }
    let targets: Vec<String> = if args.targets.is_empty() {
        all.clone()
    } else {
        for t in &args.targets {
            if !all.contains(t) {
                return Err(format!(
                    "unknown fuzz target {t} (have: {})",
                    all.join(", ")
                ));
            }
        }
        args.targets.clone()
    };

    // Tools first: without nightly there is nothing to do, not even seeds to build.
    let rustup = if args.seeds_only {
        None
    } else {
        match tool_check() {
            Ok(r) => Some(r),
            Err(why) => {
                println!("skipped: cargo xtask fuzz: {why}");
                println!(
                    "skipped: (CI machines without nightly skip fuzzing; the fuzz smoke \
                     did NOT run)"
                );
                return Ok(());
            }
        }
    };

    eprintln!("fuzz: building seed inputs (small images, ELFs, kernels)");
    let inputs = collect_inputs();
    let corpus_root = fuzz_dir().join("corpus");
    let mut seeds = Vec::new();
    for t in &targets {
        let s = seeds_for(t, &inputs);
        if s.is_empty() {
            eprintln!("warning: no seed generator for fuzz target {t}; it starts empty");
        }
        let n = write_corpus(&corpus_root.join(t), &s)?;
        eprintln!("fuzz: {n} seeds in {}", corpus_root.join(t).display());
        seeds.push(n);
    }
    let Some(rustup) = rustup else {
        return Ok(());
    };

    eprintln!("fuzz: cargo +nightly fuzz build");
    let status = cargo_fuzz(&rustup, "build")
        .status()
        .map_err(|e| format!("cannot run cargo fuzz build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo fuzz build failed ({status})"));
    }

    let log_dir = fuzz_target_dir()
        .unwrap_or_else(|| fuzz_dir().join("target"))
        .join("logs");
    fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let mut rows = Vec::new();
    for (t, n) in targets.iter().zip(seeds) {
        let log = log_dir.join(format!("{t}.log"));
        eprintln!("fuzz: {t} for {seconds} s (log: {})", log.display());
        let out =
            fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
        let status = cargo_fuzz(&rustup, "run")
            .arg(t)
            .arg(corpus_root.join(t))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
            .arg("-print_final_stats=1")
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| format!("cannot run cargo fuzz run {t}: {e}"))?;
        let text = fs::read_to_string(&log).unwrap_or_default();
        let row = Row {
            target: t.clone(),
            seeds: n,
            stats: parse_log(&text),
            status: status.code(),
            log,
        };
        if row.failed() {
            eprintln!("fuzz: {t} FAILED; last lines of {}:", row.log.display());
            let lines: Vec<&str> = text.lines().collect();
            for l in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("    {l}");
            }
        }
        rows.push(row);
    }
    print_table(&rows, seconds);
    let failed: Vec<&Row> = rows.iter().filter(|r| r.failed()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for r in &failed {
        for a in &r.stats.artifacts {
            println!(
                "artifact ({}): {a}\n  replay: cd td-shim && cargo +nightly fuzz run --fuzz-dir fuzz {} {a}",
                r.target, r.target
            );
        }
        if r.stats.artifacts.is_empty() {
            println!(
                "{}: failed without an artifact; see {}",
                r.target,
                r.log.display()
            );
        }
    }
    Err(format!(
        "{} fuzz target(s) found a problem: {}",
        failed.len(),
        failed
            .iter()
            .map(|r| r.target.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;
    use td_shim::loader::bzimage;

    #[test]
    fn discovers_bin_names_only() {
        let toml = r#"
[package]
name = "td-shim-fuzz"

[dependencies]
libfuzzer-sys = "0.4"

[[bin]]
name = "hob"
path = "fuzz_targets/hob.rs"

[[bin]]
path = "fuzz_targets/fv.rs"
name   =  "fv"
"#;
        assert_eq!(discover_targets(toml), vec!["hob", "fv"]);
    }

    #[test]
    fn discovers_the_real_targets() {
        let toml = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        let t = discover_targets(&toml);
        for want in [
            "metadata",
            "hob",
            "fv",
            "e820",
            "elf",
            "bzimage",
            "acpi_loader",
            "insn",
            "signed_payload",
            "event_log",
            "fw_cfg_dir",
        ] {
            assert!(t.iter().any(|n| n == want), "{want} missing from {t:?}");
        }
    }

    #[test]
    fn fw_cfg_dir_seeds_parse() {
        let seeds = fw_cfg_dir_seeds();
        let files = td_shim::platform::fw_cfg::parse_directory(&seeds[1].1).expect("qemu seed");
        assert_eq!(files.len(), 5);
        assert_eq!(files[2].name, "etc/acpi/tables");
        assert_eq!(files[2].size, 0x20000);
        assert!(td_shim::platform::fw_cfg::parse_directory(&seeds[0].1)
            .expect("empty seed")
            .is_empty());
    }

    #[test]
    fn event_log_seeds_parse() {
        let seeds = event_log_seeds();
        assert_eq!(seeds.len(), 3);
        for (name, seed) in &seeds {
            let log = td_shim::format::event_log::parse(seed).expect(name);
            assert_eq!(log.events.len(), if name == "spec-id-only" { 0 } else { 8 });
        }
    }

    #[test]
    fn signed_payload_seeds_parse() {
        use td_shim::format::{cfv, signed_payload};
        let seeds = signed_payload_seeds(&SeedInputs::default());
        assert_eq!(seeds.len(), 8);
        for (name, seed) in &seeds {
            let ok = if name.starts_with("signed") {
                signed_payload::parse(seed).is_ok()
            } else if name.starts_with("cfv") {
                cfv::policy(seed).is_ok_and(|p| p.anchor.is_some())
            } else if name == "trust-anchor" {
                cfv::parse_anchor(seed).is_ok()
            } else {
                cfv::parse_min_svn(seed) == Ok(2)
            };
            assert!(ok, "{name}");
        }
    }

    #[test]
    fn insn_seeds_decode() {
        for (name, bytes) in insn_seeds() {
            let d = td_shim::arch::insn::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(usize::from(d.len), bytes.len(), "{name}");
        }
    }

    #[test]
    fn parses_a_clean_run() {
        let log = "\
INFO: Seed: 1234
#2\tINITED cov: 50 ft: 60 corp: 4/1024b exec/s: 0 rss: 30Mb
#1024\tpulse  cov: 80 ft: 100 corp: 9/2Kb lim: 4096 exec/s: 512 rss: 31Mb
#52341\tDONE   cov: 91 ft: 130 corp: 12/3Kb lim: 4096 exec/s: 8723 rss: 40Mb
Done 52341 runs in 6 second(s)
stat::number_of_executed_units: 52341
stat::average_exec_per_sec:     8723
stat::new_units_added:          8
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              40
";
        let s = parse_log(log);
        assert_eq!(s.executions, Some(52341));
        assert_eq!(s.exec_per_sec, Some(8723));
        assert_eq!(s.cov, Some(91));
        assert_eq!(s.ft, Some(130));
        assert_eq!(s.corpus, Some(12));
        assert_eq!(s.new_units, Some(8));
        assert_eq!(s.peak_rss_mb, Some(40));
        assert_eq!(s.finding, None);
        assert!(s.artifacts.is_empty());
    }

    #[test]
    fn parses_a_crash() {
        let log = "\
#300\tNEW    cov: 70 ft: 80 corp: 5/100b lim: 4 exec/s: 0 rss: 30Mb L: 4/4 MS: 1 ChangeBit-
thread '<unnamed>' panicked at src/format/hob.rs:10:5:
attempt to add with overflow
==99== ERROR: libFuzzer: deadly signal
SUMMARY: libFuzzer: deadly signal
MS: 1 ChangeBit-; base unit: 0
artifact_prefix='/w/td-shim/fuzz/artifacts/hob/'; Test unit written to /w/td-shim/fuzz/artifacts/hob/crash-abc
";
        let s = parse_log(log);
        assert_eq!(
            s.finding.as_deref(),
            Some("thread '<unnamed>' panicked at src/format/hob.rs:10:5:")
        );
        assert_eq!(s.artifacts, vec!["/w/td-shim/fuzz/artifacts/hob/crash-abc"]);
        assert_eq!(s.executions, Some(300));
        assert_eq!(s.cov, Some(70));
    }

    #[test]
    fn hob_seeds_parse_at_their_base() {
        for (name, seed) in hob_seeds() {
            let base = u64::from_le_bytes(seed[..8].try_into().unwrap());
            let list = &seed[8..];
            let r = hob::parse(list, base);
            if name.ends_with("base-0") {
                // Built for 0x7F00_0000: the end-of-list pointer must not match base 0.
                assert!(r.is_err(), "{name}");
                assert!(hob::parse(list, 0x7F00_0000).is_ok(), "{name}");
            } else {
                let l = r.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(l.as_bytes().len(), list.len(), "{name}");
            }
        }
        let payload = hob_seeds()
            .into_iter()
            .find(|(n, _)| n == "payload-hob")
            .unwrap();
        let list = hob::parse(&payload.1[8..], 0x7F00_0000).unwrap();
        assert_eq!(list.guid_data(hob::E820_TABLE_GUID).count(), 1);
        assert_eq!(list.guid_data(hob::ACPI_TABLE_GUID).count(), 1);
    }

    #[test]
    fn e820_seeds_parse() {
        for (name, seed) in e820_seeds() {
            let entries = e820::parse(&seed).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(entries.len(), seed.len() / e820::ENTRY_SIZE, "{name}");
        }
    }

    #[test]
    fn fv_seeds_parse_with_files() {
        let inputs = SeedInputs::default();
        let seeds = fv_seeds(&inputs);
        assert!(seeds.len() >= 5);
        for (name, seed) in seeds {
            let vol = fv::parse(&seed).unwrap_or_else(|e| panic!("{name}: {e}"));
            let files = vol.files().unwrap_or_else(|e| panic!("{name}: {e}"));
            if name != "cfv-empty" {
                assert!(!files.is_empty(), "{name}");
            }
        }
    }

    #[test]
    fn compact_metadata_seeds_parse_and_validate() {
        let seeds = metadata_seeds(&SeedInputs::default());
        for (name, seed) in &seeds {
            if name.starts_with("compact") {
                let md = metadata::parse_image(seed).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(md.has_guid, "{name}");
                let want = if name.ends_with("minimal") { 4 } else { 8 };
                assert_eq!(md.sections.len(), want, "{name}");
                metadata::validate(&md, seed.len() as u64)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        let (_, desc) = seeds.iter().find(|(n, _)| n == "descriptor-at-0").unwrap();
        let md = metadata::parse_descriptor(desc, 0, false).unwrap();
        assert_eq!(md.sections.len(), 8);
        metadata::validate(&md, desc.len() as u64).unwrap();
    }

    #[test]
    fn synthetic_vmlinux_head_parses_as_built() {
        let v = td_shim::loader::vmlinux::parse_head(&synthetic_vmlinux()).unwrap();
        assert_eq!(
            (v.start, v.end, v.entry),
            (0x100_0000, 0x140_2000, 0x100_0B53)
        );
        assert_eq!(v.segments.len(), 2);
    }

    #[test]
    fn synthetic_bzimage_parses_as_built() {
        let b = synthetic_bzimage(0x1000);
        let k = bzimage::parse(&b).unwrap();
        assert_eq!(k.version, 0x020F);
        assert_eq!(k.setup_size, 0x1000);
        assert_eq!(k.pm_len, 0x1000);
        assert_eq!(k.kernel_alignment, 0x20_0000);
        assert_eq!(k.init_size, 0x200_0000);
        assert!(k.relocatable && k.can_load_above_4g);
        // 0x202 + 0x66 = 0x268: the header is 0x268 − 0x1F1 bytes.
        assert_eq!(k.header_len, 0x268 - 0x1F1);
        // Shortening keeps it valid and sets syssize to the kept paragraphs.
        let s = shortened_kernel(&synthetic_bzimage(0x4000), 0x100).unwrap();
        assert_eq!(s.len(), 0x1000 + 0x100);
        assert_eq!(
            u32::from_le_bytes(s[0x1F4..0x1F8].try_into().unwrap()),
            0x10
        );
        assert_eq!(bzimage::parse(&s).unwrap().pm_len, 0x100);
    }

    #[test]
    fn acpi_seed_links_like_qemu() {
        for wp in [false, true] {
            let input = acpi_loader_input(wp);
            let len_a = usize::from(u16::from_le_bytes([input[0], input[1]]));
            let len_b = usize::from(u16::from_le_bytes([input[2], input[3]]));
            let gpa_b = u64::from_le_bytes(input[12..20].try_into().unwrap());
            let mut a = input[20..20 + len_a].to_vec();
            let mut b = input[20 + len_a..20 + len_a + len_b].to_vec();
            let script = &input[20 + len_a + len_b..];
            let cmds = acpi::parse_script(script).unwrap();
            assert_eq!(cmds.len(), if wp { 14 } else { 13 });
            let gpa_a = u64::from_le_bytes(input[4..12].try_into().unwrap());
            let mut files = [
                acpi::LoadedFile {
                    name: RSDP_FILE,
                    gpa: gpa_a,
                    bytes: &mut a,
                },
                acpi::LoadedFile {
                    name: TABLES_FILE,
                    gpa: gpa_b,
                    bytes: &mut b,
                },
            ];
            let writes = acpi::execute(&cmds, &mut files).unwrap();
            assert_eq!(writes.len(), usize::from(wp));
            // The RSDP now points at the XSDT's GPA, and both XSDT entries were relocated.
            let rsdp = acpi::parse_rsdp(&a).unwrap();
            let xsdt_at = usize::try_from(rsdp.xsdt_address - gpa_b).unwrap();
            let xsdt = acpi::parse_table(&b[xsdt_at..]).unwrap();
            let entries = acpi::xsdt_entries(xsdt.bytes).unwrap();
            assert_eq!(entries.len(), 2);
            for e in entries {
                let t = acpi::parse_table(&b[usize::try_from(e - gpa_b).unwrap()..]).unwrap();
                assert!(t.signature == *b"FACP" || t.signature == *b"APIC");
            }
        }
    }

    #[test]
    fn seed_images_use_cargo_image_options() {
        let c =
            ImageCli::try_parse_from(["image", "--release", "-o", "/x/a.bin", "--example-payload"])
                .unwrap();
        assert!(c.args.release && c.args.example_payload);
        assert_eq!(c.args.output.as_deref(), Some(Path::new("/x/a.bin")));
        assert_eq!(c.args.image_size, None);
    }

    #[test]
    fn corpus_is_regenerated() {
        let dir = std::env::temp_dir().join(format!("xtask-fuzz-corpus-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("old-finding"), b"x").unwrap();
        let n = write_corpus(&dir, &[("a".into(), vec![1]), ("b".into(), vec![2, 3])]).unwrap();
        assert_eq!(n, 2);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["seed-a", "seed-b"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
