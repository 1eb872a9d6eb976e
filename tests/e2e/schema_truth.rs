//! A complete, truthful schema, over HTTP: closed sets are enums (and a stored value the API
//! does not know reads as `OTHER`, never `INTERNAL`), counts and ratings are the stored ones,
//! and the links a client needs exist, each readable only by whom it concerns.

use bson::doc;
use mongodb::options::UpdateOptions;
use serde_json::json;

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, hand_in, open_job};
use crate::stripe::object_id;

const JOHN: &str = "john.doe@techcorp.com";
const SARAH: &str = "sarah.tester@gmail.com";
const ADMIN: &str = "admin@peertest.io";

/// Sets `field` of the document with `id` in `collection` to `value`, past the collection's
/// validator, as a newer version or a manual fix could have stored it.
async fn store_raw(
    gateway: &TestGateway,
    collection: &str,
    id: bson::oid::ObjectId,
    field: &str,
    value: &str,
) {
    let updated = gateway
        .database
        .collection::<bson::Document>(collection)
        .update_one(doc! { "_id": id }, doc! { "$set": { field: value } })
        .with_options(
            UpdateOptions::builder()
                .bypass_document_validation(true)
                .build(),
        )
        .await
        .expect("the store takes the write");
    assert_eq!(updated.matched_count, 1, "{collection} {id} exists");
}

#[tokio::test]
async fn project_type_and_environment_are_enums_and_an_unknown_stored_value_reads_as_other() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let created = gateway
        .ok(
            Some(&john),
            "mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id projectType environment } } }",
            json!({ "input": { "name": "Enum shop", "projectType": "MOBILE", "url": "https://shop.example.com", "environment": "PRODUCTION" } }),
        )
        .await;
    let project = &created["createProject"]["project"];
    assert_eq!(project["projectType"], "MOBILE");
    assert_eq!(project["environment"], "PRODUCTION");
    let id = project["id"].as_str().expect("project id").to_string();
    let stored = gateway
        .database
        .collection::<bson::Document>("projects")
        .find_one(doc! { "_id": object_id(&id) })
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.get_str("project_type"), Ok("mobile"));
    assert_eq!(stored.get_str("environment"), Ok("production"));

    store_raw(
        &gateway,
        "projects",
        object_id(&id),
        "project_type",
        "vr_headset",
    )
    .await;
    store_raw(
        &gateway,
        "projects",
        object_id(&id),
        "environment",
        "canary",
    )
    .await;
    let read = gateway
        .graphql(
            Some(&john),
            "query($id: ID!) { project(id: $id) { name projectType environment } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(outcome(&read), "OK", "{read}");
    assert_eq!(
        read["data"]["project"],
        json!({ "name": "Enum shop", "projectType": "OTHER", "environment": "OTHER" })
    );
    gateway.stop().await;
}

