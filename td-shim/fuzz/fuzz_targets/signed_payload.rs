// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Fuzz target: the payload secure-boot parsers on arbitrary bytes — the signed-payload blob
//! (`signed_payload::parse`, from the image's payload FV), the trust-anchor and minimum-SVN
//! records and the CFV policy walk (`cfv`, owner-supplied), and `secure_boot::verify` with
//! the input as payload (nothing enrolled) and as CFV (an unsigned payload). Must never
//! panic; every view a parser returns lies inside its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_shim::format::{cfv, signed_payload};
use td_shim::secure_boot;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = signed_payload::parse(data) {
        assert!(signed_payload::is_signed(data));
        assert_eq!(p.signed.len(), signed_payload::HEADER_SIZE + p.image.len());
        assert_eq!(p.public_key.len(), p.algorithm.public_key_size());
        assert_eq!(p.signature.len(), p.algorithm.signature_size());
        assert!(p.signed.len() + p.public_key.len() + p.signature.len() <= data.len());
    }
    if let Ok(a) = cfv::parse_anchor(data) {
        assert_eq!(a.bytes.len(), cfv::ANCHOR_SIZE);
    }
    let _ = cfv::parse_min_svn(data);
    let _ = cfv::policy(data);
    // As the payload with no CFV, and as the CFV of an (unsigned) ELF payload.
    let _ = secure_boot::verify(None, data);
    let _ = secure_boot::verify(Some(data), b"\x7fELF");
});
