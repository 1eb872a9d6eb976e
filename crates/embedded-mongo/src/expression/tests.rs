//! Unit tests for expression parsing and evaluation, asserting the results the MongoDB manual
//! documents for each operator.

use bson::{bson, doc, Bson, Document};

use super::*;

fn evaluate_with(spec: Bson, document: &Document, variables: &Variables) -> Option<Bson> {
    Expression::parse(&spec)
        .unwrap_or_else(|e| panic!("parse {spec}: {e}"))
        .evaluate(document, variables)
        .unwrap_or_else(|e| panic!("evaluate {spec}: {e}"))
}

fn evaluate(spec: Bson, document: Document) -> Option<Bson> {
    evaluate_with(spec, &document, &Variables::new())
}

fn value(spec: Bson) -> Bson {
    evaluate(spec.clone(), Document::new()).unwrap_or_else(|| panic!("{spec} was missing"))
}

fn failure(spec: Bson, document: Document) -> CommandError {
    match Expression::parse(&spec) {
        Err(e) => e,
        Ok(expression) => match expression.evaluate(&document, &Variables::new()) {
            Err(e) => e,
            Ok(result) => panic!("{spec} unexpectedly gave {result:?}"),
        },
    }
}

fn date(text: &str) -> Bson {
    Bson::DateTime(bson::DateTime::parse_rfc3339_str(text).unwrap())
}

#[test]
fn field_paths_read_nested_documents_and_missing_stays_missing() {
    let document = doc! {"a": {"b": {"c": 5}}, "n": null};
    assert_eq!(
        evaluate(bson!("$a.b.c"), document.clone()),
        Some(Bson::Int32(5))
    );
    assert_eq!(evaluate(bson!("$a.x"), document.clone()), None);
    assert_eq!(evaluate(bson!("$n"), document.clone()), Some(Bson::Null));
    assert_eq!(evaluate(bson!("$n.x"), document), None);
}

#[test]
fn field_paths_through_arrays_collect_sub_values() {
    let document = doc! {"items": [{"qty": 1}, {"other": 2}, {"qty": 3}, 7, [{"qty": 4}]]};
    assert_eq!(
        evaluate(bson!("$items.qty"), document),
        Some(bson!([1, 3, [4]]))
    );
}

#[test]
fn numeric_path_components_are_field_names_not_indexes() {
    let document = doc! {"a": [10, 20], "b": {"0": "zero"}};
    assert_eq!(evaluate(bson!("$a.0"), document.clone()), Some(bson!([])));
    assert_eq!(evaluate(bson!("$b.0"), document), Some(bson!("zero")));
}

#[test]
fn root_current_and_remove_variables() {
    let document = doc! {"_id": 1, "a": {"b": 2}};
    assert_eq!(
        evaluate(bson!("$$ROOT"), document.clone()),
        Some(Bson::Document(document.clone()))
    );
    assert_eq!(
        evaluate(bson!("$$CURRENT.a.b"), document.clone()),
        Some(bson!(2))
    );
    assert_eq!(evaluate(bson!("$$REMOVE"), document.clone()), None);
    assert_eq!(
        evaluate(bson!({"x": "$$REMOVE", "y": 1}), document),
        Some(bson!({"y": 1}))
    );
}

#[test]
fn now_is_fixed_by_the_variables() {
    let moment = bson::DateTime::from_millis(1_700_000_000_000);
    let variables = Variables::new().with_now(moment);
    assert_eq!(
        evaluate_with(bson!("$$NOW"), &Document::new(), &variables),
        Some(Bson::DateTime(moment))
    );
    assert_eq!(variables.get("NOW"), Some(&Bson::DateTime(moment)));
}

#[test]
fn user_variables_are_read_with_paths() {
    let variables = Variables::new().with("order", bson!({"qty": 4}));
    assert_eq!(
        evaluate_with(bson!("$$order.qty"), &Document::new(), &variables),
        Some(bson!(4))
    );
    assert_eq!(variables.get("order"), Some(&bson!({"qty": 4})));
    assert_eq!(variables.get("absent"), None);
}

#[test]
fn undefined_variables_are_error_17276() {
    assert_eq!(failure(bson!("$$nope"), Document::new()).code, 17276);
    assert_eq!(failure(bson!("$$FOO"), Document::new()).code, 17276);
}

#[test]
fn literals_and_object_and_array_expressions() {
    assert_eq!(value(bson!({"$literal": "$notAPath"})), bson!("$notAPath"));
    assert_eq!(value(bson!({"$literal": {"$add": 1}})), bson!({"$add": 1}));
    let document = doc! {"a": 1};
    assert_eq!(
        evaluate(
            bson!({"x": "$a", "y": ["$a", "$missing"], "z": {"w": "$missing"}}),
            document
        ),
        Some(bson!({"x": 1, "y": [1, null], "z": {}}))
    );
}

#[test]
fn unknown_operator_is_error_168() {
    let error = failure(bson!({"$bogus": 1}), Document::new());
    assert_eq!(error.code, 168);
    assert_eq!(error.message, "Unrecognized expression '$bogus'");
    assert_eq!(error.code_name(), "InvalidPipelineOperator");
}

#[test]
fn operator_objects_must_have_one_field() {
    assert_eq!(
        failure(bson!({"$add": [1, 2], "b": 1}), Document::new()).code,
        15983
    );
    assert_eq!(
        failure(bson!({"a": 1, "$b": 1}), Document::new()).code,
        16410
    );
}

#[test]
fn arity_errors_use_mongodb_wording() {
    let error = failure(bson!({"$size": [[1], [2]]}), Document::new());
    assert_eq!(error.code, 16020);
    assert_eq!(
        error.message,
        "Expression $size takes exactly 1 arguments. 2 were passed in."
    );
    assert_eq!(
        failure(bson!({"$round": [1, 2, 3]}), Document::new()).code,
        28667
    );
}

