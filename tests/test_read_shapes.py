"""Reads in time order over the shapes of data that used to cost a page the data, not the page:
a gap of years, a burst (every session in one hour), a rare type, most of the history deleted.

Over the wire (SecantusDB, or TEST_MONGO_URL): a walk of pages returns every matching action
exactly once, in the order of ``pipelines.sort_key``; and what a page's reads return and examine
is bounded by the page (a pymongo command listener counts the rows each aggregate returns;
``explain`` counts index keys and documents), so a regression fails here, not only in the benchmark.
"""
import json
import uuid
from datetime import datetime, timedelta

import pytest
from pymongo import MongoClient, monitoring

from logstore import store
from logstore.store import meta
from logstore.filters import Bound, LogFilter
from logstore.pipelines import sort_key
from logstore.validation import parse_batch
from tests.builders import action, session_log
from tests.commands import SENT

TYPES = ("CLICK", "VIEW", "NAVIGATE")
Z = "%Y-%m-%dT%H:%M:%S.%fZ"


def stamp(moment):
    return moment.strftime(Z)[:-4] + "Z"


def put(db, sessions):
    for first in range(0, len(sessions), 50):
        store.insert_sessions(db, parse_batch(json.dumps(sessions[first:first + 50]).encode()))


def spread(sessions=30, actions=40, start=datetime(2026, 1, 1), gap=timedelta(minutes=50), rare_every=None):
    """``sessions`` sessions of ``actions`` a few seconds apart, each ``gap`` after the last; every
    ``rare_every``-th action a NAVIGATE (else CLICK and VIEW), or the three types in turn."""
    body = []
    for k in range(sessions):
        begin = start + gap * k
        kinds = [("NAVIGATE" if rare_every and (k * actions + n) % rare_every == 0 else TYPES[n % 2])
                 if rare_every else TYPES[n % 3] for n in range(actions)]
        body.append(session_log(user=f"u{k % 7}", session=f"s{k}", actions=[
            action(stamp(begin + timedelta(seconds=7 * n)), kinds[n]) for n in range(actions)]))
    return body


def burst(sessions=80, actions=30, start=datetime(2026, 1, 1, 10)):
    """Every session begins within the same hour and they overlap: all active at once."""
    return [session_log(user=f"u{k % 9}", session=f"b{k}", actions=[
        action(stamp(start + timedelta(seconds=k * 20 + n * 61)), TYPES[(k + n) % 3]) for n in range(actions)])
        for k in range(sessions)]


def expected(db, log_filter):
    """Every matching action's sort key, computed from the stored buckets in Python."""
    keys = []
    for bucket in db.sessions.find({"first": {"$exists": True}}):
        if log_filter.user_id and bucket["userId"] != log_filter.user_id:
            continue
        for i, act in enumerate(bucket["actions"]):
            if log_filter.types and act["type"] not in log_filter.types:
                continue
            if log_filter.start and act["t"] < log_filter.start.instant:
                continue
            if log_filter.end and act["t"] > log_filter.end.instant:
                continue
            keys.append((act["t"], bucket["userId"], bucket["sessionId"], bucket["b"], i))
    return sorted(keys)


def walk(db, log_filter, limit):
    """Every page's sort keys, following each page's last row as the next one's cursor."""
    keys, after = [], None
    for _ in range(10_000):
        rows, more = store.query_page(db, log_filter, limit, after)
        keys += [sort_key(row) for row in rows]
        if not more:
            return keys
        after = sort_key(rows[-1])
    raise AssertionError("the walk did not end")


GAP_FILTERS = {
    "no filter": LogFilter(),
    "types=CLICK,VIEW": LogFilter(types=("CLICK", "VIEW")),
    "types=NAVIGATE": LogFilter(types=("NAVIGATE",)),
    "from mid-data": LogFilter(start=Bound(datetime(2026, 1, 1, 12))),
    "user": LogFilter(user_id="u3"),
}


