//! The rating-totals seam. The seed keeps a tester's `average_rating` and `success_rate` on
//! identity's `users` documents (`tester_data`); trust must add a revealed rating to them exactly
//! once. [`RatingTotals::add_revealed_rating`] runs inside the transaction that reveals the
//! rating (compare-and-set on `revealed_at`), so the addition commits if and only if the reveal
//! does: a repeat finds the rating already revealed and adds nothing.
//!
//! The average is never updated incrementally: the update keeps the exact integer `rating_sum`
//! and `rating_count` and divides them in the same single-document pipeline update, so it cannot
//! drift whatever the order of reveals. Clients get the same three fields under `client_data`.
//!
//! [`UsersRatingTotals`] is, like escrow's `UsersTesterTotals`, a documented exception to
//! collection ownership (ARCHITECTURE.md): it writes these fields of `users` only, never reads
//! them. When identity offers an implementation of this trait the gateway plugs that in.

use std::fmt::Debug;

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::future::BoxFuture;
use mongodb::{ClientSession, Collection, Database};

use crate::rating::RatedRole;

/// One rating that has just been revealed, as the rated user's totals see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevealedRating {
    /// The rated user.
    pub rated_user_id: ObjectId,
    /// Whether a tester or a client was rated.
    pub rated_user_role: RatedRole,
    /// The overall rating, 1 to 5.
    pub overall_rating: i32,
    /// For a tester: `(approved, reviewed)` submissions at the reveal, for `success_rate`.
    pub review_counts: Option<(u64, u64)>,
}

/// Adds a revealed rating to the rated user's totals, inside the caller's transaction.
pub trait RatingTotals: Send + Sync + Debug {
    /// Adds `rating` to its rated user's sum, count and average (and a tester's success rate).
    fn add_revealed_rating<'a>(
        &'a self,
        session: &'a mut ClientSession,
        rating: RevealedRating,
    ) -> BoxFuture<'a, Result<(), mongodb::error::Error>>;
}

/// Writes `users.tester_data` / `users.client_data` `rating_sum`, `rating_count`,
/// `average_rating` (and a tester's `success_rate`, a percentage) with one pipeline update.
#[derive(Debug, Clone)]
pub struct UsersRatingTotals {
    users: Collection<Document>,
}

impl UsersRatingTotals {
    /// Writes identity's `users` collection in `database`.
    pub fn new(database: &Database) -> Self {
        Self {
            users: database.collection("users"),
        }
    }
}

/// The pipeline that adds one rating to the totals under `prefix` (`tester_data` or
/// `client_data`); pure, so it is checked without a database.
pub fn totals_pipeline(prefix: &str, rating: &RevealedRating) -> Vec<Document> {
    let sum = format!("{prefix}.rating_sum");
    let count = format!("{prefix}.rating_count");
    let mut first = doc! {
        sum.clone(): { "$add": [{ "$ifNull": [format!("${sum}"), 0_i64] }, i64::from(rating.overall_rating)] },
        count.clone(): { "$add": [{ "$ifNull": [format!("${count}"), 0_i64] }, 1_i64] },
    };
    if let Some((approved, reviewed)) = rating.review_counts {
        // Approved ÷ reviewed as a percentage; no reviewed submission means no rate yet.
        let rate = if reviewed == 0 {
            bson::Bson::Null
        } else {
            bson::Bson::Double(approved as f64 * 100.0 / reviewed as f64)
        };
        first.insert(format!("{prefix}.success_rate"), doc! { "$literal": rate });
    }
    let second = doc! {
        format!("{prefix}.average_rating"): { "$divide": [format!("${sum}"), format!("${count}")] },
    };
    vec![doc! { "$set": first }, doc! { "$set": second }]
}

impl RatingTotals for UsersRatingTotals {
    fn add_revealed_rating<'a>(
        &'a self,
        session: &'a mut ClientSession,
        rating: RevealedRating,
    ) -> BoxFuture<'a, Result<(), mongodb::error::Error>> {
        Box::pin(async move {
            let prefix = match rating.rated_user_role {
                RatedRole::Tester => "tester_data",
                RatedRole::Client => "client_data",
            };
            self.users
                .update_one(
                    doc! { "_id": rating.rated_user_id },
                    totals_pipeline(prefix, &rating),
                )
                .session(session)
                .await?;
            Ok(())
        })
    }
}
