//! Every aggregation stage, accumulator and expression operator in the list, with the
//! results the MongoDB manual documents for its own examples.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};

use crate::fixture::{server_error, TestServer};

async fn run_pipeline(
    test: &TestServer,
    collection: &str,
    pipeline: Vec<Document>,
) -> Vec<Document> {
    test.collection(collection)
        .aggregate(pipeline)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

async fn seed_sales(test: &TestServer) {
    test.collection("sales")
        .insert_many(vec![
            doc! { "_id": 1, "item": "abc", "price": 10, "quantity": 2, "date": DateTime::parse_rfc3339_str("2014-03-01T08:00:00Z").unwrap() },
            doc! { "_id": 2, "item": "jkl", "price": 20, "quantity": 1, "date": DateTime::parse_rfc3339_str("2014-03-01T09:00:00Z").unwrap() },
            doc! { "_id": 3, "item": "xyz", "price": 5, "quantity": 10, "date": DateTime::parse_rfc3339_str("2014-03-15T09:00:00Z").unwrap() },
            doc! { "_id": 4, "item": "xyz", "price": 5, "quantity": 20, "date": DateTime::parse_rfc3339_str("2014-04-04T11:21:39Z").unwrap() },
            doc! { "_id": 5, "item": "abc", "price": 10, "quantity": 10, "date": DateTime::parse_rfc3339_str("2014-04-04T21:23:13Z").unwrap() },
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn match_sort_skip_limit_in_sequence() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$match": { "price": { "$gte": 10 } } },
            doc! { "$sort": { "quantity": -1, "_id": 1 } },
            doc! { "$skip": 1 },
            doc! { "$limit": 1 },
            doc! { "$project": { "_id": 1 } },
        ],
    )
    .await;
    assert_eq!(result, vec![doc! { "_id": 1 }]);
}

#[tokio::test]
async fn group_sums_averages_and_counts_by_a_field_path() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$group": {
                "_id": "$item",
                "totalSaleAmount": { "$sum": { "$multiply": ["$price", "$quantity"] } },
                "averageQuantity": { "$avg": "$quantity" },
                "count": { "$sum": 1 },
                "documents": { "$count": {} },
            } },
            doc! { "$sort": { "_id": 1 } },
        ],
    )
    .await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": "abc", "totalSaleAmount": 120, "averageQuantity": 6.0, "count": 2, "documents": 2 },
            doc! { "_id": "jkl", "totalSaleAmount": 20, "averageQuantity": 1.0, "count": 1, "documents": 1 },
            doc! { "_id": "xyz", "totalSaleAmount": 150, "averageQuantity": 15.0, "count": 2, "documents": 2 },
        ]
    );
}

#[tokio::test]
async fn group_with_null_id_aggregates_everything() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![doc! { "$group": {
            "_id": Bson::Null,
            "min": { "$min": "$price" },
            "max": { "$max": "$price" },
            "total": { "$sum": "$quantity" },
        } }],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! { "_id": Bson::Null, "min": 5, "max": 20, "total": 43 }]
    );
}

#[tokio::test]
async fn group_first_last_push_and_add_to_set_follow_input_order() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$sort": { "_id": 1 } },
            doc! { "$group": {
                "_id": "$price",
                "first": { "$first": "$_id" },
                "last": { "$last": "$_id" },
                "items": { "$push": "$item" },
                "distinct": { "$addToSet": "$item" },
            } },
            doc! { "$sort": { "_id": 1 } },
        ],
    )
    .await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": 5, "first": 3, "last": 4, "items": ["xyz", "xyz"], "distinct": ["xyz"] },
            doc! { "_id": 10, "first": 1, "last": 5, "items": ["abc", "abc"], "distinct": ["abc"] },
            doc! { "_id": 20, "first": 2, "last": 2, "items": ["jkl"], "distinct": ["jkl"] },
        ]
    );
}

#[tokio::test]
async fn group_by_compound_and_computed_keys() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$group": {
                "_id": { "month": { "$month": "$date" }, "item": "$item" },
                "quantity": { "$sum": "$quantity" },
            } },
            doc! { "$sort": { "_id.month": 1, "_id.item": 1 } },
        ],
    )
    .await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": { "month": 3, "item": "abc" }, "quantity": 2 },
            doc! { "_id": { "month": 3, "item": "jkl" }, "quantity": 1 },
            doc! { "_id": { "month": 3, "item": "xyz" }, "quantity": 10 },
            doc! { "_id": { "month": 4, "item": "abc" }, "quantity": 10 },
            doc! { "_id": { "month": 4, "item": "xyz" }, "quantity": 20 },
        ]
    );
}

