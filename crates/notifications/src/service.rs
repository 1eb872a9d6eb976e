//! [`NotificationService`]: the `notifications` collection (seed section 8 plus priority, expiry,
//! group key, dismissal and a per-recipient sequence), the reads and changes a recipient makes,
//! and the worker that turns domain events into notifications.
//!
//! Delivery is exactly once per (event, recipient): the worker claims an event by compare-and-set
//! on its lease (so several gateway instances share the work), then in ONE transaction inserts
//! the recipients' notifications, each numbered by its recipient's sequence counter, and marks the
//! event processed on the lease it holds. A crash before the commit leaves nothing and the event
//! is taken again when the lease runs out; the unique `(event_id, user_id)` index is the
//! backstop against a second insert.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use foundation::clock::add_duration;
use foundation::events::{DomainEvents, RecipientGroup, RecordedEvent};
use foundation::transaction_retry::{in_transaction, is_transient_driver_error, TransactionError};
use foundation::{Clock, CollectionSpec};
use futures_util::future::BoxFuture;
use futures_util::TryStreamExt;
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{ClientSession, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use crate::error::NotificationError;
use crate::kind::{render, wants, Channel, NotificationType, Priority, NOTIFICATION_TYPES};

/// The notifications collection.
pub const NOTIFICATIONS: &str = "notifications";
/// One counter per recipient numbering their notifications (`_id` is the user's id).
pub const NOTIFICATION_SEQUENCES: &str = "notification_sequences";

impl TransactionError for NotificationError {
    fn is_transient(&self) -> bool {
        matches!(self, NotificationError::Database(error) if is_transient_driver_error(error))
    }
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The recipient.
    pub user_id: ObjectId,
    /// The domain event it came from.
    #[serde(default)]
    pub event_id: Option<ObjectId>,
    /// Its place among the recipient's notifications: 1, 2, 3, ... in commit order, so a
    /// subscriber that saw number n missed exactly those after n.
    pub sequence: i64,
    /// The type.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// Short title.
    pub title: String,
    /// The text.
    pub message: String,
    /// The job concerned.
    #[serde(default)]
    pub related_job_id: Option<ObjectId>,
    /// The submission concerned.
    #[serde(default)]
    pub related_submission_id: Option<ObjectId>,
    /// The other person involved.
    #[serde(default)]
    pub related_user_id: Option<ObjectId>,
    /// The frontend route to open.
    #[serde(default)]
    pub action_url: Option<String>,
    /// The button's label.
    #[serde(default)]
    pub action_text: Option<String>,
    /// Read yet.
    pub is_read: bool,
    /// When it was read.
    #[serde(default)]
    pub read_at: Option<DateTime>,
    /// Whether the recipient wants it by e-mail (their preference when it was created); the
    /// e-mail worker sends only those.
    #[serde(default)]
    pub email_wanted: bool,
    /// Whether the e-mail went out (set by the e-mail worker).
    #[serde(default)]
    pub sent_email: bool,
    /// When the e-mail went out.
    #[serde(default)]
    pub email_sent_at: Option<DateTime>,
    /// Whether it shows in the app (the recipient's in-app preference when it was created; an
    /// e-mail-only notification is kept for the e-mail worker but never listed).
    #[serde(default = "shown")]
    pub shown_in_app: bool,
    /// How urgent.
    pub priority: Priority,
    /// Notifications sharing it are one topic.
    #[serde(default)]
    pub group_key: Option<String>,
    /// Dismissed by the recipient: no longer listed or counted.
    #[serde(default)]
    pub dismissed_at: Option<DateTime>,
    /// Created.
    pub created_at: DateTime,
    /// Removed by the TTL index after this.
    pub expires_at: DateTime,
}

fn shown() -> bool {
    true
}

/// A user's notification switches by name (`email_new_job`, `in_app_payout_held`, ...); a
/// name absent is on.
pub type Switches = BTreeMap<String, bool>;

/// Recipients handled per query and insert when one event reaches many people (a job announced
/// to every qualifying tester).
const DELIVERY_CHUNK: usize = 500;

/// Resolves whom an event is for and what they want, from the domain that knows (identity),
/// wired by the gateway so this crate depends on no other domain.
pub trait RecipientDirectory: Send + Sync + Debug {
    /// The owners and admins of `organization_id`.
    fn organization_managers(
        &self,
        organization_id: ObjectId,
    ) -> BoxFuture<'_, Result<Vec<ObjectId>, String>>;

    /// The testers who qualify for job `job_id` (a public job's announcement).
    fn qualified_testers(&self, job_id: ObjectId) -> BoxFuture<'_, Result<Vec<ObjectId>, String>>;

    /// The notification switches (`users.notification_preferences` booleans) of each of
    /// `user_ids` that exists; a user missing from the answer receives nothing.
    fn switches<'a>(
        &'a self,
        user_ids: &'a [ObjectId],
    ) -> BoxFuture<'a, Result<HashMap<ObjectId, Switches>, String>>;
}

