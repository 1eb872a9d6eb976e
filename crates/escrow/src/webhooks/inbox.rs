//! The webhook inbox, `stripe_webhook_events`: one document per Stripe event (`_id` = Stripe's
//! event id), so each event is processed once however often, and however concurrently, it is
//! delivered.
//!
//! A delivery first *claims* the event: inserting its document (`status: processing`, with a
//! lease) wins for the first delivery; a later delivery finds it `processed` (nothing to do), or
//! takes it over when the earlier attempt `failed` or its lease ran out (the process died while
//! processing). A delivery that finds another one processing right now waits a few seconds for
//! it and otherwise answers "busy", so Stripe delivers again later. Processing ends by recording
//! `processed` with its outcome, or `failed` with the error (the next delivery retries). Documents
//! expire by TTL after [`RETENTION`], well past Stripe's three days of retries.

use std::time::Duration;

use bson::doc;
use foundation::CollectionSpec;
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

use crate::error::EscrowError;
use crate::service::EscrowService;

/// Stripe events received by the webhook endpoint, one per event id, expired by TTL.
pub const STRIPE_WEBHOOK_EVENTS: &str = "stripe_webhook_events";

/// How long a claim protects a delivery that is processing before another may take over.
const LEASE: Duration = Duration::from_secs(60);
/// How long a delivery waits for a concurrent delivery of the same event to finish.
const CONCURRENT_WAIT: Duration = Duration::from_secs(5);
/// How long an event's record is kept.
pub(crate) const RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// The collection's spec: TTL on `expires_at`, and a validator for the fields every record has.
pub(crate) fn spec() -> CollectionSpec {
    CollectionSpec::new(STRIPE_WEBHOOK_EVENTS)
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
        .index(
            IndexModel::builder()
                .keys(doc! { "status": 1, "received_at": -1 })
                .build(),
        )
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": ["_id", "type", "status", "received_at", "attempts", "expires_at"],
            "properties": {
                "_id": { "bsonType": "string", "minLength": 1 },
                "type": { "bsonType": "string" },
                "status": { "enum": ["processing", "processed", "failed"] },
                "received_at": { "bsonType": "date" },
                "attempts": { "bsonType": ["int", "long"], "minimum": 1 },
                "expires_at": { "bsonType": "date" },
            },
        }})
}

/// What claiming an event found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This delivery processes the event.
    Claimed,
    /// An earlier delivery processed it; its outcome.
    AlreadyProcessed { outcome: String },
    /// Another delivery is processing it right now.
    Busy,
}

impl EscrowService {
    /// Claims event `event_id` of `event_type` for this delivery (see the module docs).
    pub(crate) async fn claim_webhook_event(
        &self,
        event_id: &str,
        event_type: &str,
    ) -> Result<Claim, EscrowError> {
        let waited_until = tokio::time::Instant::now() + CONCURRENT_WAIT;
        loop {
            let now = self.now();
            let lease_until = foundation::clock::add_duration(now, LEASE);
            let record = doc! {
                "_id": event_id,
                "type": event_type,
                "status": "processing",
                "received_at": now,
                "attempts": 1_i64,
                "lease_until": lease_until,
                "expires_at": foundation::clock::add_duration(now, RETENTION),
            };
            match self.webhook_events.insert_one(record).await {
                Ok(_) => return Ok(Claim::Claimed),
                Err(error) if foundation::collection::is_duplicate_key(&error) => {}
                Err(error) => return Err(error.into()),
            }
            let taken_over = self
                .webhook_events
                .update_one(
                    doc! { "_id": event_id, "$or": [
                        { "status": "failed" },
                        { "status": "processing", "lease_until": { "$lte": now } },
                    ]},
                    doc! {
                        "$set": { "status": "processing", "lease_until": lease_until },
                        "$inc": { "attempts": 1_i64 },
                    },
                )
                .await?;
            if taken_over.matched_count == 1 {
                return Ok(Claim::Claimed);
            }
            let current = self
                .webhook_events
                .find_one(doc! { "_id": event_id })
                .await?;
            if let Some(current) = &current {
                if current.get_str("status") == Ok("processed") {
                    let outcome = current.get_str("outcome").unwrap_or("processed");
                    return Ok(Claim::AlreadyProcessed {
                        outcome: outcome.to_owned(),
                    });
                }
            }
            if tokio::time::Instant::now() >= waited_until {
                return Ok(Claim::Busy);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Records that this delivery processed the event, with its outcome.
    pub(crate) async fn finish_webhook_event(
        &self,
        event_id: &str,
        outcome: &str,
        detail: Option<&str>,
    ) -> Result<(), EscrowError> {
        let mut set = doc! {
            "status": "processed",
            "processed_at": self.now(),
            "outcome": outcome,
        };
        if let Some(detail) = detail {
            set.insert("detail", detail);
        }
        self.webhook_events
            .update_one(
                doc! { "_id": event_id, "status": "processing" },
                doc! { "$set": set, "$unset": { "lease_until": "" } },
            )
            .await?;
        Ok(())
    }

    /// Records that processing failed, so the next delivery takes the event over at once.
    pub(crate) async fn fail_webhook_event(
        &self,
        event_id: &str,
        error: &str,
    ) -> Result<(), EscrowError> {
        self.webhook_events
            .update_one(
                doc! { "_id": event_id, "status": "processing" },
                doc! {
                    "$set": { "status": "failed", "last_error": error, "failed_at": self.now() },
                    "$unset": { "lease_until": "" },
                },
            )
            .await?;
        Ok(())
    }
}
