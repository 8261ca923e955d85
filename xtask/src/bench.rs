// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `cargo xtask bench-boot`: how fast td-shim gets a Linux kernel going, against the
//! firmware QEMU ships (SeaBIOS, qboot, OVMF). Every firmware boots the same kernel, initramfs
//! (`tests/initramfs/`), command line and QEMU flags with `-kernel -initrd -append`; the
//! runs are interleaved (ours, SeaBIOS, qboot, OVMF, ours, ...) so that drift in machine load
//! hits all alike. Two times are taken from QEMU's start: the kernel's first console line
//! (`Linux version`, printed by the early console) and the first line of the initramfs
//! (`TDSHIM-INIT-START`). Medians and ratios against ours come out as a markdown table, and
//! a second one with QEMU's CPU time (all threads, from /proc) at the same two lines, which
//! other load on the machine disturbs less than wall time.
//!
//! After the timed rounds, one more boot per firmware reads two counts from QEMU itself at the
//! kernel's first line, which do not depend on the machine's load (the same every run): how
//! many guest basic blocks QEMU had translated (`info jit` over QMP; under TCG each costs
//! several microseconds, and a firmware's code runs about once, so this is most of its time)
//! and how many 2 MiB pages of guest RAM had been written (QEMU backs RAM with transparent huge
//! pages: the first write into one makes the host clear all 2 MiB). `--no-counts` skips it.
//!
//! A benchmark, not a test: CI does not run it. Times are wall-clock under the chosen
//! accelerator (TCG unless `TD_SHIM_ACCEL` says otherwise), so compare rows, not machines.

use crate::image::workspace_root;
use clap::Args;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use td_shim_boot_tests::Run;

#[derive(Args, Debug)]
pub struct BenchBootArgs {
    /// Kernel: `6.1` or `6.12` (Debian cloud kernels, fetched by sh_script/fetch-kernels.sh)
    /// or the path of a bzImage.
    #[arg(long, default_value = "6.1")]
    pub kernel: String,
    /// Rounds; each round boots every firmware once.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Our image [default: target/release/final.bin, built by `cargo image --release` when
    /// missing].
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Initrd [default: the test initramfs, built into target/bench/].
    #[arg(long, value_name = "FILE")]
    pub initrd: Option<PathBuf>,
    /// Kernel command line.
    #[arg(long, default_value = "console=ttyS0 earlyprintk=ttyS0")]
    pub append: String,
    /// Guest memory (QEMU -m syntax).
    #[arg(short = 'm', long, default_value = "512M")]
    pub memory: String,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 1)]
    pub smp: u32,
    /// Firmware to compare, comma separated, from: ours, seabios, qboot, ovmf.
    #[arg(long, value_delimiter = ',', default_value = "ours,seabios,qboot,ovmf")]
    pub firmware: Vec<String>,
    /// Seconds before one boot counts as failed.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Skip the extra boot per firmware that reads QEMU's translated-block count and the guest
    /// RAM written at the kernel's first line.
    #[arg(long)]
    pub no_counts: bool,
}

/// First line of the kernel on the console.
const KERNEL_MARKER: &str = "Linux version";
/// First line of the initramfs' /init.
const INIT_MARKER: &str = "TDSHIM-INIT-START";
/// Last line of /init before it powers off: the run is over.
const DONE_MARKER: &str = "TDSHIM-INIT-DONE";

/// Name of our row in the table.
const OURS: &str = "td-shim (ours)";

/// A firmware under test, booted with `-bios FILE`.
struct Peer {
    name: &'static str,
    bios: PathBuf,
    /// Per-round times to the two markers; `None` for a failed boot.
    times: Vec<Option<(Duration, Duration)>>,
    /// Per successful round, QEMU's CPU time at the two markers (where /proc tells).
    cpu: Vec<(Duration, Duration)>,
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn run_script(root: &Path, script: &str, args: &[&Path]) -> Result<(), String> {
    let status = Command::new("bash")
        .arg(root.join(script))
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{script} failed ({status})"))
    }
}

