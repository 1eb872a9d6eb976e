//! Jobs: the `job` and `availableJobs` queries, `User.assignedJobs`, creating jobs (from a
//! journey or an AI test template), the lifecycle mutations and claiming seats.

use std::collections::HashMap;

use async_graphql::connection::Edge;
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;
use foundation::Cursor;
use marketplace::JobAction;

use super::access::{
    actor, limits_of_owner, payer_standing, payment_source, premium_allowed, tester_profile,
};
use super::projects::project_id;
use super::types::{Job, JobVisibility, TestType, TesterLevel};
use crate::error::{ApiError, ApiResult};
use crate::idempotency::once;
use crate::loaders::{load, JobLoader, JobsByTesterLoader};
use crate::relay::{
    connection_from_list, page_error, page_request, ConnectionTotals, GlobalId, ListConnection,
    NodeType,
};
use crate::scalars::{Cents, DateTime};
use crate::viewer::{Authenticated, HasRole, SignedInUser};
use crate::Services;
use marketplace::visibility::job_visible;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Decodes a job ID argument.
pub fn job_id(id: &ID, field: &str) -> ApiResult<ObjectId> {
    GlobalId::decode_as(id, NodeType::Job, field)
}

/// A job the caller may see, or `NOT_FOUND`.
pub async fn visible_job(ctx: &Context<'_>, id: ObjectId) -> ApiResult<Job> {
    let actor = actor(ctx).await?;
    load(ctx, JobLoader(services(ctx).clone()), id)
        .await?
        .filter(|job| job_visible(&actor, job))
        .map(Job)
        .ok_or_else(|| ApiError::NotFound("job not found".to_string()))
}

