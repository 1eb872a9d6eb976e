"""Fail points through pymongo on a server started with --enable-test-commands: a retryable
write whose connection closes after it was applied is retried by pymongo and applied once; a
write failed before commit is not applied."""

import pytest
from pymongo.errors import OperationFailure


@pytest.fixture
def points(test_commands_server):
    client = test_commands_server.client()
    yield client
    client.admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
    client.admin.command("configureFailPoint", "failCommand", mode="off")
    client.admin.command("configureFailPoint", "failGetMoreAfterCursorCheckout", mode="off")
    client.drop_database("fail_points")
    client.close()


def test_a_write_closed_after_it_applied_is_retried_and_applied_once(points):
    points.admin.command(
        "configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1}, data={"closeConnection": True}
    )
    points.fail_points.c.insert_one({"_id": 1})
    assert points.fail_points.c.count_documents({}) == 1
    reply = points.admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
    assert reply["count"] >= 1


def test_a_write_failed_before_commit_is_not_applied(points):
    points.admin.command(
        "configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1},
        data={"failBeforeCommitExceptionCode": 2},
    )
    with pytest.raises(OperationFailure) as failed:
        points.fail_points.c.insert_one({"_id": 2})
    assert failed.value.code == 2
    assert points.fail_points.c.count_documents({}) == 0


def test_skip_passes_the_first_commands_then_fails(points):
    points.admin.command(
        "configureFailPoint", "failCommand", mode={"skip": 1}, data={"failCommands": ["count"], "errorCode": 2}
    )
    points.fail_points.command("count", "c")
    with pytest.raises(OperationFailure):
        points.fail_points.command("count", "c")


def test_a_change_stream_resumes_after_fail_get_more_after_cursor_checkout(points):
    collection = points.fail_points.stream
    with collection.watch(max_await_time_ms=200) as stream:
        points.admin.command(
            "configureFailPoint", "failGetMoreAfterCursorCheckout", mode={"times": 1}, data={"errorCode": 6}
        )
        collection.insert_one({"_id": 1})
        collection.insert_one({"_id": 2})
        keys = [stream.next()["documentKey"] for _ in range(2)]
    assert keys == [{"_id": 1}, {"_id": 2}]
    reply = points.admin.command("configureFailPoint", "failGetMoreAfterCursorCheckout", mode="off")
    assert reply["count"] >= 1


def test_fail_get_more_after_cursor_checkout_kills_a_find_cursor(points):
    points.fail_points.items.insert_many([{"_id": n} for n in range(5)])
    first = points.fail_points.command("find", "items", batchSize=1)
    cursor_id = first["cursor"]["id"]
    points.admin.command(
        "configureFailPoint", "failGetMoreAfterCursorCheckout", mode={"times": 1}, data={"errorCode": 2}
    )
    with pytest.raises(OperationFailure) as failed:
        points.fail_points.command("getMore", cursor_id, collection="items")
    assert failed.value.code == 2
    with pytest.raises(OperationFailure) as gone:
        points.fail_points.command("getMore", cursor_id, collection="items")
    assert gone.value.code == 43
