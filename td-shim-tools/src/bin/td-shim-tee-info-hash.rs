// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `td-shim-tee-info-hash`: computes the MRTD a TDX module would record while a VMM builds a
//! TD from a TDVF-format image, and TEE_INFO_HASH over TDINFO with TD parameters from an
//! optional manifest (see `td_shim_tools::tee_info`, `../shared/spec/measurement.md` §6-§7).
//! All inputs are untrusted files. Exit status: 0 success, 2 any error.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use td_shim_tools::file;
use td_shim_tools::tee_info::{self, PageOrder, Report, TdParams};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Order {
    /// Per page: PAGE.ADD, then its 16 MR.EXTENDs (QEMU/KVM, the reference algorithm).
    Interleaved,
    /// All PAGE.ADDs of all sections first, then all MR.EXTENDs.
    AddFirst,
}

#[derive(Parser, Debug)]
#[command(
    name = "td-shim-tee-info-hash",
    version,
    about = "Compute MRTD and TEE_INFO_HASH of a td-shim (TDVF-format) image",
    long_about = "Compute MRTD and TEE_INFO_HASH of a td-shim (TDVF-format) image.\n\n\
        MRTD is SHA-384 over 128-byte records of the VMM's build calls, in call order: for \
        TDH.MEM.PAGE.ADD of the page at GPA g one block (\"MEM.PAGE.ADD\", g as u64 LE at byte \
        16); for TDH.MR.EXTEND of the 256-byte chunk at g one block (\"MR.EXTEND\", g) followed \
        by the chunk. The sections come from the image's TDVF metadata in table order: every \
        section with memory is PAGE.ADDed unless its PAGE.AUG attribute is set, and sections \
        with the MR.EXTEND attribute are extended with their raw data zero-extended to the \
        section size. TD_HOB and TempMem contents do not enter MRTD, only their addresses.\n\n\
        TEE_INFO_HASH is SHA-384 of the 512-byte TDINFO: ATTRIBUTES(8) XFAM(8) MRTD(48) \
        MRCONFIGID(48) MROWNER(48) MROWNERCONFIG(48) RTMR0..RTMR3(4x48) SERVTD_HASH(48) \
        reserved zeros(64).\n\n\
        MANIFEST FORMAT (--manifest): one JSON object; every key optional, unknown keys are \
        errors, every value a string:\n  \
        attributes, xfam: u64 as a hex number, either exactly 16 digits (\"00000000000602e7\") \
        or 0x with 1-16 digits (\"0x602e7\"); stored little-endian.\n  \
        mrconfigid, mrowner, mrownerconfig, rtmr0, rtmr1, rtmr2, rtmr3, servtd_hash: 48 bytes \
        as 96 hex digits in memory order (optional 0x).\n\
        Missing fields are zero. Example:\n  \
        {\"attributes\": \"0x0\", \"xfam\": \"0x00000000000000e7\", \"rtmr0\": \"00...00\"}\n\n\
        Exit status: 0 success, 2 error (unreadable input, bad metadata, bad manifest)."
)]
struct Args {
    /// The firmware image (e.g. final.bin).
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// TD-parameters manifest (JSON, see MANIFEST FORMAT); without it every TDINFO field
    /// other than MRTD is zero.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Order of the VMM's PAGE.ADD and MR.EXTEND calls.
    #[arg(long, value_enum, default_value = "interleaved")]
    page_order: Order,
    /// Contents the VMM loads into a Payload section that has MR.EXTEND but no raw data in
    /// the image (not needed for td-shim's own images).
    #[arg(long, value_name = "FILE")]
    payload: Option<PathBuf>,
    /// Print one JSON object (mrtd, tee_info_hash, page_order, tdinfo fields, tdinfo_bytes).
    #[arg(long)]
    json: bool,
}

fn run(args: &Args) -> Result<Report, String> {
    let image = file::read(&args.image).map_err(|e| e.to_string())?;
    let params = match &args.manifest {
        Some(path) => {
            let bytes = file::read(path).map_err(|e| e.to_string())?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("manifest {} is not utf-8", path.display()))?;
            tee_info::parse_manifest(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => TdParams::default(),
    };
    let payload = match &args.payload {
        Some(path) => Some(file::read(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let order = match args.page_order {
        Order::Interleaved => PageOrder::Interleaved,
        Order::AddFirst => PageOrder::AddFirst,
    };
    Report::compute(&image, payload.as_deref(), order, params)
        .map_err(|e| format!("{}: {e}", args.image.display()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
