// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `td-shim-enroll`: enrolls a payload-signing public key (and optionally a minimum SVN and
//! extra files) in the configuration FV of a td-shim image (see `td_shim_tools::enroll`,
//! `doc/secure-boot.md`). The output is written atomically.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use td_shim::format::guid::Guid;
use td_shim_tools::{enroll, file, sign, spki};

#[derive(Parser, Debug)]
#[command(
    name = "td-shim-enroll",
    version,
    about = "Enroll a secure-boot public key in a td-shim image",
    long_about = "Enroll a secure-boot public key in a td-shim image.\n\n\
        Rebuilds the image's configuration firmware volume (CFV) from scratch: a trust anchor \
        holding the SHA-384 of the public key, the minimum payload SVN if given, then each \
        --file. Files the old CFV held are dropped (pass them again with --file). A firmware \
        built with secure boot then boots only payloads signed by this key with an SVN at or \
        above the minimum."
)]
struct Args {
    /// The td-shim image (final.bin).
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// Public key: DER SubjectPublicKeyInfo (`openssl pkey -pubout -outform DER`) or PEM
    /// ("BEGIN PUBLIC KEY"); EC secp384r1, or RSA 3072 with exponent 65537.
    #[arg(long, value_name = "PUBLIC.der")]
    key: PathBuf,
    /// Minimum payload SVN the firmware accepts (decimal or 0x hex).
    #[arg(long, value_name = "N", value_parser = sign::parse_u64)]
    min_svn: Option<u64>,
    /// Extra file for the CFV as GUID,PATH (a RAW FFS file named GUID); repeatable.
    #[arg(long = "file", value_name = "GUID,PATH", value_parser = enroll::parse_file_arg)]
    files: Vec<(Guid, PathBuf)>,
    /// Output image.
    #[arg(short = 'o', long, value_name = "OUT")]
    output: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

fn run(args: &Args) -> Result<(spki::PublicKey, enroll::Enrolled), String> {
    let image = file::read(&args.image).map_err(|e| e.to_string())?;
    let key_file = file::read(&args.key).map_err(|e| e.to_string())?;
    let der = spki::der_from_pem_or_der(&key_file, &["PUBLIC KEY"], "public key")
        .map_err(|e| format!("{}: {e}", args.key.display()))?;
    let key = spki::parse_spki(&der).map_err(|e| format!("{}: {e}", args.key.display()))?;
    let mut files = Vec::new();
    for (guid, path) in &args.files {
        files.push((*guid, file::read(path).map_err(|e| e.to_string())?));
    }
    let enrolled = enroll::enroll(&image, &key, args.min_svn, &files).map_err(|e| e.to_string())?;
    file::write_atomic(&args.output, &enrolled.image).map_err(|e| e.to_string())?;
    Ok((key, enrolled))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok((key, e)) => {
            let alg = key.algorithm().name();
            if args.json {
                let min = args.min_svn.map_or("null".to_string(), |n| n.to_string());
                println!(
                    "{{\"output\":{},\"cfv_offset\":{},\"cfv_size\":{},\"algorithm\":\"{alg}\",\"key_sha384\":\"{}\",\"anchor\":\"{}\",\"min_svn\":{min},\"files\":{},\"replaced_files\":{}}}",
                    sign::json_string(&args.output.display().to_string()),
                    e.cfv_offset,
                    e.cfv_size,
                    sign::hex(&e.key_hash),
                    sign::hex(&e.anchor),
                    args.files.len(),
                    e.replaced_files
                );
            } else {
                println!("wrote {}", args.output.display());
                println!(
                    "cfv [{:#x}, {:#x}): trust anchor for a {alg} key, sha-384 {}",
                    e.cfv_offset,
                    e.cfv_offset + e.cfv_size,
                    sign::hex(&e.key_hash)
                );
                match args.min_svn {
                    Some(n) => println!("minimum svn {n}"),
                    None => println!("no minimum svn"),
                }
                println!(
                    "{} extra file(s); {} file(s) of the old cfv replaced",
                    args.files.len(),
                    e.replaced_files
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
