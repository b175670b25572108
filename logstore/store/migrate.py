"""Bring a store of an earlier layout to this one: buckets without a time window or per-type
counts (layout 1) are rewritten, then every session's hours are counted (layout 2 had none).

Idempotent and resumable: one pass lists the sessions that hold a bucket without ``w``, then each
batch of sessions is rewritten in one transaction (their old buckets' actions go through the
ordinary write path, ``buckets.session_operations``, into windowed buckets numbered after the
session's last, and the old buckets are deleted), so a run stopped anywhere leaves every session
either old or new, never both halves, and the next run does only what is left. Hours are counted
the same way, a batch of sessions per transaction that replaces their hour documents, and the meta
document keeps the last session done (layout 2 only). Then the rollups (``rollups``, layout 3 had
none) are summed from the hours, a batch of windows per transaction that replaces their rollup
documents, the last window done kept in the meta document. Then the values of every session-hour
(``values``, layout 4 had none) are read from the buckets, a batch of sessions per transaction,
the last session done kept in the meta document. The layout mark is set once every pass
is through; until then reads take the path of the layout stored.
"""
from __future__ import annotations

import logging

from pymongo import DeleteOne, UpdateOne

from ..action_types import ACTION_TYPES
from .. import pipelines
from ..windows import SPAN, by_window
from .transactions import Conflict, run_transaction
from . import hour_counts, hour_values, meta, rollups
from .buckets import SESSIONS, SessionHeads, session_operations
from .indexes import drop_obsolete_indexes

log = logging.getLogger(__name__)

SESSIONS_PER_BATCH = 50
WINDOWS_PER_BATCH = 100
BATCH_SECONDS = 30


def migrate(db, max_batches=None, full=False):
    """Bring the store to this layout; return how many sessions were rewritten into windowed buckets.

    First every session that holds a bucket of the first layout is rewritten into windowed
    buckets; then every session's hours are counted from its buckets (``hours``), in batches whose
    progress is kept in the meta document, so that a stopped run resumes after the last batch.

    :param max_batches: stop after this many batches (a test of resuming, or a bounded step).
    :param full: also rewrite buckets of this layout whose actions left their window, and count
        every session's hours again (writes of a release before this one, still running while
        this one was deployed); a full scan.
    """
    if not full and meta.layout(db) == meta.LAYOUT:
        return 0
    budget = [max_batches]
    keys = _sessions_to_rewrite(db, full)
    done = _in_batches(db, keys, _rewrite, budget)
    if done < len(keys):
        return done
    counted = 0
    if full or not meta.at_least(meta.layout(db), meta.WITH_HOURS):
        resume = None if full else meta.migrated_up_to(db)
        keys = [key for key in _all_sessions(db) if resume is None or key > resume]
        counted = _in_batches(db, keys, _count_hours, budget, keep_progress=True)
        if counted < len(keys):
            return done
    # The rollups again where they are older than layout 4, or lack the spans of their windows'
    # buckets (a store of a release before the spans): reads only trust the spans once every
    # window has them (``meta.mark_layout``).
    stored = meta.load(db)           # None: nothing was ever stored, so no window to roll up
    if full or not meta.at_least(meta.layout(db), meta.WITH_ROLLUPS) or stored is None or not stored.spans:
        resume = None if full else meta.rolled_up_to(db)
        windows = [w for w in _all_windows(db) if resume is None or w > resume]
        if _in_batches(db, windows, _roll_up, budget, keep_progress=True, batch=WINDOWS_PER_BATCH,
                       progress=meta.mark_rolled_up_to) < len(windows):
            return done
    resume = None if full else meta.values_up_to(db)
    keys = [key for key in _all_sessions(db) if resume is None or key > resume]
    if _in_batches(db, keys, _fill_values, budget, keep_progress=True,
                   progress=meta.mark_values_up_to) < len(keys):
        return done
    drop_obsolete_indexes(db)
    meta.mark_layout(db)
    if done or counted:
        log.info("migration done: %d sessions rewritten into windowed buckets, %d sessions' hours counted",
                 done, counted)
    return done


def _in_batches(db, keys, rewrite, budget, keep_progress=False, batch=None, progress=None):
    """Run ``rewrite(db, chunk, session)`` on ``keys`` in transactions of ``batch`` (default
    SESSIONS_PER_BATCH) keys, while ``budget[0]`` (batches left; None: no limit) allows; return how
    many keys were done. ``progress(db, last key)`` keeps the progress (default: the sessions')."""
    done = 0
    batch = batch or SESSIONS_PER_BATCH
    progress = progress or meta.mark_migrated_up_to
    for start in range(0, len(keys), batch):
        if budget[0] is not None:
            if budget[0] <= 0:
                log.info("migration paused after %d sessions; %d left", done, len(keys) - done)
                return done
            budget[0] -= 1
        chunk = keys[start:start + batch]
        run_transaction(db.client, lambda s: rewrite(db, chunk, s), BATCH_SECONDS)
        if keep_progress:
            progress(db, chunk[-1])
        done += len(chunk)
    return done


