"""Bounded reads over the wire: a read past LOGSTORE_QUERY_TIMEOUT_MS is stopped by the database and
answered 503 QUERY_TIMEOUT at once; heavy reads beyond their slots get 503 READS_BUSY at once, while
POSTs and single-user queries go on."""
import json
import time
from dataclasses import replace

import pytest

from logstore import create_app, store
from logstore.api import export
from logstore.config import Settings
from logstore.validation import parse_batch
from tests.builders import action, session_log

# Each test runs as SecantusDB answers and as mongod would (tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")

TYPES = ("CLICK", "VIEW", "NAVIGATE")


@pytest.fixture(scope="module")
def big(module_db):
    """200 sessions of 100 actions (20,000), in the stored shape, through the write path."""
    db = module_db
    for first in range(0, 200, 50):
        body = [session_log(user=f"u{k % 20}", session=f"s{k}", actions=[
            action(f"2020-01-{1 + k % 28:02d}T{k % 24:02d}:{n // 60:02d}:{n % 60:02d}Z", TYPES[n % 3])
            for n in range(100)]) for k in range(first, first + 50)]
        store.insert_sessions(db, parse_batch(json.dumps(body).encode()))
    return db


def app_for(db, **settings):
    app = create_app(replace(Settings(), **settings), database=db)
    return app.test_client()


@pytest.mark.parametrize("path", ["/logs/stats?groupBy=session,day,type&tz=%2B05:30", "/logs/export",
                                  "/logs?types=CLICK,VIEW&limit=10000"])
def test_a_read_past_its_limit_is_a_503_query_timeout_and_the_database_lets_go_of_it(big, path):
    slow = app_for(big, query_timeout_ms=2)
    started = time.monotonic()
    response = slow.get(path)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.get_data()[:300]
    problem = response.get_json()
    assert problem["code"] == "QUERY_TIMEOUT" and "from/to" in problem["detail"]
    assert response.headers["Retry-After"].isdigit()
    assert elapsed < 1.0, f"{path} took {elapsed:.2f} s to answer its timeout"
    # The database stopped the read: a user's query right after is served at once.
    started = time.monotonic()
    assert app_for(big).get("/logs?userId=u3&limit=50").status_code == 200
    assert time.monotonic() - started < 1.0


def test_without_a_tight_limit_the_same_reads_answer(big):
    client = app_for(big)
    total = client.get("/logs/stats").get_json()
    assert total == [{"count": 20_000}]
    assert len(client.get("/logs?types=CLICK,VIEW&limit=10000&format=actions").get_json()) == 10_000


def test_heavy_reads_beyond_their_slots_are_refused_at_once_while_writes_and_user_reads_go_on(big, server_types):
    app = create_app(replace(Settings(), heavy_reads=1), database=big)
    client = app.test_client()
    slots = app.extensions["logstore.readgate"]
    slots.enter()                                           # another analyst's read holds the one slot
    try:
        for path in ("/logs", "/logs?types=CLICK", "/logs/stats", "/logs/export"):
            response = client.get(path)
            assert response.status_code == 503 and response.get_json()["code"] == "READS_BUSY", path
            assert response.headers["Retry-After"].isdigit()
        assert client.get("/logs?userId=u1&limit=5").status_code == 200
        posted = client.post("/logs", data=json.dumps(session_log(user=f"busy-{server_types}", session="new")),
                             content_type="application/json")
        assert posted.status_code == 201
    finally:
        slots.leave()
    assert client.get(f"/logs/stats?userId=busy-{server_types}").get_json() == [{"count": 1}]
    assert client.get("/logs?limit=1").status_code == 200


def test_an_export_cut_mid_stream_ends_with_an_error_line_and_no_proper_end(big, monkeypatch):
    real = store.export_rows

    def cut(*args, **kwargs):
        for number, row in enumerate(real(*args, **kwargs)):
            if number == 2500:
                raise store.QueryTimeout()
            yield row

    monkeypatch.setattr(store, "export_rows", cut)
    app = create_app(Settings(), database=big)
    response = app.test_client().get("/logs/export", buffered=False)
    assert response.status_code == 200
    chunks = []
    with pytest.raises(export.ExportCut):
        for chunk in response.response:
            chunks.append(chunk)
    lines = b"".join(chunks).decode().splitlines()
    assert 1000 <= len(lines) - 1 <= 2500                   # whole chunks of rows, then the error line
    assert all("error" not in json.loads(line) for line in lines[:-1])
    assert json.loads(lines[-1])["error"]["code"] == "QUERY_TIMEOUT"
    slots = app.extensions["logstore.readgate"]
    for _ in range(slots.slots):                            # every slot is free again
        slots.enter()


def test_a_server_that_overruns_the_limit_does_not_hold_the_request_nor_get_it_retried(big, mongo_client):
    """The limit holds on the client side too: a read the server does not stop in time (blocked
    here for 3 s) is answered 503 QUERY_TIMEOUT at the limit, and not sent again (the failpoint
    blocks one command only: a retry would have answered 200)."""
    from pymongo.errors import OperationFailure
    try:
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1}, "data": {
            "failCommands": ["aggregate"], "blockConnection": True, "blockTimeMS": 3000}})
    except OperationFailure:
        pytest.skip("the server has no test commands (configureFailPoint)")
    try:
        started = time.monotonic()
        response = app_for(big, query_timeout_ms=500).get("/logs/stats?groupBy=type")
        elapsed = time.monotonic() - started
    finally:
        mongo_client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    assert response.status_code == 503 and response.get_json()["code"] == "QUERY_TIMEOUT"
    assert elapsed < 1.5, f"answered after {elapsed:.1f} s with a 0.5 s limit"
