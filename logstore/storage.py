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

Transactions run through ``transactions.run_transaction``: retried within a short budget.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import bson
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING, DeleteOne, InsertOne, UpdateOne
from pymongo.errors import OperationFailure

from . import pipelines
from .filters import InvalidParameter
from .transactions import Conflict, run_transaction

log = logging.getLogger(__name__)

SESSIONS = "sessions"
BUCKET_MAX_ACTIONS = 500
BUCKET_MAX_BYTES = 2 * 1024 * 1024
# How many sessions one read of bucket heads asks for: bounds its two $in lists (SecantusDB compares
# each fetched bucket with them one value at a time; docs/DESIGN.md, emulator gaps).
HEADS_PER_READ = 200

INDEXES = (
    ([("userId", ASCENDING), ("sessionId", ASCENDING), ("b", ASCENDING)], {"name": "session_bucket", "unique": True}),
    ([("userId", ASCENDING), ("last", ASCENDING)], {"name": "user_last"}),
    ([("types", ASCENDING), ("last", ASCENDING)], {"name": "types_last"}),
    # A session asked for without its user (GET /logs?sessionId=), and the first stage of the read
    # of a batch's newest buckets (pipelines.heads_pipeline).
    ([("sessionId", ASCENDING)], {"name": "session"}),
    ([("last", ASCENDING)], {"name": "last"}),
)


@dataclass
class IngestResult:
    sessions: int = 0
    actions: int = 0
    duplicates: int = 0

    def to_dict(self):
        return {"sessions": self.sessions, "actions": self.actions, "duplicates": self.duplicates}


def ensure_indexes(db, retention_days=None):
    """Create the indexes every query relies on; safe to run again (same options, nothing changes).

    :param retention_days: when set, the ``last`` index is also a TTL index: a bucket is removed
        once its newest action is older than this. A changed value is applied with ``collMod``;
        None removes the expiry (the index is rebuilt without it: MongoDB cannot unset a TTL).
    """
    collection = db[SESSIONS]
    for keys, options in INDEXES:
        if options["name"] != RETENTION_INDEX:
            collection.create_index(keys, **options)
    _ensure_retention(db, retention_days)


RETENTION_INDEX = "last"


def _ensure_retention(db, retention_days):
    collection = db[SESSIONS]
    wanted = None if retention_days is None else max(1, round(retention_days * 86400))
    existing = collection.index_information().get(RETENTION_INDEX)
    if existing is not None and existing.get("expireAfterSeconds") == wanted:
        return
    if existing is not None and wanted is not None and "expireAfterSeconds" in existing:
        db.command("collMod", SESSIONS, index={"name": RETENTION_INDEX, "expireAfterSeconds": wanted})
        log.info("retention changed to %s s (collMod)", wanted)
        return
    if existing is not None:
        collection.drop_index(RETENTION_INDEX)
    options = {"name": RETENTION_INDEX}
    if wanted is not None:
        options["expireAfterSeconds"] = wanted
    collection.create_index([("last", ASCENDING)], **options)
    log.info("index %s (re)built, expireAfterSeconds=%s", RETENTION_INDEX, wanted)


def insert_sessions(db, sessions, on_commit=None, retry_seconds=None):
    """Store validated SessionLogs atomically; skip actions whose ``id`` the session already has.

    :param on_commit: called with the pymongo session inside the transaction, after the writes,
        so that a caller's own record (an idempotency key, say) commits or fails with them.
    :param retry_seconds: how long transient failures are retried; default: the client's server
        selection timeout.
    :return: IngestResult
    :raise transactions.StorageBusy: conflicts or transient errors on every attempt within the budget.
    :raise PyMongoError: the database cannot be reached (ConnectionFailure) or failed otherwise.
    """
    merged = _merge_sessions(sessions)
    budget = db.client.options.server_selection_timeout if retry_seconds is None else retry_seconds
    return run_transaction(db.client, lambda s: _write(db, merged, s, on_commit), budget)


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
    # Every update before every insert: an ordered bulk write sends one command per run of one
    # kind, so sessions alternating "fill the head, open a bucket" cost a round trip each. The
    # writes are the same; which runs first does not matter inside the transaction, where any
    # failure (a conflict, a duplicate bucket) undoes all of them.
    updates, inserts = [], []
    for key, actions in merged.items():
        fresh = _new_actions(actions, known_ids.get(key)) if with_ids else actions
        result.duplicates += len(actions) - len(fresh)
        result.actions += len(fresh)
        if fresh:
            for operation in _bucket_operations(key, heads.get(key), fresh):
                (updates if isinstance(operation, UpdateOne) else inserts).append(operation)
    if updates or inserts:
        written = collection.bulk_write(updates + inserts, ordered=True, session=session)
        if written.matched_count != len(updates):
            raise Conflict()
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


