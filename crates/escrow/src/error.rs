//! The escrow domain's errors. Each variant names a condition a client or operator can act on;
//! its doc says what the client is told. [`EscrowError::category`] classifies them for transports
//! (the GraphQL layer maps a category to its stable `extensions.code`).

use marketplace::{ErrorCategory, MarketplaceError};
use thiserror::Error;

use crate::provider::ProviderError;

/// Everything an escrow operation can fail with.
#[derive(Debug, Error)]
pub enum EscrowError {
    /// The job has no escrow transaction (it was published without escrow, or not yet).
    #[error("this job has no escrow")]
    EscrowNotFound,
    /// No payout for that submission.
    #[error("no payout for this submission")]
    PayoutNotFound,
    /// No refund with that id.
    #[error("refund not found")]
    RefundNotFound,
    /// Only an approved submission is paid.
    #[error("the submission is not approved")]
    SubmissionNotApproved,
    /// The escrow's lifecycle does not allow this step from its current status.
    #[error("an escrow in status `{from}` cannot {action}")]
    InvalidEscrowTransition {
        /// The status the escrow was in.
        from: &'static str,
        /// The refused step.
        action: &'static str,
    },
    /// The payout's lifecycle does not allow this step from its current status.
    #[error("a payout in status `{from}` cannot {action}")]
    InvalidPayoutTransition {
        /// The status the payout was in.
        from: &'static str,
        /// The refused step.
        action: &'static str,
    },
    /// The submission's dispute window is over (or its payout is no longer held): it can no
    /// longer be disputed.
    #[error("the dispute window of this submission is over")]
    DisputeWindowClosed,
    /// The payout is still inside its dispute window.
    #[error("the payout is held until the dispute window ends")]
    PayoutStillHeld,
    /// Not enough unreleased money in escrow for this.
    #[error("escrow holds {available} cents, {requested} were asked for")]
    InsufficientEscrow {
        /// Unreleased, unearmarked cents.
        available: i64,
        /// Cents asked for.
        requested: i64,
    },
    /// An amount is invalid (negative, zero where money must move, overflowing).
    #[error("invalid amount: {reason}")]
    InvalidAmount {
        /// Why.
        reason: String,
    },
    /// The idempotency key was already used with different arguments.
    #[error("idempotency key `{key}` was already used for a different request")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
    },
    /// Another request with this idempotency key is still running; retry shortly to get its
    /// answer. Client sees a conflict.
    #[error("a request with idempotency key `{key}` is still in progress; retry shortly")]
    IdempotencyKeyInProgress {
        /// The key.
        key: String,
    },
    /// The idempotency key is empty or too long.
    #[error("invalid idempotency key: {reason}")]
    InvalidIdempotencyKey {
        /// Why.
        reason: &'static str,
    },
    /// The payment provider declined the client's payment; the job is not funded.
    #[error("the payment was declined: {0}")]
    PaymentDeclined(String),
    /// The payment provider could not be reached or did not answer; nothing is lost, the
    /// operation is completed by a retry or by `reconcile`. Client sees SERVICE_UNAVAILABLE with
    /// a generic message (the provider's detail is only logged).
    #[error("the payment provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// The tester has no connected payout account able to receive transfers yet; the payout
    /// stays held and is transferred by a later sweep. Client sees a conflict.
    #[error("the tester cannot receive payouts yet: {0}")]
    PayoutAccountNotReady(String),
    /// Recording a connected account's status from a webhook failed (the owner's store); the
    /// webhook is answered 5xx and delivered again. Client sees a generic message.
    #[error("recording the payout account's status failed: {0}")]
    AccountUpdateFailed(String),
    /// Too many concurrent changes to one escrow; retry. Client sees a conflict.
    #[error("the escrow is busy; retry")]
    Contended,
    /// A change would break the ledger invariant; it was not written. Client sees a generic
    /// message; this is a bug.
    #[error("ledger invariant violated: {0}")]
    InvariantViolated(String),
    /// The settings are unusable (start-up only).
    #[error("invalid escrow settings: {0}")]
    InvalidSettings(String),
    /// A marketplace read or write failed.
    #[error(transparent)]
    Marketplace(#[from] MarketplaceError),
    /// A stored document does not have the expected shape. Client sees a generic message.
    #[error("stored document is malformed: {0}")]
    Internal(String),
    /// The database failed. Client sees a generic message.
    #[error("database error: {0}")]
    Database(#[from] mongodb::error::Error),
    /// Creating a collection or index failed at start-up.
    #[error(transparent)]
    Collection(#[from] foundation::CollectionError),
}

impl EscrowError {
    /// The category that decides the client-visible error code (shared with marketplace).
    pub fn category(&self) -> ErrorCategory {
        use EscrowError::*;
        match self {
            EscrowNotFound | PayoutNotFound | RefundNotFound => ErrorCategory::NotFound,
            InvalidAmount { .. } | InvalidIdempotencyKey { .. } => ErrorCategory::BadUserInput,
            SubmissionNotApproved
            | InvalidEscrowTransition { .. }
            | InvalidPayoutTransition { .. }
            | PayoutStillHeld
            | DisputeWindowClosed
            | InsufficientEscrow { .. }
            | IdempotencyKeyReused { .. }
            | IdempotencyKeyInProgress { .. }
            | PaymentDeclined(_)
            | PayoutAccountNotReady(_)
            | Contended => ErrorCategory::Conflict,
            Marketplace(error) => error.category(),
            // Not the client's fault and not a bug: retrying later (same idempotency key) works.
            ProviderUnavailable(_) => ErrorCategory::Unavailable,
            AccountUpdateFailed(_)
            | InvariantViolated(_)
            | InvalidSettings(_)
            | Internal(_)
            | Database(_)
            | Collection(_) => ErrorCategory::Internal,
        }
    }
}

impl From<ProviderError> for EscrowError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Declined { reason } => EscrowError::PaymentDeclined(reason),
            ProviderError::Unavailable { reason } => EscrowError::ProviderUnavailable(reason),
            ProviderError::RecipientNotReady { reason } => {
                EscrowError::PayoutAccountNotReady(reason)
            }
            ProviderError::IdempotencyMismatch { key } => EscrowError::IdempotencyKeyReused { key },
        }
    }
}

impl From<bson::de::Error> for EscrowError {
    fn from(error: bson::de::Error) -> Self {
        EscrowError::Internal(error.to_string())
    }
}

impl From<bson::ser::Error> for EscrowError {
    fn from(error: bson::ser::Error) -> Self {
        EscrowError::Internal(error.to_string())
    }
}
