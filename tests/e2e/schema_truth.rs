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

async fn user_id(gateway: &TestGateway, token: &str) -> String {
    gateway.ok(Some(token), "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn count(gateway: &TestGateway, collection: &str, filter: bson::Document) -> u64 {
    gateway
        .database
        .collection::<bson::Document>(collection)
        .count_documents(filter)
        .await
        .expect("count")
}

#[tokio::test]
async fn organization_usage_counts_the_projects_and_active_jobs_it_has() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    const USAGE: &str = "{ me { organization { id usage { projectsCount activeJobsCount } } } }";
    let before = gateway.ok(Some(&john), USAGE, json!({})).await;
    let organization = before["me"]["organization"]["id"]
        .as_str()
        .expect("John's organization")
        .to_string();
    let project = create_project(&gateway, &john, "Usage shop").await;
    open_job(&gateway, &john, &project, 1).await;
    crate::marketplace::draft_job(&gateway, &john, &project, 1).await;
    let after = gateway.ok(Some(&john), USAGE, json!({})).await;
    let usage = &after["me"]["organization"]["usage"];
    let organization_id = object_id(&organization);
    let projects = count(
        &gateway,
        "projects",
        doc! { "organization_id": organization_id, "status": { "$in": ["active", "draft"] } },
    )
    .await;
    let running = count(
        &gateway,
        "jobs",
        doc! { "organization_id": organization_id, "status": { "$in": ["open", "in_progress", "review"] } },
    )
    .await;
    assert!(projects >= 1 && running >= 1);
    assert_eq!(usage["projectsCount"], projects, "{after}");
    assert_eq!(usage["activeJobsCount"], running, "{after}");
    assert_eq!(
        usage["projectsCount"].as_i64().expect("count"),
        before["me"]["organization"]["usage"]["projectsCount"]
            .as_i64()
            .expect("count")
            + 1
    );
    assert_eq!(
        usage["activeJobsCount"].as_i64().expect("count"),
        before["me"]["organization"]["usage"]["activeJobsCount"]
            .as_i64()
            .expect("count")
            + 1,
        "the draft does not count"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn organization_lists_its_projects_and_jobs_to_members_and_project_links_back() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let project = create_project(&gateway, &john, "Linked shop").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    let organization = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { project(id: $id) { organization { id name } } }",
            json!({ "id": project }),
        )
        .await["project"]["organization"]
        .clone();
    assert_eq!(organization["name"], "TechCorp QA Team");
    let organization_id = organization["id"].as_str().expect("id").to_string();

    const LISTS: &str = "query($id: ID!) { organization(id: $id) {
        projects(first: 100) { totalCount edges { node { id } } }
        jobs(first: 100) { totalCount edges { node { id } } } } }";
    let lists = gateway
        .ok(Some(&john), LISTS, json!({ "id": organization_id }))
        .await;
    let ids = |list: &str| -> Vec<String> {
        lists["organization"][list]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| edge["node"]["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert!(ids("projects").contains(&project), "{lists}");
    assert!(ids("jobs").contains(&job), "{lists}");
    let organization_oid = object_id(&organization_id);
    assert_eq!(
        lists["organization"]["projects"]["totalCount"],
        count(
            &gateway,
            "projects",
            doc! { "organization_id": organization_oid }
        )
        .await
    );
    assert_eq!(
        lists["organization"]["jobs"]["totalCount"],
        count(
            &gateway,
            "jobs",
            doc! { "organization_id": organization_oid }
        )
        .await
    );

    // Paged one at a time, forwards and backwards, the lists are the same, newest first (each
    // page is read by keyset in MongoDB, not cut from the whole list).
    create_project(&gateway, &john, "Second linked shop").await;
    let all_projects = gateway
        .ok(Some(&john), LISTS, json!({ "id": organization_id }))
        .await["organization"]["projects"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"]["id"].as_str().expect("id").to_string())
        .collect::<Vec<_>>();
    assert!(all_projects.len() >= 2, "{all_projects:?}");
    for list in ["projects", "jobs"] {
        let expected: Vec<String> = if list == "projects" {
            all_projects.clone()
        } else {
            ids("jobs")
        };
        for (size, cursor_argument) in [("first", "after"), ("last", "before")] {
            let query = format!(
                "query($id: ID!, $cursor: String) {{ organization(id: $id) {{ {list}({size}: 1, {cursor_argument}: $cursor) {{
                    totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                    edges {{ node {{ id }} }} }} }} }}"
            );
            let mut seen = Vec::new();
            let mut cursor = serde_json::Value::Null;
            loop {
                let page = gateway
                    .ok(
                        Some(&john),
                        &query,
                        json!({ "id": organization_id, "cursor": cursor }),
                    )
                    .await["organization"][list]
                    .clone();
                assert_eq!(page["totalCount"], expected.len(), "{page}");
                for edge in page["edges"].as_array().expect("edges") {
                    seen.push(edge["node"]["id"].as_str().expect("id").to_string());
                }
                let (more, next) = if size == "first" {
                    (
                        page["pageInfo"]["hasNextPage"].clone(),
                        page["pageInfo"]["endCursor"].clone(),
                    )
                } else {
                    (
                        page["pageInfo"]["hasPreviousPage"].clone(),
                        page["pageInfo"]["startCursor"].clone(),
                    )
                };
                if more != json!(true) {
                    break;
                }
                assert!(
                    seen.len() <= expected.len(),
                    "paging does not end: {seen:?}"
                );
                cursor = next;
            }
            if size == "last" {
                seen.reverse();
            }
            assert_eq!(seen, expected, "{list} paged by {size}");
        }
    }
    let bad_cursor = gateway
        .graphql(
            Some(&john),
            "query($id: ID!) { organization(id: $id) { jobs(first: 1, after: \"bm90LWFuLWlk\") { totalCount } } }",
            json!({ "id": organization_id }),
        )
        .await;
    assert_eq!(outcome(&bad_cursor), "BAD_USER_INPUT", "{bad_cursor}");

    // A member of another organization learns nothing; a tester testing one of its jobs sees
    // the job's project but not the organization behind it.
    let outsider = gateway
        .graphql(Some(&maria), LISTS, json!({ "id": organization_id }))
        .await;
    assert_eq!(outcome(&outsider), "NOT_FOUND", "{outsider}");
    assert_eq!(outsider["data"], json!(null));
    let through_node = gateway
        .graphql(
            Some(&maria),
            "query($id: ID!) { node(id: $id) { ... on Organization { projects { totalCount } } } }",
            json!({ "id": organization_id }),
        )
        .await;
    assert_eq!(through_node["data"]["node"], json!(null), "{through_node}");
    hand_in(&gateway, &sarah, &job).await;
    let tester_view = gateway
        .ok(
            Some(&sarah),
            "query($id: ID!) { job(id: $id) { project { name organization { id } } } }",
            json!({ "id": job }),
        )
        .await;
    assert_eq!(tester_view["job"]["project"]["name"], "Linked shop");
    assert_eq!(tester_view["job"]["project"]["organization"], json!(null));
    gateway.stop().await;
}

