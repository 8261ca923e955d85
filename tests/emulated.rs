// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Boot tests on the emulated TDX (issue #4): `example-emu.bin` (the example payload on a
//! firmware built with `--emulated-tdx`, made by `cargo xtask boot-test`) runs in a plain q35
//! VM with the TD HOB a TDX VMM would write, loaded at the TD_HOB section by QEMU's generic
//! loader (`td_shim_tools::vmm`). Then one run per hostile TD HOB (one per validation rule of
//! `../shared/spec/hob.md` §2.1, and per semantic rule of §2.2: RAM reaching the shared bit,
//! over the image, unaccepted where the VMM adds pages): each must be refused with a clean
//! error and a halted machine. Every run also checks what the emulated TDX module saw: no
//! double accept, the fw_cfg DMA bounce buffer private again at hand-off, and no unaccepted RAM
//! mapped in the page tables.

use std::path::PathBuf;
use std::time::Duration;
use td_shim::format::metadata;
use td_shim_boot_tests::{emulated_rtmrs, image, images_dir, Outcome, Run};
use td_shim_tools::vmm;

const EXAMPLE_OK: i32 = (0x10 << 1) | 1;
const IMAGE: &str = "example-emu.bin";
const GIB: u64 = 1 << 30;

/// Writes `bytes` as the HOB file `name` next to the test images.
fn hob_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = images_dir().join("emu-hobs");
    std::fs::create_dir_all(&dir).expect("create the HOB directory");
    let p = dir.join(format!("{name}.hob"));
    std::fs::write(&p, bytes).expect("write the HOB");
    p
}

/// Boots the emulated image with `memory` and the HOB from `make_hob` (given the good one).
fn boot(memory: &str, tag: &str, make_hob: impl Fn(&vmm::TdHob) -> Vec<u8>, run: Run) -> Outcome {
    let path = image(IMAGE);
    let img = std::fs::read(&path).expect("read the image");
    let md = metadata::parse_image(&img).expect("image metadata");
    let bytes = vmm::parse_memory(memory).expect("memory size");
    let good = vmm::build_td_hob(&img, bytes, &vmm::TdHobOptions::default()).expect("TD HOB");
    let hob = hob_file(&format!("{tag}-{memory}"), &make_hob(&good));
    let mut r = run.memory(memory);
    for a in vmm::loader_args(&md, &hob, None, None).expect("loader args") {
        r = r.arg(&a);
    }
    r.run().expect("qemu starts")
}

fn good_boot(memory: &str, timeout_s: u64) -> Outcome {
    boot(
        memory,
        "good",
        |h| h.bytes.clone(),
        // A firmware error ends the run at once instead of at the timeout.
        Run::new(image(IMAGE))
            .timeout(Duration::from_secs(timeout_s))
            .stop_on("td-shim: ERROR"),
    )
}

/// Highest end from the example payload's `ram` line.
fn ram_end(o: &Outcome) -> u64 {
    let (_, line) = o
        .find("td-payload: ram ")
        .unwrap_or_else(|| panic!("no ram line\n{}", o.describe()));
    let hex = line.rsplit("highest end 0x").next().unwrap().trim();
    u64::from_str_radix(hex, 16).unwrap()
}

fn check_good(o: &Outcome, ram_top: u64) {
    assert_eq!(o.code(), Some(EXAMPLE_OK), "{}", o.describe());
    assert!(
        o.find("td-shim: WARN  EMULATED TDX: not a real TD")
            .is_some(),
        "{}",
        o.describe()
    );
    // The four RTMR lines are there and well formed. Nothing is measured into them yet: that
    // is the measured-boot issue (#5), whose tests will check their values.
    let _ = emulated_rtmrs(o);
    assert!(
        o.find("td-payload: hello from the example payload")
            .is_some(),
        "{}",
        o.describe()
    );
    assert_eq!(ram_end(o), ram_top, "{}", o.describe());
    assert!(
        o.find("emulated-tdx: ERROR double accept").is_none(),
        "a page was accepted twice\n{}",
        o.describe()
    );
    module_books_clean(o);
}

