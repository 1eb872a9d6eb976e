//! Encryption at rest for project credentials with AES-256-GCM. The stored form of each field is
//! base64 of `nonce (12 bytes) || ciphertext+tag`, so every value carries its own random nonce.
//!
//! Key rotation: the cipher seals with the current key and opens with the current key or any
//! previous one (GCM's tag tells which key a value was sealed with: under a wrong key it fails
//! authentication instead of decrypting to garbage). To rotate, configure the new key as current
//! and the old one as previous; [`crate::MarketplaceService::reseal_credentials`] (the gateway
//! runs it at start-up when previous keys are configured) re-seals every stored value under the
//! current key; once it reports nothing left, drop the previous key.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::MarketplaceError;

const NONCE_BYTES: usize = 12;

/// Seals credential fields with the current 256-bit key; opens them with it or a previous one.
#[derive(Clone)]
pub(crate) struct CredentialCipher {
    cipher: Aes256Gcm,
    previous: Vec<Aes256Gcm>,
}

impl std::fmt::Debug for CredentialCipher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CredentialCipher(..)")
    }
}

impl CredentialCipher {
    #[cfg(test)]
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self::with_previous(key, &[])
    }

    pub(crate) fn with_previous(key: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            previous: previous
                .iter()
                .map(|key| Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)))
                .collect(),
        }
    }

    /// Whether `sealed` opens with the current key (so it needs no re-sealing).
    pub(crate) fn is_current(&self, sealed: &str) -> bool {
        Self::open_with(&self.cipher, sealed).is_some()
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
        std::iter::once(&self.cipher)
            .chain(&self.previous)
            .find_map(|cipher| Self::open_with(cipher, sealed))
            .ok_or_else(|| MarketplaceError::Internal("sealed credential cannot be opened".into()))
    }

    fn open_with(cipher: &Aes256Gcm, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plaintext = cipher.decrypt(Nonce::from_slice(nonce), ciphertext).ok()?;
        String::from_utf8(plaintext).ok()
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

    #[test]
    fn after_rotation_old_values_open_and_new_ones_use_the_new_key() {
        let old = CredentialCipher::new(&[1; 32]);
        let sealed_before = old.seal("hunter2").unwrap();
        let rotated = CredentialCipher::with_previous(&[2; 32], &[[1; 32]]);
        assert_eq!(rotated.open(&sealed_before).unwrap(), "hunter2");
        assert!(!rotated.is_current(&sealed_before));
        let sealed_after = rotated.seal("hunter2").unwrap();
        assert!(rotated.is_current(&sealed_after));
        assert!(
            old.open(&sealed_after).is_err(),
            "new values use the new key only"
        );
    }
}
