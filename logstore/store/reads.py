"""Reads in time order that cost what they return: buckets are read window by window of ``first``.

Every bucket's actions lie in ``[w, w + SPAN)`` (``spans``), so the buckets that may hold an action
at or after an instant ``T`` are those with ``first >= window_of(T)``. A read starts there and asks
for the buckets whose ``first`` lies in one window ``[lo, hi)`` at a time: once those are read,
every action before ``hi`` is known, so those rows are sorted and handed out, and the rest wait for
the next window. Each window is one bounded index range; its width adapts to how many rows the
last one held, and grows fast over empty stretches. The read ends at ``to`` or at the end of the
stored data (``extent``), or when the caller has had enough rows.

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
from ..spans import later, window_of
from . import extent
from .buckets import SESSIONS

FIRST_WIDTH = timedelta(minutes=5)
MIN_WIDTH = timedelta(seconds=1)
MAX_WIDTH = timedelta(days=3_000_000)
# Growth of the window after an empty one: a gap of years is crossed in about ten reads.
EMPTY_GROWTH = 8
MAX_GROWTH = 4
# How many action rows an export asks one window for.
EXPORT_ROWS = 2000
ONE_MS = timedelta(milliseconds=1)


class QueryTimeout(Exception):
    """A read ran past its time limit (``LOGSTORE_QUERY_TIMEOUT_MS``) and was stopped."""


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
    limit = deadline.max_time_ms() if deadline is not None else None
    if not limit:
        return list(collection.aggregate(pipeline, **options))
    seconds = limit / 1000
    socket_seconds = collection.database.client.options.pool_options.socket_timeout
    capped_by_socket = socket_seconds is not None and socket_seconds < seconds
    try:
        with pymongo.timeout(socket_seconds if capped_by_socket else seconds):
            return list(collection.aggregate(pipeline, **options))
    except ExecutionTimeout:
        raise QueryTimeout() from None
    except NetworkTimeout:
        if capped_by_socket:
            raise
        raise QueryTimeout() from None


def ordered_rows(db, log_filter, after=None, want=EXPORT_ROWS, deadline=None, trace=None, sort=True):
    """Yield the matching action rows in time order (``pipelines.sort_key``), lazily.

    :param after: a sort key: only rows after it (a page's cursor).
    :param want: about how many rows one window should hold.
    :param trace: a list that receives each pipeline run (for ``explain`` in the benchmark).
    :param sort: False yields each window's rows in bucket order (cheaper; time order only
        between windows).
    """
    stored = extent.load(db, deadline.max_time_ms() if deadline else None)
    if stored is None:
        return
    position = max(b for b in (stored.start, _start(log_filter), after[0] if after else None) if b is not None)
    stop = stored.end
    if log_filter.end is not None:
        stop = min(stop, later(log_filter.end.instant, ONE_MS))
    collection = db[SESSIONS]
    lo, width, waiting = window_of(position), FIRST_WIDTH, []
    hi = later(position, width)
    while lo < stop:
        hi = min(hi, stop)
        pipeline = pipelines.window_pipeline(log_filter, lo, hi, after)
        if trace is not None:
            trace.append(pipeline)
        rows = run(collection, pipeline, deadline)
        ready, waiting = _split(waiting + rows, None if hi >= stop else hi)
        if sort:
            ready.sort(key=pipelines.sort_key)
        yield from ready
        width = _next_width(width, len(rows), want)
        lo, hi = hi, later(hi, width)


def _split(rows, before):
    """``rows`` before the instant ``before`` (all when it is None), and the others."""
    if before is None:
        return rows, []
    ready, later_rows = [], []
    for row in rows:
        (ready if row["actions"]["t"] < before else later_rows).append(row)
    return ready, later_rows


def _start(log_filter):
    return log_filter.start.instant if log_filter.start is not None else None


def _next_width(width, found, want):
    if not found:
        return min(MAX_WIDTH, width * EMPTY_GROWTH)
    return max(MIN_WIDTH, min(MAX_WIDTH, width * min(MAX_GROWTH, want / found)))


def query_page(db, log_filter, limit, after=None, deadline=None, trace=None):
    """One page of matching action rows in time order, and whether more rows follow."""
    rows = list(islice(ordered_rows(db, log_filter, after, limit + 1, deadline, trace), limit + 1))
    return rows[:limit], len(rows) > limit


def export_rows(db, log_filter, ordered=True, deadline=None):
    """Every matching action row, in time order (or, ``ordered=False``, window by window in bucket
    order), as a generator; each window read is bounded by ``deadline``."""
    return ordered_rows(db, log_filter, want=EXPORT_ROWS, deadline=deadline, sort=ordered)
