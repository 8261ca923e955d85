// SPDX-License-Identifier: BSD-2-Clause-Patent
//! QEMU (TCG) boot tests of Linux direct boot: Debian's 6.1 and 6.12 cloud kernels, given to
//! the firmware by QEMU's fw_cfg (`-kernel -initrd -append`) or embedded in the image, with
//! the test initramfs (`tests/initramfs/`) reporting what the kernel found as
//! `TDSHIM-FACT key=value` lines before it powers the VM off. Hostile kernels, command lines
//! and initrds must end in one `td-shim: ERROR boot failed: ...` line and a halted (not
//! reset, not triple-faulted) machine.
//!
//! Inputs come from `cargo xtask boot-test`, through environment variables:
//! - `TD_SHIM_KERNELS`: directory with `vmlinuz-6.1` and `vmlinuz-6.12`
//!   (`sh_script/fetch-kernels.sh`);
//! - `TD_SHIM_TEST_IMAGES`: directory with `linux.bin` (the default image: no payload, the
//!   kernel comes from fw_cfg), `linux-embedded-6.12.bin` (6.12 + initramfs + command line
//!   embedded) and `initramfs.img`.
//!
//! What the guest prints is only trusted as far as the assertions go: every fact is parsed
//! defensively and a missing one fails the test with the whole serial log.

use std::path::{Path, PathBuf};
use std::time::Duration;
use td_shim::loader::vmlinux;
use td_shim_boot_tests::{image, images_dir, Outcome, Run};

/// Per-boot limit. A good boot takes 5-15 s under TCG on an idle machine; two tests run at
/// once on a 2-core machine and -smp 4 guests share those cores, so leave a wide margin.
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// Hostile inputs are refused before the kernel runs: a couple of seconds.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(60);

/// The command line of the embedded-kernel image (set by `cargo xtask boot-test`).
const EMBEDDED_MARKER: &str = "tdshim-embedded-cmdline";

fn kernels_dir() -> PathBuf {
    match std::env::var_os("TD_SHIM_KERNELS") {
        Some(d) => PathBuf::from(d),
        None => {
            panic!("TD_SHIM_KERNELS is not set: run the boot tests with `cargo xtask boot-test`")
        }
    }
}

fn kernel(version: &str) -> PathBuf {
    let p = kernels_dir().join(format!("vmlinuz-{version}"));
    assert!(
        p.is_file(),
        "kernel {} missing: run sh_script/fetch-kernels.sh (cargo xtask boot-test does)",
        p.display()
    );
    p
}