/// What the emulated TDX module reports at hand-off: no error (double accept, accept of a
/// shared page, unaccepted RAM mapped), nothing left shared (the fw_cfg bounce buffer was
/// converted back), and none of the RAM it has not accepted mapped. Returns the unaccepted
/// bytes it counted.
fn module_books_clean(o: &Outcome) -> u64 {
    assert!(o.find("emulated-tdx: ERROR").is_none(), "{}", o.describe());
    // The firmware shared its fw_cfg bounce buffer and took it back.
    let (shared, _) = bounce_buffer(o, "shared with the host");
    let (private, _) = bounce_buffer(o, "private again, returned to the ram");
    assert_eq!(shared, private, "{}", o.describe());
    assert!(
        o.find("emulated-tdx: shared 0x0 bytes at hand-off")
            .is_some(),
        "{}",
        o.describe()
    );
    let unaccepted = hex_after(
        o,
        "emulated-tdx: unaccepted ram at hand-off: ",
        "hand-off: ",
    );
    let mapped = hex_after(o, "emulated-tdx: unaccepted ram at hand-off: ", "bytes, ");
    assert_eq!(mapped, 0, "{}", o.describe());
    unaccepted
}

/// `[start, end)` of the fw_cfg DMA bounce buffer from the firmware's line containing `what`.
fn bounce_buffer(o: &Outcome, what: &str) -> (u64, u64) {
    let (_, line) = o
        .lines
        .iter()
        .find(|(_, l)| l.contains("fw_cfg dma bounce buffer [") && l.contains(what))
        .unwrap_or_else(|| panic!("no bounce buffer line with {what:?}\n{}", o.describe()));
    let inner = line.split('[').nth(1).unwrap().split(')').next().unwrap();
    let (a, b) = inner.split_once(", ").unwrap();
    let hex = |t: &str| u64::from_str_radix(t.trim().trim_start_matches("0x"), 16).unwrap();
    (hex(a), hex(b))
}

#[test]
fn example_payload_under_emulation_1g() {
    let o = good_boot("1G", 180);
    // q35 with 1 GiB: all RAM at [0, 1 GiB).
    check_good(&o, GIB);
}

#[test]
fn example_payload_under_emulation_8g() {
    let o = good_boot("8G", 300);
    // q35 with 8 GiB: [0, 2 GiB) and [4 GiB, 10 GiB).
    check_good(&o, 10 * GIB);
}

/// Boots with the hostile HOB `name`; the firmware must refuse it and halt.
#[test]
fn example_payload_under_emulation_8g_smp4_accepts_in_parallel() {
    // The APs take accept work through the mailbox, above 4 GiB too (they must have been
    // given the firmware's page tables for that).
    let o = boot(
        "8G",
        "good-smp4",
        |h| h.bytes.clone(),
        Run::new(image(IMAGE))
            .smp(4)
            .timeout(Duration::from_secs(300))
            .stop_on("td-shim: ERROR"),
    );
    check_good(&o, 10 * GIB);
    assert!(
        o.find("td-shim: INFO  3 application processors ready")
            .is_some(),
        "{}",
        o.describe()
    );
    // One TDCALL per 2 MiB for the aligned RAM: 8 GiB minus what the VMM had added, at most
    // 4096 2 MiB accepts.
    let (_, line) = o.find("emulated-tdx: accept calls: ").unwrap();
    let n2m: u64 = line
        .split("accept calls: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((4000..=4096).contains(&n2m), "{line}");
}

fn hostile(name: &str) {
    let o = boot(
        "1G",
        &format!("hostile-{name}"),
        |h| vmm::hostile_td_hob(&h.bytes, h.base, name).expect("known hostile HOB"),
        Run::new(image(IMAGE))
            .timeout(Duration::from_secs(60))
            .stop_on("td-shim: ERROR boot failed"),
    );
    // Stopped by us after the refusal: the machine halted (no exit, no triple fault).
    assert!(
        o.stopped,
        "{name}: not stopped after a refusal\n{}",
        o.describe()
    );
    let (_, line) = o.find("td-shim: ERROR boot failed").unwrap();
    assert!(
        line.to_ascii_lowercase().contains("hob"),
        "{name}: refusal does not name the HOB: {line}\n{}",
        o.describe()
    );
    // The semantic refusals also say which rule, with the range (the hostile HOBs of
    // td_shim_tools::vmm put it there; the image's TD_HOB section is at 8 MiB).
    let why = match name {
        "ram-reaches-shared-bit" => {
            Some("ram [0x7fffffe00000, 0x800000200000) reaches the shared bit (0x800000000000)")
        }
        "ram-overlaps-image" => Some("ram [0xfffff000, 0x100000000) overlaps the firmware image"),
        "unaccepted-over-td-hob" => {
            Some("unaccepted ram [0x800000, 0x820000) overlaps the section at 0x800000")
        }
        _ => None,
    };
    if let Some(why) = why {
        assert!(line.contains(why), "{name}: {line}\n{}", o.describe());
        // Refused before anything was accepted for it.
        assert!(o.find("accepting [").is_none(), "{name}\n{}", o.describe());
    }
    assert!(
        o.find("td-payload:").is_none(),
        "{name}: payload ran\n{}",
        o.describe()
    );
}

macro_rules! hostile_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                hostile($name);
            }
        )*
        /// Every hostile HOB the generator makes has a test above.
        #[test]
        fn every_hostile_hob_has_a_test() {
            let mut tested = vec![$($name),*];
            let mut made = vmm::hostile_names();
            tested.sort();
            made.sort();
            assert_eq!(tested, made);
        }
    };
}

