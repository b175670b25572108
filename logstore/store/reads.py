"""Reads in time order that cost what they return, whatever the shape of the stored data.

Every bucket's actions lie in its hour ``[w, w + SPAN)`` (``windows``), so every bucket that holds an
action at ``t >= T`` begins in ``[window_of(T), t]``: the actions of ``[T, hi)`` are all in the
buckets whose ``first`` lies in ``[window_of(T), hi)``. A read starts at the later of ``from`` and
the cursor, and:

- finds where the data goes on with an index seek (``pipelines.next_bucket_pipeline``: the
  filter's index prefix, ``first`` in a range, sorted, one row), so a gap of years or a month of
  deleted history costs a few seeks, not a walk; the stored extent's runs (``extent``) skip the
  gaps between them at no cost, and inside a run the seek's range doubles from 15 s up to a day
  (bounded ranges: see DESIGN, emulator gaps);
- reads windows ``[T, hi)``: the buckets begun in ``[window_of(T), hi)``, their actions cut to the
  filter before unwinding, sorted by the server and limited to the rows still wanted
  (``pipelines.window_pipeline``). A window that holds more stops at the limit and the next read
  continues after its last row (``pipelines.sort_key``), so no read returns more than the page
  needs; its width adapts to the rows the last one held, at most a day, and starts small again
  past every gap.

The read ends at ``to``, at the end of the stored data, or when the caller has had enough rows.
Every command carries ``maxTimeMS`` (``Deadline``), so the database itself stops a read that the
service has given up on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

import pymongo
from pymongo.errors import ExecutionTimeout, NetworkTimeout

from .. import pipelines
from ..windows import SPAN, later, window_of
from . import meta, rollups
from .buckets import SESSIONS
from .errors import QueryTimeout

# The first window of a read: small, so that a dense hour (a burst of sessions) is not read whole
# for one page; a sparse one grows it fast.
FIRST_WIDTH = timedelta(seconds=15)
MIN_WIDTH = timedelta(seconds=1)
MAX_GROWTH = 8
# A window is at most a day wide: growing over sparse data, it may meet dense data at once.
MAX_WIDTH = timedelta(days=1)
# The seek's ranges: the first one as wide as a first window (an hour of a burst holds thousands
# of buckets, which SecantusDB would all fetch), each next one twice as wide, up to a day.
SEEK_FIRST = FIRST_WIDTH
SEEK_MAX = timedelta(days=1)
# How many action rows an export asks one window for.
EXPORT_ROWS = 2000
ONE_MS = timedelta(milliseconds=1)


@dataclass
class Deadline:
    """The time left to a read: each command gets what remains as its ``maxTimeMS``.

    ``per_command`` (an export) gives every command the whole limit instead: a stream of any
    length, each of its reads bounded.
    """

    limit_ms: int | None = None
    per_command: bool = False

    def __post_init__(self):
        self.started = time.monotonic()

    def max_time_ms(self):
        if not self.limit_ms:
            return None
        if self.per_command:
            return self.limit_ms
        left = self.limit_ms - int((time.monotonic() - self.started) * 1000)
        if left <= 0:
            raise QueryTimeout()
        return left


def run(collection, pipeline, deadline, **options):
    """``aggregate`` under the deadline; a read stopped for time raises QueryTimeout.

    The read runs inside ``pymongo.timeout``: pymongo then sends what is left as ``maxTimeMS``, so
    the server stops the read, and waits for the answer no longer than that either, so a server
    that stops late (or not at all) cannot hold the request past its limit, and pymongo's retry of a
    read after a timeout has no time left to run in. A shorter socket timeout still wins: a server
    that does not answer within it is unavailable (503 DATABASE_UNAVAILABLE), not slow.
    """
    return _bounded(collection, deadline, lambda: list(collection.aggregate(pipeline, **options)))


def find_all(collection, query, projection, deadline):
    """``find`` under the deadline, as ``run``: every document ``query`` selects, projected.
    (SecantusDB answers a plain ``find`` in a third of the time of the same ``$match`` and
    ``$project`` as a pipeline.)"""
    return _bounded(collection, deadline, lambda: list(collection.find(query, projection)))


def _bounded(collection, deadline, read):
    limit = deadline.max_time_ms() if deadline is not None else None
    if not limit:
        return read()
    seconds = limit / 1000
    socket_seconds = collection.database.client.options.pool_options.socket_timeout
    capped_by_socket = socket_seconds is not None and socket_seconds < seconds
    try:
        with pymongo.timeout(socket_seconds if capped_by_socket else seconds):
            return read()
    except ExecutionTimeout:
        raise QueryTimeout() from None
    except NetworkTimeout:
        if capped_by_socket:
            raise
        raise QueryTimeout() from None


def ordered_rows(db, log_filter, after=None, want=EXPORT_ROWS, deadline=None, sort=True, total=None):
    """Yield the matching action rows in time order (``pipelines.sort_key``), lazily.

    :param after: a sort key: only rows after it (a page's cursor).
    :param want: at most how many rows one read returns.
    :param total: how many rows the caller takes in all (None: every one); no read asks for more
        than are still wanted.
    :param sort: kept for callers; every read comes sorted by the server (its ``$limit`` needs it).
    """
    stored = meta.load(db, deadline.max_time_ms() if deadline else None)
    if stored is None:
        return
    position = max(b for b in (stored.start, _start(log_filter), after[0] if after else None) if b is not None)
    stop = stored.end
    if log_filter.end is not None:
        stop = min(stop, later(log_filter.end.instant, ONE_MS))
    collection = db[SESSIONS]
    width, given = FIRST_WIDTH, 0
    since = _Since(db, stored, deadline)
    found = _next_hour(collection, log_filter, stored, since(position), stop, deadline)
    while found is not None and position < stop:
        if found > position:
            # Past a gap: the data there may be denser than before it.
            position, after, width = found, None, FIRST_WIDTH
        held = stored.run_at(position)
        if held is not None and position < held[0]:      # between two runs: no bucket there
            position, after, width = held[0], None, FIRST_WIDTH
        hi = _window_end(position, width, min(stop, held[1]) if held else stop)
        limit = want if total is None else min(want, total - given)
        pipeline = pipelines.window_pipeline(log_filter, since(position), hi, after, position, limit)
        rows = run(collection, pipeline, deadline)
        given += len(rows)
        yield from rows
        if total is not None and given >= total:
            return
        if len(rows) >= limit:
            # The window holds more: continue after its last row, with a window as wide as the rows
            # just read took (twice), so that the next read holds about as many.
            last = pipelines.sort_key(rows[-1])
            width = max(MIN_WIDTH, 2 * (last[0] - position))
            position, after = last[0], last
            continue
        position, after = hi, None
        width = _next_width(width, len(rows), limit)
        if not rows and (hi == window_of(hi) or (held and hi >= held[1])):
            # Nothing in the window, which ends on an hour: no bucket begun before it holds an
            # action after it, so the next bucket's hour is where the data goes on.
            found = _next_hour(collection, log_filter, stored, hi, stop, deadline)


class _Since:
    """The earliest ``first`` of a bucket that may hold an action at or after an instant: its
    window's start, or, where the rollups record the longest span of a bucket begun in that window
    (``rollups.SPANS``), that long before the instant, if later. In a burst (every session begun in
    one hour) a read then meets the sessions active around its position, not every bucket since the
    hour's start. One small read per window met, kept for the rest of the read."""

    def __init__(self, db, stored, deadline):
        self.collection = db[rollups.ROLLUPS] if stored.spans else None
        self.deadline = deadline
        self.spans = {}

    def __call__(self, instant):
        window = window_of(instant)
        if self.collection is None or instant == window:
            return window
        if window not in self.spans:
            limit = self.deadline.max_time_ms() if self.deadline is not None else None
            self.spans[window] = rollups.longest_span(self.collection, window, limit)
        span = self.spans[window]
        if span is None:
            return window
        try:
            return max(window, instant - span)
        except OverflowError:
            return window


def _window_end(position, width, stop):
    """``position + width``, down to a whole hour once the window is an hour or wider (so that an
    empty window ends where a seek may start), and not past ``stop``."""
    hi = later(position, width)
    if width >= SPAN and window_of(hi) > position:
        hi = window_of(hi)
    return min(hi, stop)


def _next_hour(collection, log_filter, stored, instant, stop, deadline):
    """The start of the first hour at or after ``instant`` (an hour's start, or the earliest
    ``first`` that may matter, ``_Since``) and before ``stop`` that holds a bucket which may match,
    or None.

    Gaps between the extent's runs are skipped without a read. Inside a run, each seek asks for
    the earliest bucket in a range that begins where the last one ended: SEEK_FIRST wide, then
    twice as wide, up to SEEK_MAX; a range the extent has as cleared (deleted for everyone, or
    expired) is one seek, which reads no index key when it is empty. On MongoDB each one reads
    about one index key.
    """
    width = SEEK_FIRST
    while instant < stop:
        held = stored.run_at(instant)
        if held is None:
            return None
        if instant < held[0]:                  # a new run: its data may begin at once
            instant, width = held[0], SEEK_FIRST
        hi = min(later(instant, width), held[1], stop)
        gap = stored.cleared_at(instant)
        if gap is not None:                    # deleted or expired: one seek over all of it
            hi, width = min(gap[1], held[1], stop), SEEK_FIRST / 2
        if instant >= hi:
            return None
        pipeline = pipelines.next_bucket_pipeline(log_filter, instant, hi)
        found = run(collection, pipeline, deadline)
        if found:
            return window_of(found[0]["first"])
        instant, width = hi, min(SEEK_MAX, 2 * width)
    return None


def _start(log_filter):
    return log_filter.start.instant if log_filter.start is not None else None


def _next_width(width, found, wanted):
    """The next window's width after one of ``width`` held ``found`` of the ``wanted`` rows."""
    return max(MIN_WIDTH, min(MAX_WIDTH, width * min(MAX_GROWTH, wanted / found if found else MAX_GROWTH)))


def query_page(db, log_filter, limit, after=None, deadline=None):
    """One page of matching action rows in time order, and whether more rows follow."""
    rows = list(islice(ordered_rows(db, log_filter, after, limit + 1, deadline, total=limit + 1), limit + 1))
    return rows[:limit], len(rows) > limit


def export_rows(db, log_filter, ordered=True, deadline=None):
    """Every matching action row, in time order, as a generator; each read is bounded by
    ``deadline``. ``ordered=False`` (``order=stored``) is accepted and gives the same order: each
    read is sorted by the server, which its ``$limit`` needs."""
    return ordered_rows(db, log_filter, want=EXPORT_ROWS, deadline=deadline, sort=ordered)
