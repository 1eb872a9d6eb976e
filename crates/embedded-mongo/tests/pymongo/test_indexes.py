"""Indexes through pymongo: creation, listing, dropping and the duplicate key error."""

import pytest
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError, OperationFailure


def test_create_list_and_drop_indexes(db):
    name = db.people.create_index([("last", ASCENDING), ("first", DESCENDING)])
    assert name == "last_1_first_-1"
    info = db.people.index_information()
    assert sorted(info) == ["_id_", "last_1_first_-1"]
    assert info["last_1_first_-1"]["key"] == [("last", 1), ("first", -1)]
    db.people.drop_index(name)
    assert list(db.people.index_information()) == ["_id_"]


def test_duplicate_key_error_has_code_11000_key_pattern_and_key_value(db):
    db.users.create_index("email", unique=True)
    db.users.insert_one({"_id": 1, "email": "ada@example.com"})
    with pytest.raises(DuplicateKeyError) as failure:
        db.users.insert_one({"_id": 2, "email": "ada@example.com"})
    assert failure.value.code == 11000
    details = failure.value.details
    assert details["keyPattern"] == {"email": 1}
    assert details["keyValue"] == {"email": "ada@example.com"}
    assert details["errmsg"] == (
        f"E11000 duplicate key error collection: {db.name}.users index: email_1 "
        'dup key: { email: "ada@example.com" }'
    )
    assert db.users.count_documents({}) == 1


def test_duplicate_id_is_rejected(db):
    db.items.insert_one({"_id": "same"})
    with pytest.raises(DuplicateKeyError) as failure:
        db.items.insert_one({"_id": "same"})
    assert failure.value.details["keyPattern"] == {"_id": 1}


def test_sparse_and_partial_unique_indexes(db):
    db.users.create_index("token", unique=True, sparse=True)
    db.users.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3, "token": "t"}])
    with pytest.raises(DuplicateKeyError):
        db.users.insert_one({"_id": 4, "token": "t"})
    db.places.create_index("name", unique=True, partialFilterExpression={"rating": {"$gt": 5}})
    db.places.insert_many([{"name": "A", "rating": 1}, {"name": "A", "rating": 2}, {"name": "A", "rating": 9}])
    with pytest.raises(DuplicateKeyError):
        db.places.insert_one({"name": "A", "rating": 8})


def test_text_index_serves_text_search(db):
    db.articles.insert_many([
        {"_id": 1, "subject": "coffee"},
        {"_id": 2, "subject": "Coffee Shopping"},
        {"_id": 3, "subject": "Baking a cake"},
    ])
    db.articles.create_index([("subject", "text")])
    found = sorted(document["_id"] for document in db.articles.find({"$text": {"$search": "coffee"}}))
    assert found == [1, 2]


def test_dropping_a_missing_index_is_index_not_found(db):
    db.create_collection("people")
    with pytest.raises(OperationFailure) as failure:
        db.people.drop_index("missing_1")
    assert failure.value.code == 27
