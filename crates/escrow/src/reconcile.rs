//! Repair and background work. Every marketplace change that moves money commits with its money
//! step (`use_cases`), but a provider call happens after the commit, so a crash, an outage or a
//! provider timeout can leave a refund or a transfer pending, and data written before the use
//! cases existed may lack a payout. [`EscrowService::reconcile`] brings every unsettled
//! escrow back in line from stored state alone: it finishes interrupted funding, asks the provider
//! again (same keys) for pending refunds and processing transfers, creates missing payouts for
//! approved submissions and refunds what closed jobs no longer need. Every repair is idempotent
//! (ledger compare-and-set, one payout per submission, provider keys from our ids), so running it
//! twice, or concurrently with the use cases, changes nothing more.
//!
//! [`EscrowService::run_due_work`] is the background job: auto-approval of submissions left
//! unreviewed, transfers whose dispute window is over, then reconcile. It keeps no state of its
//! own (it reads what is due from the database), so it survives restarts, and every action is a
//! compare-and-set, so two runs (or two instances) never act twice.

use bson::doc;
use bson::oid::ObjectId;
use futures_util::TryStreamExt;
use marketplace::MarketplaceService;

use crate::error::EscrowError;
use crate::ledger::{check_invariant, EscrowActor, EscrowTransaction, Payout};
use crate::lifecycle::{EscrowStatus, PayoutStatus, RefundStatus};
use crate::service::EscrowService;

/// Escrows examined per reconcile and submissions per auto-approval sweep.
const BATCH: i64 = 500;

/// Something reconcile could not repair; it is tried again next time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileProblem {
    /// The job whose escrow it concerns.
    pub job_id: ObjectId,
    /// What went wrong.
    pub error: String,
}

/// What one reconcile run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Unsettled escrows looked at.
    pub escrows_examined: usize,
    /// Escrows whose stored state changed.
    pub escrows_repaired: usize,
    /// What could not be repaired.
    pub problems: Vec<ReconcileProblem>,
}

/// What one background run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueWorkReport {
    /// Submissions approved automatically.
    pub auto_approved: Vec<ObjectId>,
    /// Payouts transferred.
    pub payouts_paid: Vec<Payout>,
    /// The reconcile that followed.
    pub reconcile: ReconcileReport,
}

impl EscrowService {
    /// Repairs every unsettled escrow (see the module docs).
    pub async fn reconcile(
        &self,
        marketplace: &MarketplaceService,
    ) -> Result<ReconcileReport, EscrowError> {
        let unsettled = [
            EscrowStatus::Pending,
            EscrowStatus::Authorized,
            EscrowStatus::Captured,
            EscrowStatus::PartiallyReleased,
            EscrowStatus::PartiallyRefunded,
        ]
        .map(|status| status.as_str());
        let escrows: Vec<EscrowTransaction> = self
            .escrows
            .find(doc! { "$or": [
                { "status": { "$in": unsettled.to_vec() } },
                { "payouts.status": PayoutStatus::Processing.as_str() },
                { "refunds.status": RefundStatus::Pending.as_str() },
            ]})
            .sort(doc! { "updated_at": 1 })
            .limit(BATCH)
            .await?
            .try_collect()
            .await?;
        let mut report = ReconcileReport {
            escrows_examined: escrows.len(),
            ..ReconcileReport::default()
        };
        for escrow in escrows {
            let outcome = self.repair(marketplace, &escrow).await;
            match outcome {
                Ok(repaired) => {
                    if repaired.version != escrow.version {
                        report.escrows_repaired += 1;
                    }
                    if let Err(violation) = check_invariant(&repaired) {
                        report.problems.push(ReconcileProblem {
                            job_id: escrow.job_id,
                            error: violation,
                        });
                    }
                }
                Err(error) => report.problems.push(ReconcileProblem {
                    job_id: escrow.job_id,
                    error: error.to_string(),
                }),
            }
        }
        Ok(report)
    }

    async fn repair(
        &self,
        marketplace: &MarketplaceService,
        escrow: &EscrowTransaction,
    ) -> Result<EscrowTransaction, EscrowError> {
        let actor = EscrowActor::Platform("reconcile");
        let job_id = escrow.job_id;
        if matches!(
            escrow.status,
            EscrowStatus::Pending | EscrowStatus::Authorized
        ) {
            self.drive_funding(job_id, actor, None).await?;
        }
        for refund in &escrow.refunds {
            if refund.status == RefundStatus::Pending {
                self.drive_refund(marketplace, job_id, refund.refund_id, actor)
                    .await?;
            }
        }
        for payout in &escrow.payouts {
            if payout.status == PayoutStatus::Processing {
                self.transfer_payout(marketplace, job_id, payout.submission_id, actor)
                    .await?;
            }
        }
        if self.escrow_for_job(job_id).await?.status.is_funded() {
            self.converge(marketplace, job_id, actor).await?;
        }
        self.escrow_for_job(job_id).await
    }

    /// Approves, as the platform, every submission left unreviewed longer than
    /// `auto_approve_after` since it was handed in, holding its payout in the same transaction. Returns the
    /// submissions approved by this run.
    pub async fn auto_approve_due_submissions(
        &self,
        marketplace: &MarketplaceService,
    ) -> Result<Vec<ObjectId>, EscrowError> {
        let cutoff =
            foundation::clock::subtract_duration(self.now(), self.settings.auto_approve_after);
        let due = marketplace
            .submissions_awaiting_review(cutoff, BATCH)
            .await?;
        let mut approved = Vec::new();
        for submission in due {
            let plan = marketplace.plan_auto_approval(&submission, cutoff);
            match self
                .review(marketplace, &plan, EscrowActor::Platform("auto_approval"))
                .await
            {
                Ok(submission) => approved.push(submission.id),
                // Reviewed (or resubmitted) since the query: nothing to do.
                Err(error) if error.category() == marketplace::ErrorCategory::Conflict => {}
                Err(error) => return Err(error),
            }
        }
        Ok(approved)
    }

    /// The background job: auto-approvals, review reminders, due transfers, then reconcile (see the module docs).
    /// The gateway runs it on an interval.
    pub async fn run_due_work(
        &self,
        marketplace: &MarketplaceService,
    ) -> Result<DueWorkReport, EscrowError> {
        let auto_approved = self.auto_approve_due_submissions(marketplace).await?;
        // Clients hear of a waiting submission before the platform approves it for them.
        let reminder_window = self
            .settings
            .auto_approve_after
            .saturating_sub(marketplace::REVIEW_REMINDER_LEAD);
        marketplace
            .record_review_reminders(foundation::clock::subtract_duration(
                self.now(),
                reminder_window,
            ))
            .await?;
        let payouts_paid = self.release_due_payouts(marketplace).await?;
        let reconcile = self.reconcile(marketplace).await?;
        Ok(DueWorkReport {
            auto_approved,
            payouts_paid,
            reconcile,
        })
    }
}
