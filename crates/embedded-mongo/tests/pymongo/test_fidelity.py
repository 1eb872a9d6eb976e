"""Issue #16 through pymongo: options the store does not implement are refused with MongoDB's
codes, never accepted and ignored; write conflicts surface at the write; snapshot sessions read
one version; DDL inside a transaction follows MongoDB's rules."""

import pytest
from pymongo.collation import Collation
from pymongo.errors import OperationFailure, WriteError
from pymongo.operations import IndexModel


def test_english_collation_compares_and_sorts_on_find_and_count(db):
    db.people.insert_many([{"_id": 1, "name": "b"}, {"_id": 2, "name": "A"}, {"_id": 3, "name": "a"}, {"_id": 4, "name": "á"}])
    secondary = Collation(locale="en", strength=2)
    assert [d["name"] for d in db.people.find({}, collation=Collation(locale="en")).sort([("name", 1), ("_id", 1)])] == [
        "a", "A", "á", "b"
    ]
    assert sorted(d["_id"] for d in db.people.find({"name": "A"}, collation=secondary)) == [2, 3]
    assert db.command("count", "people", query={"name": "A"}, collation={"locale": "en", "strength": 1})["n"] == 3
    # The simple collation is binary comparison, what the store does.
    assert db.people.count_documents({"name": "a"}, collation=Collation(locale="simple")) == 1
    assert [d["name"] for d in db.people.find({}, collation=Collation(locale="simple")).sort("name", 1)] == ["A", "a", "b", "á"]


def test_english_collation_matches_updates_deletes_distinct_and_find_and_modify(db):
    db.people.insert_many([{"_id": 1, "name": "cafe"}, {"_id": 2, "name": "CAFE"}, {"_id": 3, "name": "café"}])
    secondary = Collation(locale="en", strength=2)
    assert db.people.update_many({"name": "Cafe"}, {"$set": {"hit": True}}, collation=secondary).modified_count == 2
    assert sorted(d["_id"] for d in db.people.find({"hit": True})) == [1, 2]
    taken = db.people.find_one_and_update({"name": "CAFÉ"}, {"$set": {"taken": True}}, collation=secondary)
    assert taken["_id"] == 3
    assert db.people.distinct("name", collation=secondary) == ["cafe", "café"]
    assert db.people.count_documents({"name": "CAFÉ"}, collation=secondary) == 1
    assert db.people.delete_many({"name": "cafe"}, collation=Collation(locale="en", strength=1)).deleted_count == 3


def test_collation_the_store_cannot_honour_is_refused_with_not_implemented(db):
    db.people.insert_many([{"name": "b"}, {"name": "A"}])
    for refused in (
        lambda: list(db.people.find({}, collation=Collation(locale="fr"))),
        lambda: list(db.people.find({"name": {"$regex": "^a"}}, collation=Collation(locale="en", strength=2))),
        lambda: db.people.update_many({"name": "a"}, {"$set": {"x": 1}}, collation=Collation(locale="de")),
        lambda: db.people.distinct("name", collation=Collation(locale="fr")),
        lambda: list(db.people.aggregate([{"$group": {"_id": "$name"}}], collation=Collation(locale="en"))),
    ):
        with pytest.raises(OperationFailure) as failure:
            refused()
        assert failure.value.code == 238
        assert failure.value.details["codeName"] == "NotImplemented"
    assert db.people.count_documents({"x": 1}) == 0


def test_let_variables_are_honoured_and_expression_errors_fail_the_command(db):
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}])
    assert [d["_id"] for d in db.c.find({"$expr": {"$eq": ["$x", "$$one"]}}, let={"one": 1})] == [1]
    db.c.update_one({"$expr": {"$eq": ["$x", "$$one"]}}, {"$set": {"y": 1}}, let={"one": 1})
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "x": 1, "y": 1}
    # mongod fails the command when $expr raises; it never silently matches nothing.
    with pytest.raises(OperationFailure) as failed:
        list(db.c.find({"$expr": {"$divide": [1, {"$subtract": ["$x", 1]}]}}))
    assert failed.value.code == 2
    with pytest.raises(OperationFailure) as failed:
        list(db.c.find({"$expr": {"$eq": ["$x", "$$undefined"]}}))
    assert failed.value.code == 17276


def test_an_unknown_option_is_40415_and_sort_on_update_is_unknown_on_7_0(db):
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}])
    with pytest.raises(OperationFailure) as refused:
        db.command("find", "c", notAnOption=1)
    assert refused.value.code == 40415
    assert "BSON field 'find.notAnOption' is an unknown field." in str(refused.value)
    with pytest.raises(OperationFailure) as refused:
        db.command({"update": "c", "updates": [{"q": {}, "u": {"$set": {"x": 9}}, "sort": {"_id": -1}}]})
    assert refused.value.code == 40415
    assert sorted(doc["x"] for doc in db.c.find()) == [1, 2]


def test_snapshot_read_concern_outside_a_transaction_is_refused_on_writes(db):
    with pytest.raises(OperationFailure) as refused:
        db.command({"insert": "c", "documents": [{"x": 1}], "readConcern": {"level": "snapshot"}})
    assert refused.value.code == 72
    assert db.c.count_documents({}) == 0


def test_a_snapshot_session_reads_the_version_of_its_first_read(client, db):
    db.c.insert_one({"_id": 1, "x": 1})
    with client.start_session(snapshot=True) as session:
        assert db.c.find_one({"_id": 1}, session=session)["x"] == 1
        db.c.update_one({"_id": 1}, {"$set": {"x": 2}})
        assert db.c.find_one({"_id": 1}, session=session)["x"] == 1
        assert db.c.distinct("x", session=session) == [1]
    assert db.c.find_one({"_id": 1})["x"] == 2


