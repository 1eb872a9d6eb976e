//! Unit tests for the pipeline stages and sort order, using the MongoDB manual's examples.

use std::collections::HashMap;

use bson::{bson, doc, Bson, Document};

use super::*;

/// Collections held in memory for `$lookup` and `$unionWith`.
#[derive(Default)]
struct Collections(HashMap<String, Vec<Document>>);

impl PipelineContext for Collections {
    fn collection_documents(&self, collection: &str) -> CommandResult<Vec<Document>> {
        Ok(self.0.get(collection).cloned().unwrap_or_default())
    }
}

fn stages(spec: Bson) -> Vec<Bson> {
    match spec {
        Bson::Array(items) => items,
        other => panic!("not a pipeline: {other}"),
    }
}

fn run_with(pipeline: Bson, input: Vec<Document>, context: &Collections) -> Vec<Document> {
    Pipeline::parse(&stages(pipeline.clone()))
        .unwrap_or_else(|e| panic!("parse {pipeline}: {e}"))
        .run(input, context, &Variables::new())
        .unwrap_or_else(|e| panic!("run {pipeline}: {e}"))
}

fn run(pipeline: Bson, input: Vec<Document>) -> Vec<Document> {
    run_with(pipeline, input, &Collections::default())
}

fn parse_error(pipeline: Bson) -> CommandError {
    Pipeline::parse(&stages(pipeline)).unwrap_err()
}

fn run_error(pipeline: Bson, input: Vec<Document>) -> CommandError {
    Pipeline::parse(&stages(pipeline))
        .unwrap()
        .run(input, &Collections::default(), &Variables::new())
        .unwrap_err()
}

fn sales() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "item": "abc", "price": 10, "quantity": 2, "tags": ["a", "b"]},
        doc! {"_id": 2, "item": "jkl", "price": 20, "quantity": 1, "tags": []},
        doc! {"_id": 3, "item": "xyz", "price": 5, "quantity": 10, "tags": ["c"]},
        doc! {"_id": 4, "item": "xyz", "price": 5, "quantity": 20},
        doc! {"_id": 5, "item": "abc", "price": 10.0, "quantity": 10},
    ]
}

#[test]
fn stage_documents_must_have_one_known_field() {
    let error = parse_error(bson!([{"$match": {}, "$limit": 1}]));
    assert_eq!(error.code, 40323);
    assert_eq!(
        error.message,
        "A pipeline stage specification object must contain exactly one field."
    );
    let error = parse_error(bson!([{"$foo": 1}]));
    assert_eq!(error.code, 40324);
    assert_eq!(error.message, "Unrecognized pipeline stage name: '$foo'");
    assert_eq!(parse_error(bson!([1])).code, codes::TYPE_MISMATCH);
    assert_eq!(parse_error(bson!([{"$changeStream": {}}])).code, 40602);
}

#[test]
fn match_filters_and_is_reported_as_leading() {
    let pipeline =
        Pipeline::parse(&stages(bson!([{"$match": {"item": "xyz"}}, {"$limit": 5}]))).unwrap();
    assert_eq!(pipeline.leading_match(), Some(&doc! {"item": "xyz"}));
    let output = pipeline
        .run(sales(), &Collections::default(), &Variables::new())
        .unwrap();
    let ids: Vec<_> = output.iter().map(|d| d.get_i32("_id").unwrap()).collect();
    assert_eq!(ids, vec![3, 4]);
    let later = Pipeline::parse(&stages(bson!([{"$limit": 5}, {"$match": {}}]))).unwrap();
    assert_eq!(later.leading_match(), None);
}

#[test]
fn match_with_expr_sees_variables() {
    let output = Pipeline::parse(&stages(bson!([
        {"$match": {"$expr": {"$gt": ["$quantity", "$$minimum"]}}}
    ])))
    .unwrap()
    .run(
        sales(),
        &Collections::default(),
        &Variables::new().with("minimum", bson!(9)),
    )
    .unwrap();
    assert_eq!(output.len(), 3);
}

