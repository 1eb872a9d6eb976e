//! Tester payouts: an approved submission's seat is released from escrow into a held payout
//! (platform fee kept, tester's share held for the dispute window), then transferred to the
//! tester. A dispute freezes a held payout; its outcome unfreezes or reverses it (the seam the
//! trust crate calls).
//!
//! A transfer is three writes around one provider call: mark the payout `processing` with a new
//! attempt number, call the provider with a key derived from the payout id and that attempt,
//! record `paid` (or `failed`). A crash after the call leaves the payout `processing`; the next
//! sweep or `reconcile` calls again with the same key, the provider answers with the same
//! transfer, and the payout is recorded paid once.

use bson::doc;
use bson::oid::ObjectId;
use foundation::Money;
use futures_util::TryStreamExt;
use marketplace::{
    MarketplaceError, MarketplaceService, PayerStanding, Submission, SubmissionStatus,
};

use crate::error::EscrowError;
use crate::fee::split_payout;
use crate::idempotency::IdempotencyKey;
use crate::ledger::{EscrowActor, EscrowTransaction, Payout, Refund};
use crate::lifecycle::PayoutStatus;
use crate::provider::{ProviderError, ProviderKeys, TransferRequest};
use crate::service::EscrowService;

impl EscrowService {
    /// Creates the payout of an approved submission: the job's pay per tester leaves escrow, the
    /// platform keeps its fee, the tester's share is held for the dispute window. Paying the same
    /// submission again returns the same payout.
    pub async fn pay_approved_submission(
        &self,
        marketplace: &MarketplaceService,
        submission_id: ObjectId,
        actor: EscrowActor,
        key: &IdempotencyKey,
    ) -> Result<Payout, EscrowError> {
        let submission = marketplace
            .submissions_by_ids(&[submission_id])
            .await?
            .remove(&submission_id)
            .ok_or(EscrowError::Marketplace(
                MarketplaceError::SubmissionNotFound,
            ))?;
        if submission.status != SubmissionStatus::Approved {
            return Err(EscrowError::SubmissionNotApproved);
        }
        self.remember(
            key,
            "pay_approved_submission",
            submission_id.to_hex(),
            self.hold_payout_for(marketplace, &submission, actor),
        )
        .await
    }

    /// The payout of an approved submission, created if missing (no idempotency record: the
    /// ledger's one-payout-per-submission rule is enough for internal callers).
    pub(crate) async fn hold_payout_for(
        &self,
        marketplace: &MarketplaceService,
        submission: &Submission,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        let window = self.settings.dispute_window;
        let (_, payout) = self
            .change(marketplace, submission.job_id, |escrow, now| {
                if let Some(existing) = escrow.payout_for(submission.id) {
                    return Ok(existing.clone());
                }
                let basis_points = u32::try_from(escrow.platform_fee_basis_points)
                    .map_err(|_| EscrowError::Internal("stored fee out of range".into()))?;
                let split = split_payout(escrow.budget_per_tester_cents, basis_points)?;
                let release_after = foundation::clock::add_duration(now, window);
                escrow.hold_payout(
                    submission.id,
                    submission.tester_id,
                    split,
                    release_after,
                    now,
                    actor,
                )
            })
            .await?;
        Ok(payout)
    }

    /// Transfers the payout of `submission_id` (or retries a failed transfer). Inside the
    /// dispute window it is refused ([`EscrowError::PayoutStillHeld`]) unless
    /// `waive_dispute_window`: the client gives up their right to dispute it (or an admin
    /// decides), which the ledger records. Returns the payout as it ends up: paid, failed when
    /// the provider refused, or held again when the tester cannot receive transfers yet. The
    /// same key returns the same answer; a frozen payout is refused. The caller releasing it
    /// must be active and verified (`payer`), whatever transport they came through.
    pub async fn release_payout(
        &self,
        marketplace: &MarketplaceService,
        submission_id: ObjectId,
        waive_dispute_window: bool,
        actor: EscrowActor,
        payer: PayerStanding,
        key: &IdempotencyKey,
    ) -> Result<Payout, EscrowError> {
        payer.require_verified()?;
        let job_id = self.escrow_for_submission(submission_id).await?.job_id;
        let arguments = format!("{}|{waive_dispute_window}", submission_id.to_hex());
        self.remember(key, "release_payout", arguments, async move {
            if waive_dispute_window {
                self.change(marketplace, job_id, |escrow, now| {
                    escrow.waive_dispute_window(submission_id, now, actor)
                })
                .await?;
            }
            self.transfer_payout(marketplace, job_id, submission_id, actor)
                .await
        })
        .await
    }

