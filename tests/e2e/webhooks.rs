//! Stripe webhooks over HTTP against the embedded store: refused deliveries change nothing; a
//! write lost after a successful Stripe call (a capture, a payout transfer) is repaired by the
//! matching signed event; an event is processed once however often it arrives; `account.updated`
//! lets a held payout go out.

use bson::{doc, Document};
use futures_util::future::join_all;
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use stripe_fake::{AccountState, WebhookSigner};

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, details, hand_in, journey, open_job};
use crate::notifications::{about_job, types};
use crate::stripe::{World, PAST_THE_DISPUTE_WINDOW};

const SARAH: &str = "sarah.tester@gmail.com";
const PAYOUT: &str = "query($id: ID!) { submission(id: $id) { payout {
    grossCents platformFeeCents testerPayoutCents status } } }";
const FIGURES: &str = "query($id: ID!) { job(id: $id) { status escrow { status capturedCents
    inEscrowCents heldForTestersCents paidToTestersCents platformFeeCents refundedCents } } }";

/// `[captured, in escrow, held, paid, fees, refunded]` of a job's escrow, read through GraphQL,
/// after checking that they add up.
async fn figures(gateway: &TestGateway, token: &str, job: &str) -> [i64; 6] {
    let body = gateway.ok(Some(token), FIGURES, json!({ "id": job })).await;
    let escrow = &body["job"]["escrow"];
    let figures = [
        "capturedCents",
        "inEscrowCents",
        "heldForTestersCents",
        "paidToTestersCents",
        "platformFeeCents",
        "refundedCents",
    ]
    .map(|field| escrow[field].as_i64().unwrap_or(-1));
    let [captured, in_escrow, held, paid, fees, refunded] = figures;
    assert_eq!(
        captured,
        paid + held + fees + refunded + in_escrow,
        "money is neither created nor destroyed: {escrow}"
    );
    figures
}

async fn all(gateway: &TestGateway, collection: &str) -> Vec<Document> {
    gateway
        .database
        .collection::<Document>(collection)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("documents")
}

#[tokio::test]
async fn refused_deliveries_answer_400_and_change_nothing() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let project = create_project(gateway, &john, "Webhook shop").await;
    open_job(gateway, &john, &project, 2).await;
    let account = world.connect_account(SARAH, "pending").await;
    let before = (
        all(gateway, "escrow_transactions").await,
        all(gateway, "stripe_webhook_events").await,
        all(gateway, "users").await,
    );
    assert!(!before.0.is_empty(), "the job's escrow is stored");

    // A genuine event that would verify Sarah's account if it were accepted.
    let event = world.event(
        "account.updated",
        stripe_fake::connected_account(&account, AccountState::Verified),
    );
    let payload = event.to_string();
    let now = world.unix_now();
    let good = world.signer.signature(&payload, now);
    let tampered = {
        let (prefix, signature) = good.split_once("v1=").expect("v1");
        let flipped = if signature.starts_with('0') { "1" } else { "0" };
        format!("{prefix}v1={flipped}{}", &signature[1..])
    };
    let stale = world.signer.signature(&payload, now - 301);
    let foreign = WebhookSigner::new("whsec_another_endpoint").signature(&payload, now);
    let garbage = "not an event";
    let garbage_signature = world.signer.signature(garbage, now);
    let cases = [
        (
            "bad signature",
            payload.as_str(),
            Some(tampered.as_str()),
            "no Stripe-Signature v1 signature matches",
        ),
        ("stale", payload.as_str(), Some(stale.as_str()), "stale"),
        (
            "missing",
            payload.as_str(),
            None,
            "missing Stripe-Signature",
        ),
        (
            "another secret",
            payload.as_str(),
            Some(foreign.as_str()),
            "no Stripe-Signature v1 signature matches",
        ),
        (
            "unparsable body",
            garbage,
            Some(garbage_signature.as_str()),
            "unreadable event",
        ),
    ];
    for (case, body, signature, message) in cases {
        let (status, answer) = gateway.deliver_webhook(body, signature).await;
        assert_eq!(status, 400, "{case}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{case}: {error}");
        assert!(
            !error.contains(WEBHOOK_SECRET_TEXT),
            "{case} leaked the secret"
        );
    }
    let after = (
        all(gateway, "escrow_transactions").await,
        all(gateway, "stripe_webhook_events").await,
        all(gateway, "users").await,
    );
    assert!(before == after, "a refused delivery changed stored state");

    // The same event, correctly signed, is accepted: the refusals were not vacuous.
    let (status, answer) = gateway.deliver_webhook(&payload, Some(&good)).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("applied")),
        "{answer}"
    );
    assert_eq!(all(gateway, "stripe_webhook_events").await.len(), 1);
    world.stop().await;
}

