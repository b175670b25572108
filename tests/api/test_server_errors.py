"""What the server says when it stops a read: every time-limit code is 503 QUERY_TIMEOUT, a group
over its memory limit is 503 QUERY_TOO_LARGE naming what to narrow, wherever the read is made
(the extent's and the layout's find included), over the wire with failCommand."""
import contextlib
import json
from dataclasses import replace

import pytest
from pymongo.errors import OperationFailure

from logstore import create_app, db as logstore_db
from logstore.config import Settings
from tests.builders import SPEC_EXAMPLE


@contextlib.contextmanager
def failing(mongo_client, commands, code):
    try:
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "alwaysOn", "data": {
            "appName": "logstore", "failCommands": commands, "errorCode": code}})
    except OperationFailure:
        pytest.skip("the server has no test commands (configureFailPoint)")
    try:
        yield
    finally:
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


@pytest.fixture
def wire_client(mongo_url, db):
    """The app with the production client (appName logstore, which the failpoints pick)."""
    database = logstore_db.connect(mongo_url.rstrip("/") + "/" + db.name, timeout_ms=1000)
    # pymongo retries a read that meets 262 (a retryable read code) until the read's time is up:
    # a short limit keeps the test short.
    client = create_app(replace(Settings(), query_timeout_ms=500), database=database).test_client()
    assert client.post("/logs", data=json.dumps(SPEC_EXAMPLE), content_type="application/json").status_code == 201
    yield client
    database.client.close()


READS = ["/logs", "/logs?userId=ABC123XYZ", "/logs/stats?groupBy=day", "/logs/export"]


@pytest.mark.parametrize("code", [50, 262, 202, 24])
@pytest.mark.parametrize("command", ["aggregate", "find"])
def test_every_time_limit_code_is_a_query_timeout(wire_client, mongo_client, code, command):
    with failing(mongo_client, [command], code):
        for path in READS:
            response = wire_client.get(path)
            assert response.status_code == 503, (path, response.get_data()[:300])
            assert response.get_json()["code"] == "QUERY_TIMEOUT", (code, command, path)
            assert response.headers["Retry-After"]


@pytest.mark.parametrize("code", [292, 16819, 146])
def test_a_group_over_the_memory_limit_says_what_to_narrow(wire_client, mongo_client, code):
    with failing(mongo_client, ["aggregate"], code):
        response = wire_client.get("/logs/stats?groupBy=user,session")
    assert response.status_code == 503
    problem = response.get_json()
    assert problem["code"] == "QUERY_TOO_LARGE"
    assert "from/to" in problem["detail"] and "groupBy" in problem["detail"]


def test_a_write_meeting_262_is_still_retried_as_unavailable(wire_client, mongo_client):
    # mongos' ExceededTimeLimit is in the retryable writes' list: a POST is not a query.
    with failing(mongo_client, ["insert", "update", "commitTransaction"], 262):
        response = wire_client.post("/logs", data=json.dumps(SPEC_EXAMPLE), content_type="application/json")
    assert response.status_code == 503
    assert response.get_json()["code"] in ("DATABASE_UNAVAILABLE", "DATABASE_BUSY")


def test_a_standalone_refusing_a_transaction_is_a_503_naming_it(app):
    # What a standalone mongod answers the first statement of a transaction (SecantusDB's takes it,
    # and failCommand cannot give its message, so the error is made here).
    from logstore.errors import problem_response

    refused = OperationFailure("Transaction numbers are only allowed on a replica set member or mongos", 20,
                               {"code": 20, "codeName": "IllegalOperation"})
    with app.test_request_context("/logs", method="POST"):
        response = problem_response(refused)
    assert response.status_code == 503
    problem = response.get_json()
    assert problem["code"] == "DATABASE_STANDALONE" and "replica set" in problem["detail"]
