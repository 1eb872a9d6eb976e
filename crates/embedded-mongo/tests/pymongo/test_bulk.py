"""Bulk writes through pymongo with per-document errors, and validation failures."""

import pytest
from pymongo import DeleteOne, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError, WriteError


def test_unordered_bulk_write_reports_each_failed_document(db):
    db.items.insert_one({"_id": 1})
    with pytest.raises(BulkWriteError) as failure:
        db.items.bulk_write(
            [
                InsertOne({"_id": 1}),
                InsertOne({"_id": 2}),
                InsertOne({"_id": 2}),
                UpdateOne({"_id": 2}, {"$set": {"seen": True}}),
                DeleteOne({"_id": 1}),
            ],
            ordered=False,
        )
    details = failure.value.details
    assert [(error["index"], error["code"]) for error in details["writeErrors"]] == [(0, 11000), (2, 11000)]
    assert details["nInserted"] == 1
    assert details["nMatched"] == 1
    assert details["nModified"] == 1
    assert details["nRemoved"] == 1
    assert sorted(document["_id"] for document in db.items.find()) == [2]


def test_ordered_bulk_write_stops_at_the_first_error(db):
    with pytest.raises(BulkWriteError) as failure:
        db.items.bulk_write([InsertOne({"_id": 1}), InsertOne({"_id": 1}), InsertOne({"_id": 2})])
    details = failure.value.details
    assert [(error["index"], error["code"]) for error in details["writeErrors"]] == [(1, 11000)]
    assert details["nInserted"] == 1
    assert [document["_id"] for document in db.items.find()] == [1]


def test_schema_validation_failure_is_121_with_err_info(db):
    db.create_collection(
        "users",
        validator={"$jsonSchema": {
            "bsonType": "object",
            "required": ["email", "role"],
            "properties": {"role": {"enum": ["client", "tester", "admin"]}},
        }},
    )
    with pytest.raises(WriteError) as failure:
        db.users.insert_one({"_id": 1, "email": "a@b.io", "role": "guest"})
    assert failure.value.code == 121
    info = failure.value.details["errInfo"]
    assert info["failingDocumentId"] == 1
    assert info["details"]["operatorName"] == "$jsonSchema"
    assert db.users.count_documents({}) == 0
