//! Every query operator in the "Query" list, with MongoDB's array-matching rules for
//! dotted paths, null versus missing, cross-type ordering and numeric equivalence.

use std::str::FromStr;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Decimal128, Document, Regex};

use crate::fixture::{ids, server_error, TestServer};

/// Inserts `documents` into a fresh collection and returns the sorted `_id`s matching `filter`.
async fn matching(test: &TestServer, documents: Vec<Document>, filter: Document) -> Vec<i32> {
    let collection = test.collection("query");
    collection.delete_many(doc! {}).await.unwrap();
    collection.insert_many(documents).await.unwrap();
    let found: Vec<Document> = collection
        .find(filter)
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    ids(&found)
}

fn numbers() -> Vec<Document> {
    vec![
        doc! { "_id": 1, "v": 1 },
        doc! { "_id": 2, "v": 2i64 },
        doc! { "_id": 3, "v": 3.5 },
        doc! { "_id": 4, "v": Decimal128::from_str("4").unwrap() },
        doc! { "_id": 5, "v": "5" },
        doc! { "_id": 6 },
        doc! { "_id": 7, "v": Bson::Null },
    ]
}

#[tokio::test]
async fn eq_matches_numerically_equal_values_of_every_numeric_type() {
    let test = TestServer::start().await;
    assert_eq!(matching(&test, numbers(), doc! { "v": 2 }).await, vec![2]);
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$eq": 1.0 } }).await,
        vec![1]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": 4i64 }).await,
        vec![4]
    );
    assert_eq!(
        matching(
            &test,
            numbers(),
            doc! { "v": Decimal128::from_str("3.5").unwrap() }
        )
        .await,
        vec![3]
    );
}

#[tokio::test]
async fn comparison_operators_compare_only_within_the_same_type_bracket() {
    let test = TestServer::start().await;
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$gt": 1 } }).await,
        vec![2, 3, 4]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$gte": 2 } }).await,
        vec![2, 3, 4]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$lt": 3.5 } }).await,
        vec![1, 2]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$lte": 3.5 } }).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$gt": "" } }).await,
        vec![5]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$gt": 1, "$lt": 4 } }).await,
        vec![2, 3]
    );
}

#[tokio::test]
async fn ne_matches_documents_missing_the_field() {
    let test = TestServer::start().await;
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$ne": 1 } }).await,
        vec![2, 3, 4, 5, 6, 7]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$ne": Bson::Null } }).await,
        vec![1, 2, 3, 4, 5]
    );
}

#[tokio::test]
async fn null_equality_matches_null_and_missing_fields() {
    let test = TestServer::start().await;
    assert_eq!(
        matching(&test, numbers(), doc! { "v": Bson::Null }).await,
        vec![6, 7]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$type": "null" } }).await,
        vec![7]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$exists": false } }).await,
        vec![6]
    );
}

#[tokio::test]
async fn in_and_nin_use_equality_semantics_including_null() {
    let test = TestServer::start().await;
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$in": [1, 3.5, "5"] } }).await,
        vec![1, 3, 5]
    );
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$in": [Bson::Null] } }).await,
        vec![6, 7]
    );
    assert_eq!(
        matching(
            &test,
            numbers(),
            doc! { "v": { "$nin": [1, 2, Bson::Null] } }
        )
        .await,
        vec![3, 4, 5]
    );
}

#[tokio::test]
async fn in_accepts_regular_expressions() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "name": "apple" },
        doc! { "_id": 2, "name": "banana" },
        doc! { "_id": 3, "name": "Avocado" },
    ];
    let pattern = Regex {
        pattern: "^a".to_string(),
        options: "i".to_string(),
    };
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "name": { "$in": [pattern, "banana"] } }
        )
        .await,
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn equality_on_an_array_field_matches_any_element_or_the_whole_array() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "tags": ["a", "b"] },
        doc! { "_id": 2, "tags": ["b", "c"] },
        doc! { "_id": 3, "tags": "a" },
        doc! { "_id": 4, "tags": [["a", "b"]] },
    ];
    assert_eq!(
        matching(&test, documents.clone(), doc! { "tags": "a" }).await,
        vec![1, 3]
    );
    assert_eq!(
        matching(&test, documents.clone(), doc! { "tags": ["a", "b"] }).await,
        vec![1, 4]
    );
    assert_eq!(
        matching(&test, documents, doc! { "tags": { "$ne": "a" } }).await,
        vec![2, 4]
    );
}