#[tokio::test]
async fn sum_ignores_non_numbers_and_avg_of_nothing_is_null() {
    let test = TestServer::start().await;
    test.collection("mixed")
        .insert_many(vec![
            doc! { "g": 1, "v": 1 },
            doc! { "g": 1, "v": "text" },
            doc! { "g": 1 },
            doc! { "g": 2, "v": "only text" },
        ])
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "mixed",
        vec![
            doc! { "$group": { "_id": "$g", "sum": { "$sum": "$v" }, "avg": { "$avg": "$v" } } },
            doc! { "$sort": { "_id": 1 } },
        ],
    )
    .await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": 1, "sum": 1, "avg": 1.0 },
            doc! { "_id": 2, "sum": 0, "avg": Bson::Null },
        ]
    );
}

#[tokio::test]
async fn group_without_an_id_is_rejected_15955() {
    let test = TestServer::start().await;
    test.collection("sales")
        .insert_one(doc! { "a": 1 })
        .await
        .unwrap();
    let error = test
        .collection("sales")
        .aggregate(vec![doc! { "$group": { "total": { "$sum": 1 } } }])
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 15955);
    assert_eq!(error.message, "a group specification must include an _id");
}

#[tokio::test]
async fn project_includes_excludes_renames_and_computes() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$match": { "_id": 1 } },
            doc! { "$project": {
                "_id": 0,
                "item": 1,
                "name": "$item",
                "total": { "$multiply": ["$price", "$quantity"] },
                "literal": { "$literal": "$notAPath" },
            } },
        ],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! { "item": "abc", "name": "abc", "total": 20, "literal": "$notAPath" }]
    );
    let excluded = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$match": { "_id": 2 } },
            doc! { "$project": { "date": 0, "price": 0 } },
        ],
    )
    .await;
    assert_eq!(
        excluded,
        vec![doc! { "_id": 2, "item": "jkl", "quantity": 1 }]
    );
}

#[tokio::test]
async fn add_fields_set_and_unset_stages() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$match": { "_id": 3 } },
            doc! { "$addFields": { "total": { "$multiply": ["$price", "$quantity"] } } },
            doc! { "$set": { "nested.flag": true, "price": "$$REMOVE" } },
            doc! { "$unset": ["date", "item"] },
        ],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! { "_id": 3, "quantity": 10, "total": 50, "nested": { "flag": true } }]
    );
}

#[tokio::test]
async fn unwind_emits_one_document_per_element() {
    let test = TestServer::start().await;
    test.collection("inventory")
        .insert_many(vec![
            doc! { "_id": 1, "item": "ABC", "sizes": ["S", "M", "L"] },
            doc! { "_id": 2, "item": "EFG", "sizes": [] },
            doc! { "_id": 3, "item": "IJK", "sizes": "M" },
            doc! { "_id": 4, "item": "LMN" },
            doc! { "_id": 5, "item": "XYZ", "sizes": Bson::Null },
        ])
        .await
        .unwrap();
    let plain = run_pipeline(
        &test,
        "inventory",
        vec![
            doc! { "$unwind": "$sizes" },
            doc! { "$project": { "item": 0 } },
        ],
    )
    .await;
    assert_eq!(
        plain,
        vec![
            doc! { "_id": 1, "sizes": "S" },
            doc! { "_id": 1, "sizes": "M" },
            doc! { "_id": 1, "sizes": "L" },
            doc! { "_id": 3, "sizes": "M" },
        ]
    );
    let preserved = run_pipeline(
        &test,
        "inventory",
        vec![
            doc! { "$unwind": { "path": "$sizes", "preserveNullAndEmptyArrays": true, "includeArrayIndex": "idx" } },
            doc! { "$project": { "item": 0 } },
        ],
    )
    .await;
    assert_eq!(
        preserved,
        vec![
            doc! { "_id": 1, "sizes": "S", "idx": 0i64 },
            doc! { "_id": 1, "sizes": "M", "idx": 1i64 },
            doc! { "_id": 1, "sizes": "L", "idx": 2i64 },
            doc! { "_id": 2, "idx": Bson::Null },
            doc! { "_id": 3, "sizes": "M", "idx": Bson::Null },
            doc! { "_id": 4, "idx": Bson::Null },
            doc! { "_id": 5, "sizes": Bson::Null, "idx": Bson::Null },
        ]
    );
}