#[tokio::test]
async fn a_tester_lists_their_own_submissions_and_only_admins_see_them_too() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let (admin, _) = gateway.login(ADMIN, DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Work shop").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    let submission = hand_in(&gateway, &sarah, &job).await;
    let sarah_id = user_id(&gateway, &sarah).await;
    let stored = count(
        &gateway,
        "submissions",
        doc! { "tester_id": object_id(&sarah_id) },
    )
    .await;

    let own = gateway
        .ok(
            Some(&sarah),
            "{ me { submissions(first: 100) { totalCount edges { node { id status } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(own["me"]["submissions"]["totalCount"], stored, "{own}");
    let mine = &own["me"]["submissions"]["edges"][0]["node"];
    assert_eq!(mine["id"], submission.as_str(), "newest first: {own}");
    assert_eq!(mine["status"], "SUBMITTED");

    let by_admin = gateway
        .ok(
            Some(&admin),
            "query($id: ID!) { node(id: $id) { ... on User { submissions { totalCount } } } }",
            json!({ "id": sarah_id }),
        )
        .await;
    assert_eq!(by_admin["node"]["submissions"]["totalCount"], stored);

    // The client whose job she tested sees her through the job, but not her other work.
    let by_client = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { job(id: $id) { assignments { tester { fullName submissions { totalCount } } } } }",
            json!({ "id": job }),
        )
        .await;
    let tester = &by_client["job"]["assignments"][0]["tester"];
    assert_eq!(tester["fullName"], "Sarah Johnson");
    assert_eq!(tester["submissions"], json!(null), "{by_client}");
    gateway.stop().await;
}

