//! Submissions (seed section 4): one per seat, drafted then submitted, reviewed by the client.
//! Every change is a compare-and-set on the submission's status inside a multi-document
//! transaction that also moves the tester's seat and recomputes the job's counters from the
//! submissions, so `submission_count`, `approved_submission_count` and `bugs_found` always equal
//! what the submissions say.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use foundation::events::{DomainEvent, DomainEventKind, RecipientGroup};
use futures_util::TryStreamExt;
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, ActorRole, PayerStanding};
use crate::assignment::AssignmentStatus;
use crate::error::MarketplaceError;
use crate::funding::{SubmissionPayout, SubmissionPayoutStatus};
use crate::job::{Job, JobStatus};
use crate::service::MarketplaceService;

/// Where a submission is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Being written by the tester; invisible to the client and not counted.
    Draft,
    /// Handed in; waiting for the client.
    Submitted,
    /// The client started reviewing.
    UnderReview,
    /// Accepted by the client.
    Approved,
    /// Refused by the client, with feedback.
    Rejected,
    /// Sent back to the tester with notes; the tester revises and resubmits.
    RevisionRequested,
}

impl SubmissionStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Draft => "draft",
            SubmissionStatus::Submitted => "submitted",
            SubmissionStatus::UnderReview => "under_review",
            SubmissionStatus::Approved => "approved",
            SubmissionStatus::Rejected => "rejected",
            SubmissionStatus::RevisionRequested => "revision_requested",
        }
    }
}

/// A step a tester or client can take on a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionAction {
    /// The tester edits the content.
    Edit,
    /// The tester hands it in (first time or after a revision request).
    Submit,
    /// The client starts reviewing.
    StartReview,
    /// The client approves.
    Approve,
    /// The client rejects with feedback.
    Reject,
    /// The client asks for a revision with notes.
    RequestRevision,
}

impl SubmissionAction {
    /// The action in words, for errors.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionAction::Edit => "be edited",
            SubmissionAction::Submit => "be submitted",
            SubmissionAction::StartReview => "be taken into review",
            SubmissionAction::Approve => "be approved",
            SubmissionAction::Reject => "be rejected",
            SubmissionAction::RequestRevision => "be sent back for revision",
        }
    }
}

use SubmissionAction as A;
use SubmissionStatus as S;

/// The submission lifecycle: every allowed (from, action, to). Nothing else is allowed.
pub const SUBMISSION_TRANSITIONS: &[(SubmissionStatus, SubmissionAction, SubmissionStatus)] = &[
    (S::Draft, A::Edit, S::Draft),
    (S::RevisionRequested, A::Edit, S::RevisionRequested),
    (S::Draft, A::Submit, S::Submitted),
    (S::RevisionRequested, A::Submit, S::Submitted),
    (S::Submitted, A::StartReview, S::UnderReview),
    (S::Submitted, A::Approve, S::Approved),
    (S::UnderReview, A::Approve, S::Approved),
    (S::Submitted, A::Reject, S::Rejected),
    (S::UnderReview, A::Reject, S::Rejected),
    (S::Submitted, A::RequestRevision, S::RevisionRequested),
    (S::UnderReview, A::RequestRevision, S::RevisionRequested),
];

/// The statuses from which `action` is allowed, and the status it sets: `None` when the action
/// keeps each status as it is (editing).
pub(crate) fn transitions_for(
    action: SubmissionAction,
) -> (Vec<&'static str>, Option<SubmissionStatus>) {
    let mut sources = Vec::new();
    let mut targets = Vec::new();
    for (from, step, to) in SUBMISSION_TRANSITIONS {
        if *step == action {
            sources.push(from.as_str());
            targets.push(*to);
        }
    }
    let single = targets
        .first()
        .copied()
        .filter(|first| targets.iter().all(|to| to == first));
    (sources, single)
}

/// The status `action` leads to from `from`, if the table allows it.
pub fn submission_transition(
    from: SubmissionStatus,
    action: SubmissionAction,
) -> Option<SubmissionStatus> {
    SUBMISSION_TRANSITIONS
        .iter()
        .find(|(source, step, _)| *source == from && *step == action)
        .map(|(_, _, target)| *target)
}

