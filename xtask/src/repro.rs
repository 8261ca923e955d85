// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `cargo xtask repro-check`: is `final.bin` a pure function of the sources? Clones the
//! current git HEAD twice, at different absolute paths, builds `cargo image` (default
//! `--release`) in each with its own target directory, and compares the two images byte for
//! byte. Prints both SHA-256 digests; on a mismatch, the differing byte ranges and the
//! image region each falls in (from `td_shim_tools::info`). Also searches both images for
//! the build machine's paths, home directory, user name and host name.
//!
//! Exits non-zero on a mismatch or a leak. Only committed sources are checked: uncommitted
//! changes in the working tree are not part of the clones (a warning says so).

use crate::image::workspace_root;
use clap::Args;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use td_shim::layout::{RESET_VECTOR_SIZE, TAIL_SIZE};

#[derive(Args, Debug)]
pub struct ReproArgs {
    /// Arguments for `cargo image` in each clone, as one string (do not pass -o).
    #[arg(
        long,
        value_name = "ARGS",
        default_value = "--release",
        allow_hyphen_values = true
    )]
    pub image_args: String,
    /// Git repository to clone [default: this workspace].
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Commit to build (any revision git understands) [default: HEAD].
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub commit: String,
    /// Directory for the two clones [default: a fresh directory under the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the clones afterwards (they are kept anyway when the check fails).
    #[arg(long)]
    pub keep: bool,
}

// ---- SHA-256 (FIPS 180-4 §4.2.2, §5.3.3, §6.2) ----

/// The first `n` primes.
fn primes(n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    let mut k = 2u64;
    while out.len() < n {
        if out
            .iter()
            .take_while(|&&p| p * p <= k)
            .all(|&p| !k.is_multiple_of(p))
        {
            out.push(k);
        }
        k += 1;
    }
    out
}

/// First 32 bits of the fractional part of `x` (x < 2^20, so f64 keeps > 32 fraction bits).
fn frac32(x: f64) -> u32 {
    ((x - x.floor()) * 4_294_967_296.0) as u32
}

