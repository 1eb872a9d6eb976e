//! Money on the marketplace's objects: a job's escrow (`Job.escrow`) and a submission's payout
//! (`Submission.payout`). Escrow is visible to the job's client, their organization's owners and
//! admins, and platform admins; a payout additionally to the tester it pays. Everyone else gets
//! `FORBIDDEN`, on every path.

use async_graphql::{Context, Enum, Object};
use bson::oid::ObjectId;

use crate::error::ApiResult;
use crate::identity_api::types::User;
use crate::loaders::{load, load_user, EscrowByJobLoader};
use crate::scalars::DateTime;
use crate::Services;

/// Where a job's escrow is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "escrow::EscrowStatus")]
pub enum EscrowStatus {
    /// Created; the payment is being set up.
    Pending,
    /// The card is authorized; nothing captured yet.
    Authorized,
    /// The whole budget is captured and held.
    Captured,
    /// Some of it was released to testers.
    PartiallyReleased,
    /// All of it was released.
    Released,
    /// Some of it was refunded to the client.
    PartiallyRefunded,
    /// All that was not released was refunded.
    Refunded,
    /// The payment failed.
    Failed,
    /// The authorization expired before capture.
    Expired,
}

/// Where a tester's payout is: PENDING → HELD (dispute window) → PROCESSING → PAID; FROZEN by a
/// dispute; FAILED and retried; REVERSED.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "escrow::PayoutStatus")]
pub enum PayoutStatus {
    /// Created.
    Pending,
    /// Held for the dispute window.
    Held,
    /// Frozen by a dispute.
    Frozen,
    /// The transfer is under way.
    Processing,
    /// Transferred to the tester.
    Paid,
    /// The transfer failed; it is retried.
    Failed,
    /// Taken back (a dispute was upheld).
    Reversed,
}

/// Where a refund to the client is: PENDING until the provider confirms, then SUCCEEDED or
/// FAILED (its money is back in escrow).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "escrow::RefundStatus")]
pub enum RefundStatus {
    /// Asked of the provider.
    Pending,
    /// Returned to the client.
    Succeeded,
    /// Refused by the provider; the money is available in escrow again.
    Failed,
}

/// Money returned to the client from a job's escrow.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct EscrowRefund(pub escrow::Refund);

/// Money returned to the client from a job's escrow.
#[Object]
impl EscrowRefund {
    /// Cents returned.
    async fn amount_cents(&self) -> i64 {
        self.0.amount_cents
    }
    /// Why.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// Where it is.
    async fn status(&self) -> RefundStatus {
        self.0.status.into()
    }
    /// The provider's reason, when it refused.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }
    /// When it was asked for.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When the provider confirmed it.
    async fn completed_at(&self) -> Option<DateTime> {
        self.0.completed_at.map(Into::into)
    }
}

/// What an escrow ledger entry records.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "escrow::EscrowEventType")]
pub enum EscrowEventType {
    /// The escrow was created for a published job.
    Created,
    /// The provider authorized the client's payment.
    Authorized,
    /// The provider captured it: the money is held.
    Captured,
    /// An approved seat's pay left escrow for its payout.
    Released,
    /// Money went back to the client.
    Refunded,
    /// The provider declined the payment.
    Failed,
    /// The authorization lapsed.
    Expired,
    /// Funding started over after a decline or lapse.
    FundingRetried,
    /// A payout was set aside for its dispute window.
    PayoutHeld,
    /// A dispute froze a payout.
    PayoutFrozen,
    /// A dispute ended in the tester's favour.
    PayoutUnfrozen,
    /// The rest of the dispute window was given up: the payout is due now.
    PayoutWindowWaived,
    /// A transfer to the tester was requested.
    PayoutProcessing,
    /// The tester was paid.
    PayoutPaid,
    /// A transfer failed.
    PayoutFailed,
    /// A payout was taken back; its money goes back to the client.
    PayoutReversed,
    /// A refund was requested from the provider.
    RefundRequested,
    /// The provider refused a refund; the money is available in escrow again.
    RefundFailed,
    /// The provider reports a paid payout's transfer reversed; recorded for an operator.
    TransferReversed,
    /// A kind this API version does not know.
    Other,
}

