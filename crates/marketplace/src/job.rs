//! Jobs (seed section 3): the stored shape, the job lifecycle as one transition table, and the
//! client operations on it (create a draft, edit its journey, publish, move it along, cancel).

use bson::oid::ObjectId;
use bson::{doc, DateTime};
use foundation::events::{DomainEvent, DomainEventKind, RecipientGroup};
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::actor::PayerStanding;
use crate::assignment::{Assignment, WithdrawnSeat};
use crate::commitment::job_budget;
use crate::error::MarketplaceError;
use crate::funding::{FundingReceipt, PaymentSource};
use crate::project::ProjectStatus;
use crate::service::MarketplaceService;
use crate::usage::{is_running, UsageCounter, UsageOwner};

/// Most testers one job may invite: the invite list is read whole with the job, so it is
/// bounded like any other input.
pub const MAX_INVITED_TESTERS: usize = 100;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Being written by the client; invisible to testers; the journey may change.
    Draft,
    /// Published: testers may find and claim seats.
    Open,
    /// Testing under way; no new claims.
    InProgress,
    /// Testing over; the client reviews submissions.
    Review,
    /// Finished.
    Completed,
    /// Withdrawn by the client before review.
    Cancelled,
}

impl JobStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Draft => "draft",
            JobStatus::Open => "open",
            JobStatus::InProgress => "in_progress",
            JobStatus::Review => "review",
            JobStatus::Completed => "completed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// A step a client can take on a job's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// draft → open (funds the job first).
    Publish,
    /// open → in_progress: stop taking claims, testing runs.
    StartTesting,
    /// in_progress → review.
    BeginReview,
    /// review → completed.
    Complete,
    /// draft | open | in_progress → cancelled.
    Cancel,
}

impl JobAction {
    /// The action in words, for errors.
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Publish => "publish",
            JobAction::StartTesting => "start testing",
            JobAction::BeginReview => "begin review",
            JobAction::Complete => "complete",
            JobAction::Cancel => "cancel",
        }
    }
}

/// The job lifecycle: every allowed (from, action, to). Nothing else is allowed.
pub const JOB_TRANSITIONS: &[(JobStatus, JobAction, JobStatus)] = &[
    (JobStatus::Draft, JobAction::Publish, JobStatus::Open),
    (
        JobStatus::Open,
        JobAction::StartTesting,
        JobStatus::InProgress,
    ),
    (
        JobStatus::InProgress,
        JobAction::BeginReview,
        JobStatus::Review,
    ),
    (JobStatus::Review, JobAction::Complete, JobStatus::Completed),
    (JobStatus::Draft, JobAction::Cancel, JobStatus::Cancelled),
    (JobStatus::Open, JobAction::Cancel, JobStatus::Cancelled),
    (
        JobStatus::InProgress,
        JobAction::Cancel,
        JobStatus::Cancelled,
    ),
];

/// Refuses what the owning organization's rules forbid the caller: anything while it is
/// suspended, and a public job when it admits no external testers.
pub(crate) fn check_organization_rules(
    actor: &Actor,
    organization_id: Option<ObjectId>,
    visibility: Visibility,
) -> Result<(), MarketplaceError> {
    let Some(rules) = actor.rules_binding_on(organization_id) else {
        return Ok(());
    };
    if rules.suspended {
        return Err(MarketplaceError::OrganizationSuspended);
    }
    if visibility == Visibility::Public && !rules.external_testers_allowed {
        return Err(MarketplaceError::InvalidInput {
            field: "visibility",
            reason: "the organization admits no external testers: make the job private or \
                     invited-only"
                .into(),
        });
    }
    Ok(())
}

/// The status `action` leads to from `from`, if the table allows it.
pub fn job_transition(from: JobStatus, action: JobAction) -> Option<JobStatus> {
    JOB_TRANSITIONS
        .iter()
        .find(|(source, step, _)| *source == from && *step == action)
        .map(|(_, _, target)| *target)
}

/// Who may see and claim a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Listed to every qualifying tester.
    Public,
    /// Not listed; claimable only by invited testers.
    Private,
    /// Listed and claimable only for invited testers.
    InvitedOnly,
}

