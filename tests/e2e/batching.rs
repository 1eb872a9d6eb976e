//! Batched loading, observed: the nested query viewer → projects → jobs → submissions → tester
//! costs one MongoDB command per level whatever its fan-out, counted by `/metrics` (fed by the
//! driver's command monitoring).
//!
//! The fan-out data is written straight through the driver ([`e2e::seed_fan_out`]), so a
//! 1×10×10×10 graph takes milliseconds to set up.

use bson::oid::ObjectId;
use e2e::{seed_fan_out, NESTED_QUERY};
use serde_json::{json, Value};

use crate::harness::TestGateway;

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

/// The signed-in user's database id, decoded from their global `me.id`.
pub async fn own_id(gateway: &TestGateway, token: &str) -> ObjectId {
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

/// `mongodb_commands_total` in the gateway's `/metrics`: every command the driver sent.
pub async fn commands_so_far(gateway: &TestGateway) -> u64 {
    let text = gateway.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix("mongodb_commands_total "))
        .expect("mongodb_commands_total in /metrics")
        .parse()
        .expect("a count")
}

/// The commands the driver finished, by name, without those named in `left_out`
/// (`mongodb_commands_by_name_total`: the gateway must count names,
/// `METRICS_MONGODB_COMMAND_NAMES`).
pub async fn commands_so_far_except(gateway: &TestGateway, left_out: &[&str]) -> u64 {
    let text = gateway.metrics().await;
    let by_name: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("mongodb_commands_by_name_total{"))
        .collect();
    assert!(
        !by_name.is_empty(),
        "the gateway counts commands by name (METRICS_MONGODB_COMMAND_NAMES)"
    );
    by_name
        .into_iter()
        .filter(|line| {
            !left_out
                .iter()
                .any(|command| line.contains(&format!("command=\"{command}\"")))
        })
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
    // The notification worker's passes would count in a request's commands: it stays quiet
    // after its start-up pass (its longest interval, an hour).
    let gateway = TestGateway::start_with(|config| {
        config.notification_work_interval_milliseconds = 3_600_000;
    })
    .await;
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
    // Authentication is one command (the session, looking up its user and their organization);
    // `me` is that user (the request's loader starts with it), then projects, jobs,
    // submissions, tester: four levels, one command each.
    assert_eq!(overhead, 1, "authentication: the session with its user");
    assert_eq!(
        small - overhead,
        4,
        "commands beyond authentication: {small} - {overhead}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_command_total_counts_every_command_the_driver_reports_by_name() {
    // The total comes from the pool's checkouts, names from command monitoring: around a
    // request that writes nothing (no change stream wakes), both must move by the same count.
    let gateway = TestGateway::start_with(|config| {
        config.notification_work_interval_milliseconds = 3_600_000;
        config.metrics_mongodb_command_names = true;
    })
    .await;
    let (client, client_id, testers) = fan_out_accounts(&gateway, "named", 3).await;
    seed_fan_out(&gateway.database, client_id, &testers, 3).await;
    for (query, variables) in [
        ("{ me { id } }", json!({})),
        (NESTED_QUERY, json!({ "n": 3 })),
    ] {
        let total_before = commands_so_far(&gateway).await;
        let named_before = commands_so_far_except(&gateway, &[]).await;
        gateway.ok(Some(&client), query, variables).await;
        let total = commands_so_far(&gateway).await - total_before;
        let named = commands_so_far_except(&gateway, &[]).await - named_before;
        assert!(total > 0, "{query}: some commands");
        assert_eq!(total, named, "{query}: the total and the names agree");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_jobs_accountability_and_a_submissions_payout_ratings_and_dispute_cost_the_same_whatever_the_fan_out(
) {
    let gateway = TestGateway::start_with(|config| {
        config.notification_work_interval_milliseconds = 3_600_000;
    })
    .await;
    let (small_client, small_id, small_testers) = fan_out_accounts(&gateway, "small", 2).await;
    let (large_client, large_id, large_testers) = fan_out_accounts(&gateway, "large", 10).await;
    seed_fan_out(&gateway.database, small_id, &small_testers, 2).await;
    seed_fan_out(&gateway.database, large_id, &large_testers, 10).await;

    // Five of each at every level: the complexity limit refuses ten with these fields.
    let (plain, _) = commands_for(&gateway, &small_client, NESTED_QUERY, json!({ "n": 2 })).await;
    // Each field under the submissions is one more batched lookup: the escrows of the jobs (a
    // payout; its job, for who may see it, is the one the listing read), the ratings and the
    // disputes of every submission.
    let with_trust = NESTED_QUERY
        .replace(
            "status tester { fullName }",
            "status tester { fullName } payout { status } ratings { id } dispute { id }",
        )
        .replace(
            "title submissions",
            "title clientAccountability { reviewedSubmissions } submissions",
        );
    assert_ne!(with_trust, NESTED_QUERY);
    let (small, small_body) =
        commands_for(&gateway, &small_client, &with_trust, json!({ "n": 2 })).await;
    let (large, large_body) =
        commands_for(&gateway, &large_client, &with_trust, json!({ "n": 5 })).await;
    assert!(small_body.get("errors").is_none(), "{small_body}");
    assert!(large_body.get("errors").is_none(), "{large_body}");
    assert_eq!(tester_names(&large_body), 5 * 5 * 5);
    assert_eq!(small, large, "the cost must not grow with the fan-out");
    // And the client's accountability on every job: its jobs, their reviewed submissions and
    // its decided disputes, once for the whole page.
    assert_eq!(small - plain, 3 + 3, "{small} commands against {plain}");
    gateway.stop().await;
}