const WEBHOOK_SECRET_TEXT: &str = "e2e_signing_secret";

#[tokio::test]
async fn without_a_webhook_secret_the_endpoint_is_not_found() {
    let gateway = TestGateway::start().await;
    let (status, answer) = gateway.deliver_webhook("{}", Some("t=1,v1=00")).await;
    assert_eq!(status, 404, "{answer}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_capture_whose_write_was_lost_is_repaired_by_payment_intent_succeeded() {
    let world = World::stripe().await;
    let gateway = &world.gateway;
    let front = world.front();
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let project = create_project(gateway, &john, "Crash shop").await;
    let job = gateway
        .ok(
            Some(&john),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": details(&project, 2, 5_000), "journey": journey() } }),
        )
        .await["createJob"]["job"]["id"]
        .as_str()
        .expect("job id")
        .to_string();

    // Stripe captures; the gateway's write of that answer is lost.
    let client = gateway.database.client().clone();
    front.after_answering(
        "POST",
        |path| path.ends_with("/capture"),
        move |_| {
            let client = client.clone();
            Box::pin(async move { crate::stripe::arm_fail_point(&client, "update").await })
        },
    );
    let publish =
        "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { status } } }";
    let failed = gateway
        .graphql(Some(&john), publish, json!({ "input": { "jobId": job } }))
        .await;
    assert_ne!(
        outcome(&failed),
        "OK",
        "the API reports the failure: {failed}"
    );
    front.clear_hooks();
    let escrow = world.escrow_document(&job).await;
    assert_eq!(escrow.get_str("status").unwrap(), "authorized");
    assert_eq!(escrow.get_i64("captured_usd").unwrap(), 0);
    let payment_intent = escrow
        .get_str("stripe_payment_intent_id")
        .unwrap()
        .to_owned();
    let intent = front
        .upstream_json(&format!("/v1/payment_intents/{payment_intent}"))
        .await;
    assert_eq!(
        intent["status"], "succeeded",
        "Stripe did capture: {intent}"
    );

    // Stripe's event repairs it.
    let event = world.event("payment_intent.succeeded", intent.clone());
    let (status, answer) = world.deliver(&event).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("applied")),
        "{answer}"
    );
    let escrow = world.escrow_document(&job).await;
    assert_eq!(escrow.get_str("status").unwrap(), "captured");
    assert_eq!(
        escrow.get_str("stripe_charge_id").ok(),
        intent["latest_charge"]["id"].as_str()
    );
    let (again, answer) = world.deliver(&event).await;
    assert_eq!(
        (again, answer["duplicate"].as_bool()),
        (200, Some(true)),
        "{answer}"
    );

    // Publishing again opens the job on the captured escrow without charging twice.
    let published = gateway
        .ok(Some(&john), publish, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(published["publishJob"]["job"]["status"], "OPEN");
    assert_eq!(
        figures(gateway, &john, &job).await,
        [10_000, 10_000, 0, 0, 0, 0]
    );
    let captures = front.requests_to(
        "POST",
        &format!("/v1/payment_intents/{payment_intent}/capture"),
    );
    assert_eq!(captures.len(), 1, "captured once");
    let job_hex = crate::stripe::object_id(&job).to_hex();
    let intents_for_job = front
        .requests_to("POST", "/v1/payment_intents")
        .into_iter()
        .filter(|request| {
            request.form_field("metadata[job_id]").as_deref() == Some(job_hex.as_str())
        })
        .count();
    assert_eq!(intents_for_job, 1, "one PaymentIntent for the job");
    world.stop().await;
}

