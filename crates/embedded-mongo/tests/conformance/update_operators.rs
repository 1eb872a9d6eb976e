//! Every update operator in the "Update" list, the positional forms, replacement
//! documents, upsert rules and the documented errors (conflicts → 40, immutable `_id` → 66,
//! type mismatches → 14).

use mongodb::bson::{doc, Bson, DateTime, Document, Timestamp};

use crate::fixture::{server_error, ServerError, TestServer};

/// Inserts `original` (with `_id: 1`), applies `update` to it and returns the stored result.
async fn updated(test: &TestServer, original: Document, update: Document) -> Document {
    let collection = test.collection("updates");
    collection.delete_many(doc! {}).await.unwrap();
    collection.insert_one(original).await.unwrap();
    collection
        .update_one(doc! { "_id": 1 }, update)
        .await
        .unwrap();
    collection
        .find_one(doc! { "_id": 1 })
        .await
        .unwrap()
        .unwrap()
}

/// Inserts `original` and returns the server's refusal of `update`, checking nothing changed.
async fn refused(test: &TestServer, original: Document, update: Document) -> ServerError {
    let collection = test.collection("updates");
    collection.delete_many(doc! {}).await.unwrap();
    collection.insert_one(original.clone()).await.unwrap();
    let error = collection
        .update_one(doc! { "_id": 1 }, update)
        .await
        .unwrap_err();
    let stored = collection
        .find_one(doc! { "_id": 1 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, original, "a refused update writes nothing");
    server_error(&error)
}

#[tokio::test]
async fn set_creates_and_replaces_fields_including_nested_paths() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "a": 1, "nested": { "keep": true } },
        doc! { "$set": { "a": 2, "nested.added": "x", "fresh.deep": 3 } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "a": 2, "nested": { "keep": true, "added": "x" }, "fresh": { "deep": 3 } }
    );
}

#[tokio::test]
async fn set_on_an_array_index_path_pads_with_nulls() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "a": [1] },
        doc! { "$set": { "a.3": 4 } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "a": [1, Bson::Null, Bson::Null, 4] }
    );
}

#[tokio::test]
async fn unset_removes_fields_and_ignores_missing_ones() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "a": 1, "b": { "c": 2, "d": 3 } },
        doc! { "$unset": { "a": "", "b.c": 1, "missing": "" } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "b": { "d": 3 } });
}

#[tokio::test]
async fn unset_on_an_array_element_sets_it_to_null() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "a": [1, 2, 3] },
        doc! { "$unset": { "a.1": "" } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "a": [1, Bson::Null, 3] });
}

#[tokio::test]
async fn inc_adds_creates_and_widens_numeric_types() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "i": 1, "l": 5i64, "d": 1.5, "big": i32::MAX },
        doc! { "$inc": { "i": 2, "l": -1, "d": 1, "new": 5, "big": 1 } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "i": 3, "l": 4i64, "d": 2.5, "big": i64::from(i32::MAX) + 1, "new": 5 }
    );
    assert!(matches!(result.get("i"), Some(Bson::Int32(3))));
    assert!(matches!(result.get("big"), Some(Bson::Int64(_))));
}

#[tokio::test]
async fn inc_on_a_string_is_type_mismatch_14() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": "text" },
        doc! { "$inc": { "a": 1 } },
    )
    .await;
    assert_eq!(error.code, 14);
    assert_eq!(error.code_name, "TypeMismatch");
    assert_eq!(
        error.message,
        "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 'a' of non-numeric type string"
    );
}

#[tokio::test]
async fn inc_with_a_non_numeric_argument_is_type_mismatch() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": 1 },
        doc! { "$inc": { "a": "one" } },
    )
    .await;
    assert_eq!(error.code, 14);
    assert_eq!(
        error.message,
        "Cannot increment with non-numeric argument: {a: \"one\"}"
    );
}

#[tokio::test]
async fn mul_multiplies_and_sets_missing_fields_to_zero() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "price": 10, "qty": 2.5 },
        doc! { "$mul": { "price": 3, "qty": 2, "missing": 7 } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "price": 30, "qty": 5.0, "missing": 0 }
    );
}

