//! Benchmark: the gateway's CPU per request for a repeated document, with the parsed-document
//! cache (`GRAPHQL_DOCUMENT_CACHE_BYTES`, default) and without it (`0`).
//!
//! Two documents a single-page app sends on every page view, as the app writes them (fragments,
//! named operation, variables): a tester's dashboard (the viewer's profile and the first page of
//! open jobs, two MongoDB queries) and a header badge (`me` fields only, answered by the loader
//! authentication filled). The gateway runs in this process over the embedded store; the load
//! generator runs on its own thread, and the gateway's CPU is the process's CPU time
//! (`/proc/self/stat`) minus that thread's (`/proc/thread-self/stat`). The part of it spent
//! preparing the document (lookup, parse, limit walk, validation) is the gateway's own
//! `graphql_document_preparation_seconds_total` (synchronous work, so its time is CPU time).
//!
//! `cargo bench -p e2e --bench document_cache` (`BENCH_REQUESTS`, default 4000, per phase;
//! `BENCH_CONCURRENCY`, default 16).

use std::time::Instant;

use serde_json::{json, Value};

const DASHBOARD: &str = r#"
query TesterDashboard($first: Int!, $filter: AvailableJobsFilter!) {
  me { ...ViewerHeader ...ViewerProfile testerData { ...TesterStats } }
  availableJobs(filter: $filter, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...JobCard } }
  }
}
fragment ViewerHeader on User { id fullName role emailVerified twoFactorEnabled organizationRole }
fragment ViewerProfile on User {
  email status createdAt lastLogin loginCount
  profile { bio avatarUrl timezone preferredLanguage country }
  notificationPreferences { emailNewJob emailJobAssigned emailSubmissionReceived emailPaymentReceived emailRatingReceived inAppNotifications }
}
fragment TesterStats on TesterData {
  specializations experienceLevel devices browsers availability qualificationStatus
  totalJobsCompleted averageRating
}
fragment JobCard on Job {
  id title description testType testerLevel requiredDevices requiredBrowsers requiredOs
  maxTesters seatsTaken seatsRemaining budgetPerTester deadline
  estimatedDurationMinutes status visibility createdAt publishedAt
}
"#;

const BADGE: &str = r#"
query HeaderBadge {
  me { ...ViewerHeader profile { avatarUrl timezone } }
}
fragment ViewerHeader on User { id fullName role emailVerified twoFactorEnabled organizationRole }
"#;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// User plus system CPU seconds from a `/proc/.../stat` file.
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    // Linux reports CPU times in USER_HZ, 100 on every mainstream architecture.
    100.0
}

struct Phase {
    gateway_cpu_ms_per_request: f64,
    preparation_us_per_request: f64,
    requests_per_second: f64,
}

