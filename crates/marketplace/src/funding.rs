//! The publish seam: publishing a job asks a [`JobFunding`] to fund it. Escrow will implement it;
//! until then [`NoFunding`] publishes unfunded and says so instead of faking a payment.

use bson::oid::ObjectId;
use futures_util::future::BoxFuture;

use crate::error::MarketplaceError;
use crate::job::Job;

/// What funding a job produced; stored on the job as `escrow_status` / `escrow_transaction_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingReceipt {
    /// The seed's `escrow_status`: "pending" | "reserved" | "held" | "released" | "refunded".
    pub escrow_status: String,
    /// The escrow transaction that holds the money, when one was made.
    pub escrow_transaction_id: Option<ObjectId>,
    /// A human-readable note on what happened (shown to the client on publish).
    pub note: String,
}

/// Funds a job when it is published. Called before the draft → open compare-and-set; an
/// implementation must be idempotent per job id, because a publish that loses a race to another
/// publish (or cancel) of the same job has already called it.
pub trait JobFunding: Send + Sync + std::fmt::Debug {
    /// Reserves `job.total_budget_usd` (cents) for the job.
    fn fund<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<FundingReceipt, MarketplaceError>>;
}

/// No escrow configured: records no money movement and reports the job as unfunded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFunding;

impl JobFunding for NoFunding {
    fn fund<'a>(
        &'a self,
        _job: &'a Job,
    ) -> BoxFuture<'a, Result<FundingReceipt, MarketplaceError>> {
        Box::pin(async {
            Ok(FundingReceipt {
                escrow_status: "pending".into(),
                escrow_transaction_id: None,
                note: "no escrow is configured: the job was published without funding".into(),
            })
        })
    }
}
