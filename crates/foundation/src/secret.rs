//! Random bearer secrets (refresh tokens, email links, API keys) and how they are stored: only a
//! SHA-256 digest is kept, so a database leak does not hand out working tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Number of random bytes in a generated token: 256 bits, beyond brute force.
pub const TOKEN_BYTES: usize = 32;

/// A fresh random token, 32 bytes from the operating system's generator, URL-safe base64 without
/// padding (43 characters), so it can travel in links and headers unchanged.
pub fn generate_token() -> String {
    let mut bytes = [0_u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `count` random bytes; for salts, nonces and key material.
pub fn random_bytes(count: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; count];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// The stored form of a token: lower-case hex SHA-256 of its text. Because tokens carry 256 bits
/// of entropy, an unsalted fast hash is enough and lets the digest be looked up by index.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time that depends only on their lengths, so an attacker cannot learn
/// a prefix from response times.
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.ct_eq(right).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_url_safe_characters_and_differ() {
        let first = generate_token();
        let second = generate_token();
        assert_eq!(first.len(), 43);
        assert!(first
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'));
        assert_ne!(first, second);
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secrets"));
    }
}
