"""The write planner (``buckets.plan_write``) without a database: what one ingest would write,
from the parsed batch and the heads a read found; and the hand-built BSON of its writes
(``bucket_bson``) against ``bson.encode`` of the same documents, byte for byte."""
import json
from datetime import datetime

import bson
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import InsertOne, UpdateOne

from logstore.store import bucket_bson, buckets, rollups
from logstore.store.buckets import BUCKET_MAX_ACTIONS, IngestResult, SessionHeads
from logstore.validation import parse_batch
from tests.builders import action, session_log

KEY = ("u1", "s1")
TEN = datetime(2020, 1, 1, 10)
ELEVEN = datetime(2020, 1, 1, 11)


def merged(*logs):
    return buckets.merge_sessions(parse_batch(json.dumps(list(logs)).encode()))


def at(*times, **kw):
    return session_log(user=KEY[0], session=KEY[1], actions=[dict(action(t, kind), **kw) for t, kind in times])


def plan(batch, heads=None, **options):
    return buckets.plan_write(batch, heads or {}, encode=False, **options)


def parts(operation):
    """``(filter, document, upsert)`` of a pymongo write, which has no public accessors for them."""
    return getattr(operation, "_filter", None), operation._doc, getattr(operation, "_upsert", False)


def naive(instant):
    return instant.replace(tzinfo=None)


def test_a_new_session_is_one_new_bucket_its_hour_and_the_rollups_of_the_hour():
    batch = merged(at(("2020-01-01T10:00:00Z", "CLICK"), ("2020-01-01T10:30:00Z", "VIEW")))
    written = plan(batch, k=3)
    [actions] = batch.values()
    assert written.result == IngestResult(sessions=1, actions=2, duplicates=0)
    assert written.appends == []
    [bucket] = written.new_buckets
    assert {name: bucket[name] for name in ("userId", "sessionId", "b", "w", "count", "types", "n", "actions")} == {
        "userId": "u1", "sessionId": "s1", "b": 0, "w": TEN, "count": 2, "types": ["CLICK", "VIEW"],
        "n": {"CLICK": 1, "VIEW": 1}, "actions": actions}
    assert naive(bucket["first"]) == TEN and naive(bucket["last"]) == datetime(2020, 1, 1, 10, 30)
    assert bucket["bytes"] >= len(bson.encode({"a": actions})) - 7
    [hour] = written.hours
    assert hour == InsertOne({"userId": "u1", "sessionId": "s1", "w": TEN, "count": 2, "n": {"CLICK": 1, "VIEW": 1},
                              "first": bucket["first"], "last": bucket["last"]})
    changes = rollups.Changes()
    changes.add(KEY, TEN, actions)
    assert written.rollups == changes.added(3) and len(written.rollups) == 3   # counts, sessions, span
    assert written.bucket_operations() == [InsertOne(bucket)]


def test_an_append_fills_the_head_of_its_hour_conditioned_on_its_count_as_read():
    batch = merged(at(("2020-01-01T10:40:00Z", "NAVIGATE")))
    heads = {KEY: SessionHeads(next_b=2, by_window={TEN: {"_id": "head", "b": 1, "w": TEN, "count": 7, "bytes": 900}})}
    written = plan(batch, heads)
    [actions] = batch.values()
    assert written.new_buckets == []
    [append] = written.appends
    update = buckets._append_update(actions, parts(append)[1]["$inc"]["bytes"])
    assert append == UpdateOne({"_id": "head", "userId": "u1", "sessionId": "s1", "count": 7}, update)
    assert update["$push"] == {"actions": {"$each": actions}} and update["$inc"]["count"] == 1
    # The hour is stored already: its counts get an $inc, not an insert.
    [hour] = written.hours
    assert isinstance(hour, UpdateOne) and parts(hour)[1]["$inc"] == {"count": 1, "n.NAVIGATE": 1}


