//! Index options: unique (11000 with keyPattern/keyValue, MongoDB's message, nothing written),
//! compound, sparse, partialFilterExpression, TTL expiry in the background, and text indexes
//! serving `$text`.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

use crate::fixture::{ids, number, server_error, write_error_codes, TestServer};

async fn unique_email_index(test: &TestServer) {
    test.collection("users")
        .create_index(
            IndexModel::builder()
                .keys(doc! { "email": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn unique_index_rejects_a_duplicate_insert_with_11000_and_writes_nothing() {
    let test = TestServer::start().await;
    unique_email_index(&test).await;
    let users = test.collection("users");
    users
        .insert_one(doc! { "_id": 1, "email": "ada@example.com" })
        .await
        .unwrap();
    let error = users
        .insert_one(doc! { "_id": 2, "email": "ada@example.com" })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 11000);
    assert_eq!(
        error.message,
        "E11000 duplicate key error collection: conformance.users index: email_1 dup key: { email: \"ada@example.com\" }"
    );
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 1);
    assert_eq!(users.find_one(doc! { "_id": 2 }).await.unwrap(), None);
}

#[tokio::test]
async fn duplicate_key_write_error_carries_key_pattern_and_key_value() {
    let test = TestServer::start().await;
    unique_email_index(&test).await;
    test.collection("users")
        .insert_one(doc! { "_id": 1, "email": "ada@example.com" })
        .await
        .unwrap();
    let reply = test
        .run(doc! { "insert": "users", "documents": [ { "_id": 2, "email": "ada@example.com" } ] })
        .await
        .unwrap();
    assert_eq!(number(&reply, "n"), 0);
    assert_eq!(write_error_codes(&reply), vec![(0, 11000)]);
    let error = reply.get_array("writeErrors").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(
        error.get_document("keyPattern").unwrap(),
        &doc! { "email": 1 }
    );
    assert_eq!(
        error.get_document("keyValue").unwrap(),
        &doc! { "email": "ada@example.com" }
    );
}

#[tokio::test]
async fn duplicate_key_from_an_update_leaves_the_document_unchanged() {
    let test = TestServer::start().await;
    unique_email_index(&test).await;
    let users = test.collection("users");
    users
        .insert_many(vec![
            doc! { "_id": 1, "email": "ada@example.com" },
            doc! { "_id": 2, "email": "bob@example.com" },
        ])
        .await
        .unwrap();
    let error = users
        .update_one(
            doc! { "_id": 2 },
            doc! { "$set": { "email": "ada@example.com", "touched": true } },
        )
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 11000);
    let stored = users.find_one(doc! { "_id": 2 }).await.unwrap().unwrap();
    assert_eq!(stored, doc! { "_id": 2, "email": "bob@example.com" });
}

#[tokio::test]
async fn duplicate_key_from_find_and_modify_is_a_command_error_with_key_value() {
    let test = TestServer::start().await;
    unique_email_index(&test).await;
    test.collection("users")
        .insert_many(vec![
            doc! { "_id": 1, "email": "ada@example.com" },
            doc! { "_id": 2, "email": "bob@example.com" },
        ])
        .await
        .unwrap();
    let error = test
        .run(doc! {
            "findAndModify": "users",
            "query": { "_id": 2 },
            "update": { "$set": { "email": "ada@example.com" } },
        })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 11000);
    assert_eq!(error.code_name, "DuplicateKey");
}

#[tokio::test]
async fn unique_index_treats_missing_fields_as_null_duplicates() {
    let test = TestServer::start().await;
    unique_email_index(&test).await;
    let users = test.collection("users");
    users.insert_one(doc! { "_id": 1 }).await.unwrap();
    let error = users.insert_one(doc! { "_id": 2 }).await.unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 11000);
    assert_eq!(
        error.message,
        "E11000 duplicate key error collection: conformance.users index: email_1 dup key: { email: null }"
    );
}

