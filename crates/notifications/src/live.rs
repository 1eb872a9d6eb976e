//! Live fan-out: ONE change stream per gateway instance on `notifications`, dispatched in memory
//! to the subscribers of this instance by recipient, so the store carries one stream whatever
//! the number of subscribers, and a notification created by any instance reaches subscribers on
//! every instance. The stream's resume token is stored (`change_stream_resume_tokens`, one
//! document per instance name), so a restarted instance resumes where it stopped.
//!
//! Subscribers get [`LiveChange`]s through `foundation::fanout`'s bounded queues; one that falls
//! behind is dropped (its stream ends) instead of slowing the others, and reconnects with its
//! cursor, which replays what it missed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Document};
use foundation::fanout::{Fanout, Subscription};
use futures_util::StreamExt;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::options::FullDocumentType;
use mongodb::{Collection, Database};

use crate::service::{Notification, NOTIFICATIONS};

/// How long a change stream's `getMore` waits on the store when nothing happens.
pub const IDLE_AWAIT: Duration = Duration::from_secs(30);

/// Where each instance keeps its change stream's resume token.
pub const RESUME_TOKENS: &str = "change_stream_resume_tokens";

/// What a subscriber hears.
#[derive(Debug, Clone)]
pub enum LiveChange {
    /// A notification for the subscriber was created.
    Added(Arc<Notification>),
    /// One of the subscriber's notifications changed (read, dismissed).
    Changed,
}

/// The in-memory side of the fan-out. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LiveNotifications {
    subscribers: Fanout<ObjectId, LiveChange>,
    /// Whether the change stream is open.
    streaming: Arc<AtomicBool>,
}

/// One subscriber's queue of its recipient's changes; dropping it unregisters it.
pub type LiveSubscription = Subscription<ObjectId, LiveChange>;

impl LiveNotifications {
    /// A hub with no subscribers; [`LiveNotifications::run`] feeds it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a subscriber for `user_id`'s changes, from now on.
    pub fn subscribe(&self, user_id: ObjectId) -> LiveSubscription {
        self.subscribers.subscribe(user_id)
    }

    /// How many subscribers this instance serves.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.subscriber_count()
    }

    /// Whether the change stream is open.
    pub fn is_streaming(&self) -> bool {
        self.streaming.load(Ordering::SeqCst)
    }

    /// Runs the instance's change stream until the process stops, reopening it (from the stored
    /// token) after an error. `instance` names the token document.
    pub async fn run(self, database: Database, instance: String) {
        let tokens: Collection<Document> = database.collection(RESUME_TOKENS);
        let notifications: Collection<Notification> = database.collection(NOTIFICATIONS);
        loop {
            if let Err(error) = self.stream_once(&notifications, &tokens, &instance).await {
                tracing::warn!(error = %error, "notifications change stream failed; reopening");
            }
            self.streaming.store(false, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn stored_token(tokens: &Collection<Document>, instance: &str) -> Option<ResumeToken> {
        let stored = tokens.find_one(doc! { "_id": instance }).await.ok()??;
        let token = stored.get("token")?.clone();
        bson::from_bson(token).ok()
    }

    async fn stream_once(
        &self,
        notifications: &Collection<Notification>,
        tokens: &Collection<Document>,
        instance: &str,
    ) -> Result<(), mongodb::error::Error> {
        let pipeline = [doc! { "$match": {
            "operationType": { "$in": ["insert", "update", "replace"] }
        }}];
        let open = |token: Option<ResumeToken>| {
            let mut watch = notifications
                .watch()
                .pipeline(pipeline.clone())
                .full_document(FullDocumentType::UpdateLookup)
                // An idle stream asks the store again twice a minute, not every second.
                .max_await_time(IDLE_AWAIT);
            if let Some(token) = token {
                watch = watch.resume_after(token);
            }
            watch
        };
        let mut stream = match Self::stored_token(tokens, instance).await {
            Some(token) => match open(Some(token)).await {
                Ok(stream) => stream,
                // The token is older than the store's history: start from now. Subscribers
                // reconnect with their cursors, which replay what they missed.
                Err(error) => {
                    tracing::warn!(error = %error, "stored resume token refused; streaming from now");
                    open(None).await?
                }
            },
            None => open(None).await?,
        };
        self.streaming.store(true, Ordering::SeqCst);
        let mut saved_at: Option<Instant> = None;
        while let Some(event) = stream.next().await {
            self.dispatch_event(event?);
            // At most one token write a second: a restart may replay a second's changes, which
            // subscribers (by sequence) ignore, instead of a write per notification.
            if saved_at.is_none_or(|saved| saved.elapsed() >= Duration::from_secs(1)) {
                if let Some(token) = stream.resume_token() {
                    let token = bson::to_bson(&token)
                        .map_err(|error| mongodb::error::Error::custom(error.to_string()))?;
                    tokens
                        .update_one(
                            doc! { "_id": instance },
                            doc! { "$set": { "token": token, "saved_at": bson::DateTime::now() } },
                        )
                        .upsert(true)
                        .await?;
                }
                saved_at = Some(Instant::now());
            }
        }
        Ok(())
    }

    fn dispatch_event(&self, event: ChangeStreamEvent<Notification>) {
        let Some(notification) = event.full_document else {
            return;
        };
        let user_id = notification.user_id;
        if !notification.shown_in_app {
            return;
        }
        let change = match event.operation_type {
            OperationType::Insert => LiveChange::Added(Arc::new(notification)),
            _ => LiveChange::Changed,
        };
        self.subscribers.dispatch(&user_id, change);
    }
}
