//! Qualification tests over HTTP: an admin's question bank, a tester who fails, waits out the
//! cooldown, retakes, passes and claims, then loses new claims (not their seat) when the
//! qualification expires; one open test per tester however many starts race; bad input named
//! and harmless; and no answer a tester receives ever says which choice is correct.

use std::sync::Arc;
use std::time::Duration;

use foundation::{Clock, ManualClock};
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::harness::{check_table, outcome, row, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, details, journey, open_job, PUBLISH};

const PUBLISH_BANK: &str = "mutation($input: PublishQualificationBankInput!) {
    publishQualificationBank(input: $input) { qualificationBank { testVersion passingScore
      questions { questionId correctAnswer } } } }";
const TEST_FIELDS: &str = "id status testType testVersion totalScore passingScore passed
    feedback expiresAt questions { questionId questionType choices points answer
      correctAnswer pointsAwarded } practicalTask { taskDescription submissionUrl score }";
const BANK: &str = "{ qualificationBank { testVersion questions { questionId correctAnswer } } }";
const QUEUE: &str =
    "{ qualificationTestsToEvaluate(first: 5) { totalCount edges { node { id } } } }";
const MY_TESTS: &str = "{ me { qualificationTests { totalCount edges { node { id status } } } } }";
const TEST_BY_ID: &str = "query($id: ID!) { qualificationTest(id: $id) { id } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";
const CLAIM: &str = "mutation($input: JobIdInput!) { claimJob(input: $input) { job { id } } }";

/// The wrong choices, and the right ones, of the bank [`bank`] publishes.
const RIGHT: [&str; 2] = ["Gamma is right", "Two is right"];
const WRONG: [&str; 2] = ["Alpha is wrong", "One is wrong"];

fn start_mutation() -> String {
    format!("mutation {{ startQualificationTest {{ qualificationTest {{ {TEST_FIELDS} }} }} }}")
}

fn answer_mutation() -> String {
    format!(
        "mutation($input: AnswerQualificationTestInput!) {{ answerQualificationTest(input: $input) \
         {{ qualificationTest {{ {TEST_FIELDS} }} }} }}"
    )
}

fn submit_mutation() -> String {
    format!(
        "mutation($input: SubmitQualificationTestInput!) {{ submitQualificationTest(input: $input) \
         {{ qualificationTest {{ {TEST_FIELDS} }} }} }}"
    )
}

fn evaluate_mutation() -> String {
    format!(
        "mutation($input: EvaluateQualificationTestInput!) {{ evaluateQualificationTest(input: \
         $input) {{ qualificationTest {{ {TEST_FIELDS} }} }} }}"
    )
}

/// Two multiple-choice questions of 10 points, an essay of 20 and a practical task weighing 40 %.
fn bank(version: &str) -> Value {
    json!({ "input": {
        "testVersion": version,
        "questions": [
            { "questionId": "q1", "questionText": "Which one?", "questionType": "MULTIPLE_CHOICE",
              "choices": [WRONG[0], "Beta is wrong", RIGHT[0]], "correctAnswer": RIGHT[0],
              "points": 10 },
            { "questionId": "q2", "questionText": "And here?", "questionType": "MULTIPLE_CHOICE",
              "choices": [WRONG[1], RIGHT[1]], "correctAnswer": RIGHT[1], "points": 10 },
            { "questionId": "q3", "questionText": "How would you test a login?",
              "questionType": "ESSAY", "points": 20 },
        ],
        "practicalTask": "Test the sample shop and report what you find.",
        "practicalWeight": 40,
        "passingScore": 70,
    } })
}

/// Fails when `body` tells a tester which choice is right: a non-null `correctAnswer` or
/// `pointsAwarded` anywhere, or a right choice quoted in an error.
fn assert_no_answer_key(body: &Value) {
    fn walk(value: &Value, path: &str) {
        match value {
            Value::Object(fields) => {
                for (key, inner) in fields {
                    if key == "correctAnswer" || key == "pointsAwarded" {
                        assert!(
                            inner.is_null(),
                            "{path}.{key} is shown to a tester: {inner}"
                        );
                    }
                    walk(inner, &format!("{path}.{key}"));
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, path)),
            _ => {}
        }
    }
    walk(body, "");
    let errors = body.get("errors").map(Value::to_string).unwrap_or_default();
    for choice in RIGHT.iter().chain(WRONG.iter()) {
        assert!(
            !errors.contains(choice),
            "an error quotes a choice: {errors}"
        );
    }
}