hostile_tests! {
    hostile_all_zero => "all-zero",
    hostile_truncated_phit => "truncated-phit",
    hostile_zero_length => "zero-length",
    hostile_length_below_header => "length-below-header",
    hostile_length_past_end => "length-past-end",
    hostile_reserved_nonzero => "reserved-nonzero",
    hostile_first_not_phit => "first-not-phit",
    hostile_phit_length => "phit-length",
    hostile_phit_memory_top_misaligned => "phit-memory-top-misaligned",
    hostile_duplicate_phit => "duplicate-phit",
    hostile_resource_length => "resource-length",
    hostile_resource_type_8 => "resource-type-8",
    hostile_resource_attribute_bit27 => "resource-attribute-bit27",
    hostile_resource_range_wraps => "resource-range-wraps",
    hostile_memory_allocation_length => "memory-allocation-length",
    hostile_memory_allocation_wraps => "memory-allocation-wraps",
    hostile_fv_length => "fv-length",
    hostile_fv_wraps => "fv-wraps",
    hostile_fv2_length => "fv2-length",
    hostile_fv3_length => "fv3-length",
    hostile_cpu_length => "cpu-length",
    hostile_cpu_reserved_nonzero => "cpu-reserved-nonzero",
    hostile_guid_shorter_than_header => "guid-shorter-than-header",
    hostile_unknown_type => "unknown-type",
    hostile_missing_end => "missing-end",
    hostile_end_length => "end-length",
    hostile_end_of_list_at_end_hob => "end-of-list-at-end-hob",
    hostile_end_of_list_past_section => "end-of-list-past-section",
    hostile_end_of_list_zero => "end-of-list-zero",
    hostile_ram_reaches_shared_bit => "ram-reaches-shared-bit",
    hostile_ram_overlaps_image => "ram-overlaps-image",
    hostile_unaccepted_over_td_hob => "unaccepted-over-td-hob",
}

fn hex_after(o: &Outcome, needle: &str, marker: &str) -> u64 {
    let (_, line) = o
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle:?} line\n{}", o.describe()));
    let hex = line.split(marker).nth(1).unwrap().trim_start_matches("0x");
    let hex: String = hex.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&hex, 16).unwrap()
}

