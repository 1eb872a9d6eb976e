//! Issue #10's visibility attacks, each performed over HTTP against the real gateway and shown
//! refused, with what it tried to change read back unchanged: a removed organization member
//! reaching the projects they created, strangers reading private user fields or finding users by
//! id, testers watching each other's claims, a client reading a tester's draft, and credentials
//! read before testing started or without a trace.

use serde_json::{json, Value};

use crate::harness::{outcome, table_outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, draft_submission, open_job, submit_draft};

const CREDENTIALS_OF_PROJECT: &str =
    "query($id: ID!) { project(id: $id) { name status credentials { password } } }";
const CREDENTIALS_THROUGH_JOB: &str =
    "query($id: ID!) { job(id: $id) { project { credentials { password } } } }";
const TRAIL: &str = "query($id: ID!) { project(id: $id) { credentialReads(first: 50) {
    totalCount edges { node { readerKind readAt reader { id fullName } job { id } } } } } }";
const CLAIM: &str = "mutation($input: JobIdInput!) { claimJob(input: $input) { job { id } } }";
const START: &str =
    "mutation($input: JobIdInput!) { startAssignment(input: $input) { job { id } } }";
const WITHDRAW: &str =
    "mutation($input: JobIdInput!) { withdrawFromJob(input: $input) { job { seatsTaken } } }";

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_string()
}

async fn my_id(gateway: &TestGateway, token: &str) -> String {
    text(&gateway.ok(Some(token), "{ me { id } }", json!({})).await["me"]["id"])
}

async fn organization_of(gateway: &TestGateway, token: &str) -> String {
    text(
        &gateway
            .ok(Some(token), "{ me { organization { id } } }", json!({}))
            .await["me"]["organization"]["id"],
    )
}

fn unknown_id(node_type: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!(
        "{node_type}:{}",
        bson::oid::ObjectId::new().to_hex()
    ))
}

/// The first error's code and message with the requested ID blanked out, so the answers for two
/// different IDs can be compared.
fn refusal(body: &Value, id: &str) -> (String, String) {
    let message = body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .replace(id, "<id>");
    (outcome(body), message)
}

#[tokio::test]
async fn a_removed_member_can_no_longer_read_credentials_of_or_change_the_projects_they_created() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let organization = organization_of(&gateway, &john).await;
    let dev = gateway.register("dev@techcorp.com", "CLIENT").await;
    gateway
        .join_organization(&john, &organization, &dev, "dev@techcorp.com", "MEMBER")
        .await;
    let project = create_project(&gateway, &dev, "Dev's org project").await;
    let while_member = gateway
        .ok(Some(&dev), CREDENTIALS_OF_PROJECT, json!({ "id": project }))
        .await;
    assert_eq!(
        while_member["project"]["credentials"]["password"],
        "s3cret-pass"
    );

    let dev_id = my_id(&gateway, &dev).await;
    gateway
        .ok(
            Some(&john),
            "mutation($input: RemoveOrganizationMemberInput!) { removeOrganizationMember(input: $input) { organization { id } } }",
            json!({ "input": { "organizationId": organization, "userId": dev_id } }),
        )
        .await;

    let read = gateway
        .graphql(Some(&dev), CREDENTIALS_OF_PROJECT, json!({ "id": project }))
        .await;
    assert_eq!(
        outcome(&read),
        "NOT_FOUND",
        "the project is no longer theirs: {read}"
    );
    let update = gateway
        .graphql(
            Some(&dev),
            "mutation($input: UpdateProjectInput!) { updateProject(input: $input) { project { name } } }",
            json!({ "input": { "projectId": project, "name": "Taken along",
                "credentials": { "username": "mine", "password": "now-mine" } } }),
        )
        .await;
    assert_eq!(outcome(&update), "FORBIDDEN", "{update}");
    let archive = gateway
        .graphql(
            Some(&dev),
            "mutation($input: ProjectIdInput!) { archiveProject(input: $input) { project { status } } }",
            json!({ "input": { "projectId": project } }),
        )
        .await;
    assert_eq!(outcome(&archive), "FORBIDDEN", "{archive}");
    let job = gateway
        .graphql(
            Some(&dev),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": crate::marketplace::details(&project, 1, 1_000),
                "journey": crate::marketplace::journey() } }),
        )
        .await;
    assert_eq!(outcome(&job), "FORBIDDEN", "{job}");
    let search = gateway
        .ok(
            Some(&dev),
            "{ searchProjects(text: \"Dev's org project\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(search["searchProjects"]["totalCount"], 0);

    // The organization still owns it, unchanged; the removed member's attempts left no trace.
    let owner_view = gateway
        .ok(
            Some(&john),
            CREDENTIALS_OF_PROJECT,
            json!({ "id": project }),
        )
        .await;
    assert_eq!(owner_view["project"]["name"], "Dev's org project");
    assert_eq!(owner_view["project"]["status"], "ACTIVE");
    assert_eq!(
        owner_view["project"]["credentials"]["password"],
        "s3cret-pass"
    );
    let trail = gateway
        .ok(Some(&john), TRAIL, json!({ "id": project }))
        .await;
    let kinds: Vec<&Value> = trail["project"]["credentialReads"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| &edge["node"]["readerKind"])
        .collect();
    assert_eq!(
        kinds.len(),
        2,
        "the member's read while a member and the owner's read: {trail}"
    );
    gateway.stop().await;
}

