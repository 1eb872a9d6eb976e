//! Change streams on a collection, a database and the whole deployment: insert, update,
//! replace and delete events with `fullDocument` (updateLookup) and `updateDescription`,
//! resume tokens (`resumeAfter`, `startAfter`) across a reconnect, and `$match` on the stream.

use std::time::Duration;

use futures_util::StreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType};
use mongodb::change_stream::ChangeStream;
use mongodb::options::FullDocumentType;

use crate::fixture::{connect, number, TestServer};

type Events = ChangeStream<ChangeStreamEvent<Document>>;

/// The next event, failing the test if none arrives within 10 seconds.
async fn next_event(stream: &mut Events) -> ChangeStreamEvent<Document> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a change event arrives within 10 s")
        .expect("the stream is still open")
        .expect("the event decodes")
}

/// Asserts no event arrives within a short grace period.
async fn assert_quiet(stream: &mut Events) {
    let quiet = tokio::time::timeout(Duration::from_millis(1500), stream.next()).await;
    assert!(quiet.is_err(), "unexpected event: {quiet:?}");
}

fn namespace(event: &ChangeStreamEvent<Document>) -> (String, Option<String>) {
    let ns = event.ns.as_ref().expect("document events carry ns");
    (ns.db.clone(), ns.coll.clone())
}

#[tokio::test]
async fn collection_stream_reports_insert_update_replace_and_delete() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items
        .insert_one(doc! { "_id": 0, "before": "the stream" })
        .await
        .unwrap();
    let mut stream = items.watch().await.unwrap();
    items
        .insert_one(doc! { "_id": 1, "a": 1, "b": 1 })
        .await
        .unwrap();
    items
        .update_one(
            doc! { "_id": 1 },
            doc! { "$set": { "a": 2 }, "$unset": { "b": "" } },
        )
        .await
        .unwrap();
    items
        .replace_one(doc! { "_id": 1 }, doc! { "replaced": true })
        .await
        .unwrap();
    items.delete_one(doc! { "_id": 1 }).await.unwrap();

    let insert = next_event(&mut stream).await;
    assert_eq!(insert.operation_type, OperationType::Insert);
    assert_eq!(
        namespace(&insert),
        ("conformance".to_string(), Some("items".to_string()))
    );
    assert_eq!(insert.document_key, Some(doc! { "_id": 1 }));
    assert_eq!(
        insert.full_document,
        Some(doc! { "_id": 1, "a": 1, "b": 1 })
    );
    assert!(insert.cluster_time.is_some());
    assert!(insert.wall_time.is_some());

    let update = next_event(&mut stream).await;
    assert_eq!(update.operation_type, OperationType::Update);
    assert_eq!(update.document_key, Some(doc! { "_id": 1 }));
    let description = update
        .update_description
        .expect("updates describe their change");
    assert_eq!(description.updated_fields, doc! { "a": 2 });
    assert_eq!(description.removed_fields, vec!["b".to_string()]);
    assert_eq!(
        update.full_document, None,
        "without updateLookup there is no fullDocument"
    );

    let replace = next_event(&mut stream).await;
    assert_eq!(replace.operation_type, OperationType::Replace);
    assert_eq!(
        replace.full_document,
        Some(doc! { "_id": 1, "replaced": true })
    );

    let delete = next_event(&mut stream).await;
    assert_eq!(delete.operation_type, OperationType::Delete);
    assert_eq!(delete.document_key, Some(doc! { "_id": 1 }));
    assert_eq!(delete.full_document, None);
}

#[tokio::test]
async fn update_lookup_returns_the_current_document() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items
        .insert_one(doc! { "_id": 1, "n": 1, "keep": "x" })
        .await
        .unwrap();
    let mut stream = items
        .watch()
        .full_document(FullDocumentType::UpdateLookup)
        .await
        .unwrap();
    items
        .update_one(doc! { "_id": 1 }, doc! { "$inc": { "n": 1 } })
        .await
        .unwrap();
    let update = next_event(&mut stream).await;
    assert_eq!(update.operation_type, OperationType::Update);
    assert_eq!(
        update.full_document,
        Some(doc! { "_id": 1, "n": 2, "keep": "x" })
    );
    assert_eq!(
        update.update_description.unwrap().updated_fields,
        doc! { "n": 2 }
    );
}

#[tokio::test]
async fn update_description_reports_nested_and_array_changes_by_dotted_path() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items
        .insert_one(doc! { "_id": 1, "profile": { "name": "a", "bio": "b" }, "tags": ["x", "y"] })
        .await
        .unwrap();
    let mut stream = items.watch().await.unwrap();
    items
        .update_one(
            doc! { "_id": 1 },
            doc! { "$set": { "profile.name": "z" }, "$unset": { "profile.bio": "" } },
        )
        .await
        .unwrap();
    let update = next_event(&mut stream).await;
    let description = update.update_description.unwrap();
    assert_eq!(description.updated_fields, doc! { "profile.name": "z" });
    assert_eq!(description.removed_fields, vec!["profile.bio".to_string()]);
}