/// The jobs a tester holds a seat on, newest first (`User.assignedJobs`); the tester themself
/// and admins see them all, a client those of their own jobs, another tester none (claims are
/// not public: `marketplace::visibility::seat_visible`).
pub async fn jobs_of_tester(
    ctx: &Context<'_>,
    tester_id: ObjectId,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<ListConnection<Job>> {
    let actor = actor(ctx).await?;
    let jobs: Vec<_> = load(ctx, JobsByTesterLoader(services(ctx).clone()), tester_id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .filter(|job| {
            job_visible(&actor, job)
                && marketplace::visibility::seat_visible(&actor, tester_id, job)
        })
        .collect();
    crate::loaders::remember_jobs(ctx, &jobs).await;
    connection_from_list(&page_request(first, after, last, before), jobs, Job)
}

/// The jobs made for an organization, newest first (`Organization.jobs`): for its members and
/// admins, `FORBIDDEN` for anyone else.
pub async fn jobs_of_organization(
    ctx: &Context<'_>,
    organization_id: ObjectId,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<ListConnection<Job>> {
    let actor = actor(ctx).await?;
    if !marketplace::visibility::organization_listing_visible(&actor, organization_id) {
        return Err(ApiError::Forbidden(
            "only the organization's members and admins may list its jobs".to_string(),
        ));
    }
    // Read one page at a time in MongoDB: an organization's jobs grow without bound.
    let (direction, cursor, limit) = crate::relay::keyset_request(first, after, last, before)?;
    let mut page = services(ctx)
        .marketplace()
        .jobs_of_organization(organization_id, direction, cursor, limit)
        .await?;
    page.items.retain(|job| job_visible(&actor, job));
    crate::loaders::remember_jobs(ctx, &page.items).await;
    Ok(crate::relay::keyset_connection_towards(
        direction,
        cursor,
        page,
        |job| job.id,
        Job,
    ))
}

/// Narrows `availableJobs`.
#[derive(InputObject, Default)]
pub struct AvailableJobsFilter {
    /// Only this kind of test.
    pub test_type: Option<TestType>,
    /// Only jobs paying at least this much per tester, in US cents.
    pub min_budget_per_tester_cents: Option<i64>,
}

/// Job queries.
#[derive(Default)]
pub struct JobQuery;

/// Job queries.
#[Object]
impl JobQuery {
    /// One job: visible to its client, their organization and admins; to testers seated on it or
    /// invited to it; and, while open and public, to every tester.
    #[graphql(guard = "Authenticated")]
    async fn job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Job> {
        visible_job(ctx, job_id(&id, "id")?).await
    }

    /// Open jobs with a free seat the signed-in tester qualifies for (qualified status, level, one
    /// of the required devices, browsers or OS) and has not claimed: public ones and those they
    /// were invited to. Newest first; pages forward.
    #[graphql(
        guard = "HasRole(identity::Role::Tester)",
        complexity = "crate::relay::page_cost(first, None, child_complexity)"
    )]
    async fn available_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter: AvailableJobsFilter,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ListConnection<Job>> {
        if let Some(minimum) = filter.min_budget_per_tester_cents {
            if minimum < 0 {
                return Err(ApiError::bad_input(
                    "filter.minBudgetPerTesterCents",
                    "must not be negative",
                ));
            }
        }
        let tester = tester_profile(ctx).await?;
        let request = page_request(first, after, None, None);
        request.validate().map_err(page_error)?;
        let page = services(ctx)
            .marketplace()
            .available_jobs(
                &tester,
                &marketplace::AvailableJobsFilter {
                    test_type: filter.test_type.map(Into::into),
                    min_budget_per_tester_cents: filter.min_budget_per_tester_cents,
                },
                &request,
            )
            .await?;
        let mut connection = ListConnection::with_additional_fields(
            page.start > 0,
            page.has_next_page,
            ConnectionTotals {
                total_count: page.total_count,
            },
        );
        connection.edges = page
            .jobs
            .into_iter()
            .enumerate()
            .map(|(index, job)| {
                Edge::new(
                    Cursor::from_offset(page.start + index as u64).encode(),
                    Job(job),
                )
            })
            .collect();
        Ok(connection)
    }
}

/// One step of a journey being written.
#[derive(InputObject)]
pub struct JourneyStepInput {
    /// What the tester does.
    pub action: String,
    /// What should happen.
    pub expected_result: String,
}

/// A journey being written: steps are numbered in the order given.
#[derive(InputObject)]
pub struct JourneyInput {
    /// The scenario in one sentence.
    pub scenario: String,
    /// Ordered steps (at least one).
    pub steps: Vec<JourneyStepInput>,
}

impl JourneyInput {
    fn into_parts(self) -> (String, Vec<(String, String)>) {
        (
            self.scenario,
            self.steps
                .into_iter()
                .map(|step| (step.action, step.expected_result))
                .collect(),
        )
    }
}

/// What every job states besides its journey.
#[derive(InputObject)]
pub struct JobDetailsInput {
    /// The project the job tests.
    pub project_id: ID,
    /// Title.
    pub title: String,
    /// Description.
    #[graphql(default)]
    pub description: String,
    /// Kind of test.
    #[graphql(default_with = "TestType::UserJourney")]
    pub test_type: TestType,
    /// Devices of which a tester needs one.
    #[graphql(default)]
    pub required_devices: Vec<String>,
    /// Browsers of which a tester needs one.
    #[graphql(default)]
    pub required_browsers: Vec<String>,
    /// Operating systems of which a tester needs one.
    #[graphql(default)]
    pub required_os: Vec<String>,
    /// Experience asked for.
    #[graphql(default_with = "TesterLevel::Any")]
    pub tester_level: TesterLevel,
    /// Seats (1 to 100 unless the platform configured another limit).
    pub max_testers: i32,
    /// What each tester earns, in US cents (0 to 2,147,483,647). Give this or `budgetPerTester`.
    #[graphql(deprecation = "an Int is 32-bit; use budgetPerTester")]
    pub budget_per_tester_cents: Option<i64>,
    /// What each tester earns, exact. Give this or `budgetPerTesterCents`. Seats × this may be
    /// at most the platform's per-job budget limit.
    pub budget_per_tester: Option<Cents>,
    /// Deadline.
    pub deadline: DateTime,
    /// Expected testing time.
    pub estimated_duration_minutes: Option<i32>,
    /// Who may see and claim it.
    #[graphql(default_with = "JobVisibility::Public")]
    pub visibility: JobVisibility,
    /// Testers invited (for PRIVATE and INVITED_ONLY jobs).
    #[graphql(default)]
    pub invited_tester_ids: Vec<ID>,
}

impl JobDetailsInput {
    fn into_new_job(self, journey: Option<JourneyInput>) -> ApiResult<marketplace::NewJob> {
        let project_id = project_id(&self.project_id, "details.projectId")?;
        let invited_tester_ids = self
            .invited_tester_ids
            .iter()
            .map(|id| GlobalId::decode_as(id, NodeType::User, "details.invitedTesterIds"))
            .collect::<ApiResult<Vec<_>>>()?;
        let budget_per_tester_cents = match (self.budget_per_tester_cents, self.budget_per_tester) {
            (Some(cents), None) if (0..=i64::from(i32::MAX)).contains(&cents) => cents,
            (Some(_), None) => return Err(ApiError::bad_input(
                "details.budgetPerTesterCents",
                "must be 0 to 2147483647 (a GraphQL Int); use budgetPerTester for exact amounts",
            )),
            (None, Some(Cents(cents))) => cents,
            _ => {
                return Err(ApiError::bad_input(
                    "details.budgetPerTester",
                    "give exactly one of budgetPerTester and budgetPerTesterCents",
                ))
            }
        };
        let (scenario, steps) = journey.map(JourneyInput::into_parts).unwrap_or_default();
        Ok(marketplace::NewJob {
            project_id,
            title: self.title,
            description: self.description,
            test_type: self.test_type.into(),
            scenario,
            steps,
            required_devices: self.required_devices,
            required_browsers: self.required_browsers,
            required_os: self.required_os,
            tester_level: self.tester_level.into(),
            max_testers: self.max_testers,
            budget_per_tester_cents,
            deadline: self.deadline.0,
            estimated_duration_minutes: self.estimated_duration_minutes,
            visibility: self.visibility.into(),
            invited_tester_ids,
        })
    }
}

/// Input of `createJob`.
#[derive(InputObject)]
pub struct CreateJobInput {
    /// Requirements, seats, budget, deadline and visibility.
    pub details: JobDetailsInput,
    /// The journey testers follow.
    pub journey: JourneyInput,
}

/// A value for one `{{variable}}` of a template.
#[derive(InputObject)]
pub struct TemplateValueInput {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// Input of `createJobFromTemplate`.
#[derive(InputObject)]
pub struct CreateJobFromTemplateInput {
    /// The template.
    pub template_id: ID,
    /// A value for every variable the template uses.
    #[graphql(default)]
    pub values: Vec<TemplateValueInput>,
    /// Requirements, seats, budget, deadline and visibility.
    pub details: JobDetailsInput,
}

/// Input of `updateJobJourney`.
#[derive(InputObject)]
pub struct UpdateJobJourneyInput {
    /// The job (must still be a draft).
    pub job_id: ID,
    /// The new journey.
    pub journey: JourneyInput,
}

/// Input of `updateDraftJob`: the draft and the details to change; each one left out is kept.
#[derive(InputObject)]
pub struct UpdateDraftJobInput {
    /// The job (must still be a draft).
    pub job_id: ID,
    /// New title (1 to 200 characters).
    pub title: Option<String>,
    /// New description (at most 5,000 characters).
    pub description: Option<String>,
    /// New required devices (at most 50).
    pub required_devices: Option<Vec<String>>,
    /// New required browsers (at most 50).
    pub required_browsers: Option<Vec<String>>,
    /// New required operating systems (at most 50).
    pub required_os: Option<Vec<String>>,
    /// New minimum experience.
    pub tester_level: Option<TesterLevel>,
    /// New number of seats (1 to 100 unless the platform configured another limit).
    pub max_testers: Option<i32>,
    /// New pay per tester, exact. Seats × this may be at most the per-job budget limit.
    pub budget_per_tester: Option<Cents>,
    /// New deadline: in the future, at most a year ahead.
    pub deadline: Option<DateTime>,
    /// New expected testing time (1 to 10,080 minutes).
    pub estimated_duration_minutes: Option<i32>,
    /// New visibility.
    pub visibility: Option<JobVisibility>,
}

/// Input naming one job.
#[derive(InputObject)]
pub struct JobIdInput {
    /// The job.
    pub job_id: ID,
}

/// Input naming one job, for a mutation that moves money.
#[derive(InputObject)]
pub struct JobMoneyInput {
    /// The job.
    pub job_id: ID,
    /// Makes a retry safe: a repeat with the same key gets the first answer and changes nothing;
    /// the same key with another input is refused. May be sent as the `Idempotency-Key` header
    /// instead. At most 200 printable ASCII characters.
    pub idempotency_key: Option<String>,
}

/// A job after a change.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct JobPayload {
    /// The job.
    pub job: Job,
}

/// What publishing did about money.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
#[graphql(complex)]
pub struct JobFunding {
    /// The escrow's status right after publishing; `None` when no escrow was made.
    #[graphql(skip)]
    pub escrow: Option<escrow::EscrowStatus>,
    /// What happened, in words.
    pub note: String,
}

#[async_graphql::ComplexObject]
impl JobFunding {
    /// The job's escrow status after publishing: the same value `Job.escrow.status` had then;
    /// `PENDING` when the job was published without an escrow (no payment provider wired).
    async fn escrow_status(&self) -> super::escrow_types::EscrowStatus {
        self.escrow.unwrap_or(escrow::EscrowStatus::Pending).into()
    }
}

/// A published job.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct PublishJobPayload {
    /// The job, now open.
    pub job: Job,
    /// How it was funded.
    pub funding: JobFunding,
}