#[tokio::test]
async fn lookup_with_local_and_foreign_fields_joins_arrays() {
    let test = TestServer::start().await;
    test.collection("orders")
        .insert_many(vec![
            doc! { "_id": 1, "item": "almonds", "price": 12 },
            doc! { "_id": 2, "item": "pecans", "price": 20 },
            doc! { "_id": 3 },
        ])
        .await
        .unwrap();
    test.collection("inventory")
        .insert_many(vec![
            doc! { "_id": 1, "sku": "almonds", "instock": 120 },
            doc! { "_id": 2, "sku": "bread", "instock": 80 },
            doc! { "_id": 3, "sku": "cashews", "instock": 60 },
            doc! { "_id": 4, "sku": "pecans", "instock": 70 },
            doc! { "_id": 5, "sku": Bson::Null },
            doc! { "_id": 6 },
        ])
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "orders",
        vec![
            doc! { "$lookup": { "from": "inventory", "localField": "item", "foreignField": "sku", "as": "inventory_docs" } },
            doc! { "$sort": { "_id": 1 } },
        ],
    )
    .await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": 1, "item": "almonds", "price": 12, "inventory_docs": [ { "_id": 1, "sku": "almonds", "instock": 120 } ] },
            doc! { "_id": 2, "item": "pecans", "price": 20, "inventory_docs": [ { "_id": 4, "sku": "pecans", "instock": 70 } ] },
            doc! { "_id": 3, "inventory_docs": [ { "_id": 5, "sku": Bson::Null }, { "_id": 6 } ] },
        ]
    );
}

#[tokio::test]
async fn lookup_pipeline_form_with_let_variables() {
    let test = TestServer::start().await;
    test.collection("orders")
        .insert_many(vec![
            doc! { "_id": 1, "item": "almonds", "ordered": 2 },
            doc! { "_id": 2, "item": "pecans", "ordered": 100 },
        ])
        .await
        .unwrap();
    test.collection("warehouses")
        .insert_many(vec![
            doc! { "_id": 1, "stock_item": "almonds", "warehouse": "A", "instock": 120 },
            doc! { "_id": 2, "stock_item": "pecans", "warehouse": "A", "instock": 80 },
            doc! { "_id": 3, "stock_item": "almonds", "warehouse": "B", "instock": 1 },
        ])
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "orders",
        vec![
            doc! { "$lookup": {
                "from": "warehouses",
                "let": { "order_item": "$item", "order_qty": "$ordered" },
                "pipeline": [
                    { "$match": { "$expr": { "$and": [
                        { "$eq": ["$stock_item", "$$order_item"] },
                        { "$gte": ["$instock", "$$order_qty"] },
                    ] } } },
                    { "$project": { "_id": 0, "warehouse": 1 } },
                ],
                "as": "stockdata",
            } },
            doc! { "$sort": { "_id": 1 } },
        ],
    )
    .await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": 1, "item": "almonds", "ordered": 2, "stockdata": [ { "warehouse": "A" } ] },
            doc! { "_id": 2, "item": "pecans", "ordered": 100, "stockdata": [] },
        ]
    );
}

#[tokio::test]
async fn count_stage_names_its_output_field() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$match": { "price": 10 } },
            doc! { "$count": "cheap" },
        ],
    )
    .await;
    assert_eq!(result, vec![doc! { "cheap": 2 }]);
    let nothing = run_pipeline(
        &test,
        "sales",
        vec![
            doc! { "$match": { "price": 999 } },
            doc! { "$count": "none" },
        ],
    )
    .await;
    assert_eq!(nothing, Vec::<Document>::new());
}

#[tokio::test]
async fn facet_runs_sub_pipelines_on_the_same_input() {
    let test = TestServer::start().await;
    seed_sales(&test).await;
    let result = run_pipeline(
        &test,
        "sales",
        vec![doc! { "$facet": {
            "byItem": [ { "$sortByCount": "$item" }, { "$sort": { "count": -1, "_id": 1 } } ],
            "total": [ { "$count": "n" } ],
            "expensive": [ { "$match": { "price": { "$gt": 10 } } }, { "$project": { "_id": 1 } } ],
        } }],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! {
            "byItem": [ { "_id": "abc", "count": 2 }, { "_id": "xyz", "count": 2 }, { "_id": "jkl", "count": 1 } ],
            "total": [ { "n": 5 } ],
            "expensive": [ { "_id": 2 } ],
        }]
    );
}

