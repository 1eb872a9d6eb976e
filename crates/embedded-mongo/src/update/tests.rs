//! Behaviour of whole updates, checked against the results the MongoDB manual documents.

use bson::{doc, Bson, DateTime, Document};

use super::{upsert_seed, ApplyContext, UpdateSpec};
use crate::error::{codes, CommandError};

fn context() -> ApplyContext {
    ApplyContext {
        array_position: None,
        inserting: false,
        now: DateTime::from_millis(1_700_000_000_000),
        variables: None,
    }
}

/// Applies `update` to `document` and returns the new document and whether it changed.
fn updated(document: Document, update: Document) -> (Document, bool) {
    let mut document = document;
    let spec = UpdateSpec::parse(&Bson::Document(update), &[]).expect("update parses");
    let changed = spec
        .apply(&mut document, &context())
        .expect("update applies");
    (document, changed)
}

fn apply(document: Document, update: Document) -> Document {
    updated(document, update).0
}

/// The error of parsing or applying `update`, after checking the document was left alone.
fn failure(document: Document, update: Document) -> CommandError {
    let original = document.clone();
    let mut document = document;
    let error = match UpdateSpec::parse(&Bson::Document(update), &[]) {
        Err(error) => error,
        Ok(spec) => spec
            .apply(&mut document, &context())
            .expect_err("update should fail"),
    };
    assert_eq!(
        document, original,
        "a failed update must not change the document"
    );
    error
}

#[test]
fn set_replaces_values_and_appends_new_fields() {
    let document = doc! {"_id": 1, "quantity": 5, "details": {"model": "14Q2", "make": "xyz"}};
    let result = apply(
        document,
        doc! {"$set": {"quantity": 500, "details": {"model": "2600", "make": "Fashionaires"}, "tags": ["coats", "outerwear"]}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "quantity": 500, "details": {"model": "2600", "make": "Fashionaires"}, "tags": ["coats", "outerwear"]}
    );
}

#[test]
fn set_with_dotted_paths_creates_embedded_documents() {
    let result = apply(
        doc! {"_id": 1},
        doc! {"$set": {"details.make": "Kustom Kidz"}},
    );
    assert_eq!(result, doc! {"_id": 1, "details": {"make": "Kustom Kidz"}});
}

#[test]
fn set_on_array_index_updates_the_element() {
    let result = apply(
        doc! {"_id": 1, "tags": ["a", "b"]},
        doc! {"$set": {"tags.1": "rain gear"}},
    );
    assert_eq!(result, doc! {"_id": 1, "tags": ["a", "rain gear"]});
}