#[tokio::test]
async fn range_on_an_array_can_be_satisfied_by_different_elements() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "dim": [22, 5] },
        doc! { "_id": 2, "dim": [12, 18] },
        doc! { "_id": 3, "dim": [30] },
    ];
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "dim": { "$gt": 15, "$lt": 20 } }
        )
        .await,
        vec![1, 2]
    );
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "dim": { "$elemMatch": { "$gt": 15, "$lt": 20 } } }
        )
        .await,
        vec![2]
    );
}

#[tokio::test]
async fn dotted_paths_reach_into_embedded_documents_and_arrays_of_documents() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "item": { "size": { "h": 14, "uom": "cm" } } },
        doc! { "_id": 2, "item": [ { "size": { "h": 10 } }, { "size": { "h": 14 } } ] },
        doc! { "_id": 3, "item": { "size": [ { "h": 14 } ] } },
        doc! { "_id": 4, "item": { "size": { "h": 8 } } },
    ];
    assert_eq!(
        matching(&test, documents.clone(), doc! { "item.size.h": 14 }).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        matching(&test, documents, doc! { "item.size.uom": "cm" }).await,
        vec![1]
    );
}

#[tokio::test]
async fn numeric_path_component_indexes_into_arrays() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "scores": [90, 60] },
        doc! { "_id": 2, "scores": [60, 90] },
        doc! { "_id": 3, "scores": { "0": 90 } },
    ];
    assert_eq!(
        matching(&test, documents, doc! { "scores.0": 90 }).await,
        vec![1, 3]
    );
}

#[tokio::test]
async fn null_on_a_dotted_path_matches_missing_subfields_in_arrays() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "a": [ { "b": 1 }, { "c": 2 } ] },
        doc! { "_id": 2, "a": [ { "b": 1 } ] },
        doc! { "_id": 3, "a": { "b": Bson::Null } },
        doc! { "_id": 4 },
    ];
    assert_eq!(
        matching(&test, documents, doc! { "a.b": Bson::Null }).await,
        vec![1, 3, 4]
    );
}

#[tokio::test]
async fn and_or_nor_combine_clauses() {
    let test = TestServer::start().await;
    let documents: Vec<Document> = (1..=6).map(|n| doc! { "_id": n, "n": n }).collect();
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "$and": [ { "n": { "$gt": 1 } }, { "n": { "$lt": 4 } } ] }
        )
        .await,
        vec![2, 3]
    );
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "$or": [ { "n": 1 }, { "n": 6 } ] }
        )
        .await,
        vec![1, 6]
    );
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "$nor": [ { "n": { "$lt": 3 } }, { "n": { "$gt": 4 } } ] }
        )
        .await,
        vec![3, 4]
    );
}

#[tokio::test]
async fn not_inverts_an_operator_and_matches_missing_fields() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "price": 1.99 },
        doc! { "_id": 2, "price": 2.5 },
        doc! { "_id": 3 },
    ];
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "price": { "$not": { "$gt": 1.99 } } }
        )
        .await,
        vec![1, 3]
    );
    let pattern = Regex {
        pattern: "^2".to_string(),
        options: String::new(),
    };
    let strings = vec![doc! { "_id": 1, "s": "20" }, doc! { "_id": 2, "s": "30" }];
    assert_eq!(
        matching(&test, strings, doc! { "s": { "$not": pattern } }).await,
        vec![2]
    );
}

#[tokio::test]
async fn exists_distinguishes_null_from_missing() {
    let test = TestServer::start().await;
    assert_eq!(
        matching(&test, numbers(), doc! { "v": { "$exists": true } }).await,
        vec![1, 2, 3, 4, 5, 7]
    );
}

