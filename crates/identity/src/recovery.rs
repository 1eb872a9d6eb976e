//! Email verification, password reset and password change. Verification and reset use single-use random tokens whose SHA-256 is stored on the
//! user (seed fields `email_verification_token`/`_expires`, `password_reset_token`/`_expires`) and
//! whose raw value travels only in the outbox email. Using a token is a compare-and-set on its
//! hash, so it works once even under concurrent requests.

use bson::doc;
use foundation::clock::add_duration;
use foundation::secret::{generate_token, hash_token};

use crate::error::IdentityError;
use crate::outbox::OutboxKind;
use crate::password;
use crate::principal::Principal;
use crate::rate_limit::{address_or_unknown, Budget};
use crate::service::IdentityService;
use crate::session::ClientInfo;
use crate::user::{normalize_email, User, UserStatus};

impl IdentityService {
    /// Sends the caller a fresh verification email (the previous link stops working). Does nothing
    /// when the email is already verified.
    pub async fn resend_email_verification(&self, actor: &Principal) -> Result<(), IdentityError> {
        let user = self.require_user(actor.require_user()?.user_id).await?;
        if user.email_verified {
            return Ok(());
        }
        self.issue_email_verification(&user).await
    }

    /// Confirms an email address with the token from the verification link. The account becomes
    /// `active` if it was `pending_verification` (a suspension is never lifted this way).
    pub async fn verify_email(&self, token: &str) -> Result<User, IdentityError> {
        let token_hash = hash_token(token.trim());
        let now = self.now();
        let found = self
            .users
            .find_one(doc! { "email_verification_token": &token_hash, "email_verification_expires": { "$gt": now } })
            .await?
            .ok_or(IdentityError::InvalidEmailVerificationToken)?;
        let user: User = bson::from_document(found)?;
        let status = match user.status {
            UserStatus::PendingVerification => UserStatus::Active,
            other => other,
        };
        let result = self
            .users
            .update_one(
                doc! { "_id": user.id, "email_verification_token": &token_hash, "status": user.status.as_str() },
                doc! {
                    "$set": { "email_verified": true, "status": status.as_str(), "updated_at": now },
                    "$unset": { "email_verification_token": "", "email_verification_expires": "" },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        if result.matched_count == 0 {
            return Err(IdentityError::InvalidEmailVerificationToken);
        }
        self.require_user(user.id).await
    }

    /// Starts a password reset: queues a reset email with a 1-hour single-use link. Always
    /// succeeds for well-formed addresses, whether or not an account exists, so the answer does
    /// not reveal which emails are registered. Suspended accounts get no email.
    ///
    /// Limited per client address and per target address (`account_requests`), reserved before
    /// anything else; the same address in many aliases of one request spends the same budget.
    /// The account lookup and the e-mail happen after the answer, in a task of their own, so the
    /// answer takes the same time for known and unknown addresses.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), IdentityError> {
        let email = normalize_email(email)?;
        let limits = self.settings.account_requests;
        let address = address_or_unknown(client.ip.as_deref());
        let from_address = self
            .reserve_attempt(&Budget {
                key: format!("reset-address:{address}"),
                limit: limits.password_resets_per_address,
                window: limits.window,
            })
            .await?;
        if let Err(error) = self
            .reserve_attempt(&Budget {
                key: format!("reset-email:{email}"),
                limit: limits.password_resets_per_email,
                window: limits.window,
            })
            .await
        {
            self.release_attempt(&from_address).await?;
            return Err(error);
        }
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(error) = service.send_password_reset(&email).await {
                tracing::error!(error = %error, "queueing a password reset e-mail failed");
            }
        });
        Ok(())
    }

    async fn send_password_reset(&self, email: &str) -> Result<(), IdentityError> {
        let Some(found) = self.users.find_one(doc! { "email": email }).await? else {
            return Ok(());
        };
        let user: User = bson::from_document(found)?;
        if user.status == UserStatus::Suspended || user.deleted_at.is_some() {
            return Ok(());
        }
        let token = generate_token();
        let expires = add_duration(self.now(), self.settings.password_reset_ttl);
        self.users
            .update_one(
                doc! { "_id": user.id },
                doc! { "$set": { "password_reset_token": hash_token(&token), "password_reset_expires": expires } },
            )
            .await?;
        self.enqueue_email(OutboxKind::PasswordReset, &user, Some(&token), expires)
            .await
    }

    /// Completes a password reset: checks the policy, stores the new hash, consumes the token and
    /// revokes every session of the account (whoever had them, they must log in again).
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<(), IdentityError> {
        let token_hash = hash_token(token.trim());
        let now = self.now();
        let found = self
            .users
            .find_one(doc! { "password_reset_token": &token_hash, "password_reset_expires": { "$gt": now } })
            .await?
            .ok_or(IdentityError::InvalidPasswordResetToken)?;
        let user: User = bson::from_document(found)?;
        password::check_policy(new_password, &user.email)?;
        let password_hash = self.hash_password(new_password).await?;
        let result = self
            .users
            .update_one(
                doc! { "_id": user.id, "password_reset_token": &token_hash },
                doc! {
                    "$set": { "password_hash": password_hash, "password_changed_at": now, "updated_at": now },
                    "$unset": { "password_reset_token": "", "password_reset_expires": "" },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        if result.matched_count == 0 {
            return Err(IdentityError::InvalidPasswordResetToken);
        }
        let revoked = self.revoke_all_sessions(user.id, "password_reset").await?;
        self.clear_login_budgets(&user.email).await?;
        tracing::info!(user_id = %user.id, revoked_sessions = revoked, "password reset");
        Ok(())
    }

    /// Changes the caller's password after re-checking the current one (a wrong one is
    /// `PasswordMismatch` on `current_password`, counted against the account's budget of wrong
    /// re-authentications). The new password passes the registration policy (refused as bad
    /// input on `new_password`). Every other session is revoked; the session making the change
    /// stays signed in. The write is a compare-and-set on the hash that was checked, so two
    /// concurrent changes cannot both win.
    pub async fn change_password(
        &self,
        actor: &Principal,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), IdentityError> {
        let caller = actor.require_user()?;
        let stored = self
            .reauthenticate_counted(caller.user_id, current_password, "current_password")
            .await?;
        let email = stored
            .get_str("email")
            .map_err(|_| IdentityError::Internal("user without email".into()))?;
        password::check_policy(new_password, email).map_err(|error| match error {
            IdentityError::WeakPassword { reason } => IdentityError::InvalidInput {
                field: "new_password",
                reason: format!("password too weak: {reason}"),
            },
            other => other,
        })?;
        let checked_hash = stored
            .get_str("password_hash")
            .map_err(|_| IdentityError::Internal("user without password hash".into()))?;
        let password_hash = self.hash_password(new_password).await?;
        let now = self.now();
        let changed = self
            .users
            .update_one(
                doc! { "_id": caller.user_id, "password_hash": checked_hash },
                doc! {
                    "$set": { "password_hash": password_hash, "password_changed_at": now, "updated_at": now },
                    "$unset": { "password_reset_token": "", "password_reset_expires": "" },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        if changed.matched_count == 0 {
            return Err(IdentityError::VersionConflict);
        }
        let revoked = self
            .sessions
            .update_many(
                doc! { "user_id": caller.user_id, "revoked": false, "_id": { "$ne": caller.session_id } },
                doc! { "$set": { "revoked": true, "revoked_at": now, "revoked_reason": "password_changed" } },
            )
            .await?;
        tracing::info!(user_id = %caller.user_id, revoked_sessions = revoked.modified_count, "password changed");
        Ok(())
    }
}
