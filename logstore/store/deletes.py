"""DELETE /logs: remove matching actions bucket by bucket, in small transactions, taking them off
the hours' counts (``hours``) and the rollups (``rollups``) in the same transactions, and marking
the session-hours' values (``hour_values``) as answered by the buckets."""
from __future__ import annotations

import bson
from pymongo import DeleteOne, UpdateOne
from pymongo.errors import ExecutionTimeout

from .. import pipelines
from .transactions import Conflict, run_transaction
from ..windows import SPAN, later, window_of
from . import hour_counts, hour_values, meta, rollups
from .buckets import SESSIONS, summary
from .errors import QueryTimeout
from .reads import run

# Buckets handled per transaction: a delete of millions of actions runs as many small transactions.
DELETE_BATCH = 100


def delete_actions(db, log_filter, deadline=None):
    """Delete the matching actions; rewrite each touched bucket's summary and its hour's counts,
    remove emptied buckets.

    Each batch of buckets is one transaction that finds the matching actions with the same
    pipeline stages as a query, then rewrites each bucket conditioned on its ``count``. An append
    racing with it (``insert_sessions`` conditions on ``count`` too) makes one side retry, so
    nothing that did not match is lost. A large delete is atomic per batch, not as a whole.

    :param deadline: a ``reads.Deadline``: each read (the listing, each batch's) carries its limit.
    :return: how many actions were deleted.
    """
    deleted = _delete_whole_windows(db, log_filter, deadline)
    stages = pipelines.bucket_match_stages(log_filter) + [{"$project": {"_id": 1, "userId": 1, "sessionId": 1}}]
    # A cursor, not reads.run: the listing of a large delete is streamed, and its limit (maxTimeMS)
    # bounds the server's time on it across getMores, not the deletes done in between.
    limit = deadline.max_time_ms() if deadline is not None else None
    chunk = []
    try:
        with db[SESSIONS].aggregate(stages, batchSize=DELETE_BATCH, **({"maxTimeMS": limit} if limit else {})) as cursor:
            for bucket in cursor:
                chunk.append(bucket)
                if len(chunk) == DELETE_BATCH:
                    deleted += _delete_from_buckets(db, log_filter, chunk, deadline)
                    chunk = []
    except ExecutionTimeout:
        raise QueryTimeout() from None
    if chunk:
        deleted += _delete_from_buckets(db, log_filter, chunk, deadline)
    return deleted


# Whole windows (UTC hours) deleted per transaction by the fast path of a delete of everyone.
WINDOWS_PER_DELETE = 24


def _delete_whole_windows(db, log_filter, deadline):
    """A delete of everyone's actions (no user, session or types): the windows that lie wholly
    inside its range go with one ``delete_many`` per collection (buckets by ``first``, the hours'
    counts, the rollups and the values by ``w``), a day of windows per transaction, counted from the rollups'
    counts; only the windows ``from`` and ``to`` cut are left to the bucket by bucket path. A
    racing append into one of those windows meets the delete on a document (a write conflict, one
    side retried) or, a new session's bucket, is after the delete's snapshot and stays, with its
    counts. Stores whose rollups are not built (being migrated) take the bucket by bucket path.
    :return: how many actions were deleted."""
    if log_filter.user_id is not None or log_filter.session_id is not None or log_filter.types is not None:
        return 0
    limit = deadline.max_time_ms() if deadline is not None else None
    if not meta.at_least(meta.layout(db, limit), meta.WITH_ROLLUPS):
        return 0
    stored = meta.load(db, limit)
    if stored is None:
        return 0
    start, end = log_filter.start, log_filter.end
    lo = stored.start if start is None else (
        window_of(start.instant) if start.instant == window_of(start.instant) and not start.micros
        else later(window_of(start.instant), SPAN))
    hi = stored.end if end is None else window_of(end.instant)   # windows before to's: wholly before it
    deleted = 0
    for run_start, run_end in stored.runs:
        a, b = max(lo, run_start), min(hi, run_end)
        if a >= b:
            continue
        first = a
        while a < b:
            step = min(b, later(a, SPAN * WINDOWS_PER_DELETE))
            deleted += run_transaction(db.client, lambda s, a=a, step=step: _delete_windows(db, a, step, s, deadline),
                                       db.client.options.server_selection_timeout)
            a = step
        meta.clear(db, first, b)      # later reads cross it with one seek
    return deleted


def _delete_windows(db, lo, hi, session, deadline):
    """Every bucket, hour count, rollup and session-hour's values of the windows ``[lo, hi)``, in ``session``."""
    windows = {"w": {"$gte": lo, "$lt": hi}}
    counted = run(db[rollups.ROLLUPS], [{"$match": {"t": rollups.COUNTS, **windows}},
                                        {"$group": {"_id": None, "n": {"$sum": "$count"}}}], deadline, session=session)
    db[SESSIONS].delete_many({"first": {"$gte": lo, "$lt": hi}}, session=session)
    db[hour_counts.HOURS].delete_many(windows, session=session)
    db[rollups.ROLLUPS].delete_many(windows, session=session)
    db[hour_values.VALUES].delete_many(windows, session=session)
    return int(counted[0]["n"]) if counted else 0


