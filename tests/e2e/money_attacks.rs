//! Attacks on money over HTTP (issue #10, "Money and accounts"): each test performs one, checks
//! it is refused with its code, and reads the store to show nothing changed — no job opened, no
//! escrow made, no counter moved.

use bson::doc;
use serde_json::{json, Value};

use crate::escrow::{draft_job_for_every_device, open_job_for_every_device};
use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, details, hand_in, journey};
use crate::stripe::object_id;

const CREATE_JOB: &str =
    "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }";
const PUBLISH: &str =
    "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { status } } }";
const APPROVE: &str = "mutation($input: SubmissionMoneyInput!) {
    approveSubmission(input: $input) { submission { status } } }";
const REJECT: &str = "mutation($input: RejectSubmissionInput!) {
    rejectSubmission(input: $input) { submission { status } } }";
const CANCEL: &str =
    "mutation($input: JobMoneyInput!) { cancelJob(input: $input) { job { status } } }";
const COMPLETE: &str =
    "mutation($input: JobMoneyInput!) { completeJob(input: $input) { job { status } } }";
const RELEASE: &str = "mutation($input: ReleasePayoutInput!) {
    releasePayout(input: $input) { payout { status } } }";
const SUBMISSION: &str = "query($id: ID!) { submission(id: $id) { status payout { status } } }";

/// How many escrows exist for the job with global ID `job`.
async fn escrows_of(gateway: &TestGateway, job: &str) -> u64 {
    gateway
        .database
        .collection::<bson::Document>("escrow_transactions")
        .count_documents(doc! { "job_id": object_id(job) })
        .await
        .expect("escrows counted")
}

/// The stored status of the job with global ID `job`.
async fn stored_status(gateway: &TestGateway, job: &str) -> String {
    gateway
        .database
        .collection::<bson::Document>("jobs")
        .find_one(doc! { "_id": object_id(job) })
        .await
        .expect("job read")
        .expect("job exists")
        .get_str("status")
        .expect("status")
        .to_string()
}

/// Creates a team organization owned by `token` (ten concurrent jobs, so the job limit does not
/// hide the money limits) and returns its ID.
async fn create_organization(gateway: &TestGateway, token: &str, slug: &str) -> String {
    gateway
        .ok(
            Some(token),
            "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }",
            json!({ "input": { "name": slug, "slug": slug } }),
        )
        .await["createOrganization"]["organization"]["id"]
        .as_str()
        .expect("organization id")
        .to_string()
}

