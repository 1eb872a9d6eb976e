"""Atlas Search through pymongo: the store answers as a community mongod 7.0, refusing the search
index commands with 115 and the Atlas-only stages with 6047401, creating nothing."""

import pytest
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel


def test_search_index_commands_are_refused_as_without_atlas(db):
    db.movies.insert_one({"_id": 1, "title": "Up"})
    attempts = [
        lambda: db.movies.create_search_index(SearchIndexModel({"mappings": {"dynamic": True}}, name="default")),
        lambda: db.movies.update_search_index("default", {"mappings": {"dynamic": False}}),
        lambda: db.movies.drop_search_index("default"),
    ]
    for attempt in attempts:
        with pytest.raises(OperationFailure) as refused:
            attempt()
        assert refused.value.code == 115
        assert refused.value.details["codeName"] == "CommandNotSupported"
        assert refused.value.details["errmsg"] == "Search index commands are only supported with Atlas."
    assert [index["name"] for index in db.movies.list_indexes()] == ["_id_"]


def test_atlas_search_stages_are_refused_with_mongods_code(db):
    db.movies.insert_one({"_id": 1, "title": "Up"})
    with pytest.raises(OperationFailure) as refused:
        list(db.movies.list_search_indexes())
    assert refused.value.code == 6047401
    assert refused.value.details["errmsg"] == "$listSearchIndexes stage is only allowed on MongoDB Atlas"
    for stage in ("$search", "$searchMeta", "$vectorSearch"):
        with pytest.raises(OperationFailure) as refused:
            list(db.movies.aggregate([{stage: {}}]))
        assert refused.value.code == 6047401
        assert refused.value.details["errmsg"] == f"{stage} stage is only allowed on MongoDB Atlas"
