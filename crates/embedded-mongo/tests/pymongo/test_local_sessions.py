"""$listLocalSessions through pymongo: the sessions the server has seen, until they end."""

import pytest
from pymongo.errors import OperationFailure


def test_list_local_sessions_lists_a_used_session_until_it_ends(server, db):
    # Its own client: pymongo reuses an ended session from its pool, which would use it again.
    other = server.client()
    try:
        with other.start_session() as session:
            other[db.name].items.find_one({}, session=session)
            session_id = session.session_id["id"]
            listed = list(db.aggregate([{"$listLocalSessions": {}}, {"$match": {"_id.id": session_id}}]))
            assert len(listed) == 1
            assert listed[0]["_id"]["uid"].hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            assert "lastUse" in listed[0]
            other.admin.command("endSessions", [session.session_id])
        assert list(db.aggregate([{"$listLocalSessions": {}}, {"$match": {"_id.id": session_id}}])) == []
    finally:
        other.close()


def test_list_local_sessions_runs_only_first_and_without_a_collection(db):
    db.items.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as refused:
        list(db.items.aggregate([{"$listLocalSessions": {}}]))
    assert refused.value.code == 73
    with pytest.raises(OperationFailure) as refused:
        list(db.aggregate([{"$documents": [{"a": 1}]}, {"$listLocalSessions": {}}]))
    assert refused.value.code == 40602