/// `count` one-seat drafts at `cents` in `project`.
async fn one_seat_drafts(
    gateway: &TestGateway,
    token: &str,
    project: &str,
    cents: i64,
    count: usize,
) -> Vec<String> {
    let mut drafts = Vec::new();
    for _ in 0..count {
        let body = gateway
            .ok(
                Some(token),
                CREATE_JOB,
                json!({ "input": { "details": details(project, 1, cents), "journey": journey() } }),
            )
            .await;
        drafts.push(
            body["createJob"]["job"]["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    drafts
}

/// Publishes every draft at once; returns each answer's code, in order.
async fn publish_all_at_once(gateway: &TestGateway, token: &str, drafts: &[String]) -> Vec<String> {
    let answers =
        futures_util::future::join_all(drafts.iter().map(|job| {
            gateway.graphql(Some(token), PUBLISH, json!({ "input": { "jobId": job } }))
        }))
        .await;
    answers.iter().map(outcome).collect()
}

/// The sum of what every escrow of these jobs captured.
async fn captured_for(gateway: &TestGateway, jobs: &[String]) -> i64 {
    let mut total = 0;
    for job in jobs {
        if let Some(escrow) = gateway
            .database
            .collection::<bson::Document>("escrow_transactions")
            .find_one(doc! { "job_id": object_id(job) })
            .await
            .expect("escrow read")
        {
            total += escrow.get_i64("captured_usd").unwrap_or(0);
        }
    }
    total
}

#[tokio::test]
async fn an_unverified_client_cannot_publish_and_nothing_is_charged() {
    let gateway = TestGateway::start().await;
    let email = "throwaway@spam.example";
    let token = gateway.register(email, "CLIENT").await;
    let project = create_project(&gateway, &token, "Throwaway").await;
    let job = draft_job_for_every_device(&gateway, &token, &project, 2).await;

    let refused = gateway
        .graphql(Some(&token), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("verify your e-mail"),
        "{refused}"
    );
    assert_eq!(stored_status(&gateway, &job).await, "draft");
    assert_eq!(escrows_of(&gateway, &job).await, 0, "nothing was charged");

    // The same client, once verified and with a card saved, publishes the same draft.
    gateway.verify_email(email).await;
    gateway.save_sandbox_card(&token).await;
    let published = gateway
        .ok(Some(&token), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(published["publishJob"]["job"]["status"], "OPEN");
    assert_eq!(escrows_of(&gateway, &job).await, 1);
    gateway.stop().await;
}

#[tokio::test]
async fn seats_beyond_a_hundred_and_budgets_beyond_the_job_cap_are_refused_and_nothing_is_stored() {
    let gateway = TestGateway::start().await;
    let token = gateway
        .register_verified("big.spender@example.com", "CLIENT")
        .await;
    gateway.save_sandbox_card(&token).await;
    let project = create_project(&gateway, &token, "Big spender").await;
    let jobs = gateway.database.collection::<bson::Document>("jobs");
    let stored_before = jobs.count_documents(doc! {}).await.expect("count");

    let mut attacks: Vec<(Value, &str)> = Vec::new();
    // The sandbox captured 1,000,000 seats × $1M and 2e9 seats before the limits.
    let mut million_seats = details(&project, 1_000_000, 100_000_000);
    million_seats["budgetPerTesterCents"] = Value::Null;
    million_seats["budgetPerTester"] = json!("100000000");
    attacks.push((million_seats, "maxTesters"));
    attacks.push((details(&project, 2_000_000_000, 1), "maxTesters"));
    attacks.push((details(&project, 0, 1_000), "maxTesters"));
    attacks.push((details(&project, 101, 1_000), "maxTesters"));
    // One seat over the $50,000 job cap, and a product that would overflow 64 bits.
    attacks.push((details(&project, 1, 5_000_001), "budgetPerTesterCents"));
    let mut overflow = details(&project, 100, 0);
    overflow["budgetPerTesterCents"] = Value::Null;
    overflow["budgetPerTester"] = json!("999999999999999");
    attacks.push((overflow, "budgetPerTesterCents"));
    // A 32-bit Int cannot carry more than 2^31 - 1 cents.
    attacks.push((
        details(&project, 1, 3_000_000_000),
        "details.budgetPerTesterCents",
    ));
    let mut negative = details(&project, 1, 0);
    negative["budgetPerTesterCents"] = Value::Null;
    negative["budgetPerTester"] = json!("-5");
    attacks.push((negative, ""));
    for (attack, field) in attacks {
        let body = gateway
            .graphql(
                Some(&token),
                CREATE_JOB,
                json!({ "input": { "details": attack, "journey": journey() } }),
            )
            .await;
        assert_eq!(outcome(&body), "BAD_USER_INPUT", "{attack}: {body}");
        if !field.is_empty() {
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
    }
    assert_eq!(
        jobs.count_documents(doc! {}).await.expect("count"),
        stored_before,
        "no job was stored"
    );

    // Exactly at the limits is allowed, and the budget reads back exactly.
    let mut at_limits = details(&project, 100, 0);
    at_limits["budgetPerTesterCents"] = Value::Null;
    at_limits["budgetPerTester"] = json!("50000");
    let created = gateway
        .ok(
            Some(&token),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { totalBudget budgetPerTester maxTesters } } }",
            json!({ "input": { "details": at_limits, "journey": journey() } }),
        )
        .await;
    assert_eq!(created["createJob"]["job"]["totalBudget"], "5000000");
    assert_eq!(created["createJob"]["job"]["budgetPerTester"], "50000");
    assert_eq!(created["createJob"]["job"]["maxTesters"], 100);
    gateway.stop().await;
}

#[tokio::test]
async fn concurrent_publishes_of_a_new_account_cannot_fund_past_its_daily_limit() {
    // No demo data: its jobs would not fit the small limits these tests set.
    let gateway = TestGateway::start_with(|config| {
        config.demo_data = false;
        config.money.new_account_daily_funding_cents = 10_000;
    })
    .await;
    let token = gateway
        .register_verified("fresh.org@example.com", "CLIENT")
        .await;
    gateway.save_sandbox_card(&token).await;
    create_organization(&gateway, &token, "fresh-org").await;
    let project = create_project(&gateway, &token, "Fresh").await;
    // Eight jobs of 2,000 cents: only five fit in 10,000 a day.
    let drafts = one_seat_drafts(&gateway, &token, &project, 2_000, 8).await;

    let codes = publish_all_at_once(&gateway, &token, &drafts).await;
    let opened = codes.iter().filter(|code| *code == "OK").count();
    let limited = codes.iter().filter(|code| *code == "RATE_LIMITED").count();
    assert_eq!((opened, limited), (5, 3), "{codes:?}");
    assert_eq!(captured_for(&gateway, &drafts).await, 10_000);
    for (job, code) in drafts.iter().zip(&codes) {
        let expected = if code == "OK" {
            ("open", 1)
        } else {
            ("draft", 0)
        };
        assert_eq!(
            (
                stored_status(&gateway, job).await.as_str(),
                escrows_of(&gateway, job).await
            ),
            expected,
            "a refused publish charged nothing"
        );
    }
    // Cancelling does not give a day's funding back: the limit is on money moved, not held.
    gateway
        .ok(
            Some(&token),
            CANCEL,
            json!({ "input": { "jobId": drafts[codes.iter().position(|c| c == "OK").unwrap()] } }),
        )
        .await;
    let refused_draft = &drafts[codes.iter().position(|c| c == "RATE_LIMITED").unwrap()];
    let again = gateway
        .graphql(
            Some(&token),
            PUBLISH,
            json!({ "input": { "jobId": refused_draft } }),
        )
        .await;
    assert_eq!(outcome(&again), "RATE_LIMITED", "{again}");
    gateway.stop().await;
}

#[tokio::test]
async fn concurrent_publishes_cannot_commit_past_the_account_limit_and_closing_a_job_gives_room_back(
) {
    let gateway = TestGateway::start_with(|config| {
        config.demo_data = false;
        config.money.max_job_budget_cents = 6_000;
        config.money.max_account_committed_cents = 6_000;
        config.money.new_account_days = 0;
    })
    .await;
    let token = gateway
        .register_verified("committed.org@example.com", "CLIENT")
        .await;
    gateway.save_sandbox_card(&token).await;
    create_organization(&gateway, &token, "committed-org").await;
    let project = create_project(&gateway, &token, "Committed").await;
    let drafts = one_seat_drafts(&gateway, &token, &project, 2_000, 6).await;

    let codes = publish_all_at_once(&gateway, &token, &drafts).await;
    let opened: Vec<&String> = drafts
        .iter()
        .zip(&codes)
        .filter(|(_, code)| *code == "OK")
        .map(|(job, _)| job)
        .collect();
    assert_eq!(opened.len(), 3, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|code| *code == "CONFLICT").count(),
        3,
        "{codes:?}"
    );
    assert_eq!(captured_for(&gateway, &drafts).await, 6_000);

    // Cancelling an open job refunds it and frees its 2,000 for another publish.
    gateway
        .ok(
            Some(&token),
            CANCEL,
            json!({ "input": { "jobId": opened[0] } }),
        )
        .await;
    let waiting = drafts
        .iter()
        .zip(&codes)
        .find(|(_, code)| *code == "CONFLICT")
        .map(|(job, _)| job)
        .expect("a refused draft");
    gateway
        .ok(
            Some(&token),
            PUBLISH,
            json!({ "input": { "jobId": waiting } }),
        )
        .await;
    let full = drafts
        .iter()
        .zip(&codes)
        .filter(|(_, code)| *code == "CONFLICT")
        .nth(1)
        .map(|(job, _)| job)
        .expect("another refused draft");
    let refused = gateway
        .graphql(Some(&token), PUBLISH, json!({ "input": { "jobId": full } }))
        .await;
    assert_eq!(outcome(&refused), "CONFLICT", "{refused}");
    assert_eq!(escrows_of(&gateway, full).await, 0);
    gateway.stop().await;
}

#[tokio::test]
async fn a_plain_organization_member_cannot_publish_approve_reject_cancel_complete_or_release() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let member = gateway
        .register_verified("plain.member@techcorp.com", "CLIENT")
        .await;
    let organization = gateway
        .ok(Some(&john), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .as_str()
        .expect("john's organization")
        .to_string();
    gateway
        .join_organization(
            &john,
            &organization,
            &member,
            "plain.member@techcorp.com",
            "MEMBER",
        )
        .await;
    let project = create_project(&gateway, &john, "Members prepare").await;
    let job = open_job_for_every_device(&gateway, &john, &project, 2).await;
    let submission = hand_in(&gateway, &sarah, &job).await;
    // A member prepares drafts...
    let draft = draft_job_for_every_device(&gateway, &member, &project, 1).await;

    // ...but moves no money.
    let attempts = [
        (PUBLISH, json!({ "jobId": draft })),
        (APPROVE, json!({ "submissionId": submission })),
        (
            REJECT,
            json!({ "submissionId": submission, "feedback": "no" }),
        ),
        (CANCEL, json!({ "jobId": job })),
        (COMPLETE, json!({ "jobId": job })),
        (RELEASE, json!({ "submissionId": submission })),
    ];
    for (mutation, input) in attempts {
        let body = gateway
            .graphql(Some(&member), mutation, json!({ "input": input }))
            .await;
        assert_eq!(outcome(&body), "FORBIDDEN", "{mutation}: {body}");
    }
    assert_eq!(stored_status(&gateway, &draft).await, "draft");
    assert_eq!(escrows_of(&gateway, &draft).await, 0);
    assert_eq!(stored_status(&gateway, &job).await, "open");
    let seen = gateway
        .ok(Some(&john), SUBMISSION, json!({ "id": submission }))
        .await;
    assert_eq!(seen["submission"]["status"], "SUBMITTED");
    assert_eq!(seen["submission"]["payout"], Value::Null);

    // The owner may.
    let approved = gateway
        .ok(
            Some(&john),
            APPROVE,
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    assert_eq!(
        approved["approveSubmission"]["submission"]["status"],
        "APPROVED"
    );
    let published = gateway
        .ok(Some(&john), PUBLISH, json!({ "input": { "jobId": draft } }))
        .await;
    assert_eq!(published["publishJob"]["job"]["status"], "OPEN");
    gateway.stop().await;
}

#[tokio::test]
async fn an_unverified_organization_admin_cannot_approve_or_release_a_payout() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let admin = gateway
        .register("unverified.admin@techcorp.com", "CLIENT")
        .await;
    let organization = gateway
        .ok(Some(&john), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .as_str()
        .expect("john's organization")
        .to_string();
    gateway
        .join_organization(
            &john,
            &organization,
            &admin,
            "unverified.admin@techcorp.com",
            "ADMIN",
        )
        .await;
    // Joining needs a confirmed address; take the confirmation back in the store (as after a
    // bounced address) to have the admin with an unconfirmed address this test is about.
    gateway
        .database
        .collection::<bson::Document>("users")
        .update_one(
            bson::doc! { "email": "unverified.admin@techcorp.com" },
            bson::doc! { "$set": { "email_verified": false, "status": "pending_verification" } },
        )
        .await
        .expect("the user is writable");
    let project = create_project(&gateway, &john, "Admins verify").await;
    let job = open_job_for_every_device(&gateway, &john, &project, 1).await;
    let submission = hand_in(&gateway, &sarah, &job).await;

    let refused = gateway
        .graphql(
            Some(&admin),
            APPROVE,
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    let draft = draft_job_for_every_device(&gateway, &admin, &project, 1).await;
    let refused = gateway
        .graphql(
            Some(&admin),
            PUBLISH,
            json!({ "input": { "jobId": draft } }),
        )
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(escrows_of(&gateway, &draft).await, 0);
    gateway
        .ok(
            Some(&john),
            APPROVE,
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    let refused = gateway
        .graphql(
            Some(&admin),
            RELEASE,
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    let seen = gateway
        .ok(Some(&john), SUBMISSION, json!({ "id": submission }))
        .await;
    assert_eq!(
        seen["submission"]["payout"]["status"], "HELD",
        "still held for the dispute window"
    );
    gateway.stop().await;
}