#[test]
fn set_past_the_end_of_an_array_pads_with_null() {
    let result = apply(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.3": 9}});
    assert_eq!(result, doc! {"_id": 1, "a": [1, null, null, 9]});
}

#[test]
fn set_to_the_same_value_is_not_a_modification() {
    let (_, changed) = updated(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a": 1}});
    assert!(!changed);
    let (result, changed) = updated(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a": 1.0}});
    assert!(changed, "a different numeric type is a modification");
    assert_eq!(result, doc! {"_id": 1, "a": 1.0});
}

#[test]
fn empty_operator_arguments_are_no_ops() {
    let (result, changed) = updated(doc! {"_id": 1, "a": 1}, doc! {"$set": {}});
    assert_eq!(result, doc! {"_id": 1, "a": 1});
    assert!(!changed);
}

#[test]
fn setting_through_a_scalar_is_path_not_viable() {
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a.b": 2}});
    assert_eq!(error.code, codes::PATH_NOT_VIABLE);
    assert_eq!(error.message, "Cannot create field 'b' in element {a: 1}");
    assert_eq!(error.code_name(), "PathNotViable");
}

#[test]
fn non_numeric_component_on_an_array_is_path_not_viable() {
    let error = failure(doc! {"_id": 1, "a": [1, 2]}, doc! {"$set": {"a.b": 2}});
    assert_eq!(error.code, codes::PATH_NOT_VIABLE);
    assert_eq!(
        error.message,
        "Cannot create field 'b' in element {a: [ 1, 2 ]}"
    );
}

#[test]
fn new_fields_are_applied_in_lexicographic_order() {
    let result = apply(
        doc! {"_id": 1, "m": 0},
        doc! {"$set": {"z": 1, "b": 2}, "$inc": {"a": 3}, "$currentDate": {"c": true}},
    );
    let keys: Vec<&String> = result.keys().collect();
    assert_eq!(keys, ["_id", "m", "a", "b", "c", "z"]);
}

#[test]
fn numeric_field_names_are_applied_in_numeric_order() {
    let result = apply(doc! {"_id": 1}, doc! {"$set": {"a.10": 1, "a.9": 2}});
    assert_eq!(result, doc! {"_id": 1, "a": {"9": 2, "10": 1}});
}

#[test]
fn unset_removes_fields_and_nulls_array_elements() {
    let result = apply(
        doc! {"_id": 1, "sku": "unknown", "quantity": 2, "instock": true, "a": [1, 2]},
        doc! {"$unset": {"quantity": "", "instock": "", "missing": "", "a.0": 1}},
    );
    assert_eq!(result, doc! {"_id": 1, "sku": "unknown", "a": [null, 2]});
}

#[test]
fn unset_of_a_missing_field_is_not_a_modification() {
    let (_, changed) = updated(doc! {"_id": 1}, doc! {"$unset": {"a.b": 1}});
    assert!(!changed);
}

#[test]
fn inc_adds_and_creates_missing_fields() {
    let result = apply(
        doc! {"_id": 1, "quantity": 10, "metrics": {"orders": 2, "ratings": 3.5}},
        doc! {"$inc": {"quantity": -2, "metrics.orders": 1, "new": 5}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "quantity": 8, "metrics": {"orders": 3, "ratings": 3.5}, "new": 5}
    );
}

#[test]
fn inc_promotes_int32_overflow_to_int64_and_mixes_with_doubles() {
    let result = apply(
        doc! {"_id": 1, "a": i32::MAX, "b": 1},
        doc! {"$inc": {"a": 1, "b": 0.5}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "a": i64::from(i32::MAX) + 1, "b": 1.5}
    );
}

#[test]
fn inc_on_a_string_is_type_mismatch() {
    let error = failure(doc! {"_id": 1, "a": "x"}, doc! {"$inc": {"a": 1}});
    assert_eq!(error.code, codes::TYPE_MISMATCH);
    assert_eq!(
        error.message,
        "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 'a' of non-numeric type string"
    );
}

#[test]
fn inc_with_a_non_numeric_argument_is_type_mismatch() {
    let error = failure(doc! {"_id": 1}, doc! {"$inc": {"a": "x"}});
    assert_eq!(error.code, codes::TYPE_MISMATCH);
    assert_eq!(
        error.message,
        "Cannot increment with non-numeric argument: {a: \"x\"}"
    );
}

#[test]
fn int64_overflow_fails() {
    let error = failure(doc! {"_id": 1, "a": i64::MAX}, doc! {"$inc": {"a": 1}});
    assert_eq!(error.code, codes::BAD_VALUE);
}

#[test]
fn mul_multiplies_and_sets_zero_of_the_argument_type_when_missing() {
    let result = apply(
        doc! {"_id": 1, "price": 10.5, "qty": 2},
        doc! {"$mul": {"price": 1.25, "qty": 2, "missing": 5_i64, "other": 2.0}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "price": 13.125, "qty": 4, "missing": 0_i64, "other": 0.0}
    );
}

#[test]
fn mul_mixes_int32_and_int64_into_int64() {
    let result = apply(
        doc! {"_id": 1, "price": 10},
        doc! {"$mul": {"price": 2_i64}},
    );
    assert_eq!(result, doc! {"_id": 1, "price": 20_i64});
}

#[test]
fn min_and_max_replace_only_when_smaller_or_larger() {
    let document = doc! {"_id": 1, "highScore": 800, "lowScore": 200};
    let (result, changed) = updated(document.clone(), doc! {"$min": {"lowScore": 150}});
    assert!(changed);
    assert_eq!(result, doc! {"_id": 1, "highScore": 800, "lowScore": 150});
    let (_, changed) = updated(document.clone(), doc! {"$min": {"lowScore": 250}});
    assert!(!changed);
    let (result, _) = updated(document, doc! {"$max": {"highScore": 950, "other": 1}});
    assert_eq!(
        result,
        doc! {"_id": 1, "highScore": 950, "lowScore": 200, "other": 1}
    );
}

#[test]
fn min_compares_across_types_in_bson_order() {
    let result = apply(doc! {"_id": 1, "a": "text"}, doc! {"$min": {"a": 5}});
    assert_eq!(result, doc! {"_id": 1, "a": 5});
    let (_, changed) = updated(doc! {"_id": 1, "a": 5}, doc! {"$max": {"a": 5.0}});
    assert!(!changed);
}

#[test]
fn rename_moves_a_field_to_the_end() {
    let result = apply(
        doc! {"_id": 1, "alias": ["The American Cincinnatus"], "mobile": "555", "nmae": {"first": "george", "last": "washington"}},
        doc! {"$rename": {"nmae": "name"}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "alias": ["The American Cincinnatus"], "mobile": "555", "name": {"first": "george", "last": "washington"}}
    );
}

#[test]
fn rename_of_an_embedded_field_moves_it() {
    let result = apply(
        doc! {"_id": 1, "name": {"first": "george", "last": "washington"}},
        doc! {"$rename": {"name.first": "fname"}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "name": {"last": "washington"}, "fname": "george"}
    );
}

#[test]
fn rename_of_a_missing_field_is_a_no_op() {
    let (result, changed) = updated(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"b": "c"}});
    assert_eq!(result, doc! {"_id": 1, "a": 1});
    assert!(!changed);
}

#[test]
fn rename_overwrites_an_existing_target() {
    let result = apply(
        doc! {"_id": 1, "a": 1, "b": 2},
        doc! {"$rename": {"a": "b"}},
    );
    assert_eq!(result, doc! {"_id": 1, "b": 1});
}

#[test]
fn rename_rejects_same_paths_and_arrays() {
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"a": "a"}});
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(
        error.message,
        "The source and target field for $rename must differ: a: \"a\""
    );
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"a": "a.b"}});
    assert_eq!(error.code, codes::BAD_VALUE);
    let error = failure(
        doc! {"_id": 1, "a": [{"b": 1}]},
        doc! {"$rename": {"a.0.b": "c"}},
    );
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(
        error.message,
        "The source field cannot be an array element, 'a.0.b' in doc with _id: 1 has an array field called 'a'"
    );
    let error = failure(
        doc! {"_id": 1, "x": 1, "a": []},
        doc! {"$rename": {"x": "a.0"}},
    );
    assert_eq!(error.code, codes::BAD_VALUE);
    let error = failure(doc! {"_id": 1}, doc! {"$rename": {"a": 1}});
    assert_eq!(
        error.message,
        "The 'to' field for $rename must be a string: a: 1"
    );
}

#[test]
fn set_on_insert_applies_only_when_inserting() {
    let update = doc! {"$set": {"item": "apple"}, "$setOnInsert": {"defaultQty": 100}};
    let spec = UpdateSpec::parse(&Bson::Document(update), &[]).unwrap();
    let mut existing = doc! {"_id": 1, "item": "pear"};
    spec.apply(&mut existing, &context()).unwrap();
    assert_eq!(existing, doc! {"_id": 1, "item": "apple"});
    let mut inserted = upsert_seed(&doc! {"_id": 1}).unwrap();
    let inserting = ApplyContext {
        inserting: true,
        ..context()
    };
    spec.apply(&mut inserted, &inserting).unwrap();
    assert_eq!(
        inserted,
        doc! {"_id": 1, "defaultQty": 100, "item": "apple"}
    );
}

#[test]
fn current_date_sets_dates_and_timestamps() {
    let result = apply(
        doc! {"_id": 1, "status": "a"},
        doc! {"$currentDate": {"lastModified": true, "cancellation.date": {"$type": "timestamp"}, "d": {"$type": "date"}}},
    );
    let now = context().now;
    assert_eq!(result.get_datetime("lastModified").unwrap(), &now);
    assert_eq!(result.get_datetime("d").unwrap(), &now);
    let stamp = result
        .get_document("cancellation")
        .unwrap()
        .get_timestamp("date")
        .unwrap();
    assert_eq!(stamp.time, 1_700_000_000);
}

