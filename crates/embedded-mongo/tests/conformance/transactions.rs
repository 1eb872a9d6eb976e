//! Sessions and multi-document transactions (atomic commit, abort, snapshot isolation, write
//! conflicts → 112 with TransientTransactionError and the driver's retry), and retryable writes
//! applied exactly once.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use futures_util::{FutureExt, TryStreamExt};
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;

use crate::fixture::{number, server_error, TestServer};

async fn accounts(test: &TestServer) -> Collection<Document> {
    let collection = test.collection("accounts");
    collection
        .insert_many(vec![
            doc! { "_id": "alice", "balance": 100 },
            doc! { "_id": "bob", "balance": 0 },
        ])
        .await
        .unwrap();
    collection
}

async fn balance(collection: &Collection<Document>, id: &str) -> i32 {
    collection
        .find_one(doc! { "_id": id })
        .await
        .unwrap()
        .unwrap()
        .get_i32("balance")
        .unwrap()
}

#[tokio::test]
async fn committed_transaction_becomes_visible_atomically() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    accounts
        .update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": -30 } })
        .session(&mut session)
        .await
        .unwrap();
    accounts
        .update_one(doc! { "_id": "bob" }, doc! { "$inc": { "balance": 30 } })
        .session(&mut session)
        .await
        .unwrap();
    accounts
        .insert_one(doc! { "_id": "ledger-1", "amount": 30 })
        .session(&mut session)
        .await
        .unwrap();
    // Outside the transaction nothing has happened yet.
    assert_eq!(balance(&accounts, "alice").await, 100);
    assert_eq!(balance(&accounts, "bob").await, 0);
    assert_eq!(accounts.count_documents(doc! {}).await.unwrap(), 2);
    // Inside it, its own writes are visible.
    let inside = accounts
        .find_one(doc! { "_id": "bob" })
        .session(&mut session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inside.get_i32("balance").unwrap(), 30);
    session.commit_transaction().await.unwrap();
    assert_eq!(balance(&accounts, "alice").await, 70);
    assert_eq!(balance(&accounts, "bob").await, 30);
    assert_eq!(accounts.count_documents(doc! {}).await.unwrap(), 3);
}

#[tokio::test]
async fn aborted_transaction_discards_its_writes() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    accounts
        .update_one(doc! { "_id": "alice" }, doc! { "$set": { "balance": 0 } })
        .session(&mut session)
        .await
        .unwrap();
    accounts
        .insert_one(doc! { "_id": "carol", "balance": 5 })
        .session(&mut session)
        .await
        .unwrap();
    accounts
        .delete_one(doc! { "_id": "bob" })
        .session(&mut session)
        .await
        .unwrap();
    session.abort_transaction().await.unwrap();
    assert_eq!(balance(&accounts, "alice").await, 100);
    assert_eq!(balance(&accounts, "bob").await, 0);
    assert_eq!(
        accounts.find_one(doc! { "_id": "carol" }).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn transaction_reads_from_a_snapshot() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    assert_eq!(
        accounts
            .find_one(doc! { "_id": "alice" })
            .session(&mut session)
            .await
            .unwrap()
            .unwrap()
            .get_i32("balance")
            .unwrap(),
        100
    );
    accounts
        .update_one(doc! { "_id": "bob" }, doc! { "$set": { "balance": 999 } })
        .await
        .unwrap();
    accounts
        .insert_one(doc! { "_id": "dave", "balance": 1 })
        .await
        .unwrap();
    let inside_bob = accounts
        .find_one(doc! { "_id": "bob" })
        .session(&mut session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        inside_bob.get_i32("balance").unwrap(),
        0,
        "the snapshot predates the write"
    );
    let inside_count = accounts
        .count_documents(doc! {})
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(inside_count, 2, "the snapshot predates the insert");
    session.commit_transaction().await.unwrap();
    assert_eq!(balance(&accounts, "bob").await, 999);
}

