//! The marketplace over HTTP: the whole happy path from a template to an approved submission,
//! invalid transitions that must change nothing, fifty testers racing for three seats, and what
//! nested reads may show.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};

const CREATE_PROJECT: &str = "mutation($input: CreateProjectInput!) {
    createProject(input: $input) { project { id name status hasCredentials } } }";
const CREATE_FROM_TEMPLATE: &str = "mutation($input: CreateJobFromTemplateInput!) {
    createJobFromTemplate(input: $input) { job { id status userJourney { scenario aiGenerated
      steps { stepNumber action expectedResult } template { id name } } } } }";
const CREATE_JOB: &str = "mutation($input: CreateJobInput!) {
    createJob(input: $input) { job { id status } } }";
pub const PUBLISH: &str = "mutation($input: JobMoneyInput!) {
    publishJob(input: $input) { job { id status publishedAt } funding { escrowStatus note } } }";
const CLAIM: &str = "mutation($input: JobIdInput!) {
    claimJob(input: $input) { job { id seatsTaken seatsRemaining } } }";
const START: &str = "mutation($input: JobIdInput!) {
    startAssignment(input: $input) { job { assignments { status } } } }";
const CREATE_SUBMISSION: &str = "mutation($input: CreateSubmissionInput!) {
    createSubmission(input: $input) { submission { id status } } }";
const SAVE_SUBMISSION: &str = "mutation($input: SaveSubmissionInput!) {
    saveSubmission(input: $input) { submission { id status bugs { title } } } }";
const SUBMIT: &str = "mutation($input: SubmissionIdInput!) {
    submitSubmission(input: $input) { submission { id status submittedAt } } }";
const COUNTERS: &str = "query($id: ID!) { job(id: $id) {
    status submissionCount approvedSubmissionCount bugsFound seatsTaken } }";

/// A deadline `days` from now, as the `DateTime` scalar spells it (deadlines may be at most a
/// year ahead).
pub fn deadline_in_days(days: i64) -> String {
    bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + days * 86_400_000)
        .try_to_rfc3339_string()
        .expect("a representable date")
}

/// A job's details input for `createJob` / `createJobFromTemplate`.
pub fn details(project_id: &str, seats: i32, cents: i64) -> Value {
    json!({
        "projectId": project_id,
        "title": "Checkout on an iPhone",
        "description": "Buy something and tell us what broke.",
        "requiredDevices": ["iPhone 14 Pro"],
        "requiredBrowsers": ["Safari"],
        "requiredOs": ["iOS"],
        "maxTesters": seats,
        "budgetPerTesterCents": cents,
        "deadline": deadline_in_days(60),
    })
}

/// A two-step journey.
pub fn journey() -> Value {
    json!({ "scenario": "Buy a kettle", "steps": [
        { "action": "Search for a kettle", "expectedResult": "Kettles are listed" },
        { "action": "Buy it", "expectedResult": "The order is confirmed" },
    ]})
}

pub fn save_input(submission_id: &str, bugs: usize, summary: &str) -> Value {
    let bugs: Vec<Value> = (0..bugs)
        .map(|n| {
            json!({
                "title": format!("Bug {n}"), "severity": "HIGH",
                "description": "The pay button does nothing",
                "stepsToReproduce": ["Open the cart", "Tap pay"],
                "expectedBehavior": "Payment starts", "actualBehavior": "Nothing happens",
                "screenshots": ["https://cdn.example/shot.png"],
                "videoUrl": "https://cdn.example/video.mp4",
                "affectedDevices": ["iPhone 14 Pro"], "affectedBrowsers": ["Safari"],
            })
        })
        .collect();
    json!({ "input": {
        "submissionId": submission_id,
        "summary": summary,
        "testResults": [
            { "stepNumber": 1, "status": "PASSED", "notes": "fine" },
            { "stepNumber": 2, "status": "FAILED", "notes": "see bug" },
        ],
        "bugs": bugs,
        "environment": { "deviceUsed": "iPhone 14 Pro", "browserUsed": "Safari",
            "browserVersion": "17.2", "osUsed": "iOS", "osVersion": "17.2",
            "screenResolution": "1179x2556" },
        "timeSpentMinutes": 40,
    }})
}

