//! Qualification tests (seed section 10): the question bank admins publish in versions, a
//! tester's attempts drawn from the current version, automatic grading of multiple choice,
//! an admin's evaluation of essays, practical questions and the practical task, and the
//! qualification it leads to.
//!
//! **Rules.** One open attempt per tester (a unique partial index on `tester_id` where `is_open`,
//! so two racing starts cannot both succeed). A failed attempt allows a retake
//! [`RETAKE_COOLDOWN`] after its evaluation; a pass qualifies for [`QUALIFICATION_VALIDITY`];
//! recertification opens [`RECERTIFICATION_WINDOW`] before expiry and extends the qualification
//! from its current end, so recertifying early loses nothing. A failed recertification leaves a
//! qualification that has not expired in place.
//!
//! **Score.** Each question has points: a multiple-choice answer earns all of them when it is
//! the correct choice, an essay or practical answer what the evaluating admin awards (0 to its
//! points). With a practical task, the total is `(100 − w) % of the question percentage + w % of
//! the task's 0–100 score` (`w` = the bank's `practical_weight`), otherwise the question
//! percentage; rounded half up to a whole number. `total_score ≥ passing_score` passes.
//!
//! **Secrecy.** Correct answers live in the bank and in each attempt's questions, and leave this
//! crate only through [`QuestionBank`] and [`QualificationTest::questions`], which GraphQL shows to
//! admins only; an error never quotes a choice or an answer. A tester is not told which of their
//! answers were right (a retake draws from the same bank).
//!
//! The tester's standing lives on identity's `users` document (`tester_data.qualification_*`),
//! written by the evaluation's transaction (a documented exception to collection ownership, like
//! the rating totals).

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use marketplace::{Actor, ActorRole};
use mongodb::{ClientSession, Collection};
use serde::{Deserialize, Serialize};

use crate::error::TrustError;
use crate::service::TrustService;
use foundation::clock::add_duration;
use foundation::transaction_retry::in_transaction;

/// How long a pass qualifies a tester.
pub const QUALIFICATION_VALIDITY: Duration = Duration::from_secs(365 * 86_400);
/// How long after a failed attempt's evaluation a retake may start.
pub const RETAKE_COOLDOWN: Duration = Duration::from_secs(7 * 86_400);
/// How long before a qualification ends its recertification may start.
pub const RECERTIFICATION_WINDOW: Duration = Duration::from_secs(60 * 86_400);
/// The passing score when a bank does not set one.
pub const DEFAULT_PASSING_SCORE: i32 = 70;
/// The weight of the practical task when a bank does not set one.
pub const DEFAULT_PRACTICAL_WEIGHT: i32 = 40;
/// Questions in one bank version.
pub const MAX_QUESTIONS: usize = 50;
/// Choices of one multiple-choice question.
pub const MAX_CHOICES: usize = 10;
/// Characters of a question, a practical task or an evaluation's notes and feedback.
pub const MAX_TEXT_CHARS: usize = 5_000;
/// Characters of one choice, one question id, a version name and one area for improvement.
pub const MAX_SHORT_CHARS: usize = 200;
/// Characters of one answer (an essay).
pub const MAX_ANSWER_CHARS: usize = 10_000;
/// Points of one question.
pub const MAX_QUESTION_POINTS: i32 = 100;
/// Areas for improvement in one evaluation.
pub const MAX_IMPROVEMENTS: usize = 10;
/// Attempts `my_qualification_tests` returns, newest first.
pub const MAX_LISTED_ATTEMPTS: i64 = 100;

/// How a question is answered and graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// One of the question's choices; graded automatically.
    MultipleChoice,
    /// An https URL to the work; an admin awards the points.
    Practical,
    /// Free text; an admin awards the points.
    Essay,
}

/// One question as a bank version holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankQuestion {
    /// Unique within its version (`q1`).
    pub question_id: String,
    /// What is asked.
    pub question_text: String,
    /// How it is answered.
    pub question_type: QuestionType,
    /// The choices of a multiple-choice question (none otherwise).
    #[serde(default)]
    pub choices: Vec<String>,
    /// The correct choice of a multiple-choice question. Admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_answer: Option<String>,
    /// What it is worth, 1 to [`MAX_QUESTION_POINTS`].
    pub points: i32,
}

