// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `td-shim-vmm`: the TDX VMM simulator for emulated-TDX test images (see
//! `td_shim_tools::vmm`). `hob` writes the TD HOB a TDX VMM would build for an image and a
//! memory size; `qemu-args` prints the QEMU command that boots the image in a legacy q35 VM
//! with that HOB (and optionally a kernel and command line) loaded where a TDX VMM puts them.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use td_shim_tools::{file, vmm};

#[derive(Parser, Debug)]
#[command(
    name = "td-shim-vmm",
    version,
    about = "TDX VMM simulator: TD HOB and QEMU command line for emulated-TDX td-shim images",
    long_about = "TDX VMM simulator for td-shim images built with `cargo image --emulated-tdx`.\n\n\
        `hob` builds the TD HOB a TDX VMM would write into the image's TD_HOB section for a q35 \
        guest of the given memory size (accepted RAM for the TempMem/TD_HOB/Payload sections, \
        unaccepted RAM elsewhere). `qemu-args` prints the QEMU command line that boots the image \
        in an ordinary q35 VM with that HOB loaded at the TD_HOB section by QEMU's generic loader, \
        and a kernel and command line in the Payload/PayloadParam sections when the image has them. \
        `cargo xtask emu-run` does both and runs QEMU."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write the TD HOB for IMAGE and a guest of SIZE bytes.
    Hob {
        /// The firmware image (its TDVF metadata names the TD_HOB section).
        #[arg(long, value_name = "FILE")]
        image: PathBuf,
        /// Guest memory, QEMU -m syntax (1G, 512M, 2048 = MiB).
        #[arg(
            short = 'm',
            long = "memory",
            value_name = "SIZE",
            default_value = "1G"
        )]
        memory: String,
        /// Output file.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Leave out the MMIO resource descriptor (QEMU 9.2+ writes none).
        #[arg(long)]
        no_mmio: bool,
        /// Add a payload info HOB saying a bzImage was loaded into the Payload section.
        #[arg(long)]
        bzimage_payload: bool,
        /// Write the corrupted HOB of this name instead (see `hostile-names`).
        #[arg(long, value_name = "NAME")]
        hostile: Option<String>,
    },
    /// Print the QEMU command that boots IMAGE with the TD HOB in HOB.
    QemuArgs {
        /// The firmware image, loaded with -bios.
        #[arg(long, value_name = "FILE")]
        image: PathBuf,
        /// The TD HOB file (from `td-shim-vmm hob`, for the same -m).
        #[arg(long, value_name = "FILE")]
        hob: PathBuf,
        /// Guest memory, QEMU -m syntax.
        #[arg(
            short = 'm',
            long = "memory",
            value_name = "SIZE",
            default_value = "1G"
        )]
        memory: String,
        /// Number of vCPUs.
        #[arg(long, default_value_t = 1)]
        smp: u32,
        /// Kernel to load into the image's Payload section.
        #[arg(long, value_name = "FILE")]
        kernel: Option<PathBuf>,
        /// Kernel command line for the PayloadParam section (written NUL-terminated to
        /// HOB.cmdline).
        #[arg(long, value_name = "STRING")]
        append: Option<String>,
        /// Ask the emulated-TDX firmware for lazy accept (fw_cfg opt/td-shim/lazy-accept).
        #[arg(long)]
        lazy_accept: bool,
    },
    /// List the names of the hostile TD HOBs (one per validation rule).
    HostileNames,
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    file::read(path).map_err(|e| e.to_string())
}

fn run(cmd: Cmd) -> Result<(), String> {
    match cmd {
        Cmd::Hob {
            image,
            memory,
            output,
            no_mmio,
            bzimage_payload,
            hostile,
        } => {
            let bytes = read(&image)?;
            let mem = vmm::parse_memory(&memory).map_err(|e| e.to_string())?;
            let opts = vmm::TdHobOptions {
                mmio: !no_mmio,
                payload_info: bzimage_payload.then_some(vmm::PayloadInfo {
                    image_type: vmm::PAYLOAD_IMAGE_BZIMAGE,
                    entry: 0,
                }),
            };
            let hob = vmm::build_td_hob(&bytes, mem, &opts).map_err(|e| e.to_string())?;
            let out = match hostile {
                None => hob.bytes.clone(),
                Some(name) => pick_hostile(&hob, &name)?,
            };
            file::write_atomic(&output, &out).map_err(|e| e.to_string())?;
            eprintln!(
                "TD HOB: {} bytes for GPA {:#x}, {} MiB below 4 GiB + {} MiB above, {} resource descriptors",
                out.len(),
                hob.base,
                hob.memory.below_4g >> 20,
                hob.memory.above_4g >> 20,
                hob.resources.len()
            );
            Ok(())
        }
        Cmd::QemuArgs {
            image,
            hob,
            memory,
            smp,
            kernel,
            append,
            lazy_accept,
        } => {
            let bytes = read(&image)?;
            let md = td_shim::format::metadata::parse_image(&bytes)
                .map_err(|e| format!("{}: {e}", image.display()))?;
            vmm::parse_memory(&memory).map_err(|e| e.to_string())?;
            let kernel_len = match &kernel {
                Some(k) => Some(
                    std::fs::metadata(k)
                        .map_err(|e| format!("cannot read {}: {e}", k.display()))?
                        .len(),
                ),
                None => None,
            };
            let cmdline_path = {
                let mut p = hob.clone().into_os_string();
                p.push(".cmdline");
                PathBuf::from(p)
            };
            let cmdline_len = match &append {
                Some(text) => {
                    let blob = vmm::cmdline_blob(text).map_err(|e| e.to_string())?;
                    file::write_atomic(&cmdline_path, &blob).map_err(|e| e.to_string())?;
                    Some(blob.len() as u64)
                }
                None => None,
            };
            let accel = std::env::var("TD_SHIM_ACCEL").unwrap_or_else(|_| "tcg".into());
            let args = vmm::qemu_args(
                &md,
                &vmm::QemuOptions {
                    image: &image,
                    hob: &hob,
                    memory: &memory,
                    smp,
                    kernel: kernel
                        .as_deref()
                        .zip(kernel_len)
                        .map(|(path, len)| vmm::LoadFile { path, len }),
                    cmdline: cmdline_len.map(|len| vmm::LoadFile {
                        path: &cmdline_path,
                        len,
                    }),
                    accel: &accel,
                    lazy_accept,
                },
            )
            .map_err(|e| e.to_string())?;
            let mut line = String::from("qemu-system-x86_64");
            for a in &args {
                line.push(' ');
                line.push_str(&vmm::shell_quote(a));
            }
            println!("{line}");
            Ok(())
        }
        Cmd::HostileNames => {
            for name in vmm::hostile_names() {
                println!("{name}");
            }
            Ok(())
        }
    }
}

fn pick_hostile(hob: &vmm::TdHob, name: &str) -> Result<Vec<u8>, String> {
    vmm::hostile_td_hob(&hob.bytes, hob.base, name).ok_or_else(|| {
        format!(
            "no hostile HOB named {name:?}; known: {}",
            vmm::hostile_names().join(", ")
        )
    })
}