#[tokio::test]
async fn events_before_the_stream_opened_are_not_delivered() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 1 }).await.unwrap();
    let mut stream = items.watch().await.unwrap();
    items.insert_one(doc! { "_id": 2 }).await.unwrap();
    let event = next_event(&mut stream).await;
    assert_eq!(event.document_key, Some(doc! { "_id": 2 }));
}

#[tokio::test]
async fn collection_stream_ignores_other_collections() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    let mut stream = items.watch().await.unwrap();
    test.collection("other")
        .insert_one(doc! { "_id": 1 })
        .await
        .unwrap();
    test.client
        .database("elsewhere")
        .collection::<Document>("items")
        .insert_one(doc! { "_id": 2 })
        .await
        .unwrap();
    items.insert_one(doc! { "_id": 3 }).await.unwrap();
    let event = next_event(&mut stream).await;
    assert_eq!(event.document_key, Some(doc! { "_id": 3 }));
}

#[tokio::test]
async fn database_stream_sees_every_collection_of_that_database_only() {
    let test = TestServer::start().await;
    test.collection("first")
        .insert_one(doc! { "_id": 0 })
        .await
        .unwrap();
    let mut stream = test.db.watch().await.unwrap();
    test.collection("first")
        .insert_one(doc! { "_id": 1 })
        .await
        .unwrap();
    test.client
        .database("elsewhere")
        .collection::<Document>("first")
        .insert_one(doc! { "_id": 99 })
        .await
        .unwrap();
    test.collection("second")
        .insert_one(doc! { "_id": 2 })
        .await
        .unwrap();
    let first = next_event(&mut stream).await;
    assert_eq!(
        namespace(&first),
        ("conformance".to_string(), Some("first".to_string()))
    );
    let second = next_event(&mut stream).await;
    assert_eq!(
        namespace(&second),
        ("conformance".to_string(), Some("second".to_string()))
    );
    assert_eq!(second.document_key, Some(doc! { "_id": 2 }));
}

#[tokio::test]
async fn deployment_stream_sees_every_database() {
    let test = TestServer::start().await;
    test.collection("seed")
        .insert_one(doc! { "_id": 0 })
        .await
        .unwrap();
    let mut stream = test.client.watch().await.unwrap();
    test.client
        .database("alpha")
        .collection::<Document>("a")
        .insert_one(doc! { "_id": 1 })
        .await
        .unwrap();
    test.client
        .database("beta")
        .collection::<Document>("b")
        .insert_one(doc! { "_id": 2 })
        .await
        .unwrap();
    let first = next_event(&mut stream).await;
    assert_eq!(
        namespace(&first),
        ("alpha".to_string(), Some("a".to_string()))
    );
    let second = next_event(&mut stream).await;
    assert_eq!(
        namespace(&second),
        ("beta".to_string(), Some("b".to_string()))
    );
}

#[tokio::test]
async fn match_on_the_stream_filters_events() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    let mut stream = items
        .watch()
        .pipeline(vec![doc! { "$match": {
            "operationType": "insert",
            "fullDocument.kind": "keep",
        } }])
        .await
        .unwrap();
    items
        .insert_one(doc! { "_id": 1, "kind": "drop" })
        .await
        .unwrap();
    items
        .insert_one(doc! { "_id": 2, "kind": "keep" })
        .await
        .unwrap();
    items
        .update_one(doc! { "_id": 2 }, doc! { "$set": { "changed": true } })
        .await
        .unwrap();
    items
        .insert_one(doc! { "_id": 3, "kind": "keep" })
        .await
        .unwrap();
    let first = next_event(&mut stream).await;
    assert_eq!(first.document_key, Some(doc! { "_id": 2 }));
    let second = next_event(&mut stream).await;
    assert_eq!(second.document_key, Some(doc! { "_id": 3 }));
    assert_quiet(&mut stream).await;
}

#[tokio::test]
async fn resume_after_continues_from_the_token_with_a_new_client() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    let token = {
        let client = connect(&test.server.uri()).await;
        let watched = client
            .database("conformance")
            .collection::<Document>("items");
        let mut stream = watched.watch().await.unwrap();
        for id in 1..=3 {
            items.insert_one(doc! { "_id": id }).await.unwrap();
        }
        let first = next_event(&mut stream).await;
        assert_eq!(first.document_key, Some(doc! { "_id": 1 }));
        drop(stream);
        client.shutdown().await;
        first.id
    };
    items.insert_one(doc! { "_id": 4 }).await.unwrap();
    let client = connect(&test.server.uri()).await;
    let mut resumed = client
        .database("conformance")
        .collection::<Document>("items")
        .watch()
        .resume_after(token)
        .await
        .unwrap();
    for expected in 2..=4 {
        let event = next_event(&mut resumed).await;
        assert_eq!(event.operation_type, OperationType::Insert);
        assert_eq!(event.document_key, Some(doc! { "_id": expected }));
    }
}