/// `query` as the tester `token`, checked for answer keys; returns the whole body.
async fn as_tester(gateway: &TestGateway, token: &str, query: &str, variables: Value) -> Value {
    let body = gateway.graphql(Some(token), query, variables).await;
    assert_no_answer_key(&body);
    body
}

fn test_of(body: &Value, field: &str) -> Value {
    assert!(body.get("errors").is_none(), "{body}");
    body["data"][field]["qualificationTest"].clone()
}

async fn qualification_of(gateway: &TestGateway, token: &str) -> Value {
    gateway
        .ok(
            Some(token),
            "{ me { testerData { qualificationStatus qualificationScore qualificationExpiresAt } } }",
            json!({}),
        )
        .await["me"]["testerData"]
        .clone()
}

/// A deadline `days` after the gateway clock's now.
fn deadline_after(clock: &ManualClock, days: i64) -> String {
    bson::DateTime::from_millis(clock.now().timestamp_millis() + days * 86_400_000)
        .try_to_rfc3339_string()
        .expect("a representable date")
}

/// Takes a test as `tester`: starts, answers with `choices` and an essay, submits; returns the
/// submitted test's id.
async fn take_test(gateway: &TestGateway, tester: &str, choices: [&str; 2]) -> String {
    let started = test_of(
        &as_tester(gateway, tester, &start_mutation(), json!({})).await,
        "startQualificationTest",
    );
    assert_eq!(started["status"], "IN_PROGRESS", "{started}");
    let id = started["id"].as_str().expect("id").to_string();
    let answered = test_of(
        &as_tester(
            gateway,
            tester,
            &answer_mutation(),
            json!({ "input": { "testId": id, "answers": [
                { "questionId": "q1", "answer": choices[0] },
                { "questionId": "q2", "answer": choices[1] },
                { "questionId": "q3", "answer": "Valid and invalid passwords, lockout, reset." },
            ], "practicalSubmissionUrl": "https://work.example.com/report.pdf" } }),
        )
        .await,
        "answerQualificationTest",
    );
    assert_eq!(answered["questions"][0]["answer"], choices[0]);
    let submitted = test_of(
        &as_tester(
            gateway,
            tester,
            &submit_mutation(),
            json!({ "input": { "testId": id } }),
        )
        .await,
        "submitQualificationTest",
    );
    assert_eq!(submitted["status"], "SUBMITTED", "{submitted}");
    assert!(submitted["totalScore"].is_null());
    id
}

async fn evaluate(
    gateway: &TestGateway,
    admin: &str,
    id: &str,
    essay: i32,
    practical: i32,
) -> Value {
    test_of(
        &gateway
            .graphql(
                Some(admin),
                &evaluate_mutation(),
                json!({ "input": { "testId": id,
                    "questionScores": [{ "questionId": "q3", "points": essay }],
                    "practicalScore": practical, "evaluationNotes": "Read it.",
                    "feedback": "See the notes.", "areasForImprovement": ["Severity"] } }),
            )
            .await,
        "evaluateQualificationTest",
    )
}

async fn set_pending(gateway: &TestGateway, admin: &str, tester: &str) {
    let id = gateway.ok(Some(tester), "{ me { id } }", json!({})).await["me"]["id"].clone();
    gateway
        .ok(
            Some(admin),
            "mutation($input: SetTesterQualificationInput!) { setTesterQualification(input: $input) { user { id } } }",
            json!({ "input": { "userId": id, "status": "PENDING" } }),
        )
        .await;
}