#[test]
fn comparison_operators_follow_bson_order() {
    assert_eq!(value(bson!({"$eq": [1, 1.0]})), bson!(true));
    assert_eq!(value(bson!({"$ne": [1, "1"]})), bson!(true));
    assert_eq!(value(bson!({"$gt": ["a", 5]})), bson!(true));
    assert_eq!(value(bson!({"$lte": [null, 0]})), bson!(true));
    assert_eq!(value(bson!({"$cmp": [250, 100]})), bson!(1));
    assert_eq!(value(bson!({"$cmp": [100, 250]})), bson!(-1));
    assert_eq!(value(bson!({"$cmp": [[1, 2], [1, 2]]})), bson!(0));
}

#[test]
fn missing_compares_below_null_in_expressions() {
    let document = doc! {"n": null};
    assert_eq!(
        evaluate(bson!({"$eq": ["$missing", null]}), document.clone()),
        Some(bson!(false))
    );
    assert_eq!(
        evaluate(bson!({"$lt": ["$missing", "$n"]}), document.clone()),
        Some(bson!(true))
    );
    assert_eq!(
        evaluate(bson!({"$eq": ["$missing", "$alsoMissing"]}), document),
        Some(bson!(true))
    );
}

#[test]
fn boolean_operators_use_truthiness() {
    assert_eq!(value(bson!({"$and": [1, "green"]})), bson!(true));
    assert_eq!(value(bson!({"$and": []})), bson!(true));
    assert_eq!(value(bson!({"$and": [[null], false]})), bson!(false));
    assert_eq!(value(bson!({"$and": [0, true]})), bson!(false));
    assert_eq!(value(bson!({"$or": [null, 0, "$missing"]})), bson!(false));
    assert_eq!(value(bson!({"$or": [[false], false]})), bson!(true));
    assert_eq!(value(bson!({"$not": [[false]]})), bson!(false));
    assert_eq!(value(bson!({"$not": [null]})), bson!(true));
    assert!(!is_truthy(Some(&Bson::Double(0.0))));
    assert!(is_truthy(Some(&bson!([]))));
    assert!(is_truthy(Some(&bson!(""))));
    assert!(!is_truthy(None));
    assert!(!is_truthy(Some(&Bson::Undefined)));
}

#[test]
fn and_short_circuits_before_errors() {
    assert_eq!(
        value(bson!({"$and": [false, {"$divide": [1, 0]}]})),
        bson!(false)
    );
}

#[test]
fn cond_in_array_and_object_forms() {
    let document = doc! {"qty": 300};
    assert_eq!(
        evaluate(
            bson!({"$cond": {"if": {"$gte": ["$qty", 250]}, "then": 30, "else": 20}}),
            document.clone()
        ),
        Some(bson!(30))
    );
    assert_eq!(
        evaluate(bson!({"$cond": [{"$lt": ["$qty", 250]}, 30, 20]}), document),
        Some(bson!(20))
    );
    assert_eq!(
        failure(bson!({"$cond": {"if": true, "then": 1}}), Document::new()).code,
        17082
    );
}

#[test]
fn if_null_returns_the_first_non_null_argument() {
    let document = doc! {"a": null, "b": "x"};
    assert_eq!(
        evaluate(
            bson!({"$ifNull": ["$a", "$missing", "$b", "z"]}),
            document.clone()
        ),
        Some(bson!("x"))
    );
    assert_eq!(
        evaluate(bson!({"$ifNull": ["$a", "Unspecified"]}), document),
        Some(bson!("Unspecified"))
    );
    assert_eq!(
        failure(bson!({"$ifNull": ["$a"]}), Document::new()).code,
        1257300
    );
}

#[test]
fn switch_picks_the_first_true_branch_or_default() {
    let spec = bson!({"$switch": {
        "branches": [
            {"case": {"$gte": ["$score", 90]}, "then": "A"},
            {"case": {"$gte": ["$score", 80]}, "then": "B"},
        ],
        "default": "F"
    }});
    assert_eq!(evaluate(spec.clone(), doc! {"score": 85}), Some(bson!("B")));
    assert_eq!(evaluate(spec, doc! {"score": 10}), Some(bson!("F")));
    let no_default = bson!({"$switch": {"branches": [{"case": false, "then": 1}]}});
    assert_eq!(failure(no_default, Document::new()).code, 40066);
    assert_eq!(
        failure(bson!({"$switch": {"branches": []}}), Document::new()).code,
        40068
    );
}

#[test]
fn add_promotes_types_and_adds_millis_to_dates() {
    assert_eq!(value(bson!({"$add": [1, 2]})), Bson::Int32(3));
    assert_eq!(
        value(bson!({"$add": [i32::MAX, 1]})),
        Bson::Int64(2_147_483_648)
    );
    assert_eq!(value(bson!({"$add": [1, 2_i64]})), Bson::Int64(3));
    assert_eq!(value(bson!({"$add": [1, 0.5]})), Bson::Double(1.5));
    assert_eq!(
        value(bson!({"$add": [i64::MAX, 1_i64]})),
        Bson::Double(9.223_372_036_854_776e18)
    );
    assert_eq!(value(bson!({"$add": [1, null]})), Bson::Null);
    assert_eq!(
        evaluate(bson!({"$add": [1, "$missing"]}), doc! {}),
        Some(Bson::Null)
    );
    assert_eq!(
        value(bson!({"$add": [date("2014-03-01T08:00:00Z"), 3 * 24 * 60 * 60000]})),
        date("2014-03-04T08:00:00Z")
    );
    let error = failure(bson!({"$add": [1, "a"]}), Document::new());
    assert_eq!(error.code, 16554);
    assert_eq!(
        error.message,
        "$add only supports numeric or date types, not string"
    );
    let dates = bson!({"$add": [date("2014-03-01T08:00:00Z"), date("2014-03-01T08:00:00Z")]});
    assert_eq!(failure(dates, Document::new()).code, 16612);
}

