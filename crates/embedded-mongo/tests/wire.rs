//! Protocol-level integration tests: the server started in-process, driven by the official
//! `mongodb` driver (direct and replica-set connections) and by a raw TCP client that sends
//! hand-built OP_MSG/OP_QUERY frames and garbage.

use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use embedded_mongo::{EmbeddedMongo, ServerConfig};
use futures_util::{StreamExt, TryStreamExt};
use mongodb::change_stream::event::OperationType;
use mongodb::error::ErrorKind;
use mongodb::options::FullDocumentType;
use mongodb::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;
const MORE_TO_COME: u32 = 1 << 1;
const EXHAUST_ALLOWED: u32 = 1 << 16;

async fn start() -> EmbeddedMongo {
    EmbeddedMongo::start(ServerConfig::default())
        .await
        .expect("server starts")
}

async fn direct_client(server: &EmbeddedMongo) -> Client {
    Client::with_uri_str(server.uri()).await.expect("client")
}

fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}

/// A minimal client that speaks the wire protocol by hand.
struct RawClient {
    stream: TcpStream,
    next_id: i32,
}

impl RawClient {
    async fn connect(server: &EmbeddedMongo) -> RawClient {
        RawClient {
            stream: TcpStream::connect(server.local_addr())
                .await
                .expect("connect"),
            next_id: 1,
        }
    }

    async fn send_frame(&mut self, op_code: i32, payload: &[u8]) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = Vec::new();
        frame.extend_from_slice(&((16 + payload.len()) as i32).to_le_bytes());
        frame.extend_from_slice(&id.to_le_bytes());
        frame.extend_from_slice(&0i32.to_le_bytes());
        frame.extend_from_slice(&op_code.to_le_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await.expect("write");
        id
    }

    async fn send_message(&mut self, flags: u32, body: &Document) -> i32 {
        let mut payload = flags.to_le_bytes().to_vec();
        payload.push(0);
        body.to_writer(&mut payload).unwrap();
        self.send_frame(OP_MSG, &payload).await
    }

    /// Reads one reply and returns (opCode, responseTo, body).
    async fn read_reply(&mut self) -> (i32, i32, Document) {
        let mut header = [0u8; 16];
        self.stream
            .read_exact(&mut header)
            .await
            .expect("reply header");
        let length = i32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
        let response_to = i32::from_le_bytes(header[8..12].try_into().unwrap());
        let op_code = i32::from_le_bytes(header[12..16].try_into().unwrap());
        let mut payload = vec![0u8; length - 16];
        self.stream
            .read_exact(&mut payload)
            .await
            .expect("reply payload");
        let document_start = match op_code {
            OP_MSG => 5,
            OP_REPLY => 20,
            other => panic!("unexpected reply opcode {other}"),
        };
        let body = Document::from_reader(&payload[document_start..]).expect("reply body");
        (op_code, response_to, body)
    }

    async fn command(&mut self, body: Document) -> Document {
        let id = self.send_message(0, &body).await;
        let (op_code, response_to, reply) = self.read_reply().await;
        assert_eq!(op_code, OP_MSG);
        assert_eq!(response_to, id);
        reply
    }
}