#[test]
fn project_includes_excludes_and_computes() {
    let input = vec![
        doc! {"_id": 1, "title": "abc123", "isbn": "0001122223334", "author": {"last": "zzz", "first": "aaa"}, "copies": 5},
    ];
    assert_eq!(
        run(
            bson!([{"$project": {"title": 1, "author": 1}}]),
            input.clone()
        ),
        vec![doc! {"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa"}}]
    );
    assert_eq!(
        run(
            bson!([{"$project": {"_id": 0, "title": 1, "author.first": 1}}]),
            input.clone()
        ),
        vec![doc! {"title": "abc123", "author": {"first": "aaa"}}]
    );
    assert_eq!(
        run(
            bson!([{"$project": {"isbn": 0, "author": {"first": 0}, "copies": 0}}]),
            input.clone()
        ),
        vec![doc! {"_id": 1, "title": "abc123", "author": {"last": "zzz"}}]
    );
    assert_eq!(
        run(
            bson!([{"$project": {
                "title": 1,
                "isbn": {"prefix": {"$substr": ["$isbn", 0, 3]}},
                "lastName": "$author.last",
                "copiesSold": "$copies",
                "gone": "$$REMOVE"
            }}]),
            input
        ),
        vec![
            doc! {"_id": 1, "title": "abc123", "isbn": {"prefix": "000"}, "lastName": "zzz", "copiesSold": 5}
        ]
    );
}

#[test]
fn project_through_arrays_keeps_only_documents() {
    let input = vec![doc! {"_id": 1, "a": [1, {"b": 2, "c": 3}, [{"b": 4}]]}];
    assert_eq!(
        run(bson!([{"$project": {"a.b": 1}}]), input),
        vec![doc! {"_id": 1, "a": [{"b": 2}, [{"b": 4}]]}]
    );
}

#[test]
fn project_rejects_mixing_and_empty_specs() {
    let error = parse_error(bson!([{"$project": {"a": 1, "b": 0}}]));
    assert_eq!(error.code, 31254);
    assert_eq!(
        error.message,
        "Invalid $project :: caused by :: Cannot do exclusion on field b in inclusion projection"
    );
    assert_eq!(
        parse_error(bson!([{"$project": {"a": 0, "b": 1}}])).code,
        31253
    );
    assert_eq!(
        parse_error(bson!([{"$project": {"a": 0, "b": "$x"}}])).code,
        31252
    );
    assert_eq!(parse_error(bson!([{"$project": {}}])).code, 51272);
    assert_eq!(
        parse_error(bson!([{"$project": {"a": 1, "a.b": 1}}])).code,
        31250
    );
    assert_eq!(parse_error(bson!([{"$project": 1}])).code, 15969);
    // _id may be excluded from an inclusion projection and kept in an exclusion one.
    assert_eq!(
        run(
            bson!([{"$project": {"_id": 0}}]),
            vec![doc! {"_id": 1, "a": 2}]
        ),
        vec![doc! {"a": 2}]
    );
    assert_eq!(
        run(
            bson!([{"$project": {"_id": 1, "a": 0}}]),
            vec![doc! {"_id": 1, "a": 2, "b": 3}]
        ),
        vec![doc! {"_id": 1, "b": 3}]
    );
}

