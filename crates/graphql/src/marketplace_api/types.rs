//! The marketplace's output types over the domain records, and who may see what on them.
//!
//! Objects are reached only after their visibility was checked ([`super::visibility`]); fields
//! that are more sensitive than the object itself (credentials, total budget, escrow, invite
//! lists, other testers' seats and submissions) check again and answer `FORBIDDEN` (or leave other
//! people's items out of lists), whatever path reached the object.

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use bson::oid::ObjectId;

use crate::error::{ApiError, ApiResult};
use crate::identity_api::types::User;
use crate::loaders::{
    load, load_user, CredentialReadsByProjectLoader, JobLoader, JobsByProjectLoader, ProjectLoader,
    SubmissionsByJobLoader, TemplateLoader,
};
use crate::relay::{connection_from_list, page_request, GlobalId, ListConnection, NodeType};
use crate::scalars::{Cents, DateTime};
use crate::Services;
use marketplace::visibility;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

async fn user_by_id(ctx: &Context<'_>, id: ObjectId) -> ApiResult<Option<User>> {
    Ok(load_user(ctx, id).await?.map(User::new))
}

/// Where a project is in its life.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::ProjectStatus")]
pub enum ProjectStatus {
    /// In use.
    Active,
    /// Retired; takes no changes.
    Archived,
    /// Being set up.
    #[graphql(
        deprecation = "Projects are created ACTIVE and nothing moves them to DRAFT; a job's own DRAFT status is where work is prepared."
    )]
    Draft,
}

/// Where a job is in its life: DRAFT → OPEN → IN_PROGRESS → REVIEW → COMPLETED, and CANCELLED
/// from DRAFT, OPEN or IN_PROGRESS.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::JobStatus")]
pub enum JobStatus {
    /// Being written; invisible to testers; the journey may change.
    Draft,
    /// Published: testers find and claim seats.
    Open,
    /// Testing under way; no new claims.
    InProgress,
    /// Testing over; the client reviews submissions.
    Review,
    /// Finished.
    Completed,
    /// Withdrawn by the client.
    Cancelled,
}

/// Who may see and claim a job.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::Visibility")]
pub enum JobVisibility {
    /// Listed to every qualifying tester.
    Public,
    /// Not listed; claimable only by invited testers.
    Private,
    /// Listed and claimable only for invited testers.
    InvitedOnly,
}

/// The experience a job asks for.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::TesterLevel")]
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
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::TestType")]
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

/// Where a tester's seat is: ASSIGNED → IN_PROGRESS → SUBMITTED → COMPLETED.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::AssignmentStatus")]
pub enum AssignmentStatus {
    /// Claimed; testing not started.
    Assigned,
    /// Testing.
    InProgress,
    /// Results handed in.
    Submitted,
    /// Reviewed.
    Completed,
}

/// Where a submission is: DRAFT → SUBMITTED → (UNDER_REVIEW) → APPROVED | REJECTED |
/// REVISION_REQUESTED → SUBMITTED again.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::SubmissionStatus")]
pub enum SubmissionStatus {
    /// Being written by the tester; invisible to the client.
    Draft,
    /// Handed in; waiting for review.
    Submitted,
    /// The client is reviewing.
    UnderReview,
    /// Accepted.
    Approved,
    /// Refused, with feedback.
    Rejected,
    /// Sent back with notes; the tester revises and resubmits.
    RevisionRequested,
}

/// How a journey step went.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::StepOutcome")]
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
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::Severity")]
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

/// Login details testers need for the product under test. Only the project's client, its
/// organization's owners and admins, and testers whose seat on one of its running jobs is in
/// progress may read them; every read is recorded in `Project.credentialReads`.
#[derive(SimpleObject)]
pub struct ProjectCredentials {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Anything else testers need.
    pub additional_info: String,
}

/// A product under test, owned by a client (and their organization).
pub struct Project(pub marketplace::Project);

