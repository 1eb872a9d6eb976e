//! Benchmark: the nested query viewer → projects(10) → jobs(10) → submissions(10) → tester at 32
//! concurrent connections, against a hand-written baseline that fetches the same data with the
//! same `$in` queries through the driver and serializes it with serde.
//!
//! Both run in this process over one embedded store, each behind its own HTTP server, driven by
//! the same load generator. The gateway's figure includes what the baseline skips: parsing and
//! validating the GraphQL document, verifying the bearer token and checking its session.
//!
//! `cargo bench -p e2e --bench nested_query` (`BENCH_SECONDS`, default 10, sets each phase's
//! length; `BENCH_CONNECTIONS`, default 32, the concurrency).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::doc;
use bson::oid::ObjectId;
use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::{json, Value};

const FAN: usize = 10;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

async fn graphql(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    graphql_from(http, url, token, None, query, variables).await
}

/// [`graphql`] as a caller at `from` (behind the trusted proxy: registrations are limited per
/// address).
async fn graphql_from(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    from: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = http
        .post(url)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(from) = from {
        request = request.header("x-forwarded-for", from);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

async fn account(
    http: &reqwest::Client,
    url: &str,
    from: &str,
    email: &str,
    role: &str,
) -> (String, ObjectId) {
    let password = "Correct-Horse-Battery-9";
    graphql_from(
        http,
        url,
        None,
        Some(from),
        "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
        json!({ "input": { "email": email, "password": password, "fullName": email, "role": role } }),
    )
    .await;
    let login = graphql_from(
        http,
        url,
        None,
        Some(from),
        "mutation($input: LoginInput!) { login(input: $input) { accessToken user { id } } }",
        json!({ "input": { "email": email, "password": password } }),
    )
    .await;
    let token = login["login"]["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let id = login["login"]["user"]["id"].as_str().expect("id");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(id)
        .expect("base64");
    let text = String::from_utf8(decoded).expect("utf-8");
    let object_id = ObjectId::parse_str(text.split_once(':').expect("typed").1).expect("oid");
    (token, object_id)
}

// The baseline's response, shaped like the GraphQL answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Connection<T> {
    total_count: usize,
    edges: Vec<Edge<T>>,
}
#[derive(Serialize)]
struct Edge<T> {
    node: T,
}
#[derive(Serialize)]
struct Tester {
    #[serde(rename = "fullName")]
    full_name: String,
}
#[derive(Serialize)]
struct SubmissionNode {
    status: marketplace::SubmissionStatus,
    tester: Option<Tester>,
}
#[derive(Serialize)]
struct JobNode {
    title: String,
    submissions: Connection<SubmissionNode>,
}
#[derive(Serialize)]
struct ProjectNode {
    name: String,
    jobs: Connection<JobNode>,
}
#[derive(Serialize)]
struct Me {
    id: String,
    projects: Connection<ProjectNode>,
}
#[derive(Serialize)]
struct Data {
    me: Me,
}
#[derive(Serialize)]
struct Response {
    data: Data,
}

fn page<T, N>(items: Vec<T>, to_node: impl FnMut(T) -> N) -> Connection<N> {
    Connection {
        total_count: items.len(),
        edges: items
            .into_iter()
            .take(FAN)
            .map(to_node)
            .map(|node| Edge { node })
            .collect(),
    }
}

fn group<T>(items: Vec<T>, key: impl Fn(&T) -> ObjectId) -> HashMap<ObjectId, Vec<T>> {
    let mut grouped: HashMap<ObjectId, Vec<T>> = HashMap::new();
    for item in items {
        grouped.entry(key(&item)).or_default().push(item);
    }
    grouped
}

/// The hand-written path: the same five `$in` queries through the driver, serialized with serde.
async fn baseline(database: &mongodb::Database, client_id: ObjectId) -> Vec<u8> {
    let users = database.collection::<bson::Document>("users");
    let me = users
        .find_one(doc! { "_id": client_id })
        .await
        .expect("me")
        .expect("client exists");
    let newest = doc! { "created_at": -1, "_id": -1 };
    let projects: Vec<marketplace::Project> = database
        .collection("projects")
        .find(doc! { "client_id": { "$in": [client_id] } })
        .sort(newest.clone())
        .batch_size(10_000)
        .await
        .expect("projects")
        .try_collect()
        .await
        .expect("projects");
    let project_ids: Vec<ObjectId> = projects.iter().take(FAN).map(|p| p.id).collect();
    let jobs: Vec<marketplace::Job> = database
        .collection("jobs")
        .find(doc! { "project_id": { "$in": &project_ids } })
        .sort(newest.clone())
        .batch_size(10_000)
        .await
        .expect("jobs")
        .try_collect()
        .await
        .expect("jobs");
    let mut jobs = group(jobs, |job| job.project_id);
    let job_ids: Vec<ObjectId> = jobs
        .values()
        .flat_map(|list| list.iter().take(FAN).map(|job| job.id))
        .collect();
    let submissions: Vec<marketplace::Submission> = database
        .collection("submissions")
        .find(doc! { "job_id": { "$in": &job_ids }, "status": { "$ne": "draft" } })
        .sort(newest)
        .batch_size(10_000)
        .await
        .expect("submissions")
        .try_collect()
        .await
        .expect("submissions");
    let mut submissions = group(submissions, |submission| submission.job_id);
    let mut tester_ids: Vec<ObjectId> = submissions
        .values()
        .flat_map(|list| list.iter().take(FAN).map(|s| s.tester_id))
        .collect();
    tester_ids.sort();
    tester_ids.dedup();
    let testers: HashMap<ObjectId, String> = users
        .find(doc! { "_id": { "$in": &tester_ids } })
        .batch_size(10_000)
        .await
        .expect("testers")
        .try_collect::<Vec<_>>()
        .await
        .expect("testers")
        .into_iter()
        .filter_map(|user| {
            Some((
                user.get_object_id("_id").ok()?,
                user.get_str("full_name").ok()?.to_string(),
            ))
        })
        .collect();
    let response = Response {
        data: Data {
            me: Me {
                id: me.get_object_id("_id").expect("id").to_hex(),
                projects: page(projects, |project| ProjectNode {
                    name: project.name,
                    jobs: page(jobs.remove(&project.id).unwrap_or_default(), |job| {
                        JobNode {
                            title: job.title,
                            submissions: page(
                                submissions.remove(&job.id).unwrap_or_default(),
                                |submission| SubmissionNode {
                                    status: submission.status,
                                    tester: testers.get(&submission.tester_id).map(|name| Tester {
                                        full_name: name.clone(),
                                    }),
                                },
                            ),
                        }
                    }),
                }),
            },
        },
    };
    serde_json::to_vec(&response).expect("serializes")
}

struct Measured {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// CPU time of this whole process (gateway or baseline, store and load generator) while
    /// the phase ran.
    cpu: Duration,
}

/// This process's CPU time so far (user and system), from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15, in clock ticks.
    let after_name = &stat[stat.rfind(')').expect("stat") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports them in USER_HZ, 100 per second on every architecture it exports to.
    Duration::from_millis(ticks * 10)
}

/// `mongodb_commands_total` in the gateway's `/metrics`: every command the driver sent (the
/// background workers are kept quiet; a change stream's `getMore` counts, one per 30 s idle).
async fn commands_so_far(http: &reqwest::Client, metrics_url: &str) -> u64 {
    let text = http
        .get(metrics_url)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("mongodb_commands_total "))
        .and_then(|count| count.trim().parse().ok())
        .expect("mongodb_commands_total in /metrics")
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, fraction: f64) -> Duration {
        let index = ((self.latencies.len() as f64 * fraction).ceil() as usize)
            .saturating_sub(1)
            .min(self.latencies.len().saturating_sub(1));
        self.latencies[index]
    }
}

