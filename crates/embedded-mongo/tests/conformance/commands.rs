//! Every command in the "Commands" list, asserting the reply shapes and error codes the
//! MongoDB manual documents: database and collection administration, CRUD, cursors, count,
//! distinct and findAndModify.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use crate::fixture::{ids, number, server_error, write_error_codes, TestServer};

async fn seed_numbers(test: &TestServer, name: &str, count: i32) {
    let documents: Vec<Document> = (1..=count).map(|n| doc! { "_id": n, "n": n }).collect();
    test.collection(name).insert_many(documents).await.unwrap();
}

#[tokio::test]
async fn list_databases_reports_name_size_and_empty() {
    let test = TestServer::start().await;
    test.collection("a")
        .insert_one(doc! { "x": 1 })
        .await
        .unwrap();
    let reply = test
        .client
        .database("admin")
        .run_command(doc! { "listDatabases": 1 })
        .await
        .unwrap();
    let databases = reply.get_array("databases").unwrap();
    let ours = databases
        .iter()
        .map(|entry| entry.as_document().unwrap())
        .find(|entry| entry.get_str("name").unwrap() == "conformance")
        .expect("the written database is listed");
    assert!(ours.contains_key("sizeOnDisk"));
    assert_eq!(ours.get_bool("empty").unwrap(), false);
    assert!(reply.contains_key("totalSize"));
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn list_databases_name_only_returns_only_names() {
    let test = TestServer::start().await;
    test.collection("a")
        .insert_one(doc! { "x": 1 })
        .await
        .unwrap();
    test.client
        .database("other")
        .collection::<Document>("b")
        .insert_one(doc! { "x": 1 })
        .await
        .unwrap();
    let names = test.client.list_database_names().await.unwrap();
    assert!(names.contains(&"conformance".to_string()), "{names:?}");
    assert!(names.contains(&"other".to_string()), "{names:?}");
    let reply = test
        .client
        .database("admin")
        .run_command(doc! { "listDatabases": 1, "nameOnly": true })
        .await
        .unwrap();
    for entry in reply.get_array("databases").unwrap() {
        let keys: Vec<&str> = entry
            .as_document()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, vec!["name"]);
    }
}

#[tokio::test]
async fn list_collections_reports_type_options_info_and_id_index() {
    let test = TestServer::start().await;
    test.run(doc! { "create": "plain" }).await.unwrap();
    let reply = test.run(doc! { "listCollections": 1 }).await.unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(number(cursor, "id"), 0);
    assert_eq!(
        cursor.get_str("ns").unwrap(),
        "conformance.$cmd.listCollections"
    );
    let batch = cursor.get_array("firstBatch").unwrap();
    assert_eq!(batch.len(), 1);
    let entry = batch[0].as_document().unwrap();
    assert_eq!(entry.get_str("name").unwrap(), "plain");
    assert_eq!(entry.get_str("type").unwrap(), "collection");
    assert_eq!(entry.get_document("options").unwrap(), &doc! {});
    let info = entry.get_document("info").unwrap();
    assert_eq!(info.get_bool("readOnly").unwrap(), false);
    assert!(matches!(info.get("uuid"), Some(Bson::Binary(binary)) if binary.bytes.len() == 16));
    let id_index = entry.get_document("idIndex").unwrap();
    assert_eq!(id_index.get_document("key").unwrap(), &doc! { "_id": 1 });
    assert_eq!(id_index.get_str("name").unwrap(), "_id_");
}

#[tokio::test]
async fn list_collections_filter_and_name_only() {
    let test = TestServer::start().await;
    for name in ["apples", "apricots", "bananas"] {
        test.db.create_collection(name).await.unwrap();
    }
    let mut names = test
        .db
        .list_collection_names()
        .filter(doc! { "name": { "$regex": "^ap" } })
        .await
        .unwrap();
    names.sort();
    assert_eq!(names, vec!["apples", "apricots"]);
    let reply = test
        .run(doc! { "listCollections": 1, "nameOnly": true, "filter": { "name": "bananas" } })
        .await
        .unwrap();
    let batch = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(
        batch[0].as_document().unwrap(),
        &doc! { "name": "bananas", "type": "collection" }
    );
}

#[tokio::test]
async fn create_existing_collection_fails_with_namespace_exists_48() {
    let test = TestServer::start().await;
    test.db.create_collection("twice").await.unwrap();
    let error = test.db.create_collection("twice").await.unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 48);
    assert_eq!(error.code_name, "NamespaceExists");
}

