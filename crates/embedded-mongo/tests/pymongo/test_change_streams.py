"""Change streams through pymongo: events, updateLookup and resuming with a new client."""

import time


def next_change(stream, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        change = stream.try_next()
        if change is not None:
            return change
    raise AssertionError(f"no change event within {timeout}s")


def test_insert_and_update_events(db):
    db.items.insert_one({"_id": 0})
    with db.items.watch(full_document="updateLookup", max_await_time_ms=200) as stream:
        db.items.insert_one({"_id": 1, "n": 1})
        db.items.update_one({"_id": 1}, {"$inc": {"n": 1}, "$unset": {"missing": ""}})
        insert = next_change(stream)
        assert insert["operationType"] == "insert"
        assert insert["ns"] == {"db": db.name, "coll": "items"}
        assert insert["documentKey"] == {"_id": 1}
        assert insert["fullDocument"] == {"_id": 1, "n": 1}
        update = next_change(stream)
        assert update["operationType"] == "update"
        assert update["updateDescription"]["updatedFields"] == {"n": 2}
        # updateLookup reads the document as it is when the event is returned.
        assert update["fullDocument"] == {"_id": 1, "n": 2}
        db.items.delete_one({"_id": 1})
        delete = next_change(stream)
        assert delete["operationType"] == "delete"
        assert delete["documentKey"] == {"_id": 1}


def test_resume_after_with_a_new_client(server, db):
    db.items.insert_one({"_id": 0})
    with db.items.watch(max_await_time_ms=200) as stream:
        for n in range(1, 4):
            db.items.insert_one({"_id": n})
        token = next_change(stream)["_id"]
    fresh = server.client()
    try:
        with fresh[db.name].items.watch(resume_after=token, max_await_time_ms=200) as resumed:
            assert [next_change(resumed)["documentKey"]["_id"] for _ in range(2)] == [2, 3]
    finally:
        fresh.close()


def test_match_on_the_stream(db):
    db.items.insert_one({"_id": 0})
    pipeline = [{"$match": {"operationType": "insert", "fullDocument.keep": True}}]
    with db.items.watch(pipeline, max_await_time_ms=200) as stream:
        db.items.insert_one({"_id": 1, "keep": False})
        db.items.insert_one({"_id": 2, "keep": True})
        assert next_change(stream)["documentKey"] == {"_id": 2}


def test_database_level_stream(db):
    db.first.insert_one({"_id": 0})
    with db.watch(max_await_time_ms=200) as stream:
        db.first.insert_one({"_id": 1})
        db.second.insert_one({"_id": 2})
        assert next_change(stream)["ns"]["coll"] == "first"
        assert next_change(stream)["ns"]["coll"] == "second"
