"""DELETE /logs: remove matching actions bucket by bucket, in small transactions, taking them off
the hours' counts (``hours``) and the rollups (``rollups``) in the same transactions, and marking
the session-hours' values (``values``) as answered by the buckets."""
from __future__ import annotations

import bson
from pymongo import DeleteOne, UpdateOne
from pymongo.errors import ExecutionTimeout

from .. import pipelines
from ..transactions import Conflict, run_transaction
from . import hours, rollups, values
from .buckets import SESSIONS, summary
from .reads import QueryTimeout, run

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
    stages = pipelines.bucket_match_stages(log_filter) + [{"$project": {"_id": 1, "userId": 1, "sessionId": 1}}]
    # A cursor, not reads.run: the listing of a large delete is streamed, and its limit (maxTimeMS)
    # bounds the server's time on it across getMores, not the deletes done in between.
    limit = deadline.max_time_ms() if deadline is not None else None
    deleted, chunk = 0, []
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


def _delete_from_buckets(db, log_filter, buckets, deadline):
    """One batch in one transaction, retried like an ingest within the same budget."""
    budget = db.client.options.server_selection_timeout
    return run_transaction(db.client, lambda s: _delete_batch(db, log_filter, buckets, s, deadline), budget)


def _delete_batch(db, log_filter, buckets, session, deadline):
    """Every read and write names the buckets' shard key, ``userId`` and ``sessionId``, besides
    ``_id``: on a sharded cluster each goes to the shards owning those sessions (docs/SCALING.md)."""
    collection = db[SESSIONS]
    pipeline = pipelines.delete_targets_pipeline(log_filter, buckets)
    rows = run(collection, pipeline, deadline, session=session)
    targets = {row["_id"]: set(row["i"]) for row in rows}
    if not targets:
        return 0
    operations, counts, deleted = [], [], 0
    taken_from = {}
    touched = [bucket for bucket in buckets if bucket["_id"] in targets]
    for bucket in collection.find(pipelines.buckets_match(touched), session=session):
        gone = targets[bucket["_id"]]
        kept = [a for i, a in enumerate(bucket["actions"]) if i not in gone]
        deleted += len(bucket["actions"]) - len(kept)
        condition = {"userId": bucket["userId"], "sessionId": bucket["sessionId"], "_id": bucket["_id"],
                     "count": bucket["count"]}
        operations.append(UpdateOne(condition, {"$set": rewritten(kept)}) if kept else DeleteOne(condition))
        if bucket.get("w") is not None:
            key = (bucket["userId"], bucket["sessionId"])
            taken = [a for i, a in enumerate(bucket["actions"]) if i in gone]
            counts.extend(hours.removed(key, bucket["w"], taken))
            taken_from.setdefault((key, bucket["w"]), []).extend(taken)
    written = collection.bulk_write(operations, ordered=True, session=session)
    if written.matched_count + written.deleted_count != len(operations):
        raise Conflict()
    if counts:
        db[hours.HOURS].bulk_write(counts, ordered=True, session=session)
        totals = rollups.removed(db[rollups.ROLLUPS], taken_from, session)
        if totals:
            db[rollups.ROLLUPS].bulk_write(totals, ordered=True, session=session)
        # The session-hours' values cannot be taken off exactly (an entry's first or last time may
        # be the one deleted): their reads go to the buckets from now on.
        db[values.VALUES].bulk_write(values.removed(taken_from), ordered=True, session=session)
    return deleted


def rewritten(actions):
    """The fields of a bucket that now holds only ``actions``."""
    first, last, types, counts = summary(actions)
    return {"actions": actions, "count": len(actions), "bytes": len(bson.encode({"a": actions})),
            "first": first, "last": last, "types": types, "n": counts}
