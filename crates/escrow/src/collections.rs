//! The collections escrow owns, with their indexes and validators: `escrow_transactions` (seed
//! section 5, one per job), `escrow_idempotency_keys` (what each money-moving request answered,
//! kept for a day) and `stripe_webhook_events` (the webhook inbox, specified in
//! `webhooks/inbox.rs`).

use std::time::Duration;

use bson::{doc, Document};
use foundation::CollectionSpec;
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

/// Escrow transactions with their embedded payouts, refunds and events (seed section 5).
pub const ESCROW_TRANSACTIONS: &str = "escrow_transactions";
/// Idempotency keys of money-moving requests, expired by a TTL index.
pub const ESCROW_IDEMPOTENCY_KEYS: &str = "escrow_idempotency_keys";

fn index(keys: Document) -> IndexModel {
    IndexModel::builder().keys(keys).build()
}

fn index_with(keys: Document, options: IndexOptions) -> IndexModel {
    IndexModel::builder().keys(keys).options(options).build()
}

/// Every collection spec, in creation order.
pub fn specs() -> Vec<CollectionSpec> {
    vec![
        escrow_transactions(),
        escrow_idempotency_keys(),
        crate::webhooks::inbox_spec(),
    ]
}

fn escrow_transactions() -> CollectionSpec {
    let cents = doc! { "bsonType": "long", "minimum": 0_i64 };
    CollectionSpec::new(ESCROW_TRANSACTIONS)
        .index(index_with(
            doc! { "job_id": 1 },
            IndexOptions::builder().unique(true).build(),
        ))
        .index(index(doc! { "client_id": 1, "status": 1 }))
        .index(index(doc! { "payouts.tester_id": 1 }))
        .index(index(doc! { "payouts.submission_id": 1 }))
        // Webhooks find payouts and refunds by the ids escrow put in Stripe's metadata.
        .index(index(doc! { "payouts.payout_id": 1 }))
        .index(index(doc! { "refunds.refund_id": 1 }))
        // One field only: the embedded store refuses compound keys over one array as
        // "parallel arrays" (MongoDB accepts them); the status narrows the due sweep enough.
        .index(index(doc! { "payouts.status": 1 }))
        .index(index(doc! { "refunds.status": 1 }))
        .index(index(doc! { "status": 1 }))
        .index(index(doc! { "created_at": -1 }))
        .index(index(doc! { "stripe_payment_intent_id": 1 }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": [
                "job_id", "client_id", "provider", "amount_usd", "currency", "status",
                "captured_usd", "in_escrow_usd", "held_for_testers_usd", "paid_to_testers_usd",
                "platform_fee_usd", "refunded_usd", "events", "payouts", "refunds", "version",
            ],
            "properties": {
                "job_id": { "bsonType": "objectId" },
                "client_id": { "bsonType": "objectId" },
                "provider": { "enum": ["SANDBOX", "STRIPE"] },
                "currency": { "bsonType": "string", "pattern": "^[A-Z]{3}$" },
                "status": { "enum": [
                    "pending", "authorized", "captured", "partially_released", "released",
                    "partially_refunded", "refunded", "failed", "expired",
                ] },
                "amount_usd": cents.clone(),
                "captured_usd": cents.clone(),
                "in_escrow_usd": cents.clone(),
                "held_for_testers_usd": cents.clone(),
                "paid_to_testers_usd": cents.clone(),
                "platform_fee_usd": cents.clone(),
                "refunded_usd": cents,
                "events": { "bsonType": "array" },
                "payouts": { "bsonType": "array" },
                "refunds": { "bsonType": "array" },
                "version": { "bsonType": "long", "minimum": 0_i64 },
            },
        }})
}

fn escrow_idempotency_keys() -> CollectionSpec {
    CollectionSpec::new(ESCROW_IDEMPOTENCY_KEYS)
        .index(index_with(
            doc! { "key": 1 },
            IndexOptions::builder().unique(true).build(),
        ))
        .index(index_with(
            doc! { "expires_at": 1 },
            IndexOptions::builder()
                .expire_after(Duration::from_secs(0))
                .build(),
        ))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": ["key", "operation", "fingerprint", "status", "created_at", "expires_at"],
            "properties": {
                "key": { "bsonType": "string", "minLength": 1 },
                "status": { "enum": ["started", "completed"] },
                "expires_at": { "bsonType": "date" },
            },
        }})
}