#[test]
fn add_fields_sets_nested_and_replaces_existing_fields() {
    let input = vec![
        doc! {"_id": 1, "student": "Maya", "homework": [10, 5, 10], "quiz": [10, 8], "specs": {"doors": 4}},
    ];
    let output = run(
        bson!([
            {"$addFields": {"totalHomework": {"$sum": "$homework"}, "totalQuiz": {"$sum": "$quiz"}}},
            {"$set": {"totalScore": {"$add": ["$totalHomework", "$totalQuiz"]}, "specs.fuel": "unleaded", "student": "M"}},
        ]),
        input,
    );
    assert_eq!(
        output,
        vec![doc! {
            "_id": 1, "student": "M", "homework": [10, 5, 10], "quiz": [10, 8],
            "specs": {"doors": 4, "fuel": "unleaded"},
            "totalHomework": 25, "totalQuiz": 18, "totalScore": 43
        }]
    );
    assert_eq!(
        run(
            bson!([{"$addFields": {"specs": {"wheels": 4}}}]),
            vec![doc! {"specs": {"doors": 2}}]
        ),
        vec![doc! {"specs": {"doors": 2, "wheels": 4}}]
    );
    assert_eq!(
        run(
            bson!([{"$addFields": {"a": "$$REMOVE"}}]),
            vec![doc! {"a": 1, "b": 2}]
        ),
        vec![doc! {"b": 2}]
    );
    assert_eq!(
        run(
            bson!([{"$addFields": {"arr.x": 1}}]),
            vec![doc! {"arr": [{"y": 1}, 2]}]
        ),
        vec![doc! {"arr": [{"y": 1, "x": 1}, {"x": 1}]}]
    );
}

#[test]
fn unset_removes_paths() {
    assert_eq!(
        run(
            bson!([{"$unset": ["isbn", "author.first"]}]),
            vec![doc! {"_id": 1, "isbn": "1", "author": {"first": "a", "last": "b"}}]
        ),
        vec![doc! {"_id": 1, "author": {"last": "b"}}]
    );
    assert_eq!(
        run(bson!([{"$unset": "a"}]), vec![doc! {"a": 1, "b": 2}]),
        vec![doc! {"b": 2}]
    );
    assert_eq!(parse_error(bson!([{"$unset": [1]}])).code, 31120);
}

#[test]
fn group_accumulates_per_key_with_numeric_equivalence() {
    let mut output = run(
        bson!([{"$group": {
            "_id": "$item",
            "total": {"$sum": {"$multiply": ["$price", "$quantity"]}},
            "average": {"$avg": "$quantity"},
            "count": {"$sum": 1},
            "n": {"$count": {}},
            "firstId": {"$first": "$_id"},
            "lastId": {"$last": "$_id"},
            "ids": {"$push": "$_id"},
            "prices": {"$addToSet": "$price"},
            "most": {"$max": "$quantity"},
            "least": {"$min": "$quantity"},
        }}, {"$sort": {"_id": 1}}]),
        sales(),
    );
    assert_eq!(output.len(), 3);
    let abc = output.remove(0);
    assert_eq!(
        abc,
        doc! {
            "_id": "abc", "total": 120.0, "average": 6.0, "count": 2, "n": 2,
            "firstId": 1, "lastId": 5, "ids": [1, 5], "prices": [10], "most": 10, "least": 2
        }
    );
}

#[test]
fn group_with_null_compound_and_computed_keys() {
    let output = run(
        bson!([{"$group": {"_id": null, "count": {"$sum": 1}, "quantity": {"$sum": "$quantity"}}}]),
        sales(),
    );
    assert_eq!(output, vec![doc! {"_id": null, "count": 5, "quantity": 43}]);
    let output = run(
        bson!([
            {"$group": {"_id": {"item": "$item", "cheap": {"$lt": ["$price", 10]}}, "n": {"$sum": 1}}},
            {"$sort": {"_id.item": 1}}
        ]),
        sales(),
    );
    assert_eq!(
        output[0],
        doc! {"_id": {"item": "abc", "cheap": false}, "n": 2}
    );
    assert_eq!(output.len(), 3);
    assert!(run(bson!([{"$group": {"_id": null, "n": {"$sum": 1}}}]), vec![]).is_empty());
}