/// The outcome of one journey step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    /// A step number of the job's journey.
    pub step_number: i32,
    /// "passed" | "failed" | "blocked" | "skipped".
    pub status: StepOutcome,
    /// Notes.
    pub notes: String,
    /// Screenshot URLs.
    pub screenshots: Vec<String>,
    /// When the step was tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime>,
}

/// How a journey step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Worked as expected.
    Passed,
    /// Did not.
    Failed,
    /// Could not be tried.
    Blocked,
    /// Not tried.
    Skipped,
}

/// How bad a bug is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks core use.
    Critical,
    /// Serious.
    High,
    /// Noticeable.
    Medium,
    /// Cosmetic.
    Low,
}

/// A bug report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bug {
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Description.
    pub description: String,
    /// Steps to reproduce.
    pub steps_to_reproduce: Vec<String>,
    /// Expected behaviour.
    pub expected_behavior: String,
    /// Actual behaviour.
    pub actual_behavior: String,
    /// Screenshot URLs.
    pub screenshots: Vec<String>,
    /// Video URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    /// Affected devices.
    pub affected_devices: Vec<String>,
    /// Affected browsers.
    pub affected_browsers: Vec<String>,
}

/// The test environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TestEnvironment {
    /// Device.
    pub device_used: String,
    /// Browser.
    pub browser_used: String,
    /// Browser version.
    pub browser_version: String,
    /// Operating system.
    pub os_used: String,
    /// Operating system version.
    pub os_version: String,
    /// Screen resolution, e.g. "1920x1080".
    pub screen_resolution: String,
}

/// What a tester writes into a submission.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmissionContent {
    /// Overall findings.
    pub summary: String,
    /// Results per journey step; step numbers must exist in the job and appear once.
    pub test_results: Vec<StepResult>,
    /// Bugs found.
    pub bugs: Vec<Bug>,
    /// Where it was tested.
    pub environment: TestEnvironment,
    /// Minutes spent, not negative.
    pub time_spent_minutes: i32,
}

/// A submission as stored in `submissions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The submission id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The job.
    pub job_id: ObjectId,
    /// The tester.
    pub tester_id: ObjectId,
    /// Overall findings.
    pub summary: String,
    /// AI-written summary, once enhanced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_enhanced_summary: Option<String>,
    /// Results per step.
    pub test_results: Vec<StepResult>,
    /// Bugs.
    pub bugs: Vec<Bug>,
    /// Environment (flattened into the seed's top-level fields).
    #[serde(flatten)]
    pub environment: TestEnvironment,
    /// Minutes spent.
    pub time_spent_minutes: i32,
    /// Lifecycle status.
    pub status: SubmissionStatus,
    /// The client's feedback on rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_feedback: Option<String>,
    /// The client's notes on a revision request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_notes: Option<String>,
    /// Created.
    pub created_at: DateTime,
    /// Last handed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime>,
    /// Last reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<DateTime>,
    /// Last changed.
    pub updated_at: DateTime,
    /// What the tester receives once approved, in US cents after the platform fee (escrow writes
    /// it through [`MarketplaceService::record_submission_payout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "payout_amount_usd")]
    pub payout_amount_cents: Option<i64>,
    /// Where the payout is (escrow writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_status: Option<SubmissionPayoutStatus>,
    /// When the payout was paid (escrow writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_date: Option<DateTime>,
}

/// The client's verdict on a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewDecision {
    /// Accept it.
    Approve,
    /// Refuse it with feedback.
    Reject {
        /// Why.
        feedback: String,
    },
    /// Send it back with notes.
    RequestRevision {
        /// What to change.
        notes: String,
    },
}

/// A review the caller may give, found by [`MarketplaceService::plan_review`] (or
/// [`MarketplaceService::plan_auto_approval`]) and applied by [`MarketplaceService::apply_review`]
/// inside the caller's transaction.
#[derive(Debug, Clone)]
pub struct PlannedReview {
    /// The submission under review.
    pub submission_id: ObjectId,
    /// Its job.
    pub job_id: ObjectId,
    /// Its tester.
    pub tester_id: ObjectId,
    /// The verdict.
    pub decision: ReviewDecision,
    /// The reviewer; `None` when the platform approves automatically.
    pub reviewer: Option<ObjectId>,
    /// For an auto-approval: only a submission handed in at or before this is approved.
    submitted_before: Option<DateTime>,
}

