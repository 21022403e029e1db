//! The config checksum: SHA-256 of a config text, lowercase hex. The control plane stores it with
//! each version and pushes it with the text; a gateway (and its cache) refuses a text whose
//! checksum does not match. One function, so both sides always agree on the spelling.

use sha2::{Digest, Sha256};

/// SHA-256 of `config`, 64 lowercase hex digits.
pub fn checksum(config: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(config.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_lowercase_sha256_hex() {
        // `printf test | sha256sum`
        assert_eq!(
            checksum("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        // `printf '' | sha256sum`
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