@pytest.fixture
def gap(db):
    """The README's 2018 example, then a day of this year's traffic: a gap of seven years."""
    store.ensure_indexes(db)
    put(db, [session_log(user="u3", session="old", actions=[
        action("2018-10-18T21:37:28-06:00", "CLICK"), action("2018-10-18T21:37:30-06:00", "VIEW"),
        action("2018-10-18T21:37:30-06:00", "NAVIGATE")])])
    put(db, spread())
    return db


@pytest.mark.parametrize("shape", sorted(GAP_FILTERS))
def test_a_walk_across_a_gap_of_years_returns_every_action_once_in_order(gap, shape):
    log_filter = GAP_FILTERS[shape]
    want = expected(gap, log_filter)
    assert want
    assert walk(gap, log_filter, 37) == want


def test_a_gap_of_years_costs_a_few_reads(gap):
    """The first page crosses the seven years with no read of the years between (the extent's runs):
    the seeks over the rest of the 2018 run (two days of slack: 15 s doubling up to a day, then a
    day each) and the windows of 2026, a few dozen reads, none of them wider than a day."""
    with SENT.aggregates() as sent:
        rows, _ = store.query_page(gap, LogFilter(), 10)
    trace = [pipeline for _, pipeline in sent]
    assert [r["actions"]["t"].year for r in rows[:3]] == [2018] * 3 and rows[3]["actions"]["t"].year == 2026
    assert len(trace) <= 40, len(trace)
    for pipeline in trace:       # no read asks for a range wider than a day: none reads the years
        first = pipeline[0]["$match"]["first"]
        assert first["$lt"] - first["$gte"] <= timedelta(days=1), first


def test_a_batch_of_2018_and_of_today_widens_two_runs_not_the_years_between(db):
    store.ensure_indexes(db)
    put(db, [session_log(user="u", session="s", actions=[action("2018-10-18T21:37:28Z"),
                                                          action("2026-01-01T10:00:00Z")])])
    [meta] = db.meta.find({"_id": "sessions"})
    assert len(meta["runs"]) == 2
    assert meta["runs"][0][1] < datetime(2019, 1, 1) <= meta["runs"][1][0]
    assert walk(db, LogFilter(), 1) == expected(db, LogFilter())


BURST_WALKS = [
    ("burst", LogFilter(), 23, 200), ("burst", LogFilter(types=("CLICK", "VIEW")), 23, 200),
    ("burst", LogFilter(types=("NAVIGATE",)), 23, 200),
    ("burst", LogFilter(start=Bound(datetime(2026, 1, 1, 10, 30, 5, 500000), 250)), 23, 200),
    ("short_burst", LogFilter(), 97, 1000), ("short_burst", LogFilter(types=("CLICK", "VIEW")), 97, 1000),
    ("short_burst", LogFilter(start=Bound(datetime(2026, 1, 1, 10, 30, 0, 500000), 250)), 97, 1000),
]


@pytest.mark.parametrize("shape, log_filter, page, at_least", BURST_WALKS,
                         ids=["no filter", "two types", "one type", "from mid-burst",
                              "short sessions, no filter", "short sessions, two types", "short sessions, from mid-burst"])
def test_a_walk_through_a_burst_returns_every_action_once_in_order(db, shape, log_filter, page, at_least):
    """Every session begun in one hour (``burst``), or short ones a few of which are active at any
    instant while the hour holds them all (``short_burst``, the benchmark's burst in small)."""
    store.ensure_indexes(db)
    put(db, {"burst": burst, "short_burst": short_burst}[shape]())
    want = expected(db, log_filter)
    assert len(want) > at_least
    assert walk(db, log_filter, page) == want


def test_a_walk_of_a_rare_type_returns_every_one_of_them(db):
    store.ensure_indexes(db)
    put(db, spread(sessions=40, actions=50, rare_every=200, gap=timedelta(minutes=20)))
    log_filter = LogFilter(types=("NAVIGATE",))
    want = expected(db, log_filter)
    assert len(want) == 10
    assert walk(db, log_filter, 3) == want


