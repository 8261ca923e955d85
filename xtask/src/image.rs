// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `cargo image`: reset vector (nasm) + firmware ELF + optional payload → final.bin.

use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which kind of payload the image boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PayloadType {
    /// A Linux kernel (from the VMM, or embedded with -p).
    Linux,
    /// An executable ELF payload embedded in the image.
    Executable,
}

/// Log ceiling compiled into the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// Build the firmware and payload in release mode (size-optimised, LTO).
    #[arg(long)]
    pub release: bool,
    /// Payload type: `linux` (default; kernel from the VMM or embedded with -p) or
    /// `executable` (an ELF payload embedded in the image).
    #[arg(short = 't', long = "payload-type", value_enum)]
    pub payload_type: Option<PayloadType>,
    /// Payload file to embed (for `executable` an ELF, or a signed payload from
    /// td-shim-sign-payload holding one; for `linux` a kernel).
    #[arg(
        short = 'p',
        long = "payload",
        value_name = "FILE",
        conflicts_with = "example_payload"
    )]
    pub payload: Option<PathBuf>,
    /// Build and embed the example payload from td-payload (implies `-t executable`).
    #[arg(long)]
    pub example_payload: bool,
    /// Output file [default: target/<debug|release>/final.bin].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Initrd to embed next to the kernel (`-t linux -p KERNEL` only).
    #[arg(long, value_name = "FILE", requires = "payload")]
    pub initrd: Option<PathBuf>,
    /// Kernel command line to embed next to the kernel (`-t linux -p KERNEL` only).
    #[arg(long, value_name = "STRING", requires = "payload")]
    pub cmdline: Option<String>,
    /// Add Payload/PayloadParam metadata sections so that a TDX VMM that loads the kernel
    /// itself (cloud-hypervisor) can boot Linux (`-t linux`, no `-p`). Stock QEMU refuses
    /// images with these sections.
    #[arg(long)]
    pub td_payload_sections: bool,
    /// Log level compiled into the firmware.
    #[arg(long, value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// Extra cargo features for the td-shim firmware (comma separated).
    #[arg(long, value_name = "FEATURES")]
    pub features: Option<String>,
    /// Image size in bytes (decimal or 0x hex; a multiple of 64 KiB) [default: the smallest
    /// that holds the payload; 0x160000 without one].
    #[arg(long, value_name = "BYTES", value_parser = td_shim_tools::parse_size)]
    pub image_size: Option<u64>,
    /// TEST IMAGES ONLY: build the firmware with the `emulated-tdx` feature (TDCALL becomes a
    /// software model; boot it with `cargo xtask emu-run`) [default output:
    /// target/<debug|release>/final-emulated-tdx.bin].
    #[arg(long)]
    pub emulated_tdx: bool,
    /// Build the firmware without payload secure boot (no `secure-boot` feature, no ring):
    /// smaller, but it refuses every payload once a trust anchor is enrolled.
    #[arg(long)]
    pub no_secure_boot: bool,
    /// Enroll this public key (DER SubjectPublicKeyInfo or PEM; EC P-384 or RSA-3072) as the
    /// secure-boot trust anchor in the image's configuration FV (as td-shim-enroll does).
    #[arg(long, value_name = "PUBLIC.der")]
    pub enroll_key: Option<PathBuf>,
    /// With --enroll-key: the minimum payload SVN the firmware accepts.
    #[arg(long, value_name = "N", requires = "enroll_key",
          value_parser = td_shim_tools::sign::parse_u64)]
    pub min_svn: Option<u64>,
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn profile_dir(release: bool) -> &'static str {
    if release {
        "release"
    } else {
        "debug"
    }
}