/// `connections` workers each send requests back to back for `seconds`.
async fn load(
    connections: usize,
    seconds: u64,
    send: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync>,
) -> Measured {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let cpu_before = process_cpu();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let send = send.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let begun = Instant::now();
                    let response = send().send().await.expect("request");
                    assert!(response.status().is_success());
                    let body = response.bytes().await.expect("body");
                    assert!(body.len() > 10_000, "a full answer");
                    latencies.push(begun.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    latencies.sort();
    Measured {
        requests: latencies.len(),
        elapsed,
        latencies,
        cpu,
    }
}

async fn run() {
    let seconds = setting("BENCH_SECONDS", 10);
    let connections = setting("BENCH_CONNECTIONS", 32) as usize;
    let directory = tempfile::tempdir().expect("temp dir");
    let mut config = gateway::Config::defaults();
    config.bind_addr = "127.0.0.1:0".parse().expect("address");
    config.data_dir = directory.path().to_path_buf();
    config.demo_data = false;
    // Load from one user and one address: the per-caller cost budgets would throttle it.
    config.graphql_cost_per_minute_user = u32::MAX;
    config.graphql_cost_per_minute_address = u32::MAX;
    // The background workers' passes would count in the commands per request.
    config.notification_work_interval_milliseconds = 3_600_000;
    config.escrow_work_interval_seconds = 365 * 86_400;
    // Each account registers from its own address, as the load balancer forwards it.
    config.trusted_proxies = vec!["127.0.0.1".parse().expect("address")];
    let running = gateway::start(config).await.expect("gateway starts");
    let url = format!("http://{}/graphql", running.local_addr());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections * 2)
        .build()
        .expect("client");

    let (token, client_id) = account(
        &http,
        &url,
        "10.9.0.200",
        "bench-client@bench.example",
        "CLIENT",
    )
    .await;
    let mut testers = Vec::new();
    for n in 0..FAN {
        testers.push(
            account(
                &http,
                &url,
                &format!("10.9.0.{}", n + 1),
                &format!("bench-tester{n}@bench.example"),
                "TESTER",
            )
            .await
            .1,
        );
    }
    let driver = mongodb::Client::with_uri_str(running.mongodb_uri())
        .await
        .expect("driver");
    let database = driver.database("peertest_hub");
    e2e::seed_fan_out(&database, client_id, &testers, FAN).await;

    // The baseline's own HTTP server on the same store.
    let baseline_database = database.clone();
    let app = axum::Router::new().route(
        "/baseline",
        axum::routing::get(move || {
            let database = baseline_database.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    baseline(&database, client_id).await,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let baseline_url = format!("http://{}/baseline", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Both answers carry the same 1,000 tester names.
    let answer = graphql(
        &http,
        &url,
        Some(&token),
        e2e::NESTED_QUERY,
        json!({ "n": FAN }),
    )
    .await;
    let hand: Value = http
        .get(&baseline_url)
        .send()
        .await
        .expect("baseline")
        .json()
        .await
        .expect("json");
    let names = |data: &Value| data.to_string().matches("fullName").count();
    assert_eq!(names(&answer), FAN * FAN * FAN);
    assert_eq!(names(&hand["data"]), FAN * FAN * FAN);

    let body = json!({ "query": e2e::NESTED_QUERY, "variables": { "n": FAN } });
    let gateway_send: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync> = {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        Arc::new(move || http.post(&url).bearer_auth(&token).json(&body))
    };
    let baseline_send: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync> = {
        let (http, baseline_url) = (http.clone(), baseline_url.clone());
        Arc::new(move || http.get(&baseline_url))
    };
    // Warm both up, then measure.
    load(connections, 1, gateway_send.clone()).await;
    load(connections, 1, baseline_send.clone()).await;
    let metrics_url = url.replace("/graphql", "/metrics");
    let commands_before = commands_so_far(&http, &metrics_url).await;
    let gateway_run = load(connections, seconds, gateway_send).await;
    let commands = commands_so_far(&http, &metrics_url).await - commands_before;
    let baseline_run = load(connections, seconds, baseline_send).await;

    println!("nested query 1x{FAN}x{FAN}x{FAN} ({} tester names per answer), {connections} connections, {seconds} s each", FAN * FAN * FAN);
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>14}",
        "path", "requests", "req/s", "p50 ms", "p99 ms", "CPU ms/request"
    );
    for (name, run) in [("gateway", &gateway_run), ("baseline", &baseline_run)] {
        println!(
            "{:<10} {:>10} {:>10.1} {:>10.2} {:>10.2} {:>14.2}",
            name,
            run.requests,
            run.per_second(),
            run.percentile(0.50).as_secs_f64() * 1000.0,
            run.percentile(0.99).as_secs_f64() * 1000.0,
            run.cpu.as_secs_f64() * 1000.0 / run.requests.max(1) as f64,
        );
    }
    println!(
        "gateway CPU per request beyond the baseline's (same store, same load generator): {:.2} ms",
        (gateway_run.cpu.as_secs_f64() / gateway_run.requests.max(1) as f64
            - baseline_run.cpu.as_secs_f64() / baseline_run.requests.max(1) as f64)
            * 1000.0
    );
    println!(
        "MongoDB commands per gateway request: {:.3}",
        commands as f64 / gateway_run.requests.max(1) as f64
    );
    println!(
        "gateway / baseline throughput: {:.2}",
        gateway_run.per_second() / baseline_run.per_second()
    );
    running.shutdown().await;
}
