"""GET /logs/stats: counts from the hours' counts, with only the windows they cannot answer read
from the buckets.

Every window ``w`` (``windows``) is counted by exactly one of two reads, chosen from the filter and
the window alone, never from the data, so the two never overlap or leave a gap:

- the counts of every window wholly inside ``from``/``to`` and, when counting per day, with no
  midnight of ``tz`` inside it, summed per window by the database, then per day and type here:
  without ``userId``/``sessionId`` (as filter or group) the rollups of the hour (``store.rollups``,
  a document per UTC hour and sub-bucket, ``types`` picked from their per-type counts), else the
  per-session hours (``store.hour_counts``, a document per session and hour);
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

from contextlib import contextmanager
from datetime import timedelta, timezone

from pymongo.errors import OperationFailure

from ..action_types import ACTION_TYPES
from .. import pipelines
from ..times import day_limits, parse_tz
from ..windows import SPAN, later, window_of
from . import meta
from .buckets import SESSIONS
from .errors import UnknownTimeZone
from . import rollups
from .hour_counts import HOURS
from .rollups import ROLLUPS
from .reads import run

ONE_MS = timedelta(milliseconds=1)


def action_stats(db, log_filter, group_by, tz, deadline=None):
    """The ``stats_pipeline`` rows: ``{_id: {<field>: value, …} or None, count}``, sorted."""
    with _zone_known_to_the_server(tz):
        layout = meta.layout(db, deadline.max_time_ms() if deadline else None)
        count = _Count(db, log_filter, group_by, tz, deadline)
        source = stats_source(layout, log_filter, count.fields)
        if source == SESSIONS:
            return run(db[SESSIONS], pipelines.stats_pipeline(log_filter, group_by, tz), deadline, allowDiskUse=True)
        lo, hi, edges = _whole_windows(log_filter)
        from_buckets = set(edges)
        if lo is None or hi is None or lo < hi:
            split = count.whole_windows(source, lo, hi)
            if source == ROLLUPS:
                count.sessions_in_buckets(count.split_from_rollups(split))
            else:
                from_buckets |= split
        count.windows_in_buckets(from_buckets)
    return count.rows()


def stats_source(layout, log_filter, fields):
    """Which collection counts the whole windows: ``ROLLUPS`` (no user or session asked for, on
    the current layout), ``HOURS`` (the per-session hours), or ``SESSIONS``: a store older than
    the hours has only its buckets, which then count everything."""
    if not meta.at_least(layout, meta.WITH_HOURS):
        return SESSIONS
    if meta.at_least(layout, meta.WITH_ROLLUPS) and by_hour_alone(log_filter, fields):
        return ROLLUPS
    return HOURS


@contextmanager
def _zone_known_to_the_server(tz):
    """Python's tz database knew the name but the server's does not (a version apart)."""
    try:
        yield
    except OperationFailure as exc:
        if exc.code in (40485, 40517):
            raise UnknownTimeZone(tz) from None
        raise


class _Count:
    """The totals of one ``action_stats`` call, ``{(value of each field, …): count}``, and the reads
    that add to them, one method a kind of read."""

    def __init__(self, db, log_filter, group_by, tz, deadline):
        self.db, self.log_filter, self.group_by, self.tz, self.deadline = db, log_filter, group_by, tz, deadline
        self.fields = [pipelines.GROUP_KEYS[name] for name in group_by]
        self.types = log_filter.types or ACTION_TYPES
        self.totals = {}
        self.days = None

    def whole_windows(self, source, lo, hi):
        """Add the counts of the windows ``[lo, hi)`` from ``source`` (rollups or hours); return the
        windows a midnight of the zone cuts, which these counts cannot split by day."""
        self.days = _Days(self.tz, "day" in self.fields)
        if source == ROLLUPS:
            pipeline = rollups.counts_pipeline(lo, hi)
        else:
            pipeline = pipelines.hours_stats_pipeline(self.log_filter, self.group_by, lo, hi)
        split = set()
        for row in run(self.db[source], pipeline, self.deadline, allowDiskUse=True):
            window = row["_id"]["w"]
            day = self.days.of(window)
            if day is None:
                split.add(window)
                continue
            for kind in self.types:
                if row[kind]:
                    self.add({"_id": {**row["_id"], "type": kind, "day": day}, "count": row[kind]})
        return split

    def split_from_rollups(self, windows):
        """Count the hours ``windows`` (each cut by a midnight of the zone) from the sessions entries
        of their rollups: a session whose first and last action of the hour lie on one day is
        counted there from its per-type counts (every action between them is of that day); return
        the others, ``{window: {(userId, sessionId)}}``, which only the buckets can split."""
        if not windows:
            return {}
        pipeline = rollups.sessions_pipeline(None, None, sorted(windows))
        straddling = {}
        for row in rollups.sessions_rows(self.db[ROLLUPS], pipeline, _run_all, self.deadline):
            first, last = self.days.day_of(row["first"]), self.days.day_of(row["last"])
            if first != last:
                straddling.setdefault(row["w"], set()).add((row["userId"], row["sessionId"]))
                continue
            for kind in self.types:
                if row["n"].get(kind):
                    self.add({"_id": {"w": row["w"], "type": kind, "day": first}, "count": row["n"][kind]})
        return straddling

    def sessions_in_buckets(self, straddling):
        """Add the counts of the sessions ``straddling`` names per window, from their buckets, in one read."""
        if not straddling:
            return
        pipeline = only_buckets_of(pipelines.stats_pipeline(self.log_filter, self.group_by, self.tz, first_range=(
            min(straddling), later(max(straddling), SPAN))), straddling)
        for row in run(self.db[SESSIONS], pipeline, self.deadline, allowDiskUse=True):
            self.add(row)

    def windows_in_buckets(self, windows):
        """Add the counts of ``windows`` from their buckets, a read per run of consecutive windows."""
        for start, end in _runs(sorted(windows)):
            pipeline = pipelines.stats_pipeline(self.log_filter, self.group_by, self.tz, first_range=(start, end))
            for row in run(self.db[SESSIONS], pipeline, self.deadline, allowDiskUse=True):
                self.add(row)

    def add(self, row):
        key = tuple(row["_id"][field] for field in self.fields) if self.fields else ()
        self.totals[key] = self.totals.get(key, 0) + row["count"]

    def rows(self):
        """The totals as the ``stats_pipeline`` rows, sorted by their fields."""
        fields = self.fields
        rows = [{"_id": dict(zip(fields, key)) if fields else None, "count": count} for key, count in self.totals.items()]
        rows.sort(key=lambda row: tuple(row["_id"][field] for field in fields) if fields else ())
        return rows


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
