//! What each step of a job's life costs in MongoDB commands, counted by `/metrics` around one
//! HTTP request, authentication and idempotency key included. A budget that grows is a
//! regression (another read of the same document, a recount, a settlement hook running
//! underneath): change the number only with the reason in the commit.

use serde_json::{json, Value};

use crate::batching::commands_so_far_except;
use crate::harness::{TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, draft_job, register_tester, save_input};

/// The instance's change streams (jobs for `jobChanged`, notifications for the live push) wake
/// with a request's writes and ask for more: those `getMore`s are the instance's, not the
/// request's, and no mutation here reads past a first batch.
const NOT_THE_REQUESTS: &[&str] = &["getMore"];

/// The commands one request costs, and its answer (which must have no errors).
async fn counted(
    gateway: &TestGateway,
    token: &str,
    query: &str,
    variables: Value,
) -> (u64, Value) {
    let before = commands_so_far_except(gateway, NOT_THE_REQUESTS).await;
    let body = gateway.ok(Some(token), query, variables).await;
    let after = commands_so_far_except(gateway, NOT_THE_REQUESTS).await;
    (after - before, body)
}

#[tokio::test]
async fn every_step_of_a_job_stays_within_its_command_budget() {
    // The background work's passes would count in a request's commands: the notification and
    // escrow workers stay quiet after their start-up pass.
    let gateway = TestGateway::start_with(|config| {
        // By name, so that the change streams' getMores can be left out.
        config.metrics_mongodb_command_names = true;
        config.notification_work_interval_milliseconds = crate::stripe::NOTIFICATIONS_NEVER;
        config.escrow_work_interval_seconds = crate::stripe::NEVER;
    })
    .await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Budgets").await;
    let job = draft_job(&gateway, &john, &project, 3).await;
    let tester = register_tester(&gateway, &admin, 1).await;
    let other_tester = register_tester(&gateway, &admin, 2).await;
    let job_input = json!({ "input": { "jobId": job } });

    let (publish, body) = counted(
        &gateway,
        &john,
        "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { status } } }",
        json!({ "input": { "jobId": job, "idempotencyKey": "publish-budget" } }),
    )
    .await;
    assert_eq!(body["publishJob"]["job"]["status"], "OPEN");

    let claim_query =
        "mutation($input: JobIdInput!) { claimJob(input: $input) { job { seatsTaken } } }";
    let (claim, body) = counted(&gateway, &tester, claim_query, job_input.clone()).await;
    assert_eq!(body["claimJob"]["job"]["seatsTaken"], 1);
    gateway
        .ok(Some(&other_tester), claim_query, job_input.clone())
        .await;

    let mut submissions = Vec::new();
    for token in [&tester, &other_tester] {
        let submission = gateway
            .ok(
                Some(token),
                "mutation($input: CreateSubmissionInput!) { createSubmission(input: $input) { submission { id } } }",
                job_input.clone(),
            )
            .await["createSubmission"]["submission"]["id"]
            .as_str()
            .expect("submission id")
            .to_owned();
        gateway
            .ok(
                Some(token),
                "mutation($input: SaveSubmissionInput!) { saveSubmission(input: $input) { submission { id } } }",
                save_input(&submission, 1, "Paying fails"),
            )
            .await;
        submissions.push(submission);
    }
    let submit_query = "mutation($input: SubmissionIdInput!) { submitSubmission(input: $input) { submission { status } } }";
    let (submit, body) = counted(
        &gateway,
        &tester,
        submit_query,
        json!({ "input": { "submissionId": submissions[0] } }),
    )
    .await;
    assert_eq!(
        body["submitSubmission"]["submission"]["status"],
        "SUBMITTED"
    );
    gateway
        .ok(
            Some(&other_tester),
            submit_query,
            json!({ "input": { "submissionId": submissions[1] } }),
        )
        .await;

    let (approve, body) = counted(
        &gateway,
        &john,
        "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
        json!({ "input": { "submissionId": submissions[0], "idempotencyKey": "approve-budget" } }),
    )
    .await;
    assert_eq!(
        body["approveSubmission"]["submission"]["status"],
        "APPROVED"
    );
    let (reject, body) = counted(
        &gateway,
        &john,
        "mutation($input: RejectSubmissionInput!) { rejectSubmission(input: $input) { submission { status } } }",
        json!({ "input": { "submissionId": submissions[1], "feedback": "Not reproducible",
            "idempotencyKey": "reject-budget" } }),
    )
    .await;
    assert_eq!(body["rejectSubmission"]["submission"]["status"], "REJECTED");

    for step in ["startJobTesting", "beginJobReview"] {
        gateway
            .ok(
                Some(&john),
                &format!("mutation($input: JobIdInput!) {{ {step}(input: $input) {{ job {{ status }} }} }}"),
                job_input.clone(),
            )
            .await;
    }
    let (complete, body) = counted(
        &gateway,
        &john,
        "mutation($input: JobMoneyInput!) { completeJob(input: $input) { job { status } } }",
        json!({ "input": { "jobId": job, "idempotencyKey": "complete-budget" } }),
    )
    .await;
    assert_eq!(body["completeJob"]["job"]["status"], "COMPLETED");

    let spent = [
        ("publishJob", publish),
        ("claimJob", claim),
        ("submitSubmission", submit),
        ("approveSubmission", approve),
        ("rejectSubmission", reject),
        ("completeJob", complete),
    ];
    eprintln!("commands per mutation: {spent:?}");
    // Before the money use cases (#12): publish 34, claim 4, submit 8, approve 25, reject 24,
    // complete 26. An approval now: authentication (the session with its user and organization),
    // the idempotency key's insert, the submission with its job (authorization), then one
    // transaction (escrow read, submission compare-and-set, job update, escrow write, event,
    // commit) and the key's answer.
    // Each step's domain event (#13) is one insert in the step's transaction: publish 31 → 32;
    // claim 3 → 5 (the claim is a transaction now, so its commit too); submit 7 → 9 (the job's
    // title and client for the event); approve 12 → 13; reject 11 → 12; complete 18 → 21 (the
    // refund's settlement is a transaction with its `refund_processed` event and the job's
    // title). Submit 9 → 8: the event takes the job's title and client from the seat's move
    // instead of reading the job again.
    // Authentication is one command (the session looks up its user and the organization, which
    // the request's loaders keep), and a review reads its submission with its job in one: publish
    // 32 → 30, claim 5 → 4, submit 8 → 7, approve 13 → 10, reject 12 → 9, complete 21 → 19.
    let budgets = [
        ("publishJob", 30),
        ("claimJob", 4),
        ("submitSubmission", 7),
        ("approveSubmission", 10),
        ("rejectSubmission", 9),
        ("completeJob", 19),
    ];
    for ((name, used), (_, budget)) in spent.iter().zip(budgets) {
        assert!(
            *used <= budget,
            "{name} used {used} commands, budget {budget}"
        );
    }
    gateway.stop().await;
}