/// One version of the question bank (`qualification_question_banks`); the newest is current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionBank {
    /// Document id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Unique version name (`v1.0`).
    pub test_version: String,
    /// Its questions, in the order attempts show them.
    pub questions: Vec<BankQuestion>,
    /// The practical task every attempt carries, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practical_task: Option<String>,
    /// The task's share of the total, 0 to 100 (ignored without a task).
    pub practical_weight: i32,
    /// The total needed to pass, 0 to 100.
    pub passing_score: i32,
    /// The admin who published it.
    pub created_by: ObjectId,
    /// When.
    pub created_at: DateTime,
}

/// What an admin publishes as a new bank version.
#[derive(Debug, Clone)]
pub struct NewQuestionBank {
    /// Unique version name.
    pub test_version: String,
    /// 1 to [`MAX_QUESTIONS`] questions with distinct ids.
    pub questions: Vec<BankQuestion>,
    /// An optional practical task.
    pub practical_task: Option<String>,
    /// 0 to 100.
    pub practical_weight: i32,
    /// 0 to 100.
    pub passing_score: i32,
}

/// Why an attempt was taken (seed values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestType {
    /// The first qualification.
    Initial,
    /// A skill assessment (stored by other tools; never started here).
    SkillAssessment,
    /// Renewing (or regaining) a qualification.
    Recertification,
}

/// Where an attempt stands (seed values; `evaluated` is never written: an evaluation ends in
/// `passed` or `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    /// Being answered.
    InProgress,
    /// Handed in; waiting for an admin to evaluate its essays and practical work.
    Submitted,
    /// Seed value, not written.
    Evaluated,
    /// Evaluated at or above the passing score.
    Passed,
    /// Evaluated below it.
    Failed,
}

impl TestStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::InProgress => "in_progress",
            TestStatus::Submitted => "submitted",
            TestStatus::Evaluated => "evaluated",
            TestStatus::Passed => "passed",
            TestStatus::Failed => "failed",
        }
    }
}

/// One question of an attempt, with the tester's answer and, once graded, its points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestQuestion {
    /// As in the bank.
    pub question_id: String,
    /// As in the bank.
    pub question_text: String,
    /// As in the bank.
    pub question_type: QuestionType,
    /// As in the bank.
    #[serde(default)]
    pub choices: Vec<String>,
    /// As in the bank. Admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_answer: Option<String>,
    /// The tester's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tester_answer: Option<String>,
    /// Whether a multiple-choice answer was right, once handed in. Admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_correct: Option<bool>,
    /// What it is worth.
    pub points: i32,
    /// What it earned, once graded. Admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_awarded: Option<i32>,
}

/// The practical task of an attempt (seed `practical_task`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PracticalTask {
    /// What to do.
    pub task_description: String,
    /// Where the tester put the work (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_url: Option<String>,
    /// The admin who scored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator_id: Option<ObjectId>,
    /// Their notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_notes: Option<String>,
    /// 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
}

/// One attempt (`qualification_tests`, seed section 10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualificationTest {
    /// Document id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Who takes it.
    pub tester_id: ObjectId,
    /// Why.
    pub test_type: TestType,
    /// The bank version its questions came from.
    pub test_version: String,
    /// The questions, with answers.
    pub questions: Vec<TestQuestion>,
    /// The practical task, when the version has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practical_task: Option<PracticalTask>,
    /// The task's share of the total.
    #[serde(default)]
    pub practical_weight: i32,
    /// 0 to 100, once evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_score: Option<i32>,
    /// Needed to pass.
    pub passing_score: i32,
    /// Once evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// The evaluator's feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// The evaluator's suggestions.
    #[serde(default)]
    pub areas_for_improvement: Vec<String>,
    /// Where it stands.
    pub status: TestStatus,
    /// In progress or submitted (the unique partial index's key).
    pub is_open: bool,
    /// Started.
    pub started_at: DateTime,
    /// Handed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime>,
    /// Evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<DateTime>,
    /// The admin who evaluated it (none when it needed no admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator_id: Option<ObjectId>,
    /// When the qualification a pass gave ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime>,
}

/// An admin's evaluation of a submitted attempt.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Points for every essay and practical question, by question id.
    pub question_scores: Vec<(String, i32)>,
    /// The practical task's 0–100 score (required when the attempt has one).
    pub practical_score: Option<i32>,
    /// Notes on the practical task.
    pub evaluation_notes: Option<String>,
    /// Feedback for the tester.
    pub feedback: Option<String>,
    /// Suggestions for the tester.
    pub areas_for_improvement: Vec<String>,
}