#[tokio::test]
async fn a_second_transaction_writing_a_document_held_by_another_conflicts_with_112_at_the_write() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut first = test.client.start_session().await.unwrap();
    let mut second = test.client.start_session().await.unwrap();
    first.start_transaction().await.unwrap();
    second.start_transaction().await.unwrap();
    accounts
        .update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": 1 } })
        .session(&mut first)
        .await
        .unwrap();
    // MongoDB refuses the second writer at once, at the write, not at its commit: drivers'
    // retry loops and our transaction helpers are built around that.
    let conflict = accounts
        .update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": 10 } })
        .session(&mut second)
        .await
        .unwrap_err();
    assert!(
        conflict.contains_label("TransientTransactionError"),
        "{conflict:?}"
    );
    let conflict = server_error(&conflict);
    assert_eq!(conflict.code, 112);
    assert_eq!(conflict.code_name, "WriteConflict");
    // As in MongoDB, the conflict aborted the second transaction.
    let aborted = accounts
        .update_one(doc! { "_id": "bob" }, doc! { "$inc": { "balance": 5 } })
        .session(&mut second)
        .await
        .unwrap_err();
    assert_eq!(server_error(&aborted).code, 251);
    let _ = second.abort_transaction().await;
    first.commit_transaction().await.unwrap();
    assert_eq!(balance(&accounts, "alice").await, 101);
}

#[tokio::test]
async fn with_transaction_retries_after_a_write_conflict_and_succeeds() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let attempts = Arc::new(AtomicU32::new(0));
    let mut session = test.client.start_session().await.unwrap();
    let context = (accounts.clone(), attempts.clone());
    session
        .start_transaction()
        .and_run(context, |session, (accounts, attempts)| {
            async move {
                let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                // Establish the snapshot, then let an outside writer change the document.
                accounts
                    .find_one(doc! { "_id": "alice" })
                    .session(&mut *session)
                    .await?;
                if attempt == 1 {
                    accounts
                        .update_one(
                            doc! { "_id": "alice" },
                            doc! { "$inc": { "balance": 1000 } },
                        )
                        .await?;
                }
                accounts
                    .update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": -50 } })
                    .session(&mut *session)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
        .unwrap();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "the conflict forces exactly one retry"
    );
    assert_eq!(balance(&accounts, "alice").await, 1050);
}

#[tokio::test]
async fn commit_and_abort_transaction_commands_reply_ok() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    accounts
        .insert_one(doc! { "_id": "x" })
        .session(&mut session)
        .await
        .unwrap();
    session.commit_transaction().await.unwrap();
    // Committing again is allowed by the driver and must stay a success.
    session.commit_transaction().await.unwrap();
    assert!(accounts
        .find_one(doc! { "_id": "x" })
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn abort_without_a_transaction_is_no_such_transaction_251() {
    let test = TestServer::start_replica_set().await;
    let mut session = test.client.start_session().await.unwrap();
    let error = test
        .client
        .database("admin")
        .run_command(doc! { "abortTransaction": 1, "txnNumber": 42i64, "autocommit": false })
        .session(&mut session)
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 251);
    assert_eq!(error.code_name, "NoSuchTransaction");
}

#[tokio::test]
async fn duplicate_key_inside_a_transaction_fails_the_write() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let error = accounts
        .insert_one(doc! { "_id": "alice" })
        .session(&mut session)
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 11000);
    let _ = session.abort_transaction().await;
    assert_eq!(accounts.count_documents(doc! {}).await.unwrap(), 2);
}

#[tokio::test]
async fn transactions_work_with_a_direct_connection() {
    let test = TestServer::start().await;
    let accounts = accounts(&test).await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    accounts
        .update_one(doc! { "_id": "bob" }, doc! { "$set": { "balance": 7 } })
        .session(&mut session)
        .await
        .unwrap();
    session.commit_transaction().await.unwrap();
    assert_eq!(balance(&accounts, "bob").await, 7);
}

