//! Money-moving mutations over HTTP: idempotency keys (input or `Idempotency-Key` header), a
//! hundred concurrent duplicate approvals, and the escrow mutations `refundEscrow` and
//! `releasePayout`, on the sandbox provider.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::escrow::{draft_job_for_every_device, open_job_for_every_device};
use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, hand_in};

const PUBLISH: &str = "mutation($input: JobMoneyInput!) { publishJob(input: $input) {
    job { id status publishedAt } funding { escrowStatus note } } }";
const APPROVE: &str = "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) {
    submission { id status reviewedAt payout { testerPayoutCents status } } } }";
const CANCEL: &str =
    "mutation($input: JobMoneyInput!) { cancelJob(input: $input) { job { id status } } }";
const REFUND: &str = "mutation($input: RefundEscrowInput!) { refundEscrow(input: $input) {
    job { id } refund { amountCents reason status createdAt } } }";
const RELEASE: &str = "mutation($input: ReleasePayoutInput!) { releasePayout(input: $input) {
    submission { id payout { status } } payout { testerPayoutCents status completedAt } } }";
const ESCROW: &str = "query($id: ID!) { job(id: $id) { escrowStatus escrow {
    status capturedCents inEscrowCents heldForTestersCents paidToTestersCents platformFeeCents
    refundedCents payouts { status } refunds { amountCents status } events { eventType } } } }";

async fn escrow(gateway: &TestGateway, token: &str, job: &str) -> Value {
    gateway.ok(Some(token), ESCROW, json!({ "id": job })).await["job"].clone()
}

fn count_events(job: &Value, event_type: &str) -> usize {
    job["escrow"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["eventType"] == event_type)
        .count()
}