#[tokio::test]
async fn compound_unique_index_rejects_only_the_full_key() {
    let test = TestServer::start().await;
    let collection = test.collection("ratings");
    collection
        .create_index(
            IndexModel::builder()
                .keys(doc! { "job": 1, "rater": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .unwrap();
    collection
        .insert_many(vec![
            doc! { "_id": 1, "job": 1, "rater": "a" },
            doc! { "_id": 2, "job": 1, "rater": "b" },
            doc! { "_id": 3, "job": 2, "rater": "a" },
        ])
        .await
        .unwrap();
    let reply = test
        .run(doc! { "insert": "ratings", "documents": [ { "_id": 4, "job": 1, "rater": "a" } ] })
        .await
        .unwrap();
    let error = reply.get_array("writeErrors").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(error.get_i32("code").unwrap(), 11000);
    assert_eq!(
        error.get_str("errmsg").unwrap(),
        "E11000 duplicate key error collection: conformance.ratings index: job_1_rater_1 dup key: { job: 1, rater: \"a\" }"
    );
    assert_eq!(
        error.get_document("keyPattern").unwrap(),
        &doc! { "job": 1, "rater": 1 }
    );
    assert_eq!(
        error.get_document("keyValue").unwrap(),
        &doc! { "job": 1, "rater": "a" }
    );
}

#[tokio::test]
async fn unique_index_on_numerically_equal_values_conflicts() {
    let test = TestServer::start().await;
    let collection = test.collection("numbers");
    collection
        .create_index(
            IndexModel::builder()
                .keys(doc! { "n": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .unwrap();
    collection.insert_one(doc! { "n": 1 }).await.unwrap();
    let error = collection.insert_one(doc! { "n": 1.0 }).await.unwrap_err();
    assert_eq!(server_error(&error).code, 11000);
}

#[tokio::test]
async fn creating_a_unique_index_over_existing_duplicates_fails_and_creates_nothing() {
    let test = TestServer::start().await;
    let users = test.collection("users");
    users
        .insert_many(vec![
            doc! { "_id": 1, "email": "same@example.com" },
            doc! { "_id": 2, "email": "same@example.com" },
        ])
        .await
        .unwrap();
    let error = users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "email": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 11000);
    assert_eq!(users.list_index_names().await.unwrap(), vec!["_id_"]);
}

#[tokio::test]
async fn unique_index_spec_is_listed_with_its_options() {
    let test = TestServer::start().await;
    unique_email_index(&test).await;
    let specs: Vec<mongodb::IndexModel> = test
        .collection("users")
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(specs.len(), 2);
    let email = &specs[1];
    assert_eq!(email.keys, doc! { "email": 1 });
    let options = email.options.as_ref().unwrap();
    assert_eq!(options.unique, Some(true));
    assert_eq!(options.name.as_deref(), Some("email_1"));
}

#[tokio::test]
async fn sparse_unique_index_allows_many_documents_without_the_field() {
    let test = TestServer::start().await;
    let users = test.collection("users");
    users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "password_reset_token": 1 })
                .options(IndexOptions::builder().unique(true).sparse(true).build())
                .build(),
        )
        .await
        .unwrap();
    users
        .insert_many(vec![
            doc! { "_id": 1 },
            doc! { "_id": 2 },
            doc! { "_id": 3, "password_reset_token": "t1" },
        ])
        .await
        .unwrap();
    let error = users
        .insert_one(doc! { "_id": 4, "password_reset_token": "t1" })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 11000);
    let listed = test.run(doc! { "listIndexes": "users" }).await.unwrap();
    let spec = listed
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()[1]
        .as_document()
        .unwrap()
        .clone();
    assert!(spec.get_bool("sparse").unwrap());
    assert!(spec.get_bool("unique").unwrap());
    let all: Vec<Document> = users
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&all), vec![1, 2, 3]);
}

#[tokio::test]
async fn partial_unique_index_applies_only_to_matching_documents() {
    let test = TestServer::start().await;
    let collection = test.collection("restaurants");
    collection
        .create_index(
            IndexModel::builder()
                .keys(doc! { "name": 1 })
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .partial_filter_expression(doc! { "rating": { "$gt": 5 } })
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    collection
        .insert_many(vec![
            doc! { "_id": 1, "name": "Alpha", "rating": 3 },
            doc! { "_id": 2, "name": "Alpha", "rating": 4 },
            doc! { "_id": 3, "name": "Alpha", "rating": 9 },
        ])
        .await
        .unwrap();
    let error = collection
        .insert_one(doc! { "_id": 4, "name": "Alpha", "rating": 7 })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 11000);
    let listed = test
        .run(doc! { "listIndexes": "restaurants" })
        .await
        .unwrap();
    let spec = listed
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()[1]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(
        spec.get_document("partialFilterExpression").unwrap(),
        &doc! { "rating": { "$gt": 5 } }
    );
    assert_eq!(
        collection
            .count_documents(doc! { "name": "Alpha" })
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn queries_on_indexed_fields_return_the_same_results_as_scans() {
    let test = TestServer::start().await;
    let collection = test.collection("indexed");
    let documents: Vec<Document> = (0..200)
        .map(|n| doc! { "_id": n, "group": n % 10, "tags": [n % 3, n % 5] })
        .collect();
    collection.insert_many(documents).await.unwrap();
    collection
        .create_index(IndexModel::builder().keys(doc! { "group": 1 }).build())
        .await
        .unwrap();
    collection
        .create_index(IndexModel::builder().keys(doc! { "tags": -1 }).build())
        .await
        .unwrap();
    let in_groups: Vec<Document> = collection
        .find(doc! { "group": { "$in": [3, 7] }, "_id": { "$lt": 40 } })
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&in_groups), vec![3, 7, 13, 17, 23, 27, 33, 37]);
    let multikey: Vec<Document> = collection
        .find(doc! { "tags": 4, "_id": { "$lt": 30 } })
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&multikey), vec![4, 9, 14, 19, 24, 29]);
    let range = collection
        .count_documents(doc! { "group": { "$gte": 8 } })
        .await
        .unwrap();
    assert_eq!(range, 40);
    let by_id = collection
        .find(doc! { "_id": { "$in": [5, 150, 999] } })
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect::<Vec<Document>>()
        .await
        .unwrap();
    assert_eq!(ids(&by_id), vec![5, 150]);
}

