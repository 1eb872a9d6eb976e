//! Disputes over HTTP on the sandbox (and one flow on Stripe through localstripe): each
//! resolution moves exact cents (read through GraphQL at
//! every step, with the escrow invariant checked each time), a disputed rejection on a completed
//! job still pays the tester when resolved for them, a resolution repeated with its idempotency
//! key moves money once, a second dispute is `CONFLICT`, strangers, the other tester and API keys
//! see nothing, bad input names its field and changes nothing, and the authorization table.

use serde_json::{json, Value};

use crate::escrow::open_job_for_every_device as open_job;
use crate::harness::{check_table, outcome, row, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, hand_in};
use crate::notifications::{about_job, types};
use crate::stripe::{World, PAST_THE_DISPUTE_WINDOW};
use stripe_fake::AccountState;

const ESCROW: &str = "query($id: ID!) { job(id: $id) { escrow {
    capturedCents inEscrowCents heldForTestersCents paidToTestersCents platformFeeCents
    refundedCents } } }";
const PAYOUT: &str = "query($id: ID!) { submission(id: $id) { payout {
    grossCents platformFeeCents testerPayoutCents status } } }";
const OPEN: &str = "mutation($input: OpenDisputeInput!) { openDispute(input: $input) {
    dispute { id status raisedByRole reason priority evidence { url evidenceType } } } }";
const ASSIGN: &str = "mutation($input: DisputeActionInput!) { assignDispute(input: $input) {
    dispute { id status assignedAdmin { email } } } }";
const RESOLVE: &str = "mutation($input: ResolveDisputeInput!) { resolveDispute(input: $input) {
    dispute { id status resolutionType resolution refundCents testerPayoutCents
      resolvedInFavorOf { email } } } }";
const WITHDRAW: &str = "mutation($input: DisputeActionInput!) { withdrawDispute(input: $input) {
    dispute { id status refundCents testerPayoutCents } } }";
const CLOSE: &str = "mutation($input: DisputeActionInput!) { closeDispute(input: $input) {
    dispute { id status } } }";
const MESSAGE: &str =
    "mutation($input: PostDisputeMessageInput!) { postDisputeMessage(input: $input) {
    dispute { id messages { message from { email } } } } }";
const DISPUTE: &str = "query($id: ID!) { dispute(id: $id) { id status } }";
const SUBMISSION_DISPUTE: &str =
    "query($id: ID!) { submission(id: $id) { dispute { id status } } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";
const MY_DISPUTES: &str = "{ me { disputes { totalCount edges { node { id } } } } }";
const QUEUE: &str = "query($status: DisputeStatus) { disputes(status: $status, first: 100) {
    totalCount edges { node { id status } } } }";

/// `[captured, in escrow, held, paid, fees, refunded]` of a job, after checking the invariant.
async fn escrow_of(gateway: &TestGateway, token: &str, job: &str) -> [i64; 6] {
    let body = gateway.ok(Some(token), ESCROW, json!({ "id": job })).await;
    let escrow = &body["job"]["escrow"];
    let figures = [
        "capturedCents",
        "inEscrowCents",
        "heldForTestersCents",
        "paidToTestersCents",
        "platformFeeCents",
        "refundedCents",
    ]
    .map(|field| cents(&escrow[field]));
    let [captured, in_escrow, held, paid, fees, refunded] = figures;
    assert_eq!(
        captured,
        paid + held + fees + refunded + in_escrow,
        "the invariant: {body}"
    );
    figures
}

fn cents(value: &Value) -> i64 {
    match value {
        Value::Number(number) => number.as_i64().expect("integer cents"),
        Value::String(text) => text.parse().expect("cents"),
        other => panic!("not cents: {other}"),
    }
}

async fn payout_status(gateway: &TestGateway, token: &str, submission: &str) -> Value {
    gateway
        .ok(Some(token), PAYOUT, json!({ "id": submission }))
        .await["submission"]["payout"]["status"]
        .clone()
}

