"""Pure builders of the aggregation pipelines: plain lists and dicts, run only by ``store``.

Every pipeline starts with ``bucket_match_stages``: first a ``$match`` an index can serve on its
own, then one that narrows further. MongoDB merges the two; they are kept apart because an index
planner that only takes equalities plus one range (SecantusDB's) then still uses the index.
"""
from __future__ import annotations

from .action_types import ACTION_TYPES
from .windows import SPAN, window_of
from .times import LAST_INSTANT, day_limits

ACTION = "actions"


def bucket_match_stages(log_filter, first_range=None, at_or_after=None):
    """``$match`` stages that select the bucket documents which may hold a matching action.

    The first stage is an equality on at most one indexed prefix (user, session, or a single type)
    plus a range on ``first``: the shape each index of ``store.indexes`` serves, on every planner.
    The second narrows further (another equality, a ``$in`` of types, ``last``).

    :param first_range: ``(lo, hi)``: only buckets whose ``first`` is in ``[lo, hi)`` (one window
        of an ordered read). Without it the range comes from the filter's ``from`` and ``to``.
    :param at_or_after: an instant every wanted action is at or after (a page's position).
    """
    indexed, rest = {}, {}
    if log_filter.session_id is not None:
        indexed["sessionId"] = log_filter.session_id
        if log_filter.user_id is not None:
            rest["userId"] = log_filter.user_id
    elif log_filter.user_id is not None:
        indexed["userId"] = log_filter.user_id
    types = log_filter.types
    if types and len(types) < len(ACTION_TYPES):
        if len(types) == 1 and not indexed:
            indexed["types"] = types[0]
        else:
            rest["types"] = types[0] if len(types) == 1 else {"$in": list(types)}
    start = log_filter.start.instant if log_filter.start else None
    if at_or_after is not None and (start is None or at_or_after > start):
        start = at_or_after
    if first_range is not None:
        indexed["first"] = {"$gte": first_range[0], _before(first_range[1]): first_range[1]}
    else:
        bounds = {}
        if start is not None:
            bounds["$gte"] = window_of(start)
        if log_filter.end is not None:
            bounds["$lte"] = log_filter.end.instant
        if bounds:
            indexed["first"] = bounds
    if start is not None:
        rest["last"] = {"$gte": start}
    if not indexed:
        indexed, rest = rest, {}
    return [{"$match": stage} for stage in (indexed, rest) if stage]


def _before(end):
    """The operator of an exclusive upper bound ``end``: ``$lte`` once it is held at the last
    instant (``windows.later``), so that an action at 9999-12-31T23:59:59.999Z is still read."""
    return "$lte" if end >= LAST_INSTANT else "$lt"


def heads_pipeline(keys, projection):
    """The buckets of the sessions ``keys`` (``(userId, sessionId)`` pairs), projected.

    Sessions and users are matched with ``$in`` each, so the answer may hold a few buckets of other
    pairs (user A's session named like one of user B's), which the caller drops. MongoDB merges the
    two stages and bounds both fields of ``session_bucket``. Sessions come first for planners that
    use one ``$in`` only (SecantusDB's): the ``session_first`` index then yields the batch's own buckets,
    none for a new session, where ``userId`` first would fetch every bucket of the batch's users and
    compare each with both lists. (An ``$or`` of pairs would be exact too, but SecantusDB scans the
    whole collection for a top-level ``$or``.)
    """
    users = sorted({user for user, _ in keys})
    sessions = sorted({session for _, session in keys})
    return [{"$match": {"sessionId": _one_or_in(sessions)}},
            {"$match": {"userId": _one_or_in(users)}},
            {"$project": projection}]


def _one_or_in(values):
    return values[0] if len(values) == 1 else {"$in": values}


def action_match(log_filter):
    """The conditions on one unwound action (fields under ``actions.``), exact to the microsecond."""
    conditions = []
    if log_filter.types and len(log_filter.types) < len(ACTION_TYPES):
        conditions.append({"actions.type": {"$in": list(log_filter.types)}})
    if log_filter.start is not None:
        conditions.append(_at_or_after(log_filter.start))
    if log_filter.end is not None:
        conditions.append(_at_or_before(log_filter.end))
    return _all_of(conditions)


