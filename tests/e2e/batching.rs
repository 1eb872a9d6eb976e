//! Batched loading, observed: the nested query viewer → projects → jobs → submissions → tester
//! costs one MongoDB command per level whatever its fan-out, counted by `/metrics` (fed by the
//! driver's command monitoring).
//!
//! The fan-out data is written straight through the driver (the documents the marketplace itself
//! writes, serialized from its own types), so a 1×10×10×10 graph takes milliseconds to set up.

use bson::oid::ObjectId;
use bson::DateTime;
use serde_json::{json, Value};

use crate::harness::TestGateway;

/// The query whose cost is measured; `$n` is the page size at every level.
pub const NESTED_QUERY: &str =
    "query($n: Int!) { me { id projects(first: $n) { totalCount edges { node {
    name jobs(first: $n) { totalCount edges { node {
      title submissions(first: $n) { totalCount edges { node {
        status tester { fullName } } } } } } } } } } } }";

/// Writes `fan` projects for `client_id`, `fan` open jobs in each and one submitted submission
/// per job from each of the first `fan` testers.
pub async fn seed_fan_out(
    database: &mongodb::Database,
    client_id: ObjectId,
    testers: &[ObjectId],
    fan: usize,
) {
    let now = DateTime::now();
    let mut projects = Vec::new();
    let mut jobs = Vec::new();
    let mut submissions = Vec::new();
    for p in 0..fan {
        let project_id = ObjectId::new();
        projects.push(marketplace::Project {
            id: project_id,
            name: format!("Fan-out project {p}"),
            description: "Seeded for the batching test".into(),
            client_id,
            organization_id: None,
            project_type: "web".into(),
            url: "https://fan.example".into(),
            environment: "staging".into(),
            credentials: None,
            target_devices: Vec::new(),
            target_browsers: Vec::new(),
            target_os: Vec::new(),
            status: marketplace::ProjectStatus::Active,
            created_at: now,
            updated_at: now,
            archived_at: None,
        });
        for j in 0..fan {
            let job_id = ObjectId::new();
            let seats: Vec<marketplace::Assignment> = testers[..fan]
                .iter()
                .map(|tester| marketplace::Assignment {
                    tester_id: *tester,
                    assigned_at: now,
                    status: marketplace::AssignmentStatus::Submitted,
                })
                .collect();
            jobs.push(marketplace::Job {
                id: job_id,
                project_id,
                client_id,
                organization_id: None,
                title: format!("Fan-out job {p}.{j}"),
                description: String::new(),
                test_type: marketplace::TestType::Exploratory,
                user_journey: marketplace::UserJourney {
                    scenario: "Explore".into(),
                    steps: vec![marketplace::JourneyStep {
                        step_number: 1,
                        action: "Look around".into(),
                        expected_result: "Nothing breaks".into(),
                    }],
                    ai_generated: false,
                    ai_template_id: None,
                },
                required_devices: Vec::new(),
                required_browsers: Vec::new(),
                required_os: Vec::new(),
                tester_level: marketplace::TesterLevel::Any,
                max_testers: fan as i32,
                assigned_testers: seats,
                budget_per_tester_usd: 1_000,
                total_budget_usd: 1_000 * fan as i64,
                deadline: DateTime::from_millis(now.timestamp_millis() + 86_400_000),
                estimated_duration_minutes: None,
                status: marketplace::JobStatus::InProgress,
                visibility: marketplace::Visibility::Public,
                invited_tester_ids: Vec::new(),
                escrow_status: None,
                escrow_transaction_id: None,
                submission_count: fan as i32,
                approved_submission_count: 0,
                bugs_found: 0,
                created_at: now,
                updated_at: now,
                published_at: Some(now),
                completed_at: None,
                cancelled_at: None,
            });
            for tester in &testers[..fan] {
                submissions.push(marketplace::Submission {
                    id: ObjectId::new(),
                    job_id,
                    tester_id: *tester,
                    summary: "All good".into(),
                    ai_enhanced_summary: None,
                    test_results: Vec::new(),
                    bugs: Vec::new(),
                    environment: marketplace::TestEnvironment::default(),
                    time_spent_minutes: 10,
                    status: marketplace::SubmissionStatus::Submitted,
                    client_feedback: None,
                    revision_notes: None,
                    created_at: now,
                    submitted_at: Some(now),
                    reviewed_at: None,
                    updated_at: now,
                });
            }
        }
    }
    database
        .collection::<marketplace::Project>("projects")
        .insert_many(projects)
        .await
        .expect("projects written");
    database
        .collection::<marketplace::Job>("jobs")
        .insert_many(jobs)
        .await
        .expect("jobs written");
    database
        .collection::<marketplace::Submission>("submissions")
        .insert_many(submissions)
        .await
        .expect("submissions written");
}