/// Who performed an escrow ledger entry.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscrowEventActorKind {
    /// A person: `performedBy` names them.
    User,
    /// The platform or the payment provider (`process` names which: `reconcile`,
    /// `stripe_webhook`, ...); `performedBy` is `null`.
    System,
}

/// One entry of an escrow's append-only ledger.
pub struct EscrowEvent(pub escrow::EscrowEvent);

/// One entry of an escrow's append-only ledger.
#[Object]
impl EscrowEvent {
    /// What happened.
    async fn event_type(&self) -> EscrowEventType {
        self.0.event_type.into()
    }
    /// Cents moved.
    async fn amount_cents(&self) -> i64 {
        self.0.amount_cents
    }
    /// When.
    async fn at(&self) -> DateTime {
        self.0.timestamp.into()
    }
    /// Notes.
    async fn notes(&self) -> &str {
        &self.0.notes
    }
    /// Whether a person or the system performed it.
    async fn actor_kind(&self) -> EscrowEventActorKind {
        if self.0.performed_by.is_some() {
            EscrowEventActorKind::User
        } else {
            EscrowEventActorKind::System
        }
    }
    /// The person who performed it (the client, an organization admin or a platform admin);
    /// `null` when the system or the payment provider did. Their fields follow `User`'s rules.
    async fn performed_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(user_id) = self.0.performed_by else {
            return Ok(None);
        };
        Ok(load_user(ctx, user_id).await?.map(User::new))
    }
    /// The platform process that acted, when no user did.
    async fn process(&self) -> Option<&str> {
        self.0.performed_by_process.as_deref()
    }
}

/// A tester's pay for one approved submission.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Payout(pub escrow::Payout);

/// A tester's pay for one approved submission.
#[Object]
impl Payout {
    /// The seat's pay before the platform fee, in cents.
    async fn gross_cents(&self) -> i64 {
        self.0.amount_cents
    }
    /// The platform's fee, in cents (rounded down; the tester gets the rest).
    async fn platform_fee_cents(&self) -> i64 {
        self.0.platform_fee_cents
    }
    /// What the tester receives, in cents.
    async fn tester_payout_cents(&self) -> i64 {
        self.0.tester_payout_cents
    }
    /// Where it is.
    async fn status(&self) -> PayoutStatus {
        self.0.status.into()
    }
    /// When the dispute window ends and the transfer may go.
    async fn release_after(&self) -> DateTime {
        self.0.release_after.into()
    }
    /// When it was paid.
    async fn completed_at(&self) -> Option<DateTime> {
        self.0.completed_at.map(Into::into)
    }
    /// The provider's transfer id once paid (`tr_...` on Stripe), to match bank statements.
    async fn transfer_id(&self) -> Option<&str> {
        self.0.stripe_transfer_id.as_deref()
    }
    /// Transfers tried so far (a failed one is retried up to the configured limit).
    async fn transfer_attempts(&self) -> i32 {
        self.0.transfer_attempts
    }
    /// The tester.
    async fn tester(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(load_user(ctx, self.0.tester_id).await?.map(User::new))
    }
}

/// The money held for one job.
pub struct JobEscrow(pub escrow::EscrowTransaction);