/// The next item of a change stream, failing the test after 10 s.
async fn next_event<S, T>(stream: &mut S) -> T
where
    S: futures_util::Stream<Item = mongodb::error::Result<T>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("event within 10 s")
        .expect("stream open")
        .expect("event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_reports_a_writable_replica_set_primary() {
    let server = start().await;
    let client = direct_client(&server).await;
    let reply = client
        .database("admin")
        .run_command(doc! {"hello": 1})
        .await
        .unwrap();
    let host = server.local_addr().to_string();
    assert!(reply.get_bool("isWritablePrimary").unwrap());
    assert!(!reply.get_bool("secondary").unwrap());
    assert_eq!(reply.get_str("setName").unwrap(), "rs0");
    assert_eq!(reply.get_str("primary").unwrap(), host);
    assert_eq!(reply.get_str("me").unwrap(), host);
    assert_eq!(reply.get_array("hosts").unwrap(), &vec![Bson::String(host)]);
    assert_eq!(reply.get_i32("maxWireVersion").unwrap(), 21);
    assert_eq!(reply.get_i32("maxBsonObjectSize").unwrap(), 16_777_216);
    assert_eq!(reply.get_i32("maxMessageSizeBytes").unwrap(), 48_000_000);
    assert_eq!(reply.get_i32("maxWriteBatchSize").unwrap(), 100_000);
    assert_eq!(reply.get_i32("logicalSessionTimeoutMinutes").unwrap(), 30);
    assert!(reply.get_i32("connectionId").unwrap() >= 1);
    assert_eq!(
        reply
            .get_document("topologyVersion")
            .unwrap()
            .get_i64("counter")
            .unwrap(),
        0
    );
    assert!(reply.get_document("$clusterTime").is_ok());
    assert!(reply.get_timestamp("operationTime").is_ok());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_set_uri_discovers_the_primary_and_serves_crud() {
    let server = start().await;
    let client = Client::with_uri_str(server.replica_set_uri())
        .await
        .unwrap();
    client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .unwrap();
    let collection = client.database("rs").collection::<Document>("items");
    collection
        .insert_one(doc! {"_id": 1, "name": "a"})
        .await
        .unwrap();
    let found = collection.find_one(doc! {"_id": 1}).await.unwrap();
    assert_eq!(found, Some(doc! {"_id": 1, "name": "a"}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserted_documents_come_back_from_find() {
    let server = start().await;
    let client = direct_client(&server).await;
    let collection = client.database("crud").collection::<Document>("people");
    collection
        .insert_many(vec![
            doc! {"_id": 1, "name": "ada", "age": 36},
            doc! {"_id": 2, "name": "alan", "age": 41},
        ])
        .await
        .unwrap();
    let found: Vec<Document> = collection
        .find(doc! {"age": {"$gt": 40}})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found, vec![doc! {"_id": 2, "name": "alan", "age": 41}]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_more_serves_every_document_across_batches() {
    let server = start().await;
    let client = direct_client(&server).await;
    let collection = client.database("batches").collection::<Document>("numbers");
    let documents: Vec<Document> = (0..250).map(|n| doc! {"_id": n}).collect();
    collection.insert_many(documents).await.unwrap();
    let found: Vec<Document> = collection
        .find(doc! {})
        .batch_size(40)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut ids: Vec<i32> = found.iter().map(|d| d.get_i32("_id").unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..250).collect::<Vec<i32>>());

    // The default first batch holds 101 documents and leaves an open cursor.
    let database = client.database("batches");
    let reply = database
        .run_command(doc! {"find": "numbers"})
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 101);
    assert_eq!(cursor.get_str("ns").unwrap(), "batches.numbers");
    let id = cursor.get_i64("id").unwrap();
    assert_ne!(id, 0);
    let reply = database
        .run_command(doc! {"getMore": id, "collection": "numbers", "batchSize": 200})
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(cursor.get_array("nextBatch").unwrap().len(), 149);
    assert_eq!(cursor.get_i64("id").unwrap(), 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_cursors_are_reported_and_then_not_found() {
    let server = start().await;
    let client = direct_client(&server).await;
    let database = client.database("kill");
    let collection = database.collection::<Document>("c");
    collection
        .insert_many((0..10).map(|n| doc! {"_id": n}).collect::<Vec<_>>())
        .await
        .unwrap();
    let reply = database
        .run_command(doc! {"find": "c", "batchSize": 2})
        .await
        .unwrap();
    let id = reply.get_document("cursor").unwrap().get_i64("id").unwrap();
    let reply = database
        .run_command(doc! {"killCursors": "c", "cursors": [id, 12345i64]})
        .await
        .unwrap();
    assert_eq!(
        reply.get_array("cursorsKilled").unwrap(),
        &vec![Bson::Int64(id)]
    );
    assert_eq!(
        reply.get_array("cursorsNotFound").unwrap(),
        &vec![Bson::Int64(12345)]
    );
    let error = database
        .run_command(doc! {"getMore": id, "collection": "c"})
        .await
        .unwrap_err();
    assert_eq!(command_code(&error), Some(43));
    assert!(error
        .to_string()
        .contains(&format!("cursor id {id} not found")));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commands_fail_with_command_not_found() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    let reply = raw.command(doc! {"frobnicate": 1, "$db": "test"}).await;
    assert_eq!(reply.get_f64("ok").unwrap(), 0.0);
    assert_eq!(reply.get_i32("code").unwrap(), 59);
    assert_eq!(reply.get_str("codeName").unwrap(), "CommandNotFound");
    assert_eq!(
        reply.get_str("errmsg").unwrap(),
        "no such command: 'frobnicate'"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transactions_apply_and_aborted_ones_do_not() {
    let server = start().await;
    let client = direct_client(&server).await;
    let collection = client.database("txn").collection::<Document>("accounts");
    collection.insert_one(doc! {"_id": 0}).await.unwrap();

    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    collection
        .insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .unwrap();
    // Not visible outside the transaction before the commit.
    assert_eq!(collection.find_one(doc! {"_id": 1}).await.unwrap(), None);
    session.commit_transaction().await.unwrap();
    assert_eq!(
        collection.find_one(doc! {"_id": 1}).await.unwrap(),
        Some(doc! {"_id": 1})
    );

    session.start_transaction().await.unwrap();
    collection
        .insert_one(doc! {"_id": 2})
        .session(&mut session)
        .await
        .unwrap();
    session.abort_transaction().await.unwrap();
    assert_eq!(collection.find_one(doc! {"_id": 2}).await.unwrap(), None);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_in_an_unknown_transaction_is_no_such_transaction() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    let lsid = doc! {"id": bson::Binary::from_uuid(bson::Uuid::new())};
    let reply = raw
        .command(doc! {
            "find": "c", "lsid": lsid, "txnNumber": 4i64, "autocommit": false, "$db": "txn",
        })
        .await;
    assert_eq!(reply.get_i32("code").unwrap(), 251);
    assert_eq!(reply.get_str("codeName").unwrap(), "NoSuchTransaction");
    assert_eq!(
        reply.get_array("errorLabels").unwrap(),
        &vec![Bson::String("TransientTransactionError".into())]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_write_is_applied_once() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    let lsid = doc! {"id": bson::Binary::from_uuid(bson::Uuid::new())};
    let insert = doc! {
        "insert": "retry",
        "documents": [{"_id": 1, "v": "first"}],
        "lsid": lsid.clone(),
        "txnNumber": 1i64,
        "$db": "retryable",
    };
    let first = raw.command(insert.clone()).await;
    let second = raw.command(insert).await;
    assert_eq!(first.get_i32("n").unwrap(), 1);
    assert_eq!(second.get("n"), first.get("n"));
    assert!(!second.contains_key("writeErrors"));

    let update = doc! {
        "update": "retry",
        "updates": [{"q": {"_id": 1}, "u": {"$inc": {"count": 1}}}],
        "lsid": lsid,
        "txnNumber": 2i64,
        "$db": "retryable",
    };
    raw.command(update.clone()).await;
    raw.command(update).await;
    let reply = raw
        .command(doc! {"find": "retry", "filter": {}, "$db": "retryable"})
        .await;
    let batch = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap();
    assert_eq!(
        batch,
        &vec![Bson::Document(doc! {"_id": 1, "v": "first", "count": 1})]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_streams_deliver_events_and_resume_after_a_token() {
    let server = start().await;
    let client = direct_client(&server).await;
    let collection = client.database("streams").collection::<Document>("events");
    collection.insert_one(doc! {"_id": 0}).await.unwrap();
    let mut stream = collection
        .watch()
        .full_document(FullDocumentType::UpdateLookup)
        .await
        .unwrap();
    collection
        .insert_one(doc! {"_id": 1, "v": 1})
        .await
        .unwrap();
    collection
        .update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
        .await
        .unwrap();
    collection.delete_one(doc! {"_id": 1}).await.unwrap();

    let mut events = Vec::new();
    while events.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("event within 10 s")
            .expect("stream open")
            .expect("event");
        events.push(event);
    }
    assert_eq!(events[0].operation_type, OperationType::Insert);
    assert_eq!(events[0].full_document, Some(doc! {"_id": 1, "v": 1}));
    assert_eq!(events[0].document_key, Some(doc! {"_id": 1}));
    assert_eq!(events[1].operation_type, OperationType::Update);
    let description = events[1].update_description.as_ref().expect("description");
    assert_eq!(description.updated_fields, doc! {"v": 2});
    assert_eq!(events[2].operation_type, OperationType::Delete);
    let namespace = events[2].ns.as_ref().expect("ns");
    assert_eq!(namespace.db, "streams");
    assert_eq!(namespace.coll.as_deref(), Some("events"));

    // A new stream resuming after the insert sees the update and the delete again.
    let mut resumed = collection
        .watch()
        .resume_after(events[0].id.clone())
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), resumed.next())
        .await
        .expect("event within 10 s")
        .expect("stream open")
        .expect("event");
    assert_eq!(next.operation_type, OperationType::Update);
    assert_eq!(next.id, events[1].id);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stream_match_stage_filters_events() {
    let server = start().await;
    let client = direct_client(&server).await;
    let collection = client
        .database("streams")
        .collection::<Document>("filtered");
    let mut stream = collection
        .watch()
        .pipeline(vec![doc! {"$match": {"operationType": "delete"}}])
        .await
        .unwrap();
    collection.insert_one(doc! {"_id": 1}).await.unwrap();
    collection.delete_one(doc! {"_id": 1}).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("event within 10 s")
        .expect("stream open")
        .expect("event");
    assert_eq!(event.operation_type, OperationType::Delete);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_messages_do_not_take_the_server_down() {
    let server = start().await;

    // Random bytes: an absurd message length closes that connection.
    let mut junk = TcpStream::connect(server.local_addr()).await.unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), junk.read(&mut buffer))
        .await
        .expect("the server closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)));

    // A header promising more bytes than ever arrive, then a hang-up.
    let mut truncated = TcpStream::connect(server.local_addr()).await.unwrap();
    truncated
        .write_all(&[200, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xDD, 7, 0, 0, 1, 2])
        .await
        .unwrap();
    drop(truncated);

    // A well-framed OP_MSG whose body is not valid BSON gets an error reply.
    let mut raw = RawClient::connect(&server).await;
    let mut payload = 0u32.to_le_bytes().to_vec();
    payload.push(0);
    payload.extend_from_slice(&[40, 0, 0, 0, 2, b'x', 0, 255, 255, 0, 0, 1, 0]);
    raw.send_frame(OP_MSG, &payload).await;
    let (_, _, reply) = raw.read_reply().await;
    assert_eq!(reply.get_f64("ok").unwrap(), 0.0);
    assert_eq!(reply.get_i32("code").unwrap(), 22);
    // The same connection keeps working.
    let reply = raw.command(doc! {"ping": 1, "$db": "admin"}).await;
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);

    // A fresh driver connection still works.
    let client = direct_client(&server).await;
    let reply = client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_op_query_handshake_gets_an_op_reply() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    let mut payload = 0i32.to_le_bytes().to_vec();
    payload.extend_from_slice(b"admin.$cmd\0");
    payload.extend_from_slice(&0i32.to_le_bytes());
    payload.extend_from_slice(&(-1i32).to_le_bytes());
    doc! {"isMaster": 1}.to_writer(&mut payload).unwrap();
    let id = raw.send_frame(OP_QUERY, &payload).await;
    let (op_code, response_to, reply) = raw.read_reply().await;
    assert_eq!(op_code, OP_REPLY);
    assert_eq!(response_to, id);
    assert!(reply.get_bool("ismaster").unwrap());
    assert_eq!(reply.get_str("setName").unwrap(), "rs0");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_to_come_requests_get_no_reply_but_are_applied() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    raw.send_message(
        MORE_TO_COME,
        &doc! {"insert": "quiet", "documents": [{"_id": 1}], "writeConcern": {"w": 0}, "$db": "w0"},
    )
    .await;
    // The next reply on the connection answers the find, not the insert.
    let reply = raw
        .command(doc! {"find": "quiet", "filter": {}, "$db": "w0"})
        .await;
    let batch = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap();
    assert_eq!(batch, &vec![Bson::Document(doc! {"_id": 1})]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_awaitable_hello_waits_for_max_await_time() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    let first = raw.command(doc! {"hello": 1, "$db": "admin"}).await;
    let topology = first.get_document("topologyVersion").unwrap().clone();
    let started = Instant::now();
    let id = raw
        .send_message(
            EXHAUST_ALLOWED,
            &doc! {"hello": 1, "topologyVersion": topology, "maxAwaitTimeMS": 300i64, "$db": "admin"},
        )
        .await;
    let (_, response_to, reply) = raw.read_reply().await;
    assert_eq!(response_to, id);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(reply.get_bool("isWritablePrimary").unwrap());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections_are_served() {
    let server = start().await;
    let mut tasks = Vec::new();
    for index in 0..32 {
        let address = server.local_addr();
        tasks.push(tokio::spawn(async move {
            let mut raw = RawClient {
                stream: TcpStream::connect(address).await.unwrap(),
                next_id: 1,
            };
            for _ in 0..10 {
                let reply = raw
                    .command(
                        doc! {"insert": "many", "documents": [{"worker": index}], "$db": "load"},
                    )
                    .await;
                assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut raw = RawClient::connect(&server).await;
    let reply = raw.command(doc! {"count": "many", "$db": "load"}).await;
    assert_eq!(reply.get_i32("n").unwrap(), 320);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_change_stream_get_more_returns_an_empty_batch_with_a_resume_token() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    let reply = raw
        .command(doc! {
            "aggregate": "idle", "pipeline": [{"$changeStream": {}}], "cursor": {}, "$db": "cs",
        })
        .await;
    let cursor = reply.get_document("cursor").unwrap();
    assert!(cursor.get_array("firstBatch").unwrap().is_empty());
    assert!(cursor.get_document("postBatchResumeToken").is_ok());
    assert_eq!(cursor.get_str("ns").unwrap(), "cs.idle");
    let id = cursor.get_i64("id").unwrap();
    assert_ne!(id, 0);

    let started = Instant::now();
    let reply = raw
        .command(doc! {"getMore": id, "collection": "idle", "maxTimeMS": 200i64, "$db": "cs"})
        .await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    let cursor = reply.get_document("cursor").unwrap();
    assert!(cursor.get_array("nextBatch").unwrap().is_empty());
    assert!(cursor.get_document("postBatchResumeToken").is_ok());
    // The cursor stays open (tailable) until killed.
    assert_eq!(cursor.get_i64("id").unwrap(), id);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_and_deployment_streams_see_every_collection() {
    let server = start().await;
    let client = direct_client(&server).await;
    let database = client.database("scoped");
    let mut database_stream = database.watch().await.unwrap();
    let mut cluster_stream = client.watch().await.unwrap();
    database
        .collection::<Document>("one")
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    client
        .database("other")
        .collection::<Document>("two")
        .insert_one(doc! {"_id": 2})
        .await
        .unwrap();
    let from_database = next_event(&mut database_stream).await;
    assert_eq!(from_database.ns.unwrap().coll.as_deref(), Some("one"));
    let first = next_event(&mut cluster_stream).await;
    let second = next_event(&mut cluster_stream).await;
    assert_eq!(first.ns.unwrap().db, "scoped");
    assert_eq!(second.ns.unwrap().db, "other");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_waiting_requests_and_stops_listening() {
    let server = start().await;
    let address = server.local_addr();
    let mut raw = RawClient::connect(&server).await;
    let first = raw.command(doc! {"hello": 1, "$db": "admin"}).await;
    let topology = first.get_document("topologyVersion").unwrap().clone();
    raw.send_message(
        EXHAUST_ALLOWED,
        &doc! {"hello": 1, "topologyVersion": topology, "maxAwaitTimeMS": 30_000i64, "$db": "admin"},
    )
    .await;
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(TcpStream::connect(address).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_collections_cursors_continue_and_die_in_the_cmd_namespace() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    for name in ["a", "b", "c"] {
        let reply = raw.command(doc! {"create": name, "$db": "catalog"}).await;
        assert_eq!(reply.get_f64("ok").unwrap(), 1.0, "{reply}");
    }
    let reply = raw
        .command(doc! {"listCollections": 1, "nameOnly": true, "cursor": {"batchSize": 1}, "$db": "catalog"})
        .await;
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(
        cursor.get_str("ns").unwrap(),
        "catalog.$cmd.listCollections"
    );
    assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 1);
    let id = cursor.get_i64("id").unwrap();
    let reply = raw
        .command(doc! {"getMore": id, "collection": "$cmd.listCollections", "batchSize": 1, "$db": "catalog"})
        .await;
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(cursor.get_array("nextBatch").unwrap().len(), 1);
    assert_eq!(cursor.get_i64("id").unwrap(), id);
    let reply = raw
        .command(doc! {"killCursors": "$cmd.listCollections", "cursors": [id], "$db": "catalog"})
        .await;
    assert_eq!(
        reply.get_array("cursorsKilled").unwrap(),
        &vec![Bson::Int64(id)]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stream_can_start_at_an_operation_time() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    let first = raw
        .command(doc! {"insert": "timed", "documents": [{"_id": "a"}], "$db": "cs"})
        .await;
    let time = first.get_timestamp("operationTime").unwrap();
    raw.command(doc! {"insert": "timed", "documents": [{"_id": "b"}], "$db": "cs"})
        .await;
    let reply = raw
        .command(doc! {
            "aggregate": "timed",
            "pipeline": [{"$changeStream": {"startAtOperationTime": time}}],
            "cursor": {},
            "$db": "cs",
        })
        .await;
    let batch = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap();
    let keys: Vec<&Document> = batch
        .iter()
        .map(|event| {
            event
                .as_document()
                .unwrap()
                .get_document("documentKey")
                .unwrap()
        })
        .collect();
    assert_eq!(keys, vec![&doc! {"_id": "a"}, &doc! {"_id": "b"}]);

    let reply = raw
        .command(doc! {
            "aggregate": "timed",
            "pipeline": [{"$changeStream": {"resumeAfter": {"_data": "not a token"}}}],
            "cursor": {},
            "$db": "cs",
        })
        .await;
    assert_eq!(reply.get_i32("code").unwrap(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coll_stats_counts_documents_and_their_bson_size() {
    let server = start().await;
    let mut raw = RawClient::connect(&server).await;
    raw.command(doc! {"insert": "sized", "documents": [{"_id": 1}, {"_id": 2}], "$db": "stats"})
        .await;
    let reply = raw
        .command(doc! {"collStats": "sized", "$db": "stats"})
        .await;
    assert_eq!(reply.get_i64("count").unwrap(), 2);
    // {_id: <int32>} is 14 bytes of BSON.
    assert_eq!(reply.get_i64("size").unwrap(), 28);
    assert_eq!(reply.get_i64("avgObjSize").unwrap(), 14);
    assert_eq!(reply.get_i64("nindexes").unwrap(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_search_counts_and_aggregates_when_its_match_comes_first() {
    let server = start().await;
    let client = direct_client(&server).await;
    let articles = client.database("search").collection::<Document>("articles");
    articles
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! {"title": "text", "body": "text"})
                .build(),
        )
        .await
        .unwrap();
    articles
        .insert_many(vec![
            doc! {"_id": 1, "title": "Checkout flow", "body": "pay with a card"},
            doc! {"_id": 2, "title": "Login", "body": "the checkout button is hidden"},
            doc! {"_id": 3, "title": "Search", "body": "nothing about paying"},
        ])
        .await
        .unwrap();
    // The driver counts with an aggregation whose first stage is the filter's `$match`.
    let counted = articles
        .count_documents(doc! {"$text": {"$search": "checkout"}})
        .await
        .unwrap();
    assert_eq!(counted, 2);
    let combined = articles
        .count_documents(doc! {"$and": [{"$text": {"$search": "checkout"}}, {"_id": {"$gt": 1}}]})
        .await
        .unwrap();
    assert_eq!(combined, 1);
    let grouped: Vec<Document> = articles
        .aggregate(vec![
            doc! {"$match": {"$text": {"$search": "checkout"}}},
            doc! {"$sort": {"_id": 1}},
            doc! {"$project": {"_id": 1}},
        ])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(grouped, vec![doc! {"_id": 1}, doc! {"_id": 2}]);
    // Anywhere but first it is refused, as mongod refuses it.
    let later = articles
        .aggregate(vec![
            doc! {"$sort": {"_id": 1}},
            doc! {"$match": {"$text": {"$search": "checkout"}}},
        ])
        .await
        .unwrap_err();
    assert_eq!(command_code(&later), Some(17313), "{later}");
    server.shutdown().await;
}