#[tokio::test]
async fn sort_by_count_groups_and_sorts_descending() {
    let test = TestServer::start().await;
    test.collection("tags")
        .insert_many(vec![
            doc! { "tag": "a" },
            doc! { "tag": "b" },
            doc! { "tag": "b" },
            doc! { "tag": "b" },
            doc! { "tag": "c" },
            doc! { "tag": "c" },
        ])
        .await
        .unwrap();
    let result = run_pipeline(&test, "tags", vec![doc! { "$sortByCount": "$tag" }]).await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": "b", "count": 3 },
            doc! { "_id": "c", "count": 2 },
            doc! { "_id": "a", "count": 1 },
        ]
    );
}

#[tokio::test]
async fn replace_root_and_replace_with_promote_an_embedded_document() {
    let test = TestServer::start().await;
    test.collection("people")
        .insert_many(vec![
            doc! { "_id": 1, "name": { "first": "John", "last": "Backus" } },
            doc! { "_id": 2, "name": { "first": "John", "last": "McCarthy" } },
        ])
        .await
        .unwrap();
    let root = run_pipeline(
        &test,
        "people",
        vec![doc! { "$replaceRoot": { "newRoot": "$name" } }],
    )
    .await;
    assert_eq!(
        root,
        vec![
            doc! { "first": "John", "last": "Backus" },
            doc! { "first": "John", "last": "McCarthy" },
        ]
    );
    let with = run_pipeline(
        &test,
        "people",
        vec![doc! { "$replaceWith": { "full": { "$concat": ["$name.first", " ", "$name.last"] }, "id": "$_id" } }],
    )
    .await;
    assert_eq!(
        with,
        vec![
            doc! { "full": "John Backus", "id": 1 },
            doc! { "full": "John McCarthy", "id": 2 }
        ]
    );
}

#[tokio::test]
async fn replace_root_with_a_non_document_fails() {
    let test = TestServer::start().await;
    test.collection("people")
        .insert_one(doc! { "_id": 1, "name": "x" })
        .await
        .unwrap();
    let error = test
        .collection("people")
        .aggregate(vec![doc! { "$replaceRoot": { "newRoot": "$name" } }])
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 40228);
}

#[tokio::test]
async fn root_variable_captures_the_whole_document() {
    let test = TestServer::start().await;
    test.collection("people")
        .insert_one(doc! { "_id": 1, "a": 2 })
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "people",
        vec![doc! { "$project": { "_id": 0, "copy": "$$ROOT" } }],
    )
    .await;
    assert_eq!(result, vec![doc! { "copy": { "_id": 1, "a": 2 } }]);
}

#[tokio::test]
async fn arithmetic_expressions() {
    let test = TestServer::start().await;
    test.collection("math")
        .insert_one(doc! { "_id": 1, "a": 10, "b": 4, "d": 2.5 })
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "math",
        vec![doc! { "$project": {
            "_id": 0,
            "add": { "$add": ["$a", "$b", 1] },
            "subtract": { "$subtract": ["$a", "$b"] },
            "multiply": { "$multiply": ["$a", "$d"] },
            "divide": { "$divide": ["$a", "$b"] },
            "mod": { "$mod": ["$a", "$b"] },
            "missing": { "$add": ["$a", "$nothing"] },
        } }],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! {
            "add": 15, "subtract": 6, "multiply": 25.0, "divide": 2.5, "mod": 2, "missing": Bson::Null,
        }]
    );
}

#[tokio::test]
async fn divide_by_zero_is_an_error() {
    let test = TestServer::start().await;
    test.collection("math")
        .insert_one(doc! { "_id": 1, "a": 1 })
        .await
        .unwrap();
    let error = test
        .collection("math")
        .aggregate(vec![doc! { "$project": { "q": { "$divide": ["$a", 0] } } }])
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 2);
    assert_eq!(error.message, "can't $divide by zero");
}