#[tokio::test]
async fn retried_write_with_the_same_txn_number_is_applied_once() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut session = test.client.start_session().await.unwrap();
    let command = doc! {
        "update": "accounts",
        "updates": [ { "q": { "_id": "bob" }, "u": { "$inc": { "balance": 5 } } } ],
        "txnNumber": 1i64,
    };
    let first = test
        .db
        .run_command(command.clone())
        .session(&mut session)
        .await
        .unwrap();
    let retried = test
        .db
        .run_command(command)
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(number(&first, "n"), 1);
    assert_eq!(
        number(&retried, "n"),
        1,
        "the retry reports the original outcome"
    );
    assert_eq!(number(&retried, "nModified"), 1);
    assert_eq!(balance(&accounts, "bob").await, 5);
    let next = test
        .db
        .run_command(doc! {
            "update": "accounts",
            "updates": [ { "q": { "_id": "bob" }, "u": { "$inc": { "balance": 5 } } } ],
            "txnNumber": 2i64,
        })
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(number(&next, "n"), 1);
    assert_eq!(balance(&accounts, "bob").await, 10);
}

#[tokio::test]
async fn retried_insert_with_the_same_txn_number_does_not_duplicate() {
    let test = TestServer::start_replica_set().await;
    let collection = test.collection("events");
    let mut session = test.client.start_session().await.unwrap();
    let command = doc! {
        "insert": "events",
        "documents": [ { "kind": "no explicit id" } ],
        "txnNumber": 9i64,
    };
    let first = test
        .db
        .run_command(command.clone())
        .session(&mut session)
        .await
        .unwrap();
    let retried = test
        .db
        .run_command(command)
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(number(&first, "n"), 1);
    assert_eq!(number(&retried, "n"), 1);
    assert!(!retried.contains_key("writeErrors"), "{retried}");
    assert_eq!(collection.count_documents(doc! {}).await.unwrap(), 1);
}

#[tokio::test]
async fn driver_retryable_writes_succeed_against_the_replica_set() {
    let test = TestServer::start_replica_set().await;
    let collection = test.collection("retryable");
    for n in 0..20 {
        collection.insert_one(doc! { "_id": n }).await.unwrap();
        collection
            .update_one(doc! { "_id": n }, doc! { "$inc": { "hits": 1 } })
            .await
            .unwrap();
    }
    let total: Vec<Document> = collection
        .aggregate(vec![
            doc! { "$group": { "_id": Bson::Null, "hits": { "$sum": "$hits" } } },
        ])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(total, vec![doc! { "_id": Bson::Null, "hits": 20 }]);
}

