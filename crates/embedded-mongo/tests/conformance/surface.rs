//! The command surface (`embedded_mongo::commands::surface::SURFACE`) walked through the driver:
//! every option the store accepts is implemented (a named behavioural test exists) or inert,
//! every other one is refused with its code before anything is written; plus the behavioural
//! tests the table names that no other module had, and the silent wrong answers of issue #16.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use embedded_mongo::commands::surface::{Support, SURFACE};

use crate::fixture::{number, server_error, write_error_codes, TestServer};

/// A minimal valid body for each command of the surface, against collection `c`.
fn base_body(command: &str, collection: &str) -> Document {
    match command {
        "find" => doc! {"find": collection},
        "insert" => doc! {"insert": collection, "documents": [{"x": 1}]},
        "update" => doc! {"update": collection, "updates": [{"q": {}, "u": {"$set": {"x": 2}}}]},
        "delete" => doc! {"delete": collection, "deletes": [{"q": {}, "limit": 0}]},
        "findAndModify" => {
            doc! {"findAndModify": collection, "query": {}, "update": {"$set": {"x": 3}}}
        }
        "aggregate" => doc! {"aggregate": collection, "pipeline": [], "cursor": {}},
        "count" => doc! {"count": collection},
        "distinct" => doc! {"distinct": collection, "key": "x"},
        "getMore" => doc! {"getMore": 4242i64, "collection": collection},
        "killCursors" => doc! {"killCursors": collection, "cursors": []},
        "listCollections" => doc! {"listCollections": 1},
        "listDatabases" => doc! {"listDatabases": 1},
        "listIndexes" => doc! {"listIndexes": collection},
        "create" => doc! {"create": format!("{collection}_new")},
        "collMod" => doc! {"collMod": collection},
        "createIndexes" => {
            doc! {"createIndexes": collection, "indexes": [{"key": {"y": 1}, "name": "y_1"}]}
        }
        "dropIndexes" => doc! {"dropIndexes": collection, "index": "*"},
        "drop" => doc! {"drop": collection},
        "dropDatabase" => doc! {"dropDatabase": 1},
        "renameCollection" => {
            doc! {"renameCollection": format!("conformance.{collection}"), "to": format!("conformance.{collection}_renamed")}
        }
        "$changeStream" => {
            doc! {"aggregate": collection, "pipeline": [{"$changeStream": {}}], "cursor": {}}
        }
        other => panic!("the surface walk has no base body for {other}: add one"),
    }
}

/// A value of the right shape for an inert option, so mongod would accept it too.
fn inert_value(option: &str) -> Bson {
    match option {
        "commitQuorum" => Bson::String("majority".into()),
        "indexes.default_language" => Bson::String("english".into()),
        "indexes.language_override" => Bson::String("language".into()),
        "indexes.textIndexVersion" => Bson::Int32(3),
        "indexes.v" => Bson::Int32(2),
        "indexes.hidden" => Bson::Boolean(false),
        "indexes.ns" => Bson::String("conformance.c".into()),
        _ => Bson::Boolean(true),
    }
}

/// `body` with `option` set: top level, inside the first statement for dotted options, or in
/// the first stage's document when the body is a pipeline's (`$changeStream`).
fn with_option(mut body: Document, option: &str, value: Bson) -> Document {
    if let Ok(pipeline) = body.get_array_mut("pipeline") {
        if let Some(Bson::Document(first)) = pipeline.first_mut() {
            if let Ok(stage) = first.get_document_mut("$changeStream") {
                stage.insert(option, value);
                return body;
            }
        }
    }
    match option.split_once('.') {
        Some((array, field)) => {
            let Some(Bson::Array(statements)) = body.get_mut(array) else {
                panic!("{option}: the base body has no {array}");
            };
            let Some(Bson::Document(first)) = statements.first_mut() else {
                panic!("{option}: the base body's {array} is empty");
            };
            first.insert(field, value);
        }
        None => {
            body.insert(option, value);
        }
    }
    body
}

fn database_for(command: &str) -> &'static str {
    if matches!(command, "listDatabases" | "renameCollection") {
        "admin"
    } else {
        "conformance"
    }
}