impl QualificationTest {
    /// The attempt as its tester may have it (their data export): without the correct answers,
    /// which questions were right, and the points of each.
    pub fn without_answer_key(mut self) -> Self {
        for question in &mut self.questions {
            question.correct_answer = None;
            question.is_correct = None;
            question.points_awarded = None;
        }
        self
    }
}

/// Who may see an attempt: its tester and platform admins.
pub fn qualification_test_visible_to(actor: &Actor, test: &QualificationTest) -> bool {
    actor.role == ActorRole::Admin || actor.user_id == test.tester_id
}

fn require_admin(actor: &Actor) -> Result<(), TrustError> {
    if actor.role == ActorRole::Admin {
        Ok(())
    } else {
        Err(TrustError::AdminsOnly)
    }
}

fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), TrustError> {
    if required && value.trim().is_empty() {
        return Err(TrustError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(TrustError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn check_percentage(field: &'static str, value: i32) -> Result<(), TrustError> {
    if (0..=100).contains(&value) {
        Ok(())
    } else {
        Err(TrustError::invalid(field, "must be between 0 and 100"))
    }
}

/// Checks a bank version before it is stored; pure.
pub fn validate_question_bank(bank: &NewQuestionBank) -> Result<(), TrustError> {
    check_text("test_version", &bank.test_version, MAX_SHORT_CHARS, true)?;
    check_percentage("passing_score", bank.passing_score)?;
    check_percentage("practical_weight", bank.practical_weight)?;
    if let Some(task) = &bank.practical_task {
        check_text("practical_task", task, MAX_TEXT_CHARS, true)?;
    }
    if bank.questions.is_empty() || bank.questions.len() > MAX_QUESTIONS {
        return Err(TrustError::invalid(
            "questions",
            format!("must hold 1 to {MAX_QUESTIONS} questions"),
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for question in &bank.questions {
        check_text("question_id", &question.question_id, MAX_SHORT_CHARS, true)?;
        if !ids.insert(question.question_id.as_str()) {
            return Err(TrustError::invalid(
                "question_id",
                format!("`{}` is used twice", question.question_id),
            ));
        }
        check_text(
            "question_text",
            &question.question_text,
            MAX_TEXT_CHARS,
            true,
        )?;
        if !(1..=MAX_QUESTION_POINTS).contains(&question.points) {
            return Err(TrustError::invalid(
                "points",
                format!("must be between 1 and {MAX_QUESTION_POINTS}"),
            ));
        }
        match question.question_type {
            QuestionType::MultipleChoice => {
                if question.choices.len() < 2 || question.choices.len() > MAX_CHOICES {
                    return Err(TrustError::invalid(
                        "choices",
                        format!("a multiple-choice question needs 2 to {MAX_CHOICES} choices"),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                for choice in &question.choices {
                    check_text("choices", choice, MAX_SHORT_CHARS, true)?;
                    if !seen.insert(choice.as_str()) {
                        return Err(TrustError::invalid("choices", "must be distinct"));
                    }
                }
                match &question.correct_answer {
                    Some(answer) if question.choices.contains(answer) => {}
                    _ => {
                        return Err(TrustError::invalid(
                            "correct_answer",
                            "a multiple-choice question needs one of its choices as the answer",
                        ))
                    }
                }
            }
            QuestionType::Practical | QuestionType::Essay => {
                if !question.choices.is_empty() || question.correct_answer.is_some() {
                    return Err(TrustError::invalid(
                        "choices",
                        "only multiple-choice questions have choices and a correct answer",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The total score of `questions` (their `points_awarded`) and a practical score, as the module
/// documents; `None` while a question is ungraded.
pub fn total_score(questions: &[TestQuestion], practical: Option<(i32, i32)>) -> Option<i32> {
    let mut earned: i64 = 0;
    let mut possible: i64 = 0;
    for question in questions {
        earned += i64::from(question.points_awarded?);
        possible += i64::from(question.points);
    }
    // numerator / denominator is the score; rounded half up.
    let (numerator, denominator) = match practical {
        Some((weight, score)) if possible > 0 => (
            i64::from(100 - weight) * earned * 100
                + i64::from(weight) * i64::from(score) * possible,
            100 * possible,
        ),
        Some((_, score)) => (i64::from(score), 1),
        None if possible > 0 => (earned * 100, possible),
        None => (0, 1),
    };
    Some(((2 * numerator + denominator) / (2 * denominator)) as i32)
}

/// Whether `url` is an https URL of reasonable length.
fn check_submission_url(field: &'static str, url: &str) -> Result<(), TrustError> {
    crate::dispute::check_https_url(field, url)
}

impl TrustService {
    fn banks(&self) -> Collection<QuestionBank> {
        self.database
            .collection(crate::collections::QUALIFICATION_QUESTION_BANKS)
    }

    fn attempts(&self) -> Collection<QualificationTest> {
        self.database
            .collection(crate::collections::QUALIFICATION_TESTS)
    }

    /// Admin only: publishes a new bank version, which attempts started from now on draw from.
    /// A version name already used is `CONFLICT`.
    pub async fn publish_question_bank(
        &self,
        actor: &Actor,
        bank: NewQuestionBank,
    ) -> Result<QuestionBank, TrustError> {
        require_admin(actor)?;
        validate_question_bank(&bank)?;
        let stored = QuestionBank {
            id: ObjectId::new(),
            test_version: bank.test_version.trim().to_string(),
            questions: bank.questions,
            practical_task: bank.practical_task,
            practical_weight: bank.practical_weight,
            passing_score: bank.passing_score,
            created_by: actor.user_id,
            created_at: self.now(),
        };
        match self.banks().insert_one(&stored).await {
            Ok(_) => Ok(stored),
            Err(error) if foundation::collection::is_duplicate_key(&error) => {
                Err(TrustError::VersionExists)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Admin only: the current bank version (the newest), correct answers included.
    pub async fn current_question_bank(
        &self,
        actor: &Actor,
    ) -> Result<Option<QuestionBank>, TrustError> {
        require_admin(actor)?;
        self.newest_bank().await
    }

    async fn newest_bank(&self) -> Result<Option<QuestionBank>, TrustError> {
        Ok(self
            .banks()
            .find_one(doc! {})
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?)
    }

    /// The tester's latest evaluated attempt of each outcome: (latest pass, latest fail).
    async fn standing(
        &self,
        tester_id: ObjectId,
    ) -> Result<(Option<QualificationTest>, Option<QualificationTest>), TrustError> {
        let attempts = self.attempts();
        let latest = |status: TestStatus| {
            attempts
                .find_one(doc! { "tester_id": tester_id, "status": status.as_str() })
                .sort(doc! { "evaluated_at": -1, "_id": -1 })
        };
        Ok((
            latest(TestStatus::Passed).await?,
            latest(TestStatus::Failed).await?,
        ))
    }

    /// A tester starts an attempt on the current bank version: the first one, a retake once the
    /// cooldown after a failure has passed, or a recertification inside the window before their
    /// qualification ends. One open attempt at a time.
    pub async fn start_qualification_test(
        &self,
        actor: &Actor,
    ) -> Result<QualificationTest, TrustError> {
        if actor.role != ActorRole::Tester {
            return Err(TrustError::TestersOnly);
        }
        let now = self.now();
        let (passed, failed) = self.standing(actor.user_id).await?;
        let last_failure = failed.as_ref().and_then(|test| test.evaluated_at);
        let last_pass = passed.as_ref().and_then(|test| test.evaluated_at);
        if let Some(failed_at) = last_failure {
            // A failure after the latest pass starts the cooldown.
            if last_pass.is_none_or(|passed_at| failed_at > passed_at) {
                let allowed_at = add_duration(failed_at, RETAKE_COOLDOWN);
                if allowed_at > now {
                    return Err(TrustError::RetakeTooSoon { allowed_at });
                }
            }
        }
        let current_expiry = passed.as_ref().and_then(|test| test.expires_at);
        let test_type = match current_expiry {
            Some(expires_at) if expires_at > now => {
                let window_opens =
                    foundation::clock::subtract_duration(expires_at, RECERTIFICATION_WINDOW);
                if window_opens > now {
                    return Err(TrustError::AlreadyQualified {
                        recertify_from: window_opens,
                    });
                }
                TestType::Recertification
            }
            Some(_) => TestType::Recertification,
            None => TestType::Initial,
        };
        let bank = self
            .newest_bank()
            .await?
            .ok_or(TrustError::NoQuestionBank)?;
        let test = QualificationTest {
            id: ObjectId::new(),
            tester_id: actor.user_id,
            test_type,
            test_version: bank.test_version,
            questions: bank
                .questions
                .into_iter()
                .map(|question| TestQuestion {
                    question_id: question.question_id,
                    question_text: question.question_text,
                    question_type: question.question_type,
                    choices: question.choices,
                    correct_answer: question.correct_answer,
                    tester_answer: None,
                    is_correct: None,
                    points: question.points,
                    points_awarded: None,
                })
                .collect(),
            practical_task: bank.practical_task.map(|task_description| PracticalTask {
                task_description,
                submission_url: None,
                evaluator_id: None,
                evaluation_notes: None,
                score: None,
            }),
            practical_weight: bank.practical_weight,
            total_score: None,
            passing_score: bank.passing_score,
            passed: None,
            feedback: None,
            areas_for_improvement: Vec::new(),
            status: TestStatus::InProgress,
            is_open: true,
            started_at: now,
            submitted_at: None,
            evaluated_at: None,
            evaluator_id: None,
            expires_at: None,
        };
        match self.attempts().insert_one(&test).await {
            Ok(_) => Ok(test),
            Err(error) if foundation::collection::is_duplicate_key(&error) => {
                Err(TrustError::AttemptOpen)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// An attempt its tester or an admin may see; anyone else is told it does not exist.
    pub async fn visible_qualification_test(
        &self,
        actor: &Actor,
        id: ObjectId,
    ) -> Result<QualificationTest, TrustError> {
        self.attempts()
            .find_one(doc! { "_id": id })
            .await?
            .filter(|test| qualification_test_visible_to(actor, test))
            .ok_or(TrustError::QualificationTestNotFound)
    }

    async fn own_open_attempt(
        &self,
        actor: &Actor,
        id: ObjectId,
    ) -> Result<QualificationTest, TrustError> {
        let test = self
            .attempts()
            .find_one(doc! { "_id": id })
            .await?
            .filter(|test| test.tester_id == actor.user_id)
            .ok_or(TrustError::QualificationTestNotFound)?;
        if test.status != TestStatus::InProgress {
            return Err(TrustError::AttemptNotInProgress {
                status: test.status.as_str(),
            });
        }
        Ok(test)
    }

    /// The tester records answers (replacing earlier ones to the same questions) and the
    /// practical task's URL while the attempt is in progress.
    pub async fn answer_qualification_test(
        &self,
        actor: &Actor,
        id: ObjectId,
        answers: Vec<(String, String)>,
        practical_submission_url: Option<String>,
    ) -> Result<QualificationTest, TrustError> {
        let test = self.own_open_attempt(actor, id).await?;
        if answers.len() > test.questions.len() {
            return Err(TrustError::invalid(
                "answers",
                format!("at most one answer per question ({})", test.questions.len()),
            ));
        }
        let mut set = Document::new();
        for (question_id, answer) in &answers {
            let Some(index) = test
                .questions
                .iter()
                .position(|question| &question.question_id == question_id)
            else {
                return Err(TrustError::invalid(
                    "question_id",
                    "no question of this attempt has that id",
                ));
            };
            let path = format!("questions.{index}.tester_answer");
            if set.contains_key(&path) {
                return Err(TrustError::invalid(
                    "question_id",
                    "answers one question twice",
                ));
            }
            let question = &test.questions[index];
            match question.question_type {
                QuestionType::MultipleChoice => {
                    if !question.choices.contains(answer) {
                        return Err(TrustError::invalid(
                            "answer",
                            format!(
                                "is not one of the choices of question {index_one}",
                                index_one = index + 1
                            ),
                        ));
                    }
                }
                QuestionType::Practical => check_submission_url("answer", answer)?,
                QuestionType::Essay => check_text("answer", answer, MAX_ANSWER_CHARS, true)?,
            }
            set.insert(path, answer.as_str());
        }
        if let Some(url) = &practical_submission_url {
            if test.practical_task.is_none() {
                return Err(TrustError::invalid(
                    "practical_submission_url",
                    "this attempt has no practical task",
                ));
            }
            check_submission_url("practical_submission_url", url)?;
            set.insert("practical_task.submission_url", url.as_str());
        }
        if set.is_empty() {
            return Ok(test);
        }
        let updated = self
            .attempts()
            .find_one_and_update(
                doc! { "_id": id, "status": TestStatus::InProgress.as_str() },
                doc! { "$set": set },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        updated.ok_or(TrustError::AttemptNotInProgress {
            status: TestStatus::Submitted.as_str(),
        })
    }

    /// The tester hands the attempt in: multiple choice is graded now; an attempt with nothing
    /// else to grade is evaluated at once, otherwise it waits for an admin.
    pub async fn submit_qualification_test(
        &self,
        actor: &Actor,
        id: ObjectId,
    ) -> Result<QualificationTest, TrustError> {
        let mut test = self.own_open_attempt(actor, id).await?;
        let now = self.now();
        for question in &mut test.questions {
            if question.question_type == QuestionType::MultipleChoice {
                let correct = question.tester_answer.is_some()
                    && question.tester_answer == question.correct_answer;
                question.is_correct = Some(correct);
                question.points_awarded = Some(if correct { question.points } else { 0 });
            }
        }
        test.submitted_at = Some(now);
        test.status = TestStatus::Submitted;
        let needs_admin = test.practical_task.is_some()
            || test
                .questions
                .iter()
                .any(|question| question.question_type != QuestionType::MultipleChoice);
        if needs_admin {
            let updated = self
                .attempts()
                .find_one_and_update(
                    doc! { "_id": id, "status": TestStatus::InProgress.as_str() },
                    doc! { "$set": {
                        "questions": bson::to_bson(&test.questions)?,
                        "status": TestStatus::Submitted.as_str(),
                        "submitted_at": now,
                    } },
                )
                .return_document(mongodb::options::ReturnDocument::After)
                .await?;
            return updated.ok_or(TrustError::AttemptNotInProgress {
                status: TestStatus::Submitted.as_str(),
            });
        }
        self.conclude(test, TestStatus::InProgress, None, now).await
    }

    /// Admin only: the queue of attempts waiting for evaluation, oldest first.
    pub async fn qualification_queue(
        &self,
        actor: &Actor,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<foundation::KeysetPage<QualificationTest>, TrustError> {
        require_admin(actor)?;
        let selected = doc! { "status": TestStatus::Submitted.as_str() };
        Ok(foundation::batch::keyset_page(
            &self.attempts(),
            selected,
            foundation::batch::IdOrder::OldestFirst,
            after,
            limit,
        )
        .await?)
    }

    /// The caller's own attempts, newest first (at most [`MAX_LISTED_ATTEMPTS`]).
    pub async fn my_qualification_tests(
        &self,
        actor: &Actor,
    ) -> Result<Vec<QualificationTest>, TrustError> {
        Ok(self
            .attempts()
            .find(doc! { "tester_id": actor.user_id })
            .sort(doc! { "started_at": -1, "_id": -1 })
            .limit(MAX_LISTED_ATTEMPTS)
            .await?
            .try_collect()
            .await?)
    }

    /// Every attempt of `tester_id`, oldest first, without the answer key (the person's data
    /// export; bounded like [`TrustService::my_qualification_tests`]).
    pub async fn qualification_tests_of_person(
        &self,
        tester_id: ObjectId,
    ) -> Result<Vec<QualificationTest>, TrustError> {
        let tests: Vec<QualificationTest> = self
            .attempts()
            .find(doc! { "tester_id": tester_id })
            .sort(doc! { "started_at": 1, "_id": 1 })
            .limit(MAX_LISTED_ATTEMPTS)
            .await?
            .try_collect()
            .await?;
        Ok(tests
            .into_iter()
            .map(QualificationTest::without_answer_key)
            .collect())
    }

    /// Admin only: scores the essays, practical questions and practical task of a submitted
    /// attempt, which then passes or fails and sets the tester's qualification.
    pub async fn evaluate_qualification_test(
        &self,
        actor: &Actor,
        id: ObjectId,
        evaluation: Evaluation,
    ) -> Result<QualificationTest, TrustError> {
        require_admin(actor)?;
        for (field, text) in [
            ("evaluation_notes", &evaluation.evaluation_notes),
            ("feedback", &evaluation.feedback),
        ] {
            if let Some(text) = text {
                check_text(field, text, MAX_TEXT_CHARS, false)?;
            }
        }
        if evaluation.areas_for_improvement.len() > MAX_IMPROVEMENTS {
            return Err(TrustError::invalid(
                "areas_for_improvement",
                format!("at most {MAX_IMPROVEMENTS}"),
            ));
        }
        for area in &evaluation.areas_for_improvement {
            check_text("areas_for_improvement", area, MAX_SHORT_CHARS, true)?;
        }
        let mut test = self
            .attempts()
            .find_one(doc! { "_id": id })
            .await?
            .ok_or(TrustError::QualificationTestNotFound)?;
        if test.status != TestStatus::Submitted {
            return Err(TrustError::AttemptNotSubmitted {
                status: test.status.as_str(),
            });
        }
        if evaluation.question_scores.len() > test.questions.len() {
            return Err(TrustError::invalid(
                "question_scores",
                "at most one score per question",
            ));
        }
        let mut scored = std::collections::HashSet::new();
        for (question_id, points) in &evaluation.question_scores {
            let Some(question) = test
                .questions
                .iter_mut()
                .find(|question| &question.question_id == question_id)
            else {
                return Err(TrustError::invalid(
                    "question_id",
                    "no question of this attempt has that id",
                ));
            };
            if question.question_type == QuestionType::MultipleChoice {
                return Err(TrustError::invalid(
                    "question_id",
                    "multiple-choice questions are graded automatically",
                ));
            }
            if !scored.insert(question_id.clone()) {
                return Err(TrustError::invalid("question_id", "scored twice"));
            }
            if !(0..=question.points).contains(points) {
                return Err(TrustError::invalid(
                    "points",
                    format!("must be between 0 and the question's {}", question.points),
                ));
            }
            question.points_awarded = Some(*points);
        }
        if let Some(missing) = test
            .questions
            .iter()
            .find(|question| question.points_awarded.is_none())
        {
            return Err(TrustError::invalid(
                "question_scores",
                format!("question `{}` needs a score", missing.question_id),
            ));
        }
        match (&mut test.practical_task, evaluation.practical_score) {
            (Some(task), Some(score)) => {
                check_percentage("practical_score", score)?;
                task.score = Some(score);
                task.evaluator_id = Some(actor.user_id);
                task.evaluation_notes = evaluation.evaluation_notes.clone();
            }
            (Some(_), None) => {
                return Err(TrustError::invalid(
                    "practical_score",
                    "this attempt's practical task needs a score",
                ))
            }
            (None, Some(_)) => {
                return Err(TrustError::invalid(
                    "practical_score",
                    "this attempt has no practical task",
                ))
            }
            (None, None) => {}
        }
        test.feedback = evaluation.feedback;
        test.areas_for_improvement = evaluation.areas_for_improvement;
        let now = self.now();
        self.conclude(test, TestStatus::Submitted, Some(actor.user_id), now)
            .await
    }

    /// Totals a graded attempt, stores its outcome (compare-and-set on `from`) and sets the
    /// tester's qualification, in one transaction.
    async fn conclude(
        &self,
        mut test: QualificationTest,
        from: TestStatus,
        evaluator: Option<ObjectId>,
        now: DateTime,
    ) -> Result<QualificationTest, TrustError> {
        let practical = test
            .practical_task
            .as_ref()
            .map(|task| (test.practical_weight, task.score.unwrap_or(0)));
        let total = total_score(&test.questions, practical)
            .ok_or_else(|| TrustError::Internal("an ungraded question was totalled".into()))?;
        let passed = total >= test.passing_score;
        let (previous_pass, _) = self.standing(test.tester_id).await?;
        let expires_at = passed.then(|| {
            // Recertifying early extends from the current end; otherwise from now.
            let start = previous_pass
                .and_then(|pass| pass.expires_at)
                .filter(|expiry| *expiry > now)
                .unwrap_or(now);
            add_duration(start, QUALIFICATION_VALIDITY)
        });
        test.total_score = Some(total);
        test.passed = Some(passed);
        test.status = if passed {
            TestStatus::Passed
        } else {
            TestStatus::Failed
        };
        test.is_open = false;
        test.evaluated_at = Some(now);
        test.evaluator_id = evaluator;
        test.expires_at = expires_at;
        let attempts = self.attempts();
        let users: Collection<Document> = self.database.collection("users");
        let stored = test.clone();
        in_transaction(&self.client, |mut session| {
            let attempts = attempts.clone();
            let users = users.clone();
            let stored = stored.clone();
            async move {
                let outcome =
                    record_outcome(&mut session, &attempts, &users, &stored, from, now).await;
                (session, outcome)
            }
        })
        .await?;
        Ok(test)
    }
}

async fn record_outcome(
    session: &mut ClientSession,
    attempts: &Collection<QualificationTest>,
    users: &Collection<Document>,
    test: &QualificationTest,
    from: TestStatus,
    now: DateTime,
) -> Result<(), TrustError> {
    let mut replacement = bson::to_document(test)?;
    replacement.remove("_id");
    let result = attempts
        .update_one(
            doc! { "_id": test.id, "status": from.as_str() },
            doc! { "$set": replacement },
        )
        .session(&mut *session)
        .await?;
    if result.matched_count == 0 {
        return Err(TrustError::AttemptNotSubmitted {
            status: "changed meanwhile",
        });
    }
    let score = f64::from(test.total_score.unwrap_or(0));
    if test.passed == Some(true) {
        users
            .update_one(
                doc! { "_id": test.tester_id },
                doc! {
                    "$set": {
                        "tester_data.qualification_status": "qualified",
                        "tester_data.qualification_score": score,
                        "tester_data.qualification_expires_at": test.expires_at,
                        "updated_at": now,
                    },
                    "$inc": { "version": 1_i64 },
                },
            )
            .session(&mut *session)
            .await?;
    } else {
        // A failure takes away nothing still valid: a qualification that has not ended (or an
        // admin's, which does not end) stays.
        users
            .update_one(
                doc! {
                    "_id": test.tester_id,
                    "$or": [
                        { "tester_data.qualification_status": { "$ne": "qualified" } },
                        { "tester_data.qualification_expires_at": { "$lte": now } },
                    ],
                },
                doc! {
                    "$set": {
                        "tester_data.qualification_status": "rejected",
                        "tester_data.qualification_score": score,
                        "updated_at": now,
                    },
                    "$inc": { "version": 1_i64 },
                },
            )
            .session(&mut *session)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(kind: QuestionType, points: i32, awarded: Option<i32>) -> TestQuestion {
        TestQuestion {
            question_id: "q".into(),
            question_text: "?".into(),
            question_type: kind,
            choices: Vec::new(),
            correct_answer: None,
            tester_answer: None,
            is_correct: None,
            points,
            points_awarded: awarded,
        }
    }

    #[test]
    fn the_total_weighs_questions_and_the_practical_task_and_rounds_half_up() {
        let questions = [
            question(QuestionType::MultipleChoice, 10, Some(10)),
            question(QuestionType::MultipleChoice, 10, Some(0)),
            question(QuestionType::Essay, 20, Some(15)),
        ];
        // 25 of 40 points = 62.5 %.
        assert_eq!(total_score(&questions, None), Some(63));
        // 60 % of 62.5 + 40 % of 90 = 37.5 + 36 = 73.5.
        assert_eq!(total_score(&questions, Some((40, 90))), Some(74));
        assert_eq!(total_score(&questions, Some((100, 55))), Some(55));
        assert_eq!(total_score(&questions, Some((0, 0))), Some(63));
        assert_eq!(total_score(&[], Some((40, 81))), Some(81));
        let ungraded = [question(QuestionType::Essay, 5, None)];
        assert_eq!(total_score(&ungraded, None), None);
    }

    fn bank(questions: Vec<BankQuestion>) -> NewQuestionBank {
        NewQuestionBank {
            test_version: "v1".into(),
            questions,
            practical_task: None,
            practical_weight: DEFAULT_PRACTICAL_WEIGHT,
            passing_score: DEFAULT_PASSING_SCORE,
        }
    }

    fn choice(correct: &str) -> BankQuestion {
        BankQuestion {
            question_id: "q1".into(),
            question_text: "Which?".into(),
            question_type: QuestionType::MultipleChoice,
            choices: vec!["a".into(), "b".into()],
            correct_answer: Some(correct.into()),
            points: 10,
        }
    }

    fn field_of(result: Result<(), TrustError>) -> Option<&'static str> {
        result.err().and_then(|error| error.field())
    }

    #[test]
    fn a_bank_names_the_field_it_breaks() {
        assert!(validate_question_bank(&bank(vec![choice("a")])).is_ok());
        assert_eq!(
            field_of(validate_question_bank(&bank(vec![choice("c")]))),
            Some("correct_answer")
        );
        assert_eq!(
            field_of(validate_question_bank(&bank(Vec::new()))),
            Some("questions")
        );
        assert_eq!(
            field_of(validate_question_bank(&bank(vec![
                choice("a"),
                choice("b")
            ]))),
            Some("question_id")
        );
        let mut essay = choice("a");
        essay.question_type = QuestionType::Essay;
        assert_eq!(
            field_of(validate_question_bank(&bank(vec![essay]))),
            Some("choices")
        );
        let mut heavy = choice("a");
        heavy.points = MAX_QUESTION_POINTS + 1;
        assert_eq!(
            field_of(validate_question_bank(&bank(vec![heavy]))),
            Some("points")
        );
        let mut strict = bank(vec![choice("a")]);
        strict.passing_score = 101;
        assert_eq!(
            field_of(validate_question_bank(&strict)),
            Some("passing_score")
        );
    }
}