#[test]
fn subtract_handles_numbers_and_dates() {
    assert_eq!(value(bson!({"$subtract": [5, 7]})), Bson::Int32(-2));
    assert_eq!(
        value(bson!({"$subtract": [date("2014-03-01T08:00:00Z"), date("2014-03-01T07:00:00Z")]})),
        Bson::Int64(3_600_000)
    );
    assert_eq!(
        value(bson!({"$subtract": [date("2014-03-01T08:00:00Z"), 5 * 60 * 1000]})),
        date("2014-03-01T07:55:00Z")
    );
    let error = failure(bson!({"$subtract": ["a", 1]}), Document::new());
    assert_eq!(error.code, 16556);
    assert_eq!(error.message, "can't $subtract int from string");
    assert_eq!(value(bson!({"$subtract": [null, 1]})), Bson::Null);
}

#[test]
fn multiply_divide_and_mod() {
    assert_eq!(
        value(bson!({"$multiply": [10, 2, 1.5]})),
        Bson::Double(30.0)
    );
    assert_eq!(
        value(bson!({"$multiply": [65_536, 65_536]})),
        Bson::Int64(4_294_967_296)
    );
    assert_eq!(value(bson!({"$divide": [80, 8]})), Bson::Double(10.0));
    let error = failure(bson!({"$divide": [1, 0]}), Document::new());
    assert_eq!(
        (error.code, error.message.as_str()),
        (16608, "can't $divide by zero")
    );
    assert_eq!(
        failure(bson!({"$divide": ["a", 1]}), Document::new()).code,
        16609
    );
    assert_eq!(value(bson!({"$mod": [80, 7]})), Bson::Int32(3));
    assert_eq!(value(bson!({"$mod": [-5, 3]})), Bson::Int32(-2));
    assert_eq!(value(bson!({"$mod": [5.5, 2]})), Bson::Double(1.5));
    assert_eq!(
        failure(bson!({"$mod": [5, 0]}), Document::new()).code,
        16610
    );
}

#[test]
fn single_argument_math() {
    assert_eq!(value(bson!({"$abs": -1})), Bson::Int32(1));
    assert_eq!(value(bson!({"$abs": i32::MIN})), Bson::Int64(2_147_483_648));
    assert_eq!(value(bson!({"$abs": null})), Bson::Null);
    assert_eq!(value(bson!({"$ceil": 7.80})), Bson::Double(8.0));
    assert_eq!(value(bson!({"$floor": -2.8})), Bson::Double(-3.0));
    assert_eq!(value(bson!({"$ceil": 5})), Bson::Int32(5));
    assert_eq!(value(bson!({"$sqrt": 25})), Bson::Double(5.0));
    assert_eq!(failure(bson!({"$sqrt": -1}), Document::new()).code, 28714);
    assert_eq!(value(bson!({"$exp": 0})), Bson::Double(1.0));
    assert_eq!(value(bson!({"$ln": 1})), Bson::Double(0.0));
    assert_eq!(value(bson!({"$log10": 100})), Bson::Double(2.0));
    assert_eq!(value(bson!({"$log": [8, 2]})), Bson::Double(3.0));
    assert_eq!(failure(bson!({"$ln": 0}), Document::new()).code, 28766);
    assert_eq!(failure(bson!({"$abs": "x"}), Document::new()).code, 28765);
}

#[test]
fn pow_keeps_integers_when_exact() {
    assert_eq!(value(bson!({"$pow": [5, 2]})), Bson::Int32(25));
    assert_eq!(value(bson!({"$pow": [5, -2]})), Bson::Double(0.04));
    assert_eq!(
        value(bson!({"$pow": [-5, 0.5]})).as_f64().map(f64::is_nan),
        Some(true)
    );
    assert_eq!(
        value(bson!({"$pow": [2, 40]})),
        Bson::Int64(1_099_511_627_776)
    );
    assert_eq!(
        failure(bson!({"$pow": [0, -1]}), Document::new()).code,
        28764
    );
}

#[test]
fn round_is_half_to_even_and_trunc_truncates() {
    assert_eq!(value(bson!({"$round": [10.5, 0]})), Bson::Double(10.0));
    assert_eq!(value(bson!({"$round": [11.5, 0]})), Bson::Double(12.0));
    assert_eq!(value(bson!({"$round": [19.25, 1]})), Bson::Double(19.2));
    assert_eq!(value(bson!({"$round": [1234, -2]})), Bson::Int32(1200));
    assert_eq!(value(bson!({"$round": [1250, -2]})), Bson::Int32(1200));
    assert_eq!(value(bson!({"$trunc": [19.25, 1]})), Bson::Double(19.2));
    assert_eq!(value(bson!({"$trunc": [-7.8]})), Bson::Double(-7.0));
    assert_eq!(value(bson!({"$trunc": [1299, -2]})), Bson::Int32(1200));
}

#[test]
fn accumulator_expressions_fold_arrays_or_arguments() {
    let document = doc! {"quizzes": [10, 6, 7], "labs": [5, 8]};
    assert_eq!(
        evaluate(bson!({"$sum": "$quizzes"}), document.clone()),
        Some(bson!(23))
    );
    assert_eq!(
        evaluate(bson!({"$avg": "$quizzes"}), document.clone()),
        Some(Bson::Double(23.0 / 3.0))
    );
    assert_eq!(
        evaluate(bson!({"$max": "$labs"}), document.clone()),
        Some(bson!(8))
    );
    assert_eq!(
        evaluate(bson!({"$min": ["$labs", 1]}), document.clone()),
        Some(bson!(1))
    );
    assert_eq!(
        evaluate(bson!({"$sum": ["$missing", 2, "x"]}), document.clone()),
        Some(bson!(2))
    );
    assert_eq!(
        evaluate(bson!({"$avg": "$missing"}), document.clone()),
        Some(Bson::Null)
    );
    assert_eq!(
        evaluate(bson!({"$min": [null, "$missing"]}), document),
        Some(Bson::Null)
    );
    assert_eq!(
        value(bson!({"$stdDevPop": [[1, 2, 3, 4]]})),
        Bson::Double(1.118_033_988_749_895)
    );
}