#[test]
fn group_accumulators_ignore_missing_values() {
    let input = vec![
        doc! {"k": 1, "v": 5},
        doc! {"k": 1},
        doc! {"k": 1, "v": null},
    ];
    assert_eq!(
        run(
            bson!([{"$group": {"_id": "$k", "pushed": {"$push": "$v"}, "first": {"$first": "$missing"}, "min": {"$min": "$v"}, "avg": {"$avg": "$v"}, "sum": {"$sum": "$v"}, "merged": {"$mergeObjects": "$missing"}}}]),
            input
        ),
        vec![
            doc! {"_id": 1, "pushed": [5, null], "first": null, "min": 5, "avg": 5.0, "sum": 5, "merged": {}}
        ]
    );
    let deviation = run(
        bson!([{"$group": {"_id": null, "pop": {"$stdDevPop": "$v"}, "sample": {"$stdDevSamp": "$v"}}}]),
        vec![doc! {"v": 1}, doc! {"v": 2}, doc! {"v": 3}, doc! {"v": 4}],
    );
    assert_eq!(
        deviation,
        vec![doc! {"_id": null, "pop": 1.118_033_988_749_895, "sample": 1.290_994_448_735_805_6}]
    );
}

#[test]
fn group_sum_promotes_on_overflow() {
    let output = run(
        bson!([{"$group": {"_id": null, "total": {"$sum": "$v"}}}]),
        vec![doc! {"v": i32::MAX}, doc! {"v": 1}],
    );
    assert_eq!(output[0].get("total"), Some(&Bson::Int64(2_147_483_648)));
}

#[test]
fn group_spec_errors() {
    assert_eq!(
        parse_error(bson!([{"$group": {"n": {"$sum": 1}}}])).code,
        15955
    );
    assert_eq!(
        parse_error(bson!([{"$group": {"_id": null, "n": {"$bogus": 1}}}])).code,
        15952
    );
    assert_eq!(
        parse_error(bson!([{"$group": {"_id": null, "n": 1}}])).code,
        40234
    );
    assert_eq!(
        parse_error(bson!([{"$group": {"_id": null, "a.b": {"$sum": 1}}}])).code,
        40235
    );
    assert_eq!(
        parse_error(bson!([{"$group": {"_id": null, "n": {"$sum": 1, "$avg": 1}}}])).code,
        40238
    );
}

#[test]
fn sort_orders_by_compound_keys() {
    let output = run(bson!([{"$sort": {"price": -1, "quantity": 1}}]), sales());
    let ids: Vec<_> = output.iter().map(|d| d.get_i32("_id").unwrap()).collect();
    assert_eq!(ids, vec![2, 1, 5, 3, 4]);
    let error = parse_error(bson!([{"$sort": {"a": 2}}]));
    assert_eq!(error.code, 15975);
    assert_eq!(
        error.message,
        "$sort key ordering must be 1 (for ascending) or -1 (for descending)"
    );
    assert_eq!(parse_error(bson!([{"$sort": {}}])).code, 15976);
    assert_eq!(parse_error(bson!([{"$sort": {"a": "up"}}])).code, 15974);
}

#[test]
fn sort_treats_missing_as_null_and_arrays_by_extremes() {
    let input = vec![
        doc! {"_id": 1, "v": [1, 9]},
        doc! {"_id": 2, "v": 5},
        doc! {"_id": 3},
        doc! {"_id": 4, "v": null},
        doc! {"_id": 5, "v": []},
        doc! {"_id": 6, "v": "text"},
    ];
    let ascending = SortSpec::parse(&doc! {"v": 1}).unwrap().sort(input.clone());
    let ids: Vec<_> = ascending
        .iter()
        .map(|d| d.get_i32("_id").unwrap())
        .collect();
    assert_eq!(ids, vec![5, 3, 4, 1, 2, 6]);
    let descending = SortSpec::parse(&doc! {"v": -1}).unwrap().sort(input);
    let ids: Vec<_> = descending
        .iter()
        .map(|d| d.get_i32("_id").unwrap())
        .collect();
    assert_eq!(ids, vec![6, 1, 2, 3, 4, 5]);
    let spec = SortSpec::parse(&doc! {"a.b": 1, "c": -1}).unwrap();
    assert_eq!(
        spec.fields(),
        vec![("a.b".to_string(), 1), ("c".to_string(), -1)]
    );
    assert_eq!(
        spec.compare(&doc! {"a": [{"b": 3}, {"b": 1}]}, &doc! {"a": {"b": 2}}),
        Ordering::Less
    );
}

