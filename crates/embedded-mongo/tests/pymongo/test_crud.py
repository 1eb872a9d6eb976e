"""CRUD through pymongo: inserts, finds with sort/skip/limit/projection across batches, updates,
upserts, replacements, deletes, count, distinct and findAndModify."""

from bson import Decimal128, ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument


def test_insert_one_generates_an_object_id_placed_first(db):
    result = db.items.insert_one({"a": 1})
    assert isinstance(result.inserted_id, ObjectId)
    stored = db.items.find_one()
    assert list(stored.keys()) == ["_id", "a"]
    assert stored["_id"] == result.inserted_id


def test_find_with_filter_sort_skip_limit_and_projection(db):
    db.numbers.insert_many([{"_id": n, "n": n, "even": n % 2 == 0} for n in range(1, 11)])
    found = list(
        db.numbers.find({"even": True}, {"n": 1}).sort("n", DESCENDING).skip(1).limit(3)
    )
    assert found == [{"_id": 8, "n": 8}, {"_id": 6, "n": 6}, {"_id": 4, "n": 4}]


def test_cursor_iterates_across_get_more_batches(db):
    db.numbers.insert_many([{"_id": n} for n in range(250)])
    found = [document["_id"] for document in db.numbers.find().sort("_id", ASCENDING).batch_size(7)]
    assert found == list(range(250))


def test_numeric_equivalence_across_types(db):
    db.numbers.insert_many([
        {"_id": 1, "v": 1},
        {"_id": 2, "v": 2 ** 40},
        {"_id": 3, "v": 1.0},
        {"_id": 4, "v": Decimal128("1")},
    ])
    assert sorted(document["_id"] for document in db.numbers.find({"v": 1})) == [1, 3, 4]
    assert [document["_id"] for document in db.numbers.find({"v": {"$gt": 2 ** 39}})] == [2]


def test_update_one_many_and_upsert_report_counts(db):
    db.items.insert_many([{"_id": n, "n": n} for n in range(4)])
    one = db.items.update_one({}, {"$set": {"seen": True}})
    assert (one.matched_count, one.modified_count) == (1, 1)
    many = db.items.update_many({}, {"$set": {"seen": True}})
    assert (many.matched_count, many.modified_count) == (4, 3)
    upsert = db.items.update_one({"_id": 99}, {"$set": {"n": 99}, "$setOnInsert": {"new": True}}, upsert=True)
    assert upsert.upserted_id == 99
    assert db.items.find_one({"_id": 99}) == {"_id": 99, "n": 99, "new": True}


def test_update_operators_and_array_filters(db):
    db.items.insert_one({"_id": 1, "tags": ["a"], "grades": [95, 102, 90], "n": 1})
    db.items.update_one(
        {"_id": 1},
        {"$push": {"tags": {"$each": ["c", "b"], "$sort": 1}}, "$inc": {"n": 2}, "$set": {"grades.$[g]": 100}},
        array_filters=[{"g": {"$gte": 100}}],
    )
    assert db.items.find_one() == {"_id": 1, "tags": ["a", "b", "c"], "grades": [95, 100, 90], "n": 3}


def test_replace_and_delete(db):
    db.items.insert_many([{"_id": 1, "a": 1}, {"_id": 2}, {"_id": 3}])
    replaced = db.items.replace_one({"_id": 1}, {"b": 2})
    assert replaced.modified_count == 1
    assert db.items.find_one({"_id": 1}) == {"_id": 1, "b": 2}
    assert db.items.delete_one({"_id": 2}).deleted_count == 1
    assert db.items.delete_many({}).deleted_count == 2
    assert db.items.count_documents({}) == 0


def test_count_and_distinct(db):
    db.items.insert_many([
        {"kind": "a", "tags": ["x", "y"]},
        {"kind": "a", "tags": ["y"]},
        {"kind": "b", "tags": "z"},
    ])
    assert db.items.count_documents({"kind": "a"}) == 2
    assert db.items.estimated_document_count() == 3
    assert db.command("count", "items", query={"kind": "b"})["n"] == 1
    assert sorted(db.items.distinct("tags")) == ["x", "y", "z"]
    assert sorted(db.items.distinct("tags", {"kind": "a"})) == ["x", "y"]


def test_find_one_and_update_variants(db):
    db.items.insert_many([{"_id": n, "n": n} for n in range(1, 4)])
    before = db.items.find_one_and_update({"_id": 2}, {"$inc": {"n": 10}})
    assert before == {"_id": 2, "n": 2}
    after = db.items.find_one_and_update(
        {}, {"$set": {"top": True}}, sort=[("n", DESCENDING)], return_document=ReturnDocument.AFTER, projection={"_id": 0}
    )
    assert after == {"n": 12, "top": True}
    upserted = db.items.find_one_and_update(
        {"_id": 7}, {"$set": {"n": 7}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert upserted == {"_id": 7, "n": 7}
    removed = db.items.find_one_and_delete({"_id": 1})
    assert removed == {"_id": 1, "n": 1}
    assert db.items.find_one_and_delete({"_id": 1}) is None


def test_raw_find_and_modify_reply_shape(db):
    db.items.insert_one({"_id": 1, "n": 1})
    reply = db.command("findAndModify", "items", query={"_id": 1}, update={"$inc": {"n": 1}}, new=True)
    assert reply["value"] == {"_id": 1, "n": 2}
    assert reply["lastErrorObject"]["n"] == 1
    assert reply["lastErrorObject"]["updatedExisting"] is True


def test_command_let_variables_reach_expr_and_pipeline_updates(db):
    db.lets.insert_many([{"_id": n, "x": n} for n in range(1, 5)])
    found = [d["_id"] for d in db.lets.find({"$expr": {"$gte": ["$x", "$$min"]}}, let={"min": 3})]
    assert sorted(found) == [3, 4]
    result = db.lets.update_many(
        {"$expr": {"$lt": ["$x", "$$limit"]}},
        [{"$set": {"tag": "$$tag"}}],
        let={"limit": 2, "tag": "first"},
    )
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert db.lets.find_one({"_id": 1})["tag"] == "first"
    updated = db.lets.find_one_and_update(
        {"$expr": {"$eq": ["$x", "$$target"]}},
        [{"$set": {"x": {"$multiply": ["$x", "$$factor"]}}}],
        let={"target": 4, "factor": 10},
        return_document=ReturnDocument.AFTER,
    )
    assert updated["x"] == 40
    scaled = [d["s"] for d in db.lets.aggregate(
        [{"$match": {"$expr": {"$eq": ["$_id", "$$id"]}}}, {"$project": {"s": {"$add": ["$x", "$$plus"]}}}],
        let={"id": 2, "plus": 100},
    )]
    assert scaled == [102]
    assert db.lets.delete_many({"$expr": {"$gt": ["$x", "$$over"]}}, let={"over": 3}).deleted_count == 1