def test_a_full_head_leaves_the_rest_to_a_new_bucket_numbered_after_the_session_s_last():
    times = [(f"2020-01-01T10:{m:02d}:00Z", "CLICK") for m in range(5)]
    full = {KEY: SessionHeads(next_b=4, by_window={TEN: {"_id": "h", "b": 3, "w": TEN,
                                                          "count": BUCKET_MAX_ACTIONS, "bytes": 100}})}
    written = plan(merged(at(*times)), full)
    assert written.appends == []
    assert [(b["b"], b["w"], b["count"]) for b in written.new_buckets] == [(4, TEN, 5)]
    nearly = {KEY: SessionHeads(next_b=4, by_window={TEN: {"_id": "h", "b": 3, "w": TEN,
                                                            "count": BUCKET_MAX_ACTIONS - 2, "bytes": 100}})}
    written = plan(merged(at(*times)), nearly)
    [append] = written.appends
    assert parts(append)[1]["$inc"]["count"] == 2
    assert [(b["b"], b["count"]) for b in written.new_buckets] == [(4, 3)]
    assert [a["t"].minute for a in written.new_buckets[0]["actions"]] == [2, 3, 4]


def test_a_head_of_another_hour_is_not_appended_to():
    heads = {KEY: SessionHeads(next_b=1, by_window={TEN: {"_id": "h", "b": 0, "w": TEN, "count": 1, "bytes": 100}})}
    written = plan(merged(at(("2020-01-01T11:05:00Z", "VIEW"))), heads)
    assert written.appends == []
    assert [(b["b"], b["w"]) for b in written.new_buckets] == [(1, ELEVEN)]
    assert [type(op) for op in written.hours] == [InsertOne]


def test_duplicates_by_id_are_not_planned_stored_or_repeated_in_the_batch():
    batch = merged(session_log(user="u1", session="s1", actions=[
        dict(action("2020-01-01T10:00:00Z"), id="a"), dict(action("2020-01-01T10:01:00Z"), id="b"),
        dict(action("2020-01-01T10:02:00Z"), id="b"), action("2020-01-01T10:03:00Z")]))
    written = plan(batch, known_ids={KEY: {"a"}})
    assert written.result == IngestResult(sessions=1, actions=2, duplicates=2)
    assert [a.get("id") for a in written.new_buckets[0]["actions"]] == ["b", None]
    nothing = plan(merged(at(("2020-01-01T10:00:00Z", "CLICK"), id="a")), known_ids={KEY: {"a"}})
    assert nothing.result == IngestResult(sessions=1, actions=0, duplicates=1)
    assert (nothing.appends, nothing.new_buckets, nothing.hours, nothing.rollups) == ([], [], [], [])


def test_without_ids_in_the_batch_nothing_is_a_duplicate():
    batch = merged(at(("2020-01-01T10:00:00Z", "CLICK"), ("2020-01-01T10:00:00Z", "CLICK")))
    assert not buckets.with_ids(batch)
    assert plan(batch, known_ids={KEY: {"a"}}).result.actions == 2


def test_hours_and_rollups_are_planned_per_session_and_hour():
    batch = merged(at(("2020-01-01T10:59:59Z", "CLICK"), ("2020-01-01T11:00:00Z", "VIEW")),
                   session_log(user="u2", session="s9", actions=[action("2020-01-01T11:30:00Z", "NAVIGATE")]))
    written = plan(batch, k=5)
    assert written.result == IngestResult(sessions=2, actions=3, duplicates=0)
    assert [(b["userId"], b["b"], b["w"]) for b in written.new_buckets] == [("u1", 0, TEN), ("u1", 1, ELEVEN),
                                                                           ("u2", 0, ELEVEN)]
    assert [(parts(op)[1]["userId"], parts(op)[1]["w"], parts(op)[1]["count"]) for op in written.hours] == [
        ("u1", TEN, 1), ("u1", ELEVEN, 1), ("u2", ELEVEN, 1)]
    # Three upserts per hour (its counts, its sessions, the longest span of a bucket begun in it),
    # into the write's own sub-bucket.
    assert [(parts(op)[0]["t"], parts(op)[0]["w"], parts(op)[0]["k"]) for op in written.rollups] == [
        ("n", TEN, 5), ("s", TEN, 5), ("p", TEN, 5), ("n", ELEVEN, 5), ("s", ELEVEN, 5), ("p", ELEVEN, 5)]
    assert parts(written.rollups[3])[1]["$inc"] == {"count": 2, "n.VIEW": 1, "n.NAVIGATE": 1}
    # u2's NAVIGATE alone in its bucket, u1's VIEW alone in its own: no bucket of 11:00 spans any time.
    assert parts(written.rollups[5])[1]["$max"]["span"] == 0