/// One submission change, applied in a transaction (see the module docs).
struct SubmissionChange {
    submission_id: ObjectId,
    action: SubmissionAction,
    /// Extra conditions on the submission (who may act).
    guard: Document,
    set: Document,
    seat: Option<(AssignmentStatus, AssignmentStatus)>,
    /// Whether this is the client's review, which the job's status must allow
    /// ([`REVIEWABLE_JOB_STATUSES`]).
    review: bool,
}

/// The event a review records: the tester hears the verdict (an automatic approval also tells
/// the client, whose window closed); `job` holds the job's `title` and `client_id`.
fn review_event(
    plan: &PlannedReview,
    job: &Document,
    paid_cents: Option<i64>,
) -> Result<DomainEvent, MarketplaceError> {
    let client_id = job
        .get_object_id("client_id")
        .map_err(|error| MarketplaceError::Internal(format!("job without client: {error}")))?;
    let title = job.get_str("title").unwrap_or_default();
    let (kind, recipients) = match (&plan.decision, plan.reviewer) {
        (ReviewDecision::Approve, Some(_)) => {
            (DomainEventKind::SubmissionApproved, vec![plan.tester_id])
        }
        (ReviewDecision::Approve, None) => (
            DomainEventKind::SubmissionAutoApproved,
            vec![plan.tester_id, client_id],
        ),
        (ReviewDecision::Reject { .. }, _) => {
            (DomainEventKind::SubmissionRejected, vec![plan.tester_id])
        }
        (ReviewDecision::RequestRevision { .. }, _) => {
            (DomainEventKind::RevisionRequested, vec![plan.tester_id])
        }
    };
    let mut payload = doc! { "job_title": title };
    if let Some(cents) = paid_cents {
        payload.insert("amount_cents", cents);
    }
    let mut event = DomainEvent::new(kind, recipients)
        .with_job(plan.job_id)
        .with_submission(plan.submission_id)
        .with_payload(payload);
    if let Some(reviewer) = plan.reviewer {
        event = event.with_related_user(reviewer);
    }
    Ok(event)
}

/// The job statuses in which a client may review submissions: while the job runs and during its
/// review phase; not on a draft, a cancelled or a completed job.
pub const REVIEWABLE_JOB_STATUSES: &[JobStatus] =
    &[JobStatus::Open, JobStatus::InProgress, JobStatus::Review];

impl MarketplaceService {
    /// Opens the tester's draft submission for a job they hold a seat on (one per seat); the seat
    /// moves to in_progress if it was only assigned.
    pub async fn create_submission(
        &self,
        actor: &Actor,
        job_id: ObjectId,
    ) -> Result<Submission, MarketplaceError> {
        let job = self.job(job_id).await?;
        let Some(seat) = job
            .assigned_testers
            .iter()
            .find(|seat| seat.tester_id == actor.user_id)
        else {
            return Err(MarketplaceError::NotAssigned);
        };
        if !matches!(job.status, JobStatus::Open | JobStatus::InProgress) {
            return Err(MarketplaceError::InvalidJobTransition {
                from: job.status.as_str(),
                action: "take submissions",
            });
        }
        let now = self.now();
        let submission = Submission {
            id: ObjectId::new(),
            job_id,
            tester_id: actor.user_id,
            summary: String::new(),
            ai_enhanced_summary: None,
            test_results: Vec::new(),
            bugs: Vec::new(),
            environment: TestEnvironment::default(),
            time_spent_minutes: 0,
            status: SubmissionStatus::Draft,
            client_feedback: None,
            revision_notes: None,
            created_at: now,
            submitted_at: None,
            reviewed_at: None,
            updated_at: now,
            payout_amount_cents: None,
            payout_status: None,
            payout_date: None,
        };
        match self.submissions.insert_one(&submission).await {
            Ok(_) => {}
            Err(error) if foundation::collection::is_duplicate_key(&error) => {
                return Err(MarketplaceError::SubmissionExists)
            }
            Err(error) => return Err(error.into()),
        }
        if seat.status == AssignmentStatus::Assigned {
            self.move_assignment(
                None,
                job_id,
                actor.user_id,
                AssignmentStatus::Assigned,
                AssignmentStatus::InProgress,
            )
            .await?;
        }
        Ok(submission)
    }