/// A one-seat job on `world` whose payout to Sarah is held; returns (job, submission, john).
async fn approved_seat(world: &World) -> (String, String, String) {
    let gateway = &world.gateway;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let project = create_project(gateway, &john, "Payout shop").await;
    let job = open_job(gateway, &john, &project, 1).await;
    let submission = hand_in(gateway, &sarah, &job).await;
    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    (job, submission, john)
}

async fn payout_status(gateway: &TestGateway, token: &str, submission: &str) -> Value {
    gateway
        .ok(Some(token), PAYOUT, json!({ "id": submission }))
        .await["submission"]["payout"]["status"]
        .clone()
}

#[tokio::test]
async fn a_transfer_whose_write_was_lost_is_repaired_by_transfer_created_and_credits_once() {
    let world = World::stripe().await;
    let gateway = &world.gateway;
    let front = world.front();
    let account = world.connect_account(SARAH, "verified").await;
    let (job, submission, john) = approved_seat(&world).await;
    let totals_before = world.tester_totals(SARAH).await;

    // Stripe makes the transfer; the gateway's write of it is lost.
    let client = gateway.database.client().clone();
    front.after_answering(
        "POST",
        |path| path == "/v1/transfers",
        move |_| {
            let client = client.clone();
            Box::pin(async move { crate::stripe::arm_fail_point(&client, "update").await })
        },
    );
    world.clock.advance(PAST_THE_DISPUTE_WINDOW);
    assert_eq!(
        gateway.release_due_payouts().await,
        0,
        "the sweep reports nothing paid"
    );
    front.clear_hooks();
    assert_eq!(
        payout_status(gateway, &john, &submission).await,
        "PROCESSING"
    );
    assert_eq!(
        world.submission_payout_status(&submission).await.as_deref(),
        Some("processing")
    );
    assert_eq!(world.tester_totals(SARAH).await, totals_before);
    let transfers = front.transfers();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["destination"], account.as_str());
    let transfer_id = transfers[0]["id"].as_str().unwrap().to_owned();

    // Stripe's event repairs it, once, however often and concurrently it arrives.
    let event = world.event("transfer.created", transfers[0].clone());
    let answers = join_all((0..5).map(|_| world.deliver(&event))).await;
    let processed = answers
        .iter()
        .filter(|(status, answer)| *status == 200 && answer["outcome"] == "applied")
        .count();
    let duplicates = answers
        .iter()
        .filter(|(status, answer)| *status == 200 && answer["duplicate"] == true)
        .count();
    assert_eq!((processed, duplicates), (1, 4), "{answers:?}");

    assert_eq!(payout_status(gateway, &john, &submission).await, "PAID");
    let escrow = world.escrow_document(&job).await;
    let payout = &escrow.get_array("payouts").unwrap()[0];
    let payout = payout.as_document().unwrap();
    assert_eq!(payout.get_str("status").unwrap(), "paid");
    assert_eq!(payout.get_str("stripe_transfer_id").unwrap(), transfer_id);
    assert_eq!(
        world.submission_payout_status(&submission).await.as_deref(),
        Some("paid")
    );
    let credited = (totals_before.0 + 4_250, totals_before.1 + 1);
    assert_eq!(world.tester_totals(SARAH).await, credited);
    assert_eq!(
        figures(gateway, &john, &job).await,
        [5_000, 0, 0, 4_250, 750, 0]
    );

    // The background work afterwards transfers nothing more and credits nothing more.
    let report = gateway.run_escrow_due_work().await;
    assert!(report.payouts_paid.is_empty(), "{report:?}");
    assert_eq!(front.requests_to("POST", "/v1/transfers").len(), 1);
    assert_eq!(world.tester_totals(SARAH).await, credited);
    world.stop().await;
}