async fn counters(gateway: &TestGateway, token: &str, job_id: &str) -> (String, i64, i64, i64) {
    let job = gateway
        .ok(Some(token), COUNTERS, json!({ "id": job_id }))
        .await["job"]
        .clone();
    (
        job["status"].as_str().unwrap_or_default().to_string(),
        job["submissionCount"].as_i64().unwrap_or(-1),
        job["approvedSubmissionCount"].as_i64().unwrap_or(-1),
        job["bugsFound"].as_i64().unwrap_or(-1),
    )
}

/// Creates a project for `token` and returns its ID.
pub async fn create_project(gateway: &TestGateway, token: &str, name: &str) -> String {
    gateway
        .ok(
            Some(token),
            CREATE_PROJECT,
            json!({ "input": { "name": name, "description": "A product under test",
                "credentials": { "username": "qa", "password": "s3cret-pass" } } }),
        )
        .await["createProject"]["project"]["id"]
        .as_str()
        .expect("project id")
        .to_string()
}

/// Creates and publishes a job in `project_id` and returns its ID.
pub async fn open_job(gateway: &TestGateway, token: &str, project_id: &str, seats: i32) -> String {
    let job_id = draft_job(gateway, token, project_id, seats).await;
    gateway
        .ok(
            Some(token),
            PUBLISH,
            json!({ "input": { "jobId": job_id } }),
        )
        .await;
    job_id
}

/// Creates a draft job with `seats` seats at 5,000 cents each in `project_id`; returns its ID.
pub async fn draft_job(gateway: &TestGateway, token: &str, project_id: &str, seats: i32) -> String {
    gateway
        .ok(
            Some(token),
            CREATE_JOB,
            json!({ "input": { "details": details(project_id, seats, 5_000), "journey": journey() } }),
        )
        .await["createJob"]["job"]["id"]
        .as_str()
        .expect("job id")
        .to_string()
}

/// Claims a seat on `job_id` as `token` and starts a draft submission; returns its ID.
pub async fn draft_submission(gateway: &TestGateway, token: &str, job_id: &str) -> String {
    gateway
        .ok(Some(token), CLAIM, json!({ "input": { "jobId": job_id } }))
        .await;
    gateway
        .ok(
            Some(token),
            CREATE_SUBMISSION,
            json!({ "input": { "jobId": job_id } }),
        )
        .await["createSubmission"]["submission"]["id"]
        .as_str()
        .expect("submission id")
        .to_string()
}

/// Claims, drafts, fills (one bug) and hands in a submission on `job_id`; returns its ID.
pub async fn hand_in(gateway: &TestGateway, token: &str, job_id: &str) -> String {
    let submission = draft_submission(gateway, token, job_id).await;
    submit_draft(gateway, token, &submission).await;
    submission
}

