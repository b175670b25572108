"""Deterministic data for the benchmark: request bodies, and bucket documents in the stored shape.

Session ``k`` (0, 1, 2 …) belongs to user ``k % users`` and starts ``SESSION_GAP`` after session
``k - 1``; its actions are one second apart and cycle CLICK, VIEW, NAVIGATE. So the data's time
span grows with its size (the density per hour stays the same), and each user's sessions are spread
over the whole span. Bucket documents are built by the service's own validation and bucketing
code, so what is seeded is exactly what a POST of the same body would store.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from logstore import validation, windows
from logstore.store import buckets, hour_counts, hour_values, meta, rollups

BASE = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-6)))
SESSION_GAP = timedelta(minutes=5)
TYPES = ("CLICK", "VIEW", "NAVIGATE")


def user_name(number):
    return f"user{number:06d}"


def session_name(number):
    return f"sess{number:08d}"


def action(k, number, offset_seconds=0):
    """The ``number``-th action of session ``k``: plain JSON in the POST shape."""
    when = BASE + SESSION_GAP * k + timedelta(seconds=number + offset_seconds)
    kind = TYPES[number % 3]
    if kind == "CLICK":
        properties = {"locationX": (k * 31 + number) % 1920, "locationY": (k * 17 + number) % 1080}
    elif kind == "VIEW":
        properties = {"viewedId": f"item{(k * 7 + number) % 5000:05d}"}
    else:
        properties = {"pageFrom": f"page{number % 40}", "pageTo": f"page{(number + 1) % 40}"}
    return {"time": when.isoformat(), "type": kind, "properties": properties}


def session_log(k, users, actions, user=None, session=None):
    return {
        "userId": user or user_name(k % users),
        "sessionId": session or session_name(k),
        "actions": [action(k, n) for n in range(actions)],
    }


def body(sessions):
    """A POST body: JSON bytes of a list of session logs."""
    return json.dumps(sessions, separators=(",", ":")).encode()


def stored_documents(raw_body):
    """The bucket documents the service stores for ``raw_body`` into an empty collection (plain dicts)."""
    documents = []
    for key, actions in buckets.merge_sessions(validation.parse_batch(raw_body)).items():
        documents.extend(buckets.session_writes(key, None, windows.by_window(actions), encode=False)[1])
    return documents


def stored_writes(raw_body):
    """Every write operation the service sends for ``raw_body`` into an empty store, as its write
    planner makes them: the buckets', the hours' counts, the rollups and the session-hours' values
    (the CPU of a POST beyond validation, without the database)."""
    plan = buckets.plan_write(buckets.merge_sessions(validation.parse_batch(raw_body)), {})
    return plan.bucket_operations() + plan.hours + plan.rollups + plan.values


def hour_documents(documents):
    """The hours' counts (``store.hour_counts``) of bucket documents of sessions not stored before."""
    found = {}
    for bucket in documents:
        key = (bucket["userId"], bucket["sessionId"], bucket["w"])
        hour = found.setdefault(key, {"userId": key[0], "sessionId": key[1], "w": key[2], "count": 0, "n": {},
                                      "first": bucket["first"], "last": bucket["last"]})
        hour["count"] += bucket["count"]
        for kind, number in bucket["n"].items():
            hour["n"][kind] = hour["n"].get(kind, 0) + number
        hour["first"], hour["last"] = min(hour["first"], bucket["first"]), max(hour["last"], bucket["last"])
    return list(found.values())


def rollup_writes(documents, k=0):
    """The rollups' ``$inc`` upserts (``store.rollups``) of bucket documents, as a POST sends them."""
    totals = rollups.Changes()
    for bucket in documents:
        totals.add((bucket["userId"], bucket["sessionId"]), bucket["w"], bucket["actions"])
    return totals.added(k)


def value_documents(documents):
    """The session-hours' values (``store.hour_values``) of bucket documents of sessions not stored before."""
    found = {}
    for bucket in documents:
        found.setdefault((bucket["userId"], bucket["sessionId"]), {}).setdefault(bucket["w"], []).extend(bucket["actions"])
    return [doc for key, by_window in found.items() for window in sorted(by_window)
            for doc in [hour_values.document(key, window, by_window[window])] if doc is not None]


def raw_write(db, documents, hour_documents, k=0):
    """What a driver sends to store bucket documents, their hours' counts, their rollups and their
    values: three ``insert_many`` and one ``bulk_write`` of ``$inc`` upserts."""
    db[buckets.SESSIONS].insert_many(documents, ordered=False)
    db[hour_counts.HOURS].insert_many(hour_documents, ordered=False)
    db[rollups.ROLLUPS].bulk_write(rollup_writes(documents, k), ordered=False)
    carried = value_documents(documents)
    if carried:
        db[hour_values.VALUES].insert_many(carried, ordered=False)


def insert_documents(collection, documents):
    """Insert bucket documents as stored, with their hours' counts and rollups, and widen the stored extent over
    them, as a POST would."""
    raw_write(collection.database, documents, hour_documents(documents))
    wanted = meta.around(min(d["w"] for d in documents), max(d["last"] for d in documents))
    meta.widen(collection.database, wanted)


def seed(collection, start_session, end_session, users, actions_per_session, chunk=20):
    """Insert sessions ``start_session`` … ``end_session - 1`` as stored buckets; return actions added."""
    added = 0
    for first in range(start_session, end_session, chunk):
        logs = [session_log(k, users, actions_per_session) for k in range(first, min(first + chunk, end_session))]
        documents = stored_documents(body(logs))
        insert_documents(collection, documents)
        added += sum(d["count"] for d in documents)
    return added