def _bucket_operations(key, head, actions, encode=True):
    """Fill the newest bucket up to its caps, then open as many new buckets as the rest needs.

    The actions are BSON-encoded once, for their sizes; with ``encode`` (the default), an operation
    that takes all of them carries that encoding as a ``RawBSONDocument``, so pymongo sends it as
    it is instead of encoding the actions a second time. ``encode=False`` gives plain dicts.
    """
    sizes = _Sizes(actions)
    whole = sizes.array if encode else None
    operations = []
    index = 0
    if head is not None:
        count, used = head.get("count", 0), head.get("bytes", 0)
        index = sizes.fits(0, count, used)
        if index:
            # userId and sessionId add nothing to _id here, but on a sharded cluster they route
            # the update to the one shard that holds the session (docs/SCALING.md).
            condition = {"_id": head["_id"], "userId": key[0], "sessionId": key[1], "count": count}
            if whole is not None and index == len(actions):
                update = _raw_append_update(actions, sizes.total(0, index), whole)
            else:
                update = _append_update(actions[:index], sizes.total(0, index))
            operations.append(UpdateOne(condition, update))
        number = head["b"] + 1
    else:
        number = 0
    while index < len(actions):
        end = max(sizes.fits(index, 0, 0), index + 1)
        if whole is not None and index == 0 and end == len(actions):
            document = _raw_new_bucket(key, number, actions, sizes.total(0, end), whole)
        else:
            document = _new_bucket(key, number, actions[index:end], sizes.total(index, end))
        operations.append(InsertOne(document))
        index, number = end, number + 1
    return operations


