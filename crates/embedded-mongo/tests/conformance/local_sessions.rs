//! `$listLocalSessions` through the official driver: the sessions the server has seen, with
//! their `lastUse`, until they end; run as a database-level aggregate only, outside transactions.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::Database;

use crate::fixture::{server_error, TestServer};

async fn local_sessions(database: &Database, pipeline: Vec<Document>) -> Vec<Document> {
    database
        .aggregate(pipeline)
        .await
        .expect("$listLocalSessions runs")
        .try_collect()
        .await
        .expect("the cursor is read")
}

#[tokio::test]
async fn list_local_sessions_reports_each_session_used_with_its_last_use_until_it_ends() {
    let server = TestServer::start().await;
    let database = server.client.database("sessions");
    let before = DateTime::now();
    let mut session = server.client.start_session().await.unwrap();
    server
        .collection("items")
        .find_one(doc! {})
        .session(&mut session)
        .await
        .unwrap();
    let after = DateTime::now();
    let id = session.id().get("id").cloned().expect("lsid.id");

    let listed = local_sessions(
        &database,
        vec![
            doc! { "$listLocalSessions": {} },
            doc! { "$match": { "_id.id": id.clone() } },
        ],
    )
    .await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let key = listed[0].get_document("_id").unwrap();
    assert_eq!(key.get("id"), Some(&id));
    // Without authentication a session's uid is SHA-256 of the empty user name.
    assert_eq!(
        hex::encode(key.get_binary_generic("uid").unwrap()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let last_use = listed[0].get_datetime("lastUse").unwrap();
    assert!(*last_use >= before && *last_use <= after, "{last_use}");
    let all = local_sessions(
        &database,
        vec![doc! { "$listLocalSessions": { "allUsers": true } }],
    )
    .await;
    assert!(all
        .iter()
        .any(|listed| listed.get_document("_id").unwrap().get("id") == Some(&id)));
    let of_a_user = local_sessions(
        &database,
        vec![doc! { "$listLocalSessions": { "users": [ { "user": "app", "db": "admin" } ] } }],
    )
    .await;
    assert_eq!(
        of_a_user,
        Vec::<Document>::new(),
        "no user owns a session without authentication"
    );

    server
        .client
        .database("admin")
        .run_command(doc! { "endSessions": [ session.id().clone() ] })
        .await
        .unwrap();
    let ended = local_sessions(
        &database,
        vec![
            doc! { "$listLocalSessions": {} },
            doc! { "$match": { "_id.id": id } },
        ],
    )
    .await;
    assert_eq!(ended, Vec::<Document>::new(), "an ended session is gone");
}

#[tokio::test]
async fn list_local_sessions_is_refused_where_mongod_refuses_it() {
    let server = TestServer::start_replica_set().await;
    let items = server.collection("items");
    items.insert_one(doc! { "_id": 1 }).await.unwrap();
    let on_a_collection = items
        .aggregate(vec![doc! { "$listLocalSessions": {} }])
        .await
        .expect_err("refused");
    assert_eq!(server_error(&on_a_collection).code, 73);
    let not_first = server
        .client
        .database("conformance")
        .aggregate(vec![
            doc! { "$documents": [ { "a": 1 } ] },
            doc! { "$listLocalSessions": {} },
        ])
        .await
        .expect_err("refused");
    assert_eq!(server_error(&not_first).code, 40602);
    let bad_argument = server
        .client
        .database("conformance")
        .aggregate(vec![doc! { "$listLocalSessions": { "allUsers": "yes" } }])
        .await
        .expect_err("refused");
    assert_eq!(server_error(&bad_argument).code, 14);

    let mut session = server.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    items.find_one(doc! {}).session(&mut session).await.unwrap();
    let in_transaction = server
        .client
        .database("conformance")
        .aggregate(vec![doc! { "$listLocalSessions": {} }])
        .session(&mut session)
        .await
        .expect_err("refused");
    assert_eq!(server_error(&in_transaction).code, 263);
}