/// The level a job asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TesterLevel {
    /// Any tester.
    Any,
    /// Beginner or better.
    Beginner,
    /// Intermediate or better.
    Intermediate,
    /// Experts only.
    Expert,
}

/// The kind of test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestType {
    /// Free exploration.
    Exploratory,
    /// Re-check known behaviour.
    Regression,
    /// One feature.
    SpecificFeature,
    /// Follow the user journey.
    UserJourney,
}

/// One step of a user journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyStep {
    /// 1-based position; the steps of a journey are numbered 1, 2, 3, ... in order.
    pub step_number: i32,
    /// What the tester does.
    pub action: String,
    /// What should happen.
    pub expected_result: String,
}

/// The structured test a job asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserJourney {
    /// High-level description.
    pub scenario: String,
    /// Ordered steps.
    pub steps: Vec<JourneyStep>,
    /// Whether an AI provider enhanced it.
    pub ai_generated: bool,
    /// The template it was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_template_id: Option<ObjectId>,
}

/// A job as stored in `jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The job id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The project tested.
    pub project_id: ObjectId,
    /// The client who posted it.
    pub client_id: ObjectId,
    /// The client's organization when posted on its behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<ObjectId>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Kind of test.
    pub test_type: TestType,
    /// The structured test.
    pub user_journey: UserJourney,
    /// Devices; a tester must own at least one required device, browser or OS.
    pub required_devices: Vec<String>,
    /// Browsers.
    pub required_browsers: Vec<String>,
    /// Operating systems.
    pub required_os: Vec<String>,
    /// Minimum tester level.
    pub tester_level: TesterLevel,
    /// Seats.
    pub max_testers: i32,
    /// Seats taken, one per tester.
    pub assigned_testers: Vec<Assignment>,
    /// Seats given back, kept as history the client sees (a withdrawal moves the seat here in
    /// the same update that frees it).
    #[serde(default)]
    pub withdrawn_testers: Vec<WithdrawnSeat>,
    /// Pay per tester in US cents (the seed's name is kept; the unit is minor units).
    #[serde(rename = "budget_per_tester_usd")]
    pub budget_per_tester_cents: i64,
    /// `budget_per_tester_usd × max_testers`, in US cents.
    #[serde(rename = "total_budget_usd")]
    pub total_budget_cents: i64,
    /// When testing must be done.
    pub deadline: DateTime,
    /// Expected effort per tester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_duration_minutes: Option<i32>,
    /// Lifecycle status.
    pub status: JobStatus,
    /// Who may see and claim it.
    pub visibility: Visibility,
    /// Testers invited to a private or invited-only job.
    #[serde(default)]
    pub invited_tester_ids: Vec<ObjectId>,
    /// What funding reported on publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow_status: Option<crate::funding::JobEscrowStatus>,
    /// Set from the reservation of the job's budget before funding until the job is completed or
    /// cancelled: the budget counts against the owner's committed total (see `commitment`).
    #[serde(default)]
    pub budget_reserved: bool,
    /// The escrow transaction, once escrow exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow_transaction_id: Option<ObjectId>,
    /// Submitted (non-draft) submissions.
    pub submission_count: i32,
    /// Approved submissions.
    pub approved_submission_count: i32,
    /// Bugs in submitted (non-draft) submissions.
    pub bugs_found: i32,
    /// Created.
    pub created_at: DateTime,
    /// Last changed.
    pub updated_at: DateTime,
    /// Published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime>,
    /// Completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime>,
    /// Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime>,
}

/// What a client supplies to create a draft job.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The project tested.
    pub project_id: ObjectId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Kind of test.
    pub test_type: TestType,
    /// Scenario of the journey.
    pub scenario: String,
    /// Steps as (action, expected result); numbered 1.. in this order.
    pub steps: Vec<(String, String)>,
    /// Required devices.
    pub required_devices: Vec<String>,
    /// Required browsers.
    pub required_browsers: Vec<String>,
    /// Required operating systems.
    pub required_os: Vec<String>,
    /// Minimum level.
    pub tester_level: TesterLevel,
    /// Seats, at least 1.
    pub max_testers: i32,
    /// Pay per tester in US cents, not negative.
    pub budget_per_tester_cents: i64,
    /// Deadline; must be in the future.
    pub deadline: DateTime,
    /// Expected effort.
    pub estimated_duration_minutes: Option<i32>,
    /// Visibility.
    pub visibility: Visibility,
    /// Invited testers (for private and invited-only jobs).
    pub invited_tester_ids: Vec<ObjectId>,
}