#[test]
fn a_misspelt_lazy_accept_switch_is_refused() {
    // The VMM's switch is read strictly (like opt/td-shim/measured-boot): "yes" is neither
    // on/1 nor off/0, so the boot stops instead of silently accepting everything.
    let o = boot(
        "1G",
        "lazy-yes",
        |h| h.bytes.clone(),
        Run::new(image(IMAGE))
            .timeout(Duration::from_secs(60))
            .stop_on("td-shim: ERROR")
            .arg("-fw_cfg")
            .arg("name=opt/td-shim/lazy-accept,string=yes"),
    );
    assert!(
        o.find(r#"td-shim: ERROR boot failed: fw_cfg opt/td-shim/lazy-accept must be "on" or "off" (or 1 or 0)"#)
            .is_some(),
        "{}",
        o.describe()
    );
    assert!(
        o.find("hello from the example payload").is_none(),
        "{}",
        o.describe()
    );
}

#[test]
fn lazy_accept_hands_over_exactly_the_unaccepted_ram() {
    let o = boot(
        "2G",
        "lazy",
        |h| h.bytes.clone(),
        Run::new(image(IMAGE))
            .timeout(Duration::from_secs(180))
            .stop_on("td-shim: ERROR")
            .arg("-fw_cfg")
            .arg("name=opt/td-shim/lazy-accept,string=1"),
    );
    assert_eq!(o.code(), Some(EXAMPLE_OK), "{}", o.describe());
    // What the emulated TDX module says is accepted (VMM-added pages + the firmware's accepts),
    // and what the payload's HOB says is left unaccepted, must add up to all of the RAM.
    let accepted = hex_after(&o, "emulated-tdx: accepted ", "accepted ");
    let unaccepted = hex_after(&o, "td-payload: unaccepted ", "MiB (");
    assert!(unaccepted > 0, "{}", o.describe());
    assert_eq!(accepted + unaccepted, 2 * GIB, "{}", o.describe());
    // The module's own count of what it has not accepted is what the payload was told, and
    // none of it is mapped in the tables the payload got.
    assert_eq!(module_books_clean(&o), unaccepted, "{}", o.describe());
    // The firmware accepted only its budget (256 MiB) plus what the VMM had added.
    assert!(
        accepted < 300 << 20,
        "accepted {accepted:#x}\n{}",
        o.describe()
    );
    assert!(
        o.find("emulated-tdx: ERROR double accept").is_none(),
        "{}",
        o.describe()
    );
}

#[test]
fn unaccepted_ram_is_unmapped_a_stray_read_faults() {
    // A test build (feature protect-selftest-unaccepted) reads the lowest unaccepted page
    // right after the firmware accepted its lazy-accept budget.
    let o = boot(
        "2G",
        "selftest-unaccepted",
        |h| h.bytes.clone(),
        Run::new(image("selftest-unaccepted-emu.bin"))
            .timeout(Duration::from_secs(120))
            .stop_on("td-shim: ERROR page fault:")
            .arg("-fw_cfg")
            .arg(&format!("name={},string=1", vmm::LAZY_ACCEPT_FW_CFG)),
    );
    assert!(o.stopped, "{}", o.describe());
    let at = hex_after(
        &o,
        "protect self-test: reading unaccepted ram at ",
        "ram at ",
    );
    // The lowest unaccepted byte is where the firmware's last accept of its budget stopped.
    let (_, accepting) = o
        .lines
        .iter()
        .rev()
        .find(|(_, l)| l.contains("td-shim: INFO  accepting ["))
        .unwrap_or_else(|| panic!("{}", o.describe()));
    let stop = accepting.rsplit(", ").next().unwrap().trim_end_matches(')');
    assert_eq!(
        at,
        u64::from_str_radix(stop.trim_start_matches("0x"), 16).unwrap(),
        "{}",
        o.describe()
    );
    assert!(
        o.find("td-shim: ERROR exception 14 (#PF page fault)")
            .is_some(),
        "{}",
        o.describe()
    );
    assert_eq!(
        hex_after(&o, "td-shim: ERROR page fault address ", "address "),
        at,
        "{}",
        o.describe()
    );
    assert!(
        o.find(&format!(
            "page fault: read from an unmapped page at {at:#x}"
        ))
        .is_some(),
        "{}",
        o.describe()
    );
    assert!(o.find("td-payload:").is_none(), "{}", o.describe());
}

/// The kernel directory, an image, its metadata and the TD HOB a VMM would build for it.
fn linux_setup(
    name: &str,
    memory: u64,
    tag: &str,
) -> (PathBuf, PathBuf, metadata::Metadata, PathBuf) {
    let Some(kernels) = std::env::var_os("TD_SHIM_KERNELS").map(PathBuf::from) else {
        panic!("TD_SHIM_KERNELS is not set: run through `cargo xtask boot-test`");
    };
    let path = image(name);
    let img = std::fs::read(&path).expect("read the image");
    let md = metadata::parse_image(&img).expect("image metadata");
    let good = vmm::build_td_hob(&img, memory, &vmm::TdHobOptions::default()).expect("TD HOB");
    let hob = hob_file(tag, &good.bytes);
    (kernels, path, md, hob)
}

#[test]
fn linux_smp_wakes_its_cpus_through_the_mailbox() {
    let (kernels, path, md, hob) = linux_setup("linux-emu.bin", 2 * GIB, "linux-smp-2G");
    let boot_once = || {
        let mut r = Run::new(&path)
            .memory("2G")
            .smp(4)
            .timeout(Duration::from_secs(240))
            .stop_on("td-shim: ERROR");
        for a in vmm::loader_args(&md, &hob, None, None).expect("loader args") {
            r = r.arg(&a);
        }
        r.arg("-kernel")
            .arg(kernels.join("vmlinuz-6.12").to_str().unwrap())
            .arg("-initrd")
            .arg(images_dir().join("initramfs.img").to_str().unwrap())
            .arg("-append")
            .arg("console=ttyS0")
            .run()
            .expect("qemu starts")
    };
    let mut o = boot_once();
    // Multi-threaded TCG rarely oopses an SMP guest by itself: one retry, never more.
    if o.find("TDSHIM-INIT-DONE").is_none()
        && (o.find("Oops").is_some() || o.find("BUG:").is_some())
    {
        eprintln!("linux oopsed under TCG; retrying once");
        o = boot_once();
    }
    assert!(o.find("TDSHIM-INIT-DONE").is_some(), "{}", o.describe());
    // Linux took the MADT Multiprocessor Wakeup structure and did not fall back to INIT-SIPI.
    assert!(
        o.find("wakeup_secondary_cpu_64() replaced with acpi_wakeup_cpu()")
            .is_some(),
        "{}",
        o.describe()
    );
    assert!(o.find("TDSHIM-FACT cpus=4").is_some(), "{}", o.describe());
    assert!(
        o.find("td-shim: INFO  3 application processors wait in the os mailbox")
            .is_some(),
        "{}",
        o.describe()
    );
    assert!(
        o.find("emulated-tdx: ERROR double accept").is_none(),
        "{}",
        o.describe()
    );
    // Eager accept: nothing unaccepted at hand-off; the kernel read and loaded through the
    // bounce buffer, which Linux then gets as ordinary RAM.
    assert_eq!(module_books_clean(&o), 0, "{}", o.describe());
    bounce_buffer_is_usable_ram_to_linux(&o);
}

/// The fw_cfg bounce buffer is RAM to Linux again: the kernel's E820 printout ("BIOS-e820:
/// [mem 0x…-0x…] usable", inclusive end) has usable RAM in it. Not necessarily all of it: the
/// firmware's last allocations (payload stack, page tables; top-down below 4 GiB) are made
/// after the buffer is returned and may land there, as reserved memory. Before the buffer was
/// given back, all 2 MiB of it were reserved.
fn bounce_buffer_is_usable_ram_to_linux(o: &Outcome) {
    let (start, end) = bounce_buffer(o, "private again, returned to the ram");
    let usable: u64 = o
        .lines
        .iter()
        .filter_map(|(_, l)| {
            let rest = l.split("BIOS-e820: [mem ").nth(1)?;
            let (range, kind) = rest.split_once("] ")?;
            let (a, b) = range.split_once('-')?;
            let hex = |t: &str| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok();
            let (a, b) = (hex(a)?, hex(b)? + 1);
            (kind.trim() == "usable").then(|| b.min(end).saturating_sub(a.max(start)))
        })
        .sum();
    assert!(
        usable > 0,
        "no usable ram in the bounce buffer [{start:#x}, {end:#x}) to linux\n{}",
        o.describe()
    );
}

#[test]
fn linux_from_the_payload_section_runs_in_place() {
    let (kernels, path, md, hob) = linux_setup("linux-td-payload-emu.bin", GIB, "td-payload-1G");
    // What cloud-hypervisor does: the bzImage into the Payload section, the command line
    // (NUL-terminated) into PayloadParam, both with the generic loader.
    let kernel = kernels.join("vmlinuz-6.12");
    let kernel_len = std::fs::metadata(&kernel).expect("kernel").len();
    let blob = vmm::cmdline_blob("console=ttyS0 tdshim-payload-section").expect("cmdline");
    let cmdline = hob_file("td-payload-cmdline", &blob);
    let mut r = Run::new(&path)
        .memory("1G")
        .timeout(Duration::from_secs(180))
        .stop_on("Kernel command line:");
    let loads = vmm::loader_args(
        &md,
        &hob,
        Some(vmm::LoadFile {
            path: &kernel,
            len: kernel_len,
        }),
        Some(vmm::LoadFile {
            path: &cmdline,
            len: blob.len() as u64,
        }),
    )
    .expect("loader args");
    for a in loads {
        r = r.arg(&a);
    }
    let o = r.run().expect("qemu starts");
    let payload = md
        .sections
        .iter()
        .find(|s| s.section_type == metadata::SectionType::Payload as u32)
        .unwrap();
    let (_, line) = o
        .find("td-shim: INFO  linux: kernel at ")
        .unwrap_or_else(|| panic!("{}", o.describe()));
    // In place: the protected-mode kernel right after the setup part inside the section.
    assert!(
        line.contains(&format!("kernel at {:#x}", payload.memory_address + 0x5000)),
        "{line}\n{}",
        o.describe()
    );
    assert!(
        o.find("Kernel command line: console=ttyS0 tdshim-payload-section")
            .is_some(),
        "{}",
        o.describe()
    );
}

// ---- Lazy accept handed to Linux through the EFI unaccepted-memory table (boot/efi.rs) ----
//
// Under emulation the guest is an ordinary VM: Linux does not see a TD (CPUID leaf 0x21), so
// its `arch_accept_memory` panics ("Cannot accept memory: unknown platform") whenever the
// bitmap says a range it wants is unaccepted, and it cannot take over the accepting. The
// tests show what can be shown here: (1) with the firmware's own layout the kernel finds the
// table and asks to accept exactly when its first allocation lands in unaccepted RAM; (2) with
// a VMM that added (accepted) the RAM Linux allocates from during boot, the kernel reaches
// userspace and counts the firmware's unaccepted RAM as `Unaccepted:` in /proc/meminfo;
// (3) a 6.1 kernel (no unaccepted-memory support) gets everything accepted.

const MIB: u64 = 1 << 20;

/// The good TD HOB with the RAM in `added` described as accepted (system memory), as a VMM
/// that added those pages before the TD started would write it.
fn hob_with_added(good: &vmm::TdHob, added: &[(u64, u64)]) -> Vec<u8> {
    use td_shim::format::hob;
    let mut b = hob::Builder::new();
    for r in &good.resources {
        if r.resource_type != hob::RESOURCE_MEMORY_UNACCEPTED {
            b.resource(r);
            continue;
        }
        let (start, end) = (r.start, r.start + r.length);
        // Cut [start, end) at the added windows, in order.
        let mut cuts = vec![start, end];
        for &(s, e) in added {
            cuts.extend([s.clamp(start, end), e.clamp(start, end)]);
        }
        cuts.sort();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (s, e) = (w[0], w[1]);
            let is_added = added.iter().any(|&(a, z)| s >= a && e <= z);
            b.resource(&hob::Resource {
                resource_type: if is_added {
                    hob::RESOURCE_SYSTEM_MEMORY
                } else {
                    hob::RESOURCE_MEMORY_UNACCEPTED
                },
                attributes: vmm::ATTR_TDVF_PRIVATE,
                start: s,
                length: e - s,
                ..*r
            });
        }
    }
    b.finish(good.base, 0, 0)
}