/// Our image: the given one, or target/release/final.bin (built when missing).
fn our_image(root: &Path, args: &BenchBootArgs) -> Result<PathBuf, String> {
    if let Some(p) = &args.image {
        return if p.is_file() {
            Ok(p.clone())
        } else {
            Err(format!("image {} not found", p.display()))
        };
    }
    let p = target_dir(root).join("release").join("final.bin");
    if !p.is_file() {
        eprintln!(
            "bench-boot: {} missing, running cargo image --release",
            p.display()
        );
        let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask: {e}"))?;
        let status = Command::new(exe)
            .args(["image", "--release"])
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run cargo image: {e}"))?;
        if !status.success() || !p.is_file() {
            return Err(format!("cargo image --release failed ({status})"));
        }
    }
    Ok(p)
}

/// What one boot showed.
struct Boot {
    /// Time from QEMU's start to the kernel's first line and to /init's first line.
    kernel: Option<Duration>,
    init: Option<Duration>,
    /// CPU time QEMU (all its threads) had used when those lines arrived: less disturbed by
    /// other load on the machine than wall time (Linux /proc only; `None` elsewhere).
    kernel_cpu: Option<Duration>,
    init_cpu: Option<Duration>,
    /// /init reached its end.
    done: bool,
    /// How the run ended, for failure reports.
    end: String,
    /// The last serial lines, for failure reports.
    tail: Vec<String>,
}

/// CPU time used so far by every thread of process `pid`, from the first field of
/// `/proc/PID/task/*/schedstat` (nanoseconds on the CPU); `None` where /proc does not say.
fn cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

/// Runs QEMU until /init is done, the firmware reports an error, QEMU exits, or the
/// timeout; then kills it (our own child only). `Run::run` stops on one marker only, and a
/// firmware that fails must not cost a whole timeout per round.
///
/// `at_kernel` runs once, with QEMU's pid, when the kernel's first line arrives (QEMU still
/// running); returning `true` ends the run there.
fn boot(
    r: &Run,
    timeout: Duration,
    at_kernel: &mut dyn FnMut(u32) -> bool,
) -> Result<Boot, String> {
    let mut cmd = r.command();
    cmd.stderr(std::process::Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start qemu: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel::<(Duration, String)>();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut rd = BufReader::new(stdout);
        while matches!(rd.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf).trim_end().to_string();
            buf.clear();
            if tx.send((start.elapsed(), line)).is_err() {
                break;
            }
        }
    });
    let pid = child.id();
    let mut b = Boot {
        kernel: None,
        init: None,
        kernel_cpu: None,
        init_cpu: None,
        done: false,
        end: String::new(),
        tail: Vec::new(),
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((t, line)) => {
                if b.kernel.is_none() && line.contains(KERNEL_MARKER) {
                    b.kernel = Some(t);
                    b.kernel_cpu = cpu_time(pid);
                    if at_kernel(pid) {
                        b.end = "stopped at the kernel's first line".into();
                        break;
                    }
                }
                if b.init.is_none() && line.contains(INIT_MARKER) {
                    b.init = Some(t);
                    b.init_cpu = cpu_time(pid);
                }
                let error = line.contains("td-shim: ERROR");
                b.done |= line.contains(DONE_MARKER);
                b.tail.push(line);
                if b.tail.len() > 5 {
                    b.tail.remove(0);
                }
                if b.done || error {
                    b.end = if error { "firmware error" } else { "done" }.into();
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                b.end = "qemu exited".into();
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if start.elapsed() > timeout {
            b.end = format!("timed out after {} s", timeout.as_secs());
            break;
        }
    }
    let _ = child.kill(); // our own child only
    let status = child.wait().map_err(|e| format!("waiting for qemu: {e}"))?;
    let _ = reader.join();
    if b.end == "qemu exited" {
        b.end = format!("qemu exited ({status})");
    }
    Ok(b)
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "n/a".into(), |d| format!("{:.3} s", d.as_secs_f64()))
}

fn ratio(d: Option<Duration>, ours: Option<Duration>) -> String {
    match (d, ours) {
        (Some(d), Some(o)) if !o.is_zero() => format!("{:.2}×", d.as_secs_f64() / o.as_secs_f64()),
        _ => "n/a".into(),
    }
}

