//! The marketplace domain: projects, jobs, tester seats, submissions and AI test templates.
//!
//! **Owns** the `projects`, `jobs`, `submissions` and `ai_test_templates` collections (seed
//! sections 2, 3, 4 and 9), `usage_counters` and `credential_reads`, with their indexes and validators
//! ([`MarketplaceService::collections`]), and the lifecycles on them, each an enum plus one
//! transition table applied by compare-and-set in MongoDB: jobs ([`JOB_TRANSITIONS`]), seats
//! ([`ASSIGNMENT_TRANSITIONS`]) and submissions ([`SUBMISSION_TRANSITIONS`]). Claims take a seat in
//! one conditional update and are refused after the job's deadline (by the service clock);
//! submission changes run in a multi-document transaction that also recounts the job's counters,
//! and a review also checks there that the job still takes reviews ([`REVIEWABLE_JOB_STATUSES`]).
//! It keeps project credentials sealed with AES-256-GCM, opened only for the owner, the owner's
//! organization admins and testers whose seat on one of the project's running jobs is in progress,
//! each opening first recorded in the `credential_reads` audit trail. Read rules (drafts, seats,
//! the trail) live in [`visibility`].
//!
//! **Limits.** The organization's `max_projects` and `max_concurrent_jobs`, handed in as
//! [`OrganizationLimits`], are kept by one `usage_counters` document per owner (the organization,
//! or the client without one): creating a project or publishing a job takes a unit with a
//! conditional `$inc` in the same transaction as the insert or the status change, and archiving a
//! project or completing or cancelling a running job gives it back, so racing requests cannot
//! overrun a limit and the counters equal the real counts.
//!
//! **AI enhancement.** A draft job's journey and a tester's editable submission summary can be
//! enhanced through the [`EnhancementProvider`] seam: [`PassThrough`] (the default) returns the
//! text unchanged and says no provider is configured; [`OpenAiCompatible`] asks an OpenAI-style
//! chat-completions API with the job's template prompts or defaults. Provider failures are
//! [`MarketplaceError::EnhancementUnavailable`] ([`ErrorCategory::Unavailable`]).
//!
//! **Is not**: an identity or payments crate. It depends on `foundation` only: the caller arrives
//! as an [`Actor`] and a tester's qualifications as a [`TesterProfile`], both built by the GraphQL
//! layer from identity. It is not a money crate either: publishing funds a job through the
//! [`JobFunding`] seam (escrow implements it; [`NoFunding`] publishes unfunded and says so), and
//! the other steps that move money (approving, rejecting, completing, cancelling, auto-approval)
//! are escrow's use cases, which run the marketplace's planned steps
//! ([`MarketplaceService::plan_review`] / [`MarketplaceService::apply_review`],
//! [`MarketplaceService::plan_job_transition`] / [`MarketplaceService::apply_job_transition`])
//! inside escrow's own transaction; this crate's own `review_submission` and `transition_job`
//! run the same steps without money. It knows nothing of GraphQL and serves no
//! HTTP; its only HTTP is the outbound call of [`OpenAiCompatible`], and it reads no
//! configuration (the gateway builds the provider). The batch functions
//! ([`MarketplaceService::jobs_by_ids`], ...) are what the dataloaders call, each one `$in` query
//! on an indexed field.
//!
//! Money is integer US cents; the seed's `budget_per_tester_usd` and `total_budget_usd` names are
//! kept but hold cents.

mod accountability;
mod actor;
mod assignment;
mod batch;
pub mod bounds;
pub mod collections;
mod commitment;
mod credential_audit;
mod credentials;
mod enhance;
mod error;
mod funding;
mod job;
mod live_jobs;
mod personal_data;
mod project;
mod reminders;
mod service;
mod settings;
mod submission;
mod template;
mod transaction;
mod usage;
pub mod visibility;

pub use accountability::{ReviewRecord, ACCOUNTABILITY_JOB_LIMIT, ACCOUNTABILITY_REVIEW_LIMIT};
pub use actor::{
    Actor, ActorRole, ExperienceLevel, OrgRole, OrganizationRules, PayerStanding, TesterProfile,
};
pub use assignment::{
    assignment_transition_allowed, tester_qualifies, Assignment, AssignmentStatus,
    AvailableJobsFilter, AvailableJobsPage, SeatEquipment, WithdrawnSeat, ASSIGNMENT_TRANSITIONS,
};
pub use credential_audit::{CredentialRead, CredentialReaderKind, CREDENTIAL_TRAIL_LIMIT};
pub use enhance::{
    EnhancedContent, EnhancedJob, EnhancedSubmission, Enhancement, EnhancementFailure,
    EnhancementProvider, EnhancementRequest, EnhancementSubject, OpenAiCompatible, PassThrough,
    DEFAULT_JOURNEY_INSTRUCTIONS, DEFAULT_JOURNEY_SYSTEM_PROMPT, DEFAULT_SUMMARY_INSTRUCTIONS,
    DEFAULT_SUMMARY_SYSTEM_PROMPT, MAX_ENHANCED_STEPS, MAX_ENHANCED_SUMMARY_CHARS,
};
pub use error::{ErrorCategory, MarketplaceError};
pub use funding::{
    FundingReceipt, JobEscrowStatus, JobFunding, NoFunding, PaymentSource, SeatsStillHeld,
    SubmissionPayout, SubmissionPayoutStatus,
};
pub use job::{
    job_transition, DraftJobUpdate, Job, JobAction, JobStatus, JourneyStep, NewJob,
    OrganizationLimits, PlannedJobTransition, PlannedPublish, PublishedJob, TestType, TesterLevel,
    UserJourney, Visibility, JOB_TRANSITIONS,
};
pub use live_jobs::{JobChanges, JobSubscription};
pub use personal_data::{ErasureBlocker, MarketplacePersonalData};
pub use project::{
    NewProject, Project, ProjectCredentials, ProjectEnvironment, ProjectStatus, ProjectType,
    ProjectUpdate, SealedCredentials,
};
pub use reminders::{DEADLINE_REMINDER_LEAD, REVIEW_REMINDER_LEAD};
pub use service::MarketplaceService;
pub use settings::{MarketplaceSettings, MoneyLimits};
pub use submission::{
    submission_transition, Bug, PlannedReview, ReviewDecision, Severity, StepOutcome, StepResult,
    Submission, SubmissionAction, SubmissionContent, SubmissionStatus, TestEnvironment,
    REVIEWABLE_JOB_STATUSES, SUBMISSION_TRANSITIONS,
};
pub use template::{
    fill_placeholders, AiTestTemplate, JourneyTemplate, NewTemplate, TemplateCategory,
    TemplateStep, TemplateType, TemplateVariable,
};
pub use usage::OrganizationUsageCounts;