#[tokio::test]
async fn qualification_score_is_for_the_tester_and_admins_and_stored_ratings_are_read() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let (admin, _) = gateway.login(ADMIN, DEMO_PASSWORD).await;
    let sarah_id = user_id(&gateway, &sarah).await;
    gateway
        .ok(
            Some(&admin),
            "mutation($input: SetTesterQualificationInput!) { setTesterQualification(input: $input) { user { id } } }",
            json!({ "input": { "userId": sarah_id, "status": "QUALIFIED", "score": 92.5 } }),
        )
        .await;
    // What trust's totals write when ratings are revealed.
    gateway
        .database
        .collection::<bson::Document>("users")
        .update_one(
            doc! { "_id": object_id(&sarah_id) },
            doc! { "$set": { "tester_data.average_rating": 4.5, "tester_data.success_rate": 75.0 } },
        )
        .await
        .expect("write");
    const FIELDS: &str = "testerData { qualificationScore averageRating successRate }";
    let own = gateway
        .ok(Some(&sarah), &format!("{{ me {{ {FIELDS} }} }}"), json!({}))
        .await;
    assert_eq!(
        own["me"]["testerData"],
        json!({ "qualificationScore": 92.5, "averageRating": 4.5, "successRate": 75.0 })
    );
    let by_admin = gateway
        .ok(
            Some(&admin),
            &format!("query($id: ID!) {{ node(id: $id) {{ ... on User {{ {FIELDS} }} }} }}"),
            json!({ "id": sarah_id }),
        )
        .await;
    assert_eq!(by_admin["node"]["testerData"]["qualificationScore"], 92.5);
    let project = create_project(&gateway, &john, "Score shop").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    hand_in(&gateway, &sarah, &job).await;
    let by_client = gateway
        .ok(
            Some(&john),
            &format!(
                "query($id: ID!) {{ job(id: $id) {{ assignments {{ tester {{ {FIELDS} }} }} }} }}"
            ),
            json!({ "id": job }),
        )
        .await;
    assert_eq!(
        by_client["job"]["assignments"][0]["tester"]["testerData"],
        json!({ "qualificationScore": null, "averageRating": 4.5, "successRate": 75.0 })
    );
    gateway.stop().await;
}

#[tokio::test]
async fn admins_list_users_and_organizations_by_filter_with_a_real_cursor() {
    let gateway = TestGateway::start().await;
    let (admin, _) = gateway.login(ADMIN, DEMO_PASSWORD).await;
    const USERS: &str = "query($filter: UserFilterInput, $after: String) {
        users(filter: $filter, first: 2, after: $after) {
          totalCount pageInfo { hasNextPage endCursor } edges { node { id role fullName } } } }";
    let testers = count(&gateway, "users", doc! { "role": "tester" }).await;
    assert!(testers >= 3, "the demo has testers");
    let mut seen = Vec::new();
    let mut after = json!(null);
    loop {
        let page = gateway
            .ok(
                Some(&admin),
                USERS,
                json!({ "filter": { "role": "TESTER" }, "after": after }),
            )
            .await;
        let users = &page["users"];
        assert_eq!(users["totalCount"], testers);
        for edge in users["edges"].as_array().expect("edges") {
            assert_eq!(edge["node"]["role"], "TESTER");
            seen.push(edge["node"]["id"].as_str().expect("id").to_string());
        }
        if users["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = users["pageInfo"]["endCursor"].clone();
    }
    let distinct: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len() as u64, testers);
    assert_eq!(distinct.len(), seen.len(), "no user twice across pages");

    let found = gateway
        .ok(
            Some(&admin),
            USERS,
            json!({ "filter": { "search": "SARAH.tester", "status": "ACTIVE" } }),
        )
        .await;
    assert_eq!(found["users"]["totalCount"], 1);
    assert_eq!(
        found["users"]["edges"][0]["node"]["fullName"],
        "Sarah Johnson"
    );
    let regex_text = gateway
        .ok(Some(&admin), USERS, json!({ "filter": { "search": ".*" } }))
        .await;
    assert_eq!(
        regex_text["users"]["totalCount"], 0,
        "search text is literal"
    );

    let organizations = gateway
        .ok(
            Some(&admin),
            "{ organizations(filter: { search: \"techcorp\", status: ACTIVE }) { totalCount edges { node { id name usage { projectsCount } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(organizations["organizations"]["totalCount"], 1);
    assert_eq!(
        organizations["organizations"]["edges"][0]["node"]["name"],
        "TechCorp QA Team"
    );
    let techcorp = &organizations["organizations"]["edges"][0]["node"];
    let techcorp_id = object_id(techcorp["id"].as_str().expect("id"));
    assert_eq!(
        techcorp["usage"]["projectsCount"],
        count(
            &gateway,
            "projects",
            doc! { "organization_id": techcorp_id, "status": { "$in": ["active", "draft"] } },
        )
        .await
    );

    for (variables, field) in [
        (json!({ "after": "not-a-cursor" }), "after"),
        (json!({ "filter": { "search": "   " } }), "filter.search"),
        (
            json!({ "filter": { "search": "x".repeat(101) } }),
            "filter.search",
        ),
    ] {
        let refused = gateway.graphql(Some(&admin), USERS, variables).await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
        assert_eq!(refused["errors"][0]["extensions"]["field"], field);
    }
    let too_many = gateway
        .graphql(
            Some(&admin),
            "{ users(first: 101) { totalCount } }",
            json!({}),
        )
        .await;
    assert_ne!(outcome(&too_many), "OK", "{too_many}");
    gateway.stop().await;
}