/// A change to a draft job's details; `None` keeps the current value. The journey has its own
/// operation (`update_job_journey`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftJobUpdate {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New required devices.
    pub required_devices: Option<Vec<String>>,
    /// New required browsers.
    pub required_browsers: Option<Vec<String>>,
    /// New required operating systems.
    pub required_os: Option<Vec<String>>,
    /// New minimum level.
    pub tester_level: Option<TesterLevel>,
    /// New number of seats.
    pub max_testers: Option<i32>,
    /// New pay per tester, in US cents.
    pub budget_per_tester_cents: Option<i64>,
    /// New deadline.
    pub deadline: Option<DateTime>,
    /// New expected effort.
    pub estimated_duration_minutes: Option<i32>,
    /// New visibility.
    pub visibility: Option<Visibility>,
}

/// Organization limits the caller passes in (identity records them per plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrganizationLimits {
    /// Projects that may be active at once.
    pub max_projects: u32,
    /// Jobs that may be open, in progress or in review at once.
    pub max_concurrent_jobs: u32,
}

/// The result of publishing: the open job and what funding said.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedJob {
    /// The job, now open.
    pub job: Job,
    /// The funding outcome.
    pub funding: FundingReceipt,
}

/// How a job change moves the owner's running-job count.
#[derive(Debug, Clone, Copy)]
enum UsageChange {
    /// Take a unit, refusing at `limit`.
    Take { limit: u32 },
    /// Give a unit back, and the job's reserved budget.
    Release,
    /// Give the job's reserved budget back (a draft never took a running unit).
    ReleaseBudgetOnly,
}

/// A publish the caller may make, found by [`MarketplaceService::plan_publish`] (which reserved
/// the job's budget), finished by [`MarketplaceService::open_published_job`] once funded or
/// [`MarketplaceService::abandon_publish`] when funding failed.
#[derive(Debug, Clone)]
pub struct PlannedPublish {
    /// The draft as it was read.
    pub job: Job,
    owner: UsageOwner,
    limit: u32,
    reserved_on: Option<i64>,
}

/// A lifecycle step the caller may take, found by [`MarketplaceService::plan_job_transition`]
/// and applied by [`MarketplaceService::apply_job_transition`] inside the caller's transaction.
#[derive(Debug, Clone)]
pub struct PlannedJobTransition {
    change: CountedJobChange,
}

impl PlannedJobTransition {
    /// The job.
    pub fn job_id(&self) -> ObjectId {
        self.change.job_id
    }
}

/// One job status change, applied by compare-and-set on `from` in a transaction that also moves
/// the owner's running-job count.
#[derive(Debug, Clone)]
struct CountedJobChange {
    job_id: ObjectId,
    from: JobStatus,
    action: JobAction,
    set: bson::Document,
    usage: Option<(UsageOwner, UsageChange)>,
}

pub(crate) fn numbered_steps(
    steps: Vec<(String, String)>,
) -> Result<Vec<JourneyStep>, MarketplaceError> {
    steps
        .into_iter()
        .enumerate()
        .map(|(index, (action, expected_result))| {
            if action.trim().is_empty() {
                return Err(MarketplaceError::InvalidInput {
                    field: "steps",
                    reason: format!("step {} has no action", index + 1),
                });
            }
            Ok(JourneyStep {
                step_number: index as i32 + 1,
                action,
                expected_result,
            })
        })
        .collect()
}

impl MarketplaceService {
    /// Creates a draft job in a project the caller manages; the job belongs to the project's
    /// client and organization.
    pub async fn create_job(&self, actor: &Actor, input: NewJob) -> Result<Job, MarketplaceError> {
        self.create_job_with_journey(actor, input, false, None)
            .await
    }

