"""Where the stored data begins and ends: one small document, widened by every write that goes past it.

A read in time order needs a place to start when the query names none, and a place to stop when
the next bucket is not known to exist. ``{_id: "sessions", start, end}`` holds window bounds that
contain every stored bucket: ``start <= w`` and ``first < end`` for each. Only ever widened
(``$min`` / ``$max``), inside the writing transaction, so a bucket is never visible outside them;
deletes and expiry leave them wide, which costs a read a few empty windows, never a missed action.

A process remembers the bounds it last saw, so a write inside them sends no update at all. The
start is the first window (a read with no ``from`` starts there, so it must be close); the end is
a day past the newest action's UTC day: data posted as it happens widens the extent once a day, not
with every new hour, so concurrent writers rarely meet on this one document, and a read pays for
the slack with a few empty windows at the end. Only data older than all before widens the start.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..spans import EPOCH, later, window_of

META = "meta"
KEY = "sessions"
LAYOUT = 2          # buckets bounded to one window (``spans``), with per-type counts


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
    return Extent(window_of(earliest), later(_day_of(latest), 2 * DAY))


def _day_of(instant):
    if instant.tzinfo is not None:
        instant = instant.replace(tzinfo=None) - instant.utcoffset()
    return EPOCH + (instant - EPOCH) // DAY * DAY


def _cache_key(db):
    return id(db.client), db.name


def load(db, max_time_ms=None):
    """The stored extent, or None when nothing was ever stored (or the store is not migrated)."""
    options = {"max_time_ms": max_time_ms} if max_time_ms else {}
    document = db[META].find_one({"_id": KEY}, **options)
    if not document or "start" not in document:
        return None
    extent = Extent(document["start"], document["end"])
    _seen[_cache_key(db)] = extent
    return extent


def widen(db, wanted, session=None):
    """Make the stored extent cover ``wanted``; no round trip when this process knows it does.

    :return: the extent to remember once the caller's transaction commits (see ``remember``), or None.
    """
    known = _seen.get(_cache_key(db))
    if known is not None and known.covers(wanted):
        return None
    db[META].update_one({"_id": KEY}, {"$min": {"start": wanted.start}, "$max": {"end": wanted.end}},
                        upsert=True, session=session)
    return wanted if known is None else known.union(wanted)


def remember(db, extent):
    """After a commit: this process may skip updates inside ``extent`` from now on."""
    if extent is not None:
        _seen[_cache_key(db)] = extent


def forget(db):
    _seen.pop(_cache_key(db), None)


def layout(db):
    """The stored layout number: 2 once migrated or created by this release, else None."""
    document = db[META].find_one({"_id": KEY})
    return document.get("layout") if document else None


def mark_layout(db):
    db[META].update_one({"_id": KEY}, {"$set": {"layout": LAYOUT}}, upsert=True)