#[tokio::test]
async fn create_with_validator_stores_it_in_list_collections_options() {
    let test = TestServer::start().await;
    let validator = doc! { "$jsonSchema": { "bsonType": "object", "required": ["name"] } };
    test.run(doc! { "create": "checked", "validator": validator.clone() })
        .await
        .unwrap();
    let reply = test
        .run(doc! { "listCollections": 1, "filter": { "name": "checked" } })
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
    let options = entry.get_document("options").unwrap();
    assert_eq!(options.get_document("validator").unwrap(), &validator);
    let error = test
        .collection("checked")
        .insert_one(doc! { "other": 1 })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 121);
}

#[tokio::test]
async fn coll_mod_replaces_the_validator() {
    let test = TestServer::start().await;
    test.run(doc! { "create": "loose" }).await.unwrap();
    test.collection("loose")
        .insert_one(doc! { "_id": 1 })
        .await
        .unwrap();
    let reply = test
        .run(doc! {
            "collMod": "loose",
            "validator": { "$jsonSchema": { "required": ["name"] } },
            "validationLevel": "strict",
        })
        .await
        .unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
    let error = test
        .collection("loose")
        .insert_one(doc! { "_id": 2 })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 121);
    test.collection("loose")
        .insert_one(doc! { "_id": 3, "name": "ok" })
        .await
        .unwrap();
    let reply = test
        .run(doc! { "listCollections": 1, "filter": { "name": "loose" } })
        .await
        .unwrap();
    let options = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()[0]
        .as_document()
        .unwrap()
        .get_document("options")
        .unwrap()
        .clone();
    assert_eq!(
        options.get_document("validator").unwrap(),
        &doc! { "$jsonSchema": { "required": ["name"] } }
    );
    assert_eq!(options.get_str("validationLevel").unwrap(), "strict");
}

#[tokio::test]
async fn coll_mod_on_missing_collection_fails_with_namespace_not_found_26() {
    let test = TestServer::start().await;
    let error = test
        .run(doc! { "collMod": "missing", "validator": {} })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 26);
    assert_eq!(error.code_name, "NamespaceNotFound");
}

#[tokio::test]
async fn drop_removes_the_collection_and_its_documents() {
    let test = TestServer::start().await;
    seed_numbers(&test, "doomed", 3).await;
    let reply = test.run(doc! { "drop": "doomed" }).await.unwrap();
    assert_eq!(reply.get_str("ns").unwrap(), "conformance.doomed");
    assert_eq!(number(&reply, "nIndexesWas"), 1);
    let names = test.db.list_collection_names().await.unwrap();
    assert!(!names.contains(&"doomed".to_string()));
    assert_eq!(
        test.collection("doomed")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn drop_of_a_missing_collection_succeeds_through_the_driver() {
    let test = TestServer::start().await;
    test.collection("never").drop().await.unwrap();
}

#[tokio::test]
async fn drop_database_removes_every_collection() {
    let test = TestServer::start().await;
    seed_numbers(&test, "one", 2).await;
    seed_numbers(&test, "two", 2).await;
    let reply = test.run(doc! { "dropDatabase": 1 }).await.unwrap();
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
    assert!(test.db.list_collection_names().await.unwrap().is_empty());
    let names = test.client.list_database_names().await.unwrap();
    assert!(!names.contains(&"conformance".to_string()), "{names:?}");
}

#[tokio::test]
async fn insert_reply_counts_documents() {
    let test = TestServer::start().await;
    let reply = test
        .run(doc! { "insert": "things", "documents": [ { "_id": 1 }, { "_id": 2 } ] })
        .await
        .unwrap();
    assert_eq!(number(&reply, "n"), 2);
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
    assert!(!reply.contains_key("writeErrors"));
}

#[tokio::test]
async fn insert_generates_an_object_id_when_id_is_missing() {
    let test = TestServer::start().await;
    let result = test
        .collection("things")
        .insert_one(doc! { "a": 1 })
        .await
        .unwrap();
    let stored = test
        .collection("things")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(stored.get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(stored.get("_id"), Some(&result.inserted_id));
    let keys: Vec<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["_id", "a"], "_id comes first");
}

#[tokio::test]
async fn raw_insert_without_id_stores_id_first() {
    let test = TestServer::start().await;
    test.run(doc! { "insert": "things", "documents": [ { "a": 1, "b": 2 } ] })
        .await
        .unwrap();
    let stored = test
        .collection("things")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    let keys: Vec<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["_id", "a", "b"]);
}

#[tokio::test]
async fn ordered_insert_stops_at_the_first_duplicate() {
    let test = TestServer::start().await;
    let reply = test
        .run(doc! {
            "insert": "things",
            "documents": [ { "_id": 1 }, { "_id": 1 }, { "_id": 2 } ],
            "ordered": true,
        })
        .await
        .unwrap();
    assert_eq!(number(&reply, "n"), 1);
    assert_eq!(write_error_codes(&reply), vec![(1, 11000)]);
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
    let stored = test.collection("things").find(doc! {}).await.unwrap();
    let stored: Vec<Document> = stored.try_collect().await.unwrap();
    assert_eq!(ids(&stored), vec![1]);
}

#[tokio::test]
async fn unordered_insert_reports_every_failed_document_and_writes_the_rest() {
    let test = TestServer::start().await;
    let reply = test
        .run(doc! {
            "insert": "things",
            "documents": [ { "_id": 1 }, { "_id": 1 }, { "_id": 2 }, { "_id": 2 }, { "_id": 3 } ],
            "ordered": false,
        })
        .await
        .unwrap();
    assert_eq!(number(&reply, "n"), 3);
    assert_eq!(write_error_codes(&reply), vec![(1, 11000), (3, 11000)]);
    let error = reply.get_array("writeErrors").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(
        error.get_str("errmsg").unwrap(),
        "E11000 duplicate key error collection: conformance.things index: _id_ dup key: { _id: 1 }"
    );
    assert_eq!(
        error.get_document("keyPattern").unwrap(),
        &doc! { "_id": 1 }
    );
    assert_eq!(error.get_document("keyValue").unwrap(), &doc! { "_id": 1 });
    let stored: Vec<Document> = test
        .collection("things")
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&stored), vec![1, 2, 3]);
}

