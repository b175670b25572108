"""The ``meta`` document: where the stored data begins and ends (the extent), the layout version of
the buckets and how far a migration got.

The extent is widened by every write that goes past it.

A read in time order needs a place to start when the query names none, and a place to stop when
the next bucket is not known to exist. ``{_id: "sessions", start, end}`` holds window bounds that
contain every stored bucket: ``start <= w`` and ``first < end`` for each. Only ever widened
(``$min`` / ``$max``, atomic on one document), and before the write that needs it, so a bucket is
never visible outside them; a write that then fails leaves them wider than the data, and so do
deletes and expiry, which costs a read a few empty windows, never a missed action. It is kept out
of the writing transaction on purpose: concurrent transactions that all update this one document
conflict, and the first writes into a new store would answer 503 DATABASE_BUSY.

A process remembers the bounds it last saw, so a write inside them sends no update at all. The
start is the first window (a read with no ``from`` starts there, so it must be close); the end is
a day past the newest action's UTC day: data posted as it happens widens the extent once a day, not
with every new hour, so concurrent writers rarely meet on this one document, and a read pays for
the slack with a few empty windows at the end. Only data older than all before widens the start.

Besides the outer bounds the document keeps ``runs``: the disjoint ranges ``[[start, end], …]``
(sorted) that hold every bucket, so that a read crosses a gap between them (the README's 2018
example, then this year's traffic) without looking at it. Two runs closer than ``JOIN_GAP`` are
one; past ``MAX_RUNS`` the two closest are joined (a run may hold empty stretches, which a read
probes, ``store.reads``; it never misses a bucket). A write that needs a wider run reads the
document and sets the new runs conditioned on the ones it read (compare and set, retried), so
two writers widening at once both land.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from ..windows import SPAN, floor, later, window_of
from ..times import LAST_INSTANT

META = "meta"
KEY = "sessions"
# 2: buckets bounded to one window (``windows``), with per-type counts; 3: and the hours' counts
# (``hour_counts``) kept with them; 4: and the rollups of every UTC hour (``rollups``); 5: and the
# values each session-hour carried (``values``).
LAYOUT = 5
WITH_HOURS = 3
WITH_ROLLUPS = 4
WITH_VALUES = 5


DAY = timedelta(days=1)
# Ranges of data closer than this are kept as one run: a read probes such a gap (a day at a time
# at most, ``store.reads``), which costs less than a run more per write.
JOIN_GAP = timedelta(days=7)
MAX_RUNS = 64
_seen = {}


@dataclass(frozen=True)
class Extent:
    start: object   # naive UTC datetime, a window start
    end: object     # exclusive: every stored bucket's first is before it
    runs: tuple = None  # ((start, end), …): disjoint, sorted, within start/end; None: one run
    # Every window's rollups record its buckets' longest span (``rollups.SPANS``): a new store, or
    # one migrated by a release that records them. Reads bound a window by it only then.
    spans: bool = False
    # Ranges of windows probably empty: deleted for everyone (``DELETE /logs``) or expired
    # (retention), ``((start, end), …)`` sorted. Only hints: a read crosses one with one seek over
    # it (no index key when it is empty) instead of a seek a day, and a write into one (a backfill)
    # is found by that seek. Runs are never narrowed: a writer that knows a run covers its data
    # sends nothing, so a narrowed run could hide what it writes next.
    cleared: tuple = ()

    def __post_init__(self):
        if self.runs is None:
            object.__setattr__(self, "runs", ((self.start, self.end),))

    def covers(self, other):
        return all(any(lo <= start and end <= hi for lo, hi in self.runs) for start, end in other.runs)

    def union(self, other):
        return Extent(min(self.start, other.start), max(self.end, other.end), joined(self.runs + other.runs),
                      self.spans, self.cleared)

    def cleared_at(self, instant):
        """The probably empty range that holds ``instant``, or None: ``(start, end)``."""
        for start, end in self.cleared:
            if start <= instant < end:
                return start, end
            if instant < start:
                return None
        return None

    def run_at(self, instant):
        """The run that holds ``instant``, else the first one after it, else None: ``(start, end)``."""
        for start, end in self.runs:
            if instant < end:
                return start, end
        return None


def joined(runs):
    """``runs`` (any order, may overlap) as disjoint sorted runs: overlapping ones or ones closer
    than JOIN_GAP merged, and then the closest pairs while there are more than MAX_RUNS."""
    merged = []
    for start, end in sorted(runs):
        if merged and start <= later(merged[-1][1], JOIN_GAP):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    while len(merged) > MAX_RUNS:
        k = min(range(len(merged) - 1), key=lambda j: merged[j + 1][0] - merged[j][1])
        merged[k:k + 2] = [(merged[k][0], merged[k + 1][1])]
    return tuple(merged)


def around(earliest, latest):
    """The extent that holds actions from ``earliest`` to ``latest`` (naive or aware): from the
    window of the first to the end of the day after the last's."""
    return Extent(window_of(earliest), later(floor(latest, DAY), 2 * DAY))


