//! Client accountability, which no seed has: how a client treats testers' work, shown to the
//! testers who browse their jobs. Per client, over their reviewed submissions (the newest, as
//! `marketplace::review_records_of_clients` bounds them) and their decided disputes:
//!
//! - `median_review_hours`: the median time from hand-in to review (the mean of the two middle
//!   values for an even count);
//! - `rejection_rate`: rejected ÷ reviewed, in percent;
//! - `auto_approval_rate`: left to auto-approval ÷ reviewed, in percent;
//! - `disputes_lost`: decided disputes that went fully to the other side — a tester's dispute of
//!   a rejection resolved `payment_released`, or the client's own dispute of an approval resolved
//!   `no_action` or `payment_released` (a partial refund is neither side's loss).

use std::collections::HashMap;

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::TryStreamExt;
use marketplace::{MarketplaceService, ReviewRecord};

use crate::error::TrustError;
use crate::service::TrustService;

/// Decided disputes read per batch of clients.
pub const ACCOUNTABILITY_DISPUTE_LIMIT: i64 = 50_000;

/// How a client treats testers' work.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientAccountability {
    /// Submissions reviewed (approved or rejected, by hand or automatically).
    pub reviewed_submissions: u64,
    /// Median hours from hand-in to review; `None` before the first review.
    pub median_review_hours: Option<f64>,
    /// Rejected share of the reviewed, in percent.
    pub rejection_rate: Option<f64>,
    /// Auto-approved share of the reviewed, in percent.
    pub auto_approval_rate: Option<f64>,
    /// Disputes decided (resolved or closed with a decision).
    pub disputes_decided: u64,
    /// Of those, lost as the module defines it.
    pub disputes_lost: u64,
}

/// The figures of one client's reviews (disputes left at zero); pure.
pub fn review_figures(records: &[ReviewRecord]) -> ClientAccountability {
    let reviewed = records.len() as u64;
    if reviewed == 0 {
        return ClientAccountability::default();
    }
    let mut hours: Vec<f64> = records
        .iter()
        .map(|record| {
            let millis =
                record.reviewed_at.timestamp_millis() - record.submitted_at.timestamp_millis();
            millis.max(0) as f64 / 3_600_000.0
        })
        .collect();
    hours.sort_by(f64::total_cmp);
    let middle = hours.len() / 2;
    let median = if hours.len() % 2 == 1 {
        hours[middle]
    } else {
        (hours[middle - 1] + hours[middle]) / 2.0
    };
    let share = |count: usize| Some(count as f64 * 100.0 / reviewed as f64);
    ClientAccountability {
        reviewed_submissions: reviewed,
        median_review_hours: Some(median),
        rejection_rate: share(records.iter().filter(|record| record.rejected).count()),
        auto_approval_rate: share(records.iter().filter(|record| record.auto_approved).count()),
        disputes_decided: 0,
        disputes_lost: 0,
    }
}

/// Whether a decided dispute (its raiser's role and resolution, as stored) went fully against
/// the client; pure.
pub fn client_lost(raised_by_role: &str, resolution_type: &str) -> bool {
    match raised_by_role {
        "tester" => resolution_type == "payment_released",
        "client" => matches!(resolution_type, "no_action" | "payment_released"),
        _ => false,
    }
}

impl TrustService {
    /// The accountability of each of `client_ids` (every id gets an entry), in three commands.
    pub async fn client_accountability(
        &self,
        marketplace: &MarketplaceService,
        client_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, ClientAccountability>, TrustError> {
        let records = marketplace.review_records_of_clients(client_ids).await?;
        let mut figures: HashMap<ObjectId, ClientAccountability> = client_ids
            .iter()
            .map(|id| {
                let reviews = records.get(id).map(Vec::as_slice).unwrap_or_default();
                (*id, review_figures(reviews))
            })
            .collect();
        let decided: Vec<Document> = self
            .disputes
            .clone_with_type::<Document>()
            .find(doc! {
                "client_id": { "$in": client_ids },
                "resolution_type": { "$type": "string" },
            })
            .projection(doc! { "client_id": 1, "raised_by_role": 1, "resolution_type": 1 })
            .limit(ACCOUNTABILITY_DISPUTE_LIMIT)
            .await?
            .try_collect()
            .await?;
        for dispute in decided {
            let (Ok(client), Ok(role), Ok(resolution)) = (
                dispute.get_object_id("client_id"),
                dispute.get_str("raised_by_role"),
                dispute.get_str("resolution_type"),
            ) else {
                continue;
            };
            if let Some(entry) = figures.get_mut(&client) {
                entry.disputes_decided += 1;
                if client_lost(role, resolution) {
                    entry.disputes_lost += 1;
                }
            }
        }
        Ok(figures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::DateTime;

    fn record(hours: i64, rejected: bool, auto_approved: bool) -> ReviewRecord {
        ReviewRecord {
            client_id: ObjectId::new(),
            submitted_at: DateTime::from_millis(0),
            reviewed_at: DateTime::from_millis(hours * 3_600_000),
            rejected,
            auto_approved,
        }
    }

    #[test]
    fn the_median_rates_and_losses_follow_their_definitions() {
        let odd = review_figures(&[
            record(5, false, false),
            record(1, true, false),
            record(72, false, true),
        ]);
        assert_eq!(odd.reviewed_submissions, 3);
        assert_eq!(odd.median_review_hours, Some(5.0));
        assert_eq!(odd.rejection_rate, Some(100.0 / 3.0));
        assert_eq!(odd.auto_approval_rate, Some(100.0 / 3.0));
        let even = review_figures(&[record(2, false, false), record(8, false, false)]);
        assert_eq!(even.median_review_hours, Some(5.0));
        assert_eq!(even.rejection_rate, Some(0.0));
        assert_eq!(review_figures(&[]), ClientAccountability::default());
        assert!(client_lost("tester", "payment_released"));
        assert!(!client_lost("tester", "partial_refund"));
        assert!(!client_lost("tester", "no_action"));
        assert!(client_lost("client", "no_action"));
        assert!(!client_lost("client", "refund"));
        assert!(!client_lost("client", "partial_refund"));
    }
}