#[tokio::test]
async fn min_and_max_replace_only_when_smaller_or_larger() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "low": 200, "high": 800, "keepLow": 100, "keepHigh": 900 },
        doc! {
            "$min": { "low": 150, "keepLow": 150, "absentMin": 5 },
            "$max": { "high": 950, "keepHigh": 850, "absentMax": 6 },
        },
    )
    .await;
    assert_eq!(
        result,
        doc! {
            "_id": 1, "low": 150, "high": 950, "keepLow": 100, "keepHigh": 900,
            "absentMin": 5, "absentMax": 6,
        }
    );
}

#[tokio::test]
async fn min_compares_dates() {
    let test = TestServer::start().await;
    let early = DateTime::parse_rfc3339_str("2024-01-01T00:00:00Z").unwrap();
    let late = DateTime::parse_rfc3339_str("2024-06-01T00:00:00Z").unwrap();
    let result = updated(
        &test,
        doc! { "_id": 1, "first": late },
        doc! { "$min": { "first": early } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "first": early });
}

#[tokio::test]
async fn rename_moves_fields_including_into_embedded_documents() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "nmae": "x", "name": { "first": "a" }, "old": 1 },
        doc! { "$rename": { "nmae": "nickname", "name.first": "name.given", "absent": "other" } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "name": { "given": "a" }, "old": 1, "nickname": "x" }
    );
}

#[tokio::test]
async fn rename_to_the_same_field_is_bad_value() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": 1 },
        doc! { "$rename": { "a": "a" } },
    )
    .await;
    assert_eq!(error.code, 2);
}

#[tokio::test]
async fn set_on_insert_applies_only_when_the_upsert_inserts() {
    let test = TestServer::start().await;
    let collection = test.collection("upserts");
    let inserted = collection
        .update_one(
            doc! { "_id": 1 },
            doc! { "$set": { "seen": 1 }, "$setOnInsert": { "created": true } },
        )
        .upsert(true)
        .await
        .unwrap();
    assert_eq!(inserted.upserted_id, Some(Bson::Int32(1)));
    assert_eq!((inserted.matched_count, inserted.modified_count), (0, 0));
    let updated = collection
        .update_one(
            doc! { "_id": 1 },
            doc! { "$set": { "seen": 2 }, "$setOnInsert": { "created": false } },
        )
        .upsert(true)
        .await
        .unwrap();
    assert_eq!(updated.upserted_id, None);
    assert_eq!((updated.matched_count, updated.modified_count), (1, 1));
    let stored = collection
        .find_one(doc! { "_id": 1 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, doc! { "_id": 1, "seen": 2, "created": true });
}

#[tokio::test]
async fn current_date_sets_a_date_or_a_timestamp() {
    let test = TestServer::start().await;
    let before = DateTime::now();
    let result = updated(
        &test,
        doc! { "_id": 1 },
        doc! { "$currentDate": { "modified": true, "stamp": { "$type": "timestamp" }, "day": { "$type": "date" } } },
    )
    .await;
    let after = DateTime::now();
    let modified = result.get_datetime("modified").unwrap();
    assert!(*modified >= before && *modified <= after, "{result}");
    assert!(matches!(result.get("day"), Some(Bson::DateTime(_))));
    match result.get("stamp") {
        Some(Bson::Timestamp(Timestamp { time, .. })) => {
            let seconds = (before.timestamp_millis() / 1000) as u32;
            assert!(*time >= seconds && *time <= seconds + 60, "{result}");
        }
        other => panic!("expected a timestamp, got {other:?}"),
    }
}

#[tokio::test]
async fn push_appends_and_creates_the_array() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "a": [1] },
        doc! { "$push": { "a": 2, "b": "new" } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "a": [1, 2], "b": ["new"] });
}

#[tokio::test]
async fn push_an_array_without_each_appends_it_as_one_element() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "a": [1] },
        doc! { "$push": { "a": [2, 3] } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "a": [1, [2, 3]] });
}

