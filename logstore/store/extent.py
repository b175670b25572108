"""Where the stored data begins and ends: one small document, widened by every write that goes past it.

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
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pymongo.errors import DuplicateKeyError

from ..spans import floor, later, window_of

META = "meta"
KEY = "sessions"
# 2: buckets bounded to one window (``spans``), with per-type counts; 3: and the hours' counts
# (``hours``) kept with them; 4: and the rollups of every UTC hour (``rollups``).
LAYOUT = 4
WITH_HOURS = 3


@dataclass(frozen=True)
class Extent:
    start: object   # naive UTC datetime, a window start
    end: object     # exclusive: every stored bucket's first is before it

    def covers(self, other):
        return self.start <= other.start and other.end <= self.end

    def union(self, other):
        return Extent(min(self.start, other.start), max(self.end, other.end))


DAY = timedelta(days=1)
_seen = {}


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
    extent = Extent(document["start"], document["end"])
    _seen[_cache_key(db)] = extent
    return extent


def widen(db, wanted):
    """Make the stored extent cover ``wanted``: nothing to send when this process knows it does, one
    read when it does not know yet (a new process), one update only when the data goes past it."""
    key = _cache_key(db)
    known = _seen.get(key)
    if known is None or not known.covers(wanted):
        known = load(db)
        if known is not None and known.covers(wanted):
            return
    update = {"$min": {"start": wanted.start}, "$max": {"end": wanted.end}}
    try:
        db[META].update_one({"_id": KEY}, update, upsert=True)
    except DuplicateKeyError:
        # Two first writes upserted the document at once; the other created it: update it now.
        db[META].update_one({"_id": KEY}, update)
    _seen[key] = wanted if known is None else known.union(wanted)



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
    db[META].update_one({"_id": KEY}, {"$set": {"layout": LAYOUT}, "$unset": {"migratedUpTo": "", "rolledUpTo": ""}},
                        upsert=True)


def rolled_up_to(db):
    """The last window whose rollups a migration in progress has rebuilt, or None."""
    document = db[META].find_one({"_id": KEY})
    return document.get("rolledUpTo") if document else None


def mark_rolled_up_to(db, window):
    db[META].update_one({"_id": KEY}, {"$set": {"rolledUpTo": window}}, upsert=True)


def migrated_up_to(db):
    """The last session a migration in progress has finished (``[userId, sessionId]``), or None."""
    document = db[META].find_one({"_id": KEY})
    return tuple(document["migratedUpTo"]) if document and document.get("migratedUpTo") else None


def mark_migrated_up_to(db, key):
    db[META].update_one({"_id": KEY}, {"$set": {"migratedUpTo": list(key)}}, upsert=True)