    /// The submission with `submission_id` and its job, in one command (an aggregation that looks
    /// the job up), visible or not: the caller decides.
    pub(crate) async fn submission_with_job(
        &self,
        submission_id: ObjectId,
    ) -> Result<(Submission, Job), MarketplaceError> {
        let pipeline = vec![
            doc! { "$match": { "_id": submission_id } },
            doc! { "$lookup": {
                "from": crate::collections::JOBS, "localField": "job_id",
                "foreignField": "_id", "as": "job_of_submission",
            } },
        ];
        let mut found = self
            .submissions
            .clone_with_type::<Document>()
            .aggregate(pipeline)
            .await?
            .try_next()
            .await?
            .ok_or(MarketplaceError::SubmissionNotFound)?;
        let job = match found.remove("job_of_submission") {
            Some(bson::Bson::Array(mut jobs)) if !jobs.is_empty() => match jobs.swap_remove(0) {
                bson::Bson::Document(job) => bson::from_document::<Job>(job)?,
                _ => return Err(MarketplaceError::JobNotFound),
            },
            _ => return Err(MarketplaceError::JobNotFound),
        };
        Ok((bson::from_document(found)?, job))
    }

    /// The submission with `submission_id`, as [`crate::visibility::submission_visible`] allows
    /// (a draft only to its tester and admins); anyone else gets `SubmissionNotFound`, the same
    /// answer as for an id that names nothing.
    pub async fn submission(
        &self,
        actor: &Actor,
        submission_id: ObjectId,
    ) -> Result<Submission, MarketplaceError> {
        let submission = self
            .submissions
            .find_one(doc! { "_id": submission_id })
            .await?
            .ok_or(MarketplaceError::SubmissionNotFound)?;
        if submission.tester_id == actor.user_id {
            return Ok(submission);
        }
        let job = self.job(submission.job_id).await?;
        if crate::visibility::submission_visible(actor, &submission, &job) {
            Ok(submission)
        } else {
            Err(MarketplaceError::SubmissionNotFound)
        }
    }

    /// Replaces the content of the tester's draft (or revision-requested) submission. Step numbers
    /// must exist in the job's journey. A changed summary drops its `ai_enhanced_summary`.
    pub async fn save_submission(
        &self,
        actor: &Actor,
        submission_id: ObjectId,
        content: SubmissionContent,
    ) -> Result<Submission, MarketplaceError> {
        crate::bounds::submission(&content)?;
        let current = self.submission(actor, submission_id).await?;
        let job = self.job(current.job_id).await?;
        let mut seen = Vec::new();
        for result in &content.test_results {
            if !job
                .user_journey
                .steps
                .iter()
                .any(|step| step.step_number == result.step_number)
            {
                return Err(MarketplaceError::InvalidInput {
                    field: "test_results",
                    reason: format!("the job has no step {}", result.step_number),
                });
            }
            if seen.contains(&result.step_number) {
                return Err(MarketplaceError::InvalidInput {
                    field: "test_results",
                    reason: format!("step {} is reported twice", result.step_number),
                });
            }
            seen.push(result.step_number);
        }
        let mut set = bson::to_document(&content.environment)?;
        if content.summary != current.summary {
            // An AI summary of the old text would misrepresent the new one.
            set.insert("ai_enhanced_summary", bson::Bson::Null);
        }
        set.insert("summary", content.summary);
        set.insert("test_results", bson::to_bson(&content.test_results)?);
        set.insert("bugs", bson::to_bson(&content.bugs)?);
        set.insert("time_spent_minutes", content.time_spent_minutes);
        set.insert("updated_at", self.now());
        self.apply_submission_change(SubmissionChange {
            submission_id,
            action: SubmissionAction::Edit,
            guard: doc! { "tester_id": actor.user_id },
            set,
            seat: None,
            review: false,
        })
        .await
    }

