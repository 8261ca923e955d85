// SPDX-License-Identifier: BSD-2-Clause-Patent
//! How `ring` (payload secure boot, `td_shim::secure_boot`) builds for the firmware target
//! `x86_64-unknown-none`, which ring 0.17 does not support by itself. Three gaps:
//!
//! 1. Its C code: the `cc` crate needs a compiler for the target. [`env`] sets clang and
//!    llvm-ar, freestanding (no libc headers; `RING_CORE_NOSTDLIBINC` makes ring use its
//!    own assert), position-independent like the rest of the firmware (a static PIE linked
//!    at 0) and without the red zone (in a TD, CPUID in ring's feature detection raises a
//!    #VE whose frame the CPU pushes right below RSP). Values the user already set win.
//! 2. Its Rust code asserts at compile time that SSE and SSE2 are enabled, which the
//!    soft-float firmware target disables. Two ways around that fail: enabling SSE for the
//!    whole firmware lets the compiler use XMM registers anywhere, including the exception
//!    handlers, which save only the general-purpose registers; enabling `+sse,+sse2` for
//!    ring alone keeps `+soft-float`, a combination LLVM miscompiles (SHA-384 digests came
//!    out wrong in the firmware), and dropping `soft-float` for ring is being phased out by
//!    rustc. What ring checks is only a statement about the machine — its Rust code uses
//!    no SIMD intrinsics, only its C and assembly use SSE, as on every x86-64 platform —
//!    so the wrapper declares `target_feature="sse"`/`"sse2"` as cfgs for the `ring` crate
//!    alone (`--cfg`, with the lint against setting built-in cfgs allowed) and its Rust
//!    code is still compiled soft-float like the rest. The statement is true at run time:
//!    the reset vector enables SSE (CR4.OSFXSR, CR0.EM clear) before any Rust runs, and the
//!    exception handlers, being soft-float code, never touch the XMM registers that ring's
//!    assembly may be using.
//! 3. Its assembly: ring's build script assembles its x86-64 ELF assembly only for the
//!    operating systems it knows, so the Rust code's calls (SHA-512 blocks, Montgomery
//!    multiplication) would not link. The wrapper assembles ring's own pregenerated
//!    `*x86_64*-elf.S` files with the target's clang into a static library in ring's
//!    OUT_DIR and links it into ring's rlib (`-l static=`), as ring does on Linux.
//!
//! Inputs here are the build's own (trusted); failures are reported and fail the build.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable that makes xtask act as the rustc wrapper (see [`rustc_wrapper`]).
const WRAPPER_ENV: &str = "TD_SHIM_XTASK_RUSTC_WRAPPER";
/// A wrapper that was configured before ours, which ours runs in turn.
const WRAPPER_NEXT_ENV: &str = "TD_SHIM_XTASK_RUSTC_WRAPPER_NEXT";
/// The firmware target.
const TARGET: &str = "x86_64-unknown-none";
/// The static library of ring's assembly built by the wrapper.
const ASM_LIB: &str = "ring_none_asm";

/// Sets up `c` (a cargo build of the firmware) so that ring builds: see the module
/// documentation.
pub fn env(c: &mut Command) {
    for (key, value) in [
        ("CC_x86_64_unknown_none", "clang"),
        ("AR_x86_64_unknown_none", "llvm-ar"),
        (
            "CFLAGS_x86_64_unknown_none",
            "-ffreestanding -nostdlibinc -DRING_CORE_NOSTDLIBINC=1 -fPIC -mno-red-zone",
        ),
    ] {
        if std::env::var_os(key).is_none() {
            c.env(key, value);
        }
    }
    if let Ok(me) = std::env::current_exe() {
        if let Some(next) = std::env::var_os("RUSTC_WRAPPER").filter(|v| !v.is_empty()) {
            c.env(WRAPPER_NEXT_ENV, next);
        }
        c.env("RUSTC_WRAPPER", me).env(WRAPPER_ENV, "1");
    }
}