/// What QEMU had done when the kernel's first line appeared.
struct Counts {
    /// Guest basic blocks translated so far (`info jit`, "TB count").
    blocks: u64,
    /// 2 MiB pages of guest RAM with at least one page present (written).
    ram_pages_2m: Option<u64>,
}

/// 2 MiB pages of the guest RAM mapping of QEMU `pid` (the anonymous mapping exactly
/// `ram_bytes` long) that have a page present, from /proc/PID/pagemap (bit 63).
fn ram_pages_touched(pid: u32, ram_bytes: u64) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let (start, end) = maps.lines().find_map(|l| {
        let range = l.split_whitespace().next()?;
        let (a, b) = range.split_once('-')?;
        let (a, b) = (
            u64::from_str_radix(a, 16).ok()?,
            u64::from_str_radix(b, 16).ok()?,
        );
        (b - a == ram_bytes).then_some((a, b))
    })?;
    let mut pagemap = std::fs::File::open(format!("/proc/{pid}/pagemap")).ok()?;
    let mut touched = 0;
    let mut entries = vec![0u8; 512 * 8];
    for chunk in (start..end).step_by(2 << 20) {
        pagemap.seek(SeekFrom::Start(chunk / 4096 * 8)).ok()?;
        std::io::Read::read_exact(&mut pagemap, &mut entries).ok()?;
        if entries.chunks_exact(8).any(|e| e[7] & 0x80 != 0) {
            touched += 1;
        }
    }
    Some(touched)
}

/// Asks QEMU's QMP socket at `path` for `info jit` and returns its "TB count".
fn translated_blocks(path: &Path) -> Result<u64, String> {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let err = |e: std::io::Error| format!("qmp {}: {e}", path.display());
    let mut sock = UnixStream::connect(path).map_err(err)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(err)?;
    let mut rd = BufReader::new(sock.try_clone().map_err(err)?);
    let mut line = String::new();
    // The greeting, then one reply per command (events, if any, are skipped).
    let mut reply = |sock: &mut UnixStream, cmd: &str| -> Result<String, String> {
        sock.write_all(cmd.as_bytes()).map_err(err)?;
        loop {
            line.clear();
            if rd.read_line(&mut line).map_err(err)? == 0 {
                return Err("qmp: connection closed".into());
            }
            if line.contains("\"return\"") || line.contains("\"error\"") {
                return Ok(line.clone());
            }
        }
    };
    reply(&mut sock, "{\"execute\":\"qmp_capabilities\"}\n")?;
    let out = reply(
        &mut sock,
        "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info jit\"}}\n",
    )?;
    // "TB count            1610\n" inside the JSON string (newlines escaped as \n).
    let at = out
        .find("TB count")
        .ok_or_else(|| format!("qmp: no TB count in {out:?}"))?;
    out[at + "TB count".len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("qmp: unreadable TB count in {out:?}"))
}

