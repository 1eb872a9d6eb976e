//! The email outbox: messages identity wants sent (verification, password reset, two-factor
//! changes, organization invitations), stored for the notifications domain to deliver later. Writing to the outbox instead
//! of sending inline keeps registration and reset fast and lets delivery be retried.
//!
//! A stored message holds only what sending needs: recipient, kind, and — for link e-mails — the
//! single-use token sealed with AES-256-GCM (`SecretBox`), never a clear link or body. The text is
//! rendered when the delivery worker reads it ([`IdentityService::pending_outbox_messages`]). A
//! message is deleted once sent, and a TTL index deletes it when its link expires (notices get
//! [`NOTICE_DELIVERY_WINDOW`]), so the collection never keeps live links around.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use mongodb::options::FindOptions;
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
            status: "pending".to_owned(),
            attempts: 0,
            expires_at,
            created_at: self.now(),
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
            .find(doc! { "status": "pending", "expires_at": { "$gt": self.now() } })
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
}
