//! Benchmark: what an idempotency key costs on the money path. `TESTERS` testers hand in a
//! submission each on two jobs; the client then approves one job's submissions without keys and
//! the other's with `Idempotency-Key`s (each approval holds a payout: two escrow writes and a
//! marketplace transaction), and finally repeats every keyed approval (the stored payload is
//! replayed, nothing runs). `BENCH_CONNECTIONS` approvals are in flight at a time. Prints
//! throughput and latency percentiles per phase, and checks the ledger at the end.
//!
//! `cargo bench -p e2e --bench money` (`BENCH_TESTERS`, default 60; `BENCH_CONNECTIONS`,
//! default 8).

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn call(
        &self,
        token: Option<&str>,
        key: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let body: Value = request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    async fn token(&self, email: &str, password: &str) -> String {
        self.call(
            None,
            None,
            "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
            json!({ "input": { "email": email, "password": password } }),
        )
        .await["login"]["accessToken"]
            .as_str()
            .expect("token")
            .to_string()
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1_000.0
}

async fn phase(
    name: &str,
    client: &Client,
    token: &str,
    submissions: &[String],
    keyed: bool,
    connections: usize,
) {
    let approve = "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) {
        submission { id status payout { status testerPayoutCents } } } }";
    let started = Instant::now();
    let mut latencies: Vec<Duration> = stream::iter(submissions.iter())
        .map(|submission| async move {
            let key = format!("approve-{submission}");
            let begun = Instant::now();
            let data = client
                .call(
                    Some(token),
                    keyed.then_some(key.as_str()),
                    approve,
                    json!({ "input": { "submissionId": submission } }),
                )
                .await;
            assert_eq!(
                data["approveSubmission"]["submission"]["status"],
                "APPROVED"
            );
            begun.elapsed()
        })
        .buffer_unordered(connections)
        .collect()
        .await;
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "{name:<28} {:>5} requests  {:>7.1} req/s  p50 {:>7.1} ms  p99 {:>7.1} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
}

async fn run() {
    let testers = setting("BENCH_TESTERS", 60);
    let connections = setting("BENCH_CONNECTIONS", 8);
    let directory = tempfile::tempdir().expect("data directory");
    let mut config = gateway::Config::defaults();
    config.bind_addr = "127.0.0.1:0".parse().expect("address");
    config.data_dir = directory.path().to_path_buf();
    config.demo_data = true;
    // Load from one user and one address: the per-caller cost budgets would throttle it.
    config.graphql_cost_per_minute_user = u32::MAX;
    config.graphql_cost_per_minute_address = u32::MAX;
    // Every tester registers from an address of its own (as the e2e harness does), and a job may
    // have as many seats as the run asks for.
    config.trusted_proxies = vec!["127.0.0.1".parse().expect("address")];
    config.money.max_seats_per_job = u32::try_from(testers.max(1)).expect("seats");
    config.money.new_account_daily_funding_cents = config.money.max_job_budget_cents;
    let running = gateway::start(config).await.expect("gateway starts");
    let client = Client {
        http: reqwest::Client::new(),
        url: running.graphql_url(),
    };
    let demo = gateway::demo::DEMO_PASSWORD;
    let john = client.token("john.doe@techcorp.com", demo).await;
    let admin = client.token("admin@peertest.io", demo).await;

    let project = client
        .call(
            Some(&john),
            None,
            "mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }",
            json!({ "input": { "name": "Bench shop", "description": "Money bench" } }),
        )
        .await["createProject"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_string();
    // Deadlines may be at most a year ahead.
    let deadline =
        bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + 60 * 86_400_000)
            .try_to_rfc3339_string()
            .expect("a deadline");
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let job = client
            .call(
                Some(&john),
                None,
                "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
                json!({ "input": {
                    "details": { "projectId": project, "title": "Checkout", "description": "Buy",
                        "maxTesters": testers, "budgetPerTesterCents": 5_000,
                        "deadline": deadline },
                    "journey": { "scenario": "Buy", "steps": [
                        { "action": "Open the shop", "expectedResult": "It opens" }] } } }),
            )
            .await["createJob"]["job"]["id"]
            .as_str()
            .expect("job")
            .to_string();
        client
            .call(
                Some(&john),
                None,
                "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { id } } }",
                json!({ "input": { "jobId": job } }),
            )
            .await;
        jobs.push(job);
    }

    let setup = Instant::now();
    let mut handed_in: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for index in 0..testers {
        let email = format!("bench.tester.{index}@testers.dev");
        let password = "Correct-Horse-Battery-9";
        let registered: Value = client
            .http
            .post(&client.url)
            .header("x-forwarded-for", format!("10.9.{}.{}", index / 250, index % 250 + 1))
            .json(&json!({
                "query": "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
                "variables": { "input": { "email": email, "password": password, "fullName": email, "role": "TESTER" } },
            }))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        let user = registered["data"]["register"]["user"]["id"]
            .as_str()
            .expect("user")
            .to_string();
        client
            .call(
                Some(&admin),
                None,
                "mutation($input: SetTesterQualificationInput!) { setTesterQualification(input: $input) { user { id } } }",
                json!({ "input": { "userId": user, "status": "QUALIFIED" } }),
            )
            .await;
        let token = client.token(&email, password).await;
        for (slot, job) in jobs.iter().enumerate() {
            client
                .call(
                    Some(&token),
                    None,
                    "mutation($input: JobIdInput!) { claimJob(input: $input) { job { id } } }",
                    json!({ "input": { "jobId": job } }),
                )
                .await;
            let submission = client
                .call(
                    Some(&token),
                    None,
                    "mutation($input: CreateSubmissionInput!) { createSubmission(input: $input) { submission { id } } }",
                    json!({ "input": { "jobId": job } }),
                )
                .await["createSubmission"]["submission"]["id"]
                .as_str()
                .expect("submission")
                .to_string();
            client
                .call(
                    Some(&token),
                    None,
                    "mutation($input: SubmissionIdInput!) { submitSubmission(input: $input) { submission { id } } }",
                    json!({ "input": { "submissionId": submission } }),
                )
                .await;
            handed_in[slot].push(submission);
        }
    }
    println!(
        "setup: {testers} testers, 2 jobs, {} submissions in {:.1} s; {connections} in flight",
        testers * 2,
        setup.elapsed().as_secs_f64()
    );

    phase(
        "approve (no key)",
        &client,
        &john,
        &handed_in[0],
        false,
        connections,
    )
    .await;
    phase(
        "approve (Idempotency-Key)",
        &client,
        &john,
        &handed_in[1],
        true,
        connections,
    )
    .await;
    phase(
        "replay (same keys)",
        &client,
        &john,
        &handed_in[1],
        true,
        connections,
    )
    .await;

    // Every approval held exactly one payout, whatever the phase.
    for job in &jobs {
        let escrow = client
            .call(
                Some(&john),
                None,
                "query($id: ID!) { job(id: $id) { escrow { heldForTestersCents platformFeeCents inEscrowCents payouts { status } } } }",
                json!({ "id": job }),
            )
            .await;
        let escrow = &escrow["job"]["escrow"];
        let seats = testers as i64;
        assert_eq!(escrow["payouts"].as_array().map(Vec::len), Some(testers));
        assert_eq!(escrow["heldForTestersCents"], json!(seats * 4_250));
        assert_eq!(escrow["platformFeeCents"], json!(seats * 750));
        assert_eq!(escrow["inEscrowCents"], json!(0));
    }
    println!("ledger: every approval held one payout; nothing left in escrow");
    running.shutdown().await;
}