#[tokio::test]
async fn date_arithmetic_adds_milliseconds() {
    let test = TestServer::start().await;
    let start = DateTime::parse_rfc3339_str("2024-01-01T00:00:00Z").unwrap();
    test.collection("math")
        .insert_one(doc! { "_id": 1, "at": start })
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "math",
        vec![doc! { "$project": {
            "_id": 0,
            "later": { "$add": ["$at", 86_400_000i64] },
            "gap": { "$subtract": [{ "$add": ["$at", 1000] }, "$at"] },
        } }],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! {
            "later": DateTime::parse_rfc3339_str("2024-01-02T00:00:00Z").unwrap(),
            "gap": 1000i64,
        }]
    );
}

#[tokio::test]
async fn comparison_expressions_use_bson_order() {
    let test = TestServer::start().await;
    test.collection("cmp")
        .insert_one(doc! { "_id": 1, "qty": 250 })
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "cmp",
        vec![doc! { "$project": {
            "_id": 0,
            "eq": { "$eq": ["$qty", 250.0] },
            "ne": { "$ne": ["$qty", 250] },
            "gt": { "$gt": ["$qty", 200] },
            "gte": { "$gte": ["$qty", 250] },
            "lt": { "$lt": ["$qty", 200] },
            "lte": { "$lte": ["$qty", 250] },
            "cmp": { "$cmp": ["$qty", 300] },
            "strings": { "$gt": ["$qty", "a string"] },
            "missingLtNumber": { "$lt": ["$nothing", 0] },
        } }],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! {
            "eq": true, "ne": false, "gt": true, "gte": true, "lt": false, "lte": true,
            "cmp": -1, "strings": false, "missingLtNumber": true,
        }]
    );
}

#[tokio::test]
async fn cond_and_if_null() {
    let test = TestServer::start().await;
    test.collection("cond")
        .insert_many(vec![
            doc! { "_id": 1, "qty": 300, "description": "product 1" },
            doc! { "_id": 2, "qty": 100, "description": Bson::Null },
            doc! { "_id": 3, "qty": 250 },
        ])
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "cond",
        vec![doc! { "$project": {
            "discount": { "$cond": { "if": { "$gte": ["$qty", 250] }, "then": 30, "else": 20 } },
            "short": { "$cond": [ { "$lt": ["$qty", 200] }, "low", "high" ] },
            "description": { "$ifNull": ["$description", "Unspecified"] },
        } }],
    )
    .await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": 1, "discount": 30, "short": "high", "description": "product 1" },
            doc! { "_id": 2, "discount": 20, "short": "low", "description": "Unspecified" },
            doc! { "_id": 3, "discount": 30, "short": "high", "description": "Unspecified" },
        ]
    );
}

#[tokio::test]
async fn array_expressions_size_slice_filter_map() {
    let test = TestServer::start().await;
    test.collection("arrays")
        .insert_one(doc! { "_id": 1, "items": [1, 5, 2, 8, 3] })
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "arrays",
        vec![doc! { "$project": {
            "_id": 0,
            "size": { "$size": "$items" },
            "firstTwo": { "$slice": ["$items", 2] },
            "lastTwo": { "$slice": ["$items", -2] },
            "middle": { "$slice": ["$items", 1, 2] },
            "big": { "$filter": { "input": "$items", "as": "item", "cond": { "$gt": ["$$item", 2] } } },
            "doubled": { "$map": { "input": "$items", "as": "n", "in": { "$multiply": ["$$n", 2] } } },
            "thisDefault": { "$map": { "input": "$items", "in": { "$add": ["$$this", 1] } } },
        } }],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! {
            "size": 5,
            "firstTwo": [1, 5],
            "lastTwo": [8, 3],
            "middle": [5, 2],
            "big": [5, 8, 3],
            "doubled": [2, 10, 4, 16, 6],
            "thisDefault": [2, 6, 3, 9, 4],
        }]
    );
}

#[tokio::test]
async fn size_of_a_non_array_is_error_17124() {
    let test = TestServer::start().await;
    test.collection("arrays")
        .insert_one(doc! { "_id": 1, "items": "x" })
        .await
        .unwrap();
    let error = test
        .collection("arrays")
        .aggregate(vec![doc! { "$project": { "n": { "$size": "$items" } } }])
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 17124);
    assert_eq!(
        error.message,
        "The argument to $size must be an array, but was of type: string"
    );
}

