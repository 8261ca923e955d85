// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `td-shim-sign-payload`: wraps a payload ELF in a signed-payload blob for secure boot
//! (see `td_shim_tools::sign`, `doc/secure-boot.md`). The output is written atomically.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use td_shim::format::signed_payload::Algorithm;
use td_shim_tools::{file, sign};

/// Signing algorithm (SHA-384 either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Alg {
    /// ECDSA over NIST P-384 (signing algorithm 1).
    #[value(name = "ecdsa-p384")]
    EcdsaP384,
    /// RSA-PSS with a 3072-bit key, MGF1-SHA-384, 48-byte salt (signing algorithm 2).
    #[value(name = "rsa-pss-3072")]
    RsaPss3072,
}

#[derive(Parser, Debug)]
#[command(
    name = "td-shim-sign-payload",
    // `--version` is the payload version here (the command-line shape of issue #6).
    disable_version_flag = true,
    about = "Sign a payload ELF for td-shim secure boot",
    long_about = "Sign a payload ELF for td-shim secure boot.\n\n\
        Writes the signed-payload blob: a 48-byte header (version, SVN, algorithm), the ELF, \
        then the signer's public key and the signature over header and ELF. Embed it with \
        `cargo image -t executable -p SIGNED --enroll-key PUBLIC.der` (or td-shim-ld and \
        td-shim-enroll). The blob is verified with the firmware's own code before it is \
        written. Prints the SHA-384 of the public key, the value the trust anchor holds."
)]
struct Args {
    /// Private key: unencrypted PKCS#8, DER (`openssl pkcs8 -topk8 -nocrypt -outform DER`)
    /// or PEM ("BEGIN PRIVATE KEY").
    #[arg(long, value_name = "KEY.pk8")]
    key: PathBuf,
    /// Signing algorithm; must match the key.
    #[arg(long, value_enum)]
    algorithm: Alg,
    /// Security version number of the payload (decimal or 0x hex). The firmware refuses
    /// payloads below the minimum SVN enrolled with td-shim-enroll --min-svn.
    #[arg(long, value_name = "N", value_parser = sign::parse_u64)]
    svn: u64,
    /// Payload version, free-form (decimal or 0x hex); not this tool's version.
    #[arg(long = "version", value_name = "N", value_parser = sign::parse_u64, default_value = "0")]
    payload_version: u64,
    /// A label for the payload (e.g. a GUID or a name), for scripts that keep track of
    /// what they signed: echoed in the summary and the --json report. The signed-payload
    /// format (upstream's, spec §1) has no field for it, so it is neither signed nor seen by
    /// the firmware; only the version and the SVN are.
    #[arg(long, value_name = "ID")]
    payload_id: Option<String>,
    /// Output file (the signed blob).
    #[arg(short = 'o', long, value_name = "SIGNED")]
    output: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// The payload: an ELF executable the firmware can load.
    #[arg(value_name = "PAYLOAD")]
    payload: PathBuf,
}

fn run(args: &Args) -> Result<sign::Signed, String> {
    let key_file = file::read(&args.key).map_err(|e| e.to_string())?;
    let payload = file::read(&args.payload).map_err(|e| e.to_string())?;
    let algorithm = match args.algorithm {
        Alg::EcdsaP384 => Algorithm::EcdsaP384Sha384,
        Alg::RsaPss3072 => Algorithm::RsaPss3072Sha384,
    };
    let signed = sign::sign(&sign::Request {
        key_file: &key_file,
        algorithm,
        version: args.payload_version,
        svn: args.svn,
        payload: &payload,
    })
    .map_err(|e| e.to_string())?;
    file::write_atomic(&args.output, &signed.blob).map_err(|e| e.to_string())?;
    Ok(signed)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(s) => {
            let alg = match args.algorithm {
                Alg::EcdsaP384 => "ecdsa-p384",
                Alg::RsaPss3072 => "rsa-pss-3072",
            };
            if args.json {
                println!(
                    "{{\"output\":{},\"payload_id\":{},\"algorithm\":\"{alg}\",\"version\":{},\"svn\":{},\"size\":{},\"key_sha384\":\"{}\"}}",
                    sign::json_string(&args.output.display().to_string()),
                    args.payload_id
                        .as_deref()
                        .map_or_else(|| "null".to_string(), sign::json_string),
                    args.payload_version,
                    args.svn,
                    s.blob.len(),
                    sign::hex(&s.key_hash)
                );
            } else {
                println!("wrote {} ({} bytes)", args.output.display(), s.blob.len());
                println!(
                    "algorithm {alg}, version {}, svn {}",
                    args.payload_version, args.svn
                );
                println!("key sha-384 {}", sign::hex(&s.key_hash));
                if let Some(id) = &args.payload_id {
                    println!("payload id {id} (a label: not in the signed format)");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
