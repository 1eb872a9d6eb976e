//! Encryption at rest for project credentials with AES-256-GCM. The stored form of each field is
//! base64 of `nonce (12 bytes) || ciphertext+tag`, so every value carries its own random nonce.
//! Key rotation: decrypt with the old key and re-seal with the new one in a maintenance job;
//! a value sealed under another key fails authentication instead of decrypting to garbage.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::MarketplaceError;

const NONCE_BYTES: usize = 12;

/// Seals and opens credential fields with one 256-bit key.
#[derive(Clone)]
pub(crate) struct CredentialCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for CredentialCipher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CredentialCipher(..)")
    }
}

impl CredentialCipher {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    pub(crate) fn seal(&self, plaintext: &str) -> Result<String, MarketplaceError> {
        let nonce_bytes = foundation::secret::random_bytes(NONCE_BYTES);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), plaintext.as_bytes())
            .map_err(|_| MarketplaceError::Internal("credential encryption failed".into()))?;
        let mut sealed = nonce_bytes;
        sealed.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(sealed))
    }

    pub(crate) fn open(&self, sealed: &str) -> Result<String, MarketplaceError> {
        let failed = || MarketplaceError::Internal("sealed credential cannot be opened".into());
        let bytes = STANDARD.decode(sealed).map_err(|_| failed())?;
        if bytes.len() <= NONCE_BYTES {
            return Err(failed());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| failed())?;
        String::from_utf8(plaintext).map_err(|_| failed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_with_the_same_key_only() {
        let cipher = CredentialCipher::new(&[7; 32]);
        let sealed = cipher.seal("hunter2").unwrap();
        assert_ne!(sealed, cipher.seal("hunter2").unwrap(), "nonces are fresh");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(cipher.open(&sealed).unwrap(), "hunter2");
        assert!(CredentialCipher::new(&[8; 32]).open(&sealed).is_err());
    }
}