def test_a_walk_after_most_of_the_history_is_deleted(db, client):
    store.ensure_indexes(db)
    put(db, spread(sessions=60, gap=timedelta(hours=4)))           # ten days
    response = client.delete("/logs?to=2026-01-09T00:00:00Z")
    assert response.status_code == 200 and response.get_json()["deleted"] > 0
    want = expected(db, LogFilter())
    assert want and min(want)[0] > datetime(2026, 1, 9)
    assert walk(db, LogFilter(), 29) == want
    with SENT.aggregates() as trace:
        store.query_page(db, LogFilter(), 29)
    assert len(trace) <= 40, len(trace)      # eight empty days: a seek a day at most, past the first


def test_a_walk_over_http_follows_the_link_across_a_gap_and_a_burst(db, client):
    store.ensure_indexes(db)
    put(db, [session_log(user="u1", session="old", actions=[action("2018-10-18T21:37:28-06:00")])])
    put(db, burst(sessions=40, actions=10))
    times, path = [], "/logs?format=actions&limit=17"
    while path:
        response = client.get(path)
        assert response.status_code == 200
        times += [(row["time"], row["userId"], row["sessionId"]) for row in response.get_json()]
        link = response.headers.get("Link")
        path = link.split(";")[0].strip("<> ").split("://", 1)[-1].split("/", 1)[-1] if link else None
        path = "/" + path if path else None
    assert len(times) == len(set(times)) == 401


class Rows(monitoring.CommandListener):
    """Counts the documents each aggregate (and its getMores) returned."""

    def __init__(self):
        self.returned = []

    def started(self, event):
        pass

    def succeeded(self, event):
        cursor = event.reply.get("cursor") if event.command_name in ("aggregate", "getMore") else None
        if cursor is not None:
            self.returned.append(len(cursor.get("firstBatch", cursor.get("nextBatch", []))))

    def failed(self, event):
        pass


@pytest.fixture
def counted(mongo_url, db):
    listener = Rows()
    client = MongoClient(mongo_url, event_listeners=[listener, SENT])
    yield client[db.name], listener
    client.close()


def explained(db, pipeline):
    answer = db.command("explain", {"aggregate": store.SESSIONS, "pipeline": pipeline, "cursor": {}},
                        verbosity="executionStats")
    cursor = answer["stages"][0]["$cursor"] if "stages" in answer else answer
    stats = cursor["executionStats"]
    return stats.get("totalKeysExamined", 0) + stats.get("totalDocsExamined", 0)


@pytest.mark.parametrize("shape", ["gap", "burst", "rare", "deleted"])
def test_what_a_page_returns_and_examines_is_bounded_by_the_page(counted, client, shape):
    db, listener = counted
    store.ensure_indexes(db)
    log_filter, ratio = LogFilter(), 4
    if shape == "gap":
        put(db, [session_log(user="u3", session="old", actions=[action("2018-10-18T21:37:28-06:00")])])
        put(db, spread(sessions=60))
    elif shape == "burst":
        put(db, burst(sessions=120))
        ratio = 20
    elif shape == "rare":
        put(db, spread(sessions=60, actions=50, rare_every=200, gap=timedelta(minutes=10)))
        log_filter = LogFilter(types=("NAVIGATE",))
    else:
        put(db, spread(sessions=60, gap=timedelta(hours=4)))
        assert client.delete("/logs?to=2026-01-09T00:00:00Z").status_code == 200
    limit, after = 20, None
    for page in range(3):
        listener.returned.clear()
        with SENT.aggregates() as sent:
            rows, more = store.query_page(db, log_filter, limit, after)
        trace = [pipeline for _, pipeline in sent]
        assert rows
        # Rows sent by the database: the page and the one that says a next exists, plus a row per seek.
        seeks = sum(1 for pipeline in trace if {"$limit": 1} in pipeline and not any("$unwind" in stage for stage in pipeline))
        assert sum(listener.returned) <= limit + 1 + seeks, (page, listener.returned)
        examined = sum(explained(db, pipeline) for pipeline in trace)
        assert examined <= ratio * (limit + 1) + 4 * len(trace), (shape, page, examined, len(trace))
        if not more:
            break
        after = sort_key(rows[-1])


