//! `renameCollection`: documents, indexes and options move in one step, within or across
//! databases; an existing target is refused (48) unless `dropTarget`; a missing source is 26; it
//! runs only against `admin`; change streams see `rename` (then `invalidate`) on the source and
//! `drop` on a dropped target.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::change_stream::event::OperationType;

use crate::fixture::{ids, server_error, TestServer};

async fn rename(
    test: &TestServer,
    from: &str,
    to: &str,
    drop_target: bool,
) -> mongodb::error::Result<Document> {
    test.client
        .database("admin")
        .run_command(doc! {"renameCollection": from, "to": to, "dropTarget": drop_target})
        .await
}

#[tokio::test]
async fn rename_moves_documents_indexes_and_options() {
    let test = TestServer::start().await;
    test.run(doc! {"create": "old", "validator": {"x": {"$type": "int"}}})
        .await
        .unwrap();
    test.collection("old")
        .insert_many(vec![doc! {"_id": 1, "x": 1}, doc! {"_id": 2, "x": 2}])
        .await
        .unwrap();
    test.run(doc! {"createIndexes": "old", "indexes": [{"key": {"x": 1}, "name": "x_1", "unique": true}]})
        .await
        .unwrap();
    rename(&test, "conformance.old", "conformance.new", false)
        .await
        .unwrap();
    let moved: Vec<Document> = test
        .collection("new")
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&moved), vec![1, 2]);
    assert_eq!(
        test.collection("old")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
    let names = test
        .client
        .database("conformance")
        .list_collection_names()
        .await
        .unwrap();
    assert!(
        names.contains(&"new".to_string()) && !names.contains(&"old".to_string()),
        "{names:?}"
    );
    // The unique index and the validator came along.
    let duplicate = test
        .collection("new")
        .insert_one(doc! {"_id": 3, "x": 1})
        .await
        .unwrap_err();
    assert_eq!(server_error(&duplicate).code, 11000);
    let invalid = test
        .collection("new")
        .insert_one(doc! {"_id": 4, "x": "text"})
        .await
        .unwrap_err();
    assert_eq!(server_error(&invalid).code, 121);
    // Across databases too.
    rename(&test, "conformance.new", "elsewhere.moved", false)
        .await
        .unwrap();
    let count = test
        .client
        .database("elsewhere")
        .collection::<Document>("moved")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn an_existing_target_is_refused_unless_drop_target() {
    let test = TestServer::start().await;
    test.collection("a")
        .insert_one(doc! {"_id": "a"})
        .await
        .unwrap();
    test.collection("b")
        .insert_one(doc! {"_id": "b"})
        .await
        .unwrap();
    let refused = rename(&test, "conformance.a", "conformance.b", false)
        .await
        .unwrap_err();
    assert_eq!(server_error(&refused).code, 48);
    assert_eq!(
        test.collection("a").count_documents(doc! {}).await.unwrap(),
        1,
        "nothing moved"
    );
    rename(&test, "conformance.a", "conformance.b", true)
        .await
        .unwrap();
    let left: Vec<Document> = test
        .collection("b")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(left, vec![doc! {"_id": "a"}], "the old target was dropped");
}

#[tokio::test]
async fn rename_refuses_what_mongod_refuses() {
    let test = TestServer::start().await;
    test.collection("a")
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    let missing = rename(&test, "conformance.nothing", "conformance.x", false)
        .await
        .unwrap_err();
    assert_eq!(server_error(&missing).code, 26);
    let itself = rename(&test, "conformance.a", "conformance.a", true)
        .await
        .unwrap_err();
    assert_eq!(server_error(&itself).code, 20);
    let not_admin = test
        .run(doc! {"renameCollection": "conformance.a", "to": "conformance.z"})
        .await
        .unwrap_err();
    assert_eq!(server_error(&not_admin).code, 13);
    let bad_target = rename(&test, "conformance.a", "conformance.bad$name", false)
        .await
        .unwrap_err();
    assert_eq!(server_error(&bad_target).code, 73);
    assert_eq!(
        test.collection("a").count_documents(doc! {}).await.unwrap(),
        1
    );
}

#[tokio::test]
async fn a_watcher_of_the_source_sees_rename_then_invalidate() {
    let test = TestServer::start_replica_set().await;
    test.collection("watched")
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    let mut stream = test.collection("watched").watch().await.unwrap();
    rename(&test, "conformance.watched", "conformance.moved", false)
        .await
        .unwrap();
    let renamed = stream.next_if_any().await.unwrap();
    let renamed = match renamed {
        Some(event) => event,
        None => stream.try_next().await.unwrap().expect("an event"),
    };
    assert_eq!(renamed.operation_type, OperationType::Rename);
    let to = renamed.to.expect("the rename names its target");
    assert_eq!(
        (to.db.as_str(), to.coll.as_deref()),
        ("conformance", Some("moved"))
    );
    let invalidate = stream.try_next().await.unwrap().expect("invalidate");
    assert_eq!(invalidate.operation_type, OperationType::Invalidate);
}