/// What an AI enhancement did.
#[derive(SimpleObject)]
pub struct EnhancementResult {
    /// Which provider answered (`pass-through` when none is configured).
    pub provider: String,
    /// Whether the text was actually changed.
    pub enhanced: bool,
    /// What happened, in words (e.g. that no AI provider is configured).
    pub note: String,
}

impl From<marketplace::Enhancement> for EnhancementResult {
    fn from(enhancement: marketplace::Enhancement) -> Self {
        EnhancementResult {
            provider: enhancement.provider,
            enhanced: enhancement.enhanced,
            note: enhancement.note,
        }
    }
}

/// A draft job after its journey was enhanced.
#[derive(SimpleObject)]
pub struct EnhanceJobJourneyPayload {
    /// The job (unchanged when nothing was enhanced).
    pub job: Job,
    /// What the enhancement did.
    pub enhancement: EnhancementResult,
}

/// A lifecycle step a client may take on a published job.
#[derive(Debug, Clone, Copy)]
enum LifecycleStep {
    StartTesting,
    BeginReview,
    Complete,
    Cancel,
}

async fn transition(ctx: &Context<'_>, id: &ID, step: LifecycleStep) -> ApiResult<JobPayload> {
    let id = job_id(id, "jobId")?;
    let actor = actor(ctx).await?;
    let action = match step {
        LifecycleStep::StartTesting => JobAction::StartTesting,
        LifecycleStep::BeginReview => JobAction::BeginReview,
        LifecycleStep::Complete => JobAction::Complete,
        LifecycleStep::Cancel => JobAction::Cancel,
    };
    let services = services(ctx);
    let marketplace = services.marketplace();
    // Completing and cancelling move money: escrow runs them, with the refund in the same
    // transaction.
    let job = match action {
        JobAction::Complete => {
            services
                .escrow()
                .complete_job(marketplace, &actor, id)
                .await?
        }
        JobAction::Cancel => {
            services
                .escrow()
                .cancel_job(marketplace, &actor, id)
                .await?
        }
        action => marketplace.transition_job(&actor, id, action).await?,
    };
    Ok(JobPayload { job: Job(job) })
}

