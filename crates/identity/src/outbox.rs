//! The email outbox: messages identity wants sent (verification, password reset, two-factor
//! changes, organization invitations), stored for the notifications domain to deliver later. Writing to the outbox instead
//! of sending inline keeps registration and reset fast and lets delivery be retried.
//!
//! A stored message holds only what sending needs: recipient, kind, and — for link e-mails — the
//! single-use token sealed with AES-256-GCM (`SecretBox`), never a clear link or body. The text is
//! rendered when the delivery worker reads it ([`IdentityService::pending_outbox_messages`]). A
//! message is deleted once sent, and a TTL index deletes it when its link expires (notices get
//! [`NOTICE_DELIVERY_WINDOW`]), so the collection never keeps live links around.
//!
//! Delivery is shared by every gateway instance: [`IdentityService::claim_outbox_messages`] takes
//! a lease on each message by one conditional update (`findAndModify`), so two workers never hold
//! the same message; only the lease holder can then record the outcome. A failed attempt is
//! retried at the time the worker asks for (its backoff), or the message ends `failed` with the
//! last error. A message is claimable only before its link expires, so a link is never sent late.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use mongodb::options::{FindOneAndUpdateOptions, FindOptions, ReturnDocument};
use serde::{Deserialize, Serialize};

use crate::error::IdentityError;
use crate::service::IdentityService;
use crate::user::User;

/// How long a notice without a link (two-factor turned on or off) waits for delivery before it
/// is dropped.
pub const NOTICE_DELIVERY_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What an outbox message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// "Confirm your email address" with a 24-hour link.
    EmailVerification,
    /// "Reset your password" with a 1-hour link.
    PasswordReset,
    /// "Two-factor authentication was turned on" (no link).
    TwoFactorEnabled,
    /// "Two-factor authentication was turned off" (no link).
    TwoFactorDisabled,
    /// "You are invited to join an organization" with a 7-day link; sent to an address, which
    /// may or may not have an account.
    OrganizationInvitation,
}

/// One queued email as the delivery worker sees it, rendered from the stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Identifier.
    pub id: ObjectId,
    /// Purpose.
    pub kind: OutboxKind,
    /// Recipient user; `None` for an e-mail to an address (an invitation), which is sent the
    /// same whether or not an account uses it.
    pub user_id: Option<ObjectId>,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The action link (contains the token), for verification and reset e-mails.
    pub link: Option<String>,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When the link stops working (and the message is dropped).
    pub expires_at: DateTime,
    /// When queued.
    pub created_at: DateTime,
    /// The recipient's name for the greeting, when the message is to an account.
    pub recipient_name: Option<String>,
    /// The body's one sentence (what happened or what the link does), for templates that lay
    /// the message out themselves.
    pub lead: String,
}

/// An outbox message leased to one delivery worker: until `lease_until`, no other worker can
/// claim it, and only this lease can record the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedOutboxMessage {
    /// The message, rendered.
    pub message: OutboxMessage,
    /// The lease's random identity, checked by [`IdentityService::complete_outbox_delivery`]
    /// and [`IdentityService::record_outbox_delivery_failure`].
    pub lease: String,
    /// When the lease lapses and another worker may claim the message again.
    pub lease_until: DateTime,
}

/// What became of a message after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxRetry {
    /// It will be claimable again at this time.
    Scheduled(DateTime),
    /// It will not be sent: the worker gave up, or the next attempt would come after the link
    /// expires. It stays `failed` with the last error until its TTL removes it.
    Failed,
    /// The lease had lapsed (another worker may hold the message now): nothing was recorded.
    LeaseLost,
}

/// The stored form: no link, no body, the token sealed.
#[derive(Debug, Serialize, Deserialize)]
struct StoredMessage {
    #[serde(rename = "_id")]
    id: ObjectId,
    kind: OutboxKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<ObjectId>,
    to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipient_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_token: Option<String>,
    status: String,
    attempts: i64,
    expires_at: DateTime,
    created_at: DateTime,
    /// Not claimable before this time (the retry backoff); absent on a fresh message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<DateTime>,
    /// The current lease, if a worker holds the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until: Option<DateTime>,
    /// Why the latest attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

/// The longest failure reason kept: a server's reply can be long, and the reason is for an
/// operator, not a transcript.
const MAX_ERROR_CHARS: usize = 500;

/// A message's delivery state (the stored `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutboxStatus {
    /// Waiting for (another) attempt.
    Pending,
    /// Given up; kept with `last_error` until the TTL removes it.
    Failed,
}

impl OutboxStatus {
    fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Failed => "failed",
        }
    }
}