#[tokio::test]
async fn other_is_refused_as_input_naming_the_field_and_nothing_is_stored() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (admin, _) = gateway.login(ADMIN, DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let projects_before = gateway
        .database
        .collection::<bson::Document>("projects")
        .count_documents(doc! {})
        .await
        .expect("count");
    let refused = gateway
        .graphql(
            Some(&john),
            "mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }",
            json!({ "input": { "name": "Other shop", "projectType": "OTHER", "url": "https://shop.example.com", "environment": "STAGING" } }),
        )
        .await;
    assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "projectType");
    let projects_after = gateway
        .database
        .collection::<bson::Document>("projects")
        .count_documents(doc! {})
        .await
        .expect("count");
    assert_eq!(projects_before, projects_after);

    let template = gateway
        .graphql(
            Some(&admin),
            "mutation { createAiTestTemplate(input: { name: \"T\", category: OTHER, scenario: \"S\", steps: [{ actionTemplate: \"a\", expectedResultTemplate: \"b\" }] }) { template { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(outcome(&template), "BAD_USER_INPUT", "{template}");
    assert_eq!(template["errors"][0]["extensions"]["field"], "category");

    let profile = gateway
        .graphql(
            Some(&sarah),
            "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id } } }",
            json!({ "input": { "testerData": { "availability": "OTHER" } } }),
        )
        .await;
    assert_eq!(outcome(&profile), "BAD_USER_INPUT", "{profile}");
    assert_eq!(
        profile["errors"][0]["extensions"]["field"],
        "testerData.availability"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn template_category_and_type_are_enums_and_filter_the_catalogue() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let catalogue = gateway
        .ok(
            Some(&john),
            "{ general: aiTestTemplates(category: GENERAL) { edges { node { category templateType } } }
               shops: aiTestTemplates(category: E_COMMERCE) { edges { node { category templateType } } } }",
            json!({}),
        )
        .await;
    for (alias, category) in [("general", "GENERAL"), ("shops", "E_COMMERCE")] {
        let edges = catalogue[alias]["edges"].as_array().expect("edges");
        assert!(!edges.is_empty(), "{catalogue}");
        for edge in edges {
            assert_eq!(
                edge["node"],
                json!({ "category": category, "templateType": "USER_JOURNEY" })
            );
        }
    }
    let text = gateway
        .graphql(
            Some(&john),
            "{ aiTestTemplates(category: \"e-commerce\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(outcome(&text), "GRAPHQL_VALIDATION_FAILED", "{text}");
    gateway.stop().await;
}

#[tokio::test]
async fn tester_and_member_closed_sets_are_enums_and_unknown_stored_values_do_not_fail_the_user() {
    let gateway = TestGateway::start().await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let updated = gateway
        .ok(
            Some(&sarah),
            "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { testerData { experienceLevel availability qualificationStatus } } } }",
            json!({ "input": { "testerData": { "experienceLevel": "EXPERT", "availability": "PART_TIME" } } }),
        )
        .await;
    assert_eq!(
        updated["updateProfile"]["user"]["testerData"],
        json!({ "experienceLevel": "EXPERT", "availability": "PART_TIME", "qualificationStatus": "QUALIFIED" })
    );
    let sarah_id = gateway
        .database
        .collection::<bson::Document>("users")
        .find_one(doc! { "email": SARAH })
        .await
        .expect("read")
        .expect("Sarah")
        .get_object_id("_id")
        .expect("id");
    let stored = gateway
        .database
        .collection::<bson::Document>("users")
        .find_one(doc! { "_id": sarah_id })
        .await
        .expect("read")
        .expect("Sarah");
    let data = stored.get_document("tester_data").expect("tester data");
    assert_eq!(data.get_str("availability"), Ok("part-time"));
    assert_eq!(data.get_str("experience_level"), Ok("expert"));

    for (field, value) in [
        ("tester_data.availability", "nights"),
        ("tester_data.experience_level", "legend"),
        ("tester_data.qualification_status", "under_review"),
    ] {
        store_raw(&gateway, "users", sarah_id, field, value).await;
    }
    let read = gateway
        .graphql(
            Some(&sarah),
            "{ me { fullName testerData { experienceLevel availability qualificationStatus } } }",
            json!({}),
        )
        .await;
    assert_eq!(outcome(&read), "OK", "{read}");
    assert_eq!(
        read["data"]["me"]["testerData"],
        json!({ "experienceLevel": "OTHER", "availability": "OTHER", "qualificationStatus": "OTHER" })
    );
    // An unknown qualification never qualifies: claiming stays refused.
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Qualification shop").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    let claim = gateway
        .graphql(
            Some(&sarah),
            "mutation($input: JobIdInput!) { claimJob(input: $input) { job { id } } }",
            json!({ "input": { "jobId": job } }),
        )
        .await;
    assert_eq!(outcome(&claim), "FORBIDDEN", "{claim}");
    gateway.stop().await;
}

#[tokio::test]
async fn organization_role_is_an_enum_and_an_unknown_stored_role_grants_nothing() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let me = gateway
        .ok(Some(&john), "{ me { organizationRole } }", json!({}))
        .await;
    assert_eq!(me["me"]["organizationRole"], "OWNER");
    let john_id = gateway
        .database
        .collection::<bson::Document>("users")
        .find_one(doc! { "email": JOHN })
        .await
        .expect("read")
        .expect("John")
        .get_object_id("_id")
        .expect("id");
    store_raw(
        &gateway,
        "users",
        john_id,
        "organization_role",
        "superowner",
    )
    .await;
    let read = gateway
        .graphql(
            Some(&john),
            "{ me { fullName organizationRole } }",
            json!({}),
        )
        .await;
    assert_eq!(outcome(&read), "OK", "{read}");
    assert_eq!(read["data"]["me"]["organizationRole"], json!(null));
    gateway.stop().await;
}

