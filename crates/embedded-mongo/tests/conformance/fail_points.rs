//! MongoDB's `failCommand` fail point through the official driver: refused unless the server runs
//! with test commands, then failing the named commands `times` times (or until `off`), only for
//! the client whose handshake carried `appName`, with an error code or a closed connection.

use mongodb::bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use mongodb::Client;

use crate::fixture::{server_error, TestServer};

async fn configure(server: &TestServer, mode: mongodb::bson::Bson, data: Document) -> Document {
    server
        .client
        .database("admin")
        .run_command(doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data })
        .await
        .expect("configureFailPoint is accepted")
}

#[tokio::test]
async fn configure_fail_point_is_an_unknown_command_without_test_commands() {
    let server = TestServer::start().await;
    let error = server
        .client
        .database("admin")
        .run_command(
            doc! { "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": { "failCommands": ["find"], "errorCode": 2 } },
        )
        .await
        .expect_err("refused");
    assert_eq!(server_error(&error).code, 59);
}

#[tokio::test]
async fn configure_fail_point_runs_only_against_admin() {
    let server = TestServer::start_with_test_commands().await;
    let error = server
        .run(doc! { "configureFailPoint": "failCommand", "mode": "off" })
        .await
        .expect_err("refused outside admin");
    assert_eq!(server_error(&error).code, 13);
}

#[tokio::test]
async fn times_fails_the_next_n_named_commands_with_the_code_and_message_then_stops() {
    let server = TestServer::start_with_test_commands().await;
    let items = server.collection("items");
    items.insert_one(doc! { "_id": 1, "n": 0 }).await.unwrap();
    configure(
        &server,
        doc! { "times": 2 }.into(),
        doc! { "failCommands": ["update"], "errorCode": 50, "errmsg": "injected timeout" },
    )
    .await;

    // Other commands are not affected.
    assert_eq!(items.count_documents(doc! {}).await.unwrap(), 1);
    for _ in 0..2 {
        let error = items
            .update_one(doc! { "_id": 1 }, doc! { "$inc": { "n": 1 } })
            .await
            .expect_err("the fail point fails the update");
        let error = server_error(&error);
        assert_eq!(
            (error.code, error.message.as_str()),
            (50, "injected timeout")
        );
    }
    items
        .update_one(doc! { "_id": 1 }, doc! { "$inc": { "n": 1 } })
        .await
        .expect("the third update runs");
    let stored = items.find_one(doc! { "_id": 1 }).await.unwrap().unwrap();
    assert_eq!(
        stored.get_i32("n").unwrap(),
        1,
        "failed updates changed nothing"
    );
}

#[tokio::test]
async fn always_on_fails_until_turned_off_and_labels_reach_the_driver() {
    let server = TestServer::start_with_test_commands().await;
    let items = server.collection("items");
    configure(
        &server,
        "alwaysOn".into(),
        doc! { "failCommands": ["insert"], "errorCode": 112, "errorLabels": ["TransientTransactionError"] },
    )
    .await;
    for n in 0..3 {
        let error = items.insert_one(doc! { "n": n }).await.expect_err("fails");
        assert!(error.contains_label("TransientTransactionError"), "{error}");
        assert_eq!(server_error(&error).code, 112);
    }
    let reply = server
        .client
        .database("admin")
        .run_command(doc! { "configureFailPoint": "failCommand", "mode": "off" })
        .await
        .unwrap();
    assert_eq!(reply.get_i64("count").unwrap(), 3);
    items.insert_one(doc! { "n": 9 }).await.expect("off again");
    assert_eq!(items.count_documents(doc! {}).await.unwrap(), 1);
}

