//! The aggregation stages that write, through the driver: `$out` replaces a collection with the
//! results and keeps its options and indexes; `$merge` folds results in by its `on` fields with
//! every `whenMatched`/`whenNotMatched` mode. A failure writes nothing; neither runs inside a
//! transaction or anywhere but last.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

use crate::fixture::{server_error, TestServer};

async fn contents(test: &TestServer, collection: &str) -> Vec<Document> {
    test.collection(collection)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

async fn run_pipeline(
    test: &TestServer,
    pipeline: Vec<Document>,
) -> mongodb::error::Result<Vec<Document>> {
    test.collection("source")
        .aggregate(pipeline)
        .await?
        .try_collect()
        .await
}

async fn seeded(test: &TestServer) {
    test.collection("source")
        .insert_many(vec![
            doc! {"_id": 1, "sku": "a", "qty": 5},
            doc! {"_id": 2, "sku": "b", "qty": 0},
            doc! {"_id": 3, "sku": "c", "qty": 7},
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn out_replaces_the_target_and_keeps_its_indexes() {
    let test = TestServer::start().await;
    seeded(&test).await;
    test.collection("target")
        .insert_one(doc! {"_id": 99, "sku": "old"})
        .await
        .unwrap();
    test.run(doc! {"createIndexes": "target", "indexes": [{"key": {"sku": 1}, "name": "sku_1", "unique": true}]})
        .await
        .unwrap();
    let returned = run_pipeline(
        &test,
        vec![
            doc! {"$match": {"qty": {"$gt": 0}}},
            doc! {"$out": "target"},
        ],
    )
    .await
    .unwrap();
    assert!(returned.is_empty(), "$out returns an empty cursor");
    assert_eq!(
        contents(&test, "target").await,
        vec![
            doc! {"_id": 1, "sku": "a", "qty": 5},
            doc! {"_id": 3, "sku": "c", "qty": 7}
        ]
    );
    let duplicate = test
        .collection("target")
        .insert_one(doc! {"_id": 4, "sku": "a"})
        .await
        .unwrap_err();
    assert_eq!(
        server_error(&duplicate).code,
        11000,
        "the unique index survived"
    );
    // Into another database, spelled as an object.
    run_pipeline(
        &test,
        vec![doc! {"$out": {"db": "archive", "coll": "copy"}}],
    )
    .await
    .unwrap();
    let copied = test
        .client
        .database("archive")
        .collection::<Document>("copy")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(copied, 3);
}

#[tokio::test]
async fn out_that_would_break_a_unique_index_writes_nothing() {
    let test = TestServer::start().await;
    seeded(&test).await;
    test.collection("target")
        .insert_one(doc! {"_id": 99, "k": 1})
        .await
        .unwrap();
    test.run(doc! {"createIndexes": "target", "indexes": [{"key": {"k": 1}, "name": "k_1", "unique": true}]})
        .await
        .unwrap();
    let error = run_pipeline(
        &test,
        vec![
            doc! {"$project": {"k": {"$literal": 1}}},
            doc! {"$out": "target"},
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(server_error(&error).code, 11000);
    assert_eq!(
        contents(&test, "target").await,
        vec![doc! {"_id": 99, "k": 1}]
    );
}

#[tokio::test]
async fn out_respects_the_target_validator_unless_bypassed() {
    let test = TestServer::start().await;
    seeded(&test).await;
    test.run(doc! {"create": "target", "validator": {"qty": {"$gt": 0}}})
        .await
        .unwrap();
    let error = run_pipeline(&test, vec![doc! {"$out": "target"}])
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 121);
    assert!(contents(&test, "target").await.is_empty());
    test.run(doc! {
        "aggregate": "source",
        "pipeline": [{"$out": "target"}],
        "cursor": {},
        "bypassDocumentValidation": true,
    })
    .await
    .unwrap();
    assert_eq!(contents(&test, "target").await.len(), 3);
}

#[tokio::test]
async fn merge_folds_results_in_by_every_mode() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let reset = || async {
        test.collection("target").drop().await.unwrap();
        test.collection("target")
            .insert_many(vec![
                doc! {"_id": 1, "sku": "a", "qty": 1, "note": "kept"},
                doc! {"_id": 9, "sku": "z", "qty": 9},
            ])
            .await
            .unwrap();
    };
    reset().await;
    // Defaults: merge matched fields, insert the rest.
    run_pipeline(&test, vec![doc! {"$merge": "target"}])
        .await
        .unwrap();
    assert_eq!(
        contents(&test, "target").await,
        vec![
            doc! {"_id": 1, "sku": "a", "qty": 5, "note": "kept"},
            doc! {"_id": 2, "sku": "b", "qty": 0},
            doc! {"_id": 3, "sku": "c", "qty": 7},
            doc! {"_id": 9, "sku": "z", "qty": 9},
        ]
    );
    reset().await;
    run_pipeline(
        &test,
        vec![doc! {"$merge": {"into": "target", "whenMatched": "replace", "whenNotMatched": "discard"}}],
    )
    .await
    .unwrap();
    assert_eq!(
        contents(&test, "target").await,
        vec![
            doc! {"_id": 1, "sku": "a", "qty": 5},
            doc! {"_id": 9, "sku": "z", "qty": 9}
        ]
    );
    reset().await;
    run_pipeline(
        &test,
        vec![doc! {"$merge": {"into": "target", "whenMatched": "keepExisting"}}],
    )
    .await
    .unwrap();
    assert_eq!(
        contents(&test, "target").await[0],
        doc! {"_id": 1, "sku": "a", "qty": 1, "note": "kept"}
    );
    reset().await;
    run_pipeline(
        &test,
        vec![doc! {"$merge": {
            "into": "target",
            "let": {"bonus": 100},
            "whenMatched": [{"$set": {"qty": {"$add": ["$qty", "$$new.qty", "$$bonus"]}}}],
            "whenNotMatched": "discard",
        }}],
    )
    .await
    .unwrap();
    assert_eq!(
        contents(&test, "target").await[0].get_i32("qty").unwrap(),
        106
    );
    reset().await;
    let failed = run_pipeline(
        &test,
        vec![doc! {"$merge": {"into": "target", "whenMatched": "fail"}}],
    )
    .await
    .unwrap_err();
    assert_eq!(server_error(&failed).code, 11000);
    let not_matched = run_pipeline(
        &test,
        vec![doc! {"$merge": {"into": "target", "whenNotMatched": "fail"}}],
    )
    .await
    .unwrap_err();
    assert_eq!(server_error(&not_matched).code, 13113);
    assert_eq!(
        contents(&test, "target").await.len(),
        2,
        "a failed $merge wrote nothing"
    );
}

#[tokio::test]
async fn merge_on_other_fields_needs_a_unique_index_and_present_values() {
    let test = TestServer::start().await;
    seeded(&test).await;
    test.collection("target")
        .insert_one(doc! {"_id": "t1", "sku": "a", "qty": 0})
        .await
        .unwrap();
    let no_index = run_pipeline(
        &test,
        vec![
            doc! {"$project": {"_id": 0}},
            doc! {"$merge": {"into": "target", "on": "sku"}},
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(server_error(&no_index).code, 51183);
    test.run(doc! {"createIndexes": "target", "indexes": [{"key": {"sku": 1}, "name": "sku_1", "unique": true}]})
        .await
        .unwrap();
    run_pipeline(
        &test,
        vec![
            doc! {"$project": {"_id": 0}},
            doc! {"$merge": {"into": "target", "on": "sku"}},
        ],
    )
    .await
    .unwrap();
    let merged = contents(&test, "target").await;
    assert_eq!(merged.len(), 3);
    let a = merged
        .iter()
        .find(|d| d.get_str("sku").ok() == Some("a"))
        .unwrap();
    assert_eq!(
        (a.get_str("_id").unwrap(), a.get_i32("qty").unwrap()),
        ("t1", 5)
    );
    let missing = run_pipeline(
        &test,
        vec![
            doc! {"$project": {"sku": 0}},
            doc! {"$merge": {"into": "target", "on": "sku"}},
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(server_error(&missing).code, 51132);
}

#[tokio::test]
async fn writing_stages_run_only_last_and_outside_transactions() {
    let test = TestServer::start_replica_set().await;
    seeded(&test).await;
    let misplaced = run_pipeline(&test, vec![doc! {"$out": "target"}, doc! {"$match": {}}])
        .await
        .unwrap_err();
    assert_eq!(server_error(&misplaced).code, 40601);
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let in_transaction = test
        .collection("source")
        .aggregate(vec![doc! {"$merge": "target"}])
        .session(&mut session)
        .await
        .unwrap_err();
    assert_eq!(server_error(&in_transaction).code, 263);
    session.abort_transaction().await.unwrap();
    assert!(contents(&test, "target").await.is_empty());
}
