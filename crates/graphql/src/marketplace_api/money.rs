//! The escrow mutations that are not a marketplace step: `refundEscrow` (an admin returns
//! unreleased money to the client: goodwill, a support case) and `releasePayout` (the job's
//! client, or an admin, pays an approved tester now instead of at the end of the dispute window,
//! or retries a failed transfer). Both take an idempotency key ([`crate::idempotency`]).
//! Who may see the results follows `Job.escrow` and `Submission.payout`.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::access::actor;
use super::escrow_types::{EscrowRefund, Payout};
use super::jobs::job_id;
use super::submissions::submission_id;
use super::types::{Job, Submission};
use super::visibility::administers;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{once, step_key};
use crate::loaders::{load, JobLoader};
use crate::viewer::{HasRole, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Longest refund reason kept.
const MAX_REASON_LENGTH: usize = 500;

/// Input of `refundEscrow`.
#[derive(InputObject)]
pub struct RefundEscrowInput {
    /// The job whose escrow pays the refund.
    pub job_id: ID,
    /// Cents to return; at most what the escrow holds unreleased and unreserved.
    pub amount_cents: i64,
    /// Why (kept in the ledger and sent to the provider).
    pub reason: String,
    /// Makes a retry safe (see `JobMoneyInput.idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// A refund made.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct RefundEscrowPayload {
    /// The job.
    pub job: Job,
    /// The refund (PENDING while the provider has not confirmed it).
    pub refund: EscrowRefund,
}

/// Input of `releasePayout`.
#[derive(InputObject)]
pub struct ReleasePayoutInput {
    /// The approved submission whose payout to release.
    pub submission_id: ID,
    /// Makes a retry safe (see `JobMoneyInput.idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// A payout released.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct ReleasePayoutPayload {
    /// The submission.
    pub submission: Submission,
    /// Its payout: PAID, FAILED when the provider refused, or HELD when the tester cannot
    /// receive transfers yet (it goes as soon as they can).
    pub payout: Payout,
}

/// Escrow mutations.
#[derive(Default)]
pub struct MoneyMutation;

/// Escrow mutations.
#[Object]
impl MoneyMutation {
    /// Returns `amountCents` of a job's unreleased escrow to its client. Admins only: money
    /// reserved for open seats must stay until the job ends (cancelling or completing the job
    /// refunds it by itself). Takes an idempotency key.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn refund_escrow(
        &self,
        ctx: &Context<'_>,
        input: RefundEscrowInput,
    ) -> ApiResult<RefundEscrowPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let reason = input.reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_LENGTH {
            return Err(ApiError::bad_input(
                "reason",
                format!("must be 1 to {MAX_REASON_LENGTH} characters"),
            ));
        }
        if input.amount_cents <= 0 {
            return Err(ApiError::bad_input("amountCents", "must be more than zero"));
        }
        let user = crate::viewer::viewer(ctx).user()?.user_id;
        let arguments = format!("{}\n{}\n{reason}", id.to_hex(), input.amount_cents);
        let key = input.idempotency_key.as_deref();
        let refund_key = step_key(ctx, key, "refund")?;
        let run = async {
            let refund = services(ctx)
                .escrow()
                .refund(
                    id,
                    input.amount_cents,
                    &reason,
                    escrow::EscrowActor::User(user),
                    &refund_key,
                )
                .await?;
            let job = services(ctx)
                .marketplace()
                .jobs_by_ids(&[id])
                .await?
                .remove(&id)
                .ok_or_else(|| ApiError::NotFound("job not found".to_string()))?;
            Ok(RefundEscrowPayload {
                job: Job(job),
                refund: EscrowRefund(refund),
            })
        };
        once(ctx, key, "refundEscrow", arguments, run).await
    }

    /// Pays an approved submission's tester now: the job's client (or their organization's
    /// owners and admins) gives up the rest of the dispute window, or an admin releases it; a
    /// failed transfer is retried. A payout frozen by a dispute is refused. Takes an
    /// idempotency key.
    #[graphql(guard = "SignedInUser")]
    async fn release_payout(
        &self,
        ctx: &Context<'_>,
        input: ReleasePayoutInput,
    ) -> ApiResult<ReleasePayoutPayload> {
        let id = submission_id(&input.submission_id, "submissionId")?;
        let key = input.idempotency_key.as_deref();
        let release_key = step_key(ctx, key, "release")?;
        let run = async {
            let actor = actor(ctx).await?;
            let submission = services(ctx)
                .marketplace()
                .submissions_by_ids(&[id])
                .await?
                .remove(&id)
                .ok_or_else(|| ApiError::NotFound("submission not found".to_string()))?;
            let job = load(ctx, JobLoader(services(ctx).clone()), submission.job_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("submission not found".to_string()))?;
            if !administers(&actor, job.client_id, job.organization_id) {
                if actor.user_id == submission.tester_id {
                    return Err(ApiError::Forbidden(
                        "only the job's client, their organization's owners and admins, and admins may release a payout"
                            .to_string(),
                    ));
                }
                // Anyone else may not learn the submission exists.
                return Err(ApiError::NotFound("submission not found".to_string()));
            }
            let payout = services(ctx)
                .escrow()
                .release_payout_now(
                    services(ctx).marketplace(),
                    id,
                    escrow::EscrowActor::User(actor.user_id),
                    &release_key,
                )
                .await?;
            let submission = services(ctx)
                .marketplace()
                .submissions_by_ids(&[id])
                .await?
                .remove(&id)
                .ok_or_else(|| ApiError::NotFound("submission not found".to_string()))?;
            Ok(ReleasePayoutPayload {
                submission: Submission(submission),
                payout: Payout(payout),
            })
        };
        once(ctx, key, "releasePayout", id.to_hex(), run).await
    }
}