#[tokio::test]
async fn every_option_of_the_surface_is_implemented_with_a_test_inert_or_refused_with_its_code() {
    let test = TestServer::start().await;
    let manifest = env!("CARGO_MANIFEST_DIR");
    let mut walked = 0;
    for (number, surface) in SURFACE.iter().enumerate() {
        let collection = format!("c{number}");
        let database = test.client.database(database_for(surface.command));
        let unknown = with_option(
            base_body(surface.command, &collection),
            "notAnOption",
            Bson::Int32(1),
        );
        let error = database.run_command(unknown).await.unwrap_err();
        let error = server_error(&error);
        assert_eq!(
            (error.code, error.message.as_str()),
            (
                40415,
                format!(
                    "BSON field '{}.notAnOption' is an unknown field.",
                    surface.command
                )
                .as_str()
            ),
            "{}",
            surface.command
        );
        for option in surface.options {
            walked += 1;
            let label = format!("{}.{}", surface.command, option.name);
            match option.support {
                Support::Implemented { tested_by } => {
                    let (file, name) = tested_by
                        .split_once("::")
                        .unwrap_or_else(|| panic!("{label}: tested_by is file::test"));
                    let source = std::fs::read_to_string(format!("{manifest}/tests/{file}"))
                        .unwrap_or_else(|_| panic!("{label}: tests/{file} does not exist"));
                    assert!(
                        source.contains(&format!("fn {name}(")),
                        "{label}: no test named {name} in tests/{file}"
                    );
                }
                Support::Inert { .. } => {
                    let body = with_option(
                        base_body(surface.command, &format!("{collection}_{walked}")),
                        option.name,
                        inert_value(option.name),
                    );
                    let reply = database.run_command(body).await;
                    assert!(
                        reply.is_ok(),
                        "{label} is inert yet refused: {:?}",
                        reply.unwrap_err()
                    );
                }
                Support::Refused { code, .. } => {
                    test.collection("witness").drop().await.unwrap();
                    let body = with_option(
                        base_body(surface.command, "witness"),
                        option.name,
                        Bson::Document(doc! {}),
                    );
                    let error = database.run_command(body).await.unwrap_err();
                    let error = server_error(&error);
                    assert_eq!(error.code, code, "{label}: {}", error.message);
                    let label = label.trim_start_matches('$');
                    assert!(
                        error.message.contains(label),
                        "{label}: the message names the option: {}",
                        error.message
                    );
                    let names = test.db.list_collection_names().await.unwrap();
                    assert!(
                        !names.contains(&"witness".to_string()),
                        "{label}: a refused command wrote nothing"
                    );
                }
            }
        }
    }
    assert!(walked > 100, "the walk covered {walked} options");
}

#[tokio::test]
async fn collation_on_an_aggregate_grouping_strings_is_refused_not_ignored() {
    let test = TestServer::start().await;
    test.collection("people")
        .insert_many([doc! {"name": "b"}, doc! {"name": "A"}])
        .await
        .unwrap();
    let error = test
        .collection("people")
        .aggregate(vec![doc! {"$group": {"_id": "$name"}}])
        .collation(
            mongodb::options::Collation::builder()
                .locale("en")
                .strength(mongodb::options::CollationStrength::Secondary)
                .build(),
        )
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (238, "NotImplemented")
    );
}

#[tokio::test]
async fn the_simple_collation_is_binary_comparison_on_every_read_and_write() {
    let test = TestServer::start().await;
    test.collection("people")
        .insert_many([doc! {"_id": 1, "name": "b"}, doc! {"_id": 2, "name": "A"}])
        .await
        .unwrap();
    let simple = doc! {"locale": "simple"};
    let found = test
        .run(doc! {"find": "people", "filter": {"name": "a"}, "sort": {"name": 1}, "collation": simple.clone()})
        .await
        .unwrap();
    let batch = found
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap();
    assert!(batch.is_empty(), "binary comparison: 'a' is not 'A'");
    for command in [
        doc! {"count": "people", "query": {"name": "A"}, "collation": simple.clone()},
        doc! {"distinct": "people", "key": "name", "collation": simple.clone()},
        doc! {"aggregate": "people", "pipeline": [], "cursor": {}, "collation": simple.clone()},
        doc! {"update": "people", "updates": [{"q": {"name": "A"}, "u": {"$set": {"seen": true}}, "collation": simple.clone()}]},
        doc! {"findAndModify": "people", "query": {"name": "b"}, "update": {"$set": {"seen": true}}, "collation": simple.clone()},
        doc! {"delete": "people", "deletes": [{"q": {"name": "nobody"}, "limit": 0, "collation": simple.clone()}]},
    ] {
        let name = command.keys().next().unwrap().to_string();
        let reply = test.run(command).await;
        assert!(reply.is_ok(), "{name}: {reply:?}");
    }
    let counted = test
        .run(doc! {"count": "people", "query": {"name": "A"}, "collation": simple.clone()})
        .await
        .unwrap();
    assert_eq!(counted.get_i32("n").unwrap(), 1);
    // A simple collation takes no other field (2 BadValue, as mongod), and a collection still
    // refuses one.
    let english = test
        .run(doc! {"count": "people", "collation": {"locale": "simple", "strength": 2}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&english).code, 2);
    let on_create = test
        .run(doc! {"create": "sorted", "collation": simple})
        .await
        .unwrap_err();
    assert_eq!(server_error(&on_create).code, 238);
}