/// Boots `kernel` from fw_cfg on `linux-emu.bin` with lazy accept, the test initramfs and
/// `append`, with the good TD HOB for `memory` changed by `added` ([`hob_with_added`]).
fn lazy_linux(
    kernel: &str,
    memory: &str,
    added: &[(u64, u64)],
    append: &str,
    stop_on: &str,
    timeout_s: u64,
) -> Outcome {
    let bytes = vmm::parse_memory(memory).expect("memory size");
    let tag = format!("lazy-linux-{kernel}-{memory}-{}", added.len());
    let (kernels, path, md, _) = linux_setup("linux-emu.bin", bytes, &tag);
    let img = std::fs::read(&path).expect("read the image");
    let good = vmm::build_td_hob(&img, bytes, &vmm::TdHobOptions::default()).expect("TD HOB");
    let hob = hob_file(&tag, &hob_with_added(&good, added));
    let mut r = Run::new(&path)
        .memory(memory)
        .timeout(Duration::from_secs(timeout_s))
        .stop_on(stop_on);
    for a in vmm::loader_args(&md, &hob, None, None).expect("loader args") {
        r = r.arg(&a);
    }
    r.arg("-kernel")
        .arg(kernels.join(kernel).to_str().unwrap())
        .arg("-initrd")
        .arg(images_dir().join("initramfs.img").to_str().unwrap())
        .arg("-append")
        .arg(append)
        .arg("-fw_cfg")
        .arg(&format!("name={},string=1", vmm::LAZY_ACCEPT_FW_CFG))
        .run()
        .expect("qemu starts")
}