#[tokio::test]
async fn driver_insert_many_unordered_surfaces_indexed_write_errors() {
    let test = TestServer::start().await;
    let error = test
        .collection("things")
        .insert_many(vec![
            doc! { "_id": 1 },
            doc! { "_id": 1 },
            doc! { "_id": 2 },
        ])
        .ordered(false)
        .await
        .unwrap_err();
    match &*error.kind {
        mongodb::error::ErrorKind::InsertMany(failure) => {
            let errors = failure.write_errors.as_ref().unwrap();
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].index, 1);
            assert_eq!(errors[0].code, 11000);
        }
        other => panic!("expected an InsertMany error, got {other:?}"),
    }
    assert_eq!(
        test.collection("things")
            .count_documents(doc! {})
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn find_applies_filter_sort_skip_limit_and_projection() {
    let test = TestServer::start().await;
    let documents: Vec<Document> = (1..=10)
        .map(|n| doc! { "_id": n, "n": n, "parity": if n % 2 == 0 { "even" } else { "odd" }, "extra": "x" })
        .collect();
    test.collection("numbers")
        .insert_many(documents)
        .await
        .unwrap();
    let found: Vec<Document> = test
        .collection("numbers")
        .find(doc! { "parity": "even" })
        .sort(doc! { "n": -1 })
        .skip(1)
        .limit(3)
        .projection(doc! { "n": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![
            doc! { "_id": 8, "n": 8 },
            doc! { "_id": 6, "n": 6 },
            doc! { "_id": 4, "n": 4 }
        ]
    );
}

#[tokio::test]
async fn find_reply_has_first_batch_cursor_id_and_namespace() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 5).await;
    let reply = test
        .run(doc! { "find": "numbers", "filter": {}, "sort": { "_id": 1 }, "batchSize": 2 })
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(cursor.get_str("ns").unwrap(), "conformance.numbers");
    assert_ne!(number(cursor, "id"), 0, "more results remain");
    let batch: Vec<Document> = cursor
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|entry| entry.as_document().unwrap().clone())
        .collect();
    assert_eq!(ids(&batch), vec![1, 2]);
}