#[tokio::test]
async fn push_each_with_position() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "a": [1, 4] },
        doc! { "$push": { "a": { "$each": [2, 3], "$position": 1 } } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "a": [1, 2, 3, 4] });
    let negative = updated(
        &test,
        doc! { "_id": 1, "a": [1, 4] },
        doc! { "$push": { "a": { "$each": [9], "$position": -1 } } },
    )
    .await;
    assert_eq!(negative, doc! { "_id": 1, "a": [1, 9, 4] });
}

#[tokio::test]
async fn push_each_with_sort_and_slice_keeps_the_top_entries() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "quizzes": [ { "wk": 1, "score": 10 }, { "wk": 2, "score": 8 } ] },
        doc! { "$push": { "quizzes": {
            "$each": [ { "wk": 5, "score": 8 }, { "wk": 6, "score": 7 }, { "wk": 7, "score": 6 } ],
            "$sort": { "score": -1 },
            "$slice": 3,
        } } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "quizzes": [
            { "wk": 1, "score": 10 }, { "wk": 2, "score": 8 }, { "wk": 5, "score": 8 },
        ] }
    );
}

#[tokio::test]
async fn push_each_with_negative_slice_and_plain_sort() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "a": [40, 10] },
        doc! { "$push": { "a": { "$each": [30, 20, 50], "$sort": 1, "$slice": -3 } } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "a": [30, 40, 50] });
}

#[tokio::test]
async fn push_on_a_non_array_is_bad_value() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": "text" },
        doc! { "$push": { "a": 1 } },
    )
    .await;
    assert_eq!(error.code, 2);
    assert_eq!(
        error.message,
        "The field 'a' must be an array but is of type string in document {_id: 1}"
    );
}

#[tokio::test]
async fn add_to_set_adds_only_missing_values() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "tags": ["a", "b"] },
        doc! { "$addToSet": { "tags": "a", "more": "x" } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "tags": ["a", "b"], "more": ["x"] });
    let each = updated(
        &test,
        doc! { "_id": 1, "tags": ["a", "b"] },
        doc! { "$addToSet": { "tags": { "$each": ["b", "c", "c", "d"] } } },
    )
    .await;
    assert_eq!(each, doc! { "_id": 1, "tags": ["a", "b", "c", "d"] });
}

#[tokio::test]
async fn add_to_set_treats_equal_numbers_as_present() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "n": [1, 2] },
        doc! { "$addToSet": { "n": 2.0 } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "n": [1, 2] });
}

#[tokio::test]
async fn pull_removes_values_and_condition_matches() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "fruits": ["apple", "pear", "apple"], "votes": [3, 5, 6, 7, 7, 8] },
        doc! { "$pull": { "fruits": "apple", "votes": { "$gte": 6 } } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "fruits": ["pear"], "votes": [3, 5] }
    );
}

#[tokio::test]
async fn pull_with_a_document_condition_matches_embedded_documents() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "results": [ { "item": "A", "score": 5 }, { "item": "B", "score": 8 } ] },
        doc! { "$pull": { "results": { "score": 8, "item": "B" } } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "results": [ { "item": "A", "score": 5 } ] }
    );
}

#[tokio::test]
async fn pull_all_removes_every_listed_value() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "scores": [0, 2, 5, 5, 1, 0] },
        doc! { "$pullAll": { "scores": [0, 5] } },
    )
    .await;
    assert_eq!(result, doc! { "_id": 1, "scores": [2, 1] });
}

#[tokio::test]
async fn pop_removes_the_last_or_first_element() {
    let test = TestServer::start().await;
    let last = updated(
        &test,
        doc! { "_id": 1, "a": [1, 2, 3] },
        doc! { "$pop": { "a": 1 } },
    )
    .await;
    assert_eq!(last, doc! { "_id": 1, "a": [1, 2] });
    let first = updated(
        &test,
        doc! { "_id": 1, "a": [1, 2, 3] },
        doc! { "$pop": { "a": -1 } },
    )
    .await;
    assert_eq!(first, doc! { "_id": 1, "a": [2, 3] });
}

#[tokio::test]
async fn positional_operator_updates_the_first_matched_element() {
    let test = TestServer::start().await;
    let collection = test.collection("students");
    collection
        .insert_one(doc! { "_id": 1, "grades": [85, 80, 80] })
        .await
        .unwrap();
    collection
        .update_one(
            doc! { "_id": 1, "grades": 80 },
            doc! { "$set": { "grades.$": 82 } },
        )
        .await
        .unwrap();
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(stored, doc! { "_id": 1, "grades": [85, 82, 80] });
}