/// Builds the image and returns its path.
pub fn image(args: &ImageArgs) -> Result<PathBuf, String> {
    let payload_type = match (args.payload_type, args.example_payload) {
        (Some(PayloadType::Linux), true) => {
            return Err(
                "--example-payload is an executable payload; it cannot go with -t linux".into(),
            )
        }
        (Some(t), _) => t,
        (None, true) => PayloadType::Executable,
        (None, false) => PayloadType::Linux,
    };
    if payload_type == PayloadType::Executable && args.payload.is_none() && !args.example_payload {
        return Err("-t executable needs a payload: -p FILE or --example-payload".into());
    }
    let profile = profile_dir(args.release);
    let out = args.output.clone().unwrap_or_else(|| {
        let name = if args.emulated_tdx {
            "final-emulated-tdx.bin"
        } else {
            "final.bin"
        };
        target_dir().join(profile).join(name)
    });

    // Read the payload first: a missing file should fail before minutes of building.
    let mut payload = match &args.payload {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| format!("cannot read payload {}: {e}", p.display()))?,
        ),
        None => None,
    };
    if let (PayloadType::Executable, Some(bytes), Some(path)) =
        (payload_type, &payload, &args.payload)
    {
        // The firmware would refuse it at boot; say so now, with the loader's own reason.
        // A signed payload (td-shim-sign-payload) must hold such an ELF.
        check_executable(bytes).map_err(|e| format!("payload {}: {e}", path.display()))?;
    }
    // Read the key now too (a typo should not cost a build).
    let enroll_key = match &args.enroll_key {
        Some(path) => Some(read_public_key(path)?),
        None => None,
    };
    let mut payload_files = Vec::new();
    if payload_type == PayloadType::Executable && (args.initrd.is_some() || args.cmdline.is_some())
    {
        return Err(
            "--initrd and --cmdline go with an embedded Linux kernel (-t linux -p KERNEL)".into(),
        );
    }
    if let (PayloadType::Linux, Some(bytes), Some(path)) = (payload_type, &payload, &args.payload) {
        td_shim::loader::bzimage::parse(bytes).map_err(|e| {
            format!(
                "kernel {} is not a bzImage the firmware can boot: {e}",
                path.display()
            )
        })?;
        if let Some(initrd) = &args.initrd {
            let data = std::fs::read(initrd)
                .map_err(|e| format!("cannot read initrd {}: {e}", initrd.display()))?;
            payload_files.push((td_shim::format::fv::PAYLOAD_INITRD_FILE_NAME, data));
        }
        if let Some(cmdline) = &args.cmdline {
            if cmdline.bytes().any(|b| b == 0) {
                return Err("--cmdline must not contain NUL bytes".into());
            }
            let mut data = cmdline.as_bytes().to_vec();
            data.push(0);
            payload_files.push((td_shim::format::fv::PAYLOAD_CMDLINE_FILE_NAME, data));
        }
    }
    // Test images with the emulated TDX module also get the AP start-up code in the reset vector.
    let emulated = args.emulated_tdx
        || args
            .features
            .as_deref()
            .unwrap_or("")
            .split(',')
            .any(|f| f.trim() == "emulated-tdx");
    let rv = build_reset_vector(profile, emulated)?;
    let shim = build_firmware(args)?;
    if args.example_payload {
        let elf = build_example_payload(args.release)?;
        payload =
            Some(std::fs::read(&elf).map_err(|e| format!("cannot read {}: {e}", elf.display()))?);
    }
    let image_size = args
        .image_size
        .unwrap_or_else(|| fitting_image_size(payload.as_deref(), &payload_files));
    let input = td_shim_tools::link::LinkInput {
        payload_files,
        td_payload_sections: args.td_payload_sections,
        reset_vector: std::fs::read(&rv)
            .map_err(|e| format!("cannot read {}: {e}", rv.display()))?,
        shim_elf: std::fs::read(&shim)
            .map_err(|e| format!("cannot read {}: {e}", shim.display()))?,
        payload,
        image_size,
    };
    let linked = td_shim_tools::link::link(&input).map_err(|e| e.to_string())?;
    let mut image_bytes = linked.image;
    if let Some(key) = &enroll_key {
        let enrolled = td_shim_tools::enroll::enroll(&image_bytes, key, args.min_svn, &[])
            .map_err(|e| format!("--enroll-key: {e}"))?;
        image_bytes = enrolled.image;
        eprintln!(
            "enrolled a {} key (sha-384 {}){}",
            key.algorithm().name(),
            td_shim_tools::sign::hex(&enrolled.key_hash),
            args.min_svn
                .map_or(String::new(), |n| format!(", minimum svn {n}"))
        );
    }
    if payload_type == PayloadType::Executable {
        warn_if_refused(&image_bytes, args.no_secure_boot);
    }
    // Through a temporary file and a rename: a failed build leaves no partial image.
    td_shim_tools::file::write_atomic(&out, &image_bytes).map_err(|e| e.to_string())?;
    eprintln!("{}", linked.summary);
    Ok(out)
}

