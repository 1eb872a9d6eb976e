//! Personal-data rights (GDPR): exporting everything identity stores about a person, and erasing
//! an account. Erasure is a soft delete: the user document stays (other domains reference its id
//! in jobs, submissions and payments) but every personal field is removed, the email is replaced by
//! an unroutable placeholder, the password can no longer match, sessions are revoked and
//! `deleted_at` is set. Other domains say through [`ErasureBlockers`] what still runs on the
//! person (a funded job, a payout owed to them); while anything does, erasure is refused.

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::future::BoxFuture;
use futures_util::TryStreamExt;
use serde::Serialize;

use crate::error::IdentityError;
use crate::organization::OrganizationRole;
use crate::principal::Principal;
use crate::service::IdentityService;
use crate::user::{User, UserStatus};

/// Everything identity holds about one person, minus secrets (hashes of passwords and tokens).
#[derive(Debug, Clone, Serialize)]
pub struct UserDataExport {
    /// The account.
    pub user: User,
    /// Every session, live or revoked, without token hashes.
    pub sessions: Vec<Document>,
    /// The organization membership, if any.
    pub organization_id: Option<ObjectId>,
    /// The role in that organization.
    pub organization_role: Option<OrganizationRole>,
    /// Emails queued or sent to the person, without their links (the links hold live tokens).
    pub emails: Vec<Document>,
}

impl UserDataExport {
    /// The export as pretty-printed JSON (relaxed extended JSON for ids and dates).
    pub fn to_json(&self) -> Result<String, IdentityError> {
        let value = bson::to_bson(self)?;
        serde_json::to_string_pretty(&value.into_relaxed_extjson())
            .map_err(|error| IdentityError::Internal(format!("export encoding: {error}")))
    }
}

/// The other domains' answer to "what still runs on this person?": each entry, in words, is
/// something the person must finish first. Identity knows no jobs or payouts, so the caller
/// that owns all the domains (the GraphQL layer) implements it.
pub trait ErasureBlockers: Send + Sync {
    /// What blocks erasing `user_id`; empty when nothing does.
    fn blockers(&self, user_id: ObjectId) -> BoxFuture<'_, Result<Vec<String>, IdentityError>>;
}

impl IdentityService {
    /// Exports the caller's personal data.
    pub async fn export_user_data(
        &self,
        actor: &Principal,
    ) -> Result<UserDataExport, IdentityError> {
        let caller = actor.require_user()?;
        let user = self.require_user(caller.user_id).await?;
        let sessions: Vec<Document> = self
            .sessions
            .find(doc! { "user_id": user.id })
            .projection(doc! { "current_token_hash": 0, "rotated_token_hashes": 0 })
            .await?
            .try_collect()
            .await?;
        let emails: Vec<Document> = self
            .outbox
            .find(doc! { "user_id": user.id })
            .projection(doc! { "sealed_token": 0 })
            .await?
            .try_collect()
            .await?;
        let organization_role = match user.organization_id {
            Some(id) => self
                .organization(id)
                .await?
                .and_then(|organization| organization.member(user.id).map(|member| member.role)),
            None => None,
        };
        Ok(UserDataExport {
            organization_id: user.organization_id,
            organization_role,
            user,
            sessions,
            emails,
        })
    }

    /// Erases the caller's account after re-checking the password (`PasswordMismatch` on
    /// `password` when wrong, counted like other re-authentications). Refused with
    /// `ErasureBlocked` while `blockers` names anything still running on the person, and with
    /// `LastOwner` while the caller is the only owner of an organization (ownership must be
    /// handed over first); a refusal changes nothing.
    pub async fn erase_account(
        &self,
        actor: &Principal,
        password: &str,
        blockers: &dyn ErasureBlockers,
    ) -> Result<(), IdentityError> {
        let caller = actor.require_user()?;
        let stored = self
            .reauthenticate_counted(caller.user_id, password, "password")
            .await?;
        let blocking = blockers.blockers(caller.user_id).await?;
        if !blocking.is_empty() {
            return Err(IdentityError::ErasureBlocked { blockers: blocking });
        }
        let user: User = bson::from_document(stored)?;
        if let Some(organization_id) = user.organization_id {
            match self
                .remove_organization_member(actor, organization_id, user.id)
                .await
            {
                Ok(_)
                | Err(IdentityError::NotAMember)
                | Err(IdentityError::OrganizationNotFound) => {}
                Err(error) => return Err(error),
            }
        }
        let now = self.now();
        let placeholder_email = format!("erased-{}@erased.invalid", user.id.to_hex());
        self.users
            .update_one(
                doc! { "_id": user.id },
                doc! {
                    "$set": {
                        "email": placeholder_email,
                        "full_name": "Erased user",
                        // Not a PHC string, so no password can ever verify against it.
                        "password_hash": "!erased",
                        "status": UserStatus::Suspended.as_str(),
                        "email_verified": false,
                        "two_factor_enabled": false,
                        "deleted_at": now,
                        "updated_at": now,
                    },
                    "$unset": {
                        "profile": "", "client_data": "", "tester_data": "", "notification_preferences": "",
                        "two_factor_secret": "", "two_factor_recovery_codes": "", "two_factor_last_step": "",
                        "email_verification_token": "", "email_verification_expires": "",
                        "password_reset_token": "", "password_reset_expires": "",
                        "organization_id": "", "organization_role": "",
                    },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        self.revoke_all_sessions(user.id, "account_erased").await?;
        self.outbox
            .delete_many(doc! { "user_id": user.id, "status": "pending" })
            .await?;
        self.forget_invitations_of(&user).await?;
        self.clear_login_budgets(&user.email).await?;
        tracing::info!(user_id = %user.id, "account erased");
        Ok(())
    }
}
