//! AI enhancement of a draft job's user journey or a tester's submission summary, through the
//! [`EnhancementProvider`] seam: [`PassThrough`] (the default) returns the text unchanged and says
//! no provider is configured; [`OpenAiCompatible`] asks any server that speaks the OpenAI
//! chat-completions API. Also the service operations that store what a provider returned.
//!
//! Providers only propose text; the service checks who may ask, that the document may still
//! change, validates the proposal again, and stores it by compare-and-set on the text it sent, so
//! an edit made while the provider was thinking is never overwritten.

mod openai_compatible;

use bson::doc;
use bson::oid::ObjectId;
use futures_util::future::BoxFuture;
use mongodb::options::ReturnDocument;
use thiserror::Error;

pub use openai_compatible::OpenAiCompatible;

use crate::actor::Actor;
use crate::error::MarketplaceError;
use crate::job::{Job, JobStatus, JourneyStep};
use crate::service::MarketplaceService;
use crate::submission::{submission_transition, transitions_for, Submission, SubmissionAction};

/// System prompt for journeys when the job has no template, or its template leaves it empty.
pub const DEFAULT_JOURNEY_SYSTEM_PROMPT: &str = "You are a QA expert who writes clear, testable \
user journeys for crowdtesters: every step is one concrete action with an observable expected result.";

/// Instructions for journeys when the job has no template, or its template leaves them empty.
pub const DEFAULT_JOURNEY_INSTRUCTIONS: &str = "Rewrite the steps so a tester who has never seen \
the product can follow them. Keep the scenario's flow and order; split steps that do several \
things; make every expected result something the tester can see; add a validation step where a \
failure could go unnoticed.";

/// System prompt for submission summaries.
pub const DEFAULT_SUMMARY_SYSTEM_PROMPT: &str = "You are a QA lead who edits crowdtesters' \
findings into clear, professional summaries for the client who ordered the test.";

/// Instructions for submission summaries.
pub const DEFAULT_SUMMARY_INSTRUCTIONS: &str = "Rewrite the summary in clear, professional \
language. Keep every finding, number and fact; do not invent bugs, steps or results.";

/// Most steps an enhanced journey may have.
pub const MAX_ENHANCED_STEPS: usize = 100;

/// Most characters an enhanced summary may have.
pub const MAX_ENHANCED_SUMMARY_CHARS: usize = 20_000;

/// What to enhance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnhancementSubject {
    /// A draft job's journey: the steps are rewritten, the scenario is context.
    Journey {
        /// The journey's scenario.
        scenario: String,
        /// The current steps, numbered from 1.
        steps: Vec<JourneyStep>,
    },
    /// A tester's summary of their findings.
    SubmissionSummary {
        /// The summary as the tester wrote it.
        summary: String,
    },
}

/// One request to an [`EnhancementProvider`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancementRequest {
    /// What to enhance.
    pub subject: EnhancementSubject,
    /// The system prompt: the job's template's `openai_system_prompt` when it has one, else a
    /// default for the subject.
    pub system_prompt: String,
    /// What to do: the template's `enhancement_instructions` when it has them, else a default.
    pub instructions: String,
}

/// What a provider proposes, of the same kind as the request's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnhancedContent {
    /// The journey's new steps, numbered from 1.
    Journey(Vec<JourneyStep>),
    /// The new summary.
    SubmissionSummary(String),
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enhancement {
    /// Which provider produced it, e.g. "pass-through" or "openai-compatible (gpt-4o-mini)".
    pub provider: String,
    /// Whether the content was actually enhanced; `false` means it is the input unchanged and
    /// nothing was stored.
    pub enhanced: bool,
    /// A human-readable note on what happened, shown to the client.
    pub note: String,
    /// The proposed content.
    pub content: EnhancedContent,
}

/// Why an enhancement provider could not deliver. Every case reaches the client as
/// [`MarketplaceError::EnhancementUnavailable`]; nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnhancementFailure {
    /// The provider's settings are unusable (found when it is built at start-up).
    #[error("the AI provider is misconfigured: {0}")]
    Misconfigured(String),
    /// No complete answer within the configured timeout.
    #[error("the AI provider did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The provider could not be reached or the connection failed.
    #[error("the AI provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider answered with a non-success HTTP status.
    #[error("the AI provider answered with HTTP status {0}")]
    Status(u16),
    /// The answer is not what was asked for (not JSON, no steps, a step without an action, ...).
    #[error("the AI provider's answer is unusable: {0}")]
    MalformedReply(String),
}