/// Which private fields each kind of caller reads on a tester and on a client: `true` when the
/// field has its value, `false` when it is `null`.
#[tokio::test]
async fn strangers_see_a_public_profile_only_and_private_fields_are_null() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    // Sarah holds a seat on John's and Maria's jobs, so both reach her through their jobs.
    let john_job = open_job(
        &gateway,
        &john,
        &create_project(&gateway, &john, "John's").await,
        2,
    )
    .await;
    let maria_job = open_job(
        &gateway,
        &maria,
        &create_project(&gateway, &maria, "Maria's").await,
        2,
    )
    .await;
    for job in [&john_job, &maria_job] {
        gateway
            .ok(Some(&sarah), CLAIM, json!({ "input": { "jobId": job } }))
            .await;
    }
    const TESTER_FIELDS: &str = "fullName email status organizationRole emailVerified
        twoFactorEnabled lastLogin loginCount payoutAccount { status }
        notificationPreferences { emailNewJob }
        testerData { experienceLevel totalJobsCompleted devices browsers hourlyRateUsdCents
          availability qualificationStatus totalEarnedUsdCents }";
    let through_job = format!(
        "query($id: ID!) {{ job(id: $id) {{ assignments {{ tester {{ {TESTER_FIELDS} }} }} }} }}"
    );
    let seen_by_john = gateway
        .ok(Some(&john), &through_job, json!({ "id": john_job }))
        .await["job"]["assignments"][0]["tester"]
        .clone();
    let seen_by_sarah = gateway
        .ok(
            Some(&sarah),
            &format!("{{ me {{ {TESTER_FIELDS} }} }}"),
            json!({}),
        )
        .await["me"]
        .clone();
    let sarah_id = my_id(&gateway, &sarah).await;
    let seen_by_admin = gateway
        .ok(
            Some(&admin),
            &format!("query($id: ID!) {{ node(id: $id) {{ ... on User {{ {TESTER_FIELDS} }} }} }}"),
            json!({ "id": sarah_id }),
        )
        .await["node"]
        .clone();

    let private = [
        "/email",
        "/status",
        "/emailVerified",
        "/twoFactorEnabled",
        "/loginCount",
        "/notificationPreferences",
        "/testerData/devices",
        "/testerData/browsers",
        "/testerData/qualificationStatus",
        "/testerData/totalEarnedUsdCents",
    ];
    for pointer in private {
        assert!(
            seen_by_john.pointer(pointer).is_some_and(Value::is_null),
            "a client reads the public profile only, {pointer} must be null: {seen_by_john}"
        );
        for (who, view) in [("the tester", &seen_by_sarah), ("an admin", &seen_by_admin)] {
            assert!(
                view.pointer(pointer).is_some_and(|value| !value.is_null()),
                "{who} reads {pointer}: {view}"
            );
        }
    }
    for public in [
        "/fullName",
        "/testerData/experienceLevel",
        "/testerData/totalJobsCompleted",
    ] {
        assert_eq!(
            seen_by_john.pointer(public),
            seen_by_sarah.pointer(public),
            "{public} is public"
        );
    }
    assert_eq!(seen_by_john["payoutAccount"], Value::Null);

    // A client's company, status and organization role: their organization's owners and admins,
    // themselves and admins; not a tester seated on their job.
    const CLIENT_FIELDS: &str =
        "client { fullName email status organizationRole clientData { companyName } organization { id } }";
    let john_as_seen_by_sarah = gateway
        .ok(
            Some(&sarah),
            &format!("query($id: ID!) {{ job(id: $id) {{ {CLIENT_FIELDS} }} }}"),
            json!({ "id": john_job }),
        )
        .await["job"]["client"]
        .clone();
    assert_eq!(john_as_seen_by_sarah["fullName"], "John Doe");
    for field in [
        "email",
        "status",
        "organizationRole",
        "clientData",
        "organization",
    ] {
        assert_eq!(
            john_as_seen_by_sarah[field],
            Value::Null,
            "{field}: {john_as_seen_by_sarah}"
        );
    }
    gateway.stop().await;
}

