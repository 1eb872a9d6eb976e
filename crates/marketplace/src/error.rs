//! The marketplace domain's errors. Each variant names a condition a client can act on; its doc
//! says what the client is told. [`MarketplaceError::category`] classifies them for transports (the
//! GraphQL layer maps a category to its stable `extensions.code`).

use thiserror::Error;

use crate::enhance::EnhancementFailure;

/// Everything a marketplace operation can fail with.
#[derive(Debug, Error)]
pub enum MarketplaceError {
    /// The caller is authenticated but may not do this; `action` names what was refused.
    #[error("not allowed to {action}")]
    Forbidden {
        /// The refused action, e.g. "publish this job".
        action: &'static str,
    },
    /// The organization that owns the job is suspended: its members create and publish no jobs.
    #[error("the organization is suspended; its jobs cannot be created or published")]
    OrganizationSuspended,
    /// An input field is invalid; `reason` says why in words a user understands.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending input field (snake_case, as stored).
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// Creating a job from a template needs a value for this `{{variable}}`.
    #[error("template variable `{name}` has no value")]
    MissingTemplateVariable {
        /// The variable's name as written in the template.
        name: String,
    },
    /// No job with that id (or not visible to the caller).
    #[error("job not found")]
    JobNotFound,
    /// No project with that id (or not visible to the caller).
    #[error("project not found")]
    ProjectNotFound,
    /// The project is archived; it takes no changes.
    #[error("project is archived")]
    ProjectArchived,
    /// The organization (or client) already has its maximum of active projects.
    #[error("project limit of {limit} reached")]
    ProjectLimitReached {
        /// The limit that applied.
        limit: u32,
    },
    /// No AI test template with that id, or it is inactive.
    #[error("test template not found")]
    TemplateNotFound,
    /// No submission with that id (or not visible to the caller).
    #[error("submission not found")]
    SubmissionNotFound,
    /// The tester holds no seat on this job.
    #[error("you are not assigned to this job")]
    NotAssigned,
    /// The job is not open for claims (draft, already running, finished or cancelled).
    #[error("job is not open")]
    JobNotOpen,
    /// Every seat of the job is taken.
    #[error("all seats of this job are taken")]
    SeatsFull,
    /// The tester already holds a seat on this job.
    #[error("you already claimed this job")]
    AlreadyClaimed,
    /// The tester withdrew from this job before; a seat once given back cannot be claimed again.
    #[error("you withdrew from this job and cannot claim it again")]
    WithdrewBefore,
    /// The seat changed (another step moved it) between reading and writing it; nothing was
    /// written. Retry against the new state.
    #[error("your seat changed while withdrawing; try again")]
    SeatChanged,
    /// The tester does not meet the job's requirements (qualification, level, devices, browsers,
    /// OS) or was not invited to a non-public job.
    #[error("you do not qualify for this job")]
    NotQualified,
    /// The job's lifecycle does not allow this step from its current status.
    #[error("a job in status `{from}` cannot {action}")]
    InvalidJobTransition {
        /// The status the job was in.
        from: &'static str,
        /// The refused step, e.g. "publish".
        action: &'static str,
    },
    /// The assignment's lifecycle does not allow this step from its current status.
    #[error("an assignment in status `{from}` cannot become `{to}`")]
    InvalidAssignmentTransition {
        /// The status the assignment was in.
        from: &'static str,
        /// The refused target status.
        to: &'static str,
    },
    /// The submission's lifecycle does not allow this step from its current status.
    #[error("a submission in status `{from}` cannot {action}")]
    InvalidSubmissionTransition {
        /// The status the submission was in.
        from: &'static str,
        /// The refused step, e.g. "approve".
        action: &'static str,
    },
    /// The user journey can only change while the job is a draft.
    #[error("the journey of a published job cannot change")]
    JourneyLocked,
    /// A job's details change only while it is a draft that no publish has started on.
    #[error("only a draft job's details can change")]
    JobNotDraft,
    /// The draft changed between reading and writing (another edit or a publish won); reload
    /// and retry.
    #[error("the draft changed concurrently; reload and retry")]
    DraftChanged,
    /// The tester already has a submission for this job; edit that one.
    #[error("a submission for this job already exists")]
    SubmissionExists,
    /// The organization (or client) already runs its maximum of concurrent jobs.
    #[error("concurrent job limit of {limit} reached")]
    ConcurrentJobLimitReached {
        /// The limit that applied.
        limit: u32,
    },
    /// The job's deadline has passed: it takes no more claims.
    #[error("the job's deadline has passed")]
    DeadlinePassed,
    /// The journey or summary changed while the AI provider was enhancing it; nothing was stored,
    /// so the newer text is not overwritten. Enhancing again works on the new text.
    #[error("the text changed while it was being enhanced; nothing was stored")]
    ChangedDuringEnhancement,
    /// The AI enhancement provider failed, timed out or answered with something unusable; nothing
    /// was stored. The client is told enhancement is unavailable and may retry later.
    #[error("AI enhancement is unavailable: {0}")]
    EnhancementUnavailable(#[from] EnhancementFailure),
    /// Money steps need an active account with a verified e-mail address; the caller's is not.
    #[error("verify your e-mail address (and keep the account active) before moving money")]
    AccountNotVerified,
    /// Only the owner, organization owners and admins (or platform admins) may take a step that
    /// moves money; organization members prepare drafts.
    #[error("only the account's owner or an organization owner or admin may {action}")]
    MoneyStepNeedsAdmin {
        /// The refused step, e.g. "publish this job".
        action: &'static str,
    },
    /// Publishing this job would put more than the account's limit in escrow at once.
    #[error("publishing would commit {requested} cents with {committed} already committed; the account limit is {limit} cents")]
    AccountBudgetLimitReached {
        /// Cents committed to the account's running jobs already.
        committed: i64,
        /// The job's total budget.
        requested: i64,
        /// The limit.
        limit: i64,
    },
    /// A new account already funded its daily limit today.
    #[error("new accounts may fund at most {limit} cents per day; {funded} were funded today, this job needs {requested}")]
    DailyFundingLimitReached {
        /// Cents funded today.
        funded: i64,
        /// The job's total budget.
        requested: i64,
        /// The daily limit.
        limit: i64,
    },
    /// Publishing charges the paying account's own saved payment method, and it has none (or
    /// the one saved is no longer usable); nothing was reserved or charged. The client saves one
    /// with `createPaymentSetupIntent` and `savePaymentMethod`.
    #[error("the paying account has no saved payment method: save one (createPaymentSetupIntent, then savePaymentMethod) before publishing")]
    PaymentMethodRequired,
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

/// The categories every domain shares (defined once in `foundation`).
pub use foundation::ErrorCategory;

impl MarketplaceError {
    /// The category that decides the client-visible error code.
    pub fn category(&self) -> ErrorCategory {
        use MarketplaceError::*;
        match self {
            Forbidden { .. }
            | NotQualified
            | AccountNotVerified
            | MoneyStepNeedsAdmin { .. }
            | OrganizationSuspended => ErrorCategory::Forbidden,
            DailyFundingLimitReached { .. } => ErrorCategory::RateLimited,
            InvalidInput { .. } | MissingTemplateVariable { .. } => ErrorCategory::BadUserInput,
            JobNotFound | ProjectNotFound | TemplateNotFound | SubmissionNotFound | NotAssigned => {
                ErrorCategory::NotFound
            }
            JobNotOpen
            | SeatsFull
            | AlreadyClaimed
            | WithdrewBefore
            | SeatChanged
            | InvalidJobTransition { .. }
            | InvalidAssignmentTransition { .. }
            | InvalidSubmissionTransition { .. }
            | JourneyLocked
            | JobNotDraft
            | DraftChanged
            | SubmissionExists
            | ProjectArchived
            | ProjectLimitReached { .. }
            | ConcurrentJobLimitReached { .. }
            | AccountBudgetLimitReached { .. }
            | DeadlinePassed
            | ChangedDuringEnhancement => ErrorCategory::Conflict,
            PaymentMethodRequired => ErrorCategory::FailedPrecondition,
            EnhancementUnavailable(_) => ErrorCategory::Unavailable,
            Internal(_) | Database(_) | Collection(_) => ErrorCategory::Internal,
        }
    }
}

impl From<bson::de::Error> for MarketplaceError {
    fn from(error: bson::de::Error) -> Self {
        MarketplaceError::Internal(error.to_string())
    }
}

impl From<bson::ser::Error> for MarketplaceError {
    fn from(error: bson::ser::Error) -> Self {
        MarketplaceError::Internal(error.to_string())
    }
}
