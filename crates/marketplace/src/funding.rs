//! What the money side needs from the marketplace. Publishing a job asks a [`JobFunding`] to fund
//! it before the job opens (escrow implements it; [`NoFunding`] publishes unfunded and says so).
//! Everything else that moves money is driven by escrow, which calls the marketplace's planned
//! steps inside its own transactions; the few operations it needs besides those (recording a
//! submission's payout fields, finding submissions left unreviewed) live here, so everything the
//! money side touches is in one place.

use bson::oid::ObjectId;
use bson::{doc, DateTime};
use futures_util::future::BoxFuture;
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use crate::error::MarketplaceError;
use crate::job::Job;
use crate::service::MarketplaceService;
use crate::submission::{Submission, SubmissionStatus};

/// Where a job's money is, as the job records it (the seed's `escrow_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEscrowStatus {
    /// Not funded (`pending`).
    Pending,
    /// The payment is authorized, not captured (`reserved`).
    Reserved,
    /// Captured and held (`held`).
    Held,
    /// All of it was released (`released`).
    Released,
    /// All of it was refunded (`refunded`).
    Refunded,
    /// A stored value this version does not know; never written.
    #[serde(other)]
    Other,
}

impl JobEscrowStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobEscrowStatus::Pending => "pending",
            JobEscrowStatus::Reserved => "reserved",
            JobEscrowStatus::Held => "held",
            JobEscrowStatus::Released => "released",
            JobEscrowStatus::Refunded => "refunded",
            JobEscrowStatus::Other => "other",
        }
    }
}

/// What funding a job produced; stored on the job as `escrow_status` / `escrow_transaction_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingReceipt {
    /// The job's `escrow_status` after funding.
    pub escrow_status: JobEscrowStatus,
    /// The escrow transaction that holds the money, when one was made.
    pub escrow_transaction_id: Option<ObjectId>,
    /// A human-readable note on what happened (shown to the client on publish).
    pub note: String,
}

/// Who pays for a job and with what: the paying account's customer at the payment provider and
/// the payment method saved on it (`client_data.stripe_customer_id` and
/// `client_data.default_payment_method_id` of the paying user). The caller builds it from identity
/// after the provider confirmed the method belongs to that customer; funding charges nothing
/// else, so no client can spend another's card or the platform's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSource {
    /// The user whose customer pays (the job's client, or the organization's owner).
    pub payer_id: ObjectId,
    /// The provider's customer (`cus_…`).
    pub customer_id: String,
    /// The provider's payment method saved on that customer (`pm_…`).
    pub payment_method_id: String,
}

/// Funds a job when it is published. Called before the draft → open compare-and-set; an
/// implementation must be idempotent per job id, because a publish that loses a race to another
/// publish (or cancel) of the same job has already called it.
pub trait JobFunding: Send + Sync + std::fmt::Debug {
    /// Whether funding charges the payer's saved payment method, so a publish without a
    /// [`PaymentSource`] is refused before anything is reserved.
    fn charges_payer(&self) -> bool;

    /// Reserves `job.total_budget_usd` (cents) for the job, charged to `source`.
    fn fund<'a>(
        &'a self,
        job: &'a Job,
        source: Option<&'a PaymentSource>,
    ) -> BoxFuture<'a, Result<FundingReceipt, MarketplaceError>>;
}

/// No escrow configured: records no money movement and reports the job as unfunded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFunding;

impl JobFunding for NoFunding {
    fn charges_payer(&self) -> bool {
        false
    }

    fn fund<'a>(
        &'a self,
        _job: &'a Job,
        _source: Option<&'a PaymentSource>,
    ) -> BoxFuture<'a, Result<FundingReceipt, MarketplaceError>> {
        Box::pin(async {
            Ok(FundingReceipt {
                escrow_status: JobEscrowStatus::Pending,
                escrow_transaction_id: None,
                note: "no escrow is configured: the job was published without funding".into(),
            })
        })
    }
}

/// The seed's `submissions.payout_status`, as escrow reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionPayoutStatus {
    /// Owed and held (dispute window, or frozen by a dispute).
    Pending,
    /// Being transferred to the tester.
    Processing,
    /// Transferred.
    Paid,
    /// The transfer failed; it will be retried.
    Failed,
    /// Taken back after a dispute; the money went back to the client.
    Reversed,
}

impl SubmissionPayoutStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionPayoutStatus::Pending => "pending",
            SubmissionPayoutStatus::Processing => "processing",
            SubmissionPayoutStatus::Paid => "paid",
            SubmissionPayoutStatus::Failed => "failed",
            SubmissionPayoutStatus::Reversed => "reversed",
        }
    }
}