/// Checks an executable payload: an ELF the firmware's loader accepts, or a signed payload
/// blob (`td-shim-sign-payload`) that parses and holds one.
fn check_executable(bytes: &[u8]) -> Result<(), String> {
    use td_shim::format::signed_payload;
    use td_shim::loader::elf;
    if !signed_payload::is_signed(bytes) {
        return elf::parse(bytes)
            .map(|_| ())
            .map_err(|e| format!("not an ELF executable the firmware can load: {e}"));
    }
    let blob =
        signed_payload::parse(bytes).map_err(|e| format!("not a valid signed payload: {e}"))?;
    elf::parse(blob.image).map(|_| ()).map_err(|e| {
        format!(
            "the image inside the signed payload is not an ELF executable the firmware can load: {e}"
        )
    })
}

fn read_public_key(path: &Path) -> Result<td_shim_tools::spki::PublicKey, String> {
    let bytes = td_shim_tools::file::read(path).map_err(|e| e.to_string())?;
    let der = td_shim_tools::spki::der_from_pem_or_der(&bytes, &["PUBLIC KEY"], "public key")
        .map_err(|e| format!("--enroll-key {}: {e}", path.display()))?;
    td_shim_tools::spki::parse_spki(&der)
        .map_err(|e| format!("--enroll-key {}: {e}", path.display()))
}

/// Runs the firmware's secure-boot decision on the linked image and warns when the payload
/// would be refused at boot (a test image may want exactly that, so it is not an error).
fn warn_if_refused(image: &[u8], no_secure_boot: bool) {
    use td_shim::format::{fv, metadata};
    let Ok(md) = metadata::parse_image(image) else {
        return;
    };
    let region = |t: metadata::SectionType| {
        md.sections
            .iter()
            .filter(|s| s.section_type == t as u32 && s.raw_data_size != 0)
            .filter_map(|s| {
                let start = s.data_offset as usize;
                image.get(start..start.checked_add(s.raw_data_size as usize)?)
            })
            .collect::<Vec<_>>()
    };
    let cfv = region(metadata::SectionType::Cfv).first().copied();
    let Some(payload) = region(metadata::SectionType::Bfv)
        .into_iter()
        .find_map(|b| {
            let vol = fv::parse(b).ok()?;
            (vol.name == Some(fv::PAYLOAD_FV_NAME)).then(|| {
                fv::find_section(vol.bytes, fv::FILE_TYPE_DXE_CORE, fv::SECTION_PE32).ok()
            })?
        })
    else {
        return;
    };
    let anchored = cfv
        .and_then(|c| td_shim::format::cfv::policy(c).ok())
        .is_some_and(|p| p.anchor.is_some());
    let verdict = if no_secure_boot && anchored {
        Err("a trust anchor is enrolled but secure boot is not compiled in".to_string())
    } else {
        td_shim::secure_boot::verify(cfv, payload)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    if let Err(e) = verdict {
        eprintln!("warning: this firmware will refuse its payload: secure boot: {e}");
    }
}

/// The smallest image (a multiple of 64 KiB) whose payload region holds the payload FV: a
/// smaller image is less for QEMU to load and for a TDX VMM to add and measure. Without a
/// payload that is the minimum image; a payload that fits nowhere gets the maximum, and the
/// linker then says what does not fit.
fn fitting_image_size(
    payload: Option<&[u8]>,
    files: &[(td_shim::format::guid::Guid, Vec<u8>)],
) -> u64 {
    use td_shim::layout::{
        CFV_SIZE, IMAGE_SIZE_ALIGN, IMAGE_TOP_SIZE, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE,
    };
    let min = MIN_IMAGE_SIZE.next_multiple_of(IMAGE_SIZE_ALIGN);
    let Some(payload) = payload else { return min };
    // FV header blob, then each file with a (large) header, section header and 8-byte alignment.
    let per_file = 32 + 8 + 8;
    let fv = 0x78
        + per_file
        + payload.len() as u64
        + files
            .iter()
            .map(|(_, d)| per_file + d.len() as u64)
            .sum::<u64>();
    let size = (CFV_SIZE + IMAGE_TOP_SIZE + fv.next_multiple_of(0x1000))
        .next_multiple_of(IMAGE_SIZE_ALIGN);
    size.clamp(min, MAX_IMAGE_SIZE)
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn build_reset_vector(profile: &str, emulated_tdx: bool) -> Result<PathBuf, String> {
    let nasm = which("nasm").ok_or("nasm not found: install it (sh_script/preparation.sh does)")?;
    let dir = target_dir().join(profile).join(if emulated_tdx {
        "reset-vector-emulated-tdx"
    } else {
        "reset-vector"
    });
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(
        dir.join("layout.inc"),
        td_shim::layout::render_nasm_include(),
    )
    .map_err(|e| format!("cannot write layout.inc: {e}"))?;
    let out = dir.join("reset_vector.bin");
    let src = workspace_root().join("reset-vector").join("main.asm");
    let mut include = dir.clone().into_os_string();
    include.push("/");
    run(
        Command::new(nasm)
            .arg("-f")
            .arg("bin")
            .args(emulated_tdx.then_some("-DEMULATED_TDX"))
            .arg("-I")
            .arg(include)
            .arg("-o")
            .arg(&out)
            .arg(&src),
        "nasm (reset vector)",
    )?;
    Ok(out)
}

/// RUSTFLAGS for code that ends up in the image: no build-machine paths.
fn reproducible_rustflags() -> String {
    let root = workspace_root();
    let mut flags = format!("--remap-path-prefix={}=/td-shim", root.display());
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".cargo")))
    {
        flags.push_str(&format!(" --remap-path-prefix={}=/cargo", home.display()));
    }
    if let Some(home) = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".rustup")))
    {
        flags.push_str(&format!(" --remap-path-prefix={}=/rustup", home.display()));
    }
    // With the rust-src component installed, rustc maps the standard library's
    // `/rustc/<commit>/library` paths back to the local copy, so panic locations in generic
    // std code would name the toolchain directory (`1.95.0-…`, or `stable-…` where rustup
    // links one to the other). Map that copy back to `/rustc/<commit>` (the last matching
    // remap wins).
    if let Some((sysroot, commit)) = rustc_sysroot_and_commit() {
        let src = sysroot.join("lib/rustlib/src/rust");
        flags.push_str(&format!(
            " --remap-path-prefix={}=/rustc/{commit}",
            src.display()
        ));
        if let Ok(real) = src.canonicalize() {
            if real != src {
                flags.push_str(&format!(
                    " --remap-path-prefix={}=/rustc/{commit}",
                    real.display()
                ));
            }
        }
    }
    flags
}