    pub(crate) async fn create_job_with_journey(
        &self,
        actor: &Actor,
        input: NewJob,
        ai_generated: bool,
        ai_template_id: Option<ObjectId>,
    ) -> Result<Job, MarketplaceError> {
        if actor.role == crate::ActorRole::Tester {
            return Err(MarketplaceError::Forbidden {
                action: "create jobs",
            });
        }
        let now = self.now();
        crate::bounds::job(&input, now)?;
        let total_budget = job_budget(
            &self.settings.money,
            input.max_testers,
            input.budget_per_tester_cents,
        )?;
        let project = self.project(input.project_id).await?;
        if !actor.manages(project.client_id, project.organization_id) {
            return Err(MarketplaceError::Forbidden {
                action: "create jobs in this project",
            });
        }
        if project.status == ProjectStatus::Archived {
            return Err(MarketplaceError::ProjectArchived);
        }
        check_organization_rules(actor, project.organization_id, input.visibility)?;
        let job = Job {
            id: ObjectId::new(),
            project_id: input.project_id,
            client_id: project.client_id,
            organization_id: project.organization_id,
            title: input.title,
            description: input.description,
            test_type: input.test_type,
            user_journey: UserJourney {
                scenario: input.scenario,
                steps: numbered_steps(input.steps)?,
                ai_generated,
                ai_template_id,
            },
            required_devices: input.required_devices,
            required_browsers: input.required_browsers,
            required_os: input.required_os,
            tester_level: input.tester_level,
            max_testers: input.max_testers,
            assigned_testers: Vec::new(),
            withdrawn_testers: Vec::new(),
            budget_per_tester_cents: input.budget_per_tester_cents,
            total_budget_cents: total_budget,
            deadline: input.deadline,
            estimated_duration_minutes: input.estimated_duration_minutes,
            status: JobStatus::Draft,
            visibility: input.visibility,
            invited_tester_ids: input.invited_tester_ids,
            escrow_status: None,
            budget_reserved: false,
            escrow_transaction_id: None,
            submission_count: 0,
            approved_submission_count: 0,
            bugs_found: 0,
            created_at: now,
            updated_at: now,
            published_at: None,
            completed_at: None,
            cancelled_at: None,
        };
        self.jobs.insert_one(&job).await?;
        Ok(job)
    }

    /// The job with `job_id`.
    pub async fn job(&self, job_id: ObjectId) -> Result<Job, MarketplaceError> {
        self.jobs
            .find_one(doc! { "_id": job_id })
            .await?
            .ok_or(MarketplaceError::JobNotFound)
    }

    /// The job, if the caller may take a step on it that moves money: the owner, an owner or
    /// admin of the owning organization, or a platform admin (organization members prepare
    /// drafts but move no money).
    pub(crate) async fn administered_job(
        &self,
        actor: &Actor,
        job_id: ObjectId,
        action: &'static str,
    ) -> Result<Job, MarketplaceError> {
        let job = self.job(job_id).await?;
        if actor.administers(job.client_id, job.organization_id) {
            return Ok(job);
        }
        if actor.manages(job.client_id, job.organization_id) {
            return Err(MarketplaceError::MoneyStepNeedsAdmin { action });
        }
        Err(MarketplaceError::Forbidden {
            action: "manage this job",
        })
    }

    pub(crate) async fn managed_job(
        &self,
        actor: &Actor,
        job_id: ObjectId,
    ) -> Result<Job, MarketplaceError> {
        let job = self.job(job_id).await?;
        if !actor.manages(job.client_id, job.organization_id) {
            return Err(MarketplaceError::Forbidden {
                action: "manage this job",
            });
        }
        Ok(job)
    }