#[test]
fn current_date_rejects_other_types() {
    let error = failure(
        doc! {"_id": 1},
        doc! {"$currentDate": {"a": {"$type": "string"}}},
    );
    assert_eq!(error.code, codes::BAD_VALUE);
    let error = failure(doc! {"_id": 1}, doc! {"$currentDate": {"a": 1}});
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(
        error.message,
        "int is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'})."
    );
}

#[test]
fn push_appends_one_value_and_creates_missing_arrays() {
    let result = apply(
        doc! {"_id": 1, "scores": [44, 78]},
        doc! {"$push": {"scores": 89, "new": [1]}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "scores": [44, 78, 89], "new": [[1]]}
    );
}

#[test]
fn push_each_appends_every_value() {
    let result = apply(
        doc! {"_id": 1, "scores": [44]},
        doc! {"$push": {"scores": {"$each": [90, 92, 85]}}},
    );
    assert_eq!(result, doc! {"_id": 1, "scores": [44, 90, 92, 85]});
}

#[test]
fn push_with_sort_by_field_and_slice_keeps_the_top_entries() {
    let document = doc! {"_id": 5, "quizzes": [
        {"wk": 1, "score": 10}, {"wk": 2, "score": 8}, {"wk": 3, "score": 5}, {"wk": 4, "score": 6},
    ]};
    let result = apply(
        document,
        doc! {"$push": {"quizzes": {"$each": [{"wk": 5, "score": 8}, {"wk": 6, "score": 7}, {"wk": 7, "score": 6}], "$sort": {"score": -1}, "$slice": 3}}},
    );
    assert_eq!(
        result,
        doc! {"_id": 5, "quizzes": [{"wk": 1, "score": 10}, {"wk": 2, "score": 8}, {"wk": 5, "score": 8}]}
    );
}

#[test]
fn push_with_position_inserts_in_place() {
    let result = apply(
        doc! {"_id": 1, "scores": [100]},
        doc! {"$push": {"scores": {"$each": [50, 60, 70], "$position": 0}}},
    );
    assert_eq!(result, doc! {"_id": 1, "scores": [50, 60, 70, 100]});
    let result = apply(
        doc! {"_id": 1, "scores": [50, 60, 70, 100]},
        doc! {"$push": {"scores": {"$each": [90, 80], "$position": -2}}},
    );
    assert_eq!(result, doc! {"_id": 1, "scores": [50, 60, 90, 80, 70, 100]});
}

#[test]
fn push_with_empty_each_can_sort_or_slice_alone() {
    let result = apply(
        doc! {"_id": 1, "tests": [89, 70, 100, 20]},
        doc! {"$push": {"tests": {"$each": [], "$sort": 1}}},
    );
    assert_eq!(result, doc! {"_id": 1, "tests": [20, 70, 89, 100]});
    let result = apply(
        doc! {"_id": 1, "scores": [40, 50, 60]},
        doc! {"$push": {"scores": {"$each": [80, 78, 86], "$slice": -5}}},
    );
    assert_eq!(result, doc! {"_id": 1, "scores": [50, 60, 80, 78, 86]});
}

#[test]
fn push_to_a_non_array_fails() {
    let error = failure(doc! {"_id": 1, "a": "x"}, doc! {"$push": {"a": 1}});
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(
        error.message,
        "The field 'a' must be an array but is of type string in document {_id: 1}"
    );
}

#[test]
fn push_modifiers_are_validated() {
    let error = failure(doc! {"_id": 1}, doc! {"$push": {"a": {"$each": 1}}});
    assert_eq!(error.code, codes::BAD_VALUE);
    let error = failure(
        doc! {"_id": 1},
        doc! {"$push": {"a": {"$each": [], "$slice": "x"}}},
    );
    assert_eq!(error.code, codes::BAD_VALUE);
    let error = failure(
        doc! {"_id": 1},
        doc! {"$push": {"a": {"$each": [], "$sort": 2}}},
    );
    assert_eq!(error.code, codes::BAD_VALUE);
    let error = failure(
        doc! {"_id": 1},
        doc! {"$push": {"a": {"$each": [], "$bogus": 1}}},
    );
    assert_eq!(error.code, codes::BAD_VALUE);
}

#[test]
fn add_to_set_adds_only_missing_values() {
    let (result, changed) = updated(
        doc! {"_id": 1, "letters": ["a", "b"]},
        doc! {"$addToSet": {"letters": ["c", "d"]}},
    );
    assert!(changed);
    assert_eq!(result, doc! {"_id": 1, "letters": ["a", "b", ["c", "d"]]});
    let (result, changed) = updated(
        doc! {"_id": 1, "colors": ["blue", "green", "red"]},
        doc! {"$addToSet": {"colors": "green"}},
    );
    assert!(!changed);
    assert_eq!(result, doc! {"_id": 1, "colors": ["blue", "green", "red"]});
}

#[test]
fn add_to_set_each_skips_duplicates_including_numeric_equivalents() {
    let result = apply(
        doc! {"_id": 2, "item": "cable", "tags": ["electronics", "supplies"]},
        doc! {"$addToSet": {"tags": {"$each": ["camera", "electronics", "accessories", "camera"]}, "n": {"$each": [1, 1.0, 2]}}},
    );
    assert_eq!(
        result,
        doc! {"_id": 2, "item": "cable", "tags": ["electronics", "supplies", "camera", "accessories"], "n": [1, 2]}
    );
}

#[test]
fn add_to_set_on_a_non_array_fails() {
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"$addToSet": {"a": 1}});
    assert_eq!(error.code, codes::BAD_VALUE);
}

#[test]
fn pull_removes_equal_values() {
    let result = apply(
        doc! {"_id": 1, "fruits": ["apples", "pears", "oranges", "grapes", "bananas"], "vegetables": ["carrots", "celery", "squash", "carrots"]},
        doc! {"$pull": {"fruits": "apples", "vegetables": "carrots"}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "fruits": ["pears", "oranges", "grapes", "bananas"], "vegetables": ["celery", "squash"]}
    );
}

