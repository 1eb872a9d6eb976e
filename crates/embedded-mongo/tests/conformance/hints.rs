//! `hint`: mongod's planner refuses a hint that names no index of the collection (2 BadValue)
//! and otherwise uses it; the store plans its own scans, so a valid hint changes no result. Both
//! halves through the driver for `find`, `count`, `distinct`, `aggregate` and `findAndModify`.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{FindOptions, Hint};

use crate::fixture::{ids, server_error, TestServer};

async fn indexed(test: &TestServer) {
    test.collection("c")
        .insert_many(vec![
            doc! {"_id": 1, "x": 3, "y": "a"},
            doc! {"_id": 2, "x": 1, "y": "b"},
            doc! {"_id": 3, "x": 2, "y": "a"},
        ])
        .await
        .unwrap();
    test.run(doc! {"createIndexes": "c", "indexes": [{"key": {"x": 1, "y": -1}, "name": "x_y"}]})
        .await
        .unwrap();
}

fn commands_with(hint: Bson) -> Vec<Document> {
    vec![
        doc! {"find": "c", "filter": {"y": "a"}, "sort": {"_id": 1}, "hint": hint.clone()},
        doc! {"count": "c", "query": {"y": "a"}, "hint": hint.clone()},
        doc! {"distinct": "c", "key": "y", "query": {}, "hint": hint.clone()},
        doc! {"aggregate": "c", "pipeline": [{"$match": {"y": "a"}}], "cursor": {}, "hint": hint.clone()},
        doc! {"findAndModify": "c", "query": {"_id": 1}, "update": {"$inc": {"n": 1}}, "hint": hint},
    ]
}

#[tokio::test]
async fn a_hint_naming_an_existing_index_is_accepted_and_changes_no_result() {
    let test = TestServer::start().await;
    indexed(&test).await;
    let hinted: Vec<Document> = test
        .collection("c")
        .find(doc! {"y": "a"})
        .with_options(
            FindOptions::builder()
                .hint(Hint::Name("x_y".into()))
                .sort(doc! {"_id": 1})
                .build(),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&hinted), vec![1, 3]);
    for hint in [
        Bson::String("x_y".into()),
        Bson::String("_id_".into()),
        Bson::Document(doc! {"x": 1, "y": -1}),
        Bson::Document(doc! {"x": 1_i64, "y": -1.0}),
        Bson::Document(doc! {"$natural": 1}),
        Bson::Document(doc! {"$natural": -1}),
    ] {
        for command in commands_with(hint.clone()) {
            let name = command.keys().next().unwrap().to_string();
            let reply = test.run(command).await;
            assert!(reply.is_ok(), "{name} with hint {hint}: {reply:?}");
        }
    }
    let count = test
        .run(doc! {"count": "c", "query": {"y": "a"}, "hint": "x_y"})
        .await
        .unwrap();
    assert_eq!(count.get_i32("n").unwrap(), 2);
}

#[tokio::test]
async fn a_hint_naming_no_index_is_bad_value_and_changes_nothing() {
    let test = TestServer::start().await;
    indexed(&test).await;
    for hint in [
        Bson::String("nope".into()),
        Bson::Document(doc! {"y": -1, "x": 1}),
        Bson::Document(doc! {"x": 1}),
        Bson::Document(doc! {"$natural": 2}),
    ] {
        for command in commands_with(hint.clone()) {
            let name = command.keys().next().unwrap().to_string();
            let error = test.run(command).await.unwrap_err();
            assert_eq!(server_error(&error).code, 2, "{name} with hint {hint}");
        }
    }
    let untouched = test
        .collection("c")
        .find_one(doc! {"_id": 1})
        .await
        .unwrap()
        .unwrap();
    assert!(untouched.get("n").is_none(), "findAndModify ran nothing");
    let wrong_type = test.run(doc! {"find": "c", "hint": 5}).await.unwrap_err();
    assert_eq!(server_error(&wrong_type).code, 14);
}

#[tokio::test]
async fn a_hint_on_a_collection_that_does_not_exist_finds_nothing() {
    let test = TestServer::start().await;
    let reply = test
        .run(doc! {"find": "missing", "hint": "x_1"})
        .await
        .unwrap();
    assert!(reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .is_empty());
}