def _at_or_after(bound):
    if not bound.micros:
        return {"actions.t": {"$gte": bound.instant}}
    return {"$or": [{"actions.t": {"$gt": bound.instant}},
                    {"actions.t": bound.instant, "actions.u": {"$gte": bound.micros}}]}


def _at_or_before(bound):
    same_ms = [{"actions.u": {"$exists": False}}]
    if bound.micros:
        same_ms.append({"actions.u": {"$lte": bound.micros}})
    return {"$or": [{"actions.t": {"$lt": bound.instant}},
                    {"actions.t": bound.instant, "$or": same_ms}]}


def _all_of(conditions):
    if not conditions:
        return {}
    if len(conditions) == 1:
        return conditions[0]
    return {"$and": conditions}


# The order of actions in every answer: time, then a tie-break that makes it total.
SORT_FIELDS = ("actions.t", "userId", "sessionId", "b", "i")
SORT_STAGE = {"$sort": {name: 1 for name in SORT_FIELDS}}


def after_match(after):
    """Rows that sort strictly after ``after``, a tuple of SORT_FIELDS values (a page's last row)."""
    branches = []
    for depth, name in enumerate(SORT_FIELDS):
        branch = {SORT_FIELDS[k]: after[k] for k in range(depth)}
        branch[name] = {"$gt": after[depth]}
        branches.append(branch)
    return {"$or": branches}


def unwound_actions(log_filter, first_range=None, after=None, keep_id=False):
    """Stages that yield one row per matching action: ``{userId, sessionId, b, i, actions: {...}}``.

    :param first_range: see ``bucket_match_stages``.
    :param after: the sort key of the row a page continues from: only rows after it.
    :param keep_id: keep the bucket's ``_id`` in each row (what a delete needs to find it again).
    """
    stages = bucket_match_stages(log_filter, first_range, after[0] if after is not None else None)
    stages.append({"$project": {"userId": 1, "sessionId": 1, "b": 1, "actions": 1, "_id": int(keep_id)}})
    stages.append({"$unwind": {"path": "$actions", "includeArrayIndex": "i"}})
    conditions = [c for c in (action_match(log_filter),) if c]
    if after is not None:
        conditions.append(after_match(after))
    if conditions:
        stages.append({"$match": _all_of(conditions)})
    return stages


def window_pipeline(log_filter, lo, hi, after=None, position=None, limit=None):
    """The first ``limit`` matching action rows (in SORT_FIELDS order) at or after ``position``
    and before ``hi``, of the buckets whose ``first`` is in ``[lo, hi)``.

    An ordered read (``store.reads``) runs one per window of one hour: ``lo`` is the hour's start,
    so every bucket that may hold an action in ``[position, hi)`` is in the range. Each bucket's
    actions are cut to the asked types and times before they are unwound (``$filter`` over
    ``{a: action, k: its index}``, so each row keeps its index in the bucket as ``i``): a bucket
    read for three actions gives three rows. The server sorts and keeps ``limit`` rows (a top-k
    sort), so a read returns at most what the page still needs whatever the window holds; the
    caller continues from the last row when it got ``limit``.

    :param after: the sort key of the row a page continues from: only rows after it.
    :param position: an instant no wanted action is before (the later of ``from`` and the cursor's).
    """
    if position is None:
        position = after[0] if after is not None else lo
    stages = bucket_match_stages(log_filter, (lo, hi), position)
    stages.append({"$project": {"userId": 1, "sessionId": 1, "b": 1, "_id": 0,
                                "actions": kept_actions(log_filter, position, hi)}})
    stages.append({"$unwind": "$actions"})
    stages.append({"$project": {"userId": 1, "sessionId": 1, "b": 1, "i": "$actions.k", "actions": "$actions.a"}})
    conditions = [c for c in (action_match(log_filter),) if c]
    if after is not None:
        conditions.append(after_match(after))
    if conditions:
        stages.append({"$match": _all_of(conditions)})
    stages.append(SORT_STAGE)
    if limit is not None:
        stages.append({"$limit": limit})
    return stages


