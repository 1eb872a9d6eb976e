//! The use cases that move money, each one function over `&MarketplaceService`. Publishing plans
//! the publish (reserving the budget), funds the job with the provider, then opens it; the
//! others run the marketplace's step and the money step in **one** transaction: approving (the seat's pay
//! leaves escrow into a held payout, the submission records it), rejecting (the seat's money
//! stays in escrow until the job ends), auto-approving what a client left unreviewed, completing
//! (the pay of unused seats is earmarked as a refund) and cancelling (everything unreleased is
//! earmarked). Control flows one way: GraphQL and the background work call these, these call
//! the marketplace, and the marketplace never calls back.
//!
//! The marketplace plans the step first (who may do it, read once, outside the transaction),
//! then the transaction reads the escrow, applies the pure ledger step, and writes the
//! submission or job and the escrow; a racing writer makes it run again from the start. Every
//! money step of one job first waits for the job's turn ([`foundation::hot_keys::HotKeys`]):
//! they all write the job's escrow document, and without turns eight approvals in flight on one
//! job spent most of their work on attempts a write conflict threw away (the `money` benchmark
//! counted 2,806 retries for 400 approvals at 200 seats, some approvals running 52 times). A
//! refund's provider call happens after the commit (no network call inside a transaction): the
//! refund is already recorded as pending, so a provider outage leaves it pending and
//! [`EscrowService::reconcile`] asks again with the same key.
//!
//! Idempotency is the caller's one layer (the API's keys, kept by
//! [`EscrowService::remember`]); underneath, every step is a compare-and-set, so a repeat is a
//! refused transition and money moves once.

use bson::oid::ObjectId;
use foundation::transaction_retry::in_transaction;
use foundation::Money;
use marketplace::{
    Actor, FundingReceipt, Job, JobAction, JobEscrowStatus, JobStatus, MarketplaceError,
    MarketplaceService, OrganizationLimits, PayerStanding, PaymentSource, PlannedJobTransition,
    PlannedReview, PublishedJob, ReviewDecision, Submission, SubmissionPayout,
};

use crate::error::EscrowError;
use crate::fee::split_payout;
use crate::ledger::EscrowActor;
use crate::lifecycle::RefundStatus;
use crate::service::{reported_status, EscrowService};

impl EscrowService {
    /// Publishes a draft (draft → open): the marketplace checks the caller and reserves the
    /// budget against the owner's limits, escrow captures the whole budget from `source` (the
    /// paying account's own saved payment method; without one, nothing is reserved or charged),
    /// and the job opens within the owner's `max_concurrent_jobs`. A funding that fails gives
    /// the reservation back; a repeated or racing publish funds once (funding is idempotent per
    /// job, and the draft → open compare-and-set lets one publish open it).
    pub async fn publish_job(
        &self,
        marketplace: &MarketplaceService,
        actor: &Actor,
        job_id: ObjectId,
        limits: OrganizationLimits,
        payer: PayerStanding,
        source: Option<&PaymentSource>,
    ) -> Result<PublishedJob, EscrowError> {
        let plan = marketplace
            .plan_publish(actor, job_id, limits, payer, source.is_some())
            .await?;
        let Some(source) = source else {
            return Err(MarketplaceError::PaymentMethodRequired.into());
        };
        let funded = self
            .fund_job(&plan.job, source, EscrowActor::User(source.payer_id))
            .await;
        let escrow = match funded {
            Ok(escrow) => escrow,
            Err(error) => {
                marketplace.abandon_publish(&plan).await?;
                return Err(error);
            }
        };
        let held = Money::new(escrow.captured_cents, self.settings.currency.clone());
        let receipt = FundingReceipt {
            escrow_status: JobEscrowStatus::Held,
            escrow_transaction_id: Some(escrow.id),
            note: format!("{held} captured by {} and held in escrow", escrow.provider),
        };
        Ok(marketplace.open_published_job(&plan, receipt).await?)
    }

    /// The client approves a submission: in one transaction the submission becomes approved, the
    /// tester's seat completed, and the seat's pay leaves escrow into a payout held for the
    /// dispute window (platform fee kept). Needs the job's owner or an organization owner or
    /// admin with an active, verified account (`payer`).
    pub async fn approve_submission(
        &self,
        marketplace: &MarketplaceService,
        actor: &Actor,
        submission_id: ObjectId,
        payer: PayerStanding,
    ) -> Result<Submission, EscrowError> {
        let plan = marketplace
            .plan_review(actor, submission_id, ReviewDecision::Approve, payer)
            .await?;
        self.review(marketplace, &plan, EscrowActor::User(actor.user_id))
            .await
    }

    /// The client rejects a submission with feedback: the submission and the seat change in one
    /// transaction; the seat's money stays in escrow and goes back to the client when the job
    /// completes (or is cancelled) and the tester's dispute window has passed undisputed.
    pub async fn reject_submission(
        &self,
        marketplace: &MarketplaceService,
        actor: &Actor,
        submission_id: ObjectId,
        feedback: String,
        payer: PayerStanding,
    ) -> Result<Submission, EscrowError> {
        let plan = marketplace
            .plan_review(
                actor,
                submission_id,
                ReviewDecision::Reject { feedback },
                payer,
            )
            .await?;
        self.review(marketplace, &plan, EscrowActor::User(actor.user_id))
            .await
    }

