"""Top lists and paths from the session-hours' values (``store.hour_values``), over the wire: the hours a
range cuts, overflowed session-hours, several writes into one session-hour, deletes and the
migration, each compared with the figure worked out in Python from what is stored."""
import json
from datetime import datetime, timedelta

import pytest
from werkzeug.datastructures import MultiDict

from logstore import create_app, filters
from logstore.config import Settings
from logstore.store import hour_values, insights, meta, migrate as migration, rollups
from tests.commands import SENT
from tests.api.test_insights import paths_of, top_of
from tests.builders import action, session_log
from tests.stored import assert_values_agree

pytestmark = pytest.mark.usefixtures("server_types")


def _nav(when, frm, to):
    return action(when, "NAVIGATE", pageFrom=frm, pageTo=to)


def _view(when, item):
    return action(when, "VIEW", viewedId=item)


# Two users; a session across three hours (entry in the first, exit in the last), one written in
# three POSTs into one hour, one with many distinct items and pairs in one hour (overflows a small cap).
POSTS = [
    [session_log(user="a", session="x1", actions=[
        _nav("2021-05-01T10:50:00Z", "home", "list"), _view("2021-05-01T10:51:00Z", "i1"),
        _nav("2021-05-01T11:10:00.000250Z", "list", "item"), _view("2021-05-01T11:20:00Z", "i2"),
        _nav("2021-05-01T11:40:00Z", "item", "list"), _nav("2021-05-01T12:05:00Z", "list", "cart"),
        _view("2021-05-01T12:06:00Z", "i1")])],
    [session_log(user="b", session="y1", actions=[_nav("2021-05-01T11:05:00Z", "home", "item"),
                                                  _view("2021-05-01T11:06:00Z", "i2")])],
    [session_log(user="b", session="y1", actions=[_nav("2021-05-01T11:30:00Z", "item", "cart"),
                                                  _view("2021-05-01T11:31:00Z", "i7")])],
    [session_log(user="b", session="y1", actions=[_nav("2021-05-01T11:02:00Z", "ad", "home"),
                                                  _view("2021-05-01T11:45:00Z", "i2")])],
    [session_log(user="a", session="z1", actions=[
        *[_view(f"2021-05-01T11:{m:02d}:00Z", f"many{m}") for m in range(10)],
        *[_nav(f"2021-05-01T11:{m:02d}:30Z", f"p{m}", f"p{m + 1}") for m in range(10)]])],
]

QUERIES = [
    {},
    {"from": "2021-05-01T10:55:00Z", "to": "2021-05-01T12:05:00Z"},     # cuts the first and last hours
    {"from": "2021-05-01T11:10:00.000250Z"},                             # to the microsecond
    {"from": "2021-05-01T11:00:00Z", "to": "2021-05-01T11:59:59.999Z"},
    {"userId": "b"},
    {"sessionId": "x1", "from": "2021-05-01T11:00:00Z"},
]


@pytest.fixture
def client(db, monkeypatch):
    monkeypatch.setattr(hour_values, "CAP", 5)
    client = create_app(Settings(), database=db).test_client()
    for body in POSTS:
        assert client.post("/logs", data=json.dumps(body), content_type="application/json").status_code == 201
    return client