#[tokio::test]
async fn a_tester_fails_waits_retakes_passes_claims_and_stops_claiming_when_it_expires() {
    let clock = Arc::new(ManualClock::new(bson::DateTime::now()));
    let gateway = TestGateway::start_with_clock(clock.clone(), |_| {}).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let published = gateway.ok(Some(&admin), PUBLISH_BANK, bank("e2e-1")).await;
    assert_eq!(
        published["publishQualificationBank"]["qualificationBank"]["questions"][0]["correctAnswer"],
        RIGHT[0]
    );
    set_pending(&gateway, &admin, &sarah).await;
    let project = create_project(&gateway, &john, "Qualified work").await;
    let first_job = open_job(&gateway, &john, &project, 2).await;
    let refused = gateway
        .graphql(
            Some(&sarah),
            CLAIM,
            json!({ "input": { "jobId": first_job } }),
        )
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");

    // First attempt: both choices wrong, a weak essay and practical task. 5 of 40 points is
    // 12.5 %; 60 % of it plus 40 % of 50 is 27.5, rounded up to 28.
    let first = take_test(&gateway, &sarah, WRONG).await;
    let again = as_tester(&gateway, &sarah, &start_mutation(), json!({})).await;
    assert_eq!(outcome(&again), "CONFLICT", "one open test: {again}");
    let queue = gateway.ok(Some(&admin), QUEUE, json!({})).await;
    assert_eq!(
        queue["qualificationTestsToEvaluate"]["edges"][0]["node"]["id"],
        first
    );
    let failed = evaluate(&gateway, &admin, &first, 5, 50).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["totalScore"], 28);
    assert_eq!(
        failed["questions"][0]["correctAnswer"], RIGHT[0],
        "admins see the key"
    );
    assert_eq!(failed["questions"][0]["pointsAwarded"], 0);
    assert_eq!(
        qualification_of(&gateway, &sarah).await["qualificationStatus"],
        "REJECTED"
    );
    let seen = as_tester(
        &gateway,
        &sarah,
        &format!("query($id: ID!) {{ qualificationTest(id: $id) {{ {TEST_FIELDS} }} }}"),
        json!({ "id": first }),
    )
    .await;
    assert_eq!(seen["data"]["qualificationTest"]["totalScore"], 28);

    // The cooldown: a week after the evaluation, not a second sooner.
    clock.advance(Duration::from_secs(7 * 86_400 - 60));
    let early = as_tester(&gateway, &sarah, &start_mutation(), json!({})).await;
    assert_eq!(outcome(&early), "CONFLICT", "{early}");
    clock.advance(Duration::from_secs(61));

    // The retake: right choices, a good essay and task. 38 of 40 points is 95 %; 57 + 36 = 93.
    let second = take_test(&gateway, &sarah, RIGHT).await;
    let passed = evaluate(&gateway, &admin, &second, 18, 90).await;
    assert_eq!(passed["status"], "PASSED", "{passed}");
    assert_eq!(passed["totalScore"], 93);
    let year_later = bson::DateTime::from_millis(clock.now().timestamp_millis() + 365 * 86_400_000)
        .try_to_rfc3339_string()
        .expect("date");
    assert_eq!(passed["expiresAt"], year_later.as_str());
    let standing = qualification_of(&gateway, &sarah).await;
    assert_eq!(standing["qualificationStatus"], "QUALIFIED", "{standing}");
    assert_eq!(standing["qualificationScore"], 93.0);
    assert_eq!(standing["qualificationExpiresAt"], year_later.as_str());
    let mine = gateway.ok(Some(&sarah), MY_TESTS, json!({})).await;
    assert_eq!(mine["me"]["qualificationTests"]["totalCount"], 2);
    assert_eq!(
        mine["me"]["qualificationTests"]["edges"][0]["node"]["status"],
        "PASSED"
    );

    // Her data export has both attempts and her answers, not the answer key.
    let export = gateway
        .ok(Some(&sarah), "{ exportMyData { json } }", json!({}))
        .await["exportMyData"]["json"]
        .as_str()
        .expect("json")
        .to_string();
    let export: Value = serde_json::from_str(&export).expect("JSON");
    let attempts = export["qualification_tests"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{export}");
    assert_eq!(attempts[1]["questions"][0]["tester_answer"], RIGHT[0]);
    for key in ["correct_answer", "is_correct", "points_awarded"] {
        assert!(
            !export.to_string().contains(&format!("\"{key}\"")),
            "{key} in the export"
        );
    }
    gateway
        .ok(
            Some(&sarah),
            CLAIM,
            json!({ "input": { "jobId": first_job } }),
        )
        .await;
    // Qualified, with recertification not open yet: no new test.
    let not_yet = as_tester(&gateway, &sarah, &start_mutation(), json!({})).await;
    assert_eq!(outcome(&not_yet), "CONFLICT", "{not_yet}");

    // Ten months on, a job that stays open past the qualification's end.
    clock.advance(Duration::from_secs(300 * 86_400));
    let mut later_details = details(&project, 1, 5_000);
    later_details["deadline"] = json!(deadline_after(&clock, 200));
    let later_job = gateway
        .ok(
            Some(&john),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": later_details, "journey": journey() } }),
        )
        .await["createJob"]["job"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    gateway
        .ok(
            Some(&john),
            PUBLISH,
            json!({ "input": { "jobId": later_job } }),
        )
        .await;
    clock.advance(Duration::from_secs(66 * 86_400));
    let expired = gateway
        .graphql(
            Some(&sarah),
            CLAIM,
            json!({ "input": { "jobId": later_job } }),
        )
        .await;
    assert_eq!(outcome(&expired), "FORBIDDEN", "{expired}");
    let seats = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { job(id: $id) { assignments { tester { id } } } }",
            json!({ "id": first_job }),
        )
        .await;
    let sarah_id = gateway.ok(Some(&sarah), "{ me { id } }", json!({})).await["me"]["id"].clone();
    assert_eq!(
        seats["job"]["assignments"][0]["tester"]["id"], sarah_id,
        "the seat taken while qualified is kept: {seats}"
    );
    // Expired, she may recertify.
    let recertification = test_of(
        &as_tester(&gateway, &sarah, &start_mutation(), json!({})).await,
        "startQualificationTest",
    );
    assert_eq!(recertification["testType"], "RECERTIFICATION");
    gateway.stop().await;
}