#[tokio::test]
async fn a_repeat_with_the_same_key_gets_the_first_answer_and_moves_nothing() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Idempotent shop").await;
    let job = draft_job_for_every_device(&gateway, &john, &project, 2).await;

    // Publish with a key in the input, then repeat it with the same key as a header: the stored
    // answer comes back verbatim, and the budget is captured once.
    let first = gateway
        .ok(
            Some(&john),
            PUBLISH,
            json!({ "input": { "jobId": job, "idempotencyKey": "publish-1" } }),
        )
        .await;
    assert_eq!(first["publishJob"]["job"]["status"], "OPEN");
    for _ in 0..3 {
        let repeat = gateway
            .graphql_with_headers(
                Some(&john),
                &[("Idempotency-Key", "publish-1")],
                PUBLISH,
                json!({ "input": { "jobId": job } }),
            )
            .await;
        assert_eq!(repeat["data"], first, "{repeat}");
    }
    let funded = escrow(&gateway, &john, &job).await;
    assert_eq!(count_events(&funded, "CAPTURED"), 1, "{funded}");
    assert_eq!(funded["escrow"]["capturedCents"], 10_000);
    assert_eq!(funded["escrowStatus"], "CAPTURED");

    // Without a key a repeated publish is a conflict: nothing is captured again.
    let again = gateway
        .graphql(Some(&john), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(outcome(&again), "CONFLICT", "{again}");

    // The same key for another mutation, or another input, is refused and changes nothing.
    let reused = gateway
        .graphql(
            Some(&john),
            CANCEL,
            json!({ "input": { "jobId": job, "idempotencyKey": "publish-1" } }),
        )
        .await;
    assert_eq!(outcome(&reused), "CONFLICT", "{reused}");
    assert!(
        reused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("publish-1"),
        "{reused}"
    );
    let unchanged = escrow(&gateway, &john, &job).await;
    assert_eq!(unchanged, funded);

    // Input and header must agree; a key must be short printable ASCII.
    let mismatch = gateway
        .graphql_with_headers(
            Some(&john),
            &[("Idempotency-Key", "one")],
            CANCEL,
            json!({ "input": { "jobId": job, "idempotencyKey": "two" } }),
        )
        .await;
    assert_eq!(outcome(&mismatch), "BAD_USER_INPUT", "{mismatch}");
    let too_long = "k".repeat(201);
    let invalid = gateway
        .graphql(
            Some(&john),
            CANCEL,
            json!({ "input": { "jobId": job, "idempotencyKey": too_long } }),
        )
        .await;
    assert_eq!(outcome(&invalid), "BAD_USER_INPUT", "{invalid}");
    assert_eq!(escrow(&gateway, &john, &job).await, funded);

    // A request that failed stores nothing: approving before anything is handed in finds no
    // submission (a draft is the tester's alone), and the same key works once there is
    // something to approve.
    let submission = crate::marketplace::draft_submission(&gateway, &sarah, &job).await;
    let early = gateway
        .graphql(
            Some(&john),
            APPROVE,
            json!({ "input": { "submissionId": submission, "idempotencyKey": "approve-1" } }),
        )
        .await;
    assert_eq!(outcome(&early), "NOT_FOUND", "{early}");
    crate::marketplace::submit_draft(&gateway, &sarah, &submission).await;
    let approved = gateway
        .ok(
            Some(&john),
            APPROVE,
            json!({ "input": { "submissionId": submission, "idempotencyKey": "approve-1" } }),
        )
        .await;
    assert_eq!(
        approved["approveSubmission"]["submission"]["status"],
        "APPROVED"
    );
    assert_eq!(
        approved["approveSubmission"]["submission"]["payout"]["testerPayoutCents"],
        4_250
    );
    let repeat = gateway
        .ok(
            Some(&john),
            APPROVE,
            json!({ "input": { "submissionId": submission, "idempotencyKey": "approve-1" } }),
        )
        .await;
    assert_eq!(repeat, approved);
    let after_approval = escrow(&gateway, &john, &job).await;
    assert_eq!(
        after_approval["escrow"]["payouts"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(count_events(&after_approval, "RELEASED"), 1);

    // The key with another submission is refused, and that submission stays as it was.
    let other = hand_in(&gateway, &li, &job).await;
    let wrong = gateway
        .graphql(
            Some(&john),
            APPROVE,
            json!({ "input": { "submissionId": other, "idempotencyKey": "approve-1" } }),
        )
        .await;
    assert_eq!(outcome(&wrong), "CONFLICT", "{wrong}");
    let still = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { submission(id: $id) { status } }",
            json!({ "id": other }),
        )
        .await;
    assert_eq!(still["submission"]["status"], "SUBMITTED");

    // Keys are per caller: Maria's "approve-1" is hers, not John's answer.
    let foreign = gateway
        .graphql(
            Some(&maria),
            APPROVE,
            json!({ "input": { "submissionId": other, "idempotencyKey": "approve-1" } }),
        )
        .await;
    assert_eq!(outcome(&foreign), "NOT_FOUND", "{foreign}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_hundred_concurrent_duplicate_approvals_pay_exactly_once() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Racing approvals").await;
    let job = open_job_for_every_device(&gateway, &john, &project, 2).await;
    let sarahs = hand_in(&gateway, &sarah, &job).await;
    let lis = hand_in(&gateway, &li, &job).await;

    // A hundred identical approvals without a key: one wins, the others are conflicts.
    let plain = join_all((0..100).map(|_| {
        gateway.graphql(
            Some(&john),
            APPROVE,
            json!({ "input": { "submissionId": sarahs } }),
        )
    }))
    .await;
    let outcomes: Vec<String> = plain.iter().map(outcome).collect();
    assert_eq!(outcomes.iter().filter(|code| *code == "OK").count(), 1);
    assert_eq!(
        outcomes.iter().filter(|code| *code == "CONFLICT").count(),
        99
    );

    // A hundred with one key: every one gets the same answer.
    let keyed = join_all((0..100).map(|_| {
        gateway.graphql_with_headers(
            Some(&john),
            &[("Idempotency-Key", "approve-li")],
            APPROVE,
            json!({ "input": { "submissionId": lis } }),
        )
    }))
    .await;
    for body in &keyed {
        assert_eq!(outcome(body), "OK", "{body}");
        assert_eq!(body["data"], keyed[0]["data"]);
    }

    // Two seats approved, two payouts held, each fee kept once:
    // 10,000 = 8,500 held + 1,500 fees + 0 in escrow.
    let settled = escrow(&gateway, &john, &job).await;
    assert_eq!(
        settled["escrow"]["payouts"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(count_events(&settled, "RELEASED"), 2, "{settled}");
    assert_eq!(settled["escrow"]["heldForTestersCents"], 8_500);
    assert_eq!(settled["escrow"]["platformFeeCents"], 1_500);
    assert_eq!(settled["escrow"]["inEscrowCents"], 0);

    // A hundred concurrent early releases of Sarah's payout transfer it once.
    let (earned, completed) = gateway.tester_totals("sarah.tester@gmail.com").await;
    let releases = join_all((0..100).map(|_| {
        gateway.graphql(
            Some(&john),
            RELEASE,
            json!({ "input": { "submissionId": sarahs } }),
        )
    }))
    .await;
    for body in &releases {
        assert_eq!(outcome(body), "OK", "{body}");
        assert_eq!(body["data"]["releasePayout"]["payout"]["status"], "PAID");
    }
    assert_eq!(
        gateway.tester_totals("sarah.tester@gmail.com").await,
        (earned + 4_250, completed + 1),
        "credited once"
    );
    let paid = escrow(&gateway, &john, &job).await;
    assert_eq!(count_events(&paid, "PAYOUT_PAID"), 1, "{paid}");
    assert_eq!(paid["escrow"]["paidToTestersCents"], 4_250);
    assert_eq!(paid["escrow"]["heldForTestersCents"], 4_250);
    gateway.stop().await;
}

#[tokio::test]
async fn refunds_are_for_admins_and_early_releases_for_the_client() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Goodwill").await;
    let job = open_job_for_every_device(&gateway, &john, &project, 2).await;
    let funded = escrow(&gateway, &john, &job).await;

    let refund = |amount: i64, key: &str| json!({ "input": { "jobId": job, "amountCents": amount, "reason": "Goodwill", "idempotencyKey": key } });
    // Not the client, not a tester; bad amounts are refused; nothing moved.
    for token in [&john, &sarah] {
        let refused = gateway
            .graphql(Some(token), REFUND, refund(1_000, "r-1"))
            .await;
        assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    }
    for amount in [0, -5] {
        let bad = gateway
            .graphql(Some(&admin), REFUND, refund(amount, "r-0"))
            .await;
        assert_eq!(outcome(&bad), "BAD_USER_INPUT", "{bad}");
    }
    let too_much = gateway
        .graphql(Some(&admin), REFUND, refund(10_001, "r-2"))
        .await;
    assert_eq!(outcome(&too_much), "CONFLICT", "{too_much}");
    assert_eq!(escrow(&gateway, &john, &job).await, funded);

    // An admin refunds 1,000 cents; the repeat with the key refunds nothing more.
    let first = gateway.ok(Some(&admin), REFUND, refund(1_000, "r-3")).await;
    assert_eq!(first["refundEscrow"]["refund"]["amountCents"], 1_000);
    assert_eq!(first["refundEscrow"]["refund"]["status"], "SUCCEEDED");
    let repeat = gateway.ok(Some(&admin), REFUND, refund(1_000, "r-3")).await;
    assert_eq!(repeat, first);
    let refunded = escrow(&gateway, &john, &job).await;
    assert_eq!(refunded["escrow"]["refundedCents"], 1_000);
    assert_eq!(refunded["escrow"]["inEscrowCents"], 9_000);
    assert_eq!(
        refunded["escrow"]["refunds"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(refunded["escrowStatus"], "PARTIALLY_REFUNDED");

    // Releasing early: the tester may not, another client cannot even see it, the client can.
    let submission = hand_in(&gateway, &sarah, &job).await;
    gateway
        .ok(
            Some(&john),
            APPROVE,
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    let by_tester = gateway
        .graphql(
            Some(&sarah),
            RELEASE,
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    assert_eq!(outcome(&by_tester), "FORBIDDEN", "{by_tester}");
    let by_stranger = gateway
        .graphql(
            Some(&maria),
            RELEASE,
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    assert_eq!(outcome(&by_stranger), "NOT_FOUND", "{by_stranger}");
    let held = escrow(&gateway, &john, &job).await;
    assert_eq!(held["escrow"]["payouts"][0]["status"], "HELD");

    let released = gateway
        .ok(
            Some(&john),
            RELEASE,
            json!({ "input": { "submissionId": submission, "idempotencyKey": "pay-now" } }),
        )
        .await;
    assert_eq!(released["releasePayout"]["payout"]["status"], "PAID");
    assert_eq!(
        released["releasePayout"]["payout"]["testerPayoutCents"],
        4_250
    );
    assert_eq!(
        released["releasePayout"]["submission"]["payout"]["status"],
        "PAID"
    );
    let paid = escrow(&gateway, &john, &job).await;
    assert_eq!(count_events(&paid, "PAYOUT_WINDOW_WAIVED"), 1, "{paid}");
    assert_eq!(paid["escrow"]["paidToTestersCents"], 4_250);
    assert_eq!(paid["escrow"]["heldForTestersCents"], 0);
    gateway.stop().await;
}
