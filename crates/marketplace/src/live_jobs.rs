//! Live job changes: ONE change stream per process on `jobs`, dispatched in memory by job id to
//! the subscribers of this process (`jobChanged`: testers watch seats go, clients watch
//! submissions arrive, since a hand-in moves the job's counters). Subscribers are told only
//! THAT a job changed; they re-read it and re-check who may see it for every change.

use bson::doc;
use bson::oid::ObjectId;
use foundation::fanout::{Fanout, Subscription};
use futures_util::StreamExt;

use crate::error::MarketplaceError;
use crate::service::MarketplaceService;

/// The subscribers of this process by job. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct JobChanges {
    subscribers: Fanout<ObjectId, ()>,
}

/// A subscriber's queue of one job's changes; dropping it unregisters it.
pub type JobSubscription = Subscription<ObjectId, ()>;

impl JobChanges {
    /// No subscribers yet; [`MarketplaceService::watch_job_changes`] feeds it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a subscriber for `job_id`'s changes from now on.
    pub fn subscribe(&self, job_id: ObjectId) -> JobSubscription {
        self.subscribers.subscribe(job_id)
    }
}

impl MarketplaceService {
    /// Streams every job change to `changes` until the stream fails (the caller reopens it).
    pub async fn watch_job_changes(&self, changes: &JobChanges) -> Result<(), MarketplaceError> {
        let mut stream = self
            .jobs
            .clone_with_type::<bson::Document>()
            .watch()
            .pipeline([
                doc! { "$match": { "operationType": { "$in": ["insert", "update", "replace"] } } },
            ])
            // An idle stream asks the store again twice a minute, not every second.
            .max_await_time(std::time::Duration::from_secs(30))
            .await?;
        while let Some(event) = stream.next().await {
            let event = event?;
            let job_id = event
                .document_key
                .as_ref()
                .and_then(|key| key.get_object_id("_id").ok());
            if let Some(job_id) = job_id {
                changes.subscribers.dispatch(&job_id, ());
            }
        }
        Ok(())
    }
}