#[tokio::test]
async fn user_ids_cannot_be_enumerated_a_hidden_user_answers_like_a_missing_one() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let maria_id = my_id(&gateway, &maria).await;
    let sarah_id = my_id(&gateway, &sarah).await;
    let nobody = unknown_id("User");
    const NODE: &str = "query($id: ID!) { node(id: $id) { id ... on User { fullName } } }";

    for (caller, token) in [("a tester", &li), ("another client", &john)] {
        let missing = gateway
            .graphql(Some(token), NODE, json!({ "id": nobody }))
            .await;
        for hidden in [&maria_id, &sarah_id] {
            let answer = gateway
                .graphql(Some(token), NODE, json!({ "id": hidden }))
                .await;
            assert_eq!(
                refusal(&answer, hidden),
                refusal(&missing, &nobody),
                "{caller} cannot tell a hidden user from a missing one"
            );
            assert_eq!(answer["data"]["node"], Value::Null, "{answer}");
        }
    }
    let found = gateway
        .ok(Some(&admin), NODE, json!({ "id": sarah_id }))
        .await;
    assert_eq!(found["node"]["fullName"], "Sarah Johnson");
    // Members of one organization find each other (the organization's own API key too).
    let organization = organization_of(&gateway, &john).await;
    let colleague = gateway.register("colleague@techcorp.com", "CLIENT").await;
    gateway
        .join_organization(
            &john,
            &organization,
            &colleague,
            "colleague@techcorp.com",
            "MEMBER",
        )
        .await;
    let john_id = my_id(&gateway, &john).await;
    let colleague_view = gateway
        .ok(
            Some(&colleague),
            "query($id: ID!) { node(id: $id) { ... on User { fullName email status } } }",
            json!({ "id": john_id }),
        )
        .await;
    assert_eq!(colleague_view["node"]["fullName"], "John Doe");
    assert_eq!(
        colleague_view["node"]["status"],
        Value::Null,
        "a plain member sees the public profile"
    );
    let colleague_id = my_id(&gateway, &colleague).await;
    let owner_view = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { node(id: $id) { ... on User { email status organizationRole } } }",
            json!({ "id": colleague_id }),
        )
        .await;
    assert_eq!(owner_view["node"]["email"], "colleague@techcorp.com");
    assert_eq!(owner_view["node"]["organizationRole"], "MEMBER");
    gateway.stop().await;
}

#[tokio::test]
async fn nobody_but_the_tester_and_admins_sees_all_jobs_a_tester_claimed() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let john_job = open_job(
        &gateway,
        &john,
        &create_project(&gateway, &john, "John's").await,
        2,
    )
    .await;
    let maria_job = open_job(
        &gateway,
        &maria,
        &create_project(&gateway, &maria, "Maria's").await,
        2,
    )
    .await;
    for job in [&john_job, &maria_job] {
        gateway
            .ok(Some(&sarah), CLAIM, json!({ "input": { "jobId": job } }))
            .await;
    }
    let sarah_id = my_id(&gateway, &sarah).await;
    const CLAIMS_THROUGH_JOB: &str = "query($id: ID!) { job(id: $id) { assignments {
        tester { assignedJobs { totalCount edges { node { id } } } } } } }";
    for (client, job) in [(&john, &john_job), (&maria, &maria_job)] {
        let seen = gateway
            .ok(Some(client), CLAIMS_THROUGH_JOB, json!({ "id": job }))
            .await;
        let claims = &seen["job"]["assignments"][0]["tester"]["assignedJobs"];
        assert_eq!(
            claims["totalCount"], 1,
            "a client sees only their own job: {seen}"
        );
        assert_eq!(claims["edges"][0]["node"]["id"], json!(job));
    }
    // Li sees the public open job but not who sits on it, nor Sarah by id.
    let seats = gateway
        .ok(
            Some(&li),
            "query($id: ID!) { job(id: $id) { seatsTaken assignments { tester { id } } withdrawnSeats { tester { id } } } }",
            json!({ "id": john_job }),
        )
        .await;
    assert_eq!(seats["job"]["seatsTaken"], 1);
    assert_eq!(seats["job"]["assignments"], json!([]));
    let by_id = gateway
        .graphql(
            Some(&li),
            "query($id: ID!) { node(id: $id) { ... on User { assignedJobs { totalCount } } } }",
            json!({ "id": sarah_id }),
        )
        .await;
    assert_eq!(table_outcome(&by_id), "NULL", "{by_id}");
    let own = gateway
        .ok(
            Some(&sarah),
            "{ me { assignedJobs { totalCount } } }",
            json!({}),
        )
        .await;
    assert_eq!(own["me"]["assignedJobs"]["totalCount"], 2);
    let staff = gateway
        .ok(
            Some(&admin),
            "query($id: ID!) { node(id: $id) { ... on User { assignedJobs { totalCount } } } }",
            json!({ "id": sarah_id }),
        )
        .await;
    assert_eq!(staff["node"]["assignedJobs"]["totalCount"], 2);
    gateway.stop().await;
}

