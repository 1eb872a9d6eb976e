//! A command's `let` (MongoDB 5.0+): variables `$expr` sees in the filter of `find`, `update`,
//! `delete`, `findAndModify` and `aggregate`, and that pipeline updates and aggregation stages
//! see as `$$name`. Each value is an expression evaluated once before any document is read.
//! Through the driver's own `let_vars` options where it has them.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::{
    AggregateOptions, DeleteOptions, FindOneAndUpdateOptions, FindOptions, ReturnDocument,
    UpdateOptions,
};

use crate::fixture::{ids, server_error, TestServer};

async fn seeded(test: &TestServer) {
    test.collection("c")
        .insert_many(vec![
            doc! {"_id": 1, "x": 1, "label": "one"},
            doc! {"_id": 2, "x": 2, "label": "two"},
            doc! {"_id": 3, "x": 3, "label": "three"},
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn find_let_variables_reach_expr() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let found: Vec<Document> = test
        .collection("c")
        .find(doc! {"$expr": {"$gte": ["$x", "$$min"]}})
        .with_options(
            FindOptions::builder()
                .let_vars(doc! {"min": {"$add": [1, 1]}})
                .sort(doc! {"_id": 1})
                .build(),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&found), vec![2, 3]);
}

#[tokio::test]
async fn update_let_variables_reach_the_filter_and_a_pipeline_update() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let result = test
        .collection("c")
        .update_many(
            doc! {"$expr": {"$lt": ["$x", "$$limit"]}},
            vec![doc! {"$set": {"tag": "$$tag", "scaled": {"$multiply": ["$x", "$$factor"]}}}],
        )
        .with_options(
            UpdateOptions::builder()
                .let_vars(doc! {"limit": 3, "tag": "small", "factor": 10})
                .build(),
        )
        .await
        .unwrap();
    assert_eq!((result.matched_count, result.modified_count), (2, 2));
    let documents: Vec<Document> = test
        .collection("c")
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(documents[0].get_str("tag").unwrap(), "small");
    assert_eq!(documents[1].get_i32("scaled").unwrap(), 20);
    assert!(
        documents[2].get("tag").is_none(),
        "x = 3 is not below the limit"
    );
}

#[tokio::test]
async fn an_upsert_pipeline_sees_let_variables() {
    let test = TestServer::start().await;
    let result = test
        .collection("c")
        .update_one(
            doc! {"_id": 9, "$expr": {"$eq": ["$x", "$$never"]}},
            vec![doc! {"$set": {"origin": "$$origin"}}],
        )
        .with_options(
            UpdateOptions::builder()
                .upsert(true)
                .let_vars(doc! {"never": -1, "origin": "upserted"})
                .build(),
        )
        .await
        .unwrap();
    assert!(result.upserted_id.is_some());
    let upserted = test
        .collection("c")
        .find_one(doc! {"origin": "upserted"})
        .await
        .unwrap();
    assert!(upserted.is_some(), "the inserted document took $$origin");
}

#[tokio::test]
async fn delete_let_variables_reach_expr() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let result = test
        .collection("c")
        .delete_many(doc! {"$expr": {"$eq": ["$label", "$$doomed"]}})
        .with_options(
            DeleteOptions::builder()
                .let_vars(doc! {"doomed": "two"})
                .build(),
        )
        .await
        .unwrap();
    assert_eq!(result.deleted_count, 1);
    assert_eq!(
        test.collection("c").count_documents(doc! {}).await.unwrap(),
        2
    );
}

#[tokio::test]
async fn find_and_modify_let_variables_reach_the_query_and_a_pipeline_update() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let updated = test
        .collection("c")
        .find_one_and_update(
            doc! {"$expr": {"$eq": ["$x", "$$target"]}},
            vec![doc! {"$set": {"label": {"$concat": ["$label", "$$suffix"]}}}],
        )
        .with_options(
            FindOneAndUpdateOptions::builder()
                .let_vars(doc! {"target": 3, "suffix": "!"})
                .return_document(ReturnDocument::After)
                .build(),
        )
        .await
        .unwrap()
        .expect("x = 3 matches");
    assert_eq!(updated.get_str("label").unwrap(), "three!");
}

