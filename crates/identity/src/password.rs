//! Password policy and argon2id hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::IdentityError;
use crate::settings::PasswordHashingSettings;

/// Minimum password length in characters.
pub const MIN_PASSWORD_LENGTH: usize = 10;
/// Maximum password length in characters; bounds the hashing work one request can cause.
pub const MAX_PASSWORD_LENGTH: usize = 256;

/// Checks the policy: 10 to 256 characters, at least one letter and one digit, and not the email
/// address (or its local part).
pub fn check_policy(password: &str, normalized_email: &str) -> Result<(), IdentityError> {
    let weak = |reason: &str| {
        Err(IdentityError::WeakPassword {
            reason: reason.to_owned(),
        })
    };
    let length = password.chars().count();
    if length < MIN_PASSWORD_LENGTH {
        return weak("must be at least 10 characters");
    }
    if length > MAX_PASSWORD_LENGTH {
        return weak("must be at most 256 characters");
    }
    if !password.chars().any(char::is_alphabetic) {
        return weak("must contain a letter");
    }
    if !password.chars().any(|character| character.is_ascii_digit()) {
        return weak("must contain a digit");
    }
    let lowered = password.trim().to_lowercase();
    let local_part = normalized_email.split('@').next().unwrap_or_default();
    if lowered == normalized_email || lowered == local_part {
        return weak("must not be the email address");
    }
    Ok(())
}

/// An argon2id hasher with the configured costs.
pub fn hasher(settings: PasswordHashingSettings) -> Result<Argon2<'static>, IdentityError> {
    let params = Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    )
    .map_err(|error| IdentityError::InvalidSettings(format!("argon2 parameters: {error}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt into a PHC string (`$argon2id$v=19$...`).
pub fn hash(hasher: &Argon2<'_>, password: &str) -> Result<String, IdentityError> {
    let salt = SaltString::encode_b64(&foundation::secret::random_bytes(16))
        .map_err(|error| IdentityError::Internal(format!("salt encoding: {error}")))?;
    hasher
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| IdentityError::Internal(format!("password hashing: {error}")))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash counts as a mismatch.
pub fn verify(hasher: &Argon2<'_>, password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| hasher.verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(password: &str) -> Option<String> {
        match check_policy(password, "sarah.tester@gmail.com") {
            Ok(()) => None,
            Err(IdentityError::WeakPassword { reason }) => Some(reason),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn policy_requires_length_letters_and_digits() {
        assert_eq!(
            reason("short1"),
            Some("must be at least 10 characters".into())
        );
        assert_eq!(reason("onlyletterss"), Some("must contain a digit".into()));
        assert_eq!(reason("1234567890"), Some("must contain a letter".into()));
        assert_eq!(reason("correct horse 9"), None);
    }

    #[test]
    fn policy_refuses_the_email_address() {
        assert_eq!(reason("Sarah.Tester@gmail.com1"), None);
        assert!(check_policy("Sarah.Tester1", "sarah.tester1@gmail.com").is_err());
        assert!(matches!(
            check_policy("a1@example.com", "a1@example.com"),
            Err(IdentityError::WeakPassword { .. })
        ));
        assert_eq!(
            reason("x".repeat(257).as_str()).as_deref(),
            Some("must be at most 256 characters")
        );
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hasher = hasher(PasswordHashingSettings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let stored = hash(&hasher, "correct horse 9").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(verify(&hasher, "correct horse 9", &stored));
        assert!(!verify(&hasher, "correct horse 8", &stored));
        assert!(!verify(&hasher, "correct horse 9", "not a hash"));
    }
}