def _cache_key(db):
    return id(db.client), db.name


def load(db, max_time_ms=None, session=None):
    """The stored extent, or None when nothing was ever stored (or the store is not migrated)."""
    options = {"max_time_ms": max_time_ms} if max_time_ms else {}
    document = db[META].find_one({"_id": KEY}, session=session, **options)
    if not document or "start" not in document:
        return None
    extent = _from_document(document)
    _seen[_cache_key(db)] = extent
    return extent


def _from_document(document):
    runs = document.get("runs")
    cleared = [(r[0], _end(r[1])) for r in document.get("cleared") or ()]
    if document.get("retention"):
        # A bucket begun an hour before the retention's cutoff ended before it: expired (or about to be).
        expired_before = floor(datetime.utcnow() - timedelta(seconds=document["retention"]), SPAN) - SPAN
        if expired_before > document["start"]:
            cleared.append((document["start"], expired_before))
    return Extent(document["start"], _end(document["end"]),
                  tuple((r[0], _end(r[1])) for r in runs) if runs else None, bool(document.get("spans")),
                  _merged(cleared))


def _merged(ranges):
    """``ranges`` sorted, overlapping or touching ones merged."""
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _without(ranges, runs):
    """``ranges`` less every part that ``runs`` cover."""
    left = list(ranges)
    for low, high in runs:
        kept = []
        for start, end in left:
            if end <= low or high <= start:
                kept.append((start, end))
                continue
            if start < low:
                kept.append((start, low))
            if high < end:
                kept.append((high, end))
        left = kept
    return tuple(left)


def clear(db, start, end):
    """Record ``[start, end)`` (whole windows) as probably empty: everyone's data there was just
    deleted. Compare and set on the hints as read, retried; given up quietly (hints only)."""
    for _ in range(20):
        document = db[META].find_one({"_id": KEY}, {"cleared": 1, "start": 1})
        if not document or "start" not in document:
            return
        held = document.get("cleared")
        ranges = _merged([(r[0], r[1]) for r in held or ()] + [(start, end)])[-MAX_RUNS:]
        condition = {"_id": KEY, "cleared": held} if held else {"_id": KEY, "cleared": {"$exists": False}}
        if db[META].update_one(condition, {"$set": {"cleared": [list(r) for r in ranges]}}).matched_count:
            _seen.pop(_cache_key(db), None)
            return


def set_retention(db, retention_days):
    """Keep the retention in the extent's document, so that reads take expired history as cleared."""
    if retention_days is None:
        db[META].update_one({"_id": KEY}, {"$unset": {"retention": ""}})
    else:
        db[META].update_one({"_id": KEY}, {"$set": {"retention": retention_days * 86400}}, upsert=True)


def _end(stored):
    """An exclusive end as it was meant: one held at the last instant (``windows.later``) comes back
    from BSON cut to the millisecond, which would leave out an action at 9999-12-31T23:59:59.999Z."""
    return datetime.max if stored >= LAST_INSTANT else stored