    /// Changes a draft job's details, by whoever may edit it (see `managed_job`), under the same
    /// bounds as creating one (`bounds::job`, `job_budget`, the organization's rules), checked on
    /// the job as it will be. Written by compare-and-set on the draft as read (its status, its
    /// `updated_at` and no publish under way), so a racing edit or publish makes this one
    /// `DraftChanged` or `JobNotDraft` and nothing is half-applied. A change that sets nothing is
    /// bad input.
    pub async fn update_draft_job(
        &self,
        actor: &Actor,
        job_id: ObjectId,
        update: DraftJobUpdate,
    ) -> Result<Job, MarketplaceError> {
        if update == DraftJobUpdate::default() {
            return Err(MarketplaceError::InvalidInput {
                field: "input",
                reason: "give at least one detail to change".into(),
            });
        }
        let job = self.managed_job(actor, job_id).await?;
        if job.status != JobStatus::Draft || job.budget_reserved {
            return Err(MarketplaceError::JobNotDraft);
        }
        let merged = NewJob {
            project_id: job.project_id,
            title: update.title.unwrap_or_else(|| job.title.clone()),
            description: update
                .description
                .unwrap_or_else(|| job.description.clone()),
            test_type: job.test_type,
            scenario: job.user_journey.scenario.clone(),
            steps: job
                .user_journey
                .steps
                .iter()
                .map(|step| (step.action.clone(), step.expected_result.clone()))
                .collect(),
            required_devices: update
                .required_devices
                .unwrap_or_else(|| job.required_devices.clone()),
            required_browsers: update
                .required_browsers
                .unwrap_or_else(|| job.required_browsers.clone()),
            required_os: update
                .required_os
                .unwrap_or_else(|| job.required_os.clone()),
            tester_level: update.tester_level.unwrap_or(job.tester_level),
            max_testers: update.max_testers.unwrap_or(job.max_testers),
            budget_per_tester_cents: update
                .budget_per_tester_cents
                .unwrap_or(job.budget_per_tester_cents),
            deadline: update.deadline.unwrap_or(job.deadline),
            estimated_duration_minutes: update
                .estimated_duration_minutes
                .or(job.estimated_duration_minutes),
            visibility: update.visibility.unwrap_or(job.visibility),
            invited_tester_ids: job.invited_tester_ids.clone(),
        };
        let now = self.now();
        crate::bounds::job(&merged, now)?;
        let total_budget = job_budget(
            &self.settings.money,
            merged.max_testers,
            merged.budget_per_tester_cents,
        )?;
        check_organization_rules(actor, job.organization_id, merged.visibility)?;
        // The write's own token: strictly later than the one read, even on a frozen clock.
        let written_at = DateTime::from_millis(
            now.timestamp_millis()
                .max(job.updated_at.timestamp_millis() + 1),
        );
        let mut set = doc! {
            "title": &merged.title,
            "description": &merged.description,
            "required_devices": &merged.required_devices,
            "required_browsers": &merged.required_browsers,
            "required_os": &merged.required_os,
            "tester_level": bson::to_bson(&merged.tester_level)?,
            "max_testers": merged.max_testers,
            "budget_per_tester_usd": merged.budget_per_tester_cents,
            "total_budget_usd": total_budget,
            "deadline": merged.deadline,
            "visibility": bson::to_bson(&merged.visibility)?,
            "updated_at": written_at,
        };
        if let Some(minutes) = merged.estimated_duration_minutes {
            set.insert("estimated_duration_minutes", minutes);
        }
        let updated = self
            .jobs
            .find_one_and_update(
                doc! {
                    "_id": job_id,
                    "status": JobStatus::Draft.as_str(),
                    "updated_at": job.updated_at,
                    "budget_reserved": { "$ne": true },
                },
                doc! { "$set": set },
            )
            .return_document(ReturnDocument::After)
            .await?;
        match updated {
            Some(job) => Ok(job),
            None => {
                let current = self.job(job_id).await?;
                Err(
                    if current.status != JobStatus::Draft || current.budget_reserved {
                        MarketplaceError::JobNotDraft
                    } else {
                        MarketplaceError::DraftChanged
                    },
                )
            }
        }
    }

    /// Replaces the journey of a draft job. A published job's journey is fixed: JourneyLocked.
    pub async fn update_job_journey(
        &self,
        actor: &Actor,
        job_id: ObjectId,
        scenario: String,
        steps: Vec<(String, String)>,
    ) -> Result<Job, MarketplaceError> {
        self.managed_job(actor, job_id).await?;
        crate::bounds::journey(&scenario, &steps)?;
        let steps = bson::to_bson(&numbered_steps(steps)?)?;
        self.jobs
            .find_one_and_update(
                doc! { "_id": job_id, "status": JobStatus::Draft.as_str() },
                doc! { "$set": {
                    "user_journey.scenario": scenario,
                    "user_journey.steps": steps,
                    "updated_at": self.now(),
                }},
            )
            .return_document(ReturnDocument::After)
            .await?
            .ok_or(MarketplaceError::JourneyLocked)
    }

