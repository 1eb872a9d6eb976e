//! Benchmark: many concurrent `graphql-transport-ws` subscribers on one instance (B) while
//! notifications are created through another instance (A) on the same store.
//!
//! A runs in this process and owns the embedded store; B is the release `gateway` binary in a
//! process of its own (`GATEWAY_BIN`, default `target/release/gateway`: build it first with
//! `cargo build --release -p gateway`) on A's store, so B's resident memory is the server's
//! alone and the sockets' two ends do not share one process's descriptor limit.
//! `BENCH_USERS` accounts (default 1,000, so each has 10 sockets: a person on several devices) are registered; `BENCH_SUBSCRIBERS` sockets (default
//! 10,000) subscribe to `notificationAdded` on B (with tokens A issued: the instances share
//! `JWT_SECRET` and `ENCRYPTION_KEY`), spread evenly over the accounts. Then domain
//! events are recorded (through `foundation::events`, as a domain does, each in its own
//! transaction) at `BENCH_RATE` per second (default 1,000) for `BENCH_SECONDS` (default 5),
//! each for one account in turn; A's worker turns them into notifications and B's one change
//! stream fans them out. Reported: B's resident memory per open subscription (`VmRSS` growth
//! while the sockets open, divided by their number) and publish→receive latency p50/p99/max over
//! every delivery (an event reaches every subscriber of its account).
//!
//! `cargo build --release -p gateway && cargo bench -p e2e --bench subscribers`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

/// The resident set of process `pid` (`self` for this one), in KiB.
fn rss_kib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// Instance B: the release binary on A's store, killed when dropped.
struct ChildGateway {
    child: std::process::Child,
    url: String,
    _data_dir: tempfile::TempDir,
}

impl Drop for ChildGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The secrets every instance of one deployment shares (tokens signed by A verify on B).
const JWT_SECRET: &str = "bench-jwt-secret-0123456789abcdef0123456789";
const ENCRYPTION_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