#[tokio::test]
async fn the_same_event_delivered_five_times_in_a_row_or_at_once_is_processed_once() {
    let world = World::sandbox().await;
    let gateway = &world.gateway;
    let account = world.connect_account(SARAH, "pending").await;
    let events = gateway
        .database
        .collection::<Document>("stripe_webhook_events");

    let verified = world.event(
        "account.updated",
        stripe_fake::connected_account(&account, AccountState::Verified),
    );
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(world.deliver(&verified).await);
    }
    assert_eq!(answers[0].0, 200);
    assert_eq!(answers[0].1["outcome"], "applied");
    for (status, answer) in &answers[1..] {
        assert_eq!(
            (*status, answer["duplicate"].as_bool()),
            (200, Some(true)),
            "{answer}"
        );
    }

    let restricted = world.event(
        "account.updated",
        stripe_fake::connected_account(&account, AccountState::Restricted),
    );
    let answers = join_all((0..5).map(|_| world.deliver(&restricted))).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let processed = answers
        .iter()
        .filter(|(_, answer)| answer["outcome"] == "applied")
        .count();
    assert_eq!(processed, 1, "{answers:?}");

    for event in [&verified, &restricted] {
        let record = events
            .find_one(doc! { "_id": event["id"].as_str().unwrap() })
            .await
            .unwrap()
            .expect("recorded");
        assert_eq!(record.get_str("status").unwrap(), "processed");
        assert_eq!(record.get_i64("attempts").unwrap(), 1, "{record}");
    }
    assert_eq!(events.count_documents(doc! {}).await.unwrap(), 2);
    let sarah = gateway
        .database
        .collection::<Document>("users")
        .find_one(doc! { "email": SARAH })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sarah
            .get_document("tester_data")
            .unwrap()
            .get_str("stripe_connect_status")
            .unwrap(),
        "restricted"
    );
    world.stop().await;
}

#[tokio::test]
async fn a_failed_processing_answers_5xx_and_the_redelivery_processes_it() {
    let world = World::sandbox().await;
    let account = world.connect_account(SARAH, "pending").await;
    let event = world.event(
        "account.updated",
        stripe_fake::connected_account(&account, AccountState::Verified),
    );
    world.fail_next("update").await;
    let (status, answer) = world.deliver(&event).await;
    assert!(status >= 500, "{status} {answer}");
    let (status, answer) = world.deliver(&event).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("applied")),
        "{answer}"
    );
    let record = world
        .gateway
        .database
        .collection::<Document>("stripe_webhook_events")
        .find_one(doc! { "_id": event["id"].as_str().unwrap() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.get_i64("attempts").unwrap(), 2);
    assert_eq!(record.get_str("outcome").unwrap(), "applied");
    world.stop().await;
}

#[tokio::test]
async fn account_updated_verifies_a_tester_and_the_next_due_work_transfers_the_held_payout() {
    let world = World::stripe().await;
    let gateway = &world.gateway;
    let account = world.connect_account(SARAH, "pending").await;
    let (job, submission, john) = approved_seat(&world).await;
    world.clock.advance(PAST_THE_DISPUTE_WINDOW);

    let report = gateway.run_escrow_due_work().await;
    assert!(report.payouts_paid.is_empty(), "{report:?}");
    assert_eq!(payout_status(gateway, &john, &submission).await, "HELD");
    assert!(world
        .front()
        .requests_to("POST", "/v1/transfers")
        .is_empty());
    // Sarah learns her payout waits for her account, once however often the sweep retries.
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    gateway.run_escrow_due_work().await;
    gateway.deliver_notifications().await;
    let held = about_job(gateway, &sarah, &job).await;
    assert_eq!(
        types(&held),
        ["PAYOUT_HELD", "SUBMISSION_APPROVED", "JOB_POSTED"]
    );
    assert_eq!(held[0]["priority"], "HIGH");
    assert_eq!(held[0]["actionUrl"], "/settings/payouts");

    world
        .account_updated(&account, AccountState::Verified)
        .await;
    let report = gateway.run_escrow_due_work().await;
    assert_eq!(report.payouts_paid.len(), 1, "{report:?}");
    assert_eq!(payout_status(gateway, &john, &submission).await, "PAID");
    let transfers = world.front().transfers();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["destination"], account.as_str());
    assert_eq!(transfers[0]["amount"], 4_250);
    assert_eq!(
        figures(gateway, &john, &job).await,
        [5_000, 0, 0, 4_250, 750, 0]
    );
    gateway.deliver_notifications().await;
    assert_eq!(
        types(&about_job(gateway, &sarah, &job).await),
        [
            "PAYMENT_RECEIVED",
            "PAYOUT_HELD",
            "SUBMISSION_APPROVED",
            "JOB_POSTED"
        ]
    );
    world.stop().await;
}