/// A product under test, owned by a client (and their organization).
#[Object]
impl Project {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::Project, self.0.id)
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Description.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The organization the project was made for: `null` when it has none or the viewer may
    /// not see it (only its members, its API keys and platform admins may).
    async fn organization(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<crate::identity_api::organizations::Organization>> {
        let Some(organization_id) = self.0.organization_id else {
            return Ok(None);
        };
        crate::identity_api::organizations::visible_organization(ctx, organization_id).await
    }
    /// What kind of product.
    async fn project_type(&self) -> super::projects::ProjectType {
        self.0.project_type.into()
    }
    /// Where the product runs.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// Where the product under test runs.
    async fn environment(&self) -> super::projects::ProjectEnvironment {
        self.0.environment.into()
    }
    /// Devices the product targets.
    async fn target_devices(&self) -> &[String] {
        &self.0.target_devices
    }
    /// Browsers the product targets.
    async fn target_browsers(&self) -> &[String] {
        &self.0.target_browsers
    }
    /// Operating systems the product targets.
    async fn target_os(&self) -> &[String] {
        &self.0.target_os
    }
    /// Status.
    async fn status(&self) -> ProjectStatus {
        self.0.status.into()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// When it was archived.
    async fn archived_at(&self) -> Option<DateTime> {
        self.0.archived_at.map(Into::into)
    }
    /// Whether credentials are stored (visible to whoever sees the project).
    async fn has_credentials(&self) -> bool {
        self.0.credentials.is_some()
    }
    /// The stored credentials, decrypted. `FORBIDDEN` for anyone but the project's client, its
    /// organization's owners and admins, and testers who started testing on one of its running
    /// jobs (seat `IN_PROGRESS`: after `startAssignment` or their first draft). Each read is
    /// recorded in `credentialReads` before the credentials are returned.
    async fn credentials(&self, ctx: &Context<'_>) -> ApiResult<Option<ProjectCredentials>> {
        let actor = super::access::actor(ctx).await?;
        let credentials = services(ctx)
            .marketplace()
            .project_credentials(&actor, self.0.id)
            .await?;
        Ok(credentials.map(|plain| ProjectCredentials {
            username: plain.username,
            password: plain.password,
            additional_info: plain.additional_info,
        }))
    }
    /// The owning client.
    async fn client(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        user_by_id(ctx, self.0.client_id).await
    }
    /// The project's jobs, newest first: all of them for whoever manages the project, otherwise
    /// only those the caller may see.
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<Job>> {
        let actor = super::access::actor(ctx).await?;
        let jobs: Vec<_> = load(ctx, JobsByProjectLoader(services(ctx).clone()), self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|job| visibility::job_visible(&actor, job))
            .collect();
        crate::loaders::remember_jobs(ctx, &jobs).await;
        connection_from_list(&page_request(first, after, last, before), jobs, Job)
    }
    /// Who read the project's credentials, when and through which job, newest first (the newest
    /// 1,000). `FORBIDDEN` for anyone but the project's client, its organization's owners and
    /// admins, and platform admins.
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn credential_reads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<CredentialRead>> {
        let actor = super::access::actor(ctx).await?;
        if !marketplace::visibility::credential_reads_visible(&actor, &self.0) {
            return Err(ApiError::Forbidden(
                "only the project's client, its organization's owners and admins may read the credential audit trail".to_string(),
            ));
        }
        let reads = load(
            ctx,
            CredentialReadsByProjectLoader(services(ctx).clone()),
            self.0.id,
        )
        .await?
        .unwrap_or_default();
        connection_from_list(
            &page_request(first, after, last, before),
            reads,
            CredentialRead,
        )
    }
}

/// Why a reader was allowed to read a project's credentials.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::CredentialReaderKind")]
pub enum CredentialReaderKind {
    /// The project's client or an owner or admin of its organization.
    Owner,
    /// A platform admin.
    Admin,
    /// A tester testing on one of the project's jobs.
    Tester,
}

/// One read of a project's credentials: an entry of the audit trail.
pub struct CredentialRead(pub marketplace::CredentialRead);

/// One read of a project's credentials: an entry of the audit trail.
#[Object]
impl CredentialRead {
    /// Who read them (their public profile).
    async fn reader(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        user_by_id(ctx, self.0.reader_id).await
    }
    /// Why they were allowed to.
    async fn reader_kind(&self) -> CredentialReaderKind {
        self.0.reader_kind.into()
    }
    /// The job whose seat allowed a tester's read (`null` for owners and admins).
    async fn job(&self, ctx: &Context<'_>) -> ApiResult<Option<Job>> {
        let Some(job_id) = self.0.job_id else {
            return Ok(None);
        };
        Ok(load(ctx, JobLoader(services(ctx).clone()), job_id)
            .await?
            .map(Job))
    }
    /// When.
    async fn read_at(&self) -> DateTime {
        self.0.read_at.into()
    }
}

/// One step of a user journey.
#[derive(SimpleObject)]
pub struct JourneyStep {
    /// 1-based position.
    pub step_number: i32,
    /// What the tester does.
    pub action: String,
    /// What should happen.
    pub expected_result: String,
}

/// The scenario testers follow.
pub struct UserJourney(pub marketplace::UserJourney);

/// The scenario testers follow.
#[Object]
impl UserJourney {
    /// The scenario in one sentence.
    async fn scenario(&self) -> &str {
        &self.0.scenario
    }
    /// Ordered steps.
    async fn steps(&self) -> Vec<JourneyStep> {
        self.0
            .steps
            .iter()
            .map(|step| JourneyStep {
                step_number: step.step_number,
                action: step.action.clone(),
                expected_result: step.expected_result.clone(),
            })
            .collect()
    }
    /// Whether an AI template or enhancement wrote it.
    async fn ai_generated(&self) -> bool {
        self.0.ai_generated
    }
    /// The template it came from.
    async fn template(&self, ctx: &Context<'_>) -> ApiResult<Option<AiTestTemplate>> {
        match self.0.ai_template_id {
            Some(id) => Ok(load(ctx, TemplateLoader(services(ctx).clone()), id)
                .await?
                .map(AiTestTemplate)),
            None => Ok(None),
        }
    }
}

/// A tester's seat on a job.
pub struct Assignment(pub marketplace::Assignment);

/// A tester's seat on a job.
#[Object]
impl Assignment {
    /// The seated tester.
    async fn tester(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        user_by_id(ctx, self.0.tester_id).await
    }
    /// When the seat was taken.
    async fn assigned_at(&self) -> DateTime {
        self.0.assigned_at.into()
    }
    /// Where the seat is.
    async fn status(&self) -> AssignmentStatus {
        self.0.status.into()
    }
    /// The equipment the tester declared when claiming the seat; later profile edits do not
    /// change it (`null` for seats claimed before it was recorded).
    async fn claimed_with(&self) -> Option<SeatEquipment> {
        self.0.claimed_with.clone().map(SeatEquipment::from)
    }
}

/// Devices, browsers and operating systems a tester declared when claiming a seat.
#[derive(SimpleObject)]
pub struct SeatEquipment {
    /// Devices.
    pub devices: Vec<String>,
    /// Browsers.
    pub browsers: Vec<String>,
    /// Operating systems.
    pub os: Vec<String>,
}

impl From<marketplace::SeatEquipment> for SeatEquipment {
    fn from(equipment: marketplace::SeatEquipment) -> Self {
        SeatEquipment {
            devices: equipment.devices,
            browsers: equipment.browsers,
            os: equipment.os,
        }
    }
}

/// A seat its tester gave back; kept as history.
pub struct WithdrawnSeat(pub marketplace::WithdrawnSeat);

/// A seat its tester gave back; kept as history.
#[Object]
impl WithdrawnSeat {
    /// The tester who withdrew.
    async fn tester(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        user_by_id(ctx, self.0.tester_id).await
    }
    /// When the seat was taken.
    async fn assigned_at(&self) -> DateTime {
        self.0.assigned_at.into()
    }
    /// Where the seat was when given back.
    async fn status_at_withdrawal(&self) -> AssignmentStatus {
        self.0.status_at_withdrawal.into()
    }
    /// The equipment the seat was claimed with.
    async fn claimed_with(&self) -> Option<SeatEquipment> {
        self.0.claimed_with.clone().map(SeatEquipment::from)
    }
    /// When it was given back.
    async fn withdrawn_at(&self) -> DateTime {
        self.0.withdrawn_at.into()
    }
}

/// A testing job in a project: a journey, requirements, seats and a budget. Serializable so an
/// idempotent mutation can store the payload it answered.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Job(pub marketplace::Job);

impl Job {
    async fn require_manager(&self, ctx: &Context<'_>, field: &str) -> ApiResult<()> {
        let actor = super::access::actor(ctx).await?;
        if actor.manages(self.0.client_id, self.0.organization_id) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only the job's client, their organization and admins may read {field}"
            )))
        }
    }
}