/// `graphql_document_preparation_seconds_total` from the gateway's `/metrics`.
async fn preparation_seconds(http: &reqwest::Client, url: &str) -> f64 {
    let text = http
        .get(url.replace("/graphql", "/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("graphql_document_preparation_seconds_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the preparation time is in /metrics")
}

fn main() {
    let requests = setting("BENCH_REQUESTS", 4000);
    let concurrency = setting("BENCH_CONCURRENCY", 16);
    let gateway_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "document cache: {requests} requests per phase, {concurrency} at a time, CPU per request of the gateway"
    );
    let mut results = Vec::new();
    for (name, document, variables) in [
        ("dashboard", DASHBOARD, json!({ "first": 10, "filter": {} })),
        ("badge", BADGE, json!({})),
    ] {
        for cache_bytes in [0, 32 * 1024 * 1024] {
            let phase = run_phase(
                &gateway_runtime,
                cache_bytes,
                document,
                &variables,
                requests,
                concurrency,
            );
            let label = if cache_bytes == 0 {
                "uncached"
            } else {
                "cached"
            };
            println!(
                "{name:>9} {label:>8}: {:.3} ms gateway CPU/request, of which {:.1} us preparing the document; {:.0} requests/s",
                phase.gateway_cpu_ms_per_request,
                phase.preparation_us_per_request,
                phase.requests_per_second
            );
            results.push((name, cache_bytes, phase));
        }
    }
    for pair in results.chunks(2) {
        let (name, _, uncached) = &pair[0];
        let (_, _, cached) = &pair[1];
        println!(
            "{name:>9}: cached / uncached: preparation {:.2}x, whole request {:.2}x",
            cached.preparation_us_per_request / uncached.preparation_us_per_request,
            cached.gateway_cpu_ms_per_request / uncached.gateway_cpu_ms_per_request
        );
    }
}

fn run_phase(
    gateway_runtime: &tokio::runtime::Runtime,
    cache_bytes: usize,
    document: &'static str,
    variables: &Value,
    requests: usize,
    concurrency: usize,
) -> Phase {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let mut config = gateway::Config::defaults();
    config.bind_addr = "127.0.0.1:0".parse().expect("address");
    config.data_dir = data_dir.path().to_path_buf();
    config.demo_data = true;
    config.graphql_document_cache_bytes = cache_bytes;
    // One user sends everything: the per-caller cost budget would throttle it.
    config.graphql_cost_per_minute_user = u32::MAX;
    config.graphql_cost_per_minute_address = u32::MAX;
    let running = gateway_runtime
        .block_on(gateway::start(config))
        .expect("gateway starts");
    let url = format!("http://{}/graphql", running.local_addr());
    let variables = variables.clone();

    let (gateway_cpu, preparation, elapsed) = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let client = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("client runtime");
                client.block_on(async {
                    let http = reqwest::Client::new();
                    let token = login(&http, &url).await;
                    // Warm up: connections, the session cache, and the document cache's first sight.
                    drive(&http, &url, &token, document, &variables, 200, concurrency).await;
                    let preparation_before = preparation_seconds(&http, &url).await;
                    let process_before = cpu_seconds("/proc/self/stat");
                    let client_before = cpu_seconds("/proc/thread-self/stat");
                    let started = Instant::now();
                    drive(
                        &http,
                        &url,
                        &token,
                        document,
                        &variables,
                        requests,
                        concurrency,
                    )
                    .await;
                    let elapsed = started.elapsed();
                    let client_cpu = cpu_seconds("/proc/thread-self/stat") - client_before;
                    let process_cpu = cpu_seconds("/proc/self/stat") - process_before;
                    let preparation = preparation_seconds(&http, &url).await - preparation_before;
                    (process_cpu - client_cpu, preparation, elapsed)
                })
            })
            .join()
            .expect("the load generator finishes")
    });
    gateway_runtime.block_on(running.shutdown());
    Phase {
        gateway_cpu_ms_per_request: gateway_cpu * 1000.0 / requests as f64,
        preparation_us_per_request: preparation * 1e6 / requests as f64,
        requests_per_second: requests as f64 / elapsed.as_secs_f64(),
    }
}

async fn login(http: &reqwest::Client, url: &str) -> String {
    let body: Value = http
        .post(url)
        .json(&json!({
            "query": "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
            "variables": { "input": { "email": "sarah.tester@gmail.com", "password": "PeerTest-demo-2024" } },
        }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    body["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {body}"))
        .to_string()
}

async fn drive(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    document: &str,
    variables: &Value,
    requests: usize,
    concurrency: usize,
) {
    let body = json!({ "query": document, "variables": variables }).to_string();
    let mut remaining = requests;
    while remaining > 0 {
        let batch = remaining.min(concurrency);
        let calls = (0..batch).map(|_| async {
            let answer: Value = http
                .post(url)
                .header("content-type", "application/json")
                .bearer_auth(token)
                .body(body.clone())
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            assert!(answer.get("errors").is_none(), "{answer}");
        });
        futures_util::future::join_all(calls).await;
        remaining -= batch;
    }
}