def _delete_from_buckets(db, log_filter, buckets, deadline):
    """One batch in one transaction, retried like an ingest within the same budget."""
    budget = db.client.options.server_selection_timeout
    return run_transaction(db.client, lambda s: _delete_batch(db, log_filter, buckets, s, deadline), budget)


def _delete_batch(db, log_filter, buckets, session, deadline):
    """Every read and write names the buckets' shard key, ``userId`` and ``sessionId``, besides
    ``_id``: on a sharded cluster each goes to the shards owning those sessions (docs/SCALING.md).

    The batch's buckets are read again in the transaction without their actions: one the filter
    holds whole (``whole``: all its types asked, ``first`` and ``last`` inside the range; most of
    them, in a delete of history) is deleted as it is, its actions taken off the counts by its
    per-type counts ``n``. Only the others (cut by ``from``/``to`` or holding other types) are
    unwound to find their matching actions and rewritten. Each collection's writes go as updates
    first, then deletes: an ordered bulk write sends one command per run of one kind, and
    alternating them cost two round trips per bucket."""
    collection = db[SESSIONS]
    heads = list(collection.find(pipelines.buckets_match(buckets), HEAD_FIELDS, session=session))
    whole = [bucket for bucket in heads if _whole(log_filter, bucket)]
    cut = [bucket for bucket in heads if not _whole(log_filter, bucket)]
    operations, counts, deleted = [], [], 0
    taken_from = {}

    def taken_off(bucket, taken):
        if bucket.get("w") is not None:
            key = (bucket["userId"], bucket["sessionId"])
            counts.extend(hour_counts.removed(key, bucket["w"], taken))
            taken_from.setdefault((key, bucket["w"]), []).extend(taken)

    for bucket in whole:
        deleted += int(bucket["count"])
        operations.append(DeleteOne(_condition(bucket)))
        taken_off(bucket, [{"type": kind} for kind, n in bucket["n"].items() for _ in range(int(n))])
    if cut:
        rows = run(collection, pipelines.delete_targets_pipeline(log_filter, cut), deadline, session=session)
        targets = {row["_id"]: set(row["i"]) for row in rows}
        touched = [bucket for bucket in cut if bucket["_id"] in targets]
        for bucket in collection.find(pipelines.buckets_match(touched), session=session) if touched else ():
            gone = targets[bucket["_id"]]
            kept = [a for i, a in enumerate(bucket["actions"]) if i not in gone]
            deleted += len(bucket["actions"]) - len(kept)
            operations.append(UpdateOne(_condition(bucket), {"$set": rewritten(kept)}) if kept
                              else DeleteOne(_condition(bucket)))
            taken_off(bucket, [a for i, a in enumerate(bucket["actions"]) if i in gone])
    if not operations:
        return 0
    written = collection.bulk_write(_updates_first(operations), ordered=True, session=session)
    if written.matched_count + written.deleted_count != len(operations):
        raise Conflict()
    if counts:
        db[hour_counts.HOURS].bulk_write(_updates_first(counts), ordered=True, session=session)
        totals = rollups.removed(db[rollups.ROLLUPS], taken_from, session)
        if totals:
            db[rollups.ROLLUPS].bulk_write(_updates_first(totals), ordered=True, session=session)
        # The session-hours' values cannot be taken off exactly (an entry's first or last time may
        # be the one deleted): their reads go to the buckets from now on.
        db[hour_values.VALUES].bulk_write(hour_values.removed(taken_from), ordered=True, session=session)
    return deleted


# What a batch reads of its buckets before choosing how to delete from each.
HEAD_FIELDS = {"userId": 1, "sessionId": 1, "w": 1, "first": 1, "last": 1, "count": 1, "n": 1, "types": 1}


def _condition(bucket):
    """The bucket as read (its shard key, ``_id`` and ``count``): a racing append makes it miss."""
    return {"userId": bucket["userId"], "sessionId": bucket["sessionId"], "_id": bucket["_id"],
            "count": bucket["count"]}


def _whole(log_filter, bucket):
    """Whether every action of ``bucket`` matches ``log_filter`` (whose user or session the
    listing matched already): its types all asked, its ``first`` and ``last`` inside the range (as
    ``pipelines.whole_bucket``; a bucket at an edge goes action by action)."""
    if bucket.get("n") is None or bucket.get("first") is None:
        return False
    if log_filter.types is not None and not {k for k, n in bucket["n"].items() if int(n)} <= set(log_filter.types):
        return False
    start, end = log_filter.start, log_filter.end
    if start is not None and not (bucket["first"] > start.instant if start.micros else bucket["first"] >= start.instant):
        return False
    return end is None or bucket["last"] < end.instant


def _updates_first(operations):
    """``operations`` with every update before every delete, each kind in its order (unsets of a
    rollup entry after its ``$inc``s: they are updates too, and come after them as given)."""
    return ([op for op in operations if not isinstance(op, DeleteOne)]
            + [op for op in operations if isinstance(op, DeleteOne)])


def rewritten(actions):
    """The fields of a bucket that now holds only ``actions``."""
    first, last, types, counts = summary(actions)
    return {"actions": actions, "count": len(actions), "bytes": len(bson.encode({"a": actions})),
            "first": first, "last": last, "types": types, "n": counts}