def around_all(times, gap=JOIN_GAP):
    """The extent that holds actions at ``times`` (a non-empty list): one run per cluster of them
    no further apart than ``gap`` (a batch of 2018 and of today widens two runs, not the years
    between)."""
    earliest, latest = min(times), max(times)
    if latest - earliest <= gap:                   # the usual batch: no sort, no window per action
        return around(earliest, latest)
    ordered = sorted(window_of(t) for t in times)
    runs, low, high = [], ordered[0], ordered[0]
    for window in ordered[1:]:
        if window > later(high, gap):
            runs.append(around(low, high))
            low = window
        high = window
    runs.append(around(low, high))
    return Extent(runs[0].start, runs[-1].end, joined(tuple(r.runs[0] for r in runs)))


def widen(db, wanted):
    """Make the stored extent cover ``wanted``: nothing to send when this process knows it does, one
    read when it does not know yet (a new process), one update only when the data goes past it."""
    key = _cache_key(db)
    known = _seen.get(key)
    if known is not None and known.covers(wanted):
        return
    for _ in range(100):
        document = db[META].find_one({"_id": KEY})
        known = _from_document(document) if document and "start" in document else None
        if known is not None and known.covers(wanted):
            _seen[key] = known
            return
        result = known.union(wanted) if known is not None else Extent(wanted.start, wanted.end, joined(wanted.runs))
        runs = [list(run) for run in result.runs]
        update = {"$min": {"start": wanted.start}, "$max": {"end": wanted.end}, "$set": {"runs": runs}}
        if document and document.get("cleared"):
            # Data written into a range once deleted: that range is no longer empty.
            held = [(r[0], r[1]) for r in document["cleared"]]
            update["$set"]["cleared"] = [list(r) for r in _without(held, wanted.runs)]
        if known is None:
            condition = {"_id": KEY, "start": {"$exists": False}}
        elif document.get("runs"):
            condition = {"_id": KEY, "runs": document["runs"]}
        else:
            condition = {"_id": KEY, "runs": {"$exists": False}}
        try:
            # Upsert only for the first write (no document, or one holding only the layout).
            if db[META].update_one(condition, update, upsert=known is None).matched_count or known is None:
                _seen[key] = result
                return
        except DuplicateKeyError:
            pass    # two first writes upserted at once, or the layout was written meanwhile: read again
    raise RuntimeError("the stored extent kept changing while widening it")


def layout(db, max_time_ms=None):
    """The stored layout number: ``LAYOUT`` once migrated or created by this release, else older
    or None."""
    options = {"max_time_ms": max_time_ms} if max_time_ms else {}
    document = db[META].find_one({"_id": KEY}, **options)
    return document.get("layout") if document else None


def at_least(layout_number, wanted):
    """Whether a stored layout number (None: none stored) is ``wanted`` or later."""
    return layout_number is not None and int(layout_number) >= wanted


def mark_layout(db):
    """This layout, with the spans of every window's buckets in its rollups (a new store, or the end
    of a migration, which rebuilt the rollups of a store without them)."""
    db[META].update_one({"_id": KEY}, {"$set": {"layout": LAYOUT, "spans": True},
                                       "$unset": {"migratedUpTo": "", "rolledUpTo": "", "valuesUpTo": ""}}, upsert=True)


def rolled_up_to(db):
    """The last window whose rollups a migration in progress has rebuilt, or None."""
    document = db[META].find_one({"_id": KEY})
    return document.get("rolledUpTo") if document else None


def mark_rolled_up_to(db, window):
    db[META].update_one({"_id": KEY}, {"$set": {"rolledUpTo": window}}, upsert=True)


def values_up_to(db):
    """The last session whose values a migration in progress has filled (``[userId, sessionId]``), or None."""
    document = db[META].find_one({"_id": KEY})
    return tuple(document["valuesUpTo"]) if document and document.get("valuesUpTo") else None


def mark_values_up_to(db, key):
    db[META].update_one({"_id": KEY}, {"$set": {"valuesUpTo": list(key)}}, upsert=True)


def migrated_up_to(db):
    """The last session a migration in progress has finished (``[userId, sessionId]``), or None."""
    document = db[META].find_one({"_id": KEY})
    return tuple(document["migratedUpTo"]) if document and document.get("migratedUpTo") else None


def mark_migrated_up_to(db, key):
    db[META].update_one({"_id": KEY}, {"$set": {"migratedUpTo": list(key)}}, upsert=True)