    /// Publishes a draft without escrow: [`MarketplaceService::plan_publish`], then funding
    /// through this service's [`crate::JobFunding`] ([`crate::NoFunding`] unless
    /// [`MarketplaceService::with_funding`] says otherwise), then
    /// [`MarketplaceService::open_published_job`] (or [`MarketplaceService::abandon_publish`]
    /// when funding fails). The API publishes through escrow's use case, which runs the same
    /// steps around its own funding.
    pub async fn publish_job(
        &self,
        actor: &Actor,
        job_id: ObjectId,
        limits: OrganizationLimits,
        payer: PayerStanding,
        source: Option<&PaymentSource>,
    ) -> Result<PublishedJob, MarketplaceError> {
        let payable = source.is_some() || !self.funding.charges_payer();
        let plan = self
            .plan_publish(actor, job_id, limits, payer, payable)
            .await?;
        match self.funding.fund(&plan.job, source).await {
            Ok(funding) => self.open_published_job(&plan, funding).await,
            Err(error) => {
                self.abandon_publish(&plan).await?;
                Err(error)
            }
        }
    }

    /// Checks that `actor` may publish the draft `job_id` and reserves its budget, before it is
    /// funded: only the owner or an organization owner or admin (or a platform admin), with an
    /// active, verified account (`payer`), within the organization's rules, the money limits and
    /// `limits.max_concurrent_jobs` (checked here and taken again, atomically, when the job
    /// opens). The reservation is a conditional `$inc` against the owner's committed total and a
    /// new account's daily funding, in one transaction; a second publish that finds it made
    /// (one that stopped half-way) may go on to funding only while the draft is unchanged.
    /// Without a way to pay (`payable` false: funding charges the payer and none was given) it
    /// is refused ([`MarketplaceError::PaymentMethodRequired`]) before anything is reserved.
    pub async fn plan_publish(
        &self,
        actor: &Actor,
        job_id: ObjectId,
        limits: OrganizationLimits,
        payer: PayerStanding,
        payable: bool,
    ) -> Result<PlannedPublish, MarketplaceError> {
        let job = self.job(job_id).await?;
        if !actor.may_publish(job.client_id, job.organization_id) {
            return Err(if actor.manages(job.client_id, job.organization_id) {
                MarketplaceError::MoneyStepNeedsAdmin {
                    action: "publish this job",
                }
            } else {
                MarketplaceError::Forbidden {
                    action: "manage this job",
                }
            });
        }
        // The rules may have changed since the draft was written.
        check_organization_rules(actor, job.organization_id, job.visibility)?;
        payer.require_verified()?;
        if !payable {
            return Err(MarketplaceError::PaymentMethodRequired);
        }
        if job_transition(job.status, JobAction::Publish).is_none() {
            return Err(MarketplaceError::InvalidJobTransition {
                from: job.status.as_str(),
                action: JobAction::Publish.as_str(),
            });
        }
        // Drafts written before the limits existed (or were lowered) are held to them too.
        job_budget(
            &self.settings.money,
            job.max_testers,
            job.budget_per_tester_cents,
        )?;
        let owner = UsageOwner::of(job.client_id, job.organization_id);
        let limit = limits.max_concurrent_jobs;
        let running = self.usage(owner, UsageCounter::RunningJobs).await?;
        if running.is_some_and(|running| running >= i64::from(limit)) {
            return Err(MarketplaceError::ConcurrentJobLimitReached { limit });
        }
        let reserved_on = self.reserve_job_budget(&job, payer).await?;
        if reserved_on.is_none() {
            // Reserved before (a publish that stopped half-way), no longer a draft, or edited
            // since it was read (`update_draft_job`): only the first may go on to funding.
            let current = self.job(job_id).await?;
            if current.status != JobStatus::Draft {
                return Err(MarketplaceError::InvalidJobTransition {
                    from: current.status.as_str(),
                    action: JobAction::Publish.as_str(),
                });
            }
            if !current.budget_reserved || current.total_budget_cents != job.total_budget_cents {
                return Err(MarketplaceError::DraftChanged);
            }
        }
        Ok(PlannedPublish {
            job,
            owner,
            limit,
            reserved_on,
        })
    }

