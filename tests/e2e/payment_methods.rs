//! Clients pay for their own jobs (issue #10): each client has one Stripe customer, saves a card
//! with a SetupIntent confirmed in their browser, and publishing charges that customer and card,
//! never a platform-wide one. Over HTTP against the gateway on Stripe (localstripe behind the
//! front), and on the sandbox.

use bson::{doc, Document};
use serde_json::{json, Value};

use crate::escrow::draft_job_for_every_device;
use crate::harness::{outcome, TestGateway};
use crate::marketplace::create_project;
use crate::stripe::{object_id, World};

pub const CREATE_SETUP_INTENT: &str = "mutation { createPaymentSetupIntent {
    setupIntentId clientSecret status } }";
pub const SAVE_PAYMENT_METHOD: &str = "mutation($input: SavePaymentMethodInput!) {
    savePaymentMethod(input: $input) { paymentMethodId } }";
const PUBLISH: &str =
    "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { status } } }";

/// The stored `client_data` of the user with `email`.
async fn client_data(gateway: &TestGateway, email: &str) -> Document {
    gateway
        .database
        .collection::<Document>("users")
        .find_one(doc! { "email": email })
        .await
        .expect("user read")
        .expect("the user exists")
        .get_document("client_data")
        .cloned()
        .unwrap_or_default()
}

/// A verified client with a project and a two-seat draft; returns `(token, job)`.
async fn client_with_draft(gateway: &TestGateway, email: &str) -> (String, String) {
    let token = gateway.register_verified(email, "CLIENT").await;
    let project = create_project(gateway, &token, email).await;
    let job = draft_job_for_every_device(gateway, &token, &project, 2).await;
    (token, job)
}

async fn stored_job_status(gateway: &TestGateway, job: &str) -> String {
    gateway
        .database
        .collection::<Document>("jobs")
        .find_one(doc! { "_id": object_id(job) })
        .await
        .expect("job read")
        .expect("the job exists")
        .get_str("status")
        .expect("status")
        .to_string()
}

async fn escrow_count(gateway: &TestGateway, job: &str) -> u64 {
    gateway
        .database
        .collection::<Document>("escrow_transactions")
        .count_documents(doc! { "job_id": object_id(job) })
        .await
        .expect("escrows counted")
}