/// Subject, page of the front end the link opens (if any) and the sentence of the body.
fn wording(kind: OutboxKind) -> (&'static str, Option<&'static str>, &'static str) {
    match kind {
        OutboxKind::EmailVerification => (
            "Confirm your email address",
            Some("verify-email"),
            "Open this link to confirm your email address:",
        ),
        OutboxKind::PasswordReset => (
            "Reset your password",
            Some("reset-password"),
            "Open this link to choose a new password:",
        ),
        OutboxKind::TwoFactorEnabled => (
            "Two-factor authentication was turned on",
            None,
            "Two-factor authentication was just turned on for your account.",
        ),
        OutboxKind::TwoFactorDisabled => (
            "Two-factor authentication was turned off",
            None,
            "Two-factor authentication was just turned off for your account.",
        ),
        OutboxKind::OrganizationInvitation => (
            "You are invited to join an organization on PeerTest Hub",
            Some("accept-invitation"),
            "You were invited to join an organization on PeerTest Hub. Sign in with this e-mail \
             address (or create an account with it and confirm it), then open this link to \
             accept or decline:",
        ),
    }
}

impl IdentityService {
    /// Queues an e-mail of `kind` to `user`; `token` (sealed before storing) for link e-mails.
    pub(crate) async fn enqueue_email(
        &self,
        kind: OutboxKind,
        user: &User,
        token: Option<&str>,
        expires_at: DateTime,
    ) -> Result<(), IdentityError> {
        self.store_message(
            kind,
            Some(user.id),
            &user.email,
            Some(&user.full_name),
            token,
            expires_at,
        )
        .await
    }

    /// Queues a link e-mail of `kind` to an address, without looking up who uses it (an
    /// invitation must be the same work whether or not the address has an account).
    pub(crate) async fn enqueue_email_to_address(
        &self,
        kind: OutboxKind,
        to: &str,
        token: &str,
        expires_at: DateTime,
    ) -> Result<(), IdentityError> {
        self.store_message(kind, None, to, None, Some(token), expires_at)
            .await
    }

    async fn store_message(
        &self,
        kind: OutboxKind,
        user_id: Option<ObjectId>,
        to: &str,
        recipient_name: Option<&str>,
        token: Option<&str>,
        expires_at: DateTime,
    ) -> Result<(), IdentityError> {
        let sealed_token = token
            .map(|token| self.secret_box.seal(token.as_bytes()))
            .transpose()?;
        let message = StoredMessage {
            id: ObjectId::new(),
            kind,
            user_id,
            to: to.to_owned(),
            recipient_name: recipient_name.map(str::to_owned),
            sealed_token,
            status: OutboxStatus::Pending.as_str().to_owned(),
            attempts: 0,
            expires_at,
            created_at: self.now(),
            next_attempt_at: None,
            lease: None,
            lease_until: None,
            last_error: None,
        };
        self.outbox.insert_one(bson::to_document(&message)?).await?;
        Ok(())
    }

    /// Queues a notice without a link (a security change the user must hear about).
    pub(crate) async fn enqueue_notice(
        &self,
        kind: OutboxKind,
        user: &User,
    ) -> Result<(), IdentityError> {
        let expires_at = foundation::clock::add_duration(self.now(), NOTICE_DELIVERY_WINDOW);
        self.enqueue_email(kind, user, None, expires_at).await
    }

    fn render(&self, stored: StoredMessage) -> Result<OutboxMessage, IdentityError> {
        let (subject, page, sentence) = wording(stored.kind);
        let link = match (page, &stored.sealed_token) {
            (Some(page), Some(sealed)) => {
                let token = String::from_utf8(self.secret_box.open(sealed)?)
                    .map_err(|_| IdentityError::Internal("sealed token is not text".into()))?;
                let base = self.settings.public_base_url.trim_end_matches('/');
                Some(format!("{base}/{page}?token={token}"))
            }
            _ => None,
        };
        let mut body = match &stored.recipient_name {
            Some(name) => format!("Hello {name},\n\n{sentence}\n"),
            None => format!("Hello,\n\n{sentence}\n"),
        };
        match &link {
            Some(link) => body.push_str(&format!(
                "{link}\n\nIf you did not ask for this, ignore this email.\n"
            )),
            None => body.push_str(
                "\nIf this was not you, reset your password and contact support at once.\n",
            ),
        }
        Ok(OutboxMessage {
            id: stored.id,
            kind: stored.kind,
            user_id: stored.user_id,
            to: stored.to,
            subject: subject.to_owned(),
            body,
            link,
            attempts: stored.attempts,
            expires_at: stored.expires_at,
            created_at: stored.created_at,
            recipient_name: stored.recipient_name,
            lead: sentence.to_owned(),
        })
    }

    /// Pending, unexpired outbox messages, oldest first, rendered for the delivery worker.
    pub async fn pending_outbox_messages(
        &self,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, IdentityError> {
        let options = FindOptions::builder()
            .sort(doc! { "created_at": 1 })
            .limit(limit.clamp(1, 1_000))
            .build();
        let documents: Vec<Document> = self
            .outbox
            .find(doc! { "status": OutboxStatus::Pending.as_str(), "expires_at": { "$gt": self.now() } })
            .with_options(options)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| self.render(bson::from_document(document)?))
            .collect()
    }

