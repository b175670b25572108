"""Buckets of the previous layout (no window, no per-type counts, any time span) are rewritten by
the release phase's migration: idempotent, resumable, and every action read back exactly once."""
import json
from datetime import datetime, timedelta

from logstore import create_app, store
from logstore.config import Settings
from logstore.windows import SPAN
from logstore.store import hour_counts, meta, migrate as migration
from tests.builders import action, session_log
from tests.stored import assert_hours_agree

BASE = datetime(2021, 3, 1, 22, 40)
TYPES = ("CLICK", "VIEW", "NAVIGATE")


def old_bucket(user, session, number, start, count, step):
    """A bucket as the previous release stored it: one session's actions over any span of time."""
    actions = []
    for k in range(count):
        kind = TYPES[(k + number) % 3]
        props = {"CLICK": {"locationX": k, "locationY": 1}, "VIEW": {"viewedId": f"v{k}"},
                 "NAVIGATE": {"pageFrom": "a", "pageTo": "b"}}[kind]
        actions.append({"t": start + step * k, "o": -360, "type": kind, "p": props, "id": f"{session}-{number}-{k}"})
    times = [a["t"] for a in actions]
    return {"userId": user, "sessionId": session, "b": number, "count": count, "bytes": 100 * count,
            "first": min(times), "last": max(times), "types": sorted({a["type"] for a in actions}),
            "actions": actions}


def seed_old_store(db):
    documents = []
    for s in range(12):
        user = f"u{s % 3}"
        start = BASE + timedelta(minutes=37 * s)
        documents.append(old_bucket(user, f"s{s}", 0, start, 40, timedelta(minutes=4)))       # 2 h 40 min
        documents.append(old_bucket(user, f"s{s}", 1, start + timedelta(hours=3), 25, timedelta(minutes=9)))
    db[store.SESSIONS].insert_many(documents)
    return sum(d["count"] for d in documents)


def walk(client, query=""):
    rows, url = [], "/logs?format=actions&limit=37" + query
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.get_json()
        rows += response.get_json()
        link = response.headers.get("Link")
        url = link[link.index("/logs"):link.index(">")] if link else None
    return rows


def test_an_old_store_is_migrated_and_reads_every_action_once_in_time_order(db):
    total = seed_old_store(db)
    app = create_app(Settings(), database=db)
    assert migration.migrate(db) == 12
    docs = list(db[store.SESSIONS].find())
    assert sum(d["count"] for d in docs) == total
    for doc in docs:
        assert doc["w"] <= doc["first"] <= doc["last"] < doc["w"] + SPAN
        assert sum(doc["n"].values()) == doc["count"] == len(doc["actions"])
    assert {d["b"] for d in docs if d["sessionId"] == "s0"} >= {2, 3}      # numbered after the old ones
    assert "user_last" not in db[store.SESSIONS].index_information()
    assert_hours_agree(db)
    rows = walk(app.test_client())
    assert len(rows) == total
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == total
    assert [r["time"] for r in rows] == sorted((r["time"] for r in rows), key=_instant)
    assert migration.migrate(db) == 0 and migration.migrate(db, full=True) == 0


def test_a_stopped_migration_resumes_where_it_ended(db, monkeypatch):
    total = seed_old_store(db)
    monkeypatch.setattr(migration, "SESSIONS_PER_BATCH", 5)
    assert migration.migrate(db, max_batches=1) == 5
    assert meta.layout(db) != meta.LAYOUT
    assert db[store.SESSIONS].count_documents({"w": {"$exists": False}}) == 14
    assert migration.migrate(db) == 7
    assert db[store.SESSIONS].count_documents({"w": {"$exists": False}}) == 0
    assert sum(d["count"] for d in db[store.SESSIONS].find()) == total
    assert_hours_agree(db)


