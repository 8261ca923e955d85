// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `td-shim-info`: inspects a TDVF-format firmware image and reports its layout, metadata,
//! tail, firmware volumes and every rule it breaks (see `td_shim_tools::info`).
//! Exit status: 0 = no violations, 1 = violations found, 2 = the input could not be read.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use td_shim_tools::{file, info};

#[derive(Parser, Debug)]
#[command(
    name = "td-shim-info",
    version,
    about = "Inspect and check a td-shim (TDVF-format) firmware image",
    long_about = "Inspect and check a td-shim (TDVF-format) firmware image.\n\n\
        Prints the image size and base, how the TDVF metadata was located (OVMF GUID table and \
        legacy pointer), every metadata section, the image tail, the IPL firmware volume (shim \
        image and entry), the payload firmware volume and the configuration FV, then the list of \
        violations. Works on images from other TDVF producers too.\n\n\
        Exit status: 0 no violations, 1 violations found, 2 unreadable input."
)]
struct Args {
    /// The firmware image to inspect (e.g. final.bin from td-shim-ld).
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bytes = match file::read(&args.image) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = info::inspect(&bytes);
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    if report.has_violations() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