/// Fills in the draft `submission` (one step, one bug) and hands it in as `token`.
pub async fn submit_draft(gateway: &TestGateway, token: &str, submission: &str) {
    gateway
        .ok(
            Some(token),
            SAVE_SUBMISSION,
            save_input(submission, 1, "Paying fails"),
        )
        .await;
    gateway
        .ok(
            Some(token),
            SUBMIT,
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
}

#[tokio::test]
async fn a_job_goes_from_template_to_approved_submission_with_counters_right_at_every_step() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;

    let project = gateway
        .ok(
            Some(&john),
            CREATE_PROJECT,
            json!({ "input": { "name": "Kettle shop", "description": "Sells kettles",
                "url": "https://kettles.example", "targetDevices": ["iPhone 14 Pro"],
                "credentials": { "username": "qa@kettles.example", "password": "hunter22" } } }),
        )
        .await["createProject"]["project"]
        .clone();
    assert_eq!(project["status"], "ACTIVE");
    assert_eq!(project["hasCredentials"], true);
    let project_id = project["id"].as_str().expect("id").to_string();

    let templates = gateway
        .ok(
            Some(&john),
            "{ aiTestTemplates(category: E_COMMERCE) { totalCount edges { node { id name usageCount variables { name } } } } }",
            json!({}),
        )
        .await;
    let template = templates["aiTestTemplates"]["edges"][0]["node"].clone();
    assert_eq!(template["name"], "E-commerce checkout");
    let template_id = template["id"].as_str().expect("template id").to_string();
    let usage_before = template["usageCount"].as_i64().expect("usage");

    // A missing variable is refused, naming it, and creates nothing.
    let missing = gateway
        .graphql(
            Some(&john),
            CREATE_FROM_TEMPLATE,
            json!({ "input": { "templateId": template_id, "details": details(&project_id, 2, 4_000),
                "values": [{ "name": "product", "value": "a kettle" }] } }),
        )
        .await;
    assert_eq!(outcome(&missing), "BAD_USER_INPUT");
    assert!(missing["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("payment_method"));

    let job = gateway
        .ok(
            Some(&john),
            CREATE_FROM_TEMPLATE,
            json!({ "input": { "templateId": template_id, "details": details(&project_id, 2, 4_000),
                "values": [{ "name": "product", "value": "a kettle" },
                           { "name": "payment_method", "value": "Apple Pay" }] } }),
        )
        .await["createJobFromTemplate"]["job"]
        .clone();
    assert_eq!(job["status"], "DRAFT");
    assert_eq!(job["userJourney"]["template"]["id"], template_id.as_str());
    assert_eq!(
        job["userJourney"]["steps"][2]["action"],
        "Check out and pay with Apple Pay"
    );
    let job_id = job["id"].as_str().expect("job id").to_string();
    let usage_after = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { aiTestTemplate(id: $id) { usageCount } }",
            json!({ "id": template_id }),
        )
        .await["aiTestTemplate"]["usageCount"]
        .as_i64();
    assert_eq!(usage_after, Some(usage_before + 1));

    // A draft is invisible to testers.
    let hidden = gateway
        .graphql(Some(&sarah), COUNTERS, json!({ "id": job_id }))
        .await;
    assert_eq!(outcome(&hidden), "NOT_FOUND");

    let published = gateway
        .ok(
            Some(&john),
            PUBLISH,
            json!({ "input": { "jobId": job_id } }),
        )
        .await["publishJob"]
        .clone();
    assert_eq!(published["job"]["status"], "OPEN");
    assert!(published["funding"]["note"].as_str().is_some());
    assert_eq!(
        counters(&gateway, &john, &job_id).await,
        ("OPEN".into(), 0, 0, 0)
    );

    let available = gateway
        .ok(
            Some(&sarah),
            "{ availableJobs(first: 50) { totalCount edges { node { id budgetPerTesterCents } } } }",
            json!({}),
        )
        .await;
    let listed: Vec<&str> = available["availableJobs"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|edge| edge["node"]["id"].as_str())
        .collect();
    assert!(listed.contains(&job_id.as_str()), "{available}");

    let claimed = gateway
        .ok(Some(&sarah), CLAIM, json!({ "input": { "jobId": job_id } }))
        .await;
    assert_eq!(claimed["claimJob"]["job"]["seatsTaken"], 1);
    let started = gateway
        .ok(Some(&sarah), START, json!({ "input": { "jobId": job_id } }))
        .await;
    assert_eq!(
        started["startAssignment"]["job"]["assignments"][0]["status"],
        "IN_PROGRESS"
    );
    // Seated, the tester may read the project's credentials through the job.
    let credentials = gateway
        .ok(
            Some(&sarah),
            "query($id: ID!) { job(id: $id) { project { credentials { username password } } } }",
            json!({ "id": job_id }),
        )
        .await;
    assert_eq!(
        credentials["job"]["project"]["credentials"]["password"],
        "hunter22"
    );

    let submission_id = gateway
        .ok(
            Some(&sarah),
            CREATE_SUBMISSION,
            json!({ "input": { "jobId": job_id } }),
        )
        .await["createSubmission"]["submission"]["id"]
        .as_str()
        .expect("submission id")
        .to_string();
    gateway
        .ok(
            Some(&sarah),
            SAVE_SUBMISSION,
            save_input(&submission_id, 1, "Paying fails"),
        )
        .await;
    assert_eq!(
        counters(&gateway, &john, &job_id).await,
        ("OPEN".into(), 0, 0, 0)
    );
    let submitted = gateway
        .ok(
            Some(&sarah),
            SUBMIT,
            json!({ "input": { "submissionId": submission_id } }),
        )
        .await;
    assert_eq!(
        submitted["submitSubmission"]["submission"]["status"],
        "SUBMITTED"
    );
    assert_eq!(
        counters(&gateway, &john, &job_id).await,
        ("OPEN".into(), 1, 0, 1)
    );

    let revision = gateway
        .ok(
            Some(&john),
            "mutation($input: RequestSubmissionRevisionInput!) { requestSubmissionRevision(input: $input) { submission { status revisionNotes } } }",
            json!({ "input": { "submissionId": submission_id, "notes": "Add a video of step 2" } }),
        )
        .await;
    assert_eq!(
        revision["requestSubmissionRevision"]["submission"]["status"],
        "REVISION_REQUESTED"
    );
    assert_eq!(
        counters(&gateway, &john, &job_id).await,
        ("OPEN".into(), 1, 0, 1)
    );

    gateway
        .ok(
            Some(&sarah),
            SAVE_SUBMISSION,
            save_input(&submission_id, 2, "Paying fails, video attached"),
        )
        .await;
    gateway
        .ok(
            Some(&sarah),
            SUBMIT,
            json!({ "input": { "submissionId": submission_id } }),
        )
        .await;
    assert_eq!(
        counters(&gateway, &john, &job_id).await,
        ("OPEN".into(), 1, 0, 2)
    );

    let approved = gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status reviewedAt tester { fullName } } } }",
            json!({ "input": { "submissionId": submission_id } }),
        )
        .await;
    assert_eq!(
        approved["approveSubmission"]["submission"]["status"],
        "APPROVED"
    );
    assert_eq!(
        approved["approveSubmission"]["submission"]["tester"]["fullName"],
        "Sarah Johnson"
    );
    assert_eq!(
        counters(&gateway, &john, &job_id).await,
        ("OPEN".into(), 1, 1, 2)
    );

    // The stored job agrees with what the API said.
    let stored = gateway
        .database
        .collection::<bson::Document>("jobs")
        .find_one(bson::doc! { "title": "Checkout on an iPhone", "status": "open", "approved_submission_count": 1 })
        .await
        .expect("read")
        .expect("job stored");
    assert_eq!(stored.get_i32("bugs_found").ok(), Some(2));
    assert_eq!(stored.get_i32("submission_count").ok(), Some(1));
    gateway.stop().await;
}