/// A testing job in a project: a journey, requirements, seats and a budget.
#[Object]
impl Job {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::Job, self.0.id)
    }
    /// The project the job tests.
    async fn project(&self, ctx: &Context<'_>) -> ApiResult<Option<Project>> {
        Ok(
            load(ctx, ProjectLoader(services(ctx).clone()), self.0.project_id)
                .await?
                .map(Project),
        )
    }
    /// The client who posted it.
    async fn client(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        user_by_id(ctx, self.0.client_id).await
    }
    /// Title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Description.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Kind of test.
    async fn test_type(&self) -> TestType {
        self.0.test_type.into()
    }
    /// The journey testers follow.
    async fn user_journey(&self) -> UserJourney {
        UserJourney(self.0.user_journey.clone())
    }
    /// Devices of which a tester needs one (any of devices, browsers or OS qualifies).
    async fn required_devices(&self) -> &[String] {
        &self.0.required_devices
    }
    /// Browsers of which a tester needs one.
    async fn required_browsers(&self) -> &[String] {
        &self.0.required_browsers
    }
    /// Operating systems of which a tester needs one.
    async fn required_os(&self) -> &[String] {
        &self.0.required_os
    }
    /// Experience asked for.
    async fn tester_level(&self) -> TesterLevel {
        self.0.tester_level.into()
    }
    /// Seats.
    async fn max_testers(&self) -> i32 {
        self.0.max_testers
    }
    /// Seats taken.
    async fn seats_taken(&self) -> i32 {
        self.0.assigned_testers.len() as i32
    }
    /// Seats still free.
    async fn seats_remaining(&self) -> i32 {
        (self.0.max_testers - self.0.assigned_testers.len() as i32).max(0)
    }
    /// What each tester earns, in US cents (before the platform fee).
    #[graphql(deprecation = "an Int is 32-bit and cannot hold every amount; use budgetPerTester")]
    async fn budget_per_tester_cents(&self) -> i64 {
        self.0.budget_per_tester_cents
    }
    /// What each tester earns (before the platform fee), exact.
    async fn budget_per_tester(&self) -> Cents {
        Cents(self.0.budget_per_tester_cents)
    }
    /// The whole budget in US cents. Client, organization and admins only.
    #[graphql(deprecation = "an Int is 32-bit and cannot hold every amount; use totalBudget")]
    async fn total_budget_cents(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        self.require_manager(ctx, "the total budget").await?;
        Ok(self.0.total_budget_cents)
    }
    /// The whole budget (seats × pay per tester), exact. Client, organization and admins only.
    async fn total_budget(&self, ctx: &Context<'_>) -> ApiResult<Cents> {
        self.require_manager(ctx, "the total budget").await?;
        Ok(Cents(self.0.total_budget_cents))
    }
    /// Where the job's money is: its escrow's status (always equal to `escrow.status`);
    /// `PENDING` for a job published without an escrow, `null` for a draft. The same readers
    /// as `escrow`.
    async fn escrow_status(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<super::escrow_types::EscrowStatus>> {
        let actor = super::access::actor(ctx).await?;
        if !escrow::visibility::escrow_visible(&actor, &self.0) {
            return Err(ApiError::Forbidden(
                "only the job's client, their organization's owners and admins, and admins may see its escrow status"
                    .to_string(),
            ));
        }
        let escrow = super::escrow_types::job_escrow(ctx, self.0.id).await?;
        Ok(match escrow {
            Some(escrow) => Some(escrow.0.status.into()),
            // Published without an escrow: nothing was funded, whatever the job records.
            None => self
                .0
                .escrow_status
                .as_ref()
                .map(|_| super::escrow_types::EscrowStatus::Pending),
        })
    }
    /// The money held for the job (`null` for a draft): the job's client, their organization's
    /// owners and admins, and platform admins only.
    async fn escrow(&self, ctx: &Context<'_>) -> ApiResult<Option<super::escrow_types::JobEscrow>> {
        let actor = super::access::actor(ctx).await?;
        if !escrow::visibility::escrow_visible(&actor, &self.0) {
            return Err(ApiError::Forbidden(
                "only the job's client, their organization's owners and admins, and admins may see its escrow"
                    .to_string(),
            ));
        }
        super::escrow_types::job_escrow(ctx, self.0.id).await
    }
    /// Deadline.
    async fn deadline(&self) -> DateTime {
        self.0.deadline.into()
    }
    /// Expected testing time.
    async fn estimated_duration_minutes(&self) -> Option<i32> {
        self.0.estimated_duration_minutes
    }
    /// Lifecycle status.
    async fn status(&self) -> JobStatus {
        self.0.status.into()
    }
    /// Who may see and claim it.
    async fn visibility(&self) -> JobVisibility {
        self.0.visibility.into()
    }
    /// Testers invited to it. Client, organization and admins only.
    async fn invited_testers(&self, ctx: &Context<'_>) -> ApiResult<Vec<User>> {
        self.require_manager(ctx, "the invite list").await?;
        // All at once, so the loader batches the list into one query instead of one per id.
        let loads = self
            .0
            .invited_tester_ids
            .iter()
            .map(|id| user_by_id(ctx, *id));
        let testers = futures_util::future::try_join_all(loads).await?;
        Ok(testers.into_iter().flatten().collect())
    }
    /// Seats: all of them for the client, organization and admins; a tester sees their own.
    async fn assignments(&self, ctx: &Context<'_>) -> ApiResult<Vec<Assignment>> {
        let actor = super::access::actor(ctx).await?;
        let everyone = actor.manages(self.0.client_id, self.0.organization_id);
        Ok(self
            .0
            .assigned_testers
            .iter()
            .filter(|seat| everyone || seat.tester_id == actor.user_id)
            .cloned()
            .map(Assignment)
            .collect())
    }
    /// Seats given back, oldest first: all of them for the client, organization and admins; a
    /// tester sees their own.
    async fn withdrawn_seats(&self, ctx: &Context<'_>) -> ApiResult<Vec<WithdrawnSeat>> {
        let actor = super::access::actor(ctx).await?;
        Ok(self
            .0
            .withdrawn_testers
            .iter()
            .filter(|seat| marketplace::visibility::seat_visible(&actor, seat.tester_id, &self.0))
            .cloned()
            .map(WithdrawnSeat)
            .collect())
    }
    /// Handed-in submissions (not drafts).
    async fn submission_count(&self) -> i32 {
        self.0.submission_count
    }
    /// Approved submissions.
    async fn approved_submission_count(&self) -> i32 {
        self.0.approved_submission_count
    }
    /// Bugs reported in handed-in submissions.
    async fn bugs_found(&self) -> i32 {
        self.0.bugs_found
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// When it was published.
    async fn published_at(&self) -> Option<DateTime> {
        self.0.published_at.map(Into::into)
    }
    /// When it was completed.
    async fn completed_at(&self) -> Option<DateTime> {
        self.0.completed_at.map(Into::into)
    }
    /// When it was cancelled.
    async fn cancelled_at(&self) -> Option<DateTime> {
        self.0.cancelled_at.map(Into::into)
    }
    /// How this job's client treats testers' work (over their reviewed submissions and decided
    /// disputes), for everyone who sees the job: testers weigh it before claiming.
    async fn client_accountability(&self, ctx: &Context<'_>) -> ApiResult<ClientAccountability> {
        let figures = load(
            ctx,
            crate::loaders::ClientAccountabilityLoader(services(ctx).clone()),
            self.0.client_id,
        )
        .await?
        .unwrap_or_default();
        Ok(ClientAccountability::from(figures))
    }
    /// Handed-in submissions, newest first: all of them for the client, organization and admins;
    /// a tester sees only their own.
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn submissions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<Submission>> {
        let actor = super::access::actor(ctx).await?;
        let everyone = actor.manages(self.0.client_id, self.0.organization_id)
            && actor.role != marketplace::ActorRole::Tester;
        let submissions = load(
            ctx,
            SubmissionsByJobLoader(services(ctx).clone()),
            self.0.id,
        )
        .await?
        .unwrap_or_default()
        .into_iter()
        .filter(|submission| everyone || submission.tester_id == actor.user_id)
        .collect();
        connection_from_list(
            &page_request(first, after, last, before),
            submissions,
            Submission,
        )
    }
}

/// How one journey step went.
#[derive(SimpleObject)]
pub struct StepResult {
    /// The journey step.
    pub step_number: i32,
    /// Outcome.
    pub status: StepOutcome,
    /// Notes.
    pub notes: String,
    /// Screenshot URLs.
    pub screenshots: Vec<String>,
    /// When it was tested.
    pub timestamp: Option<DateTime>,
}

/// A bug report.
#[derive(SimpleObject)]
pub struct Bug {
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Description.
    pub description: String,
    /// How to reproduce it.
    pub steps_to_reproduce: Vec<String>,
    /// What should happen.
    pub expected_behavior: String,
    /// What happens.
    pub actual_behavior: String,
    /// Screenshot URLs.
    pub screenshots: Vec<String>,
    /// Video URL.
    pub video_url: Option<String>,
    /// Devices it shows on.
    pub affected_devices: Vec<String>,
    /// Browsers it shows on.
    pub affected_browsers: Vec<String>,
}

/// Where the tester tested.
#[derive(SimpleObject)]
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
    /// Screen resolution, e.g. `1920x1080`.
    pub screen_resolution: String,
}

