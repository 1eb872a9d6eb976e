//! Testers connect the account their payouts go to (`connectPayoutAccount`, `User.payoutAccount`)
//! on the sandbox provider, whose accounts are verified at once.

use serde_json::json;

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};

const CONNECT: &str = "mutation($input: ConnectPayoutAccountInput) {
    connectPayoutAccount(input: $input) { payoutAccount { accountId status } onboardingUrl } }";

#[tokio::test]
async fn a_tester_connects_one_payout_account_that_only_they_and_admins_see() {
    let gateway = TestGateway::start().await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let mine = "{ me { id payoutAccount { accountId status } } }";

    let before = gateway.ok(Some(&sarah), mine, json!({})).await;
    assert!(before["me"]["payoutAccount"].is_null(), "{before}");
    let sarah_id = before["me"]["id"].as_str().expect("id").to_string();

    // Clients have no payouts; a country must be a two-letter code. Nothing is stored.
    let refused = gateway.graphql(Some(&john), CONNECT, json!({})).await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    let anonymous = gateway.graphql(None, CONNECT, json!({})).await;
    assert_eq!(outcome(&anonymous), "UNAUTHENTICATED", "{anonymous}");
    let bad = gateway
        .graphql(
            Some(&sarah),
            CONNECT,
            json!({ "input": { "country": "USA" } }),
        )
        .await;
    assert_eq!(outcome(&bad), "BAD_USER_INPUT", "{bad}");
    let still = gateway.ok(Some(&sarah), mine, json!({})).await;
    assert!(still["me"]["payoutAccount"].is_null(), "{still}");

    // The sandbox verifies at once: no onboarding link. Asking again keeps the one account.
    let connected = gateway
        .ok(
            Some(&sarah),
            CONNECT,
            json!({ "input": { "country": "us" } }),
        )
        .await;
    let account = &connected["connectPayoutAccount"]["payoutAccount"];
    assert_eq!(account["status"], "VERIFIED");
    let account_id = account["accountId"]
        .as_str()
        .expect("account id")
        .to_string();
    assert!(account_id.starts_with("acct_sandbox_"), "{account_id}");
    assert!(connected["connectPayoutAccount"]["onboardingUrl"].is_null());
    let again = gateway.ok(Some(&sarah), CONNECT, json!({})).await;
    assert_eq!(
        again["connectPayoutAccount"]["payoutAccount"]["accountId"],
        account_id.as_str()
    );

    // Stored on the user as the seed's fields.
    let stored = gateway
        .database
        .collection::<bson::Document>("users")
        .find_one(bson::doc! { "email": "sarah.tester@gmail.com" })
        .await
        .expect("read")
        .expect("user");
    let data = stored.get_document("tester_data").expect("tester data");
    assert_eq!(data.get_str("stripe_connect_id"), Ok(account_id.as_str()));
    assert_eq!(data.get_str("stripe_connect_status"), Ok("verified"));

    // Sarah and admins see it; a client looking at Sarah does not.
    let by_id = "query($id: ID!) { node(id: $id) { ... on User { payoutAccount { accountId } } } }";
    let seen = gateway
        .ok(Some(&admin), by_id, json!({ "id": sarah_id }))
        .await;
    assert_eq!(
        seen["node"]["payoutAccount"]["accountId"],
        account_id.as_str()
    );
    let hidden = gateway
        .graphql(Some(&john), by_id, json!({ "id": sarah_id }))
        .await;
    assert!(
        hidden["data"]["node"].is_null() || hidden["data"]["node"]["payoutAccount"].is_null(),
        "{hidden}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn on_stripe_a_tester_onboards_through_a_link_and_account_updated_verifies_them() {
    let world = crate::stripe::World::stripe().await;
    let gateway = &world.gateway;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;

    let connected = gateway
        .ok(
            Some(&sarah),
            CONNECT,
            json!({ "input": { "country": "DE" } }),
        )
        .await;
    let account = &connected["connectPayoutAccount"]["payoutAccount"];
    assert_eq!(account["status"], "PENDING", "{connected}");
    let account_id = account["accountId"].as_str().expect("id").to_string();
    let url = connected["connectPayoutAccount"]["onboardingUrl"]
        .as_str()
        .expect("an onboarding link while pending")
        .to_string();
    assert!(url.contains(&account_id), "{url}");

    // One account, created with the tester's email, country and id, keyed by the tester; the
    // link sends the tester back to this platform's pages.
    let creations = world.front().requests_to("POST", "/v1/accounts");
    assert_eq!(creations.len(), 1);
    let creation = &creations[0];
    assert_eq!(
        creation.form_field("email").as_deref(),
        Some("sarah.tester@gmail.com")
    );
    assert_eq!(creation.form_field("country").as_deref(), Some("DE"));
    assert_eq!(
        creation
            .form_field("capabilities[transfers][requested]")
            .as_deref(),
        Some("true")
    );
    assert!(creation
        .idempotency_key
        .as_deref()
        .is_some_and(|key| key.starts_with("tester:") && key.ends_with(":connect")));
    let links = world.front().requests_to("POST", "/v1/account_links");
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].form_field("type").as_deref(),
        Some("account_onboarding")
    );
    assert!(links[0]
        .form_field("return_url")
        .is_some_and(|url| url.ends_with("/payouts/onboarding/done")));

    // Asking again gives a fresh link for the same account, never a second account.
    let again = gateway.ok(Some(&sarah), CONNECT, json!({})).await;
    assert_eq!(
        again["connectPayoutAccount"]["payoutAccount"]["accountId"],
        account_id.as_str()
    );
    assert!(again["connectPayoutAccount"]["onboardingUrl"].is_string());
    assert_eq!(world.front().requests_to("POST", "/v1/accounts").len(), 1);
    assert_eq!(
        world.front().requests_to("POST", "/v1/account_links").len(),
        2
    );

    // Stripe reports the account can receive transfers: verified, no more link.
    world
        .account_updated(&account_id, stripe_fake::AccountState::Verified)
        .await;
    let verified = gateway.ok(Some(&sarah), CONNECT, json!({})).await;
    assert_eq!(
        verified["connectPayoutAccount"]["payoutAccount"]["status"],
        "VERIFIED"
    );
    assert!(verified["connectPayoutAccount"]["onboardingUrl"].is_null());
    let me = gateway
        .ok(
            Some(&sarah),
            "{ me { payoutAccount { status } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["payoutAccount"]["status"], "VERIFIED");
    world.stop().await;
}
