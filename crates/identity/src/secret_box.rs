//! Encryption at rest for small secrets (TOTP seeds) with AES-256-GCM. The stored form is
//! base64 of `nonce (12 bytes) || ciphertext+tag`, so each value carries its own random nonce.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::IdentityError;

const NONCE_BYTES: usize = 12;

/// Encrypts and decrypts secrets with one 256-bit key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A box using `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// Encrypts `plaintext` under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, IdentityError> {
        let nonce_bytes = foundation::secret::random_bytes(NONCE_BYTES);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), plaintext)
            .map_err(|_| IdentityError::Internal("secret encryption failed".into()))?;
        let mut sealed = nonce_bytes;
        sealed.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(sealed))
    }

    /// Decrypts a value produced by [`SecretBox::seal`]; fails if it was altered or sealed under
    /// another key.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, IdentityError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| IdentityError::Internal("sealed secret is not base64".into()))?;
        if bytes.len() <= NONCE_BYTES {
            return Err(IdentityError::Internal("sealed secret too short".into()));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| IdentityError::Internal("sealed secret failed authentication".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let secret_box = SecretBox::new(&[7; 32]);
        let sealed = secret_box.seal(b"totp seed").unwrap();
        assert_ne!(
            sealed,
            secret_box.seal(b"totp seed").unwrap(),
            "nonces are fresh"
        );
        assert_eq!(secret_box.open(&sealed).unwrap(), b"totp seed");
        assert!(SecretBox::new(&[8; 32]).open(&sealed).is_err());
    }

    #[test]
    fn tampered_values_are_refused() {
        let secret_box = SecretBox::new(&[7; 32]);
        let mut bytes = STANDARD
            .decode(secret_box.seal(b"totp seed").unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(secret_box.open(&STANDARD.encode(bytes)).is_err());
        assert!(secret_box.open("AAAA").is_err());
    }
}
