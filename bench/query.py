"""GET /logs per analyst query shape at growing sizes, against the same pipeline run with pymongo."""
from __future__ import annotations

import json
import time
from datetime import timedelta, timezone
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from logstore import filters, pipelines, storage

from . import data
from .timing import Http, percentile, ratio

ACTIONS_PER_SESSION = 500           # one full bucket per session
USERS = (7, 31, 55, 79, 93)        # the users the user queries rotate over: all exist from 94,000 actions on
LIMIT = filters.DEFAULT_LIMIT       # what an analyst's page holds unless they ask otherwise
USER_SHAPES = ("user", "user+session", "user+types+range")
FAST_RUNS = 3


def utc(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def session_start(k):
    return data.BASE + data.SESSION_GAP * k


def shapes(sessions, turn):
    """Query parameters of each analyst shape over a dataset of ``sessions`` sessions.

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
                             "from": utc(session_start(2 * user) + timedelta(minutes=2)),
                             "to": utc(session_start(2 * user + 1) + timedelta(minutes=5))},
        "types+range": {"types": "CLICK", **recent},
        "several types+range": {"types": "CLICK,NAVIGATE", **recent},
        "range": dict(recent),
    }


def log_filter(params):
    return filters.parse_filter(MultiDict(params))


def grow(ctx, collection, sessions):
    """Seed the query database up to ``sessions`` sessions (user of session k: k // 2)."""
    have = ctx.query_sessions
    if sessions <= have:
        return 0.0
    start = time.perf_counter()
    for first in range(have, sessions, 20):
        logs = [data.session_log(k, 0, ACTIONS_PER_SESSION, user=data.user_name(k // 2))
                for k in range(first, min(first + 20, sessions))]
        collection.insert_many(data.stored_documents(data.body(logs)), ordered=False)
    ctx.query_sessions = sessions
    return time.perf_counter() - start


def measure(ctx, base, database, sessions, repeats):
    """Interleaved HTTP GET / raw aggregate timings per shape: {shape: (http list, raw list)}."""
    collection = ctx.client[database][storage.SESSIONS]
    http = Http(base)
    timings = {name: ([], []) for name in shapes(sessions, 0)}
    try:
        # The user shapes take tens of ms, so one stray spike of a neighbour's load moves their
        # percentiles: they get FAST_RUNS times as many runs as the shapes that take hundreds.
        for turn in range(repeats * FAST_RUNS + 1):               # turn 0 warms up and is not kept
            for name, params in shapes(sessions, turn).items():
                fast = name in USER_SHAPES
                if not fast and turn % FAST_RUNS != 0:
                    continue
                pipeline = pipelines.page_pipeline(log_filter(params), LIMIT)
                path = "/logs?" + urlencode(params)
                steps = [("http", lambda: _get(http, path)),
                         ("raw", lambda: list(collection.aggregate(pipeline, allowDiskUse=True)))]
                order = turn if fast else turn // FAST_RUNS
                for kind, step in (steps if order % 2 == 0 else steps[::-1]):
                    start = time.perf_counter()
                    step()
                    if turn:
                        timings[name][0 if kind == "http" else 1].append(time.perf_counter() - start)
    finally:
        http.close()
    return timings


def _get(http, path):
    status, body = http.request("GET", path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    return body


def explain(ctx, database, sessions):
    """Per shape: the index used, keys and bucket documents examined, actions unwound, per action returned."""
    db = ctx.client[database]
    summary = {}
    for name, params in shapes(sessions, 0).items():
        the_filter = log_filter(params)
        pipeline = pipelines.page_pipeline(the_filter, LIMIT)
        explained = db.command("explain", {"aggregate": storage.SESSIONS, "pipeline": pipeline, "cursor": {}},
                               verbosity="executionStats")
        stats = explained.get("executionStats") or explained["stages"][0]["$cursor"]["executionStats"]
        plan = json.dumps(explained.get("queryPlanner") or explained["stages"][0]["$cursor"]["queryPlanner"], default=str)
        returned = len(list(db[storage.SESSIONS].aggregate(pipeline))[:LIMIT])
        counted = list(db[storage.SESSIONS].aggregate(
            pipelines.bucket_match_stages(the_filter) + [{"$group": {"_id": None, "n": {"$sum": "$count"}}}]))
        unwound = counted[0]["n"] if counted else 0
        summary[name] = {
            "index": _index_names(plan),
            "keys": stats.get("totalKeysExamined", 0), "docs": stats.get("totalDocsExamined", 0),
            "returned": returned, "unwound": unwound,
        }
    return summary


def _index_names(plan_text):
    names = []
    decoded = json.loads(plan_text)

    def walk(node):
        if isinstance(node, dict):
            if node.get("stage") == "COLLSCAN":
                names.append("COLLSCAN")
            if "indexName" in node:
                names.append(node["indexName"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(decoded)
    return ", ".join(dict.fromkeys(names)) or "?"


def run(ctx):
    """Seed each size, time every shape over HTTP and raw, explain it; then how latency grows."""
    database = ctx.procs.new_database("query")
    ctx.query_database = database
    ctx.query_sessions = 0
    collection = ctx.client[database][storage.SESSIONS]
    repeats = 5 if ctx.quick else 20
    results, explains = {}, {}
    base, server = ctx.procs.start_gunicorn(database, workers=1)
    ctx.query_base, ctx.query_server = base, server
    for size in ctx.sizes:
        sessions = size // ACTIONS_PER_SESSION
        seconds = grow(ctx, collection, sessions)
        ctx.report.note(f"Seeded the query data to {size:,} actions ({sessions:,} bucket documents) in "
                        f"{seconds:.1f} s with pymongo `insert_many` of stored-shape buckets.")
        results[size] = measure(ctx, base, database, sessions, repeats)
        explains[size] = explain(ctx, database, sessions)
        _report_size(ctx, size, results[size], repeats)
        for part in ctx.at_each_size:
            part(ctx, size)
    ctx.stop_query_server = lambda: ctx.procs.stop_server(server)
    _report_growth(ctx, results)
    _report_explain(ctx, explains)


def _report_size(ctx, size, timings, repeats):
    rows = []
    for name, (http, raw) in timings.items():
        h50, h95, r50, r95 = (percentile(http, 0.5), percentile(http, 0.95),
                              percentile(raw, 0.5), percentile(raw, 0.95))
        met = ratio(h50, r50) <= 1.3 and ratio(h95, r95) <= 1.3
        rows.append((name, f"{h50 * 1000:.0f} / {h95 * 1000:.0f}", f"{r50 * 1000:.0f} / {r95 * 1000:.0f}",
                     f"{ratio(h50, r50):.2f} / {ratio(h95, r95):.2f}", f"≤ 1.3: {'met' if met else 'NOT met'}"))
    ctx.report.table(
        f"GET /logs at {size:,} stored actions (page of {LIMIT}, format=sessions, gunicorn 1 worker), against "
        f"`aggregate(page_pipeline(...))` with pymongo; interleaved, {repeats * FAST_RUNS} runs of each user "
        f"shape and {repeats} of the others",
        ("shape", "HTTP p50 / p95 ms", "raw p50 / p95 ms", "ratio p50 / p95", "target"), rows)


def _report_growth(ctx, results):
    if len(results) < 2:
        return
    small, large = min(results), max(results)
    rows = []
    for name in results[small]:
        grow_http = ratio(percentile(results[large][name][0], 0.5), percentile(results[small][name][0], 0.5))
        grow_raw = ratio(percentile(results[large][name][1], 0.5), percentile(results[small][name][1], 0.5))
        target = (f"< 2: {'met' if grow_http < 2 else 'NOT met'}" if name in USER_SHAPES else "")
        rows.append((name, f"{grow_http:.2f}", f"{grow_raw:.2f}", target))
    ctx.report.table(f"Latency growth from {small:,} to {large:,} stored actions (p50 at the larger size / p50 "
                     "at the smaller)", ("shape", "HTTP", "raw", "target (user queries)"), rows)


def _report_explain(ctx, explains):
    rows = []
    for size, summary in explains.items():
        for name, item in summary.items():
            returned = max(item["returned"], 1)
            per = (item["keys"] + item["docs"]) / returned
            target = f"≤ 2: {'met' if per <= 2 else 'NOT met'}" if name in USER_SHAPES else ""
            rows.append((f"{size:,}", name, item["index"], item["keys"], item["docs"], item["returned"],
                         f"{item['keys'] / returned:.3f} / {item['docs'] / returned:.3f}",
                         f"{item['unwound'] / returned:.2f}", target))
    ctx.report.table(
        "`explain` (executionStats) of each page pipeline: the index of its first `$match`, index keys and "
        "bucket documents examined, actions returned (one page), examined per action returned, and actions "
        "unwound (held by the examined buckets) per action returned",
        ("actions", "shape", "index", "keys", "docs", "returned", "keys / docs per returned",
         "unwound per returned", "target (keys + docs per returned)"), rows)
