"""GET /logs per analyst query shape at growing sizes: page 1 and page 50 of the analyst shapes, the
user shapes, two-hour ranges and stats; how each grows with the data, and what ``explain`` says
each page examines per action it returns.

There is no single pipeline to hold a page against any more (a page is a few window reads, see
``store.reads``), so the target is growth: p50 at the larger size over p50 at the smaller. The
same pages are also read with ``store.query_page`` in this process (pymongo, no HTTP), which shows
what the HTTP layer adds.
"""
from __future__ import annotations

import itertools
import time
from http.client import RemoteDisconnected
from datetime import timedelta, timezone
from urllib.parse import urlencode, urlsplit

from werkzeug.datastructures import MultiDict

from logstore import filters, pipelines, store

from . import commands, data
from .report import spread
from .timing import Http, percentile, ratio

ACTIONS_PER_SESSION = 100           # bench.data's sessions: the flagship density (1,200 actions an hour)
USERS = (7, 31, 55, 79, 93)        # the users the user queries rotate over: all exist from 19,000 actions on
LIMIT = filters.DEFAULT_LIMIT       # what an analyst's page holds unless they ask otherwise
# Page shapes ask for pages of 500, so that page 50 exists at 100,000 actions for every shape
# (NAVIGATE is a third of the actions: 33,333, or 66 pages of 500 but only 33 of 1,000).
PAGE_LIMIT = 500
DEEP_PAGE = 50
FAR_BACK = "2020-01-01T00:00:00Z"   # before all of the data (which starts in 2026)
PAGE_SHAPES = {
    "types=CLICK,VIEW": {"types": "CLICK,VIEW"},
    "no filter": {},
    "types=NAVIGATE": {"types": "NAVIGATE"},
    "from= far back": {"from": FAR_BACK},
}
USER_SHAPES = ("user", "user+session", "user+types+range")
STATS_SHAPES = {
    "stats groupBy=type": ({"groupBy": "type"}, ("type",), "UTC"),
    "stats groupBy=day,type tz=+05:30": ({"groupBy": "day,type", "tz": "+05:30"}, ("day", "type"), "+05:30"),
}
FAST_RUNS = 3                       # the user shapes take milliseconds: this many times the runs
TIME_LIMIT_MS = 120_000
STATS_RUNS = 3                      # stats add up every bucket: a few runs are enough