/// Job mutations.
#[derive(Default)]
pub struct JobMutation;

/// Job mutations. Every lifecycle change is a compare-and-set on the job's status: of two racing
/// requests one wins and the other gets `CONFLICT`, and an invalid step changes nothing.
#[Object]
impl JobMutation {
    /// Creates a draft job with a journey in a project the caller manages.
    #[graphql(guard = "SignedInUser")]
    async fn create_job(&self, ctx: &Context<'_>, input: CreateJobInput) -> ApiResult<JobPayload> {
        let new_job = input.details.into_new_job(Some(input.journey))?;
        let actor = actor(ctx).await?;
        let job = services(ctx)
            .marketplace()
            .create_job(&actor, new_job)
            .await?;
        Ok(JobPayload { job: Job(job) })
    }

    /// Creates a draft job whose journey is an AI test template's with `values` substituted for
    /// its `{{variables}}`; a missing value is `BAD_USER_INPUT` naming the variable. Premium
    /// templates need a pro or team plan (or an organization).
    #[graphql(guard = "SignedInUser")]
    async fn create_job_from_template(
        &self,
        ctx: &Context<'_>,
        input: CreateJobFromTemplateInput,
    ) -> ApiResult<JobPayload> {
        let template_id =
            GlobalId::decode_as(&input.template_id, NodeType::AiTestTemplate, "templateId")?;
        let values: HashMap<String, String> = input
            .values
            .into_iter()
            .map(|value| (value.name, value.value))
            .collect();
        let new_job = input.details.into_new_job(None)?;
        let actor = actor(ctx).await?;
        let premium = premium_allowed(ctx, &actor).await?;
        let job = services(ctx)
            .marketplace()
            .create_job_from_template(&actor, template_id, &values, premium, new_job)
            .await?;
        Ok(JobPayload { job: Job(job) })
    }