#[tokio::test]
async fn aggregate_let_variables_reach_every_stage() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let results: Vec<Document> = test
        .collection("c")
        .aggregate(vec![
            doc! {"$match": {"$expr": {"$gt": ["$x", "$$min"]}}},
            doc! {"$project": {"scaled": {"$multiply": ["$x", "$$factor"]}}},
            doc! {"$sort": {"_id": 1}},
        ])
        .with_options(
            AggregateOptions::builder()
                .let_vars(doc! {"min": 1, "factor": 100})
                .build(),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let scaled: Vec<i32> = results
        .iter()
        .map(|document| document.get_i32("scaled").unwrap())
        .collect();
    assert_eq!(scaled, vec![200, 300]);
}

#[tokio::test]
async fn let_values_are_evaluated_once_without_a_document() {
    let test = TestServer::start().await;
    seeded(&test).await;
    // A field path in `let` sees no document, so `$$fromField` is missing and matches nothing;
    // `$$NOW` and operators work.
    let reply = test
        .run(doc! {
            "find": "c",
            "filter": {"$expr": {"$and": [
                {"$eq": ["$$fromField", "$$REMOVE"]},
                {"$lt": ["$$created", "$$NOW"]},
                {"$eq": ["$x", "$$two"]},
            ]}},
            "let": {"fromField": "$x", "created": {"$subtract": ["$$NOW", 1000]}, "two": {"$add": [1, 1]}},
        })
        .await
        .unwrap();
    let batch = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap();
    assert_eq!(batch.len(), 1, "{reply}");
}

#[tokio::test]
async fn let_refuses_what_mongod_refuses() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let capitalised = test
        .run(doc! {"find": "c", "filter": {}, "let": {"Bad": 1}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&capitalised).code, 16870);
    let not_a_document = test
        .run(doc! {"find": "c", "filter": {}, "let": 5})
        .await
        .unwrap_err();
    assert_eq!(server_error(&not_a_document).code, 14);
    let undefined = test
        .run(doc! {"find": "c", "filter": {"$expr": {"$eq": ["$x", "$$nobody"]}}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&undefined).code, 17276);
}

#[tokio::test]
async fn an_expression_error_in_a_filter_fails_the_command_instead_of_matching_nothing() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let dividing = doc! {"$expr": {"$gt": [{"$divide": [10, {"$subtract": ["$x", 2]}]}, 0]}};
    for command in [
        doc! {"find": "c", "filter": dividing.clone()},
        doc! {"count": "c", "query": dividing.clone()},
        doc! {"delete": "c", "deletes": [{"q": dividing.clone(), "limit": 0}]},
        doc! {"aggregate": "c", "pipeline": [{"$sort": {"_id": 1}}, {"$match": dividing.clone()}], "cursor": {}},
    ] {
        let name = command.keys().next().unwrap().to_string();
        let reply = test.run(command).await;
        match reply {
            Err(error) => assert_eq!(server_error(&error).code, 2, "{name}"),
            // A write command reports the failure as a write error.
            Ok(reply) => assert_eq!(
                crate::fixture::write_error_codes(&reply)
                    .first()
                    .map(|(_, code)| *code),
                Some(2),
                "{name}: {reply}"
            ),
        }
    }
    assert_eq!(
        test.collection("c").count_documents(doc! {}).await.unwrap(),
        3,
        "nothing was deleted"
    );
}

#[tokio::test]
async fn pipeline_update_constants_are_seen_as_variables() {
    let test = TestServer::start().await;
    seeded(&test).await;
    let reply = test
        .run(doc! {
            "update": "c",
            "updates": [{
                "q": {"$expr": {"$eq": ["$x", "$$which"]}},
                "u": [{"$set": {"label": {"$concat": ["$label", "$$suffix"]}}}],
                "c": {"suffix": "-c"},
            }],
            "let": {"which": 2, "suffix": "-let"},
        })
        .await
        .unwrap();
    assert_eq!(reply.get_i32("nModified").unwrap(), 1, "{reply}");
    let changed = test
        .collection("c")
        .find_one(doc! {"_id": 2})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.get_str("label").unwrap(), "two-c", "c shadows let");
    let not_a_pipeline = test
        .run(doc! {
            "update": "c",
            "updates": [{"q": {}, "u": {"$set": {"y": 1}}, "c": {"k": 1}}],
        })
        .await
        .unwrap_err();
    assert_eq!(server_error(&not_a_pipeline).code, 51198);
}
