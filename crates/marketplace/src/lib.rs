//! The marketplace domain: projects, jobs, tester seats, submissions and AI test templates.
//!
//! **Owns** the `projects`, `jobs`, `submissions` and `ai_test_templates` collections (seed
//! sections 2, 3, 4 and 9) with their indexes and validators ([`MarketplaceService::collections`]),
//! and the lifecycles on them, each an enum plus one transition table applied by compare-and-set
//! in MongoDB: jobs ([`JOB_TRANSITIONS`]), seats ([`ASSIGNMENT_TRANSITIONS`]) and submissions
//! ([`SUBMISSION_TRANSITIONS`]). Claims take a seat in one conditional update; submission changes
//! run in a multi-document transaction that also recounts the job's counters. It enforces the
//! organization's `max_projects` and `max_concurrent_jobs` handed in as [`OrganizationLimits`],
//! and keeps project credentials sealed with AES-256-GCM, opened only for the owner, the owner's
//! organization admins and testers seated on one of the project's running jobs.
//!
//! **Is not**: an identity or payments crate. It depends on `foundation` only: the caller arrives
//! as an [`Actor`] and a tester's qualifications as a [`TesterProfile`], both built by the GraphQL
//! layer from identity. Publishing funds a job through the [`JobFunding`] seam; until escrow
//! implements it, [`NoFunding`] publishes unfunded and says so. It knows nothing of GraphQL or
//! HTTP; the batch functions ([`MarketplaceService::jobs_by_ids`], ...) are what the dataloaders
//! call, each one `$in` query on an indexed field.
//!
//! Money is integer US cents; the seed's `budget_per_tester_usd` and `total_budget_usd` names are
//! kept but hold cents.

mod actor;
mod assignment;
mod batch;
pub mod collections;
mod credentials;
mod enhance;
mod error;
mod funding;
mod job;
mod project;
mod service;
mod settings;
mod submission;
mod template;
mod transaction;
mod usage;

pub use actor::{Actor, ActorRole, ExperienceLevel, OrgRole, TesterProfile};
pub use assignment::{
    assignment_transition_allowed, tester_qualifies, Assignment, AssignmentStatus,
    AvailableJobsFilter, ASSIGNMENT_TRANSITIONS,
};
pub use enhance::{
    EnhancedContent, EnhancedJob, EnhancedSubmission, Enhancement, EnhancementFailure,
    EnhancementProvider, EnhancementRequest, EnhancementSubject, OpenAiCompatible, PassThrough,
    DEFAULT_JOURNEY_INSTRUCTIONS, DEFAULT_JOURNEY_SYSTEM_PROMPT, DEFAULT_SUMMARY_INSTRUCTIONS,
    DEFAULT_SUMMARY_SYSTEM_PROMPT, MAX_ENHANCED_STEPS, MAX_ENHANCED_SUMMARY_CHARS,
};
pub use error::{ErrorCategory, MarketplaceError};
pub use funding::{FundingReceipt, JobFunding, NoFunding};
pub use job::{
    job_transition, Job, JobAction, JobStatus, JourneyStep, NewJob, OrganizationLimits,
    PublishedJob, TestType, TesterLevel, UserJourney, Visibility, JOB_TRANSITIONS,
};
pub use project::{
    NewProject, Project, ProjectCredentials, ProjectStatus, ProjectUpdate, SealedCredentials,
};
pub use service::MarketplaceService;
pub use settings::MarketplaceSettings;
pub use submission::{
    submission_transition, Bug, ReviewDecision, Severity, StepOutcome, StepResult, Submission,
    SubmissionAction, SubmissionContent, SubmissionStatus, TestEnvironment,
    REVIEWABLE_JOB_STATUSES, SUBMISSION_TRANSITIONS,
};
pub use template::{
    fill_placeholders, AiTestTemplate, JourneyTemplate, NewTemplate, TemplateStep, TemplateVariable,
};
