//! Money back to the client: explicit refunds of unreleased escrow, and the settlement of a job
//! that ended. A refund is earmarked in the ledger (pending) before the provider is called with a
//! key derived from the refund id, then recorded as succeeded or failed; a crash in between
//! leaves it pending, and `reconcile` calls again with the same key.
//!
//! **Job settlement converges** the escrow to what the marketplace says, so running it twice, or
//! after a lost hook, does the right thing: every approved submission has a payout; a cancelled
//! job refunds every unreleased cent; a completed job refunds everything except the pay of
//! submissions still waiting for the client's review (auto-approval decides those within its
//! window; a later rejection refunds that seat).

use bson::oid::ObjectId;
use foundation::Money;
use marketplace::{JobStatus, MarketplaceService, PayerStanding, SubmissionStatus};
use serde::{Deserialize, Serialize};

use crate::error::EscrowError;
use crate::idempotency::IdempotencyKey;
use crate::ledger::{EscrowActor, Refund};
use crate::lifecycle::RefundStatus;
use crate::provider::{ProviderError, ProviderKeys, RefundRequest};
use crate::service::EscrowService;

/// Where a job's money stands after settling it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSettlementSummary {
    /// The job.
    pub job_id: ObjectId,
    /// The escrow's status.
    pub escrow_status: String,
    /// Payouts the escrow holds.
    pub payouts: usize,
    /// Cents returned to the client so far.
    #[serde(rename = "refunded_usd")]
    pub refunded_cents: i64,
    /// Cents still in escrow (reserved for submissions awaiting review, or pending refunds).
    #[serde(rename = "in_escrow_usd")]
    pub in_escrow_cents: i64,
}

impl EscrowService {
    /// Refunds `amount` cents of the job's unreleased escrow to the client (a goodwill refund, a
    /// dispute's partial refund). The same key returns the same refund. The caller must be
    /// active and verified (`payer`), whatever transport they came through.
    // Each argument is one fact of the request (who, what, how much, why, on whose standing,
    // under which key); bundling them would only rename the list.
    #[allow(clippy::too_many_arguments)]
    pub async fn refund(
        &self,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        amount: i64,
        reason: &str,
        actor: EscrowActor,
        payer: PayerStanding,
        key: &IdempotencyKey,
    ) -> Result<Refund, EscrowError> {
        payer.require_verified()?;
        let arguments = format!("{job_id}|{amount}");
        self.remember(key, "refund", arguments, async {
            let (_, refund) = self
                .change(marketplace, job_id, |escrow, now| {
                    escrow.request_refund(
                        ObjectId::new(),
                        amount,
                        reason.to_owned(),
                        Some(key.as_str().to_owned()),
                        now,
                        actor,
                    )
                })
                .await?;
            self.drive_refund(marketplace, job_id, refund.refund_id, actor)
                .await
        })
        .await
    }

    /// Asks the provider for a pending refund and records its answer. An unavailable provider
    /// leaves the refund pending (an error for the caller, repaired by `reconcile`).
    pub(crate) async fn drive_refund(
        &self,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        refund_id: ObjectId,
        actor: EscrowActor,
    ) -> Result<Refund, EscrowError> {
        let escrow = self.escrow_for_job(job_id).await?;
        let refund = escrow
            .refund(refund_id)
            .ok_or(EscrowError::RefundNotFound)?
            .clone();
        if refund.status != RefundStatus::Pending {
            return Ok(refund);
        }
        let answer = self
            .provider
            .refund(RefundRequest {
                idempotency_key: ProviderKeys::refund(refund_id),
                refund_id,
                escrow_id: escrow.id,
                job_id,
                payment_id: escrow.stripe_payment_intent_id.clone().unwrap_or_default(),
                amount: Money::new(refund.amount_cents, self.settings.currency.clone()),
                reason: refund.reason.clone(),
            })
            .await;
        let (_, refund) = match answer {
            Ok(provider_refund) => {
                self.change(marketplace, job_id, |escrow, now| {
                    escrow.settle_refund(refund_id, provider_refund.refund_id.clone(), now, actor)
                })
                .await?
            }
            Err(ProviderError::Declined { reason }) => {
                self.change(marketplace, job_id, |escrow, now| {
                    escrow.fail_refund(refund_id, &reason, now, actor)
                })
                .await?
            }
            Err(error) => return Err(error.into()),
        };
        Ok(refund)
    }

