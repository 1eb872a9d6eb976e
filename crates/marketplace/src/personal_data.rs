//! What the marketplace holds about one person, for their data export, and what in the
//! marketplace keeps their account from being erased. Identity decides about the account; these
//! are the marketplace's answers to "what is theirs" and "what is still running on them".

use bson::doc;
use bson::oid::ObjectId;
use futures_util::TryStreamExt;
use serde::Serialize;

use crate::assignment::AssignmentStatus;
use crate::error::MarketplaceError;
use crate::job::{Job, JobStatus};
use crate::project::Project;
use crate::service::MarketplaceService;
use crate::submission::{Submission, SubmissionStatus};

/// A person's marketplace records: projects and jobs they own as a client, submissions they
/// wrote as a tester. Project credentials are left out (they are secrets, read through the
/// audited credentials query).
#[derive(Debug, Clone, Serialize)]
pub struct MarketplacePersonalData {
    /// Projects whose client is the person, without their sealed credentials.
    pub projects: Vec<Project>,
    /// Jobs whose client is the person.
    pub jobs_as_client: Vec<Job>,
    /// Jobs on which the person holds or held a seat as a tester.
    pub jobs_as_tester: Vec<ObjectId>,
    /// Submissions the person wrote as a tester.
    pub submissions: Vec<Submission>,
}

/// Something in the marketplace still running on a person, which erasing them would orphan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureBlocker {
    /// A job of theirs as client that was published and is neither completed nor cancelled
    /// (its money is held for testers).
    RunningJob {
        /// The job.
        job_id: ObjectId,
        /// Its status.
        status: JobStatus,
    },
    /// A seat of theirs as a tester that is not completed.
    ActiveSeat {
        /// The job.
        job_id: ObjectId,
    },
    /// A submission of theirs handed in and not yet decided (it may still be paid).
    SubmissionAwaitingReview {
        /// The submission.
        submission_id: ObjectId,
    },
}

impl std::fmt::Display for ErasureBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErasureBlocker::RunningJob { job_id, status } => write!(
                f,
                "job {job_id} is {} (complete or cancel it first)",
                status.as_str()
            ),
            ErasureBlocker::ActiveSeat { job_id } => {
                write!(
                    f,
                    "a seat on job {job_id} is active (withdraw or finish it first)"
                )
            }
            ErasureBlocker::SubmissionAwaitingReview { submission_id } => {
                write!(f, "submission {submission_id} awaits the client's review")
            }
        }
    }
}

/// Jobs in these states hold a client's money or a tester's work.
const RUNNING_JOB_STATES: [JobStatus; 3] =
    [JobStatus::Open, JobStatus::InProgress, JobStatus::Review];

impl MarketplaceService {
    /// Everything the marketplace holds about `user_id` (see [`MarketplacePersonalData`]).
    pub async fn personal_data(
        &self,
        user_id: ObjectId,
    ) -> Result<MarketplacePersonalData, MarketplaceError> {
        let mut projects: Vec<Project> = self
            .projects
            .find(doc! { "client_id": user_id })
            .await?
            .try_collect()
            .await?;
        for project in &mut projects {
            project.credentials = None;
        }
        let jobs_as_client: Vec<Job> = self
            .jobs
            .find(doc! { "client_id": user_id })
            .await?
            .try_collect()
            .await?;
        let jobs_as_tester: Vec<Job> = self
            .jobs
            .find(doc! { "$or": [
                { "assigned_testers.tester_id": user_id },
                { "withdrawn_testers.tester_id": user_id },
            ] })
            .await?
            .try_collect()
            .await?;
        let submissions: Vec<Submission> = self
            .submissions
            .find(doc! { "tester_id": user_id })
            .await?
            .try_collect()
            .await?;
        Ok(MarketplacePersonalData {
            projects,
            jobs_as_client,
            jobs_as_tester: jobs_as_tester.into_iter().map(|job| job.id).collect(),
            submissions,
        })
    }

    /// What in the marketplace is still running on `user_id`: running jobs as a client, seats
    /// not completed and submissions awaiting review as a tester. Empty when nothing is.
    pub async fn erasure_blockers(
        &self,
        user_id: ObjectId,
    ) -> Result<Vec<ErasureBlocker>, MarketplaceError> {
        let running: Vec<&str> = RUNNING_JOB_STATES.iter().map(|s| s.as_str()).collect();
        let mut blockers: Vec<ErasureBlocker> = self
            .jobs
            .find(doc! { "client_id": user_id, "status": { "$in": running } })
            .await?
            .try_collect::<Vec<Job>>()
            .await?
            .into_iter()
            .map(|job| ErasureBlocker::RunningJob {
                job_id: job.id,
                status: job.status,
            })
            .collect();
        let seated: Vec<Job> = self
            .jobs
            .find(doc! { "assigned_testers": { "$elemMatch": {
                "tester_id": user_id,
                "status": { "$ne": AssignmentStatus::Completed.as_str() },
            } } })
            .await?
            .try_collect()
            .await?;
        blockers.extend(
            seated
                .into_iter()
                .filter(|job| !matches!(job.status, JobStatus::Completed | JobStatus::Cancelled))
                .map(|job| ErasureBlocker::ActiveSeat { job_id: job.id }),
        );
        let awaiting = [
            SubmissionStatus::Submitted.as_str(),
            SubmissionStatus::UnderReview.as_str(),
        ];
        let submissions: Vec<Submission> = self
            .submissions
            .find(doc! { "tester_id": user_id, "status": { "$in": awaiting.to_vec() } })
            .await?
            .try_collect()
            .await?;
        blockers.extend(submissions.into_iter().map(|submission| {
            ErasureBlocker::SubmissionAwaitingReview {
                submission_id: submission.id,
            }
        }));
        Ok(blockers)
    }
}
