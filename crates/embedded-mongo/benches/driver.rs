//! The driver benchmark: through the official Rust driver against an in-process embedded
//! server, measures batch and single-document inserts, finds by `_id`, `$in` finds on an indexed
//! field and updates by `_id` (ops/s, p50, p99 with a few concurrent tasks), and the resident
//! memory that 100k small documents cost.
//!
//! Run with `cargo bench -p embedded-mongo --bench driver`. Each phase is capped in time so the
//! whole run stays well under two minutes in release.

use std::sync::Arc;
use std::time::{Duration, Instant};

use embedded_mongo::{EmbeddedMongo, ServerConfig};
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};
use rand::Rng;

const DOCUMENTS: i64 = 100_000;
const BATCH_SIZE: i64 = 1_000;
const SINGLE_INSERTS: i64 = 10_000;
const DURABLE_SINGLE_INSERTS: i64 = 2_000;
const TASKS: usize = 4;
const POINT_READS: usize = 20_000;
const IN_QUERIES: usize = 2_000;
const IN_VALUES: i64 = 100;
const UPDATES: usize = 20_000;
/// No phase runs longer than this; the table reports what completed.
const PHASE_CAP: Duration = Duration::from_secs(20);

/// One measured phase: how many operations, how long, and each operation's latency.
struct Phase {
    name: String,
    operations: usize,
    documents: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn percentile(&self, fraction: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * fraction).round() as usize;
        self.latencies[index]
    }
}

fn small_document(id: i64) -> Document {
    doc! {
        "_id": id,
        "code": id * 7,
        "group": id % 100,
        "name": format!("user-{id}"),
        "score": (id % 1000) as f64 / 10.0,
        "tags": ["alpha", "beta"],
        "created_at": DateTime::from_millis(1_700_000_000_000 + id),
    }
}