def utc(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def session_start(k):
    return data.BASE + data.SESSION_GAP * k


def shapes(sessions, turn):
    """Query parameters of the user and range shapes over a dataset of ``sessions`` sessions.

    The range shapes ask for the last two hours of data, the usual "what happened lately" question,
    so the same amount of data matches at every size.
    """
    user = USERS[turn % len(USERS)]
    end = session_start(sessions) + timedelta(seconds=ACTIONS_PER_SESSION)
    recent = {"from": utc(end - timedelta(hours=2)), "to": utc(end)}
    return {
        "user": {"userId": data.user_name(user)},
        "user+session": {"userId": data.user_name(user), "sessionId": data.session_name(2 * user + 1)},
        "user+types+range": {"userId": data.user_name(user), "types": "CLICK,VIEW",
                             "from": utc(session_start(2 * user) + timedelta(seconds=20)),
                             "to": utc(session_start(2 * user + 1) + timedelta(seconds=50))},
        "types+range": {"types": "CLICK", **recent},
        "several types+range": {"types": "CLICK,NAVIGATE", **recent},
        "range": dict(recent),
    }


def log_filter(params):
    return filters.parse_filter(MultiDict({k: v for k, v in params.items() if k != "limit"}))


def grow(ctx, collection, sessions):
    """Seed the query database up to ``sessions`` sessions of 100 actions (user of session k: k // 2,
    so every user holds two sessions at any size) through the service's bucketing."""
    have = ctx.query_sessions
    if sessions <= have:
        return 0.0
    start = time.perf_counter()
    for first in range(have, sessions, 20):
        logs = [data.session_log(k, 0, ACTIONS_PER_SESSION, user=data.user_name(k // 2))
                for k in range(first, min(first + 20, sessions))]
        data.insert_documents(collection, data.stored_documents(data.body(logs)))
    ctx.query_sessions = sessions
    return time.perf_counter() - start


class Probe:
    """One shape at one page: its HTTP path, and what ``store.query_page`` needs to read the same page."""

    def __init__(self, name, params, limit, after=None, path=None):
        self.name, self.params, self.limit, self.after = name, params, limit, after
        self.filter = log_filter(params)
        self.path = path or "/logs?" + urlencode(params)

    def direct(self, db):
        return store.query_page(db, self.filter, self.limit, self.after)


def page_probes(ctx, base, database):
    """Page 1 and page DEEP_PAGE of every page shape; page DEEP_PAGE found by following ``Link``
    over HTTP and, for the direct read, by the last row of each page read with ``store.query_page``."""
    db = ctx.client[database]
    http = Http(base)
    probes = []
    try:
        for name, params in PAGE_SHAPES.items():
            params = {**params, "limit": str(PAGE_LIMIT)}
            first = Probe(f"{name}, page 1", params, PAGE_LIMIT)
            path, after = first.path, None
            for _ in range(DEEP_PAGE - 1):
                path = next_path(http, path)
                rows, more = first.direct(db) if after is None else store.query_page(db, first.filter, PAGE_LIMIT, after)
                if path is None or not more:
                    raise RuntimeError(f"{name}: fewer than {DEEP_PAGE} pages of {PAGE_LIMIT}")
                after = pipelines.sort_key(rows[-1])
            probes += [first, Probe(f"{name}, page {DEEP_PAGE}", params, PAGE_LIMIT, after, path)]
    finally:
        http.close()
    return probes


def next_path(http, path):
    """GET ``path``; the path and query of its ``Link: rel="next"`` (None without one)."""
    try:
        http.connection.request("GET", path)
        response = http.connection.getresponse()
    except (OSError, RemoteDisconnected):        # the server closed the kept connection meanwhile
        http.connection.close()
        http.connection.request("GET", path)
        response = http.connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
    link = response.getheader("Link")
    if not link:
        return None
    url = urlsplit(link.split(";")[0].strip().strip("<>"))
    return f"{url.path}?{url.query}"


def other_probes(sessions, turn):
    return [Probe(name, params, LIMIT) for name, params in shapes(sessions, turn).items()]


def measure(ctx, base, database, sessions, repeats, pages):
    """Interleaved HTTP GET / direct ``store.query_page`` timings: {shape: (http list, direct list)}."""
    db = ctx.client[database]
    http = Http(base)
    timings = {}
    try:
        # The user shapes take milliseconds, so one stray spike of a neighbour's load moves their
        # percentiles: they get FAST_RUNS times as many runs as the others.
        for turn in range(repeats * FAST_RUNS + 1):               # turn 0 warms up and is not kept
            for probe in pages + other_probes(sessions, turn):
                fast = probe.name in USER_SHAPES
                if not fast and turn % FAST_RUNS != 0:
                    continue
                steps = [("http", lambda: get_ok(http, probe.path)), ("direct", lambda: probe.direct(db))]
                order = turn if fast else turn // FAST_RUNS
                for kind, step in (steps if order % 2 == 0 else steps[::-1]):
                    start = time.perf_counter()
                    step()
                    if turn:
                        timings.setdefault(probe.name, ([], []))[0 if kind == "http" else 1].append(
                            time.perf_counter() - start)
            if turn % FAST_RUNS == 0 and (turn == 0 or turn // FAST_RUNS <= STATS_RUNS):
                for name, (params, group_by, tz) in STATS_SHAPES.items():
                    the_filter = log_filter({})
                    steps = [("http", lambda: get_ok(http, "/logs/stats?" + urlencode(params))),
                             ("direct", lambda: store.action_stats(db, the_filter, group_by, tz))]
                    for kind, step in (steps if turn % 2 == 0 else steps[::-1]):
                        start = time.perf_counter()
                        step()
                        if turn:
                            timings.setdefault(name, ([], []))[0 if kind == "http" else 1].append(
                                time.perf_counter() - start)
    finally:
        http.close()
    return timings


def get_ok(http, path):
    status, body = http.request("GET", path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    return body


def explain(ctx, database, sessions, pages):
    """Per shape and page: every pipeline ``store.query_page`` sent (``bench.commands``), explained;
    index keys and bucket documents examined in all, the indexes used, and the actions the page
    returned."""
    db = ctx.client[database]
    summary = {}
    for probe in pages + other_probes(sessions, 0):
        (rows, _), found = commands.examined(ctx, db, lambda: probe.direct(db))
        summary[probe.name] = {**found, "returned": len(rows)}
    return summary


def unwound_share(ctx, database):
    """Per stats shape over the whole store (no range): the hour documents the count read, the
    actions in the buckets it read (the windows the hours cannot answer) and how many of those were
    unwound action by action (``whole_bucket`` false), and all actions counted."""
    db = ctx.client[database]
    shares = {}
    for name, (_, group_by, tz) in STATS_SHAPES.items():
        the_filter = log_filter({})
        with ctx.commands.recording() as sent:
            counted = sum(row["count"] for row in store.action_stats(db, the_filter, group_by, tz))
        hours_read = in_buckets = unwound = 0
        for collection, pipeline in commands.aggregates(sent):
            matches = list(itertools.takewhile(lambda stage: "$match" in stage, pipeline))
            if collection == store.SESSIONS:
                whole = pipelines.whole_bucket(the_filter, "day" in group_by, tz)
                for group in db[collection].aggregate(matches + [
                        {"$group": {"_id": {"$cond": [whole, True, False]}, "n": {"$sum": "$count"}}}]):
                    in_buckets += group["n"]
                    unwound += 0 if group["_id"] else group["n"]
            else:
                hours_read += sum(row["n"] for row in db[collection].aggregate(matches + [{"$count": "n"}]))
        shares[name] = (unwound, counted, hours_read, in_buckets)
    return shares


def run(ctx):
    """Seed each size, time every shape over HTTP and directly, explain it; then how latency grows."""
    database = ctx.procs.new_database("query")
    ctx.query_database = database
    ctx.query_sessions = 0
    collection = ctx.client[database][store.SESSIONS]
    repeats = 3 if ctx.quick else 5
    results, explains, shares = {}, {}, {}
    # A generous time limit: this part measures what each read costs, even past the 10 s default
    # (the load part runs with the default limits).
    base, server = ctx.procs.start_gunicorn(database, workers=1, env={"LOGSTORE_QUERY_TIMEOUT_MS": str(TIME_LIMIT_MS),
                                                                    "LOGSTORE_DB_SOCKET_TIMEOUT_MS": str(TIME_LIMIT_MS + 10_000)})
    ctx.query_base, ctx.query_server = base, server
    for size in ctx.sizes:
        sessions = size // ACTIONS_PER_SESSION
        seconds = grow(ctx, collection, sessions)
        ctx.report.note(f"Seeded the query data to {size:,} actions ({sessions:,} sessions of "
                        f"{ACTIONS_PER_SESSION}, {collection.estimated_document_count():,} bucket documents) in "
                        f"{seconds:.1f} s with pymongo `insert_many` of the buckets, hours' counts and rollups the service would store.")
        pages = page_probes(ctx, base, database)
        results[size] = measure(ctx, base, database, sessions, repeats, pages)
        explains[size] = explain(ctx, database, sessions, pages)
        shares[size] = unwound_share(ctx, database)
        _report_size(ctx, size, results[size], repeats)
        # Each size's explain and stats share at once, so that an interrupted run keeps them.
        _report_explain(ctx, {size: explains[size]})
        _report_shares(ctx, {size: shares[size]})
        for part in ctx.at_each_size:
            part(ctx, size)
    ctx.stop_query_server = lambda: ctx.procs.stop_server(server)
    _report_growth(ctx, results)


def _is_page(name):
    return any(name.startswith(shape + ",") for shape in PAGE_SHAPES)


def _report_size(ctx, size, timings, repeats):
    rows = []
    for name, (http, direct) in timings.items():
        h50, h95, d50, d95 = (percentile(http, 0.5), percentile(http, 0.95),
                              percentile(direct, 0.5), percentile(direct, 0.95))
        rows.append((name, len(http), f"{h50 * 1000:.0f} / {h95 * 1000:.0f}", f"{d50 * 1000:.0f} / {d95 * 1000:.0f}",
                     f"{(h50 - d50) * 1000:.0f}"))
    ctx.report.table(
        f"GET /logs and /logs/stats at {size:,} stored actions (gunicorn 1 worker, LOGSTORE_QUERY_TIMEOUT_MS="
        f"{TIME_LIMIT_MS}, one client, sequential), and "
        f"the same read called in-process (`store.query_page` / `store.action_stats`, pymongo); interleaved. "
        f"Page shapes: pages of {PAGE_LIMIT}, page {DEEP_PAGE} by following `Link` {DEEP_PAGE - 1} times, then "
        f"its URL timed; user and range shapes: pages of {LIMIT}",
        ("shape", "runs", "HTTP p50 / p95 ms", "direct p50 / p95 ms", "HTTP − direct p50 ms"), rows)


def _report_growth(ctx, results):
    if len(results) < 2:
        return
    small, large = min(results), max(results)
    rows, page_growth, user_growth = [], [], []
    for name in results[small]:
        grow_http = ratio(percentile(results[large][name][0], 0.5), percentile(results[small][name][0], 0.5))
        grow_direct = ratio(percentile(results[large][name][1], 0.5), percentile(results[small][name][1], 0.5))
        if _is_page(name):
            target = f"≤ 1.5: {'met' if grow_http <= 1.5 else 'NOT met'}"
            page_growth.append(grow_http)
        elif name in USER_SHAPES:
            target = f"< 2: {'met' if grow_http < 2 else 'NOT met'}"
            user_growth.append(grow_http)
        else:
            target = ""
        rows.append((name, f"{grow_http:.2f}", f"{grow_direct:.2f}", target))
    ctx.report.table(f"Latency growth from {small:,} to {large:,} stored actions (p50 at the larger size / p50 "
                     "at the smaller)", ("shape", "HTTP", "direct", "target (HTTP)"), rows)
    if page_growth:
        ctx.report.target("page p50 growth from 100,000 to 1,000,000 actions (evenly spread data, every page shape, "
                          "HTTP)", "≤ 1.5×", spread(page_growth, "×"), max(page_growth) <= 1.5)
    if user_growth:
        ctx.report.target("user query p50 growth from 100,000 to 1,000,000 actions (HTTP)", "< 2×",
                          spread(user_growth, "×"), max(user_growth) < 2)


def _report_explain(ctx, explains):
    rows, pers = [], []
    for size, summary in explains.items():
        for name, item in summary.items():
            returned = max(item["returned"], 1)
            per = (item["keys"] + item["docs"]) / returned
            pers.append(per)
            rows.append((f"{size:,}", name, item["index"], item["reads"], item["keys"], item["docs"],
                         item["returned"], f"{per:.3f}", f"≤ 2: {'met' if per <= 2 else 'NOT met'}"))
    ctx.report.table(
        "`explain` (executionStats) of every pipeline one page ran (`store.query_page`, its commands seen by a pymongo command listener): the "
        "indexes used, the window reads, index keys and bucket documents examined in all, actions returned, "
        "and (keys + docs) per action returned",
        ("actions", "shape", "indexes", "reads", "keys", "docs", "returned", "examined per returned", "target"),
        rows)
    if pers and max(explains) == 1_000_000:
        ctx.report.target("`explain` of every window read of a page, evenly spread data at 1,000,000: index keys + "
                          "bucket documents examined per action returned", "≤ 2", spread(pers, digits=3),
                          max(pers) <= 2)


def _report_shares(ctx, shares):
    rows, all_shares = [], []
    for size, per_shape in shares.items():
        for name, (unwound, counted, hours_read, in_buckets) in per_shape.items():
            share = ratio(unwound, counted)
            all_shares.append(share)
            rows.append((f"{size:,}", name, f"{counted:,}", f"{hours_read:,}", f"{in_buckets:,}", f"{unwound:,}",
                         f"{share:.1%}", f"≤ 10%: {'met' if share <= 0.10 else 'NOT met'}"))
    ctx.report.table(
        "Stats over the whole store (no range), as `store.action_stats` ran them (seen by a pymongo command listener): hour documents "
        "read (`session_hours`), actions in the buckets read (windows a midnight of the zone cuts), of those "
        "unwound action by action (buckets not whole) against all actions counted",
        ("actions", "stats", "counted", "hour documents read", "actions in buckets read", "unwound", "share",
         "target"), rows)
    if all_shares and max(shares) == 1_000_000:
        ctx.report.target("stats over the whole store at 1,000,000: actions unwound one by one ÷ actions counted",
                          "≤ 10 %", spread([s * 100 for s in all_shares], " %", digits=1), max(all_shares) <= 0.10)
