"""The only module that touches collections: buckets of session actions, their indexes, and queries.

A session is stored as one or more *bucket* documents ``{userId, sessionId, b, count, bytes, first,
last, types, actions: [...]}``: bucket ``b`` fills up to ``BUCKET_MAX_ACTIONS`` actions or
``BUCKET_MAX_BYTES`` and the next actions go to bucket ``b + 1``. ``first``/``last``/``types``/
``count`` summarise the bucket so that a query can skip it without unwinding it.

Every ingest is one multi-document transaction: read the sessions' newest buckets (and their action
ids when the batch carries ids), then one ordered bulk write that fills them and opens new ones.
Each update is conditioned on the bucket's ``count`` as read, each new bucket is unique by
``(userId, sessionId, b)``, so two requests racing on one session cannot both win: the loser is
retried from the read, and sees the winner's actions and ids.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import bson
from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from . import pipelines

log = logging.getLogger(__name__)

SESSIONS = "sessions"
BUCKET_MAX_ACTIONS = 500
BUCKET_MAX_BYTES = 2 * 1024 * 1024
MAX_ATTEMPTS = 8
# How many sessions one read of bucket heads asks for: a long $or is slow on some servers.
HEADS_PER_READ = 200

INDEXES = (
    ([("userId", ASCENDING), ("sessionId", ASCENDING), ("b", ASCENDING)], {"name": "session_bucket", "unique": True}),
    ([("userId", ASCENDING), ("last", ASCENDING)], {"name": "user_last"}),
    ([("types", ASCENDING), ("last", ASCENDING)], {"name": "types_last"}),
    ([("last", ASCENDING)], {"name": "last"}),
)


@dataclass
class IngestResult:
    sessions: int = 0
    actions: int = 0
    duplicates: int = 0

    def to_dict(self):
        return {"sessions": self.sessions, "actions": self.actions, "duplicates": self.duplicates}


class _Conflict(Exception):
    """Another writer changed a bucket between our read and our write; read again."""


def ensure_indexes(db):
    """Create the indexes every query relies on; safe to run again (same options, nothing changes)."""
    collection = db[SESSIONS]
    for keys, options in INDEXES:
        collection.create_index(keys, **options)


def insert_sessions(db, sessions, on_commit=None):
    """Store validated SessionLogs atomically; skip actions whose ``id`` the session already has.

    :param on_commit: called with the pymongo session inside the transaction, after the writes,
        so that a caller's own record (an idempotency key, say) commits or fails with them.
    :return: IngestResult
    """
    merged = _merge_sessions(sessions)
    client = db.client
    for attempt in range(MAX_ATTEMPTS):
        with client.start_session() as session:
            try:
                return session.with_transaction(
                    lambda s: _write(db, merged, s, on_commit),
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"),
                )
            except (_Conflict, DuplicateKeyError):
                log.info("bucket write conflict, retrying (attempt %d)", attempt + 1)
            except BulkWriteError as exc:
                if not _is_duplicate_key(exc):
                    raise
                log.info("bucket creation raced, retrying (attempt %d)", attempt + 1)
    raise RuntimeError("could not store the batch: too many concurrent writers on the same sessions")


def _merge_sessions(sessions):
    """Join the parts of a batch that name the same session, keeping the order of actions."""
    merged = {}
    for log_session in sessions:
        key = (log_session.user_id, log_session.session_id)
        if key in merged:
            merged[key] = merged[key] + log_session.actions
        else:
            merged[key] = log_session.actions
    return merged


def _write(db, merged, session, on_commit):
    collection = db[SESSIONS]
    with_ids = any("id" in action for actions in merged.values() for action in actions)
    heads, known_ids = _read_heads(collection, list(merged), with_ids, session)
    result = IngestResult(sessions=len(merged))
    operations, updates = [], 0
    for key, actions in merged.items():
        fresh = _new_actions(actions, known_ids.get(key)) if with_ids else actions
        result.duplicates += len(actions) - len(fresh)
        result.actions += len(fresh)
        if fresh:
            head_ops = _bucket_operations(key, heads.get(key), fresh)
            updates += sum(isinstance(op, UpdateOne) for op in head_ops)
            operations.extend(head_ops)
    if operations:
        written = collection.bulk_write(operations, ordered=True, session=session)
        if written.matched_count != updates:
            raise _Conflict()
    if on_commit is not None:
        on_commit(session, result)
    return result


def _read_heads(collection, keys, with_ids, session):
    """Newest bucket of each session (``{key: head}``) and, if asked, the ids each session holds."""
    projection = {"userId": 1, "sessionId": 1, "b": 1, "count": 1, "bytes": 1}
    if with_ids:
        projection["actions.id"] = 1
    heads, known_ids = {}, {}
    for start in range(0, len(keys), HEADS_PER_READ):
        chunk = keys[start:start + HEADS_PER_READ]
        wanted = set(chunk)
        for bucket in collection.aggregate(pipelines.heads_pipeline(chunk, projection), session=session):
            key = (bucket["userId"], bucket["sessionId"])
            if key not in wanted:
                continue
            if key not in heads or bucket["b"] > heads[key]["b"]:
                heads[key] = bucket
            if with_ids:
                ids = known_ids.setdefault(key, set())
                ids.update(a["id"] for a in bucket.get("actions", ()) if "id" in a)
    return heads, known_ids


def _new_actions(actions, known):
    """The actions whose id is neither stored already nor repeated earlier in this batch."""
    seen = set(known or ())
    fresh = []
    for action in actions:
        action_id = action.get("id")
        if action_id is None:
            fresh.append(action)
        elif action_id not in seen:
            seen.add(action_id)
            fresh.append(action)
    return fresh


def _bucket_operations(key, head, actions):
    """Fill the newest bucket up to its caps, then open as many new buckets as the rest needs."""
    sizes = _action_sizes(actions)
    operations = []
    index = 0
    if head is not None:
        count, used = head.get("count", 0), head.get("bytes", 0)
        index = _fits(sizes, 0, count, used)
        if index:
            # userId and sessionId add nothing to _id here, but on a sharded cluster they route
            # the update to the one shard that holds the session (docs/SCALING.md).
            operations.append(UpdateOne(
                {"_id": head["_id"], "userId": key[0], "sessionId": key[1], "count": count},
                _append_update(actions[:index], sum(sizes[:index])),
            ))
        number = head["b"] + 1
    else:
        number = 0
    while index < len(actions):
        end = max(_fits(sizes, index, 0, 0), index + 1)
        operations.append(InsertOne(_new_bucket(key, number, actions[index:end], sum(sizes[index:end]))))
        index, number = end, number + 1
    return operations


def _fits(sizes, start, count, used):
    """The end index of the run from ``start`` that a bucket already holding count/used can take."""
    end = start
    room = BUCKET_MAX_ACTIONS - count
    while end < len(sizes) and end - start < room and used + sizes[end] <= BUCKET_MAX_BYTES:
        used += sizes[end]
        end += 1
    return end


def _action_sizes(actions):
    """BSON size of each action; one encode of the whole list when it is clearly small."""
    total = len(bson.encode({"a": actions}))
    if total <= BUCKET_MAX_BYTES // 4:
        # Small: every action gets the mean size, which is exact enough for a cap four times larger.
        mean = total // len(actions) + 1
        return [mean] * len(actions)
    return [len(bson.encode(action)) for action in actions]


def _summary(actions):
    times = [action["t"] for action in actions]
    types = sorted({action["type"] for action in actions})
    return min(times), max(times), types


def _append_update(actions, size):
    first, last, types = _summary(actions)
    return {
        "$push": {"actions": {"$each": actions}},
        "$inc": {"count": len(actions), "bytes": size},
        "$min": {"first": first},
        "$max": {"last": last},
        "$addToSet": {"types": {"$each": types}},
    }


def _new_bucket(key, number, actions, size):
    first, last, types = _summary(actions)
    return {
        "userId": key[0], "sessionId": key[1], "b": number,
        "count": len(actions), "bytes": size,
        "first": first, "last": last, "types": types,
        "actions": actions,
    }


def _is_duplicate_key(exc):
    return any(error.get("code") == 11000 for error in exc.details.get("writeErrors", ()))


# --- reading ------------------------------------------------------------------------------------

def query_page(db, log_filter, limit, after=None):
    """One page of matching action rows in time order, and whether more rows follow."""
    pipeline = pipelines.page_pipeline(log_filter, limit, after)
    rows = list(db[SESSIONS].aggregate(pipeline, allowDiskUse=True))
    return rows[:limit], len(rows) > limit