async fn spawn_b(mongodb_uri: &str) -> ChildGateway {
    let binary = std::env::var("GATEWAY_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/gateway").to_string()
    });
    assert!(
        std::path::Path::new(&binary).exists(),
        "{binary} is missing: run `cargo build --release -p gateway` first (or set GATEWAY_BIN)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let child = std::process::Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", data_dir.path())
        .env("MONGODB_URI", mongodb_uri)
        .env("JWT_SECRET", JWT_SECRET)
        .env("ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("INSTANCE_NAME", "bench-b")
        .env("TRUSTED_PROXIES", "127.0.0.1")
        .env("GRAPHQL_COST_PER_MINUTE_USER", u32::MAX.to_string())
        .env("GRAPHQL_COST_PER_MINUTE_ADDRESS", u32::MAX.to_string())
        .env("SUBSCRIPTION_CONNECTIONS_PER_USER", "1000")
        .env("SUBSCRIPTION_KEEP_ALIVE_SECONDS", "60")
        .env("NOTIFICATION_WORK_INTERVAL_MILLISECONDS", "10")
        .env("RUST_LOG", "warn")
        .envs(std::env::var("MALLOC_ARENA_MAX").map(|value| ("MALLOC_ARENA_MAX", value)))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("instance B starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http.get(format!("{url}/readyz")).send().await;
        if matches!(&ready, Ok(response) if response.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "instance B never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ChildGateway {
        child,
        url,
        _data_dir: data_dir,
    }
}

/// A value the tasks share.
type Shared<T> = Arc<std::sync::Mutex<T>>;

async fn graphql(
    http: &reqwest::Client,
    url: &str,
    forwarded: &str,
    query: &str,
    variables: Value,
) -> Value {
    http.post(url)
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON")
}

async fn start(data_dir: &std::path::Path) -> gateway::RunningGateway {
    let mut config = gateway::Config::defaults();
    config.bind_addr = "127.0.0.1:0".parse().expect("address");
    config.data_dir = data_dir.to_path_buf();
    config.instance_name = "bench-a".to_string();
    config.jwt_secret = Some(JWT_SECRET.to_string());
    config.encryption_key = Some(ENCRYPTION_KEY.to_string());
    config.trusted_proxies = vec!["127.0.0.1".parse().expect("address")];
    config.graphql_cost_per_minute_user = u32::MAX;
    config.graphql_cost_per_minute_address = u32::MAX;
    config.notification_work_interval_milliseconds = 10;
    gateway::start(config).await.expect("gateway starts")
}

async fn run() {
    let users = env("BENCH_USERS", 1_000);
    let subscribers = env("BENCH_SUBSCRIBERS", 10_000);
    let rate = env("BENCH_RATE", 1_000);
    let seconds = env("BENCH_SECONDS", 5);
    let dir_a = tempfile::tempdir().expect("temporary directory");
    let a = start(dir_a.path()).await;
    let b = spawn_b(a.mongodb_uri()).await;
    let b_pid = b.child.id().to_string();
    let b_graphql = format!("{}/graphql", b.url);
    let http = reqwest::Client::new();

    // Accounts, each from its own address (registrations are limited per address), a few at
    // a time, registered and signed in on A (the instances share their secrets, as one
    // deployment's do), so B's memory before the sockets open is its idle baseline.
    let registered = std::time::Instant::now();
    let accounts: Vec<(ObjectId, String)> = futures_util::stream::iter(0..users)
        .map(|number| {
            let http = http.clone();
            let a_graphql = a.graphql_url();
            async move {
                let email = format!("bench{number}@testers.dev");
                let forwarded = format!("10.9.{}.{}", number / 250, number % 250 + 1);
                let registered = graphql(
                    &http,
                    &a_graphql,
                    &forwarded,
                    "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
                    json!({ "input": { "email": email, "password": "Correct-Horse-Battery-9", "fullName": "Bench", "role": "TESTER" } }),
                )
                .await;
                let global = registered["data"]["register"]["user"]["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("registered: {registered}"))
                    .to_string();
                let login = graphql(
                    &http,
                    &a_graphql,
                    &forwarded,
                    "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
                    json!({ "input": { "email": email, "password": "Correct-Horse-Battery-9" } }),
                )
                .await;
                let token = login["data"]["login"]["accessToken"]
                    .as_str()
                    .unwrap_or_else(|| panic!("signed in: {login}"))
                    .to_string();
                (object_id(&global), token)
            }
        })
        .buffered(4)
        .collect()
        .await;
    println!(
        "accounts: {users} registered and signed in in {:.1} s",
        registered.elapsed().as_secs_f64()
    );

    // Subscribers on B, spread over the accounts.
    let ws_url = b_graphql.replacen("http://", "ws://", 1) + "/ws";
    let sent: Shared<HashMap<ObjectId, Instant>> = Arc::default();
    let latencies: Shared<Vec<Duration>> = Arc::default();
    let fanout: Shared<Vec<f64>> = Arc::default();
    let ready = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rss_before = rss_kib(&b_pid);
    let client_before = rss_kib("self");
    let opened = Instant::now();
    let mut sockets = Vec::new();
    for number in 0..subscribers {
        let token = accounts[number % users].1.clone();
        let url = ws_url.clone();
        let sent = sent.clone();
        let latencies = latencies.clone();
        let fanout = fanout.clone();
        let acknowledged = ready.clone();
        sockets.push(tokio::spawn(async move {
            let mut request = url.into_client_request().expect("request");
            request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
            // Small buffers, as the server's: the client side lives in this process too.
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(4 * 1024)
                .write_buffer_size(4 * 1024);
            let (mut socket, _) =
                tokio_tungstenite::connect_async_with_config(request, Some(config), false)
                    .await
                    .expect("upgraded");
            let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
            socket.send(Message::Text(init.to_string().into())).await.expect("sent");
            let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { notificationAdded { relatedJobId createdAt } }" } });
            let mut subscribed = false;
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else { continue };
                let message: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                match message["type"].as_str() {
                    Some("connection_ack") if !subscribed => {
                        socket.send(Message::Text(subscribe.to_string().into())).await.expect("sent");
                        subscribed = true;
                        acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Some("next") => {
                        let arrived = Instant::now();
                        let job = message["payload"]["data"]["notificationAdded"]["relatedJobId"]
                            .as_str()
                            .map(object_id);
                        let started = job.and_then(|job| sent.lock().expect("lock").get(&job).copied());
                        if let Some(started) = started {
                            latencies.lock().expect("lock").push(arrived - started);
                        }
                        // From the notification's creation (the worker's commit on A) to here:
                        // the change stream and B's fan-out alone.
                        let created = message["payload"]["data"]["notificationAdded"]["createdAt"]
                            .as_str()
                            .and_then(|text| bson::DateTime::parse_rfc3339_str(text).ok());
                        if let Some(created) = created {
                            let now = bson::DateTime::now().timestamp_millis();
                            fanout
                                .lock()
                                .expect("lock")
                                .push((now - created.timestamp_millis()).max(0) as f64);
                        }
                    }
                    _ => {}
                }
            }
        }));
        // Open in waves of 500 so the accept queue is not flooded.
        if number % 500 == 499 || number + 1 == subscribers {
            while ready.load(std::sync::atomic::Ordering::SeqCst) < number + 1 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    // The subscribe messages are taken by the server after the acknowledgement.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(&b_pid);
    let client_after = rss_kib("self");
    println!(
        "subscribers: {subscribers} open in {:.1} s; instance B resident memory {:.0} -> {:.0} MiB: {:.1} KiB per subscription (the bench's client side: {:.1} KiB per socket)",
        opened.elapsed().as_secs_f64(),
        rss_before / 1024.0,
        rss_after / 1024.0,
        (rss_after - rss_before) / subscribers as f64,
        (client_after - client_before) / subscribers as f64,
    );

    // Publish through the outbox API, as a domain does, at the rate asked.
    let client = mongodb::Client::with_uri_str(a.mongodb_uri())
        .await
        .expect("driver");
    let events = foundation::events::DomainEvents::new(&client.database("peertest_hub"));
    let total = rate * seconds;
    let started = Instant::now();
    let mut published = 0;
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    while published < total {
        ticks.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as usize).min(total);
        let mut batch = Vec::new();
        while published < due {
            let (user, _) = accounts[published % users];
            let marker = ObjectId::new();
            sent.lock().expect("lock").insert(marker, Instant::now());
            let events = events.clone();
            let client = client.clone();
            batch.push(async move {
                let mut session = client.start_session().await.expect("session");
                session.start_transaction().await.expect("transaction");
                let event = foundation::events::DomainEvent::new(
                    foundation::events::DomainEventKind::PayoutAccountVerified,
                    [user],
                )
                .with_job(marker);
                events
                    .record(&mut session, event, bson::DateTime::now())
                    .await
                    .expect("recorded");
                session.commit_transaction().await.expect("committed");
            });
            published += 1;
        }
        futures_util::future::join_all(batch).await;
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    let expected = total * (subscribers / users);
    let deadline = Instant::now() + Duration::from_secs(120);
    while latencies.lock().expect("lock").len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = latencies.lock().expect("lock").clone();
    latencies.sort();
    let at = |quantile: f64| {
        latencies
            .get(
                ((latencies.len() as f64 * quantile) as usize)
                    .min(latencies.len().saturating_sub(1)),
            )
            .map(|latency| latency.as_secs_f64() * 1_000.0)
            .unwrap_or(f64::NAN)
    };
    println!(
        "published {total} events in {publish_seconds:.1} s ({:.0}/s); deliveries {} of {expected}; publish->receive p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        total as f64 / publish_seconds,
        latencies.len(),
        at(0.50),
        at(0.99),
        at(1.0),
    );
    let mut fanout = fanout.lock().expect("lock").clone();
    fanout.sort_by(f64::total_cmp);
    let at_ms = |quantile: f64| {
        fanout
            .get(((fanout.len() as f64 * quantile) as usize).min(fanout.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "notification created on A -> received from B (change stream and fan-out only, ms clock): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        at_ms(0.50),
        at_ms(0.99),
        at_ms(1.0),
    );
    for socket in sockets {
        socket.abort();
    }
    drop(b);
    a.shutdown().await;
}

fn object_id(global_id: &str) -> ObjectId {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(global_id)
        .expect("base64");
    let text = String::from_utf8(decoded).expect("utf-8");
    ObjectId::parse_str(text.split_once(':').expect("typed").1).expect("object id")
}