#[test]
fn pull_all_removes_every_listed_value() {
    let result = apply(
        doc! {"_id": 1, "scores": [0, 2, 5, 5, 1, 0]},
        doc! {"$pullAll": {"scores": [0, 5]}},
    );
    assert_eq!(result, doc! {"_id": 1, "scores": [2, 1]});
    let error = failure(doc! {"_id": 1}, doc! {"$pullAll": {"scores": 1}});
    assert_eq!(error.code, codes::BAD_VALUE);
}

#[test]
fn pop_removes_the_first_or_last_element() {
    let result = apply(
        doc! {"_id": 1, "scores": [8, 9, 10]},
        doc! {"$pop": {"scores": -1}},
    );
    assert_eq!(result, doc! {"_id": 1, "scores": [9, 10]});
    let result = apply(
        doc! {"_id": 1, "scores": [9, 10]},
        doc! {"$pop": {"scores": 1}},
    );
    assert_eq!(result, doc! {"_id": 1, "scores": [9]});
    let (_, changed) = updated(doc! {"_id": 1, "scores": []}, doc! {"$pop": {"scores": 1}});
    assert!(!changed);
    let error = failure(doc! {"_id": 1, "scores": [1]}, doc! {"$pop": {"scores": 2}});
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
    let error = failure(doc! {"_id": 1, "scores": "x"}, doc! {"$pop": {"scores": 1}});
    assert_eq!(error.code, codes::TYPE_MISMATCH);
}

#[test]
fn unknown_modifiers_are_failed_to_parse() {
    let error = failure(doc! {"_id": 1}, doc! {"$foo": {"a": 1}});
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
    assert_eq!(
        error.message,
        "Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an array"
    );
}

#[test]
fn mixing_operators_and_fields_fails() {
    let error = failure(doc! {"_id": 1}, doc! {"$set": {"a": 1}, "b": 2});
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
}

#[test]
fn operator_arguments_must_be_documents() {
    let error = failure(doc! {"_id": 1}, doc! {"$set": 1});
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
    assert_eq!(
        error.message,
        "Modifiers operate on fields but we found type int instead. For example: {$mod: {<field>: ...}} not {$set: 1}"
    );
}

#[test]
fn operators_on_the_same_or_prefix_paths_conflict() {
    let error = failure(doc! {"_id": 1}, doc! {"$set": {"a": 1}, "$inc": {"a": 1}});
    assert_eq!(error.code, codes::CONFLICTING_UPDATE_OPERATORS);
    assert_eq!(
        error.message,
        "Updating the path 'a' would create a conflict at 'a'"
    );
    assert_eq!(error.code_name(), "ConflictingUpdateOperators");
    let error = failure(
        doc! {"_id": 1},
        doc! {"$set": {"a.b": 1}, "$unset": {"a": 1}},
    );
    assert_eq!(
        error.message,
        "Updating the path 'a' would create a conflict at 'a'"
    );
    let error = failure(
        doc! {"_id": 1},
        doc! {"$set": {"a": 1}, "$rename": {"b": "a.c"}},
    );
    assert_eq!(error.code, codes::CONFLICTING_UPDATE_OPERATORS);
}

#[test]
fn modifying_the_id_is_immutable_field() {
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"$set": {"_id": 2}});
    assert_eq!(error.code, codes::IMMUTABLE_FIELD);
    assert_eq!(
        error.message,
        "Performing an update on the path '_id' would modify the immutable field '_id'"
    );
    let error = failure(doc! {"_id": 1}, doc! {"$unset": {"_id": 1}});
    assert_eq!(error.code, codes::IMMUTABLE_FIELD);
    let (_, changed) = updated(doc! {"_id": 1}, doc! {"$set": {"_id": 1}});
    assert!(!changed);
}

#[test]
fn errors_leave_the_document_unchanged_even_after_earlier_operators_ran() {
    // `a` sorts before `b`, so `$set` runs before the failing `$inc`.
    let error = failure(
        doc! {"_id": 1, "b": "x"},
        doc! {"$set": {"a": 1}, "$inc": {"b": 1}},
    );
    assert_eq!(error.code, codes::TYPE_MISMATCH);
}

#[test]
fn positional_operator_uses_the_matched_index() {
    let spec = UpdateSpec::parse(&Bson::Document(doc! {"$set": {"grades.$": 82}}), &[]).unwrap();
    let mut document = doc! {"_id": 1, "grades": [85, 80, 80]};
    let matched = ApplyContext {
        array_position: Some(1),
        ..context()
    };
    assert!(spec.apply(&mut document, &matched).unwrap());
    assert_eq!(document, doc! {"_id": 1, "grades": [85, 82, 80]});
}

#[test]
fn positional_operator_updates_fields_of_the_matched_document() {
    let spec = UpdateSpec::parse(&Bson::Document(doc! {"$set": {"grades.$.std": 6}}), &[]).unwrap();
    let mut document =
        doc! {"_id": 4, "grades": [{"grade": 80, "std": 8}, {"grade": 85, "std": 5}]};
    let matched = ApplyContext {
        array_position: Some(1),
        ..context()
    };
    spec.apply(&mut document, &matched).unwrap();
    assert_eq!(
        document,
        doc! {"_id": 4, "grades": [{"grade": 80, "std": 8}, {"grade": 85, "std": 6}]}
    );
}

