"""The insights (SPEC "Insights"): overview, top values, page paths, funnels and click maps.

What each reads (docs/DESIGN.md, "Insights"):

- the overview, without a ``types`` filter, reads per session the hours of every window from that
  of ``from`` to that of ``to`` (without ``userId``/``sessionId`` from the rollups' sessions
  documents, ``store.rollups``, one per UTC hour and sub-bucket; else the hours' counts,
  ``store.hour_counts``, one per session and hour), and the buckets only of the sessions those cannot
  answer: in the hours holding ``from`` or ``to``, those whose actions of the hour the bound cuts;
  in the hours a midnight of ``tz`` cuts, those with actions on both sides of it. With ``types`` an
  hour's first/last time are not those of its matching actions, so it reads the buckets;
- top values of ``viewedId``/``pageTo``/``pageFrom`` and paths add up the session-hours' values
  (``store.hour_values``) of every window wholly inside ``from``/``to``, and read the buckets only of the
  windows holding ``from`` or ``to`` and of the session-hours an overflow marker names;
- top values of other properties, funnels and click maps unwind the matching actions of the
  buckets the index-backed ``$match`` selects, narrowed to the types that can carry what they ask for.

Every read runs under the request's ``Deadline`` (``reads.run``, ``reads.find_all``); the figures are worked out here
from the few rows each pipeline returns (a row per session and hour or day, per session and
transition, or per matching action of a funnel's or click map's types).
"""
from __future__ import annotations

import json
from collections import Counter
from itertools import chain
from datetime import date, datetime, time, timedelta, timezone
from statistics import median

from bson.int64 import Int64
from pymongo.errors import OperationFailure

from .. import insights_pipelines as ip
from ..action_types import ACTION_TYPES, CLICK, NAVIGATE, TYPE_OF_PROPERTY
from ..insights_params import previous_period
from ..windows import SPAN, later, window_of
from ..times import parse_tz
from . import meta
from .buckets import SESSIONS
from .errors import UnknownTimeZone
from . import hour_values, rollups
from ..pipelines import hours_match_stages
from .stats import _Days, _runs, _whole_windows, by_hour_alone, only_buckets_of
from .hour_counts import HOURS
from .rollups import ROLLUPS
from .reads import find_all, run


def overview(db, log_filter, tz="UTC", compare=False, deadline=None):
    """``{users, sessions, actions, bounceRate, medianSessionSeconds, days: [...]}``, with
    ``previous`` (the same for the period just before) when ``compare``."""
    answer = _overview(db, log_filter, tz, deadline)
    if compare:
        answer["previous"] = _overview(db, previous_period(log_filter), tz, deadline)
    return answer


def _overview(db, log_filter, tz, deadline):
    sessions, days = {}, {}
    for user, session, day, count, nav, first, last in _pieces(db, log_filter, tz, deadline):
        figures = sessions.get((user, session))
        if figures is None:
            sessions[(user, session)] = [count, nav, first, last]
        else:
            figures[0] += count
            figures[1] += nav
            figures[2] = min(figures[2], first)
            figures[3] = max(figures[3], last)
        users_of_day, sessions_of_day, actions = days.setdefault(day, (set(), set(), [0]))
        users_of_day.add(user)
        sessions_of_day.add((user, session))
        actions[0] += count
    lengths = [(last - first).total_seconds() for _, _, first, last in sessions.values()]
    bounces = sum(1 for figures in sessions.values() if not figures[1])
    return {
        "users": len({user for user, _ in sessions}),
        "sessions": len(sessions),
        "actions": sum(figures[0] for figures in sessions.values()),
        "bounceRate": bounces / len(sessions) if sessions else None,
        "medianSessionSeconds": median(lengths) if lengths else None,
        "days": [{"day": day, "users": len(days[day][0]) if day in days else 0,
                  "sessions": len(days[day][1]) if day in days else 0,
                  "actions": days[day][2][0] if day in days else 0}
                 for day in _day_list(log_filter, tz, days)],
    }


