//! Deadline reminders (seed 001 section 5): 24 hours before a job's deadline, every seated tester
//! who has not handed in yet hears of it, once per job. The job's `deadline_reminded_at` is set
//! by compare-and-set in the transaction that records the reminder's event, so two instances
//! sweeping at once, or a sweep repeated, remind nobody twice.

use std::time::Duration;

use bson::{doc, DateTime};
use foundation::clock::add_duration;
use foundation::events::{DomainEvent, DomainEventKind};
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use crate::assignment::AssignmentStatus;
use crate::error::MarketplaceError;
use crate::job::{Job, JobStatus};
use crate::service::MarketplaceService;

/// How long before the deadline testers are reminded.
pub const DEADLINE_REMINDER_LEAD: Duration = Duration::from_secs(24 * 60 * 60);

/// Jobs reminded per sweep; the next sweep takes the rest.
const SWEEP_BATCH: i64 = 200;

impl MarketplaceService {
    /// Records the deadline reminders that are due (the gateway's background work calls it);
    /// returns how many jobs were reminded about.
    pub async fn record_deadline_reminders(&self) -> Result<usize, MarketplaceError> {
        let now = self.now();
        let due: Vec<Job> = self
            .jobs
            .find(doc! {
                "status": { "$in": [JobStatus::Open.as_str(), JobStatus::InProgress.as_str()] },
                "deadline": { "$gt": now, "$lte": add_duration(now, DEADLINE_REMINDER_LEAD) },
                "deadline_reminded_at": null,
            })
            .limit(SWEEP_BATCH)
            .await?
            .try_collect()
            .await?;
        let mut reminded = 0;
        for job in &due {
            let sent = self
                .in_transaction(|mut session| async move {
                    let outcome = self.remind_in_session(&mut session, job, now).await;
                    (session, outcome)
                })
                .await?;
            if sent {
                reminded += 1;
            }
        }
        Ok(reminded)
    }

    async fn remind_in_session(
        &self,
        session: &mut ClientSession,
        job: &Job,
        now: DateTime,
    ) -> Result<bool, MarketplaceError> {
        let marked = self
            .jobs
            .update_one(
                doc! { "_id": job.id, "deadline_reminded_at": null },
                doc! { "$set": { "deadline_reminded_at": now } },
            )
            .session(&mut *session)
            .await?;
        if marked.modified_count == 0 {
            return Ok(false);
        }
        // The seats as the transaction sees them: someone who handed in meanwhile is left out.
        let current = self
            .jobs
            .find_one(doc! { "_id": job.id })
            .session(&mut *session)
            .await?
            .ok_or(MarketplaceError::JobNotFound)?;
        let waiting: Vec<_> = current
            .assigned_testers
            .iter()
            .filter(|seat| {
                matches!(
                    seat.status,
                    AssignmentStatus::Assigned | AssignmentStatus::InProgress
                )
            })
            .map(|seat| seat.tester_id)
            .collect();
        if !waiting.is_empty() {
            let event = DomainEvent::new(DomainEventKind::DeadlineReminder, waiting)
                .with_job(current.id)
                .with_payload(doc! { "job_title": &current.title });
            self.events.record(session, event, now).await?;
        }
        Ok(true)
    }
}
