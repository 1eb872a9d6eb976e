//! Submissions: the `submission` query, drafting, saving, submitting, and the client's review
//! (approve, reject with feedback, request a revision with notes).

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;
use marketplace::ReviewDecision;

use super::access::{actor, caller_standing};
use super::jobs::job_id;
use super::types::{Severity, StepOutcome, Submission};
use crate::error::ApiResult;
use crate::idempotency::once;
use crate::relay::{GlobalId, NodeType};
use crate::viewer::{Authenticated, HasRole, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Decodes a submission ID argument.
pub fn submission_id(id: &ID, field: &str) -> ApiResult<ObjectId> {
    GlobalId::decode_as(id, NodeType::Submission, field)
}

/// A submission the caller may see (its tester, whoever manages the job), or `NOT_FOUND`.
pub async fn visible_submission(ctx: &Context<'_>, id: ObjectId) -> ApiResult<Submission> {
    let actor = actor(ctx).await?;
    Ok(Submission(
        services(ctx).marketplace().submission(&actor, id).await?,
    ))
}

/// A tester's submissions, drafts included, newest first (`User.submissions`): for the tester
/// and platform admins; `None` for anyone else.
pub async fn submissions_of_tester(
    ctx: &Context<'_>,
    tester_id: ObjectId,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<Option<crate::relay::ListConnection<Submission>>> {
    let Ok(actor) = actor(ctx).await else {
        return Ok(None);
    };
    if !marketplace::visibility::tester_work_visible(&actor, tester_id) {
        return Ok(None);
    }
    let submissions = crate::loaders::load(
        ctx,
        crate::loaders::SubmissionsByTesterLoader(services(ctx).clone()),
        tester_id,
    )
    .await?
    .unwrap_or_default();
    crate::relay::connection_from_list(
        &crate::relay::page_request(first, after, last, before),
        submissions,
        Submission,
    )
    .map(Some)
}

/// Submission queries.
#[derive(Default)]
pub struct SubmissionQuery;

/// Submission queries.
#[Object]
impl SubmissionQuery {
    /// One submission: visible to its tester and to the job's client, organization and admins.
    #[graphql(guard = "Authenticated")]
    async fn submission(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Submission> {
        visible_submission(ctx, submission_id(&id, "id")?).await
    }
}

/// How one journey step went.
#[derive(InputObject)]
pub struct StepResultInput {
    /// A step number of the job's journey.
    pub step_number: i32,
    /// Outcome.
    pub status: StepOutcome,
    /// Notes.
    #[graphql(default)]
    pub notes: String,
    /// Screenshot URLs.
    #[graphql(default)]
    pub screenshots: Vec<String>,
}

/// A bug report.
#[derive(InputObject)]
pub struct BugInput {
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Description.
    #[graphql(default)]
    pub description: String,
    /// How to reproduce it.
    #[graphql(default)]
    pub steps_to_reproduce: Vec<String>,
    /// What should happen.
    #[graphql(default)]
    pub expected_behavior: String,
    /// What happens.
    #[graphql(default)]
    pub actual_behavior: String,
    /// Screenshot URLs.
    #[graphql(default)]
    pub screenshots: Vec<String>,
    /// Video URL.
    pub video_url: Option<String>,
    /// Devices it shows on.
    #[graphql(default)]
    pub affected_devices: Vec<String>,
    /// Browsers it shows on.
    #[graphql(default)]
    pub affected_browsers: Vec<String>,
}

/// Where the tester tested.
#[derive(InputObject)]
pub struct TestEnvironmentInput {
    /// Device.
    pub device_used: String,
    /// Browser.
    pub browser_used: String,
    /// Browser version.
    #[graphql(default)]
    pub browser_version: String,
    /// Operating system.
    pub os_used: String,
    /// Operating system version.
    #[graphql(default)]
    pub os_version: String,
    /// Screen resolution, e.g. `1920x1080`.
    #[graphql(default)]
    pub screen_resolution: String,
}

/// Input of `saveSubmission`: the whole content, replacing what was there.
#[derive(InputObject)]
pub struct SaveSubmissionInput {
    /// The submission (a draft, or one sent back for revision).
    pub submission_id: ID,
    /// Summary.
    pub summary: String,
    /// Results per journey step; every step number must exist in the job.
    #[graphql(default)]
    pub test_results: Vec<StepResultInput>,
    /// Bugs found.
    #[graphql(default)]
    pub bugs: Vec<BugInput>,
    /// Where the tester tested.
    pub environment: TestEnvironmentInput,
    /// Minutes spent (0 or more).
    #[graphql(default)]
    pub time_spent_minutes: i32,
}

/// Input naming one job to start a submission for.
#[derive(InputObject)]
pub struct CreateSubmissionInput {
    /// The job the tester holds a seat on.
    pub job_id: ID,
}

/// Input naming one submission.
#[derive(InputObject)]
pub struct SubmissionIdInput {
    /// The submission.
    pub submission_id: ID,
}

/// Input naming one submission, for a mutation that moves money.
#[derive(InputObject)]
pub struct SubmissionMoneyInput {
    /// The submission.
    pub submission_id: ID,
    /// Makes a retry safe: a repeat with the same key gets the first answer and changes nothing;
    /// the same key with another input is refused. May be sent as the `Idempotency-Key` header
    /// instead. At most 200 printable ASCII characters.
    pub idempotency_key: Option<String>,
}

/// Input of `rejectSubmission`.
#[derive(InputObject)]
pub struct RejectSubmissionInput {
    /// The submission.
    pub submission_id: ID,
    /// Why it is refused (shown to the tester).
    pub feedback: String,
    /// Makes a retry safe (see `SubmissionMoneyInput.idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// Input of `requestSubmissionRevision`.
#[derive(InputObject)]
pub struct RequestSubmissionRevisionInput {
    /// The submission.
    pub submission_id: ID,
    /// What to change (shown to the tester).
    pub notes: String,
}

/// A submission after a change.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct SubmissionPayload {
    /// The submission.
    pub submission: Submission,
}

fn payload(submission: marketplace::Submission) -> SubmissionPayload {
    SubmissionPayload {
        submission: Submission(submission),
    }
}

async fn review(
    ctx: &Context<'_>,
    id: &ID,
    decision: ReviewDecision,
) -> ApiResult<SubmissionPayload> {
    let id = submission_id(id, "submissionId")?;
    let actor = actor(ctx).await?;
    let standing = caller_standing(ctx).await?;
    let services = services(ctx);
    let marketplace = services.marketplace();
    // Approvals and rejections move money: escrow runs them, with the money step in the same
    // transaction. A revision request moves none.
    let submission = match decision {
        ReviewDecision::Approve => {
            services
                .escrow()
                .approve_submission(marketplace, &actor, id, standing)
                .await?
        }
        ReviewDecision::Reject { feedback } => {
            services
                .escrow()
                .reject_submission(marketplace, &actor, id, feedback, standing)
                .await?
        }
        decision @ ReviewDecision::RequestRevision { .. } => {
            marketplace
                .review_submission(&actor, id, decision, standing)
                .await?
        }
    };
    Ok(payload(submission))
}

/// A submission after its summary was enhanced.
#[derive(SimpleObject)]
pub struct EnhanceSubmissionSummaryPayload {
    /// The submission; `aiEnhancedSummary` holds the new text.
    pub submission: Submission,
    /// What the enhancement did.
    pub enhancement: super::jobs::EnhancementResult,
}

/// Submission mutations. Every status change is a compare-and-set in a transaction that also
/// recounts the job's `submissionCount`, `approvedSubmissionCount` and `bugsFound`.
#[derive(Default)]
pub struct SubmissionMutation;

/// Submission mutations.
#[Object]
impl SubmissionMutation {
    /// Starts the tester's (only) submission for a job they hold a seat on, as a draft.
    #[graphql(guard = "HasRole(identity::Role::Tester)")]
    async fn create_submission(
        &self,
        ctx: &Context<'_>,
        input: CreateSubmissionInput,
    ) -> ApiResult<SubmissionPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let actor = actor(ctx).await?;
        Ok(payload(
            services(ctx)
                .marketplace()
                .create_submission(&actor, id)
                .await?,
        ))
    }

    /// Replaces the content of a draft or a submission sent back for revision.
    #[graphql(guard = "HasRole(identity::Role::Tester)")]
    async fn save_submission(
        &self,
        ctx: &Context<'_>,
        input: SaveSubmissionInput,
    ) -> ApiResult<SubmissionPayload> {
        let id = submission_id(&input.submission_id, "submissionId")?;
        let environment = input.environment;
        let content = marketplace::SubmissionContent {
            summary: input.summary,
            test_results: input
                .test_results
                .into_iter()
                .map(|result| marketplace::StepResult {
                    step_number: result.step_number,
                    status: result.status.into(),
                    notes: result.notes,
                    screenshots: result.screenshots,
                    timestamp: None,
                })
                .collect(),
            bugs: input
                .bugs
                .into_iter()
                .map(|bug| marketplace::Bug {
                    title: bug.title,
                    severity: bug.severity.into(),
                    description: bug.description,
                    steps_to_reproduce: bug.steps_to_reproduce,
                    expected_behavior: bug.expected_behavior,
                    actual_behavior: bug.actual_behavior,
                    screenshots: bug.screenshots,
                    video_url: bug.video_url,
                    affected_devices: bug.affected_devices,
                    affected_browsers: bug.affected_browsers,
                })
                .collect(),
            environment: marketplace::TestEnvironment {
                device_used: environment.device_used,
                browser_used: environment.browser_used,
                browser_version: environment.browser_version,
                os_used: environment.os_used,
                os_version: environment.os_version,
                screen_resolution: environment.screen_resolution,
            },
            time_spent_minutes: input.time_spent_minutes,
        };
        let actor = actor(ctx).await?;
        Ok(payload(
            services(ctx)
                .marketplace()
                .save_submission(&actor, id, content)
                .await?,
        ))
    }

    /// Writes an AI-enhanced version of the tester's summary into `aiEnhancedSummary` (the
    /// tester's own text stays); without a provider nothing is stored and the answer says so.
    #[graphql(guard = "HasRole(identity::Role::Tester)")]
    async fn enhance_submission_summary(
        &self,
        ctx: &Context<'_>,
        input: SubmissionIdInput,
    ) -> ApiResult<EnhanceSubmissionSummaryPayload> {
        let id = submission_id(&input.submission_id, "submissionId")?;
        let actor = actor(ctx).await?;
        let enhanced = services(ctx)
            .marketplace()
            .enhance_submission_summary(&actor, id)
            .await?;
        Ok(EnhanceSubmissionSummaryPayload {
            submission: Submission(enhanced.submission),
            enhancement: enhanced.enhancement.into(),
        })
    }

    /// Hands the submission in (first time, or again after a revision request).
    #[graphql(guard = "HasRole(identity::Role::Tester)")]
    async fn submit_submission(
        &self,
        ctx: &Context<'_>,
        input: SubmissionIdInput,
    ) -> ApiResult<SubmissionPayload> {
        let id = submission_id(&input.submission_id, "submissionId")?;
        let actor = actor(ctx).await?;
        Ok(payload(
            services(ctx)
                .marketplace()
                .submit_submission(&actor, id)
                .await?,
        ))
    }

    /// Takes a handed-in submission into review (SUBMITTED → UNDER_REVIEW), so its tester sees
    /// it is being looked at. Anyone who manages the job (its client, the organization's
    /// members, admins); approving, rejecting and asking for a revision work from UNDER_REVIEW
    /// too, and unreviewed work is still approved automatically after the review window.
    /// `CONFLICT` when the submission is not SUBMITTED.
    #[graphql(guard = "SignedInUser")]
    async fn start_submission_review(
        &self,
        ctx: &Context<'_>,
        input: SubmissionIdInput,
    ) -> ApiResult<SubmissionPayload> {
        let id = submission_id(&input.submission_id, "submissionId")?;
        let actor = actor(ctx).await?;
        Ok(payload(
            services(ctx)
                .marketplace()
                .start_submission_review(&actor, id)
                .await?,
        ))
    }

    /// Accepts a handed-in submission: the job's approved count goes up and the tester's pay
    /// (minus the platform fee) is held for the dispute window, then transferred. Takes an
    /// idempotency key.
    #[graphql(guard = "SignedInUser")]
    async fn approve_submission(
        &self,
        ctx: &Context<'_>,
        input: SubmissionMoneyInput,
    ) -> ApiResult<SubmissionPayload> {
        let run = review(ctx, &input.submission_id, ReviewDecision::Approve);
        let arguments = input.submission_id.to_string();
        let key = input.idempotency_key.as_deref();
        once(ctx, key, "approveSubmission", arguments, run).await
    }

    /// Refuses a handed-in submission with feedback; its seat's money goes back to the client
    /// when the job no longer needs it. Takes an idempotency key.
    #[graphql(guard = "SignedInUser")]
    async fn reject_submission(
        &self,
        ctx: &Context<'_>,
        input: RejectSubmissionInput,
    ) -> ApiResult<SubmissionPayload> {
        let arguments = format!("{}\n{}", input.submission_id.as_str(), input.feedback);
        let run = review(
            ctx,
            &input.submission_id,
            ReviewDecision::Reject {
                feedback: input.feedback.clone(),
            },
        );
        let key = input.idempotency_key.as_deref();
        once(ctx, key, "rejectSubmission", arguments, run).await
    }

    /// Sends a handed-in submission back to the tester with notes; they revise and resubmit.
    #[graphql(guard = "SignedInUser")]
    async fn request_submission_revision(
        &self,
        ctx: &Context<'_>,
        input: RequestSubmissionRevisionInput,
    ) -> ApiResult<SubmissionPayload> {
        review(
            ctx,
            &input.submission_id,
            ReviewDecision::RequestRevision { notes: input.notes },
        )
        .await
    }
}
