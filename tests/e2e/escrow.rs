//! Escrow over HTTP: on the sandbox provider, publishing captures the whole budget, approving holds
//! the tester's pay minus the platform fee, completing refunds the unused seat, and every figure
//! adds up, with who may see the money checked on the way; then the whole life of a three-seat
//! job, written once and run on the sandbox and on Stripe (localstripe behind the front), with
//! the exact amounts at every step through to the payouts transferred after the dispute window.

use serde_json::{json, Value};
use stripe_fake::AccountState;

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, details, hand_in, journey, open_job};
use crate::notifications::{about_job, types};
use crate::stripe::{object_id, World, PAST_THE_DISPUTE_WINDOW};

const ESCROW: &str = "query($id: ID!) { job(id: $id) { escrow {
    provider status capturedCents inEscrowCents heldForTestersCents paidToTestersCents
    platformFeeCents refundedCents platformFeeBasisPoints
    payouts { grossCents platformFeeCents testerPayoutCents status tester { fullName } }
    events { eventType amountCents } } } }";

fn figures(body: &serde_json::Value) -> [i64; 6] {
    let escrow = &body["job"]["escrow"];
    [
        "capturedCents",
        "inEscrowCents",
        "heldForTestersCents",
        "paidToTestersCents",
        "platformFeeCents",
        "refundedCents",
    ]
    .map(|field| escrow[field].as_i64().unwrap_or(-1))
}

#[tokio::test]
async fn publishing_approving_and_completing_move_exact_amounts_through_the_sandbox() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Escrow shop").await;
    // Two seats at 5,000 cents.
    let job = open_job(&gateway, &john, &project, 2).await;

    let funded = gateway.ok(Some(&john), ESCROW, json!({ "id": job })).await;
    assert_eq!(funded["job"]["escrow"]["provider"], "SANDBOX");
    assert_eq!(funded["job"]["escrow"]["status"], "CAPTURED");
    assert_eq!(funded["job"]["escrow"]["platformFeeBasisPoints"], 1500);
    assert_eq!(figures(&funded), [10_000, 10_000, 0, 0, 0, 0]);

    // Testers never see the job's money, seated or not.
    for token in [&sarah, &li] {
        let refused = gateway
            .graphql(Some(token), ESCROW, json!({ "id": job }))
            .await;
        assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    }

    let submission = hand_in(&gateway, &sarah, &job).await;
    let payout_query = "query($id: ID!) { submission(id: $id) { payout { grossCents platformFeeCents testerPayoutCents status } } }";
    let before = gateway
        .ok(Some(&sarah), payout_query, json!({ "id": submission }))
        .await;
    assert!(before["submission"]["payout"].is_null());
    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": submission } }),
        )
        .await;

    // 15% of 5,000 is 750 for the platform; 4,250 is held for Sarah during the dispute window.
    let payout = gateway
        .ok(Some(&sarah), payout_query, json!({ "id": submission }))
        .await;
    assert_eq!(
        payout["submission"]["payout"],
        json!({ "grossCents": 5000, "platformFeeCents": 750, "testerPayoutCents": 4250, "status": "HELD" })
    );
    let approved = gateway.ok(Some(&john), ESCROW, json!({ "id": job })).await;
    assert_eq!(figures(&approved), [10_000, 5_000, 4_250, 0, 750, 0]);
    assert_eq!(
        approved["job"]["escrow"]["payouts"][0]["tester"]["fullName"],
        "Sarah Johnson"
    );

    for step in ["startJobTesting", "beginJobReview", "completeJob"] {
        let query = lifecycle_mutation(step);
        gateway
            .ok(Some(&john), &query, json!({ "input": { "jobId": job } }))
            .await;
    }
    // The unused seat's 5,000 goes back to John; the invariant holds:
    // 10,000 = 0 paid + 4,250 held + 750 fees + 5,000 refunded + 0 in escrow.
    let completed = gateway.ok(Some(&john), ESCROW, json!({ "id": job })).await;
    let [captured, in_escrow, held, paid, fees, refunded] = figures(&completed);
    assert_eq!(
        [captured, in_escrow, held, paid, fees, refunded],
        [10_000, 0, 4_250, 0, 750, 5_000]
    );
    assert_eq!(captured, paid + held + fees + refunded + in_escrow);
    let events: Vec<String> = completed["job"]["escrow"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["eventType"].as_str().map(str::to_string))
        .collect();
    assert!(events.contains(&"CAPTURED".to_string()), "{events:?}");
    assert!(events.contains(&"REFUNDED".to_string()), "{events:?}");
    gateway.stop().await;
}