#[tokio::test]
async fn sort_on_an_update_statement_is_an_unknown_field_on_a_7_0_server_and_changes_nothing() {
    let test = TestServer::start().await;
    test.collection("c")
        .insert_many([doc! {"_id": 1, "x": 1}, doc! {"_id": 2, "x": 2}])
        .await
        .unwrap();
    let error = test
        .run(doc! {"update": "c", "updates": [{"q": {}, "u": {"$set": {"x": 9}}, "sort": {"_id": -1}}]})
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 40415);
    assert_eq!(error.code_name, "Location40415");
    let xs: Vec<i64> = test
        .collection("c")
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|document| number(document, "x"))
        .collect();
    assert_eq!(xs, vec![1, 2]);
}

#[tokio::test]
async fn writes_and_list_commands_refuse_snapshot_read_concern_outside_a_transaction() {
    let test = TestServer::start().await;
    let error = test
        .run(doc! {"insert": "c", "documents": [{"x": 1}], "readConcern": {"level": "snapshot"}})
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (72, "InvalidOptions")
    );
    assert!(
        error.message.contains("Command insert does not support"),
        "{}",
        error.message
    );
    assert_eq!(
        test.collection("c").count_documents(doc! {}).await.unwrap(),
        0
    );
    let error = test
        .run(doc! {"listCollections": 1, "readConcern": {"level": "snapshot"}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 72);
    let bad_level = test
        .run(doc! {"find": "c", "readConcern": {"level": "eventual"}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&bad_level).code, 2);
}