#[tokio::test]
async fn type_matches_by_alias_number_and_code_and_array_elements() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "v": 1 },
        doc! { "_id": 2, "v": 2i64 },
        doc! { "_id": 3, "v": 3.0 },
        doc! { "_id": 4, "v": "four" },
        doc! { "_id": 5, "v": [ "x", 5 ] },
        doc! { "_id": 6, "v": { "nested": true } },
        doc! { "_id": 7, "v": ObjectId::new() },
        doc! { "_id": 8, "v": DateTime::from_millis(0) },
        doc! { "_id": 9, "v": Decimal128::from_str("9").unwrap() },
        doc! { "_id": 10, "v": true },
    ];
    assert_eq!(
        matching(&test, documents.clone(), doc! { "v": { "$type": "int" } }).await,
        vec![1, 5]
    );
    assert_eq!(
        matching(&test, documents.clone(), doc! { "v": { "$type": "long" } }).await,
        vec![2]
    );
    assert_eq!(
        matching(&test, documents.clone(), doc! { "v": { "$type": 1 } }).await,
        vec![3]
    );
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "v": { "$type": "number" } }
        )
        .await,
        vec![1, 2, 3, 5, 9]
    );
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "v": { "$type": "string" } }
        )
        .await,
        vec![4, 5]
    );
    assert_eq!(
        matching(&test, documents.clone(), doc! { "v": { "$type": "array" } }).await,
        vec![5]
    );
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "v": { "$type": "object" } }
        )
        .await,
        vec![6]
    );
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "v": { "$type": "objectId" } }
        )
        .await,
        vec![7]
    );
    assert_eq!(
        matching(&test, documents.clone(), doc! { "v": { "$type": "date" } }).await,
        vec![8]
    );
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "v": { "$type": "decimal" } }
        )
        .await,
        vec![9]
    );
    assert_eq!(
        matching(&test, documents.clone(), doc! { "v": { "$type": "bool" } }).await,
        vec![10]
    );
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "v": { "$type": ["long", "bool"] } }
        )
        .await,
        vec![2, 10]
    );
}

#[tokio::test]
async fn type_with_an_unknown_alias_is_bad_value() {
    let test = TestServer::start().await;
    let error = test
        .collection("query")
        .find_one(doc! { "v": { "$type": "nonsense" } })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 2);
    assert_eq!(error.code_name, "BadValue");
}

#[tokio::test]
async fn regex_supports_options_and_the_regex_operator_form() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "sku": "abc123" },
        doc! { "_id": 2, "sku": "ABC789" },
        doc! { "_id": 3, "sku": "xyz\nabc" },
        doc! { "_id": 4, "sku": 12 },
    ];
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "sku": { "$regex": "^abc" } }
        )
        .await,
        vec![1]
    );
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "sku": { "$regex": "^abc", "$options": "i" } }
        )
        .await,
        vec![1, 2]
    );
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "sku": { "$regex": "^abc", "$options": "m" } }
        )
        .await,
        vec![1, 3]
    );
    let literal = Regex {
        pattern: "789$".to_string(),
        options: String::new(),
    };
    assert_eq!(
        matching(&test, documents.clone(), doc! { "sku": literal }).await,
        vec![2]
    );
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "sku": { "$regex": "^a b c # spaced out", "$options": "x" } }
        )
        .await,
        vec![1]
    );
}

#[tokio::test]
async fn mod_matches_remainders_and_rejects_bad_arguments() {
    let test = TestServer::start().await;
    let documents: Vec<Document> = (1..=9).map(|n| doc! { "_id": n, "qty": n }).collect();
    assert_eq!(
        matching(&test, documents, doc! { "qty": { "$mod": [4, 0] } }).await,
        vec![4, 8]
    );
    let error = test
        .collection("query")
        .find_one(doc! { "qty": { "$mod": [4] } })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 2);
    assert_eq!(error.message, "malformed mod, not enough elements");
}

#[tokio::test]
async fn expr_compares_fields_of_the_same_document() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "spent": 400, "budget": 450 },
        doc! { "_id": 2, "spent": 500, "budget": 400 },
        doc! { "_id": 3, "spent": 120, "budget": 100 },
    ];
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "$expr": { "$gt": ["$spent", "$budget"] } }
        )
        .await,
        vec![2, 3]
    );
}

#[tokio::test]
async fn all_requires_every_value() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "tags": ["ssl", "security", "web"] },
        doc! { "_id": 2, "tags": ["ssl"] },
        doc! { "_id": 3, "tags": "ssl" },
    ];
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "tags": { "$all": ["ssl", "security"] } }
        )
        .await,
        vec![1]
    );
    assert_eq!(
        matching(&test, documents, doc! { "tags": { "$all": ["ssl"] } }).await,
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn all_with_elem_match_clauses() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "qty": [ { "size": "M", "num": 100 }, { "size": "L", "num": 1 } ] },
        doc! { "_id": 2, "qty": [ { "size": "M", "num": 10 } ] },
    ];
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "qty": { "$all": [
                { "$elemMatch": { "size": "M", "num": { "$gt": 50 } } },
                { "$elemMatch": { "num": 1 } },
            ] } }
        )
        .await,
        vec![1]
    );
}