#[tokio::test]
async fn concat_joins_strings_and_null_propagates() {
    let test = TestServer::start().await;
    test.collection("strings")
        .insert_many(vec![
            doc! { "_id": 1, "item": "ABC", "description": "product 1" },
            doc! { "_id": 2, "item": "DEF" },
        ])
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "strings",
        vec![doc! { "$project": { "label": { "$concat": ["$item", " - ", "$description"] } } }],
    )
    .await;
    assert_eq!(
        result,
        vec![
            doc! { "_id": 1, "label": "ABC - product 1" },
            doc! { "_id": 2, "label": Bson::Null },
        ]
    );
}

#[tokio::test]
async fn date_part_operators_use_utc() {
    let test = TestServer::start().await;
    test.collection("dates")
        .insert_one(doc! { "_id": 1, "date": DateTime::parse_rfc3339_str("2014-01-01T08:15:39.736Z").unwrap() })
        .await
        .unwrap();
    let result = run_pipeline(
        &test,
        "dates",
        vec![doc! { "$project": {
            "_id": 0,
            "year": { "$year": "$date" },
            "month": { "$month": "$date" },
            "day": { "$dayOfMonth": "$date" },
            "hour": { "$hour": "$date" },
            "minutes": { "$minute": "$date" },
            "seconds": { "$second": "$date" },
            "milliseconds": { "$millisecond": "$date" },
            "dayOfYear": { "$dayOfYear": "$date" },
            "dayOfWeek": { "$dayOfWeek": "$date" },
        } }],
    )
    .await;
    assert_eq!(
        result,
        vec![doc! {
            "year": 2014, "month": 1, "day": 1, "hour": 8, "minutes": 15, "seconds": 39,
            "milliseconds": 736, "dayOfYear": 1, "dayOfWeek": 4,
        }]
    );
}

#[tokio::test]
async fn unknown_stage_is_error_40324() {
    let test = TestServer::start().await;
    test.collection("x")
        .insert_one(doc! { "a": 1 })
        .await
        .unwrap();
    let error = test
        .collection("x")
        .aggregate(vec![doc! { "$frobnicate": {} }])
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 40324);
    assert_eq!(
        error.message,
        "Unrecognized pipeline stage name: '$frobnicate'"
    );
}

#[tokio::test]
async fn unknown_expression_operator_is_invalid_pipeline_operator_168() {
    let test = TestServer::start().await;
    test.collection("x")
        .insert_one(doc! { "a": 1 })
        .await
        .unwrap();
    let error = test
        .collection("x")
        .aggregate(vec![doc! { "$project": { "b": { "$frobnicate": 1 } } }])
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 168);
    assert_eq!(error.code_name, "InvalidPipelineOperator");
    assert_eq!(error.message, "Unrecognized expression '$frobnicate'");
}

#[tokio::test]
async fn aggregate_on_a_missing_collection_returns_nothing() {
    let test = TestServer::start().await;
    let result = run_pipeline(&test, "absent", vec![doc! { "$match": {} }]).await;
    assert_eq!(result, Vec::<Document>::new());
}

#[tokio::test]
async fn a_database_aggregate_runs_over_documents_and_may_look_up_collections() {
    let test = TestServer::start().await;
    test.collection("prices")
        .insert_many(vec![
            doc! {"_id": "a", "price": 3},
            doc! {"_id": "b", "price": 5},
        ])
        .await
        .unwrap();
    let results: Vec<Document> = test
        .client
        .database("conformance")
        .aggregate(vec![
            doc! {"$documents": [{"sku": "a", "n": 2}, {"sku": "b", "n": "$$three"}]},
            doc! {"$lookup": {"from": "prices", "localField": "sku", "foreignField": "_id", "as": "price"}},
            doc! {"$project": {"_id": 0, "sku": 1, "total": {"$multiply": ["$n", {"$first": "$price.price"}]}}},
        ])
        .let_vars(doc! {"three": 3})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        results,
        vec![
            doc! {"sku": "a", "total": 6},
            doc! {"sku": "b", "total": 15}
        ]
    );
    let misplaced = test
        .run(doc! {"aggregate": "prices", "pipeline": [{"$documents": []}], "cursor": {}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&misplaced).code, 9);
    let not_objects = test
        .client
        .database("conformance")
        .run_command(doc! {"aggregate": 1, "pipeline": [{"$documents": [1, 2]}], "cursor": {}})
        .await
        .unwrap_err();
    assert_eq!(server_error(&not_objects).code, 14);
}
