// SPDX-License-Identifier: BSD-2-Clause-Patent
//! QEMU runner shared by the boot tests (`tests/*.rs`) and `cargo xtask qemu`: builds the
//! command line, streams or captures the serial console, enforces a timeout and kills only
//! the QEMU process it started. Acceleration is TCG unless `TD_SHIM_ACCEL` says otherwise
//! (e.g. `TD_SHIM_ACCEL=kvm` on a machine with working KVM).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// isa-debug-exit I/O port used by our payloads.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// One QEMU run.
#[derive(Clone, Debug)]
pub struct Run {
    pub image: PathBuf,
    pub memory: String,
    pub smp: u32,
    pub extra: Vec<String>,
    pub timeout: Duration,
    /// Echo the serial console to our stdout while running.
    pub echo: bool,
    /// Stop QEMU (kill it) shortly after a serial line containing this appears: for runs
    /// that end in a halted CPU rather than a QEMU exit.
    pub stop_on: Option<String>,
}

impl Run {
    /// Defaults: 512M, 1 vCPU, 60 s, no echo.
    pub fn new(image: impl Into<PathBuf>) -> Self {
        Run {
            image: image.into(),
            memory: "512M".into(),
            smp: 1,
            extra: Vec::new(),
            timeout: Duration::from_secs(60),
            echo: false,
            stop_on: None,
        }
    }
    pub fn memory(mut self, m: &str) -> Self {
        self.memory = m.into();
        self
    }
    pub fn smp(mut self, n: u32) -> Self {
        self.smp = n;
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.extra.push(a.into());
        self
    }
    pub fn echo(mut self, on: bool) -> Self {
        self.echo = on;
        self
    }
    pub fn stop_on(mut self, needle: &str) -> Self {
        self.stop_on = Some(needle.into());
        self
    }

    /// The QEMU command line.
    pub fn command(&self) -> Command {
        let accel = std::env::var("TD_SHIM_ACCEL").unwrap_or_else(|_| "tcg".into());
        let mut c = Command::new(
            std::env::var("TD_SHIM_QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into()),
        );
        c.args([
            "-accel",
            &accel,
            "-M",
            "q35",
            "-m",
            &self.memory,
            "-smp",
            &self.smp.to_string(),
        ]);
        c.args([
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
        ]);
        c.arg("-bios").arg(&self.image);
        c.args([
            "-device",
            &format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=4"),
        ]);
        c.args(&self.extra);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs QEMU to completion or timeout.
    pub fn run(&self) -> std::io::Result<Outcome> {
        let start = Instant::now();
        let mut child = self.command().spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel::<(Duration, String)>();
        let echo = self.echo;
        let stop_on = self.stop_on.clone();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen_in_reader = seen.clone();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\r', '\n'])
                            .to_string();
                        if echo {
                            println!("{line}");
                        }
                        if stop_on.as_deref().is_some_and(|n| line.contains(n)) {
                            seen_in_reader.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        if tx.send((start.elapsed(), line)).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut timed_out = false;
        let mut stopped = false;
        let mut seen_at: Option<Instant> = None;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if seen.load(std::sync::atomic::Ordering::SeqCst) {
                // Give the guest a moment to print what follows, then stop it.
                let at = *seen_at.get_or_insert_with(Instant::now);
                if at.elapsed() > Duration::from_millis(300) {
                    stopped = true;
                    let _ = child.kill(); // our own child only
                    break child.wait()?;
                }
            }
            if start.elapsed() > self.timeout {
                timed_out = true;
                let _ = child.kill(); // our own child only
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = reader.join();
        let stderr = err_reader.join().unwrap_or_default();
        let lines: Vec<(Duration, String)> = rx.try_iter().collect();
        Ok(Outcome {
            status,
            timed_out,
            stopped,
            lines,
            stderr,
            elapsed: start.elapsed(),
        })
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub timed_out: bool,
    /// Killed because the `stop_on` line appeared (the guest was still running or halted).
    pub stopped: bool,
    /// Serial lines with the time since QEMU started.
    pub lines: Vec<(Duration, String)>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// The serial log as one string.
    pub fn serial(&self) -> String {
        self.lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
    /// QEMU's exit code (isa-debug-exit: (value << 1) | 1).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    /// First line containing `needle`, with its time.
    pub fn find(&self, needle: &str) -> Option<&(Duration, String)> {
        self.lines.iter().find(|(_, l)| l.contains(needle))
    }
    /// A readable dump for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status {:?}, timed out {}, stopped {}, {:?}\n--- serial ---\n{}\n--- stderr ---\n{}",
            self.status.code(),
            self.timed_out,
            self.stopped,
            self.elapsed,
            self.serial(),
            self.stderr
        )
    }
}

/// Directory with prebuilt test images (`TD_SHIM_TEST_IMAGES`, set by `cargo xtask boot-test`).
pub fn images_dir() -> PathBuf {
    match std::env::var_os("TD_SHIM_TEST_IMAGES") {
        Some(d) => PathBuf::from(d),
        None => panic!(
            "TD_SHIM_TEST_IMAGES is not set: run the boot tests with `cargo xtask boot-test`"
        ),
    }
}

/// Path of a prebuilt test image; panics with a clear message when it is missing.
pub fn image(name: &str) -> PathBuf {
    let p = images_dir().join(name);
    assert!(
        Path::new(&p).is_file(),
        "test image {} missing: run `cargo xtask boot-test`",
        p.display()
    );
    p
}

/// The four `emulated RTMR<i> = <96 hex digits>` lines an emulated-TDX image prints at
/// hand-off, in order (each checked to be 96 hex digits).
pub fn emulated_rtmrs(o: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..4 {
        let prefix = format!("emulated RTMR{i} = ");
        let (_, line) = o
            .find(&prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} line\n{}", o.describe()));
        let hex = line.split(&prefix).nth(1).unwrap_or_default().trim();
        assert_eq!(hex.len(), 96, "{line}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
        out.push(hex.to_string());
    }
    out
}