def _stored_rows(db, query):
    """Every stored action as the Python figures take them: (user, session, instant, type, properties)."""
    from datetime import timezone
    rows = []
    for bucket in db.sessions.find():
        for act in bucket["actions"]:
            instant = act["t"].replace(tzinfo=timezone.utc, microsecond=act["t"].microsecond + act.get("u", 0))
            rows.append((bucket["userId"], bucket["sessionId"], instant, act["type"], act["p"]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    lo = filters.parse_filter(MultiDict(query)).start
    hi = filters.parse_filter(MultiDict(query)).end

    def inside(instant):
        key = (instant.replace(tzinfo=None, microsecond=instant.microsecond // 1000 * 1000), instant.microsecond % 1000)
        return (lo is None or key >= (lo.instant, lo.micros)) and (hi is None or key <= (hi.instant, hi.micros))
    return [r for r in rows if inside(r[2]) and r[0] == query.get("userId", r[0])
            and r[1] == query.get("sessionId", r[1])]


def _get(client, path, **query):
    response = client.get(path, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _check(client, db):
    for query in QUERIES:
        rows = _stored_rows(db, query)
        for field in ("viewedId", "pageTo", "pageFrom"):
            assert _get(client, "/logs/top", field=field, **query) == top_of(rows, field, 10), (field, query)
        assert _get(client, "/logs/paths", **query) == paths_of(rows), query


def test_top_and_paths_from_the_values_match_python_across_cut_hours_writes_and_overflow(client, db):
    docs = list(db[hour_values.VALUES].find())
    # y1's hour 11: three writes, three documents; z1's hour: ten distinct items > CAP, a marker.
    assert sum(1 for d in docs if d["sessionId"] == "y1") == 3
    assert [d.get("o") for d in docs if d["sessionId"] == "z1"] == [True]
    assert_values_agree(db)
    _check(client, db)
    # x1 enters at home (10:50) and leaves from list→cart (12:05); cut at 10:55 it enters at list.
    got = _get(client, "/logs/paths", sessionId="x1", **{"from": "2021-05-01T10:55:00Z"})
    assert [e["page"] for e in got["entries"]] == ["list"] and [e["page"] for e in got["exits"]] == ["cart"]


def test_only_the_cut_hours_and_the_overflowed_session_hours_are_read_from_the_buckets(client, db):
    log_filter = filters.parse_filter(MultiDict({"from": "2021-05-01T10:55:00Z", "to": "2021-05-01T12:05:00Z"}))
    with SENT.reads() as trace:
        insights.paths(db, log_filter, 50)
    names = [name for name, _ in trace]
    assert names[0] == hour_values.VALUES and trace[0][1][0] == {"$match": {"w": {"$gte": datetime(2021, 5, 1, 11),
                                                                              "$lt": datetime(2021, 5, 1, 12)}}}
    bucket_reads = [stages for name, stages in trace if name == "sessions"]
    cut = [s for s in bucket_reads if "$or" not in json.dumps(s[:2], default=str)]
    overflowed = [s for s in bucket_reads if "$or" in json.dumps(s[:2], default=str)]
    assert len(cut) == 2 and len(overflowed) == 1      # 10:00 and 12:00, then z1's hour 11 alone
    assert overflowed[0][1]["$match"]["$or"] == [{"userId": "a", "sessionId": "z1", "w": datetime(2021, 5, 1, 11)}]


def test_a_delete_sends_the_session_hour_to_the_buckets_and_stays_exact(client, db):
    response = client.delete("/logs?sessionId=y1&from=2021-05-01T11:29:00Z&to=2021-05-01T11:31:00Z")
    assert response.status_code == 200
    assert db[hour_values.VALUES].count_documents({"sessionId": "y1", "o": True}) == 1
    assert_values_agree(db)
    _check(client, db)


def test_the_migration_fills_the_values_resumably_and_answers_stay_exact(client, db, monkeypatch):
    before = {json.dumps(q): (_get(client, "/logs/paths", **q), _get(client, "/logs/top", field="viewedId", **q))
              for q in QUERIES}
    db[hour_values.VALUES].drop()
    db[meta.META].update_one({"_id": meta.KEY}, {"$set": {"layout": meta.WITH_ROLLUPS}})
    # Layout 4: from the buckets alone, the same figures.
    assert {json.dumps(q): (_get(client, "/logs/paths", **q), _get(client, "/logs/top", field="viewedId", **q))
            for q in QUERIES} == before
    monkeypatch.setattr(migration, "SESSIONS_PER_BATCH", 1)
    migration.migrate(db, max_batches=1)
    assert meta.layout(db) == meta.WITH_ROLLUPS and meta.values_up_to(db) == ("a", "x1")
    assert set(db[hour_values.VALUES].distinct("sessionId")) == {"x1"}
    migration.migrate(db)
    assert meta.layout(db) == meta.LAYOUT and meta.values_up_to(db) is None
    # y1 now has one document per hour (its three writes counted together), z1 its marker again.
    assert db[hour_values.VALUES].count_documents({"sessionId": "y1"}) == 1
    assert_values_agree(db)
    assert {json.dumps(q): (_get(client, "/logs/paths", **q), _get(client, "/logs/top", field="viewedId", **q))
            for q in QUERIES} == before
    _check(client, db)


def test_a_delete_of_everyone_over_whole_hours_takes_their_values_away(client, db):
    """The delete of everyone removes whole hours with one delete per collection (issue 17): the
    session-hours' values of those hours go with them, or the top lists and paths would still count
    the deleted actions."""
    assert db[hour_values.VALUES].count_documents({"w": datetime(2021, 5, 1, 10)})
    # 10:00-11:00 whole (one delete per collection); the hour of ``to`` by the bucket path.
    assert client.delete("/logs?to=2021-05-01T11:00:00Z").status_code == 200
    assert db[hour_values.VALUES].count_documents({"w": datetime(2021, 5, 1, 10)}) == 0
    assert_values_agree(db)
    _check(client, db)


def test_a_store_whose_rollups_lack_the_spans_gets_them_from_the_migration(client, db):
    """A store of the release before the spans (layout 4, no ``spans`` mark, no spans documents) is
    not marked as having them by a migration that only fills the values: the migration to layout 5
    rebuilds its rollups, spans included, before it marks the store, so that the reads' span bound
    holds for its old buckets."""
    db[hour_values.VALUES].drop()
    db[rollups.ROLLUPS].delete_many({"t": rollups.SPANS})
    db[meta.META].update_one({"_id": meta.KEY}, {"$set": {"layout": meta.WITH_ROLLUPS}, "$unset": {"spans": ""}})
    assert meta.load(db).spans is False
    migration.migrate(db)
    assert meta.layout(db) == meta.LAYOUT and meta.load(db).spans is True
    longest = {}
    for doc in db[rollups.ROLLUPS].find({"t": rollups.SPANS}):
        longest[doc["w"]] = max(longest.get(doc["w"], 0), int(doc["span"]))
    buckets = list(db.sessions.find({}, {"w": 1, "first": 1, "last": 1}))
    assert buckets
    for bucket in buckets:
        assert (bucket["last"] - bucket["first"]) // timedelta(milliseconds=1) <= longest.get(bucket["w"], -1), bucket
    assert_values_agree(db)
    _check(client, db)