#[test]
fn string_operators() {
    assert_eq!(value(bson!({"$concat": ["a", "-", "b"]})), bson!("a-b"));
    assert_eq!(value(bson!({"$concat": ["a", null]})), Bson::Null);
    assert_eq!(
        failure(bson!({"$concat": ["a", 1]}), Document::new()).code,
        16702
    );
    assert_eq!(value(bson!({"$toUpper": "abc"})), bson!("ABC"));
    assert_eq!(value(bson!({"$toLower": null})), bson!(""));
    assert_eq!(value(bson!({"$toLower": 12})), bson!("12"));
    assert_eq!(value(bson!({"$substr": ["winter", 0, 2]})), bson!("wi"));
    assert_eq!(
        value(bson!({"$substrBytes": ["winter", 2, -1]})),
        bson!("nter")
    );
    assert_eq!(
        value(bson!({"$substrCP": ["cafétéria", 0, 5]})),
        bson!("cafét")
    );
    assert_eq!(
        failure(bson!({"$substrBytes": ["é", 1, 1]}), Document::new()).code,
        28656
    );
    assert_eq!(value(bson!({"$strLenBytes": "cafétéria"})), bson!(11));
    assert_eq!(value(bson!({"$strLenCP": "cafétéria"})), bson!(9));
    assert_eq!(
        failure(bson!({"$strLenCP": null}), Document::new()).code,
        34471
    );
    assert_eq!(
        value(bson!({"$split": ["June-15-2013", "-"]})),
        bson!(["June", "15", "2013"])
    );
    assert_eq!(
        failure(bson!({"$split": ["a", ""]}), Document::new()).code,
        40087
    );
    assert_eq!(value(bson!({"$indexOfCP": ["cafeteria", "e"]})), bson!(3));
    assert_eq!(value(bson!({"$indexOfCP": ["cafétéria", "t"]})), bson!(4));
    assert_eq!(
        value(bson!({"$indexOfBytes": ["cafétéria", "t"]})),
        bson!(5)
    );
    assert_eq!(value(bson!({"$indexOfCP": ["foo", "x"]})), bson!(-1));
    assert_eq!(value(bson!({"$indexOfCP": [null, "x"]})), Bson::Null);
    assert_eq!(value(bson!({"$strcasecmp": ["ABC", "abc"]})), bson!(0));
    assert_eq!(value(bson!({"$strcasecmp": ["a", "B"]})), bson!(-1));
}

#[test]
fn trim_and_replace() {
    assert_eq!(value(bson!({"$trim": {"input": "  hi \n"}})), bson!("hi"));
    assert_eq!(
        value(bson!({"$ltrim": {"input": "xxhixx", "chars": "x"}})),
        bson!("hixx")
    );
    assert_eq!(
        value(bson!({"$rtrim": {"input": "xxhixx", "chars": "x"}})),
        bson!("xxhi")
    );
    assert_eq!(value(bson!({"$trim": {"input": null}})), Bson::Null);
    assert_eq!(
        failure(bson!({"$trim": {"input": 1}}), Document::new()).code,
        50699
    );
    assert_eq!(
        value(bson!({"$replaceAll": {"input": "a.b.c", "find": ".", "replacement": "-"}})),
        bson!("a-b-c")
    );
    assert_eq!(
        value(bson!({"$replaceOne": {"input": "a.b.c", "find": ".", "replacement": "-"}})),
        bson!("a-b.c")
    );
}

#[test]
fn regex_operators() {
    assert_eq!(
        value(bson!({"$regexMatch": {"input": "Cafe", "regex": "^caf", "options": "i"}})),
        bson!(true)
    );
    assert_eq!(
        value(bson!({"$regexMatch": {"input": null, "regex": "a"}})),
        bson!(false)
    );
    assert_eq!(
        value(bson!({"$regexFind": {"input": "my cafe", "regex": "(c)a"}})),
        bson!({"match": "ca", "idx": 3, "captures": ["c"]})
    );
    assert_eq!(
        value(bson!({"$regexFindAll": {"input": "a1b2", "regex": "[0-9]"}})),
        bson!([
            {"match": "1", "idx": 1, "captures": []},
            {"match": "2", "idx": 3, "captures": []}
        ])
    );
    assert_eq!(
        failure(
            bson!({"$regexMatch": {"input": "a", "regex": "("}}),
            Document::new()
        )
        .code,
        51111
    );
}

#[test]
fn size_and_element_access() {
    let document = doc! {"colors": ["blue", "red"], "s": "x"};
    assert_eq!(
        evaluate(bson!({"$size": "$colors"}), document.clone()),
        Some(bson!(2))
    );
    let error = failure(bson!({"$size": "$missing"}), document.clone());
    assert_eq!(error.code, 17124);
    assert_eq!(
        error.message,
        "The argument to $size must be an array. Type of argument was: missing."
    );
    assert_eq!(value(bson!({"$arrayElemAt": [[1, 2, 3], -1]})), bson!(3));
    assert_eq!(
        evaluate(bson!({"$arrayElemAt": [[1, 2, 3], 15]}), doc! {}),
        None
    );
    assert_eq!(
        failure(bson!({"$arrayElemAt": ["$s", 0]}), document.clone()).code,
        28689
    );
    assert_eq!(
        evaluate(bson!({"$first": "$colors"}), document.clone()),
        Some(bson!("blue"))
    );
    assert_eq!(
        evaluate(bson!({"$last": "$colors"}), document.clone()),
        Some(bson!("red"))
    );
    assert_eq!(
        evaluate(bson!({"$first": "$missing"}), document.clone()),
        Some(Bson::Null)
    );
    assert_eq!(evaluate(bson!({"$first": [[]]}), document), None);
}

#[test]
fn slice_forms() {
    assert_eq!(value(bson!({"$slice": [[1, 2, 3], 1, 1]})), bson!([2]));
    assert_eq!(value(bson!({"$slice": [[1, 2, 3], -2]})), bson!([2, 3]));
    assert_eq!(value(bson!({"$slice": [[1, 2, 3], 15, 2]})), bson!([]));
    assert_eq!(value(bson!({"$slice": [[1, 2, 3], -15, 2]})), bson!([1, 2]));
    assert_eq!(value(bson!({"$slice": [[1, 2, 3], 0]})), bson!([]));
    assert_eq!(
        failure(bson!({"$slice": [[1], 0, 0]}), Document::new()).code,
        28729
    );
    assert_eq!(
        failure(bson!({"$slice": ["a", 1]}), Document::new()).code,
        28724
    );
}

