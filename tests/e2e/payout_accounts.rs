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