def kept_actions(log_filter, at_or_after, before):
    """An expression: the bucket's actions of the asked types in ``[at_or_after, before)`` (and
    not after ``to``), each as ``{a: action, k: index in the bucket}``. Millisecond bounds only:
    the exact microsecond ones are the ``$match`` on the unwound rows (``action_match``).

    The indexes are chosen first, from the lists of the actions' times and types (``$map``
    over the actions, one path each), and only the kept ones are turned into ``{a, k}``; a bucket
    that lies wholly inside the range is not compared by time at all. On SecantusDB, which
    evaluates expressions element by element in Python, that costs a third of building ``{a, k}``
    for every action and filtering those (200 buckets of 100 actions for one rare type: 330 ms
    against 1,130); on MongoDB it is the same work done once per bucket."""
    types = list(log_filter.types) if log_filter.types and len(log_filter.types) < len(ACTION_TYPES) else None
    limits = [("$gte", at_or_after), (_before(before), before)]
    if log_filter.end is not None:
        limits.append(("$lte", log_filter.end.instant))
    by_type = [{"$in": [{"$arrayElemAt": ["$$types", "$$k"]}, types]}] if types else []
    by_time = [{op: [{"$arrayElemAt": ["$$times", "$$k"]}, bound]} for op, bound in limits]
    whole = [{op: ["$first" if op == "$gte" else "$last", bound]} for op, bound in limits]
    every = {"$range": [0, {"$size": "$actions"}]}

    def kept(by_time):
        conditions = by_type + by_time
        if not conditions:
            return every
        fields = (("times", "t"),) * bool(by_time) + (("types", "type"),) * bool(by_type)
        variables = {name: {"$map": {"input": "$actions", "as": "x", "in": f"$$x.{field}"}} for name, field in fields}
        return {"$let": {"vars": variables, "in": {"$filter": {"input": every, "as": "k", "cond": {"$and": conditions}}}}}

    indexes = {"$cond": [{"$and": whole}, kept([]), kept(by_time)]}
    return {"$map": {"input": indexes, "as": "k", "in": {"a": {"$arrayElemAt": ["$actions", "$$k"]}, "k": "$$k"}}}


def next_bucket_pipeline(log_filter, lo, hi):
    """The ``first`` of the earliest bucket that may hold a matching action with ``first`` in
    ``[lo, hi)``: one row or none. The same index prefix and range as a window read, sorted on the
    range's field and limited to one, which MongoDB answers by reading one index key (and fetching
    documents only to check what the index does not hold: ``types`` of two, ``last``)."""
    stages = bucket_match_stages(log_filter, (lo, hi))
    return stages + [{"$sort": {"first": 1}}, {"$limit": 1}, {"$project": {"_id": 0, "first": 1}}]


def sort_key(row):
    """The SORT_FIELDS values of an action row."""
    return (row["actions"]["t"], row["userId"], row["sessionId"], row["b"], row["i"])


# Stats: the group keys a client may ask for, and the output field each one fills.
GROUP_KEYS = {"type": "type", "day": "day", "user": "userId", "session": "sessionId"}


def stats_pipeline(log_filter, group_by, tz="UTC", first_range=None):
    """Count matching actions per group, sorted by the group keys in the order given.

    A bucket that lies wholly inside the asked range (and, when counting per day, within one day
    of ``tz``) is counted from its summary: it becomes one row per asked type carrying its count
    ``c``. Only the buckets cut by ``from``/``to`` or by a midnight are unwound action by action.

    :param group_by: a sequence of GROUP_KEYS names; empty gives one row, the total.
    :param tz: an IANA name or ``±HH:MM`` offset, where days begin and end.
    :param first_range: ``(lo, hi)``: only the buckets whose ``first`` is in ``[lo, hi)``.
    """
    fields = [GROUP_KEYS[name] for name in group_by]
    types = log_filter.types or ACTION_TYPES
    counted = [{"type": kind, "t": "$first", "c": {"$ifNull": [f"$n.{kind}", 0]}} for kind in types]
    stages = bucket_match_stages(log_filter, first_range)
    stages.append({"$project": {"userId": 1, "sessionId": 1, "actions": {
        "$cond": [whole_bucket(log_filter, "day" in fields, tz), counted, "$actions"]}}})
    stages.append({"$unwind": "$actions"})
    unwound = {"actions.c": {"$exists": False}}
    conditions = action_match(log_filter)
    stages.append({"$match": {"$or": [{"actions.c": {"$gt": 0}},
                                      {"$and": [unwound, conditions]} if conditions else unwound]}})
    values = {
        "type": "$actions.type",
        "day": _day("$actions.t", tz),
        "userId": "$userId",
        "sessionId": "$sessionId",
    }
    group_id = {field: values[field] for field in fields} if fields else None
    stages.append({"$group": {"_id": group_id, "count": {"$sum": {"$ifNull": ["$actions.c", 1]}}}})
    if fields:
        stages.append({"$sort": {f"_id.{field}": 1 for field in fields}})
    return stages