    /// Hands the tester's submission in (first time or after a revision request); the seat moves
    /// in_progress → submitted and the job's counters follow.
    pub async fn submit_submission(
        &self,
        actor: &Actor,
        submission_id: ObjectId,
    ) -> Result<Submission, MarketplaceError> {
        let now = self.now();
        let change = &SubmissionChange {
            submission_id,
            action: SubmissionAction::Submit,
            guard: doc! { "tester_id": actor.user_id },
            // A hand-in (or a resubmission) starts a new review window: its reminder is due again.
            set: doc! { "submitted_at": now, "updated_at": now, "review_reminded_at": null },
            seat: Some((AssignmentStatus::InProgress, AssignmentStatus::Submitted)),
            review: false,
        };
        // The hand-in and the `submission_submitted` event commit together.
        self.in_transaction(|mut session| async move {
            let outcome = match self.submission_change_steps(&mut session, change).await {
                Ok((submission, job)) => self
                    .record_submitted(&mut session, &submission, job, now)
                    .await
                    .map(|()| submission),
                Err(error) => Err(error),
            };
            (session, outcome)
        })
        .await
    }

    /// Records `submission_submitted` for the job's client and, for an organization's job, its
    /// owners and admins (identity resolves them when the event is delivered).
    /// `job`: the job as the seat's move returned it, when it did (its title, client and
    /// organization are all the event needs); read otherwise.
    async fn record_submitted(
        &self,
        session: &mut ClientSession,
        submission: &Submission,
        job: Option<Job>,
        now: DateTime,
    ) -> Result<(), MarketplaceError> {
        let job = match job {
            Some(job) => job,
            None => self
                .jobs
                .find_one(doc! { "_id": submission.job_id })
                .session(&mut *session)
                .await?
                .ok_or(MarketplaceError::JobNotFound)?,
        };
        let mut event = DomainEvent::new(DomainEventKind::SubmissionSubmitted, [job.client_id])
            .with_job(job.id)
            .with_submission(submission.id)
            .with_related_user(submission.tester_id)
            .with_payload(doc! { "job_title": &job.title });
        if let Some(organization_id) = job.organization_id {
            event = event.with_group(RecipientGroup::OrganizationManagers { organization_id });
        }
        self.events.record(session, event, now).await?;
        Ok(())
    }

    /// The client takes a handed-in submission into review (submitted → under_review), so the
    /// tester sees it is being looked at; approving, rejecting and asking for a revision work from
    /// there as from submitted, and the auto-approval of unreviewed work still applies. Whoever
    /// manages the job may do it (it moves no money), while the job is open, in progress or in
    /// review. A compare-and-set on the status: a second start, or one racing a decision, is
    /// refused as an invalid transition.
    pub async fn start_submission_review(
        &self,
        actor: &Actor,
        submission_id: ObjectId,
    ) -> Result<Submission, MarketplaceError> {
        let (submission, job) = self.submission_with_job(submission_id).await?;
        if submission.tester_id != actor.user_id
            && !crate::visibility::submission_visible(actor, &submission, &job)
        {
            return Err(MarketplaceError::SubmissionNotFound);
        }
        if actor.role == ActorRole::Tester || !actor.manages(job.client_id, job.organization_id) {
            return Err(MarketplaceError::Forbidden {
                action: "review this submission",
            });
        }
        let now = self.now();
        self.apply_submission_change(SubmissionChange {
            submission_id,
            action: SubmissionAction::StartReview,
            guard: Document::new(),
            set: doc! { "updated_at": now },
            seat: None,
            review: true,
        })
        .await
    }

    /// The client's review: approve (seat completed), reject with feedback (seat completed) or
    /// request a revision with notes (seat back to in_progress), in one transaction of its own.
    /// It moves no money: the API and the background work approve and reject through escrow,
    /// which runs the same [`MarketplaceService::plan_review`] and
    /// [`MarketplaceService::apply_review`] with the money step in its transaction.
    pub async fn review_submission(
        &self,
        actor: &Actor,
        submission_id: ObjectId,
        decision: ReviewDecision,
        payer: PayerStanding,
    ) -> Result<Submission, MarketplaceError> {
        let plan = self
            .plan_review(actor, submission_id, decision, payer)
            .await?;
        let plan = &plan;
        self.in_transaction(|mut session| async move {
            let outcome = self.apply_review(&mut session, plan, None).await;
            (session, outcome)
        })
        .await
    }

