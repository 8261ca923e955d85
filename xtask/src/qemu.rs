// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `cargo xtask qemu` (run one image) and `cargo xtask boot-test` (build the test images,
//! then run the QEMU boot tests in `tests/`).

use crate::image::{self, workspace_root, ImageArgs, LogLevel, PayloadType};
use clap::Args;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;
use td_shim_boot_tests::Run;

#[derive(Args, Debug)]
pub struct QemuArgs {
    /// Image to boot with -bios.
    #[arg(long, value_name = "FILE")]
    pub image: PathBuf,
    /// Guest memory (QEMU -m syntax).
    #[arg(short = 'm', long, default_value = "512M")]
    pub memory: String,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 1)]
    pub smp: u32,
    /// Seconds before QEMU is killed.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Extra arguments passed to QEMU as they are (after `--`).
    #[arg(last = true)]
    pub qemu_args: Vec<String>,
}

/// Boots one image; exits with QEMU's status (124 on timeout).
pub fn run(args: &QemuArgs) -> ExitCode {
    let mut r = Run::new(&args.image)
        .memory(&args.memory)
        .smp(args.smp)
        .timeout(Duration::from_secs(args.timeout))
        .echo(true);
    for a in &args.qemu_args {
        r = r.arg(a);
    }
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

#[derive(Args, Debug)]
pub struct BootTestArgs {
    /// Where the test images go.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Extra arguments for `cargo test` (after `--`).
    #[arg(last = true)]
    pub test_args: Vec<String>,
}

fn base_args(output: PathBuf) -> ImageArgs {
    ImageArgs {
        release: true,
        payload_type: None,
        payload: None,
        example_payload: false,
        output: Some(output),
        initrd: None,
        cmdline: None,
        td_payload_sections: false,
        log_level: LogLevel::Info,
        features: None,
        image_size: None,
        emulated_tdx: false,
        no_secure_boot: false,
        enroll_key: None,
        min_svn: None,
    }
}

/// Builds every image the boot tests use, then runs them.
pub fn boot_test(args: &BootTestArgs) -> Result<(), String> {
    let root = workspace_root();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("target").join("test-images"));
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let mut a = base_args(out.join("example.bin"));
    a.example_payload = true;
    image::image(&a)?;
    // The payload ELF as built, for predicting its measurement (tests/measured.rs).
    let elf = image::target_dir().join("x86_64-unknown-none/release/example-payload");
    std::fs::copy(&elf, out.join("example-payload.elf"))
        .map_err(|e| format!("cannot copy {}: {e}", elf.display()))?;

    let payloads = out.join("payloads");
    let status = Command::new("bash")
        .arg(root.join("tests/payloads/build.sh"))
        .arg(&payloads)
        .status()
        .map_err(|e| format!("cannot run tests/payloads/build.sh: {e}"))?;
    if !status.success() {
        return Err(format!("tests/payloads/build.sh failed ({status})"));
    }
    for (name, file) in [
        ("asm-pie.bin", "asm-payload-pie"),
        ("asm-exec.bin", "asm-payload-exec"),
        ("fault.bin", "fault-payload-pie"),
    ] {
        let mut a = base_args(out.join(name));
        a.payload_type = Some(PayloadType::Executable);
        a.payload = Some(payloads.join(file));
        image::image(&a)?;
    }

    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(&root)
        .args(["test", "--locked", "-p", "td-shim-boot-tests"]);
    c.env("TD_SHIM_TEST_IMAGES", &out);
    // ---- BEGIN Linux boot tests (tests/linux.rs) ----------------------------------------
    // Debian's 6.1/6.12 cloud kernels and a static busybox (cached in target/kernels), the
    // test initramfs, the default Linux image (no payload: the kernel comes from fw_cfg) and
    // an image with 6.12 + initramfs + command line embedded.
    {
        let kernels = root.join("target").join("kernels");
        let initramfs = out.join("initramfs.img");
        for (script, args) in [
            ("sh_script/fetch-kernels.sh", vec![kernels.clone()]),
            (
                "tests/initramfs/build.sh",
                vec![initramfs.clone(), kernels.join("busybox")],
            ),
        ] {
            let status = Command::new("bash")
                .arg(root.join(script))
                .args(&args)
                .status()
                .map_err(|e| format!("cannot run {script}: {e}"))?;
            if !status.success() {
                return Err(format!("{script} failed ({status})"));
            }
        }
        image::image(&base_args(out.join("linux.bin")))?;
        let mut a = base_args(out.join("linux-embedded-6.12.bin"));
        a.payload_type = Some(PayloadType::Linux);
        a.payload = Some(kernels.join("vmlinuz-6.12"));
        a.initrd = Some(initramfs);
        // tests/linux.rs looks for this marker (EMBEDDED_MARKER); tests/measured.rs has the
        // initramfs dump the event log (tdshim-dump-ccel).
        a.cmdline = Some("console=ttyS0 tdshim-embedded-cmdline tdshim-dump-ccel".into());
        image::image(&a)?;
        c.env("TD_SHIM_KERNELS", &kernels);
    }
    // ---- END Linux boot tests -----------------------------------------------------------
    // ---- BEGIN memory protection tests (tests/protect.rs) ---------------------------------
    // One image per protect-payload case (each breaks one page-table rule), two firmware
    // self-tests, and the stack overflow once more on the emulated TDX (TD exception path,
    // APs on the no-execute tables).
    for case in [
        "write-code",
        "exec-stack",
        "stack-overflow",
        "write-firmware",
        "exec-heap",
        "null-read",
    ] {
        let mut a = base_args(out.join(format!("protect-{case}.bin")));
        a.payload_type = Some(PayloadType::Executable);
        a.payload = Some(payloads.join(format!("protect-{case}")));
        image::image(&a)?;
    }
    // Firmware self-tests (test-only features): a write to its own code, a firmware stack
    // overflow, both right after the boot page tables are loaded.
    for (name, feature) in [
        ("protect-selftest-code.bin", "protect-selftest-code"),
        ("protect-selftest-stack.bin", "protect-selftest-stack"),
    ] {
        let mut a = base_args(out.join(name));
        a.features = Some(feature.into());
        image::image(&a)?;
    }
    {
        let mut a = base_args(out.join("protect-stack-overflow-emu.bin"));
        a.payload_type = Some(PayloadType::Executable);
        a.payload = Some(payloads.join("protect-stack-overflow"));
        a.emulated_tdx = true;
        image::image(&a)?;
    }
    // AP self-tests in an emulated TD: vCPU 2 overflows its accept stack, or writes to the
    // firmware's code, during parallel accept.
    for (name, feature) in [
        (
            "protect-selftest-ap-stack-emu.bin",
            "protect-selftest-ap-stack",
        ),
        (
            "protect-selftest-ap-code-emu.bin",
            "protect-selftest-ap-code",
        ),
    ] {
        let mut a = base_args(out.join(name));
        a.features = Some(feature.into());
        a.emulated_tdx = true;
        image::image(&a)?;
    }
    // ---- END memory protection tests ------------------------------------------------------
    // ---- BEGIN emulated TDX tests (tests/emulated.rs) ------------------------------------
    // The example payload on a firmware whose TDCALL is the software TDX model; the tests
    // build the TD HOBs themselves (td_shim_tools::vmm).
    {
        let mut a = base_args(out.join("example-emu.bin"));
        a.example_payload = true;
        a.emulated_tdx = true;
        image::image(&a)?;
        // And a Linux image (kernel through fw_cfg) for the SMP boot through the mailbox.
        let mut a = base_args(out.join("linux-emu.bin"));
        a.emulated_tdx = true;
        image::image(&a)?;
        // And one with Payload/PayloadParam sections, for a kernel the VMM loads itself.
        let mut a = base_args(out.join("linux-td-payload-emu.bin"));
        a.emulated_tdx = true;
        a.td_payload_sections = true;
        image::image(&a)?;
        // And a test build that reads unaccepted RAM, which must fault (boot::protect).
        let mut a = base_args(out.join("selftest-unaccepted-emu.bin"));
        a.example_payload = true;
        a.emulated_tdx = true;
        a.features = Some("protect-selftest-unaccepted".into());
        image::image(&a)?;
    }
    // ---- END emulated TDX tests ---------------------------------------------------------
    // ---- BEGIN secure boot tests (tests/secure_boot.rs) ------------------------------------
    // Keys made with openssl, the example payload signed with each algorithm, images with the
    // key enrolled; and the refusal cases that need a build (wrong key, SVN below the
    // minimum, an unsigned payload with a key enrolled). Byte-level tampering is done by the
    // tests on copies of secure-ecdsa.bin.
    {
        let dir = out.join("secure");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let openssl = |args: &[&str]| -> Result<(), String> {
            let st = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map_err(|e| format!("cannot run openssl: {e}"))?;
            if st.success() {
                Ok(())
            } else {
                Err(format!("openssl {} failed ({st})", args.join(" ")))
            }
        };
        for (name, genkey) in [
            (
                "ecdsa",
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-384",
                ][..],
            ),
            (
                "ecdsa-other",
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-384",
                ][..],
            ),
            (
                "rsa",
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:3072",
                ][..],
            ),
        ] {
            let pem = format!("{name}.pem");
            let mut args = genkey.to_vec();
            args.extend(["-out", pem.as_str()]);
            openssl(&args)?;
            openssl(&[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                &pem,
                "-outform",
                "DER",
                "-out",
                &format!("{name}.pk8"),
            ])?;
            openssl(&[
                "pkey",
                "-in",
                &pem,
                "-pubout",
                "-outform",
                "DER",
                "-out",
                &format!("{name}.pub.der"),
            ])?;
        }
        let elf = std::fs::read(out.join("example-payload.elf"))
            .map_err(|e| format!("cannot read the example payload: {e}"))?;
        use td_shim::format::signed_payload::Algorithm;
        for (name, alg) in [
            ("ecdsa", Algorithm::EcdsaP384Sha384),
            ("rsa", Algorithm::RsaPss3072Sha384),
        ] {
            let key = std::fs::read(dir.join(format!("{name}.pk8")))
                .map_err(|e| format!("cannot read the {name} key: {e}"))?;
            let signed = td_shim_tools::sign::sign(&td_shim_tools::sign::Request {
                key_file: &key,
                algorithm: alg,
                version: 1,
                svn: 5,
                payload: &elf,
            })
            .map_err(|e| format!("signing the example payload ({name}): {e}"))?;
            std::fs::write(dir.join(format!("example-{name}.signed")), &signed.blob)
                .map_err(|e| format!("cannot write the signed payload: {e}"))?;
        }
        // (image, payload, enrolled key, minimum SVN)
        let cases: [(&str, PathBuf, &str, Option<u64>); 5] = [
            (
                "secure-ecdsa.bin",
                dir.join("example-ecdsa.signed"),
                "ecdsa",
                Some(3),
            ),
            (
                "secure-rsa.bin",
                dir.join("example-rsa.signed"),
                "rsa",
                None,
            ),
            (
                "secure-wrong-key.bin",
                dir.join("example-ecdsa.signed"),
                "ecdsa-other",
                None,
            ),
            (
                "secure-svn-low.bin",
                dir.join("example-ecdsa.signed"),
                "ecdsa",
                Some(6),
            ),
            (
                "secure-unsigned.bin",
                out.join("example-payload.elf"),
                "ecdsa",
                None,
            ),
        ];
        for (img, payload, key, min_svn) in cases {
            let mut a = base_args(dir.join(img));
            a.payload_type = Some(PayloadType::Executable);
            a.payload = Some(payload);
            a.enroll_key = Some(dir.join(format!("{key}.pub.der")));
            a.min_svn = min_svn;
            image::image(&a)?;
        }
    }
    // ---- END secure boot tests -----------------------------------------------------------
    if !args.test_args.is_empty() {
        c.arg("--").args(&args.test_args);
    }
    let status = c
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("boot tests failed ({status})"))
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Image to boot.
    #[arg(long, value_name = "FILE")]
    pub image: PathBuf,
    /// Number of boots.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Serial text whose first appearance ends the measurement.
    #[arg(long, default_value = "td-payload: hello")]
    pub marker: String,
    /// Guest memory.
    #[arg(short = 'm', long, default_value = "512M")]
    pub memory: String,
}

/// Boots an image `runs` times and reports the time from QEMU start to the marker line.
pub fn bench(args: &BenchArgs) -> Result<(), String> {
    let mut times = Vec::new();
    for i in 0..args.runs {
        let o = Run::new(&args.image)
            .memory(&args.memory)
            .timeout(Duration::from_secs(120))
            .run()
            .map_err(|e| format!("cannot start qemu: {e}"))?;
        let (t, _) = o.find(&args.marker).ok_or_else(|| {
            format!(
                "run {i}: marker {:?} never appeared\n{}",
                args.marker,
                o.describe()
            )
        })?;
        println!(
            "run {}: {:.3} s to {:?} (qemu exited after {:.3} s)",
            i + 1,
            t.as_secs_f64(),
            args.marker,
            o.elapsed.as_secs_f64()
        );
        times.push(*t);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "median of {} runs: {:.3} s (min {:.3} s, max {:.3} s)",
        times.len(),
        median.as_secs_f64(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64()
    );
    Ok(())
}
