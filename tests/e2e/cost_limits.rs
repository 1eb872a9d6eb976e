//! Per-caller budgets by cost: each operation's complexity is charged to its caller (user, API
//! key, or address when anonymous); a spent budget answers 429 with `Retry-After` and the
//! `RateLimit` header fields, others are unaffected, and every answer reports
//! `extensions.cost`.

use serde_json::{json, Value};

use crate::harness::{TestGateway, DEMO_PASSWORD};

/// Sends `query` as `bearer` from `address` (the gateway trusts the loopback proxy); returns the
/// status, the headers that matter here and the body.
async fn send(
    gateway: &TestGateway,
    bearer: Option<&str>,
    address: &str,
    query: &str,
) -> (u16, Option<String>, Option<String>, Value) {
    let mut request = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .header("x-forwarded-for", address)
        .json(&json!({ "query": query }));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header("retry-after");
    let rate_limit = header("ratelimit");
    let body = response.json().await.expect("json");
    (status, retry_after, rate_limit, body)
}

/// A query of known cost: `copies` aliased `me { id }` lookups, two each.
fn costly(copies: usize) -> String {
    let fields: String = (0..copies)
        .map(|index| format!("m{index}: me {{ id }} "))
        .collect();
    format!("{{ {fields} }}")
}

#[tokio::test]
async fn a_user_who_spends_the_cost_budget_gets_429_and_others_are_unaffected() {
    let gateway = TestGateway::start_with(|config| {
        config.graphql_max_complexity = 100;
        config.graphql_cost_per_minute_user = 100;
        config.graphql_cost_per_minute_address = 100;
    })
    .await;
    let (spender, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (other, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;

    let (status, _, rate_limit, body) =
        send(&gateway, Some(&spender), "198.51.100.1", &costly(30)).await;
    assert_eq!(status, 200, "{body}");
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["requested"], 60, "{body}");
    assert_eq!(cost["limit"], 100);
    assert_eq!(cost["remaining"], 40);
    assert!(
        rate_limit
            .as_deref()
            .is_some_and(|value| value.starts_with("\"cost\";r=40")),
        "{rate_limit:?}"
    );

    let (status, retry_after, _, body) =
        send(&gateway, Some(&spender), "198.51.100.1", &costly(30)).await;
    assert_eq!(status, 429, "{body}");
    let seconds: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!(seconds >= 1);
    assert!(body.get("data").is_none(), "nothing ran: {body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(body["errors"][0]["extensions"]["cost"]["requested"], 60);

    // Another user from the same address has their own budget.
    let (status, _, _, body) = send(&gateway, Some(&other), "198.51.100.1", &costly(30)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["extensions"]["cost"]["remaining"], 40);
    gateway.stop().await;
}

#[tokio::test]
async fn anonymous_callers_are_charged_per_address() {
    let gateway = TestGateway::start_with(|config| {
        config.graphql_max_complexity = 100;
        config.graphql_cost_per_minute_address = 100;
    })
    .await;
    let typenames = |count: usize| {
        let fields: String = (0..count)
            .map(|index| format!("t{index}: __typename "))
            .collect();
        format!("{{ {fields} }}")
    };
    let (status, _, _, body) = send(&gateway, None, "203.0.113.7", &typenames(30)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["extensions"]["cost"]["requested"], 30,
        "__typename counts: {body}"
    );
    for _ in 0..2 {
        send(&gateway, None, "203.0.113.7", &typenames(30)).await;
    }
    let (status, retry_after, _, body) = send(&gateway, None, "203.0.113.7", &typenames(30)).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some());
    let (status, _, _, body) = send(&gateway, None, "203.0.113.8", &typenames(30)).await;
    assert_eq!(status, 200, "another address is unaffected: {body}");
    gateway.stop().await;
}
