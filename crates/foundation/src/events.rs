//! Domain events, the transactional outbox every domain crate writes to: an event is recorded
//! with [`DomainEvents::record`] in the same MongoDB transaction as the state change it reports,
//! so the change and its event commit together or not at all.
//!
//! The `domain_events` collection lives here because every domain writes it and none may own
//! another's collection; the notifications crate consumes it only through [`DomainEvents::claim`],
//! [`DomainEvents::pending`] and [`DomainEvents::complete`], never by touching the documents.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use mongodb::options::IndexOptions;
use mongodb::{ClientSession, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use crate::clock::add_duration;
use crate::collection::CollectionSpec;

/// The outbox collection's name.
pub const DOMAIN_EVENTS: &str = "domain_events";

/// What happened. Serialized as the snake_case names stored in `domain_events.kind`; a kind a
/// newer version wrote reads as `Other`, which consumers skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainEventKind {
    /// A job was published (recipients: the qualifying or invited testers).
    JobPublished,
    /// A tester claimed a seat on a job (recipient: the job's client).
    SeatClaimed,
    /// A tester handed a submission in (the client and the organization's owners and admins).
    SubmissionSubmitted,
    /// The client approved a submission (the tester).
    SubmissionApproved,
    /// The client rejected a submission (the tester).
    SubmissionRejected,
    /// The client asked for a revision (the tester).
    RevisionRequested,
    /// The platform approved a submission its client left unreviewed (tester and client).
    SubmissionAutoApproved,
    /// A payout reached the tester (`payment_received`).
    PaymentReceived,
    /// A payout waits because the tester's payout account is not verified.
    PayoutHeld,
    /// A refund reached the client.
    RefundProcessed,
    /// The tester's payout account can receive transfers.
    PayoutAccountVerified,
    /// The tester's payout account was restricted by the provider.
    PayoutAccountRestricted,
    /// A platform admin suspended the account.
    AccountSuspended,
    /// A rating about the recipient was revealed.
    RatingReceived,
    /// A dispute the recipient is part of moved.
    DisputeUpdate,
    /// A seated tester's deadline is 24 hours away.
    DeadlineReminder,
    /// A submission will be approved automatically in 2 days.
    ReviewReminder,
    /// Written by a newer version; skipped.
    #[serde(other)]
    Other,
}

/// Whom an event is for, beyond the users it names: groups only another domain can resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "group", rename_all = "snake_case")]
pub enum RecipientGroup {
    /// The owners and admins of an organization (identity resolves them).
    OrganizationManagers {
        /// The organization.
        organization_id: ObjectId,
    },
    /// The testers who qualify for a public job as it is when the event is delivered (identity
    /// knows the testers, the marketplace decides who qualifies).
    QualifiedTesters {
        /// The job.
        job_id: ObjectId,
    },
}

/// One event to record. Build it with [`DomainEvent::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainEvent {
    /// What happened.
    pub kind: DomainEventKind,
    /// Users the domain knows should hear about it.
    pub recipients: Vec<ObjectId>,
    /// Groups another domain resolves into users when the event is delivered.
    pub recipient_groups: Vec<RecipientGroup>,
    /// The job concerned, if any.
    pub job_id: Option<ObjectId>,
    /// The submission concerned, if any.
    pub submission_id: Option<ObjectId>,
    /// The other person involved (who claimed, who submitted, who rated), if any.
    pub related_user_id: Option<ObjectId>,
    /// Facts the notification's text uses (a job's title, an amount in cents); small.
    pub payload: Document,
}

impl DomainEvent {
    /// An event of `kind` for `recipients`.
    pub fn new(kind: DomainEventKind, recipients: impl IntoIterator<Item = ObjectId>) -> Self {
        Self {
            kind,
            recipients: recipients.into_iter().collect(),
            recipient_groups: Vec::new(),
            job_id: None,
            submission_id: None,
            related_user_id: None,
            payload: Document::new(),
        }
    }

    /// Also for the members of `group`.
    pub fn with_group(mut self, group: RecipientGroup) -> Self {
        self.recipient_groups.push(group);
        self
    }

