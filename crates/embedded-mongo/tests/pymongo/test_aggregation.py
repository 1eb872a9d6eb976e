"""Aggregation through pymongo: grouping, joins, unwinding and facets."""

from datetime import datetime, timezone


def test_group_with_accumulators(db):
    db.sales.insert_many([
        {"item": "abc", "price": 10, "quantity": 2},
        {"item": "jkl", "price": 20, "quantity": 1},
        {"item": "abc", "price": 10, "quantity": 10},
    ])
    result = list(db.sales.aggregate([
        {"$group": {
            "_id": "$item",
            "total": {"$sum": {"$multiply": ["$price", "$quantity"]}},
            "avg": {"$avg": "$quantity"},
            "count": {"$sum": 1},
        }},
        {"$sort": {"_id": 1}},
    ]))
    assert result == [
        {"_id": "abc", "total": 120, "avg": 6.0, "count": 2},
        {"_id": "jkl", "total": 20, "avg": 1.0, "count": 1},
    ]


def test_lookup_unwind_and_project(db):
    db.orders.insert_many([{"_id": 1, "sku": "a", "qty": 2}, {"_id": 2, "sku": "b", "qty": 1}])
    db.products.insert_many([{"_id": "a", "name": "Apple"}, {"_id": "b", "name": "Banana"}])
    result = list(db.orders.aggregate([
        {"$lookup": {"from": "products", "localField": "sku", "foreignField": "_id", "as": "product"}},
        {"$unwind": "$product"},
        {"$project": {"_id": 0, "name": "$product.name", "qty": 1}},
        {"$sort": {"name": 1}},
    ]))
    assert result == [{"qty": 2, "name": "Apple"}, {"qty": 1, "name": "Banana"}]


def test_facet_count_and_date_parts(db):
    db.events.insert_many([
        {"at": datetime(2024, 1, 15, 10, 30, tzinfo=timezone.utc), "kind": "a"},
        {"at": datetime(2024, 2, 10, 14, 22, tzinfo=timezone.utc), "kind": "b"},
        {"at": datetime(2024, 2, 11, 8, 15, tzinfo=timezone.utc), "kind": "b"},
    ])
    result = list(db.events.aggregate([
        {"$facet": {
            "byMonth": [{"$group": {"_id": {"$month": "$at"}, "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}],
            "total": [{"$count": "n"}],
            "kinds": [{"$sortByCount": "$kind"}],
        }},
    ]))
    assert result == [{
        "byMonth": [{"_id": 1, "n": 1}, {"_id": 2, "n": 2}],
        "total": [{"n": 3}],
        "kinds": [{"_id": "b", "count": 2}, {"_id": "a", "count": 1}],
    }]


def test_aggregate_batches_across_get_more(db):
    db.numbers.insert_many([{"_id": n} for n in range(120)])
    found = [document["_id"] for document in db.numbers.aggregate([{"$sort": {"_id": -1}}], batchSize=10)]
    assert found == list(range(119, -1, -1))


def test_out_and_merge_write_their_results(db):
    db.src.insert_many([{"_id": 1, "q": 1}, {"_id": 2, "q": 2}])
    assert list(db.src.aggregate([{"$match": {"q": {"$gt": 1}}}, {"$out": "copy"}])) == []
    assert list(db.copy.find()) == [{"_id": 2, "q": 2}]
    db.src.aggregate([{"$set": {"seen": True}}, {"$merge": {"into": "copy", "whenMatched": "merge"}}])
    assert list(db.copy.find().sort("_id", 1)) == [
        {"_id": 1, "q": 1, "seen": True},
        {"_id": 2, "q": 2, "seen": True},
    ]