#[tokio::test]
async fn app_name_limits_the_fail_point_to_one_client_and_close_connection_drops_it() {
    let server = TestServer::start_with_test_commands().await;
    let mut options = ClientOptions::parse(server.server.uri()).await.unwrap();
    options.app_name = Some("victim".into());
    options.retry_reads = Some(false);
    let victim = Client::with_options(options).unwrap();
    let victim_items = victim
        .database(crate::fixture::DATABASE)
        .collection::<Document>("items");
    // The handshake that names the client happens on the first command.
    victim_items.count_documents(doc! {}).await.unwrap();
    configure(
        &server,
        doc! { "times": 1 }.into(),
        doc! { "failCommands": ["find"], "closeConnection": true, "appName": "victim" },
    )
    .await;

    // Another client's find is untouched and does not use up the fail point.
    assert!(server
        .collection("items")
        .find_one(doc! {})
        .await
        .unwrap()
        .is_none());
    let error = victim_items
        .find_one(doc! {})
        .await
        .expect_err("the connection is closed without a reply");
    assert!(matches!(*error.kind, ErrorKind::Io(_)), "{error}");
    victim_items
        .find_one(doc! {})
        .await
        .expect("a new connection works once the fail point is used up");
}

#[tokio::test]
async fn write_concern_error_runs_the_write_and_reports_the_write_concern_failure() {
    let server = TestServer::start_with_test_commands().await;
    let items = server.collection("items");
    configure(
        &server,
        doc! { "times": 1 }.into(),
        doc! { "failCommands": ["insert"], "writeConcernError": {
            "code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out",
        } },
    )
    .await;
    let error = items.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    match &*error.kind {
        ErrorKind::Write(mongodb::error::WriteFailure::WriteConcernError(concern)) => {
            assert_eq!(concern.code, 64);
            assert_eq!(concern.code_name, "WriteConcernFailed");
        }
        other => panic!("expected a write concern error, got {other:?}"),
    }
    assert_eq!(
        items.count_documents(doc! {}).await.unwrap(),
        1,
        "the write was applied"
    );
}

#[tokio::test]
async fn block_connection_delays_the_command_and_then_runs_it() {
    let server = TestServer::start_with_test_commands().await;
    let items = server.collection("items");
    configure(
        &server,
        doc! { "times": 1 }.into(),
        doc! { "failCommands": ["insert"], "blockConnection": true, "blockTimeMS": 300 },
    )
    .await;
    let started = std::time::Instant::now();
    items.insert_one(doc! { "_id": 1 }).await.unwrap();
    // A lower bound only: the block must have happened; how much longer it took is no concern.
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(items.count_documents(doc! {}).await.unwrap(), 1);
}

#[tokio::test]
async fn an_error_injected_inside_a_transaction_carries_transient_transaction_error() {
    let server = TestServer::start_with_test_commands().await;
    let items = server.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    configure(
        &server,
        doc! { "times": 1 }.into(),
        doc! { "failCommands": ["insert"], "errorCode": 24 },
    )
    .await;
    let mut session = server.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let error = items
        .insert_one(doc! { "_id": 1 })
        .session(&mut session)
        .await
        .unwrap_err();
    assert!(
        error.contains_label("TransientTransactionError"),
        "{error:?}"
    );
    let error = server_error(&error);
    assert_eq!((error.code, error.code_name.as_str()), (24, "LockTimeout"));
    let _ = session.abort_transaction().await;
}

#[tokio::test]
async fn configured_error_labels_replace_mongods_own() {
    let server = TestServer::start_with_test_commands().await;
    let items = server.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    configure(
        &server,
        doc! { "times": 1 }.into(),
        doc! { "failCommands": ["insert"], "errorCode": 24, "errorLabels": ["Custom"] },
    )
    .await;
    let mut session = server.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let error = items
        .insert_one(doc! { "_id": 1 })
        .session(&mut session)
        .await
        .unwrap_err();
    assert!(error.contains_label("Custom"), "{error:?}");
    assert!(
        !error.contains_label("TransientTransactionError"),
        "{error:?}"
    );
    let _ = session.abort_transaction().await;
}

#[tokio::test]
async fn get_parameter_reports_enable_test_commands_as_mongod_does() {
    for (server, expected) in [
        (TestServer::start_with_test_commands().await, true),
        (TestServer::start().await, false),
    ] {
        let reply = server
            .client
            .database("admin")
            .run_command(doc! { "getParameter": 1, "enableTestCommands": 1 })
            .await
            .unwrap();
        assert_eq!(reply.get_bool("enableTestCommands").unwrap(), expected);
    }
}