/// The money held for one job. Always: captured = paid + held for testers + platform fees +
/// refunded + in escrow.
#[Object]
impl JobEscrow {
    /// `SANDBOX` or `STRIPE`.
    async fn provider(&self) -> &str {
        &self.0.provider
    }
    /// Status.
    async fn status(&self) -> EscrowStatus {
        self.0.status.into()
    }
    /// ISO currency code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// The job's whole budget, in cents.
    async fn amount_cents(&self) -> i64 {
        self.0.amount_cents
    }
    /// Captured from the client.
    async fn captured_cents(&self) -> i64 {
        self.0.captured_cents
    }
    /// Still in escrow.
    async fn in_escrow_cents(&self) -> i64 {
        self.0.in_escrow_cents
    }
    /// Held for testers during the dispute window.
    async fn held_for_testers_cents(&self) -> i64 {
        self.0.held_for_testers_cents
    }
    /// Transferred to testers.
    async fn paid_to_testers_cents(&self) -> i64 {
        self.0.paid_to_testers_cents
    }
    /// Kept by the platform.
    async fn platform_fee_cents(&self) -> i64 {
        self.0.platform_fee_cents
    }
    /// Refunded to the client.
    async fn refunded_cents(&self) -> i64 {
        self.0.refunded_cents
    }
    /// The platform fee rate, in basis points (1500 = 15%).
    async fn platform_fee_basis_points(&self) -> i64 {
        self.0.platform_fee_basis_points
    }
    /// Payouts, one per approved submission.
    async fn payouts(&self) -> Vec<Payout> {
        self.0.payouts.iter().cloned().map(Payout).collect()
    }
    /// Refunds to the client, oldest first.
    async fn refunds(&self) -> Vec<EscrowRefund> {
        self.0.refunds.iter().cloned().map(EscrowRefund).collect()
    }
    /// Why an operator must look at this escrow (a provider report no automatic step settles),
    /// or `null` when nothing is flagged. Platform admins only: `null` for everyone else.
    async fn needs_attention(&self, ctx: &Context<'_>) -> Option<EscrowAttention> {
        let admin = matches!(
            crate::viewer::viewer(ctx).user(),
            Ok(user) if user.role == identity::Role::Admin
        );
        self.0
            .needs_attention
            .clone()
            .filter(|_| admin)
            .map(EscrowAttention)
    }
    /// The job the escrow funds, as far as the viewer may see it.
    async fn job(&self, ctx: &Context<'_>) -> ApiResult<Option<super::types::Job>> {
        match super::jobs::visible_job(ctx, self.0.job_id).await {
            Ok(job) => Ok(Some(job)),
            Err(crate::error::ApiError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }
    /// The ledger, oldest first.
    async fn events(&self) -> Vec<EscrowEvent> {
        self.0.events.iter().cloned().map(EscrowEvent).collect()
    }
}

/// Why an escrow needs an operator.
pub struct EscrowAttention(escrow::Attention);

/// Why an escrow needs an operator.
#[Object]
impl EscrowAttention {
    /// The latest provider report no automatic step settles, in words.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// When the escrow was first flagged.
    async fn since(&self) -> DateTime {
        self.0.since.into()
    }
    /// When the latest such report arrived.
    async fn last_reported_at(&self) -> DateTime {
        self.0.last_reported_at.into()
    }
}

/// Escrow queries for operators.
#[derive(Default)]
pub struct EscrowQuery;

/// Escrow queries for operators.
#[Object]
impl EscrowQuery {
    /// The escrows an operator must look at (`needsAttention` set), newest escrow first.
    /// Platform admins only.
    #[graphql(
        guard = "crate::viewer::HasRole(identity::Role::Admin)",
        complexity = "crate::relay::page_cost(Some(first), None, child_complexity)"
    )]
    async fn escrows_needing_attention(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, validator(minimum = 0, maximum = 100))] first: i32,
        after: Option<String>,
    ) -> ApiResult<crate::relay::ListConnection<JobEscrow>> {
        let after_id = after
            .as_deref()
            .map(crate::relay::decode_id_cursor)
            .transpose()?;
        let page = services(ctx)
            .escrow()
            .escrows_needing_attention(after_id, first.unsigned_abs())
            .await?;
        Ok(crate::relay::keyset_connection(
            after.is_some(),
            page,
            |escrow| escrow.id,
            JobEscrow,
        ))
    }
}

/// The escrow of `job_id`, or `None` when the job has none (a draft); batched per request.
pub async fn job_escrow(ctx: &Context<'_>, job_id: ObjectId) -> ApiResult<Option<JobEscrow>> {
    Ok(load(ctx, EscrowByJobLoader(services(ctx).clone()), job_id)
        .await?
        .map(JobEscrow))
}

/// The payout of `submission_id`, or `None` when it has none (not approved); a page of
/// submissions costs one batched query that returns only their payouts (not their jobs' whole
/// escrows, which grow with the seats and the ledger's events).
pub async fn submission_payout(
    ctx: &Context<'_>,
    submission_id: ObjectId,
) -> ApiResult<Option<Payout>> {
    Ok(load(
        ctx,
        crate::loaders::PayoutBySubmissionLoader(services(ctx).clone()),
        submission_id,
    )
    .await?
    .map(Payout))
}

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}