/// The sysroot and commit hash of the rustc that cargo will run in the workspace.
fn rustc_sysroot_and_commit() -> Option<(PathBuf, String)> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new(&rustc)
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let sysroot = PathBuf::from(run(&["--print", "sysroot"])?.trim());
    let commit = run(&["-vV"])?
        .lines()
        .find_map(|l| l.strip_prefix("commit-hash: ").map(str::to_string))?;
    Some((sysroot, commit))
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(workspace_root());
    c.env("RUSTFLAGS", reproducible_rustflags());
    c.env_remove("CARGO_ENCODED_RUSTFLAGS");
    c
}

fn build_firmware(args: &ImageArgs) -> Result<PathBuf, String> {
    let mut features: Vec<String> = vec![format!(
        "log-level-{}",
        format!("{:?}", args.log_level).to_lowercase()
    )];
    if let Some(f) = &args.features {
        features.extend(f.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    if args.emulated_tdx {
        features.push("emulated-tdx".into());
    }
    if !args.no_secure_boot {
        features.push("secure-boot".into());
    }
    let mut c = cargo();
    crate::ring_build::env(&mut c);
    c.args([
        "build",
        "--locked",
        "-p",
        "td-shim",
        "--bin",
        "td-shim",
        "--target",
        "x86_64-unknown-none",
    ]);
    c.arg("--features").arg(features.join(","));
    if args.release {
        c.arg("--release");
    }
    run(&mut c, "cargo build (td-shim firmware)")?;
    Ok(target_dir()
        .join("x86_64-unknown-none")
        .join(profile_dir(args.release))
        .join("td-shim"))
}

fn build_example_payload(release: bool) -> Result<PathBuf, String> {
    let mut c = cargo();
    c.args([
        "build",
        "--locked",
        "-p",
        "td-payload",
        "--bin",
        "example-payload",
        "--target",
        "x86_64-unknown-none",
    ]);
    if release {
        c.arg("--release");
    }
    run(&mut c, "cargo build (example payload)")?;
    Ok(target_dir()
        .join("x86_64-unknown-none")
        .join(profile_dir(release))
        .join("example-payload"))
}

/// Finds a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