#[test]
fn skip_and_limit_validate_their_arguments() {
    let output = run(bson!([{"$skip": 1}, {"$limit": 2}]), sales());
    let ids: Vec<_> = output.iter().map(|d| d.get_i32("_id").unwrap()).collect();
    assert_eq!(ids, vec![2, 3]);
    assert_eq!(parse_error(bson!([{"$limit": 0}])).code, 15958);
    assert_eq!(parse_error(bson!([{"$limit": "a"}])).code, 15957);
    assert_eq!(parse_error(bson!([{"$skip": -1}])).code, 15956);
    assert_eq!(parse_error(bson!([{"$skip": "a"}])).code, 15972);
}

#[test]
fn unwind_forms_and_options() {
    let input = vec![
        doc! {"_id": 1, "item": "ABC", "sizes": ["S", "M"]},
        doc! {"_id": 2, "item": "EFG", "sizes": []},
        doc! {"_id": 3, "item": "IJK", "sizes": "M"},
        doc! {"_id": 4, "item": "LMN"},
        doc! {"_id": 5, "item": "XYZ", "sizes": null},
    ];
    assert_eq!(
        run(bson!([{"$unwind": "$sizes"}]), input.clone()),
        vec![
            doc! {"_id": 1, "item": "ABC", "sizes": "S"},
            doc! {"_id": 1, "item": "ABC", "sizes": "M"},
            doc! {"_id": 3, "item": "IJK", "sizes": "M"},
        ]
    );
    assert_eq!(
        run(
            bson!([{"$unwind": {"path": "$sizes", "preserveNullAndEmptyArrays": true, "includeArrayIndex": "arrayIndex"}}]),
            input
        ),
        vec![
            doc! {"_id": 1, "item": "ABC", "sizes": "S", "arrayIndex": 0_i64},
            doc! {"_id": 1, "item": "ABC", "sizes": "M", "arrayIndex": 1_i64},
            doc! {"_id": 2, "item": "EFG", "arrayIndex": null},
            doc! {"_id": 3, "item": "IJK", "sizes": "M", "arrayIndex": null},
            doc! {"_id": 4, "item": "LMN", "arrayIndex": null},
            doc! {"_id": 5, "item": "XYZ", "sizes": null, "arrayIndex": null},
        ]
    );
    assert_eq!(
        run(
            bson!([{"$unwind": "$a.b"}]),
            vec![doc! {"a": {"b": [1, 2]}}]
        ),
        vec![doc! {"a": {"b": 1}}, doc! {"a": {"b": 2}}]
    );
    assert_eq!(parse_error(bson!([{"$unwind": "sizes"}])).code, 28818);
    assert_eq!(
        parse_error(bson!([{"$unwind": {"path": "$a", "x": 1}}])).code,
        28811
    );
    assert_eq!(parse_error(bson!([{"$unwind": {}}])).code, 28812);
    assert_eq!(parse_error(bson!([{"$unwind": 1}])).code, 15981);
}

fn inventory_context() -> Collections {
    let mut collections = Collections::default();
    collections.0.insert(
        "inventory".to_string(),
        vec![
            doc! {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120},
            doc! {"_id": 2, "sku": "bread", "description": "product 2", "instock": 80},
            doc! {"_id": 3, "sku": "cashews", "description": "product 3", "instock": 60},
            doc! {"_id": 4, "sku": "pecans", "description": "product 4", "instock": 70},
            doc! {"_id": 5, "sku": null, "description": "Incomplete"},
            doc! {"_id": 6},
        ],
    );
    collections
}

