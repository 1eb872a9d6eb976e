//! Qualification tests: the `QualificationTest` node, the admins' question bank and evaluation
//! queue, and the tester's start → answer → submit steps. Correct answers, per-question
//! correctness and per-question points are shown to platform admins only: a tester sees their
//! answers, the total, whether it passed and the evaluator's feedback (a retake draws from the
//! same bank).

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;

use crate::error::ApiResult;
use crate::identity_api::types::User;
use crate::loaders::load_user;
use crate::marketplace_api::access::actor;
use crate::relay::{GlobalId, ListConnection, NodeType};
use crate::scalars::DateTime;
use crate::viewer::{viewer, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// How a question is answered and graded.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::QuestionType")]
pub enum QualificationQuestionType {
    /// One of its choices; graded automatically when the test is submitted.
    MultipleChoice,
    /// An https URL to the work; an admin awards the points.
    Practical,
    /// Free text; an admin awards the points.
    Essay,
}

/// Why a test was taken.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::TestType")]
pub enum QualificationTestType {
    /// The first qualification.
    Initial,
    /// A skill assessment.
    SkillAssessment,
    /// Renewing (or regaining) a qualification.
    Recertification,
}

/// Where a test stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::TestStatus")]
pub enum QualificationTestStatus {
    /// Being answered.
    InProgress,
    /// Handed in; an admin evaluates its essays and practical work.
    Submitted,
    /// Evaluated (stored by older tools; an evaluation here ends in `PASSED` or `FAILED`).
    Evaluated,
    /// Total at or above the passing score: the tester is qualified until `expiresAt`.
    Passed,
    /// Below it: a retake is possible 7 days after the evaluation.
    Failed,
}

/// One question of a test.
pub struct QualificationQuestion {
    question: trust::TestQuestion,
    admin: bool,
}

/// One question of a test.
#[Object]
impl QualificationQuestion {
    /// Its id within the test.
    async fn question_id(&self) -> &str {
        &self.question.question_id
    }
    /// What is asked.
    async fn question_text(&self) -> &str {
        &self.question.question_text
    }
    /// How it is answered.
    async fn question_type(&self) -> QualificationQuestionType {
        self.question.question_type.into()
    }
    /// The choices of a multiple-choice question, in order.
    async fn choices(&self) -> &[String] {
        &self.question.choices
    }
    /// What it is worth.
    async fn points(&self) -> i32 {
        self.question.points
    }
    /// The tester's answer.
    async fn answer(&self) -> Option<&str> {
        self.question.tester_answer.as_deref()
    }
    /// The correct choice. Platform admins only (`null` for the tester).
    async fn correct_answer(&self) -> Option<&str> {
        self.question
            .correct_answer
            .as_deref()
            .filter(|_| self.admin)
    }
    /// The points it earned, once graded. Platform admins only.
    async fn points_awarded(&self) -> Option<i32> {
        self.question.points_awarded.filter(|_| self.admin)
    }
}

/// A test's practical task.
#[derive(SimpleObject)]
pub struct QualificationPracticalTask {
    /// What to do.
    pub task_description: String,
    /// Where the tester put the work.
    pub submission_url: Option<String>,
    /// The evaluator's notes.
    pub evaluation_notes: Option<String>,
    /// 0 to 100, once evaluated.
    pub score: Option<i32>,
}

impl From<trust::PracticalTask> for QualificationPracticalTask {
    fn from(task: trust::PracticalTask) -> Self {
        QualificationPracticalTask {
            task_description: task.task_description,
            submission_url: task.submission_url,
            evaluation_notes: task.evaluation_notes,
            score: task.score,
        }
    }
}

/// A tester's qualification test: questions drawn from the current bank version, answered,
/// submitted, graded (multiple choice at once, the rest by an admin) and passed or failed.
/// Visible to its tester and platform admins only.
pub struct QualificationTest(pub trust::QualificationTest);

impl QualificationTest {
    /// Whether the caller is a platform admin (as their record says now, not their token).
    async fn admin(ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(actor(ctx).await?.role == marketplace::ActorRole::Admin)
    }
}

/// A tester's qualification test: questions drawn from the current bank version, answered,
/// submitted, graded (multiple choice at once, the rest by an admin) and passed or failed.
/// Visible to its tester and platform admins only.
#[Object]
impl QualificationTest {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::QualificationTest, self.0.id)
    }
    /// Who takes it.
    async fn tester(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(load_user(ctx, self.0.tester_id).await?.map(User::new))
    }
    /// Why it was taken.
    async fn test_type(&self) -> QualificationTestType {
        self.0.test_type.into()
    }
    /// The bank version its questions came from.
    async fn test_version(&self) -> &str {
        &self.0.test_version
    }
    /// Where it stands.
    async fn status(&self) -> QualificationTestStatus {
        self.0.status.into()
    }
    /// Its questions, in order.
    async fn questions(&self, ctx: &Context<'_>) -> ApiResult<Vec<QualificationQuestion>> {
        let admin = Self::admin(ctx).await?;
        Ok(self
            .0
            .questions
            .iter()
            .cloned()
            .map(|question| QualificationQuestion { question, admin })
            .collect())
    }
    /// The practical task, when the version has one.
    async fn practical_task(&self) -> Option<QualificationPracticalTask> {
        self.0.practical_task.clone().map(Into::into)
    }
    /// The practical task's share of the total score, in percent.
    async fn practical_weight(&self) -> i32 {
        self.0.practical_weight
    }
    /// 0 to 100, once evaluated.
    async fn total_score(&self) -> Option<i32> {
        self.0.total_score
    }
    /// The total needed to pass.
    async fn passing_score(&self) -> i32 {
        self.0.passing_score
    }
    /// Whether it passed, once evaluated.
    async fn passed(&self) -> Option<bool> {
        self.0.passed
    }
    /// The evaluator's feedback.
    async fn feedback(&self) -> Option<&str> {
        self.0.feedback.as_deref()
    }
    /// The evaluator's suggestions.
    async fn areas_for_improvement(&self) -> &[String] {
        &self.0.areas_for_improvement
    }
    /// Started.
    async fn started_at(&self) -> DateTime {
        self.0.started_at.into()
    }
    /// Handed in.
    async fn submitted_at(&self) -> Option<DateTime> {
        self.0.submitted_at.map(Into::into)
    }
    /// Evaluated.
    async fn evaluated_at(&self) -> Option<DateTime> {
        self.0.evaluated_at.map(Into::into)
    }
    /// When the qualification a pass gave ends.
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.expires_at.map(Into::into)
    }
}