#[tokio::test]
async fn get_more_returns_next_batches_until_the_cursor_is_exhausted() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 5).await;
    let reply = test
        .run(doc! { "find": "numbers", "sort": { "_id": 1 }, "batchSize": 2 })
        .await
        .unwrap();
    let cursor_id = reply.get_document("cursor").unwrap().get_i64("id").unwrap();
    let more = test
        .run(doc! { "getMore": cursor_id, "collection": "numbers", "batchSize": 2 })
        .await
        .unwrap();
    let cursor = more.get_document("cursor").unwrap();
    assert_eq!(cursor.get_i64("id").unwrap(), cursor_id);
    assert_eq!(cursor.get_str("ns").unwrap(), "conformance.numbers");
    let batch: Vec<Document> = cursor
        .get_array("nextBatch")
        .unwrap()
        .iter()
        .map(|entry| entry.as_document().unwrap().clone())
        .collect();
    assert_eq!(ids(&batch), vec![3, 4]);
    let last = test
        .run(doc! { "getMore": cursor_id, "collection": "numbers", "batchSize": 2 })
        .await
        .unwrap();
    let cursor = last.get_document("cursor").unwrap();
    assert_eq!(
        cursor.get_i64("id").unwrap(),
        0,
        "an exhausted cursor reports id 0"
    );
    assert_eq!(cursor.get_array("nextBatch").unwrap().len(), 1);
    let error = test
        .run(doc! { "getMore": cursor_id, "collection": "numbers" })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 43);
    assert_eq!(error.code_name, "CursorNotFound");
}

#[tokio::test]
async fn driver_cursor_iterates_across_many_batches() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 250).await;
    let found: Vec<Document> = test
        .collection("numbers")
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .batch_size(7)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&found), (1..=250).collect::<Vec<i32>>());
}

#[tokio::test]
async fn single_batch_closes_the_cursor() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 5).await;
    let reply = test
        .run(doc! { "find": "numbers", "batchSize": 2, "singleBatch": true })
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(number(cursor, "id"), 0);
    assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 2);
}

#[tokio::test]
async fn negative_limit_returns_a_single_batch() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 5).await;
    let reply = test
        .run(doc! { "find": "numbers", "limit": 3, "singleBatch": true, "sort": { "_id": 1 } })
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(number(cursor, "id"), 0);
    assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 3);
}

#[tokio::test]
async fn kill_cursors_reports_killed_and_not_found_ids() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 5).await;
    let reply = test
        .run(doc! { "find": "numbers", "batchSize": 1 })
        .await
        .unwrap();
    let cursor_id = reply.get_document("cursor").unwrap().get_i64("id").unwrap();
    let killed = test
        .run(doc! { "killCursors": "numbers", "cursors": [cursor_id, 12345i64] })
        .await
        .unwrap();
    assert_eq!(
        killed.get_array("cursorsKilled").unwrap(),
        &vec![Bson::Int64(cursor_id)]
    );
    assert_eq!(
        killed.get_array("cursorsNotFound").unwrap(),
        &vec![Bson::Int64(12345)]
    );
    assert_eq!(
        killed.get_array("cursorsAlive").unwrap(),
        &Vec::<Bson>::new()
    );
    assert_eq!(
        killed.get_array("cursorsUnknown").unwrap(),
        &Vec::<Bson>::new()
    );
    let error = test
        .run(doc! { "getMore": cursor_id, "collection": "numbers" })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 43);
}

#[tokio::test]
async fn update_reply_reports_matched_modified_and_upserted() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 3).await;
    let reply = test
        .run(doc! {
            "update": "numbers",
            "updates": [
                { "q": { "n": { "$gte": 2 } }, "u": { "$set": { "big": true } }, "multi": true },
                { "q": { "_id": 1 }, "u": { "$set": { "n": 1 } } },
                { "q": { "_id": 99 }, "u": { "$set": { "n": 99 } }, "upsert": true },
            ],
        })
        .await
        .unwrap();
    assert_eq!(number(&reply, "n"), 4, "2 matched + 1 matched + 1 upserted");
    assert_eq!(
        number(&reply, "nModified"),
        2,
        "setting n to its own value is no modification"
    );
    let upserted = reply.get_array("upserted").unwrap();
    assert_eq!(upserted.len(), 1);
    let upserted = upserted[0].as_document().unwrap();
    assert_eq!(number(upserted, "index"), 2);
    assert_eq!(upserted.get_i32("_id").unwrap(), 99);
}

#[tokio::test]
async fn update_one_versus_update_many() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 4).await;
    let one = test
        .collection("numbers")
        .update_one(doc! {}, doc! { "$set": { "seen": 1 } })
        .await
        .unwrap();
    assert_eq!((one.matched_count, one.modified_count), (1, 1));
    let many = test
        .collection("numbers")
        .update_many(doc! {}, doc! { "$set": { "seen": 1 } })
        .await
        .unwrap();
    assert_eq!((many.matched_count, many.modified_count), (4, 3));
    assert_eq!(many.upserted_id, None);
}