#[test]
fn filter_map_and_reduce() {
    let document = doc! {"items": [{"price": 10, "qty": 1}, {"price": 110, "qty": 3}, {"price": 200, "qty": 2}]};
    assert_eq!(
        evaluate(
            bson!({"$filter": {"input": "$items", "as": "item", "cond": {"$gte": ["$$item.price", 100]}}}),
            document.clone()
        ),
        Some(bson!([{"price": 110, "qty": 3}, {"price": 200, "qty": 2}]))
    );
    assert_eq!(
        evaluate(
            bson!({"$filter": {"input": "$items", "cond": {"$gte": ["$$this.price", 100]}, "limit": 1}}),
            document.clone()
        ),
        Some(bson!([{"price": 110, "qty": 3}]))
    );
    assert_eq!(
        evaluate(
            bson!({"$map": {"input": "$items", "as": "i", "in": {"$multiply": ["$$i.price", "$$i.qty"]}}}),
            document.clone()
        ),
        Some(bson!([10, 330, 400]))
    );
    assert_eq!(
        evaluate(
            bson!({"$reduce": {"input": "$items", "initialValue": 0, "in": {"$add": ["$$value", "$$this.qty"]}}}),
            document.clone()
        ),
        Some(bson!(6))
    );
    assert_eq!(
        value(
            bson!({"$reduce": {"input": ["a", "b", "c"], "initialValue": "", "in": {"$concat": ["$$value", "$$this"]}}})
        ),
        bson!("abc")
    );
    assert_eq!(
        evaluate(
            bson!({"$map": {"input": "$missing", "in": 1}}),
            document.clone()
        ),
        Some(Bson::Null)
    );
    assert_eq!(
        failure(bson!({"$map": {"input": 1, "in": 1}}), document.clone()).code,
        16883
    );
    assert_eq!(
        failure(
            bson!({"$filter": {"input": "x", "cond": true}}),
            document.clone()
        )
        .code,
        28651
    );
    assert_eq!(
        failure(
            bson!({"$map": {"input": [], "as": "Bad", "in": 1}}),
            document
        )
        .code,
        16870
    );
}

#[test]
fn let_binds_variables_for_its_body() {
    let document = doc! {"price": 10, "tax": 0.5};
    assert_eq!(
        evaluate(
            bson!({"$let": {"vars": {"total": {"$add": ["$price", "$tax"]}, "discounted": true}, "in": {"$cond": {"if": "$$discounted", "then": {"$multiply": ["$$total", 0.5]}, "else": "$$total"}}}}),
            document
        ),
        Some(Bson::Double(5.25))
    );
    assert_eq!(
        evaluate(
            bson!({"$let": {"vars": {"x": "$missing"}, "in": "$$x"}}),
            doc! {}
        ),
        None
    );
}

#[test]
fn in_concat_arrays_index_of_array_and_reverse() {
    assert_eq!(value(bson!({"$in": [2, [1, 2.0, 3]]})), bson!(true));
    assert_eq!(value(bson!({"$in": ["abc", ["xyz"]]})), bson!(false));
    assert_eq!(
        failure(bson!({"$in": [1, "$missing"]}), Document::new()).code,
        40081
    );
    assert_eq!(
        value(bson!({"$concatArrays": [["a"], [["b"]], [1]]})),
        bson!(["a", ["b"], 1])
    );
    assert_eq!(value(bson!({"$concatArrays": [["a"], null]})), Bson::Null);
    assert_eq!(
        value(bson!({"$indexOfArray": [["a", "abc", "b"], "b"]})),
        bson!(2)
    );
    assert_eq!(value(bson!({"$indexOfArray": [[1, 2, 1], 1, 1]})), bson!(2));
    assert_eq!(value(bson!({"$indexOfArray": [null, 1]})), Bson::Null);
    assert_eq!(
        value(bson!({"$reverseArray": [[1, 2, 3]]})),
        bson!([3, 2, 1])
    );
    assert_eq!(value(bson!({"$isArray": [[1]]})), bson!(true));
    assert_eq!(value(bson!({"$isArray": "a"})), bson!(false));
}

#[test]
fn range_builds_integer_sequences() {
    assert_eq!(value(bson!({"$range": [0, 10, 2]})), bson!([0, 2, 4, 6, 8]));
    assert_eq!(
        value(bson!({"$range": [10, 0, -2]})),
        bson!([10, 8, 6, 4, 2])
    );
    assert_eq!(value(bson!({"$range": [0, 10, -2]})), bson!([]));
    assert_eq!(
        failure(bson!({"$range": [0, 10, 0]}), Document::new()).code,
        34449
    );
}

#[test]
fn object_array_conversions_and_merge() {
    assert_eq!(
        value(bson!({"$arrayToObject": [[["item", "abc123"], ["qty", 25]]]})),
        bson!({"item": "abc123", "qty": 25})
    );
    assert_eq!(
        value(bson!({"$arrayToObject": [[{"k": "item", "v": "abc"}, {"k": "item", "v": "x"}]]})),
        bson!({"item": "x"})
    );
    assert_eq!(
        value(bson!({"$objectToArray": {"$literal": {"a": 1, "b": {"c": 2}}}})),
        bson!([{"k": "a", "v": 1}, {"k": "b", "v": {"c": 2}}])
    );
    assert_eq!(
        value(bson!({"$mergeObjects": [{"a": 1, "b": 1}, null, {"b": 2, "c": 3}]})),
        bson!({"a": 1, "b": 2, "c": 3})
    );
    assert_eq!(
        failure(bson!({"$mergeObjects": [1]}), Document::new()).code,
        40400
    );
    assert_eq!(
        evaluate(bson!({"$getField": "price.usd"}), doc! {"price.usd": 45}),
        Some(bson!(45))
    );
    assert_eq!(
        value(bson!({"$getField": {"field": "a", "input": {"a": 3}}})),
        bson!(3)
    );
}