/// One question of the bank, correct answer included (admins only).
#[derive(SimpleObject)]
pub struct QualificationBankQuestion {
    /// Unique within the version.
    pub question_id: String,
    /// What is asked.
    pub question_text: String,
    /// How it is answered.
    pub question_type: QualificationQuestionType,
    /// The choices of a multiple-choice question.
    pub choices: Vec<String>,
    /// The correct choice of a multiple-choice question.
    pub correct_answer: Option<String>,
    /// What it is worth.
    pub points: i32,
}

/// One version of the question bank tests draw from (admins only); the newest is current.
#[derive(SimpleObject)]
pub struct QualificationBank {
    /// Its unique name.
    pub test_version: String,
    /// Its questions, in the order tests show them.
    pub questions: Vec<QualificationBankQuestion>,
    /// The practical task every test carries, if any.
    pub practical_task: Option<String>,
    /// The task's share of the total, in percent.
    pub practical_weight: i32,
    /// The total needed to pass.
    pub passing_score: i32,
    /// When it was published.
    pub created_at: DateTime,
}

impl From<trust::QuestionBank> for QualificationBank {
    fn from(bank: trust::QuestionBank) -> Self {
        QualificationBank {
            test_version: bank.test_version,
            questions: bank
                .questions
                .into_iter()
                .map(|question| QualificationBankQuestion {
                    question_id: question.question_id,
                    question_text: question.question_text,
                    question_type: question.question_type.into(),
                    choices: question.choices,
                    correct_answer: question.correct_answer,
                    points: question.points,
                })
                .collect(),
            practical_task: bank.practical_task,
            practical_weight: bank.practical_weight,
            passing_score: bank.passing_score,
            created_at: bank.created_at.into(),
        }
    }
}

/// A test its tester or an admin may see, or `NOT_FOUND`.
pub async fn visible_qualification_test(
    ctx: &Context<'_>,
    id: ObjectId,
) -> ApiResult<QualificationTest> {
    let actor = actor(ctx).await?;
    Ok(QualificationTest(
        services(ctx)
            .trust()
            .visible_qualification_test(&actor, id)
            .await?,
    ))
}

