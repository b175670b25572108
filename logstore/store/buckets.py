"""The write path: buckets of session actions, each bounded to one window of time.

A session is stored as bucket documents ``{userId, sessionId, b, w, count, bytes, first, last,
types, n, actions: [...]}``. Bucket ``b`` (0, 1, 2 … within its session) holds actions of the
window ``w`` only (``windows.SPAN``, whole UTC hours), up to ``BUCKET_MAX_ACTIONS`` actions or
``BUCKET_MAX_BYTES``; an action goes to the newest bucket of its own window, or opens one.
``first``/``last``/``types``/``count`` and the per-type counts ``n`` summarise the bucket, so that
a read can skip it and a count can add it up without unwinding it.

Every ingest is one multi-document transaction: read the sessions' buckets (their heads per window,
and their action ids when the batch carries ids), then one ordered bulk write that fills them and
opens new ones, one that adds the new actions to the sessions' hour counts (``hour_counts``), one
that adds them to the rollups of their UTC hours (``rollups``) and one that inserts the values
their session-hours carried (``hour_values``); the
stored extent is widened first when the batch goes past it (``meta``). Each
update is conditioned on the bucket's ``count`` as read, each new bucket is unique by ``(userId,
sessionId, b)``, so two requests racing on one session cannot both win: the loser is retried from
the read, and sees the winner's actions and ids.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import bson
from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from .. import pipelines
from .transactions import Conflict, StorageBusy, is_duplicate_key, run_transaction
from .. import windows
from . import bucket_bson, hour_counts, hour_values, meta, rollups

SESSIONS = "sessions"
BUCKET_MAX_ACTIONS = 500
BUCKET_MAX_BYTES = 2 * 1024 * 1024
# How many sessions one read of bucket heads asks for: bounds its two $in lists (SecantusDB compares
# each fetched bucket with them one value at a time; docs/DESIGN.md, emulator gaps).
HEADS_PER_READ = 200
WRITE_CONFLICT = 112


@dataclass
class IngestResult:
    sessions: int = 0
    actions: int = 0
    duplicates: int = 0

    def to_dict(self):
        return {"sessions": self.sessions, "actions": self.actions, "duplicates": self.duplicates}


@dataclass
class SessionHeads:
    """What a write needs of one stored session: its next bucket number, its newest bucket per window."""

    next_b: int = 0
    by_window: dict = field(default_factory=dict)

    def add(self, bucket):
        self.next_b = max(self.next_b, bucket["b"] + 1)
        window = bucket.get("w")       # a bucket of the previous layout has none: never appended to
        if window is not None:
            held = self.by_window.get(window)
            if held is None or bucket["b"] > held["b"]:
                self.by_window[window] = bucket


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
    merged = merge_sessions(sessions)
    budget = db.client.options.server_selection_timeout if retry_seconds is None else retry_seconds
    times = [action["t"] for actions in merged.values() for action in actions]
    if times:
        try:
            meta.widen(db, meta.around_all(times))
        except OperationFailure as exc:
            # Nothing is written yet: a conflict on the extent is worth a retry, like one on a bucket.
            # (A server shutting down or stepping down raises its own codes: 503 unavailable.)
            if exc.code != WRITE_CONFLICT:
                raise
            raise StorageBusy(f"widening the stored extent met a write conflict: {exc}") from exc
    hours_found = []  # an hour document that should not have been there: the next try upserts
    with rollups.slots.one() as k:
        tries = itertools.count()

        def attempt(session):
            # A retry moves to another sub-bucket: the conflict it follows was most likely a writer
            # of another process in this one, which may still be writing there.
            sub = k if next(tries) == 0 else rollups.another(k)
            return _write(db, merged, session, on_commit, hours_found, sub)

        return run_transaction(db.client, attempt, budget)


def merge_sessions(sessions):
    """Join the parts of a batch that name the same session, keeping the order of actions:
    ``{(userId, sessionId): [action, …]}``."""
    merged = {}
    for log_session in sessions:
        key = (log_session.user_id, log_session.session_id)
        if key in merged:
            merged[key] = merged[key] + log_session.actions
        else:
            merged[key] = log_session.actions
    return merged


@dataclass
class WritePlan:
    """Every write of one ingest, worked out before any is sent (``plan_write``).

    Every update before every insert: an ordered bulk write sends one command per run of one
    kind, so sessions alternating "fill the head, open a bucket" would cost a round trip each.
    Which runs first does not matter inside the transaction, where any failure (a conflict, a
    duplicate bucket) undoes all of them.
    """

    result: IngestResult
    appends: list = field(default_factory=list)       # UpdateOne per head filled, on its ``count`` as read
    new_buckets: list = field(default_factory=list)   # bucket documents to insert (dicts, or RawBSONDocument)
    hours: list = field(default_factory=list)         # the hours' counts (``hour_counts.added``)
    rollups: list = field(default_factory=list)       # the rollups' ``$inc`` upserts (``rollups.Changes``)
    values: list = field(default_factory=list)        # the session-hours' values inserts (``hour_values.added``)

    def bucket_operations(self):
        return self.appends + [InsertOne(document) for document in self.new_buckets]


def with_ids(merged):
    """Whether any action of the batch carries an ``id`` (then the heads read fetches the stored ids)."""
    return any("id" in action for actions in merged.values() for action in actions)


def plan_write(merged, heads, known_ids=None, upsert_hours=False, k=0, encode=True):
    """The writes that store the batch ``merged`` (``merge_sessions``) over what the read found:
    pure, no database.

    :param heads: ``{key: SessionHeads}`` of the sessions already stored (``read_heads``).
    :param known_ids: ``{key: {id, …}}``, the ids each stored session holds; with ids in the batch,
        an action whose id is stored or repeated earlier in the batch is a duplicate, not written.
    :param upsert_hours: every hour's counts as an ``$inc`` upsert (a retry after an insert met an
        hour document already there).
    :param k: the rollups' sub-bucket of this write (``rollups.slots``).
    :param encode: see ``_window_operations``.
    """
    plan = WritePlan(IngestResult(sessions=len(merged)))
    by_id = with_ids(merged)
    known_ids = known_ids or {}
    totals = rollups.Changes()
    for key, actions in merged.items():
        fresh = _new_actions(actions, known_ids.get(key)) if by_id else actions
        plan.result.duplicates += len(actions) - len(fresh)
        plan.result.actions += len(fresh)
        if not fresh:
            continue
        by_window = windows.by_window(fresh)
        appends, documents = session_writes(key, heads.get(key), by_window, encode)
        plan.appends.extend(appends)
        plan.new_buckets.extend(documents)
        stored_windows = heads[key].by_window if key in heads else ()
        plan.hours.extend(hour_counts.added(key, by_window, stored_windows, upsert=upsert_hours))
        for window, in_window in by_window.items():
            totals.add(key, window, in_window, stored_windows.get(window) if stored_windows else None)
        plan.values.extend(hour_values.added(key, by_window))
    plan.rollups = totals.added(k)
    return plan


def _write(db, merged, session, on_commit, hours_found, k=0):
    """One attempt of ``insert_sessions`` inside its transaction: read, plan, apply."""
    heads, known_ids = read_heads(db[SESSIONS], list(merged), with_ids(merged), session)
    plan = plan_write(merged, heads, known_ids, upsert_hours=bool(hours_found), k=k)
    _apply(db, plan, session, hours_found)
    if on_commit is not None:
        on_commit(session, plan.result)
    return plan.result


def _apply(db, plan, session, hours_found):
    """Send the plan's writes in ``session``; a head that changed since the read is a ``Conflict``.

    :param hours_found: gets an entry when an hour's insert met a document already there, so that
        the retry upserts.
    """
    if not (plan.appends or plan.new_buckets):
        return
    written = db[SESSIONS].bulk_write(plan.bucket_operations(), ordered=True, session=session)
    _check_heads(written, plan)
    try:
        db[hour_counts.HOURS].bulk_write(plan.hours, ordered=True, session=session)
    except (BulkWriteError, DuplicateKeyError) as exc:
        # A racing writer's new hour (its buckets are then in our snapshot's future: the retry
        # sees them) or an hour whose buckets expired before it: retried, with upserts.
        if isinstance(exc, DuplicateKeyError) or is_duplicate_key(exc):
            hours_found.append(True)
        raise
    # $inc upserts into this write's own sub-bucket (``rollups.slots``): a writer of another
    # process meeting it there is a write conflict (or a duplicate key), retried like any race.
    db[rollups.ROLLUPS].bulk_write(plan.rollups, ordered=True, session=session)
    if plan.values:
        db[hour_values.VALUES].bulk_write(plan.values, ordered=True, session=session)


def _check_heads(written, plan):
    """Every append matched its head as read (same ``count``), else another writer got there first."""
    if written.matched_count != len(plan.appends):
        raise Conflict()


def read_heads(collection, keys, with_ids, session=None):
    """Each session's ``SessionHeads`` (``{key: heads}``) and, if asked, the ids each session holds
    (``{key: {id, …}}``): one aggregate per ``HEADS_PER_READ`` sessions."""
    projection = {"userId": 1, "sessionId": 1, "b": 1, "w": 1, "count": 1, "bytes": 1, "first": 1, "last": 1}
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
            heads.setdefault(key, SessionHeads()).add(bucket)
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


def session_operations(key, heads, by_window, encode=True):
    """The writes that store the actions of one session: fill its heads, open buckets (every
    ``UpdateOne``, then every ``InsertOne``).

    :param heads: the session's ``SessionHeads``, or None for a session not stored yet.
    :param by_window: the actions to store, grouped by ``windows.by_window``.
    :param encode: see ``_window_operations``.
    """
    appends, documents = session_writes(key, heads, by_window, encode)
    return appends + [InsertOne(document) for document in documents]


def session_writes(key, heads, by_window, encode=True):
    """``session_operations`` as ``(appends, new bucket documents)``: per window, fill its head,
    open buckets."""
    heads = heads or SessionHeads()
    appends, documents, number = [], [], heads.next_b
    # Windows in time order, so that bucket numbers grow with time within a session.
    for window in sorted(by_window):
        append, opened, number = _window_operations(key, window, heads.by_window.get(window), number,
                                                    by_window[window], encode)
        appends.extend(append)
        documents.extend(opened)
    return appends, documents


def _window_operations(key, window, head, number, actions, encode):
    """Fill the window's newest bucket up to its caps, then open as many buckets as the rest needs.

    The actions are BSON-encoded once, for their sizes; with ``encode``, an operation that takes
    all of them carries that encoding as a ``RawBSONDocument``, so pymongo sends it as it is
    instead of encoding the actions a second time. ``encode=False`` gives plain dicts.

    :return: the head's update (none or one), the new bucket documents, and the next free bucket
        number of the session.
    """
    sizes = _Sizes(actions)
    whole = sizes.array if encode else None
    appends, documents = [], []
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
            appends.append(UpdateOne(condition, update))
    while index < len(actions):
        end = max(sizes.fits(index, 0, 0), index + 1)
        if whole is not None and index == 0 and end == len(actions):
            document = _raw_new_bucket(key, number, window, actions, sizes.total(0, end), whole)
        else:
            document = new_bucket(key, number, window, actions[index:end], sizes.total(index, end))
        documents.append(document)
        index, number = end, number + 1
    return appends, documents, number


class _Sizes:
    """BSON size of each action of a list: one encode of the whole list when it is clearly small.

    Small: every action gets the mean size, which is exact enough for a cap four times larger.
    ``array`` is then the encoded list itself (a BSON array, keys "0", "1", …), else None.
    """

    def __init__(self, actions):
        length, array = bucket_bson.encoded_list(actions)
        if length <= BUCKET_MAX_BYTES // 4:
            self.mean = length // len(actions) + 1
            self.each = None
            self.array = array
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


def summary(actions):
    """``first``, ``last``, the sorted ``types`` and the per-type counts ``n`` of a list of actions."""
    times = [action["t"] for action in actions]
    counts = {}
    for action in actions:
        counts[action["type"]] = counts.get(action["type"], 0) + 1
    return min(times), max(times), sorted(counts), counts


def _append_update(actions, size):
    return {"$push": {"actions": {"$each": actions}}, **_summary_update(actions, size)}


def _summary_update(actions, size):
    """What an append of ``actions`` (``size`` bytes) changes in a bucket beside its actions."""
    first, last, types, counts = summary(actions)
    return {
        "$inc": {"count": len(actions), "bytes": size, **{f"n.{kind}": number for kind, number in counts.items()}},
        "$min": {"first": first},
        "$max": {"last": last},
        "$addToSet": {"types": {"$each": types}},
    }


def new_bucket(key, number, window, actions, size):
    """A bucket document of ``actions`` (all of window ``window``), number ``number`` of its session."""
    return {**_bucket_fields(key, number, window, actions, size), "actions": actions}


def _bucket_fields(key, number, window, actions, size):
    first, last, types, counts = summary(actions)
    return {
        "userId": key[0], "sessionId": key[1], "b": number, "w": window,
        "count": len(actions), "bytes": size,
        "first": first, "last": last, "types": types, "n": counts,
    }


def _raw_new_bucket(key, number, window, actions, size, array):
    """``new_bucket`` of all ``actions`` as BSON, around their encoded ``array``.

    The ``_id`` is made here as pymongo would (a client-side ObjectId, the first field).
    """
    return bucket_bson.with_array({"_id": ObjectId(), **_bucket_fields(key, number, window, actions, size)},
                                  "actions", array)


def _raw_append_update(actions, size, array):
    """``_append_update`` of all ``actions`` as BSON, around their encoded ``array``."""
    return bucket_bson.push_each_first("actions", array, _summary_update(actions, size))