def _pieces(db, log_filter, tz, deadline):
    """``(user, session, day, count, navigations, first, last)`` of the matching actions, each
    session's day (or hour) once: from the hours where they answer, else from the buckets.

    An hour a midnight of ``tz`` cuts is still answered by its hours' document when the session's
    actions of that hour all lie on one side of the midnight (its ``first`` and ``last`` say so),
    and so is an hour holding ``from`` or ``to`` when they lie all inside the range (``_inside``);
    only the other sessions are read from those hours' buckets, all in one read.
    """
    pieces = []
    try:
        layout = meta.layout(db, deadline.max_time_ms() if deadline else None)
        hourly = log_filter.types is None and meta.at_least(layout, meta.WITH_HOURS)
        rolled = meta.at_least(layout, meta.WITH_ROLLUPS) and by_hour_alone(log_filter, ())
        reads = [(None, None)]
        if hourly:
            lo, hi, edges = _whole_windows(log_filter)
            straddling = {}
            # The hours of the windows holding ``from``/``to`` are read too: a session whose actions
            # of such an hour all lie inside the range (or all outside) is answered by its hour
            # like any other; only those the bound cuts are read from the buckets.
            read_lo = window_of(log_filter.start.instant) if log_filter.start is not None else None
            read_hi = later(window_of(log_filter.end.instant), SPAN) if log_filter.end is not None else None
            if read_lo is None or read_hi is None or read_lo < read_hi:
                days, zone, midnights = _Days(tz, True), parse_tz(tz)[1], {}
                if rolled:
                    pipeline = rollups.sessions_pipeline(read_lo, read_hi)
                    hour_rows = rollups.sessions_rows(db[ROLLUPS], pipeline, _run_all, deadline)
                else:
                    pipeline = ip.overview_hours_pipeline(log_filter, read_lo, read_hi)
                    hour_rows = run(db[HOURS], pipeline, deadline, allowDiskUse=True)
                for row in hour_rows:
                    if not row["count"]:
                        continue
                    if row["w"] in edges:
                        inside = _inside(row, log_filter)
                        if inside is False:
                            continue
                        if inside is None:
                            straddling.setdefault(row["w"], set()).add((row["userId"], row["sessionId"]))
                            continue
                    day = days.of(row["w"])
                    if day is None:
                        midnight = midnights.get(row["w"])
                        if midnight is None:
                            midnight = midnights[row["w"]] = _midnight_in(row["w"], zone)
                        if row["first"] < midnight <= row["last"] or not row["w"] < midnight < later(row["w"], SPAN):
                            straddling.setdefault(row["w"], set()).add((row["userId"], row["sessionId"]))
                            continue
                        day = _as_utc(row["first"]).astimezone(zone).date().isoformat()
                    pieces.append((row["userId"], row["sessionId"], day, int(row["count"]),
                                   int(row["n"].get(NAVIGATE, 0)), row["first"], row["last"]))
            reads = []
            if straddling:
                # One read for the sessions of every cut hour: their buckets of those hours only.
                reads.append(((min(straddling), later(max(straddling), SPAN)), straddling))
        for first_range, straddled in reads:
            pipeline = ip.overview_buckets_pipeline(log_filter, tz, first_range)
            if straddled is not None:
                pipeline = only_buckets_of(pipeline, straddled)
            for row in run(db[SESSIONS], pipeline, deadline, allowDiskUse=True):
                key = row["_id"]
                pieces.append((key["userId"], key["sessionId"], key["day"], int(row["count"]), int(row["nav"]),
                               row["first"], row["last"]))
    except OperationFailure as exc:
        if exc.code in (40485, 40517):   # the server's tz database does not know the name
            raise UnknownTimeZone(tz) from None
        raise
    return pieces


def _inside(row, log_filter):
    """Whether the actions of an hour's row (its ``first``/``last``, to the millisecond) all lie
    inside the filter's ``from``/``to`` (True), all outside (False), or the bound may cut them (None:
    the buckets say, to the microsecond)."""
    start, end = log_filter.start, log_filter.end
    first, last = row["first"], row["last"]
    if (start is not None and last < start.instant) or (end is not None and first > end.instant):
        return False
    after_start = start is None or first > start.instant or (first == start.instant and not start.micros)
    before_end = end is None or last < end.instant or (last == end.instant and end.micros >= 999)
    return True if after_start and before_end else None