/// SHA-256 of `data`. The constants are derived as FIPS 180-4 defines them (fractional
/// parts of the square and cube roots of the first primes); the tests pin known digests.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let p = primes(64);
    let k: Vec<u32> = p.iter().map(|&q| frac32((q as f64).cbrt())).collect();
    let mut h: Vec<u32> = p[..8].iter().map(|&q| frac32((q as f64).sqrt())).collect();
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]];
        for i in 0..64 {
            let [a, b, c, d, e, f, g, hh] = v;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(k[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- comparing images ----

/// Maximal runs `[start, end)` where `a` and `b` differ (a length difference is one run).
pub fn diff_ranges(a: &[u8], b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let common = a.len().min(b.len());
    let mut i = 0;
    while i < common {
        if a[i] == b[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < common && a[i] != b[i] {
            i += 1;
        }
        out.push((start, i));
    }
    if a.len() != b.len() {
        out.push((common, a.len().max(b.len())));
    }
    out
}

/// A named byte range of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub start: u64,
    pub end: u64,
}

/// The image's regions, most specific first (the first one containing an offset names it).
pub fn regions(image: &[u8]) -> Vec<Region> {
    let size = image.len() as u64;
    let r = td_shim_tools::info::inspect(image);
    let mut out = Vec::new();
    let mut add = |name: &str, start: u64, len: u64| {
        out.push(Region {
            name: name.to_string(),
            start,
            end: start.saturating_add(len),
        })
    };
    add(
        "image tail (linker fields, OVMF table, reset code)",
        size.saturating_sub(TAIL_SIZE),
        TAIL_SIZE,
    );
    add(
        "reset vector",
        size.saturating_sub(RESET_VECTOR_SIZE),
        RESET_VECTOR_SIZE,
    );
    if let Some(md) = &r.metadata {
        let len = 16 + 16 + 32 * md.sections.len() as u64;
        add(
            "metadata (GUID + TDVF descriptor)",
            md.descriptor_offset.saturating_sub(16),
            len,
        );
    }
    if let Some(ipl) = &r.ipl {
        add(
            "shim memory image (IPL PE32 section)",
            ipl.image_offset,
            ipl.image_size,
        );
        add("IPL FV headers", ipl.fv_offset, ipl.fv_length);
    }
    if let Some(p) = &r.payload {
        add("payload FV", p.fv_offset, p.fv_length);
    }
    if let Some(c) = &r.cfv {
        add("configuration FV", c.fv_offset, c.fv_length);
    }
    out
}

fn region_of(regions: &[Region], offset: u64) -> String {
    match regions.iter().find(|r| r.start <= offset && offset < r.end) {
        Some(r) if r.name.starts_with("shim memory image") => {
            format!("{} (shim + {:#x})", r.name, offset - r.start)
        }
        Some(r) => format!("{} (+{:#x})", r.name, offset - r.start),
        None => "outside every known region".into(),
    }
}

/// Offsets of every occurrence of `needle` in `hay`.
pub fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return Vec::new();
    }
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Printable context around `at` (non-printing bytes as '.').
fn context(hay: &[u8], at: usize, len: usize) -> String {
    let s = at.saturating_sub(24);
    let e = (at + len + 24).min(hay.len());
    hay[s..e]
        .iter()
        .map(|&b| {
            if (0x20..0x7F).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

/// What must not appear in an image: the build paths and the machine's identity.
fn leak_needles(build_paths: &[&Path]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let mut push = |what: &str, s: String| {
        if s.len() >= 3 && !v.iter().any(|(_, x)| *x == s) {
            v.push((what.to_string(), s));
        }
    };
    for c in build_paths {
        push("build path", c.display().to_string());
    }
    push("workspace path", workspace_root().display().to_string());
    for var in ["HOME", "CARGO_HOME", "RUSTUP_HOME"] {
        if let Some(p) = std::env::var_os(var) {
            push(var, PathBuf::from(p).display().to_string());
        }
    }
    if let Some(h) = std::env::var_os("HOME").map(PathBuf::from) {
        push("CARGO_HOME", h.join(".cargo").display().to_string());
        push("RUSTUP_HOME", h.join(".rustup").display().to_string());
    }
    push("temp dir", std::env::temp_dir().display().to_string());
    // A local rust-src path: it names the toolchain directory (`1.95.0-…` here, `stable-…`
    // where rustup links one to the other), which differs between machines even when the
    // compiler is the same.
    push("toolchain directory", "/rustup/toolchains/".into());
    push("toolchain directory", "/.rustup/toolchains/".into());
    push("home prefix", "/home/".into());
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(|| {
            let out = Command::new("id").arg("-un").output().ok()?;
            let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !name.is_empty()).then_some(name)
        });
    if let Some(u) = user {
        // Bare names are matched as path components: "root" also names ACPI/page tables.
        push("user name", format!("/{u}/"));
        push("user name", format!("/{u}\0"));
        if u.len() >= 6 {
            push("user name", u);
        }
    }
    if let Ok(h) = fs::read_to_string("/etc/hostname") {
        let h = h.trim().to_string();
        if h.len() >= 4 {
            push("host name", h);
        }
    }
    v
}

// ---- running it ----

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn clone_at(repo: &Path, commit: &str, dest: &Path) -> Result<(), String> {
    let parent = dest.parent().ok_or("clone destination has no parent")?;
    fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let status = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(repo)
        .arg(dest)
        .status()
        .map_err(|e| format!("cannot run git clone: {e}"))?;
    if !status.success() {
        return Err(format!(
            "git clone into {} failed ({status})",
            dest.display()
        ));
    }
    git(dest, &["checkout", "--quiet", "--detach", commit])?;
    Ok(())
}

/// `cargo image <args> -o <clone>/repro-final.bin` inside the clone, with the clone's own
/// target directory and nothing inherited from this build.
fn build_in(clone: &Path, image_args: &[String]) -> Result<PathBuf, String> {
    let out = clone.join("repro-final.bin");
    let mut c = Command::new("cargo");
    c.current_dir(clone);
    for v in [
        "CARGO",
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_MANIFEST_DIR",
    ] {
        c.env_remove(v);
    }
    c.env("CARGO_TARGET_DIR", clone.join("target"));
    c.arg("image").args(image_args).arg("-o").arg(&out);
    eprintln!(
        "repro-check: building in {} (cargo image {} -o …)",
        clone.display(),
        image_args.join(" ")
    );
    let status = c
        .status()
        .map_err(|e| format!("cannot run cargo image in {}: {e}", clone.display()))?;
    if !status.success() {
        return Err(format!(
            "cargo image failed in {} ({status})",
            clone.display()
        ));
    }
    Ok(out)
}

/// `cargo xtask repro-check`.
pub fn repro_check(args: &ReproArgs) -> Result<(), String> {
    let image_args: Vec<String> = args
        .image_args
        .split_whitespace()
        .map(String::from)
        .collect();
    if image_args
        .iter()
        .any(|a| a == "-o" || a.starts_with("--output"))
    {
        return Err("--image-args must not contain -o/--output (each clone gets its own)".into());
    }
    let root = args.repo.clone().unwrap_or_else(workspace_root);
    let head = git(
        &root,
        &[
            "rev-parse",
            "--verify",
            &format!("{}^{{commit}}", args.commit),
        ],
    )?;
    let dirty = git(&root, &["status", "--porcelain", "--untracked-files=no"])?;
    if !dirty.is_empty() && args.commit == "HEAD" {
        eprintln!(
            "warning: the working tree has uncommitted changes; repro-check builds commit {head} only"
        );
    }
    let work = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("td-shim-repro-{}", std::process::id())),
    };
    if work.exists()
        && fs::read_dir(&work)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(format!("work directory {} is not empty", work.display()));
    }
    let a = work.join("a").join("td-shim");
    let b = work
        .join("b")
        .join("some")
        .join("other")
        .join("path")
        .join("td-shim");
    eprintln!("repro-check: commit {head}");
    clone_at(&root, &head, &a)?;
    clone_at(&root, &head, &b)?;
    let img_a = build_in(&a, &image_args)?;
    let img_b = build_in(&b, &image_args)?;
    let bytes_a = fs::read(&img_a).map_err(|e| format!("cannot read {}: {e}", img_a.display()))?;
    let bytes_b = fs::read(&img_b).map_err(|e| format!("cannot read {}: {e}", img_b.display()))?;

    println!("commit        {head}");
    println!("image args    {}", image_args.join(" "));
    println!(
        "sha256 a      {}  {}",
        hex(&sha256(&bytes_a)),
        img_a.display()
    );
    println!(
        "sha256 b      {}  {}",
        hex(&sha256(&bytes_b)),
        img_b.display()
    );
    let mut problems = Vec::new();

    let diffs = diff_ranges(&bytes_a, &bytes_b);
    if diffs.is_empty() {
        println!("identical     yes ({} bytes)", bytes_a.len());
    } else {
        let total: usize = diffs.iter().map(|(s, e)| e - s).sum();
        println!(
            "identical     NO: {total} bytes differ in {} range(s); first ones:",
            diffs.len()
        );
        let regs = regions(&bytes_a);
        for (s, e) in diffs.iter().take(20) {
            println!(
                "  [{s:#x}, {e:#x}) {} bytes in {}",
                e - s,
                region_of(&regs, *s as u64)
            );
        }
        problems.push("the two images differ".to_string());
    }

    let needles = leak_needles(&[&a, &b, &root]);
    let mut leaks = 0;
    for (name, bytes) in [("a", &bytes_a), ("b", &bytes_b)] {
        for (what, needle) in &needles {
            let hits = find_all(bytes, needle.as_bytes());
            for at in hits.iter().take(3) {
                println!(
                    "leak in image {name}: {what} {needle:?} at {at:#x}: \"{}\"",
                    context(bytes, *at, needle.len())
                );
            }
            leaks += hits.len();
        }
    }
    if leaks == 0 {
        println!(
            "build paths   none found ({} patterns: clone and workspace paths, HOME, CARGO_HOME, RUSTUP_HOME, temp dir, toolchain directory, /home/, user and host name)",
            needles.len()
        );
    } else {
        problems.push(format!(
            "{leaks} occurrence(s) of build-machine paths or names"
        ));
    }

    if problems.is_empty() {
        if !args.keep {
            let _ = fs::remove_dir_all(&work);
        } else {
            println!("kept          {}", work.display());
        }
        println!("repro-check: reproducible");
        Ok(())
    } else {
        println!("kept          {} (for inspection)", work.display());
        Err(format!("repro-check: {}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sha256_known_answers() {
        // FIPS 180-2 appendix B examples and the empty message.
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        // One million 'a' (B.3): exercises many blocks.
        assert_eq!(
            hex(&sha256(&vec![b'a'; 1_000_000])),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn diff_ranges_finds_runs_and_length_changes() {
        assert!(diff_ranges(b"abcdef", b"abcdef").is_empty());
        assert_eq!(diff_ranges(b"abcdef", b"aXcdYZ"), vec![(1, 2), (4, 6)]);
        assert_eq!(diff_ranges(b"abc", b"abcde"), vec![(3, 5)]);
        assert_eq!(diff_ranges(b"Xbc", b"a"), vec![(0, 1), (1, 3)]);
    }

    #[test]
    fn finds_every_occurrence() {
        assert_eq!(find_all(b"/root/x/root/", b"/root/"), vec![0, 7]);
        assert!(find_all(b"abc", b"").is_empty());
        assert!(find_all(b"ab", b"abc").is_empty());
    }

    #[test]
    fn regions_of_a_small_image() {
        // An image with no valid structures still has a tail and a reset vector.
        let img = vec![0u8; 0x20000];
        let regs = regions(&img);
        assert_eq!(
            region_of(&regs, 0x20000 - 1),
            "image tail (linker fields, OVMF table, reset code) (+0x53)"
        );
        assert_eq!(region_of(&regs, 0x20000 - 0x100), "reset vector (+0x7f00)");
        assert_eq!(region_of(&regs, 0), "outside every known region");
    }
}