#[tokio::test]
async fn admins_list_the_escrows_that_need_attention_and_nobody_else_sees_why() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (admin, _) = gateway.login(ADMIN, DEMO_PASSWORD).await;
    const LIST: &str = "{ escrowsNeedingAttention(first: 10) { totalCount
        edges { node { status job { id } needsAttention { reason } } } } }";
    let empty = gateway.ok(Some(&admin), LIST, json!({})).await;
    assert_eq!(empty["escrowsNeedingAttention"]["totalCount"], 0);

    let project = create_project(&gateway, &john, "Attention shop").await;
    let flagged = open_job(&gateway, &john, &project, 1).await;
    open_job(&gateway, &john, &project, 1).await;
    // What escrow's webhook handling writes for a transfer reversed on Stripe.
    let now = bson::DateTime::now();
    gateway
        .database
        .collection::<bson::Document>("escrow_transactions")
        .update_one(
            doc! { "job_id": object_id(&flagged) },
            doc! { "$set": { "needs_attention": {
            "reason": "transfer tr_1 reversed", "since": now, "last_reported_at": now } } },
        )
        .await
        .expect("write");
    let listed = gateway.ok(Some(&admin), LIST, json!({})).await;
    let list = &listed["escrowsNeedingAttention"];
    assert_eq!(list["totalCount"], 1, "{listed}");
    assert_eq!(list["edges"][0]["node"]["job"]["id"], flagged.as_str());
    assert_eq!(
        list["edges"][0]["node"]["needsAttention"]["reason"],
        "transfer tr_1 reversed"
    );
    let client_view = gateway
        .ok(
            Some(&john),
            "query($id: ID!) { job(id: $id) { escrow { status needsAttention { reason } } } }",
            json!({ "id": flagged }),
        )
        .await;
    assert_eq!(client_view["job"]["escrow"]["needsAttention"], json!(null));
    let refused = gateway.graphql(Some(&john), LIST, json!({})).await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    gateway.stop().await;
}