struct People {
    john: String,
    sarah: String,
    li: String,
    maria: String,
    admin: String,
    project: String,
}

async fn people(gateway: &TestGateway) -> People {
    let john = gateway
        .login("john.doe@techcorp.com", DEMO_PASSWORD)
        .await
        .0;
    let project = create_project(gateway, &john, "Disputes").await;
    People {
        sarah: gateway
            .login("sarah.tester@gmail.com", DEMO_PASSWORD)
            .await
            .0,
        li: gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await.0,
        maria: gateway
            .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
            .await
            .0,
        admin: gateway.login("admin@peertest.io", DEMO_PASSWORD).await.0,
        john,
        project,
    }
}

/// A two-seat job at 5,000 cents a seat (10,000 captured) with Sarah's submission approved or
/// rejected by John.
async fn reviewed(gateway: &TestGateway, who: &People, approve: bool) -> (String, String) {
    let job = open_job(gateway, &who.john, &who.project, 2).await;
    let submission = hand_in(gateway, &who.sarah, &job).await;
    let (mutation, input) = if approve {
        (
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "submissionId": submission }),
        )
    } else {
        (
            "mutation($input: RejectSubmissionInput!) { rejectSubmission(input: $input) { submission { status } } }",
            json!({ "submissionId": submission, "feedback": "Steps missing" }),
        )
    };
    gateway
        .ok(Some(&who.john), mutation, json!({ "input": input }))
        .await;
    (job, submission)
}

fn open_input(submission: &str, reason: &str) -> Value {
    json!({ "input": {
        "submissionId": submission,
        "reason": reason,
        "description": "The work does not match the job's steps.",
        "evidence": [{ "evidenceType": "SCREENSHOT", "url": "https://evidence.example.com/1.png",
            "description": "What I saw" }],
    } })
}

