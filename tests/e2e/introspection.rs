//! Introspection as partners' tools do it, with graphql-js itself (installed by
//! `cargo xtask node`, found through `GRAPHQL_JS_MODULES`): the standard introspection queries
//! succeed under the default limits and rebuild exactly `schema.graphql`. And the production
//! policy: anonymous callers may not introspect, an `INTROSPECT` API key may; GraphiQL and
//! `/metrics` are closed unless configured.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};

fn schema_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql")
}

/// Runs graphql-js's introspection `variant` against `url`; returns its verdict line(s).
fn graphql_js_introspection(url: &str, variant: &str, bearer: Option<&str>) -> (bool, String) {
    let modules = std::env::var("GRAPHQL_JS_MODULES").expect(
        "GRAPHQL_JS_MODULES is not set: run `cargo xtask node` (or `cargo xtask test`) and export what it prints",
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphql-js/introspect.cjs");
    let mut command = Command::new("node");
    command
        .arg(script)
        .arg(url)
        .arg(schema_file())
        .arg(variant)
        .env("GRAPHQL_JS_MODULES", modules);
    if let Some(bearer) = bearer {
        command.arg(bearer);
    }
    let output = command.output().expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn graphql_js(url: String, variant: &'static str, bearer: Option<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || graphql_js_introspection(&url, variant, bearer.as_deref()))
        .await
        .expect("the node run finishes")
}

#[tokio::test]
async fn graphql_js_standard_introspection_rebuilds_the_committed_schema() {
    let gateway = TestGateway::start().await;
    let url = format!("{}/graphql", gateway.base_url);
    for variant in ["default", "deprecated-inputs", "everything"] {
        let (same, verdict) = graphql_js(url.clone(), variant, None).await;
        assert!(same, "{variant}: {verdict}");
        assert_eq!(verdict.trim(), "SAME");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn production_introspection_is_refused_to_anonymous_callers_and_served_to_introspect_keys() {
    let gateway = TestGateway::start_with(|config| {
        config.graphql_introspection = Some(gateway::config::IntrospectionSetting::IntrospectKeys);
    })
    .await;
    let url = format!("{}/graphql", gateway.base_url);
    let (same, verdict) = graphql_js(url.clone(), "default", None).await;
    assert!(!same, "anonymous introspection must be refused: {verdict}");
    assert!(verdict.contains("FORBIDDEN"), "{verdict}");
    let body = gateway
        .graphql(None, "{ __type(name: \"User\") { name } }", json!({}))
        .await;
    assert_eq!(outcome(&body), "FORBIDDEN");
    assert!(body.get("data").is_none());

    let (owner, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let organization = gateway
        .ok(Some(&owner), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .as_str()
        .expect("organization")
        .to_string();
    let key = |scope: &'static str| {
        let gateway = &gateway;
        let owner = owner.clone();
        let organization = organization.clone();
        async move {
            gateway
                .ok(
                    Some(&owner),
                    "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
                    json!({ "input": { "organizationId": organization, "name": scope, "scope": scope } }),
                )
                .await["createApiKey"]["secret"]
                .as_str()
                .expect("secret")
                .to_string()
        }
    };
    let reader = key("READ").await;
    let (same, verdict) = graphql_js(url.clone(), "default", Some(reader)).await;
    assert!(
        !same && verdict.contains("FORBIDDEN"),
        "a READ key: {verdict}"
    );
    let signed_in = gateway
        .graphql(
            Some(&owner),
            "{ __schema { queryType { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(outcome(&signed_in), "FORBIDDEN", "a signed-in user");
    let introspector = key("INTROSPECT").await;
    let (same, verdict) = graphql_js(url, "default", Some(introspector.clone())).await;
    assert!(same, "an INTROSPECT key: {verdict}");
    let mutation = gateway
        .graphql(
            Some(&introspector),
            "mutation { logout(input: {}) { ok } }",
            json!({}),
        )
        .await;
    assert_eq!(
        outcome(&mutation),
        "FORBIDDEN",
        "an INTROSPECT key cannot write"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn graphiql_and_metrics_are_closed_unless_configured() {
    let token = "metrics-token-0123456789-abcdefghijklmnop";
    let gateway = TestGateway::start_with(|config| {
        config.graphiql = Some(false);
        config.metrics_token = Some(token.to_string());
    })
    .await;
    let ide = gateway
        .http
        .get(format!("{}/graphql", gateway.base_url))
        .header("accept", "text/html")
        .send()
        .await
        .expect("answered");
    assert_ne!(ide.status(), 200, "no IDE page");
    let asset = gateway
        .http
        .get(format!("{}/graphiql/graphiql.min.js", gateway.base_url))
        .send()
        .await
        .expect("answered");
    assert_eq!(asset.status(), 404);
    let metrics = |bearer: Option<&'static str>| {
        let mut request = gateway.http.get(format!("{}/metrics", gateway.base_url));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    assert_eq!(metrics(None).await.expect("answered").status(), 401);
    assert_eq!(
        metrics(Some("metrics-token-wrong-0123456789-abcdefgh"))
            .await
            .expect("answered")
            .status(),
        401
    );
    let allowed = metrics(Some(token)).await.expect("answered");
    assert_eq!(allowed.status(), 200);
    assert!(allowed
        .text()
        .await
        .expect("text")
        .contains("http_requests_total"));
    gateway.stop().await;
}
