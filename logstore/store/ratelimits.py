"""The ``ratelimits`` collection: the counters of every limit, one document each, shared by every
worker and dyno; a TTL index on ``expires`` removes a counter once it can no longer refuse anyone.

Two kinds live here: the per-key sliding window of ``logstore.ratelimit`` (``{_id, w, n, p,
expires}``: window number, its count, the previous window's count) and the per-client cells of
``logstore.clientlimits`` (``{_id, tat, expires}``, GCRA). Each request is one upserting pipeline
update; whether it passes is decided by the guards.
"""
from __future__ import annotations

from datetime import datetime, timezone

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

COLLECTION = "ratelimits"


def ensure_indexes(db):
    db[COLLECTION].create_index("expires", name="expires_ttl", expireAfterSeconds=0)


def bump_window(db, counter_id, window, period):
    """Count one request in ``window``, or in the counter's window if a clock ahead of ours has
    already moved it on; return (that window, the previous window's count, that window's count)."""
    expires = datetime.fromtimestamp((window + 2) * period, timezone.utc)
    same_or_later, one_before = {"$gte": ["$w", window]}, {"$eq": ["$w", window - 1]}
    update = [{"$set": {
        # One $set stage: every expression reads the document as it was before this update.
        "p": {"$switch": {"branches": [{"case": same_or_later, "then": "$p"}, {"case": one_before, "then": "$n"}],
                          "default": 0}},
        "n": {"$cond": [same_or_later, {"$add": ["$n", 1]}, 1]},
        "w": {"$max": ["$w", window]},
        "expires": {"$max": ["$expires", expires]},
    }}]
    doc = _upsert(db, counter_id, update, {"w": 1, "p": 1, "n": 1})
    return doc["w"], doc["p"], doc["n"]


def cell_update(interval, burst, now):
    """The pipeline that moves a cell's ``tat`` one ``interval`` on (no further than one past the burst)."""
    cap = (burst + 1) * interval
    moved = {"$add": [{"$max": [{"$ifNull": ["$tat", now]}, now]}, interval]}
    expires = datetime.fromtimestamp(now + cap, timezone.utc)
    return [{"$set": {"tat": {"$min": [moved, now + cap]}, "expires": expires}}]


def take_cell(db, counter_id, interval, burst, now):
    """Move the cell ``counter_id`` on by one request; return its ``tat`` after."""
    return _upsert(db, counter_id, cell_update(interval, burst, now), {"tat": 1})["tat"]


def take_cells(db, counter_ids, interval, burst, now):
    """``take_cell`` for several cells in two round trips (a bulk of upserts, then one read); their
    ``tat`` values after, in no particular order."""
    collection = db[COLLECTION]
    update = cell_update(interval, burst, now)
    try:
        collection.bulk_write([UpdateOne({"_id": i}, update, upsert=True) for i in counter_ids], ordered=False)
    except BulkWriteError as exc:
        # Upserts that raced another request's first one for the same counter: count them again
        # (the others went through).
        raced = [counter_ids[error["index"]] for error in exc.details.get("writeErrors", [])
                 if error.get("code") == 11000]
        if len(raced) != len(exc.details.get("writeErrors", [])):
            raise
        for counter_id in raced:
            collection.update_one({"_id": counter_id}, update, upsert=True)
    return [doc["tat"] for doc in collection.find({"_id": {"$in": counter_ids}}, {"tat": 1})]


def cell_tat(db, counter_id):
    """The ``tat`` of a cell, None when it has none (never counted, or expired)."""
    doc = db[COLLECTION].find_one({"_id": counter_id}, {"tat": 1})
    return None if doc is None else doc["tat"]


def _upsert(db, counter_id, update, projection):
    for _attempt in range(3):
        try:
            return db[COLLECTION].find_one_and_update({"_id": counter_id}, update, upsert=True,
                                                      return_document=ReturnDocument.AFTER, projection=projection)
        except DuplicateKeyError:
            continue  # two first requests raced to create the counter; the loser updates it
    raise RuntimeError("could not count the request against the rate limit")