def hours_match_stages(log_filter, lo, hi):
    """``$match`` stages selecting the hours' counts (``store.hour_counts``) of the filter's user or
    session in the windows ``[lo, hi)`` (None: unbounded): the ``session_hour`` index's prefix (or
    the range of ``w``) first, the session of a user second. An empty list matches every hour."""
    match = {}
    if log_filter.user_id is not None:
        match["userId"] = log_filter.user_id
    elif log_filter.session_id is not None:
        match["sessionId"] = log_filter.session_id
    window = {**({"$gte": lo} if lo is not None else {}), **({"$lt": hi} if hi is not None else {})}
    if window:
        match["w"] = window
    rest = {"sessionId": log_filter.session_id} if log_filter.user_id and log_filter.session_id else {}
    return [{"$match": stage} for stage in (match, rest) if stage]


def hours_stats_pipeline(log_filter, group_by, lo, hi):
    """The matching actions per window (and per user or session when grouped by them), added up
    from the hours' counts (``store.hour_counts``) of the windows in ``[lo, hi)`` (None: unbounded),
    which the caller has chosen inside the filter's time range: rows ``{_id: {w, userId?,
    sessionId?}, <type>: count, …}`` for each asked type, in no order.

    Days are left to the caller: the rows are few (windows × users or sessions asked), and an
    expression per document (``$dateToString`` for each, a row per type) would cost more than the
    read itself on a planner that evaluates expressions in Python (SecantusDB: 3.0 s against 0.5 s
    for a month of a million actions).
    """
    fields = [GROUP_KEYS[name] for name in group_by]
    types = log_filter.types or ACTION_TYPES
    stages = hours_match_stages(log_filter, lo, hi)
    group_id = {"w": "$w", **{field: f"${field}" for field in ("userId", "sessionId") if field in fields}}
    stages.append({"$group": {"_id": group_id, **{kind: {"$sum": f"$n.{kind}"} for kind in types}}})
    return stages


def whole_bucket(log_filter, by_day=False, tz="UTC"):
    """An expression, true for a bucket whose every action lies in the filter's time range (and,
    with ``by_day``, within one day of ``tz``), so that its summary counts stand for its actions."""
    conditions = []
    start, end = log_filter.start, log_filter.end
    if start is not None:
        # first == from counts only when from has no microseconds below the millisecond.
        conditions.append({"$gte" if not start.micros else "$gt": ["$first", start.instant]})
    if end is not None:
        conditions.append({"$lt": ["$last", end.instant]})
    if by_day:
        conditions.append({"$eq": [_day("$first", tz), _day("$last", tz)]})
    if not conditions:
        return True
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _day(path, tz):
    """The day of ``path`` in ``tz``, its instant clamped to the days of years 1 to 9999 there
    (``times.day_limits``): ``$dateToString`` fails beyond them."""
    low, high = day_limits(tz)
    date = path
    if low is not None:
        date = {"$max": [date, low]}
    if high is not None:
        date = {"$min": [date, high]}
    return {"$dateToString": {"date": date, "format": "%Y-%m-%d", "timezone": tz}}


def buckets_match(buckets):
    """A filter of exactly ``buckets`` (each ``{_id, userId, sessionId}``) that carries the shard key
    (docs/SCALING.md): mongos sends it to the shards owning those sessions, not to every shard."""
    users = sorted({bucket["userId"] for bucket in buckets})
    sessions = sorted({bucket["sessionId"] for bucket in buckets})
    return {"userId": _one_or_in(users), "sessionId": _one_or_in(sessions),
            "_id": {"$in": [bucket["_id"] for bucket in buckets]}}


def delete_targets_pipeline(log_filter, buckets):
    """For each of ``buckets`` (``{_id, userId, sessionId}``) holding a matching action:
    ``{_id, i: [matching indexes]}``."""
    stages = [{"$match": buckets_match(buckets)}]
    stages += unwound_actions(log_filter, keep_id=True)
    stages.append({"$group": {"_id": "$_id", "i": {"$push": "$i"}}})
    return stages