#[tokio::test]
async fn a_client_cannot_read_or_review_a_testers_draft_submission_by_id() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let job = open_job(
        &gateway,
        &john,
        &create_project(&gateway, &john, "Drafts").await,
        1,
    )
    .await;
    let draft = draft_submission(&gateway, &sarah, &job).await;
    let nobody = unknown_id("Submission");
    for query in [
        "query($id: ID!) { submission(id: $id) { summary status } }",
        "query($id: ID!) { node(id: $id) { id ... on Submission { summary } } }",
    ] {
        let missing = gateway
            .graphql(Some(&john), query, json!({ "id": nobody }))
            .await;
        let hidden = gateway
            .graphql(Some(&john), query, json!({ "id": draft }))
            .await;
        // `node` answers a hidden id with `null`, as Relay expects.
        let expected = if query.contains("node(") {
            "NULL"
        } else {
            "NOT_FOUND"
        };
        assert_eq!(table_outcome(&hidden), expected, "{hidden}");
        assert_eq!(refusal(&hidden, &draft), refusal(&missing, &nobody));
    }
    let approve = gateway
        .graphql(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": draft } }),
        )
        .await;
    assert_eq!(outcome(&approve), "NOT_FOUND", "{approve}");
    let listed = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { job(id: $id) { submissionCount submissions { totalCount } } }",
            json!({ "id": job }),
        )
        .await;
    assert_eq!(listed["job"]["submissions"]["totalCount"], 0);
    let own = gateway
        .ok(
            Some(&sarah),
            "query($id: ID!) { submission(id: $id) { status } }",
            json!({ "id": draft }),
        )
        .await;
    assert_eq!(own["submission"]["status"], "DRAFT", "nothing changed");
    // Handed in, it is the client's to read.
    submit_draft(&gateway, &sarah, &draft).await;
    let handed_in = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { submission(id: $id) { status } }",
            json!({ "id": draft }),
        )
        .await;
    assert_eq!(handed_in["submission"]["status"], "SUBMITTED");
    gateway.stop().await;
}

#[tokio::test]
async fn a_tester_cannot_read_credentials_before_testing_starts_and_every_read_is_on_the_trail() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Audited").await;
    let job = open_job(&gateway, &john, &project, 2).await;
    gateway
        .ok(Some(&sarah), CLAIM, json!({ "input": { "jobId": job } }))
        .await;
    let early = gateway
        .graphql(Some(&sarah), CREDENTIALS_THROUGH_JOB, json!({ "id": job }))
        .await;
    assert_eq!(
        outcome(&early),
        "FORBIDDEN",
        "claimed, not started: {early}"
    );
    let trail = gateway
        .ok(Some(&john), TRAIL, json!({ "id": project }))
        .await;
    assert_eq!(
        trail["project"]["credentialReads"]["totalCount"], 0,
        "a refused read is not a read"
    );
    // Testers and other clients do not see the trail.
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    for token in [&sarah, &li] {
        let hidden = gateway
            .graphql(
                Some(token),
                "query($id: ID!) { job(id: $id) { project { credentialReads { totalCount } } } }",
                json!({ "id": job }),
            )
            .await;
        assert_eq!(outcome(&hidden), "FORBIDDEN", "{hidden}");
    }
    let other_client = gateway
        .graphql(Some(&maria), TRAIL, json!({ "id": project }))
        .await;
    assert_eq!(outcome(&other_client), "NOT_FOUND");

    gateway
        .ok(Some(&sarah), START, json!({ "input": { "jobId": job } }))
        .await;
    let released = gateway
        .ok(Some(&sarah), CREDENTIALS_THROUGH_JOB, json!({ "id": job }))
        .await;
    assert_eq!(
        released["job"]["project"]["credentials"]["password"],
        "s3cret-pass"
    );
    let trail = gateway
        .ok(Some(&john), TRAIL, json!({ "id": project }))
        .await;
    let reads = &trail["project"]["credentialReads"];
    assert_eq!(reads["totalCount"], 1, "{trail}");
    let entry = &reads["edges"][0]["node"];
    assert_eq!(entry["readerKind"], "TESTER");
    assert_eq!(entry["reader"]["fullName"], "Sarah Johnson");
    assert_eq!(entry["job"]["id"], json!(job));
    assert!(entry["readAt"].is_string());
    gateway.stop().await;
}