#[tokio::test]
async fn update_with_array_filters_updates_only_matching_elements() {
    let test = TestServer::start().await;
    test.collection("grades")
        .insert_one(doc! { "_id": 1, "grades": [95, 92, 90, 100, 102] })
        .await
        .unwrap();
    test.collection("grades")
        .update_one(
            doc! { "_id": 1 },
            doc! { "$set": { "grades.$[high]": 100 } },
        )
        .array_filters(vec![doc! { "high": { "$gte": 100 } }])
        .await
        .unwrap();
    let stored = test
        .collection("grades")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, doc! { "_id": 1, "grades": [95, 92, 90, 100, 100] });
}

#[tokio::test]
async fn delete_reply_counts_and_limit_one_deletes_one() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 5).await;
    let reply = test
        .run(doc! {
            "delete": "numbers",
            "deletes": [ { "q": { "n": { "$lte": 3 } }, "limit": 1 } ],
        })
        .await
        .unwrap();
    assert_eq!(number(&reply, "n"), 1);
    let many = test
        .collection("numbers")
        .delete_many(doc! { "n": { "$lte": 3 } })
        .await
        .unwrap();
    assert_eq!(many.deleted_count, 2);
    let rest: Vec<Document> = test
        .collection("numbers")
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&rest), vec![4, 5]);
}

#[tokio::test]
async fn find_and_modify_returns_the_old_document_by_default() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 3).await;
    let reply = test
        .run(doc! {
            "findAndModify": "numbers",
            "query": { "_id": 2 },
            "update": { "$inc": { "n": 10 } },
        })
        .await
        .unwrap();
    assert_eq!(
        reply.get_document("value").unwrap(),
        &doc! { "_id": 2, "n": 2 }
    );
    let last_error = reply.get_document("lastErrorObject").unwrap();
    assert_eq!(number(last_error, "n"), 1);
    assert_eq!(last_error.get_bool("updatedExisting").unwrap(), true);
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn find_and_modify_new_sort_and_fields() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 3).await;
    let updated = test
        .collection("numbers")
        .find_one_and_update(doc! {}, doc! { "$set": { "picked": true } })
        .sort(doc! { "n": -1 })
        .return_document(ReturnDocument::After)
        .projection(doc! { "picked": 1, "_id": 0 })
        .await
        .unwrap();
    assert_eq!(updated, Some(doc! { "picked": true }));
    let picked = test
        .collection("numbers")
        .find_one(doc! { "picked": true })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(picked.get_i32("_id").unwrap(), 3);
}

#[tokio::test]
async fn find_and_modify_upsert_reports_the_upserted_id() {
    let test = TestServer::start().await;
    let reply = test
        .run(doc! {
            "findAndModify": "numbers",
            "query": { "_id": 7 },
            "update": { "$set": { "n": 7 } },
            "upsert": true,
            "new": true,
        })
        .await
        .unwrap();
    assert_eq!(
        reply.get_document("value").unwrap(),
        &doc! { "_id": 7, "n": 7 }
    );
    let last_error = reply.get_document("lastErrorObject").unwrap();
    assert_eq!(number(last_error, "n"), 1);
    assert_eq!(last_error.get_bool("updatedExisting").unwrap(), false);
    assert_eq!(last_error.get_i32("upserted").unwrap(), 7);
}

#[tokio::test]
async fn find_and_modify_upsert_without_new_returns_null() {
    let test = TestServer::start().await;
    let reply = test
        .run(doc! {
            "findAndModify": "numbers",
            "query": { "_id": 8 },
            "update": { "$set": { "n": 8 } },
            "upsert": true,
        })
        .await
        .unwrap();
    assert_eq!(reply.get("value"), Some(&Bson::Null));
}