#[tokio::test]
async fn elem_match_requires_one_element_to_satisfy_every_condition() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "results": [ { "product": "abc", "score": 10 }, { "product": "xyz", "score": 5 } ] },
        doc! { "_id": 2, "results": [ { "product": "abc", "score": 8 }, { "product": "xyz", "score": 7 } ] },
        doc! { "_id": 3, "results": [ { "product": "abc", "score": 7 }, { "product": "xyz", "score": 8 } ] },
    ];
    assert_eq!(
        matching(
            &test,
            documents.clone(),
            doc! { "results": { "$elemMatch": { "product": "xyz", "score": { "$gte": 8 } } } }
        )
        .await,
        vec![3]
    );
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "results.product": "xyz", "results.score": { "$gte": 8 } }
        )
        .await,
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn size_matches_exact_array_length_only() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "a": [1, 2] },
        doc! { "_id": 2, "a": [1] },
        doc! { "_id": 3, "a": [] },
        doc! { "_id": 4, "a": "ab" },
    ];
    assert_eq!(
        matching(&test, documents.clone(), doc! { "a": { "$size": 2 } }).await,
        vec![1]
    );
    assert_eq!(
        matching(&test, documents, doc! { "a": { "$size": 0 } }).await,
        vec![3]
    );
    let error = test
        .collection("query")
        .find_one(doc! { "a": { "$size": "two" } })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 2);
}

#[tokio::test]
async fn object_id_equality_and_ordering() {
    let test = TestServer::start().await;
    let first = ObjectId::parse_str("65a1b2c3d4e5f6789abcdef0").unwrap();
    let second = ObjectId::parse_str("65a1b2c3d4e5f6789abcdef1").unwrap();
    let documents = vec![
        doc! { "_id": 1, "owner": first },
        doc! { "_id": 2, "owner": second },
        doc! { "_id": 3, "owner": "65a1b2c3d4e5f6789abcdef0" },
    ];
    assert_eq!(
        matching(&test, documents.clone(), doc! { "owner": first }).await,
        vec![1]
    );
    assert_eq!(
        matching(&test, documents, doc! { "owner": { "$gt": first } }).await,
        vec![2]
    );
}

#[tokio::test]
async fn dates_compare_chronologically_and_not_with_numbers() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "at": DateTime::parse_rfc3339_str("2024-01-15T10:30:00Z").unwrap() },
        doc! { "_id": 2, "at": DateTime::parse_rfc3339_str("2024-02-10T14:22:00Z").unwrap() },
        doc! { "_id": 3, "at": 1_700_000_000_000i64 },
    ];
    let cutoff = DateTime::parse_rfc3339_str("2024-02-01T00:00:00Z").unwrap();
    assert_eq!(
        matching(&test, documents.clone(), doc! { "at": { "$gte": cutoff } }).await,
        vec![2]
    );
    assert_eq!(
        matching(&test, documents, doc! { "at": { "$lt": cutoff } }).await,
        vec![1]
    );
}

#[tokio::test]
async fn decimal128_compares_with_other_numbers() {
    let test = TestServer::start().await;
    let documents = vec![
        doc! { "_id": 1, "price": Decimal128::from_str("9.99").unwrap() },
        doc! { "_id": 2, "price": 10 },
        doc! { "_id": 3, "price": Decimal128::from_str("10.50").unwrap() },
    ];
    assert_eq!(
        matching(&test, documents.clone(), doc! { "price": { "$gte": 10 } }).await,
        vec![2, 3]
    );
    assert_eq!(
        matching(
            &test,
            documents,
            doc! { "price": Decimal128::from_str("10.0").unwrap() }
        )
        .await,
        vec![2]
    );
}