#[tokio::test]
async fn withdrawing_leaves_the_seat_and_the_read_on_record_and_the_seat_cannot_be_taken_again() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Withdrawn").await;
    let job = open_job(&gateway, &john, &project, 2).await;
    gateway
        .ok(Some(&sarah), CLAIM, json!({ "input": { "jobId": job } }))
        .await;
    gateway
        .ok(Some(&sarah), START, json!({ "input": { "jobId": job } }))
        .await;
    gateway
        .ok(Some(&sarah), CREDENTIALS_THROUGH_JOB, json!({ "id": job }))
        .await;
    let withdrawn = gateway
        .ok(Some(&sarah), WITHDRAW, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(withdrawn["withdrawFromJob"]["job"]["seatsTaken"], 0);

    let after = gateway
        .graphql(Some(&sarah), CREDENTIALS_THROUGH_JOB, json!({ "id": job }))
        .await;
    assert_eq!(outcome(&after), "FORBIDDEN", "{after}");
    let again = gateway
        .graphql(Some(&sarah), CLAIM, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(outcome(&again), "CONFLICT", "{again}");

    let history = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { job(id: $id) { seatsTaken assignments { status }
                withdrawnSeats { tester { fullName } statusAtWithdrawal assignedAt withdrawnAt
                  claimedWith { devices } } project { credentialReads { totalCount } } } }",
            json!({ "id": job }),
        )
        .await;
    let job_view = &history["job"];
    assert_eq!(job_view["seatsTaken"], 0);
    assert_eq!(job_view["assignments"], json!([]));
    assert_eq!(job_view["withdrawnSeats"].as_array().map(Vec::len), Some(1));
    let seat = &job_view["withdrawnSeats"][0];
    assert_eq!(seat["tester"]["fullName"], "Sarah Johnson");
    assert_eq!(seat["statusAtWithdrawal"], "IN_PROGRESS");
    assert!(seat["withdrawnAt"].is_string());
    assert_eq!(seat["claimedWith"]["devices"][0], "iPhone 14 Pro");
    assert_eq!(job_view["project"]["credentialReads"]["totalCount"], 1);
    gateway.stop().await;
}

#[tokio::test]
async fn editing_equipment_after_claiming_does_not_change_what_the_seat_was_claimed_with() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let job = open_job(
        &gateway,
        &john,
        &create_project(&gateway, &john, "Equipment").await,
        2,
    )
    .await;
    gateway
        .ok(Some(&sarah), CLAIM, json!({ "input": { "jobId": job } }))
        .await;
    gateway
        .ok(
            Some(&sarah),
            "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id } } }",
            json!({ "input": { "testerData": { "devices": ["Nokia 3310"], "browsers": ["Lynx"] } } }),
        )
        .await;
    let seat = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { job(id: $id) { assignments { status claimedWith { devices browsers os } } } }",
            json!({ "id": job }),
        )
        .await["job"]["assignments"][0]
        .clone();
    assert_eq!(seat["status"], "ASSIGNED");
    assert_eq!(
        seat["claimedWith"]["devices"],
        json!(["iPhone 14 Pro", "iPad Air", "MacBook Pro"]),
        "{seat}"
    );
    assert!(seat["claimedWith"]["os"]
        .as_array()
        .expect("systems")
        .contains(&json!("iOS")));
    gateway.stop().await;
}