#[tokio::test]
async fn find_and_modify_remove_returns_the_removed_document() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 3).await;
    let removed = test
        .collection("numbers")
        .find_one_and_delete(doc! { "n": { "$gt": 1 } })
        .sort(doc! { "n": 1 })
        .await
        .unwrap();
    assert_eq!(removed, Some(doc! { "_id": 2, "n": 2 }));
    let reply = test
        .run(doc! { "findAndModify": "numbers", "query": { "_id": 3 }, "remove": true })
        .await
        .unwrap();
    assert_eq!(
        reply.get_document("value").unwrap(),
        &doc! { "_id": 3, "n": 3 }
    );
    assert_eq!(
        number(reply.get_document("lastErrorObject").unwrap(), "n"),
        1
    );
    let none = test
        .run(doc! { "findAndModify": "numbers", "query": { "_id": 42 }, "remove": true })
        .await
        .unwrap();
    assert_eq!(none.get("value"), Some(&Bson::Null));
    assert_eq!(
        number(none.get_document("lastErrorObject").unwrap(), "n"),
        0
    );
}

#[tokio::test]
async fn find_one_and_replace_replaces_the_whole_document() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 2).await;
    let replaced = test
        .collection("numbers")
        .find_one_and_replace(doc! { "_id": 1 }, doc! { "fresh": true })
        .return_document(ReturnDocument::After)
        .await
        .unwrap();
    assert_eq!(replaced, Some(doc! { "_id": 1, "fresh": true }));
}

#[tokio::test]
async fn find_and_modify_with_both_remove_and_update_is_rejected() {
    let test = TestServer::start().await;
    let error = test
        .run(doc! {
            "findAndModify": "numbers",
            "query": {},
            "remove": true,
            "update": { "$set": { "a": 1 } },
        })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 9);
    assert_eq!(error.code_name, "FailedToParse");
}

#[tokio::test]
async fn count_command_replies_n_and_honours_query_skip_limit() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 10).await;
    let all = test.run(doc! { "count": "numbers" }).await.unwrap();
    assert_eq!(number(&all, "n"), 10);
    let filtered = test
        .run(doc! { "count": "numbers", "query": { "n": { "$gt": 3 } }, "skip": 2, "limit": 4 })
        .await
        .unwrap();
    assert_eq!(number(&filtered, "n"), 4);
    let missing = test.run(doc! { "count": "nothing" }).await.unwrap();
    assert_eq!(number(&missing, "n"), 0);
    assert_eq!(
        test.collection("numbers")
            .estimated_document_count()
            .await
            .unwrap(),
        10
    );
    assert_eq!(
        test.collection("numbers")
            .count_documents(doc! { "n": { "$lt": 4 } })
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn distinct_returns_unique_values_flattening_arrays() {
    let test = TestServer::start().await;
    test.collection("items")
        .insert_many(vec![
            doc! { "_id": 1, "tags": ["a", "b"], "kind": "x" },
            doc! { "_id": 2, "tags": ["b", "c"], "kind": "x" },
            doc! { "_id": 3, "tags": "d", "kind": "y" },
            doc! { "_id": 4, "kind": "y" },
        ])
        .await
        .unwrap();
    let mut tags = test
        .collection("items")
        .distinct("tags", doc! {})
        .await
        .unwrap();
    tags.sort_by_key(|tag| tag.as_str().unwrap().to_string());
    assert_eq!(
        tags,
        vec![
            Bson::from("a"),
            Bson::from("b"),
            Bson::from("c"),
            Bson::from("d")
        ]
    );
    let reply = test
        .run(doc! { "distinct": "items", "key": "tags", "query": { "kind": "x" } })
        .await
        .unwrap();
    let mut values: Vec<String> = reply
        .get_array("values")
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap().to_string())
        .collect();
    values.sort();
    assert_eq!(values, vec!["a", "b", "c"]);
    assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
}

#[tokio::test]
async fn distinct_treats_numerically_equal_values_as_one() {
    let test = TestServer::start().await;
    test.collection("items")
        .insert_many(vec![
            doc! { "v": 1 },
            doc! { "v": 1i64 },
            doc! { "v": 1.0 },
            doc! { "v": 2 },
        ])
        .await
        .unwrap();
    let values = test
        .collection("items")
        .distinct("v", doc! {})
        .await
        .unwrap();
    assert_eq!(values.len(), 2, "{values:?}");
}

#[tokio::test]
async fn aggregate_reply_is_a_cursor() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 3).await;
    let reply = test
        .run(doc! {
            "aggregate": "numbers",
            "pipeline": [ { "$match": { "n": { "$gte": 2 } } }, { "$sort": { "n": 1 } } ],
            "cursor": {},
        })
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(cursor.get_str("ns").unwrap(), "conformance.numbers");
    assert_eq!(number(cursor, "id"), 0);
    let batch: Vec<Document> = cursor
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|entry| entry.as_document().unwrap().clone())
        .collect();
    assert_eq!(
        batch,
        vec![doc! { "_id": 2, "n": 2 }, doc! { "_id": 3, "n": 3 }]
    );
}