    /// About job `job_id`.
    pub fn with_job(mut self, job_id: ObjectId) -> Self {
        self.job_id = Some(job_id);
        self
    }

    /// About submission `submission_id`.
    pub fn with_submission(mut self, submission_id: ObjectId) -> Self {
        self.submission_id = Some(submission_id);
        self
    }

    /// Caused by or concerning `user_id`.
    pub fn with_related_user(mut self, user_id: ObjectId) -> Self {
        self.related_user_id = Some(user_id);
        self
    }

    /// With `payload` as the facts the notification's text uses.
    pub fn with_payload(mut self, payload: Document) -> Self {
        self.payload = payload;
        self
    }
}

/// An event as stored, read back by its consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Identifier; consumers key what they derive from it (one notification per event and user).
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// What happened.
    pub kind: DomainEventKind,
    /// Users named by the domain.
    #[serde(default)]
    pub recipients: Vec<ObjectId>,
    /// Groups to resolve.
    #[serde(default)]
    pub recipient_groups: Vec<RecipientGroup>,
    /// The job concerned.
    #[serde(default)]
    pub job_id: Option<ObjectId>,
    /// The submission concerned.
    #[serde(default)]
    pub submission_id: Option<ObjectId>,
    /// The other person involved.
    #[serde(default)]
    pub related_user_id: Option<ObjectId>,
    /// Facts for the text.
    #[serde(default)]
    pub payload: Document,
    /// When the change committed (the recording domain's clock).
    pub created_at: DateTime,
}

/// The handle on the `domain_events` collection every domain service keeps. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DomainEvents {
    collection: Collection<Document>,
}

impl DomainEvents {
    /// The outbox of `database`.
    pub fn new(database: &Database) -> Self {
        Self {
            collection: database.collection(DOMAIN_EVENTS),
        }
    }

    /// The collection's indexes and validator, created by the gateway at start-up.
    pub fn collection_spec() -> CollectionSpec {
        CollectionSpec::new(DOMAIN_EVENTS)
            // The consumer's scan: unprocessed events, oldest first.
            .index(
                IndexModel::builder()
                    .keys(doc! { "processed_at": 1, "_id": 1 })
                    .build(),
            )
            // Processed events are kept a week for inspection, then dropped.
            .index(
                IndexModel::builder()
                    .keys(doc! { "purge_at": 1 })
                    .options(
                        IndexOptions::builder()
                            .expire_after(Duration::from_secs(0))
                            .build(),
                    )
                    .build(),
            )
            .validator(doc! { "$jsonSchema": {
                "bsonType": "object",
                "required": ["kind", "recipients", "created_at"],
                "properties": {
                    "kind": { "bsonType": "string", "maxLength": 64 },
                    "recipients": { "bsonType": "array", "maxItems": 10_000, "items": { "bsonType": "objectId" } },
                    "recipient_groups": { "bsonType": "array", "maxItems": 16 },
                    "payload": { "bsonType": "object" },
                    "created_at": { "bsonType": "date" },
                },
            }})
    }

    /// Records `event` inside the caller's transaction (`session` must be in one), so it commits
    /// with the change it reports. Returns the event's id.
    pub async fn record(
        &self,
        session: &mut ClientSession,
        event: DomainEvent,
        now: DateTime,
    ) -> Result<ObjectId, mongodb::error::Error> {
        let id = ObjectId::new();
        let document = Self::document(id, event, now)?;
        self.collection
            .insert_one(document)
            .session(&mut *session)
            .await?;
        Ok(id)
    }

    fn document(
        id: ObjectId,
        event: DomainEvent,
        now: DateTime,
    ) -> Result<Document, mongodb::error::Error> {
        let mut recipients = event.recipients;
        recipients.sort();
        recipients.dedup();
        let groups = bson::to_bson(&event.recipient_groups)
            .map_err(|error| mongodb::error::Error::custom(error.to_string()))?;
        let kind = bson::to_bson(&event.kind)
            .map_err(|error| mongodb::error::Error::custom(error.to_string()))?;
        Ok(doc! {
            "_id": id,
            "kind": kind,
            "recipients": recipients,
            "recipient_groups": groups,
            "job_id": event.job_id,
            "submission_id": event.submission_id,
            "related_user_id": event.related_user_id,
            "payload": event.payload,
            "created_at": now,
            "processed_at": null,
            "lease_owner": null,
            "lease_until": null,
        })
    }