def test_after_an_hour_met_a_document_already_there_every_hour_is_an_upsert():
    written = plan(merged(at(("2020-01-01T10:00:00Z", "CLICK"))), upsert_hours=True)
    [hour] = written.hours
    assert isinstance(hour, UpdateOne) and parts(hour)[2]


def test_every_append_is_sent_before_every_new_bucket():
    heads = {("u2", "s2"): SessionHeads(next_b=1, by_window={TEN: {"_id": "h", "b": 0, "w": TEN, "count": 1,
                                                                   "bytes": 100}})}
    batch = merged(at(("2020-01-01T10:00:00Z", "CLICK")),
                   session_log(user="u2", session="s2", actions=[action("2020-01-01T10:00:00Z")]))
    operations = plan(batch, heads).bucket_operations()
    assert [type(op) for op in operations] == [UpdateOne, InsertOne]


def test_the_encoded_new_bucket_is_the_plain_bucket_byte_for_byte():
    batch = merged(at(("2020-01-01T10:00:00Z", "CLICK"), ("2020-01-01T10:00:01Z", "VIEW"),
                      ("2020-01-01T10:00:02Z", "NAVIGATE")))
    [raw] = buckets.plan_write(batch, {}).new_buckets
    [plain] = plan(batch).new_buckets
    assert isinstance(raw, RawBSONDocument)
    assert raw.raw == bson.encode({"_id": raw["_id"], **plain})
    # What the database stores of either (datetimes come back naive UTC).
    assert bson.decode(raw.raw) == bson.decode(bson.encode({"_id": raw["_id"], **plain}))
    assert list(bson.decode(raw.raw)) == ["_id", *plain]
    assert isinstance(raw["_id"], ObjectId)


def test_the_encoded_append_is_the_plain_update_byte_for_byte():
    batch = merged(at(("2020-01-01T10:00:00Z", "CLICK"), ("2020-01-01T10:00:05Z", "CLICK")))
    heads = {KEY: SessionHeads(next_b=1, by_window={TEN: {"_id": "h", "b": 0, "w": TEN, "count": 3, "bytes": 300}})}
    [raw] = buckets.plan_write(batch, heads).appends
    [plain] = plan(batch, heads).appends
    assert isinstance(parts(raw)[1], RawBSONDocument)
    assert parts(raw)[1].raw == bson.encode(parts(plain)[1])
    assert parts(raw)[0] == parts(plain)[0]


def test_bucket_bson_builds_what_bson_encode_builds():
    array_length, array = bucket_bson.encoded_list([1, "two", {"three": 3}])
    assert array_length == len(bson.encode({"a": [1, "two", {"three": 3}]}))
    fields = {"_id": ObjectId(), "x": 1, "y": {"z": "é"}}
    assert bucket_bson.with_array(fields, "list", array).raw == bson.encode({**fields, "list": [1, "two", {"three": 3}]})
    rest = {"$inc": {"count": 3}, "$max": {"last": 9}}
    assert bucket_bson.push_each_first("list", array, rest).raw == bson.encode(
        {"$push": {"list": {"$each": [1, "two", {"three": 3}]}}, **rest})