/// Enhances journeys and submission summaries. Object safe, so the service holds any provider as
/// `Arc<dyn EnhancementProvider>`; implementations must bound how long they take.
pub trait EnhancementProvider: Send + Sync + std::fmt::Debug {
    /// Proposes an enhanced version of `request.subject`, of the same kind.
    fn enhance<'a>(
        &'a self,
        request: &'a EnhancementRequest,
    ) -> BoxFuture<'a, Result<Enhancement, MarketplaceError>>;
}

/// No AI provider configured: returns the input unchanged, `enhanced: false`, and says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassThrough;

impl EnhancementProvider for PassThrough {
    fn enhance<'a>(
        &'a self,
        request: &'a EnhancementRequest,
    ) -> BoxFuture<'a, Result<Enhancement, MarketplaceError>> {
        let content = match &request.subject {
            EnhancementSubject::Journey { steps, .. } => EnhancedContent::Journey(steps.clone()),
            EnhancementSubject::SubmissionSummary { summary } => {
                EnhancedContent::SubmissionSummary(summary.clone())
            }
        };
        Box::pin(async move {
            Ok(Enhancement {
                provider: "pass-through".into(),
                enhanced: false,
                note: "no AI provider is configured: the text was returned unchanged".into(),
                content,
            })
        })
    }
}

/// Steps a provider proposed, trimmed and numbered from 1; refused when empty, too many, or a
/// step has no action.
pub(crate) fn validated_steps(
    steps: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<JourneyStep>, EnhancementFailure> {
    let steps: Vec<JourneyStep> = steps
        .into_iter()
        .enumerate()
        .map(|(index, (action, expected_result))| {
            let action = action.trim();
            if action.is_empty() {
                return Err(EnhancementFailure::MalformedReply(format!(
                    "step {} has no action",
                    index + 1
                )));
            }
            Ok(JourneyStep {
                step_number: index as i32 + 1,
                action: action.to_string(),
                expected_result: expected_result.trim().to_string(),
            })
        })
        .collect::<Result<_, _>>()?;
    if steps.is_empty() {
        return Err(EnhancementFailure::MalformedReply("no steps".into()));
    }
    if steps.len() > MAX_ENHANCED_STEPS {
        return Err(EnhancementFailure::MalformedReply(format!(
            "{} steps, at most {MAX_ENHANCED_STEPS} are allowed",
            steps.len()
        )));
    }
    Ok(steps)
}

/// A summary a provider proposed, trimmed; refused when empty or too long.
pub(crate) fn validated_summary(summary: &str) -> Result<String, EnhancementFailure> {
    let summary = summary.trim();
    if summary.is_empty() {
        return Err(EnhancementFailure::MalformedReply("empty summary".into()));
    }
    if summary.chars().count() > MAX_ENHANCED_SUMMARY_CHARS {
        return Err(EnhancementFailure::MalformedReply(format!(
            "summary longer than {MAX_ENHANCED_SUMMARY_CHARS} characters"
        )));
    }
    Ok(summary.to_string())
}

fn kind_mismatch() -> MarketplaceError {
    EnhancementFailure::MalformedReply("the answer is not of the kind asked for".into()).into()
}

/// The result of enhancing a job's journey.
#[derive(Debug, Clone, PartialEq)]
pub struct EnhancedJob {
    /// The job as stored afterwards (unchanged when nothing was enhanced).
    pub job: Job,
    /// What the provider said.
    pub enhancement: Enhancement,
}

/// The result of enhancing a submission's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct EnhancedSubmission {
    /// The submission as stored afterwards (unchanged when nothing was enhanced).
    pub submission: Submission,
    /// What the provider said.
    pub enhancement: Enhancement,
}