def _run_all(collection, pipeline, deadline):
    return run(collection, pipeline, deadline, allowDiskUse=True)


def _midnight_in(window, zone):
    """The first midnight of ``zone`` after the start of ``window`` (naive UTC), as naive UTC. (Where
    a zone skips its midnight the answer may fall outside the window: the caller then reads it.)"""
    local = _as_utc(window).astimezone(zone)
    following = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)
    return following.astimezone(timezone.utc).replace(tzinfo=None)


def _as_utc(instant):
    return instant.replace(tzinfo=timezone.utc)


def _day_list(log_filter, tz, days):
    """Every day from that of ``from`` (else the first day found) to that of ``to`` (else the last)."""
    zone = parse_tz(tz)[1]

    def day_of(bound):
        return bound.instant.replace(tzinfo=timezone.utc).astimezone(zone).date()

    found = sorted(days)
    if not found and (log_filter.start is None or log_filter.end is None):
        return []
    first = day_of(log_filter.start) if log_filter.start else date.fromisoformat(found[0])
    last = day_of(log_filter.end) if log_filter.end else date.fromisoformat(found[-1])
    listed, day = [], first
    while day <= last:
        listed.append(day.isoformat())
        day += timedelta(days=1)
    return listed


def top_values(db, log_filter, field, limit, deadline=None):
    """``[{value, count, users}]``: the most frequent values of property ``field``.

    ``viewedId``, ``pageTo`` and ``pageFrom`` are added up from the session-hours' values
    (``store.hour_values``) where they answer, and from the buckets elsewhere (``_sources``); any other
    property from the buckets, grouped by the database."""
    kind = TYPE_OF_PROPERTY.get(field)
    narrowed = ip.narrowed(log_filter, (kind,) if kind else ACTION_TYPES)
    if narrowed is None:
        return []
    if field not in hour_values.KEPT:
        pipeline = ip.top_pipeline(narrowed, field, limit)
        rows = run(db[SESSIONS], pipeline, deadline, allowDiskUse=True)
        return [{"value": plain(row["_id"]), "count": int(row["count"]), "users": int(row["users"])} for row in rows]
    if field == "viewedId":
        kept, reads = _sources(db, narrowed, "v", deadline)
        counts, seen = _added_up(kept, "v", lambda doc: doc["userId"])
    else:
        kept, reads = _sources(db, narrowed, "p", deadline)
        pair_counts, pairs_seen = _added_up(kept, "p", lambda doc: doc["userId"])
        side = 0 if field == "pageFrom" else 1
        page = {pair: hour_values.pages_of(pair)[side] for pair in pair_counts}
        counts = {}
        for pair, number in pair_counts.items():
            counts[page[pair]] = counts.get(page[pair], 0) + number
        seen = {user: {page[pair] for pair in pairs} for user, pairs in pairs_seen.items()}
    for first_range, straddled in reads:
        pipeline = ip.top_rows_pipeline(narrowed, field, first_range)
        if straddled is not None:
            pipeline = only_buckets_of(pipeline, straddled)
        for row in run(db[SESSIONS], pipeline, deadline, allowDiskUse=True):
            value, user = row["_id"]["v"], row["_id"]["u"]
            counts[value] = counts.get(value, 0) + int(row["c"])
            seen.setdefault(user, set()).add(value)
    users = Counter(chain.from_iterable(seen.values()))
    listed = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"value": value, "count": number, "users": users[value]} for value, number in listed[:limit]]


def _added_up(documents, part, owner):
    """``(counts, seen)`` of the values documents' ``part``: ``{key: count}`` summed, and per owner
    (``owner(doc)``: the user, or the session) the set of keys it had."""
    counts, seen = {}, {}
    get = counts.get
    for doc in documents:
        found = json.loads(doc[part])
        for name, number in found.items():
            counts[name] = get(name, 0) + number
        held = seen.get(owner(doc))
        if held is None:
            seen[owner(doc)] = set(found)
        else:
            held.update(found)
    return counts, seen


