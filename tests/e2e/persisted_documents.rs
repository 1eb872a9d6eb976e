//! Persisted documents: Apollo's automatic persisted queries over POST and GET (miss, register,
//! hit), hashes checked against their text, and the trusted-documents mode in which first-party
//! callers run only the application's registered documents while API keys send any.

use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD, LOGIN_DOCUMENT};

fn sha256(text: &str) -> String {
    graphql::persisted::document_hash(text)
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(gateway: &TestGateway, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn get(
    gateway: &TestGateway,
    bearer: Option<&str>,
    parameters: &[(&str, String)],
) -> (u16, String) {
    let mut request = gateway
        .http
        .get(format!("{}/graphql", gateway.base_url))
        .header("accept", "application/json")
        .query(parameters);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn an_apq_hash_misses_then_registers_then_hits_over_post_and_get() {
    let gateway = TestGateway::start().await;
    let (token, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let query = "query Me { me { id email } }";
    let hash = sha256(query);

    let (_, miss) = post(
        &gateway,
        Some(&token),
        json!({ "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(
        miss["errors"][0]["message"], "PersistedQueryNotFound",
        "{miss}"
    );
    assert_eq!(
        miss["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert!(miss.get("data").is_none());

    let (status, registered) = post(
        &gateway,
        Some(&token),
        json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        registered["data"]["me"]["email"], "john.doe@techcorp.com",
        "{registered}"
    );

    let (status, hit) = post(
        &gateway,
        Some(&token),
        json!({ "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(hit["data"], registered["data"]);

    let (status, text) = get(
        &gateway,
        Some(&token),
        &[("extensions", persisted(&hash).to_string())],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["data"], registered["data"]);
    gateway.stop().await;
}

#[tokio::test]
async fn a_hash_that_does_not_match_its_text_registers_nothing() {
    let gateway = TestGateway::start().await;
    let hash = sha256("{ __typename }");
    let (_, refused) = post(
        &gateway,
        None,
        json!({ "query": "{ me { id } }", "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["field"],
        "extensions.persistedQuery.sha256Hash"
    );
    let (_, still_missing) = post(&gateway, None, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(
        still_missing["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_persisted_mutation_cannot_be_run_over_get() {
    let gateway = TestGateway::start().await;
    let mutation = "mutation { logout(input: {}) { ok } }";
    let hash = sha256(mutation);
    let (token, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    post(
        &gateway,
        Some(&token),
        json!({ "query": mutation, "extensions": persisted(&hash) }),
    )
    .await;
    let (status, _) = get(
        &gateway,
        Some(&token),
        &[("extensions", persisted(&hash).to_string())],
    )
    .await;
    assert_eq!(status, 405);
    gateway.stop().await;
}

#[tokio::test]
async fn trusted_documents_mode_refuses_unregistered_documents_to_first_party_callers_only() {
    let manifest_dir = tempfile::tempdir().expect("directory");
    let trusted = "query Viewer { me { id } }";
    let manifest_path = manifest_dir.path().join("trusted-documents.json");
    let manifest = json!({ sha256(LOGIN_DOCUMENT): LOGIN_DOCUMENT, sha256(trusted): trusted });
    std::fs::write(&manifest_path, manifest.to_string()).expect("manifest written");
    let gateway = TestGateway::start_with(|config| {
        config.graphql_trusted_documents =
            Some(gateway::config::TrustedDocumentsSetting::FirstParty);
        config.graphql_trusted_documents_file = Some(manifest_path.clone());
    })
    .await;
    let (owner, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;

    // A registered document runs, by text or by hash.
    let (_, by_text) = post(&gateway, Some(&owner), json!({ "query": trusted })).await;
    assert!(by_text["data"]["me"]["id"].is_string(), "{by_text}");
    let (_, by_hash) = post(
        &gateway,
        Some(&owner),
        json!({ "extensions": persisted(&sha256(trusted)) }),
    )
    .await;
    assert_eq!(by_hash["data"], by_text["data"]);

    // Anything else is refused to a user and to an anonymous caller, and APQ cannot add it.
    let other = "{ me { id email } }";
    for bearer in [Some(owner.as_str()), None] {
        let (_, refused) = post(&gateway, bearer, json!({ "query": other })).await;
        assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
        assert!(refused.get("data").is_none());
        let (_, refused) = post(
            &gateway,
            bearer,
            json!({ "query": other, "extensions": persisted(&sha256(other)) }),
        )
        .await;
        assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    }

    // A partner API key may send any document; the key is created with a registered mutation.
    let create_key =
        "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }";
    let organization_query = "{ me { organization { id } } }";
    drop(gateway);
    let manifest = json!({
        sha256(LOGIN_DOCUMENT): LOGIN_DOCUMENT,
        sha256(create_key): create_key,
        sha256(organization_query): organization_query,
    });
    std::fs::write(&manifest_path, manifest.to_string()).expect("manifest rewritten");
    let gateway = TestGateway::start_with(|config| {
        config.graphql_trusted_documents =
            Some(gateway::config::TrustedDocumentsSetting::FirstParty);
        config.graphql_trusted_documents_file = Some(manifest_path.clone());
    })
    .await;
    let (owner, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let organization = gateway
        .ok(Some(&owner), organization_query, json!({}))
        .await["me"]["organization"]["id"]
        .as_str()
        .expect("organization")
        .to_string();
    let key = gateway
        .ok(
            Some(&owner),
            create_key,
            json!({ "input": { "organizationId": organization, "name": "partner", "scope": "READ" } }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let (_, partner) = post(
        &gateway,
        Some(&key),
        json!({ "query": "{ organization(id: \"".to_string() + &organization + "\") { id } }" }),
    )
    .await;
    assert_eq!(
        partner["data"]["organization"]["id"],
        organization.as_str(),
        "{partner}"
    );
    gateway.stop().await;
}