/// Registers a client and `testers` testers; returns the client's token and id and the testers'
/// ids.
pub async fn fan_out_accounts(
    gateway: &TestGateway,
    label: &str,
    testers: usize,
) -> (String, ObjectId, Vec<ObjectId>) {
    let client = gateway
        .register(&format!("{label}-client@fan.example"), "CLIENT")
        .await;
    let client_id = own_id(gateway, &client).await;
    let mut tester_ids = Vec::new();
    for n in 0..testers {
        let token = gateway
            .register(&format!("{label}-tester{n}@fan.example"), "TESTER")
            .await;
        tester_ids.push(own_id(gateway, &token).await);
    }
    (client, client_id, tester_ids)
}

async fn own_id(gateway: &TestGateway, token: &str) -> ObjectId {
    use base64::Engine;
    let id = gateway.ok(Some(token), "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(id)
            .expect("base64"),
    )
    .expect("utf-8");
    ObjectId::parse_str(text.split_once(':').expect("typed").1).expect("object id")
}

/// The total of `mongodb_commands_total` in the gateway's `/metrics`.
async fn commands_so_far(gateway: &TestGateway) -> u64 {
    let text = gateway
        .http
        .get(format!("{}/metrics", gateway.base_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|line| line.starts_with("mongodb_commands_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The MongoDB commands one request costs.
async fn commands_for(
    gateway: &TestGateway,
    token: &str,
    query: &str,
    variables: Value,
) -> (u64, Value) {
    let before = commands_so_far(gateway).await;
    let body = gateway.ok(Some(token), query, variables).await;
    let after = commands_so_far(gateway).await;
    (after - before, body)
}

fn tester_names(body: &Value) -> usize {
    let mut names = 0;
    for project in body["me"]["projects"]["edges"]
        .as_array()
        .expect("projects")
    {
        for job in project["node"]["jobs"]["edges"].as_array().expect("jobs") {
            for submission in job["node"]["submissions"]["edges"]
                .as_array()
                .expect("submissions")
            {
                if submission["node"]["tester"]["fullName"].is_string() {
                    names += 1;
                }
            }
        }
    }
    names
}

#[tokio::test]
async fn a_nested_query_costs_one_command_per_level_whatever_the_fan_out() {
    let gateway = TestGateway::start().await;
    let (small_client, small_id, small_testers) = fan_out_accounts(&gateway, "small", 2).await;
    let (large_client, large_id, large_testers) = fan_out_accounts(&gateway, "large", 10).await;
    seed_fan_out(&gateway.database, small_id, &small_testers, 2).await;
    seed_fan_out(&gateway.database, large_id, &large_testers, 10).await;

    // What authenticating the bearer token costs, whatever the query.
    let (overhead, _) = commands_for(&gateway, &small_client, "{ __typename }", json!({})).await;

    let (small, small_body) =
        commands_for(&gateway, &small_client, NESTED_QUERY, json!({ "n": 2 })).await;
    let (large, large_body) =
        commands_for(&gateway, &large_client, NESTED_QUERY, json!({ "n": 10 })).await;
    assert_eq!(tester_names(&small_body), 2 * 2 * 2);
    assert_eq!(tester_names(&large_body), 10 * 10 * 10);
    assert_eq!(
        large_body["me"]["projects"]["edges"][0]["node"]["jobs"]["edges"][0]["node"]["submissions"]
            ["totalCount"],
        10
    );
    assert_eq!(small, large, "the cost must not grow with the fan-out");
    // me, projects, jobs, submissions, tester: five levels, one command each.
    assert_eq!(
        small - overhead,
        5,
        "commands beyond authentication: {small} - {overhead}"
    );
    gateway.stop().await;
}