#[tokio::test]
async fn positional_operator_on_embedded_documents() {
    let test = TestServer::start().await;
    let collection = test.collection("students");
    collection
        .insert_one(
            doc! { "_id": 1, "grades": [ { "grade": 80, "std": 8 }, { "grade": 85, "std": 6 } ] },
        )
        .await
        .unwrap();
    collection
        .update_one(
            doc! { "_id": 1, "grades.grade": 85 },
            doc! { "$set": { "grades.$.std": 6.5 } },
        )
        .await
        .unwrap();
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(
        stored,
        doc! { "_id": 1, "grades": [ { "grade": 80, "std": 8 }, { "grade": 85, "std": 6.5 } ] }
    );
}

#[tokio::test]
async fn positional_operator_without_an_array_match_is_bad_value() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": [1, 2] },
        doc! { "$set": { "a.$": 5 } },
    )
    .await;
    assert_eq!(error.code, 2);
    assert_eq!(
        error.message,
        "The positional operator did not find the match needed from the query."
    );
}

#[tokio::test]
async fn all_positional_updates_every_element() {
    let test = TestServer::start().await;
    let result = updated(
        &test,
        doc! { "_id": 1, "grades": [85, 82, 80], "items": [ { "n": 1 }, { "n": 2 } ] },
        doc! { "$inc": { "grades.$[]": 10 }, "$set": { "items.$[].seen": true } },
    )
    .await;
    assert_eq!(
        result,
        doc! { "_id": 1, "grades": [95, 92, 90], "items": [ { "n": 1, "seen": true }, { "n": 2, "seen": true } ] }
    );
}

#[tokio::test]
async fn filtered_positional_updates_elements_matching_array_filters() {
    let test = TestServer::start().await;
    let collection = test.collection("students");
    collection
        .insert_one(doc! { "_id": 1, "grades": [
            { "grade": 80, "mean": 75 }, { "grade": 85, "mean": 90 }, { "grade": 85, "mean": 85 },
        ] })
        .await
        .unwrap();
    collection
        .update_one(
            doc! { "_id": 1 },
            doc! { "$set": { "grades.$[elem].mean": 100 } },
        )
        .array_filters(vec![doc! { "elem.grade": { "$gte": 85 } }])
        .await
        .unwrap();
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(
        stored,
        doc! { "_id": 1, "grades": [
            { "grade": 80, "mean": 75 }, { "grade": 85, "mean": 100 }, { "grade": 85, "mean": 100 },
        ] }
    );
}

#[tokio::test]
async fn filtered_positional_without_its_array_filter_is_bad_value() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": [1] },
        doc! { "$set": { "a.$[x]": 2 } },
    )
    .await;
    assert_eq!(error.code, 2);
    assert_eq!(
        error.message,
        "No array filter found for identifier 'x' in path 'a.$[x]'"
    );
}

#[tokio::test]
async fn replacement_keeps_the_id_and_drops_other_fields() {
    let test = TestServer::start().await;
    let collection = test.collection("replaced");
    collection
        .insert_one(doc! { "_id": 1, "a": 1, "b": 2 })
        .await
        .unwrap();
    let result = collection
        .replace_one(doc! { "_id": 1 }, doc! { "c": 3 })
        .await
        .unwrap();
    assert_eq!((result.matched_count, result.modified_count), (1, 1));
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(stored, doc! { "_id": 1, "c": 3 });
}

#[tokio::test]
async fn changing_the_id_is_immutable_field_66() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": 1 },
        doc! { "$set": { "_id": 2 } },
    )
    .await;
    assert_eq!(error.code, 66);
    assert_eq!(error.code_name, "ImmutableField");
    assert_eq!(
        error.message,
        "Performing an update on the path '_id' would modify the immutable field '_id'"
    );
    let collection = test.collection("updates");
    let replaced = collection
        .replace_one(doc! { "_id": 1 }, doc! { "_id": 3, "a": 1 })
        .await
        .unwrap_err();
    assert_eq!(server_error(&replaced).code, 66);
}

