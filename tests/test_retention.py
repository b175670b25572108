"""LOGSTORE_RETENTION_DAYS: a TTL on the buckets' ``last`` index, applied (and changed) at start."""
import json
import time
import uuid
from datetime import datetime, timedelta

import pytest
from pymongo import MongoClient

from logstore import create_app, store
from logstore.config import Settings
from logstore.validation import parse_batch
from tests.builders import action, session_log
from tests.stored import assert_hours_agree


def last_index(db):
    return db.sessions.index_information()["last"]


def test_retention_sets_changes_and_removes_the_ttl_at_start(db):
    create_app(Settings(), database=db)
    assert "expireAfterSeconds" not in last_index(db)
    create_app(Settings(retention_days=30), database=db)
    assert last_index(db)["expireAfterSeconds"] == 30 * 86400
    create_app(Settings(retention_days=0.5), database=db)
    assert last_index(db)["expireAfterSeconds"] == 43200
    assert db.session_hours.index_information()["last"]["expireAfterSeconds"] == 43200
    create_app(Settings(), database=db)
    info = last_index(db)
    assert "expireAfterSeconds" not in info and info["key"] == [("last", 1)]
    assert "last" not in db.session_hours.index_information()      # no read needs it: no write pays for it


def test_migrate_command_applies_the_retention(db):
    app = create_app(Settings(retention_days=7), database=db)
    db.sessions.drop_indexes()
    with app.app_context():  # the flask command pushes one too
        result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert last_index(db)["expireAfterSeconds"] == 7 * 86400


def test_migrate_command_is_the_one_release_command(db):
    """``flask migrate`` creates every index (idempotency and rate-limit expiries too) and migrates;
    ``--full`` checks every bucket; the name ``create-indexes`` is gone."""
    app = create_app(Settings(), database=db)
    for name in ("sessions", "idempotency", "ratelimits"):
        db[name].drop_indexes()
    runner = app.test_cli_runner()
    with app.app_context():
        full = runner.invoke(args=["migrate", "--full"])
        gone = runner.invoke(args=["create-indexes"])
    assert full.exit_code == 0 and "(0 sessions rewritten)" in full.output, full.output
    assert "created_ttl" in db.idempotency.index_information() and "expires_ttl" in db.ratelimits.index_information()
    assert "session_bucket" in db.sessions.index_information()
    assert gone.exit_code != 0 and "No such command" in gone.output


@pytest.fixture(scope="module")
def fast_ttl_client(tmp_path_factory):
    """A server of our own whose TTL monitor sweeps every second (the default is 60 s)."""
    from secantus import SecantusDBServer

    from logstore import secantus_patches

    server = SecantusDBServer(host="127.0.0.1", port=0, ttl_sweep_seconds=1,
                              storage_path=str(tmp_path_factory.mktemp("secantus-ttl")))
    server.start()
    client = MongoClient(f"mongodb://127.0.0.1:{server.port}/", serverSelectionTimeoutMS=5000)
    yield client
    client.close()
    secantus_patches.wake_listener(server)
    server.stop()


def seed_old_and_new(db):
    now = datetime.utcnow()
    old, new = now - timedelta(days=3), now - timedelta(hours=1)
    body = [session_log(user="old", actions=[action(old.strftime("%Y-%m-%dT%H:%M:%SZ"))]),
            session_log(user="both", actions=[action(old.strftime("%Y-%m-%dT%H:%M:%SZ")),
                                              action(new.strftime("%Y-%m-%dT%H:%M:%SZ"))]),
            session_log(user="new", actions=[action(new.strftime("%Y-%m-%dT%H:%M:%SZ"))])]
    store.insert_sessions(db, parse_batch(json.dumps(body).encode()))


def users_after_sweeps(db, seconds=2.5):
    time.sleep(seconds)
    return sorted({doc["userId"] for doc in db.sessions.find()})


def test_old_sessions_expire_by_their_newest_action(fast_ttl_client):
    db = fast_ttl_client[f"ttl_{uuid.uuid4().hex[:8]}"]
    create_app(Settings(retention_days=2), database=db)
    seed_old_and_new(db)
    deadline = time.monotonic() + 10
    while (db.sessions.count_documents({"userId": "old"}) or db.session_hours.count_documents({"userId": "old"})) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert users_after_sweeps(db, 1.5) == ["both", "new"]
    assert_hours_agree(db)                              # the hours' counts expired with their buckets


def test_without_retention_nothing_expires(fast_ttl_client):
    db = fast_ttl_client[f"ttl_{uuid.uuid4().hex[:8]}"]
    create_app(Settings(), database=db)
    seed_old_and_new(db)
    assert users_after_sweeps(db) == ["both", "new", "old"]