impl MarketplaceService {
    /// Enhances a draft job's journey through the configured provider; only someone who manages
    /// the job may. An enhanced journey replaces the steps (renumbered from 1) and sets
    /// `user_journey.ai_generated`, by compare-and-set on the job still being a draft with the
    /// steps that were sent: a job published meanwhile is `JourneyLocked`, steps edited meanwhile
    /// are `ChangedDuringEnhancement`. When the provider did not enhance (pass-through) the job is
    /// left as it is.
    pub async fn enhance_job_journey(
        &self,
        actor: &Actor,
        job_id: ObjectId,
    ) -> Result<EnhancedJob, MarketplaceError> {
        let job = self.managed_job(actor, job_id).await?;
        if job.status != JobStatus::Draft {
            return Err(MarketplaceError::JourneyLocked);
        }
        let (system_prompt, instructions) = self.journey_prompts(&job).await?;
        let request = EnhancementRequest {
            subject: EnhancementSubject::Journey {
                scenario: job.user_journey.scenario.clone(),
                steps: job.user_journey.steps.clone(),
            },
            system_prompt,
            instructions,
        };
        let mut enhancement = self.enhancer.enhance(&request).await?;
        if !enhancement.enhanced {
            return Ok(EnhancedJob { job, enhancement });
        }
        let EnhancedContent::Journey(proposed) = &enhancement.content else {
            return Err(kind_mismatch());
        };
        let steps = validated_steps(
            proposed
                .iter()
                .map(|step| (step.action.clone(), step.expected_result.clone())),
        )?;
        let updated = self
            .jobs
            .find_one_and_update(
                doc! {
                    "_id": job_id,
                    "status": JobStatus::Draft.as_str(),
                    "user_journey.steps": bson::to_bson(&job.user_journey.steps)?,
                },
                doc! { "$set": {
                    "user_journey.steps": bson::to_bson(&steps)?,
                    "user_journey.ai_generated": true,
                    "updated_at": self.now(),
                }},
            )
            .return_document(ReturnDocument::After)
            .await?;
        let Some(job) = updated else {
            return Err(match self.job(job_id).await?.status {
                JobStatus::Draft => MarketplaceError::ChangedDuringEnhancement,
                _ => MarketplaceError::JourneyLocked,
            });
        };
        enhancement.content = EnhancedContent::Journey(steps);
        Ok(EnhancedJob { job, enhancement })
    }

    /// The system prompt and instructions for the job's journey: its template's, where the job
    /// was made from one that sets them, else the defaults.
    async fn journey_prompts(&self, job: &Job) -> Result<(String, String), MarketplaceError> {
        let template = match job.user_journey.ai_template_id {
            Some(template_id) => match self.template(template_id).await {
                Ok(template) => Some(template),
                Err(MarketplaceError::TemplateNotFound) => None,
                Err(error) => return Err(error),
            },
            None => None,
        };
        let chosen = |configured: Option<&String>, default: &str| match configured {
            Some(text) if !text.trim().is_empty() => text.clone(),
            _ => default.to_string(),
        };
        Ok((
            chosen(
                template.as_ref().map(|t| &t.openai_system_prompt),
                DEFAULT_JOURNEY_SYSTEM_PROMPT,
            ),
            chosen(
                template.as_ref().map(|t| &t.enhancement_instructions),
                DEFAULT_JOURNEY_INSTRUCTIONS,
            ),
        ))
    }

