//! AI enhancement over HTTP: against a local OpenAI-compatible stub when `[ai]` is configured,
//! and the pass-through default that changes nothing and says so.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, details, journey};

const ENHANCE: &str = "mutation($input: JobIdInput!) { enhanceJobJourney(input: $input) {
    job { userJourney { aiGenerated steps { stepNumber action expectedResult } } }
    enhancement { provider enhanced note } } }";

/// A stub chat-completions server: records each request's bearer key and model, answers with
/// an improved journey.
async fn stub_provider() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let recorded = recorded.clone();
                async move {
                    let key = headers
                        .get("authorization")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let model = body["model"].as_str().unwrap_or_default().to_string();
                    recorded.lock().expect("lock").push((key, model));
                    let steps = json!([
                        { "action": "Open the shop on the home page", "expected_result": "The catalogue loads" },
                        { "action": "Search for \"kettle\"", "expected_result": "Kettles are listed first" },
                        { "action": "Buy the first kettle", "expected_result": "An order number is shown" },
                    ]);
                    axum::Json(json!({ "choices": [
                        { "index": 0, "message": { "role": "assistant", "content": steps.to_string() } }
                    ]}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("stub binds");
    let base = format!("http://{}/v1", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

async fn draft(gateway: &TestGateway, token: &str) -> String {
    let project = create_project(gateway, token, "Enhanced shop").await;
    gateway
        .ok(
            Some(token),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": details(&project, 1, 1_000), "journey": journey() } }),
        )
        .await["createJob"]["job"]["id"]
        .as_str()
        .expect("job id")
        .to_string()
}

#[tokio::test]
async fn a_configured_provider_rewrites_a_draft_journey() {
    let (base_url, seen) = stub_provider().await;
    let gateway = TestGateway::start_with(|config| {
        config.ai = Some(gateway::config::AiConfig {
            base_url,
            model: "stub-model".to_string(),
            api_key: "sk-test-key".to_string(),
            timeout_seconds: 30,
        });
    })
    .await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let job = draft(&gateway, &john).await;

    let refused = gateway
        .graphql(Some(&sarah), ENHANCE, json!({ "input": { "jobId": job } }))
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");

    let enhanced = gateway
        .ok(Some(&john), ENHANCE, json!({ "input": { "jobId": job } }))
        .await["enhanceJobJourney"]
        .clone();
    assert_eq!(enhanced["enhancement"]["enhanced"], true);
    assert_eq!(enhanced["job"]["userJourney"]["aiGenerated"], true);
    let steps = enhanced["job"]["userJourney"]["steps"]
        .as_array()
        .expect("steps");
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[2]["stepNumber"], 3);
    assert_eq!(steps[2]["action"], "Buy the first kettle");
    assert_eq!(
        seen.lock().expect("lock").as_slice(),
        [("Bearer sk-test-key".to_string(), "stub-model".to_string())]
    );
    gateway.stop().await;
}

#[tokio::test]
async fn without_a_provider_enhancement_changes_nothing_and_says_so() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let job = draft(&gateway, &john).await;
    let answer = gateway
        .ok(Some(&john), ENHANCE, json!({ "input": { "jobId": job } }))
        .await["enhanceJobJourney"]
        .clone();
    assert_eq!(answer["enhancement"]["enhanced"], false);
    assert!(answer["enhancement"]["note"]
        .as_str()
        .unwrap_or_default()
        .contains("no AI provider"));
    assert_eq!(answer["job"]["userJourney"]["aiGenerated"], false);
    assert_eq!(
        answer["job"]["userJourney"]["steps"][0]["action"],
        "Search for a kettle"
    );
    gateway.stop().await;
}