def test_a_dollar_prefixed_field_inside_id_is_invalid_id_field(db):
    with pytest.raises(WriteError) as refused:
        db.c.insert_one({"_id": {"$gt": 1}})
    assert refused.value.code == 53
    assert db.c.count_documents({}) == 0


def test_a_second_transaction_conflicts_at_its_write(client, db):
    db.accounts.insert_one({"_id": "alice", "balance": 100})
    with client.start_session() as first, client.start_session() as second:
        first.start_transaction()
        second.start_transaction()
        db.accounts.update_one({"_id": "alice"}, {"$inc": {"balance": 1}}, session=first)
        with pytest.raises(OperationFailure) as conflict:
            db.accounts.update_one({"_id": "alice"}, {"$inc": {"balance": 10}}, session=second)
        assert conflict.value.code == 112
        assert conflict.value.has_error_label("TransientTransactionError")
        second.abort_transaction()
        first.commit_transaction()
    assert db.accounts.find_one({"_id": "alice"})["balance"] == 101


def test_a_collection_created_in_an_aborted_transaction_vanishes(client, db):
    db.existing.insert_one({"_id": 1})
    with client.start_session() as session:
        session.start_transaction()
        db.create_collection("fresh", session=session)
        db.fresh.create_indexes([IndexModel([("at", 1)])], session=session)
        assert "fresh" not in db.list_collection_names()
        with pytest.raises(OperationFailure) as refused:
            db.existing.create_indexes([IndexModel([("at", 1)])], session=session)
        assert refused.value.code == 263
        session.abort_transaction()
    assert "fresh" not in db.list_collection_names()


def test_an_invalid_update_pipeline_stage_fails_the_command(db):
    db.c.insert_one({"_id": 1, "x": 1})
    with pytest.raises(OperationFailure) as refused:
        db.c.update_one({"_id": 1}, [{"$match": {"x": 1}}])
    assert refused.value.code == 72
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "x": 1}


def test_pre_images_need_enabling_and_expanded_events_describe_schema_changes(db):
    db.create_collection("imaged", changeStreamPreAndPostImages={"enabled": True})
    db.imaged.insert_one({"_id": 1, "v": 0})
    with db.imaged.watch(full_document_before_change="required") as stream:
        db.imaged.update_one({"_id": 1}, {"$set": {"v": 1}})
        event = stream.next()
        assert event["fullDocumentBeforeChange"] == {"_id": 1, "v": 0}
    with db.watch(show_expanded_events=True) as stream:
        db.imaged.create_index("v")
        event = stream.next()
        assert event["operationType"] == "createIndexes"
        assert event["operationDescription"]["indexes"][0]["name"] == "v_1"


def test_a_future_at_cluster_time_is_snapshot_unavailable_by_name(client):
    future = {"find": "c", "readConcern": {"level": "snapshot", "atClusterTime": _far_future()}}
    with pytest.raises(OperationFailure) as refused:
        client.test_names.command(future)
    assert refused.value.details["codeName"] == "SnapshotUnavailable"


def _far_future():
    from bson.timestamp import Timestamp

    return Timestamp(4_000_000_000, 1)


def test_read_concern_snapshot_is_accepted_on_find(db):
    db.c.insert_one({"_id": 1})
    reply = db.command({"find": "c", "readConcern": {"level": "snapshot"}})
    assert "atClusterTime" in reply["cursor"]


def test_a_hint_must_name_an_index_and_changes_no_result(db):
    db.c.insert_many([{"_id": 1, "x": 2}, {"_id": 2, "x": 1}])
    db.c.create_index([("x", 1)], name="x_1")
    assert [d["_id"] for d in db.c.find({"x": {"$gte": 1}}).hint("x_1").sort("_id", 1)] == [1, 2]
    assert [d["_id"] for d in db.c.find().hint([("x", 1)]).sort("_id", 1)] == [1, 2]
    assert db.c.count_documents({}, hint="_id_") == 2
    with pytest.raises(OperationFailure) as refused:
        list(db.c.find().hint("no_such_index"))
    assert refused.value.code == 2


def test_rename_collection_moves_documents_and_indexes(db):
    db.src.insert_many([{"_id": 1, "k": "a"}, {"_id": 2, "k": "b"}])
    db.src.create_index("k", unique=True)
    db.src.rename("dst")
    assert sorted(d["_id"] for d in db.dst.find()) == [1, 2]
    assert "src" not in db.list_collection_names()
    assert "k_1" in db.dst.index_information()
    db.other.insert_one({"_id": "x"})
    with pytest.raises(OperationFailure) as refused:
        db.dst.rename("other")
    assert refused.value.code == 48
    db.dst.rename("other", dropTarget=True)
    assert db.other.count_documents({}) == 2


def test_a_view_is_read_only_and_shows_its_pipeline(db):
    db.orders.insert_many([{"_id": 1, "paid": True}, {"_id": 2, "paid": False}])
    db.create_collection("paid_orders", viewOn="orders", pipeline=[{"$match": {"paid": True}}])
    assert [d["_id"] for d in db.paid_orders.find()] == [1]
    assert db.paid_orders.count_documents({}) == 1
    info = next(db.list_collections(filter={"name": "paid_orders"}))
    assert info["type"] == "view"
    with pytest.raises(OperationFailure) as refused:
        db.paid_orders.insert_one({"_id": 3})
    assert refused.value.code == 166
