//! Reminders (seed 001 section 5). Deadline: 24 hours before a job's deadline, every seated
//! tester who has not handed in yet hears of it, once per job. Review: a client whose submission
//! waits for review hears of it before the platform approves it automatically, once per hand-in.
//! The job's `deadline_reminded_at` (the submission's `review_reminded_at`) is set by
//! compare-and-set in the transaction that records the reminder's event, so two instances
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
use crate::submission::{Submission, SubmissionStatus};

/// How long before the deadline testers are reminded.
pub const DEADLINE_REMINDER_LEAD: Duration = Duration::from_secs(24 * 60 * 60);

/// How long before its automatic approval a client is reminded of a waiting submission.
pub const REVIEW_REMINDER_LEAD: Duration = Duration::from_secs(2 * 24 * 60 * 60);

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

    /// Records the review reminders that are due: every submission handed in at or before
    /// `submitted_before` (the escrow's auto-approval window minus the reminder's lead) and still
    /// waiting for its client. Returns how many clients were reminded.
    pub async fn record_review_reminders(
        &self,
        submitted_before: DateTime,
    ) -> Result<usize, MarketplaceError> {
        let now = self.now();
        let waiting = [
            SubmissionStatus::Submitted.as_str(),
            SubmissionStatus::UnderReview.as_str(),
        ];
        let due: Vec<Submission> = self
            .submissions
            .find(doc! {
                "status": { "$in": waiting.to_vec() },
                "submitted_at": { "$lte": submitted_before },
                "review_reminded_at": null,
            })
            .limit(SWEEP_BATCH)
            .await?
            .try_collect()
            .await?;
        let mut reminded = 0;
        for submission in &due {
            let sent = self
                .in_transaction(|mut session| async move {
                    let outcome = self
                        .remind_reviewer_in_session(&mut session, submission, submitted_before, now)
                        .await;
                    (session, outcome)
                })
                .await?;
            if sent {
                reminded += 1;
            }
        }
        Ok(reminded)
    }

    async fn remind_reviewer_in_session(
        &self,
        session: &mut ClientSession,
        submission: &Submission,
        submitted_before: DateTime,
        now: DateTime,
    ) -> Result<bool, MarketplaceError> {
        let waiting = [
            SubmissionStatus::Submitted.as_str(),
            SubmissionStatus::UnderReview.as_str(),
        ];
        // The same conditions as the sweep's query, checked again where the mark is set: a
        // review or a resubmission since the query leaves nobody to remind.
        let marked = self
            .submissions
            .update_one(
                doc! {
                    "_id": submission.id,
                    "status": { "$in": waiting.to_vec() },
                    "submitted_at": { "$lte": submitted_before },
                    "review_reminded_at": null,
                },
                doc! { "$set": { "review_reminded_at": now } },
            )
            .session(&mut *session)
            .await?;
        if marked.modified_count == 0 {
            return Ok(false);
        }
        let job = self
            .jobs
            .find_one(doc! { "_id": submission.job_id })
            .session(&mut *session)
            .await?
            .ok_or(MarketplaceError::JobNotFound)?;
        let event = DomainEvent::new(DomainEventKind::ReviewReminder, [job.client_id])
            .with_job(job.id)
            .with_submission(submission.id)
            .with_related_user(submission.tester_id)
            .with_payload(doc! { "job_title": &job.title });
        self.events.record(session, event, now).await?;
        Ok(true)
    }
}
