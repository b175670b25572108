"""Per session and hour, how many actions of each type it holds: what ``/logs/stats`` adds up.

One small document per ``(userId, sessionId, w)``, where ``w`` is the window (``windows``) of the
session's buckets it sums up: ``{userId, sessionId, w, count, n: {type: count}, first, last}``.
Written in the same transaction as the buckets (an insert for a new hour, else an ``$inc``),
changed by deletes in the same transaction as theirs, so it always agrees with them. A count reads these instead of the
buckets: a document of a few fields costs a fraction of a bucket of hundreds of actions to read,
on SecantusDB (which decodes every document it reads whole) as on MongoDB (which pages it in).

``first``/``last`` are widened by writes and left as they are by deletes; ``last`` carries the
retention TTL, so an hour's counts expire with its newest bucket (docs/DESIGN.md).
"""
from __future__ import annotations

from collections import Counter

from pymongo import ASCENDING, DeleteMany, DeleteOne, InsertOne, UpdateOne

from ..action_types import ACTION_TYPES

HOURS = "session_hours"

# Few indexes: every one is one more write per hour document, on every POST (SecantusDB: an insert
# here cost 0.55 ms with five indexes). A user's stats read its hours by ``session_hour``'s prefix;
# stats of one session without its user read the range of ``w``, like stats of everyone.
INDEXES = (
    ([("userId", ASCENDING), ("sessionId", ASCENDING), ("w", ASCENDING)], {"name": "session_hour", "unique": True}),
    ([("w", ASCENDING)], {"name": "w"}),
)


def _counted(actions):
    """``(count, {type: count}, first, last)`` of the actions of one window."""
    times = [action["t"] for action in actions]
    return len(actions), Counter([action["type"] for action in actions]), min(times), max(times)


def _key_filter(key, window):
    return {"userId": key[0], "sessionId": key[1], "w": window}


def added(key, by_window, stored_windows=(), upsert=False):
    """Writes that add the newly stored actions of session ``key`` (grouped by ``windows.by_window``)
    to its hours: an insert for an hour the session had no bucket in (``stored_windows``: those it
    had), else an ``$inc``.

    :param upsert: an ``$inc`` upsert for every hour: after an insert met an hour document already
        there (its buckets expired before it, ``docs/DESIGN.md``, retention).
    """
    operations = []
    for window in sorted(by_window):
        count, counts, first, last = _counted(by_window[window])
        if upsert or window in stored_windows:
            increments = {"count": count, **{f"n.{kind}": number for kind, number in counts.items()}}
            operations.append(UpdateOne(_key_filter(key, window), {
                "$inc": increments, "$min": {"first": first}, "$max": {"last": last}}, upsert=True))
        else:
            operations.append(InsertOne({**_key_filter(key, window), "count": count, "n": dict(counts),
                                         "first": first, "last": last}))
    return operations


def removed(key, window, actions):
    """Operations that take the deleted ``actions`` (all of ``window``) off their hour's counts and
    drop the hour once it counts nothing. An hour not built yet (a store being migrated) is left
    alone: the migration counts the buckets as they are then."""
    counts = {}
    for action in actions:
        counts[action["type"]] = counts.get(action["type"], 0) - 1
    where = _key_filter(key, window)
    return [UpdateOne(where, {"$inc": {"count": -len(actions), **{f"n.{k}": v for k, v in counts.items()}}}),
            DeleteOne({**where, "count": {"$lte": 0}})]


def rebuilt(key, rows):
    """Operations that replace the hours of session ``key`` by ``rows`` counted from its buckets:
    ``{w, count, first, last, <type>: count…}`` (the migration, and ``migrate --full``)."""
    operations = [DeleteMany({"userId": key[0], "sessionId": key[1]})]
    for row in rows:
        counts = {kind: row[kind] for kind in ACTION_TYPES if row.get(kind)}
        operations.append(InsertOne({**_key_filter(key, row["w"]), "count": row["count"], "n": counts,
                                     "first": row["first"], "last": row["last"]}))
    return operations