#[test]
fn positional_operator_without_a_match_fails() {
    let error = failure(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$": 2}});
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(
        error.message,
        "The positional operator did not find the match needed from the query."
    );
}

#[test]
fn all_positional_updates_every_element() {
    let result = apply(
        doc! {"_id": 1, "grades": [85, 82, 80]},
        doc! {"$inc": {"grades.$[]": 10}},
    );
    assert_eq!(result, doc! {"_id": 1, "grades": [95, 92, 90]});
}

#[test]
fn nested_all_positional_updates_every_nested_element() {
    let result = apply(
        doc! {"_id": 1, "grades": [{"questions": [1, 2]}, {"questions": [3]}]},
        doc! {"$inc": {"grades.$[].questions.$[]": 2}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "grades": [{"questions": [3, 4]}, {"questions": [5]}]}
    );
}

#[test]
fn all_positional_on_a_missing_array_fails() {
    let error = failure(doc! {"_id": 1}, doc! {"$set": {"a.$[]": 1}});
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(
        error.message,
        "The path 'a' must exist in the document in order to apply array updates."
    );
}

#[test]
fn all_positional_creates_fields_in_document_elements() {
    let result = apply(
        doc! {"_id": 1, "a": [{"b": 1}, {}]},
        doc! {"$set": {"a.$[].c": true}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "a": [{"b": 1, "c": true}, {"c": true}]}
    );
}

#[test]
fn unknown_array_filter_identifier_fails() {
    let error = failure(doc! {"_id": 1}, doc! {"$set": {"a.$[x]": 1}});
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(
        error.message,
        "No array filter found for identifier 'x' in path 'a.$[x]'"
    );
}

#[test]
fn replacement_keeps_the_id_and_drops_other_fields() {
    let spec = UpdateSpec::parse(&Bson::Document(doc! {"b": 2, "c": 3}), &[]).unwrap();
    assert!(spec.is_replacement());
    let mut document = doc! {"_id": 1, "a": 1};
    assert!(spec.apply(&mut document, &context()).unwrap());
    assert_eq!(document, doc! {"_id": 1, "b": 2, "c": 3});
    let spec = UpdateSpec::parse(&Bson::Document(doc! {"b": 2, "_id": 1}), &[]).unwrap();
    spec.apply(&mut document, &context()).unwrap();
    assert_eq!(document, doc! {"b": 2, "_id": 1});
}

#[test]
fn replacement_with_identical_content_is_not_a_modification() {
    let spec = UpdateSpec::parse(&Bson::Document(doc! {"_id": 1, "a": 1}), &[]).unwrap();
    let mut document = doc! {"_id": 1, "a": 1};
    assert!(!spec.apply(&mut document, &context()).unwrap());
}

#[test]
fn replacement_with_another_id_is_immutable_field() {
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"_id": 2, "a": 1});
    assert_eq!(error.code, codes::IMMUTABLE_FIELD);
}

#[test]
fn replacement_with_dollar_fields_fails() {
    let error = failure(doc! {"_id": 1}, doc! {"a": 1, "$set": {"b": 1}});
    assert_eq!(error.code, codes::DOLLAR_PREFIXED_FIELD_NAME);
}

#[test]
fn empty_replacement_keeps_only_the_id() {
    let result = apply(doc! {"_id": 1, "a": 1}, doc! {});
    assert_eq!(result, doc! {"_id": 1});
}

#[test]
fn pipeline_updates_reject_other_stages() {
    let stages = Bson::Array(vec![Bson::Document(doc! {"$group": {"_id": null}})]);
    let error = UpdateSpec::parse(&stages, &[]).unwrap_err();
    assert_eq!(error.code, codes::INVALID_OPTIONS);
    assert_eq!(
        error.message,
        "$group is not allowed to be used within an update"
    );
}

#[test]
fn upsert_seed_then_update_builds_the_new_document() {
    let spec = UpdateSpec::parse(
        &Bson::Document(doc! {"$set": {"b.d": 3}, "$inc": {"n": 1}}),
        &[],
    )
    .unwrap();
    let mut document = upsert_seed(&doc! {"_id": 7, "b.c": 2, "x": {"$gt": 1}}).unwrap();
    let inserting = ApplyContext {
        inserting: true,
        ..context()
    };
    spec.apply(&mut document, &inserting).unwrap();
    assert_eq!(document, doc! {"_id": 7, "b": {"c": 2, "d": 3}, "n": 1});
}

#[test]
fn replacement_upsert_keeps_only_the_seeded_id() {
    let spec = UpdateSpec::parse(&Bson::Document(doc! {"name": "x"}), &[]).unwrap();
    let mut document = upsert_seed(&doc! {"_id": 3, "other": 1}).unwrap();
    let inserting = ApplyContext {
        inserting: true,
        ..context()
    };
    spec.apply(&mut document, &inserting).unwrap();
    assert_eq!(document, doc! {"_id": 3, "name": "x"});
}

#[test]
fn updates_that_are_neither_documents_nor_arrays_fail() {
    let error = UpdateSpec::parse(&Bson::Int32(1), &[]).unwrap_err();
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
}

/// Random updates on random documents: never a panic, and a failed update changes nothing.
mod properties {
    use super::*;
    use proptest::prelude::*;

    const FIELD_NAMES: [&str; 6] = ["a", "b", "c", "0", "1", "_id"];
    const PATHS: [&str; 18] = [
        "a", "b", "c", "_id", "a.b", "a.0", "a.1.b", "a.$[]", "a.$[].b", "a.$", "b.c.d", "a.5",
        "c..d", "", "a.$foo", "0", "a.$[x]", "b.$[x].c",
    ];
    const OPERATORS: [&str; 15] = [
        "$set",
        "$unset",
        "$inc",
        "$mul",
        "$min",
        "$max",
        "$rename",
        "$setOnInsert",
        "$currentDate",
        "$push",
        "$addToSet",
        "$pull",
        "$pullAll",
        "$pop",
        "$bogus",
    ];

    fn scalar() -> impl Strategy<Value = Bson> {
        prop_oneof![
            Just(Bson::Null),
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<f64>().prop_map(Bson::Double),
            (-3_i32..3).prop_map(Bson::Int32),
            "[a-c.$]{0,3}".prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
            (any::<i64>(), 0_u32..40).prop_map(|(coefficient, scale)| {
                Bson::Decimal128(
                    format!("{coefficient}E-{scale}")
                        .parse()
                        .expect("valid decimal"),
                )
            }),
        ]
    }

