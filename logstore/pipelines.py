"""Pure builders of the aggregation pipelines: plain lists and dicts, run only by ``storage``.

Every pipeline starts with ``bucket_match_stages``: first a ``$match`` an index can serve on its
own, then one that narrows further. MongoDB merges the two; they are kept apart because an index
planner that only takes equalities plus one range (SecantusDB's) then still uses the index.
"""
from __future__ import annotations

ACTION = "actions"


def bucket_match_stages(log_filter, after=None):
    """``$match`` stages that select the bucket documents which may hold a matching action.

    :param after: the sort key a page continues from (see ``after_match``), if any.
    """
    indexed, rest = {}, {}
    start = log_filter.start.instant if log_filter.start else None
    if after is not None and (start is None or after[0] > start):
        start = after[0]
    if log_filter.user_id is not None:
        indexed["userId"] = log_filter.user_id
        if log_filter.session_id is not None:
            indexed["sessionId"] = log_filter.session_id
        elif start is not None:
            indexed["last"] = {"$gte": start}
            start = None
    elif log_filter.session_id is not None:
        indexed["sessionId"] = log_filter.session_id
    if log_filter.types:
        types_match = log_filter.types[0] if len(log_filter.types) == 1 else {"$in": list(log_filter.types)}
        if not indexed and (start is None or len(log_filter.types) == 1):
            indexed["types"] = types_match
        else:
            rest["types"] = types_match
    if start is not None:
        # One type is an equality, so types_last serves {types, last} with both bounds; a $in of
        # types and a range together would leave SecantusDB without an index, so that takes `last`.
        single_type = "types" in indexed and not isinstance(indexed["types"], dict)
        (indexed if single_type or not indexed else rest)["last"] = {"$gte": start}
    if log_filter.end is not None:
        rest["first"] = {"$lte": log_filter.end.instant}
    if not indexed:
        indexed, rest = rest, {}
    return [{"$match": stage} for stage in (indexed, rest) if stage]


def heads_pipeline(keys, projection):
    """The buckets of the sessions ``keys`` (``(userId, sessionId)`` pairs), projected.

    Sessions and users are matched with ``$in`` each, so the answer may hold a few buckets of other
    pairs (user A's session named like one of user B's), which the caller drops. MongoDB merges the
    two stages and bounds both fields of ``session_bucket``. Sessions come first for planners that
    use one ``$in`` only (SecantusDB's): the ``session`` index then yields the batch's own buckets,
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
    if log_filter.types:
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


def unwound_actions(log_filter, after=None, keep_id=False):
    """Stages that yield one row per matching action: ``{userId, sessionId, b, i, actions: {...}}``.

    :param keep_id: keep the bucket's ``_id`` in each row (what a delete needs to find it again).
    """
    stages = bucket_match_stages(log_filter, after)
    stages.append({"$project": {"userId": 1, "sessionId": 1, "b": 1, "actions": 1, "_id": int(keep_id)}})
    stages.append({"$unwind": {"path": "$actions", "includeArrayIndex": "i"}})
    conditions = [c for c in (action_match(log_filter),) if c]
    if after is not None:
        conditions.append(after_match(after))
    if conditions:
        stages.append({"$match": _all_of(conditions)})
    return stages


def page_pipeline(log_filter, limit, after=None):
    """One page of matching actions in time order; asks for one row more to know if more exist."""
    return unwound_actions(log_filter, after) + [SORT_STAGE, {"$limit": limit + 1}]


def sort_key(row):
    """The SORT_FIELDS values of a row from ``page_pipeline``."""
    return (row["actions"]["t"], row["userId"], row["sessionId"], row["b"], row["i"])


def export_pipeline(log_filter):
    """Every matching action in storage order (bucket by bucket, actions as stored): no ``$sort``.

    A time sort over millions of actions would be a blocking sort that holds them all on the
    server; in storage order the server streams rows as it reads buckets.
    """
    return unwound_actions(log_filter)


# Stats: the group keys a client may ask for, and the output field each one fills.
GROUP_KEYS = {"type": "type", "day": "day", "user": "userId", "session": "sessionId"}


def stats_pipeline(log_filter, group_by, tz="UTC"):
    """Count matching actions per group, sorted by the group keys in the order given.

    :param group_by: a sequence of GROUP_KEYS names; empty gives one row, the total.
    :param tz: an IANA name or ``±HH:MM`` offset, where days begin and end.
    """
    values = {
        "type": "$actions.type",
        "day": {"$dateToString": {"date": "$actions.t", "format": "%Y-%m-%d", "timezone": tz}},
        "userId": "$userId",
        "sessionId": "$sessionId",
    }
    fields = [GROUP_KEYS[name] for name in group_by]
    stages = unwound_actions(log_filter)
    group_id = {field: values[field] for field in fields} if fields else None
    stages.append({"$group": {"_id": group_id, "count": {"$sum": 1}}})
    if fields:
        stages.append({"$sort": {f"_id.{field}": 1 for field in fields}})
    return stages


def delete_targets_pipeline(log_filter, bucket_ids):
    """For each of ``bucket_ids`` holding a matching action: ``{_id, count, i: [matching indexes]}``."""
    stages = [{"$match": {"_id": {"$in": list(bucket_ids)}}}]
    stages += unwound_actions(log_filter, keep_id=True)
    stages.append({"$group": {"_id": "$_id", "i": {"$push": "$i"}}})
    return stages