class _Sizes:
    """BSON size of each action of a list: one encode of the whole list when it is clearly small.

    Small: every action gets the mean size, which is exact enough for a cap four times larger.
    ``array`` is then the encoded list itself (a BSON array, keys "0", "1", …), else None.
    """

    def __init__(self, actions):
        encoded = bson.encode({"a": actions})
        if len(encoded) <= BUCKET_MAX_BYTES // 4:
            self.mean = len(encoded) // len(actions) + 1
            self.each = None
            # {"a": [...]} is: int32 length, 0x04 "a" NUL, the array document, NUL.
            self.array = encoded[7:-1]
        else:
            self.mean = None
            self.each = [len(bson.encode(action)) for action in actions]
            self.array = None
        self.length = len(actions)

    def fits(self, start, count, used):
        """The end index of the run from ``start`` that a bucket already holding count/used can take."""
        room = BUCKET_MAX_ACTIONS - count
        if self.each is None:
            # Equal sizes: the loop below in closed form.
            return start + max(0, min(self.length - start, room, (BUCKET_MAX_BYTES - used) // self.mean))
        sizes, end = self.each, start
        while end < self.length and end - start < room and used + sizes[end] <= BUCKET_MAX_BYTES:
            used += sizes[end]
            end += 1
        return end

    def total(self, start, end):
        return self.mean * (end - start) if self.each is None else sum(self.each[start:end])


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


def _raw_new_bucket(key, number, actions, size, array):
    """``_new_bucket`` of all ``actions`` as BSON, around their encoded ``array``.

    The ``_id`` is made here as pymongo would (a client-side ObjectId, the first field).
    """
    first, last, types = _summary(actions)
    head = bson.encode({
        "_id": ObjectId(), "userId": key[0], "sessionId": key[1], "b": number,
        "count": len(actions), "bytes": size,
        "first": first, "last": last, "types": types,
    })
    return RawBSONDocument(_bson_document(head[4:-1] + b"\x04actions\x00" + array))


def _raw_append_update(actions, size, array):
    """``_append_update`` of all ``actions`` as BSON, around their encoded ``array``."""
    first, last, types = _summary(actions)
    rest = bson.encode({
        "$inc": {"count": len(actions), "bytes": size},
        "$min": {"first": first},
        "$max": {"last": last},
        "$addToSet": {"types": {"$each": types}},
    })
    push = _bson_document(b"\x03actions\x00" + _bson_document(b"\x04$each\x00" + array))
    return RawBSONDocument(_bson_document(b"\x03$push\x00" + push + rest[4:-1]))


def _bson_document(elements):
    """A BSON document of already encoded elements: int32 total length, the elements, NUL."""
    return _INT32.pack(len(elements) + 5) + elements + b"\x00"


_INT32 = struct.Struct("<i")


# --- reading ------------------------------------------------------------------------------------

def query_page(db, log_filter, limit, after=None):
    """One page of matching action rows in time order, and whether more rows follow."""
    pipeline = pipelines.page_pipeline(log_filter, limit, after)
    rows = list(db[SESSIONS].aggregate(pipeline, allowDiskUse=True))
    return rows[:limit], len(rows) > limit




# How many action rows the server sends per batch of an export: large enough to keep round trips
# few, small enough that a batch stays far below a megabyte or two in memory.
EXPORT_BATCH = 2000


def export_rows(db, log_filter):
    """Every matching action row, in storage order, as a cursor the caller iterates (and closes).

    The first batch is read here, so a database that is down fails before any byte is sent.
    """
    return db[SESSIONS].aggregate(pipelines.export_pipeline(log_filter), allowDiskUse=True,
                                  batchSize=EXPORT_BATCH)


def action_stats(db, log_filter, group_by, tz):
    """The ``stats_pipeline`` rows: ``{_id: {<field>: value, …} or None, count}``, sorted."""
    pipeline = pipelines.stats_pipeline(log_filter, group_by, tz)
    try:
        return list(db[SESSIONS].aggregate(pipeline, allowDiskUse=True))
    except OperationFailure as exc:
        # Python's tz database knew the name but the server's does not (a version apart).
        if exc.code in (40485, 40517):
            raise InvalidParameter("tz", f"the database does not know the time zone {tz!r}") from None
        raise


# --- deleting -----------------------------------------------------------------------------------

# Buckets handled per transaction: a delete of millions of actions runs as many small transactions.
DELETE_BATCH = 100


def delete_actions(db, log_filter):
    """Delete the matching actions; rewrite each touched bucket's summary, remove emptied buckets.

    Each batch of buckets is one transaction that finds the matching actions with the same
    pipeline stages as a query, then rewrites each bucket conditioned on its ``count``. An append
    racing with it (``insert_sessions`` conditions on ``count`` too) makes one side retry, so
    nothing that did not match is lost. A large delete is atomic per batch, not as a whole.

    :return: how many actions were deleted.
    """
    stages = pipelines.bucket_match_stages(log_filter) + [{"$project": {"_id": 1}}]
    cursor = db[SESSIONS].aggregate(stages, batchSize=DELETE_BATCH)
    deleted, chunk = 0, []
    with cursor:
        for bucket in cursor:
            chunk.append(bucket["_id"])
            if len(chunk) == DELETE_BATCH:
                deleted += _delete_from_buckets(db, log_filter, chunk)
                chunk = []
    if chunk:
        deleted += _delete_from_buckets(db, log_filter, chunk)
    return deleted


def _delete_from_buckets(db, log_filter, bucket_ids):
    """One batch in one transaction, retried like an ingest within the same budget."""
    budget = db.client.options.server_selection_timeout
    return run_transaction(db.client, lambda s: _delete_batch(db, log_filter, bucket_ids, s), budget)


def _delete_batch(db, log_filter, bucket_ids, session):
    collection = db[SESSIONS]
    pipeline = pipelines.delete_targets_pipeline(log_filter, bucket_ids)
    targets = {row["_id"]: set(row["i"]) for row in collection.aggregate(pipeline, session=session)}
    if not targets:
        return 0
    operations, deleted = [], 0
    for bucket in collection.find({"_id": {"$in": list(targets)}}, session=session):
        kept = [a for i, a in enumerate(bucket["actions"]) if i not in targets[bucket["_id"]]]
        deleted += len(bucket["actions"]) - len(kept)
        condition = {"_id": bucket["_id"], "count": bucket["count"]}
        operations.append(UpdateOne(condition, {"$set": _rewritten(kept)}) if kept else DeleteOne(condition))
    written = collection.bulk_write(operations, ordered=True, session=session)
    if written.matched_count + written.deleted_count != len(operations):
        raise Conflict()
    return deleted


def _rewritten(actions):
    """The fields of a bucket that now holds only ``actions``."""
    first, last, types = _summary(actions)
    return {"actions": actions, "count": len(actions), "bytes": len(bson.encode({"a": actions})),
            "first": first, "last": last, "types": types}