    /// Checks that `actor` may give `decision` on `submission_id`, reading the submission and its
    /// job once. Whoever manages the job may ask for a revision; approving (which pays the tester)
    /// and rejecting (which frees the seat's money) need the owner or an organization owner or
    /// admin, and approving an active, verified caller (`payer`, the same rule as publishing).
    /// The statuses are checked again where they change ([`MarketplaceService::apply_review`]).
    pub async fn plan_review(
        &self,
        actor: &Actor,
        submission_id: ObjectId,
        decision: ReviewDecision,
        payer: PayerStanding,
    ) -> Result<PlannedReview, MarketplaceError> {
        let (submission, job) = self.submission_with_job(submission_id).await?;
        if submission.tester_id != actor.user_id
            && !crate::visibility::submission_visible(actor, &submission, &job)
        {
            return Err(MarketplaceError::SubmissionNotFound);
        }
        if actor.role == ActorRole::Tester || !actor.manages(job.client_id, job.organization_id) {
            return Err(MarketplaceError::Forbidden {
                action: "review this submission",
            });
        }
        let moves_money = !matches!(decision, ReviewDecision::RequestRevision { .. });
        if moves_money && !actor.administers(job.client_id, job.organization_id) {
            return Err(MarketplaceError::MoneyStepNeedsAdmin {
                action: "approve or reject a submission",
            });
        }
        if matches!(decision, ReviewDecision::Approve) {
            payer.require_verified()?;
        }
        Ok(PlannedReview {
            submission_id,
            job_id: job.id,
            tester_id: submission.tester_id,
            decision,
            reviewer: Some(actor.user_id),
            submitted_before: None,
        })
    }

    /// The platform's approval of `submission`, left unreviewed by its client: applied only if it
    /// is still submitted or under review and was handed in at or before `submitted_before` (so a
    /// resubmission racing the sweep is not approved early).
    pub fn plan_auto_approval(
        &self,
        submission: &Submission,
        submitted_before: DateTime,
    ) -> PlannedReview {
        PlannedReview {
            submission_id: submission.id,
            job_id: submission.job_id,
            tester_id: submission.tester_id,
            decision: ReviewDecision::Approve,
            reviewer: None,
            submitted_before: Some(submitted_before),
        }
    }

    /// The platform approves a submission its client left unreviewed (see
    /// [`MarketplaceService::plan_auto_approval`]), in one transaction of its own and without
    /// money, like [`MarketplaceService::review_submission`]. A second sweep over the same
    /// submission is a refused transition, never a second approval.
    pub async fn auto_approve_submission(
        &self,
        submission_id: ObjectId,
        submitted_before: DateTime,
    ) -> Result<Submission, MarketplaceError> {
        let submission = self
            .submissions
            .find_one(doc! { "_id": submission_id })
            .await?
            .ok_or(MarketplaceError::SubmissionNotFound)?;
        let plan = self.plan_auto_approval(&submission, submitted_before);
        let plan = &plan;
        self.in_transaction(|mut session| async move {
            let outcome = self.apply_review(&mut session, plan, None).await;
            (session, outcome)
        })
        .await
    }