    /// Applies a planned review and, for an approval, holds the payout, in one transaction.
    pub(crate) async fn review(
        &self,
        marketplace: &MarketplaceService,
        plan: &PlannedReview,
        actor: EscrowActor,
    ) -> Result<Submission, EscrowError> {
        let window = self.settings.dispute_window;
        let _turn = self.jobs_in_flight.turn(&plan.job_id).await;
        in_transaction(&self.client, |mut session| async move {
            let outcome: Result<_, EscrowError> = async {
                let Some(before) = self.escrow_in(&mut session, plan.job_id).await? else {
                    // A job published without escrow (`NoFunding`): nothing to pay from.
                    return Ok(marketplace.apply_review(&mut session, plan, None).await?);
                };
                let mut after = before.clone();
                let payout = match plan.decision {
                    ReviewDecision::Approve => {
                        let now = self.now();
                        let basis_points = u32::try_from(after.platform_fee_basis_points)
                            .map_err(|_| EscrowError::Internal("stored fee out of range".into()))?;
                        let split = split_payout(after.budget_per_tester_cents, basis_points)?;
                        let payout = after.hold_payout(
                            plan.submission_id,
                            plan.tester_id,
                            split,
                            foundation::clock::add_duration(now, window),
                            now,
                            actor,
                        )?;
                        Some(SubmissionPayout {
                            amount_cents: payout.tester_payout_cents,
                            status: reported_status(payout.status),
                            paid_at: payout.completed_at,
                        })
                    }
                    _ => None,
                };
                let submission = marketplace.apply_review(&mut session, plan, payout).await?;
                if after != before {
                    self.write_with_payouts(
                        &mut session,
                        marketplace,
                        &before,
                        &after,
                        Some(plan.submission_id),
                    )
                    .await?;
                }
                Ok(submission)
            }
            .await;
            (session, outcome)
        })
        .await
    }

    /// Completes a job (review → completed): in one transaction the job closes and the pay of
    /// every seat not waiting for the client's review is earmarked as a refund to the client;
    /// the provider is then asked for it. Needs the job's owner or an organization owner or
    /// admin.
    pub async fn complete_job(
        &self,
        marketplace: &MarketplaceService,
        actor: &Actor,
        job_id: ObjectId,
    ) -> Result<Job, EscrowError> {
        let plan = marketplace
            .plan_job_transition(actor, job_id, JobAction::Complete)
            .await?;
        self.close_job(marketplace, &plan, EscrowActor::User(actor.user_id))
            .await
    }

    /// Cancels a job (draft, open or in progress → cancelled): in one transaction the job closes
    /// and every unreleased cent is earmarked as a refund to the client; the provider is then
    /// asked for it. Payouts already held for approved submissions stay theirs.
    pub async fn cancel_job(
        &self,
        marketplace: &MarketplaceService,
        actor: &Actor,
        job_id: ObjectId,
    ) -> Result<Job, EscrowError> {
        let plan = marketplace
            .plan_job_transition(actor, job_id, JobAction::Cancel)
            .await?;
        self.close_job(marketplace, &plan, EscrowActor::User(actor.user_id))
            .await
    }

    async fn close_job(
        &self,
        marketplace: &MarketplaceService,
        plan: &PlannedJobTransition,
        actor: EscrowActor,
    ) -> Result<Job, EscrowError> {
        let job_id = plan.job_id();
        let turn = self.jobs_in_flight.turn(&job_id).await;
        let (job, pending_refunds) = in_transaction(&self.client, |mut session| async move {
            let outcome: Result<_, EscrowError> = async {
                let job = marketplace.apply_job_transition(&mut session, plan).await?;
                let Some(before) = self.escrow_in(&mut session, job_id).await? else {
                    return Ok((job, Vec::new()));
                };
                if !before.status.is_funded() {
                    return Ok((job, Vec::new()));
                }
                // A rejection its tester may still dispute keeps its seat's pay in escrow; the
                // due work refunds it once the window passes undisputed (`converge`).
                let held = marketplace
                    .seats_still_held_on(
                        &mut session,
                        job_id,
                        foundation::clock::subtract_duration(
                            self.now(),
                            self.settings.dispute_window,
                        ),
                    )
                    .await?;
                let (seats_reserved, reason) = match job.status {
                    JobStatus::Completed => {
                        (held.awaiting_review, "unused seats of a completed job")
                    }
                    _ => (0, "job cancelled"),
                };
                let disputable = held
                    .disputable_rejections
                    .iter()
                    .filter(|submission_id| before.payout_for(**submission_id).is_none())
                    .count();
                let mut after = before.clone();
                let reserved =
                    after.budget_per_tester_cents * (seats_reserved as i64 + disputable as i64);
                let excess = after.available_cents() - reserved;
                if excess > 0 {
                    after.request_refund(
                        ObjectId::new(),
                        excess,
                        reason.to_owned(),
                        None,
                        self.now(),
                        actor,
                    )?;
                    self.write_with_payouts(&mut session, marketplace, &before, &after, None)
                        .await?;
                }
                let pending: Vec<ObjectId> = after
                    .refunds
                    .iter()
                    .filter(|refund| refund.status == RefundStatus::Pending)
                    .map(|refund| refund.refund_id)
                    .collect();
                Ok((job, pending))
            }
            .await;
            (session, outcome)
        })
        .await?;
        // Driving a refund takes the job's turn again.
        drop(turn);
        for refund_id in pending_refunds {
            // Recorded and earmarked already: a provider outage leaves it pending for
            // `reconcile`, and the job's change stands.
            if let Err(error) = self
                .drive_refund(marketplace, job_id, refund_id, actor)
                .await
            {
                tracing::warn!(%job_id, %refund_id, %error, "refund left pending for reconcile");
            }
        }
        Ok(job)
    }
}