#[tokio::test]
async fn an_id_holding_a_dollar_prefixed_field_is_invalid_id_field_53() {
    let test = TestServer::start().await;
    let error = test
        .collection("c")
        .insert_one(doc! {"_id": {"$gt": 1}})
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (53, "InvalidIdField")
    );
    assert!(
        error.message.contains("$gt is not valid for storage"),
        "{}",
        error.message
    );
    let error = test
        .collection("c")
        .insert_one(doc! {"_id": {"a": {"$b": 1}}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 53);
    assert_eq!(
        test.collection("c").count_documents(doc! {}).await.unwrap(),
        0
    );
    let error = test
        .collection("c")
        .replace_one(doc! {"k": 1}, doc! {"_id": {"$x": 1}})
        .upsert(true)
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 53);
    assert_eq!(
        test.collection("c").count_documents(doc! {}).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn an_unordered_update_applies_the_statements_after_a_failed_one() {
    let test = TestServer::start().await;
    test.collection("c")
        .insert_many([doc! {"_id": 1, "x": "text"}, doc! {"_id": 2, "x": 1}])
        .await
        .unwrap();
    let reply = test
        .run(doc! {"update": "c", "ordered": false, "updates": [
            {"q": {"_id": 1}, "u": {"$inc": {"x": 1}}},
            {"q": {"_id": 2}, "u": {"$inc": {"x": 1}}},
        ]})
        .await
        .unwrap();
    assert_eq!(write_error_codes(&reply), vec![(0, 14)]);
    assert_eq!(number(&reply, "nModified"), 1);
    let ordered = test
        .run(doc! {"update": "c", "updates": [
            {"q": {"_id": 1}, "u": {"$inc": {"x": 1}}},
            {"q": {"_id": 2}, "u": {"$inc": {"x": 1}}},
        ]})
        .await
        .unwrap();
    assert_eq!(number(&ordered, "nModified"), 0);
    let second = test
        .collection("c")
        .find_one(doc! {"_id": 2})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(number(&second, "x"), 2);
}

#[tokio::test]
async fn an_unordered_delete_applies_the_statements_after_a_failed_one() {
    let test = TestServer::start().await;
    test.collection("c")
        .insert_many([doc! {"_id": 1}, doc! {"_id": 2}])
        .await
        .unwrap();
    let reply = test
        .run(doc! {"delete": "c", "ordered": false, "deletes": [
            {"q": {"$bogus": 1}, "limit": 0},
            {"q": {"_id": 2}, "limit": 1},
        ]})
        .await;
    match reply {
        Ok(reply) => {
            assert_eq!(number(&reply, "n"), 1);
            assert_eq!(write_error_codes(&reply).len(), 1);
        }
        // A filter that does not parse fails the whole command in mongod; then nothing ran.
        Err(error) => {
            assert_eq!(server_error(&error).code, 2);
            let reply = test
                .run(doc! {"delete": "c", "ordered": false, "deletes": [
                    {"q": {"_id": 7}, "limit": 1},
                    {"q": {"_id": 2}, "limit": 1},
                ]})
                .await
                .unwrap();
            assert_eq!(number(&reply, "n"), 1);
        }
    }
    let left = test.collection("c").count_documents(doc! {}).await.unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn find_and_modify_applies_array_filters() {
    let test = TestServer::start().await;
    test.collection("c")
        .insert_one(doc! {"_id": 1, "grades": [80, 95, 100]})
        .await
        .unwrap();
    let reply = test
        .run(doc! {
            "findAndModify": "c",
            "query": {"_id": 1},
            "update": {"$set": {"grades.$[high]": 90}},
            "arrayFilters": [{"high": {"$gte": 95}}],
            "new": true,
        })
        .await
        .unwrap();
    let value = reply.get_document("value").unwrap();
    let grades: Vec<i64> = value
        .get_array("grades")
        .unwrap()
        .iter()
        .map(|grade| grade.as_i32().map(i64::from).unwrap())
        .collect();
    assert_eq!(grades, vec![80, 90, 90]);
}

#[tokio::test]
async fn find_and_modify_can_bypass_the_validator() {
    let test = TestServer::start().await;
    test.run(doc! {"create": "c", "validator": {"x": {"$type": "int"}}})
        .await
        .unwrap();
    test.collection("c")
        .insert_one(doc! {"_id": 1, "x": 1})
        .await
        .unwrap();
    let refused = test
        .run(doc! {"findAndModify": "c", "query": {"_id": 1}, "update": {"$set": {"x": "s"}}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&refused).code, 121);
    test.run(doc! {
        "findAndModify": "c",
        "query": {"_id": 1},
        "update": {"$set": {"x": "s"}},
        "bypassDocumentValidation": true,
    })
    .await
    .unwrap();
    let stored = test
        .collection("c")
        .find_one(doc! {"_id": 1})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("x").unwrap(), "s");
}

#[tokio::test]
async fn distinct_honours_its_query() {
    let test = TestServer::start().await;
    test.collection("c")
        .insert_many([
            doc! {"kind": "a", "v": 1},
            doc! {"kind": "b", "v": 2},
            doc! {"kind": "a", "v": 3},
        ])
        .await
        .unwrap();
    let mut values: Vec<i64> = test
        .collection("c")
        .distinct("v", doc! {"kind": "a"})
        .await
        .unwrap()
        .iter()
        .map(|value| value.as_i32().map(i64::from).unwrap())
        .collect();
    values.sort();
    assert_eq!(values, vec![1, 3]);
}

#[tokio::test]
async fn list_collections_honours_the_cursor_batch_size() {
    let test = TestServer::start().await;
    for name in ["a", "b", "c"] {
        test.run(doc! {"create": name}).await.unwrap();
    }
    let reply = test
        .run(doc! {"listCollections": 1, "cursor": {"batchSize": 1}})
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 1);
    assert_ne!(cursor.get_i64("id").unwrap(), 0);
}