/// Snapshot sessions (MongoDB 5.0+): the first read fixes `atClusterTime`, later reads of the
/// session see that version whatever is written meanwhile.
#[tokio::test]
async fn a_snapshot_session_keeps_reading_the_version_of_its_first_read() {
    let test = TestServer::start().await;
    let collection = test.collection("snap");
    collection
        .insert_one(doc! { "_id": 1, "x": 1 })
        .await
        .unwrap();
    let mut session = test.client.start_session().snapshot(true).await.unwrap();
    let first = collection
        .find_one(doc! { "_id": 1 })
        .session(&mut session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(number(&first, "x"), 1);
    collection
        .update_one(doc! { "_id": 1 }, doc! { "$set": { "x": 2 } })
        .await
        .unwrap();
    collection
        .insert_one(doc! { "_id": 2, "x": 3 })
        .await
        .unwrap();
    let again = collection
        .find_one(doc! { "_id": 1 })
        .session(&mut session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(number(&again, "x"), 1, "the session reads its snapshot");
    let values = collection
        .distinct("x", doc! {})
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(values, vec![Bson::Int32(1)]);
    let mut cursor = collection
        .aggregate([doc! { "$count": "n" }])
        .session(&mut session)
        .await
        .unwrap();
    let counted = cursor.next(&mut session).await.unwrap().unwrap();
    assert_eq!(number(&counted, "n"), 1);
    let latest = collection
        .find_one(doc! { "_id": 1 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        number(&latest, "x"),
        2,
        "reads outside the session see the latest write"
    );
}

#[tokio::test]
async fn a_snapshot_read_reports_at_cluster_time_and_refuses_a_future_one() {
    let test = TestServer::start().await;
    test.collection("snap")
        .insert_one(doc! { "_id": 1 })
        .await
        .unwrap();
    let reply = test
        .run(doc! { "find": "snap", "readConcern": { "level": "snapshot" } })
        .await
        .unwrap();
    let at = reply
        .get_document("cursor")
        .unwrap()
        .get_timestamp("atClusterTime")
        .unwrap();
    let future = mongodb::bson::Timestamp {
        time: at.time + 3600,
        increment: 1,
    };
    let error = test
        .run(doc! { "find": "snap", "readConcern": { "level": "snapshot", "atClusterTime": future } })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code_name, "SnapshotUnavailable");
    let count = test
        .run(doc! { "count": "snap", "readConcern": { "level": "snapshot" } })
        .await
        .unwrap_err();
    assert_eq!(server_error(&count).code, 72);
}

#[tokio::test]
async fn an_aborted_transaction_releases_the_documents_it_held() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut first = test.client.start_session().await.unwrap();
    first.start_transaction().await.unwrap();
    accounts
        .update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": 1 } })
        .session(&mut first)
        .await
        .unwrap();
    first.abort_transaction().await.unwrap();
    let mut second = test.client.start_session().await.unwrap();
    second.start_transaction().await.unwrap();
    accounts
        .update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": 7 } })
        .session(&mut second)
        .await
        .expect("the aborted transaction no longer holds alice");
    second.commit_transaction().await.unwrap();
    assert_eq!(balance(&accounts, "alice").await, 107);
}

#[tokio::test]
async fn a_collection_created_in_an_aborted_transaction_does_not_exist() {
    let test = TestServer::start_replica_set().await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    test.db
        .create_collection("ledger")
        .session(&mut session)
        .await
        .unwrap();
    test.db
        .collection::<Document>("ledger")
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "at": 1 })
                .build(),
        )
        .session(&mut session)
        .await
        .unwrap();
    let outside = test.db.list_collection_names().await.unwrap();
    assert!(!outside.contains(&"ledger".to_string()), "{outside:?}");
    session.abort_transaction().await.unwrap();
    let after = test.db.list_collection_names().await.unwrap();
    assert!(!after.contains(&"ledger".to_string()), "{after:?}");
}

#[tokio::test]
async fn a_collection_and_index_created_in_a_committed_transaction_appear_together() {
    let test = TestServer::start_replica_set().await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    test.db
        .create_collection("ledger")
        .session(&mut session)
        .await
        .unwrap();
    test.db
        .collection::<Document>("ledger")
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "at": 1 })
                .build(),
        )
        .session(&mut session)
        .await
        .unwrap();
    session.commit_transaction().await.unwrap();
    let names: Vec<String> = test
        .db
        .collection::<Document>("ledger")
        .list_index_names()
        .await
        .unwrap();
    assert_eq!(names, vec!["_id_".to_string(), "at_1".to_string()]);
}

#[tokio::test]
async fn creating_an_index_on_an_existing_collection_in_a_transaction_is_263() {
    let test = TestServer::start_replica_set().await;
    let accounts = accounts(&test).await;
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let error = accounts
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "balance": 1 })
                .build(),
        )
        .session(&mut session)
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (263, "OperationNotSupportedInTransaction")
    );
    let _ = session.abort_transaction().await;
    let names = accounts.list_index_names().await.unwrap();
    assert_eq!(names, vec!["_id_".to_string()]);
}