    /// Changes a draft job's details under the same bounds as `createJob` (`BAD_USER_INPUT`
    /// naming the field, nothing stored), by whoever may edit the job. `CONFLICT` once it is
    /// published (or a publish is under way), or when another change to the draft landed
    /// between reading and writing it (reload and retry).
    #[graphql(guard = "SignedInUser")]
    async fn update_draft_job(
        &self,
        ctx: &Context<'_>,
        input: UpdateDraftJobInput,
    ) -> ApiResult<JobPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let actor = actor(ctx).await?;
        let job = services(ctx)
            .marketplace()
            .update_draft_job(
                &actor,
                id,
                marketplace::DraftJobUpdate {
                    title: input.title,
                    description: input.description,
                    required_devices: input.required_devices,
                    required_browsers: input.required_browsers,
                    required_os: input.required_os,
                    tester_level: input.tester_level.map(Into::into),
                    max_testers: input.max_testers,
                    budget_per_tester_cents: input.budget_per_tester.map(|Cents(cents)| cents),
                    deadline: input.deadline.map(|deadline| deadline.0),
                    estimated_duration_minutes: input.estimated_duration_minutes,
                    visibility: input.visibility.map(Into::into),
                },
            )
            .await
            .map_err(|error| match ApiError::from(error) {
                // This input names the exact amount `budgetPerTester`, not the Int variant.
                ApiError::BadUserInput { field, message } if field == "budgetPerTesterCents" => {
                    ApiError::bad_input("budgetPerTester", message)
                }
                other => other,
            })?;
        Ok(JobPayload { job: Job(job) })
    }

    /// Replaces a draft job's journey; a published job's journey is locked (`CONFLICT`).
    #[graphql(guard = "SignedInUser")]
    async fn update_job_journey(
        &self,
        ctx: &Context<'_>,
        input: UpdateJobJourneyInput,
    ) -> ApiResult<JobPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let (scenario, steps) = input.journey.into_parts();
        let actor = actor(ctx).await?;
        let job = services(ctx)
            .marketplace()
            .update_job_journey(&actor, id, scenario, steps)
            .await?;
        Ok(JobPayload { job: Job(job) })
    }

    /// Publishes a draft (DRAFT → OPEN): funds it, then opens it to testers, within the
    /// organization's `maxConcurrentJobs` and the money limits (seats, the job's budget, the
    /// account's committed total, a new account's daily funding). Needs an active account with a
    /// verified e-mail, and the job's client or an organization owner or admin. The budget is
    /// charged to the publisher's own saved payment method (`savePaymentMethod`; when a platform
    /// admin publishes, the job's client's); without one, `FAILED_PRECONDITION` and nothing is
    /// reserved or charged.
    #[graphql(guard = "SignedInUser")]
    async fn publish_job(
        &self,
        ctx: &Context<'_>,
        input: JobMoneyInput,
    ) -> ApiResult<PublishJobPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let run = async {
            let actor = actor(ctx).await?;
            // The owner's limits apply, whoever publishes (an organization member, an admin).
            let job = load(ctx, JobLoader(services(ctx).clone()), id)
                .await?
                .ok_or_else(|| ApiError::NotFound("job not found".to_string()))?;
            let limits = limits_of_owner(ctx, job.organization_id, job.client_id).await?;
            let payer = payer_standing(ctx, job.organization_id, job.client_id).await?;
            let source = payment_source(ctx, &actor, job.client_id).await?;
            let domains = services(ctx);
            let published = domains
                .escrow()
                .publish_job(
                    domains.marketplace(),
                    &actor,
                    id,
                    limits,
                    payer,
                    source.as_ref(),
                )
                .await?;
            // Read back rather than derived from the receipt, so the answer is the escrow's own
            // status and agrees with `Job.escrow.status`.
            let escrow = match published.funding.escrow_transaction_id {
                Some(_) => services(ctx)
                    .escrow()
                    .escrows_by_job_ids(&[id])
                    .await?
                    .remove(&id)
                    .map(|escrow| escrow.status),
                None => None,
            };
            Ok(PublishJobPayload {
                job: Job(published.job),
                funding: JobFunding {
                    escrow,
                    note: published.funding.note,
                },
            })
        };
        once(
            ctx,
            input.idempotency_key.as_deref(),
            "publishJob",
            id.to_hex(),
            run,
        )
        .await
    }

    /// Rewrites a draft job's journey through the configured AI provider (clearer actions and
    /// expected results, renumbered steps); without a provider the journey is left as it is and
    /// the answer says so. A provider failure is `SERVICE_UNAVAILABLE` and changes nothing.
    #[graphql(guard = "SignedInUser")]
    async fn enhance_job_journey(
        &self,
        ctx: &Context<'_>,
        input: JobIdInput,
    ) -> ApiResult<EnhanceJobJourneyPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let actor = actor(ctx).await?;
        let enhanced = services(ctx)
            .marketplace()
            .enhance_job_journey(&actor, id)
            .await?;
        Ok(EnhanceJobJourneyPayload {
            job: Job(enhanced.job),
            enhancement: enhanced.enhancement.into(),
        })
    }

    /// OPEN → IN_PROGRESS: stops taking claims.
    #[graphql(guard = "SignedInUser")]
    async fn start_job_testing(
        &self,
        ctx: &Context<'_>,
        input: JobIdInput,
    ) -> ApiResult<JobPayload> {
        transition(ctx, &input.job_id, LifecycleStep::StartTesting).await
    }

    /// IN_PROGRESS → REVIEW.
    #[graphql(guard = "SignedInUser")]
    async fn begin_job_review(
        &self,
        ctx: &Context<'_>,
        input: JobIdInput,
    ) -> ApiResult<JobPayload> {
        transition(ctx, &input.job_id, LifecycleStep::BeginReview).await
    }

    /// REVIEW → COMPLETED.
    #[graphql(guard = "SignedInUser")]
    async fn complete_job(&self, ctx: &Context<'_>, input: JobMoneyInput) -> ApiResult<JobPayload> {
        let run = transition(ctx, &input.job_id, LifecycleStep::Complete);
        let arguments = input.job_id.to_string();
        once(
            ctx,
            input.idempotency_key.as_deref(),
            "completeJob",
            arguments,
            run,
        )
        .await
    }

    /// DRAFT, OPEN or IN_PROGRESS → CANCELLED.
    #[graphql(guard = "SignedInUser")]
    async fn cancel_job(&self, ctx: &Context<'_>, input: JobMoneyInput) -> ApiResult<JobPayload> {
        let run = transition(ctx, &input.job_id, LifecycleStep::Cancel);
        let arguments = input.job_id.to_string();
        once(
            ctx,
            input.idempotency_key.as_deref(),
            "cancelJob",
            arguments,
            run,
        )
        .await
    }

    /// Takes a seat on an open job the signed-in tester qualifies for. Atomic: when seats run
    /// out, later claims get `CONFLICT`; a tester never holds two seats on one job.
    #[graphql(guard = "HasRole(identity::Role::Tester)")]
    async fn claim_job(&self, ctx: &Context<'_>, input: JobIdInput) -> ApiResult<JobPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let actor = actor(ctx).await?;
        let tester = tester_profile(ctx).await?;
        let job = services(ctx)
            .marketplace()
            .claim_job(&actor, &tester, id)
            .await?;
        Ok(JobPayload { job: Job(job) })
    }

    /// Gives the tester's seat back (before they submit); it is free for someone else.
    #[graphql(guard = "HasRole(identity::Role::Tester)")]
    async fn withdraw_from_job(
        &self,
        ctx: &Context<'_>,
        input: JobIdInput,
    ) -> ApiResult<JobPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let actor = actor(ctx).await?;
        let job = services(ctx)
            .marketplace()
            .withdraw_from_job(&actor, id)
            .await?;
        Ok(JobPayload { job: Job(job) })
    }

    /// The tester starts testing: their seat moves ASSIGNED → IN_PROGRESS.
    #[graphql(guard = "HasRole(identity::Role::Tester)")]
    async fn start_assignment(
        &self,
        ctx: &Context<'_>,
        input: JobIdInput,
    ) -> ApiResult<JobPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let actor = actor(ctx).await?;
        let job = services(ctx)
            .marketplace()
            .start_assignment(&actor, id)
            .await?;
        Ok(JobPayload { job: Job(job) })
    }
}