#[tokio::test]
async fn ttl_index_removes_expired_documents_in_the_background() {
    let test = TestServer::start_with_ttl_interval(Duration::from_millis(200)).await;
    let sessions = test.collection("sessions");
    sessions
        .create_index(
            IndexModel::builder()
                .keys(doc! { "expires_at": 1 })
                .options(
                    IndexOptions::builder()
                        .expire_after(Duration::from_secs(0))
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    let past = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
    let future = DateTime::from_millis(DateTime::now().timestamp_millis() + 86_400_000);
    sessions
        .insert_many(vec![
            doc! { "_id": 1, "expires_at": past },
            doc! { "_id": 2, "expires_at": future },
            doc! { "_id": 3, "expires_at": "not a date" },
            doc! { "_id": 4, "expires_at": [future, past] },
        ])
        .await
        .unwrap();
    let listed = test.run(doc! { "listIndexes": "sessions" }).await.unwrap();
    let spec = listed
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()[1]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(number(&spec, "expireAfterSeconds"), 0);
    // The monitor runs every 200 ms here; the bound only keeps a broken monitor from hanging.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let remaining: Vec<Document> = sessions
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        if ids(&remaining) == vec![2, 3] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expired documents were not removed within 90 s: {remaining:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn seed_articles(test: &TestServer) {
    let articles = test.collection("articles");
    articles
        .insert_many(vec![
            doc! { "_id": 1, "subject": "coffee", "author": "xyz", "views": 50 },
            doc! { "_id": 2, "subject": "Coffee Shopping", "author": "efg", "views": 5 },
            doc! { "_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90 },
            doc! { "_id": 4, "subject": "baking", "author": "xyz", "views": 100 },
            doc! { "_id": 5, "subject": "Café Con Leche", "author": "abc", "views": 200 },
            doc! { "_id": 6, "subject": "Сырники", "author": "jkl", "views": 80 },
            doc! { "_id": 7, "subject": "coffee and cream", "author": "efg", "views": 10 },
            doc! { "_id": 8, "subject": "Cafe con Leche", "author": "xyz", "views": 10 },
        ])
        .await
        .unwrap();
    articles
        .create_index(
            IndexModel::builder()
                .keys(doc! { "subject": "text" })
                .build(),
        )
        .await
        .unwrap();
}

async fn text_matches(test: &TestServer, search: &str) -> Vec<i32> {
    let found: Vec<Document> = test
        .collection("articles")
        .find(doc! { "$text": { "$search": search } })
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    ids(&found)
}

#[tokio::test]
async fn text_search_matches_any_term_case_insensitively() {
    let test = TestServer::start().await;
    seed_articles(&test).await;
    assert_eq!(text_matches(&test, "coffee").await, vec![1, 2, 7]);
    assert_eq!(text_matches(&test, "LECHE cake").await, vec![3, 5, 8]);
}

#[tokio::test]
async fn text_search_phrases_and_negations() {
    let test = TestServer::start().await;
    seed_articles(&test).await;
    assert_eq!(text_matches(&test, "\"coffee shop\"").await, vec![2]);
    assert_eq!(text_matches(&test, "coffee -cream").await, vec![1, 2]);
}

#[tokio::test]
async fn text_score_can_be_projected_and_sorted() {
    let test = TestServer::start().await;
    seed_articles(&test).await;
    let found: Vec<Document> = test
        .collection("articles")
        .find(doc! { "$text": { "$search": "coffee" } })
        .projection(doc! { "score": { "$meta": "textScore" }, "subject": 1 })
        .sort(doc! { "score": { "$meta": "textScore" }, "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    // A one-word subject that is exactly the term scores highest.
    assert_eq!(found[0].get_i32("_id").unwrap(), 1);
    let scores: Vec<f64> = found
        .iter()
        .map(|found| found.get_f64("score").unwrap())
        .collect();
    assert!(scores.iter().all(|score| *score > 0.0), "{scores:?}");
    assert!(
        scores.windows(2).all(|pair| pair[0] >= pair[1]),
        "{scores:?}"
    );
}

#[tokio::test]
async fn text_search_without_a_text_index_is_index_not_found_27() {
    let test = TestServer::start().await;
    test.collection("plain")
        .insert_one(doc! { "subject": "coffee" })
        .await
        .unwrap();
    let error = test
        .collection("plain")
        .find_one(doc! { "$text": { "$search": "coffee" } })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 27);
    assert_eq!(error.message, "text index required for $text query");
}

#[tokio::test]
async fn text_index_spec_is_listed_with_weights() {
    let test = TestServer::start().await;
    seed_articles(&test).await;
    let listed = test.run(doc! { "listIndexes": "articles" }).await.unwrap();
    let spec = listed
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()[1]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(spec.get_str("name").unwrap(), "subject_text");
    assert_eq!(
        spec.get_document("key").unwrap(),
        &doc! { "_fts": "text", "_ftsx": 1 }
    );
    assert_eq!(number(spec.get_document("weights").unwrap(), "subject"), 1);
    assert!(
        matches!(spec.get("default_language"), Some(Bson::String(language)) if language == "english")
    );
}