#[tokio::test]
async fn sort_orders_mixed_types_by_bson_type_order() {
    let test = TestServer::start().await;
    let collection = test.collection("mixed");
    collection
        .insert_many(vec![
            doc! { "_id": 1, "v": "text" },
            doc! { "_id": 2, "v": 5 },
            doc! { "_id": 3, "v": Bson::Null },
            doc! { "_id": 4, "v": { "a": 1 } },
            doc! { "_id": 5, "v": true },
            doc! { "_id": 6, "v": DateTime::from_millis(5) },
            doc! { "_id": 7, "v": ObjectId::parse_str("65a1b2c3d4e5f6789abcdef0").unwrap() },
            doc! { "_id": 8, "v": 2.5 },
            doc! { "_id": 9 },
        ])
        .await
        .unwrap();
    let sorted: Vec<Document> = collection
        .find(doc! {})
        .sort(doc! { "v": 1, "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    // Missing and null sort together first, then numbers, strings, objects, ObjectIds, booleans,
    // dates.
    assert_eq!(ids(&sorted), vec![3, 9, 8, 2, 1, 4, 7, 5, 6]);
}

#[tokio::test]
async fn sort_on_an_array_field_uses_the_smallest_element_ascending() {
    let test = TestServer::start().await;
    let collection = test.collection("arrays");
    collection
        .insert_many(vec![
            doc! { "_id": 1, "v": [3, 10] },
            doc! { "_id": 2, "v": [1, 4] },
            doc! { "_id": 3, "v": 2 },
        ])
        .await
        .unwrap();
    let ascending: Vec<Document> = collection
        .find(doc! {})
        .sort(doc! { "v": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&ascending), vec![2, 3, 1]);
    let descending: Vec<Document> = collection
        .find(doc! {})
        .sort(doc! { "v": -1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&descending), vec![1, 2, 3]);
}

#[tokio::test]
async fn unknown_top_level_operator_is_bad_value() {
    let test = TestServer::start().await;
    let error = test
        .collection("query")
        .find_one(doc! { "$bogus": [ { "a": 1 } ] })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 2);
    assert!(
        error
            .message
            .starts_with("unknown top level operator: $bogus"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn unknown_field_operator_is_bad_value() {
    let test = TestServer::start().await;
    let error = test
        .collection("query")
        .find_one(doc! { "a": { "$bogus": 1 } })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 2);
    assert_eq!(error.message, "unknown operator: $bogus");
}

#[tokio::test]
async fn in_requires_an_array() {
    let test = TestServer::start().await;
    let error = test
        .collection("query")
        .find_one(doc! { "a": { "$in": 5 } })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 2);
    assert_eq!(error.message, "$in needs an array");
}

#[tokio::test]
async fn projection_inclusion_exclusion_and_nested_fields() {
    let test = TestServer::start().await;
    let collection = test.collection("projected");
    collection
        .insert_one(doc! { "_id": 1, "a": 1, "b": { "c": 2, "d": 3 }, "e": [ { "f": 1, "g": 2 } ] })
        .await
        .unwrap();
    let included = collection
        .find_one(doc! {})
        .projection(doc! { "b.c": 1, "e.f": 1 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        included,
        doc! { "_id": 1, "b": { "c": 2 }, "e": [ { "f": 1 } ] }
    );
    let excluded = collection
        .find_one(doc! {})
        .projection(doc! { "b": 0, "_id": 0 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(excluded, doc! { "a": 1, "e": [ { "f": 1, "g": 2 } ] });
    let error = collection
        .find_one(doc! {})
        .projection(doc! { "a": 1, "b": 0 })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 31254);
    assert_eq!(
        error.message,
        "Cannot do exclusion on field b in inclusion projection"
    );
}

#[tokio::test]
async fn projection_elem_match_and_slice() {
    let test = TestServer::start().await;
    let collection = test.collection("projected");
    collection
        .insert_one(
            doc! { "_id": 1, "items": [ { "k": 1 }, { "k": 2 }, { "k": 3 } ], "n": [1, 2, 3, 4] },
        )
        .await
        .unwrap();
    let matched = collection
        .find_one(doc! {})
        .projection(doc! { "items": { "$elemMatch": { "k": { "$gte": 2 } } } })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(matched, doc! { "_id": 1, "items": [ { "k": 2 } ] });
    let sliced = collection
        .find_one(doc! {})
        .projection(doc! { "n": { "$slice": -2 }, "items": 0 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sliced, doc! { "_id": 1, "n": [3, 4] });
}

#[tokio::test]
async fn positional_projection_returns_the_first_matching_element() {
    let test = TestServer::start().await;
    let collection = test.collection("projected");
    collection
        .insert_one(doc! { "_id": 1, "grades": [80, 85, 92, 95] })
        .await
        .unwrap();
    let found = collection
        .find_one(doc! { "grades": { "$gte": 90 } })
        .projection(doc! { "grades.$": 1 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, doc! { "_id": 1, "grades": [92] });
}
