// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `cargo xtask emu-run`: boots an emulated-TDX image (`cargo image --emulated-tdx`) in an
//! ordinary q35 VM, doing with QEMU's generic loader what a TDX VMM does (see
//! `td_shim_tools::vmm`): the TD HOB goes into the TD_HOB section, a kernel into the Payload
//! section and its command line into PayloadParam when the image has them (else QEMU's
//! `-kernel/-initrd/-append` over fw_cfg). Streams the serial console, exits with QEMU's
//! status (124 on timeout).

use crate::image::workspace_root;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use td_shim::format::metadata::{self, SectionType};
use td_shim_boot_tests::Run;
use td_shim_tools::{file, vmm};

#[derive(Args, Debug)]
pub struct EmuArgs {
    /// Emulated-TDX image to boot (from `cargo image --emulated-tdx`).
    #[arg(long, value_name = "FILE")]
    pub image: PathBuf,
    /// Kernel: into the image's Payload section if it has one, else QEMU -kernel (fw_cfg).
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,
    /// Initrd (QEMU -initrd; only for images without a Payload section).
    #[arg(long, value_name = "FILE", requires = "kernel")]
    pub initrd: Option<PathBuf>,
    /// Kernel command line: PayloadParam section, or QEMU -append.
    #[arg(long, value_name = "STRING", requires = "kernel")]
    pub append: Option<String>,
    /// Guest memory (QEMU -m syntax); the TD HOB describes the same q35 RAM layout.
    #[arg(short = 'm', long, default_value = "1G")]
    pub memory: String,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 1)]
    pub smp: u32,
    /// Ask the firmware to accept only what boot needs (fw_cfg opt/td-shim/lazy-accept).
    #[arg(long)]
    pub lazy_accept: bool,
    /// Leave out the TD HOB's MMIO descriptor (as QEMU 9.2+ does).
    #[arg(long)]
    pub no_mmio: bool,
    /// Seconds before QEMU is killed.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Load the hostile TD HOB of this name instead of the real one (`td-shim-vmm
    /// hostile-names` lists them).
    #[arg(long, value_name = "NAME")]
    pub hostile: Option<String>,
    /// Extra arguments passed to QEMU as they are (after `--`).
    #[arg(last = true)]
    pub qemu_args: Vec<String>,
}

/// Where emu-run writes its HOB and command-line files.
pub fn emu_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("emu")
}

/// Everything QEMU needs beyond `Run`'s defaults, with the files it names written to `dir`.
fn prepare(args: &EmuArgs, dir: &Path) -> Result<Vec<String>, String> {
    let image = file::read(&args.image).map_err(|e| e.to_string())?;
    let md = metadata::parse_image(&image).map_err(|e| format!("{}: {e}", args.image.display()))?;
    let memory = vmm::parse_memory(&args.memory).map_err(|e| e.to_string())?;
    let in_payload_section =
        args.kernel.is_some() && vmm::section(&md, SectionType::Payload).is_some();
    if in_payload_section && args.initrd.is_some() {
        return Err(
            "this image has a Payload section, which takes a kernel but no initrd; \
             use an image without one (the kernel then goes through fw_cfg)"
                .into(),
        );
    }
    let opts = vmm::TdHobOptions {
        mmio: !args.no_mmio,
        payload_info: in_payload_section.then_some(vmm::PayloadInfo {
            image_type: vmm::PAYLOAD_IMAGE_BZIMAGE,
            entry: 0,
        }),
    };
    let hob = vmm::build_td_hob(&image, memory, &opts).map_err(|e| e.to_string())?;
    let stem = args
        .image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let mut name = format!("{stem}-{}", args.memory);
    let bytes = match &args.hostile {
        None => hob.bytes.clone(),
        Some(h) => {
            name.push_str("-hostile-");
            name.push_str(h);
            vmm::hostile_td_hob(&hob.bytes, hob.base, h).ok_or_else(|| {
                format!(
                    "no hostile HOB named {h:?}; known: {}",
                    vmm::hostile_names().join(", ")
                )
            })?
        }
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let hob_path = dir.join(format!("{name}.hob"));
    file::write_atomic(&hob_path, &bytes).map_err(|e| e.to_string())?;
    eprintln!(
        "emu-run: TD HOB {} ({} bytes at {:#x}; {} MiB below 4 GiB, {} MiB above)",
        hob_path.display(),
        bytes.len(),
        hob.base,
        hob.memory.below_4g >> 20,
        hob.memory.above_4g >> 20
    );

    let mut extra = Vec::new();
    if in_payload_section {
        let kernel = args
            .kernel
            .as_deref()
            .expect("in_payload_section implies a kernel");
        let kernel_len = std::fs::metadata(kernel)
            .map_err(|e| format!("cannot read {}: {e}", kernel.display()))?
            .len();
        let cmdline_path = dir.join(format!("{name}.cmdline"));
        let cmdline_len = match &args.append {
            Some(text) => {
                let blob = vmm::cmdline_blob(text).map_err(|e| e.to_string())?;
                file::write_atomic(&cmdline_path, &blob).map_err(|e| e.to_string())?;
                Some(blob.len() as u64)
            }
            None => None,
        };
        extra.extend(
            vmm::loader_args(
                &md,
                &hob_path,
                Some(vmm::LoadFile {
                    path: kernel,
                    len: kernel_len,
                }),
                cmdline_len.map(|len| vmm::LoadFile {
                    path: &cmdline_path,
                    len,
                }),
            )
            .map_err(|e| e.to_string())?,
        );
    } else {
        extra.extend(vmm::loader_args(&md, &hob_path, None, None).map_err(|e| e.to_string())?);
        for (flag, value) in [
            (
                "-kernel",
                args.kernel.as_ref().map(|p| p.display().to_string()),
            ),
            (
                "-initrd",
                args.initrd.as_ref().map(|p| p.display().to_string()),
            ),
            ("-append", args.append.clone()),
        ] {
            if let Some(v) = value {
                extra.push(flag.into());
                extra.push(v);
            }
        }
    }
    if args.lazy_accept {
        extra.push("-fw_cfg".into());
        extra.push(format!("name={},string=1", vmm::LAZY_ACCEPT_FW_CFG));
    }
    extra.extend(args.qemu_args.iter().cloned());
    Ok(extra)
}

/// Builds the TD HOB, boots the image and exits with QEMU's status (124 on timeout).
pub fn emu_run(args: &EmuArgs) -> ExitCode {
    let extra = match prepare(args, &emu_dir()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut r = Run::new(&args.image)
        .memory(&args.memory)
        .smp(args.smp)
        .timeout(Duration::from_secs(args.timeout))
        .echo(true);
    for a in &extra {
        r = r.arg(a);
    }
    let cmd = r.command();
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&vmm::shell_quote(&a.to_string_lossy()));
    }
    eprintln!("emu-run: {line}");
    match r.run() {
        Ok(o) => {
            if !o.stderr.is_empty() {
                eprint!("{}", o.stderr);
            }
            if o.timed_out {
                eprintln!("error: qemu killed after {} s", args.timeout);
                return ExitCode::from(124);
            }
            ExitCode::from(o.code().unwrap_or(1).clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("error: cannot start qemu: {e}");
            ExitCode::FAILURE
        }
    }
}
