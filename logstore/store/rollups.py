"""Per UTC hour, what every session did in it: the rollups that stats and the overview of everyone read.

The per-session hours (``store.hour_counts``) cost one document per session and hour, so a count of
everything grows with every session ever stored. Two kinds of document per window ``w`` (one UTC
hour, ``windows``) and sub-bucket ``k`` (``SPREAD``) stand beside them, in one collection:

- counts, ``{t: "n", w, k, count, n: {type: count}, last}``: the actions of the hour by type, all
  that ``/logs/stats`` without ``userId``/``sessionId`` (and with ``types``) needs of a whole hour;
- sessions, ``{t: "s", w, k, count, s: {<session key>: {c, n: {type: count}, f, l}}, last}``: per
  session of the hour its actions ``c`` and per type ``n``, first and last time ``f``/``l``: what
  the counts need of an hour a midnight of a half-hour zone cuts, and what the overview's
  exact distinct counts (users and sessions per day, bounces, session lengths) need, a few hundred
  bytes per hour where the per-session hours cost a document each. Distinct users and sessions
  are not sums, so they are kept as the sessions themselves, per UTC hour: the grain from which
  any zone's days are put together for the hours a midnight of that zone does not cut.

- spans, ``{t: "p", w, k, span, last}``: the longest span (``last - first``, milliseconds) of a
  bucket of the hour as a write left it, and the newest ``last`` of those buckets (the retention
  TTL). A bucket begun more than ``span`` before an instant holds no action at or after it, so an
  ordered read in a burst (thousands of sessions begun in one hour) reads the buckets begun in the
  last ``span`` before its position, not every bucket since the hour's start (``store.reads``). Only
  ever widened (``$max``): deletes leave them, an upper bound still. Trusted only in a store whose
  extent says every window has them (``meta.Extent.spans``: a new store, or one migrated by this
  release); a window without any is read from its start.

A session's key (``encode_key``) is base64url of its ``[userId, sessionId]``, so that any ids are a
field name an update path can take. Sub-bucket ``k`` is the write's, not the session's: each write
in flight in a process holds its own (``_Slots``), so concurrent writers of the current hour do not
meet on one document (they would conflict and retry, a hot spot); a session's actions of one hour
may then be in several sub-buckets, and reads add them up (docs/SCALING.md).

Written in the ingest transaction as one ordered bulk write of ``$inc`` upserts (two per touched
window and sub-bucket of a batch, whatever its number of sessions), taken off by deletes in
theirs (reading the hour's sub-buckets first, so that none goes below zero), ``last`` (the
newest action of the hour) carrying the retention TTL, and rebuilt from the per-session hours by the migration to layout 4 (``store.migrate``): they agree with the buckets
the way the hours do. ``first``/``last`` of a session entry are widened by writes and left as
they are by deletes, as in the hours.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import random
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta, timezone

from pymongo import ASCENDING, DeleteMany, DeleteOne, InsertOne, UpdateOne

from ..action_types import ACTION_TYPES

ROLLUPS = "hour_totals"
COUNTS, SESSIONS, SPANS = "n", "s", "p"
# Sub-buckets per hour and kind: at most this many rollup documents per hour and kind, one per
# write in flight at once (``_Slots``), so that concurrent writers of the current hour do not all
# conflict on one document (docs/SCALING.md). Reads add the sub-buckets up, whatever their number.
SPREAD = 16

# The one index of the upserts and of every read (kind, then the range of windows); the TTL index
# on ``last`` is added by ``indexes.ensure_indexes``.
INDEXES = (
    ([("t", ASCENDING), ("w", ASCENDING), ("k", ASCENDING)], {"name": "kind_hour", "unique": True}),
)


def encode_key(user, session):
    """The field name of session ``(user, session)`` in a sessions document."""
    text = json.dumps([user, session], ensure_ascii=False, separators=(",", ":"))
    return "k" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_key(name):
    """``(userId, sessionId)`` of a field name made by ``encode_key``."""
    raw = name[1:]
    # binascii on the translated text: base64.urlsafe_b64decode costs three times as much (its
    # checks), and the overview decodes a key per session of its range.
    user, session = json.loads(binascii.a2b_base64((raw + "=" * (-len(raw) % 4)).translate(_URLSAFE)))
    return user, session


_URLSAFE = str.maketrans("-_", "+/")


class _Slots:
    """Sub-buckets for this process's concurrent writes: each write in flight holds one slot, the
    lowest free; its sub-bucket is the process's own base plus that slot (modulo ``SPREAD``), so
    two writes of this process never share a rollup document, and a store written by few writers
    at once has about as many documents per hour as writers."""

    def __init__(self):
        self.base = random.SystemRandom().randrange(SPREAD)
        self.held = set()
        self.lock = threading.Lock()

    @contextmanager
    def one(self):
        with self.lock:
            slot = next(i for i in itertools.count() if i not in self.held)
            self.held.add(slot)
        try:
            yield (self.base + slot) % SPREAD
        finally:
            with self.lock:
                self.held.discard(slot)


slots = _Slots()


def another(k):
    """A sub-bucket other than ``k``, at random: where a write retries after a conflict in ``k``."""
    return (k + random.randrange(1, SPREAD)) % SPREAD


class Changes:
    """What one ingest adds to the rollups, gathered per window, then sent as two ``$inc`` upserts
    per window (its counts and its sessions) into the sub-bucket the write holds."""

    def __init__(self):
        self.hours = {}

    def add(self, key, window, actions, head=None):
        """Actions newly stored for session ``key`` in ``window``; ``head``: the stored bucket they
        may be appended to (``{first, last}``), so that its span as widened is recorded."""
        hour = self.hours.setdefault(window, [Counter(), {}, None, 0, None])
        kinds = Counter(action["type"] for action in actions)
        times = [action["t"] for action in actions]
        hour[0].update(kinds)
        name = encode_key(*key)
        entry = hour[1].get(name)
        first, last = min(times), max(times)
        if entry is None:
            hour[1][name] = [len(actions), Counter(kinds), first, last]
        else:
            entry[0] += len(actions)
            entry[1].update(kinds)
            entry[2], entry[3] = min(entry[2], first), max(entry[3], last)
        hour[2] = last if hour[2] is None else max(hour[2], last)
        first, last = _utc(first), _utc(last)
        if head is not None and head.get("first") is not None:
            first, last = min(first, head["first"]), max(last, head["last"])
        hour[3] = max(hour[3], _milliseconds(last - first))
        hour[4] = last if hour[4] is None else max(hour[4], last)

    def added(self, k):
        """The ``$inc`` upserts of the additions into sub-bucket ``k``: counts, then sessions, per window."""
        operations = []
        for window, (kinds, entries, last, span, newest_bucket) in sorted(self.hours.items()):
            where = {"w": window, "k": k}
            operations.append(UpdateOne({"t": COUNTS, **where}, {
                "$inc": {"count": sum(kinds.values()), **{f"n.{kind}": n for kind, n in kinds.items()}},
                "$max": {"last": last}}, upsert=True))
            inc, low, high = {"count": 0}, {}, {"last": last}
            for name, (count, counts, first, newest) in entries.items():
                inc["count"] += count
                inc[f"s.{name}.c"] = count
                for kind, number in counts.items():
                    inc[f"s.{name}.n.{kind}"] = number
                low[f"s.{name}.f"] = first
                high[f"s.{name}.l"] = newest
            operations.append(UpdateOne({"t": SESSIONS, **where}, {"$inc": inc, "$min": low, "$max": high},
                                        upsert=True))
            operations.append(UpdateOne({"t": SPANS, **where}, {"$max": {"span": span, "last": newest_bucket}},
                                        upsert=True))
        return operations


def _utc(instant):
    """``instant`` as naive UTC, as the database returns it."""
    return instant.astimezone(timezone.utc).replace(tzinfo=None) if instant.tzinfo is not None else instant


def _milliseconds(delta):
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000 + (delta.microseconds % 1000 > 0)


def longest_span(collection, window, max_time_ms=None):
    """The longest span recorded for a bucket of ``window`` (a timedelta), or None when none is."""
    options = {"max_time_ms": max_time_ms} if max_time_ms else {}
    spans = [doc.get("span") for doc in collection.find({"t": SPANS, "w": window}, {"span": 1, "_id": 0}, **options)]
    spans = [int(span) for span in spans if span is not None]
    return timedelta(milliseconds=max(spans)) if spans else None


def removed(collection, taken, session):
    """The updates that take deleted actions off the rollups, and unset or drop what then counts
    nothing. ``taken``: ``{(key, window): [actions]}``.

    A session's actions of one hour may lie in several sub-buckets (written by concurrent writes),
    so the rollup documents of the windows are read in the transaction and the deleted actions
    taken off them in turn, type by type: no document or entry goes below zero. An hour not built yet (a store being migrated) has none and is left
    alone: the migration counts it as it is then."""
    windows = sorted({window for _, window in taken})
    docs = {}
    for document in collection.find({"w": {"$in": windows}}, session=session):
        docs.setdefault((document["t"], document["w"]), []).append(document)
    changes = {}      # (t, w, k) -> {path: decrement}

    def take(t, window, k, path, number):
        inc = changes.setdefault((t, window, k), {"count": 0})
        inc[path] = inc.get(path, 0) - number

    kinds_by_window = {}
    for (key, window), actions in taken.items():
        kinds_by_window.setdefault(window, Counter()).update(a["type"] for a in actions)
        name = encode_key(*key)
        left = Counter(a["type"] for a in actions)
        for document in sorted(docs.get((SESSIONS, window), ()), key=lambda d: d["k"]):
            entry = document["s"].get(name)
            if not entry:
                continue
            for kind in list(left):
                took = min(int(entry.get("n", {}).get(kind, 0)), left[kind])
                if took:
                    left[kind] -= took
                    take(SESSIONS, window, document["k"], f"s.{name}.c", took)
                    take(SESSIONS, window, document["k"], f"s.{name}.n.{kind}", took)
                    changes[(SESSIONS, window, document["k"])]["count"] -= took
    for window, kinds in kinds_by_window.items():
        for document in sorted(docs.get((COUNTS, window), ()), key=lambda d: d["k"]):
            for kind in list(kinds):
                took = min(int(document["n"].get(kind, 0)), kinds[kind])
                if took:
                    kinds[kind] -= took
                    take(COUNTS, window, document["k"], f"n.{kind}", took)
                    changes[(COUNTS, window, document["k"])]["count"] -= took
    operations = []
    for (t, window, k), inc in sorted(changes.items()):
        where = {"t": t, "w": window, "k": k}
        operations.append(UpdateOne(where, {"$inc": inc}))
        if t == SESSIONS:
            for path in inc:
                if path.endswith(".c"):
                    entry = path[:-2]
                    operations.append(UpdateOne({**where, path: {"$lte": 0}}, {"$unset": {entry: ""}}))
        operations.append(DeleteOne({**where, "count": {"$lte": 0}}))
    return operations


def rebuilt(windows, hour_rows):
    """Operations that replace the rollups of ``windows`` by ``hour_rows``, the per-session hours
    (``store.hour_counts`` documents) of those windows (the migration)."""
    operations = [DeleteMany({"w": window}) for window in windows]
    documents = {}
    for row in hour_rows:
        key = (row["userId"], row["sessionId"])
        k = 0
        counts = documents.setdefault((COUNTS, row["w"], k), {"t": COUNTS, "w": row["w"], "k": k, "count": 0,
                                                              "n": Counter(), "last": row["last"]})
        sessions = documents.setdefault((SESSIONS, row["w"], k), {"t": SESSIONS, "w": row["w"], "k": k, "count": 0,
                                                                  "s": {}, "last": row["last"]})
        number = int(row["count"])
        kinds = {kind: int(n) for kind, n in row["n"].items() if int(n)}
        for document in (counts, sessions):
            document["count"] += number
            document["last"] = max(document["last"], row["last"])
        counts["n"].update(kinds)
        # A session's first and last of the hour bound the span of each of its buckets in it.
        spans = documents.setdefault((SPANS, row["w"], k), {"t": SPANS, "w": row["w"], "k": k, "span": 0,
                                                            "last": row["last"]})
        spans["span"] = max(spans["span"], _milliseconds(row["last"] - row["first"]))
        spans["last"] = max(spans["last"], row["last"])
        sessions["s"][encode_key(*key)] = {"c": number, "n": kinds, "f": row["first"], "l": row["last"]}
    for document in documents.values():
        if document["t"] == SPANS or document["count"] > 0:
            if "n" in document:
                document["n"] = dict(document["n"])
            operations.append(InsertOne(document))
    return operations


def counts_pipeline(lo, hi):
    """Per window in ``[lo, hi)`` (None: unbounded), the actions of each type: rows ``{_id: {w},
    <type>: count, …}`` as ``pipelines.hours_stats_pipeline`` gives them, from the counts documents."""
    return [{"$match": {"t": COUNTS, **_windows(lo, hi)}},
            {"$group": {"_id": {"w": "$w"}, **{kind: {"$sum": f"$n.{kind}"} for kind in ACTION_TYPES}}}]


def sessions_pipeline(lo, hi, windows=None):
    """The sessions documents of the windows ``[lo, hi)`` (None: unbounded), or of ``windows``."""
    return [{"$match": {"t": SESSIONS, **({"w": {"$in": list(windows)}} if windows is not None else _windows(lo, hi))}}]


def sessions_rows(collection, pipeline, run, deadline):
    """The per-session hours of the sessions documents ``pipeline`` reads, as ``store.hour_counts`` has
    them (``{userId, sessionId, w, count, n: {type: count}, first, last}``): a session's entries of
    one window in several sub-buckets merged into one."""
    merged = {}
    for document in run(collection, pipeline, deadline):
        window = document["w"]
        for name, entry in document["s"].items():
            key = (name, window)
            held = merged.get(key)
            if held is None:
                merged[key] = [int(entry["c"]), entry.get("n", {}), entry["f"], entry["l"]]
                continue
            counts = Counter({kind: int(n) for kind, n in held[1].items()})
            counts.update({kind: int(n) for kind, n in entry.get("n", {}).items()})
            held[0] += int(entry["c"])
            held[1] = dict(counts)
            held[2], held[3] = min(held[2], entry["f"]), max(held[3], entry["l"])
    rows = []
    for (name, window), (count, counts, first, last) in merged.items():
        if count <= 0:
            continue
        user, session = decode_key(name)
        rows.append({"userId": user, "sessionId": session, "w": window, "count": count, "n": counts,
                     "first": first, "last": last})
    return rows


def _windows(lo, hi):
    window = {**({"$gte": lo} if lo is not None else {}), **({"$lt": hi} if hi is not None else {})}
    return {"w": window} if window else {}
