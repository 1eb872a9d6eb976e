//! What a client's accountability is computed from: their reviewed submissions, as
//! [`ReviewRecord`]s (when each was handed in and reviewed, rejected or not, left to
//! auto-approval or not). Trust turns them into the figures testers see; the marketplace only
//! reads them, bounded, in two commands for any number of clients.

use std::collections::HashMap;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;

use crate::error::MarketplaceError;
use crate::service::MarketplaceService;

/// Jobs read per batch of clients (the newest).
pub const ACCOUNTABILITY_JOB_LIMIT: i64 = 10_000;
/// Reviews read per batch of clients (the newest).
pub const ACCOUNTABILITY_REVIEW_LIMIT: i64 = 50_000;

/// One reviewed submission of a client's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewRecord {
    /// The job's client.
    pub client_id: ObjectId,
    /// When the tester handed it in.
    pub submitted_at: DateTime,
    /// When it was approved or rejected.
    pub reviewed_at: DateTime,
    /// Rejected (otherwise approved).
    pub rejected: bool,
    /// Approved because the client did not review it in time.
    pub auto_approved: bool,
}

impl MarketplaceService {
    /// The approved and rejected submissions of the jobs of `client_ids`, newest review first
    /// (at most [`ACCOUNTABILITY_REVIEW_LIMIT`] over the newest
    /// [`ACCOUNTABILITY_JOB_LIMIT`] jobs).
    pub async fn review_records_of_clients(
        &self,
        client_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<ReviewRecord>>, MarketplaceError> {
        let mut records: HashMap<ObjectId, Vec<ReviewRecord>> = HashMap::new();
        if client_ids.is_empty() {
            return Ok(records);
        }
        let jobs: Vec<Document> = self
            .jobs
            .clone_with_type::<Document>()
            .find(doc! { "client_id": { "$in": client_ids } })
            .projection(doc! { "_id": 1, "client_id": 1 })
            .sort(doc! { "_id": -1 })
            .limit(ACCOUNTABILITY_JOB_LIMIT)
            .await?
            .try_collect()
            .await?;
        let client_of: HashMap<ObjectId, ObjectId> = jobs
            .iter()
            .filter_map(|job| {
                Some((
                    job.get_object_id("_id").ok()?,
                    job.get_object_id("client_id").ok()?,
                ))
            })
            .collect();
        if client_of.is_empty() {
            return Ok(records);
        }
        let job_ids: Vec<ObjectId> = client_of.keys().copied().collect();
        let reviewed: Vec<Document> = self
            .submissions
            .clone_with_type::<Document>()
            .find(doc! {
                "job_id": { "$in": job_ids },
                "status": { "$in": ["approved", "rejected"] },
                "submitted_at": { "$type": "date" },
                "reviewed_at": { "$type": "date" },
            })
            .projection(doc! {
                "job_id": 1, "status": 1, "submitted_at": 1, "reviewed_at": 1, "auto_approved": 1,
            })
            .sort(doc! { "reviewed_at": -1 })
            .limit(ACCOUNTABILITY_REVIEW_LIMIT)
            .await?
            .try_collect()
            .await?;
        for submission in reviewed {
            let record = (|| {
                let client_id = *client_of.get(&submission.get_object_id("job_id").ok()?)?;
                Some(ReviewRecord {
                    client_id,
                    submitted_at: *submission.get_datetime("submitted_at").ok()?,
                    reviewed_at: *submission.get_datetime("reviewed_at").ok()?,
                    rejected: submission.get_str("status").ok()? == "rejected",
                    auto_approved: submission.get_bool("auto_approved").unwrap_or(false),
                })
            })();
            if let Some(record) = record {
                records.entry(record.client_id).or_default().push(record);
            }
        }
        Ok(records)
    }
}