#[tokio::test]
async fn a_test_of_multiple_choice_only_is_graded_at_submission_without_an_admin() {
    let gateway = TestGateway::start().await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let tester = gateway
        .register_verified("quiz.taker@example.com", "TESTER")
        .await;
    let mut only_choices = bank("e2e-choices");
    only_choices["input"]["questions"]
        .as_array_mut()
        .expect("questions")
        .truncate(2);
    only_choices["input"]
        .as_object_mut()
        .expect("input")
        .remove("practicalTask");
    gateway.ok(Some(&admin), PUBLISH_BANK, only_choices).await;
    let started = test_of(
        &as_tester(&gateway, &tester, &start_mutation(), json!({})).await,
        "startQualificationTest",
    );
    let id = started["id"].as_str().expect("id");
    as_tester(
        &gateway,
        &tester,
        &answer_mutation(),
        json!({ "input": { "testId": id, "answers": [
            { "questionId": "q1", "answer": RIGHT[0] },
            { "questionId": "q2", "answer": RIGHT[1] },
        ] } }),
    )
    .await;
    let graded = test_of(
        &as_tester(
            &gateway,
            &tester,
            &submit_mutation(),
            json!({ "input": { "testId": id } }),
        )
        .await,
        "submitQualificationTest",
    );
    assert_eq!(graded["status"], "PASSED", "{graded}");
    assert_eq!(graded["totalScore"], 100);
    assert_eq!(
        qualification_of(&gateway, &tester).await["qualificationStatus"],
        "QUALIFIED"
    );
    // Handed in, it takes no more answers.
    let late = as_tester(
        &gateway,
        &tester,
        &answer_mutation(),
        json!({ "input": { "testId": id, "answers": [{ "questionId": "q1", "answer": WRONG[0] }] } }),
    )
    .await;
    assert_eq!(outcome(&late), "CONFLICT", "{late}");
    gateway.stop().await;
}

#[tokio::test]
async fn ten_racing_starts_open_one_test() {
    let gateway = TestGateway::start().await;
    let tester = gateway
        .register_verified("racer@example.com", "TESTER")
        .await;
    let starts = join_all((0..10).map(|_| {
        gateway.graphql(
            Some(&tester),
            "mutation { startQualificationTest { qualificationTest { id } } }",
            json!({}),
        )
    }))
    .await;
    let outcomes: Vec<String> = starts.iter().map(outcome).collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "OK").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "CONFLICT").count(),
        9,
        "{outcomes:?}"
    );
    let mine = gateway.ok(Some(&tester), MY_TESTS, json!({})).await;
    assert_eq!(mine["me"]["qualificationTests"]["totalCount"], 1);
    gateway.stop().await;
}