#[tokio::test]
async fn start_after_continues_from_the_token() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    let mut stream = items.watch().await.unwrap();
    items.insert_one(doc! { "_id": 1 }).await.unwrap();
    items.insert_one(doc! { "_id": 2 }).await.unwrap();
    let first = next_event(&mut stream).await;
    drop(stream);
    let client = test.new_client().await;
    let mut resumed = client
        .database("conformance")
        .collection::<Document>("items")
        .watch()
        .start_after(first.id)
        .await
        .unwrap();
    let event = next_event(&mut resumed).await;
    assert_eq!(event.document_key, Some(doc! { "_id": 2 }));
}

#[tokio::test]
async fn resume_token_of_the_stream_advances_with_each_event() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    let mut stream = items.watch().await.unwrap();
    items.insert_one(doc! { "_id": 1 }).await.unwrap();
    let event = next_event(&mut stream).await;
    assert_eq!(stream.resume_token(), Some(event.id));
}

#[tokio::test]
async fn change_stream_aggregate_reply_has_a_live_cursor_and_post_batch_resume_token() {
    let test = TestServer::start().await;
    test.collection("items")
        .insert_one(doc! { "_id": 0 })
        .await
        .unwrap();
    let reply = test
        .run(doc! {
            "aggregate": "items",
            "pipeline": [ { "$changeStream": {} } ],
            "cursor": {},
        })
        .await
        .unwrap();
    let cursor = reply.get_document("cursor").unwrap();
    assert_ne!(number(cursor, "id"), 0, "a change stream cursor stays open");
    assert_eq!(cursor.get_str("ns").unwrap(), "conformance.items");
    assert_eq!(cursor.get_array("firstBatch").unwrap(), &Vec::<Bson>::new());
    assert!(
        cursor.get_document("postBatchResumeToken").is_ok(),
        "{reply}"
    );
}

#[tokio::test]
async fn committed_transaction_events_appear_and_aborted_ones_do_not() {
    let test = TestServer::start_replica_set().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    let mut stream = items.watch().await.unwrap();
    let mut session = test.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    items
        .insert_one(doc! { "_id": "aborted" })
        .session(&mut session)
        .await
        .unwrap();
    session.abort_transaction().await.unwrap();
    session.start_transaction().await.unwrap();
    items
        .insert_one(doc! { "_id": "committed-1" })
        .session(&mut session)
        .await
        .unwrap();
    items
        .insert_one(doc! { "_id": "committed-2" })
        .session(&mut session)
        .await
        .unwrap();
    session.commit_transaction().await.unwrap();
    let first = next_event(&mut stream).await;
    assert_eq!(first.document_key, Some(doc! { "_id": "committed-1" }));
    let second = next_event(&mut stream).await;
    assert_eq!(second.document_key, Some(doc! { "_id": "committed-2" }));
    assert_quiet(&mut stream).await;
}

#[tokio::test]
async fn dropping_the_watched_collection_emits_drop_then_invalidate() {
    let test = TestServer::start().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    let mut stream = items.watch().await.unwrap();
    items.drop().await.unwrap();
    let dropped = next_event(&mut stream).await;
    assert_eq!(dropped.operation_type, OperationType::Drop);
    assert_eq!(
        namespace(&dropped),
        ("conformance".to_string(), Some("items".to_string()))
    );
    let invalidated = next_event(&mut stream).await;
    assert_eq!(invalidated.operation_type, OperationType::Invalidate);
}

#[tokio::test]
async fn change_streams_work_with_replica_set_discovery() {
    let test = TestServer::start_replica_set().await;
    let items = test.collection("items");
    items.insert_one(doc! { "_id": 0 }).await.unwrap();
    let mut stream = items.watch().await.unwrap();
    items
        .insert_one(doc! { "_id": 1, "via": "replicaSet" })
        .await
        .unwrap();
    let event = next_event(&mut stream).await;
    assert_eq!(
        event.full_document,
        Some(doc! { "_id": 1, "via": "replicaSet" })
    );
}

