//! Read-only views (`create` with `viewOn` and `pipeline`): every read (`find`, `count`,
//! `distinct`, `aggregate`, `$lookup`) sees the pipeline's output over the source, views on views
//! included; writes, indexes and change streams on a view are 166 `CommandNotSupportedOnView`;
//! `listCollections` reports `type: "view"`; dropping a view leaves its source alone.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::fixture::{server_error, TestServer};

async fn seeded(test: &TestServer) {
    test.collection("orders")
        .insert_many(vec![
            doc! {"_id": 1, "status": "paid", "total": 30, "customer": "ann"},
            doc! {"_id": 2, "status": "open", "total": 10, "customer": "bob"},
            doc! {"_id": 3, "status": "paid", "total": 20, "customer": "bob"},
        ])
        .await
        .unwrap();
    test.run(doc! {
        "create": "paid",
        "viewOn": "orders",
        "pipeline": [{"$match": {"status": "paid"}}, {"$project": {"status": 0}}],
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_view_shows_its_pipeline_over_its_source_to_every_read() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let view = test.collection("paid");
    let found: Vec<Document> = view
        .find(doc! {"total": {"$gte": 20}})
        .sort(doc! {"total": 1})
        .projection(doc! {"customer": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![
            doc! {"_id": 3, "customer": "bob"},
            doc! {"_id": 1, "customer": "ann"}
        ]
    );
    let limited: Vec<Document> = view
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .skip(1)
        .limit(1)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        limited,
        vec![doc! {"_id": 3, "total": 20, "customer": "bob"}]
    );
    assert_eq!(view.count_documents(doc! {}).await.unwrap(), 2);
    let counted = test
        .run(doc! {"count": "paid", "query": {"customer": "bob"}})
        .await
        .unwrap();
    assert_eq!(counted.get_i32("n").unwrap(), 1);
    let customers = view.distinct("customer", doc! {}).await.unwrap();
    assert_eq!(
        customers,
        vec![Bson::String("ann".into()), Bson::String("bob".into())]
    );
    let sums: Vec<Document> = view
        .aggregate(vec![
            doc! {"$group": {"_id": null, "sum": {"$sum": "$total"}}},
        ])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sums[0].get_i32("sum").unwrap(), 50);
    // A view on the view, and a $lookup into it.
    test.run(doc! {"create": "big_paid", "viewOn": "paid", "pipeline": [{"$match": {"total": {"$gt": 25}}}]})
        .await
        .unwrap();
    let big: Vec<Document> = test
        .collection("big_paid")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(big, vec![doc! {"_id": 1, "total": 30, "customer": "ann"}]);
    let joined: Vec<Document> = test
        .collection("orders")
        .aggregate(vec![
            doc! {"$match": {"_id": 2}},
            doc! {"$lookup": {"from": "paid", "localField": "customer", "foreignField": "customer", "as": "paid"}},
        ])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(joined[0].get_array("paid").unwrap().len(), 1);
    // The source changes show through at once.
    test.collection("orders")
        .update_one(doc! {"_id": 2}, doc! {"$set": {"status": "paid"}})
        .await
        .unwrap();
    assert_eq!(view.count_documents(doc! {}).await.unwrap(), 3);
}

#[tokio::test]
async fn writes_indexes_and_streams_on_a_view_are_refused_and_change_nothing() {
    let test = TestServer::start_replica_set().await;
    seeded(&test).await;
    let view = test.collection("paid");
    let insert = view.insert_one(doc! {"_id": 9}).await.unwrap_err();
    assert_eq!(server_error(&insert).code, 166);
    let update = view
        .update_many(doc! {}, doc! {"$set": {"x": 1}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&update).code, 166);
    let delete = view.delete_many(doc! {}).await.unwrap_err();
    assert_eq!(server_error(&delete).code, 166);
    let modify = view.find_one_and_delete(doc! {}).await.unwrap_err();
    assert_eq!(server_error(&modify).code, 166);
    let index = test
        .run(doc! {"createIndexes": "paid", "indexes": [{"key": {"total": 1}, "name": "total_1"}]})
        .await
        .unwrap_err();
    assert_eq!(server_error(&index).code, 166);
    let indexes = test.run(doc! {"listIndexes": "paid"}).await.unwrap_err();
    assert_eq!(server_error(&indexes).code, 166);
    let stream = view.watch().await.unwrap_err();
    assert_eq!(server_error(&stream).code, 166);
    assert_eq!(
        test.collection("orders")
            .count_documents(doc! {})
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn list_collections_reports_views_and_dropping_one_leaves_its_source() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let reply = test
        .run(doc! {"listCollections": 1, "filter": {"name": "paid"}})
        .await
        .unwrap();
    let entry = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(entry.get_str("type").unwrap(), "view");
    assert_eq!(
        entry
            .get_document("options")
            .unwrap()
            .get_str("viewOn")
            .unwrap(),
        "orders"
    );
    assert!(entry
        .get_document("info")
        .unwrap()
        .get_bool("readOnly")
        .unwrap());
    test.collection("paid").drop().await.unwrap();
    let names = test.db.list_collection_names().await.unwrap();
    assert_eq!(names, vec!["orders".to_string()]);
}

#[tokio::test]
async fn view_definitions_are_checked() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let writing = test
        .run(doc! {"create": "v", "viewOn": "orders", "pipeline": [{"$out": "x"}]})
        .await
        .unwrap_err();
    assert_eq!(server_error(&writing).code, 167);
    let with_validator = test
        .run(doc! {"create": "v", "viewOn": "orders", "validator": {"a": 1}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&with_validator).code, 72);
    let no_source = test
        .run(doc! {"create": "v", "pipeline": []})
        .await
        .unwrap_err();
    assert_eq!(server_error(&no_source).code, 2);
    let exists = test
        .run(doc! {"create": "paid", "viewOn": "orders"})
        .await
        .unwrap_err();
    assert_eq!(server_error(&exists).code, 48);
    // A cycle is caught when read.
    test.run(doc! {"create": "loop_a", "viewOn": "loop_b"})
        .await
        .unwrap();
    test.run(doc! {"create": "loop_b", "viewOn": "loop_a"})
        .await
        .unwrap();
    let cycle = test.run(doc! {"find": "loop_a"}).await.unwrap_err();
    assert_eq!(server_error(&cycle).code, 149);
}