def short_burst(sessions=120, actions=40, start=datetime(2026, 1, 1, 10)):
    """A burst of short sessions: one every 25 s within the hour, each ``actions`` one second apart
    (the benchmark's burst in small), so that a few are active at any instant while the hour holds
    them all."""
    return [session_log(user=f"u{k % 9}", session=f"q{k}", actions=[
        action(stamp(start + timedelta(seconds=k * 25 + n)), TYPES[(k + n) % 3]) for n in range(actions)])
        for k in range(sessions)]


@pytest.mark.parametrize("start", [None, datetime(2026, 1, 1, 10, 30), datetime(2026, 1, 1, 10, 49)],
                         ids=["from the start", "from mid-burst", "from the burst's end"])
def test_a_page_in_a_burst_reads_the_sessions_active_in_its_seconds_not_the_whole_hour(db, start):
    """Every bucket of the burst begins in one hour, so the hour's start bounds nothing: a page at
    10:30 would read the ~70 buckets begun since 10:00 (the seeks too). The longest span of a
    bucket begun in the hour (kept with the hour's rollups) bounds it: only buckets that began at
    most that long before the page may still hold one of its actions."""
    store.ensure_indexes(db)
    put(db, short_burst())
    log_filter = LogFilter(start=Bound(start)) if start else LogFilter()
    limit, after = 20, None
    for page in range(3):
        with SENT.aggregates() as sent:
            rows, more = store.query_page(db, log_filter, limit, after)
        trace = bucket_reads(sent)
        assert len(rows) == limit
        examined = [explained(db, pipeline) for pipeline in trace]
        # A page of 20 actions spans about 12 s; one or two sessions are active in it, each a bucket.
        assert sum(examined) <= 2 * (limit + 1) + 8 * len(trace), (page, examined)
        after = sort_key(rows[-1])


def test_a_store_whose_rollups_lack_the_spans_reads_each_window_from_its_hour(db):
    """A store of the previous release (no ``spans`` in its extent, no spans documents): every
    window is read from its hour's start, as before, and a walk still returns every action."""
    store.ensure_indexes(db)
    put(db, short_burst(sessions=40))
    assert db.meta.find_one({"_id": "sessions"})["spans"] is True
    db.meta.update_one({"_id": "sessions"}, {"$unset": {"spans": ""}})
    db.hour_totals.delete_many({"t": "p"})
    log_filter = LogFilter(start=Bound(datetime(2026, 1, 1, 10, 10)))
    assert walk(db, log_filter, 31) == expected(db, log_filter)
    with SENT.aggregates() as sent:
        store.query_page(db, log_filter, 20)
    trace = bucket_reads(sent)
    assert any(p[0]["$match"]["first"]["$gte"] == datetime(2026, 1, 1, 10) for p in trace)


def test_a_delete_leaves_the_spans_so_a_bucket_it_narrowed_is_still_read(db, client):
    """Spans are only widened: a delete that empties one write's rollups leaves the span another
    write recorded for the bucket they share."""
    store.ensure_indexes(db)
    put(db, [session_log(user="u", session="s", actions=[action("2026-01-01T10:00:00Z"), action("2026-01-01T10:00:10Z", "VIEW")])])
    put(db, [session_log(user="u", session="s", actions=[action("2026-01-01T10:00:50Z")])])
    put(db, short_burst(sessions=4, start=datetime(2026, 1, 1, 10, 1)))
    assert client.delete("/logs?from=2026-01-01T10:00:05Z&to=2026-01-01T10:00:15Z").status_code == 200
    log_filter = LogFilter(start=Bound(datetime(2026, 1, 1, 10, 0, 45)))
    assert walk(db, log_filter, 7) == expected(db, log_filter)
    assert datetime(2026, 1, 1, 10, 0, 50) in [key[0] for key in walk(db, log_filter, 7)]


