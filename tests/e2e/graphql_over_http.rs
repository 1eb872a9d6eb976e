//! The GraphQL-over-HTTP specification's rules at `/graphql`, one test per rule: the response's
//! media type per `Accept`, the status of request errors and field errors, no `data` entry
//! when nothing ran, and 4xx for malformed requests.

use serde_json::{json, Value};

use crate::harness::TestGateway;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn post(gateway: &TestGateway, accept: Option<&str>, body: Value) -> Answer {
    let mut request = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .json(&body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    answer(request.send().await.expect("answered")).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    Answer {
        status,
        content_type,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn accept_application_json_gets_application_json() {
    let gateway = TestGateway::start().await;
    for accept in [Some("application/json"), Some("*/*"), None] {
        let answer = post(&gateway, accept, json!({ "query": "{ __typename }" })).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, "application/json", "Accept {accept:?}");
        assert_eq!(answer.body["data"]["__typename"], "Query");
    }
    let answer = post(
        &gateway,
        Some(GRAPHQL_RESPONSE),
        json!({ "query": "{ __typename }" }),
    )
    .await;
    assert!(
        answer.content_type.starts_with(GRAPHQL_RESPONSE),
        "{}",
        answer.content_type
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_unacceptable_accept_header_gets_406() {
    let gateway = TestGateway::start().await;
    let answer = post(
        &gateway,
        Some("text/csv"),
        json!({ "query": "{ __typename }" }),
    )
    .await;
    assert_eq!(answer.status, 406);
    assert!(answer.body.get("data").is_none());
    gateway.stop().await;
}

#[tokio::test]
async fn request_errors_with_graphql_response_json_are_400_without_data() {
    let gateway = TestGateway::start().await;
    let cases = [
        json!({ "query": "{ __typename" }),
        json!({ "query": "{ nope }" }),
        json!({ "query": "query($n: Int!) { node(id: $n) { id } }", "variables": { "n": "x" } }),
        json!({ "query": "query($id: ID!) { node(id: $id) { id } }", "variables": {} }),
        // Coerced before execution even when no field reads the variable.
        json!({ "query": "query($n: Int!) { __typename }", "variables": { "n": "x" } }),
        json!({ "query": "query($n: Int) { __typename }", "variables": { "n": 1.5 } }),
        json!({ "query": "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
                "variables": { "input": { "email": "a@example.com", "password": "x", "admin": true } } }),
    ];
    for case in cases {
        let answer = post(&gateway, Some(GRAPHQL_RESPONSE), case.clone()).await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert!(answer.content_type.starts_with(GRAPHQL_RESPONSE));
        assert!(answer.body.get("data").is_none(), "{}", answer.body);
        assert!(answer.body["errors"][0]["message"].is_string());
    }
    let answer = post(
        &gateway,
        Some(GRAPHQL_RESPONSE),
        json!({ "query": "query($ids: [ID!]!) { __typename }", "variables": { "ids": ["a", null] } }),
    )
    .await;
    let extensions = &answer.body["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "BAD_USER_INPUT", "{}", answer.body);
    assert_eq!(extensions["field"], "ids[1]", "{}", answer.body);
    assert_eq!(extensions["variable"], "ids", "{}", answer.body);
    gateway.stop().await;
}

#[tokio::test]
async fn request_errors_with_application_json_are_200_without_data() {
    let gateway = TestGateway::start().await;
    let answer = post(
        &gateway,
        Some("application/json"),
        json!({ "query": "{ nope }" }),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    assert!(answer.body.get("data").is_none(), "{}", answer.body);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn field_errors_are_200_with_data_in_both_media_types() {
    let gateway = TestGateway::start().await;
    for accept in ["application/json", GRAPHQL_RESPONSE] {
        let answer = post(&gateway, Some(accept), json!({ "query": "{ me { id } }" })).await;
        assert_eq!(answer.status, 200, "{accept}");
        assert!(answer.body.get("data").is_some(), "{}", answer.body);
        assert_eq!(
            answer.body["errors"][0]["extensions"]["code"],
            "UNAUTHENTICATED"
        );
        assert_eq!(answer.body["errors"][0]["path"][0], "me");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_post_without_a_content_type_is_415() {
    let gateway = TestGateway::start().await;
    let response = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .body("{\"query\":\"{ __typename }\"}")
        .send()
        .await
        .expect("answered");
    let answer = answer(response).await;
    assert_eq!(answer.status, 415);
    assert!(answer.body.get("data").is_none());
    gateway.stop().await;
}

#[tokio::test]
async fn missing_or_invalid_parameters_are_400() {
    let gateway = TestGateway::start().await;
    let url = format!("{}/graphql", gateway.base_url);
    for (body, field) in [
        ("{}", "query"),
        ("{\"query\": 42}", "query"),
        (
            "{\"query\": \"{ __typename }\", \"variables\": \"x\"}",
            "variables",
        ),
        (
            "{\"query\": \"{ __typename }\", \"operationName\": []}",
            "operationName",
        ),
        ("not json", "body"),
        ("[{\"query\": \"{ __typename }\"}]", "body"),
    ] {
        for accept in ["application/json", GRAPHQL_RESPONSE] {
            let response = gateway
                .http
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", accept)
                .body(body)
                .send()
                .await
                .expect("answered");
            let answer = answer(response).await;
            assert_eq!(answer.status, 400, "{body} with {accept}");
            assert_eq!(answer.body["errors"][0]["extensions"]["field"], field);
            assert!(answer.body.get("data").is_none());
        }
    }
    for query_string in [
        "",
        "?variables=%7B%7D",
        "?query=%7B__typename%7D&variables=oops",
    ] {
        let response = gateway
            .http
            .get(format!("{url}{query_string}"))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 400, "GET {query_string}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations_with_405() {
    let gateway = TestGateway::start().await;
    let url = format!("{}/graphql", gateway.base_url);
    let response = gateway
        .http
        .get(format!("{url}?query=%7B__typename%7D"))
        .header("accept", GRAPHQL_RESPONSE)
        .send()
        .await
        .expect("answered");
    let query = answer(response).await;
    assert_eq!(query.status, 200);
    assert_eq!(query.body["data"]["__typename"], "Query");
    let response = gateway
        .http
        .get(format!(
            "{url}?query=mutation%7Blogout(input:%7B%7D)%7Bok%7D%7D"
        ))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 405);
    assert_eq!(
        response
            .headers()
            .get("allow")
            .and_then(|value| value.to_str().ok()),
        Some("POST")
    );
    gateway.stop().await;
}