    fn value() -> impl Strategy<Value = Bson> {
        scalar().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                prop::collection::vec((prop::sample::select(&FIELD_NAMES[..]), inner), 0..4)
                    .prop_map(|fields| {
                        let mut document = Document::new();
                        for (name, value) in fields {
                            document.insert(name, value);
                        }
                        Bson::Document(document)
                    }),
            ]
        })
    }

    /// Operator arguments, including `$push`/`$addToSet` modifier documents.
    fn argument() -> impl Strategy<Value = Bson> {
        prop_oneof![
            4 => value(),
            1 => (prop::collection::vec(value(), 0..4), prop::option::of(-3_i32..4), prop::option::of(-3_i32..4), prop::option::of(prop_oneof![Just(Bson::Int32(1)), Just(Bson::Int32(-1)), Just(Bson::Document(doc! {"b": 1}))]))
                .prop_map(|(each, slice, position, sort)| {
                    let mut modifiers = doc! {"$each": each};
                    if let Some(slice) = slice { modifiers.insert("$slice", slice); }
                    if let Some(position) = position { modifiers.insert("$position", position); }
                    if let Some(sort) = sort { modifiers.insert("$sort", sort); }
                    Bson::Document(modifiers)
                }),
            1 => prop::sample::select(&PATHS[..]).prop_map(|path| Bson::String(path.to_string())),
        ]
    }

    fn update() -> impl Strategy<Value = Document> {
        prop::collection::vec(
            (
                prop::sample::select(&OPERATORS[..]),
                prop::collection::vec((prop::sample::select(&PATHS[..]), argument()), 0..3),
            ),
            1..3,
        )
        .prop_map(|operators| {
            let mut update = Document::new();
            for (operator, fields) in operators {
                let mut arguments = Document::new();
                for (path, argument) in fields {
                    arguments.insert(path, argument);
                }
                update.insert(operator, arguments);
            }
            update
        })
    }

    fn document() -> impl Strategy<Value = Document> {
        prop::collection::vec((prop::sample::select(&FIELD_NAMES[..]), value()), 0..5).prop_map(
            |fields| {
                let mut document = doc! {"_id": 1};
                for (name, value) in fields {
                    if name != "_id" {
                        document.insert(name, value);
                    }
                }
                document
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn random_updates_never_panic_and_failures_change_nothing(
            original in document(),
            update in update(),
            position in prop::option::of(0_usize..3),
            inserting in any::<bool>(),
            filters in prop_oneof![
                Just(Vec::new()),
                Just(vec![doc! {"x": {"$gte": 0}}]),
                Just(vec![doc! {"x.b": {"$exists": true}}]),
            ],
        ) {
            let Ok(spec) = UpdateSpec::parse(&Bson::Document(update), &filters) else {
                return Ok(());
            };
            let mut document = original.clone();
            let context = ApplyContext { array_position: position, inserting, ..context() };
            match spec.apply(&mut document, &context) {
                Err(_) => prop_assert_eq!(&document, &original),
                Ok(changed) => {
                    let same = super::super::operators::identical_documents(&document, &original);
                    prop_assert_eq!(changed, !same);
                    prop_assert!(document.get("_id").is_some());
                }
            }
        }

        #[test]
        fn random_filters_seed_without_panicking(filter in document(), extra in value()) {
            let mut filter = filter;
            filter.insert("$and", Bson::Array(vec![Bson::Document(doc! {"a.b": extra})]));
            if let Ok(seed) = upsert_seed(&filter) {
                prop_assert_eq!(seed.get("_id"), Some(&Bson::Int32(1)));
            }
        }
    }
}

fn updated_with_filters(document: Document, update: Document, filters: &[Document]) -> Document {
    let mut document = document;
    let spec = UpdateSpec::parse(&Bson::Document(update), filters).expect("update parses");
    spec.apply(&mut document, &context())
        .expect("update applies");
    document
}

#[test]
fn array_filters_update_matching_elements() {
    let result = updated_with_filters(
        doc! {"_id": 1, "grades": [95, 92, 90]},
        doc! {"$set": {"grades.$[element]": 100}},
        &[doc! {"element": {"$gte": 100}}],
    );
    assert_eq!(result, doc! {"_id": 1, "grades": [95, 92, 90]});
    let result = updated_with_filters(
        doc! {"_id": 3, "grades": [95, 110, 100]},
        doc! {"$set": {"grades.$[element]": 100}},
        &[doc! {"element": {"$gte": 100}}],
    );
    assert_eq!(result, doc! {"_id": 3, "grades": [95, 100, 100]});
}

#[test]
fn array_filters_on_fields_of_document_elements() {
    let result = updated_with_filters(
        doc! {"_id": 1, "grades": [
            {"grade": 80, "mean": 75, "std": 6},
            {"grade": 85, "mean": 90, "std": 4},
            {"grade": 85, "mean": 85, "std": 6},
        ]},
        doc! {"$set": {"grades.$[elem].mean": 100}},
        &[doc! {"elem.grade": {"$gte": 85}}],
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "grades": [
            {"grade": 80, "mean": 75, "std": 6},
            {"grade": 85, "mean": 100, "std": 4},
            {"grade": 85, "mean": 100, "std": 6},
        ]}
    );
}

#[test]
fn array_filters_with_several_conditions_on_one_identifier() {
    let result = updated_with_filters(
        doc! {"_id": 2, "grades": [
            {"grade": 90, "mean": 75, "std": 6},
            {"grade": 87, "mean": 90, "std": 3},
            {"grade": 85, "mean": 85, "std": 4},
        ]},
        doc! {"$inc": {"grades.$[elem].std": -1}},
        &[doc! {"elem.grade": {"$gte": 80}, "elem.std": {"$gt": 5}}],
    );
    assert_eq!(
        result,
        doc! {"_id": 2, "grades": [
            {"grade": 90, "mean": 75, "std": 5},
            {"grade": 87, "mean": 90, "std": 3},
            {"grade": 85, "mean": 85, "std": 4},
        ]}
    );
}

#[test]
fn array_filters_combine_with_all_positional() {
    let result = updated_with_filters(
        doc! {"_id": 1, "grades": [{"type": "quiz", "questions": [10, 8, 5]}, {"type": "exam", "questions": [5, 9, 8]}]},
        doc! {"$inc": {"grades.$[].questions.$[score]": 2}},
        &[doc! {"score": {"$gte": 8}}],
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "grades": [{"type": "quiz", "questions": [12, 10, 5]}, {"type": "exam", "questions": [5, 11, 10]}]}
    );
}

