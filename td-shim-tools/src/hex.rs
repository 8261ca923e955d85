// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Lowercase hex encoding and strict hex decoding for the measurement tools (digests,
//! register values and byte strings on the command line and in JSON files). Decoded text is
//! untrusted: every malformed input is an error that says what was wrong, never a panic.

use std::fmt::Write as _;

/// Lowercase hex of `bytes`, two digits per byte, no prefix.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Decodes hex text (upper or lower case, optional `0x` prefix, no separators) into bytes in
/// the order written: the first two digits are byte 0.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let t = strip_prefix(text.trim());
    if !t.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", t.len()));
    }
    let digits = t.as_bytes();
    let mut out = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks_exact(2) {
        let (hi, lo) = match pair {
            [hi, lo] => (nibble(*hi)?, nibble(*lo)?),
            _ => return Err("odd number of hex digits".into()),
        };
        out.push((hi << 4) | lo);
    }
    Ok(out)
}

/// Decodes exactly `N` bytes of hex (see [`decode`]).
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let v = decode(text)?;
    let len = v.len();
    <[u8; N]>::try_from(v).map_err(|_| {
        format!(
            "expected {} hex digits ({N} bytes), found {} digits",
            N * 2,
            len * 2
        )
    })
}

/// Decodes a u64 written as a number in hex, most significant digit first: either `0x`
/// followed by 1 to 16 digits, or exactly 16 digits without a prefix.
pub fn decode_u64(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(d) if !d.is_empty() && d.len() <= 16 => d,
        Some(_) => return Err("expected 0x followed by 1 to 16 hex digits".into()),
        None if t.len() == 16 => t,
        None => return Err("expected 16 hex digits or 0x-prefixed hex".into()),
    };
    if let Some(bad) = digits.bytes().find(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("'{}' is not a hex digit", char::from(bad)));
    }
    u64::from_str_radix(digits, 16).map_err(|e| e.to_string())
}

fn strip_prefix(t: &str) -> &str {
    t.strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t)
}

fn nibble(c: u8) -> Result<u8, String> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("'{}' is not a hex digit", char::from(c))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(encode(&[0x00, 0xAB, 0x7f]), "00ab7f");
        assert_eq!(decode("00AB7f"), Ok(vec![0x00, 0xAB, 0x7F]));
        assert_eq!(decode("0x0102"), Ok(vec![1, 2]));
        assert_eq!(decode(""), Ok(vec![]));
        assert!(decode("abc").is_err());
        assert!(decode("zz").is_err());
        assert!(decode("0x 1").is_err());
        assert!(decode("é1").is_err());
        assert_eq!(decode_array::<2>("beef"), Ok([0xBE, 0xEF]));
        assert!(decode_array::<2>("bee").is_err());
        assert!(decode_array::<2>("beef00").is_err());
    }

    #[test]
    fn u64_forms() {
        assert_eq!(decode_u64("0x10000000"), Ok(0x1000_0000));
        assert_eq!(decode_u64("00000000000602e7"), Ok(0x602E7));
        assert_eq!(decode_u64("0xFFFFFFFFFFFFFFFF"), Ok(u64::MAX));
        for bad in [
            "",
            "0x",
            "1234",
            "0x11112222333344445",
            "000000000000000g",
            "0x+1",
            "-000000000000001",
        ] {
            assert!(decode_u64(bad).is_err(), "{bad}");
        }
    }
}