#[tokio::test]
async fn a_client_without_a_saved_payment_method_cannot_publish_and_nothing_is_charged() {
    let world = World::stripe().await;
    let gateway = &world.gateway;
    let (token, job) = client_with_draft(gateway, "no.card@example.com").await;
    let intents_before = world
        .front()
        .requests_to("POST", "/v1/payment_intents")
        .len();

    let refused = gateway
        .graphql(Some(&token), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(outcome(&refused), "FAILED_PRECONDITION", "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("savePaymentMethod"),
        "{refused}"
    );
    assert_eq!(stored_job_status(gateway, &job).await, "draft");
    assert_eq!(escrow_count(gateway, &job).await, 0);
    assert_eq!(
        world
            .front()
            .requests_to("POST", "/v1/payment_intents")
            .len(),
        intents_before,
        "nothing was sent to Stripe"
    );
    world.stop().await;
}

#[tokio::test]
async fn publishing_charges_the_clients_own_customer_and_the_card_they_saved() {
    let world = World::stripe().await;
    let gateway = &world.gateway;
    let email = "own.card@example.com";
    let (token, job) = client_with_draft(gateway, email).await;
    let (setup_intent, method) = world.save_card(&token, "pm_card_visa").await;
    let stored = client_data(gateway, email).await;
    let customer = stored
        .get_str("stripe_customer_id")
        .expect("a customer")
        .to_string();
    assert!(customer.starts_with("cus_"), "{customer}");
    assert_eq!(
        stored.get_str("default_payment_method_id").ok(),
        Some(method.as_str())
    );
    // The SetupIntent was made off-session for that customer.
    let intent = world
        .front()
        .upstream_json(&format!("/v1/setup_intents/{setup_intent}"))
        .await;
    assert_eq!(intent["customer"], customer.as_str());
    assert_eq!(intent["usage"], "off_session");

    let published = gateway
        .ok(Some(&token), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(published["publishJob"]["job"]["status"], "OPEN");
    let escrow = world.escrow_document(&job).await;
    assert_eq!(escrow.get_str("status").unwrap(), "captured");
    let payment = escrow.get_str("stripe_payment_intent_id").unwrap();
    let charged = world
        .front()
        .upstream_json(&format!("/v1/payment_intents/{payment}"))
        .await;
    assert_eq!(charged["customer"], customer.as_str(), "{charged}");
    assert_eq!(charged["payment_method"], method.as_str(), "{charged}");
    assert_eq!(charged["amount"], 10_000);
    assert_eq!(charged["status"], "succeeded");
    let sent = world.front().requests_to("POST", "/v1/payment_intents");
    let sent = sent
        .iter()
        .find(|request| request.form_value("customer") == Some(customer.as_str()))
        .expect("the PaymentIntent request");
    assert_eq!(sent.form_value("off_session"), Some("true"));
    assert_eq!(sent.form_value("confirm"), Some("true"));
    world.stop().await;
}

#[tokio::test]
async fn a_client_cannot_save_another_clients_setup_intent_or_a_raw_payment_method() {
    let world = World::stripe().await;
    let gateway = &world.gateway;
    let alice = gateway
        .register_verified("alice.card@example.com", "CLIENT")
        .await;
    let bob = gateway
        .register_verified("bob.card@example.com", "CLIENT")
        .await;
    let (alices_intent, _) = world.save_card(&alice, "pm_card_visa").await;
    let save = |token: String, id: Value| async move {
        gateway
            .graphql(
                Some(&token),
                SAVE_PAYMENT_METHOD,
                json!({ "input": { "setupIntentId": id } }),
            )
            .await
    };

    // Bob has no customer yet, then one of his own: Alice's SetupIntent is refused either way.
    let refused = save(bob.clone(), json!(alices_intent)).await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    gateway.ok(Some(&bob), CREATE_SETUP_INTENT, json!({})).await;
    let refused = save(bob.clone(), json!(alices_intent)).await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");

    // His own SetupIntent before the browser confirmed it has set up nothing.
    let unconfirmed = gateway.ok(Some(&bob), CREATE_SETUP_INTENT, json!({})).await;
    let unconfirmed = unconfirmed["createPaymentSetupIntent"]["setupIntentId"].clone();
    let refused = save(bob.clone(), unconfirmed).await;
    assert_eq!(outcome(&refused), "CONFLICT", "{refused}");

    // A raw payment method id, a path, an unknown id: never sent on as they are.
    for (bad, code) in [
        (json!("pm_card_visa"), "BAD_USER_INPUT"),
        (json!("seti_../../v1/customers"), "BAD_USER_INPUT"),
        (json!("x".repeat(10_000)), "BAD_USER_INPUT"),
        (json!("seti_doesnotexist"), "NOT_FOUND"),
    ] {
        let refused = save(bob.clone(), bad.clone()).await;
        assert_eq!(outcome(&refused), code, "{bad}: {refused}");
        if code == "BAD_USER_INPUT" {
            assert_eq!(refused["errors"][0]["extensions"]["field"], "setupIntentId");
        }
    }
    let bobs = client_data(gateway, "bob.card@example.com").await;
    assert!(
        bobs.get("default_payment_method_id").is_none(),
        "nothing stored: {bobs}"
    );
    // Testers and the unverified have no payment methods.
    let tester = gateway
        .register_verified("tess.card@example.com", "TESTER")
        .await;
    let refused = gateway
        .graphql(Some(&tester), CREATE_SETUP_INTENT, json!({}))
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    let unverified = gateway.register("new.card@example.com", "CLIENT").await;
    let refused = gateway
        .graphql(Some(&unverified), CREATE_SETUP_INTENT, json!({}))
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    world.stop().await;
}

#[tokio::test]
async fn racing_first_setup_intents_create_one_customer_for_the_client() {
    let world = World::stripe().await;
    let gateway = &world.gateway;
    let email = "racing.card@example.com";
    let token = gateway.register_verified(email, "CLIENT").await;
    let answers = futures_util::future::join_all(
        (0..8).map(|_| gateway.graphql(Some(&token), CREATE_SETUP_INTENT, json!({}))),
    )
    .await;
    let customer = client_data(gateway, email)
        .await
        .get_str("stripe_customer_id")
        .expect("a customer")
        .to_string();
    for answer in &answers {
        assert_eq!(outcome(answer), "OK", "{answer}");
        let id = answer["data"]["createPaymentSetupIntent"]["setupIntentId"]
            .as_str()
            .expect("an id");
        let intent = world
            .front()
            .upstream_json(&format!("/v1/setup_intents/{id}"))
            .await;
        assert_eq!(intent["customer"], customer.as_str(), "{intent}");
    }
    let customers = world.front().upstream_json("/v1/customers?limit=100").await;
    let theirs: Vec<&Value> = customers["data"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|listed| listed["email"] == email)
        .collect();
    assert_eq!(theirs.len(), 1, "{customers}");
    assert_eq!(theirs[0]["id"], customer.as_str());
    world.stop().await;
}

#[tokio::test]
async fn on_the_sandbox_a_setup_intent_is_already_succeeded_and_publishing_charges_that_card() {
    let gateway = TestGateway::start().await;
    let (token, job) = client_with_draft(&gateway, "sandbox.card@example.com").await;
    let refused = gateway
        .graphql(Some(&token), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(outcome(&refused), "FAILED_PRECONDITION", "{refused}");
    assert_eq!(escrow_count(&gateway, &job).await, 0);

    let method = gateway.save_sandbox_card(&token).await;
    assert!(method.starts_with("pm_sandbox_"), "{method}");
    let published = gateway
        .ok(Some(&token), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(published["publishJob"]["job"]["status"], "OPEN");
    let escrow = gateway
        .database
        .collection::<Document>("escrow_transactions")
        .find_one(doc! { "job_id": object_id(&job) })
        .await
        .expect("escrow read")
        .expect("an escrow");
    assert_eq!(
        escrow.get_str("stripe_payment_method_id").ok(),
        Some(method.as_str())
    );
    assert_eq!(escrow.get_i64("captured_usd").unwrap(), 10_000);
    gateway.stop().await;
}

#[tokio::test]
async fn an_organization_admin_who_publishes_pays_with_their_own_card_never_the_owners() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway
        .login("john.doe@techcorp.com", crate::harness::DEMO_PASSWORD)
        .await;
    let admin_email = "paying.admin@techcorp.com";
    let admin = gateway.register_verified(admin_email, "CLIENT").await;
    let organization = gateway
        .ok(Some(&john), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .as_str()
        .expect("john's organization")
        .to_string();
    gateway
        .join_organization(&john, &organization, &admin, admin_email, "ADMIN")
        .await;
    let project = create_project(&gateway, &john, "Paid by the publisher").await;
    let job = draft_job_for_every_device(&gateway, &john, &project, 2).await;

    // John (the owner) has a card; the admin has none: the admin's publish is refused.
    let refused = gateway
        .graphql(Some(&admin), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(outcome(&refused), "FAILED_PRECONDITION", "{refused}");
    assert_eq!(escrow_count(&gateway, &job).await, 0);

    let admins_card = gateway.save_sandbox_card(&admin).await;
    let johns_card = client_data(&gateway, "john.doe@techcorp.com")
        .await
        .get_str("default_payment_method_id")
        .expect("the demo owner's card")
        .to_string();
    assert_ne!(admins_card, johns_card);
    gateway
        .ok(Some(&admin), PUBLISH, json!({ "input": { "jobId": job } }))
        .await;
    let escrow = gateway
        .database
        .collection::<Document>("escrow_transactions")
        .find_one(doc! { "job_id": object_id(&job) })
        .await
        .expect("escrow read")
        .expect("an escrow");
    assert_eq!(
        escrow.get_str("stripe_payment_method_id").ok(),
        Some(admins_card.as_str())
    );
    gateway.stop().await;
}