    pub(crate) async fn transfer_payout(
        &self,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        submission_id: ObjectId,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        let max_attempts = i32::try_from(self.settings.max_transfer_attempts).unwrap_or(i32::MAX);
        let (_, payout) = self
            .change(marketplace, job_id, |escrow, now| {
                escrow.begin_transfer(submission_id, max_attempts, now, actor)
            })
            .await?;
        if payout.status != PayoutStatus::Processing {
            return Ok(payout);
        }
        let attempt = payout.transfer_attempts;
        let answer = self
            .provider
            .transfer(TransferRequest {
                idempotency_key: ProviderKeys::transfer(payout.payout_id, attempt),
                payout_id: payout.payout_id,
                tester_id: payout.tester_id,
                amount: Money::new(payout.tester_payout_cents, self.settings.currency.clone()),
                transfer_group: ProviderKeys::transfer_group(job_id),
            })
            .await;
        let (_, payout) = match answer {
            Ok(transfer) => {
                self.change(marketplace, job_id, |escrow, now| {
                    escrow.settle_transfer(
                        submission_id,
                        attempt,
                        transfer.transfer_id.clone(),
                        now,
                        actor,
                    )
                })
                .await?
            }
            Err(ProviderError::Declined { reason }) => {
                self.change(marketplace, job_id, |escrow, now| {
                    escrow.fail_transfer(submission_id, attempt, &reason, now, actor)
                })
                .await?
            }
            Err(ProviderError::RecipientNotReady { reason }) => {
                self.change(marketplace, job_id, |escrow, now| {
                    escrow.defer_transfer(submission_id, attempt, &reason, now, actor)
                })
                .await?
            }
            Err(error) => return Err(error.into()),
        };
        Ok(payout)
    }

    /// Transfers every payout that is due: held past its dispute window, failed with attempts
    /// left, or left processing by a crash. Returns the payouts paid by this sweep; a payout that
    /// could not be transferred is left for the next sweep.
    pub async fn release_due_payouts(
        &self,
        marketplace: &MarketplaceService,
    ) -> Result<Vec<Payout>, EscrowError> {
        let now = self.now();
        let max_attempts = i64::from(self.settings.max_transfer_attempts);
        let due: Vec<EscrowTransaction> = self
            .escrows
            .find(doc! { "$or": [
                { "payouts": { "$elemMatch": { "status": "held", "release_after": { "$lte": now } } } },
                { "payouts": { "$elemMatch": { "status": "failed", "transfer_attempts": { "$lt": max_attempts } } } },
                { "payouts": { "$elemMatch": { "status": "processing" } } },
            ]})
            .await?
            .try_collect()
            .await?;
        let mut paid = Vec::new();
        for escrow in due {
            for payout in &escrow.payouts {
                let due = match payout.status {
                    PayoutStatus::Held => payout.release_after <= now,
                    PayoutStatus::Failed => i64::from(payout.transfer_attempts) < max_attempts,
                    PayoutStatus::Processing => true,
                    _ => false,
                };
                if !due {
                    continue;
                }
                let transferred = self
                    .transfer_payout(
                        marketplace,
                        escrow.job_id,
                        payout.submission_id,
                        EscrowActor::Platform("payout_release"),
                    )
                    .await;
                match transferred {
                    Ok(payout) if payout.status == PayoutStatus::Paid => paid.push(payout),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(
                        job_id = %escrow.job_id,
                        submission_id = %payout.submission_id,
                        %error,
                        "payout transfer left for the next sweep"
                    ),
                }
            }
        }
        Ok(paid)
    }

    /// A dispute on `submission_id` freezes its held payout (the trust crate's seam): it is not
    /// transferred until [`EscrowService::unfreeze_payout`] or [`EscrowService::reverse_payout`].
    pub async fn freeze_payout(
        &self,
        marketplace: &MarketplaceService,
        submission_id: ObjectId,
        dispute_id: ObjectId,
        actor: EscrowActor,
        key: &IdempotencyKey,
    ) -> Result<Payout, EscrowError> {
        let escrow = self.escrow_for_submission(submission_id).await?;
        let arguments = format!("{submission_id}|{dispute_id}");
        self.remember(key, "freeze_payout", arguments, async {
            let (_, payout) = self
                .change(marketplace, escrow.job_id, |escrow, now| {
                    escrow.freeze_payout(submission_id, dispute_id, now, actor)
                })
                .await?;
            Ok(payout)
        })
        .await
    }

    /// The dispute ended for the tester: the payout is held again and transferred by the next
    /// sweep once its window is over.
    pub async fn unfreeze_payout(
        &self,
        marketplace: &MarketplaceService,
        submission_id: ObjectId,
        actor: EscrowActor,
        key: &IdempotencyKey,
    ) -> Result<Payout, EscrowError> {
        let escrow = self.escrow_for_submission(submission_id).await?;
        self.remember(key, "unfreeze_payout", submission_id.to_hex(), async {
            let (_, payout) = self
                .change(marketplace, escrow.job_id, |escrow, now| {
                    escrow.unfreeze_payout(submission_id, now, actor)
                })
                .await?;
            Ok(payout)
        })
        .await
    }

    /// The dispute ended for the client: the held or frozen payout is reversed and the seat's
    /// whole pay (fee included) is refunded to the client. Returns the refund.
    pub async fn reverse_payout(
        &self,
        marketplace: &MarketplaceService,
        submission_id: ObjectId,
        actor: EscrowActor,
        key: &IdempotencyKey,
    ) -> Result<Refund, EscrowError> {
        let escrow = self.escrow_for_submission(submission_id).await?;
        let job_id = escrow.job_id;
        self.remember(key, "reverse_payout", submission_id.to_hex(), async {
            let (_, refund) = self
                .change(marketplace, job_id, |escrow, now| {
                    escrow.reverse_payout(submission_id, ObjectId::new(), now, actor)
                })
                .await?;
            self.drive_refund(marketplace, job_id, refund.refund_id, actor)
                .await
        })
        .await
    }
}