async fn snapshot(gateway: &TestGateway, collection: &str, id_of: &str) -> bson::Document {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(id_of)
        .expect("base64 id");
    let text = String::from_utf8(decoded).expect("utf-8 id");
    let hex = text.split_once(':').expect("typed id").1;
    let object_id = bson::oid::ObjectId::parse_str(hex).expect("object id");
    gateway
        .database
        .collection::<bson::Document>(collection)
        .find_one(bson::doc! { "_id": object_id })
        .await
        .expect("read")
        .expect("document exists")
}

#[tokio::test]
async fn every_invalid_transition_is_a_conflict_and_changes_nothing() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let project_id = create_project(&gateway, &john, "Transitions").await;
    let draft_id = gateway
        .ok(
            Some(&john),
            CREATE_JOB,
            json!({ "input": { "details": details(&project_id, 1, 1_000), "journey": journey() } }),
        )
        .await["createJob"]["job"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let open_id = open_job(&gateway, &john, &project_id, 1).await;
    gateway
        .ok(
            Some(&sarah),
            CLAIM,
            json!({ "input": { "jobId": open_id } }),
        )
        .await;
    let submission_id = gateway
        .ok(
            Some(&sarah),
            CREATE_SUBMISSION,
            json!({ "input": { "jobId": open_id } }),
        )
        .await["createSubmission"]["submission"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    gateway
        .ok(
            Some(&sarah),
            SAVE_SUBMISSION,
            save_input(&submission_id, 1, "s"),
        )
        .await;
    let cancelled_id = open_job(&gateway, &john, &project_id, 2).await;
    gateway
        .ok(
            Some(&john),
            "mutation($input: JobMoneyInput!) { cancelJob(input: $input) { job { status } } }",
            json!({ "input": { "jobId": cancelled_id } }),
        )
        .await;

    let approve = "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { id } } }";
    let complete = "mutation($input: JobMoneyInput!) { completeJob(input: $input) { job { id } } }";
    let update_journey = "mutation($input: UpdateJobJourneyInput!) { updateJobJourney(input: $input) { job { id } } }";
    let cancel = "mutation($input: JobMoneyInput!) { cancelJob(input: $input) { job { id } } }";
    // (what, caller, query, variables, collection and id whose document must not change)
    let attempts: Vec<(&str, &str, &str, Value, &str, &str)> = vec![
        // Drafts are invisible to the client (NOT_FOUND, visibility_attacks); an admin sees the
        // draft and is refused the transition.
        (
            "approve a draft submission",
            &admin,
            approve,
            json!({ "input": { "submissionId": submission_id } }),
            "submissions",
            &submission_id,
        ),
        (
            "publish an open job",
            &john,
            PUBLISH,
            json!({ "input": { "jobId": open_id } }),
            "jobs",
            &open_id,
        ),
        (
            "complete an open job",
            &john,
            complete,
            json!({ "input": { "jobId": open_id } }),
            "jobs",
            &open_id,
        ),
        (
            "change a published job's journey",
            &john,
            update_journey,
            json!({ "input": { "jobId": open_id, "journey": journey() } }),
            "jobs",
            &open_id,
        ),
        (
            "claim a full job",
            &sarah,
            CLAIM,
            json!({ "input": { "jobId": open_id } }),
            "jobs",
            &open_id,
        ),
        (
            "claim a cancelled job",
            &sarah,
            CLAIM,
            json!({ "input": { "jobId": cancelled_id } }),
            "jobs",
            &cancelled_id,
        ),
        (
            "claim a draft job",
            &sarah,
            CLAIM,
            json!({ "input": { "jobId": draft_id } }),
            "jobs",
            &draft_id,
        ),
        (
            "cancel a cancelled job",
            &john,
            cancel,
            json!({ "input": { "jobId": cancelled_id } }),
            "jobs",
            &cancelled_id,
        ),
        (
            "start testing a draft",
            &john,
            "mutation($input: JobIdInput!) { startJobTesting(input: $input) { job { id } } }",
            json!({ "input": { "jobId": draft_id } }),
            "jobs",
            &draft_id,
        ),
        (
            "second submission for one seat",
            &sarah,
            CREATE_SUBMISSION,
            json!({ "input": { "jobId": open_id } }),
            "jobs",
            &open_id,
        ),
    ];
    for (what, caller, query, variables, collection, id) in attempts {
        let before = snapshot(&gateway, collection, id).await;
        let body = gateway.graphql(Some(caller), query, variables).await;
        assert_eq!(outcome(&body), "CONFLICT", "{what}: {body}");
        assert_eq!(
            snapshot(&gateway, collection, id).await,
            before,
            "{what} changed state"
        );
    }

    // Submitting twice: the second is a conflict and the first stands.
    gateway
        .ok(
            Some(&sarah),
            SUBMIT,
            json!({ "input": { "submissionId": submission_id } }),
        )
        .await;
    let before = snapshot(&gateway, "submissions", &submission_id).await;
    let twice = gateway
        .graphql(
            Some(&sarah),
            SUBMIT,
            json!({ "input": { "submissionId": submission_id } }),
        )
        .await;
    assert_eq!(outcome(&twice), "CONFLICT", "{twice}");
    assert_eq!(
        snapshot(&gateway, "submissions", &submission_id).await,
        before
    );
    gateway.stop().await;
}

pub async fn register_tester(gateway: &TestGateway, admin: &str, n: usize) -> String {
    let email = format!("racer{n}@testers.dev");
    let token = gateway.register(&email, "TESTER").await;
    let id = gateway.ok(Some(&token), "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    gateway
        .ok(
            Some(admin),
            "mutation($input: SetTesterQualificationInput!) { setTesterQualification(input: $input) { user { id } } }",
            json!({ "input": { "userId": id, "status": "QUALIFIED", "score": 80.0 } }),
        )
        .await;
    gateway
        .ok(
            Some(&token),
            "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id } } }",
            json!({ "input": { "testerData": { "devices": ["iPhone 14 Pro"], "browsers": ["Safari"], "experienceLevel": "INTERMEDIATE" } } }),
        )
        .await;
    token
}

#[tokio::test]
async fn fifty_concurrent_claims_on_three_seats_let_exactly_three_in() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let project_id = create_project(&gateway, &john, "Race").await;
    let job_id = open_job(&gateway, &john, &project_id, 3).await;
    let mut testers = Vec::new();
    for n in 0..50 {
        testers.push(register_tester(&gateway, &admin, n).await);
    }
    let claims = testers
        .iter()
        .map(|token| gateway.graphql(Some(token), CLAIM, json!({ "input": { "jobId": job_id } })));
    let outcomes: Vec<String> = join_all(claims).await.iter().map(outcome).collect();
    let won = outcomes.iter().filter(|code| *code == "OK").count();
    let refused = outcomes.iter().filter(|code| *code == "CONFLICT").count();
    assert_eq!((won, refused), (3, 47), "{outcomes:?}");
    let stored = snapshot(&gateway, "jobs", &job_id).await;
    let seats = stored.get_array("assigned_testers").expect("seats");
    assert_eq!(seats.len(), 3);
    let mut seated: Vec<String> = seats
        .iter()
        .filter_map(|seat| seat.as_document())
        .map(|seat| seat.get_object_id("tester_id").expect("tester").to_hex())
        .collect();
    seated.sort();
    seated.dedup();
    assert_eq!(seated.len(), 3, "no tester holds two seats");

    // Withdrawing frees a seat for someone else.
    let winner = testers
        .iter()
        .zip(&outcomes)
        .find(|(_, code)| *code == "OK")
        .map(|(token, _)| token.clone())
        .expect("a winner");
    let loser = testers
        .iter()
        .zip(&outcomes)
        .find(|(_, code)| *code == "CONFLICT")
        .map(|(token, _)| token.clone())
        .expect("a loser");
    gateway
        .ok(
            Some(&winner),
            "mutation($input: JobIdInput!) { withdrawFromJob(input: $input) { job { seatsTaken } } }",
            json!({ "input": { "jobId": job_id } }),
        )
        .await;
    let second_chance = gateway
        .ok(Some(&loser), CLAIM, json!({ "input": { "jobId": job_id } }))
        .await;
    assert_eq!(second_chance["claimJob"]["job"]["seatsTaken"], 3);
    gateway.stop().await;
}

#[tokio::test]
async fn nested_reads_show_each_caller_only_what_they_may_see() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let project_id = create_project(&gateway, &john, "Visibility").await;
    let job_id = open_job(&gateway, &john, &project_id, 3).await;
    let racer = register_tester(&gateway, &admin, 900).await;
    for token in [&sarah, &racer] {
        hand_in(&gateway, token, &job_id).await;
    }
    let query = "query($id: ID!) { job(id: $id) {
        submissions { totalCount edges { node { tester { fullName } } } }
        assignments { status } } }";
    let seen = |body: &Value| {
        (
            body["job"]["submissions"]["totalCount"].as_i64(),
            body["job"]["assignments"].as_array().map(Vec::len),
        )
    };
    let as_client = gateway
        .ok(Some(&john), query, json!({ "id": job_id }))
        .await;
    assert_eq!(seen(&as_client), (Some(2), Some(2)));
    let as_sarah = gateway
        .ok(Some(&sarah), query, json!({ "id": job_id }))
        .await;
    assert_eq!(seen(&as_sarah), (Some(1), Some(1)), "{as_sarah}");
    assert_eq!(
        as_sarah["job"]["submissions"]["edges"][0]["node"]["tester"]["fullName"],
        "Sarah Johnson"
    );
    // The client's other data stays out of reach through the tester's path.
    let through_tester = gateway
        .graphql(
            Some(&racer),
            "query($id: ID!) { job(id: $id) { totalBudgetCents project { id } } }",
            json!({ "id": job_id }),
        )
        .await;
    assert_eq!(outcome(&through_tester), "FORBIDDEN", "{through_tester}");
    gateway.stop().await;
}
