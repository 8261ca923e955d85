// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `td-shim-eventlog`: prints a CC event log (a file, or
//! /sys/firmware/acpi/tables/data/CCEL inside a guest), replays it into RTMR0..3 and compares
//! the result with expected values (see `td_shim_tools::eventlog`,
//! `../shared/spec/measurement.md` §2, §5). The log and the reference are untrusted files.
//! Exit status: 0 success, 1 a register differs, 2 the log or an input cannot be read.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use td_shim_tools::eventlog::{self, Expected};
use td_shim_tools::file;

#[derive(Parser, Debug)]
#[command(
    name = "td-shim-eventlog",
    version,
    about = "Print, replay and check a CC (CCEL) event log",
    long_about = "Print, replay and check a CC event log as td-shim writes it (TCG crypto-agile, \
        SHA-384 only, Spec ID header first; the area's trailing 0xff fill is allowed).\n\n\
        Inside a Linux guest the log is /sys/firmware/acpi/tables/data/CCEL. Every event is \
        printed with its index, register, type, digest and decoded data (platform-config-info \
        descriptor and info, firmware-blob2 description/base/length, separator value). The log \
        is replayed (RTMR[MrIndex-1] = SHA-384(RTMR || digest), from zeros) and, when expected \
        values are given (--reference, --rtmr0..--rtmr3; a flag overrides the reference), \
        compared register by register. RTMR2/3 may hold later OS extends with no log entry: \
        give only the registers you want checked.\n\n\
        Exit status: 0 success (all given registers match), 1 a register differs (one error \
        line names it), 2 the log or an input could not be read or parsed."
)]
struct Args {
    /// The event log: a raw log area (e.g. /sys/firmware/acpi/tables/data/CCEL).
    #[arg(value_name = "FILE")]
    log: PathBuf,
    /// Expected RTMR0 (96 hex digits).
    #[arg(long, value_name = "HEX")]
    rtmr0: Option<String>,
    /// Expected RTMR1 (96 hex digits).
    #[arg(long, value_name = "HEX")]
    rtmr1: Option<String>,
    /// Expected RTMR2 (96 hex digits).
    #[arg(long, value_name = "HEX")]
    rtmr2: Option<String>,
    /// Expected RTMR3 (96 hex digits).
    #[arg(long, value_name = "HEX")]
    rtmr3: Option<String>,
    /// Reference values: JSON with rtmr0..rtmr3 (hex, or null = not checked) and optionally
    /// events (e.g. `td-payload-reference-calculator --json` output).
    #[arg(long, value_name = "FILE.json")]
    reference: Option<PathBuf>,
    /// Print one JSON object (events, replayed registers, checks) instead of text.
    #[arg(long)]
    json: bool,
}

fn expected(args: &Args) -> Result<Expected, String> {
    let mut exp = match &args.reference {
        Some(path) => {
            let bytes = file::read(path).map_err(|e| e.to_string())?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("reference {} is not utf-8", path.display()))?;
            eventlog::parse_reference(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Expected::default(),
    };
    for (i, v) in [&args.rtmr0, &args.rtmr1, &args.rtmr2, &args.rtmr3]
        .into_iter()
        .enumerate()
    {
        if let Some(text) = v {
            eventlog::override_rtmr(&mut exp, i, text)?;
        }
    }
    Ok(exp)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let fail = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    };
    let exp = match expected(&args) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let bytes = match file::read(&args.log) {
        Ok(b) => b,
        Err(e) => return fail(e.to_string()),
    };
    let report = match eventlog::analyse(&bytes, &exp) {
        Ok(r) => r,
        Err(e) => return fail(format!("{}: {e}", args.log.display())),
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    let bad = report.mismatches();
    if bad.is_empty() {
        return ExitCode::SUCCESS;
    }
    let names: Vec<String> = bad.iter().map(|i| format!("rtmr{i}")).collect();
    eprintln!(
        "error: {} of the replayed log {} not match the expected value{}",
        names.join(", "),
        if bad.len() == 1 { "does" } else { "do" },
        if bad.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(1)
}