    /// Settles the job's escrow with the marketplace's state (see the module docs): the money
    /// side of cancelling or completing a job, or of rejecting a submission of a finished job.
    pub async fn settle_job(
        &self,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        actor: EscrowActor,
        key: &IdempotencyKey,
    ) -> Result<JobSettlementSummary, EscrowError> {
        self.remember(
            key,
            "settle_job",
            job_id.to_hex(),
            self.converge(marketplace, job_id, actor),
        )
        .await
    }

    /// Converges the escrow of `job_id` to the marketplace's state; safe to run at any time.
    pub(crate) async fn converge(
        &self,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        actor: EscrowActor,
    ) -> Result<JobSettlementSummary, EscrowError> {
        let job = marketplace.job(job_id).await?;
        let submissions = marketplace
            .submissions_by_job_ids(&[job_id], usize::MAX)
            .await?
            .remove(&job_id)
            .unwrap_or_default();
        let escrow = self.escrow_for_job(job_id).await?;
        if escrow.status.is_funded() {
            for submission in &submissions {
                if submission.status == SubmissionStatus::Approved
                    && escrow.payout_for(submission.id).is_none()
                {
                    self.hold_payout_for(marketplace, submission, actor).await?;
                }
            }
        }
        let awaiting_review = submissions
            .iter()
            .filter(|submission| {
                matches!(
                    submission.status,
                    SubmissionStatus::Submitted | SubmissionStatus::UnderReview
                )
            })
            .count() as i64;
        let (reserve, reason) = match job.status {
            JobStatus::Cancelled => (Some(0), "job cancelled"),
            JobStatus::Completed => (Some(awaiting_review), "unused seats of a completed job"),
            _ => (None, ""),
        };
        // Rejections still inside their dispute window keep their seat's pay (see `close_job`).
        let disputable_since =
            foundation::clock::subtract_duration(self.now(), self.settings.dispute_window);
        let disputable: Vec<ObjectId> = submissions
            .iter()
            .filter(|submission| {
                submission.status == SubmissionStatus::Rejected
                    && submission
                        .reviewed_at
                        .is_some_and(|reviewed_at| reviewed_at > disputable_since)
            })
            .map(|submission| submission.id)
            .collect();
        if let Some(seats_reserved) = reserve {
            let (escrow, _) = self
                .change(marketplace, job_id, |escrow, now| {
                    if !escrow.status.is_funded() {
                        return Ok(());
                    }
                    let disputed_seats = disputable
                        .iter()
                        .filter(|submission_id| escrow.payout_for(**submission_id).is_none())
                        .count() as i64;
                    let reserved =
                        escrow.budget_per_tester_cents * (seats_reserved + disputed_seats);
                    let excess = escrow.available_cents() - reserved;
                    if excess > 0 {
                        escrow.request_refund(
                            ObjectId::new(),
                            excess,
                            reason.to_owned(),
                            None,
                            now,
                            actor,
                        )?;
                    }
                    Ok(())
                })
                .await?;
            for refund in &escrow.refunds {
                if refund.status == RefundStatus::Pending {
                    self.drive_refund(marketplace, job_id, refund.refund_id, actor)
                        .await?;
                }
            }
        }
        let escrow = self.escrow_for_job(job_id).await?;
        Ok(JobSettlementSummary {
            job_id,
            escrow_status: escrow.status.as_str().to_owned(),
            payouts: escrow.payouts.len(),
            refunded_cents: escrow.refunded_cents,
            in_escrow_cents: escrow.in_escrow_cents,
        })
    }
}