/// A tester's results for one job. Serializable so an idempotent mutation can store the payload
/// it answered.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Submission(pub marketplace::Submission);

/// A tester's results for one job. Visible to its tester and to whoever manages the job.
#[Object]
impl Submission {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::Submission, self.0.id)
    }
    /// The job.
    async fn job(&self, ctx: &Context<'_>) -> ApiResult<Option<Job>> {
        Ok(load(ctx, JobLoader(services(ctx).clone()), self.0.job_id)
            .await?
            .map(Job))
    }
    /// The tester.
    async fn tester(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        user_by_id(ctx, self.0.tester_id).await
    }
    /// Summary.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// The summary as the AI enhancement rewrote it.
    async fn ai_enhanced_summary(&self) -> Option<&str> {
        self.0.ai_enhanced_summary.as_deref()
    }
    /// Results per journey step.
    async fn test_results(&self) -> Vec<StepResult> {
        self.0
            .test_results
            .iter()
            .map(|result| StepResult {
                step_number: result.step_number,
                status: result.status.into(),
                notes: result.notes.clone(),
                screenshots: result.screenshots.clone(),
                timestamp: result.timestamp.map(Into::into),
            })
            .collect()
    }
    /// Bugs found.
    async fn bugs(&self) -> Vec<Bug> {
        self.0
            .bugs
            .iter()
            .map(|bug| Bug {
                title: bug.title.clone(),
                severity: bug.severity.into(),
                description: bug.description.clone(),
                steps_to_reproduce: bug.steps_to_reproduce.clone(),
                expected_behavior: bug.expected_behavior.clone(),
                actual_behavior: bug.actual_behavior.clone(),
                screenshots: bug.screenshots.clone(),
                video_url: bug.video_url.clone(),
                affected_devices: bug.affected_devices.clone(),
                affected_browsers: bug.affected_browsers.clone(),
            })
            .collect()
    }
    /// Where the tester tested.
    async fn environment(&self) -> TestEnvironment {
        let environment = &self.0.environment;
        TestEnvironment {
            device_used: environment.device_used.clone(),
            browser_used: environment.browser_used.clone(),
            browser_version: environment.browser_version.clone(),
            os_used: environment.os_used.clone(),
            os_version: environment.os_version.clone(),
            screen_resolution: environment.screen_resolution.clone(),
        }
    }
    /// Minutes spent.
    async fn time_spent_minutes(&self) -> i32 {
        self.0.time_spent_minutes
    }
    /// Status.
    async fn status(&self) -> SubmissionStatus {
        self.0.status.into()
    }
    /// The client's feedback on a rejection.
    async fn client_feedback(&self) -> Option<&str> {
        self.0.client_feedback.as_deref()
    }
    /// The client's notes on a revision request.
    async fn revision_notes(&self) -> Option<&str> {
        self.0.revision_notes.as_deref()
    }
    /// When the draft was started.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When it was last handed in.
    async fn submitted_at(&self) -> Option<DateTime> {
        self.0.submitted_at.map(Into::into)
    }
    /// When it was last reviewed.
    async fn reviewed_at(&self) -> Option<DateTime> {
        self.0.reviewed_at.map(Into::into)
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// The tester's pay for this submission once approved (`null` before): its tester, the job's
    /// client, their organization's owners and admins, and platform admins only.
    async fn payout(&self, ctx: &Context<'_>) -> ApiResult<Option<super::escrow_types::Payout>> {
        let actor = super::access::actor(ctx).await?;
        if actor.user_id != self.0.tester_id {
            let job = load(ctx, JobLoader(services(ctx).clone()), self.0.job_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("job not found".to_string()))?;
            if !escrow::visibility::payout_visible(&actor, self.0.tester_id, &job) {
                return Err(ApiError::Forbidden(
                    "only the tester, the job's client and their organization's admins may see this payout"
                        .to_string(),
                ));
            }
        }
        super::escrow_types::submission_payout(ctx, self.0.id).await
    }
    /// Its ratings the caller may see: their own side's always, the other side's once revealed
    /// (double-blind; a hidden rating is simply absent).
    async fn ratings(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<crate::trust_api::ratings::Rating>> {
        crate::trust_api::ratings::submission_ratings(ctx, self.0.id).await
    }
    /// Its latest dispute, for its tester, its client (and the client organization's owners
    /// and admins) and platform admins; `null` for everyone else and when there is none.
    async fn dispute(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<crate::trust_api::disputes::Dispute>> {
        crate::trust_api::disputes::submission_dispute(ctx, self.0.id).await
    }
}

/// A variable a template's steps use as `{{name}}`.
#[derive(SimpleObject)]
pub struct TemplateVariable {
    /// Name.
    pub name: String,
    /// What it means.
    pub description: String,
    /// An example value.
    pub example: String,
}

/// One templated step.
#[derive(SimpleObject)]
pub struct TemplateStep {
    /// Position.
    pub step_number: i32,
    /// The action, with `{{variables}}`.
    pub action_template: String,
    /// The expected result, with `{{variables}}`.
    pub expected_result_template: String,
}

/// A reusable journey that jobs are created from by filling its variables.
pub struct AiTestTemplate(pub marketplace::AiTestTemplate);

/// A reusable journey that jobs are created from by filling its variables.
#[Object]
impl AiTestTemplate {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::AiTestTemplate, self.0.id)
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Description.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Category.
    async fn category(&self) -> super::templates::TemplateCategory {
        self.0.category.into()
    }
    /// What the template produces.
    async fn template_type(&self) -> super::templates::TemplateType {
        self.0.template_type.into()
    }
    /// The scenario, with `{{variables}}`.
    async fn scenario(&self) -> &str {
        &self.0.journey_template.scenario
    }
    /// Variables to fill.
    async fn variables(&self) -> Vec<TemplateVariable> {
        self.0
            .journey_template
            .variables
            .iter()
            .map(|variable| TemplateVariable {
                name: variable.name.clone(),
                description: variable.description.clone(),
                example: variable.example.clone(),
            })
            .collect()
    }
    /// Steps.
    async fn steps(&self) -> Vec<TemplateStep> {
        self.0
            .journey_template
            .steps
            .iter()
            .map(|step| TemplateStep {
                step_number: step.step_number,
                action_template: step.action_template.clone(),
                expected_result_template: step.expected_result_template.clone(),
            })
            .collect()
    }
    /// How many jobs were created from it.
    async fn usage_count(&self) -> i64 {
        self.0.usage_count
    }
    /// Whether it can be used.
    async fn is_active(&self) -> bool {
        self.0.is_active
    }
    /// Whether only pro and team clients (and organizations) may use it.
    async fn is_premium(&self) -> bool {
        self.0.is_premium
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// How a client treats testers' work. Over their newest 50,000 reviews: the median hours from
/// hand-in to review, the rejected and auto-approved shares; and their decided disputes, with
/// those lost: a tester's dispute of a rejection resolved by paying the tester, or the client's
/// own dispute of an approval resolved with no action or by paying the tester.
#[derive(SimpleObject)]
pub struct ClientAccountability {
    /// Submissions approved or rejected (by hand or automatically).
    pub reviewed_submissions: i64,
    /// Median hours from hand-in to review (`null` before the first review).
    pub median_review_hours: Option<f64>,
    /// Rejected share of the reviewed, in percent (`null` before the first review).
    pub rejection_rate: Option<f64>,
    /// Share of the reviewed left to auto-approval, in percent (`null` before the first
    /// review).
    pub auto_approval_rate: Option<f64>,
    /// Disputes decided by an admin.
    pub disputes_decided: i64,
    /// Of those, decided fully against the client.
    pub disputes_lost: i64,
}

impl From<trust::ClientAccountability> for ClientAccountability {
    fn from(figures: trust::ClientAccountability) -> Self {
        let count = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        ClientAccountability {
            reviewed_submissions: count(figures.reviewed_submissions),
            median_review_hours: figures.median_review_hours,
            rejection_rate: figures.rejection_rate,
            auto_approval_rate: figures.auto_approval_rate,
            disputes_decided: count(figures.disputes_decided),
            disputes_lost: count(figures.disputes_lost),
        }
    }
}