async fn open(gateway: &TestGateway, token: &str, submission: &str, reason: &str) -> String {
    let body = gateway
        .ok(Some(token), OPEN, open_input(submission, reason))
        .await;
    assert_eq!(body["openDispute"]["dispute"]["status"], "OPEN");
    body["openDispute"]["dispute"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn assign(gateway: &TestGateway, admin: &str, dispute: &str) {
    let body = gateway
        .ok(
            Some(admin),
            ASSIGN,
            json!({ "input": { "disputeId": dispute } }),
        )
        .await;
    assert_eq!(body["assignDispute"]["dispute"]["status"], "UNDER_REVIEW");
}

async fn resolve(
    gateway: &TestGateway,
    admin: &str,
    dispute: &str,
    resolution_type: &str,
    refund_cents: Option<&str>,
    key: Option<&str>,
) -> Value {
    let mut input = json!({ "disputeId": dispute, "resolutionType": resolution_type,
        "resolution": "Decided after reading both sides." });
    if let Some(refund) = refund_cents {
        input["refundCents"] = json!(refund);
    }
    if let Some(key) = key {
        input["idempotencyKey"] = json!(key);
    }
    gateway
        .ok(Some(admin), RESOLVE, json!({ "input": input }))
        .await["resolveDispute"]["dispute"]
        .clone()
}

#[tokio::test]
async fn a_clients_dispute_of_an_approval_moves_exact_cents_for_each_resolution_on_the_sandbox() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let who = people(gateway).await;
    // (resolution, refund cents, escrow after the resolution, payout status, tester cents,
    //  escrow once the dispute window passed)
    let cases = [
        (
            "PAYMENT_RELEASED",
            None,
            [10_000, 5_000, 4_250, 0, 750, 0],
            "HELD",
            4_250,
            [10_000, 5_000, 0, 4_250, 750, 0],
        ),
        (
            "REFUND",
            None,
            [10_000, 5_000, 0, 0, 0, 5_000],
            "REVERSED",
            0,
            [10_000, 5_000, 0, 0, 0, 5_000],
        ),
        // 2,000 back to the client; the tester's 3,000 pays 15%: 450 fee, 2,550 to the tester.
        (
            "PARTIAL_REFUND",
            Some("2000"),
            [10_000, 5_000, 2_550, 0, 450, 2_000],
            "HELD",
            2_550,
            [10_000, 5_000, 0, 2_550, 450, 2_000],
        ),
        // The approval stands.
        (
            "NO_ACTION",
            None,
            [10_000, 5_000, 4_250, 0, 750, 0],
            "HELD",
            4_250,
            [10_000, 5_000, 0, 4_250, 750, 0],
        ),
    ];
    let mut jobs = Vec::new();
    for (resolution, refund, after, status, tester_cents, _) in &cases {
        let (job, submission) = reviewed(gateway, &who, true).await;
        let approved = [10_000, 5_000, 4_250, 0, 750, 0];
        assert_eq!(escrow_of(gateway, &who.john, &job).await, approved);
        let dispute = open(gateway, &who.john, &submission, "QUALITY_ISSUE").await;
        // Opening freezes the payout and moves no cent.
        assert_eq!(escrow_of(gateway, &who.john, &job).await, approved);
        assert_eq!(
            payout_status(gateway, &who.sarah, &submission).await,
            "FROZEN"
        );
        assign(gateway, &who.admin, &dispute).await;
        let resolved = resolve(gateway, &who.admin, &dispute, resolution, *refund, None).await;
        assert_eq!(resolved["status"], "RESOLVED", "{resolution}");
        assert_eq!(resolved["resolutionType"], *resolution);
        assert_eq!(
            cents(&resolved["testerPayoutCents"]),
            *tester_cents,
            "{resolution}"
        );
        assert_eq!(
            escrow_of(gateway, &who.john, &job).await,
            *after,
            "{resolution}"
        );
        assert_eq!(
            payout_status(gateway, &who.sarah, &submission).await,
            *status,
            "{resolution}"
        );
        jobs.push(job);
    }
    // Nothing is paid inside the window; past it, each tester gets exactly what was decided.
    world.clock.advance(PAST_THE_DISPUTE_WINDOW);
    gateway.run_escrow_due_work().await;
    for ((resolution, .., settled), job) in cases.iter().zip(&jobs) {
        assert_eq!(
            escrow_of(gateway, &who.john, job).await,
            *settled,
            "{resolution}"
        );
    }
    world.stop().await;
}

#[tokio::test]
async fn a_disputed_rejection_on_a_completed_job_still_pays_the_tester_once_on_the_sandbox() {
    let world = World::sandbox().await;
    a_disputed_rejection_on_a_completed_job_still_pays_the_tester_once(&world).await;
    world.stop().await;
}

#[tokio::test]
async fn a_disputed_rejection_on_a_completed_job_still_pays_the_tester_once_on_stripe() {
    let world = World::stripe().await;
    // Sarah can receive transfers: onboarding stored her account, Stripe verified it.
    let account = world
        .connect_account("sarah.tester@gmail.com", "pending")
        .await;
    world
        .account_updated(&account, AccountState::Verified)
        .await;
    a_disputed_rejection_on_a_completed_job_still_pays_the_tester_once(&world).await;
    world.stop().await;
}

async fn a_disputed_rejection_on_a_completed_job_still_pays_the_tester_once(world: &World) {
    let gateway = &world.gateway;
    let who = people(gateway).await;
    let (job, submission) = reviewed(gateway, &who, false).await;
    for step in ["startJobTesting", "beginJobReview", "completeJob"] {
        let input = if step == "completeJob" {
            "JobMoneyInput"
        } else {
            "JobIdInput"
        };
        let query = format!(
            "mutation($input: {input}!) {{ {step}(input: $input) {{ job {{ status }} }} }}"
        );
        gateway
            .ok(
                Some(&who.john),
                &query,
                json!({ "input": { "jobId": job } }),
            )
            .await;
    }
    // The unused seat went back; the rejected one stays while it may be disputed.
    assert_eq!(
        escrow_of(gateway, &who.john, &job).await,
        [10_000, 5_000, 0, 0, 0, 5_000]
    );
    let dispute = open(gateway, &who.sarah, &submission, "UNFAIR_REJECTION").await;
    // The seat's pay leaves escrow into Sarah's frozen payout: 4,250 for her, 750 fee.
    assert_eq!(
        escrow_of(gateway, &who.john, &job).await,
        [10_000, 0, 4_250, 0, 750, 5_000]
    );
    assert_eq!(
        payout_status(gateway, &who.sarah, &submission).await,
        "FROZEN"
    );
    // John hears of it.
    gateway.deliver_notifications().await;
    assert!(types(&about_job(gateway, &who.john, &job).await).contains(&"DISPUTE_UPDATE".into()));

    let message = gateway
        .ok(
            Some(&who.john),
            MESSAGE,
            json!({ "input": { "disputeId": dispute, "message": "The steps were skipped." } }),
        )
        .await;
    assert_eq!(
        message["postDisputeMessage"]["dispute"]["messages"][0]["from"]["email"],
        "john.doe@techcorp.com"
    );
    assign(gateway, &who.admin, &dispute).await;
    let first = resolve(
        gateway,
        &who.admin,
        &dispute,
        "PAYMENT_RELEASED",
        None,
        Some("resolve-rejection"),
    )
    .await;
    assert_eq!(
        first["resolvedInFavorOf"]["email"],
        "sarah.tester@gmail.com"
    );
    let again = resolve(
        gateway,
        &who.admin,
        &dispute,
        "PAYMENT_RELEASED",
        None,
        Some("resolve-rejection"),
    )
    .await;
    assert_eq!(again, first, "the same key answers the same");
    assert_eq!(
        escrow_of(gateway, &who.john, &job).await,
        [10_000, 0, 4_250, 0, 750, 5_000]
    );
    // Without the key, a second resolution is refused and moves nothing.
    let refused = gateway
        .graphql(
            Some(&who.admin),
            RESOLVE,
            json!({ "input": { "disputeId": dispute, "resolutionType": "REFUND",
                "resolution": "Changed my mind." } }),
        )
        .await;
    assert_eq!(outcome(&refused), "CONFLICT", "{refused}");
    // The window of the disputed payout is over: the next sweep pays Sarah, once.
    let due = gateway.run_escrow_due_work().await;
    assert_eq!(due.payouts_paid.len(), 1, "{due:?}");
    assert_eq!(
        escrow_of(gateway, &who.john, &job).await,
        [10_000, 0, 0, 4_250, 750, 5_000]
    );
    let later = gateway.run_escrow_due_work().await;
    assert!(later.payouts_paid.is_empty());
    let closed = gateway
        .ok(
            Some(&who.admin),
            CLOSE,
            json!({ "input": { "disputeId": dispute } }),
        )
        .await;
    assert_eq!(closed["closeDispute"]["dispute"]["status"], "CLOSED");
}

#[tokio::test]
async fn a_disputed_rejection_left_standing_or_withdrawn_returns_the_seat_to_the_client() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let who = people(gateway).await;

    let (job, submission) = reviewed(gateway, &who, false).await;
    let dispute = open(gateway, &who.sarah, &submission, "UNFAIR_REJECTION").await;
    assign(gateway, &who.admin, &dispute).await;
    let resolved = resolve(gateway, &who.admin, &dispute, "NO_ACTION", None, None).await;
    assert_eq!(
        resolved["resolvedInFavorOf"]["email"],
        "john.doe@techcorp.com"
    );
    assert_eq!(cents(&resolved["refundCents"]), 5_000);
    assert_eq!(
        escrow_of(gateway, &who.john, &job).await,
        [10_000, 5_000, 0, 0, 0, 5_000]
    );

    let (job, submission) = reviewed(gateway, &who, false).await;
    let dispute = open(gateway, &who.sarah, &submission, "UNFAIR_REJECTION").await;
    // Only the raiser withdraws.
    let refused = gateway
        .graphql(
            Some(&who.john),
            WITHDRAW,
            json!({ "input": { "disputeId": dispute } }),
        )
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    let withdrawn = gateway
        .ok(
            Some(&who.sarah),
            WITHDRAW,
            json!({ "input": { "disputeId": dispute } }),
        )
        .await;
    assert_eq!(withdrawn["withdrawDispute"]["dispute"]["status"], "CLOSED");
    assert_eq!(
        escrow_of(gateway, &who.john, &job).await,
        [10_000, 5_000, 0, 0, 0, 5_000]
    );
    world.stop().await;
}

