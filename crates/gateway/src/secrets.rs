//! The gateway's two secrets: the access-token signing secret and the key encrypting two-factor
//! secrets at rest.
//!
//! Production must configure both. In development, a missing secret is generated once and kept
//! in the data directory, so tokens and two-factor enrolments survive a restart without the
//! newcomer having to invent a secret.

use std::path::Path;

use anyhow::Context;

use crate::config::{Config, Environment};

/// The resolved secrets.
pub struct Secrets {
    /// HS256 signing secret for access tokens.
    pub jwt_secret: String,
    /// 32-byte key for encrypting two-factor secrets.
    pub encryption_key: [u8; 32],
}

impl Secrets {
    /// Takes the configured secrets, or in development loads or generates them in `data_dir`.
    pub fn resolve(config: &Config) -> anyhow::Result<Secrets> {
        let development = config.environment == Environment::Development;
        let jwt_secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None if development => load_or_generate(&config.data_dir.join("jwt_secret"))?,
            None => anyhow::bail!("JWT_SECRET is required in production"),
        };
        let encryption_key_hex = match &config.encryption_key {
            Some(key) => key.clone(),
            None if development => load_or_generate(&config.data_dir.join("encryption_key"))?,
            None => anyhow::bail!("ENCRYPTION_KEY is required in production"),
        };
        let encryption_key = hex::decode(encryption_key_hex.trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .context("ENCRYPTION_KEY must be 64 hex characters")?;
        Ok(Secrets {
            jwt_secret,
            encryption_key,
        })
    }
}

/// Reads a 32-byte hex secret from `path`, creating it (readable by the owner only) if absent.
impl Secrets {
    /// A 32-byte key for one purpose, derived from `ENCRYPTION_KEY` as
    /// HMAC-SHA256(key, "peertest/" + purpose), so each domain encrypts with its own key and
    /// one configured secret covers them all. Rotating `ENCRYPTION_KEY` rotates every derived key
    /// (see the README on re-encrypting stored credentials).
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        derive(&self.encryption_key, purpose)
    }

    /// The same purpose's keys derived from every `PREVIOUS_ENCRYPTION_KEYS` entry (validated by
    /// the configuration), newest first.
    pub fn previous_derived_keys(config: &Config, purpose: &str) -> Vec<[u8; 32]> {
        config
            .previous_encryption_keys
            .iter()
            .filter_map(|hex_key| <[u8; 32]>::try_from(hex::decode(hex_key).ok()?).ok())
            .map(|key| derive(&key, purpose))
            .collect()
    }
}

fn derive(key: &[u8; 32], purpose: &str) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(b"peertest/");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

fn load_or_generate(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim().to_string();
        if existing.len() == 64 && hex::decode(&existing).is_ok() {
            return Ok(existing);
        }
        anyhow::bail!(
            "{} is corrupt: expected 64 hex characters; delete it to generate a new secret",
            path.display()
        );
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    write_private(path, &secret).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a development secret");
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_secrets_are_generated_once_and_reused() {
        let directory = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults();
        config.data_dir = directory.path().to_path_buf();
        let first = Secrets::resolve(&config).expect("generated");
        let second = Secrets::resolve(&config).expect("reloaded");
        assert_eq!(first.jwt_secret, second.jwt_secret);
        assert_eq!(first.encryption_key, second.encryption_key);
        assert_eq!(first.jwt_secret.len(), 64);
    }

    #[test]
    fn configured_secrets_win() {
        let directory = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults();
        config.data_dir = directory.path().to_path_buf();
        config.jwt_secret = Some("x".repeat(40));
        config.encryption_key = Some("01".repeat(32));
        let secrets = Secrets::resolve(&config).expect("configured");
        assert_eq!(secrets.jwt_secret, "x".repeat(40));
        assert_eq!(secrets.encryption_key, [1u8; 32]);
        assert!(!directory.path().join("jwt_secret").exists());
    }
}