#[test]
fn set_operators() {
    assert_eq!(
        value(bson!({"$setUnion": [["a", "b"], ["b", "c"]]})),
        bson!(["a", "b", "c"])
    );
    assert_eq!(
        value(bson!({"$setIntersection": [["a", "b", "a"], ["b", "a"]]})),
        bson!(["a", "b"])
    );
    assert_eq!(
        value(bson!({"$setDifference": [["a", "b"], ["b"]]})),
        bson!(["a"])
    );
    assert_eq!(
        value(bson!({"$setIsSubset": [["a"], ["a", "b"]]})),
        bson!(true)
    );
    assert_eq!(
        value(bson!({"$setEquals": [["a", "b"], ["b", "a", "a"]]})),
        bson!(true)
    );
    assert_eq!(
        value(bson!({"$anyElementTrue": [[0, false, 1]]})),
        bson!(true)
    );
    assert_eq!(value(bson!({"$allElementsTrue": [[1, []]]})), bson!(true));
    assert_eq!(value(bson!({"$allElementsTrue": [[]]})), bson!(true));
    assert_eq!(
        failure(bson!({"$setUnion": [["a"], 1]}), Document::new()).code,
        17043
    );
}

#[test]
fn type_and_conversions() {
    assert_eq!(value(bson!({"$type": "a"})), bson!("string"));
    assert_eq!(value(bson!({"$type": [[1]]})), bson!("array"));
    assert_eq!(
        evaluate(bson!({"$type": "$missing"}), doc! {}),
        Some(bson!("missing"))
    );
    assert_eq!(value(bson!({"$type": 2_i64})), bson!("long"));
    assert_eq!(value(bson!({"$isNumber": 1.5})), bson!(true));
    assert_eq!(value(bson!({"$toString": 1.5})), bson!("1.5"));
    assert_eq!(value(bson!({"$toString": 2.0})), bson!("2"));
    assert_eq!(value(bson!({"$toString": true})), bson!("true"));
    assert_eq!(
        value(bson!({"$toString": date("2018-03-27T16:58:51.538Z")})),
        bson!("2018-03-27T16:58:51.538Z")
    );
    assert_eq!(value(bson!({"$toInt": 5.9})), Bson::Int32(5));
    assert_eq!(value(bson!({"$toInt": "-12"})), Bson::Int32(-12));
    assert_eq!(value(bson!({"$toInt": true})), Bson::Int32(1));
    assert_eq!(
        value(bson!({"$toLong": date("1970-01-01T00:00:01Z")})),
        Bson::Int64(1000)
    );
    assert_eq!(value(bson!({"$toDouble": "5.5"})), Bson::Double(5.5));
    assert_eq!(value(bson!({"$toBool": 0})), bson!(false));
    assert_eq!(value(bson!({"$toBool": "false"})), bson!(true));
    assert_eq!(value(bson!({"$toInt": null})), Bson::Null);
    assert_eq!(
        value(bson!({"$toDate": "2018-03-03"})),
        date("2018-03-03T00:00:00Z")
    );
    assert_eq!(
        value(bson!({"$toDate": 120_000_000_000.5_f64})),
        date("1973-10-20T21:20:00Z")
    );
    assert_eq!(
        value(bson!({"$toObjectId": "5ab9cbfa31c2ab715d42129e"})),
        Bson::ObjectId(bson::oid::ObjectId::parse_str("5ab9cbfa31c2ab715d42129e").unwrap())
    );
    let error = failure(bson!({"$toInt": "abc"}), Document::new());
    assert_eq!(error.code, 241);
    assert_eq!(error.code_name(), "Location241");
    assert_eq!(failure(bson!({"$toInt": 1e10}), Document::new()).code, 241);
    let decimal = value(bson!({"$toDecimal": "2.5"}));
    assert_eq!(decimal.to_string(), "2.5");
}

#[test]
fn convert_uses_on_error_and_on_null() {
    assert_eq!(
        value(bson!({"$convert": {"input": "abc", "to": "int", "onError": -1}})),
        bson!(-1)
    );
    assert_eq!(
        value(bson!({"$convert": {"input": null, "to": "int", "onNull": 0}})),
        bson!(0)
    );
    assert_eq!(
        value(bson!({"$convert": {"input": "7", "to": 16}})),
        Bson::Int32(7)
    );
    assert_eq!(
        failure(bson!({"$convert": {"input": "7"}}), Document::new()).code,
        codes::FAILED_TO_PARSE
    );
}

#[test]
fn date_parts_in_utc_and_offsets() {
    let document = doc! {"d": date("2014-01-01T08:15:39.736Z")};
    let part = |op: &str| evaluate(bson!({op: "$d"}), document.clone()).unwrap();
    assert_eq!(part("$year"), bson!(2014));
    assert_eq!(part("$month"), bson!(1));
    assert_eq!(part("$dayOfMonth"), bson!(1));
    assert_eq!(part("$hour"), bson!(8));
    assert_eq!(part("$minute"), bson!(15));
    assert_eq!(part("$second"), bson!(39));
    assert_eq!(part("$millisecond"), bson!(736));
    assert_eq!(part("$dayOfYear"), bson!(1));
    assert_eq!(part("$dayOfWeek"), bson!(4));
    assert_eq!(part("$week"), bson!(0));
    assert_eq!(part("$isoWeek"), bson!(1));
    assert_eq!(part("$isoWeekYear"), Bson::Int64(2014));
    assert_eq!(part("$isoDayOfWeek"), bson!(3));
    assert_eq!(
        evaluate(
            bson!({"$hour": {"date": "$d", "timezone": "-05:00"}}),
            document.clone()
        ),
        Some(bson!(3))
    );
    assert_eq!(
        evaluate(
            bson!({"$dayOfMonth": {"date": "$d", "timezone": "-0900"}}),
            document.clone()
        ),
        Some(bson!(31))
    );
    assert_eq!(
        evaluate(bson!({"$year": "$missing"}), document.clone()),
        Some(Bson::Null)
    );
    assert_eq!(failure(bson!({"$year": "x"}), document.clone()).code, 16006);
    assert_eq!(
        failure(
            bson!({"$year": {"date": "$d", "timezone": "Mars/Base"}}),
            document
        )
        .code,
        40485
    );
}

