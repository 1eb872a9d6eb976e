//! The account operations a person runs on their own account over HTTP: changing the password,
//! exporting everything held about them, and erasing the account (refused while money is still
//! owed to them).

use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD, STRONG_PASSWORD};
use crate::marketplace::{create_project, hand_in, open_job};
use crate::stripe::object_id;

const CHANGE_PASSWORD: &str =
    "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ok } }";
const ERASE: &str =
    "mutation($input: EraseMyAccountInput!) { eraseMyAccount(input: $input) { ok } }";
const EXPORT: &str = "{ exportMyData { json } }";
const REFRESH: &str = "mutation($input: RefreshInput!) { refresh(input: $input) { accessToken } }";
const ME: &str = "{ me { email fullName } }";

fn field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or("")
}

async fn login_outcome(gateway: &TestGateway, email: &str, password: &str) -> String {
    outcome(
        &gateway
            .graphql(
                None,
                crate::harness::LOGIN_DOCUMENT,
                json!({ "input": { "email": email, "password": password } }),
            )
            .await,
    )
}

async fn refresh_outcome(gateway: &TestGateway, refresh_token: &str) -> String {
    outcome(
        &gateway
            .graphql(
                None,
                REFRESH,
                json!({ "input": { "refreshToken": refresh_token } }),
            )
            .await,
    )
}

#[tokio::test]
async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing() {
    let gateway = TestGateway::start().await;
    let email = "changer@example.com";
    gateway.register_verified(email, "TESTER").await;
    let (access, _) = gateway.login(email, STRONG_PASSWORD).await;

    let wrong = gateway
        .graphql(
            Some(&access),
            CHANGE_PASSWORD,
            json!({ "input": { "currentPassword": "Not-The-Password-1", "newPassword": "Another-Good-Passw0rd" } }),
        )
        .await;
    assert_eq!(outcome(&wrong), "BAD_USER_INPUT", "{wrong}");
    assert_eq!(field(&wrong), "currentPassword", "{wrong}");

    for (weak, why) in [
        ("short1", "too short"),
        ("no digits at all here", "no digit"),
        ("changer@example.com", "the e-mail address"),
        (&*"a1".repeat(200), "over 256 characters"),
    ] {
        let refused = gateway
            .graphql(
                Some(&access),
                CHANGE_PASSWORD,
                json!({ "input": { "currentPassword": STRONG_PASSWORD, "newPassword": weak } }),
            )
            .await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{why}: {refused}");
        assert_eq!(field(&refused), "newPassword", "{why}: {refused}");
    }
    // The password is still the old one.
    assert_eq!(login_outcome(&gateway, email, STRONG_PASSWORD).await, "OK");
    gateway.stop().await;
}