    /// Opens a planned job once it is funded: in one transaction, draft → open by
    /// compare-and-set with the funding's `escrow_status`, and a unit of the owner's running-job
    /// count, refused at the limit (so racing publishes cannot overrun it).
    pub async fn open_published_job(
        &self,
        plan: &PlannedPublish,
        funding: FundingReceipt,
    ) -> Result<PublishedJob, MarketplaceError> {
        let now = self.now();
        let mut set = doc! {
            "status": JobStatus::Open.as_str(),
            "published_at": now,
            "updated_at": now,
            "escrow_status": funding.escrow_status.as_str(),
        };
        if let Some(transaction_id) = funding.escrow_transaction_id {
            set.insert("escrow_transaction_id", transaction_id);
        }
        let change = CountedJobChange {
            job_id: plan.job.id,
            from: JobStatus::Draft,
            action: JobAction::Publish,
            set,
            usage: Some((plan.owner, UsageChange::Take { limit: plan.limit })),
        };
        let job = self.apply_counted_job_change(&change).await?;
        Ok(PublishedJob { job, funding })
    }

    /// Gives back the reservation a planned publish made, after its funding failed.
    pub async fn abandon_publish(&self, plan: &PlannedPublish) -> Result<(), MarketplaceError> {
        match plan.reserved_on {
            Some(day) => self.release_failed_reservation(&plan.job, day).await,
            None => Ok(()),
        }
    }

    /// Applies a lifecycle step other than publishing (start testing, begin review, complete,
    /// cancel) by compare-and-set on the current status, in one transaction of its own. A step
    /// that takes the job out of the running states (complete, cancel while open or in progress)
    /// gives its unit of the owner's running-job count back in the same transaction. It moves no
    /// money: the API completes and cancels through escrow, which runs the same
    /// [`MarketplaceService::plan_job_transition`] and
    /// [`MarketplaceService::apply_job_transition`] with the refunds in its transaction.
    pub async fn transition_job(
        &self,
        actor: &Actor,
        job_id: ObjectId,
        action: JobAction,
    ) -> Result<Job, MarketplaceError> {
        let plan = self.plan_job_transition(actor, job_id, action).await?;
        self.apply_counted_job_change(&plan.change).await
    }

    /// Checks that `actor` may take `action` on the job (completing and cancelling need its
    /// owner or an organization owner or admin), reading it once. The status is checked again
    /// where it changes ([`MarketplaceService::apply_job_transition`]).
    pub async fn plan_job_transition(
        &self,
        actor: &Actor,
        job_id: ObjectId,
        action: JobAction,
    ) -> Result<PlannedJobTransition, MarketplaceError> {
        if action == JobAction::Publish {
            return Err(MarketplaceError::InvalidInput {
                field: "action",
                reason: "publish through publish_job".into(),
            });
        }
        let job = match action {
            JobAction::Complete => {
                self.administered_job(actor, job_id, "complete this job")
                    .await?
            }
            JobAction::Cancel => {
                self.administered_job(actor, job_id, "cancel this job")
                    .await?
            }
            _ => self.managed_job(actor, job_id).await?,
        };
        let Some(target) = job_transition(job.status, action) else {
            return Err(MarketplaceError::InvalidJobTransition {
                from: job.status.as_str(),
                action: action.as_str(),
            });
        };
        let now = self.now();
        let mut set = doc! { "status": target.as_str(), "updated_at": now };
        match target {
            JobStatus::Completed => set.insert("completed_at", now),
            JobStatus::Cancelled => set.insert("cancelled_at", now),
            _ => None,
        };
        let stops_running = is_running(job.status) && !is_running(target);
        let owner = UsageOwner::of(job.client_id, job.organization_id);
        Ok(PlannedJobTransition {
            change: CountedJobChange {
                job_id,
                from: job.status,
                action,
                set,
                usage: if stops_running {
                    Some((owner, UsageChange::Release))
                } else if target == JobStatus::Cancelled {
                    // A cancelled draft may hold a reservation whose funding stopped half-way.
                    Some((owner, UsageChange::ReleaseBudgetOnly))
                } else {
                    None
                },
            },
        })
    }