def test_appends_after_the_migration_go_to_windowed_buckets(db):
    seed_old_store(db)
    migration.migrate(db)
    client = create_app(Settings(), database=db).test_client()
    when = (BASE + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.post("/logs", data=json.dumps([session_log(user="u0", session="s0", actions=[
        dict(action(when), id="new"), dict(action(when), id="s0-0-0")])]), content_type="application/json")
    assert response.get_json() == {"sessions": 1, "actions": 1, "duplicates": 1}
    docs = list(db[store.SESSIONS].find({"sessionId": "s0"}))
    assert all(d["w"] <= d["first"] <= d["last"] < d["w"] + SPAN for d in docs)
    assert_hours_agree(db)


def test_a_store_created_by_this_release_needs_no_migration(db):
    create_app(Settings(), database=db)
    assert meta.layout(db) == meta.LAYOUT
    assert migration.migrate(db) == 0


def _instant(text):
    from logstore.times import parse_time
    return parse_time(text)


def seed_store_without_hours(db):
    """A store as the release before this one left it: windowed buckets, no hours' counts."""
    client = create_app(Settings(), database=db).test_client()
    body = [session_log(user=f"u{s % 3}", session=f"s{s}", actions=[
        action((BASE + timedelta(minutes=13 * k + s)).strftime("%Y-%m-%dT%H:%M:%S-06:00"), TYPES[(k + s) % 3])
        for k in range(30)]) for s in range(12)]
    assert client.post("/logs", data=json.dumps(body), content_type="application/json").status_code == 201
    db[hour_counts.HOURS].drop()
    db[meta.META].update_one({"_id": meta.KEY}, {"$set": {"layout": 2}})
    return client


def test_a_store_without_hours_counts_them_resumably_and_stats_stay_exact(db, monkeypatch):
    client = seed_store_without_hours(db)
    query = "/logs/stats?groupBy=day,type,user&tz=%2B05:30"
    before = client.get(query).get_json()            # from the buckets alone: no hours yet
    assert sum(row["count"] for row in before) == 12 * 30
    monkeypatch.setattr(migration, "SESSIONS_PER_BATCH", 5)
    assert migration.migrate(db, max_batches=1) == 0
    # Sessions in (userId, sessionId) order: u0's four, then u1's first.
    assert set(db[hour_counts.HOURS].distinct("sessionId")) == {"s0", "s3", "s6", "s9", "s1"}
    assert meta.layout(db) == 2 and meta.migrated_up_to(db) == ("u1", "s1")
    assert client.get(query).get_json() == before     # still from the buckets: the hours are partial
    assert migration.migrate(db) == 0
    assert meta.layout(db) == meta.LAYOUT and meta.migrated_up_to(db) is None
    assert_hours_agree(db)
    assert client.get(query).get_json() == before     # now from the hours, the same counts
    db[hour_counts.HOURS].delete_many({"sessionId": "s3"})  # as if a writer of the release before had run
    assert migration.migrate(db) == 0 and db[hour_counts.HOURS].count_documents({"sessionId": "s3"}) == 0
    migration.migrate(db, full=True)
    assert_hours_agree(db)


def test_a_store_without_rollups_rolls_them_up_resumably_and_counts_stay_exact(db, monkeypatch):
    """A store of layout 3 (the hours' counts, no rollups): stats and the overview read the hours
    until the migration is through, then the rollups, with the same answers all along."""
    from logstore.store import rollups

    client = seed_store_without_hours(db)
    db[meta.META].update_one({"_id": meta.KEY}, {"$set": {"layout": 2}})
    migration.migrate(db)                                    # the hours, as a layout-3 store has them
    db[rollups.ROLLUPS].drop()
    db[meta.META].update_one({"_id": meta.KEY}, {"$set": {"layout": 3}})
    queries = ["/logs/stats?groupBy=day,type&tz=%2B05:30", "/logs/stats?types=VIEW&groupBy=type",
               "/logs/overview?tz=%2B05:30&from=2021-03-01T00:00:00Z&to=2021-03-03T00:00:00Z"]
    before = [client.get(query).get_json() for query in queries]
    assert sum(row["count"] for row in before[0]) == 12 * 30 and before[2]["sessions"] == 12
    monkeypatch.setattr(migration, "WINDOWS_PER_BATCH", 2)
    migration.migrate(db, max_batches=1)
    assert meta.layout(db) == 3 and meta.rolled_up_to(db) is not None
    assert db[rollups.ROLLUPS].count_documents({}) > 0
    # A write and a delete while the migration is half done: the rest of it counts them as they are.
    when = (BASE + timedelta(minutes=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.post("/logs", data=json.dumps([session_log(user="u9", session="late", actions=[action(when)])]),
                       content_type="application/json").status_code == 201
    assert client.delete("/logs?sessionId=s4").status_code == 200
    after = [client.get(query).get_json() for query in queries]       # still from the hours
    migration.migrate(db)
    assert meta.layout(db) == meta.LAYOUT and meta.rolled_up_to(db) is None
    assert_hours_agree(db)
    assert [client.get(query).get_json() for query in queries] == after
    assert after != before
    migration.migrate(db, full=True)
    assert_hours_agree(db)
    assert [client.get(query).get_json() for query in queries] == after


def test_an_empty_store_of_an_older_layout_is_migrated(db):
    """A store whose layout was marked but which never held an action (no extent in its meta
    document) is brought to this layout too: nothing to rebuild, and no error stops the release."""
    store.ensure_indexes(db)
    db[meta.META].update_one({"_id": meta.KEY}, {"$set": {"layout": meta.WITH_ROLLUPS}, "$unset": {"spans": ""}})
    assert meta.load(db) is None
    migration.migrate(db)
    assert meta.layout(db) == meta.LAYOUT