#[tokio::test]
async fn changing_the_password_revokes_the_other_sessions_and_keeps_this_one() {
    let gateway = TestGateway::start().await;
    let email = "rotator@example.com";
    gateway.register_verified(email, "CLIENT").await;
    let (here, here_refresh) = gateway.login(email, STRONG_PASSWORD).await;
    let (elsewhere, elsewhere_refresh) = gateway.login(email, STRONG_PASSWORD).await;

    let changed = gateway
        .ok(
            Some(&here),
            CHANGE_PASSWORD,
            json!({ "input": { "currentPassword": STRONG_PASSWORD, "newPassword": "Fresh-Passphrase-42" } }),
        )
        .await;
    assert_eq!(changed["changePassword"], json!({ "ok": true }));

    assert_eq!(
        outcome(&gateway.graphql(Some(&here), ME, json!({})).await),
        "OK"
    );
    assert_eq!(
        outcome(&gateway.graphql(Some(&elsewhere), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        refresh_outcome(&gateway, &elsewhere_refresh).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(refresh_outcome(&gateway, &here_refresh).await, "OK");
    assert_eq!(
        login_outcome(&gateway, email, STRONG_PASSWORD).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        login_outcome(&gateway, email, "Fresh-Passphrase-42").await,
        "OK"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn guessing_the_current_password_with_a_stolen_token_is_rate_limited() {
    let gateway = TestGateway::start().await;
    let email = "guessed@example.com";
    gateway.register_verified(email, "TESTER").await;
    let (access, _) = gateway.login(email, STRONG_PASSWORD).await;
    let mut outcomes = Vec::new();
    for attempt in 0..8 {
        let body = gateway
            .graphql(
                Some(&access),
                CHANGE_PASSWORD,
                json!({ "input": { "currentPassword": format!("Guess-number-{attempt}"), "newPassword": "Taken-Over-Passw0rd" } }),
            )
            .await;
        outcomes.push(outcome(&body));
    }
    assert_eq!(outcomes[0], "BAD_USER_INPUT");
    assert_eq!(
        outcomes.last().map(String::as_str),
        Some("RATE_LIMITED"),
        "{outcomes:?}"
    );
    // Even the right password is refused while the budget is spent.
    let right = gateway
        .graphql(
            Some(&access),
            CHANGE_PASSWORD,
            json!({ "input": { "currentPassword": STRONG_PASSWORD, "newPassword": "Taken-Over-Passw0rd" } }),
        )
        .await;
    assert_eq!(outcome(&right), "RATE_LIMITED", "{right}");
    assert_eq!(login_outcome(&gateway, email, STRONG_PASSWORD).await, "OK");
    gateway.stop().await;
}

#[tokio::test]
async fn the_export_holds_the_persons_jobs_and_submissions_and_no_secret() {
    let gateway = TestGateway::start().await;
    let (john, john_refresh) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, sarah_refresh) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Export shop").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    let submission = hand_in(&gateway, &sarah, &job).await;

    let tester_export = gateway.ok(Some(&sarah), EXPORT, json!({})).await;
    let text = tester_export["exportMyData"]["json"]
        .as_str()
        .expect("json text");
    let parsed: Value = serde_json::from_str(text).expect("the export is JSON");
    assert_eq!(parsed["account"]["user"]["email"], "sarah.tester@gmail.com");
    let submissions = parsed["marketplace"]["submissions"]
        .as_array()
        .expect("submissions");
    assert!(
        submissions
            .iter()
            .any(|s| s["_id"]["$oid"] == object_id(&submission).to_hex()),
        "the export names the submission: {submissions:?}"
    );
    assert!(parsed["marketplace"]["jobs_as_tester"]
        .as_array()
        .expect("seats")
        .iter()
        .any(|id| id["$oid"] == object_id(&job).to_hex()));

    let client_export = gateway.ok(Some(&john), EXPORT, json!({})).await;
    let client_text = client_export["exportMyData"]["json"]
        .as_str()
        .expect("json text");
    let client: Value = serde_json::from_str(client_text).expect("the export is JSON");
    assert!(client["marketplace"]["jobs_as_client"]
        .as_array()
        .expect("jobs")
        .iter()
        .any(|j| j["_id"]["$oid"] == object_id(&job).to_hex()));
    assert!(client["escrow"]
        .as_array()
        .expect("escrow rows")
        .iter()
        .any(|e| e["job_id"]["$oid"] == object_id(&job).to_hex()));

    for (export, tokens) in [
        (text, [sarah.as_str(), sarah_refresh.as_str()]),
        (client_text, [john.as_str(), john_refresh.as_str()]),
    ] {
        for secret_marker in [
            "password_hash",
            "$argon2",
            "token_hash",
            "two_factor_secret",
            "sealed",
            "ciphertext",
        ] {
            assert!(
                !export.contains(secret_marker),
                "the export holds `{secret_marker}`"
            );
        }
        for token in tokens {
            assert!(!export.contains(token), "the export holds a live token");
        }
    }
    gateway.stop().await;
}

#[tokio::test]
async fn an_erasure_while_a_payout_is_held_is_refused_and_changes_nothing() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, sarah_refresh) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Held shop").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    let submission = hand_in(&gateway, &sarah, &job).await;

    // Handed in, not reviewed: it may still be paid.
    let awaiting = gateway
        .graphql(
            Some(&sarah),
            ERASE,
            json!({ "input": { "password": DEMO_PASSWORD } }),
        )
        .await;
    assert_eq!(outcome(&awaiting), "FAILED_PRECONDITION", "{awaiting}");
    let message = awaiting["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains(&object_id(&submission).to_hex()),
        "{message}"
    );

    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    let held = gateway
        .graphql(
            Some(&sarah),
            ERASE,
            json!({ "input": { "password": DEMO_PASSWORD } }),
        )
        .await;
    assert_eq!(outcome(&held), "FAILED_PRECONDITION", "{held}");
    let message = held["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("held"), "names the held payout: {message}");

    // The client, whose job is still open, is refused too.
    let running = gateway
        .graphql(
            Some(&john),
            ERASE,
            json!({ "input": { "password": DEMO_PASSWORD } }),
        )
        .await;
    assert_eq!(outcome(&running), "FAILED_PRECONDITION", "{running}");
    assert!(running["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains(&object_id(&job).to_hex()));

    // Nothing changed: same account, same sessions, same password.
    let me = gateway.ok(Some(&sarah), ME, json!({})).await;
    assert_eq!(me["me"]["email"], "sarah.tester@gmail.com");
    assert_eq!(me["me"]["fullName"], "Sarah Johnson");
    assert_eq!(refresh_outcome(&gateway, &sarah_refresh).await, "OK");
    assert_eq!(
        login_outcome(&gateway, "sarah.tester@gmail.com", DEMO_PASSWORD).await,
        "OK"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn after_erasure_the_old_password_and_refresh_token_no_longer_work() {
    let gateway = TestGateway::start().await;
    let email = "leaving@example.com";
    gateway.register_verified(email, "TESTER").await;
    let (access, refresh) = gateway.login(email, STRONG_PASSWORD).await;

    let wrong = gateway
        .graphql(
            Some(&access),
            ERASE,
            json!({ "input": { "password": "Not-The-Password-1" } }),
        )
        .await;
    assert_eq!(outcome(&wrong), "BAD_USER_INPUT", "{wrong}");
    assert_eq!(field(&wrong), "password");
    assert_eq!(
        outcome(&gateway.graphql(Some(&access), ME, json!({})).await),
        "OK"
    );

    let erased = gateway
        .ok(
            Some(&access),
            ERASE,
            json!({ "input": { "password": STRONG_PASSWORD } }),
        )
        .await;
    assert_eq!(erased["eraseMyAccount"]["ok"], true);

    assert_eq!(
        login_outcome(&gateway, email, STRONG_PASSWORD).await,
        "UNAUTHENTICATED"
    );
    assert_ne!(refresh_outcome(&gateway, &refresh).await, "OK");
    assert_ne!(
        outcome(&gateway.graphql(Some(&access), ME, json!({})).await),
        "OK"
    );
    let stored = gateway
        .database
        .collection::<bson::Document>("users")
        .find_one(bson::doc! { "email": email })
        .await
        .expect("read users");
    assert!(stored.is_none(), "the e-mail address is gone");
    gateway.stop().await;
}

const UPDATE_ORGANIZATION: &str = "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { name settings { requireApprovalForJobs allowExternalTesters } } } }";
const CREATE_JOB: &str =
    "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id status } } }";
const PUBLISH: &str =
    "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { status } } }";

/// John's organization with a plain member who has a saved card: (john, member, organization,
/// project in the organization).
async fn organization_with_a_member(gateway: &TestGateway) -> (String, String, String, String) {
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let organization = gateway
        .ok(Some(&john), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .as_str()
        .expect("John's organization")
        .to_string();
    let member = gateway
        .register_verified("plain.member@techcorp.com", "CLIENT")
        .await;
    gateway
        .join_organization(
            &john,
            &organization,
            &member,
            "plain.member@techcorp.com",
            "MEMBER",
        )
        .await;
    let (member, _) = gateway
        .login("plain.member@techcorp.com", STRONG_PASSWORD)
        .await;
    gateway.save_sandbox_card(&member).await;
    let project = create_project(gateway, &john, "Organization shop").await;
    (john, member, organization, project)
}

fn job_input(project: &str, visibility: &str) -> Value {
    let mut details = crate::marketplace::details(project, 1, 5_000);
    details["visibility"] = json!(visibility);
    json!({ "input": { "details": details, "journey": crate::marketplace::journey() } })
}

async fn draft(gateway: &TestGateway, token: &str, project: &str, visibility: &str) -> String {
    gateway
        .ok(Some(token), CREATE_JOB, job_input(project, visibility))
        .await["createJob"]["job"]["id"]
        .as_str()
        .expect("job id")
        .to_string()
}

#[tokio::test]
async fn a_plain_member_publishes_only_once_the_organization_stops_requiring_approval() {
    let gateway = TestGateway::start().await;
    let (john, member, organization, project) = organization_with_a_member(&gateway).await;
    let settings = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { organization(id: $id) { settings { requireApprovalForJobs allowExternalTesters } } }",
            json!({ "id": organization }),
        )
        .await;
    assert_eq!(
        settings["organization"]["settings"],
        json!({ "requireApprovalForJobs": true, "allowExternalTesters": true })
    );
    let job = draft(&gateway, &member, &project, "PUBLIC").await;
    let refused = gateway
        .graphql(Some(&member), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");

    // A plain member may not change the rule themselves.
    let self_service = gateway
        .graphql(
            Some(&member),
            UPDATE_ORGANIZATION,
            json!({ "input": { "organizationId": organization, "settings": { "requireApprovalForJobs": false } } }),
        )
        .await;
    assert_eq!(outcome(&self_service), "FORBIDDEN", "{self_service}");

    let updated = gateway
        .ok(
            Some(&john),
            UPDATE_ORGANIZATION,
            json!({ "input": { "organizationId": organization, "name": "TechCorp Labs", "settings": { "requireApprovalForJobs": false } } }),
        )
        .await;
    assert_eq!(
        updated["updateOrganization"]["organization"],
        json!({ "name": "TechCorp Labs", "settings": { "requireApprovalForJobs": false, "allowExternalTesters": true } })
    );
    let published = gateway
        .ok(Some(&member), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(published["publishJob"]["job"]["status"], "OPEN");
    gateway.stop().await;
}

#[tokio::test]
async fn an_organization_without_external_testers_cannot_create_or_publish_public_jobs() {
    let gateway = TestGateway::start().await;
    let (john, _member, organization, project) = organization_with_a_member(&gateway).await;
    let public_draft = draft(&gateway, &john, &project, "PUBLIC").await;
    gateway
        .ok(
            Some(&john),
            UPDATE_ORGANIZATION,
            json!({ "input": { "organizationId": organization, "settings": { "allowExternalTesters": false } } }),
        )
        .await;
    let jobs_before = gateway
        .database
        .collection::<bson::Document>("jobs")
        .count_documents(bson::doc! {})
        .await
        .expect("count jobs");
    let created = gateway
        .graphql(Some(&john), CREATE_JOB, job_input(&project, "PUBLIC"))
        .await;
    assert_eq!(outcome(&created), "BAD_USER_INPUT", "{created}");
    assert_eq!(field(&created), "visibility", "{created}");
    let jobs_after = gateway
        .database
        .collection::<bson::Document>("jobs")
        .count_documents(bson::doc! {})
        .await
        .expect("count jobs");
    assert_eq!(jobs_before, jobs_after, "nothing stored");

    // A public draft written before the change cannot be published now.
    let published = gateway
        .graphql(
            Some(&john),
            PUBLISH,
            json!({ "input": { "jobId": public_draft } }),
        )
        .await;
    assert_eq!(outcome(&published), "BAD_USER_INPUT", "{published}");
    assert_eq!(field(&published), "visibility");

    // Invited-only jobs still go through.
    let invited = draft(&gateway, &john, &project, "INVITED_ONLY").await;
    let open = gateway
        .ok(
            Some(&john),
            PUBLISH,
            json!({ "input": { "jobId": invited } }),
        )
        .await;
    assert_eq!(open["publishJob"]["job"]["status"], "OPEN");
    gateway.stop().await;
}

#[tokio::test]
async fn a_suspended_organization_creates_and_publishes_no_jobs_until_reactivated() {
    let gateway = TestGateway::start().await;
    let (john, member, organization, project) = organization_with_a_member(&gateway).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let waiting = draft(&gateway, &john, &project, "PUBLIC").await;

    let by_owner = gateway
        .graphql(
            Some(&john),
            "mutation($input: OrganizationIdInput!) { suspendOrganization(input: $input) { organization { status } } }",
            json!({ "input": { "organizationId": organization } }),
        )
        .await;
    assert_eq!(
        outcome(&by_owner),
        "FORBIDDEN",
        "owners cannot suspend: {by_owner}"
    );
    let suspended = gateway
        .ok(
            Some(&admin),
            "mutation($input: OrganizationIdInput!) { suspendOrganization(input: $input) { organization { status } } }",
            json!({ "input": { "organizationId": organization } }),
        )
        .await;
    assert_eq!(
        suspended["suspendOrganization"]["organization"]["status"],
        "SUSPENDED"
    );
    for token in [&john, &member] {
        let created = gateway
            .graphql(Some(token), CREATE_JOB, job_input(&project, "PUBLIC"))
            .await;
        assert_eq!(outcome(&created), "FORBIDDEN", "{created}");
    }
    let published = gateway
        .graphql(
            Some(&john),
            PUBLISH,
            json!({ "input": { "jobId": waiting } }),
        )
        .await;
    assert_eq!(outcome(&published), "FORBIDDEN", "{published}");

    let reactivated = gateway
        .ok(
            Some(&admin),
            "mutation($input: OrganizationIdInput!) { reactivateOrganization(input: $input) { organization { status } } }",
            json!({ "input": { "organizationId": organization } }),
        )
        .await;
    assert_eq!(
        reactivated["reactivateOrganization"]["organization"]["status"],
        "ACTIVE"
    );
    let open = gateway
        .ok(
            Some(&john),
            PUBLISH,
            json!({ "input": { "jobId": waiting } }),
        )
        .await;
    assert_eq!(open["publishJob"]["job"]["status"], "OPEN");
    gateway.stop().await;
}

#[tokio::test]
async fn an_organization_name_is_bounded_and_an_empty_change_is_refused() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let organization = gateway
        .ok(
            Some(&john),
            "{ me { organization { id name } } }",
            json!({}),
        )
        .await["me"]["organization"]
        .clone();
    let id = organization["id"].as_str().expect("id");
    for (input, expected_field) in [
        (json!({ "organizationId": id, "name": "   " }), "name"),
        (
            json!({ "organizationId": id, "name": "n".repeat(201) }),
            "name",
        ),
        (json!({ "organizationId": id }), "input"),
        (
            json!({ "organizationId": "not-an-id", "name": "x" }),
            "organizationId",
        ),
    ] {
        let refused = gateway
            .graphql(Some(&john), UPDATE_ORGANIZATION, json!({ "input": input }))
            .await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
        assert_eq!(field(&refused), expected_field, "{refused}");
    }
    let after = gateway
        .ok(Some(&john), "{ me { organization { name } } }", json!({}))
        .await;
    assert_eq!(after["me"]["organization"]["name"], organization["name"]);
    gateway.stop().await;
}

const START_REVIEW: &str = "mutation($input: SubmissionIdInput!) { startSubmissionReview(input: $input) { submission { status } } }";
const SUBMISSION_STATUS: &str =
    "query($id: ID!) { submission(id: $id) { status payout { status } } }";

#[tokio::test]
async fn the_client_takes_a_submission_into_review_and_decides_from_there() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Review shop").await;
    let job = crate::escrow::open_job_for_every_device(&gateway, &john, &project, 2).await;
    let approved_later = hand_in(&gateway, &sarah, &job).await;
    let revised_later = hand_in(&gateway, &li, &job).await;

    for (token, who) in [(&sarah, "the tester"), (&maria, "another client")] {
        let refused = gateway
            .graphql(
                Some(token),
                START_REVIEW,
                json!({ "input": { "submissionId": approved_later } }),
            )
            .await;
        assert_ne!(outcome(&refused), "OK", "{who}: {refused}");
    }
    let started = gateway
        .ok(
            Some(&john),
            START_REVIEW,
            json!({ "input": { "submissionId": approved_later } }),
        )
        .await;
    assert_eq!(
        started["startSubmissionReview"]["submission"]["status"],
        "UNDER_REVIEW"
    );
    // The tester sees it is being looked at.
    let seen = gateway
        .ok(
            Some(&sarah),
            SUBMISSION_STATUS,
            json!({ "id": approved_later }),
        )
        .await;
    assert_eq!(seen["submission"]["status"], "UNDER_REVIEW");
    let twice = gateway
        .graphql(
            Some(&john),
            START_REVIEW,
            json!({ "input": { "submissionId": approved_later } }),
        )
        .await;
    assert_eq!(outcome(&twice), "CONFLICT", "{twice}");

    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": approved_later } }),
        )
        .await;
    let paid = gateway
        .ok(
            Some(&sarah),
            SUBMISSION_STATUS,
            json!({ "id": approved_later }),
        )
        .await;
    assert_eq!(
        paid["submission"],
        json!({ "status": "APPROVED", "payout": { "status": "HELD" } })
    );
    let late = gateway
        .graphql(
            Some(&john),
            START_REVIEW,
            json!({ "input": { "submissionId": approved_later } }),
        )
        .await;
    assert_eq!(outcome(&late), "CONFLICT", "a decided submission: {late}");

    gateway
        .ok(
            Some(&john),
            START_REVIEW,
            json!({ "input": { "submissionId": revised_later } }),
        )
        .await;
    let revised = gateway
        .ok(
            Some(&john),
            "mutation($input: RequestSubmissionRevisionInput!) { requestSubmissionRevision(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": revised_later, "notes": "Add the device model" } }),
        )
        .await;
    assert_eq!(
        revised["requestSubmissionRevision"]["submission"]["status"],
        "REVISION_REQUESTED"
    );
    gateway.stop().await;
}

const UPDATE_DRAFT: &str = "mutation($input: UpdateDraftJobInput!) { updateDraftJob(input: $input) { job { title maxTesters budgetPerTester totalBudget estimatedDurationMinutes visibility } } }";
const DRAFT_DETAILS: &str = "query($id: ID!) { job(id: $id) { title maxTesters budgetPerTester totalBudget estimatedDurationMinutes visibility deadline } }";

#[tokio::test]
async fn a_draft_jobs_details_change_within_the_create_bounds_and_never_after_publishing() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Draft shop").await;
    let job = crate::marketplace::draft_job(&gateway, &john, &project, 1).await;

    let changed = gateway
        .ok(
            Some(&john),
            UPDATE_DRAFT,
            json!({ "input": { "jobId": job, "title": "Checkout on Android", "maxTesters": 3,
                "budgetPerTester": "2500", "estimatedDurationMinutes": 45, "visibility": "INVITED_ONLY",
                "deadline": crate::marketplace::deadline_in_days(20) } }),
        )
        .await;
    assert_eq!(
        changed["updateDraftJob"]["job"],
        json!({ "title": "Checkout on Android", "maxTesters": 3, "budgetPerTester": "2500",
            "totalBudget": "7500", "estimatedDurationMinutes": 45, "visibility": "INVITED_ONLY" })
    );
    let before = gateway
        .ok(Some(&john), DRAFT_DETAILS, json!({ "id": job }))
        .await;

    let far = crate::marketplace::deadline_in_days(400);
    for (change, expected) in [
        (json!({ "title": "" }), "title"),
        (json!({ "title": "t".repeat(201) }), "title"),
        (json!({ "description": "d".repeat(5_001) }), "description"),
        (
            json!({ "requiredBrowsers": vec!["Safari"; 51] }),
            "requiredBrowsers",
        ),
        (json!({ "maxTesters": 0 }), "maxTesters"),
        (json!({ "maxTesters": -1 }), "maxTesters"),
        (json!({ "maxTesters": i32::MAX }), "maxTesters"),
        (
            json!({ "budgetPerTester": "99999999999" }),
            "budgetPerTester",
        ),
        (
            json!({ "estimatedDurationMinutes": 0 }),
            "estimatedDurationMinutes",
        ),
        (
            json!({ "estimatedDurationMinutes": i32::MAX }),
            "estimatedDurationMinutes",
        ),
        (json!({ "deadline": "2001-01-01T00:00:00Z" }), "deadline"),
        (json!({ "deadline": far }), "deadline"),
        (json!({}), "input"),
    ] {
        let mut input = change.clone();
        input["jobId"] = json!(job);
        let refused = gateway
            .graphql(Some(&john), UPDATE_DRAFT, json!({ "input": input }))
            .await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{change}: {refused}");
        assert_eq!(field(&refused), expected, "{change}: {refused}");
    }
    for (token, who) in [(&maria, "another client"), (&sarah, "a tester")] {
        let refused = gateway
            .graphql(
                Some(token),
                UPDATE_DRAFT,
                json!({ "input": { "jobId": job, "title": "Mine now" } }),
            )
            .await;
        assert!(
            ["FORBIDDEN", "NOT_FOUND"].contains(&outcome(&refused).as_str()),
            "{who}: {refused}"
        );
    }
    let after = gateway
        .ok(Some(&john), DRAFT_DETAILS, json!({ "id": job }))
        .await;
    assert_eq!(before, after, "refused changes left the draft as it was");

    gateway
        .ok(Some(&john), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    let published = gateway
        .graphql(
            Some(&john),
            UPDATE_DRAFT,
            json!({ "input": { "jobId": job, "budgetPerTester": "1" } }),
        )
        .await;
    assert_eq!(outcome(&published), "CONFLICT", "{published}");
    let open = gateway
        .ok(Some(&john), DRAFT_DETAILS, json!({ "id": job }))
        .await;
    assert_eq!(
        open["job"]["totalBudget"], "7500",
        "the funded budget stays"
    );
    gateway.stop().await;
}

const UPDATE_TEMPLATE: &str = "mutation($input: UpdateAiTestTemplateInput!) { updateAiTestTemplate(input: $input) { template { id name isActive steps { actionTemplate } } } }";

fn template_content(name: &str, steps: usize) -> Value {
    let steps: Vec<Value> = (0..steps)
        .map(|n| json!({ "actionTemplate": format!("Open {{{{product}}}} page {n}"), "expectedResultTemplate": "It opens" }))
        .collect();
    json!({ "name": name, "category": "GENERAL", "scenario": "Try {{product}}",
        "variables": [{ "name": "product", "description": "What is sold", "example": "a mug" }],
        "steps": steps })
}

#[tokio::test]
async fn an_admin_replaces_a_templates_content_within_the_create_bounds() {
    let gateway = TestGateway::start().await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let template = gateway
        .ok(
            Some(&admin),
            "mutation($input: CreateAiTestTemplateInput!) { createAiTestTemplate(input: $input) { template { id } } }",
            json!({ "input": template_content("Checkout", 1) }),
        )
        .await["createAiTestTemplate"]["template"]["id"]
        .as_str()
        .expect("template id")
        .to_string();

    let replaced = gateway
        .ok(
            Some(&admin),
            UPDATE_TEMPLATE,
            json!({ "input": { "templateId": template, "template": template_content("Checkout, revised", 2) } }),
        )
        .await;
    let updated = &replaced["updateAiTestTemplate"]["template"];
    assert_eq!(updated["name"], "Checkout, revised");
    assert_eq!(updated["isActive"], true);
    assert_eq!(updated["steps"].as_array().map(Vec::len), Some(2));

    for (content, expected) in [
        (template_content("", 1), "name"),
        (template_content(&"n".repeat(201), 1), "name"),
        (template_content("Too many steps", 101), "steps"),
    ] {
        let refused = gateway
            .graphql(
                Some(&admin),
                UPDATE_TEMPLATE,
                json!({ "input": { "templateId": template, "template": content } }),
            )
            .await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
        assert_eq!(field(&refused), expected, "{refused}");
    }
    let by_client = gateway
        .graphql(
            Some(&john),
            UPDATE_TEMPLATE,
            json!({ "input": { "templateId": template, "template": template_content("Mine", 1) } }),
        )
        .await;
    assert_eq!(outcome(&by_client), "FORBIDDEN", "{by_client}");
    let stored = gateway
        .ok(
            Some(&admin),
            "query($id: ID!) { node(id: $id) { ... on AiTestTemplate { name } } }",
            json!({ "id": template }),
        )
        .await;
    assert_eq!(
        stored["node"]["name"], "Checkout, revised",
        "refused changes stored nothing"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_tester_holding_a_seat_cannot_erase_the_account_until_they_withdraw() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Seat shop").await;
    let job = crate::escrow::open_job_for_every_device(&gateway, &john, &project, 1).await;
    gateway
        .ok(
            Some(&li),
            "mutation($input: JobIdInput!) { claimJob(input: $input) { job { id } } }",
            json!({ "input": { "jobId": job } }),
        )
        .await;
    let refused = gateway
        .graphql(
            Some(&li),
            ERASE,
            json!({ "input": { "password": DEMO_PASSWORD } }),
        )
        .await;
    assert_eq!(outcome(&refused), "FAILED_PRECONDITION", "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("seat") && message.contains(&object_id(&job).to_hex()),
        "{message}"
    );
    gateway
        .ok(
            Some(&li),
            "mutation($input: JobIdInput!) { withdrawFromJob(input: $input) { job { id } } }",
            json!({ "input": { "jobId": job } }),
        )
        .await;
    let erased = gateway
        .ok(
            Some(&li),
            ERASE,
            json!({ "input": { "password": DEMO_PASSWORD } }),
        )
        .await;
    assert_eq!(erased["eraseMyAccount"]["ok"], true);
    assert_eq!(
        login_outcome(&gateway, "li.wei@testers.dev", DEMO_PASSWORD).await,
        "UNAUTHENTICATED"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_budget_edit_racing_a_publish_never_funds_an_amount_other_than_the_stored_budget() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Race shop").await;
    let mut outcomes = Vec::new();
    // The edit is sent a little later each round, so some rounds land it inside the publish
    // (between its read of the draft and its reservation).
    for round in 0..24u64 {
        let job = crate::marketplace::draft_job(&gateway, &john, &project, 1).await;
        let publish = gateway.graphql(Some(&john), PUBLISH, json!({ "input": { "jobId": job } }));
        let edit = async {
            tokio::time::sleep(std::time::Duration::from_micros(round * 400)).await;
            gateway
                .graphql(
                    Some(&john),
                    UPDATE_DRAFT,
                    json!({ "input": { "jobId": job, "budgetPerTester": format!("{}", 2_000 + round) } }),
                )
                .await
        };
        let (published, edited) = tokio::join!(publish, edit);
        outcomes.push((outcome(&published), outcome(&edited)));
        let state = gateway
            .ok(
                Some(&john),
                "query($id: ID!) { job(id: $id) { status totalBudget escrow { capturedCents } } }",
                json!({ "id": job }),
            )
            .await;
        let total: i64 = state["job"]["totalBudget"]
            .as_str()
            .and_then(|cents| cents.parse().ok())
            .expect("total budget");
        match state["job"]["status"].as_str() {
            Some("OPEN") => assert_eq!(
                state["job"]["escrow"]["capturedCents"].as_i64(),
                Some(total),
                "round {round}: what was funded is what the job says: {state}"
            ),
            Some("DRAFT") => assert!(
                state["job"]["escrow"].is_null()
                    || state["job"]["escrow"]["capturedCents"] == json!(0),
                "round {round}: an unpublished draft holds no money: {state}"
            ),
            other => panic!("round {round}: unexpected status {other:?}"),
        }
    }
    for (published, edited) in &outcomes {
        assert!(
            published == "OK" || edited == "OK",
            "one of the two wins: {outcomes:?}"
        );
        assert!(
            ["OK", "CONFLICT"].contains(&published.as_str())
                && ["OK", "CONFLICT"].contains(&edited.as_str()),
            "{outcomes:?}"
        );
    }
    gateway.stop().await;
}
