"""Bucketed storage over the wire: documents, summaries, appends, ids, races, indexes."""
import json
import threading
from datetime import datetime, timedelta

from logstore import store
from logstore.store import buckets
from logstore.validation import parse_batch
from tests.builders import action, session_log
from tests.stored import assert_hours_agree


def put(db, body):
    return store.insert_sessions(db, parse_batch(json.dumps(body).encode()))


def times(n, start=datetime(2020, 1, 1), step=timedelta(seconds=1), offset="Z"):
    return [(start + step * i).strftime("%Y-%m-%dT%H:%M:%S") + offset for i in range(n)]


def test_a_session_is_one_document_with_real_datetimes(db):
    result = put(db, [session_log(actions=[action("2018-10-18T21:37:28-06:00"), action("2018-10-18T21:37:30-06:00", "VIEW")])])
    assert result.to_dict() == {"sessions": 1, "actions": 2, "duplicates": 0}
    [doc] = db.sessions.find()
    assert doc["actions"][0]["t"] == datetime(2018, 10, 19, 3, 37, 28)
    assert doc["actions"][0]["o"] == -360
    assert (doc["first"], doc["last"], doc["types"], doc["count"]) == (
        datetime(2018, 10, 19, 3, 37, 28), datetime(2018, 10, 19, 3, 37, 30), ["CLICK", "VIEW"], 2)


def test_appending_to_a_session_keeps_the_summary_right(db):
    put(db, [session_log(actions=[action("2020-01-01T10:20:00Z")])])
    put(db, [session_log(actions=[action("2020-01-01T10:05:00Z", "NAVIGATE"), action("2020-01-01T11:40:00+01:00", "VIEW")])])
    [doc] = db.sessions.find()
    assert doc["count"] == 3 and len(doc["actions"]) == 3
    assert doc["first"] == datetime(2020, 1, 1, 10, 5) and doc["last"] == datetime(2020, 1, 1, 10, 40)
    assert doc["types"] == ["CLICK", "NAVIGATE", "VIEW"]
    assert doc["n"] == {"CLICK": 1, "NAVIGATE": 1, "VIEW": 1} and doc["w"] == datetime(2020, 1, 1, 10)


def test_every_bucket_holds_one_window_of_time_whatever_order_actions_come_in(db):
    stamps = times(50, datetime(2020, 1, 1, 8, 50), timedelta(minutes=7), "+05:30")
    put(db, [session_log(actions=[action(t, "VIEW") for t in stamps[25:]])])
    put(db, [session_log(actions=[action(t) for t in stamps[:25][::-1]])])
    docs = list(db.sessions.find())
    assert sum(d["count"] for d in docs) == 50
    for doc in docs:
        assert doc["w"] <= doc["first"] <= doc["last"] < doc["w"] + timedelta(hours=1)
        assert sum(doc["n"].values()) == doc["count"] == len(doc["actions"])
    assert len({d["w"] for d in docs}) == len(docs)        # one bucket per window (no cap reached)
    [meta] = db.meta.find()
    # The extent: from the first window to the end of the UTC day after the last action's.
    assert meta["start"] == min(d["w"] for d in docs) and meta["end"] == datetime(2020, 1, 3)


def test_a_growing_session_spills_into_further_buckets(db, monkeypatch):
    monkeypatch.setattr(buckets, "BUCKET_MAX_ACTIONS", 10)
    for chunk in range(5):
        put(db, [session_log(actions=[action(t) for t in times(7, datetime(2020, 1, 1, 0, chunk))])])
    docs = list(db.sessions.find().sort("b", 1))
    assert [d["b"] for d in docs] == [0, 1, 2, 3]
    assert [d["count"] for d in docs] == [10, 10, 10, 5]
    assert all(d["count"] == len(d["actions"]) for d in docs)
    for doc in docs:
        ts = [a["t"] for a in doc["actions"]]
        assert (doc["first"], doc["last"]) == (min(ts), max(ts))


def test_no_bucket_grows_past_the_byte_cap(db, monkeypatch):
    monkeypatch.setattr(buckets, "BUCKET_MAX_BYTES", 20_000)
    big = "x" * 3000
    for _ in range(4):
        put(db, [session_log(actions=[action(t, "VIEW", blob=big) for t in times(5)])])
    docs = list(db.sessions.find())
    assert sum(d["count"] for d in docs) == 20
    assert len(docs) >= 4
    assert max(len(json.dumps(d["actions"], default=str)) for d in docs) <= 20_000