/// The value of the initramfs fact `key` (`TDSHIM-FACT key=value`).
fn fact(o: &Outcome, key: &str) -> String {
    let prefix = format!("TDSHIM-FACT {key}=");
    let (_, line) = o
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} line\n{}", o.describe()));
    line.split(&prefix).nth(1).unwrap().trim().to_string()
}

/// `(system table, unaccepted table, unaccepted bytes)` from the firmware's hand-off line.
fn published(o: &Outcome) -> (u64, u64, u64) {
    let (_, line) = o
        .find("td-shim: INFO  linux: efi system table at ")
        .unwrap_or_else(|| panic!("no efi system table line\n{}", o.describe()));
    let hex = |s: &str| {
        let s = s.trim_start_matches("0x");
        let digits: String = s.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        u64::from_str_radix(&digits, 16).unwrap()
    };
    let (_, rest) = line.split_once("system table at ").unwrap();
    let (_, table) = rest.split_once("unaccepted-memory table at ").unwrap();
    let (_, bytes) = table.split_once(": ").unwrap();
    (hex(rest), hex(table), hex(bytes))
}

/// No double accept, no firmware error, clean module books ([`module_books_clean`]); returns
/// the RAM the module has not accepted.
fn no_double_accept(o: &Outcome) -> u64 {
    assert!(
        o.find("emulated-tdx: ERROR double accept").is_none(),
        "{}",
        o.describe()
    );
    assert!(o.find("td-shim: ERROR").is_none(), "{}", o.describe());
    // Nothing left shared, no unaccepted RAM mapped when Linux got the tables.
    module_books_clean(o)
}

