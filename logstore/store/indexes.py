"""The indexes of every collection: those every read relies on, retention (a TTL on ``last``), the
expiry of idempotency records and rate-limit counters, and dropping indexes of old layouts."""
from __future__ import annotations

import logging

from bson import ObjectId
from pymongo import ASCENDING

from ..action_types import ACTION_TYPES
from . import hour_counts, hour_values, idempotency, meta, ratelimits, rollups
from .buckets import SESSIONS

log = logging.getLogger(__name__)

# Every read of buckets is an equality on at most one of these prefixes plus a range on ``first``
# (reads.py): one index each, the range last.
INDEXES = (
    ([("userId", ASCENDING), ("sessionId", ASCENDING), ("b", ASCENDING)], {"name": "session_bucket", "unique": True}),
    ([("first", ASCENDING)], {"name": "first"}),
    ([("types", ASCENDING), ("first", ASCENDING)], {"name": "types_first"}),
    ([("userId", ASCENDING), ("first", ASCENDING)], {"name": "user_first"}),
    # A session asked for without its user, and the first stage of the read of a batch's buckets
    # (pipelines.heads_pipeline).
    ([("sessionId", ASCENDING), ("first", ASCENDING)], {"name": "session_first"}),
)
# Indexes of the previous layout, which no query of this one uses.
OBSOLETE = ("user_last", "types_last", "session")
RETENTION_INDEX = "last"


def ensure_all_indexes(db, retention_days=None):
    """Every collection's indexes, retention included; safe to run again."""
    ensure_indexes(db, retention_days)
    idempotency.ensure_indexes(db)
    ratelimits.ensure_indexes(db)


def ensure_indexes(db, retention_days=None):
    """Create the indexes every query relies on; safe to run again (same options, nothing changes).

    A store with no buckets yet is marked as of this layout, so that it never needs migrating.

    :param retention_days: when set, the ``last`` index is also a TTL index: a bucket (and an
        hour's counts) is removed once its newest action is older than this. A changed value is applied with ``collMod``;
        None removes the expiry (the index is rebuilt without it: MongoDB cannot unset a TTL).
    """
    collection = db[SESSIONS]
    for keys, options in INDEXES:
        collection.create_index(keys, **options)
    for keys, options in hour_counts.INDEXES:
        db[hour_counts.HOURS].create_index(keys, **options)
    for keys, options in rollups.INDEXES:
        db[rollups.ROLLUPS].create_index(keys, **options)
    for keys, options in hour_values.INDEXES:
        db[hour_values.VALUES].create_index(keys, **options)
    _ensure_retention(db, SESSIONS, retention_days)
    _ensure_retention(db, hour_counts.HOURS, retention_days, index_without_ttl=False)
    _ensure_retention(db, rollups.ROLLUPS, retention_days, index_without_ttl=False)
    _ensure_retention(db, hour_values.VALUES, retention_days, index_without_ttl=False)
    empty = collection.find_one({}, {"_id": 1}) is None
    if empty:
        _make_multikey(collection)
    if meta.layout(db) is None and empty:
        meta.mark_layout(db)
    meta.set_retention(db, retention_days)


def _make_multikey(collection):
    """Turn ``types_first`` multikey in a store with no bucket yet, outside any transaction.

    The first bucket (its ``types`` is an array) makes the index multikey, a change of the index's
    own metadata: on SecantusDB, the first concurrent ingest transactions into a new store all made
    it and all but one were retried (tests/test_storage.py), and under load some ran out of their
    retry budget (503 DATABASE_BUSY). An array inserted and deleted here, once, does it instead. On
    MongoDB the index is multikey from the first bucket anyway; this only makes it so sooner. A
    reader sees nothing of it but for that moment, and it matches no filter (no ``first``)."""
    placeholder = {"_id": ObjectId(), "userId": "", "sessionId": f"multikey-{ObjectId()}", "b": -1,
                   "types": list(ACTION_TYPES)}
    collection.insert_one(placeholder)
    collection.delete_one({"_id": placeholder["_id"]})


def drop_obsolete_indexes(db):
    existing = db[SESSIONS].index_information()
    for name in OBSOLETE:
        if name in existing:
            db[SESSIONS].drop_index(name)
            log.info("index %s of the previous layout dropped", name)


def _ensure_retention(db, name, retention_days, index_without_ttl=True):
    """The ``last`` index of collection ``name``, with the retention as its TTL.

    :param index_without_ttl: keep the index when there is no retention (False: drop it then, for
        a collection no read asks by ``last``, where it would only cost writes).
    """
    collection = db[name]
    wanted = None if retention_days is None else max(1, round(retention_days * 86400))
    existing = collection.index_information().get(RETENTION_INDEX)
    if wanted is None and not index_without_ttl:
        if existing is not None:
            collection.drop_index(RETENTION_INDEX)
        return
    if existing is not None and existing.get("expireAfterSeconds") == wanted:
        return
    if existing is not None and wanted is not None and "expireAfterSeconds" in existing:
        db.command("collMod", name, index={"name": RETENTION_INDEX, "expireAfterSeconds": wanted})
        log.info("retention of %s changed to %s s (collMod)", name, wanted)
        return
    if existing is not None:
        collection.drop_index(RETENTION_INDEX)
    options = {"name": RETENTION_INDEX}
    if wanted is not None:
        options["expireAfterSeconds"] = wanted
    collection.create_index([("last", ASCENDING)], **options)
    log.info("index %s of %s (re)built, expireAfterSeconds=%s", RETENTION_INDEX, name, wanted)
