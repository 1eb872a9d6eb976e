//! The crash test: the real `embedded-mongo` binary takes acknowledged writes from several
//! concurrent tasks, is killed with SIGKILL while writes are still in flight, restarts from the
//! same data directory, and must hold every acknowledged write (and each in-flight one either
//! fully applied or not at all).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, IndexModel};
use parking_lot::Mutex;

const WRITER_TASKS: usize = 4;
/// Acknowledged operations to wait for before pulling the plug.
const ACKNOWLEDGED_BEFORE_KILL: usize = 3000;
const STARTING_BALANCE: i32 = 1000;

/// The child server; killed when dropped so a failing test never leaks a process.
struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    fn spawn(data_dir: &Path, log_name: &str) -> ServerProcess {
        let port = free_port();
        let log = std::fs::File::create(data_dir.with_file_name(log_name)).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_embedded-mongo"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the embedded-mongo binary starts");
        let mut server = ServerProcess { child, port };
        server.wait_until_accepting();
        server
    }

    fn wait_until_accepting(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("embedded-mongo exited before accepting connections: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "embedded-mongo did not accept within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// SIGKILL: no chance to flush anything that was not already durable.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the killed child is reaped");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn connect(uri: &str) -> Client {
    let mut options = ClientOptions::parse(uri).await.unwrap();
    options.server_selection_timeout = Some(Duration::from_secs(3));
    options.connect_timeout = Some(Duration::from_secs(2));
    options.retry_writes = Some(false);
    Client::with_options(options).unwrap()
}

/// One write a task attempted, in the order it attempted them.
#[derive(Debug, Clone)]
enum Operation {
    Insert { id: String, document: Document },
    Update { id: String },
    Delete { id: String },
}

/// A task's history: every operation and whether the server acknowledged it. Only the last
/// one may be unacknowledged: a task stops at its first failure.
#[derive(Debug, Default)]
struct History {
    operations: Vec<(Operation, bool)>,
}

fn apply(state: &mut BTreeMap<String, Document>, operation: &Operation) {
    match operation {
        Operation::Insert { id, document } => {
            state.insert(id.clone(), document.clone());
        }
        Operation::Update { id } => {
            if let Some(document) = state.get_mut(id) {
                document.insert("updated", true);
            }
        }
        Operation::Delete { id } => {
            state.remove(id);
        }
    }
}

async fn writer(
    task: usize,
    client: Client,
    history: Arc<Mutex<History>>,
    acknowledged: Arc<AtomicUsize>,
) {
    let items = client.database("crash").collection::<Document>("items");
    let mut step = 0usize;
    loop {
        let mut operations = vec![];
        let id = format!("t{task}-{step}");
        operations.push(Operation::Insert {
            id: id.clone(),
            document: doc! {
                "_id": id.clone(),
                "key": format!("key-{task}-{step}"),
                "task": task as i32,
                "step": step as i64,
                "payload": "x".repeat(64),
            },
        });
        if step % 5 == 4 {
            operations.push(Operation::Update {
                id: format!("t{task}-{}", step - 2),
            });
        }
        if step % 7 == 6 {
            operations.push(Operation::Delete {
                id: format!("t{task}-{}", step - 3),
            });
        }
        for operation in operations {
            history.lock().operations.push((operation.clone(), false));
            let result = match &operation {
                Operation::Insert { document, .. } => {
                    items.insert_one(document.clone()).await.map(|_| ())
                }
                Operation::Update { id } => items
                    .update_one(doc! { "_id": id }, doc! { "$set": { "updated": true } })
                    .await
                    .map(|_| ()),
                Operation::Delete { id } => items.delete_one(doc! { "_id": id }).await.map(|_| ()),
            };
            if result.is_err() {
                return;
            }
            if let Some(last) = history.lock().operations.last_mut() {
                last.1 = true;
            }
            acknowledged.fetch_add(1, Ordering::SeqCst);
        }
        step += 1;
    }
}

/// Moves one unit from alice to bob and records a ledger entry, atomically, until the server
/// dies; returns how many commits were acknowledged.
async fn transferrer(client: Client, acknowledged: Arc<AtomicUsize>) -> usize {
    let database = client.database("crash");
    let accounts = database.collection::<Document>("accounts");
    let ledger = database.collection::<Document>("ledger");
    let mut committed = 0usize;
    loop {
        let attempt = async {
            let mut session = client.start_session().await?;
            session.start_transaction().await?;
            accounts
                .update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": -1 } })
                .session(&mut session)
                .await?;
            accounts
                .update_one(doc! { "_id": "bob" }, doc! { "$inc": { "balance": 1 } })
                .session(&mut session)
                .await?;
            ledger
                .insert_one(doc! { "_id": committed as i64, "amount": 1 })
                .session(&mut session)
                .await?;
            session.commit_transaction().await
        };
        if attempt.await.is_err() {
            return committed;
        }
        committed += 1;
        acknowledged.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_sigkill_and_restart() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();

    let mut server = ServerProcess::spawn(&data_dir, "first.log");
    let client = connect(&server.uri()).await;
    let database = client.database("crash");
    database
        .collection::<Document>("items")
        .create_index(
            IndexModel::builder()
                .keys(doc! { "key": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .unwrap();
    database
        .collection::<Document>("accounts")
        .insert_many(vec![
            doc! { "_id": "alice", "balance": STARTING_BALANCE },
            doc! { "_id": "bob", "balance": 0 },
        ])
        .await
        .unwrap();

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let histories: Vec<Arc<Mutex<History>>> = (0..WRITER_TASKS)
        .map(|_| Arc::new(Mutex::new(History::default())))
        .collect();
    let mut writers = Vec::new();
    for (task, history) in histories.iter().enumerate() {
        writers.push(tokio::spawn(writer(
            task,
            client.clone(),
            history.clone(),
            acknowledged.clone(),
        )));
    }
    let transfers = tokio::spawn(transferrer(client.clone(), acknowledged.clone()));

    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.load(Ordering::SeqCst) < ACKNOWLEDGED_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "only {} writes were acknowledged in 120 s",
            acknowledged.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    let acknowledged_at_kill = acknowledged.load(Ordering::SeqCst);

    for writer in writers {
        tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("writers stop within 30 s of the kill")
            .unwrap();
    }
    let committed_transfers = tokio::time::timeout(Duration::from_secs(30), transfers)
        .await
        .expect("the transferrer stops within 30 s of the kill")
        .unwrap();
    drop(client);

    let restarted = ServerProcess::spawn(&data_dir, "second.log");
    let client = connect(&restarted.uri()).await;
    let database = client.database("crash");
    let items = database.collection::<Document>("items");

    let stored: Vec<Document> = items
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut actual: BTreeMap<String, Document> = BTreeMap::new();
    for document in stored {
        let id = document.get_str("_id").unwrap().to_string();
        actual.insert(id, document);
    }

    let mut checked_acknowledged = 0usize;
    for (task, history) in histories.iter().enumerate() {
        let history = history.lock();
        let mut acknowledged_state = BTreeMap::new();
        let mut in_flight = None;
        for (operation, acked) in &history.operations {
            if *acked {
                apply(&mut acknowledged_state, operation);
                checked_acknowledged += 1;
            } else {
                in_flight = Some(operation.clone());
            }
        }
        let mut with_in_flight = acknowledged_state.clone();
        if let Some(operation) = &in_flight {
            apply(&mut with_in_flight, operation);
        }
        let prefix = format!("t{task}-");
        let task_actual: BTreeMap<String, Document> = actual
            .iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .map(|(id, document)| (id.clone(), document.clone()))
            .collect();
        assert!(
            task_actual == acknowledged_state || task_actual == with_in_flight,
            "task {task}: the restarted store differs from the acknowledged history\n\
             in flight: {in_flight:?}\n\
             missing or different: {:?}\n\
             unexpected: {:?}",
            acknowledged_state
                .iter()
                .filter(|(id, document)| task_actual.get(*id) != Some(*document))
                .collect::<Vec<_>>(),
            task_actual
                .keys()
                .filter(|id| !acknowledged_state.contains_key(*id))
                .collect::<Vec<_>>(),
        );
    }
    assert!(checked_acknowledged > 0);
    assert!(
        acknowledged_at_kill >= ACKNOWLEDGED_BEFORE_KILL,
        "the kill happened after {acknowledged_at_kill} acknowledged writes"
    );

    eprintln!(
        "crash test: killed after {acknowledged_at_kill} acknowledged writes; {} item documents \
         and {committed_transfers} acknowledged transactions checked after restart",
        actual.len()
    );

    // The index created before the crash is still there and still enforces uniqueness.
    let indexes: Vec<IndexModel> = items
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let key_index = indexes
        .iter()
        .find(|index| index.keys == doc! { "key": 1 })
        .expect("the unique index survives the crash");
    assert_eq!(
        key_index
            .options
            .as_ref()
            .and_then(|options| options.unique),
        Some(true)
    );
    let surviving = actual
        .values()
        .next()
        .expect("some documents survived")
        .clone();
    let duplicate = items
        .insert_one(doc! { "_id": "duplicate", "key": surviving.get_str("key").unwrap() })
        .await
        .unwrap_err();
    assert!(format!("{duplicate}").contains("11000"), "{duplicate}");

    // Committed transactions are all there and atomic: every ledger entry moved one unit.
    let accounts = database.collection::<Document>("accounts");
    let alice = accounts
        .find_one(doc! { "_id": "alice" })
        .await
        .unwrap()
        .unwrap();
    let bob = accounts
        .find_one(doc! { "_id": "bob" })
        .await
        .unwrap()
        .unwrap();
    let alice = alice.get_i32("balance").unwrap();
    let bob = bob.get_i32("balance").unwrap();
    assert_eq!(
        alice + bob,
        STARTING_BALANCE,
        "a transfer was torn by the crash"
    );
    let ledger_entries = database
        .collection::<Document>("ledger")
        .count_documents(doc! {})
        .await
        .unwrap() as usize;
    assert_eq!(ledger_entries as i32, bob, "ledger and balances disagree");
    assert!(
        ledger_entries == committed_transfers || ledger_entries == committed_transfers + 1,
        "{committed_transfers} commits were acknowledged but {ledger_entries} survived"
    );

    // The restarted store keeps accepting writes.
    items
        .insert_one(doc! { "_id": "after-restart", "key": "fresh" })
        .await
        .unwrap();
    assert_eq!(
        items
            .find_one(doc! { "_id": "after-restart" })
            .await
            .unwrap()
            .map(|document| document.get("key").cloned()),
        Some(Some(Bson::from("fresh")))
    );
}