#[tokio::test]
async fn escrow_status_is_one_enum_on_the_job_the_funding_and_the_escrow() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Status shop").await;
    let draft = crate::marketplace::draft_job(&gateway, &john, &project, 2).await;
    let published = gateway
        .ok(
            Some(&john),
            "mutation($input: JobMoneyInput!) { publishJob(input: $input) { funding { escrowStatus } } }",
            json!({ "input": { "jobId": draft } }),
        )
        .await;
    assert_eq!(
        published["publishJob"]["funding"]["escrowStatus"],
        "CAPTURED"
    );
    let submission = hand_in(&gateway, &sarah, &draft).await;
    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    let read = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { job(id: $id) { escrowStatus escrow { status } } }",
            json!({ "id": draft }),
        )
        .await;
    assert_eq!(read["job"]["escrowStatus"], "PARTIALLY_RELEASED");
    assert_eq!(read["job"]["escrow"]["status"], "PARTIALLY_RELEASED");
    gateway.stop().await;
}

#[tokio::test]
async fn escrow_events_name_their_kind_and_who_performed_each() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Ledger shop").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    let submission = hand_in(&gateway, &sarah, &job).await;
    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    let read = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { job(id: $id) { escrow { events { eventType actorKind performedBy { fullName } process } } } }",
            json!({ "id": job }),
        )
        .await;
    let events = read["job"]["escrow"]["events"].as_array().expect("events");
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|event| event["eventType"].as_str())
        .collect();
    assert!(kinds.contains(&"CREATED"), "{kinds:?}");
    assert!(kinds.contains(&"CAPTURED"), "{kinds:?}");
    assert!(kinds.contains(&"PAYOUT_HELD"), "{kinds:?}");
    for event in events {
        match event["actorKind"].as_str() {
            Some("USER") => {
                assert_eq!(event["performedBy"]["fullName"], "John Doe", "{event}");
                assert_eq!(event["process"], json!(null), "{event}");
            }
            Some("SYSTEM") => {
                assert_eq!(event["performedBy"], json!(null), "{event}");
                assert!(event["process"].is_string(), "{event}");
            }
            other => panic!("unexpected actor kind {other:?} in {event}"),
        }
    }
    let held = events
        .iter()
        .find(|event| event["eventType"] == "PAYOUT_HELD")
        .expect("a held payout");
    assert_eq!(held["actorKind"], "USER", "{held}");

    // An entry of a kind this version does not know reads as OTHER, the rest unchanged.
    gateway
        .database
        .collection::<bson::Document>("escrow_transactions")
        .update_one(
            doc! { "job_id": object_id(&job) },
            doc! { "$set": { "events.0.event_type": "chargeback_opened" } },
        )
        .with_options(
            UpdateOptions::builder()
                .bypass_document_validation(true)
                .build(),
        )
        .await
        .expect("write");
    let after = gateway
        .graphql(
            Some(&john),
            "query($id: ID!) { job(id: $id) { escrow { status events { eventType } } } }",
            json!({ "id": job }),
        )
        .await;
    assert_eq!(outcome(&after), "OK", "{after}");
    assert_eq!(
        after["data"]["job"]["escrow"]["events"][0]["eventType"],
        "OTHER"
    );
    gateway.stop().await;
}
