//! The tester-totals seam. The seed keeps `total_earned_usd` and `total_jobs_completed` on
//! identity's `users` documents (`tester_data`); escrow must add a paid payout to them exactly
//! once. [`TesterEarnings::credit_payout`] runs inside the transaction that moves the payout to
//! `paid`, so the credit commits if and only if that compare-and-set does: a repeat finds the
//! payout already paid and credits nothing. That makes a plain `$inc` idempotent per payout
//! without remembering payout ids on the user.
//!
//! [`UsersTesterTotals`] is the one place where escrow writes a collection it does not own: two
//! counters, `$inc` only, never read. It is a documented exception (ARCHITECTURE.md) until
//! identity offers an implementation of this trait; the gateway can then plug that in without
//! escrow changing.

use std::fmt::Debug;

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::future::BoxFuture;
use mongodb::{ClientSession, Collection, Database};

/// Adds a paid payout to a tester's lifetime totals, inside the caller's transaction.
pub trait TesterEarnings: Send + Sync + Debug {
    /// Adds `amount_cents` to the tester's earnings and one completed job.
    fn credit_payout<'a>(
        &'a self,
        session: &'a mut ClientSession,
        tester_id: ObjectId,
        amount_cents: i64,
    ) -> BoxFuture<'a, Result<(), mongodb::error::Error>>;
}

/// Credits `users.tester_data.total_earned_usd` (cents) and `total_jobs_completed` with `$inc`.
#[derive(Debug, Clone)]
pub struct UsersTesterTotals {
    users: Collection<Document>,
}

impl UsersTesterTotals {
    /// Writes identity's `users` collection in `database`.
    pub fn new(database: &Database) -> Self {
        Self {
            users: database.collection("users"),
        }
    }
}

impl TesterEarnings for UsersTesterTotals {
    fn credit_payout<'a>(
        &'a self,
        session: &'a mut ClientSession,
        tester_id: ObjectId,
        amount_cents: i64,
    ) -> BoxFuture<'a, Result<(), mongodb::error::Error>> {
        Box::pin(async move {
            self.users
                .update_one(
                    doc! { "_id": tester_id },
                    doc! { "$inc": {
                        "tester_data.total_earned_usd": amount_cents,
                        "tester_data.total_jobs_completed": 1_i64,
                    }},
                )
                .session(session)
                .await?;
            Ok(())
        })
    }
}