/// `User.qualificationTests`: the user's own tests, newest first; `null` for anyone else.
pub async fn user_qualification_tests(
    ctx: &Context<'_>,
    user: ObjectId,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<Option<ListConnection<QualificationTest>>> {
    if viewer(ctx).principal()?.user_id() != Some(user) {
        return Ok(None);
    }
    let actor = actor(ctx).await?;
    let tests = services(ctx).trust().my_qualification_tests(&actor).await?;
    Ok(Some(crate::relay::connection_from_list(
        &crate::relay::page_request(first, after, None, None),
        tests,
        QualificationTest,
    )?))
}

fn test_id(id: &ID, field: &str) -> ApiResult<ObjectId> {
    GlobalId::decode_as(id, NodeType::QualificationTest, field)
}

/// Qualification queries.
#[derive(Default)]
pub struct QualificationQuery;

/// Qualification queries.
#[Object]
impl QualificationQuery {
    /// One qualification test: its tester and platform admins; anyone else gets `NOT_FOUND`.
    #[graphql(guard = "SignedInUser")]
    async fn qualification_test(&self, ctx: &Context<'_>, id: ID) -> ApiResult<QualificationTest> {
        visible_qualification_test(ctx, test_id(&id, "id")?).await
    }

    /// The current question bank version, correct answers included (`null` before the first).
    /// Platform admins only.
    #[graphql(guard = "SignedInUser")]
    async fn qualification_bank(&self, ctx: &Context<'_>) -> ApiResult<Option<QualificationBank>> {
        let actor = actor(ctx).await?;
        Ok(services(ctx)
            .trust()
            .current_question_bank(&actor)
            .await?
            .map(Into::into))
    }

    /// Submitted tests waiting for an admin's evaluation, oldest first. Platform admins only.
    #[graphql(guard = "SignedInUser")]
    async fn qualification_tests_to_evaluate(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, validator(minimum = 0, maximum = 100))] first: i32,
        after: Option<String>,
    ) -> ApiResult<ListConnection<QualificationTest>> {
        let after_id = after
            .as_deref()
            .map(crate::relay::decode_id_cursor)
            .transpose()?;
        let actor = actor(ctx).await?;
        let page = services(ctx)
            .trust()
            .qualification_queue(&actor, after_id, first.unsigned_abs())
            .await?;
        Ok(crate::relay::keyset_connection(
            after.is_some(),
            page,
            |test| test.id,
            QualificationTest,
        ))
    }
}

/// One question of a new bank version.
#[derive(InputObject)]
pub struct QualificationQuestionInput {
    /// Unique within the version, 1 to 200 characters.
    pub question_id: String,
    /// 1 to 5,000 characters.
    pub question_text: String,
    /// How it is answered.
    pub question_type: QualificationQuestionType,
    /// Multiple choice: 2 to 10 distinct choices of 1 to 200 characters. Others: none.
    #[graphql(default)]
    pub choices: Vec<String>,
    /// Multiple choice: one of the choices. Others: none.
    pub correct_answer: Option<String>,
    /// 1 to 100.
    pub points: i32,
}

/// Input of `publishQualificationBank`.
#[derive(InputObject)]
pub struct PublishQualificationBankInput {
    /// A new, unique version name, 1 to 200 characters.
    pub test_version: String,
    /// 1 to 50 questions.
    pub questions: Vec<QualificationQuestionInput>,
    /// An optional practical task, 1 to 5,000 characters.
    pub practical_task: Option<String>,
    /// The practical task's share of the total, 0 to 100.
    #[graphql(default = 40)]
    pub practical_weight: i32,
    /// The total needed to pass, 0 to 100.
    #[graphql(default = 70)]
    pub passing_score: i32,
}

/// One answer.
#[derive(InputObject)]
pub struct QualificationAnswerInput {
    /// The question answered.
    pub question_id: String,
    /// Multiple choice: one of its choices; practical: an https URL; essay: 1 to 10,000
    /// characters.
    pub answer: String,
}

/// Input of `answerQualificationTest`.
#[derive(InputObject)]
pub struct AnswerQualificationTestInput {
    /// The caller's test in progress.
    pub test_id: ID,
    /// At most one answer per question; each replaces an earlier answer to that question.
    #[graphql(default)]
    pub answers: Vec<QualificationAnswerInput>,
    /// Where the practical task's work is (https).
    pub practical_submission_url: Option<String>,
}

/// Input of `submitQualificationTest`.
#[derive(InputObject)]
pub struct SubmitQualificationTestInput {
    /// The caller's test in progress.
    pub test_id: ID,
}

/// The points an admin awards one essay or practical question.
#[derive(InputObject)]
pub struct QuestionScoreInput {
    /// The question.
    pub question_id: String,
    /// 0 to the question's points.
    pub points: i32,
}

/// Input of `evaluateQualificationTest`.
#[derive(InputObject)]
pub struct EvaluateQualificationTestInput {
    /// A submitted test.
    pub test_id: ID,
    /// A score for every essay and practical question.
    #[graphql(default)]
    pub question_scores: Vec<QuestionScoreInput>,
    /// The practical task's score, 0 to 100 (required when the test has one).
    pub practical_score: Option<i32>,
    /// Notes on the practical task, at most 5,000 characters.
    pub evaluation_notes: Option<String>,
    /// Feedback for the tester, at most 5,000 characters.
    pub feedback: Option<String>,
    /// At most 10 suggestions of 1 to 200 characters.
    #[graphql(default)]
    pub areas_for_improvement: Vec<String>,
}