/// Reads this process's resident set size in KiB from /proc/self/status.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `operation(task, index)` for `count` operations split over `TASKS` tasks, recording each
/// latency; stops early at the phase cap. `documents_per_operation` scales the docs column.
async fn measure<F, Fut>(
    name: &str,
    count: usize,
    documents_per_operation: usize,
    operation: F,
) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let operation = Arc::new(operation);
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let operation = operation.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut index = task;
            while index < count && started.elapsed() < PHASE_CAP {
                let begun = Instant::now();
                operation(task, index).await;
                latencies.push(begun.elapsed());
                index += TASKS;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await.expect("a benchmark task panicked"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Phase {
        name: name.to_string(),
        operations: latencies.len(),
        documents: latencies.len() * documents_per_operation,
        elapsed,
        latencies,
    }
}

async fn insert_phases(
    collection: &Collection<Document>,
    single: &Collection<Document>,
    single_count: i64,
    label: &str,
) -> Vec<Phase> {
    let batches = (DOCUMENTS / BATCH_SIZE) as usize;
    let batch_collection = collection.clone();
    let batch = measure(
        &format!("insert_many x{BATCH_SIZE} ({label})"),
        batches,
        BATCH_SIZE as usize,
        move |_, index| {
            let collection = batch_collection.clone();
            async move {
                let start = index as i64 * BATCH_SIZE;
                let documents: Vec<Document> =
                    (start..start + BATCH_SIZE).map(small_document).collect();
                collection
                    .insert_many(documents)
                    .await
                    .expect("batch insert");
            }
        },
    )
    .await;
    let single_collection = single.clone();
    let single = measure(
        &format!("insert_one ({label})"),
        single_count as usize,
        1,
        move |_, index| {
            let collection = single_collection.clone();
            async move {
                collection
                    .insert_one(small_document(index as i64))
                    .await
                    .expect("single insert");
            }
        },
    )
    .await;
    vec![batch, single]
}

fn print_table(phases: &[Phase]) {
    println!();
    println!(
        "{:<44} {:>9} {:>11} {:>13} {:>10} {:>10}",
        "operation", "ops", "ops/s", "documents/s", "p50 µs", "p99 µs"
    );
    println!("{}", "-".repeat(102));
    for phase in phases {
        let seconds = phase.elapsed.as_secs_f64().max(f64::EPSILON);
        println!(
            "{:<44} {:>9} {:>11.0} {:>13.0} {:>10} {:>10}",
            phase.name,
            phase.operations,
            phase.operations as f64 / seconds,
            phase.documents as f64 / seconds,
            phase.percentile(0.50).as_micros(),
            phase.percentile(0.99).as_micros(),
        );
    }
}

async fn connect(server: &EmbeddedMongo) -> Client {
    let mut options = mongodb::options::ClientOptions::parse(server.uri())
        .await
        .expect("uri");
    options.max_pool_size = Some(16);
    Client::with_options(options).expect("client")
}

async fn run() {
    let mut phases = Vec::new();

    let server = EmbeddedMongo::start(ServerConfig::default())
        .await
        .expect("server starts");
    let client = connect(&server).await;
    let database = client.database("bench");
    let users = database.collection::<Document>("users");
    users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "code": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .expect("index on code");
    // Warm the connection pool so the first measured operations do not pay for handshakes.
    for _ in 0..TASKS {
        database
            .run_command(doc! { "ping": 1 })
            .await
            .expect("ping");
    }

    let resident_before = resident_kib();
    let mut inserted = insert_phases(
        &users,
        &database.collection("single"),
        SINGLE_INSERTS,
        "memory",
    )
    .await;
    let resident_after = resident_kib();
    phases.append(&mut inserted);
    let loaded = users.estimated_document_count().await.expect("count") as i64;

    let point_collection = users.clone();
    phases.push(
        measure("find_one by _id (random)", POINT_READS, 1, move |_, _| {
            let collection = point_collection.clone();
            let id = rand::rng().random_range(0..loaded.max(1));
            async move {
                let found = collection
                    .find_one(doc! { "_id": id })
                    .await
                    .expect("find by _id");
                assert!(found.is_some(), "document {id} is missing");
            }
        })
        .await,
    );

    let in_collection = users.clone();
    phases.push(
        measure(
            &format!("find $in {IN_VALUES} values on indexed code"),
            IN_QUERIES,
            IN_VALUES as usize,
            move |_, _| {
                let collection = in_collection.clone();
                let codes: Vec<i64> = {
                    let mut random = rand::rng();
                    (0..IN_VALUES)
                        .map(|_| random.random_range(0..loaded.max(1)) * 7)
                        .collect()
                };
                async move {
                    let mut cursor = collection
                        .find(doc! { "code": { "$in": codes } })
                        .batch_size(IN_VALUES as u32 + 1)
                        .await
                        .expect("find $in");
                    let mut seen = 0;
                    while cursor.advance().await.expect("cursor") {
                        seen += 1;
                    }
                    assert!(
                        seen > 0 && seen <= IN_VALUES,
                        "$in returned {seen} documents"
                    );
                }
            },
        )
        .await,
    );

    let update_collection = users.clone();
    phases.push(
        measure("update_one by _id ($inc)", UPDATES, 1, move |_, _| {
            let collection = update_collection.clone();
            let id = rand::rng().random_range(0..loaded.max(1));
            async move {
                let result = collection
                    .update_one(doc! { "_id": id }, doc! { "$inc": { "score": 1 } })
                    .await
                    .expect("update by _id");
                assert_eq!(result.matched_count, 1);
            }
        })
        .await,
    );
    server.shutdown().await;

    // The same inserts with a data directory: every acknowledgement waits for the journal.
    let directory = tempfile::tempdir().expect("temp dir");
    let durable = EmbeddedMongo::start(ServerConfig {
        data_dir: Some(directory.path().to_path_buf()),
        ..ServerConfig::default()
    })
    .await
    .expect("durable server starts");
    let durable_client = connect(&durable).await;
    let durable_database = durable_client.database("bench");
    let mut durable_phases = insert_phases(
        &durable_database.collection("users"),
        &durable_database.collection("single"),
        DURABLE_SINGLE_INSERTS,
        "durable, fsync",
    )
    .await;
    phases.append(&mut durable_phases);
    durable.shutdown().await;

    print_table(&phases);
    println!();
    match (resident_before, resident_after) {
        (Some(before), Some(after)) => {
            let documents = (DOCUMENTS + SINGLE_INSERTS) as f64;
            let per_100k = after.saturating_sub(before) as f64 * 100_000.0 / documents;
            println!(
                "resident memory: {before} KiB before loading, {after} KiB after {} documents \
                 => {:.1} MiB per 100k documents (server and driver share this process)",
                DOCUMENTS + SINGLE_INSERTS,
                per_100k / 1024.0
            );
        }
        _ => println!("resident memory: /proc/self/status is not available on this platform"),
    }
    println!(
        "concurrency: {TASKS} tasks; each phase capped at {} s",
        PHASE_CAP.as_secs()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}
