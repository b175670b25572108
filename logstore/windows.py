"""The time grid that bounds every bucket: a bucket holds actions of one window of ``SPAN`` only.

Windows are aligned on the UTC epoch (whole hours), so a window is a property of an instant alone:
out-of-order appends still land in their own window, and a bucket's ``first`` and ``last`` lie in
``[w, w + SPAN)``. That bound is what lets a read find every bucket that may hold an action at or
after an instant ``T`` with one index range: ``first >= window_of(T)`` (MongoDB's time-series
buckets keep the same bound, ``bucketMaxSpanSeconds``).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

SPAN = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1)
_AWARE_EPOCH = EPOCH.replace(tzinfo=timezone.utc)
# The latest instant a BSON datetime of ours can hold plus a window: an upper bound for ``first``.
MAX_INSTANT = datetime(9999, 12, 31, 23, 0)


def window_of(instant):
    """The start of the window that holds ``instant`` (naive UTC, or aware), as a naive UTC datetime."""
    return floor(instant, SPAN)


def by_window(actions):
    """``{window: [actions]}`` of a list of stored actions (``t`` naive UTC, or aware), in their order.

    Actions of one session mostly share a window and a zone: the previous action's window, written
    in that zone, is checked first. Two comparisons of datetimes with the same ``tzinfo`` compare
    their fields, which costs a fraction of ``window_of``'s arithmetic (of the ingest CPU, a tenth).
    """
    groups = {}
    zone, low, high, group = _NO_ZONE, None, None, None
    for action in actions:
        instant = action["t"]
        if instant.tzinfo is not zone or not low <= instant < high:
            window = window_of(instant)
            group = groups.setdefault(window, [])
            zone = instant.tzinfo
            low, high = _bounds_in(window, zone)
        group.append(action)
    return groups


_NO_ZONE = object()


def _bounds_in(window, zone):
    """``window``'s start and end in ``zone`` (None: naive UTC). An empty range, so that every action
    is placed by ``window_of``, where they are not representable or ``zone`` is not a fixed offset
    (datetimes of one zone with daylight saving compare by wall clock, which may be wrong)."""
    high = later(window, SPAN)
    if zone is None:
        return window, high
    if type(zone) is timezone:
        try:
            return (window.replace(tzinfo=timezone.utc).astimezone(zone),
                    high.replace(tzinfo=timezone.utc).astimezone(zone))
        except OverflowError:
            pass
    return datetime.max.replace(tzinfo=zone), datetime.min.replace(tzinfo=zone)


def floor(instant, step):
    """``instant`` (naive UTC, or aware) rounded down to a whole ``step`` from the epoch, naive UTC."""
    since = instant - (EPOCH if instant.tzinfo is None else _AWARE_EPOCH)
    return EPOCH + since // step * step


def after_window(instant):
    """The end of the window that holds ``instant``: an exclusive upper bound of its bucket's times."""
    return later(window_of(instant), SPAN)


def later(instant, delta):
    """``instant + delta``, held at the last representable instant instead of overflowing (year 9999)."""
    try:
        return instant + delta
    except OverflowError:
        return datetime.max