#[tokio::test]
async fn upsert_builds_the_document_from_filter_equalities_and_the_update() {
    let test = TestServer::start().await;
    let collection = test.collection("upserts");
    let result = collection
        .update_one(
            doc! { "name": "Ada", "age": { "$gt": 30 }, "$and": [ { "city": "London" } ] },
            doc! { "$set": { "role": "engineer" } },
        )
        .upsert(true)
        .await
        .unwrap();
    let id = result.upserted_id.expect("an upsert reports its _id");
    assert!(matches!(id, Bson::ObjectId(_)));
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(
        stored,
        doc! { "_id": id, "name": "Ada", "city": "London", "role": "engineer" }
    );
}

#[tokio::test]
async fn upsert_with_a_replacement_takes_the_id_from_the_filter() {
    let test = TestServer::start().await;
    let collection = test.collection("upserts");
    let result = collection
        .replace_one(doc! { "_id": "fixed", "ignored": 1 }, doc! { "value": 1 })
        .upsert(true)
        .await
        .unwrap();
    assert_eq!(result.upserted_id, Some(Bson::from("fixed")));
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(stored, doc! { "_id": "fixed", "value": 1 });
}

#[tokio::test]
async fn upsert_with_dotted_filter_fields_creates_embedded_documents() {
    let test = TestServer::start().await;
    let collection = test.collection("upserts");
    collection
        .update_one(
            doc! { "_id": 1, "profile.country": "US" },
            doc! { "$inc": { "visits": 1 } },
        )
        .upsert(true)
        .await
        .unwrap();
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(
        stored,
        doc! { "_id": 1, "profile": { "country": "US" }, "visits": 1 }
    );
}

#[tokio::test]
async fn conflicting_operators_on_the_same_path_are_code_40() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": 1 },
        doc! { "$set": { "a": 5 }, "$inc": { "a": 1 } },
    )
    .await;
    assert_eq!(error.code, 40);
    assert_eq!(error.code_name, "ConflictingUpdateOperators");
    assert_eq!(
        error.message,
        "Updating the path 'a' would create a conflict at 'a'"
    );
}

#[tokio::test]
async fn conflicting_parent_and_child_paths_are_code_40() {
    let test = TestServer::start().await;
    let error = refused(
        &test,
        doc! { "_id": 1, "a": { "b": 1 } },
        doc! { "$set": { "a.b": 2 }, "$unset": { "a": "" } },
    )
    .await;
    assert_eq!(error.code, 40);
    assert!(
        error.message.starts_with("Updating the path 'a")
            && error.message.ends_with("would create a conflict at 'a'"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn unknown_update_modifier_is_failed_to_parse_9() {
    let test = TestServer::start().await;
    let error = refused(&test, doc! { "_id": 1 }, doc! { "$bogus": { "a": 1 } }).await;
    assert_eq!(error.code, 9);
    assert_eq!(error.code_name, "FailedToParse");
    assert!(
        error.message.starts_with("Unknown modifier: $bogus"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn update_of_an_unchanged_value_reports_not_modified() {
    let test = TestServer::start().await;
    let collection = test.collection("same");
    collection
        .insert_one(doc! { "_id": 1, "a": 1 })
        .await
        .unwrap();
    let result = collection
        .update_one(doc! { "_id": 1 }, doc! { "$set": { "a": 1 } })
        .await
        .unwrap();
    assert_eq!((result.matched_count, result.modified_count), (1, 0));
}

#[tokio::test]
async fn pipeline_style_update_computes_from_the_document() {
    let test = TestServer::start().await;
    let collection = test.collection("pipelined");
    collection
        .insert_one(doc! { "_id": 1, "a": 2, "b": 3, "drop": true })
        .await
        .unwrap();
    collection
        .update_one(
            doc! { "_id": 1 },
            vec![
                doc! { "$set": { "sum": { "$add": ["$a", "$b"] } } },
                doc! { "$unset": "drop" },
            ],
        )
        .await
        .unwrap();
    let stored = collection.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(stored, doc! { "_id": 1, "a": 2, "b": 3, "sum": 5 });
}
