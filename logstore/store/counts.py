"""GET /logs/stats: counts from the hours' counts, with only the windows they cannot answer read
from the buckets.

Every window ``w`` (``spans``) is counted by exactly one of two reads, chosen from the filter and
the window alone, never from the data, so the two never overlap or leave a gap:

- the hours (``store.hours``) of every window wholly inside ``from``/``to`` and, when counting per
  day, with no midnight of ``tz`` inside it: a document per session and hour, summed;
- the buckets of the other windows (the one holding ``from``, the one holding ``to``, those a
  midnight cuts), counted by ``pipelines.stats_pipeline``, exact to the microsecond: a handful of
  hours, whatever the range.

A store not yet migrated to this layout has no hours to read: it is counted from the buckets alone.
"""
from __future__ import annotations

from pymongo.errors import OperationFailure

from .. import pipelines
from ..filters import InvalidParameter
from ..spans import SPAN, later, window_of
from . import extent
from .buckets import SESSIONS
from .hours import HOURS
from .reads import run


def action_stats(db, log_filter, group_by, tz, deadline=None):
    """The ``stats_pipeline`` rows: ``{_id: {<field>: value, …} or None, count}``, sorted."""
    fields = [pipelines.GROUP_KEYS[name] for name in group_by]
    try:
        if extent.layout(db, deadline.max_time_ms() if deadline else None) != extent.LAYOUT:
            return run(db[SESSIONS], pipelines.stats_pipeline(log_filter, group_by, tz), deadline, allowDiskUse=True)
        lo, hi, edges = _whole_windows(log_filter)
        totals = {}
        split = set()
        if lo is None or hi is None or lo < hi:
            pipeline = pipelines.hours_stats_pipeline(log_filter, group_by, tz, lo, hi)
            for row in run(db[HOURS], pipeline, deadline, allowDiskUse=True):
                if row["_id"] and "split" in row["_id"]:
                    split.add(row["_id"]["split"])
                else:
                    _add(totals, fields, row)
        for start, end in _runs(sorted(edges | split)):
            pipeline = pipelines.stats_pipeline(log_filter, group_by, tz, first_range=(start, end))
            for row in run(db[SESSIONS], pipeline, deadline, allowDiskUse=True):
                _add(totals, fields, row)
    except OperationFailure as exc:
        # Python's tz database knew the name but the server's does not (a version apart).
        if exc.code in (40485, 40517):
            raise InvalidParameter("tz", f"the database does not know the time zone {tz!r}") from None
        raise
    rows = [{"_id": dict(zip(fields, key)) if fields else None, "count": count} for key, count in totals.items()]
    rows.sort(key=lambda row: tuple(row["_id"][field] for field in fields) if fields else ())
    return rows


def _whole_windows(log_filter):
    """The windows ``[lo, hi)`` (None: unbounded) wholly inside the filter's time range, and the
    windows that hold ``from`` or ``to`` without lying wholly inside it."""
    lo = hi = None
    edges = set()
    if log_filter.start is not None:
        start = log_filter.start
        lo = window_of(start.instant)
        if start.instant != lo or start.micros:
            edges.add(lo)
            lo = later(lo, SPAN)
    if log_filter.end is not None:
        # ``to`` is inclusive to the microsecond: its window is always read from the buckets.
        hi = window_of(log_filter.end.instant)
        edges.add(hi)
    if log_filter.start is not None and log_filter.end is not None:
        edges = {w for w in edges if window_of(log_filter.start.instant) <= w <= hi}
    return lo, hi, edges


def _runs(windows):
    """Sorted window starts as ``[start, end)`` ranges, consecutive windows joined."""
    ranges = []
    for window in windows:
        if ranges and ranges[-1][1] == window:
            ranges[-1][1] = later(window, SPAN)
        else:
            ranges.append([window, later(window, SPAN)])
    return [tuple(r) for r in ranges]


def _add(totals, fields, row):
    key = tuple(row["_id"][field] for field in fields) if fields else ()
    totals[key] = totals.get(key, 0) + row["count"]
