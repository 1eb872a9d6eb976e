//! The money side of a dispute, for the trust crate, which owns disputes and drives these steps
//! **inside its own transaction** (the dispute's compare-and-set and the ledger step commit
//! together or not at all). Opening freezes the disputed money: an approved submission's held
//! payout, or, for a rejection, the seat's pay moved out of escrow into a payout frozen at once
//! (so a closing job cannot refund it meanwhile). A resolution pays the tester (unfreeze),
//! refunds the client (reverse) or splits the seat ([`DisputeSettlement::Split`]); the
//! refund's provider call follows the commit ([`EscrowService::finish_dispute_refund`]), as
//! every refund does, and `reconcile` finishes it after a crash.

use std::time::Duration;

use bson::oid::ObjectId;
use marketplace::{MarketplaceService, Submission, SubmissionStatus};
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use crate::error::EscrowError;
use crate::fee::split_payout;
use crate::ledger::{EscrowActor, EscrowTransaction, Payout, Refund};
use crate::lifecycle::PayoutStatus;
use crate::service::EscrowService;

/// How a dispute's money ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisputeSettlement {
    /// The tester is paid: the frozen payout is held again and transferred when due.
    PayTester,
    /// The client gets the whole seat back (fee included): the payout is reversed and refunded.
    RefundClient,
    /// `refund_cents` of the seat go back to the client, the rest is the tester's with the
    /// platform fee taken on that part only (the fee's rounding: down, fraction to the tester).
    Split {
        /// Cents refunded to the client: at least 1, less than the seat's pay.
        refund_cents: i64,
    },
}

/// What a dispute step left in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeMoney {
    /// The job whose escrow moved.
    pub job_id: ObjectId,
    /// The disputed payout after the step.
    pub payout: Payout,
    /// The refund the step requested (pending until [`EscrowService::finish_dispute_refund`]).
    pub refund: Option<Refund>,
}

impl EscrowService {
    /// How long after a review its submission may be disputed (and an approval's payout is
    /// held).
    pub fn dispute_window(&self) -> Duration {
        self.settings.dispute_window
    }

    /// Opens the money side of dispute `dispute_id` on `submission`, inside the transaction of
    /// `session`: an approved submission's payout, still held inside its window, is frozen; a
    /// rejection still inside its window has its seat's pay taken out of escrow into a payout
    /// frozen at once. Anything else is [`EscrowError::DisputeWindowClosed`].
    pub async fn open_dispute_in(
        &self,
        session: &mut ClientSession,
        marketplace: &MarketplaceService,
        submission: &Submission,
        dispute_id: ObjectId,
        actor: EscrowActor,
    ) -> Result<DisputeMoney, EscrowError> {
        let window = self.settings.dispute_window;
        self.dispute_step_in(session, marketplace, submission.job_id, |escrow, now| {
            let payout = match submission.status {
                SubmissionStatus::Approved => {
                    let payout = escrow
                        .payout_for(submission.id)
                        .ok_or(EscrowError::DisputeWindowClosed)?;
                    if payout.status != PayoutStatus::Held || payout.release_after <= now {
                        return Err(EscrowError::DisputeWindowClosed);
                    }
                    escrow.freeze_payout(submission.id, dispute_id, now, actor)?
                }
                SubmissionStatus::Rejected => {
                    let reviewed_at = submission
                        .reviewed_at
                        .ok_or(EscrowError::DisputeWindowClosed)?;
                    if foundation::clock::add_duration(reviewed_at, window) <= now {
                        return Err(EscrowError::DisputeWindowClosed);
                    }
                    let basis_points = u32::try_from(escrow.platform_fee_basis_points)
                        .map_err(|_| EscrowError::Internal("stored fee out of range".into()))?;
                    let split = split_payout(escrow.budget_per_tester_cents, basis_points)?;
                    escrow.hold_disputed_rejection(
                        submission.id,
                        submission.tester_id,
                        split,
                        dispute_id,
                        now,
                        actor,
                    )?
                }
                _ => return Err(EscrowError::DisputeWindowClosed),
            };
            Ok((payout, None))
        })
        .await
    }

    /// Settles the disputed payout of `submission_id` as `settlement` says, inside the
    /// transaction of `session`. A refund it requests is pending: call
    /// [`EscrowService::finish_dispute_refund`] once the transaction committed.
    pub async fn settle_dispute_in(
        &self,
        session: &mut ClientSession,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        submission_id: ObjectId,
        settlement: DisputeSettlement,
        actor: EscrowActor,
    ) -> Result<DisputeMoney, EscrowError> {
        self.dispute_step_in(
            session,
            marketplace,
            job_id,
            |escrow, now| match settlement {
                DisputeSettlement::PayTester => {
                    Ok((escrow.unfreeze_payout(submission_id, now, actor)?, None))
                }
                DisputeSettlement::RefundClient => {
                    let refund =
                        escrow.reverse_payout(submission_id, ObjectId::new(), now, actor)?;
                    let payout = escrow
                        .payout_for(submission_id)
                        .ok_or(EscrowError::PayoutNotFound)?
                        .clone();
                    Ok((payout, Some(refund)))
                }
                DisputeSettlement::Split { refund_cents } => {
                    let basis_points = u32::try_from(escrow.platform_fee_basis_points)
                        .map_err(|_| EscrowError::Internal("stored fee out of range".into()))?;
                    let (payout, refund) = escrow.split_disputed_payout(
                        submission_id,
                        refund_cents,
                        basis_points,
                        ObjectId::new(),
                        now,
                        actor,
                    )?;
                    Ok((payout, Some(refund)))
                }
            },
        )
        .await
    }

    /// Asks the provider for a refund a dispute's resolution requested, after its transaction
    /// committed. A provider outage leaves it pending for `reconcile` (same provider key), so
    /// the resolution stands either way; returns the refund as it ends up.
    pub async fn finish_dispute_refund(
        &self,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        refund_id: ObjectId,
        actor: EscrowActor,
    ) -> Result<Refund, EscrowError> {
        self.drive_refund(marketplace, job_id, refund_id, actor)
            .await
    }

    async fn dispute_step_in(
        &self,
        session: &mut ClientSession,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        step: impl FnOnce(
            &mut EscrowTransaction,
            bson::DateTime,
        ) -> Result<(Payout, Option<Refund>), EscrowError>,
    ) -> Result<DisputeMoney, EscrowError> {
        let before = self
            .escrow_in(session, job_id)
            .await?
            .ok_or(EscrowError::EscrowNotFound)?;
        let mut after = before.clone();
        let (payout, refund) = step(&mut after, self.now())?;
        if after != before {
            self.write_with_payouts(session, marketplace, &before, &after, None)
                .await?;
        }
        Ok(DisputeMoney {
            job_id,
            payout,
            refund,
        })
    }
}
