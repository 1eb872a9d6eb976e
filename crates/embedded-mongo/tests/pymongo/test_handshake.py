"""The connect handshake as pymongo performs it, including its streaming `hello` monitor."""

import time

import pytest
from pymongo import MongoClient, monitoring
from pymongo.errors import OperationFailure


class Heartbeats(monitoring.ServerHeartbeatListener):
    """Records heartbeat outcomes of pymongo's background monitor."""

    def __init__(self):
        self.ok = []
        self.errors = []

    def started(self, event):
        pass

    def succeeded(self, event):
        self.ok.append(event)

    def failed(self, event):
        self.errors.append(event)


def test_hello_reports_a_writable_replica_set_primary(server, client):
    reply = client.admin.command("hello")
    assert reply["isWritablePrimary"] is True
    assert reply["setName"] == "rs0"
    assert reply["hosts"] == [server.address]
    assert reply["primary"] == server.address
    assert reply["maxBsonObjectSize"] == 16 * 1024 * 1024
    assert reply["maxMessageSizeBytes"] == 48000000
    assert reply["maxWriteBatchSize"] == 100000
    assert reply["logicalSessionTimeoutMinutes"] == 30
    assert reply["ok"] == 1.0


def test_legacy_is_master_reports_ismaster(client):
    reply = client.admin.command("isMaster")
    assert reply["ismaster"] is True


def test_ping_and_build_info(client):
    assert client.admin.command("ping")["ok"] == 1.0
    info = client.server_info()
    assert isinstance(info["version"], str)
    assert len(info["versionArray"]) == 4


def test_streaming_hello_monitor_keeps_succeeding(server):
    heartbeats = Heartbeats()
    monitored = server.client(heartbeatFrequencyMS=500, event_listeners=[heartbeats])
    try:
        monitored.admin.command("ping")
        time.sleep(3)
        assert monitored.admin.command("ping")["ok"] == 1.0
        assert heartbeats.errors == []
        assert len(heartbeats.ok) >= 2
    finally:
        monitored.close()


def test_replica_set_discovery_connects(server):
    discovered = MongoClient(f"mongodb://{server.address}/?replicaSet=rs0", serverSelectionTimeoutMS=10000)
    try:
        database = discovered["pytest_replica_set"]
        database.items.insert_one({"_id": 1})
        assert database.items.find_one({"_id": 1}) == {"_id": 1}
        assert discovered.primary == ("127.0.0.1", server.port)
        discovered.drop_database("pytest_replica_set")
    finally:
        discovered.close()


def test_unknown_command_is_command_not_found(db):
    with pytest.raises(OperationFailure) as failure:
        db.command("frobnicate")
    assert failure.value.code == 59
    assert failure.value.details["codeName"] == "CommandNotFound"
    assert failure.value.details["errmsg"] == "no such command: 'frobnicate'"


def test_list_databases_and_collections(client, db):
    db.alpha.insert_one({"x": 1})
    db.create_collection("beta")
    assert db.name in client.list_database_names()
    assert sorted(db.list_collection_names()) == ["alpha", "beta"]
    assert db.list_collection_names(filter={"name": "beta"}) == ["beta"]