#[test]
fn lookup_joins_on_equality_with_null_matching_missing() {
    let orders = vec![
        doc! {"_id": 1, "item": "almonds", "price": 12, "quantity": 2},
        doc! {"_id": 3},
    ];
    let output = run_with(
        bson!([{"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inventory_docs"}}]),
        orders,
        &inventory_context(),
    );
    assert_eq!(
        output[0].get_array("inventory_docs").unwrap(),
        &vec![Bson::Document(
            doc! {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120}
        )]
    );
    let unmatched: Vec<_> = output[1]
        .get_array("inventory_docs")
        .unwrap()
        .iter()
        .map(|d| d.as_document().unwrap().get_i32("_id").unwrap())
        .collect();
    assert_eq!(unmatched, vec![5, 6]);
}

#[test]
fn lookup_matches_array_local_fields_elementwise() {
    let orders = vec![doc! {"_id": 1, "items": ["bread", "pecans", "nothing"]}];
    let output = run_with(
        bson!([{"$lookup": {"from": "inventory", "localField": "items", "foreignField": "sku", "as": "found"}}]),
        orders,
        &inventory_context(),
    );
    let ids: Vec<_> = output[0]
        .get_array("found")
        .unwrap()
        .iter()
        .map(|d| d.as_document().unwrap().get_i32("_id").unwrap())
        .collect();
    assert_eq!(ids, vec![2, 4]);
}

#[test]
fn lookup_pipeline_form_with_let() {
    let orders = vec![doc! {"_id": 1, "item": "bread", "ordered": 75}];
    let output = run_with(
        bson!([{"$lookup": {
            "from": "inventory",
            "let": {"order_item": "$item", "order_qty": "$ordered"},
            "pipeline": [
                {"$match": {"$expr": {"$and": [
                    {"$eq": ["$sku", "$$order_item"]},
                    {"$gte": ["$instock", "$$order_qty"]}
                ]}}},
                {"$project": {"sku": 1, "_id": 0}}
            ],
            "as": "stockdata"
        }}]),
        orders,
        &inventory_context(),
    );
    assert_eq!(
        output[0].get_array("stockdata").unwrap(),
        &vec![Bson::Document(doc! {"sku": "bread"})]
    );
    let concise = run_with(
        bson!([{"$lookup": {
            "from": "inventory", "localField": "item", "foreignField": "sku",
            "pipeline": [{"$project": {"instock": 1, "_id": 0}}], "as": "stock"
        }}]),
        vec![doc! {"_id": 1, "item": "cashews"}],
        &inventory_context(),
    );
    assert_eq!(
        concise[0].get_array("stock").unwrap(),
        &vec![Bson::Document(doc! {"instock": 60})]
    );
}

#[test]
fn lookup_spec_errors() {
    assert_eq!(
        parse_error(bson!([{"$lookup": {"from": "x", "localField": "a", "foreignField": "b"}}]))
            .code,
        9
    );
    assert_eq!(
        parse_error(bson!([{"$lookup": {"from": "x", "localField": "a", "as": "b"}}])).code,
        9
    );
    assert_eq!(
        parse_error(bson!([{"$lookup": {"from": "x", "bogus": 1, "as": "b"}}])).code,
        9
    );
}

#[test]
fn count_facet_and_sort_by_count() {
    assert_eq!(
        run(bson!([{"$count": "total"}]), sales()),
        vec![doc! {"total": 5}]
    );
    assert!(run(bson!([{"$count": "total"}]), vec![]).is_empty());
    assert_eq!(parse_error(bson!([{"$count": "$x"}])).code, 40158);
    assert_eq!(parse_error(bson!([{"$count": ""}])).code, 40156);
    let output = run(
        bson!([{"$facet": {
            "cheap": [{"$match": {"price": {"$lt": 10}}}, {"$count": "n"}],
            "items": [{"$sortByCount": "$item"}]
        }}]),
        sales(),
    );
    assert_eq!(output.len(), 1);
    assert_eq!(
        output[0].get_array("cheap").unwrap(),
        &vec![Bson::Document(doc! {"n": 2})]
    );
    let items = output[0].get_array("items").unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[2], Bson::Document(doc! {"_id": "jkl", "count": 1}));
    assert_eq!(
        run(
            bson!([{"$facet": {"none": [{"$match": {"x": 1}}]}}]),
            vec![]
        ),
        vec![doc! {"none": []}]
    );
    assert_eq!(
        parse_error(bson!([{"$facet": {"a": [{"$facet": {"b": [{"$limit": 1}]}}]}}])).code,
        40600
    );
    assert_eq!(parse_error(bson!([{"$sortByCount": "item"}])).code, 40148);
}