/// A test after a change.
#[derive(SimpleObject)]
pub struct QualificationTestPayload {
    /// The test.
    pub qualification_test: QualificationTest,
}

/// A published bank version.
#[derive(SimpleObject)]
pub struct QualificationBankPayload {
    /// The version.
    pub qualification_bank: QualificationBank,
}

/// Qualification mutations.
#[derive(Default)]
pub struct QualificationMutation;

/// Qualification mutations.
#[Object]
impl QualificationMutation {
    /// Platform admins publish a new question bank version; tests started from then on draw
    /// from it. A version name used before is `CONFLICT`.
    #[graphql(guard = "SignedInUser")]
    async fn publish_qualification_bank(
        &self,
        ctx: &Context<'_>,
        input: PublishQualificationBankInput,
    ) -> ApiResult<QualificationBankPayload> {
        let actor = actor(ctx).await?;
        let bank = trust::NewQuestionBank {
            test_version: input.test_version,
            questions: input
                .questions
                .into_iter()
                .map(|question| trust::BankQuestion {
                    question_id: question.question_id,
                    question_text: question.question_text,
                    question_type: question.question_type.into(),
                    choices: question.choices,
                    correct_answer: question.correct_answer,
                    points: question.points,
                })
                .collect(),
            practical_task: input.practical_task,
            practical_weight: input.practical_weight,
            passing_score: input.passing_score,
        };
        let stored = services(ctx)
            .trust()
            .publish_question_bank(&actor, bank)
            .await?;
        Ok(QualificationBankPayload {
            qualification_bank: stored.into(),
        })
    }

    /// A tester starts a test on the current bank version: the first one, a retake 7 days
    /// after a failed one, or a recertification in the 60 days before their qualification ends
    /// (`CONFLICT` otherwise, saying from when). One open test at a time.
    #[graphql(guard = "SignedInUser")]
    async fn start_qualification_test(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<QualificationTestPayload> {
        let actor = actor(ctx).await?;
        let test = services(ctx)
            .trust()
            .start_qualification_test(&actor)
            .await?;
        Ok(QualificationTestPayload {
            qualification_test: QualificationTest(test),
        })
    }

    /// The tester records answers (and the practical task's URL) while the test is in progress.
    #[graphql(guard = "SignedInUser")]
    async fn answer_qualification_test(
        &self,
        ctx: &Context<'_>,
        input: AnswerQualificationTestInput,
    ) -> ApiResult<QualificationTestPayload> {
        let id = test_id(&input.test_id, "testId")?;
        let actor = actor(ctx).await?;
        let test = services(ctx)
            .trust()
            .answer_qualification_test(
                &actor,
                id,
                input
                    .answers
                    .into_iter()
                    .map(|answer| (answer.question_id, answer.answer))
                    .collect(),
                input.practical_submission_url,
            )
            .await?;
        Ok(QualificationTestPayload {
            qualification_test: QualificationTest(test),
        })
    }

    /// The tester hands the test in. Multiple choice is graded at once; a test with nothing
    /// else is evaluated at once (`PASSED` or `FAILED`), otherwise it is `SUBMITTED` until an
    /// admin evaluates it.
    #[graphql(guard = "SignedInUser")]
    async fn submit_qualification_test(
        &self,
        ctx: &Context<'_>,
        input: SubmitQualificationTestInput,
    ) -> ApiResult<QualificationTestPayload> {
        let id = test_id(&input.test_id, "testId")?;
        let actor = actor(ctx).await?;
        let test = services(ctx)
            .trust()
            .submit_qualification_test(&actor, id)
            .await?;
        Ok(QualificationTestPayload {
            qualification_test: QualificationTest(test),
        })
    }

    /// Platform admins score a submitted test's essays, practical questions and practical
    /// task; the test passes or fails and sets the tester's qualification (a pass: qualified
    /// for a year, extended from the current end when recertifying).
    #[graphql(guard = "SignedInUser")]
    async fn evaluate_qualification_test(
        &self,
        ctx: &Context<'_>,
        input: EvaluateQualificationTestInput,
    ) -> ApiResult<QualificationTestPayload> {
        let id = test_id(&input.test_id, "testId")?;
        let actor = actor(ctx).await?;
        let test = services(ctx)
            .trust()
            .evaluate_qualification_test(
                &actor,
                id,
                trust::Evaluation {
                    question_scores: input
                        .question_scores
                        .into_iter()
                        .map(|score| (score.question_id, score.points))
                        .collect(),
                    practical_score: input.practical_score,
                    evaluation_notes: input.evaluation_notes,
                    feedback: input.feedback,
                    areas_for_improvement: input.areas_for_improvement,
                },
            )
            .await?;
        Ok(QualificationTestPayload {
            qualification_test: QualificationTest(test),
        })
    }
}