#[tokio::test]
async fn a_second_dispute_is_conflict_and_strangers_other_testers_and_api_keys_see_nothing() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let who = people(gateway).await;
    let (job, submission) = reviewed(gateway, &who, true).await;
    let dispute = open(gateway, &who.john, &submission, "INCOMPLETE_WORK").await;

    let second = gateway
        .graphql(
            Some(&who.john),
            OPEN,
            open_input(&submission, "QUALITY_ISSUE"),
        )
        .await;
    assert_eq!(outcome(&second), "CONFLICT", "{second}");
    // The tester of an approved submission has nothing to dispute.
    let by_tester = gateway
        .graphql(
            Some(&who.sarah),
            OPEN,
            open_input(&submission, "PAYMENT_ISSUE"),
        )
        .await;
    assert_eq!(outcome(&by_tester), "CONFLICT", "{by_tester}");
    assert_eq!(
        escrow_of(gateway, &who.john, &job).await,
        [10_000, 5_000, 4_250, 0, 750, 0]
    );

    // The parties see it.
    for token in [&who.john, &who.sarah, &who.admin] {
        let seen = gateway
            .ok(Some(token), DISPUTE, json!({ "id": dispute }))
            .await;
        assert_eq!(seen["dispute"]["id"], json!(dispute));
        let nested = gateway
            .ok(Some(token), SUBMISSION_DISPUTE, json!({ "id": submission }))
            .await;
        assert_eq!(nested["submission"]["dispute"]["id"], json!(dispute));
    }
    for token in [&who.john, &who.sarah] {
        let mine = gateway.ok(Some(token), MY_DISPUTES, json!({})).await;
        assert_eq!(mine["me"]["disputes"]["totalCount"], 1);
    }

    // A stranger client, the other tester and John's organization's API key see nothing.
    let key = gateway
        .ok(Some(&who.john), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .clone();
    let secret = gateway
        .ok(
            Some(&who.john),
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
            json!({ "input": { "organizationId": key, "name": "partner", "scope": "READ_WRITE" } }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    for token in [&who.maria, &who.li, &secret] {
        let direct = gateway
            .graphql(Some(token), DISPUTE, json!({ "id": dispute }))
            .await;
        assert_eq!(outcome(&direct), "NOT_FOUND", "{direct}");
        let node = gateway
            .graphql(Some(token), NODE, json!({ "id": dispute }))
            .await;
        assert_eq!(node["data"]["node"], Value::Null, "{node}");
    }
    let by_key = gateway
        .graphql(
            Some(&secret),
            SUBMISSION_DISPUTE,
            json!({ "id": submission }),
        )
        .await;
    assert_eq!(
        by_key["data"]["submission"]["dispute"],
        Value::Null,
        "{by_key}"
    );
    let queue = gateway
        .graphql(Some(&who.john), QUEUE, json!({ "status": "OPEN" }))
        .await;
    assert_eq!(outcome(&queue), "FORBIDDEN", "{queue}");
    let queue = gateway
        .ok(Some(&who.admin), QUEUE, json!({ "status": "OPEN" }))
        .await;
    let ids: Vec<&Value> = queue["disputes"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| &edge["node"]["id"])
        .collect();
    assert!(ids.contains(&&json!(dispute)), "{queue}");
    world.stop().await;
}

#[tokio::test]
async fn bad_dispute_input_names_the_field_and_changes_nothing() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let who = people(gateway).await;
    let (job, submission) = reviewed(gateway, &who, true).await;
    let approved = [10_000, 5_000, 4_250, 0, 750, 0];
    let mut http = open_input(&submission, "QUALITY_ISSUE");
    http["input"]["evidence"][0]["url"] = json!("http://evidence.example.com/1.png");
    let mut long = open_input(&submission, "QUALITY_ISSUE");
    long["input"]["description"] = json!("x".repeat(5_001));
    for (input, field) in [(http, "evidence.url"), (long, "description")] {
        let refused = gateway.graphql(Some(&who.john), OPEN, input).await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
        assert_eq!(refused["errors"][0]["extensions"]["field"], field);
    }
    let stored = gateway
        .database
        .collection::<bson::Document>("disputes")
        .count_documents(bson::doc! {})
        .await
        .expect("count");
    assert_eq!(stored, 0);
    assert_eq!(escrow_of(gateway, &who.john, &job).await, approved);
    assert_eq!(
        payout_status(gateway, &who.sarah, &submission).await,
        "HELD"
    );

    let dispute = open(gateway, &who.john, &submission, "QUALITY_ISSUE").await;
    assign(gateway, &who.admin, &dispute).await;
    for refund in ["0", "5000", "9000"] {
        let refused = gateway
            .graphql(
                Some(&who.admin),
                RESOLVE,
                json!({ "input": { "disputeId": dispute, "resolutionType": "PARTIAL_REFUND",
                    "resolution": "Split.", "refundCents": refund } }),
            )
            .await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
        assert_eq!(refused["errors"][0]["extensions"]["field"], "refundCents");
    }
    let long_message = gateway
        .graphql(
            Some(&who.sarah),
            MESSAGE,
            json!({ "input": { "disputeId": dispute, "message": "y".repeat(2_001) } }),
        )
        .await;
    assert_eq!(outcome(&long_message), "BAD_USER_INPUT");
    assert_eq!(long_message["errors"][0]["extensions"]["field"], "message");
    let seen = gateway
        .ok(Some(&who.admin), DISPUTE, json!({ "id": dispute }))
        .await;
    assert_eq!(seen["dispute"]["status"], "UNDER_REVIEW");
    assert_eq!(escrow_of(gateway, &who.john, &job).await, approved);
    assert_eq!(
        payout_status(gateway, &who.sarah, &submission).await,
        "FROZEN"
    );
    world.stop().await;
}

/// The callers of the table, in column order.
const CALLERS: [&str; 7] = [
    "anonymous",
    "client (party)",
    "another client",
    "tester (party)",
    "another tester",
    "admin",
    "read-write API key",
];

#[tokio::test]
async fn every_dispute_operation_for_every_kind_of_caller() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let who = people(gateway).await;
    let (_, submission) = reviewed(gateway, &who, true).await;
    let dispute = open(gateway, &who.john, &submission, "QUALITY_ISSUE").await;
    let (_, other_submission) = reviewed(gateway, &who, true).await;
    let organization = gateway
        .ok(Some(&who.john), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .clone();
    let secret = gateway
        .ok(
            Some(&who.john),
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
            json!({ "input": { "organizationId": organization, "name": "t", "scope": "READ_WRITE" } }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let credentials: [Option<String>; 7] = [
        None,
        Some(who.john.clone()),
        Some(who.maria.clone()),
        Some(who.sarah.clone()),
        Some(who.li.clone()),
        Some(who.admin.clone()),
        Some(secret),
    ];
    const OK: &str = "OK";
    const U: &str = "UNAUTHENTICATED";
    const FB: &str = "FORBIDDEN";
    const NF: &str = "NOT_FOUND";
    const C: &str = "CONFLICT";
    const NULL: &str = "NULL";
    let id = move |_: usize| json!({ "id": dispute.clone() });
    let dispute_of = id.clone();
    let with_dispute = move |_: usize| json!({ "input": { "disputeId": dispute_of(0)["id"] } });
    let message_to = with_dispute.clone();
    let resolve_of = with_dispute.clone();
    let withdraw_of = with_dispute.clone();
    let close_of = with_dispute.clone();
    let sub = submission.clone();
    let rows = vec![
        row(
            "dispute(id)",
            DISPUTE,
            id.clone(),
            [U, OK, NF, OK, NF, OK, NF],
        ),
        row(
            "node(id) on a Dispute",
            NODE,
            id.clone(),
            [U, OK, NULL, OK, NULL, OK, NULL],
        ),
        row(
            "Submission.dispute",
            SUBMISSION_DISPUTE,
            move |_| json!({ "id": sub.clone() }),
            // Strangers and the other tester do not see the submission at all.
            [U, OK, NF, OK, NF, OK, OK],
        ),
        row(
            "me.disputes",
            MY_DISPUTES,
            |_| json!({}),
            [U, OK, OK, OK, OK, OK, FB],
        ),
        row(
            "disputes (admin queue)",
            QUEUE,
            |_| json!({}),
            [U, FB, FB, FB, FB, OK, FB],
        ),
        row(
            "postDisputeMessage",
            MESSAGE,
            move |_| {
                let mut input = message_to(0);
                input["input"]["message"] = json!("A word.");
                input
            },
            [U, OK, NF, OK, NF, FB, FB],
        ),
        // Another approved submission of John's: only its client (or admins of its
        // organization) may dispute it; a stranger does not see it; its tester has nothing
        // to dispute; an admin is no party.
        row(
            "openDispute",
            OPEN,
            move |_| open_input(&other_submission, "QUALITY_ISSUE"),
            [U, OK, NF, C, NF, FB, FB],
        ),
        row(
            // John, the raiser, withdraws it: the rows after it meet a closed dispute.
            "withdrawDispute",
            WITHDRAW,
            move |_| withdraw_of(0),
            [U, OK, NF, FB, NF, FB, FB],
        ),
        row(
            "assignDispute",
            ASSIGN,
            with_dispute.clone(),
            [U, FB, FB, FB, FB, C, FB],
        ),
        row(
            "resolveDispute",
            RESOLVE,
            move |_| {
                let mut input = resolve_of(0);
                input["input"]["resolutionType"] = json!("NO_ACTION");
                input["input"]["resolution"] = json!("Stands.");
                input
            },
            [U, FB, FB, FB, FB, C, FB],
        ),
        row("closeDispute", CLOSE, close_of, [U, FB, FB, FB, FB, C, FB]),
    ];
    check_table(gateway, CALLERS, &credentials, &rows).await;
    world.stop().await;
}

#[tokio::test]
async fn a_clients_accountability_shows_review_times_rejections_auto_approvals_and_lost_disputes() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let who = people(gateway).await;
    const FIGURES: &str = "query($id: ID!) { job(id: $id) { clientAccountability {
        reviewedSubmissions medianReviewHours rejectionRate autoApprovalRate disputesDecided
        disputesLost } } }";
    let hours = |n: u64| std::time::Duration::from_secs(n * 3_600);

    let approved_job = open_job(gateway, &who.john, &who.project, 2).await;
    let before = gateway
        .ok(Some(&who.li), FIGURES, json!({ "id": approved_job }))
        .await;
    assert_eq!(
        before["job"]["clientAccountability"],
        json!({ "reviewedSubmissions": 0, "medianReviewHours": null, "rejectionRate": null,
            "autoApprovalRate": null, "disputesDecided": 0, "disputesLost": 0 })
    );

    // Reviewed after 2 hours (approved) and 4 hours (rejected, disputed, paid to the tester).
    let approved = hand_in(gateway, &who.sarah, &approved_job).await;
    world.clock.advance(hours(2));
    gateway
        .ok(
            Some(&who.john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { id } } }",
            json!({ "input": { "submissionId": approved } }),
        )
        .await;
    let rejected_job = open_job(gateway, &who.john, &who.project, 2).await;
    let rejected = hand_in(gateway, &who.sarah, &rejected_job).await;
    world.clock.advance(hours(4));
    gateway
        .ok(
            Some(&who.john),
            "mutation($input: RejectSubmissionInput!) { rejectSubmission(input: $input) { submission { id } } }",
            json!({ "input": { "submissionId": rejected, "feedback": "Steps missing" } }),
        )
        .await;
    let dispute = open(gateway, &who.sarah, &rejected, "UNFAIR_REJECTION").await;
    assign(gateway, &who.admin, &dispute).await;
    resolve(
        gateway,
        &who.admin,
        &dispute,
        "PAYMENT_RELEASED",
        None,
        None,
    )
    .await;

    // Left unreviewed, Li's is approved automatically ten days after she handed it in.
    let ignored_job = open_job(gateway, &who.john, &who.project, 2).await;
    hand_in(gateway, &who.li, &ignored_job).await;
    world.clock.advance(hours(10 * 24 + 1));
    gateway.run_escrow_due_work().await;

    let seen = gateway
        .ok(Some(&who.li), FIGURES, json!({ "id": ignored_job }))
        .await;
    let figures = &seen["job"]["clientAccountability"];
    assert_eq!(figures["reviewedSubmissions"], 3, "{seen}");
    assert_eq!(figures["medianReviewHours"], 4.0, "{seen}");
    let third = 100.0 / 3.0;
    assert_eq!(figures["rejectionRate"], third, "{seen}");
    assert_eq!(figures["autoApprovalRate"], third, "{seen}");
    assert_eq!(figures["disputesDecided"], 1, "{seen}");
    assert_eq!(figures["disputesLost"], 1, "{seen}");
    world.stop().await;
}