def _sources(db, log_filter, part, deadline):
    """Where a top list or the paths are read from: ``(kept, reads)``, ``kept`` the values
    documents (``store.hour_values``, their ``part``: ``values.PARTS``) of the session-hours wholly
    inside the filter's range, and ``reads`` the bucket reads of the rest, ``[(first_range,
    straddled)]``: the windows ``from``/``to`` cut (a range of ``first``), and the session-hours an
    overflow marker names (``{w: {(userId, sessionId)}}``, in one read). Every window is answered
    by exactly one of the two, chosen from the filter and the markers alone. A store not yet
    migrated to layout 5 reads the buckets alone."""
    layout = meta.layout(db, deadline.max_time_ms() if deadline else None)
    if not meta.at_least(layout, meta.WITH_VALUES):
        return [], [(None, None)]
    lo, hi, edges = _whole_windows(log_filter)
    kept, overflowed = [], {}
    if lo is None or hi is None or lo < hi:
        query = hour_values.read_filter(hours_match_stages(log_filter, lo, hi))
        kept, overflowed = hour_values.answering(find_all(db[hour_values.VALUES], query, hour_values.projection(part), deadline))
    reads = [(first_range, None) for first_range in _runs(sorted(edges))]
    if overflowed:
        reads.append(((min(overflowed), later(max(overflowed), SPAN)), overflowed))
    return kept, reads


def paths(db, log_filter, limit, deadline=None):
    """``{transitions: [{pageFrom, pageTo, count, sessions}], entries: [{page, sessions}], exits}``:
    from the session-hours' values where they answer, else from the buckets (``_sources``)."""
    narrowed = ip.narrowed(log_filter, (NAVIGATE,))
    if narrowed is None:
        return {"transitions": [], "entries": [], "exits": []}
    kept, reads = _sources(db, narrowed, "paths", deadline)
    kept = [doc for doc in kept if "e" in doc]
    counts, seen = _added_up(kept, "p", lambda doc: (doc["userId"], doc["sessionId"]))
    # Per session the first NAVIGATE (time, pageFrom) and the last (time, pageTo), in microseconds.
    entries, exits = {}, {}

    def enter(session, first, last):
        if session not in entries or first < entries[session]:
            entries[session] = first
        if session not in exits or last > exits[session]:
            exits[session] = last

    for doc in kept:
        enter((doc["userId"], doc["sessionId"]), tuple(doc["e"]), tuple(doc["x"]))
    for first_range, straddled in reads:
        pipeline = ip.paths_pipeline(narrowed, first_range)
        if straddled is not None:
            pipeline = only_buckets_of(pipeline, straddled)
        for row in run(db[SESSIONS], pipeline, deadline, allowDiskUse=True):
            key = row["_id"]
            session, frm, to = (key["userId"], key["sessionId"]), key.get("f"), key.get("to")
            pair = hour_values.pair_key(frm, to)
            counts[pair] = counts.get(pair, 0) + int(row["count"])
            seen.setdefault(session, set()).add(pair)
            enter(session, (hour_values.micros(row["lo"]["t"], int(row["lo"]["u"])), frm),
                  (hour_values.micros(row["hi"]["t"], int(row["hi"]["u"])), to))
    sessions = Counter(chain.from_iterable(seen.values()))
    listed = sorted(((hour_values.pages_of(pair), number, sessions[pair]) for pair, number in counts.items()),
                    key=lambda item: (-item[1], _name(item[0][0]), _name(item[0][1])))
    return {
        "transitions": [{"pageFrom": f, "pageTo": to, "count": count, "sessions": n}
                        for (f, to), count, n in listed[:limit]],
        "entries": _ranked(page for _, page in entries.values())[:limit],
        "exits": _ranked(page for _, page in exits.values())[:limit],
    }


def _ranked(pages):
    counted = Counter(pages)
    return [{"page": page, "sessions": count}
            for page, count in sorted(counted.items(), key=lambda item: (-item[1], _name(item[0])))]