#[tokio::test]
async fn aggregate_without_cursor_option_is_rejected() {
    let test = TestServer::start().await;
    let error = test
        .run(doc! { "aggregate": "numbers", "pipeline": [] })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 9);
    assert_eq!(error.code_name, "FailedToParse");
}

#[tokio::test]
async fn aggregate_with_batch_size_continues_with_get_more() {
    let test = TestServer::start().await;
    seed_numbers(&test, "numbers", 20).await;
    let found: Vec<Document> = test
        .collection("numbers")
        .aggregate(vec![doc! { "$sort": { "_id": -1 } }])
        .batch_size(3)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&found), (1..=20).rev().collect::<Vec<i32>>());
}

#[tokio::test]
async fn create_list_and_drop_indexes_reply_shapes() {
    let test = TestServer::start().await;
    let created = test
        .run(doc! {
            "createIndexes": "people",
            "indexes": [ { "key": { "last": 1, "first": -1 }, "name": "last_1_first_-1" } ],
        })
        .await
        .unwrap();
    assert_eq!(number(&created, "numIndexesBefore"), 1);
    assert_eq!(number(&created, "numIndexesAfter"), 2);
    assert_eq!(
        created.get_bool("createdCollectionAutomatically").unwrap(),
        true
    );
    assert_eq!(created.get_f64("ok").unwrap(), 1.0);

    let again = test
        .run(doc! {
            "createIndexes": "people",
            "indexes": [ { "key": { "last": 1, "first": -1 }, "name": "last_1_first_-1" } ],
        })
        .await
        .unwrap();
    assert_eq!(number(&again, "numIndexesBefore"), 2);
    assert_eq!(number(&again, "numIndexesAfter"), 2);
    assert_eq!(again.get_str("note").unwrap(), "all indexes already exist");

    let listed = test.run(doc! { "listIndexes": "people" }).await.unwrap();
    let cursor = listed.get_document("cursor").unwrap();
    assert_eq!(cursor.get_str("ns").unwrap(), "conformance.people");
    let specs: Vec<Document> = cursor
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|entry| entry.as_document().unwrap().clone())
        .collect();
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[0].get_str("name").unwrap(), "_id_");
    assert_eq!(specs[0].get_document("key").unwrap(), &doc! { "_id": 1 });
    assert_eq!(number(&specs[0], "v"), 2);
    assert_eq!(specs[1].get_str("name").unwrap(), "last_1_first_-1");
    assert_eq!(
        specs[1].get_document("key").unwrap(),
        &doc! { "last": 1, "first": -1 }
    );

    let dropped = test
        .run(doc! { "dropIndexes": "people", "index": "last_1_first_-1" })
        .await
        .unwrap();
    assert_eq!(number(&dropped, "nIndexesWas"), 2);
    let names = test.collection("people").list_index_names().await.unwrap();
    assert_eq!(names, vec!["_id_"]);
}

#[tokio::test]
async fn driver_generates_index_names_from_the_key_pattern() {
    let test = TestServer::start().await;
    let created = test
        .collection("people")
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "city": 1, "age": -1 })
                .build(),
        )
        .await
        .unwrap();
    assert_eq!(created.index_name, "city_1_age_-1");
    let mut names = test.collection("people").list_index_names().await.unwrap();
    names.sort();
    assert_eq!(names, vec!["_id_", "city_1_age_-1"]);
}

#[tokio::test]
async fn drop_indexes_star_keeps_only_the_id_index() {
    let test = TestServer::start().await;
    for key in ["a", "b", "c"] {
        test.collection("people")
            .create_index(mongodb::IndexModel::builder().keys(doc! { key: 1 }).build())
            .await
            .unwrap();
    }
    let reply = test
        .run(doc! { "dropIndexes": "people", "index": "*" })
        .await
        .unwrap();
    assert_eq!(number(&reply, "nIndexesWas"), 4);
    assert_eq!(
        test.collection("people").list_index_names().await.unwrap(),
        vec!["_id_"]
    );
}