/// A test-commands server the driver sees as a replica-set primary, so it retries writes.
async fn retrying_server() -> TestServer {
    let server = embedded_mongo::EmbeddedMongo::start(embedded_mongo::ServerConfig {
        enable_test_commands: true,
        ..embedded_mongo::ServerConfig::default()
    })
    .await
    .expect("the embedded server starts");
    let client = crate::fixture::connect(&crate::fixture::replica_set_uri(&server)).await;
    let db = client.database(crate::fixture::DATABASE);
    TestServer { server, client, db }
}

async fn configure_point(server: &TestServer, command: Document) {
    server
        .client
        .database("admin")
        .run_command(command)
        .await
        .expect("configureFailPoint is accepted");
}

#[tokio::test]
async fn skip_lets_the_first_commands_pass_then_fails_every_one() {
    let server = TestServer::start_with_test_commands().await;
    configure(
        &server,
        mongodb::bson::Bson::Document(doc! { "skip": 2 }),
        doc! { "failCommands": ["count"], "errorCode": 2 },
    )
    .await;
    let collection = server.collection("c");
    let count = || server.run(doc! {"count": "c"});
    assert!(count().await.is_ok());
    assert!(count().await.is_ok());
    for _ in 0..3 {
        assert_eq!(server_error(&count().await.unwrap_err()).code, 2);
    }
    assert!(
        collection.find_one(doc! {}).await.is_ok(),
        "other commands pass"
    );
}

#[tokio::test]
async fn a_write_whose_connection_closes_after_it_applied_is_retried_once_and_not_applied_twice() {
    let server = retrying_server().await;
    configure_point(
        &server,
        doc! { "configureFailPoint": "onPrimaryTransactionalWrite", "mode": { "times": 1 },
        "data": { "closeConnection": true } },
    )
    .await;
    let collection = server.collection("c");
    collection
        .insert_one(doc! {"_id": 1})
        .await
        .expect("the driver retries and the server answers with the first write's reply");
    assert_eq!(collection.count_documents(doc! {}).await.unwrap(), 1);
    collection
        .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
        .await
        .unwrap();
    let stored = collection.find_one(doc! {"_id": 1}).await.unwrap().unwrap();
    assert_eq!(
        stored.get_i32("n").unwrap(),
        1,
        "the fail point fired only once"
    );
    let reply = server
        .client
        .database("admin")
        .run_command(doc! { "configureFailPoint": "onPrimaryTransactionalWrite", "mode": "off" })
        .await
        .unwrap();
    assert_eq!(
        reply.get_i64("count").unwrap(),
        1,
        "it did fire on the insert"
    );
}

#[tokio::test]
async fn a_write_failed_before_commit_is_not_applied_and_a_retryable_code_is_retried() {
    let server = retrying_server().await;
    configure_point(
        &server,
        doc! { "configureFailPoint": "onPrimaryTransactionalWrite", "mode": { "times": 1 },
        "data": { "failBeforeCommitExceptionCode": 89 } },
    )
    .await;
    let collection = server.collection("c");
    collection
        .insert_one(doc! {"_id": 1})
        .await
        .expect("89 is retryable: the retry succeeds");
    assert_eq!(collection.count_documents(doc! {}).await.unwrap(), 1);
    configure_point(
        &server,
        doc! { "configureFailPoint": "onPrimaryTransactionalWrite", "mode": { "times": 1 },
        "data": { "failBeforeCommitExceptionCode": 2 } },
    )
    .await;
    let error = collection.insert_one(doc! {"_id": 2}).await.unwrap_err();
    assert_eq!(server_error(&error).code, 2);
    assert_eq!(
        collection.count_documents(doc! {}).await.unwrap(),
        1,
        "nothing applied"
    );
}

async fn fail_get_more(
    server: &TestServer,
    mode: mongodb::bson::Bson,
    error_code: i32,
) -> Document {
    server
        .client
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failGetMoreAfterCursorCheckout",
            "mode": mode,
            "data": { "errorCode": error_code },
        })
        .await
        .expect("configureFailPoint is accepted")
}

fn cursor_id(reply: &Document) -> i64 {
    reply
        .get_document("cursor")
        .and_then(|cursor| cursor.get_i64("id"))
        .expect("a cursor id")
}

