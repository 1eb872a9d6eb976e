//! The handshake and connection-level commands: `hello`/`isMaster`, `ping`, `buildInfo`,
//! the legacy OP_QUERY handshake, `directConnection` versus `replicaSet` discovery, and
//! CommandNotFound for anything the server does not know.

use std::time::Duration;

use mongodb::bson::{doc, Bson, Document};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixture::{number, server_error, TestServer};

#[tokio::test]
async fn hello_reports_a_writable_single_node_replica_set_primary() {
    let test = TestServer::start().await;
    let reply = test
        .client
        .database("admin")
        .run_command(doc! { "hello": 1 })
        .await
        .unwrap();
    let address = test.server.local_addr().to_string();
    assert!(reply.get_bool("isWritablePrimary").unwrap());
    assert_eq!(reply.get_str("setName").unwrap(), "rs0");
    assert!(!reply.get_bool("secondary").unwrap());
    let hosts: Vec<&str> = reply
        .get_array("hosts")
        .unwrap()
        .iter()
        .map(|host| host.as_str().unwrap())
        .collect();
    assert_eq!(hosts, vec![address.as_str()]);
    assert_eq!(reply.get_str("primary").unwrap(), address);
    assert_eq!(reply.get_str("me").unwrap(), address);
    assert_eq!(number(&reply, "maxBsonObjectSize"), 16 * 1024 * 1024);
    assert_eq!(number(&reply, "maxMessageSizeBytes"), 48_000_000);
    assert_eq!(number(&reply, "maxWriteBatchSize"), 100_000);
    assert_eq!(number(&reply, "logicalSessionTimeoutMinutes"), 30);
    assert_eq!(number(&reply, "minWireVersion"), 0);
    assert!(number(&reply, "maxWireVersion") >= 17, "{reply}");
    assert!(matches!(reply.get("localTime"), Some(Bson::DateTime(_))));
    assert!(!reply.get_bool("readOnly").unwrap());
    assert!(reply.get_document("topologyVersion").is_ok(), "{reply}");
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn is_master_reports_ismaster_true_for_legacy_drivers() {
    let test = TestServer::start().await;
    let reply = test
        .client
        .database("admin")
        .run_command(doc! { "isMaster": 1 })
        .await
        .unwrap();
    assert!(reply.get_bool("ismaster").unwrap());
    assert_eq!(reply.get_str("setName").unwrap(), "rs0");
    let lowercase = test
        .client
        .database("admin")
        .run_command(doc! { "ismaster": 1 })
        .await
        .unwrap();
    assert!(lowercase.get_bool("ismaster").unwrap());
}

#[tokio::test]
async fn ping_replies_ok_one() {
    let test = TestServer::start().await;
    let reply = test
        .client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn build_info_reports_a_version_string_and_array() {
    let test = TestServer::start().await;
    let reply = test
        .client
        .database("admin")
        .run_command(doc! { "buildInfo": 1 })
        .await
        .unwrap();
    let version = reply.get_str("version").unwrap();
    let parts: Vec<i64> = reply
        .get_array("versionArray")
        .unwrap()
        .iter()
        .map(|part| match part {
            Bson::Int32(value) => i64::from(*value),
            Bson::Int64(value) => *value,
            other => panic!("versionArray element {other:?}"),
        })
        .collect();
    assert_eq!(parts.len(), 4);
    assert!(
        version.starts_with(&format!("{}.{}", parts[0], parts[1])),
        "{reply}"
    );
    assert!(parts[0] >= 6, "reports a modern server version: {reply}");
}

#[tokio::test]
async fn unknown_command_fails_with_command_not_found_59() {
    let test = TestServer::start().await;
    let error = test.run(doc! { "frobnicate": 1 }).await.unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 59);
    assert_eq!(error.code_name, "CommandNotFound");
    assert_eq!(error.message, "no such command: 'frobnicate'");
}

#[tokio::test]
async fn end_sessions_replies_ok() {
    let test = TestServer::start().await;
    let reply = test
        .client
        .database("admin")
        .run_command(
            doc! { "endSessions": [ { "id": Bson::Binary(mongodb::bson::Binary {
                subtype: mongodb::bson::spec::BinarySubtype::Uuid,
                bytes: vec![7; 16],
            }) } ] },
        )
        .await
        .unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn replica_set_discovery_connects_and_writes() {
    let test = TestServer::start_replica_set().await;
    let collection = test.collection("discovered");
    collection
        .insert_one(doc! { "_id": 1, "via": "replicaSet" })
        .await
        .unwrap();
    let found = collection
        .find_one(doc! { "_id": 1 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, doc! { "_id": 1, "via": "replicaSet" });
}

#[tokio::test]
async fn databases_with_different_names_are_isolated() {
    let test = TestServer::start().await;
    let first = test
        .client
        .database("first")
        .collection::<Document>("items");
    let second = test
        .client
        .database("second")
        .collection::<Document>("items");
    first
        .insert_one(doc! { "_id": 1, "in": "first" })
        .await
        .unwrap();
    second
        .insert_one(doc! { "_id": 1, "in": "second" })
        .await
        .unwrap();
    assert_eq!(
        first.find_one(doc! {}).await.unwrap().unwrap(),
        doc! { "_id": 1, "in": "first" }
    );
    assert_eq!(
        second.find_one(doc! {}).await.unwrap().unwrap(),
        doc! { "_id": 1, "in": "second" }
    );
}

#[tokio::test]
async fn many_concurrent_connections_are_served() {
    let test = TestServer::start().await;
    let mut tasks = Vec::new();
    for task in 0..24 {
        let client = test.new_client().await;
        tasks.push(tokio::spawn(async move {
            let collection = client.database("conformance").collection::<Document>("fan");
            for item in 0..10 {
                collection
                    .insert_one(doc! { "task": task, "item": item })
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let count = test
        .collection("fan")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(count, 240);
}

/// Frames a legacy OP_QUERY against `admin.$cmd`, the way old drivers and tools start the
/// handshake.
fn op_query(request_id: i32, command: &Document) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_le_bytes());
    body.extend_from_slice(b"admin.$cmd\0");
    body.extend_from_slice(&0i32.to_le_bytes());
    body.extend_from_slice(&(-1i32).to_le_bytes());
    command.to_writer(&mut body).unwrap();
    frame(request_id, 2004, &body)
}

/// Frames an OP_MSG with the given flag bits and a single body section.
fn op_msg(request_id: i32, flags: u32, command: &Document) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&flags.to_le_bytes());
    body.push(0);
    command.to_writer(&mut body).unwrap();
    frame(request_id, 2013, &body)
}

fn frame(request_id: i32, op_code: i32, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::new();
    message.extend_from_slice(&((16 + body.len()) as i32).to_le_bytes());
    message.extend_from_slice(&request_id.to_le_bytes());
    message.extend_from_slice(&0i32.to_le_bytes());
    message.extend_from_slice(&op_code.to_le_bytes());
    message.extend_from_slice(body);
    message
}

/// Reads one reply: `(responseTo, opCode, body after the header)`.
async fn read_reply(stream: &mut TcpStream) -> (i32, i32, Vec<u8>) {
    let mut header = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut header))
        .await
        .expect("the server replies within 5 s")
        .expect("the reply header arrives");
    let length = i32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
    let response_to = i32::from_le_bytes(header[8..12].try_into().unwrap());
    let op_code = i32::from_le_bytes(header[12..16].try_into().unwrap());
    let mut body = vec![0u8; length - 16];
    stream.read_exact(&mut body).await.unwrap();
    (response_to, op_code, body)
}

#[tokio::test]
async fn legacy_op_query_hello_gets_an_op_reply() {
    let test = TestServer::start().await;
    let mut stream = TcpStream::connect(test.server.local_addr()).await.unwrap();
    stream
        .write_all(&op_query(
            41,
            &doc! { "isMaster": 1, "client": { "application": { "name": "legacy" } } },
        ))
        .await
        .unwrap();
    let (response_to, op_code, body) = read_reply(&mut stream).await;
    assert_eq!(response_to, 41);
    assert_eq!(op_code, 1, "OP_QUERY is answered with OP_REPLY");
    let number_returned = i32::from_le_bytes(body[16..20].try_into().unwrap());
    assert_eq!(number_returned, 1);
    let reply = Document::from_reader(&body[20..]).unwrap();
    assert!(reply.get_bool("ismaster").unwrap());
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn op_msg_with_exhaust_allowed_is_answered() {
    let test = TestServer::start().await;
    let mut stream = TcpStream::connect(test.server.local_addr()).await.unwrap();
    // Flag bit 16 is exhaustAllowed; a server may stream or answer once, but must answer.
    stream
        .write_all(&op_msg(7, 1 << 16, &doc! { "hello": 1, "$db": "admin" }))
        .await
        .unwrap();
    let (response_to, op_code, body) = read_reply(&mut stream).await;
    assert_eq!(response_to, 7);
    assert_eq!(op_code, 2013);
    assert_eq!(body[4], 0, "the first section is a body section");
    let reply = Document::from_reader(&body[5..]).unwrap();
    assert!(reply.get_bool("isWritablePrimary").unwrap());
    let flags = u32::from_le_bytes(body[0..4].try_into().unwrap());
    assert_eq!(
        flags, 0,
        "a hello that does not await is answered once, without moreToCome"
    );
}

/// Reads one OP_MSG reply: `(requestId, responseTo, flags, body document)`.
async fn read_op_msg(stream: &mut TcpStream) -> (i32, i32, u32, Document) {
    let mut header = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut header))
        .await
        .expect("the server replies within 5 s")
        .expect("the reply header arrives");
    let length = i32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
    let request_id = i32::from_le_bytes(header[4..8].try_into().unwrap());
    let response_to = i32::from_le_bytes(header[8..12].try_into().unwrap());
    assert_eq!(i32::from_le_bytes(header[12..16].try_into().unwrap()), 2013);
    let mut body = vec![0u8; length - 16];
    stream.read_exact(&mut body).await.unwrap();
    let flags = u32::from_le_bytes(body[0..4].try_into().unwrap());
    assert_eq!(body[4], 0, "the first section is a body section");
    (
        request_id,
        response_to,
        flags,
        Document::from_reader(&body[5..]).unwrap(),
    )
}

/// The Node driver's streaming monitor (and mongosh, Compass) sends an awaitable hello with
/// exhaustAllowed and fails with "Server ended moreToCome unexpectedly" unless every reply but
/// the last says more are coming, each answering the reply before it.
#[tokio::test]
async fn a_streaming_hello_gets_replies_flagged_more_to_come_each_answering_the_one_before() {
    let test = TestServer::start().await;
    let mut stream = TcpStream::connect(test.server.local_addr()).await.unwrap();
    stream
        .write_all(&op_msg(1, 0, &doc! { "hello": 1, "$db": "admin" }))
        .await
        .unwrap();
    let (_, _, _, first) = read_op_msg(&mut stream).await;
    let topology = first.get_document("topologyVersion").unwrap().clone();
    let streaming = doc! {
        "hello": 1,
        "$db": "admin",
        "topologyVersion": topology,
        "maxAwaitTimeMS": 50,
    };
    stream
        .write_all(&op_msg(2, 1 << 16, &streaming))
        .await
        .unwrap();
    let mut answers = 2;
    for _ in 0..3 {
        let (request_id, response_to, flags, reply) = read_op_msg(&mut stream).await;
        assert_eq!(response_to, answers, "each reply answers the one before");
        assert_eq!(flags & 2, 2, "moreToCome is set: {flags:#x}");
        assert!(reply.get_bool("isWritablePrimary").unwrap());
        answers = request_id;
    }
    drop(stream);
    // The server outlives the client that hung up mid-stream.
    let reply = test.run(doc! { "ping": 1 }).await.unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

/// Through the Rust driver, which streams hello too: many heartbeats later the client still
/// works without reconnecting.
#[tokio::test]
async fn a_driver_with_a_fast_streaming_monitor_keeps_working() {
    let test = TestServer::start().await;
    let mut options = mongodb::options::ClientOptions::parse(test.server.uri())
        .await
        .unwrap();
    options.heartbeat_freq = Some(Duration::from_millis(500));
    let client = mongodb::Client::with_options(options).unwrap();
    let collection = client
        .database("conformance")
        .collection::<Document>("beats");
    for round in 0..3 {
        collection
            .insert_one(doc! { "round": round })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(collection.count_documents(doc! {}).await.unwrap(), 3);
}

#[tokio::test]
async fn malformed_message_does_not_kill_the_server() {
    let test = TestServer::start().await;
    let mut stream = TcpStream::connect(test.server.local_addr()).await.unwrap();
    // An OP_MSG whose body section holds bytes that are not BSON.
    let mut garbage = frame(9, 2013, &[0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
    garbage.extend_from_slice(&[0u8; 8]);
    stream.write_all(&garbage).await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut sink)).await;
    let reply = test.run(doc! { "ping": 1 }).await.unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn document_over_16_mib_is_rejected_with_a_server_error() {
    let test = TestServer::start().await;
    let big = "x".repeat(16 * 1024 * 1024 + 1);
    let result = test
        .collection("big")
        .insert_one(doc! { "_id": 1, "payload": big })
        .await;
    assert!(result.is_err(), "a document over 16 MiB must be refused");
    let count = test
        .collection("big")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn absurdly_nested_filter_is_an_error_not_a_crash() {
    let test = TestServer::start().await;
    test.collection("deep")
        .insert_one(doc! { "_id": 1 })
        .await
        .unwrap();
    let mut filter = doc! { "a": 1 };
    for _ in 0..150 {
        filter = doc! { "$and": [filter] };
    }
    let error = test.collection("deep").find_one(filter).await.unwrap_err();
    let error = server_error(&error);
    assert_ne!(error.code, 0);
    let reply = test.run(doc! { "ping": 1 }).await.unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

/// Runs a command against `admin` and returns the reply.
async fn admin(test: &TestServer, command: Document) -> Document {
    test.client
        .database("admin")
        .run_command(command)
        .await
        .unwrap()
}

#[tokio::test]
async fn tools_connect_commands_reply_with_documented_shapes() {
    let test = TestServer::start().await;
    let parameter = admin(
        &test,
        doc! { "getParameter": 1, "featureCompatibilityVersion": 1 },
    )
    .await;
    let version = parameter
        .get_document("featureCompatibilityVersion")
        .unwrap()
        .get_str("version")
        .unwrap();
    assert!(version.contains('.'), "{parameter}");

    let status = admin(&test, doc! { "connectionStatus": 1 }).await;
    let auth = status.get_document("authInfo").unwrap();
    assert_eq!(
        auth.get_array("authenticatedUsers").unwrap(),
        &Vec::<Bson>::new()
    );
    assert_eq!(
        auth.get_array("authenticatedUserRoles").unwrap(),
        &Vec::<Bson>::new()
    );

    let you = admin(&test, doc! { "whatsmyuri": 1 }).await;
    assert!(
        you.get_str("you").unwrap().starts_with("127.0.0.1:"),
        "{you}"
    );

    let log = admin(&test, doc! { "getLog": "startupWarnings" }).await;
    assert!(log.get_array("log").is_ok(), "{log}");
    assert!(log.contains_key("totalLinesWritten"), "{log}");

    let options = admin(&test, doc! { "getCmdLineOpts": 1 }).await;
    assert!(options.get_array("argv").is_ok(), "{options}");
    assert!(options.get_document("parsed").is_ok(), "{options}");

    let host = admin(&test, doc! { "hostInfo": 1 }).await;
    assert!(host.get_document("system").is_ok(), "{host}");
    assert!(host.get_document("os").is_ok(), "{host}");

    let commands = admin(&test, doc! { "listCommands": 1 }).await;
    let listed = commands.get_document("commands").unwrap();
    for name in ["find", "insert", "update", "delete", "aggregate", "hello"] {
        assert!(listed.contains_key(name), "listCommands lacks {name}");
    }

    let server_status = admin(&test, doc! { "serverStatus": 1 }).await;
    assert!(server_status.get_str("version").is_ok(), "{server_status}");
    assert!(server_status.contains_key("uptime"), "{server_status}");
    assert_eq!(server_status.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn db_stats_and_coll_stats_count_documents() {
    let test = TestServer::start().await;
    test.collection("counted")
        .insert_many(vec![doc! { "a": 1 }, doc! { "a": 2 }, doc! { "a": 3 }])
        .await
        .unwrap();
    let database = test.run(doc! { "dbStats": 1 }).await.unwrap();
    assert_eq!(database.get_str("db").unwrap(), "conformance");
    assert_eq!(number(&database, "collections"), 1);
    assert_eq!(number(&database, "objects"), 3);
    let collection = test.run(doc! { "collStats": "counted" }).await.unwrap();
    assert_eq!(collection.get_str("ns").unwrap(), "conformance.counted");
    assert_eq!(number(&collection, "count"), 3);
    assert_eq!(number(&collection, "nindexes"), 1);
}

/// Frames an OP_MSG with a body section and one document-sequence section.
fn op_msg_with_sequence(
    request_id: i32,
    flags: u32,
    command: &Document,
    identifier: &str,
    documents: &[Document],
) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&flags.to_le_bytes());
    body.push(0);
    command.to_writer(&mut body).unwrap();
    let mut sequence = Vec::new();
    sequence.extend_from_slice(identifier.as_bytes());
    sequence.push(0);
    for document in documents {
        document.to_writer(&mut sequence).unwrap();
    }
    body.push(1);
    body.extend_from_slice(&((sequence.len() + 4) as i32).to_le_bytes());
    body.extend_from_slice(&sequence);
    frame(request_id, 2013, &body)
}

#[tokio::test]
async fn op_msg_document_sequence_carries_the_documents_of_an_insert() {
    let test = TestServer::start().await;
    let mut stream = TcpStream::connect(test.server.local_addr()).await.unwrap();
    let message = op_msg_with_sequence(
        11,
        0,
        &doc! { "insert": "sequenced", "$db": "conformance" },
        "documents",
        &[doc! { "_id": 1 }, doc! { "_id": 2 }],
    );
    stream.write_all(&message).await.unwrap();
    let (response_to, _, body) = read_reply(&mut stream).await;
    assert_eq!(response_to, 11);
    let reply = Document::from_reader(&body[5..]).unwrap();
    assert_eq!(number(&reply, "n"), 2, "{reply}");
    let count = test
        .collection("sequenced")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn more_to_come_request_gets_no_reply_but_is_applied() {
    let test = TestServer::start().await;
    let mut stream = TcpStream::connect(test.server.local_addr()).await.unwrap();
    // Flag bit 1 is moreToCome: an unacknowledged (w: 0) write the server must not answer.
    let unacknowledged = op_msg(
        21,
        1 << 1,
        &doc! {
            "insert": "fire_and_forget",
            "documents": [ { "_id": 1 } ],
            "writeConcern": { "w": 0 },
            "$db": "conformance",
        },
    );
    stream.write_all(&unacknowledged).await.unwrap();
    stream
        .write_all(&op_msg(22, 0, &doc! { "ping": 1, "$db": "admin" }))
        .await
        .unwrap();
    let (response_to, _, _) = read_reply(&mut stream).await;
    assert_eq!(
        response_to, 22,
        "the first reply answers the ping, not the w:0 insert"
    );
    let stored = test
        .collection("fire_and_forget")
        .find_one(doc! { "_id": 1 })
        .await
        .unwrap();
    assert_eq!(stored, Some(doc! { "_id": 1 }));
}

#[tokio::test]
async fn invalid_bson_in_a_well_framed_message_gets_an_invalid_bson_error_reply() {
    let test = TestServer::start().await;
    let mut stream = TcpStream::connect(test.server.local_addr()).await.unwrap();
    // A body document of 12 bytes whose single element has the undefined type byte 0x7a.
    let mut document = Vec::new();
    document.extend_from_slice(&12i32.to_le_bytes());
    document.push(0x7a);
    document.extend_from_slice(b"ab\0");
    document.extend_from_slice(&[1, 2, 3]);
    document.push(0);
    let mut body = Vec::new();
    body.extend_from_slice(&0u32.to_le_bytes());
    body.push(0);
    body.extend_from_slice(&document);
    stream.write_all(&frame(31, 2013, &body)).await.unwrap();
    let (response_to, op_code, reply) = read_reply(&mut stream).await;
    assert_eq!(response_to, 31);
    assert_eq!(op_code, 2013);
    let reply = Document::from_reader(&reply[5..]).unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 0.0, "{reply}");
    assert_eq!(reply.get_i32("code").unwrap(), 22, "{reply}");
    assert_eq!(reply.get_str("codeName").unwrap(), "InvalidBSON");
}