/// How notifications are kept and delivered.
#[derive(Debug, Clone)]
pub struct NotificationSettings {
    /// How long a notification is kept (the TTL; 30 days by default).
    pub retention: Duration,
    /// How long a worker holds an event before another may take it over.
    pub lease: Duration,
    /// Events taken per pass.
    pub batch_size: i64,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 24 * 60 * 60),
            lease: Duration::from_secs(60),
            batch_size: 100,
        }
    }
}

/// A page of a recipient's notifications, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationPage {
    /// The notifications.
    pub notifications: Vec<Notification>,
    /// Whether older ones follow.
    pub has_next_page: bool,
    /// How many match the filter in all.
    pub total_count: u64,
}

/// One preference: a type on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    /// The type.
    pub kind: NotificationType,
    /// The channel.
    pub channel: Channel,
    /// On or off.
    pub enabled: bool,
}

/// The notifications domain's API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NotificationService {
    client: mongodb::Client,
    notifications: Collection<Notification>,
    sequences: Collection<Document>,
    events: DomainEvents,
    settings: Arc<NotificationSettings>,
    clock: Arc<dyn Clock>,
    directory: Arc<dyn RecipientDirectory>,
    worker_id: String,
}

impl NotificationService {
    /// A service over `database`; `directory` resolves recipients and preferences.
    pub fn new(
        database: &Database,
        settings: NotificationSettings,
        clock: Arc<dyn Clock>,
        directory: Arc<dyn RecipientDirectory>,
    ) -> Self {
        Self {
            client: database.client().clone(),
            notifications: database.collection(NOTIFICATIONS),
            sequences: database.collection(NOTIFICATION_SEQUENCES),
            events: DomainEvents::new(database),
            settings: Arc::new(settings),
            clock,
            directory,
            // Names this process's leases; a restarted process is a new worker.
            worker_id: format!("notifications-{}", ObjectId::new().to_hex()),
        }
    }