const SEATS: &str = "query($id: ID!) { job(id: $id) { status escrow {
    provider status capturedCents inEscrowCents heldForTestersCents paidToTestersCents
    platformFeeCents refundedCents } } }";

/// The escrow's status and `[captured, in escrow, held, paid, fees, refunded]`, read through
/// GraphQL, after checking the invariant.
async fn escrow_state(gateway: &TestGateway, token: &str, job: &str) -> (String, [i64; 6]) {
    let body = gateway.ok(Some(token), SEATS, json!({ "id": job })).await;
    let amounts = figures(&body);
    let [captured, in_escrow, held, paid, fees, refunded] = amounts;
    assert_eq!(
        captured,
        paid + held + fees + refunded + in_escrow,
        "captured = paid + held + fees + refunded + in escrow: {body}"
    );
    let status = body["job"]["escrow"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, amounts)
}

async fn payout_of(gateway: &TestGateway, token: &str, submission: &str) -> serde_json::Value {
    gateway
        .ok(
            Some(token),
            "query($id: ID!) { submission(id: $id) { payout { grossCents platformFeeCents testerPayoutCents status } } }",
            json!({ "id": submission }),
        )
        .await["submission"]["payout"]
        .clone()
}

/// The job lifecycle mutation `step` (the ones that move money take `JobMoneyInput`).
fn lifecycle_mutation(step: &str) -> String {
    let input = if ["completeJob", "cancelJob", "publishJob"].contains(&step) {
        "JobMoneyInput"
    } else {
        "JobIdInput"
    };
    format!("mutation($input: {input}!) {{ {step}(input: $input) {{ job {{ status }} }} }}")
}

/// Creates and publishes a job of `seats` seats at 5,000 cents with no device, browser or system
/// requirement, so all three demo testers qualify; returns its ID.
pub async fn open_job_for_every_device(
    gateway: &TestGateway,
    token: &str,
    project: &str,
    seats: i32,
) -> String {
    let job = draft_job_for_every_device(gateway, token, project, seats).await;
    gateway
        .ok(
            Some(token),
            "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { status } } }",
            json!({ "input": { "jobId": job } }),
        )
        .await;
    job
}

/// The same job as [`open_job_for_every_device`], left a draft.
pub async fn draft_job_for_every_device(
    gateway: &TestGateway,
    token: &str,
    project: &str,
    seats: i32,
) -> String {
    let mut details = details(project, seats, 5_000);
    for field in ["requiredDevices", "requiredBrowsers", "requiredOs"] {
        details[field] = json!([]);
    }
    gateway
        .ok(
            Some(token),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": details, "journey": journey() } }),
        )
        .await["createJob"]["job"]["id"]
        .as_str()
        .expect("job id")
        .to_string()
}

/// Runs `approveSubmission` or `rejectSubmission` as `token`.
async fn review(gateway: &TestGateway, token: &str, mutation: &str, input: serde_json::Value) {
    let input_type = if mutation == "approveSubmission" {
        "SubmissionIdInput"
    } else {
        "RejectSubmissionInput"
    };
    let query = format!(
        "mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ submission {{ status }} }} }}"
    );
    gateway
        .ok(Some(token), &query, json!({ "input": input }))
        .await;
}

/// The notifications about money among `nodes`.
fn money(nodes: Vec<Value>) -> Vec<Value> {
    nodes
        .into_iter()
        .filter(|node| {
            ["PAYMENT_RECEIVED", "PAYOUT_HELD", "REFUND_PROCESSED"]
                .contains(&node["type"].as_str().unwrap_or_default())
        })
        .collect()
}