def _name(value):
    """A sort key for a value of any JSON type: numbers, then strings, then anything else by repr
    (pages are strings: POST checks that pageFrom and pageTo are; a top list's values need not be)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, value) if isinstance(value, str) else (2, 0, repr(value))


def funnel(db, log_filter, steps, per="session", within=None, deadline=None):
    """``{steps: [{step, count, medianSecondsFromPrevious}]}`` for the parsed ``steps``."""
    counts = [0] * len(steps)
    gaps = [[] for _ in steps]
    narrowed = ip.narrowed(log_filter, {kind for kind, _, _ in steps})
    if narrowed is not None:
        pipeline = ip.funnel_pipeline(narrowed, steps)
        journeys = {}
        for row in run(db[SESSIONS], pipeline, deadline, allowDiskUse=True):
            key = row["userId"] if per == "user" else (row["userId"], row["sessionId"])
            journeys.setdefault(key, []).append(row)
        for rows in journeys.values():
            rows.sort(key=_order)
            times = _walk(rows, steps, within)
            for k, instant in enumerate(times):
                counts[k] += 1
                if k:
                    gaps[k].append((instant - times[k - 1]).total_seconds())
    return {"steps": [{"count": counts[k], "medianSecondsFromPrevious": median(gaps[k]) if gaps[k] else None}
                      for k in range(len(steps))]}


def _order(row):
    return (row["actions"]["t"], row["actions"].get("u", 0), row["sessionId"], row["b"], row["i"])


def _instant(row):
    return row["actions"]["t"] + timedelta(microseconds=row["actions"].get("u", 0))


def _matches(row, step):
    kind, key, values = step
    if row["actions"]["type"] != kind:
        return False
    if key is None:
        return True
    value = row["actions"]["p"].get(key, _MISSING)
    return any(type(value) is type(v) and value == v for v in values) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
        and any(isinstance(v, (int, float)) and value == v for v in values))


_MISSING = object()


def _walk(rows, steps, within):
    """The instants of the steps one journey reaches: step 1 its earliest match, each next step the
    earliest match after the previous one, none later than ``within`` seconds after step 1."""
    reached = []
    for row in rows:
        if len(reached) == len(steps):
            break
        if not _matches(row, steps[len(reached)]):
            continue
        instant = _instant(row)
        if reached and within is not None and (instant - reached[0]).total_seconds() > within:
            break
        reached.append(instant)
    return reached


def click_map(db, log_filter, page=None, deadline=None, pages_listed=50):
    """``{page, pages: [{page, clicks}], points: [{x, y, count}]}``: the CLICK positions of ``page``
    (without one, of the page with the most clicks). A click's page is its own ``page`` property,
    else the ``pageTo`` of its session's latest matching NAVIGATE before it; clicks before any are
    on no page."""
    narrowed = ip.narrowed(log_filter, (CLICK, NAVIGATE))
    by_page, points = Counter(), {}
    if narrowed is not None:
        pipeline = ip.clicks_pipeline(narrowed)
        sessions = {}
        for row in run(db[SESSIONS], pipeline, deadline, allowDiskUse=True):
            sessions.setdefault((row["userId"], row["sessionId"]), []).append(row)
        for rows in sessions.values():
            rows.sort(key=_order)
            current = None
            for row in rows:
                stored = row["actions"]
                if stored["type"] == NAVIGATE:
                    current = stored["p"].get("pageTo")
                    continue
                on = stored["p"].get("page", current)
                if on is None or not isinstance(on, str):
                    continue
                by_page[on] += 1
                points.setdefault(on, Counter())[(plain(stored["p"].get("locationX")),
                                                  plain(stored["p"].get("locationY")))] += 1
    ranked = sorted(by_page.items(), key=lambda item: (-item[1], item[0]))
    chosen = page if page is not None else (ranked[0][0] if ranked else None)
    spots = points.get(chosen, Counter())
    return {"page": chosen, "pages": [{"page": p, "clicks": n} for p, n in ranked[:pages_listed]],
            "points": [{"x": x, "y": y, "count": n} for (x, y), n in
                       sorted(spots.items(), key=lambda item: (-item[1], _name(item[0][0]), _name(item[0][1])))]}


def plain(value):
    """A stored value as JSON takes it: Int64 (what mongod returns for a long) as an int, inside
    objects and arrays too."""
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
