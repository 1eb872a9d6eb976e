//! TOTP two-factor authentication: enrolment (secret + `otpauth://` URL), confirmation with a
//! code (turns it on and hands out 10 one-time recovery codes), verification at login, and
//! disabling. The secret is stored AES-256-GCM encrypted in the seed's `two_factor_secret` field;
//! recovery codes are stored as SHA-256 hashes and removed when used. A TOTP code's time step is
//! remembered so the same code cannot be replayed.
//!
//! Every change (enrolling, confirming, disabling) needs the account's password again, as GitHub
//! asks for "sudo mode": a stolen access token alone cannot touch the second factor. Wrong codes
//! on every path (login, confirm, disable) and wrong passwords on the change paths are counted
//! against one per-account budget (`rate_limit`), reserved before anything is checked, so aliased
//! or concurrent guesses stop at the limit. Turning two-factor on or off e-mails the user.

use bson::oid::ObjectId;
use bson::{doc, Document};
use foundation::secret::{hash_token, random_bytes};

use crate::error::IdentityError;
use crate::outbox::OutboxKind;
use crate::principal::Principal;
use crate::rate_limit::{Budget, Reservation};
use crate::service::IdentityService;
use crate::session::SecondFactor;
use crate::totp;

/// Number of recovery codes issued on confirmation.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// What a user needs to add the account to an authenticator app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorEnrollment {
    /// The secret in base32, for manual entry.
    pub secret_base32: String,
    /// The `otpauth://totp/...` URL, usually shown as a QR code.
    pub otpauth_url: String,
}

/// A fresh recovery code like `k7m2q-x9fpa`: 10 base32 characters (50 bits) in two groups.
fn generate_recovery_code() -> String {
    let encoded = totp::base32_encode(&random_bytes(7)).to_lowercase();
    format!("{}-{}", &encoded[..5], &encoded[5..10])
}

/// The stored form of a recovery code: hash of its lower-case characters without separators, so
/// `K7M2Q X9FPA` and `k7m2q-x9fpa` are the same code.
pub fn recovery_code_hash(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|character| character.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hash_token(&normalized)
}

impl IdentityService {
    fn unix_seconds(&self) -> u64 {
        u64::try_from(self.now_seconds()).unwrap_or(0)
    }

    async fn two_factor_state(&self, user_id: ObjectId) -> Result<Document, IdentityError> {
        self.users
            .find_one(doc! { "_id": user_id })
            .await?
            .ok_or(IdentityError::UserNotFound)
    }

    fn open_totp_secret(&self, state: &Document) -> Result<Vec<u8>, IdentityError> {
        let sealed = state
            .get_str("two_factor_secret")
            .map_err(|_| IdentityError::TwoFactorNotEnabled)?;
        self.secret_box.open(sealed)
    }

    fn second_factor_budget(&self, user_id: ObjectId) -> Budget {
        let limits = self.settings.login_throttle;
        Budget {
            key: format!("two-factor:{user_id}"),
            limit: limits.max_second_factor_failures,
            window: limits.window,
        }
    }

    /// Settles a reserved second-factor attempt: a wrong password or code keeps it counted,
    /// anything else gives it back.
    async fn settle_attempt<T>(
        &self,
        reservation: &Reservation,
        outcome: Result<T, IdentityError>,
    ) -> Result<T, IdentityError> {
        match &outcome {
            Err(IdentityError::InvalidCredentials | IdentityError::InvalidTwoFactorCode) => {
                tracing::info!("second-factor attempt failed; counted");
            }
            _ => self.release_attempt(reservation).await?,
        }
        outcome
    }

    /// `InvalidCredentials` unless `password` is the account's password.
    async fn reauthenticate(&self, user_id: ObjectId, password: &str) -> Result<(), IdentityError> {
        let state = self.two_factor_state(user_id).await?;
        let stored = state.get_str("password_hash").ok().map(str::to_owned);
        if self.verify_password(password, stored).await? {
            Ok(())
        } else {
            Err(IdentityError::InvalidCredentials)
        }
    }