#[test]
fn replace_root_and_replace_with() {
    let input = vec![doc! {"_id": 1, "name": {"first": "John", "last": "Backus"}}];
    assert_eq!(
        run(
            bson!([{"$replaceRoot": {"newRoot": "$name"}}]),
            input.clone()
        ),
        vec![doc! {"first": "John", "last": "Backus"}]
    );
    assert_eq!(
        run(
            bson!([{"$replaceWith": {"$mergeObjects": [{"_id": "$_id"}, "$name"]}}]),
            input.clone()
        ),
        vec![doc! {"_id": 1, "first": "John", "last": "Backus"}]
    );
    let error = run_error(
        bson!([{"$replaceRoot": {"newRoot": "$missing"}}]),
        input.clone(),
    );
    assert_eq!(error.code, 40228);
    assert!(error.message.starts_with("'newRoot' expression must evaluate to an object, but resulting value was: MISSING. Type of resulting value: 'missing'."));
    assert_eq!(
        run_error(bson!([{"$replaceWith": "$_id"}]), input).code,
        40228
    );
    assert_eq!(parse_error(bson!([{"$replaceRoot": {}}])).code, 40414);
}

#[test]
fn sample_returns_distinct_input_documents() {
    let output = run(bson!([{"$sample": {"size": 3}}]), sales());
    assert_eq!(output.len(), 3);
    let mut ids: Vec<_> = output.iter().map(|d| d.get_i32("_id").unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert_eq!(run(bson!([{"$sample": {"size": 10}}]), sales()).len(), 5);
    assert_eq!(parse_error(bson!([{"$sample": {"size": "x"}}])).code, 28746);
}

#[test]
fn union_with_appends_another_collection() {
    let output = run_with(
        bson!([{"$unionWith": {"coll": "inventory", "pipeline": [{"$match": {"instock": {"$gt": 75}}}, {"$project": {"_id": 1}}]}}]),
        vec![doc! {"_id": "mine"}],
        &inventory_context(),
    );
    assert_eq!(
        output,
        vec![doc! {"_id": "mine"}, doc! {"_id": 1}, doc! {"_id": 2}]
    );
    assert_eq!(
        run_with(
            bson!([{"$unionWith": "inventory"}]),
            vec![],
            &inventory_context()
        )
        .len(),
        6
    );
}

#[test]
fn bucket_groups_by_boundaries() {
    let output = run(
        bson!([{"$bucket": {"groupBy": "$price", "boundaries": [0, 10, 20], "default": "Other", "output": {"count": {"$sum": 1}, "items": {"$push": "$item"}}}}]),
        sales()
            .into_iter()
            .chain([doc! {"price": 50, "item": "big"}])
            .collect(),
    );
    assert_eq!(
        output,
        vec![
            doc! {"_id": 0, "count": 2, "items": ["xyz", "xyz"]},
            doc! {"_id": 10, "count": 2, "items": ["abc", "abc"]},
            doc! {"_id": "Other", "count": 2, "items": ["jkl", "big"]},
        ]
    );
    assert_eq!(
        run(
            bson!([{"$bucket": {"groupBy": "$price", "boundaries": [0, 100]}}]),
            sales()
        ),
        vec![doc! {"_id": 0, "count": 5}]
    );
    assert_eq!(
        run_error(
            bson!([{"$bucket": {"groupBy": "$price", "boundaries": [0, 10]}}]),
            sales()
        )
        .code,
        40066
    );
    assert_eq!(
        parse_error(bson!([{"$bucket": {"groupBy": "$p", "boundaries": [5, 1]}}])).code,
        40194
    );
}

#[test]
fn redact_prunes_and_descends() {
    let input = vec![
        doc! {"_id": 1, "level": 1, "sub": {"level": 5, "secret": true}, "list": [{"level": 1}, {"level": 9}]},
    ];
    let output = run(
        bson!([{"$redact": {"$cond": {"if": {"$gt": ["$level", 3]}, "then": "$$PRUNE", "else": "$$DESCEND"}}}]),
        input,
    );
    assert_eq!(
        output,
        vec![doc! {"_id": 1, "level": 1, "list": [{"level": 1}]}]
    );
}

#[test]
fn nested_pipelines_are_bounded() {
    let mut pipeline = bson!([]);
    for _ in 0..50 {
        pipeline = bson!([{"$facet": {"a": pipeline}}]);
    }
    assert!(Pipeline::parse(&stages(pipeline)).is_err());
    let mut lookups = bson!([{"$limit": 1}]);
    for _ in 0..50 {
        lookups = bson!([{"$lookup": {"from": "x", "pipeline": lookups, "as": "y"}}]);
    }
    assert_eq!(
        Pipeline::parse(&stages(lookups)).unwrap_err().code,
        codes::FAILED_TO_PARSE
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const STAGES: &[&str] = &[
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$group",
        "$sort",
        "$skip",
        "$limit",
        "$unwind",
        "$lookup",
        "$count",
        "$facet",
        "$replaceRoot",
        "$replaceWith",
        "$sortByCount",
        "$sample",
        "$unionWith",
        "$bucket",
        "$redact",
    ];

    const KEYS: &[&str] = &[
        "_id",
        "a",
        "b.c",
        "path",
        "from",
        "localField",
        "foreignField",
        "as",
        "let",
        "pipeline",
        "newRoot",
        "size",
        "groupBy",
        "boundaries",
        "default",
        "output",
        "coll",
        "includeArrayIndex",
        "preserveNullAndEmptyArrays",
        "$sum",
        "$push",
        "$gt",
        "$add",
        "$expr",
        "$eq",
    ];

    fn argument() -> impl Strategy<Value = Bson> {
        let leaf = prop_oneof![
            Just(Bson::Null),
            any::<bool>().prop_map(Bson::Boolean),
            (-3_i32..30).prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            prop::sample::select(vec![
                "$a",
                "$b.c",
                "$arr",
                "other",
                "$$ROOT",
                "x",
                "$$KEEP",
                "$$DESCEND"
            ])
            .prop_map(|s| Bson::String(s.to_string())),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(
                    |pairs| {
                        let mut document = Document::new();
                        for (key, value) in pairs {
                            document.insert(key, value);
                        }
                        Bson::Document(document)
                    }
                ),
            ]
        })
    }

    fn pipeline() -> impl Strategy<Value = Vec<Bson>> {
        prop::collection::vec(
            (prop::sample::select(STAGES), argument()).prop_map(|(stage, argument)| {
                let mut document = Document::new();
                document.insert(stage, argument);
                Bson::Document(document)
            }),
            1..4,
        )
    }

    proptest! {
        #[test]
        fn random_pipelines_never_panic(stages in pipeline()) {
            let input = vec![
                doc! {"_id": 1, "a": 1, "b": {"c": [1, 2]}, "arr": [{"a": 1}, 3]},
                doc! {"_id": 2, "a": "x", "arr": []},
                doc! {"_id": 3},
            ];
            let mut context = Collections::default();
            context.0.insert("other".to_string(), input.clone());
            if let Ok(pipeline) = Pipeline::parse(&stages) {
                let _ = pipeline.run(input, &context, &Variables::new());
            }
        }
    }
}