#[test]
fn linux_6_12_lazy_reads_the_table_and_asks_to_accept() {
    let o = lazy_linux(
        "vmlinuz-6.12",
        "2G",
        &[],
        "console=ttyS0 earlyprintk=serial,ttyS0 nokaslr",
        "end Kernel panic",
        180,
    );
    let module_unaccepted = no_double_accept(&o);
    assert!(
        o.find("td-shim: INFO  linux 6.12 reads the unaccepted-memory table")
            .is_some(),
        "{}",
        o.describe()
    );
    // The firmware accepted its budget (256 MiB) and a little more; the bitmap covers all the
    // rest: together they are the 2 GiB of RAM, to the byte.
    let (_, table, unaccepted) = published(&o);
    let accepted = hex_after(&o, "emulated-tdx: accepted ", "accepted ");
    assert_eq!(accepted + unaccepted, 2 * GIB, "{}", o.describe());
    assert_eq!(module_unaccepted, unaccepted, "{}", o.describe());
    assert!(
        accepted < 300 * MIB,
        "accepted {accepted:#x}\n{}",
        o.describe()
    );
    // Linux found the system table through boot_params.efi_info and the table in its
    // configuration table (drivers/firmware/efi/efi.c prints the tables it recognised)...
    assert!(
        o.find("efi: EFI v2.9 by td-shim").is_some(),
        "{}",
        o.describe()
    );
    assert!(
        o.find(&format!("Unaccepted={table:#x}")).is_some(),
        "{}",
        o.describe()
    );
    // ...took the unaccepted RAM as RAM: one usable E820 range runs to the end of low memory
    // and covers all of the unaccepted part, [2 GiB - unaccepted, 2 GiB) (it starts where the
    // firmware's last top-down allocations end)...
    let (_, e820_line) = o
        .find("-0x000000007fffffff] usable")
        .unwrap_or_else(|| panic!("no usable e820 range up to 2 GiB\n{}", o.describe()));
    let start = e820_line
        .split_once("[mem 0x")
        .and_then(|(_, r)| u64::from_str_radix(&r[..16], 16).ok())
        .unwrap_or_else(|| panic!("unreadable e820 line {e820_line:?}"));
    assert!(
        start <= 2 * GIB - unaccepted,
        "usable from {start:#x}, unaccepted from {:#x}\n{}",
        2 * GIB - unaccepted,
        o.describe()
    );
    // ...and, when its first top-down memblock allocation landed in a range the bitmap marks
    // unaccepted, asked the platform to accept it: outside a real TD that is this panic.
    let (_, panic_line) = o
        .find("Kernel panic - not syncing: ")
        .unwrap_or_else(|| panic!("{}", o.describe()));
    assert!(
        panic_line.contains("Cannot accept memory: unknown platform"),
        "{}",
        o.describe()
    );
    assert!(o.find("accept_memory+").is_some(), "{}", o.describe());
}

