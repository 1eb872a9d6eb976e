//! Attacks on `/graphql`'s request limits, each performed over HTTP and shown refused with
//! nothing changed: oversized and half-sent requests, cross-site "simple" posts, documents past
//! the size, token, root-field, alias and depth limits, many `node` lookups, huge invite lists,
//! and CORS. Plus a property test: random documents up to the limits never get a 5xx.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::batching::commands_so_far;
use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, details, journey};

const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }";

async fn users_with_email(gateway: &TestGateway, email: &str) -> u64 {
    gateway
        .database
        .collection::<bson::Document>("users")
        .count_documents(bson::doc! { "email": email })
        .await
        .expect("count")
}

/// The `extensions.limit` of the first error.
fn limit(body: &Value) -> &str {
    body["errors"][0]["extensions"]["limit"]
        .as_str()
        .unwrap_or("none")
}

/// Sends raw bytes on a fresh connection and returns everything the server answers until it
/// closes the connection (or 20 s pass, which fails the test).
async fn raw_exchange(gateway: &TestGateway, request: &[u8], pause_after: bool) -> String {
    let address = gateway.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("send");
    if !pause_after {
        stream.shutdown().await.ok();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection instead of waiting forever")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let gateway = TestGateway::start_with(|config| config.max_body_bytes = 64 * 1024).await;
    let email = "huge-body@example.com";
    let padding = "x".repeat(128 * 1024);
    let body = json!({
        "query": REGISTER,
        "variables": { "input": { "email": email, "password": "Correct-Horse-Battery-9",
            "fullName": padding, "role": "TESTER" } },
    });
    let response = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 413);

    // Chunked, so no Content-Length announces it: the limit stops the stream itself.
    let text = body.to_string();
    let mut request = b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for chunk in text.as_bytes().chunks(8 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(&gateway, &request, false).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(users_with_email(&gateway, email).await, 0, "nothing ran");
    gateway.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let gateway = TestGateway::start_with(|config| config.header_read_timeout_seconds = 1).await;
    let answer = raw_exchange(
        &gateway,
        b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: appl",
        true,
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_body_is_answered_408_and_nothing_runs() {
    let gateway = TestGateway::start_with(|config| config.body_read_timeout_seconds = 1).await;
    let email = "slow-body@example.com";
    let body = json!({
        "query": REGISTER,
        "variables": { "input": { "email": email, "password": "Correct-Horse-Battery-9",
            "fullName": "Slow Loris", "role": "TESTER" } },
    })
    .to_string();
    let half = &body[..body.len() / 2];
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{half}",
        body.len()
    );
    let answer = raw_exchange(&gateway, request.as_bytes(), true).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(users_with_email(&gateway, email).await, 0);
    gateway.stop().await;
}

#[tokio::test]
async fn cross_site_simple_posts_are_refused_with_415_and_change_nothing() {
    let gateway = TestGateway::start().await;
    let email = "csrf-victim@example.com";
    let document = json!({
        "query": REGISTER,
        "variables": { "input": { "email": email, "password": "Correct-Horse-Battery-9",
            "fullName": "Cross Site", "role": "TESTER" } },
    })
    .to_string();
    let url = format!("{}/graphql", gateway.base_url);
    let attempts: Vec<(Option<&str>, String)> = vec![
        (Some("text/plain"), document.clone()),
        (
            Some("application/x-www-form-urlencoded"),
            format!("query={}", document),
        ),
        (
            Some("multipart/form-data; boundary=X"),
            format!("--X\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{document}\r\n--X--\r\n"),
        ),
        (None, document.clone()),
    ];
    for (content_type, body) in attempts {
        let mut request = gateway.http.post(&url).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), 415, "{content_type:?}");
        let answer: Value = response.json().await.expect("JSON error");
        assert_eq!(answer["errors"][0]["extensions"]["field"], "content-type");
        assert!(answer.get("data").is_none());
    }
    assert_eq!(
        users_with_email(&gateway, email).await,
        0,
        "no mutation ran"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn documents_past_the_text_limits_are_refused_before_parsing() {
    let gateway = TestGateway::start().await;
    let long = format!("{{ __typename }} # {}", "x".repeat(40 * 1024));
    let body = gateway.graphql(None, &long, json!({})).await;
    assert_eq!(outcome(&body), "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(limit(&body), "queryBytes");
    assert!(body.get("data").is_none(), "{body}");

    let many_tokens = format!(
        "{{ __typename @skip(if: false) {} }}",
        "@skip(if: false) ".repeat(1_000)
    );
    let body = gateway.graphql(None, &many_tokens, json!({})).await;
    assert_eq!(limit(&body), "tokens");
    gateway.stop().await;
}

#[tokio::test]
async fn too_many_root_fields_aliases_or_typenames_are_refused_before_any_query() {
    // The background workers stay quiet after their start-up pass: their commands would count.
    let gateway = TestGateway::start_with(|config| {
        config.notification_work_interval_milliseconds = crate::stripe::NOTIFICATIONS_NEVER;
        config.escrow_work_interval_seconds = crate::stripe::NEVER;
    })
    .await;
    let (token, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let me = gateway.ok(Some(&token), "{ me { id } }", json!({})).await;
    let id = me["me"]["id"].as_str().expect("id").to_string();

    // 4,900 aliased node lookups: refused whole, before a single database command.
    let lookups: String = (0..4_900)
        .map(|index| format!("n{index}: node(id: \"{id}\") {{ id }} "))
        .collect();
    let before = commands_so_far(&gateway).await;
    let response = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .bearer_auth(&token)
        .json(&json!({ "query": format!("{{ {lookups} }}") }))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(outcome(&body), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        ["queryBytes", "tokens", "aliases", "rootFields"].contains(&limit(&body)),
        "{body}"
    );
    let after = commands_so_far(&gateway).await;
    assert!(
        after - before <= 4,
        "only authentication may touch the database, not {} commands",
        after - before
    );

    let typenames: String = (0..33)
        .map(|index| format!("t{index}: __typename "))
        .collect();
    let body = gateway
        .graphql(None, &format!("{{ {typenames} }}"), json!({}))
        .await;
    assert_eq!(limit(&body), "rootFields", "{body}");
    let plain_typenames = format!("{{ {}}}", "__typename ".repeat(40));
    let body = gateway.graphql(None, &plain_typenames, json!({})).await;
    assert_eq!(limit(&body), "rootFields", "__typename counts: {body}");

    let nested_aliases: String = (0..65).map(|index| format!("a{index}: id ")).collect();
    let body = gateway
        .graphql(
            Some(&token),
            &format!("{{ me {{ {nested_aliases} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(limit(&body), "aliases");
    gateway.stop().await;
}

#[tokio::test]
async fn aliased_node_lookups_are_batched_into_one_query() {
    let gateway = TestGateway::start_with(|config| {
        config.notification_work_interval_milliseconds = crate::stripe::NOTIFICATIONS_NEVER;
        config.escrow_work_interval_seconds = crate::stripe::NEVER;
    })
    .await;
    let (token, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let me = gateway.ok(Some(&token), "{ me { id } }", json!({})).await;
    let id = me["me"]["id"].as_str().expect("id").to_string();
    let cost = |aliases: usize| {
        let lookups: String = (0..aliases)
            .map(|index| format!("n{index}: node(id: \"{id}\") {{ id }} "))
            .collect();
        format!("{{ {lookups} }}")
    };
    let before = commands_so_far(&gateway).await;
    gateway.ok(Some(&token), &cost(1), json!({})).await;
    let one = commands_so_far(&gateway).await - before;
    let before = commands_so_far(&gateway).await;
    let body = gateway.ok(Some(&token), &cost(30), json!({})).await;
    let thirty = commands_so_far(&gateway).await - before;
    assert_eq!(body["n29"]["id"], id.as_str());
    assert_eq!(one, thirty, "30 lookups cost what one costs");
    gateway.stop().await;
}

#[tokio::test]
async fn a_data_query_one_level_deeper_than_the_limit_is_refused_but_introspection_is_not() {
    let gateway = TestGateway::start_with(|config| config.graphql_max_depth = 3).await;
    let (token, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let at_limit = "{ me { organization { id } } }";
    assert_eq!(
        outcome(&gateway.graphql(Some(&token), at_limit, json!({})).await),
        "OK"
    );
    let deeper = "{ me { organization { members { totalCount } } } }";
    let body = gateway.graphql(Some(&token), deeper, json!({})).await;
    assert_eq!(outcome(&body), "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(limit(&body), "depth");
    let introspection =
        "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }";
    let body = gateway.graphql(None, introspection, json!({})).await;
    assert_eq!(outcome(&body), "OK", "{body}");
    gateway.stop().await;
}

#[tokio::test]
async fn an_invite_list_over_the_cap_is_refused_and_creates_no_job() {
    let gateway = TestGateway::start().await;
    let (token, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &token, "Invite cap").await;
    let tester = gateway
        .ok(
            Some(
                &gateway
                    .login("sarah.tester@gmail.com", DEMO_PASSWORD)
                    .await
                    .0,
            ),
            "{ me { id } }",
            json!({}),
        )
        .await["me"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let jobs_before = gateway
        .database
        .collection::<bson::Document>("jobs")
        .count_documents(bson::doc! {})
        .await
        .expect("count");
    let mut job = details(&project, 1, 5_000);
    job["invitedTesterIds"] = json!(vec![tester.clone(); 101]);
    let body = gateway
        .graphql(
            Some(&token),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": job, "journey": journey() } }),
        )
        .await;
    assert_eq!(outcome(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "invitedTesterIds");
    let jobs_after = gateway
        .database
        .collection::<bson::Document>("jobs")
        .count_documents(bson::doc! {})
        .await
        .expect("count");
    assert_eq!(jobs_before, jobs_after);
    gateway.stop().await;
}

#[tokio::test]
async fn cors_answers_only_allowlisted_origins() {
    let closed = TestGateway::start().await;
    let preflight = |gateway: &TestGateway, origin: &str| {
        gateway
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/graphql", gateway.base_url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let response = preflight(&closed, "https://evil.example")
        .await
        .expect("answered");
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    closed.stop().await;

    let open = TestGateway::start_with(|config| {
        config.cors_allowed_origins = vec!["https://app.peertest.io".to_string()];
    })
    .await;
    let allowed = preflight(&open, "https://app.peertest.io")
        .await
        .expect("answered");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|value| value.to_str().ok()),
        Some("https://app.peertest.io")
    );
    let refused = preflight(&open, "https://evil.example")
        .await
        .expect("answered");
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    open.stop().await;
}

/// A random GraphQL-ish document: real fields, aliases, fragments, nesting, arguments of every
/// literal kind, and noise, sized up to about the query-size limit.
fn document() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("id".to_string()),
        Just("__typename".to_string()),
        Just("email".to_string()),
        Just("nope".to_string()),
        "[a-z]{1,8}".prop_map(|alias| format!("{alias}: id")),
        Just("node(id: \"VXNlcjo=\") { id }".to_string()),
        Just("jobs(first: 3) { totalCount }".to_string()),
        "[ -~]{0,20}".prop_map(|noise| noise.replace(['{', '}'], "")),
    ];
    let selection = leaf.prop_recursive(8, 200, 10, |inner| {
        prop::collection::vec(inner, 1..10)
            .prop_map(|items| format!("me {{ {} }}", items.join(" ")))
    });
    (
        prop::collection::vec(selection, 1..40),
        prop::bool::ANY,
        0usize..40_000,
    )
        .prop_map(|(items, mutation, padding)| {
            let keyword = if mutation { "mutation" } else { "query" };
            format!(
                "{keyword} {{ {} }} # {}",
                items.join(" "),
                "p".repeat(padding)
            )
        })
}

#[test]
fn random_documents_up_to_the_limits_never_get_a_server_error() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gateway = runtime.block_on(TestGateway::start());
    let token = runtime
        .block_on(gateway.login("john.doe@techcorp.com", DEMO_PASSWORD))
        .0;
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(query in document(), authenticated in prop::bool::ANY, variables in prop::option::of("[ -~]{0,50}"))| {
        let status = runtime.block_on(async {
            let mut body = json!({ "query": query });
            if let Some(variables) = &variables {
                body["variables"] = serde_json::from_str(variables).unwrap_or(json!(variables));
            }
            let mut request = gateway
                .http
                .post(format!("{}/graphql", gateway.base_url))
                .json(&body);
            if authenticated {
                request = request.bearer_auth(&token);
            }
            let response = request.send().await.expect("answered");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            if status == 200 {
                let value: Value = serde_json::from_str(&text).expect("JSON");
                for error in value["errors"].as_array().cloned().unwrap_or_default() {
                    assert_ne!(error["extensions"]["code"], "INTERNAL", "{text}");
                }
            }
            status
        });
        prop_assert!(status < 500, "status {}", status);
    });
    runtime.block_on(gateway.stop());
}