/// One boot of `r` with a QMP socket, up to the kernel's first line; then the counts.
fn counts(r: Run, ram_bytes: Option<u64>, timeout: Duration) -> Result<Counts, String> {
    let dir = std::env::temp_dir().join(format!("td-shim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let sock = dir.join("qmp.sock");
    let _ = std::fs::remove_file(&sock);
    let r = r
        .arg("-qmp")
        .arg(&format!("unix:{},server=on,wait=off", sock.display()));
    let mut got = None;
    let run = boot(&r, timeout, &mut |pid| {
        let ram_pages_2m = ram_bytes.and_then(|b| ram_pages_touched(pid, b));
        got = Some(translated_blocks(&sock).map(|blocks| Counts {
            blocks,
            ram_pages_2m,
        }));
        true
    });
    let _ = std::fs::remove_dir_all(&dir);
    match (run, got) {
        (_, Some(counts)) => counts,
        (Ok(b), None) => Err(format!("no `{KERNEL_MARKER}` line ({})", b.end)),
        (Err(e), None) => Err(e),
    }
}

/// Boots every firmware `rounds` times, interleaved, and prints the table.
pub fn bench_boot(args: &BenchBootArgs) -> Result<(), String> {
    let root = workspace_root();
    let kernels = root.join("target").join("kernels");
    let builtin = matches!(args.kernel.as_str(), "6.1" | "6.12");
    if builtin || args.initrd.is_none() {
        run_script(&root, "sh_script/fetch-kernels.sh", &[&kernels])?;
    }
    let kernel = if builtin {
        kernels.join(format!("vmlinuz-{}", args.kernel))
    } else {
        PathBuf::from(&args.kernel)
    };
    if !kernel.is_file() {
        return Err(format!("kernel {} not found", kernel.display()));
    }
    let initrd = match &args.initrd {
        Some(p) => p.clone(),
        None => {
            let out = target_dir(&root).join("bench").join("initramfs.img");
            run_script(
                &root,
                "tests/initramfs/build.sh",
                &[&out, &kernels.join("busybox")],
            )?;
            out
        }
    };

    let mut peers = Vec::new();
    for name in &args.firmware {
        let (name, bios): (&'static str, PathBuf) = match name.as_str() {
            "ours" => (OURS, our_image(&root, args)?),
            "seabios" => ("SeaBIOS", "/usr/share/seabios/bios-256k.bin".into()),
            "qboot" => ("qboot", "/usr/share/qemu/qboot.rom".into()),
            "ovmf" => ("OVMF", "/usr/share/ovmf/OVMF.fd".into()),
            other => {
                return Err(format!(
                    "unknown firmware {other:?} (ours, seabios, qboot, ovmf)"
                ))
            }
        };
        if !bios.is_file() {
            println!("skipped: {name}: {} not found", bios.display());
            continue;
        }
        peers.push(Peer {
            name,
            bios,
            times: Vec::new(),
            cpu: Vec::new(),
        });
    }
    if peers.is_empty() {
        return Err("no firmware to compare".into());
    }

    let accel = std::env::var("TD_SHIM_ACCEL").unwrap_or_else(|_| "tcg".into());
    println!(
        "bench-boot: kernel {}, initrd {}, -m {} -smp {}, accel {accel}, {} rounds, append {:?}",
        kernel.display(),
        initrd.display(),
        args.memory,
        args.smp,
        args.rounds,
        args.append
    );
    // The same kernel, initrd, command line and QEMU flags for every firmware.
    let run_for = |bios: &Path| {
        Run::new(bios)
            .memory(&args.memory)
            .smp(args.smp)
            .arg("-kernel")
            .arg(&kernel.to_string_lossy())
            .arg("-initrd")
            .arg(&initrd.to_string_lossy())
            .arg("-append")
            .arg(&args.append)
    };
    for round in 1..=args.rounds {
        for p in &mut peers {
            let o = boot(
                &run_for(&p.bios),
                Duration::from_secs(args.timeout),
                &mut |_| false,
            )?;
            let t = match (o.kernel, o.init, o.done) {
                (Some(k), Some(i), true) => Some((k, i)),
                _ => None,
            };
            if let (Some(_), Some(kc), Some(ic)) = (t, o.kernel_cpu, o.init_cpu) {
                p.cpu.push((kc, ic));
            }
            match t {
                Some((k, i)) => println!(
                    "round {round} {:<15} kernel {:.3} s, init {:.3} s (qemu cpu {:.3} s, {:.3} s)",
                    p.name,
                    k.as_secs_f64(),
                    i.as_secs_f64(),
                    o.kernel_cpu.unwrap_or_default().as_secs_f64(),
                    o.init_cpu.unwrap_or_default().as_secs_f64()
                ),
                None => println!(
                    "round {round} {:<15} FAILED ({}); last lines: {:?}",
                    p.name, o.end, o.tail
                ),
            }
            p.times.push(t);
        }
    }

    let ours = peers.iter().find(|p| p.name == OURS);
    let medians = |p: &Peer| {
        let ok: Vec<(Duration, Duration)> = p.times.iter().flatten().copied().collect();
        (
            median(ok.iter().map(|t| t.0).collect()),
            median(ok.iter().map(|t| t.1).collect()),
            ok.len(),
        )
    };
    let (ours_k, ours_i, _) = ours.map(medians).unwrap_or((None, None, 0));
    println!();
    println!(
        "| firmware | to `{KERNEL_MARKER}` (median) | vs ours | to initramfs `{INIT_MARKER}` (median) | vs ours | ok runs |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for p in &peers {
        let (k, i, ok) = medians(p);
        println!(
            "| {} | {} | {} | {} | {} | {ok}/{} |",
            p.name,
            secs(k),
            ratio(k, ours_k),
            secs(i),
            ratio(i, ours_i),
            p.times.len()
        );
    }
    // The same in QEMU's CPU time (all threads), which other load on the machine disturbs
    // less than wall time: the better guide when the rows are close.
    let cpu_medians = |p: &Peer| {
        (
            median(p.cpu.iter().map(|t| t.0).collect()),
            median(p.cpu.iter().map(|t| t.1).collect()),
        )
    };
    let (ours_kc, ours_ic) = ours.map(cpu_medians).unwrap_or((None, None));
    if peers.iter().any(|p| !p.cpu.is_empty()) {
        println!();
        println!(
            "| firmware | qemu cpu to `{KERNEL_MARKER}` (median) | vs ours | qemu cpu to initramfs (median) | vs ours | rounds |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for p in &peers {
            let (k, i) = cpu_medians(p);
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                p.name,
                secs(k),
                ratio(k, ours_kc),
                secs(i),
                ratio(i, ours_ic),
                p.cpu.len()
            );
        }
    }
    // Paired by round (the runs of one round are next to each other in time, so a drift in
    // the machine's speed hits both): the median of (that firmware − ours) and in how many
    // rounds ours was faster. The medians above can disagree with this when the drift is
    // larger than the difference.
    if let Some(ours) = ours {
        println!();
        for p in peers.iter().filter(|p| p.name != OURS) {
            let pairs: Vec<(f64, f64)> = p
                .times
                .iter()
                .zip(&ours.times)
                .filter_map(|(a, b)| {
                    let ((ak, ai), (bk, bi)) = ((*a)?, (*b)?);
                    Some((
                        ak.as_secs_f64() - bk.as_secs_f64(),
                        ai.as_secs_f64() - bi.as_secs_f64(),
                    ))
                })
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let n = pairs.len();
            let mid = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let k = mid(pairs.iter().map(|d| d.0).collect());
            let i = mid(pairs.iter().map(|d| d.1).collect());
            let won_k = pairs.iter().filter(|d| d.0 > 0.0).count();
            let won_i = pairs.iter().filter(|d| d.1 > 0.0).count();
            println!(
                "paired with {}: to `{KERNEL_MARKER}` {:+.3} s (ours faster in {won_k}/{n} rounds), to initramfs {:+.3} s ({won_i}/{n})",
                p.name, k, i
            );
        }
    }
    if !args.no_counts {
        println!();
        println!(
            "| firmware | blocks translated by `{KERNEL_MARKER}` | 2 MiB pages of RAM written by then |"
        );
        println!("|---|---:|---:|");
        // QEMU's RAM block is `-m` rounded as QEMU rounds it.
        let ram = td_shim_tools::vmm::parse_memory(&args.memory).ok();
        for p in &peers {
            match counts(run_for(&p.bios), ram, Duration::from_secs(args.timeout)) {
                Ok(c) => println!(
                    "| {} | {} | {} |",
                    p.name,
                    c.blocks,
                    c.ram_pages_2m
                        .map_or_else(|| "n/a".into(), |n| n.to_string())
                ),
                Err(e) => println!("| {} | n/a ({e}) | n/a |", p.name),
            }
        }
    }
    println!();
    println!("(ratio = that firmware's median / ours: above 1× means ours is faster)");
    if peers.iter().any(|p| p.times.iter().any(Option::is_none)) {
        return Err("some boots failed (see the FAILED lines above)".into());
    }
    Ok(())
}