    /// Re-checks the account's password before a sensitive change (password change, erasure),
    /// counting a wrong one against the same per-account budget as wrong second factors, so a
    /// stolen access token cannot be used to guess the password. A wrong password is
    /// `PasswordMismatch` naming `field`. Returns the stored account document.
    pub(crate) async fn reauthenticate_counted(
        &self,
        user_id: ObjectId,
        password: &str,
        field: &'static str,
    ) -> Result<Document, IdentityError> {
        let reservation = self
            .reserve_attempt(&self.second_factor_budget(user_id))
            .await?;
        let outcome = match self.two_factor_state(user_id).await {
            Ok(state) => {
                let stored = state.get_str("password_hash").ok().map(str::to_owned);
                match self.verify_password(password, stored).await {
                    Ok(true) => Ok(state),
                    Ok(false) => Err(IdentityError::InvalidCredentials),
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        };
        match self.settle_attempt(&reservation, outcome).await {
            Err(IdentityError::InvalidCredentials) => {
                Err(IdentityError::PasswordMismatch { field })
            }
            other => other,
        }
    }

    /// Checks a login's second factor against the account's budget of wrong codes.
    pub(crate) async fn check_second_factor_counted(
        &self,
        user_id: ObjectId,
        factor: &SecondFactor,
    ) -> Result<(), IdentityError> {
        let reservation = self
            .reserve_attempt(&self.second_factor_budget(user_id))
            .await?;
        let outcome = match self.check_second_factor(user_id, factor).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(IdentityError::InvalidTwoFactorCode),
            Err(error) => Err(error),
        };
        self.settle_attempt(&reservation, outcome).await
    }

    /// Starts enrolment after checking the password: generates and stores (encrypted) a new
    /// secret, not yet active.
    pub async fn begin_two_factor_enrollment(
        &self,
        actor: &Principal,
        password: &str,
    ) -> Result<TwoFactorEnrollment, IdentityError> {
        let user = self.require_user(actor.require_user()?.user_id).await?;
        if user.two_factor_enabled {
            return Err(IdentityError::TwoFactorAlreadyEnabled);
        }
        let reservation = self
            .reserve_attempt(&self.second_factor_budget(user.id))
            .await?;
        let checked = self.reauthenticate(user.id, password).await;
        self.settle_attempt(&reservation, checked).await?;
        let secret = random_bytes(totp::SECRET_BYTES);
        let sealed = self.secret_box.seal(&secret)?;
        let result = self
            .users
            .update_one(
                doc! { "_id": user.id, "two_factor_enabled": { "$ne": true } },
                doc! { "$set": { "two_factor_secret": sealed, "two_factor_enabled": false, "updated_at": self.now() } },
            )
            .await?;
        if result.matched_count == 0 {
            return Err(IdentityError::TwoFactorAlreadyEnabled);
        }
        Ok(TwoFactorEnrollment {
            secret_base32: totp::base32_encode(&secret),
            otpauth_url: totp::otpauth_url(&self.settings.totp_issuer, &user.email, &secret),
        })
    }

    /// Confirms enrolment with the password and a current code: two-factor becomes required at
    /// login, the user is e-mailed, and 10 recovery codes are returned. They are shown once and
    /// stored only as hashes.
    pub async fn confirm_two_factor_enrollment(
        &self,
        actor: &Principal,
        password: &str,
        code: &str,
    ) -> Result<Vec<String>, IdentityError> {
        let user_id = actor.require_user()?.user_id;
        let reservation = self
            .reserve_attempt(&self.second_factor_budget(user_id))
            .await?;
        let outcome = self.confirm_checked(user_id, password, code).await;
        let codes = self.settle_attempt(&reservation, outcome).await?;
        let user = self.require_user(user_id).await?;
        self.enqueue_notice(OutboxKind::TwoFactorEnabled, &user)
            .await?;
        Ok(codes)
    }

    async fn confirm_checked(
        &self,
        user_id: ObjectId,
        password: &str,
        code: &str,
    ) -> Result<Vec<String>, IdentityError> {
        self.reauthenticate(user_id, password).await?;
        let state = self.two_factor_state(user_id).await?;
        if state.get_bool("two_factor_enabled").unwrap_or(false) {
            return Err(IdentityError::TwoFactorAlreadyEnabled);
        }
        let sealed = state
            .get_str("two_factor_secret")
            .map_err(|_| IdentityError::TwoFactorNotEnabled)?
            .to_owned();
        let secret = self.secret_box.open(&sealed)?;
        let step = totp::verify(&secret, code, self.unix_seconds())
            .ok_or(IdentityError::InvalidTwoFactorCode)?;
        let codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
            .map(|_| generate_recovery_code())
            .collect();
        let hashes: Vec<String> = codes.iter().map(|code| recovery_code_hash(code)).collect();
        let result = self
            .users
            .update_one(
                doc! { "_id": user_id, "two_factor_enabled": false, "two_factor_secret": &sealed },
                doc! {
                    "$set": {
                        "two_factor_enabled": true,
                        "two_factor_recovery_codes": hashes,
                        "two_factor_last_step": i64::try_from(step).unwrap_or(i64::MAX),
                        "updated_at": self.now(),
                    },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        if result.matched_count == 0 {
            return Err(IdentityError::TwoFactorAlreadyEnabled);
        }
        Ok(codes)
    }

    /// Turns two-factor off; needs the password and a valid TOTP or recovery code, and e-mails
    /// the user.
    pub async fn disable_two_factor(
        &self,
        actor: &Principal,
        password: &str,
        code: SecondFactor,
    ) -> Result<(), IdentityError> {
        let user_id = actor.require_user()?.user_id;
        let state = self.two_factor_state(user_id).await?;
        if !state.get_bool("two_factor_enabled").unwrap_or(false) {
            return Err(IdentityError::TwoFactorNotEnabled);
        }
        let reservation = self
            .reserve_attempt(&self.second_factor_budget(user_id))
            .await?;
        let outcome = async {
            self.reauthenticate(user_id, password).await?;
            if self.check_second_factor(user_id, &code).await? {
                Ok(())
            } else {
                Err(IdentityError::InvalidTwoFactorCode)
            }
        }
        .await;
        self.settle_attempt(&reservation, outcome).await?;
        let result = self.users
            .update_one(
                doc! { "_id": user_id },
                doc! {
                    "$set": { "two_factor_enabled": false, "updated_at": self.now() },
                    "$unset": { "two_factor_secret": "", "two_factor_recovery_codes": "", "two_factor_last_step": "" },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        if result.modified_count == 1 {
            let user = self.require_user(user_id).await?;
            self.enqueue_notice(OutboxKind::TwoFactorDisabled, &user)
                .await?;
        }
        Ok(())
    }

    /// How many unused recovery codes the caller has left.
    pub async fn remaining_recovery_codes(
        &self,
        actor: &Principal,
    ) -> Result<usize, IdentityError> {
        let state = self.two_factor_state(actor.require_user()?.user_id).await?;
        Ok(state
            .get_array("two_factor_recovery_codes")
            .map(Vec::len)
            .unwrap_or(0))
    }

    /// Checks a second factor for an account with two-factor on, consuming it: a TOTP step can be
    /// used once, a recovery code is removed.
    pub(crate) async fn check_second_factor(
        &self,
        user_id: ObjectId,
        factor: &SecondFactor,
    ) -> Result<bool, IdentityError> {
        match factor {
            SecondFactor::Totp(code) => {
                let state = self.two_factor_state(user_id).await?;
                let secret = self.open_totp_secret(&state)?;
                let Some(step) = totp::verify(&secret, code, self.unix_seconds()) else {
                    return Ok(false);
                };
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                let result = self
                    .users
                    .update_one(
                        doc! {
                            "_id": user_id,
                            "two_factor_enabled": true,
                            "$or": [
                                { "two_factor_last_step": { "$exists": false } },
                                { "two_factor_last_step": { "$lt": step } },
                            ],
                        },
                        doc! { "$set": { "two_factor_last_step": step } },
                    )
                    .await?;
                Ok(result.matched_count == 1)
            }
            SecondFactor::RecoveryCode(code) => {
                let hash = recovery_code_hash(code);
                let result = self
                    .users
                    .update_one(
                        doc! { "_id": user_id, "two_factor_enabled": true, "two_factor_recovery_codes": &hash },
                        doc! { "$pull": { "two_factor_recovery_codes": &hash } },
                    )
                    .await?;
                Ok(result.modified_count == 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_two_groups_of_five_base32_characters() {
        let code = generate_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert!(code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)));
    }

    #[test]
    fn recovery_code_hash_ignores_case_and_separators() {
        assert_eq!(
            recovery_code_hash("k7m2q-x9fpa"),
            recovery_code_hash(" K7M2Q X9FPA ")
        );
        assert_ne!(
            recovery_code_hash("k7m2q-x9fpa"),
            recovery_code_hash("k7m2q-x9fpb")
        );
    }
}