#[test]
fn array_filters_with_logical_operators() {
    let result = updated_with_filters(
        doc! {"_id": 1, "a": [1, 5, 9]},
        doc! {"$set": {"a.$[x]": 0}},
        &[doc! {"$or": [{"x": 1}, {"x": 9}]}],
    );
    assert_eq!(result, doc! {"_id": 1, "a": [0, 5, 0]});
}

#[test]
fn unused_array_filter_is_failed_to_parse() {
    let error = UpdateSpec::parse(
        &Bson::Document(doc! {"$set": {"a.$[i]": 5}}),
        &[doc! {"i": 0}, doc! {"j": 0}],
    )
    .unwrap_err();
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
    assert_eq!(
        error.message,
        "The array filter for identifier 'j' was not used in the update { $set: { a.$[i]: 5 } }"
    );
}

#[test]
fn malformed_array_filters_are_rejected() {
    let update = Bson::Document(doc! {"$set": {"a.$[i]": 5}});
    let error = UpdateSpec::parse(&update, &[doc! {}]).unwrap_err();
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
    assert_eq!(
        error.message,
        "Cannot use an expression without a top-level field name in arrayFilters"
    );
    let error = UpdateSpec::parse(&update, &[doc! {"i": 0, "j": 1}]).unwrap_err();
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
    let error = UpdateSpec::parse(&update, &[doc! {"i": 0}, doc! {"i": 1}]).unwrap_err();
    assert_eq!(
        error.message,
        "Found multiple array filters with the same top-level field name i"
    );
    let error = UpdateSpec::parse(&update, &[doc! {"I": 0}]).unwrap_err();
    assert_eq!(error.code, codes::BAD_VALUE);
}

#[test]
fn array_filters_on_a_non_array_fail() {
    let spec = UpdateSpec::parse(
        &Bson::Document(doc! {"$set": {"a.$[i]": 0}}),
        &[doc! {"i": 0}],
    )
    .unwrap();
    let original = doc! {"_id": 1, "a": 5};
    let mut document = original.clone();
    let error = spec.apply(&mut document, &context()).unwrap_err();
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(
        error.message,
        "Cannot apply array updates to non-array element a: 5"
    );
    assert_eq!(document, original);
}

#[test]
fn pull_with_a_condition_removes_matching_scalars() {
    let result = apply(
        doc! {"_id": 1, "votes": [3, 5, 6, 7, 7, 8]},
        doc! {"$pull": {"votes": {"$gte": 6}}},
    );
    assert_eq!(result, doc! {"_id": 1, "votes": [3, 5]});
}

#[test]
fn pull_with_in_removes_listed_values() {
    let result = apply(
        doc! {"_id": 1, "fruits": ["apples", "pears", "oranges"], "vegetables": ["carrots", "celery"]},
        doc! {"$pull": {"fruits": {"$in": ["apples", "oranges"]}, "vegetables": "carrots"}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "fruits": ["pears"], "vegetables": ["celery"]}
    );
}

#[test]
fn pull_with_a_document_matches_elements_as_queries() {
    let result = apply(
        doc! {"_id": 1, "results": [
            {"item": "A", "score": 5},
            {"item": "B", "score": 8, "comment": "Strongly agree"},
        ]},
        doc! {"$pull": {"results": {"score": 8, "item": "B"}}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "results": [{"item": "A", "score": 5}]}
    );
}

#[test]
fn pull_with_elem_match_reaches_nested_arrays() {
    let result = apply(
        doc! {"_id": 1, "results": [
            {"item": "A", "score": 5, "answers": [{"q": 1, "a": 4}, {"q": 2, "a": 6}]},
            {"item": "B", "score": 8, "answers": [{"q": 1, "a": 8}, {"q": 2, "a": 9}]},
        ]},
        doc! {"$pull": {"results": {"answers": {"$elemMatch": {"q": 2, "a": {"$gte": 8}}}}}},
    );
    assert_eq!(
        result,
        doc! {"_id": 1, "results": [
            {"item": "A", "score": 5, "answers": [{"q": 1, "a": 4}, {"q": 2, "a": 6}]},
        ]}
    );
}

#[test]
fn pull_from_a_non_array_fails() {
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"$pull": {"a": 1}});
    assert_eq!(error.code, codes::BAD_VALUE);
    assert_eq!(error.message, "Cannot apply $pull to a non-array value");
}

#[test]
fn array_removal_operators_fail_on_paths_blocked_by_scalars() {
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"$pull": {"a.b": 1}});
    assert_eq!(error.code, codes::PATH_NOT_VIABLE);
    assert_eq!(
        error.message,
        "Cannot use the part (b) of (a.b) to traverse the element ({a: 1})"
    );
    let error = failure(doc! {"_id": 1, "a": [1]}, doc! {"$pop": {"a.b": 1}});
    assert_eq!(error.code, codes::PATH_NOT_VIABLE);
    let (_, changed) = updated(doc! {"_id": 1, "a": 1}, doc! {"$unset": {"a.b": 1}});
    assert!(!changed, "$unset tolerates a blocked path");
    let (_, changed) = updated(doc! {"_id": 1, "a": {}}, doc! {"$pull": {"a.b": 1}});
    assert!(!changed, "a missing but reachable path is a no-op");
}

#[test]
fn rename_through_a_scalar_is_path_not_viable() {
    let error = failure(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"a.b": "c"}});
    assert_eq!(error.code, codes::PATH_NOT_VIABLE);
    assert_eq!(
        error.message,
        "cannot use the part (b of a.b) to traverse the element ({a: 1})"
    );
}

#[test]
fn rename_of_the_id_is_immutable_field() {
    let error = failure(doc! {"_id": 1}, doc! {"$rename": {"_id": "x"}});
    assert_eq!(error.code, codes::IMMUTABLE_FIELD);
    assert_eq!(
        error.message,
        "Unsetting the path '_id' using $rename would modify the immutable field '_id'"
    );
}