    /// Up to `limit` unprocessed events whose lease is free at `now`, oldest first. Reading
    /// them claims nothing: call [`DomainEvents::claim`] on each.
    pub async fn pending(
        &self,
        now: DateTime,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, mongodb::error::Error> {
        let documents: Vec<Document> = self
            .collection
            .find(doc! {
                "processed_at": null,
                "$or": [ { "lease_until": null }, { "lease_until": { "$lte": now } } ],
            })
            .sort(doc! { "processed_at": 1, "_id": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(documents
            .into_iter()
            .filter_map(|document| bson::from_document(document).ok())
            .collect())
    }

    /// Claims event `id` for `owner` until `now + lease`, by compare-and-set on a free lease.
    /// `false` when another consumer holds it or it is processed: only one consumer works on an
    /// event at a time, and a consumer that died is replaced once its lease runs out.
    pub async fn claim(
        &self,
        id: ObjectId,
        owner: &str,
        now: DateTime,
        lease: Duration,
    ) -> Result<bool, mongodb::error::Error> {
        let result = self
            .collection
            .update_one(
                doc! {
                    "_id": id,
                    "processed_at": null,
                    "$or": [ { "lease_until": null }, { "lease_until": { "$lte": now } } ],
                },
                doc! { "$set": { "lease_owner": owner, "lease_until": add_duration(now, lease) } },
            )
            .await?;
        Ok(result.modified_count == 1)
    }

    /// Marks event `id` processed, inside the consumer's transaction (so what the consumer
    /// derived commits with it), by compare-and-set on the lease `owner` holds. `false` when the
    /// lease was lost: the caller aborts its transaction and leaves the event to the new owner.
    pub async fn complete(
        &self,
        session: &mut ClientSession,
        id: ObjectId,
        owner: &str,
        now: DateTime,
    ) -> Result<bool, mongodb::error::Error> {
        const KEPT_AFTER_PROCESSING: Duration = Duration::from_secs(7 * 24 * 60 * 60);
        let result = self
            .collection
            .update_one(
                doc! { "_id": id, "processed_at": null, "lease_owner": owner },
                doc! { "$set": {
                    "processed_at": now,
                    "purge_at": add_duration(now, KEPT_AFTER_PROCESSING),
                }},
            )
            .session(&mut *session)
            .await?;
        Ok(result.modified_count == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_event_lists_each_recipient_once_and_starts_unclaimed() {
        let tester = ObjectId::new();
        let client = ObjectId::new();
        let organization_id = ObjectId::new();
        let event = DomainEvent::new(
            DomainEventKind::SubmissionSubmitted,
            [client, tester, client],
        )
        .with_group(RecipientGroup::OrganizationManagers { organization_id })
        .with_payload(doc! { "job_title": "Checkout" });
        let document =
            DomainEvents::document(ObjectId::new(), event, DateTime::from_millis(1_000)).unwrap();
        let mut expected = vec![client, tester];
        expected.sort();
        let recipients: Vec<ObjectId> = document
            .get_array("recipients")
            .unwrap()
            .iter()
            .map(|value| value.as_object_id().unwrap())
            .collect();
        assert_eq!(recipients, expected);
        assert_eq!(document.get_str("kind").unwrap(), "submission_submitted");
        assert_eq!(
            document.get_array("recipient_groups").unwrap()[0]
                .as_document()
                .unwrap()
                .get_str("group")
                .unwrap(),
            "organization_managers"
        );
        assert!(document.get("processed_at").unwrap().as_null().is_some());
    }

    #[test]
    fn a_kind_written_by_a_newer_version_reads_as_other() {
        let kind: DomainEventKind =
            bson::from_bson(bson::Bson::String("kind_from_the_future".into())).unwrap();
        assert_eq!(kind, DomainEventKind::Other);
    }
}
