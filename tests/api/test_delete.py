"""DELETE /logs: exactly the matching actions go, summaries stay right, empty buckets go; races."""
import json
import threading
from datetime import datetime

import pytest

from logstore import store
from logstore.store import buckets, deletes
from logstore.filters import LogFilter
from logstore.validation import parse_batch
from tests.builders import SPEC_EXAMPLE, action, session_log
from tests.stored import assert_hours_agree

# Each test runs as SecantusDB answers and as mongod would (tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")


def post(client, body):
    response = client.post("/logs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.get_json()


def delete(client, query, status=200):
    response = client.delete("/logs" + query)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def remaining(client):
    rows = client.get("/logs?format=actions&limit=10000").get_json()
    return sorted((r["userId"], r["sessionId"], r["time"], r["type"]) for r in rows)


def assert_summaries_right(db):
    for bucket in db.sessions.find():
        times = [a["t"] for a in bucket["actions"]]
        assert bucket["count"] == len(times) > 0
        assert (bucket["first"], bucket["last"]) == (min(times), max(times))
        assert bucket["types"] == sorted({a["type"] for a in bucket["actions"]})
    assert_hours_agree(db)


def test_deletes_exactly_the_matching_actions_and_keeps_summaries_right(client, db):
    other = session_log(user="u2", actions=[action("2018-10-19T03:37:28Z", "VIEW"), action("2018-10-19T03:37:29Z")])
    post(client, [SPEC_EXAMPLE, other])
    assert delete(client, "?types=CLICK,NAVIGATE&to=2018-10-19T03:37:29.999Z") == {"deleted": 2}
    assert remaining(client) == [("ABC123XYZ", "XYZ456ABC", "2018-10-18T21:37:30-06:00", "NAVIGATE"),
                                 ("ABC123XYZ", "XYZ456ABC", "2018-10-18T21:37:30-06:00", "VIEW"),
                                 ("u2", "XYZ456ABC", "2018-10-19T03:37:28Z", "VIEW")]
    assert_summaries_right(db)
    assert db.sessions.find_one({"userId": "u2"})["first"] == datetime(2018, 10, 19, 3, 37, 28)


def test_a_session_left_empty_is_removed(client, db):
    post(client, [SPEC_EXAMPLE, session_log(user="keep")])
    assert delete(client, "?userId=ABC123XYZ") == {"deleted": 3}
    assert db.sessions.count_documents({"userId": "ABC123XYZ"}) == 0
    assert [s["userId"] for s in client.get("/logs").get_json()] == ["keep"]
    assert delete(client, "?userId=ABC123XYZ") == {"deleted": 0}


def test_delete_spans_many_buckets(client, db, monkeypatch):
    monkeypatch.setattr(buckets, "BUCKET_MAX_ACTIONS", 4)
    monkeypatch.setattr(deletes, "DELETE_BATCH", 3)
    post(client, [session_log(actions=[action(f"2020-01-01T00:00:{s:02d}Z", ("CLICK", "VIEW")[s % 2])
                                       for s in range(30)])])
    assert db.sessions.count_documents({}) == 8
    assert delete(client, "?sessionId=XYZ456ABC&types=VIEW") == {"deleted": 15}
    assert delete(client, "?from=2020-01-01T00:00:20Z") == {"deleted": 5}
    assert [r[2][-3:-1] for r in remaining(client)] == [f"{s:02d}" for s in range(0, 20, 2)]
    assert_summaries_right(db)
    assert db.sessions.count_documents({}) < 8


def test_delete_needs_a_filter(client):
    post(client, [SPEC_EXAMPLE])
    problem = delete(client, "", status=400)
    assert problem["code"] == "FILTER_REQUIRED"
    assert delete(client, "?limit=5", status=400)["parameter"] == "limit"
    assert delete(client, "?types=SCROLL", status=400)["parameter"] == "types"
    assert len(remaining(client)) == 3


def test_appends_racing_a_delete_lose_nothing_that_did_not_match(db):
    """Writers keep appending CLICKs and VIEWs to one session while VIEWs are deleted from it."""
    store.ensure_indexes(db)
    stored = store.insert_sessions(db, parse_batch(json.dumps([session_log(actions=[
        action(f"2020-01-01T00:00:00Z", ("CLICK", "VIEW")[k % 2], n=k) for k in range(40)])]).encode()))
    assert stored.actions == 40
    sent, errors, deleted = [], [], []

    def writer(w):
        try:
            for k in range(12):
                n = 1000 * (w + 1) + k
                body = [session_log(actions=[action("2020-01-01T00:00:01Z", ("CLICK", "VIEW")[k % 2], n=n)])]
                store.insert_sessions(db, parse_batch(json.dumps(body).encode()))
                sent.append((n, ("CLICK", "VIEW")[k % 2]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def deleter():
        try:
            for _ in range(4):
                deleted.append(store.delete_actions(db, LogFilter(session_id="XYZ456ABC", types=("VIEW",))))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)] + [threading.Thread(target=deleter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    kept = [(a["p"]["n"], a["type"]) for b in db.sessions.find() for a in b["actions"]]
    clicks = sorted(n for n, kind in kept if kind == "CLICK")
    assert clicks == sorted([k for k in range(40) if k % 2 == 0] + [n for n, kind in sent if kind == "CLICK"])
    views_sent = 20 + sum(kind == "VIEW" for _, kind in sent)
    views_kept = sum(kind == "VIEW" for _, kind in kept)
    assert sum(deleted) >= 20 and sum(deleted) + views_kept == views_sent
    assert len(kept) == len({n for n, _ in kept})
    assert_summaries_right(db)


@pytest.mark.parametrize("query", ["?to=2026-01-04T10:20:00Z", "?from=2026-01-02T05:30:00Z&to=2026-01-04T10:20:00Z",
                                   "?from=2026-01-02T05:30:00Z", "?from=2026-01-02T00:00:00Z&to=2026-01-03T00:00:00Z"])
def test_a_delete_of_everyone_over_days_goes_by_whole_windows_and_leaves_the_edges_exact(client, db, query):
    """The windows wholly inside the range go with a delete_many per collection; the hours its
    ``from`` and ``to`` cut are deleted action by action; the count, the summaries, the hours'
    counts and the rollups come out as if deleted one by one."""
    body = [session_log(user=f"u{k % 3}", session=f"s{k}", actions=[
        action(f"2026-01-0{1 + k // 24}T{k % 24:02d}:{m:02d}:00Z", ("CLICK", "VIEW", "NAVIGATE")[m % 3])
        for m in range(0, 60, 7)]) for k in range(24 * 5)]
    post(client, body)
    before = remaining(client)
    bounds = dict(part.split("=") for part in query[1:].split("&"))
    low, high = bounds.get("from", "0000"), bounds.get("to", "9999")
    kept = [row for row in before if not low <= row[2] <= high]
    assert 0 < len(kept) < len(before)
    answer = delete(client, query)
    assert answer["deleted"] == len(before) - len(kept)
    assert remaining(client) == kept
    assert_summaries_right(db)
