//! The trust domain's errors. Each variant names a condition a client can act on; its doc says
//! what the client is told. Categories are marketplace's [`ErrorCategory`], which the GraphQL
//! layer already maps to stable codes.

use marketplace::{ErrorCategory, MarketplaceError};
use thiserror::Error;

/// Everything a trust operation can fail with.
#[derive(Debug, Error)]
pub enum TrustError {
    /// An input field is invalid; `reason` says why.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending input field (snake_case).
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// Only the job's client and the submission's tester rate a submission.
    #[error("only the job's client and the submission's tester may rate it")]
    NotAParty,
    /// The submission has not been approved or rejected yet: there is nothing to rate.
    #[error("a submission can be rated only after it was approved or rejected")]
    SubmissionNotReviewed,
    /// This side already rated this submission; edit that rating instead.
    #[error("you already rated this submission")]
    AlreadyRated,
    /// The 14-day rating window after the review has closed.
    #[error("the rating window of this submission has closed")]
    RatingWindowClosed,
    /// The rating was revealed: it can no longer change.
    #[error("a revealed rating cannot change")]
    RatingRevealed,
    /// The rated user already responded to this rating.
    #[error("this rating already has a response")]
    AlreadyResponded,
    /// A response is possible only once the rating is revealed.
    #[error("a rating can be answered only after it is revealed")]
    RatingNotRevealed,
    /// No rating with that id, or not visible to the caller.
    #[error("rating not found")]
    RatingNotFound,
    /// A tester disputes a rejection and a client an approved submission; nothing else is
    /// disputable.
    #[error("a tester may dispute a rejection, a client an approved submission")]
    NotDisputable,
    /// The submission was already disputed (one dispute per submission).
    #[error("this submission was already disputed")]
    AlreadyDisputed,
    /// No dispute with that id, or not visible to the caller.
    #[error("dispute not found")]
    DisputeNotFound,
    /// The dispute's lifecycle does not allow this from its current status.
    #[error("a dispute in status `{from}` cannot do that")]
    DisputeTransitionRefused {
        /// The status it was in.
        from: &'static str,
    },
    /// Only the party who raised a dispute withdraws it.
    #[error("only the party who raised the dispute may withdraw it")]
    NotTheRaiser,
    /// Only the admin assigned to a dispute decides it (assign yourself first).
    #[error("only the admin assigned to this dispute may do that; assign yourself first")]
    NotTheAssignedAdmin,
    /// Only platform admins may do this (question banks, evaluations).
    #[error("only platform admins may do this")]
    AdminsOnly,
    /// Only testers take qualification tests.
    #[error("only testers take qualification tests")]
    TestersOnly,
    /// A question bank version with that name exists already.
    #[error("a question bank version with that name exists already")]
    VersionExists,
    /// No question bank has been published yet.
    #[error("no qualification test is available yet")]
    NoQuestionBank,
    /// The tester already has an attempt in progress or waiting for evaluation.
    #[error("you already have a qualification test in progress or waiting for evaluation")]
    AttemptOpen,
    /// The last attempt failed too recently.
    #[error("a retake is possible from {allowed_at}")]
    RetakeTooSoon {
        /// When the cooldown ends.
        allowed_at: bson::DateTime,
    },
    /// The tester is qualified and recertification has not opened yet.
    #[error("you are qualified; recertification opens {recertify_from}")]
    AlreadyQualified {
        /// When the recertification window opens.
        recertify_from: bson::DateTime,
    },
    /// No attempt with that id, or not the caller's.
    #[error("qualification test not found")]
    QualificationTestNotFound,
    /// The attempt is no longer being answered.
    #[error("this qualification test is `{status}`, not in progress")]
    AttemptNotInProgress {
        /// Where it stands.
        status: &'static str,
    },
    /// Only a submitted attempt is evaluated.
    #[error("this qualification test is `{status}`, not waiting for evaluation")]
    AttemptNotSubmitted {
        /// Where it stands.
        status: &'static str,
    },
    /// Escrow refused or failed the dispute's money step (window over, amount out of range, ...).
    #[error(transparent)]
    Escrow(#[from] escrow::EscrowError),
    /// The marketplace refused or failed (submission not found, not visible, ...).
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

impl TrustError {
    /// The category that decides the client-visible error code.
    pub fn category(&self) -> ErrorCategory {
        use TrustError::*;
        match self {
            InvalidInput { .. } => ErrorCategory::BadUserInput,
            NotAParty | NotTheRaiser | NotTheAssignedAdmin | AdminsOnly | TestersOnly => {
                ErrorCategory::Forbidden
            }
            RatingNotFound | DisputeNotFound | QualificationTestNotFound => ErrorCategory::NotFound,
            VersionExists
            | NoQuestionBank
            | AttemptOpen
            | RetakeTooSoon { .. }
            | AlreadyQualified { .. }
            | AttemptNotInProgress { .. }
            | AttemptNotSubmitted { .. } => ErrorCategory::Conflict,
            NotDisputable | AlreadyDisputed | DisputeTransitionRefused { .. } => {
                ErrorCategory::Conflict
            }
            Escrow(error) => error.category(),
            SubmissionNotReviewed
            | AlreadyRated
            | RatingWindowClosed
            | RatingRevealed
            | AlreadyResponded
            | RatingNotRevealed => ErrorCategory::Conflict,
            Marketplace(error) => error.category(),
            Internal(_) | Database(_) | Collection(_) => ErrorCategory::Internal,
        }
    }

    /// The input field at fault, for `BAD_USER_INPUT`.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            TrustError::InvalidInput { field, .. } => Some(field),
            TrustError::Marketplace(MarketplaceError::InvalidInput { field, .. }) => Some(field),
            TrustError::Escrow(escrow::EscrowError::InvalidAmount { .. }) => Some("refund_cents"),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        TrustError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

impl From<bson::de::Error> for TrustError {
    fn from(error: bson::de::Error) -> Self {
        TrustError::Internal(error.to_string())
    }
}

impl From<bson::ser::Error> for TrustError {
    fn from(error: bson::ser::Error) -> Self {
        TrustError::Internal(error.to_string())
    }
}
