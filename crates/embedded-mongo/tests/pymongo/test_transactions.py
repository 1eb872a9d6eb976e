"""Multi-document transactions through pymongo's `with_transaction` and explicit aborts."""

import pytest


def test_with_transaction_commits_atomically(client, db):
    db.accounts.insert_many([{"_id": "alice", "balance": 100}, {"_id": "bob", "balance": 0}])

    def transfer(session):
        db.accounts.update_one({"_id": "alice"}, {"$inc": {"balance": -40}}, session=session)
        db.accounts.update_one({"_id": "bob"}, {"$inc": {"balance": 40}}, session=session)
        db.ledger.insert_one({"amount": 40}, session=session)
        assert db.accounts.find_one({"_id": "bob"})["balance"] == 0
        return "done"

    with client.start_session() as session:
        assert session.with_transaction(transfer) == "done"
    assert db.accounts.find_one({"_id": "alice"})["balance"] == 60
    assert db.accounts.find_one({"_id": "bob"})["balance"] == 40
    assert db.ledger.count_documents({}) == 1


def test_aborted_transaction_leaves_nothing(client, db):
    db.accounts.insert_one({"_id": "alice", "balance": 100})
    with client.start_session() as session:
        session.start_transaction()
        db.accounts.update_one({"_id": "alice"}, {"$set": {"balance": 0}}, session=session)
        db.accounts.insert_one({"_id": "carol"}, session=session)
        session.abort_transaction()
    assert db.accounts.find_one({"_id": "alice"})["balance"] == 100
    assert db.accounts.find_one({"_id": "carol"}) is None


def test_exception_inside_with_transaction_aborts(client, db):
    db.accounts.insert_one({"_id": "alice", "balance": 100})

    def failing(session):
        db.accounts.update_one({"_id": "alice"}, {"$set": {"balance": 0}}, session=session)
        raise ValueError("application failure")

    with client.start_session() as session:
        with pytest.raises(ValueError):
            session.with_transaction(failing)
    assert db.accounts.find_one({"_id": "alice"})["balance"] == 100