#[tokio::test]
async fn a_partys_disputes_are_paged_oldest_first_by_cursor() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let who = people(gateway).await;
    let mut opened = Vec::new();
    for _ in 0..3 {
        let (_, submission) = reviewed(gateway, &who, false).await;
        opened.push(open(gateway, &who.sarah, &submission, "UNFAIR_REJECTION").await);
    }
    const PAGE: &str = "query($first: Int, $after: String) { me { disputes(first: $first,
        after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } } }";
    let ids = |page: &Value| -> Vec<String> {
        page["me"]["disputes"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| edge["node"]["id"].as_str().expect("id").to_string())
            .collect()
    };
    for token in [&who.sarah, &who.john] {
        let first = gateway.ok(Some(token), PAGE, json!({ "first": 2 })).await;
        assert_eq!(first["me"]["disputes"]["totalCount"], 3, "{first}");
        assert_eq!(first["me"]["disputes"]["pageInfo"]["hasNextPage"], true);
        let cursor = first["me"]["disputes"]["pageInfo"]["endCursor"].clone();
        let second = gateway
            .ok(Some(token), PAGE, json!({ "first": 2, "after": cursor }))
            .await;
        assert_eq!(second["me"]["disputes"]["pageInfo"]["hasNextPage"], false);
        let mut all = ids(&first);
        all.extend(ids(&second));
        assert_eq!(all, opened);
    }
    let too_many = gateway
        .graphql(Some(&who.sarah), PAGE, json!({ "first": 101 }))
        .await;
    assert_eq!(outcome(&too_many), "BAD_USER_INPUT", "{too_many}");
    assert_eq!(too_many["errors"][0]["extensions"]["field"], "first");
    world.stop().await;
}
