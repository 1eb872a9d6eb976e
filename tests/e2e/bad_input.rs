//! Bad input is never INTERNAL: every mutation the schema has (found through introspection, so
//! new ones are walked too) is sent by an admin with each of its text inputs empty, huge and
//! malformed in turn. No answer may be a 5xx or carry `INTERNAL`; named cases must also be
//! `BAD_USER_INPUT` naming the field and change nothing.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};

const TYPE_REF: &str =
    "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// The schema's input types and mutations, as introspection reports them.
struct Schema {
    types: HashMap<String, Value>,
    mutations: Vec<Value>,
}

async fn schema(gateway: &TestGateway) -> Schema {
    let query = format!(
        "{{ __schema {{ mutationType {{ fields {{ name args {{ name type {{ {TYPE_REF} }} }} }} }} \
         types {{ name kind enumValues {{ name }} inputFields {{ name type {{ {TYPE_REF} }} }} }} }} }}"
    );
    let data = gateway.ok(None, &query, json!({})).await;
    let types = data["__schema"]["types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|ty| (ty["name"].as_str().expect("name").to_string(), ty.clone()))
        .collect();
    let mutations = data["__schema"]["mutationType"]["fields"]
        .as_array()
        .expect("mutations")
        .clone();
    Schema { types, mutations }
}

/// The GraphQL spelling of a type reference (`[ID!]!`).
fn spell(ty: &Value) -> String {
    match ty["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", spell(&ty["ofType"])),
        Some("LIST") => format!("[{}]", spell(&ty["ofType"])),
        _ => ty["name"].as_str().expect("named").to_string(),
    }
}

impl Schema {
    /// A plausible value of `ty`: required input fields filled, optional ones left out.
    fn plausible(&self, ty: &Value, depth: usize) -> Value {
        match ty["kind"].as_str() {
            Some("NON_NULL") => self.plausible(&ty["ofType"], depth),
            Some("LIST") => json!([self.plausible(&ty["ofType"], depth + 1)]),
            _ => {
                let name = ty["name"].as_str().expect("named");
                let definition = &self.types[name];
                match (definition["kind"].as_str(), name) {
                    (Some("ENUM"), _) => definition["enumValues"][0]["name"].clone(),
                    (Some("INPUT_OBJECT"), _) if depth < 6 => {
                        let mut object = Map::new();
                        for field in definition["inputFields"].as_array().expect("fields") {
                            if field["type"]["kind"] == "NON_NULL" {
                                object.insert(
                                    field["name"].as_str().expect("name").to_string(),
                                    self.plausible(&field["type"], depth + 1),
                                );
                            }
                        }
                        Value::Object(object)
                    }
                    (_, "Int") => json!(1),
                    (_, "Float") => json!(1.5),
                    (_, "Boolean") => json!(true),
                    (_, "ID") => json!("VXNlcjo2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY="),
                    (_, "DateTime") => json!(crate::marketplace::deadline_in_days(30)),
                    (_, "Cents") => json!("100"),
                    _ => json!("plausible text"),
                }
            }
        }
    }

    /// Paths (from the argument) of every `String` an input of type `ty` may carry, one level
    /// of optional fields included.
    fn string_paths(
        &self,
        ty: &Value,
        prefix: Vec<String>,
        depth: usize,
        out: &mut Vec<Vec<String>>,
    ) {
        match ty["kind"].as_str() {
            Some("NON_NULL") => self.string_paths(&ty["ofType"], prefix, depth, out),
            Some("LIST") => {}
            _ => {
                let name = ty["name"].as_str().expect("named");
                if name == "String" {
                    out.push(prefix);
                    return;
                }
                let definition = &self.types[name];
                if definition["kind"] == "INPUT_OBJECT" && depth < 3 {
                    for field in definition["inputFields"].as_array().expect("fields") {
                        let mut path = prefix.clone();
                        path.push(field["name"].as_str().expect("name").to_string());
                        self.string_paths(&field["type"], path, depth + 1, out);
                    }
                }
            }
        }
    }
}

fn set_path(value: &mut Value, path: &[String], replacement: Value) {
    match path.split_first() {
        None => *value = replacement,
        Some((head, rest)) => {
            if !value.is_object() {
                *value = json!({});
            }
            let entry = value
                .as_object_mut()
                .expect("object")
                .entry(head.clone())
                .or_insert(Value::Null);
            set_path(entry, rest, replacement);
        }
    }
}