fn initramfs() -> PathBuf {
    image("initramfs.img")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A scratch directory private to one test (removed by [`Scratch::drop`]).
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let d = std::env::temp_dir().join(format!("td-shim-linux-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create scratch dir");
        Scratch(d)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- boot protocol header fields (Linux Documentation/arch/x86/boot.rst) -----------------
// Offsets in the bzImage file (= in boot_params, the setup header starts at 0x1f1).
const HDR_SETUP_SECTS: usize = 0x1f1;
const HDR_SYSSIZE: usize = 0x1f4;
const HDR_HEADER: usize = 0x202;
const HDR_VERSION: usize = 0x206;
const HDR_INITRD_ADDR_MAX: usize = 0x22c;
const HDR_XLOADFLAGS: usize = 0x236;
const HDR_CMDLINE_SIZE: usize = 0x238;
const HDR_INIT_SIZE: usize = 0x260;
const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

/// The unmodified kernel, with a sanity check that it is what the patches below assume.
fn kernel_bytes(version: &str) -> Vec<u8> {
    let k = std::fs::read(kernel(version)).expect("read kernel");
    assert_eq!(&k[HDR_HEADER..HDR_HEADER + 4], b"HdrS", "not a bzImage");
    assert!(
        get_u16(&k, HDR_VERSION) >= 0x020c,
        "test kernel below protocol 2.12"
    );
    k
}

// ---- running ------------------------------------------------------------------------------

/// How the kernel reaches the firmware.
enum Kernel<'a> {
    /// `-kernel FILE` (fw_cfg), with an optional `-initrd` and an `-append` line.
    FwCfg {
        kernel: &'a Path,
        initrd: Option<&'a Path>,
        cmdline: &'a str,
    },
    /// Embedded in the image (no -kernel).
    Embedded,
}

fn run(
    image: &Path,
    memory: &str,
    smp: u32,
    k: &Kernel,
    stop_on: Option<&str>,
    t: Duration,
) -> Outcome {
    let mut r = Run::new(image).memory(memory).smp(smp).timeout(t);
    if let Kernel::FwCfg {
        kernel,
        initrd,
        cmdline,
    } = k
    {
        r = r
            .arg("-kernel")
            .arg(path_str(kernel))
            .arg("-append")
            .arg(cmdline);
        if let Some(i) = initrd {
            r = r.arg("-initrd").arg(path_str(i));
        }
    }
    if let Some(s) = stop_on {
        r = r.stop_on(s);
    }
    r.run().expect("qemu starts")
}

/// Signs that the guest kernel crashed on its own (seen now and then with several vCPUs
/// under TCG), as opposed to a firmware failure.
const GUEST_CRASH_SIGNS: [&str; 6] = [
    "Oops",
    "BUG: ",
    "general protection fault",
    "Kernel panic",
    "watchdog: ",
    "rcu: INFO: rcu_preempt self-detected stall",
];

fn guest_crashed(o: &Outcome) -> bool {
    o.find("Linux version").is_some()
        && o.find("td-shim: ERROR").is_none()
        && o.find("TDSHIM-INIT-DONE").is_none()
        && GUEST_CRASH_SIGNS.iter().any(|s| o.find(s).is_some())
}

/// Boots to the initramfs and back (ACPI poweroff). SMP runs retry once, and only once,
/// when the guest kernel crashed by itself.
fn boot_linux(image: &Path, memory: &str, smp: u32, k: &Kernel) -> Outcome {
    let o = run(image, memory, smp, k, None, BOOT_TIMEOUT);
    if smp > 1 && guest_crashed(&o) {
        eprintln!(
            "linux boot test: -smp {smp} -m {memory}: the guest kernel crashed by itself, retrying once\n{}",
            o.describe()
        );
        return run(image, memory, smp, k, None, BOOT_TIMEOUT);
    }
    o
}

/// The facts the initramfs printed, in order.
fn facts(o: &Outcome) -> Vec<(String, String)> {
    o.lines
        .iter()
        .filter_map(|(_, l)| {
            let rest = &l[l.find("TDSHIM-FACT ")? + "TDSHIM-FACT ".len()..];
            let (k, v) = rest.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

fn fact(o: &Outcome, key: &str) -> String {
    facts(o)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no TDSHIM-FACT {key}=\n{}", o.describe()))
}

/// The init script ran to its end and QEMU exited through ACPI poweroff (status 0 with
/// -no-reboot), i.e. the firmware's ACPI tables work well enough for the kernel to power off.
fn assert_booted(o: &Outcome) {
    assert!(!o.timed_out, "timed out\n{}", o.describe());
    assert!(
        o.find("td-shim: ERROR").is_none(),
        "firmware error\n{}",
        o.describe()
    );
    assert!(
        o.find("Linux version").is_some(),
        "kernel never spoke\n{}",
        o.describe()
    );
    assert!(
        o.find("TDSHIM-INIT-DONE").is_some(),
        "init did not finish\n{}",
        o.describe()
    );
    assert_eq!(
        o.code(),
        Some(0),
        "no clean ACPI poweroff\n{}",
        o.describe()
    );
}

fn parse_mem(m: &str) -> u64 {
    let (n, unit) = m.split_at(m.len() - 1);
    let n: u64 = n.parse().expect("memory size");
    match unit {
        "M" => n,
        "G" => n * 1024,
        _ => panic!("memory size {m}: use M or G"),
    }
}

/// Band for MemTotal (KiB) of a guest started with `-m memory`.
///
/// QEMU gives the guest exactly `-m` of RAM (q35 puts the part above 2 GiB, or all of it
/// above 2.75 GiB, at 4 GiB and up); the firmware's E820 may only report less (holes for its
/// own reserved pages and ACPI tables). The kernel then keeps out of MemTotal:
/// - its `struct page` array: 64 bytes per 4 KiB page, i.e. 1/64 of RAM, always;
/// - its own image, early page tables, the first MiB, per-CPU areas, log buffer and similar
///   boot-time reservations, plus what the firmware reserved: together well under 96 MiB
///   (QEMU's SeaBIOS gives 39-51 MiB for these Debian kernels at 256 MiB-6 GiB);
/// - a 64 MiB swiotlb bounce buffer when RAM extends above 4 GiB.
///
/// So MemTotal ≤ RAM − RAM/64, and ≥ that minus 96 MiB minus the swiotlb. Reference values
/// measured with SeaBIOS for 6.12: 256M → 218368, 2G → 2022012, 6G → 6075248 KiB.
fn memtotal_band_kb(memory: &str) -> (u64, u64) {
    let ram_mib = parse_mem(memory);
    let ram_kb = ram_mib * 1024;
    let memmap_kb = ram_kb / 64;
    let above_4g = ram_mib >= 2816; // q35: RAM ≥ 2.75 GiB → 2 GiB low, the rest at 4 GiB
    let swiotlb_kb = if above_4g { 64 * 1024 } else { 0 };
    let hi = ram_kb - memmap_kb;
    let lo = hi - 96 * 1024 - swiotlb_kb;
    (lo, hi)
}

/// Parses `mem_e820` (`start-end:type` with `end` inclusive, hex) into (start, end_exclusive, type).
fn e820(o: &Outcome) -> Vec<(u64, u64, String)> {
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16);
    fact(o, "mem_e820")
        .split_whitespace()
        .map(|e| {
            let (range, ty) = e
                .split_once(':')
                .unwrap_or_else(|| panic!("e820 entry {e}"));
            let (s, end) = range
                .split_once('-')
                .unwrap_or_else(|| panic!("e820 entry {e}"));
            let (s, end) = (hex(s).expect("e820 start"), hex(end).expect("e820 end"));
            (s, end + 1, ty.to_string())
        })
        .collect()
}

/// Every fact a good boot must show.
fn assert_facts(o: &Outcome, memory: &str, smp: u32, marker: &str) {
    assert_booted(o);
    let cpus: u32 = fact(o, "cpus").parse().expect("cpus is a number");
    assert_eq!(cpus, smp, "online CPUs\n{}", o.describe());

    let mem_kb: u64 = fact(o, "memtotal_kb")
        .parse()
        .expect("memtotal is a number");
    let (lo, hi) = memtotal_band_kb(memory);
    assert!(
        (lo..=hi).contains(&mem_kb),
        "MemTotal {mem_kb} KiB outside [{lo}, {hi}] for -m {memory}\n{}",
        o.describe()
    );

    let cmdline = fact(o, "cmdline");
    assert!(
        cmdline.split_whitespace().any(|w| w == marker),
        "cmdline {cmdline:?} lacks {marker}\n{}",
        o.describe()
    );
    assert!(
        cmdline.split_whitespace().any(|w| w == "console=ttyS0"),
        "cmdline {cmdline:?}"
    );

    // QEMU's own tables, passed on through etc/table-loader.
    let acpi = fact(o, "acpi");
    let tables: Vec<&str> = acpi.split_whitespace().collect();
    for t in ["APIC", "FACP", "DSDT"] {
        assert!(
            tables.contains(&t),
            "ACPI tables {tables:?} lack {t}\n{}",
            o.describe()
        );
    }

    let pci = fact(o, "pci");
    let devs: Vec<&str> = pci.split_whitespace().collect();
    assert!(!devs.is_empty(), "no PCI devices\n{}", o.describe());
    // q35's host bridge (8086:29c0) is always there.
    assert!(
        devs.contains(&"8086:29c0"),
        "PCI {devs:?} lacks the q35 host bridge"
    );

    // The E820 the kernel got: RAM entries, sorted, not overlapping, not above the RAM QEMU has.
    let map = e820(o);
    let ram: Vec<&(u64, u64, String)> = map.iter().filter(|(_, _, t)| t == "System_RAM").collect();
    assert!(!ram.is_empty(), "no RAM in the E820\n{}", o.describe());
    for w in map.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "E820 entries overlap or are unsorted: {map:?}"
        );
    }
    let ram_bytes: u64 = ram.iter().map(|(s, e, _)| e - s).sum();
    let total = parse_mem(memory) << 20;
    assert!(
        ram_bytes <= total,
        "E820 RAM {ram_bytes:#x} > -m {memory}: {map:?}"
    );
    // At least everything the kernel counted, plus its struct pages.
    assert!(
        ram_bytes >= mem_kb * 1024,
        "E820 RAM {ram_bytes:#x} < MemTotal: {map:?}"
    );
}

// ---- good boots ---------------------------------------------------------------------------

fn fw_cfg_boot(version: &str, memory: &str, smp: u32, marker: &str) -> Outcome {
    let k = kernel(version);
    let i = initramfs();
    let cmdline = format!("console=ttyS0 {marker}");
    boot_linux(
        &image("linux.bin"),
        memory,
        smp,
        &Kernel::FwCfg {
            kernel: &k,
            initrd: Some(&i),
            cmdline: &cmdline,
        },
    )
}

/// The "done when": Debian's 6.12 kernel with 4 vCPUs and 6 GiB, RAM above 4 GiB.
#[test]
fn linux_6_12_smp4_6g_fw_cfg() {
    let marker = "tdshim-marker-612-smp4-6g";
    let o = fw_cfg_boot("6.12", "6G", 4, marker);
    assert_facts(&o, "6G", 4, marker);
    // q35 with 6 GiB: 2 GiB below the PCI hole, 4 GiB at [4 GiB, 8 GiB). The kernel must
    // have been told about (nearly) all of the high part.
    let high: u64 = e820(&o)
        .iter()
        .filter(|(s, _, t)| *s >= 1 << 32 && t == "System_RAM")
        .map(|(s, e, _)| e - s)
        .sum();
    assert!(
        ((4 << 30) - (64 << 20)..=4 << 30).contains(&high),
        "RAM above 4 GiB: {high:#x}\n{}",
        o.describe()
    );
}

#[test]
fn linux_6_12_smp1_256m_fw_cfg() {
    let marker = "tdshim-marker-612-smp1-256m";
    let o = fw_cfg_boot("6.12", "256M", 1, marker);
    assert_facts(&o, "256M", 1, marker);
}

#[test]
fn linux_6_12_smp1_2g_fw_cfg() {
    let marker = "tdshim-marker-612-smp1-2g";
    let o = fw_cfg_boot("6.12", "2G", 1, marker);
    assert_facts(&o, "2G", 1, marker);
}

#[test]
fn linux_6_1_smp1_256m_fw_cfg() {
    let marker = "tdshim-marker-61-smp1-256m";
    let o = fw_cfg_boot("6.1", "256M", 1, marker);
    assert_facts(&o, "256M", 1, marker);
}

#[test]
fn linux_6_1_smp4_6g_fw_cfg() {
    let marker = "tdshim-marker-61-smp4-6g";
    let o = fw_cfg_boot("6.1", "6G", 4, marker);
    assert_facts(&o, "6G", 4, marker);
}

/// Kernel, initramfs and command line embedded in the image; QEMU passes no kernel.
#[test]
fn linux_6_12_embedded_smp2_1g() {
    let o = boot_linux(
        &image("linux-embedded-6.12.bin"),
        "1G",
        2,
        &Kernel::Embedded,
    );
    assert_facts(&o, "1G", 2, EMBEDDED_MARKER);
}

/// Without an initrd the kernel finds no root file system: it must get that far (the
/// firmware booted it with a command line) and panic with the well-known line.
#[test]
fn linux_6_12_without_initrd_panics_on_root_fs() {
    let k = kernel("6.12");
    let marker = "tdshim-marker-no-initrd";
    let o = run(
        &image("linux.bin"),
        "512M",
        1,
        &Kernel::FwCfg {
            kernel: &k,
            initrd: None,
            cmdline: &format!("console=ttyS0 {marker}"),
        },
        Some("VFS: Unable to mount root fs"),
        BOOT_TIMEOUT,
    );
    assert!(o.stopped, "no root-fs panic\n{}", o.describe());
    assert!(o.find("td-shim: ERROR").is_none(), "{}", o.describe());
    let (_, cmd) = o
        .find("Kernel command line:")
        .unwrap_or_else(|| panic!("kernel did not echo its command line\n{}", o.describe()));
    assert!(cmd.contains(marker), "{cmd}");
    assert!(o.find("TDSHIM-INIT-START").is_none(), "{}", o.describe());
}

// ---- hostile inputs -----------------------------------------------------------------------

/// The firmware refused to boot: exactly one error line, the kernel never ran, and the
/// machine stayed up halted until we stopped it (a reset or triple fault would have ended
/// QEMU by itself under -no-reboot).
///
/// `reason` lists words of which the error line must contain one (case-insensitive), so that
/// an unrelated failure (say, no payload found at all) does not pass for the refusal.
fn assert_refused(o: &Outcome, what: &str, reason: &[&str]) {
    assert!(
        !o.timed_out,
        "{what}: no error within the time limit\n{}",
        o.describe()
    );
    assert!(
        o.stopped,
        "{what}: QEMU ended by itself (reset/triple fault?)\n{}",
        o.describe()
    );
    let errors: Vec<&str> = o
        .lines
        .iter()
        .map(|(_, l)| l.as_str())
        .filter(|l| l.contains("td-shim: ERROR"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "{what}: want one error line\n{}",
        o.describe()
    );
    assert!(
        errors[0].contains("td-shim: ERROR boot failed: "),
        "{what}: {}",
        errors[0]
    );
    let lower = errors[0].to_lowercase();
    assert!(
        reason.iter().any(|w| lower.contains(&w.to_lowercase())),
        "{what}: the error names none of {reason:?}: {}",
        errors[0]
    );
    assert!(
        o.find("Linux version").is_none(),
        "{what}: the kernel ran\n{}",
        o.describe()
    );
    assert!(
        o.find("Decompressing").is_none(),
        "{what}: the kernel ran\n{}",
        o.describe()
    );
    eprintln!("{what}: {}", errors[0]);
}

fn refuse_fw_cfg(
    memory: &str,
    kernel: &Path,
    initrd: Option<&Path>,
    cmdline: &str,
    what: &str,
    reason: &[&str],
) {
    let o = run(
        &image("linux.bin"),
        memory,
        1,
        &Kernel::FwCfg {
            kernel,
            initrd,
            cmdline,
        },
        Some("td-shim: ERROR"),
        REFUSE_TIMEOUT,
    );
    assert_refused(&o, what, reason);
}

#[test]
fn refuses_truncated_kernel_fw_cfg() {
    let s = Scratch::new("truncated");
    let k = kernel_bytes("6.12");
    // Setup code intact (QEMU checks that much), protected-mode part cut in half: shorter
    // than the header's syssize says.
    let setup = (k[HDR_SETUP_SECTS] as usize + 1) * 512;
    let syssize = get_u32(&k, HDR_SYSSIZE) as usize * 16;
    let cut = setup + syssize / 2;
    let p = s.write("vmlinuz-trunc", &k[..cut]);
    refuse_fw_cfg(
        "512M",
        &p,
        None,
        "console=ttyS0",
        "truncated kernel (fw_cfg)",
        &["truncated", "short", "size"],
    );
}

#[test]
fn refuses_wrong_magic_fw_cfg() {
    // QEMU itself refuses a kernel without "HdrS" when an initrd is given ("linux kernel too
    // old to load a ram disk"), so this one goes without an initrd.
    let s = Scratch::new("magic");
    let mut k = kernel_bytes("6.12");
    k[HDR_HEADER..HDR_HEADER + 4].copy_from_slice(b"HdrX");
    let p = s.write("vmlinuz-magic", &k);
    refuse_fw_cfg(
        "512M",
        &p,
        None,
        "console=ttyS0",
        "wrong magic (fw_cfg)",
        &["magic", "hdrs"],
    );
}

/// A minimal uncompressed kernel as QEMU's `-kernel` takes an ELF: one PT_LOAD (r-x, 4 KiB)
/// at `paddr`, entry `entry`, and the PVH entry note (Xen, type 18) that QEMU insists on
/// before it loads the file itself.
fn tiny_vmlinux(entry: u64, paddr: u64) -> Vec<u8> {
    let mut f = vmlinux::test_file(
        entry,
        &[
            (1, 5, 0x1000, paddr, 0x1000, 0x1000), // PT_LOAD r-x
            (4, 4, 0x100, 0, 20, 20),              // PT_NOTE
        ],
        0x2000,
    );
    // The note at 0x100: namesz 4, descsz 4, type 18 (XEN_ELFNOTE_PHYS32_ENTRY), "Xen", entry.
    for (i, v) in [4u32, 4, 18].iter().enumerate() {
        f[0x100 + 4 * i..0x104 + 4 * i].copy_from_slice(&v.to_le_bytes());
    }
    f[0x10C..0x110].copy_from_slice(b"Xen\0");
    f[0x110..0x114].copy_from_slice(&(paddr as u32).to_le_bytes());
    f[0x1000..0x1002].copy_from_slice(&[0xEB, 0xFE]); // jmp $
    f
}

#[test]
fn refuses_a_vmlinux_whose_entry_is_not_its_code_fw_cfg() {
    let s = Scratch::new("vmlinux-entry");
    let p = s.write("vmlinux-entry", &tiny_vmlinux(0x200_0000, 0x100_0000));
    refuse_fw_cfg(
        "512M",
        &p,
        None,
        "console=ttyS0",
        "a vmlinux entered outside its code (fw_cfg)",
        &["entry 0x2000000 is not inside an executable segment"],
    );
}

#[test]
fn refuses_a_vmlinux_loaded_over_the_firmware_fw_cfg() {
    // QEMU puts it where its program headers say, on the firmware's heap at 2 MiB: the
    // firmware ran over it before it knew, so it must not jump there.
    let s = Scratch::new("vmlinux-low");
    let p = s.write("vmlinux-low", &tiny_vmlinux(0x20_0000, 0x20_0000));
    refuse_fw_cfg(
        "512M",
        &p,
        None,
        "console=ttyS0",
        "a vmlinux over the firmware (fw_cfg)",
        &["payload needs [0x200000, 0x201000) which is not free ram"],
    );
}

#[test]
fn refuses_protocol_below_2_12_fw_cfg() {
    let s = Scratch::new("proto");
    let mut k = kernel_bytes("6.12");
    put_u16(&mut k, HDR_VERSION, 0x020b); // 2.11: no xloadflags, no 64-bit entry promise
    let p = s.write("vmlinuz-proto", &k);
    refuse_fw_cfg(
        "512M",
        &p,
        Some(&initramfs()),
        "console=ttyS0",
        "protocol 2.11 (fw_cfg)",
        &["protocol", "version"],
    );
}

#[test]
fn refuses_init_size_larger_than_ram_fw_cfg() {
    let s = Scratch::new("initsize");
    let mut k = kernel_bytes("6.12");
    // 126 MiB of working space for the kernel in a 128 MiB guest. The kernel must start on a
    // 2 MiB boundary (kernel_alignment) above the firmware's own pages at 1-3.25 MiB, so at
    // 4 MiB at the lowest: 4 + 126 > 128, no placement fits. (112 MiB would fit exactly at
    // the preferred 16 MiB: [16, 128) MiB.)
    put_u32(&mut k, HDR_INIT_SIZE, 126 << 20);
    let p = s.write("vmlinuz-initsize", &k);
    refuse_fw_cfg(
        "128M",
        &p,
        Some(&initramfs()),
        "console=ttyS0",
        "init_size > RAM (fw_cfg)",
        &["init_size", "ram", "fit", "memory"],
    );
}

#[test]
fn refuses_cmdline_longer_than_cmdline_size_fw_cfg() {
    let s = Scratch::new("cmdsize");
    let mut k = kernel_bytes("6.12");
    // The kernel accepts at most 64 bytes (without the NUL); give it 100 + "console=ttyS0 ".
    put_u32(&mut k, HDR_CMDLINE_SIZE, 64);
    let p = s.write("vmlinuz-cmdsize", &k);
    let long = format!("console=ttyS0 {}", "x".repeat(100));
    refuse_fw_cfg(
        "512M",
        &p,
        Some(&initramfs()),
        &long,
        "cmdline > cmdline_size (fw_cfg)",
        &["command line", "cmdline"],
    );
}

#[test]
fn refuses_initrd_larger_than_ram_fw_cfg() {
    let s = Scratch::new("bigrd");
    let k = kernel("6.12");
    // 100 MiB of initrd next to a kernel that needs 16 MiB + init_size (~56 MiB) in a 128 MiB
    // guest. QEMU accepts it (it only checks against initrd_addr_max and low RAM).
    let rd = s.0.join("initrd-100m");
    let f = std::fs::File::create(&rd).unwrap();
    f.set_len(100 << 20).unwrap();
    drop(f);
    refuse_fw_cfg(
        "128M",
        &k,
        Some(&rd),
        "console=ttyS0",
        "100 MiB initrd in 128 MiB (fw_cfg)",
        &["initrd", "ram", "fit", "memory"],
    );
}

#[test]
fn refuses_initrd_above_initrd_addr_max_fw_cfg() {
    let s = Scratch::new("rdmax");
    let mut k = kernel_bytes("6.12");
    let rd = initramfs();
    let rd_len = std::fs::metadata(&rd).unwrap().len();
    // The initrd must end below 1 MiB, where at most 640 KiB of RAM exist: it cannot fit.
    // (Clear "can be loaded above 4G" so no loader may ignore the limit.)
    assert!(
        rd_len > 640 << 10 && rd_len < 1 << 20,
        "initramfs size {rd_len}"
    );
    put_u32(&mut k, HDR_INITRD_ADDR_MAX, 0xf_ffff);
    let xlf = get_u16(&k, HDR_XLOADFLAGS) & !XLF_CAN_BE_LOADED_ABOVE_4G;
    put_u16(&mut k, HDR_XLOADFLAGS, xlf);
    let p = s.write("vmlinuz-rdmax", &k);
    refuse_fw_cfg(
        "512M",
        &p,
        Some(&rd),
        "console=ttyS0",
        "initrd_addr_max 1 MiB (fw_cfg)",
        &["initrd"],
    );
}

/// Finds the embedded kernel inside the embedded-kernel image (its bytes are stored as they
/// are in the payload firmware volume) and returns the image and the kernel's offset.
fn embedded_image() -> (Vec<u8>, usize) {
    let img = std::fs::read(image("linux-embedded-6.12.bin")).unwrap();
    let k = kernel_bytes("6.12");
    let needle = &k[..4096];
    let at = img
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the embedded kernel's first 4 KiB appear as they are in linux-embedded-6.12.bin");
    (img, at)
}

fn refuse_embedded(patch: impl FnOnce(&mut [u8], usize), name: &str, what: &str, reason: &[&str]) {
    let s = Scratch::new(name);
    let (mut img, at) = embedded_image();
    patch(&mut img, at);
    let p = s.write("image.bin", &img);
    let o = run(
        &p,
        "512M",
        1,
        &Kernel::Embedded,
        Some("td-shim: ERROR"),
        REFUSE_TIMEOUT,
    );
    assert_refused(&o, what, reason);
}

#[test]
fn refuses_wrong_magic_embedded() {
    refuse_embedded(
        |img, at| img[at + HDR_HEADER..at + HDR_HEADER + 4].copy_from_slice(b"HdrX"),
        "emb-magic",
        "wrong magic (embedded)",
        // Without "HdrS" the payload is no longer recognisable as a kernel at all.
        &["magic", "hdrs", "bzimage"],
    );
}

#[test]
fn refuses_protocol_below_2_12_embedded() {
    refuse_embedded(
        |img, at| put_u16(img, at + HDR_VERSION, 0x020b),
        "emb-proto",
        "protocol 2.11 (embedded)",
        &["protocol", "version"],
    );
}

#[test]
fn refuses_truncated_kernel_embedded() {
    // The stored file keeps its size; its header claims a protected-mode part 1 MiB longer
    // than what follows the setup code: to the firmware that is a truncated kernel.
    refuse_embedded(
        |img, at| {
            let sys = get_u32(img, at + HDR_SYSSIZE);
            put_u32(img, at + HDR_SYSSIZE, sys + (1 << 20) / 16);
        },
        "emb-trunc",
        "truncated kernel (embedded)",
        &["truncated", "short", "size"],
    );
}

/// Overlapping or wrapping fw_cfg E820 entries cannot be produced with stock QEMU: it builds
/// `etc/e820` itself and refuses a second file of that name (`-fw_cfg name=etc/e820,...` →
/// "duplicate fw_cfg file name: etc/e820"). The firmware's E820 parser covers those cases
/// in its unit tests. This test pins the QEMU behaviour the statement relies on.
#[test]
fn qemu_refuses_a_user_supplied_e820() {
    let s = Scratch::new("e820");
    // Two overlapping RAM entries (addr u64, size u64, type u32 each).
    let mut e = Vec::new();
    for (a, l) in [(0u64, 64u64 << 20), (32 << 20, 64 << 20)] {
        e.extend_from_slice(&a.to_le_bytes());
        e.extend_from_slice(&l.to_le_bytes());
        e.extend_from_slice(&1u32.to_le_bytes());
    }
    let f = s.write("e820", &e);
    let o = Run::new(image("linux.bin"))
        .timeout(REFUSE_TIMEOUT)
        .arg("-fw_cfg")
        .arg(&format!("name=etc/e820,file={}", path_str(&f)))
        .run()
        .expect("qemu starts");
    assert_ne!(o.code(), Some(0), "{}", o.describe());
    assert!(
        o.stderr.contains("duplicate fw_cfg file name"),
        "{}",
        o.describe()
    );
    assert!(o.lines.is_empty(), "the firmware ran\n{}", o.describe());
}

#[test]
fn inputs_are_present() {
    // A quick, clear failure when the harness did not prepare the inputs.
    let _ = images_dir();
    for v in ["6.1", "6.12"] {
        let _ = kernel_bytes(v);
    }
    let _ = initramfs();
    let _ = image("linux.bin");
    let _ = image("linux-embedded-6.12.bin");
}