def test_one_large_session_of_100000_actions_stays_small_per_document(db):
    stamps = times(100_000, step=timedelta(milliseconds=7))
    for start in range(0, len(stamps), 10_000):
        put(db, [session_log(actions=[action(t) for t in stamps[start:start + 10_000]])])
    sizes = [d["bytes"] for d in db.sessions.find({}, {"bytes": 1})]
    assert sum(d["count"] for d in db.sessions.find({}, {"count": 1})) == 100_000
    assert max(sizes) <= buckets.BUCKET_MAX_BYTES


def test_action_ids_are_stored_once_per_session(db):
    first = put(db, [session_log(actions=[dict(action(), id="a"), dict(action(), id="b")])])
    again = put(db, [session_log(actions=[dict(action(), id="b"), dict(action(), id="c"), dict(action(), id="c")])])
    other = put(db, [session_log(session="other", actions=[dict(action(), id="a")])])
    assert (first.actions, first.duplicates) == (2, 0)
    assert (again.actions, again.duplicates) == (1, 2)
    assert (other.actions, other.duplicates) == (1, 0)
    ids = sorted(a["id"] for d in db.sessions.find({"sessionId": "XYZ456ABC"}) for a in d["actions"])
    assert ids == ["a", "b", "c"]


def test_the_same_session_twice_in_one_batch_is_merged(db):
    result = put(db, [session_log(actions=[action()]), session_log(actions=[action(kind="VIEW")])])
    assert result.to_dict() == {"sessions": 1, "actions": 2, "duplicates": 0}
    assert db.sessions.count_documents({}) == 1


def test_racing_writers_on_one_session_lose_nothing_and_duplicate_nothing(db, monkeypatch):
    monkeypatch.setattr(buckets, "BUCKET_MAX_ACTIONS", 7)
    store.ensure_indexes(db)
    errors = []

    def writer(worker):
        try:
            for round_ in range(6):
                ids = [f"{worker}-{round_}-{k}" for k in range(3)] + [f"shared-{round_}"]
                put(db, [session_log(actions=[dict(action(), id=i) for i in ids])])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    stored = [a["id"] for d in db.sessions.find() for a in d["actions"]]
    assert len(stored) == len(set(stored)) == 4 * 6 * 3 + 6
    docs = list(db.sessions.find())
    assert all(d["count"] == len(d["actions"]) <= 7 for d in docs)
    assert sorted(d["b"] for d in docs) == list(range(len(docs)))
    assert_hours_agree(db)


def test_indexes_are_created_idempotently(db):
    store.ensure_indexes(db)
    store.ensure_indexes(db)
    names = set(db.sessions.index_information())
    assert {"session_bucket", "first", "types_first", "user_first", "session_first", "last"} <= names
    assert set(db.session_hours.index_information()) == {"_id_", "session_hour", "w"}


def test_an_hour_counted_but_without_buckets_takes_new_actions_with_an_upsert(db):
    """Retention can remove an hour's buckets before its counts (docs/DESIGN.md): a write into
    that hour finds an hour document it did not expect, and is retried as an upsert."""
    store.ensure_indexes(db)
    put(db, [session_log(actions=[action("2018-10-18T21:37:28Z"), action("2018-10-18T21:40:00Z", "VIEW")])])
    db.sessions.delete_many({})                         # as the TTL monitor would, before the hour's
    put(db, [session_log(actions=[action("2018-10-18T21:50:00Z")])])
    hour = db.session_hours.find_one()
    assert (hour["count"], hour["n"]) == (3, {"CLICK": 2, "VIEW": 1})
    assert db.session_hours.count_documents({}) == 1


def test_the_first_concurrent_writes_into_a_new_store_do_not_conflict(db, monkeypatch):
    """Eight transactions writing eight different sessions into a store just created share no
    document, so none should have to be retried. (Seen on SecantusDB: all but one were, each time,
    because the first array ``types`` makes ``types_first`` multikey inside the transaction; under
    load the retries ran out and POSTs answered 503 DATABASE_BUSY.)"""
    store.ensure_indexes(db)
    attempts, real = [], buckets.run_transaction

    def counted(client, callback, budget):
        tries = []
        try:
            return real(client, lambda s: tries.append(1) or callback(s), budget)
        finally:
            attempts.append(len(tries))

    monkeypatch.setattr(buckets, "run_transaction", counted)
    bodies = [[session_log(user=f"u{k}", session=f"s{k}", actions=[action(), action(kind="VIEW")])] for k in range(8)]
    barrier = threading.Barrier(len(bodies))
    errors = []

    def writer(body):
        barrier.wait()
        try:
            put(db, body)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert attempts == [1] * len(bodies)
