// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `td-shim-ld`: links the reset vector, the td-shim ELF and an optional payload into a
//! final TDVF-format image (see `td_shim_tools::link`). The output is written atomically:
//! on any error no output file is created or changed.

use clap::Parser;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use td_shim::layout::{DEFAULT_IMAGE_SIZE, IMAGE_SIZE_ALIGN, MAX_IMAGE_SIZE, RESET_VECTOR_SIZE};
use td_shim_tools::file::{self, FileError};
use td_shim_tools::link::{self, LinkError, LinkInput};

#[derive(Parser, Debug)]
#[command(
    name = "td-shim-ld",
    version,
    about = "Link a td-shim firmware image (reset vector + shim ELF + optional payload)",
    long_about = "Link a td-shim firmware image.\n\n\
        The shim ELF (a PIE linked at 0) is relocated for its run address and wrapped in the IPL \
        firmware volume; the reset vector goes at the very end of the image; the optional payload \
        goes into the payload firmware volume; the TDVF metadata and the image tail are written so \
        that QEMU (OVMF GUID table) and the firmware (legacy pointer) both find them. The result \
        is checked by reading it back, then written atomically and summarised on stdout."
)]
struct Args {
    /// Assembled reset vector binary (exactly 0x8000 bytes, from reset-vector/), with its
    /// linker-reserved tail bytes left zero.
    #[arg(long, value_name = "RV.bin")]
    reset_vector: PathBuf,
    /// The td-shim firmware ELF (x86_64-unknown-none, position-independent, linked at 0).
    #[arg(long, value_name = "ELF")]
    shim: PathBuf,
    /// Built-in payload to embed in the payload firmware volume (ELF, PE or any blob). Without
    /// it the payload region stays empty and is left out of the measured BFV.
    #[arg(long, value_name = "FILE")]
    payload: Option<PathBuf>,
    /// Size of the final image in bytes, decimal or 0x-prefixed hex. Must be a multiple of
    /// 0x10000 (64 KiB), at most 0x1000000 (16 MiB); the payload region takes what is left.
    /// Default: 0x1000000.
    #[arg(long, value_name = "BYTES", value_parser = td_shim_tools::parse_size,
          default_value_t = DEFAULT_IMAGE_SIZE, hide_default_value = true)]
    image_size: u64,
    /// Output image path (written atomically: a temporary file next to it, then renamed).
    #[arg(short = 'o', long, value_name = "final.bin")]
    output: PathBuf,
}

#[derive(Debug)]
enum Error {
    File(FileError),
    Link(LinkError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::File(e) => write!(f, "{e}"),
            Error::Link(e) => write!(f, "{e}"),
        }
    }
}

fn run(args: &Args) -> Result<link::Summary, Error> {
    let input = LinkInput {
        payload_files: Vec::new(),
        td_payload_sections: false,
        reset_vector: file::read(&args.reset_vector).map_err(Error::File)?,
        shim_elf: file::read(&args.shim).map_err(Error::File)?,
        payload: args
            .payload
            .as_deref()
            .map(file::read)
            .transpose()
            .map_err(Error::File)?,
        image_size: args.image_size,
    };
    let out = link::link(&input).map_err(Error::Link)?;
    file::write_atomic(&args.output, &out.image).map_err(Error::File)?;
    Ok(out.summary)
}

fn main() -> ExitCode {
    // Keep the documented numbers in the help text honest.
    const _: () = assert!(
        RESET_VECTOR_SIZE == 0x8000 && IMAGE_SIZE_ALIGN == 0x1_0000 && MAX_IMAGE_SIZE == 0x100_0000
    );
    let args = Args::parse();
    match run(&args) {
        Ok(summary) => {
            println!("wrote {}", args.output.display());
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
