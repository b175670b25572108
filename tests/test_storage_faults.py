"""Storage under injected faults (SecantusDB's configureFailPoint): stored once, bounded in time."""
import json
import threading
import time

import pytest
from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, OperationFailure

from logstore import store
from logstore.store import transactions
from logstore.launcher import free_port
from logstore.validation import parse_batch
from tests.builders import action, session_log

APP = "faulty"


@pytest.fixture
def faulty_db(mongo_client, mongo_url, db):
    """The test's database through a client of its own (appname "faulty"), which failpoints target."""
    try:
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    except OperationFailure:
        pytest.skip("the server has no test commands (configureFailPoint)")
    client = MongoClient(mongo_url, appname=APP, w="majority", serverSelectionTimeoutMS=2000)
    yield client[db.name]
    mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    client.close()


def fail(mongo_client, mode, **data):
    mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": mode,
                                "data": {"appName": APP, **data}})


def batch(ids, session="s"):
    return parse_batch(json.dumps([session_log(session=session, actions=[dict(action(), id=i) for i in ids])]).encode())


def stored_ids(db):
    return sorted(a["id"] for d in db.sessions.find() for a in d["actions"])


@pytest.mark.parametrize("command", ["aggregate", "insert", "update", "commitTransaction"])
def test_a_dropped_connection_is_retried_and_stores_once(faulty_db, mongo_client, db, command):
    store.insert_sessions(faulty_db, batch(["a"]))  # the session exists, so appends are updates
    fail(mongo_client, {"times": 1}, failCommands=[command], closeConnection=True)
    result = store.insert_sessions(faulty_db, batch(["a", "b", "c"]))
    assert (result.actions, result.duplicates) == (2, 1)
    assert stored_ids(db) == ["a", "b", "c"]


def test_a_commit_that_applied_but_answered_an_error_is_not_stored_twice(faulty_db, mongo_client, db):
    # The server commits, then reports a write concern error: the result is unknown to the driver,
    # which retries the commit; the retried commit of a committed transaction is a no-op.
    fail(mongo_client, {"times": 1}, failCommands=["commitTransaction"],
         writeConcernError={"code": 64, "errmsg": "waiting for replication timed out"})
    result = store.insert_sessions(faulty_db, batch(["a", "b"]))
    assert (result.actions, result.duplicates) == (2, 0)
    again = store.insert_sessions(faulty_db, batch(["a", "b"]))
    assert (again.actions, again.duplicates) == (0, 2)
    assert stored_ids(db) == ["a", "b"]


def test_write_conflicts_past_the_retry_budget_raise_busy(faulty_db, mongo_client):
    fail(mongo_client, "alwaysOn", failCommands=["aggregate"], errorCode=112)  # WriteConflict: transient
    started = time.monotonic()
    with pytest.raises(transactions.StorageBusy):
        store.insert_sessions(faulty_db, batch(["a"]), retry_seconds=0.5)
    assert time.monotonic() - started < 2


def test_an_unreachable_database_fails_within_the_selection_timeout():
    # Nothing listens on this port: the transaction must not be retried for pymongo's 120 s.
    client = MongoClient(f"mongodb://127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=300)
    outcome = []

    def run():
        try:
            store.insert_sessions(client.logstore, batch(["a"]))
        except Exception as exc:  # noqa: BLE001 - the type is what is checked
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    elapsed = time.monotonic() - started
    client.close()
    assert not thread.is_alive(), "insert_sessions kept retrying an unreachable database"
    assert isinstance(outcome[0], ConnectionFailure)
    assert elapsed < 1.5