    /// The collections this crate owns (and the outbox it consumes), with indexes and validators.
    pub fn collections() -> Vec<CollectionSpec> {
        let index = |keys: Document| IndexModel::builder().keys(keys).build();
        let unique = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_string())
                        .build(),
                )
                .build()
        };
        let notifications = CollectionSpec::new(NOTIFICATIONS)
            // Seed section 8's four indexes.
            .index(index(doc! { "user_id": 1, "created_at": -1 }))
            .index(index(doc! { "user_id": 1, "is_read": 1 }))
            .index(index(doc! { "type": 1 }))
            .index(index(doc! { "created_at": -1 }))
            // One notification per event and recipient, however often the event is replayed.
            .index(unique(
                doc! { "event_id": 1, "user_id": 1 },
                "one_per_event_and_recipient",
            ))
            // Pages and replays follow the recipient's sequence.
            .index(unique(
                doc! { "user_id": 1, "sequence": 1 },
                "recipient_sequence",
            ))
            // Expired notifications are removed by MongoDB itself.
            .index(
                IndexModel::builder()
                    .keys(doc! { "expires_at": 1 })
                    .options(
                        IndexOptions::builder()
                            .expire_after(Duration::from_secs(0))
                            .build(),
                    )
                    .build(),
            )
            .validator(doc! { "$jsonSchema": {
                "bsonType": "object",
                "required": ["user_id", "sequence", "type", "title", "message", "is_read",
                             "sent_email", "priority", "created_at", "expires_at"],
                "properties": {
                    "user_id": { "bsonType": "objectId" },
                    "event_id": { "bsonType": ["objectId", "null"] },
                    "sequence": { "bsonType": "long", "minimum": 1 },
                    "type": { "bsonType": "string", "maxLength": 64 },
                    "title": { "bsonType": "string", "maxLength": 200 },
                    "message": { "bsonType": "string", "maxLength": 2000 },
                    "related_job_id": { "bsonType": ["objectId", "null"] },
                    "related_submission_id": { "bsonType": ["objectId", "null"] },
                    "related_user_id": { "bsonType": ["objectId", "null"] },
                    "action_url": { "bsonType": ["string", "null"], "maxLength": 500 },
                    "action_text": { "bsonType": ["string", "null"], "maxLength": 100 },
                    "is_read": { "bsonType": "bool" },
                    "read_at": { "bsonType": ["date", "null"] },
                    "sent_email": { "bsonType": "bool" },
                    "email_sent_at": { "bsonType": ["date", "null"] },
                    "priority": { "enum": ["low", "normal", "high", "urgent"] },
                    "group_key": { "bsonType": ["string", "null"], "maxLength": 200 },
                    "dismissed_at": { "bsonType": ["date", "null"] },
                    "created_at": { "bsonType": "date" },
                    "expires_at": { "bsonType": "date" },
                },
            }});
        vec![
            notifications,
            CollectionSpec::new(NOTIFICATION_SEQUENCES),
            CollectionSpec::new(crate::live::RESUME_TOKENS),
            DomainEvents::collection_spec(),
        ]
    }

    fn now(&self) -> DateTime {
        self.clock.now()
    }

    // ---- Delivery -------------------------------------------------------------------------

    /// Turns the pending domain events into notifications (one pass; the gateway runs it on an
    /// interval). Returns how many notifications were created. An event that fails is left to
    /// its lease's expiry and retried then; the pass goes on with the others.
    pub async fn deliver_pending_events(&self) -> Result<usize, NotificationError> {
        let now = self.now();
        let events = self.events.pending(now, self.settings.batch_size).await?;
        let mut created = 0;
        for event in events {
            if !self
                .events
                .claim(event.id, &self.worker_id, now, self.settings.lease)
                .await?
            {
                continue;
            }
            match self.deliver(&event).await {
                Ok(count) => created += count,
                Err(error) => tracing::warn!(
                    event_id = %event.id,
                    error = %error,
                    "delivering a domain event failed; it is retried when its lease ends"
                ),
            }
        }
        Ok(created)
    }

    async fn recipients(&self, event: &RecordedEvent) -> Result<Vec<ObjectId>, NotificationError> {
        let mut recipients = event.recipients.clone();
        for group in &event.recipient_groups {
            match group {
                RecipientGroup::OrganizationManagers { organization_id } => recipients.extend(
                    self.directory
                        .organization_managers(*organization_id)
                        .await
                        .map_err(NotificationError::RecipientsUnavailable)?,
                ),
                RecipientGroup::QualifiedTesters { job_id } => recipients.extend(
                    self.directory
                        .qualified_testers(*job_id)
                        .await
                        .map_err(NotificationError::RecipientsUnavailable)?,
                ),
            }
        }
        recipients.sort();
        recipients.dedup();
        Ok(recipients)
    }

    async fn deliver(&self, event: &RecordedEvent) -> Result<usize, NotificationError> {
        let rendered = render(event);
        let mut planned = Vec::new();
        if let Some(rendered) = &rendered {
            let recipients = self.recipients(event).await?;
            let switches = self
                .directory
                .switches(&recipients)
                .await
                .map_err(NotificationError::RecipientsUnavailable)?;
            for user_id in recipients {
                let Some(switches) = switches.get(&user_id) else {
                    continue;
                };
                let in_app = wants(switches, rendered.kind, Channel::InApp);
                let email = wants(switches, rendered.kind, Channel::Email);
                if in_app || email {
                    planned.push((user_id, in_app, email));
                }
            }
        }
        let now = self.now();
        let planned = &planned;
        let rendered = &rendered;
        in_transaction(&self.client, |mut session| async move {
            let outcome = self
                .deliver_in_session(&mut session, event, rendered.as_ref(), planned, now)
                .await;
            (session, outcome)
        })
        .await
    }

    async fn deliver_in_session(
        &self,
        session: &mut ClientSession,
        event: &RecordedEvent,
        rendered: Option<&crate::kind::Rendered>,
        planned: &[(ObjectId, bool, bool)],
        now: DateTime,
    ) -> Result<usize, NotificationError> {
        let mut created = 0;
        if let Some(rendered) = rendered {
            // Batched: one query for who already has this event's notification (a replay after
            // a lost lease), one numbered counter step per new recipient, one insert for all.
            for chunk in planned.chunks(DELIVERY_CHUNK) {
                let user_ids: Vec<ObjectId> = chunk.iter().map(|planned| planned.0).collect();
                let existing: Vec<Document> = self
                    .notifications
                    .clone_with_type::<Document>()
                    .find(doc! { "event_id": event.id, "user_id": { "$in": &user_ids } })
                    .projection(doc! { "_id": 0, "user_id": 1 })
                    .batch_size(DELIVERY_CHUNK as u32)
                    .session(&mut *session)
                    .await?
                    .stream(&mut *session)
                    .try_collect()
                    .await?;
                let delivered: std::collections::HashSet<ObjectId> = existing
                    .iter()
                    .filter_map(|document| document.get_object_id("user_id").ok())
                    .collect();
                let mut batch = Vec::new();
                for &(user_id, in_app, email) in chunk {
                    if delivered.contains(&user_id) {
                        continue;
                    }
                    let sequence = self.next_sequence(session, user_id).await?;
                    batch.push(Notification {
                        id: ObjectId::new(),
                        user_id,
                        event_id: Some(event.id),
                        sequence,
                        kind: rendered.kind,
                        title: rendered.title.clone(),
                        message: rendered.message.clone(),
                        related_job_id: event.job_id,
                        related_submission_id: event.submission_id,
                        related_user_id: event.related_user_id,
                        action_url: Some(rendered.action_url.clone()),
                        action_text: Some(rendered.action_text.clone()),
                        is_read: false,
                        read_at: None,
                        email_wanted: email,
                        sent_email: false,
                        email_sent_at: None,
                        shown_in_app: in_app,
                        priority: rendered.kind.priority(),
                        group_key: Some(rendered.group_key.clone()),
                        dismissed_at: None,
                        created_at: now,
                        expires_at: add_duration(now, self.settings.retention),
                    });
                }
                if !batch.is_empty() {
                    created += batch.len();
                    self.notifications
                        .insert_many(&batch)
                        .session(&mut *session)
                        .await?;
                }
            }
        }
        if !self
            .events
            .complete(session, event.id, &self.worker_id, now)
            .await?
        {
            return Err(NotificationError::RecipientsUnavailable(
                "the event's lease passed to another worker".into(),
            ));
        }
        Ok(created)
    }

    async fn next_sequence(
        &self,
        session: &mut ClientSession,
        user_id: ObjectId,
    ) -> Result<i64, NotificationError> {
        let counter = self
            .sequences
            .find_one_and_update(doc! { "_id": user_id }, doc! { "$inc": { "last": 1_i64 } })
            .upsert(true)
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?
            .ok_or_else(|| NotificationError::Corrupt("sequence upsert returned nothing".into()))?;
        counter
            .get_i64("last")
            .map_err(|error| NotificationError::Corrupt(error.to_string()))
    }

    // ---- The recipient's reads and changes ------------------------------------------------

    fn listed(user_id: ObjectId, unread_only: bool) -> Document {
        let mut filter = doc! { "user_id": user_id, "shown_in_app": true, "dismissed_at": null };
        if unread_only {
            filter.insert("is_read", false);
        }
        filter
    }

    /// `user_id`'s notifications, newest first: `first` of them (1–100) older than sequence
    /// `before_sequence`, only unread ones when asked; dismissed ones never.
    pub async fn page(
        &self,
        user_id: ObjectId,
        first: i64,
        before_sequence: Option<i64>,
        unread_only: bool,
    ) -> Result<NotificationPage, NotificationError> {
        let filter = Self::listed(user_id, unread_only);
        let total_count = self.notifications.count_documents(filter.clone()).await?;
        let mut page_filter = filter;
        if let Some(before) = before_sequence {
            page_filter.insert("sequence", doc! { "$lt": before });
        }
        let mut notifications: Vec<Notification> = self
            .notifications
            .find(page_filter)
            .sort(doc! { "sequence": -1 })
            .limit(first + 1)
            .await?
            .try_collect()
            .await?;
        let has_next_page = notifications.len() as i64 > first;
        notifications.truncate(usize::try_from(first).unwrap_or(0));
        Ok(NotificationPage {
            notifications,
            has_next_page,
            total_count,
        })
    }

    /// `user_id`'s notifications after sequence `after`, oldest first, at most `limit`: what a
    /// subscriber that saw `after` missed.
    pub async fn after(
        &self,
        user_id: ObjectId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, NotificationError> {
        let mut filter = Self::listed(user_id, false);
        filter.insert("sequence", doc! { "$gt": after });
        Ok(self
            .notifications
            .find(filter)
            .sort(doc! { "sequence": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    /// The highest sequence `user_id` has, 0 when none: where a live subscription starts.
    pub async fn latest_sequence(&self, user_id: ObjectId) -> Result<i64, NotificationError> {
        let counter = self.sequences.find_one(doc! { "_id": user_id }).await?;
        Ok(counter
            .and_then(|counter| counter.get_i64("last").ok())
            .unwrap_or(0))
    }

    /// How many of `user_id`'s notifications are unread (and not dismissed).
    pub async fn unread_count(&self, user_id: ObjectId) -> Result<u64, NotificationError> {
        Ok(self
            .notifications
            .count_documents(Self::listed(user_id, true))
            .await?)
    }

    /// Notification `id` when `user_id` is its recipient; `NotificationNotFound` otherwise (the
    /// same answer for someone else's as for none).
    pub async fn notification(
        &self,
        user_id: ObjectId,
        id: ObjectId,
    ) -> Result<Notification, NotificationError> {
        self.notifications
            .find_one(doc! { "_id": id, "user_id": user_id, "shown_in_app": true })
            .await?
            .ok_or(NotificationError::NotificationNotFound)
    }

    /// Marks notification `id` read for its recipient `user_id` (reading it again changes
    /// nothing).
    pub async fn mark_read(
        &self,
        user_id: ObjectId,
        id: ObjectId,
    ) -> Result<Notification, NotificationError> {
        self.notifications
            .update_one(
                doc! { "_id": id, "user_id": user_id, "shown_in_app": true, "is_read": false },
                doc! { "$set": { "is_read": true, "read_at": self.now() } },
            )
            .await?;
        self.notification(user_id, id).await
    }

    /// Marks every unread notification of `user_id` read, in one command whatever their number;
    /// returns how many changed.
    pub async fn mark_all_read(&self, user_id: ObjectId) -> Result<u64, NotificationError> {
        let result = self
            .notifications
            .update_many(
                doc! { "user_id": user_id, "is_read": false },
                doc! { "$set": { "is_read": true, "read_at": self.now() } },
            )
            .await?;
        Ok(result.modified_count)
    }

    /// Dismisses notification `id` for its recipient: it leaves the list and the unread count
    /// (it counts as read). Dismissing again changes nothing.
    pub async fn dismiss(
        &self,
        user_id: ObjectId,
        id: ObjectId,
    ) -> Result<Notification, NotificationError> {
        let now = self.now();
        self.notifications
            .update_one(
                doc! { "_id": id, "user_id": user_id, "shown_in_app": true, "dismissed_at": null },
                vec![doc! { "$set": {
                    "dismissed_at": now,
                    "is_read": true,
                    "read_at": { "$ifNull": ["$read_at", now] },
                }}],
            )
            .await?;
        self.notification(user_id, id).await
    }

    /// Every type on every channel with the user's choice (`switches` as identity keeps them).
    pub fn preferences(switches: &BTreeMap<String, bool>) -> Vec<Preference> {
        NOTIFICATION_TYPES
            .iter()
            .flat_map(|&kind| {
                [Channel::InApp, Channel::Email].map(|channel| Preference {
                    kind,
                    channel,
                    enabled: switches
                        .get(&kind.preference_key(channel))
                        .copied()
                        .unwrap_or(true),
                })
            })
            .collect()
    }

    /// The switch names and values that store `changes` (checked: at most one per type and
    /// channel, at most every type on every channel).
    pub fn switch_changes(
        changes: &[Preference],
    ) -> Result<Vec<(String, bool)>, NotificationError> {
        let most = NOTIFICATION_TYPES.len() * 2;
        if changes.len() > most {
            return Err(NotificationError::InvalidInput {
                field: "preferences",
                reason: format!("at most {most} preferences"),
            });
        }
        let mut seen = std::collections::HashSet::new();
        let mut switches = Vec::with_capacity(changes.len());
        for change in changes {
            if change.kind == NotificationType::Other {
                return Err(NotificationError::InvalidInput {
                    field: "preferences.type",
                    reason: "OTHER is not a notification type".into(),
                });
            }
            if !seen.insert((change.kind, change.channel)) {
                return Err(NotificationError::InvalidInput {
                    field: "preferences",
                    reason: format!("{} on one channel is given twice", change.kind.as_str()),
                });
            }
            switches.push((change.kind.preference_key(change.channel), change.enabled));
        }
        Ok(switches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_notification_reads_back_as_written() {
        let now = DateTime::from_millis(1_000);
        let notification = Notification {
            id: ObjectId::new(),
            user_id: ObjectId::new(),
            event_id: Some(ObjectId::new()),
            sequence: 3,
            kind: NotificationType::JobAssigned,
            title: "t".into(),
            message: "m".into(),
            related_job_id: None,
            related_submission_id: None,
            related_user_id: None,
            action_url: Some("/jobs".into()),
            action_text: None,
            is_read: false,
            read_at: None,
            email_wanted: true,
            sent_email: false,
            email_sent_at: None,
            shown_in_app: true,
            priority: Priority::Normal,
            group_key: None,
            dismissed_at: None,
            created_at: now,
            expires_at: now,
        };
        let stored = bson::to_document(&notification).unwrap();
        assert_eq!(stored.get_str("type").unwrap(), "job_assigned");
        let read: Notification = bson::from_document(stored).unwrap();
        assert_eq!(read, notification);
    }
}
