//! Bad input is never INTERNAL: every mutation the schema has (found through introspection, so
//! new ones are walked too) is sent by an admin with each of its text inputs empty, huge and
//! malformed, and each of its numbers negative, zero, `i32::MAX` and `i32::MIN`, in turn. No
//! answer may be a 5xx or carry `INTERNAL`; named cases must also be `BAD_USER_INPUT` naming the
//! field and change nothing.

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

    /// Paths (from the argument) of every `scalar` (`String`, `Int`) an input of type `ty` may
    /// carry, one level of optional fields included.
    fn scalar_paths(
        &self,
        scalar: &str,
        ty: &Value,
        prefix: Vec<String>,
        depth: usize,
        out: &mut Vec<Vec<String>>,
    ) {
        match ty["kind"].as_str() {
            Some("NON_NULL") => self.scalar_paths(scalar, &ty["ofType"], prefix, depth, out),
            Some("LIST") => {}
            _ => {
                let name = ty["name"].as_str().expect("named");
                if name == scalar {
                    out.push(prefix);
                    return;
                }
                let definition = &self.types[name];
                if definition["kind"] == "INPUT_OBJECT" && depth < 3 {
                    for field in definition["inputFields"].as_array().expect("fields") {
                        let mut path = prefix.clone();
                        path.push(field["name"].as_str().expect("name").to_string());
                        self.scalar_paths(scalar, &field["type"], path, depth + 1, out);
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
async fn every_mutation_answers_empty_huge_and_malformed_text_and_extreme_numbers_without_internal_errors(
) {
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
        let mut number_paths = Vec::new();
        for arg in args {
            let arg_name = arg["name"].as_str().expect("name").to_string();
            baseline.insert(arg_name.clone(), schema.plausible(&arg["type"], 0));
            schema.scalar_paths(
                "String",
                &arg["type"],
                vec![arg_name.clone()],
                0,
                &mut paths,
            );
            schema.scalar_paths("Int", &arg["type"], vec![arg_name], 0, &mut number_paths);
        }
        let mut cases = vec![Value::Object(baseline.clone())];
        for path in &paths {
            for bad in [json!(""), json!(huge), json!(malformed)] {
                let mut variables = Value::Object(baseline.clone());
                set_path(&mut variables, path, bad);
                cases.push(variables);
            }
        }
        for path in &number_paths {
            for bad in [json!(-1), json!(0), json!(i32::MAX), json!(i32::MIN)] {
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

/// One change to a valid submission content.
type ContentChange = Box<dyn FnOnce(&mut Value)>;

fn submission_content(submission: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut input = json!({
        "submissionId": submission,
        "summary": "Checkout works",
        "testResults": [{ "stepNumber": 1, "status": "PASSED", "notes": "fine",
            "screenshots": ["https://cdn.example/step.png"] }],
        "bugs": [{
            "title": "Pay does nothing", "severity": "HIGH", "description": "Tap pay",
            "stepsToReproduce": ["Open the cart", "Tap pay"],
            "expectedBehavior": "Payment starts", "actualBehavior": "Nothing",
            "screenshots": ["https://cdn.example/shot.png"],
            "videoUrl": "https://cdn.example/video.mp4",
            "affectedDevices": ["iPhone 14 Pro"], "affectedBrowsers": ["Safari"],
        }],
        "environment": { "deviceUsed": "iPhone 14 Pro", "browserUsed": "Safari",
            "browserVersion": "17.2", "osUsed": "iOS", "osVersion": "17.2",
            "screenResolution": "1179x2556" },
        "timeSpentMinutes": 40,
    });
    change(&mut input);
    json!({ "input": input })
}

#[tokio::test]
async fn bug_reports_and_profile_links_outside_their_bounds_name_the_field_and_store_nothing() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = crate::marketplace::create_project(&gateway, &john, "Bounded bugs").await;
    let job = crate::marketplace::open_job(&gateway, &john, &project, 1).await;
    let submission = crate::marketplace::draft_submission(&gateway, &sarah, &job).await;
    const SAVE: &str = "mutation($input: SaveSubmissionInput!) { saveSubmission(input: $input) { submission { summary bugs { title } } } }";
    gateway
        .ok(Some(&sarah), SAVE, submission_content(&submission, |_| {}))
        .await;
    let cases: Vec<(&str, ContentChange)> = vec![
        (
            "bugs.screenshots",
            Box::new(|v| v["bugs"][0]["screenshots"] = json!(["http://cdn.example/a.png"])),
        ),
        (
            "bugs.screenshots",
            Box::new(|v| {
                v["bugs"][0]["screenshots"] = json!(vec!["https://cdn.example/a.png"; 21])
            }),
        ),
        (
            "bugs.videoUrl",
            Box::new(|v| v["bugs"][0]["videoUrl"] = json!("javascript:alert(1)")),
        ),
        (
            "bugs.title",
            Box::new(|v| v["bugs"][0]["title"] = json!(" ")),
        ),
        (
            "bugs.stepsToReproduce",
            Box::new(|v| v["bugs"][0]["stepsToReproduce"] = json!(vec!["step"; 51])),
        ),
        (
            "bugs",
            Box::new(|v| {
                let bug = v["bugs"][0].clone();
                v["bugs"] = json!(vec![bug; 101]);
            }),
        ),
        (
            "testResults.screenshots",
            Box::new(|v| v["testResults"][0]["screenshots"] = json!(["ftp://cdn.example/a.png"])),
        ),
        (
            "environment.deviceUsed",
            Box::new(|v| v["environment"]["deviceUsed"] = json!("d".repeat(101))),
        ),
        (
            "summary",
            Box::new(|v| v["summary"] = json!("s".repeat(20_001))),
        ),
        (
            "timeSpentMinutes",
            Box::new(|v| v["timeSpentMinutes"] = json!(-1)),
        ),
        (
            "timeSpentMinutes",
            Box::new(|v| v["timeSpentMinutes"] = json!(i32::MAX)),
        ),
    ];
    for (field, change) in cases {
        let refused = gateway
            .graphql(Some(&sarah), SAVE, submission_content(&submission, change))
            .await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{field}: {refused}");
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
    let stored = gateway
        .ok(
            Some(&sarah),
            "query($id: ID!) { submission(id: $id) { summary bugs { title } } }",
            json!({ "id": submission }),
        )
        .await;
    assert_eq!(stored["submission"]["summary"], "Checkout works");
    assert_eq!(
        stored["submission"]["bugs"],
        json!([{ "title": "Pay does nothing" }])
    );

    const PROFILE: &str =
        "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id } } }";
    for (input, field) in [
        (
            json!({ "profile": { "avatarUrl": "javascript:alert(1)" } }),
            "profile.avatarUrl",
        ),
        (
            json!({ "profile": { "avatarUrl": "http://cdn.example/me.png" } }),
            "profile.avatarUrl",
        ),
        (
            json!({ "clientData": { "companyWebsite": "data:text/html,hi" } }),
            "clientData.companyWebsite",
        ),
    ] {
        let refused = gateway
            .graphql(Some(&john), PROFILE, json!({ "input": input }))
            .await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
    let refused = gateway
        .graphql(
            Some(&sarah),
            PROFILE,
            json!({ "input": { "testerData": { "devices": ["iPhone 14 Pro", " "] } } }),
        )
        .await;
    assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["field"],
        "testerData.devices"
    );
    let me = gateway
        .ok(Some(&sarah), "{ me { testerData { devices } } }", json!({}))
        .await;
    assert!(
        !me["me"]["testerData"]["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .any(|device| device == " "),
        "nothing stored"
    );
    gateway.stop().await;
}

/// Literal arguments that do not fit their type: a 64-bit integer given for a 32-bit `Int` inside
/// an input object (which async-graphql's validation lets through) is `BAD_USER_INPUT` naming
/// the field before any resolver runs; one given for a paging argument, and a custom scalar's
/// literal that its own `parse` refuses, fail validation. None of them is INTERNAL, and none
/// changes anything.
#[tokio::test]
async fn literals_that_do_not_fit_their_type_are_refused_naming_the_argument() {
    let gateway = TestGateway::start().await;
    let (tester, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;

    let body = gateway
        .graphql(
            Some(&tester),
            "{ me { submissions(first: 3000000000) { totalCount } } }",
            json!({}),
        )
        .await;
    // A paging argument is read by the complexity analysis during validation, so it fails
    // there: a request error without data.
    assert_eq!(outcome(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("Int")),
        "{body}"
    );
    // The same number inside an input object names the field inside the argument.
    let before = gateway
        .ok(
            Some(&tester),
            "{ me { testerData { hourlyRateUsdCents } } }",
            json!({}),
        )
        .await;
    let body = gateway
        .graphql(
            Some(&tester),
            "mutation { updateProfile(input: { testerData: { hourlyRateUsdCents: -9999999999 } }) { user { id } } }",
            json!({}),
        )
        .await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(
        error["extensions"]["field"], "testerData.hourlyRateUsdCents",
        "{body}"
    );
    let after = gateway
        .ok(
            Some(&tester),
            "{ me { testerData { hourlyRateUsdCents } } }",
            json!({}),
        )
        .await;
    assert_eq!(before, after, "nothing changed");

    // A custom scalar's literal that its own `parse` refuses fails validation: no data at all,
    // no resolver ran.
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let jobs_before = gateway
        .ok(Some(&john), "{ me { projects { totalCount } } }", json!({}))
        .await;
    for (query, scalar) in [
        (
            "mutation { createJob(input: { details: { projectId: \"x\", title: \"T\", maxTesters: 1, \
             budgetPerTester: \"12x\", deadline: \"2030-01-01T00:00:00.000Z\" }, \
             journey: { scenario: \"s\", steps: [] } }) { job { id } } }",
            "Cents",
        ),
        (
            "mutation { createApiKey(input: { organizationId: \"x\", name: \"ci\", scope: READ, \
             expiresAt: \"next tuesday\" }) { apiKey { id } } }",
            "DateTime",
        ),
    ] {
        let body = gateway.graphql(Some(&john), query, json!({})).await;
        assert_eq!(outcome(&body), "GRAPHQL_VALIDATION_FAILED", "{scalar}: {body}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|message| message.contains(scalar)), "{scalar}: {body}");
        assert!(body.get("data").is_none_or(Value::is_null), "{scalar}: {body}");
    }
    let jobs_after = gateway
        .ok(Some(&john), "{ me { projects { totalCount } } }", json!({}))
        .await;
    assert_eq!(jobs_before, jobs_after);
    gateway.stop().await;
}
