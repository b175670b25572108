"""GET /logs/stats: counts from the hours' counts, with only the windows they cannot answer read
from the buckets.

Every window ``w`` (``spans``) is counted by exactly one of two reads, chosen from the filter and
the window alone, never from the data, so the two never overlap or leave a gap:

- the counts of every window wholly inside ``from``/``to`` and, when counting per day, with no
  midnight of ``tz`` inside it, summed per window by the database, then per day and type here:
  without ``userId``/``sessionId`` (as filter or group) the rollups of the hour (``store.rollups``,
  a document per UTC hour and sub-bucket, ``types`` picked from their per-type counts), else the
  per-session hours (``store.hours``, a document per session and hour);
- the buckets of the other windows (the one holding ``from``, the one holding ``to``, those a
  midnight cuts), counted by ``pipelines.stats_pipeline``, exact to the microsecond: a handful of
  hours, whatever the range. With the rollups, an hour a midnight cuts is read from its rollups'
  sessions entries first: a session whose first and last action of the hour lie on one day is
  counted from its per-type counts, and only the sessions whose actions straddle the midnight are
  read from that hour's buckets.

A store not yet migrated to this layout reads what its own layout has: layout 3 (no rollups yet)
the per-session hours, older ones the buckets alone.
"""
from __future__ import annotations

from datetime import timedelta, timezone

from pymongo.errors import OperationFailure

from .. import pipelines
from ..filters import InvalidParameter
from ..times import day_limits, parse_tz
from ..spans import SPAN, later, window_of
from . import extent
from .buckets import SESSIONS
from . import rollups
from .hours import HOURS
from .rollups import ROLLUPS
from .reads import run

ONE_MS = timedelta(milliseconds=1)


def action_stats(db, log_filter, group_by, tz, deadline=None, trace=None):
    """The ``stats_pipeline`` rows: ``{_id: {<field>: value, …} or None, count}``, sorted.

    :param trace: a list that receives ``(collection name, pipeline)`` of each read (the benchmark).
    """
    fields = [pipelines.GROUP_KEYS[name] for name in group_by]
    trace = trace if trace is not None else []
    try:
        layout = extent.layout(db, deadline.max_time_ms() if deadline else None)
        if not extent.at_least(layout, extent.WITH_HOURS):
            pipeline = pipelines.stats_pipeline(log_filter, group_by, tz)
            trace.append((SESSIONS, pipeline))
            return run(db[SESSIONS], pipeline, deadline, allowDiskUse=True)
        lo, hi, edges = _whole_windows(log_filter)
        totals = {}
        split = set()
        if lo is None or hi is None or lo < hi:
            days = _Days(tz, "day" in fields)
            types = log_filter.types or pipelines.ALL_TYPES
            rolled = extent.at_least(layout, extent.WITH_ROLLUPS) and by_hour_alone(log_filter, fields)
            if rolled:
                collection, pipeline = db[ROLLUPS], rollups.counts_pipeline(lo, hi)
            else:
                collection, pipeline = db[HOURS], pipelines.hours_stats_pipeline(log_filter, group_by, lo, hi)
            trace.append((collection.name, pipeline))
            for row in run(collection, pipeline, deadline, allowDiskUse=True):
                window = row["_id"]["w"]
                day = days.of(window)
                if day is None:
                    split.add(window)
                    continue
                for kind in types:
                    if row[kind]:
                        values = {**row["_id"], "type": kind, "day": day}
                        _add(totals, fields, {"_id": values, "count": row[kind]})
            if rolled and split:
                straddling = _split_from_rollups(db, split, days, types, fields, totals, deadline, trace)
                if straddling:
                    pipeline = only_buckets_of(pipelines.stats_pipeline(log_filter, group_by, tz, first_range=(
                        min(straddling), later(max(straddling), SPAN))), straddling)
                    trace.append((SESSIONS, pipeline))
                    for row in run(db[SESSIONS], pipeline, deadline, allowDiskUse=True):
                        _add(totals, fields, row)
                split = set()
        for start, end in _runs(sorted(edges | split)):
            pipeline = pipelines.stats_pipeline(log_filter, group_by, tz, first_range=(start, end))
            trace.append((SESSIONS, pipeline))
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


def _split_from_rollups(db, windows, days, types, fields, totals, deadline, trace):
    """Count the hours ``windows`` (each cut by a midnight of the zone) from the sessions entries of
    their rollups: a session whose first and last action of the hour lie on one day is counted
    there from its per-type counts (every action between them is of that day); return the others,
    ``{window: {(userId, sessionId)}}``, which only the buckets can split."""
    pipeline = rollups.sessions_pipeline(None, None, sorted(windows))
    trace.append((ROLLUPS, pipeline))
    straddling = {}
    for row in rollups.sessions_rows(db[ROLLUPS], pipeline, _run_all, deadline):
        first, last = days.day_of(row["first"]), days.day_of(row["last"])
        if first != last:
            straddling.setdefault(row["w"], set()).add((row["userId"], row["sessionId"]))
            continue
        for kind in types:
            if row["n"].get(kind):
                _add(totals, fields, {"_id": {"w": row["w"], "type": kind, "day": first}, "count": row["n"][kind]})
    return straddling


def only_buckets_of(pipeline, straddling):
    """``pipeline`` (a bucket read: its leading ``$match`` stages select buckets) made to read
    only the buckets of the sessions ``straddling`` names per window (``{w: {(userId,
    sessionId)}}``), all windows in one read: the leading stages become an index-backed
    ``sessionId $in`` and an ``$or`` of ``{userId, sessionId, w}``. Whatever else they selected
    (the time range, types) lies in the stages after them too, which match action by action."""
    rest = list(pipeline)
    while rest and "$match" in rest[0]:
        rest.pop(0)
    triples = [{"userId": user, "sessionId": name, "w": window}
               for window in sorted(straddling) for user, name in sorted(straddling[window])]
    names = sorted({name for sessions in straddling.values() for _, name in sessions})
    return [{"$match": {"sessionId": {"$in": names}}}, {"$match": {"$or": triples}}] + rest


def _run_all(collection, pipeline, deadline):
    return run(collection, pipeline, deadline, allowDiskUse=True)


def by_hour_alone(log_filter, fields):
    """Whether the rollups of whole hours answer: no user or session asked for, by filter or group."""
    return (log_filter.user_id is None and log_filter.session_id is None
            and "userId" not in fields and "sessionId" not in fields)


class _Days:
    """The day (``YYYY-MM-DD`` in ``tz``) of every action of a window, or None when a midnight of
    ``tz`` lies inside the window; each window worked out once. Python's tz database here, the
    server's for the windows read from the buckets: they agree but for a zone whose rules changed
    between their versions."""

    def __init__(self, tz, by_day):
        self.zone = parse_tz(tz)[1] if by_day else None
        self.limits = day_limits(tz) if by_day else (None, None)
        self.known = {}

    def day_of(self, instant):
        """The day of one instant (naive UTC)."""
        return _as_utc(instant).astimezone(self.zone).date().isoformat()

    def of(self, window):
        if self.zone is None:
            return ""
        if window not in self.known:
            first = self._local_day(window)
            last = self._local_day(later(window, SPAN) - ONE_MS)
            self.known[window] = first.isoformat() if first == last else None
        return self.known[window]


    def _local_day(self, instant):
        low, high = self.limits
        if low is not None and instant < low:
            instant = low
        if high is not None and instant > high:
            instant = high
        return _as_utc(instant).astimezone(self.zone).date()


def _as_utc(instant):
    return instant.replace(tzinfo=timezone.utc)


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