/// A submission's payout as escrow reports it (the seed's `payout_*` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmissionPayout {
    /// What the tester receives, in US cents (after the platform fee).
    pub amount_cents: i64,
    /// Where the payout is.
    pub status: SubmissionPayoutStatus,
    /// When it was paid.
    pub paid_at: Option<DateTime>,
}

impl MarketplaceService {
    /// Writes a submission's payout fields inside the caller's transaction, so escrow can move a
    /// payout and the submission's `payout_status` together.
    pub async fn record_submission_payout(
        &self,
        session: &mut ClientSession,
        submission_id: ObjectId,
        payout: SubmissionPayout,
    ) -> Result<(), MarketplaceError> {
        let mut set = doc! {
            "payout_amount_usd": payout.amount_cents,
            "payout_status": payout.status.as_str(),
        };
        if let Some(paid_at) = payout.paid_at {
            set.insert("payout_date", paid_at);
        }
        self.submissions
            .update_one(doc! { "_id": submission_id }, doc! { "$set": set })
            .session(session)
            .await?;
        Ok(())
    }

    /// Submissions handed in at or before `submitted_before` and still waiting for the client
    /// (submitted or under review), oldest first, at most `limit`.
    pub async fn submissions_awaiting_review(
        &self,
        submitted_before: DateTime,
        limit: i64,
    ) -> Result<Vec<Submission>, MarketplaceError> {
        let waiting = [
            SubmissionStatus::Submitted.as_str(),
            SubmissionStatus::UnderReview.as_str(),
        ];
        Ok(self
            .submissions
            .find(doc! {
                "status": { "$in": waiting.to_vec() },
                "submitted_at": { "$lte": submitted_before },
            })
            .sort(doc! { "submitted_at": 1, "_id": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }
}

/// The seats whose pay a closing job still holds ([`MarketplaceService::seats_still_held_on`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeatsStillHeld {
    /// Submissions waiting for the client's review.
    pub awaiting_review: u64,
    /// Rejected submissions still inside their dispute window.
    pub disputable_rejections: Vec<ObjectId>,
}

impl MarketplaceService {
    /// The title of `job_id` as the transaction of `session` sees it, for the words of a money
    /// notification (a payout paid, a refund processed); empty when the job is gone.
    pub async fn job_title_in(
        &self,
        session: &mut ClientSession,
        job_id: ObjectId,
    ) -> Result<String, MarketplaceError> {
        let job = self
            .jobs
            .clone_with_type::<bson::Document>()
            .find_one(doc! { "_id": job_id })
            .projection(doc! { "title": 1 })
            .session(session)
            .await?;
        Ok(job
            .and_then(|job| job.get_str("title").ok().map(str::to_owned))
            .unwrap_or_default())
    }

    /// How many of the job's submissions wait for the client's review (submitted or under
    /// review), as the transaction of `session` sees them: the seats whose pay a completed job
    /// still holds in escrow.
    pub async fn submissions_awaiting_review_on(
        &self,
        session: &mut ClientSession,
        job_id: ObjectId,
    ) -> Result<u64, MarketplaceError> {
        let waiting = [
            SubmissionStatus::Submitted.as_str(),
            SubmissionStatus::UnderReview.as_str(),
        ];
        Ok(self
            .submissions
            .count_documents(doc! { "job_id": job_id, "status": { "$in": waiting.to_vec() } })
            .session(session)
            .await?)
    }

    /// The seats whose pay a closing job still holds, as the transaction of `session` sees them,
    /// in one query: how many submissions wait for the client's review (submitted or under
    /// review), and the submissions rejected after `rejected_after`, which their tester may still
    /// dispute.
    pub async fn seats_still_held_on(
        &self,
        session: &mut ClientSession,
        job_id: ObjectId,
        rejected_after: DateTime,
    ) -> Result<SeatsStillHeld, MarketplaceError> {
        let waiting = [
            SubmissionStatus::Submitted.as_str(),
            SubmissionStatus::UnderReview.as_str(),
        ];
        let found: Vec<bson::Document> = self
            .submissions
            .clone_with_type::<bson::Document>()
            .find(doc! {
                "job_id": job_id,
                "$or": [
                    { "status": { "$in": waiting.to_vec() } },
                    {
                        "status": SubmissionStatus::Rejected.as_str(),
                        "reviewed_at": { "$gt": rejected_after },
                    },
                ],
            })
            .projection(doc! { "_id": 1, "status": 1 })
            .batch_size(foundation::batch::BATCH_REPLY_DOCUMENTS)
            .session(&mut *session)
            .await?
            .stream(session)
            .try_collect()
            .await?;
        let mut held = SeatsStillHeld::default();
        for submission in &found {
            if submission.get_str("status") == Ok(SubmissionStatus::Rejected.as_str()) {
                if let Ok(id) = submission.get_object_id("_id") {
                    held.disputable_rejections.push(id);
                }
            } else {
                held.awaiting_review += 1;
            }
        }
        Ok(held)
    }
}
