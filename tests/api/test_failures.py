"""What a client sees when the database fails: 503 problems with Retry-After, quickly."""
import json
import time

import pytest
from pymongo.errors import OperationFailure

from logstore import create_app, db as logstore_db
from logstore.config import Settings
from logstore.launcher import free_port
from tests.builders import SPEC_EXAMPLE


@pytest.fixture
def dead_client():
    """The app over a database URL where nothing listens, with the production client options."""
    database = logstore_db.connect(f"mongodb://127.0.0.1:{free_port()}/logstore", timeout_ms=500)
    yield create_app(Settings(), database=database).test_client()
    database.client.close()


@pytest.mark.parametrize("method, path", [("POST", "/logs"), ("GET", "/logs?userId=u"), ("GET", "/ready")])
def test_an_unreachable_database_is_a_fast_503(dead_client, method, path):
    started = time.monotonic()
    response = dead_client.open(path, method=method, data=json.dumps(SPEC_EXAMPLE),
                                content_type="application/json")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "DATABASE_UNAVAILABLE"
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < 1.5, f"{method} {path} took {elapsed:.1f} s with a 0.5 s server timeout"


def test_endless_write_conflicts_are_a_503_busy(mongo_url, mongo_client, db):
    database = logstore_db.connect(mongo_url.rstrip("/") + "/" + db.name, timeout_ms=500)
    client = create_app(Settings(), database=database).test_client()
    try:
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "alwaysOn",
                                    "data": {"failCommands": ["aggregate"], "errorCode": 112}})
    except OperationFailure:
        pytest.skip("the server has no test commands (configureFailPoint)")
    try:
        response = client.post("/logs", data=json.dumps(SPEC_EXAMPLE), content_type="application/json")
    finally:
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        database.client.close()
    assert response.status_code == 503
    assert response.get_json()["code"] == "DATABASE_BUSY"
    assert response.headers["Retry-After"] == "1"
    assert db.sessions.count_documents({}) == 0


# A page first reads the stored extent (find), then its windows (aggregate).
@pytest.mark.parametrize("method, path, command", [("GET", "/logs?userId=u", "find"),
                                                   ("POST", "/logs", "aggregate")])
def test_a_database_that_hangs_is_a_503_after_the_socket_timeout(mongo_url, mongo_client, db, method, path, command):
    database = logstore_db.connect(mongo_url.rstrip("/") + "/" + db.name, timeout_ms=500, socket_timeout_ms=300)
    client = create_app(Settings(), database=database).test_client()
    try:
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "alwaysOn", "data": {
            "appName": "logstore", "failCommands": [command], "blockConnection": True, "blockTimeMS": 1000}})
    except OperationFailure:
        pytest.skip("the server has no test commands (configureFailPoint)")
    started = time.monotonic()
    try:
        response = client.open(path, method=method, data=json.dumps(SPEC_EXAMPLE), content_type="application/json")
    finally:
        elapsed = time.monotonic() - started
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        database.client.close()
    assert response.status_code == 503
    assert response.get_json()["code"] == "DATABASE_UNAVAILABLE"
    assert elapsed < 1.5, f"{method} {path} took {elapsed:.1f} s with a 0.3 s socket timeout"