#[tokio::test]
async fn list_indexes_honours_the_cursor_batch_size() {
    let test = TestServer::start().await;
    test.run(doc! {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1"}]})
        .await
        .unwrap();
    let reply = test
        .run(doc! {"listIndexes": "c", "cursor": {"batchSize": 1}})
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 1);
    assert_ne!(cursor.get_i64("id").unwrap(), 0);
}

#[tokio::test]
async fn list_databases_honours_its_filter() {
    let test = TestServer::start().await;
    for database in ["keep_me", "skip_me"] {
        test.client
            .database(database)
            .collection::<Document>("c")
            .insert_one(doc! {"x": 1})
            .await
            .unwrap();
    }
    let names = test
        .client
        .list_database_names()
        .filter(doc! {"name": {"$regex": "^keep"}})
        .await
        .unwrap();
    assert_eq!(names, vec!["keep_me".to_string()]);
}

#[tokio::test]
async fn coll_mod_changes_the_validation_level() {
    let test = TestServer::start().await;
    test.run(doc! {"create": "c", "validator": {"x": {"$type": "int"}}})
        .await
        .unwrap();
    test.run(doc! {"collMod": "c", "validationLevel": "off"})
        .await
        .unwrap();
    test.collection("c")
        .insert_one(doc! {"x": "not an int"})
        .await
        .unwrap();
    test.run(doc! {"collMod": "c", "validationLevel": "strict", "validationAction": "error"})
        .await
        .unwrap();
    let error = test
        .collection("c")
        .insert_one(doc! {"x": "again"})
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 121);
    assert_eq!(
        test.collection("c").count_documents(doc! {}).await.unwrap(),
        1
    );
}

#[tokio::test]
async fn coll_mod_changes_a_ttl_index_expiry() {
    let test = TestServer::start().await;
    test.run(doc! {"createIndexes": "c", "indexes": [
        {"key": {"at": 1}, "name": "at_1", "expireAfterSeconds": 60}
    ]})
    .await
    .unwrap();
    let reply = test
        .run(doc! {"collMod": "c", "index": {"name": "at_1", "expireAfterSeconds": 5}})
        .await
        .unwrap();
    assert_eq!(number(&reply, "expireAfterSeconds_old"), 60);
    assert_eq!(number(&reply, "expireAfterSeconds_new"), 5);
    let indexes: Vec<Document> = test
        .collection("c")
        .list_indexes()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|model| mongodb::bson::to_document(&model).unwrap())
        .collect();
    let ttl = indexes
        .iter()
        .find(|index| {
            index
                .get_document("key")
                .is_ok_and(|key| key.contains_key("at"))
        })
        .expect("the TTL index is listed");
    let options = ttl.get_document("options").unwrap_or(ttl);
    assert_eq!(number(options, "expireAfterSeconds"), 5);
}

#[tokio::test]
async fn an_invalid_update_pipeline_stage_fails_the_whole_command_and_writes_nothing() {
    let test = TestServer::start().await;
    test.collection("c")
        .insert_many([doc! {"_id": 1, "x": 1}, doc! {"_id": 2, "x": 2}])
        .await
        .unwrap();
    let error = test
        .run(doc! {"update": "c", "ordered": false, "updates": [
            {"q": {"_id": 1}, "u": {"$set": {"x": 10}}},
            {"q": {"_id": 2}, "u": [{"$match": {"x": 2}}]},
        ]})
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (72, "InvalidOptions")
    );
    assert!(error
        .message
        .contains("$match is not allowed to be used within an update"));
    let first = test
        .collection("c")
        .find_one(doc! {"_id": 1})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        number(&first, "x"),
        1,
        "the valid statement did not run either"
    );
    let error = test
        .run(doc! {"findAndModify": "c", "query": {}, "update": [{"$bogus": {}}]})
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 40324);
}

#[tokio::test]
async fn a_change_stream_started_at_an_operation_time_sees_the_writes_after_it() {
    let test = TestServer::start().await;
    let collection = test.collection("c");
    collection.insert_one(doc! {"_id": 1}).await.unwrap();
    let reply = test.run(doc! {"ping": 1}).await.unwrap();
    let after_first = reply.get_timestamp("operationTime").unwrap();
    collection.insert_one(doc! {"_id": 2}).await.unwrap();
    let mut stream = collection
        .watch()
        .start_at_operation_time(mongodb::bson::Timestamp {
            time: after_first.time,
            increment: after_first.increment + 1,
        })
        .await
        .unwrap();
    let event = stream.try_next().await.unwrap().expect("the second insert");
    let key = event.document_key.unwrap();
    assert_eq!(key.get_i32("_id").unwrap(), 2);
}
