// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `td-payload-reference-calculator`: predicts the CC event log and the RTMR values td-shim
//! produces for an image and the kernel / payload, command line, initrd and VMM inputs a
//! verifier holds (see `td_shim_tools::reference`; every event comes from `td_shim::measure`,
//! the functions the firmware itself calls). All inputs are untrusted files.
//! Exit status: 0 success, 2 any error.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use td_shim::format::event_log;
use td_shim_tools::file;
use td_shim_tools::reference::{self, Inputs, Platform, VmmInputs};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PlatformArg {
    /// A TD (TD HOB; RTMRs extended).
    Tdx,
    /// An ordinary VM (fw_cfg etc/e820; log only, no registers).
    Legacy,
}

#[derive(Parser, Debug)]
#[command(
    name = "td-payload-reference-calculator",
    version,
    about = "Predict td-shim's event log and RTMR values from an image and payload files",
    long_about = "Predict the CC event log and RTMR0..RTMR3 that td-shim produces, from the files \
        a verifier holds. Every event is computed by the same td_shim::measure functions the \
        firmware calls.\n\n\
        Boot path (chosen as the firmware does): a payload embedded in the image (ELF or \
        bzImage with its own initrd and command line) wins; else --payload (a kernel the VMM \
        loads into the metadata Payload section, command line into PayloadParam); else \
        --kernel (QEMU -kernel/-append/-initrd through fw_cfg).\n\n\
        Events, in log order: RTMR0 the VMM's memory description (--td-hob / --e820), RTMR0 \
        the configuration volume (from --image); RTMR1 the payload or kernel (sha384sum of the \
        file; a Payload-section kernel is hashed with its section's zero padding), RTMR1 the \
        command line (without NUL; the whole PayloadParam section on that path), RTMR1 the \
        initrd; on the Linux path RTMR0 QEMU's ACPI fw_cfg files; then the RTMR0 and RTMR1 \
        separators. RTMR2/3 stay zero.\n\n\
        Without the VMM's inputs RTMR0 is printed as not predicted (null in JSON); RTMR1 never \
        depends on them. --vmm-inputs-from-log takes them from a guest's log (the verifier \
        judges them by policy) and predicts everything else from its own files.\n\n\
        Exit status: 0 success, 2 error."
)]
struct Args {
    /// The firmware image (final.bin): configuration volume, embedded payload, metadata.
    #[arg(long, value_name = "FILE")]
    image: PathBuf,
    /// Platform the firmware runs on.
    #[arg(long, value_enum, default_value = "tdx")]
    platform: PlatformArg,
    /// A bzImage given to QEMU with -kernel (fw_cfg).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// A bzImage the VMM loads into the image's metadata Payload section.
    #[arg(long, value_name = "FILE")]
    payload: Option<PathBuf>,
    /// Kernel command line (-append, or what the VMM writes into PayloadParam).
    #[arg(long, value_name = "STRING")]
    cmdline: Option<String>,
    /// Initrd (-initrd).
    #[arg(long, value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// TDX: the TD HOB as the VMM wrote it (e.g. from `td-shim-vmm hob`); bytes after the
    /// End HOB are ignored, as by the firmware.
    #[arg(long, value_name = "FILE", conflicts_with = "e820")]
    td_hob: Option<PathBuf>,
    /// Legacy VM: QEMU's fw_cfg etc/e820 file.
    #[arg(long, value_name = "FILE")]
    e820: Option<PathBuf>,
    /// A QEMU ACPI fw_cfg file the firmware measures on the Linux path, as NAME=FILE
    /// (repeat, in the firmware's order: etc/table-loader first, then the files it
    /// allocates).
    #[arg(long, value_name = "NAME=FILE")]
    fw_cfg_file: Vec<String>,
    /// The VMM offers no ACPI files through fw_cfg (e.g. no fw_cfg at all).
    #[arg(long, conflicts_with = "fw_cfg_file")]
    no_fw_cfg_acpi: bool,
    /// Take the VMM's inputs (TD HOB or e820, ACPI fw_cfg files) from this guest event log.
    #[arg(long, value_name = "LOG", conflicts_with_all = ["td_hob", "e820", "fw_cfg_file", "no_fw_cfg_acpi"])]
    vmm_inputs_from_log: Option<PathBuf>,
    /// Print one JSON object: rtmr0..rtmr3 (hex or null), events, notes.
    #[arg(long)]
    json: bool,
}

fn read(p: &Option<PathBuf>) -> Result<Option<Vec<u8>>, String> {
    p.as_ref()
        .map(|p| file::read(p).map_err(|e| e.to_string()))
        .transpose()
}

/// The VMM's inputs, from a guest log or from files, and whether the ACPI fw_cfg files are
/// known (given, declared absent, or taken from the log).
fn vmm_inputs(args: &Args, platform: Platform) -> Result<(VmmInputs, bool), String> {
    if let Some(path) = &args.vmm_inputs_from_log {
        let bytes = file::read(path).map_err(|e| e.to_string())?;
        let log = event_log::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok((reference::vmm_inputs_from_log(&log), true));
    }
    let memory = match platform {
        Platform::Tdx => read(&args.td_hob)?,
        Platform::Legacy => read(&args.e820)?,
    };
    let mut fw_cfg_files = Vec::new();
    for spec in &args.fw_cfg_file {
        let (name, path) = spec
            .split_once('=')
            .ok_or_else(|| format!("--fw-cfg-file {spec}: expected NAME=FILE"))?;
        let bytes = file::read(path.as_ref()).map_err(|e| e.to_string())?;
        fw_cfg_files.push((name.to_string(), bytes));
    }
    let known = !fw_cfg_files.is_empty() || args.no_fw_cfg_acpi;
    Ok((
        VmmInputs {
            memory,
            fw_cfg_files,
        },
        known,
    ))
}

fn run(args: &Args) -> Result<reference::Prediction, String> {
    let platform = match args.platform {
        PlatformArg::Tdx => Platform::Tdx,
        PlatformArg::Legacy => Platform::Legacy,
    };
    match (platform, &args.td_hob, &args.e820) {
        (Platform::Tdx, _, Some(_)) => return Err("--e820 is for --platform legacy".into()),
        (Platform::Legacy, Some(_), _) => return Err("--td-hob is for --platform tdx".into()),
        _ => {}
    }
    let image = file::read(&args.image).map_err(|e| e.to_string())?;
    let kernel = read(&args.kernel)?;
    let payload = read(&args.payload)?;
    let initrd = read(&args.initrd)?;

    let (vmm, fw_cfg_known) = vmm_inputs(args, platform)?;
    let fw_cfg_files = fw_cfg_known.then(|| {
        vmm.fw_cfg_files
            .iter()
            .map(|(n, b)| (n.clone(), b.as_slice()))
            .collect()
    });
    let inputs = Inputs {
        platform,
        image: &image,
        vmm_memory: vmm.memory.as_deref(),
        fw_cfg_files,
        kernel: kernel.as_deref(),
        payload: payload.as_deref(),
        cmdline: args.cmdline.as_deref().map(str::as_bytes),
        initrd: initrd.as_deref(),
    };
    reference::predict(&inputs).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(p) => {
            if args.json {
                println!("{}", p.to_json());
            } else {
                print!("{p}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
