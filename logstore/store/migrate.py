"""Bring buckets of the previous layout (no time window, no per-type counts) to this one.

Idempotent and resumable: one pass lists the sessions that hold a bucket without ``w``, then each
batch of sessions is rewritten in one transaction (their old buckets' actions go through the
ordinary write path, ``buckets.session_operations``, into windowed buckets numbered after the
session's last, and the old buckets are deleted), so a run stopped anywhere leaves every session
either old or new, never both halves, and the next run does only what is left. The layout mark is
set once a pass finds nothing left.
"""
from __future__ import annotations

import logging

from pymongo import DeleteOne, UpdateOne

from .. import spans
from ..transactions import Conflict, run_transaction
from . import extent
from .buckets import SESSIONS, SessionHeads, session_operations
from .indexes import drop_obsolete_indexes

log = logging.getLogger(__name__)

SESSIONS_PER_BATCH = 50
BATCH_SECONDS = 30


def migrate(db, max_batches=None, full=False):
    """Rewrite every session that holds a bucket of the previous layout; return how many.

    :param max_batches: stop after this many batches (a test of resuming, or a bounded step).
    :param full: also rewrite buckets of this layout whose actions left their window (written by
        a release before this one, still running while this one was deployed); a full scan.
    """
    if not full and extent.layout(db) == extent.LAYOUT:
        return 0
    keys = _sessions_to_rewrite(db, full)
    done = 0
    for batch, start in enumerate(range(0, len(keys), SESSIONS_PER_BATCH)):
        if max_batches is not None and batch >= max_batches:
            log.info("migration paused after %d sessions; %d left", done, len(keys) - done)
            return done
        chunk = keys[start:start + SESSIONS_PER_BATCH]
        run_transaction(db.client, lambda s: _rewrite(db, chunk, s), BATCH_SECONDS)
        done += len(chunk)
    drop_obsolete_indexes(db)
    extent.mark_layout(db)
    if done:
        log.info("migration done: %d sessions rewritten into windowed buckets", done)
    return done


def _out_of_layout(full):
    legacy = {"w": {"$exists": False}}
    if not full:
        return legacy
    span_ms = int(spans.SPAN.total_seconds() * 1000)
    return {"$or": [legacy, {"$expr": {"$or": [{"$lt": ["$first", "$w"]},
                                               {"$gte": ["$last", {"$add": ["$w", span_ms]}]}]}}]}


def _sessions_to_rewrite(db, full):
    keys = set()
    for bucket in db[SESSIONS].find(_out_of_layout(full), {"userId": 1, "sessionId": 1, "_id": 0}):
        keys.add((bucket["userId"], bucket["sessionId"]))
    return sorted(keys)


def _in_layout(bucket):
    window = bucket.get("w")
    return window is not None and "n" in bucket and window <= bucket["first"] and bucket["last"] < window + spans.SPAN


def _rewrite(db, keys, session):
    collection = db[SESSIONS]
    users = sorted({user for user, _ in keys})
    sessions = sorted({name for _, name in keys})
    stored = {}
    for bucket in collection.find({"sessionId": {"$in": sessions}, "userId": {"$in": users}}, session=session):
        key = (bucket["userId"], bucket["sessionId"])
        if key in keys:
            stored.setdefault(key, []).append(bucket)
    updates, inserts, deletes = [], [], []
    earliest = latest = None
    wanted = set(keys)
    for key, buckets in stored.items():
        if key not in wanted:
            continue
        heads, moved = SessionHeads(), []
        for bucket in sorted(buckets, key=lambda b: b["b"]):
            heads.next_b = max(heads.next_b, bucket["b"] + 1)
            if _in_layout(bucket):
                heads.add(bucket)
            else:
                moved.extend(bucket["actions"])
                deletes.append(DeleteOne({"_id": bucket["_id"], "count": bucket["count"]}))
        if not moved:
            continue
        for operation in session_operations(key, heads, moved, encode=False):
            (updates if isinstance(operation, UpdateOne) else inserts).append(operation)
        times = [action["t"] for action in moved]
        earliest = min(times) if earliest is None else min(earliest, *times)
        latest = max(times) if latest is None else max(latest, *times)
    if not deletes:
        return 0
    # Before the writes and outside the transaction (see extent): wider than the data is harmless.
    extent.widen(db, extent.around(earliest, latest))
    written = collection.bulk_write(deletes + updates + inserts, ordered=True, session=session)
    if written.deleted_count != len(deletes) or written.matched_count != len(updates):
        raise Conflict()
    return len(deletes)
