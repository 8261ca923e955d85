// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Library behind the td-shim host tools. The binaries in `src/bin` are thin clap front ends.
//!
//! - [`link`]: assembles a final image from the reset vector, the shim ELF and an optional
//!   payload (`td-shim-ld`; xtask calls [`link::link`] directly).
//! - [`info`]: inspects any TDVF-format image and lists what it finds and what is wrong
//!   (`td-shim-info`).
//! - [`vmm`]: a TDX VMM simulator for emulated-TDX test images: the TD HOB a VMM would
//!   write, the QEMU arguments that load it, hostile TD HOBs (`td-shim-vmm`, `cargo xtask
//!   emu-run`).
//! - [`tee_info`]: MRTD and TEE_INFO_HASH of an image plus TD parameters
//!   (`td-shim-tee-info-hash`); [`hex`]: hex text for the measurement tools.
//! - [`eventlog`]: prints, replays and checks a CC event log (`td-shim-eventlog`).
//! - [`sign`], [`enroll`], [`spki`]: payload secure boot — sign a payload ELF
//!   (`td-shim-sign-payload`), enroll the public key, a minimum SVN and extra files in an
//!   image's CFV (`td-shim-enroll`, `cargo image --enroll-key`), read key files.
//! - [`reference`]: predicts td-shim's event log and RTMRs from an image and payload files
//!   (`td-payload-reference-calculator`).
//! - [`file`]: reading inputs and writing outputs atomically, with errors that name the path.
//!
//! Every input file is untrusted: problems are reported as errors or violations, never panics.

pub mod enroll;
pub mod eventlog;
pub mod file;
pub mod hex;
pub mod info;
pub mod link;
pub mod reference;
pub mod sign;
pub mod spki;
pub mod tee_info;
pub mod vmm;

/// Parses a byte count given as decimal (`16777216`) or hex (`0x1000000`), with `_` allowed
/// as a digit separator. Used by the command-line front ends.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let clean: String = text.trim().chars().filter(|&c| c != '_').collect();
    let (digits, radix) = match clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        Some(hex) => (hex, 16),
        None => (clean.as_str(), 10),
    };
    if digits.is_empty() {
        return Err(format!(
            "'{text}' is not a size (use decimal or 0x-prefixed hex)"
        ));
    }
    u64::from_str_radix(digits, radix)
        .map_err(|_| format!("'{text}' is not a size (use decimal or 0x-prefixed hex)"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_in_hex_and_decimal() {
        assert_eq!(parse_size("0x1000000"), Ok(0x100_0000));
        assert_eq!(parse_size("0X10_0000"), Ok(0x10_0000));
        assert_eq!(parse_size("16777216"), Ok(16_777_216));
        for bad in ["", "0x", "12k", "-1", "0x1g", "99999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