def bucket_reads(sent):
    """The pipelines of the reads of the buckets among what ``SENT.aggregates()`` saw (window reads
    and seeks; not the small reads of the rollups' spans)."""
    return [pipeline for collection, pipeline in sent if collection == "sessions"]


def _reads_of_hours(trace, low, high):
    """The window reads (not seeks) of ``trace`` whose range of ``first`` meets ``[low, high)``."""
    met = []
    for pipeline in trace:
        if any("$unwind" in stage for stage in pipeline):
            first = pipeline[0]["$match"]["first"]
            if first["$gte"] < high and low < first.get("$lt", first.get("$lte")):
                met.append(first)
    return met


def test_after_a_delete_of_most_of_the_history_a_walk_reads_no_deleted_hour(db, client):
    """``DELETE /logs?to=`` leaves the deleted windows cleared in the extent: a read crosses them
    with one seek, which finds nothing, instead of a seek a day."""
    store.ensure_indexes(db)
    put(db, spread(sessions=60, gap=timedelta(hours=4)))           # ten days from 2026-01-01
    assert client.delete("/logs?to=2026-01-09T00:00:00Z").status_code == 200
    log_filter = LogFilter()
    assert walk(db, log_filter, 29) == expected(db, log_filter)
    with SENT.aggregates() as sent:
        store.query_page(db, log_filter, 29)
    trace = bucket_reads(sent)
    assert not _reads_of_hours(trace, datetime(2026, 1, 1, 1), datetime(2026, 1, 9)), trace
    assert len(trace) <= 6, len(trace)


def test_a_walk_after_history_expired_crosses_it_with_a_seek(db):
    """With a retention, the history older than it is expired (the TTL removes it): reads take it
    as cleared, and a walk from the extent's start crosses it with one seek."""
    store.ensure_indexes(db)
    put(db, spread(sessions=60, gap=timedelta(hours=4)))
    cutoff = datetime(2026, 1, 9)
    db.sessions.delete_many({"last": {"$lt": cutoff}})             # what the TTL monitor does
    meta.set_retention(db, (datetime.utcnow() - cutoff) / timedelta(days=1))
    log_filter = LogFilter()
    assert walk(db, log_filter, 29) == expected(db, log_filter)
    with SENT.aggregates() as sent:
        store.query_page(db, log_filter, 29)
    trace = bucket_reads(sent)
    assert not _reads_of_hours(trace, datetime(2026, 1, 1, 1), datetime(2026, 1, 8, 22)), trace
    # One seek over the expired week, the seeks doubling from 15 s over the last hour before the
    # cutoff, the windows: not a seek a day (23 reads before).
    assert len(trace) <= 14, len(trace)


def test_a_backfill_into_a_cleared_range_is_read(db, client):
    """The cleared ranges are hints: data posted into one after the delete is found by the seek."""
    store.ensure_indexes(db)
    put(db, spread(sessions=60, gap=timedelta(hours=4)))
    assert client.delete("/logs?to=2026-01-09T00:00:00Z").status_code == 200
    put(db, [session_log(user="u1", session="late", actions=[action("2026-01-04T12:00:00Z"), action("2026-01-04T12:00:01Z")])])
    db.meta.update_one({"_id": "sessions"}, {"$set": {"cleared": [[datetime(2026, 1, 1, 1), datetime(2026, 1, 9)]]}})
    assert walk(db, LogFilter(), 29) == expected(db, LogFilter())
    rows, _ = store.query_page(db, LogFilter(), 5)
    assert rows[0]["sessionId"] == "late"