#[test]
fn setting_far_past_the_end_of_an_array_is_refused() {
    let error = failure(doc! {"_id": 1, "a": []}, doc! {"$set": {"a.2000000": 1}});
    assert_eq!(error.code, super::path::CANNOT_BACKFILL_ARRAY);
    assert_eq!(error.message, "can't backfill more than 1500000 elements");
}

#[test]
fn add_to_set_each_must_be_an_array_and_come_first() {
    let error = failure(doc! {"_id": 1}, doc! {"$addToSet": {"a": {"$each": 1}}});
    assert_eq!(error.code, codes::TYPE_MISMATCH);
    assert_eq!(
        error.message,
        "The argument to $each in $addToSet must be an array but it was of type int"
    );
    // A document that does not start with `$each` is one value to add.
    let result = apply(
        doc! {"_id": 1},
        doc! {"$addToSet": {"a": {"x": 1, "$each": [2]}}},
    );
    assert_eq!(result, doc! {"_id": 1, "a": [{"x": 1, "$each": [2]}]});
}

#[test]
fn pull_with_an_empty_document_removes_every_document_element() {
    let result = apply(
        doc! {"_id": 1, "a": [1, {"b": 2}, {}, "x"]},
        doc! {"$pull": {"a": {}}},
    );
    assert_eq!(result, doc! {"_id": 1, "a": [1, "x"]});
}

#[test]
fn push_and_pop_errors_name_the_whole_path() {
    let error = failure(doc! {"_id": 1, "a": {"b": 1}}, doc! {"$push": {"a.b": 2}});
    assert_eq!(
        error.message,
        "The field 'a.b' must be an array but is of type int in document {_id: 1}"
    );
    let error = failure(doc! {"_id": 1, "a": {"b": "x"}}, doc! {"$pop": {"a.b": 1}});
    assert_eq!(
        error.message,
        "Path 'a.b' contains an element of non-array type 'string'"
    );
}

#[test]
fn two_array_filters_matching_one_element_conflict() {
    let spec = UpdateSpec::parse(
        &Bson::Document(doc! {"$set": {"a.$[i]": 1, "a.$[j]": 2}}),
        &[doc! {"i": 0}, doc! {"j": {"$lte": 0}}],
    )
    .unwrap();
    let original = doc! {"_id": 1, "a": [0, 5]};
    let mut document = original.clone();
    let error = spec.apply(&mut document, &context()).unwrap_err();
    assert_eq!(error.code, codes::CONFLICTING_UPDATE_OPERATORS);
    assert_eq!(error.message, "Update created a conflict at 'a.0'");
    assert_eq!(document, original);
    let mut disjoint = doc! {"_id": 1, "a": [0, -1, 5]};
    let spec = UpdateSpec::parse(
        &Bson::Document(doc! {"$set": {"a.$[i]": 1, "a.$[j]": 2}}),
        &[doc! {"i": 0}, doc! {"j": {"$lt": 0}}],
    )
    .unwrap();
    spec.apply(&mut disjoint, &context()).unwrap();
    assert_eq!(disjoint, doc! {"_id": 1, "a": [1, 2, 5]});
}

#[test]
fn nested_dollar_fields_are_allowed_but_top_level_ones_are_not() {
    let result = apply(doc! {"_id": 1}, doc! {"$set": {"a.$b": 1}});
    assert_eq!(result, doc! {"_id": 1, "a": {"$b": 1}});
    let error = failure(doc! {"_id": 1}, doc! {"$set": {"$b": 1}});
    assert_eq!(error.code, codes::DOLLAR_PREFIXED_FIELD_NAME);
}

#[test]
fn an_array_id_cannot_be_stored() {
    let spec = UpdateSpec::parse(&Bson::Document(doc! {"$set": {"_id": [1]}}), &[]).unwrap();
    let mut document = upsert_seed(&doc! {}).unwrap();
    let inserting = ApplyContext {
        inserting: true,
        ..context()
    };
    let error = spec.apply(&mut document, &inserting).unwrap_err();
    assert_eq!(error.code, codes::INVALID_ID_FIELD);
    assert_eq!(error.message, "The '_id' value cannot be of type array");
}

fn pipeline(stages: Vec<Document>) -> UpdateSpec {
    let stages = Bson::Array(stages.into_iter().map(Bson::Document).collect());
    UpdateSpec::parse(&stages, &[]).expect("pipeline parses")
}

#[test]
fn pipeline_updates_compute_fields_from_the_document() {
    let spec = pipeline(vec![
        doc! {"$set": {"total": {"$add": ["$a", "$b"]}, "modified": "$$NOW"}},
        doc! {"$unset": "a"},
    ]);
    assert!(!spec.is_replacement());
    let mut document = doc! {"_id": 1, "a": 2, "b": 3};
    assert!(spec.apply(&mut document, &context()).unwrap());
    assert_eq!(
        document,
        doc! {"_id": 1, "b": 3, "total": 5, "modified": context().now}
    );
}

#[test]
fn pipeline_replace_with_keeps_the_id() {
    let spec = pipeline(vec![doc! {"$replaceWith": {"name": "$profile.name"}}]);
    let mut document = doc! {"_id": 7, "profile": {"name": "ada"}};
    spec.apply(&mut document, &context()).unwrap();
    assert_eq!(document, doc! {"_id": 7, "name": "ada"});
}

#[test]
fn pipeline_changing_the_id_is_immutable_field() {
    let spec = pipeline(vec![doc! {"$set": {"_id": 2}}]);
    let original = doc! {"_id": 1};
    let mut document = original.clone();
    let error = spec.apply(&mut document, &context()).unwrap_err();
    assert_eq!(error.code, codes::IMMUTABLE_FIELD);
    assert_eq!(document, original);
}

#[test]
fn pipeline_updates_reject_array_filters() {
    let stages = Bson::Array(vec![Bson::Document(doc! {"$set": {"a": 1}})]);
    let error = UpdateSpec::parse(&stages, &[doc! {"x": 1}]).unwrap_err();
    assert_eq!(error.code, codes::FAILED_TO_PARSE);
    assert_eq!(
        error.message,
        "arrayFilters may not be specified for pipeline-style updates"
    );
}