    /// Records that a message was delivered: it is deleted, with its sealed token, at once.
    pub async fn mark_outbox_message_sent(
        &self,
        message_id: ObjectId,
    ) -> Result<(), IdentityError> {
        self.outbox.delete_one(doc! { "_id": message_id }).await?;
        Ok(())
    }

    /// Leases up to `limit` messages that are due (pending, past their backoff, not leased by a
    /// live lease, link not expired), oldest first, for `lease_for`. Each is taken by one
    /// conditional update, so concurrent workers (other gateway instances) never get the same
    /// message; a worker that dies holding one lets it go when the lease lapses.
    pub async fn claim_outbox_messages(
        &self,
        limit: usize,
        lease_for: Duration,
    ) -> Result<Vec<ClaimedOutboxMessage>, IdentityError> {
        let mut claimed = Vec::new();
        for _ in 0..limit.clamp(1, 1_000) {
            let now = self.now();
            let lease = foundation::secret::generate_token();
            let lease_until = foundation::clock::add_duration(now, lease_for);
            let options = FindOneAndUpdateOptions::builder()
                .sort(doc! { "created_at": 1 })
                .return_document(ReturnDocument::After)
                .build();
            let taken = self
                .outbox
                .find_one_and_update(
                    doc! {
                        "status": OutboxStatus::Pending.as_str(),
                        "expires_at": { "$gt": now },
                        // `$not: {$gt}` also matches a message that has never been tried or
                        // leased (field absent).
                        "next_attempt_at": { "$not": { "$gt": now } },
                        "lease_until": { "$not": { "$gt": now } },
                    },
                    doc! { "$set": { "lease": &lease, "lease_until": lease_until } },
                )
                .with_options(options)
                .await?;
            let Some(document) = taken else { break };
            let stored: StoredMessage = bson::from_document(document)?;
            let id = stored.id;
            let message = match self.render(stored) {
                Ok(message) => message,
                Err(error) => {
                    // A token sealed under a key this instance does not hold can never be sent
                    // from here; failing it keeps it from blocking every later claim.
                    tracing::error!(message_id = %id, error = %error, "outbox message cannot be rendered; marked failed");
                    self.record_outbox_delivery_failure(id, &lease, &error.to_string(), None)
                        .await?;
                    continue;
                }
            };
            claimed.push(ClaimedOutboxMessage {
                message,
                lease,
                lease_until,
            });
        }
        Ok(claimed)
    }

    /// Records that the message held by `lease` was delivered: it is deleted, with its sealed
    /// token. Returns `false` (and deletes nothing) when the lease had lapsed and another worker
    /// may hold the message.
    pub async fn complete_outbox_delivery(
        &self,
        message_id: ObjectId,
        lease: &str,
    ) -> Result<bool, IdentityError> {
        let deleted = self
            .outbox
            .delete_one(doc! { "_id": message_id, "lease": lease })
            .await?;
        Ok(deleted.deleted_count == 1)
    }

    /// Records a failed attempt on the message held by `lease`: one more attempt, `error` kept
    /// (truncated), and the lease released. With `retry_after`, the message is claimable again
    /// that long from now, unless that is after its link expires; without it, or past the link,
    /// it ends `failed`.
    pub async fn record_outbox_delivery_failure(
        &self,
        message_id: ObjectId,
        lease: &str,
        error: &str,
        retry_after: Option<Duration>,
    ) -> Result<OutboxRetry, IdentityError> {
        let now = self.now();
        let Some(stored) = self
            .outbox
            .find_one(doc! { "_id": message_id, "lease": lease })
            .await?
        else {
            return Ok(OutboxRetry::LeaseLost);
        };
        let stored: StoredMessage = bson::from_document(stored)?;
        let last_error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let retry_at = retry_after
            .map(|delay| foundation::clock::add_duration(now, delay))
            .filter(|at| *at < stored.expires_at);
        let update = match retry_at {
            Some(at) => doc! {
                "$set": { "next_attempt_at": at, "last_error": &last_error },
                "$inc": { "attempts": 1_i64 },
                "$unset": { "lease": "", "lease_until": "" },
            },
            None => doc! {
                "$set": {
                    "status": OutboxStatus::Failed.as_str(),
                    "failed_at": now,
                    "last_error": &last_error,
                },
                "$inc": { "attempts": 1_i64 },
                "$unset": { "lease": "", "lease_until": "", "next_attempt_at": "" },
            },
        };
        let updated = self
            .outbox
            .update_one(doc! { "_id": message_id, "lease": lease }, update)
            .await?;
        if updated.modified_count == 0 {
            return Ok(OutboxRetry::LeaseLost);
        }
        Ok(match retry_at {
            Some(at) => OutboxRetry::Scheduled(at),
            None => OutboxRetry::Failed,
        })
    }
}