#[tokio::test]
async fn drop_index_by_key_pattern() {
    let test = TestServer::start().await;
    test.collection("people")
        .create_index(mongodb::IndexModel::builder().keys(doc! { "a": 1 }).build())
        .await
        .unwrap();
    test.run(doc! { "dropIndexes": "people", "index": { "a": 1 } })
        .await
        .unwrap();
    assert_eq!(
        test.collection("people").list_index_names().await.unwrap(),
        vec!["_id_"]
    );
}

#[tokio::test]
async fn dropping_a_missing_index_fails_with_index_not_found_27() {
    let test = TestServer::start().await;
    test.db.create_collection("people").await.unwrap();
    let error = test
        .run(doc! { "dropIndexes": "people", "index": "nope_1" })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 27);
    assert_eq!(error.code_name, "IndexNotFound");
}

#[tokio::test]
async fn dropping_the_id_index_is_refused() {
    let test = TestServer::start().await;
    test.db.create_collection("people").await.unwrap();
    let error = test
        .run(doc! { "dropIndexes": "people", "index": "_id_" })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 72);
    assert_eq!(error.code_name, "InvalidOptions");
}

#[tokio::test]
async fn list_indexes_on_a_missing_collection_fails_with_namespace_not_found_26() {
    let test = TestServer::start().await;
    let error = test
        .run(doc! { "listIndexes": "missing" })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 26);
    assert_eq!(error.code_name, "NamespaceNotFound");
}

#[tokio::test]
async fn same_index_name_with_different_keys_conflicts_86() {
    let test = TestServer::start().await;
    test.run(doc! {
        "createIndexes": "people",
        "indexes": [ { "key": { "a": 1 }, "name": "shared" } ],
    })
    .await
    .unwrap();
    let error = test
        .run(doc! {
            "createIndexes": "people",
            "indexes": [ { "key": { "b": 1 }, "name": "shared" } ],
        })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 86);
    assert_eq!(error.code_name, "IndexKeySpecsConflict");
}

#[tokio::test]
async fn same_keys_with_different_options_conflicts_85() {
    let test = TestServer::start().await;
    test.run(doc! {
        "createIndexes": "people",
        "indexes": [ { "key": { "a": 1 }, "name": "a_1" } ],
    })
    .await
    .unwrap();
    let error = test
        .run(doc! {
            "createIndexes": "people",
            "indexes": [ { "key": { "a": 1 }, "name": "a_1", "unique": true } ],
        })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 85);
    assert_eq!(error.code_name, "IndexOptionsConflict");
}

#[tokio::test]
async fn write_commands_implicitly_create_the_collection() {
    let test = TestServer::start().await;
    test.collection("implicit")
        .insert_one(doc! { "a": 1 })
        .await
        .unwrap();
    test.collection("upserted")
        .update_one(doc! { "_id": 1 }, doc! { "$set": { "a": 1 } })
        .upsert(true)
        .await
        .unwrap();
    let mut names = test.db.list_collection_names().await.unwrap();
    names.sort();
    assert_eq!(names, vec!["implicit", "upserted"]);
}

#[tokio::test]
async fn an_array_id_is_invalid_id_field_53() {
    let test = TestServer::start().await;
    let reply = test
        .run(doc! { "insert": "things", "documents": [ { "_id": [1, 2] } ] })
        .await
        .unwrap();
    assert_eq!(write_error_codes(&reply), vec![(0, 53)]);
    let error = reply.get_array("writeErrors").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(
        error.get_str("errmsg").unwrap(),
        "The '_id' value cannot be of type array"
    );
    assert_eq!(
        test.collection("things")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn find_on_a_missing_collection_returns_an_empty_closed_cursor() {
    let test = TestServer::start().await;
    let reply = test.run(doc! { "find": "absent" }).await.unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_eq!(number(cursor, "id"), 0);
    assert_eq!(cursor.get_str("ns").unwrap(), "conformance.absent");
    assert_eq!(cursor.get_array("firstBatch").unwrap(), &Vec::<Bson>::new());
}

#[tokio::test]
async fn create_with_an_empty_name_is_invalid_namespace_73() {
    let test = TestServer::start().await;
    let error = test.run(doc! { "create": "" }).await.unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 73);
    assert_eq!(error.code_name, "InvalidNamespace");
}

#[tokio::test]
async fn find_with_a_non_document_filter_is_type_mismatch_14() {
    let test = TestServer::start().await;
    let error = test
        .run(doc! { "find": "things", "filter": "not a document" })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 14);
    assert_eq!(error.code_name, "TypeMismatch");
}