/// When cargo runs xtask as the rustc wrapper (`xtask RUSTC ARGS...` with [`WRAPPER_ENV`]
/// set by [`env`]): runs rustc — for the `ring` crate on the firmware target with the SSE
/// cfgs and its assembly added — and returns rustc's exit code. `None` when this is not a wrapper
/// call.
pub fn rustc_wrapper() -> Option<i32> {
    std::env::var_os(WRAPPER_ENV)?;
    let mut argv = std::env::args_os().skip(1);
    let rustc = argv.next()?;
    let args: Vec<OsString> = argv.collect();
    let is = |flag: &str, value: &str| args.windows(2).any(|w| w[0] == flag && w[1] == value);
    let mut cmd = match std::env::var_os(WRAPPER_NEXT_ENV) {
        Some(next) => {
            let mut c = Command::new(next);
            c.arg(&rustc);
            c
        }
        None => Command::new(&rustc),
    };
    cmd.args(&args);
    if is("--crate-name", "ring") && is("--target", TARGET) {
        if let Err(e) = build_asm_lib() {
            eprintln!("error: xtask rustc wrapper: ring assembly for {TARGET}: {e}");
            return Some(1);
        }
        cmd.args([
            "--cfg",
            "target_feature=\"sse\"",
            "--cfg",
            "target_feature=\"sse2\"",
            "-A",
            "explicit_builtin_cfgs_in_flags",
            "-l",
        ])
        .arg(format!("static={ASM_LIB}"));
    }
    Some(match cmd.status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => {
            eprintln!(
                "error: xtask rustc wrapper: cannot run {}: {e}",
                rustc.to_string_lossy()
            );
            1
        }
    })
}

/// Assembles ring's pregenerated x86-64 ELF assembly into `OUT_DIR/lib{ASM_LIB}.a` (cargo
/// passes ring's CARGO_MANIFEST_DIR and OUT_DIR to rustc; OUT_DIR is already a native
/// search path, from ring's build script).
fn build_asm_lib() -> Result<(), String> {
    let src = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("no OUT_DIR")?);
    let pregenerated = src.join("pregenerated");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&pregenerated)
        .map_err(|e| format!("cannot read {}: {e}", pregenerated.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("x86_64") && n.ends_with("-elf.S"))
        })
        .collect();
    sources.sort();
    if sources.is_empty() {
        return Err(format!("no *x86_64*-elf.S in {}", pregenerated.display()));
    }
    let tool = |key: &str, default: &str| std::env::var_os(key).unwrap_or_else(|| default.into());
    let cc = tool("CC_x86_64_unknown_none", "clang");
    let ar = tool("AR_x86_64_unknown_none", "llvm-ar");
    let mut objects = Vec::new();
    for s in &sources {
        let name = s.file_stem().expect("filtered on the file name");
        let obj = out.join(format!("none-asm-{}.o", name.to_string_lossy()));
        run(
            Command::new(&cc)
                // clang does not predefine __ELF__ for the bare-metal triple although it
                // writes ELF objects; the assembly is guarded by it.
                .args([
                    "--target=x86_64-unknown-none-elf",
                    "-D__ELF__",
                    "-fPIC",
                    "-c",
                ])
                .arg("-I")
                .arg(src.join("include"))
                .arg("-I")
                .arg(&pregenerated)
                .arg("-o")
                .arg(&obj)
                .arg(s),
            &cc,
        )?;
        objects.push(obj);
    }
    let lib = out.join(format!("lib{ASM_LIB}.a"));
    let _ = std::fs::remove_file(&lib);
    // llvm-ar writes deterministic archives (no timestamps, uids) by default; `D` asks for
    // it explicitly for other ar programs.
    run(Command::new(&ar).arg("crsD").arg(&lib).args(&objects), &ar)
}

fn run(cmd: &mut Command, what: &OsString) -> Result<(), String> {
    let name = Path::new(what).display().to_string();
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}