#[tokio::test]
async fn pre_and_post_images_are_kept_once_enabled_and_streams_may_require_them() {
    let test = TestServer::start_replica_set().await;
    let collection = test.collection("imaged");
    collection
        .insert_one(doc! {"_id": 1, "v": 0})
        .await
        .unwrap();
    // Without images: whenAvailable gives null, required fails the stream with 47.
    let mut available = collection
        .watch()
        .full_document(FullDocumentType::WhenAvailable)
        .full_document_before_change(mongodb::options::FullDocumentBeforeChangeType::WhenAvailable)
        .await
        .unwrap();
    let mut required = collection
        .watch()
        .full_document_before_change(mongodb::options::FullDocumentBeforeChangeType::Required)
        .await
        .unwrap();
    collection
        .update_one(doc! {"_id": 1}, doc! {"$set": {"v": 1}})
        .await
        .unwrap();
    let event = next_event(&mut available).await;
    assert_eq!(event.operation_type, OperationType::Update);
    assert!(event.full_document.is_none(), "no post-image was kept");
    assert!(
        event.full_document_before_change.is_none(),
        "no pre-image was kept"
    );
    let failure = tokio::time::timeout(Duration::from_secs(10), required.next())
        .await
        .expect("the stream answers")
        .expect("an item")
        .unwrap_err();
    assert_eq!(crate::fixture::server_error(&failure).code, 47);
    // Enabled: update, replace and delete carry the document before, updates the one after.
    test.run(doc! {"collMod": "imaged", "changeStreamPreAndPostImages": {"enabled": true}})
        .await
        .unwrap();
    let mut imaged = collection
        .watch()
        .full_document(FullDocumentType::Required)
        .full_document_before_change(mongodb::options::FullDocumentBeforeChangeType::Required)
        .await
        .unwrap();
    collection
        .update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
        .await
        .unwrap();
    collection
        .replace_one(doc! {"_id": 1}, doc! {"v": 3})
        .await
        .unwrap();
    collection.delete_one(doc! {"_id": 1}).await.unwrap();
    let update = next_event(&mut imaged).await;
    assert_eq!(
        update.full_document_before_change,
        Some(doc! {"_id": 1, "v": 1})
    );
    assert_eq!(update.full_document, Some(doc! {"_id": 1, "v": 2}));
    let replace = next_event(&mut imaged).await;
    assert_eq!(
        replace.full_document_before_change,
        Some(doc! {"_id": 1, "v": 2})
    );
    let delete = next_event(&mut imaged).await;
    assert_eq!(delete.operation_type, OperationType::Delete);
    assert_eq!(
        delete.full_document_before_change,
        Some(doc! {"_id": 1, "v": 3})
    );
    // The option is checked.
    let wrong = test
        .run(doc! {"create": "bad", "changeStreamPreAndPostImages": {"enabled": "yes"}})
        .await
        .unwrap_err();
    assert_eq!(crate::fixture::server_error(&wrong).code, 14);
}

#[tokio::test]
async fn expanded_events_report_schema_changes_with_their_description() {
    use futures_util::TryStreamExt;
    let test = TestServer::start_replica_set().await;
    // The driver's typed events predate these operation types: read the raw stream.
    let mut expanded = test
        .db
        .aggregate(vec![doc! {"$changeStream": {"showExpandedEvents": true}}])
        .await
        .unwrap();
    let mut plain = test.db.watch().await.unwrap();
    test.run(doc! {"create": "fresh"}).await.unwrap();
    test.run(doc! {"createIndexes": "fresh", "indexes": [{"key": {"a": 1}, "name": "a_1"}]})
        .await
        .unwrap();
    test.run(doc! {"collMod": "fresh", "validator": {"a": {"$type": "int"}}})
        .await
        .unwrap();
    test.run(doc! {"dropIndexes": "fresh", "index": "a_1"})
        .await
        .unwrap();
    test.collection("fresh")
        .insert_one(doc! {"_id": 1, "a": 1})
        .await
        .unwrap();
    let mut events = Vec::new();
    while events.len() < 5 {
        let event = tokio::time::timeout(Duration::from_secs(10), expanded.try_next())
            .await
            .expect("events arrive within 10 s")
            .unwrap()
            .expect("the stream is open");
        events.push(event);
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| event.get_str("operationType").unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["create", "createIndexes", "modify", "dropIndexes", "insert"]
    );
    let created_index = events[1].get_document("operationDescription").unwrap();
    let index = created_index.get_array("indexes").unwrap()[0]
        .as_document()
        .unwrap();
    assert_eq!(index.get_str("name").unwrap(), "a_1");
    assert!(events[2]
        .get_document("operationDescription")
        .unwrap()
        .contains_key("validator"));
    assert_eq!(
        events[0].get_document("ns").unwrap(),
        &doc! {"db": "conformance", "coll": "fresh"}
    );
    // Without showExpandedEvents the same changes show only the insert.
    let first_plain = next_event(&mut plain).await;
    assert_eq!(first_plain.operation_type, OperationType::Insert);
}