def _all_sessions(db):
    keys = {(b["userId"], b["sessionId"]) for b in db[SESSIONS].find({}, {"userId": 1, "sessionId": 1, "_id": 0})}
    return sorted(keys)


def _all_windows(db):
    """Every window that holds a per-session hour (and so a bucket), in order."""
    return sorted({row["w"] for row in db[hour_counts.HOURS].find({}, {"w": 1, "_id": 0})})


def _roll_up(db, windows, session):
    """Replace the rollups of ``windows`` by the sums of their per-session hours as they are now
    (which agree with the buckets: they are written in the same transactions). A writer of this
    release racing with it writes the same documents, so one of the two is retried."""
    rows = db[hour_counts.HOURS].find({"w": {"$in": list(windows)}}, session=session)
    db[rollups.ROLLUPS].bulk_write(rollups.rebuilt(windows, rows), ordered=True, session=session)
    return len(windows)


def _fill_values(db, keys, session):
    """Replace the values (``hour_values``) of the sessions ``keys`` by those of their buckets as they
    are now. A writer of this release racing with it inserts its own write's values only: either
    its actions are in this snapshot (and its document is replaced here) or neither is."""
    wanted = set(keys)
    projection = {"userId": 1, "sessionId": 1, "w": 1, "b": 1, "actions.t": 1, "actions.u": 1,
                  "actions.type": 1, "actions.p.pageFrom": 1, "actions.p.pageTo": 1, "actions.p.viewedId": 1}
    stored = {}
    for bucket in db[SESSIONS].aggregate(pipelines.heads_pipeline(keys, projection), session=session):
        key = (bucket["userId"], bucket["sessionId"])
        if key in wanted and bucket.get("w") is not None:
            stored.setdefault(key, {}).setdefault(bucket["w"], []).append(bucket)
    operations = []
    for key in keys:
        by_window = {w: [action for bucket in sorted(found, key=lambda b: b["b"]) for action in bucket["actions"]]
                     for w, found in stored.get(key, {}).items()}
        operations.extend(hour_values.rebuilt(key, by_window))
    db[hour_values.VALUES].bulk_write(operations, ordered=True, session=session)
    return len(keys)


def _count_hours(db, keys, session):
    """Replace the hours of the sessions ``keys`` by counts of their buckets as they are now."""
    wanted = set(keys)
    projection = {"userId": 1, "sessionId": 1, "w": 1, "count": 1, "first": 1, "last": 1, "n": 1}
    group = {"_id": {"u": "$userId", "s": "$sessionId", "w": "$w"}, "count": {"$sum": "$count"},
             "first": {"$min": "$first"}, "last": {"$max": "$last"},
             **{kind: {"$sum": f"$n.{kind}"} for kind in ACTION_TYPES}}
    rows = {}
    for row in db[SESSIONS].aggregate(pipelines.heads_pipeline(keys, projection) + [{"$group": group}],
                                      session=session):
        key = (row["_id"]["u"], row["_id"]["s"])
        if key in wanted and row["_id"].get("w") is not None:
            rows.setdefault(key, []).append({**row, "w": row["_id"]["w"]})
    operations = []
    for key in keys:
        operations.extend(hour_counts.rebuilt(key, rows.get(key, ())))
    db[hour_counts.HOURS].bulk_write(operations, ordered=True, session=session)
    return len(keys)


def _out_of_layout(full):
    legacy = {"w": {"$exists": False}}
    if not full:
        return legacy
    span_ms = int(SPAN.total_seconds() * 1000)
    return {"$or": [legacy, {"$expr": {"$or": [{"$lt": ["$first", "$w"]},
                                               {"$gte": ["$last", {"$add": ["$w", span_ms]}]}]}}]}


def _sessions_to_rewrite(db, full):
    keys = set()
    for bucket in db[SESSIONS].find(_out_of_layout(full), {"userId": 1, "sessionId": 1, "_id": 0}):
        keys.add((bucket["userId"], bucket["sessionId"]))
    return sorted(keys)


def _in_layout(bucket):
    window = bucket.get("w")
    return window is not None and "n" in bucket and window <= bucket["first"] and bucket["last"] < window + SPAN


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
                # The shard key with _id: one shard, not every one (docs/SCALING.md).
                deletes.append(DeleteOne({"userId": key[0], "sessionId": key[1], "_id": bucket["_id"],
                                          "count": bucket["count"]}))
        if not moved:
            continue
        for operation in session_operations(key, heads, by_window(moved), encode=False):
            (updates if isinstance(operation, UpdateOne) else inserts).append(operation)
        times = [action["t"] for action in moved]
        earliest = min(times) if earliest is None else min(earliest, *times)
        latest = max(times) if latest is None else max(latest, *times)
    if not deletes:
        return 0
    # Before the writes and outside the transaction (see extent): wider than the data is harmless.
    meta.widen(db, meta.around(earliest, latest))
    written = collection.bulk_write(deletes + updates + inserts, ordered=True, session=session)
    if written.deleted_count != len(deletes) or written.matched_count != len(updates):
        raise Conflict()
    return len(deletes)