#[tokio::test]
async fn every_mutation_answers_empty_huge_and_malformed_text_without_internal_errors() {
    let gateway = TestGateway::start().await;
    let schema = schema(&gateway).await;
    let (mut admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let huge = "x".repeat(100_000);
    let malformed = "\u{0}<script>alert(1)</script>\u{202e}{{ $where: 1 }}%00".to_string();
    let mut sent = 0usize;
    for (index, mutation) in schema.mutations.iter().enumerate() {
        let name = mutation["name"].as_str().expect("name");
        // Ending the admin's own session or account would only make later cases unauthenticated.
        if [
            "logout",
            "logoutAllSessions",
            "revokeSession",
            "eraseAccount",
            "eraseMyAccount",
        ]
        .contains(&name)
        {
            continue;
        }
        let args = mutation["args"].as_array().expect("args");
        let declarations: Vec<String> = args
            .iter()
            .map(|arg| {
                format!(
                    "${}: {}",
                    arg["name"].as_str().expect("name"),
                    spell(&arg["type"])
                )
            })
            .collect();
        let uses: Vec<String> = args
            .iter()
            .map(|arg| format!("{0}: ${0}", arg["name"].as_str().expect("name")))
            .collect();
        let document = if args.is_empty() {
            format!("mutation {{ {name} {{ __typename }} }}")
        } else {
            format!(
                "mutation({}) {{ {name}({}) {{ __typename }} }}",
                declarations.join(", "),
                uses.join(", ")
            )
        };
        let mut baseline = Map::new();
        let mut paths = Vec::new();
        for arg in args {
            let arg_name = arg["name"].as_str().expect("name").to_string();
            baseline.insert(arg_name.clone(), schema.plausible(&arg["type"], 0));
            schema.string_paths(&arg["type"], vec![arg_name], 0, &mut paths);
        }
        let mut cases = vec![Value::Object(baseline.clone())];
        for path in &paths {
            for bad in [json!(""), json!(huge), json!(malformed)] {
                let mut variables = Value::Object(baseline.clone());
                set_path(&mut variables, path, bad);
                cases.push(variables);
            }
        }
        for (case, variables) in cases.into_iter().enumerate() {
            sent += 1;
            // Each case from its own address, so the per-address throttles never mask a result.
            let address = format!("10.{}.{}.{}", index % 250, case / 250, case % 250 + 1);
            let response = gateway
                .http
                .post(format!("{}/graphql", gateway.base_url))
                .bearer_auth(&admin)
                .header("x-forwarded-for", &address)
                .json(&json!({ "query": document, "variables": variables }))
                .send()
                .await
                .expect("answered");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("JSON");
            assert!(status < 500, "{name} {variables}: {status} {body}");
            for error in body["errors"].as_array().cloned().unwrap_or_default() {
                assert_ne!(
                    error["extensions"]["code"], "INTERNAL",
                    "{name} with {variables}: {body}"
                );
            }
            if outcome(&body) == "UNAUTHENTICATED" {
                admin = gateway.login("admin@peertest.io", DEMO_PASSWORD).await.0;
            }
        }
    }
    assert!(sent > 200, "the walk covered {sent} cases");
    gateway.stop().await;
}

#[tokio::test]
async fn empty_names_and_bad_links_are_bad_user_input_naming_the_field_and_store_nothing() {
    let gateway = TestGateway::start().await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let templates_before = gateway
        .database
        .collection::<bson::Document>("ai_test_templates")
        .count_documents(bson::doc! {})
        .await
        .expect("count");
    let empty_name = gateway
        .graphql(
            Some(&admin),
            "mutation($input: CreateAiTestTemplateInput!) { createAiTestTemplate(input: $input) { template { id } } }",
            json!({ "input": { "name": "", "category": "GENERAL", "scenario": "s",
                "steps": [{ "actionTemplate": "a", "expectedResultTemplate": "b" }] } }),
        )
        .await;
    assert_eq!(outcome(&empty_name), "BAD_USER_INPUT", "{empty_name}");
    assert_eq!(empty_name["errors"][0]["extensions"]["field"], "name");
    let templates_after = gateway
        .database
        .collection::<bson::Document>("ai_test_templates")
        .count_documents(bson::doc! {})
        .await
        .expect("count");
    assert_eq!(templates_before, templates_after);

    let (client, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let project = gateway
        .ok(
            Some(&client),
            "mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id name } } }",
            json!({ "input": { "name": "Bounded", "projectType": "WEB", "url": "https://shop.example.com", "environment": "STAGING" } }),
        )
        .await["createProject"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_string();
    for (input, field) in [
        (json!({ "projectId": project, "name": "" }), "name"),
        (
            json!({ "projectId": project, "name": "n".repeat(201) }),
            "name",
        ),
        (
            json!({ "projectId": project, "url": "javascript:alert(1)" }),
            "url",
        ),
        (
            json!({ "projectId": project, "targetBrowsers": vec!["chrome"; 51] }),
            "targetBrowsers",
        ),
    ] {
        let refused = gateway
            .graphql(
                Some(&client),
                "mutation($input: UpdateProjectInput!) { updateProject(input: $input) { project { id } } }",
                json!({ "input": input }),
            )
            .await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
    let stored = gateway
        .ok(
            Some(&client),
            "query($id: ID!) { node(id: $id) { ... on Project { name url } } }",
            json!({ "id": project }),
        )
        .await;
    assert_eq!(stored["node"]["name"], "Bounded");
    assert_eq!(stored["node"]["url"], "https://shop.example.com");
    gateway.stop().await;
}