    /// Enhances the summary of the caller's own submission while it is editable (draft or
    /// revision requested) and stores the result as `ai_enhanced_summary`, by compare-and-set on
    /// the submission still being editable with the summary that was sent. The tester's own
    /// `summary` is kept. Templates' prompts are written for journeys, so summaries always use
    /// the defaults. When the provider did not enhance (pass-through) nothing is stored.
    pub async fn enhance_submission_summary(
        &self,
        actor: &Actor,
        submission_id: ObjectId,
    ) -> Result<EnhancedSubmission, MarketplaceError> {
        let submission = self.submission(actor, submission_id).await?;
        if submission.tester_id != actor.user_id {
            return Err(MarketplaceError::Forbidden {
                action: "enhance someone else's submission",
            });
        }
        if submission_transition(submission.status, SubmissionAction::Edit).is_none() {
            return Err(MarketplaceError::InvalidSubmissionTransition {
                from: submission.status.as_str(),
                action: SubmissionAction::Edit.as_str(),
            });
        }
        if submission.summary.trim().is_empty() {
            return Err(MarketplaceError::InvalidInput {
                field: "summary",
                reason: "write a summary before enhancing it".into(),
            });
        }
        let request = EnhancementRequest {
            subject: EnhancementSubject::SubmissionSummary {
                summary: submission.summary.clone(),
            },
            system_prompt: DEFAULT_SUMMARY_SYSTEM_PROMPT.into(),
            instructions: DEFAULT_SUMMARY_INSTRUCTIONS.into(),
        };
        let mut enhancement = self.enhancer.enhance(&request).await?;
        if !enhancement.enhanced {
            return Ok(EnhancedSubmission {
                submission,
                enhancement,
            });
        }
        let EnhancedContent::SubmissionSummary(proposed) = &enhancement.content else {
            return Err(kind_mismatch());
        };
        let summary = validated_summary(proposed)?;
        let (editable, _) = transitions_for(SubmissionAction::Edit);
        let updated = self
            .submissions
            .find_one_and_update(
                doc! {
                    "_id": submission_id,
                    "tester_id": actor.user_id,
                    "status": { "$in": editable },
                    "summary": &submission.summary,
                },
                doc! { "$set": { "ai_enhanced_summary": &summary, "updated_at": self.now() } },
            )
            .return_document(ReturnDocument::After)
            .await?;
        let Some(stored) = updated else {
            let current = self.submission(actor, submission_id).await?;
            return Err(
                if submission_transition(current.status, SubmissionAction::Edit).is_none() {
                    MarketplaceError::InvalidSubmissionTransition {
                        from: current.status.as_str(),
                        action: SubmissionAction::Edit.as_str(),
                    }
                } else {
                    MarketplaceError::ChangedDuringEnhancement
                },
            );
        };
        enhancement.content = EnhancedContent::SubmissionSummary(summary);
        Ok(EnhancedSubmission {
            submission: stored,
            enhancement,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(action: &str, expected: &str) -> (String, String) {
        (action.to_string(), expected.to_string())
    }

    #[test]
    fn proposed_steps_are_trimmed_and_numbered_from_one() {
        let steps = validated_steps([pair("  Open the shop ", "Home page"), pair("Pay", " Done ")])
            .unwrap();
        assert_eq!(steps[0].step_number, 1);
        assert_eq!(steps[0].action, "Open the shop");
        assert_eq!(steps[1].step_number, 2);
        assert_eq!(steps[1].expected_result, "Done");
    }

    #[test]
    fn empty_oversized_or_actionless_proposals_are_malformed() {
        assert!(matches!(
            validated_steps(Vec::new()),
            Err(EnhancementFailure::MalformedReply(reason)) if reason == "no steps"
        ));
        assert!(matches!(
            validated_steps([pair("Open", "ok"), pair("  ", "nothing")]),
            Err(EnhancementFailure::MalformedReply(reason)) if reason == "step 2 has no action"
        ));
        let many = (0..=MAX_ENHANCED_STEPS).map(|n| pair(&format!("step {n}"), ""));
        assert!(validated_steps(many).is_err());
        assert!(validated_summary(" \n ").is_err());
        assert_eq!(validated_summary(" Clear. ").unwrap(), "Clear.");
    }

    #[tokio::test]
    async fn pass_through_returns_the_input_unchanged_and_says_so() {
        let request = EnhancementRequest {
            subject: EnhancementSubject::SubmissionSummary {
                summary: "it broke".into(),
            },
            system_prompt: DEFAULT_SUMMARY_SYSTEM_PROMPT.into(),
            instructions: DEFAULT_SUMMARY_INSTRUCTIONS.into(),
        };
        let enhancement = PassThrough.enhance(&request).await.unwrap();
        assert!(!enhancement.enhanced);
        assert_eq!(enhancement.provider, "pass-through");
        assert_eq!(
            enhancement.content,
            EnhancedContent::SubmissionSummary("it broke".into())
        );
        assert!(enhancement.note.contains("no AI provider is configured"));
    }
}