#[tokio::test]
async fn search_projects_pages_with_a_cursor_and_keeps_its_first_argument() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    for name in ["Pagination alpha", "Pagination beta", "Pagination gamma"] {
        create_project(&gateway, &john, name).await;
    }
    const SEARCH: &str =
        "query($after: String) { searchProjects(text: \"Pagination\", first: 2, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { name } } } }";
    let first = gateway
        .ok(Some(&john), SEARCH, json!({ "after": null }))
        .await;
    let page = &first["searchProjects"];
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["edges"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
    let second = gateway
        .ok(
            Some(&john),
            SEARCH,
            json!({ "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    let rest = &second["searchProjects"];
    assert_eq!(rest["edges"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(rest["pageInfo"]["hasPreviousPage"], true);
    let mut names: Vec<String> = page["edges"]
        .as_array()
        .into_iter()
        .chain(rest["edges"].as_array())
        .flatten()
        .map(|edge| edge["node"]["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Pagination alpha", "Pagination beta", "Pagination gamma"]
    );
    let refused = gateway
        .graphql(Some(&john), SEARCH, json!({ "after": "garbage" }))
        .await;
    assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "after");
    let legacy = gateway
        .ok(
            Some(&john),
            "{ searchProjects(text: \"Pagination\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(legacy["searchProjects"]["totalCount"], 3);
    gateway.stop().await;
}

#[tokio::test]
async fn node_answers_null_for_an_id_the_caller_cannot_see_and_refuses_a_malformed_one() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let project = create_project(&gateway, &john, "Hidden shop").await;
    const NODE: &str = "query($id: ID!) { node(id: $id) { id ... on Project { name } ... on Session { current } } }";
    let seen = gateway
        .ok(Some(&john), NODE, json!({ "id": project }))
        .await;
    assert_eq!(seen["node"]["name"], "Hidden shop");
    let hidden = gateway
        .graphql(Some(&maria), NODE, json!({ "id": project }))
        .await;
    assert_eq!(outcome(&hidden), "OK", "{hidden}");
    assert_eq!(hidden["data"]["node"], json!(null));
    let nothing = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(format!("Project:{}", bson::oid::ObjectId::new().to_hex()))
    };
    let missing = gateway
        .graphql(Some(&john), NODE, json!({ "id": nothing }))
        .await;
    assert_eq!(missing, hidden, "missing and hidden answer alike");
    let malformed = gateway
        .graphql(Some(&john), NODE, json!({ "id": "not an id" }))
        .await;
    assert_eq!(outcome(&malformed), "BAD_USER_INPUT", "{malformed}");
    assert_eq!(malformed["errors"][0]["extensions"]["field"], "id");

    let session = gateway
        .ok(
            Some(&john),
            "{ sessions { edges { node { id current } } } }",
            json!({}),
        )
        .await["sessions"]["edges"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|edge| edge["node"]["current"] == json!(true))
        .expect("current session")["node"]["id"]
        .clone();
    let own = gateway
        .ok(Some(&john), NODE, json!({ "id": session }))
        .await;
    assert_eq!(own["node"], json!({ "id": session, "current": true }));
    let other = gateway
        .graphql(Some(&maria), NODE, json!({ "id": session }))
        .await;
    assert_eq!(other["data"]["node"], json!(null), "{other}");
    gateway.stop().await;
}

#[tokio::test]
async fn no_payload_offers_a_live_client_mutation_id() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let schema = gateway
        .ok(
            Some(&john),
            "{ __schema { types { name
                fields(includeDeprecated: true) { name isDeprecated }
                inputFields(includeDeprecated: true) { name isDeprecated } } } }",
            json!({}),
        )
        .await;
    let mut live = Vec::new();
    let mut deprecated = Vec::new();
    for kind in schema["__schema"]["types"].as_array().expect("types") {
        for list in ["fields", "inputFields"] {
            for field in kind[list].as_array().into_iter().flatten() {
                if field["name"] == "clientMutationId" {
                    let name = format!("{}.clientMutationId", kind["name"].as_str().unwrap_or("?"));
                    if field["isDeprecated"] == json!(true) {
                        deprecated.push(name);
                    } else {
                        live.push(name);
                    }
                }
            }
        }
    }
    assert!(
        live.is_empty(),
        "payloads carry clientMutationId on none: {live:?}"
    );
    deprecated.sort();
    assert_eq!(
        deprecated,
        [
            "EmptyInput.clientMutationId",
            "SuccessPayload.clientMutationId"
        ]
    );
    // Still echoed while deprecated, so existing clients keep working.
    let logout = gateway
        .ok(
            Some(&john),
            "mutation { logout(input: { clientMutationId: \"m-1\" }) { ok clientMutationId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        logout["logout"],
        json!({ "ok": true, "clientMutationId": "m-1" })
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_transfer_reversed_on_stripe_puts_its_escrow_on_the_attention_list() {
    let world = crate::stripe::World::stripe().await;
    let gateway = &world.gateway;
    world.connect_account(SARAH, "verified").await;
    let (john, _) = gateway.login(JOHN, DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login(SARAH, DEMO_PASSWORD).await;
    let (admin, _) = gateway.login(ADMIN, DEMO_PASSWORD).await;
    let project = create_project(gateway, &john, "Reversal shop").await;
    let job = open_job(gateway, &john, &project, 1).await;
    let submission = hand_in(gateway, &sarah, &job).await;
    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    world.clock.advance(crate::stripe::PAST_THE_DISPUTE_WINDOW);
    assert_eq!(gateway.release_due_payouts().await, 1);
    const LIST: &str = "{ escrowsNeedingAttention { totalCount
        edges { node { job { id } needsAttention { reason } } } } }";
    let before = gateway.ok(Some(&admin), LIST, json!({})).await;
    assert_eq!(before["escrowsNeedingAttention"]["totalCount"], 0);

    let mut transfer = world.front().transfers()[0].clone();
    let transfer_id = transfer["id"].as_str().expect("transfer id").to_string();
    transfer["amount_reversed"] = json!(4_250);
    transfer["reversed"] = json!(true);
    let (status, answer) = world
        .deliver(&world.event("transfer.reversed", transfer))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "needs_attention", "{answer}");

    let after = gateway.ok(Some(&admin), LIST, json!({})).await;
    let list = &after["escrowsNeedingAttention"];
    assert_eq!(list["totalCount"], 1, "{after}");
    assert_eq!(list["edges"][0]["node"]["job"]["id"], job.as_str());
    let reason = list["edges"][0]["node"]["needsAttention"]["reason"]
        .as_str()
        .expect("a reason");
    assert!(reason.contains(&transfer_id), "{reason}");
    world.stop().await;
}