#[test]
fn iso_weeks_cross_year_boundaries() {
    // 2016-01-01 was a Friday: ISO week 53 of 2015.
    let document = doc! {"d": date("2016-01-01T00:00:00Z")};
    assert_eq!(
        evaluate(bson!({"$isoWeek": "$d"}), document.clone()),
        Some(bson!(53))
    );
    assert_eq!(
        evaluate(bson!({"$isoWeekYear": "$d"}), document.clone()),
        Some(Bson::Int64(2015))
    );
    assert_eq!(evaluate(bson!({"$week": "$d"}), document), Some(bson!(0)));
    let sunday = doc! {"d": date("2016-01-03T00:00:00Z")};
    assert_eq!(evaluate(bson!({"$week": "$d"}), sunday), Some(bson!(1)));
}

#[test]
fn date_to_string_formats() {
    let document = doc! {"date": date("2014-01-01T08:15:39.736Z")};
    let format = |format: &str| {
        evaluate(
            bson!({"$dateToString": {"format": format, "date": "$date"}}),
            document.clone(),
        )
    };
    assert_eq!(format("%Y-%m-%d"), Some(bson!("2014-01-01")));
    assert_eq!(format("%H:%M:%S:%L%z"), Some(bson!("08:15:39:736+0000")));
    assert_eq!(format("%j"), Some(bson!("001")));
    assert_eq!(format("%w %u %U %V %G"), Some(bson!("4 3 00 01 2014")));
    assert_eq!(format("%b %B %%"), Some(bson!("Jan January %")));
    assert_eq!(
        evaluate(
            bson!({"$dateToString": {"date": "$date"}}),
            document.clone()
        ),
        Some(bson!("2014-01-01T08:15:39.736Z"))
    );
    assert_eq!(
        evaluate(
            bson!({"$dateToString": {"format": "%H:%M:%S:%L%z", "date": "$date", "timezone": "+04:30"}}),
            document.clone()
        ),
        Some(bson!("12:45:39:736+0430"))
    );
    assert_eq!(
        evaluate(
            bson!({"$dateToString": {"format": "%Z", "date": "$date", "timezone": "+04:30"}}),
            document.clone()
        ),
        Some(bson!("+270"))
    );
    assert_eq!(
        evaluate(
            bson!({"$dateToString": {"date": "$missing", "onNull": "none"}}),
            document.clone()
        ),
        Some(bson!("none"))
    );
    let error = failure(
        bson!({"$dateToString": {"format": "%Q", "date": "$date"}}),
        document.clone(),
    );
    assert_eq!(error.code, 18536);
    assert_eq!(
        failure(
            bson!({"$dateToString": {"format": "%", "date": "$date"}}),
            document
        )
        .code,
        18535
    );
}

#[test]
fn date_from_string_parses_iso_and_formats() {
    assert_eq!(
        value(bson!({"$dateFromString": {"dateString": "2017-02-08T12:10:40.787"}})),
        date("2017-02-08T12:10:40.787Z")
    );
    assert_eq!(
        value(
            bson!({"$dateFromString": {"dateString": "2017-02-08T12:10:40.787", "timezone": "-05:00"}})
        ),
        date("2017-02-08T17:10:40.787Z")
    );
    assert_eq!(
        value(bson!({"$dateFromString": {"dateString": "2017-02-08 12:10:40+02:00"}})),
        date("2017-02-08T10:10:40Z")
    );
    assert_eq!(
        value(bson!({"$dateFromString": {"dateString": "15-06-2018", "format": "%d-%m-%Y"}})),
        date("2018-06-15T00:00:00Z")
    );
    assert_eq!(
        value(bson!({"$dateFromString": {"dateString": "not a date", "onError": "bad"}})),
        bson!("bad")
    );
    assert_eq!(
        value(bson!({"$dateFromString": {"dateString": null, "onNull": "none"}})),
        bson!("none")
    );
    assert_eq!(
        failure(
            bson!({"$dateFromString": {"dateString": "2017-02-30"}}),
            Document::new()
        )
        .code,
        241
    );
}

#[test]
fn date_arithmetic_and_differences() {
    assert_eq!(
        value(
            bson!({"$dateAdd": {"startDate": date("2020-01-31T10:00:00Z"), "unit": "month", "amount": 1}})
        ),
        date("2020-02-29T10:00:00Z")
    );
    assert_eq!(
        value(
            bson!({"$dateSubtract": {"startDate": date("2021-03-01T00:00:00Z"), "unit": "day", "amount": 1}})
        ),
        date("2021-02-28T00:00:00Z")
    );
    assert_eq!(
        value(
            bson!({"$dateAdd": {"startDate": date("2021-03-01T00:00:00Z"), "unit": "hour", "amount": 3}})
        ),
        date("2021-03-01T03:00:00Z")
    );
    assert_eq!(
        value(
            bson!({"$dateDiff": {"startDate": date("2020-12-31T23:59:00Z"), "endDate": date("2021-01-01T00:01:00Z"), "unit": "year"}})
        ),
        Bson::Int64(1)
    );
    assert_eq!(
        value(
            bson!({"$dateDiff": {"startDate": date("2021-01-01T00:00:00Z"), "endDate": date("2021-03-05T00:00:00Z"), "unit": "day"}})
        ),
        Bson::Int64(63)
    );
    // 2021-01-02 is a Saturday, 2021-01-03 a Sunday: one week boundary crossed.
    assert_eq!(
        value(
            bson!({"$dateDiff": {"startDate": date("2021-01-02T00:00:00Z"), "endDate": date("2021-01-03T00:00:00Z"), "unit": "week"}})
        ),
        Bson::Int64(1)
    );
    assert_eq!(
        value(
            bson!({"$dateDiff": {"startDate": date("2021-01-02T00:00:00Z"), "endDate": date("2021-01-03T00:00:00Z"), "unit": "week", "startOfWeek": "monday"}})
        ),
        Bson::Int64(0)
    );
    assert_eq!(
        value(bson!({"$dateTrunc": {"date": date("2021-03-15T13:47:12Z"), "unit": "month"}})),
        date("2021-03-01T00:00:00Z")
    );
    assert_eq!(
        value(
            bson!({"$dateTrunc": {"date": date("2021-03-15T13:47:12Z"), "unit": "hour", "binSize": 6}})
        ),
        date("2021-03-15T12:00:00Z")
    );
}

