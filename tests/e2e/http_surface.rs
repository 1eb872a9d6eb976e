//! The HTTP surface around GraphQL: health and readiness, the offline IDE, request ids, error
//! extensions, metrics and limits.

use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway};

#[tokio::test]
async fn health_readiness_ide_request_ids_and_metrics() {
    let gateway = TestGateway::start().await;
    let health = gateway
        .http
        .get(format!("{}/healthz", gateway.base_url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = gateway
        .http
        .get(format!("{}/readyz", gateway.base_url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "the embedded store answers ping");

    let ide = gateway
        .http
        .get(format!("{}/graphql", gateway.base_url))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("IDE");
    assert_eq!(ide.status(), 200);
    let page = ide.text().await.expect("html");
    assert!(page.contains("/graphiql/graphiql.min.js"));
    assert!(
        !page.contains("https://"),
        "the IDE loads nothing from a CDN"
    );
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        let response = gateway
            .http
            .get(format!("{}/graphiql/{asset}", gateway.base_url))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), 200, "{asset} is served by the binary");
    }

    let echoed = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .header("x-request-id", "e2e-request-42")
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .expect("graphql");
    assert_eq!(
        echoed
            .headers()
            .get("x-request-id")
            .map(|value| value.to_str().unwrap_or_default()),
        Some("e2e-request-42")
    );
    let body: Value = echoed.json().await.expect("json");
    assert_eq!(outcome(&body), "UNAUTHENTICATED");
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        "e2e-request-42"
    );

    let generated = gateway
        .http
        .get(format!("{}/healthz", gateway.base_url))
        .send()
        .await
        .expect("healthz");
    let generated_id = generated
        .headers()
        .get("x-request-id")
        .expect("a request id is generated")
        .to_str()
        .expect("ascii");
    assert_eq!(generated_id.len(), 24);

    let get_query = gateway
        .http
        .get(format!(
            "{}/graphql?query=%7B__typename%7D",
            gateway.base_url
        ))
        .send()
        .await
        .expect("GET query");
    let get_body: Value = get_query.json().await.expect("json");
    assert_eq!(get_body["data"]["__typename"], "Query");
    let get_mutation = gateway
        .http
        .get(format!(
            "{}/graphql?query=mutation%7Blogout(input:%7B%7D)%7Bok%7D%7D",
            gateway.base_url
        ))
        .send()
        .await
        .expect("GET mutation");
    assert_eq!(get_mutation.status(), 405, "mutations need POST");

    let invalid = gateway.graphql(None, "{ nope }", json!({})).await;
    assert_eq!(outcome(&invalid), "GRAPHQL_VALIDATION_FAILED");
    let deep = "{ me { organization { members { edges { node { user { organization { members { edges { node { user { organization { id } } } } } } } } } } } } }";
    assert_eq!(
        outcome(&gateway.graphql(None, deep, json!({})).await),
        "GRAPHQL_VALIDATION_FAILED",
        "queries deeper than the limit are refused before running"
    );

    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"}")
    );
    assert!(metrics.contains("\nmongodb_commands_total "));
    assert!(
        !metrics.contains("mongodb_commands_by_name_total"),
        "names are counted only when asked for"
    );
    gateway.stop().await;
}
