"""Pure builders of the insights' pipelines (``store.insights`` runs them): plain lists and dicts.

Each reads either the hours' counts (``store.hour_counts``: a document per session and hour, no action
unwound) or the buckets, where it starts with ``pipelines.bucket_match_stages`` (the index-backed
``$match``) and unwinds only the buckets that may hold a matching action.
"""
from __future__ import annotations

from dataclasses import replace

from .action_types import ACTION_TYPES, NAVIGATE
from .pipelines import action_match, bucket_match_stages, hours_match_stages


def narrowed(log_filter, types):
    """``log_filter`` with its types cut down to ``types`` (those of them it allows); None when
    nothing is left, i.e. no action can match."""
    allowed = log_filter.types or ACTION_TYPES
    kept = tuple(kind for kind in ACTION_TYPES if kind in types and kind in allowed)
    if not kept:
        return None
    return replace(log_filter, types=kept if len(kept) < len(ACTION_TYPES) else None)


def _unwound(log_filter, first_range=None, extra=None, project=("userId", "sessionId"), index=False, sessions=None):
    stages = bucket_match_stages(log_filter, first_range)
    if sessions is not None:
        stages.append({"$match": {"sessionId": sessions[0] if len(sessions) == 1 else {"$in": list(sessions)}}})
    stages.append({"$project": {**{name: 1 for name in project}, "actions": 1, "_id": 0}})
    stages.append({"$unwind": {"path": "$actions", "includeArrayIndex": "i"} if index else "$actions"})
    conditions = [c for c in (action_match(log_filter), extra) if c]
    if conditions:
        stages.append({"$match": conditions[0] if len(conditions) == 1 else {"$and": conditions}})
    return stages


def overview_hours_pipeline(log_filter, lo, hi):
    """The hours of the windows ``[lo, hi)`` (None: unbounded) the caller found wholly inside the
    filter's range: ``store.hour_counts`` documents (``{userId, sessionId, w, count, n, first, last}``), in
    no order. Only for a
    filter without types (an hour's ``first``/``last`` are those of all its actions)."""
    # No $project: on SecantusDB, which evaluates a projection per document in Python, the hours'
    # documents come back faster whole (they are small: the ids, w, count, n, first, last).
    return hours_match_stages(log_filter, lo, hi) or [{"$match": {}}]


def overview_buckets_pipeline(log_filter, tz, first_range=None, sessions=None):
    """The matching actions of the buckets (those whose ``first`` is in ``first_range``, or all the
    filter selects) per session and day of ``tz``: ``{_id: {userId, sessionId, day}, count, nav,
    first, last}``, where ``nav`` counts the NAVIGATEs.

    :param sessions: only the buckets of these session ids (the caller drops other users' sessions
        of the same name).
    """
    stages = _unwound(log_filter, first_range, sessions=sessions)
    stages.append({"$group": {
        "_id": {"userId": "$userId", "sessionId": "$sessionId",
                "day": {"$dateToString": {"date": "$actions.t", "format": "%Y-%m-%d", "timezone": tz}}},
        "count": {"$sum": 1},
        "nav": {"$sum": {"$cond": [{"$eq": ["$actions.type", NAVIGATE]}, 1, 0]}},
        "first": {"$min": "$actions.t"}, "last": {"$max": "$actions.t"}}})
    return stages


def top_pipeline(log_filter, field, limit):
    """The ``limit`` most frequent values of property ``field`` among the matching actions that carry
    it: ``{_id: value, count, users}``, by count descending then value."""
    path = f"actions.p.{field}"
    stages = _unwound(log_filter, extra={path: {"$exists": True}}, project=("userId",))
    stages.append({"$group": {"_id": {"v": f"${path}", "u": "$userId"}, "c": {"$sum": 1}}})
    stages.append({"$group": {"_id": "$_id.v", "count": {"$sum": "$c"}, "users": {"$sum": 1}}})
    stages.append({"$sort": {"count": -1, "_id": 1}})
    stages.append({"$limit": limit})
    return stages


def top_rows_pipeline(log_filter, field, first_range=None):
    """The matching actions that carry property ``field`` (of the buckets whose ``first`` is in
    ``first_range``, or all the filter selects) per value and user: ``{_id: {v, u}, c}``, in no
    order; the caller adds them to the session-hours' values (``store.hour_values``)."""
    path = f"actions.p.{field}"
    stages = _unwound(log_filter, first_range, extra={path: {"$exists": True}}, project=("userId",))
    stages.append({"$group": {"_id": {"v": f"${path}", "u": "$userId"}, "c": {"$sum": 1}}})
    return stages


def paths_pipeline(log_filter, first_range=None):
    """The matching NAVIGATEs (of the buckets whose ``first`` is in ``first_range``, or all the
    filter selects) per session and transition: ``{_id: {userId, sessionId, f, to}, count, lo, hi}``
    (``lo``/``hi``: the earliest and latest time of that transition in the session), for a filter
    already narrowed to NAVIGATE (``narrowed``)."""
    stages = _unwound(log_filter, first_range)
    stages.append({"$group": {
        "_id": {"userId": "$userId", "sessionId": "$sessionId", "f": "$actions.p.pageFrom",
                "to": "$actions.p.pageTo"},
        "count": {"$sum": 1},
        "lo": {"$min": {"t": "$actions.t", "u": {"$ifNull": ["$actions.u", 0]}}},
        "hi": {"$max": {"t": "$actions.t", "u": {"$ifNull": ["$actions.u", 0]}}}}})
    return stages


def step_condition(step):
    """The condition on an unwound action for one funnel step ``(type, property, values)``
    (``insights_params.parse_steps``): of that type and, with a property, equal to one of the values."""
    kind, key, values = step
    condition = {"actions.type": kind}
    if key is not None:
        condition[f"actions.p.{key}"] = values[0] if len(values) == 1 else {"$in": list(values)}
    return condition


def funnel_pipeline(log_filter, steps):
    """The matching actions that match any of ``steps``: rows ``{userId, sessionId, b, i, actions}``
    (the action whole: a ``$project`` per row would cost more than it saves on SecantusDB); the
    caller orders them and walks the steps. For a filter already narrowed to the steps' types
    (``narrowed``)."""
    conditions = [step_condition(step) for step in steps]
    unique = [c for i, c in enumerate(conditions) if c not in conditions[:i]]
    return _unwound(log_filter, extra=unique[0] if len(unique) == 1 else {"$or": unique},
                    project=("userId", "sessionId", "b"), index=True)


def clicks_pipeline(log_filter):
    """The matching CLICKs and NAVIGATEs, rows ``{userId, sessionId, b, i, actions}``, for a filter
    already narrowed to those two types."""
    return _unwound(log_filter, project=("userId", "sessionId", "b"), index=True)