#[test]
fn extreme_dates_and_sizes_fail_cleanly() {
    let far = bson!({"$toDate": i64::MAX});
    assert_eq!(
        failure(
            bson!({"$dateAdd": {"startDate": far.clone(), "unit": "year", "amount": i64::MAX}}),
            Document::new()
        )
        .code,
        5166406
    );
    assert!(Expression::parse(
        &bson!({"$dateTrunc": {"date": far.clone(), "unit": "month", "binSize": i64::MAX}})
    )
    .unwrap()
    .evaluate(&Document::new(), &Variables::new())
    .is_ok());
    assert_eq!(
        failure(
            bson!({"$dateTrunc": {"date": {"$toDate": i64::MIN}, "unit": "second", "binSize": 7}}),
            Document::new()
        )
        .code,
        codes::BAD_VALUE
    );
    assert!(
        Expression::parse(&bson!({"$dateToString": {"date": far, "timezone": "+14:00"}}))
            .unwrap()
            .evaluate(&Document::new(), &Variables::new())
            .is_ok()
    );
    assert_eq!(
        failure(bson!({"$range": [i32::MIN, i32::MAX]}), Document::new()).code,
        5029600
    );
}

#[test]
fn civil_calendar_round_trips() {
    for days in [-800_000_i64, -1, 0, 59, 365, 11_016, 2_932_896] {
        let (year, month, day) = dates::civil_from_days(days);
        assert_eq!(dates::days_from_civil(year, month, day), days);
    }
    assert_eq!(dates::civil_from_days(0), (1970, 1, 1));
    assert_eq!(dates::days_from_civil(2000, 3, 1), 11_017);
}

#[test]
fn deep_nesting_is_rejected_without_overflowing() {
    let mut spec = bson!(1);
    for _ in 0..10_000 {
        spec = bson!({"$abs": [spec]});
    }
    assert_eq!(
        Expression::parse(&spec).unwrap_err().code,
        codes::FAILED_TO_PARSE
    );
    let mut nested = bson!(1);
    for _ in 0..10_000 {
        nested = bson!([nested]);
    }
    assert!(Expression::parse(&nested).is_err());
}

#[test]
fn invalid_field_paths_are_rejected() {
    assert_eq!(failure(bson!("$"), Document::new()).code, 16872);
    assert_eq!(failure(bson!("$a..b"), Document::new()).code, 15998);
    assert_eq!(failure(bson!("$$"), Document::new()).code, 16869);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const OPERATORS: &[&str] = &[
        "$add",
        "$subtract",
        "$multiply",
        "$divide",
        "$mod",
        "$abs",
        "$ceil",
        "$round",
        "$trunc",
        "$pow",
        "$sqrt",
        "$ln",
        "$log",
        "$exp",
        "$eq",
        "$lt",
        "$cmp",
        "$and",
        "$or",
        "$not",
        "$cond",
        "$ifNull",
        "$switch",
        "$concat",
        "$substr",
        "$substrCP",
        "$strLenCP",
        "$split",
        "$trim",
        "$indexOfCP",
        "$regexMatch",
        "$size",
        "$arrayElemAt",
        "$slice",
        "$filter",
        "$map",
        "$reduce",
        "$concatArrays",
        "$in",
        "$range",
        "$arrayToObject",
        "$objectToArray",
        "$setUnion",
        "$setDifference",
        "$mergeObjects",
        "$type",
        "$toInt",
        "$toDate",
        "$toString",
        "$convert",
        "$year",
        "$dateToString",
        "$dateFromString",
        "$dateAdd",
        "$dateDiff",
        "$let",
        "$sum",
        "$avg",
        "$max",
        "$first",
        "$literal",
        "$getField",
        "$sortArray",
        "$toObjectId",
        "$dateTrunc",
        "$week",
    ];

    fn leaf() -> impl Strategy<Value = Bson> {
        prop_oneof![
            Just(Bson::Null),
            any::<bool>().prop_map(Bson::Boolean),
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<f64>().prop_map(Bson::Double),
            "[a-z$.%]{0,6}".prop_map(Bson::String),
            prop::sample::select(vec!["$a", "$b.c", "$$ROOT", "$$this", "$$value", "$arr"])
                .prop_map(|s| Bson::String(s.to_string())),
            Just(Bson::DateTime(bson::DateTime::from_millis(
                1_600_000_000_000
            ))),
        ]
    }

    fn spec() -> impl Strategy<Value = Bson> {
        leaf().prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                (prop::sample::select(OPERATORS), inner.clone()).prop_map(|(op, arg)| {
                    let mut document = Document::new();
                    document.insert(op, arg);
                    Bson::Document(document)
                }),
                (
                    prop::sample::select(vec![
                        "input",
                        "as",
                        "in",
                        "cond",
                        "if",
                        "then",
                        "else",
                        "vars",
                        "date",
                        "format",
                        "to",
                        "unit",
                        "amount",
                        "startDate",
                        "endDate",
                        "regex",
                        "branches",
                        "initialValue",
                        "field",
                        "sortBy",
                        "x"
                    ]),
                    inner
                )
                    .prop_map(|(key, value)| {
                        let mut document = Document::new();
                        document.insert(key, value);
                        Bson::Document(document)
                    }),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_expressions_never_panic(spec in spec()) {
            let document = doc! {"a": 1, "b": {"c": [1, "x"]}, "arr": [1, 2, {"c": 3}]};
            if let Ok(expression) = Expression::parse(&spec) {
                let _ = expression.evaluate(&document, &Variables::new());
            }
        }
    }
}