    /// Applies a planned lifecycle step inside the caller's transaction: the job's status by
    /// compare-and-set, and the owner's running-job count and committed budget with it.
    pub async fn apply_job_transition(
        &self,
        session: &mut ClientSession,
        plan: &PlannedJobTransition,
    ) -> Result<Job, MarketplaceError> {
        self.counted_job_change_steps(session, &plan.change).await
    }

    /// Runs `change` in a transaction (retried on write conflicts).
    async fn apply_counted_job_change(
        &self,
        change: &CountedJobChange,
    ) -> Result<Job, MarketplaceError> {
        self.in_transaction(|mut session| async move {
            let outcome = self.counted_job_change_steps(&mut session, change).await;
            (session, outcome)
        })
        .await
    }

    async fn counted_job_change_steps(
        &self,
        session: &mut ClientSession,
        change: &CountedJobChange,
    ) -> Result<Job, MarketplaceError> {
        // The counter is read (or created from a count) before the job moves, so a count taken
        // now does not already include this change.
        let usage = match change.usage {
            Some((owner, usage_change)) => {
                Some((self.usage_counter(session, owner).await?, usage_change))
            }
            None => None,
        };
        let moved = self
            .jobs
            .find_one_and_update(
                doc! { "_id": change.job_id, "status": change.from.as_str() },
                doc! { "$set": change.set.clone() },
            )
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?;
        let Some(job) = moved else {
            let current = self
                .jobs
                .find_one(doc! { "_id": change.job_id })
                .session(&mut *session)
                .await?
                .ok_or(MarketplaceError::JobNotFound)?;
            return Err(MarketplaceError::InvalidJobTransition {
                from: current.status.as_str(),
                action: change.action.as_str(),
            });
        };
        match usage {
            Some((counter, UsageChange::Take { limit })) => {
                let taken = self
                    .take_usage(session, &counter, UsageCounter::RunningJobs, limit)
                    .await?;
                if !taken {
                    return Err(MarketplaceError::ConcurrentJobLimitReached { limit });
                }
            }
            Some((counter, UsageChange::Release)) => {
                self.release_usage(session, &counter, UsageCounter::RunningJobs)
                    .await?;
                self.release_job_budget(session, &counter, job.id, job.status)
                    .await?;
            }
            Some((counter, UsageChange::ReleaseBudgetOnly)) => {
                self.release_job_budget(session, &counter, job.id, job.status)
                    .await?;
            }
            None => {}
        }
        if change.action == JobAction::Publish {
            self.events
                .record(session, published_event(&job), self.now())
                .await?;
        }
        Ok(job)
    }
}

/// The announcement of a job just opened: to its invited testers, or for a public job to every
/// tester who qualifies when it is delivered (one notification each, whatever rule matched).
fn published_event(job: &Job) -> DomainEvent {
    let event = match job.visibility {
        Visibility::Public => DomainEvent::new(DomainEventKind::JobPublished, [])
            .with_group(RecipientGroup::QualifiedTesters { job_id: job.id }),
        Visibility::Private | Visibility::InvitedOnly => DomainEvent::new(
            DomainEventKind::JobPublished,
            job.invited_tester_ids.iter().copied(),
        ),
    };
    event
        .with_job(job.id)
        .with_payload(doc! { "job_title": &job.title })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_allowed_only_before_review() {
        for from in [JobStatus::Draft, JobStatus::Open, JobStatus::InProgress] {
            assert_eq!(
                job_transition(from, JobAction::Cancel),
                Some(JobStatus::Cancelled)
            );
        }
        for from in [
            JobStatus::Review,
            JobStatus::Completed,
            JobStatus::Cancelled,
        ] {
            assert_eq!(job_transition(from, JobAction::Cancel), None);
        }
    }

    #[test]
    fn the_happy_path_runs_draft_to_completed() {
        let mut status = JobStatus::Draft;
        for action in [
            JobAction::Publish,
            JobAction::StartTesting,
            JobAction::BeginReview,
            JobAction::Complete,
        ] {
            status = job_transition(status, action).expect("allowed");
        }
        assert_eq!(status, JobStatus::Completed);
        assert_eq!(job_transition(JobStatus::Open, JobAction::Publish), None);
    }
}
