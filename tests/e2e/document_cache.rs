//! The parsed-document cache, seen from outside: a repeated document is looked up by hash instead
//! of parsed and validated (counted by `/metrics`), and what validation decided from variable
//! values is still decided per request: values that do not fit are refused before execution, and
//! the cost follows the page size asked for.

use serde_json::{json, Value};

use crate::harness::{TestGateway, DEMO_PASSWORD};

/// `graphql_document_cache_lookups_total` by outcome, from `/metrics`: (hits, misses).
async fn lookups(gateway: &TestGateway) -> (u64, u64) {
    let text = gateway.metrics().await;
    let count = |outcome: &str| {
        let prefix = format!("graphql_document_cache_lookups_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .expect("the cache's lookups are in /metrics")
    };
    (count("hit"), count("miss"))
}

const AVAILABLE: &str = "query Available($filter: AvailableJobsFilter!, $first: Int) { availableJobs(filter: $filter, first: $first) { edges { node { id title } } } }";

async fn post(gateway: &TestGateway, token: &str, variables: Value) -> (u16, Value) {
    let response = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .header("accept", "application/graphql-response+json")
        .bearer_auth(token)
        .json(&json!({ "query": AVAILABLE, "variables": variables }))
        .send()
        .await
        .expect("the request reaches the gateway");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_repeated_document_is_parsed_and_validated_once_and_answers_the_same() {
    let gateway = TestGateway::start().await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let variables = json!({ "filter": {}, "first": 5 });
    let before = lookups(&gateway).await;
    let (first_status, first) = post(&gateway, &sarah, variables.clone()).await;
    let after_first = lookups(&gateway).await;
    let (second_status, second) = post(&gateway, &sarah, variables).await;
    let after_second = lookups(&gateway).await;
    assert_eq!(
        (first_status, second_status),
        (200, 200),
        "{first} {second}"
    );
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(first["data"], second["data"]);
    assert!(
        !first["data"]["availableJobs"]["edges"]
            .as_array()
            .expect("edges")
            .is_empty(),
        "the demo has open jobs for Sarah: {first}"
    );
    assert_eq!(after_first.1 - before.1, 1, "the first sight is a miss");
    assert_eq!(after_second.0 - after_first.0, 1, "the second is a hit");
    assert_eq!(after_second.1, after_first.1, "and parses nothing");
    gateway.stop().await;
}

#[tokio::test]
async fn a_cached_document_still_refuses_variables_that_do_not_fit_before_running() {
    let gateway = TestGateway::start().await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (status, body) = post(
        &gateway,
        &sarah,
        json!({ "filter": { "minBudgetPerTesterCents": 100 }, "first": 5 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let hits_before = lookups(&gateway).await.0;
    for wrong in [
        json!("100"),
        json!(1.5),
        json!(2_147_483_648_i64),
        json!({ "cents": 1 }),
    ] {
        let (status, body) = post(
            &gateway,
            &sarah,
            json!({ "filter": { "minBudgetPerTesterCents": wrong }, "first": 5 }),
        )
        .await;
        assert_eq!(status, 400, "{wrong}: {body}");
        assert!(
            body.get("data").is_none(),
            "a request error has no data: {body}"
        );
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(error["extensions"]["variable"], "filter", "{body}");
        assert_eq!(
            error["extensions"]["field"], "minBudgetPerTesterCents",
            "{body}"
        );
    }
    assert_eq!(
        lookups(&gateway).await.0 - hits_before,
        4,
        "each wrong value met the cached document"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_cached_document_costs_what_its_page_size_asks_for() {
    let gateway = TestGateway::start().await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let mut costs = Vec::new();
    for first in [1, 20, 1, 20] {
        let (status, body) = post(&gateway, &sarah, json!({ "filter": {}, "first": first })).await;
        assert_eq!(status, 200, "{body}");
        costs.push(
            body["extensions"]["cost"]["requested"]
                .as_u64()
                .expect("extensions.cost.requested"),
        );
    }
    assert_eq!(costs[0], costs[2], "{costs:?}");
    assert_eq!(costs[1], costs[3], "{costs:?}");
    assert!(
        costs[1] > costs[0] * 5,
        "twenty rows cost more than one: {costs:?}"
    );
    gateway.stop().await;
}