#[tokio::test]
async fn bad_banks_answers_and_evaluations_name_the_field_and_change_nothing() {
    let gateway = TestGateway::start().await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let tester = gateway
        .register_verified("careless@example.com", "TESTER")
        .await;
    let current = gateway.ok(Some(&admin), BANK, json!({})).await;

    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut not_a_choice = bank("bad-1");
    not_a_choice["input"]["questions"][0]["correctAnswer"] = json!("Delta");
    cases.push((not_a_choice, "correctAnswer"));
    let mut no_questions = bank("bad-2");
    no_questions["input"]["questions"] = json!([]);
    cases.push((no_questions, "questions"));
    let mut too_many = bank("bad-3");
    let question = too_many["input"]["questions"][2].clone();
    too_many["input"]["questions"] = json!((0..51)
        .map(|n| {
            let mut q = question.clone();
            q["questionId"] = json!(format!("q{n}"));
            q
        })
        .collect::<Vec<_>>());
    cases.push((too_many, "questions"));
    let mut strict = bank("bad-4");
    strict["input"]["passingScore"] = json!(101);
    cases.push((strict, "passingScore"));
    let mut heavy = bank("bad-5");
    heavy["input"]["questions"][2]["points"] = json!(0);
    cases.push((heavy, "points"));
    let mut twice = bank("bad-6");
    twice["input"]["questions"][1]["questionId"] = json!("q1");
    cases.push((twice, "questionId"));
    for (input, field) in cases {
        let body = gateway.graphql(Some(&admin), PUBLISH_BANK, input).await;
        assert_eq!(outcome(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    assert_eq!(gateway.ok(Some(&admin), BANK, json!({})).await, current);
    gateway.ok(Some(&admin), PUBLISH_BANK, bank("good")).await;
    let reused = gateway
        .graphql(Some(&admin), PUBLISH_BANK, bank("good"))
        .await;
    assert_eq!(outcome(&reused), "CONFLICT", "{reused}");

    let started = test_of(
        &as_tester(&gateway, &tester, &start_mutation(), json!({})).await,
        "startQualificationTest",
    );
    let id = started["id"].as_str().expect("id").to_string();
    let answer = |answers: Value, url: Option<&str>| {
        let mut input = json!({ "input": { "testId": id, "answers": answers } });
        if let Some(url) = url {
            input["input"]["practicalSubmissionUrl"] = json!(url);
        }
        input
    };
    for (input, field) in [
        (
            answer(json!([{ "questionId": "q1", "answer": "Delta" }]), None),
            "answer",
        ),
        (
            answer(json!([{ "questionId": "q9", "answer": RIGHT[0] }]), None),
            "questionId",
        ),
        (
            answer(
                json!([{ "questionId": "q1", "answer": RIGHT[0] }, { "questionId": "q1", "answer": WRONG[0] }]),
                None,
            ),
            "questionId",
        ),
        (
            answer(
                json!([{ "questionId": "q3", "answer": "x".repeat(10_001) }]),
                None,
            ),
            "answer",
        ),
        (
            answer(json!([]), Some("http://plain.example.com/report")),
            "practicalSubmissionUrl",
        ),
    ] {
        let body = as_tester(&gateway, &tester, &answer_mutation(), input).await;
        assert_eq!(outcome(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let unchanged = as_tester(
        &gateway,
        &tester,
        &format!("query($id: ID!) {{ qualificationTest(id: $id) {{ {TEST_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await;
    let questions = unchanged["data"]["qualificationTest"]["questions"]
        .as_array()
        .expect("questions")
        .clone();
    assert!(
        questions.iter().all(|q| q["answer"].is_null()),
        "{unchanged}"
    );

    as_tester(
        &gateway,
        &tester,
        &submit_mutation(),
        json!({ "input": { "testId": id } }),
    )
    .await;
    for (scores, practical, field) in [
        (json!([]), json!(50), "questionScores"),
        (
            json!([{ "questionId": "q3", "points": 21 }]),
            json!(50),
            "points",
        ),
        (
            json!([{ "questionId": "q1", "points": 5 }, { "questionId": "q3", "points": 5 }]),
            json!(50),
            "questionId",
        ),
        (
            json!([{ "questionId": "q3", "points": 5 }]),
            Value::Null,
            "practicalScore",
        ),
        (
            json!([{ "questionId": "q3", "points": 5 }]),
            json!(101),
            "practicalScore",
        ),
    ] {
        let body = gateway
            .graphql(
                Some(&admin),
                &evaluate_mutation(),
                json!({ "input": { "testId": id, "questionScores": scores,
                    "practicalScore": practical } }),
            )
            .await;
        assert_eq!(outcome(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let still = gateway.ok(Some(&admin), QUEUE, json!({})).await;
    assert_eq!(still["qualificationTestsToEvaluate"]["totalCount"], 1);
    gateway.stop().await;
}

#[tokio::test]
async fn every_qualification_operation_for_every_kind_of_caller() {
    let gateway = TestGateway::start().await;
    let login = |email: &'static str| {
        let gateway = &gateway;
        async move { gateway.login(email, DEMO_PASSWORD).await.0 }
    };
    let john = login("john.doe@techcorp.com").await;
    let maria = login("maria.garcia@shoplane.io").await;
    let sarah = login("sarah.tester@gmail.com").await;
    let li = login("li.wei@testers.dev").await;
    let admin = login("admin@peertest.io").await;
    gateway.ok(Some(&admin), PUBLISH_BANK, bank("table")).await;
    let sarahs_test = test_of(
        &gateway
            .graphql(Some(&sarah), &start_mutation(), json!({}))
            .await,
        "startQualificationTest",
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let organization = gateway
        .ok(Some(&john), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .clone();
    let secret = gateway
        .ok(
            Some(&john),
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
            json!({ "input": { "organizationId": organization, "name": "t", "scope": "READ_WRITE" } }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let credentials: [Option<String>; 7] = [
        None,
        Some(john),
        Some(maria),
        Some(sarah),
        Some(li),
        Some(admin),
        Some(secret),
    ];
    const CALLERS: [&str; 7] = [
        "anonymous",
        "client",
        "another client",
        "the test's tester",
        "another tester",
        "platform admin",
        "API key",
    ];
    const OK: &str = "OK";
    const U: &str = "UNAUTHENTICATED";
    const FB: &str = "FORBIDDEN";
    const NF: &str = "NOT_FOUND";
    const C: &str = "CONFLICT";
    const NULL: &str = "NULL";
    let id = sarahs_test.clone();
    let by_id = move |_: usize| json!({ "id": id.clone() });
    let id = sarahs_test.clone();
    let submit_input = move |_: usize| json!({ "input": { "testId": id.clone() } });
    let id = sarahs_test.clone();
    let evaluate_input = move |_: usize| {
        json!({ "input": { "testId": id.clone(),
            "questionScores": [{ "questionId": "q3", "points": 1 }], "practicalScore": 1 } })
    };
    let id = sarahs_test.clone();
    let answer_input = move |_: usize| {
        json!({ "input": { "testId": id.clone(),
            "answers": [{ "questionId": "q1", "answer": RIGHT[0] }] } })
    };
    let rows = vec![
        row("qualificationBank", BANK, |_| json!({}), [U, FB, FB, FB, FB, OK, FB]),
        row(
            "publishQualificationBank",
            PUBLISH_BANK,
            |column| bank(&format!("table-{column}")),
            [U, FB, FB, FB, FB, OK, FB],
        ),
        row("qualificationTestsToEvaluate", QUEUE, |_| json!({}), [U, FB, FB, FB, FB, OK, FB]),
        row("qualificationTest(id)", TEST_BY_ID, by_id.clone(), [U, NF, NF, OK, NF, OK, FB]),
        row("node(id) on a QualificationTest", NODE, by_id, [U, NULL, NULL, OK, NULL, OK, NULL]),
        row("me.qualificationTests", MY_TESTS, |_| json!({}), [U, OK, OK, OK, OK, OK, FB]),
        row(
            "answerQualificationTest",
            "mutation($input: AnswerQualificationTestInput!) { answerQualificationTest(input: $input) { qualificationTest { id } } }",
            answer_input,
            [U, NF, NF, OK, NF, NF, FB],
        ),
        // Before it is submitted, nobody may evaluate it.
        row(
            "evaluateQualificationTest (in progress)",
            "mutation($input: EvaluateQualificationTestInput!) { evaluateQualificationTest(input: $input) { qualificationTest { id } } }",
            evaluate_input.clone(),
            [U, FB, FB, FB, FB, C, FB],
        ),
        row(
            "submitQualificationTest",
            "mutation($input: SubmitQualificationTestInput!) { submitQualificationTest(input: $input) { qualificationTest { id } } }",
            submit_input,
            [U, NF, NF, OK, NF, NF, FB],
        ),
        row(
            "evaluateQualificationTest",
            "mutation($input: EvaluateQualificationTestInput!) { evaluateQualificationTest(input: $input) { qualificationTest { id } } }",
            evaluate_input,
            [U, FB, FB, FB, FB, OK, FB],
        ),
        // Clients, admins and API keys take no tests; Li starts her own; Sarah, qualified by
        // the admin's override, may take one too and just failed hers: the cooldown runs.
        row(
            "startQualificationTest",
            "mutation { startQualificationTest { qualificationTest { id } } }",
            |_| json!({}),
            [U, FB, FB, C, OK, FB, FB],
        ),
    ];
    check_table(&gateway, CALLERS, &credentials, &rows).await;
    gateway.stop().await;
}