/// The whole life of a three-seat job at 5,000 cents a seat, with the exact amounts at every step:
/// publish captures 15,000; two approvals release 5,000 each (750 fee, 4,250 held for the tester);
/// a rejection releases nothing; completing refunds the rejected seat's 5,000; after the dispute
/// window the due work transfers both payouts and credits each tester once.
async fn a_three_seat_job_settles_exactly(world: &World) {
    let gateway = &world.gateway;
    let provider = if world.stripe.is_some() {
        "STRIPE"
    } else {
        "SANDBOX"
    };
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let emails = [
        "sarah.tester@gmail.com",
        "li.wei@testers.dev",
        "omar.haddad@testers.dev",
    ];
    let mut tokens = Vec::new();
    for email in emails {
        tokens.push(gateway.login(email, DEMO_PASSWORD).await.0);
        if world.stripe.is_some() {
            // Onboarding stored the account; Stripe's account.updated verifies it.
            let account = world.connect_account(email, "pending").await;
            world
                .account_updated(&account, AccountState::Verified)
                .await;
        }
    }
    let mut totals_before = Vec::new();
    for email in emails {
        totals_before.push(world.tester_totals(email).await);
    }

    let project = create_project(gateway, &john, "Three seats").await;
    let job = open_job_for_every_device(gateway, &john, &project, 3).await;
    let body = gateway.ok(Some(&john), SEATS, json!({ "id": job })).await;
    assert_eq!(body["job"]["escrow"]["provider"], provider);
    assert_eq!(
        escrow_state(gateway, &john, &job).await,
        ("CAPTURED".into(), [15_000, 15_000, 0, 0, 0, 0])
    );

    let mut submissions = Vec::new();
    for token in &tokens {
        submissions.push(hand_in(gateway, token, &job).await);
    }
    let held = json!({ "grossCents": 5000, "platformFeeCents": 750, "testerPayoutCents": 4250, "status": "HELD" });

    review(
        gateway,
        &john,
        "approveSubmission",
        json!({ "submissionId": submissions[0] }),
    )
    .await;
    assert_eq!(
        escrow_state(gateway, &john, &job).await,
        (
            "PARTIALLY_RELEASED".into(),
            [15_000, 10_000, 4_250, 0, 750, 0]
        )
    );
    assert_eq!(payout_of(gateway, &tokens[0], &submissions[0]).await, held);

    review(
        gateway,
        &john,
        "approveSubmission",
        json!({ "submissionId": submissions[1] }),
    )
    .await;
    assert_eq!(
        escrow_state(gateway, &john, &job).await,
        (
            "PARTIALLY_RELEASED".into(),
            [15_000, 5_000, 8_500, 0, 1_500, 0]
        )
    );
    assert_eq!(payout_of(gateway, &tokens[1], &submissions[1]).await, held);

    review(
        gateway,
        &john,
        "rejectSubmission",
        json!({ "submissionId": submissions[2], "feedback": "The steps were not followed." }),
    )
    .await;
    assert_eq!(
        escrow_state(gateway, &john, &job).await,
        (
            "PARTIALLY_RELEASED".into(),
            [15_000, 5_000, 8_500, 0, 1_500, 0]
        )
    );
    assert!(payout_of(gateway, &tokens[2], &submissions[2])
        .await
        .is_null());
    // Each verdict reaches its tester, with the pay an approval holds for them.
    gateway.deliver_notifications().await;
    for (seat, verdict) in [
        "SUBMISSION_APPROVED",
        "SUBMISSION_APPROVED",
        "SUBMISSION_REJECTED",
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            types(&about_job(gateway, &tokens[seat], &job).await),
            [verdict, "JOB_POSTED"]
        );
    }

    for step in ["startJobTesting", "beginJobReview", "completeJob"] {
        let query = lifecycle_mutation(step);
        gateway
            .ok(Some(&john), &query, json!({ "input": { "jobId": job } }))
            .await;
    }
    let completed = gateway.ok(Some(&john), SEATS, json!({ "id": job })).await;
    assert_eq!(completed["job"]["status"], "COMPLETED");
    // The rejected seat's pay stays in escrow while its tester may still dispute the rejection.
    let kept = (
        "PARTIALLY_RELEASED".to_string(),
        [15_000, 5_000, 8_500, 0, 1_500, 0],
    );
    assert_eq!(escrow_state(gateway, &john, &job).await, kept);
    gateway.deliver_notifications().await;
    assert_eq!(
        money(about_job(gateway, &john, &job).await),
        Vec::<Value>::new()
    );

    // Nothing is transferred, nor refunded, inside the dispute window.
    let early = gateway.run_escrow_due_work().await;
    assert!(early.payouts_paid.is_empty(), "{early:?}");
    assert_eq!(escrow_state(gateway, &john, &job).await, kept);
    world.clock.advance(PAST_THE_DISPUTE_WINDOW);
    let due = gateway.run_escrow_due_work().await;
    assert_eq!(due.payouts_paid.len(), 2, "{due:?}");
    assert_eq!(
        escrow_state(gateway, &john, &job).await,
        ("RELEASED".into(), [15_000, 0, 0, 8_500, 1_500, 5_000])
    );
    // The undisputed rejection's seat reached John, who hears of it with its amount.
    gateway.deliver_notifications().await;
    let refunded = money(about_job(gateway, &john, &job).await);
    assert_eq!(types(&refunded), ["REFUND_PROCESSED"]);
    assert!(refunded[0]["message"]
        .as_str()
        .expect("message")
        .starts_with("$50.00 for 'Checkout on an iPhone' was refunded"));
    let paid = json!({ "grossCents": 5000, "platformFeeCents": 750, "testerPayoutCents": 4250, "status": "PAID" });
    for seat in 0..2 {
        assert_eq!(
            payout_of(gateway, &tokens[seat], &submissions[seat]).await,
            paid
        );
        let transfer = gateway
            .ok(
                Some(&tokens[seat]),
                "query($id: ID!) { submission(id: $id) { payout { transferId transferAttempts } } }",
                json!({ "id": submissions[seat] }),
            )
            .await;
        let payout = &transfer["submission"]["payout"];
        assert_eq!(payout["transferAttempts"], 1, "{transfer}");
        let transfer_id = payout["transferId"]
            .as_str()
            .expect("a transfer id once paid");
        if world.stripe.is_some() {
            assert!(transfer_id.starts_with("tr_"), "{transfer_id}");
        }
        assert_eq!(
            world
                .submission_payout_status(&submissions[seat])
                .await
                .as_deref(),
            Some("paid")
        );
        let (earned, jobs) = totals_before[seat];
        assert_eq!(
            world.tester_totals(emails[seat]).await,
            (earned + 4_250, jobs + 1)
        );
    }
    assert_eq!(world.tester_totals(emails[2]).await, totals_before[2]);
    // Each paid tester hears of the money once; the rejected one and the client do not.
    gateway.deliver_notifications().await;
    for token in &tokens[..2] {
        let paid = money(about_job(gateway, token, &job).await);
        assert_eq!(types(&paid), ["PAYMENT_RECEIVED"]);
        assert_eq!(
            paid[0]["message"],
            "You were paid $42.50 for 'Checkout on an iPhone'."
        );
    }
    assert_eq!(
        money(about_job(gateway, &tokens[2], &job).await),
        Vec::<Value>::new()
    );
    assert_eq!(
        types(&money(about_job(gateway, &john, &job).await)),
        ["REFUND_PROCESSED"]
    );

    // Running the work again moves nothing, credits nobody twice and tells nobody again.
    let again = gateway.run_escrow_due_work().await;
    assert!(again.payouts_paid.is_empty(), "{again:?}");
    gateway.deliver_notifications().await;
    assert_eq!(money(about_job(gateway, &tokens[0], &job).await).len(), 1);
    for seat in 0..2 {
        let (earned, jobs) = totals_before[seat];
        assert_eq!(
            world.tester_totals(emails[seat]).await,
            (earned + 4_250, jobs + 1)
        );
    }

    if let Some(stripe) = &world.stripe {
        // Stripe's side agrees: 15,000 captured, 5,000 refunded, two transfers of 4,250.
        let escrow = world.escrow_document(&job).await;
        let intent_id = escrow.get_str("stripe_payment_intent_id").unwrap();
        let intent = stripe
            .front
            .upstream_json(&format!("/v1/payment_intents/{intent_id}"))
            .await;
        assert_eq!(
            (intent["status"].as_str(), intent["amount"].as_i64()),
            (Some("succeeded"), Some(15_000))
        );
        let refunds = stripe.front.upstream_json("/v1/refunds").await;
        let refunded: i64 = refunds["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|refund| {
                refund["payment_intent"] == intent_id
                    || refund["charge"] == intent["latest_charge"]["id"]
            })
            .map(|refund| refund["amount"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(refunded, 5_000);
        let group = format!("job_{}", object_id(&job).to_hex());
        let transfers: Vec<_> = stripe
            .front
            .transfers()
            .into_iter()
            .filter(|transfer| transfer["transfer_group"] == group.as_str())
            .collect();
        assert_eq!(transfers.len(), 2);
        assert!(transfers.iter().all(|transfer| transfer["amount"] == 4_250));
    }
}

#[tokio::test]
async fn a_three_seat_job_settles_exactly_on_the_sandbox() {
    let world = World::sandbox().await;
    a_three_seat_job_settles_exactly(&world).await;
    world.stop().await;
}

#[tokio::test]
async fn a_three_seat_job_settles_exactly_on_stripe() {
    let world = World::stripe().await;
    a_three_seat_job_settles_exactly(&world).await;
    world.stop().await;
}
