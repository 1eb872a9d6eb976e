//! Benchmark: peak resident memory of a gateway answering the largest requests it allows and
//! refusing larger ones, at 32 concurrent connections.
//!
//! The gateway runs in this process over the embedded store; the figure is the process's
//! `VmHWM` (peak resident set) from `/proc/self/status`, before and after each phase. Phases:
//! documents at the query-size limit (32 KiB of query in a 1 MiB body of variables), bodies
//! announced over the limit (refused unread), chunked bodies streaming past the limit (cut at
//! the limit). Before the limits a 512 MiB body was read whole (+1 GiB); now the peak must stay
//! near the baseline however many such requests come.
//!
//! `cargo bench -p e2e --bench request_memory` (`BENCH_REQUESTS`, default 640, per phase).

use std::time::Instant;

use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONNECTIONS: usize = 32;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

/// The peak resident set so far, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn run() {
    let requests = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(640);
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let mut config = gateway::Config::defaults();
    config.bind_addr = "127.0.0.1:0".parse().expect("address");
    config.data_dir = data_dir.path().to_path_buf();
    // Load from one user and one address: the per-caller cost budgets would throttle it.
    config.graphql_cost_per_minute_user = u32::MAX;
    config.graphql_cost_per_minute_address = u32::MAX;
    let running = gateway::start(config.clone())
        .await
        .expect("gateway starts");
    let address = running.local_addr();
    let url = format!("http://{address}/graphql");
    let http = reqwest::Client::new();
    let baseline = peak_mib();
    println!("baseline peak RSS: {baseline:.1} MiB");

    // The largest allowed document: many root fields, aliases, and tokens, padded with a comment
    // to just under the query-size limit, in a body filled to just under the body limit.
    let fields: String = (0..config
        .graphql_max_aliases
        .min(config.graphql_max_root_fields))
        .map(|index| format!("a{index}: __typename "))
        .collect();
    let mut query = format!("query {{ {fields} }} #");
    query.push_str(&"p".repeat(config.graphql_max_query_bytes - query.len() - 1));
    let filler = "v".repeat(config.max_body_bytes - query.len() - 200);
    // Bodies are sent from one static buffer, so the client's copies do not count as the
    // gateway's memory (both run in this process).
    let largest: &'static str = Box::leak(
        json!({ "query": query, "variables": { "filler": filler } })
            .to_string()
            .into_boxed_str(),
    );
    assert!(largest.len() <= config.max_body_bytes);
    phase("largest allowed", requests, baseline, || {
        let http = http.clone();
        let url = url.clone();
        let body = largest;
        async move {
            let response = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("answered");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
        }
    })
    .await;

    let oversized: &'static str = Box::leak("x".repeat(8 * config.max_body_bytes).into_boxed_str());
    phase("8 MiB bodies (413)", requests, baseline, || {
        let http = http.clone();
        let url = url.clone();
        let body = oversized;
        async move {
            let status = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map(|response| response.status().as_u16())
                .unwrap_or(413);
            assert_eq!(status, 413);
        }
    })
    .await;

    phase("chunked 8 MiB streams (cut at 1 MiB)", requests / 4, baseline, || {
        async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
            let head = "POST /graphql HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "y".repeat(64 * 1024));
            for _ in 0..128 {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
            // The server answers 413 and closes mid-stream; the write side may see a reset first.
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
        }
    })
    .await;
    running.shutdown().await;
}

async fn phase<F, Fut>(name: &str, requests: usize, baseline: f64, make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    futures_util::stream::iter((0..requests).map(|_| make()))
        .buffer_unordered(CONNECTIONS)
        .collect::<Vec<()>>()
        .await;
    let peak = peak_mib();
    println!(
        "{name}: {requests} requests at {CONNECTIONS} connections in {:.1} s; peak RSS {peak:.1} MiB (+{:.1} MiB over baseline)",
        started.elapsed().as_secs_f64(),
        peak - baseline
    );
}
