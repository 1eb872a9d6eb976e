//! The email outbox: messages identity wants sent (verification, password reset), stored for the
//! notifications domain to deliver later. Writing to the outbox instead of sending inline keeps
//! registration and reset fast and lets delivery be retried.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use mongodb::options::FindOptions;
use serde::{Deserialize, Serialize};

use crate::error::IdentityError;
use crate::service::IdentityService;
use crate::user::User;

/// What an outbox message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// "Confirm your email address" with a 24-hour link.
    EmailVerification,
    /// "Reset your password" with a 1-hour link.
    PasswordReset,
}

/// One queued email. It contains the raw single-use token inside `link`, because delivering the
/// link is its whole purpose; the users collection only keeps the token's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Purpose.
    pub kind: OutboxKind,
    /// Recipient user.
    pub user_id: ObjectId,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The action link (contains the token).
    pub link: String,
    /// `pending` until delivered, then `sent`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When the link stops working.
    pub expires_at: DateTime,
    /// When queued.
    pub created_at: DateTime,
}

impl IdentityService {
    pub(crate) async fn enqueue_email(
        &self,
        kind: OutboxKind,
        user: &User,
        token: &str,
        expires_at: DateTime,
    ) -> Result<(), IdentityError> {
        let base = self.settings.public_base_url.trim_end_matches('/');
        let (subject, path, action) = match kind {
            OutboxKind::EmailVerification => (
                "Confirm your email address",
                "verify-email",
                "confirm your email address",
            ),
            OutboxKind::PasswordReset => (
                "Reset your password",
                "reset-password",
                "choose a new password",
            ),
        };
        let link = format!("{base}/{path}?token={token}");
        let body = format!(
            "Hello {},\n\nOpen this link to {action}:\n{link}\n\nIf you did not ask for this, ignore this email.\n",
            user.full_name
        );
        let message = OutboxMessage {
            id: ObjectId::new(),
            kind,
            user_id: user.id,
            to: user.email.clone(),
            subject: subject.to_owned(),
            body,
            link,
            status: "pending".to_owned(),
            attempts: 0,
            expires_at,
            created_at: self.now(),
        };
        self.outbox.insert_one(bson::to_document(&message)?).await?;
        Ok(())
    }

    /// Pending outbox messages, oldest first, for the delivery worker.
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
            .find(doc! { "status": "pending" })
            .with_options(options)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .collect()
    }

    /// Marks an outbox message as delivered.
    pub async fn mark_outbox_message_sent(
        &self,
        message_id: ObjectId,
    ) -> Result<(), IdentityError> {
        self.outbox
            .update_one(
                doc! { "_id": message_id },
                doc! { "$set": { "status": "sent", "sent_at": self.now() }, "$inc": { "attempts": 1_i64 } },
            )
            .await?;
        Ok(())
    }
}