#[test]
fn linux_6_12_lazy_boots_and_counts_the_unaccepted_ram() {
    // A 6 GiB guest ([0, 2 GiB) + [4 GiB, 8 GiB)) whose VMM added (accepted) all RAM but
    // [0, 256 MiB) and [5.5 GiB, 7 GiB), booted with movablecore=3G (ZONE_MOVABLE from
    // 5 GiB). The firmware accepts its 256 MiB budget, the rest of [5.5 GiB, 7 GiB) goes to
    // Linux. Every boot-time allocation of Linux is then served from accepted RAM: memblock
    // allocates top-down from 8 GiB, zones DMA32 and Normal (which serve the allocations made
    // before the watermarks exist, when Linux would accept a block on the first one) hold no
    // unaccepted memory, and ZONE_MOVABLE has 1.5 GiB of accepted RAM above its watermarks.
    let o = lazy_linux(
        "vmlinuz-6.12",
        "6G",
        &[
            (256 * MIB, 2 * GIB),
            (4 * GIB, 5 * GIB + 512 * MIB),
            (7 * GIB, 8 * GIB),
        ],
        "console=ttyS0 nokaslr movablecore=3G",
        "TDSHIM-INIT-DONE",
        300,
    );
    let module_unaccepted = no_double_accept(&o);
    assert!(o.find("TDSHIM-INIT-DONE").is_some(), "{}", o.describe());
    bounce_buffer_is_usable_ram_to_linux(&o);
    // The premise: ZONE_MOVABLE starts at 5 GiB, below the unaccepted range.
    assert!(
        o.find("Node 0: 0x0000000140000000").is_some(),
        "{}",
        o.describe()
    );
    let (_, table, unaccepted) = published(&o);
    let accepted = hex_after(&o, "emulated-tdx: accepted ", "accepted ");
    assert_eq!(accepted + unaccepted, 6 * GIB, "{}", o.describe());
    assert_eq!(module_unaccepted, unaccepted, "{}", o.describe());
    // [5.5 GiB, 7 GiB) less what the firmware's budget took from its bottom (the budget is
    // 256 MiB of accepting in address order; [0, 256 MiB) less the VMM's sections is a little
    // short of it).
    assert!(
        (1536 * MIB - 16 * MIB..=1536 * MIB).contains(&unaccepted),
        "{unaccepted:#x}\n{}",
        o.describe()
    );
    assert!(
        o.find(&format!("Unaccepted={table:#x}")).is_some(),
        "{}",
        o.describe()
    );
    // The kernel's count, in 4 MiB (MAX_ORDER) blocks: every unaccepted unit, plus at most the
    // block before the range (Linux also counts a block whose end touches an unaccepted unit,
    // its guard-unit rule).
    let unaccepted_kb: u64 = fact(&o, "unaccepted_kb").parse().unwrap();
    assert!(
        (unaccepted / 1024..=unaccepted / 1024 + 4096).contains(&unaccepted_kb),
        "kernel {unaccepted_kb} kB, firmware {unaccepted:#x}\n{}",
        o.describe()
    );
    // All RAM is the kernel's (unaccepted included): MemTotal is 6 GiB less the kernel image,
    // the firmware's reservations and the first MiB.
    let memtotal_kb: u64 = fact(&o, "memtotal_kb").parse().unwrap();
    assert!(
        memtotal_kb > (6 * GIB - 256 * MIB) / 1024 && memtotal_kb < 6 * GIB / 1024,
        "MemTotal {memtotal_kb} kB\n{}",
        o.describe()
    );
}

#[test]
fn linux_6_1_lazy_gets_everything_accepted() {
    let o = lazy_linux(
        "vmlinuz-6.1",
        "2G",
        &[],
        "console=ttyS0",
        "TDSHIM-INIT-DONE",
        240,
    );
    assert_eq!(no_double_accept(&o), 0, "{}", o.describe());
    assert!(o.find("TDSHIM-INIT-DONE").is_some(), "{}", o.describe());
    bounce_buffer_is_usable_ram_to_linux(&o);
    assert!(
        o.find("td-shim: WARN  linux 6.1 predates the unaccepted-memory table (6.5): accepting the rest")
            .is_some(),
        "{}",
        o.describe()
    );
    // Everything accepted before hand-off; no EFI system table for this kernel.
    let accepted = hex_after(&o, "emulated-tdx: accepted ", "accepted ");
    assert_eq!(accepted, 2 * GIB, "{}", o.describe());
    assert!(
        o.find("linux: efi system table").is_none(),
        "{}",
        o.describe()
    );
    assert!(o.find("efi: EFI v").is_none(), "{}", o.describe());
    let memtotal_kb: u64 = fact(&o, "memtotal_kb").parse().unwrap();
    assert!(
        memtotal_kb > (2 * GIB - 256 * MIB) / 1024,
        "MemTotal {memtotal_kb} kB\n{}",
        o.describe()
    );
}
