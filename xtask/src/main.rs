// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Build orchestration for td-shim. `cargo image …` (an alias for `cargo xtask image …`)
//! assembles the reset vector, builds the firmware and the payload for
//! `x86_64-unknown-none`, and stitches `final.bin` with the td-shim-tools linker. Other
//! subcommands run an image in QEMU and drive the boot tests.

mod bench;
mod emu;
mod fuzz;
mod image;
mod qemu;
mod repro;
mod ring_build;
mod unsafe_report;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "td-shim build orchestration", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a firmware image (final.bin). Also reachable as `cargo image`.
    Image(image::ImageArgs),
    /// Boot an image in QEMU (TCG by default), stream the serial console, exit with QEMU's status.
    Qemu(qemu::QemuArgs),
    /// Boot an emulated-TDX image (`cargo image --emulated-tdx`) with the TD HOB a TDX VMM
    /// would build; stream the serial console, exit with QEMU's status.
    EmuRun(emu::EmuArgs),
    /// Build the images the QEMU boot tests need, then run them (`tests/`).
    BootTest(qemu::BootTestArgs),
    /// Boot an image several times; report the time from QEMU start to a serial marker.
    Bench(qemu::BenchArgs),
    /// Linux boot time of td-shim against SeaBIOS, qboot and OVMF (interleaved rounds, medians).
    BenchBoot(bench::BenchBootArgs),
    /// Write seed corpora and run every cargo-fuzz target in td-shim/fuzz (needs nightly).
    Fuzz(fuzz::FuzzArgs),
    /// Build the image in two clones at different paths and compare them byte for byte.
    ReproCheck(repro::ReproArgs),
    /// Count `unsafe` per file and check SAFETY comments, # Safety docs and lint headers.
    UnsafeReport(unsafe_report::UnsafeReportArgs),
    /// Clippy (-D warnings) on the firmware as `cargo image` builds it: with secure boot, ring
    /// built for x86_64-unknown-none the way `ring_build` does it.
    ClippyFirmware,
}

fn clippy_firmware() -> Result<(), String> {
    for features in ["secure-boot", "secure-boot,emulated-tdx"] {
        let mut c =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        c.args([
            "clippy",
            "--locked",
            "-p",
            "td-shim",
            "--features",
            features,
            "--bin",
            "td-shim",
            "--target",
            "x86_64-unknown-none",
            "--",
            "-D",
            "warnings",
        ]);
        ring_build::env(&mut c);
        let st = c
            .status()
            .map_err(|e| format!("cannot run cargo clippy: {e}"))?;
        if !st.success() {
            return Err(format!("clippy on the firmware ({features}) failed ({st})"));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Nested firmware builds run xtask as the rustc wrapper (see ring_build).
    if let Some(code) = ring_build::rustc_wrapper() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Image(args) => image::image(&args).map(|path| {
            println!("{}", path.display());
        }),
        Command::Qemu(args) => return qemu::run(&args),
        Command::EmuRun(args) => return emu::emu_run(&args),
        Command::BootTest(args) => qemu::boot_test(&args),
        Command::Bench(args) => qemu::bench(&args),
        Command::BenchBoot(args) => bench::bench_boot(&args),
        Command::Fuzz(args) => fuzz::fuzz(&args),
        Command::ReproCheck(args) => repro::repro_check(&args),
        Command::UnsafeReport(args) => unsafe_report::unsafe_report(&args),
        Command::ClippyFirmware => clippy_firmware(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
