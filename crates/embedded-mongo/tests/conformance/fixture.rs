//! The per-test fixture: a fresh in-process server, a driver client connected to it and a
//! database to work in, plus a uniform view of the errors the server returns.

use std::time::Duration;

use embedded_mongo::{EmbeddedMongo, ServerConfig};
use mongodb::bson::{Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};

/// The database every test works in.
pub const DATABASE: &str = "conformance";

/// A running server with a connected client; each test starts its own, so tests never share
/// state.
pub struct TestServer {
    pub server: EmbeddedMongo,
    pub client: Client,
    pub db: Database,
}

impl TestServer {
    /// Starts a memory-only server and connects with `directConnection=true`.
    pub async fn start() -> TestServer {
        let server = EmbeddedMongo::start(ServerConfig::default())
            .await
            .expect("the embedded server starts");
        let client = connect(&server.uri()).await;
        let db = client.database(DATABASE);
        TestServer { server, client, db }
    }

    /// Starts a memory-only server whose TTL monitor runs every `ttl_interval` instead of
    /// MongoDB's 60 seconds, so expiry can be observed without a minute's wait.
    pub async fn start_with_ttl_interval(ttl_interval: Duration) -> TestServer {
        let server = EmbeddedMongo::start(ServerConfig {
            ttl_interval,
            ..ServerConfig::default()
        })
        .await
        .expect("the embedded server starts");
        let client = connect(&server.uri()).await;
        let db = client.database(DATABASE);
        TestServer { server, client, db }
    }

    /// Starts a memory-only server with test commands (`configureFailPoint`) enabled.
    pub async fn start_with_test_commands() -> TestServer {
        let server = EmbeddedMongo::start(ServerConfig {
            enable_test_commands: true,
            ..ServerConfig::default()
        })
        .await
        .expect("the embedded server starts");
        let client = connect(&server.uri()).await;
        let db = client.database(DATABASE);
        TestServer { server, client, db }
    }

    /// Starts a memory-only server and connects with `replicaSet=rs0`, so the driver runs its
    /// replica-set discovery against the server's `hello`.
    pub async fn start_replica_set() -> TestServer {
        let server = EmbeddedMongo::start(ServerConfig::default())
            .await
            .expect("the embedded server starts");
        let client = connect(&replica_set_uri(&server)).await;
        let db = client.database(DATABASE);
        TestServer { server, client, db }
    }

    /// A collection of plain documents in the test database.
    pub fn collection(&self, name: &str) -> Collection<Document> {
        self.db.collection::<Document>(name)
    }

    /// A second, independent client (its own connection pool and sessions).
    pub async fn new_client(&self) -> Client {
        connect(&self.server.uri()).await
    }

    /// Runs a raw command in the test database and returns the whole reply.
    pub async fn run(&self, command: Document) -> mongodb::error::Result<Document> {
        self.db.run_command(command).await
    }
}

/// The `replicaSet=rs0` connection string for a running server.
pub fn replica_set_uri(server: &EmbeddedMongo) -> String {
    format!("mongodb://{}/?replicaSet=rs0", server.local_addr())
}

/// Connects a client with short server-selection timeouts so a broken handshake fails the test
/// quickly instead of hanging for the driver's default 30 seconds.
pub async fn connect(uri: &str) -> Client {
    let mut options = ClientOptions::parse(uri)
        .await
        .expect("the connection string parses");
    options.server_selection_timeout = Some(Duration::from_secs(10));
    options.connect_timeout = Some(Duration::from_secs(5));
    Client::with_options(options).expect("the client builds")
}

/// What the server said when it refused an operation, whichever way the driver wrapped it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerError {
    pub code: i32,
    pub code_name: String,
    pub message: String,
    pub details: Option<Document>,
    pub labels: Vec<String>,
}

/// Extracts the server's code, codeName and message from a driver error; panics (failing the
/// test) when the error did not come from the server.
pub fn server_error(error: &mongodb::error::Error) -> ServerError {
    let mut labels: Vec<String> = error.labels().iter().cloned().collect();
    labels.sort();
    match &*error.kind {
        ErrorKind::Command(command) => ServerError {
            code: command.code,
            code_name: command.code_name.clone(),
            message: command.message.clone(),
            details: None,
            labels,
        },
        ErrorKind::Write(WriteFailure::WriteError(write)) => ServerError {
            code: write.code,
            code_name: write.code_name.clone().unwrap_or_default(),
            message: write.message.clone(),
            details: write.details.clone(),
            labels,
        },
        ErrorKind::InsertMany(insert) => {
            let first = insert
                .write_errors
                .as_ref()
                .and_then(|errors| errors.first())
                .expect("an insert error carries write errors");
            ServerError {
                code: first.code,
                code_name: first.code_name.clone().unwrap_or_default(),
                message: first.message.clone(),
                details: first.details.clone(),
                labels,
            }
        }
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// The `writeErrors` array of a raw write reply, as `(index, code)` pairs.
pub fn write_error_codes(reply: &Document) -> Vec<(i32, i32)> {
    match reply.get_array("writeErrors") {
        Ok(errors) => errors
            .iter()
            .map(|error| {
                let error = error.as_document().expect("a write error is a document");
                (
                    error.get_i32("index").expect("index"),
                    error.get_i32("code").expect("code"),
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Reads a numeric reply field whatever integer or double width the server chose.
pub fn number(document: &Document, key: &str) -> i64 {
    match document.get(key) {
        Some(Bson::Int32(value)) => i64::from(*value),
        Some(Bson::Int64(value)) => *value,
        Some(Bson::Double(value)) if value.fract() == 0.0 => *value as i64,
        other => panic!("field {key} is not an integer: {other:?} in {document}"),
    }
}

/// The `_id`s of documents, in order, as i32s (the suite uses small integer ids).
pub fn ids(documents: &[Document]) -> Vec<i32> {
    documents
        .iter()
        .map(|document| match document.get("_id") {
            Some(Bson::Int32(id)) => *id,
            Some(Bson::Int64(id)) => *id as i32,
            other => panic!("expected an integer _id, got {other:?}"),
        })
        .collect()
}