#[tokio::test]
async fn fail_get_more_after_cursor_checkout_fails_the_get_more_and_kills_its_cursor() {
    let server = TestServer::start_with_test_commands().await;
    let items = server.collection("items");
    items
        .insert_many((0..5).map(|n| doc! { "_id": n }))
        .await
        .unwrap();
    let first = server
        .run(doc! { "find": "items", "batchSize": 1 })
        .await
        .unwrap();
    let id = cursor_id(&first);
    // Not a code that makes the driver rediscover the server (91 would), so the next command
    // goes straight to it.
    fail_get_more(&server, doc! { "times": 1 }.into(), 96).await;

    let error = server
        .run(doc! { "getMore": id, "collection": "items" })
        .await
        .expect_err("the fail point fails the getMore");
    let error = server_error(&error);
    assert_eq!(error.code, 96);
    assert!(
        error.labels.is_empty(),
        "a find cursor gets no change-stream label: {:?}",
        error.labels
    );
    let again = server
        .run(doc! { "getMore": id, "collection": "items" })
        .await
        .expect_err("the cursor was killed");
    assert_eq!(server_error(&again).code, 43);

    // Spent after one: the next cursor runs to its end.
    let next = server
        .run(doc! { "find": "items", "batchSize": 1 })
        .await
        .unwrap();
    let more = server
        .run(doc! { "getMore": cursor_id(&next), "collection": "items" })
        .await
        .expect("the fail point is spent");
    assert_eq!(
        more.get_document("cursor")
            .unwrap()
            .get_array("nextBatch")
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn a_change_stream_get_more_failed_by_the_fail_point_is_labelled_as_mongod_labels_it() {
    let server = TestServer::start_with_test_commands().await;
    server
        .collection("items")
        .insert_one(doc! { "_id": 0 })
        .await
        .unwrap();
    for (code, label) in [
        (6, Some("ResumableChangeStreamError")),
        (280, Some("NonResumableChangeStreamError")),
        (2, None),
    ] {
        let opened = server
            .run(doc! { "aggregate": "items", "pipeline": [ { "$changeStream": {} } ], "cursor": {} })
            .await
            .unwrap();
        fail_get_more(&server, doc! { "times": 1 }.into(), code).await;
        let error = server
            .run(doc! { "getMore": cursor_id(&opened), "collection": "items", "maxTimeMS": 50 })
            .await
            .expect_err("the fail point fails the getMore");
        let error = server_error(&error);
        assert_eq!(error.code, code);
        assert_eq!(
            error.labels,
            label.map(str::to_string).into_iter().collect::<Vec<_>>(),
            "code {code}"
        );
    }
}

#[tokio::test]
async fn a_driver_change_stream_resumes_after_a_resumable_get_more_failure_and_misses_nothing() {
    use futures_util::StreamExt;

    let server = TestServer::start_with_test_commands().await;
    let items = server.collection("items");
    let mut stream = items.watch().await.unwrap();
    fail_get_more(&server, doc! { "times": 1 }.into(), 6).await;
    items.insert_one(doc! { "_id": 1 }).await.unwrap();
    items.insert_one(doc! { "_id": 2 }).await.unwrap();

    let mut keys = Vec::new();
    for _ in 0..2 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .expect("the driver resumed instead of failing");
        keys.push(event.document_key.expect("a document key"));
    }
    assert_eq!(keys, [doc! { "_id": 1 }, doc! { "_id": 2 }]);
    let off = server
        .client
        .database("admin")
        .run_command(doc! { "configureFailPoint": "failGetMoreAfterCursorCheckout", "mode": "off" })
        .await
        .unwrap();
    assert!(
        off.get_i64("count").unwrap() >= 1,
        "the fail point fired: {off}"
    );
}

#[tokio::test]
async fn fail_get_more_after_cursor_checkout_needs_an_error_code() {
    let server = TestServer::start_with_test_commands().await;
    let error = server
        .client
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failGetMoreAfterCursorCheckout",
            "mode": "alwaysOn",
            "data": { "closeConnection": false },
        })
        .await
        .expect_err("refused");
    assert_eq!(server_error(&error).code, 2);
}