    /// Applies a planned review inside the caller's transaction, in two writes: the submission's
    /// status by compare-and-set (with `payout`, the seed's `payout_*` fields, when the caller
    /// holds a payout for it), then the job in one update that moves the tester's seat, counts an
    /// approval and checks that the job still takes reviews ([`REVIEWABLE_JOB_STATUSES`]), so a
    /// racing cancel or completion either lands first and refuses the review, or waits for it.
    /// The job's submission and bug counts do not change: a review moves a handed-in submission
    /// between handed-in statuses.
    pub async fn apply_review(
        &self,
        session: &mut ClientSession,
        plan: &PlannedReview,
        payout: Option<SubmissionPayout>,
    ) -> Result<Submission, MarketplaceError> {
        let now = self.now();
        let mut set = doc! { "reviewed_at": now, "updated_at": now };
        let (action, seat_target) = match &plan.decision {
            ReviewDecision::Approve => (SubmissionAction::Approve, AssignmentStatus::Completed),
            ReviewDecision::Reject { feedback } => {
                set.insert("client_feedback", feedback.as_str());
                (SubmissionAction::Reject, AssignmentStatus::Completed)
            }
            ReviewDecision::RequestRevision { notes } => {
                set.insert("revision_notes", notes.as_str());
                (
                    SubmissionAction::RequestRevision,
                    AssignmentStatus::InProgress,
                )
            }
        };
        if plan.reviewer.is_none() {
            set.insert("auto_approved", true);
        }
        let paid_cents = payout.as_ref().map(|payout| payout.amount_cents);
        if let Some(payout) = payout {
            set.insert("payout_amount_usd", payout.amount_cents);
            set.insert("payout_status", payout.status.as_str());
        }
        let (sources, target) = transitions_for(action);
        if let Some(target) = target {
            set.insert("status", target.as_str());
        }
        let mut filter = doc! { "_id": plan.submission_id, "status": { "$in": sources } };
        if let Some(before) = plan.submitted_before {
            filter.insert("submitted_at", doc! { "$lte": before });
        }
        let reviewed = self
            .submissions
            .find_one_and_update(filter, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?;
        let Some(reviewed) = reviewed else {
            let current = self
                .submissions
                .find_one(doc! { "_id": plan.submission_id })
                .session(&mut *session)
                .await?
                .ok_or(MarketplaceError::SubmissionNotFound)?;
            return Err(MarketplaceError::InvalidSubmissionTransition {
                from: current.status.as_str(),
                action: action.as_str(),
            });
        };
        let reviewable: Vec<&str> = REVIEWABLE_JOB_STATUSES
            .iter()
            .map(|status| status.as_str())
            .collect();
        let mut job_update = doc! { "$set": {
            "assigned_testers.$.status": seat_target.as_str(),
            "updated_at": now,
        }};
        if action == SubmissionAction::Approve {
            job_update.insert("$inc", doc! { "approved_submission_count": 1 });
        }
        // The job's title and client come back with the update, for the tester's notification.
        let moved = self
            .jobs
            .clone_with_type::<Document>()
            .find_one_and_update(
                doc! {
                    "_id": plan.job_id,
                    "status": { "$in": reviewable },
                    "assigned_testers": { "$elemMatch": {
                        "tester_id": plan.tester_id,
                        "status": AssignmentStatus::Submitted.as_str(),
                    } },
                },
                job_update,
            )
            .projection(doc! { "title": 1, "client_id": 1 })
            .session(&mut *session)
            .await?;
        if let Some(job) = moved {
            let event = review_event(plan, &job, paid_cents)?;
            self.events.record(session, event, now).await?;
            return Ok(reviewed);
        }
        let job = self
            .jobs
            .find_one(doc! { "_id": plan.job_id })
            .session(&mut *session)
            .await?
            .ok_or(MarketplaceError::JobNotFound)?;
        if !REVIEWABLE_JOB_STATUSES.contains(&job.status) {
            return Err(MarketplaceError::InvalidJobTransition {
                from: job.status.as_str(),
                action: "review submissions",
            });
        }
        Err(
            match job
                .assigned_testers
                .iter()
                .find(|seat| seat.tester_id == plan.tester_id)
            {
                None => MarketplaceError::NotAssigned,
                Some(seat) => MarketplaceError::InvalidAssignmentTransition {
                    from: seat.status.as_str(),
                    to: seat_target.as_str(),
                },
            },
        )
    }

    /// Runs `change` in a transaction, retrying on transient transaction errors (write conflicts
    /// between racing changes of the same job).
    async fn apply_submission_change(
        &self,
        change: SubmissionChange,
    ) -> Result<Submission, MarketplaceError> {
        let change = &change;
        self.in_transaction(|mut session| async move {
            let outcome = self
                .submission_change_steps(&mut session, change)
                .await
                .map(|(submission, _)| submission);
            (session, outcome)
        })
        .await
    }

    /// Returns the changed submission and, when its seat moved, the job as that move left it.
    async fn submission_change_steps(
        &self,
        session: &mut ClientSession,
        change: &SubmissionChange,
    ) -> Result<(Submission, Option<Job>), MarketplaceError> {
        if change.review {
            self.require_reviewable_job(session, change.submission_id)
                .await?;
        }
        let (sources, target) = transitions_for(change.action);
        let mut filter = change.guard.clone();
        filter.insert("_id", change.submission_id);
        filter.insert("status", doc! { "$in": sources });
        let mut set = change.set.clone();
        if let Some(target) = target {
            set.insert("status", target.as_str());
        }
        let updated = self
            .submissions
            .find_one_and_update(filter, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?;
        let Some(submission) = updated else {
            let current = self
                .submissions
                .find_one(doc! { "_id": change.submission_id })
                .session(&mut *session)
                .await?;
            return Err(match current {
                None => MarketplaceError::SubmissionNotFound,
                Some(current)
                    if change.guard.contains_key("tester_id")
                        && current.tester_id != guard_tester(&change.guard) =>
                {
                    MarketplaceError::SubmissionNotFound
                }
                Some(current) => MarketplaceError::InvalidSubmissionTransition {
                    from: current.status.as_str(),
                    action: change.action.as_str(),
                },
            });
        };
        let job = match change.seat {
            Some((from, to)) => Some(
                self.move_assignment(
                    Some(&mut *session),
                    submission.job_id,
                    submission.tester_id,
                    from,
                    to,
                )
                .await?,
            ),
            None => None,
        };
        self.recount_job(session, submission.job_id).await?;
        Ok((submission, job))
    }

    /// Refuses the review unless the submission's job is in a [`REVIEWABLE_JOB_STATUSES`] status,
    /// as the transaction's snapshot sees it.
    async fn require_reviewable_job(
        &self,
        session: &mut ClientSession,
        submission_id: ObjectId,
    ) -> Result<(), MarketplaceError> {
        let submission = self
            .submissions
            .find_one(doc! { "_id": submission_id })
            .session(&mut *session)
            .await?
            .ok_or(MarketplaceError::SubmissionNotFound)?;
        let job = self
            .jobs
            .find_one(doc! { "_id": submission.job_id })
            .session(&mut *session)
            .await?
            .ok_or(MarketplaceError::JobNotFound)?;
        if REVIEWABLE_JOB_STATUSES.contains(&job.status) {
            Ok(())
        } else {
            Err(MarketplaceError::InvalidJobTransition {
                from: job.status.as_str(),
                action: "review submissions",
            })
        }
    }

    /// Sets the job's counters to what its submissions say: submitted (non-draft) submissions,
    /// approved ones, and bugs in non-draft submissions.
    async fn recount_job(
        &self,
        session: &mut ClientSession,
        job_id: ObjectId,
    ) -> Result<(), MarketplaceError> {
        let submissions: Vec<Submission> = self
            .submissions
            .find(doc! { "job_id": job_id })
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        let counted = submissions
            .iter()
            .filter(|submission| submission.status != SubmissionStatus::Draft);
        let submission_count = counted.clone().count() as i32;
        let approved = counted
            .clone()
            .filter(|submission| submission.status == SubmissionStatus::Approved)
            .count() as i32;
        let bugs: i32 = counted.map(|submission| submission.bugs.len() as i32).sum();
        self.jobs
            .update_one(
                doc! { "_id": job_id },
                doc! { "$set": {
                    "submission_count": submission_count,
                    "approved_submission_count": approved,
                    "bugs_found": bugs,
                }},
            )
            .session(&mut *session)
            .await?;
        Ok(())
    }
}

fn guard_tester(guard: &Document) -> ObjectId {
    guard.get_object_id("tester_id").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_cannot_be_approved_and_a_revision_can_be_resubmitted() {
        assert_eq!(submission_transition(S::Draft, A::Approve), None);
        assert_eq!(
            submission_transition(S::RevisionRequested, A::Submit),
            Some(S::Submitted)
        );
        assert_eq!(submission_transition(S::Submitted, A::Submit), None);
        assert_eq!(submission_transition(S::Approved, A::Reject), None);
    }

    #[test]
    fn every_action_leads_to_exactly_one_status() {
        for action in [
            A::Edit,
            A::Submit,
            A::Approve,
            A::Reject,
            A::RequestRevision,
            A::StartReview,
        ] {
            let targets: Vec<_> = SUBMISSION_TRANSITIONS
                .iter()
                .filter(|(_, step, _)| *step == action)
                .map(|(_, _, to)| *to)
                .collect();
            assert!(!targets.is_empty());
            if action != A::Edit {
                assert!(targets.iter().all(|to| *to == targets[0]));
            }
        }
    }
}
