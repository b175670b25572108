"""GET /logs and stats over shapes of data beside the evenly spread month (issue 17): a few
sessions years before the rest, a burst (every session starting within the same hour), a type
that is 1 action in 200, and most of the month deleted through ``DELETE /logs?to=``.

Per shape and size: page 1 and page 50 (or the last page, when a query has fewer) of every page
shape, over HTTP (p50 of a few runs, 1 gunicorn worker); ``explain`` of every read one page runs
(index keys plus bucket documents examined, per action returned); stats by type and by day and type
in ``+05:30``. Then how each page grows from the smaller size to the larger, against the targets;
and, on the largest spread data, six analyst clients looping one-day queries for 15 s (2 workers).

One shape and one size at a time: ``LOGSTORE_BENCH_SHAPES=burst LOGSTORE_BENCH_SHAPE_SIZES=1000000
python3 dev.py bench --parts shapes --no-write`` (comma lists; unset: every shape at the suite's
sizes). Seeding is timed and reported with each shape. ``LOGSTORE_BENCH_PORTS=5170-5179`` keeps the
servers on those loopback ports (``bench.procs``).
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from logstore import pipelines, store

from . import commands, data
from .query import Probe, next_path, log_filter, utc
from .report import spread
from .timing import Http, percentile, ratio

ACTIONS = 100                     # per session
USERS = 1000
PAGE_LIMIT = 500
DEEP_PAGE = 50
RUNS = 3
STATS_RUNS = 3
TIME_LIMIT_MS = 120_000
SHAPES = ("spread", "gap", "burst", "rare", "deleted")
# ``LOGSTORE_BENCH_SHAPE_SIZES=100000`` (a comma list): other sizes than the suite's, for a shorter run.
SIZES_VARIABLE = "LOGSTORE_BENCH_SHAPE_SIZES"
# ``LOGSTORE_BENCH_SHAPES=burst,rare`` (a comma list of SHAPES): only those shapes (the team of six
# analysts runs only with ``spread``), so that the 1,000,000 figures can be taken shape by shape.
SHAPES_VARIABLE = "LOGSTORE_BENCH_SHAPES"
RARE_EVERY = 200
DELETED_SHARE = 25 / 30
TEAM_CLIENTS = 6
TEAM_SECONDS = 15
PAGE_TARGET_MS = 250
STATS_TARGET_MS = 1000


def session_start(shape, k, sessions):
    if shape == "burst":
        return data.BASE + timedelta(seconds=3600 * k / sessions)
    return data.BASE + data.SESSION_GAP * k


def session(shape, k, sessions):
    begin = session_start(shape, k, sessions)
    actions = []
    for n in range(ACTIONS):
        act = data.action(k, n)
        act["time"] = (begin + timedelta(seconds=n)).isoformat()
        if shape == "rare":
            act["type"] = "NAVIGATE" if (k * ACTIONS + n) % RARE_EVERY == 0 else ("CLICK", "VIEW")[n % 2]
            act["properties"] = data.action(k, {"CLICK": 0, "VIEW": 1, "NAVIGATE": 2}[act["type"]])["properties"]
        actions.append(act)
    return {"userId": data.user_name(k % USERS), "sessionId": data.session_name(k), "actions": actions}


OLD = [{"userId": "ABC123XYZ", "sessionId": f"XYZ456ABC{n}", "actions": [
    {"time": f"2018-10-18T21:37:{28 + n}-06:00", "type": kind, "properties": props}
    for kind, props in (("CLICK", {"locationX": 52, "locationY": 11}), ("VIEW", {"viewedId": "FDJKLHSLD"}),
                        ("NAVIGATE", {"pageFrom": "communities", "pageTo": "inventory"}))]} for n in range(3)]


def seed(db, shape, size):
    sessions = size // ACTIONS
    started = time.perf_counter()
    collection = db[store.SESSIONS]
    if shape == "gap":
        data.insert_documents(collection, data.stored_documents(data.body(OLD)))
    for first in range(0, sessions, 20):
        logs = [session(shape, k, sessions) for k in range(first, min(first + 20, sessions))]
        data.insert_documents(collection, data.stored_documents(data.body(logs)))
    return time.perf_counter() - started


def data_span(shape, size):
    sessions = size // ACTIONS
    first = session_start(shape, 0, sessions)
    last = session_start(shape, sessions - 1, sessions) + timedelta(seconds=ACTIONS)
    if shape == "deleted":
        first = first + (last - first) * DELETED_SHARE
    return first, last


def page_shapes(shape, size):
    first, last = data_span(shape, size)
    middle = first + (last - first) / 2
    rare = "NAVIGATE"
    return {
        "no filter": {},
        "types=CLICK,VIEW": {"types": "CLICK,VIEW"},
        f"types={rare} (rare)" if shape == "rare" else f"types={rare}": {"types": rare},
        "from= mid-data": {"from": utc(middle)},
        "one user": {"userId": data.user_name(7)},
    }


def probes(ctx, base, db, shape, size):
    """Page 1 and page DEEP_PAGE (or the last) of every page shape: (name, params, page, Probe)."""
    http = Http(base)
    found = []
    try:
        for name, params in page_shapes(shape, size).items():
            params = {**params, "limit": str(PAGE_LIMIT)}
            first = Probe(f"{name}", params, PAGE_LIMIT)
            found.append((name, 1, first))
            path, after, page = first.path, None, 1
            for _ in range(DEEP_PAGE - 1):
                following = next_path(http, path)
                rows, more = store.query_page(db, first.filter, PAGE_LIMIT, after)
                if following is None or not more:
                    break
                path, after, page = following, pipelines.sort_key(rows[-1]), page + 1
            if page > 1:
                found.append((name, page, Probe(name, params, PAGE_LIMIT, after, path)))
    finally:
        http.close()
    return found


def timed(http, path, runs):
    times = []
    for turn in range(runs + 1):
        start = time.perf_counter()
        status, body = http.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        if turn:                                   # the first run warms up and is not kept
            times.append(time.perf_counter() - start)
    return percentile(times, 0.5)


def examined(ctx, db, probe):
    (rows, _), found = commands.examined(ctx, db, lambda: probe.direct(db))
    return {**found, "returned": len(rows)}


def measure_shape(ctx, shape, size):
    database = ctx.procs.new_database(f"shape_{shape}")
    db = ctx.client[database]
    seconds = seed(db, shape, size)
    notes = [f"{shape} at {size:,}: seeded in {seconds:.0f} s ({db[store.SESSIONS].estimated_document_count():,} buckets)"]
    base, server = ctx.procs.start_gunicorn(database, workers=1, env={
        "LOGSTORE_QUERY_TIMEOUT_MS": str(TIME_LIMIT_MS), "LOGSTORE_DB_SOCKET_TIMEOUT_MS": str(TIME_LIMIT_MS + 10_000)})
    http = Http(base)
    results = {}
    try:
        if shape == "deleted":
            first, last = data_span("spread", size)
            cut = utc(first + (last - first) * DELETED_SHARE)
            started = time.perf_counter()
            status, body = http.request("DELETE", "/logs?" + urlencode({"to": cut}))
            notes.append(f"`DELETE /logs?to={cut}` answered {status} {body[:60].decode(errors='replace')} "
                         f"in {time.perf_counter() - started:.1f} s")
        for name, page, probe in probes(ctx, base, db, shape, size):
            results[(name, page)] = {"ms": timed(http, probe.path, RUNS) * 1000, **examined(ctx, db, probe)}
        for name, params in (("stats groupBy=type", {"groupBy": "type"}),
                             ("stats groupBy=day,type tz=+05:30", {"groupBy": "day,type", "tz": "+05:30"})):
            results[(name, None)] = {"ms": timed(http, "/logs/stats?" + urlencode(params), STATS_RUNS) * 1000}
    finally:
        http.close()
        ctx.procs.stop_server(server)
    ctx.client.drop_database(database) if shape != "spread" or size != max(ctx.sizes) else None
    if shape == "spread" and size == max(ctx.sizes):
        ctx.shapes_spread_database = database
    return results, notes


def team(ctx, database, threads):
    """Six clients looping one-day queries across all users for TEAM_SECONDS on 2 workers."""
    base, server = ctx.procs.start_gunicorn(database, workers=2, env={"GUNICORN_THREADS": str(threads)})
    outcomes, lock = Counter(), threading.Lock()
    stop_at = time.monotonic() + TEAM_SECONDS
    day0 = data.BASE.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)

    def client(number):
        http = Http(base)
        turn = number
        try:
            while time.monotonic() < stop_at:
                day = day0 + timedelta(days=1 + turn % 28)
                params = {"from": utc(day), "to": utc(day + timedelta(days=1) - timedelta(seconds=1)),
                          "limit": "1000", **({"types": "CLICK,VIEW"} if turn % 2 else {})}
                status, _ = http.request("GET", "/logs?" + urlencode(params))
                with lock:
                    outcomes[status] += 1
                turn += 1
        finally:
            http.close()

    threads_ = [threading.Thread(target=client, args=(n,)) for n in range(TEAM_CLIENTS)]
    for thread in threads_:
        thread.start()
    for thread in threads_:
        thread.join(TEAM_SECONDS + 120)
    ctx.procs.stop_server(server)
    return outcomes


def run(ctx):
    results, notes = {}, []
    sizes = os.environ.get(SIZES_VARIABLE)
    if sizes:
        ctx.sizes = tuple(int(size) for size in sizes.split(","))
    chosen = _chosen_shapes(os.environ.get(SHAPES_VARIABLE))
    for size in ctx.sizes:
        for shape in chosen:
            print(f"-- shapes: {shape} at {size:,}", flush=True)
            results[(shape, size)], shape_notes = measure_shape(ctx, shape, size)
            notes += shape_notes
            _report_one(ctx, shape, size, results[(shape, size)], shape_notes)   # kept if interrupted
    if len(ctx.sizes) > 1:
        _report_growth(ctx, results, notes, chosen)
    _team(ctx, max(ctx.sizes))


def _chosen_shapes(spec):
    """The shapes a comma list names (unset or empty: every one), in SHAPES order."""
    if not spec:
        return SHAPES
    names = {name.strip() for name in spec.split(",") if name.strip()}
    unknown = names - set(SHAPES)
    if unknown:
        raise SystemExit(f"{SHAPES_VARIABLE}: unknown shapes {sorted(unknown)}; known: {', '.join(SHAPES)}")
    return tuple(shape for shape in SHAPES if shape in names)


def _report_one(ctx, shape, size, results, notes):
    rows = []
    for (name, page), item in results.items():
        if page is None:
            rows.append((shape, name, "", f"{item['ms']:.0f}", "", f"≤ {STATS_TARGET_MS} ms: "
                         f"{'met' if item['ms'] <= STATS_TARGET_MS else 'NOT met'}"))
            continue
        per = (item["keys"] + item["docs"]) / max(item["returned"], 1)
        bound = 20 if shape == "burst" else 4
        rows.append((shape, name, page, f"{item['ms']:.0f}",
                     f"{per:.2f} ({item['reads']} reads, {item['keys']:,} keys, {item['docs']:,} docs, "
                     f"{item['returned']} rows; {item['index']})",
                     f"≤ {PAGE_TARGET_MS} ms: {'met' if item['ms'] <= PAGE_TARGET_MS else 'NOT met'}; "
                     f"≤ {bound}: {'met' if per <= bound else 'NOT met'}"))
    ctx.report.table(f"{shape} at {size:,} actions ({'; '.join(notes)}): pages of {PAGE_LIMIT} over HTTP "
                     f"(p50 of {RUNS}), explain of every read of the page", (
                         "data", "query", "page", "p50 ms", "examined per returned", "targets"), rows)
    if size == max(ctx.sizes):
        _record_targets(ctx, shape, size, results)


def _record_targets(ctx, shape, size, results):
    """The shape's rows of the targets table; below 1,000,000 a target is "not measured" unless
    the smaller size already misses it."""
    pages = {key: item for key, item in results.items() if key[1] is not None}
    stats = [item["ms"] for key, item in results.items() if key[1] is None]
    pers = [(item["keys"] + item["docs"]) / max(item["returned"], 1) for item in pages.values()]
    bound = 20 if shape == "burst" else 4
    at = "" if size == 1_000_000 else f" at {size:,} (1,000,000 not measured)"
    slow = sum(1 for item in pages.values() if item["ms"] > PAGE_TARGET_MS)

    def met(ok):
        return ok if size == 1_000_000 or not ok else None

    ctx.report.target(f"data shape {shape}: every page (5 queries, pages 1 and 50) at 1,000,000 actions",
                      f"≤ {PAGE_TARGET_MS} ms", spread([item["ms"] for item in pages.values()], " ms", digits=0)
                      + (f", {slow} of {len(pages)} over" if slow else "") + at, met(not slow))
    ctx.report.target(f"data shape {shape}: `explain` of every read of a page: index keys + bucket documents "
                      "examined per action returned", f"≤ {bound}", spread(pers) + at, met(max(pers) <= bound))
    ctx.report.target(f"data shape {shape}: stats by type, and by day and type in +05:30, at 1,000,000 actions",
                      f"≤ {STATS_TARGET_MS:,} ms", spread(stats, " ms", digits=0) + at,
                      met(max(stats) <= STATS_TARGET_MS))


def _report_growth(ctx, results, notes, chosen=SHAPES):
    small, large = min(ctx.sizes), max(ctx.sizes)
    rows, growths = [], {}
    for shape in chosen:
        for (name, page), item in results[(shape, large)].items():
            before = results[(shape, small)].get((name, page))
            if before is None and page is not None:      # page 50 at the larger size, last page at the smaller
                before = next((v for (n, p), v in results[(shape, small)].items() if n == name and p and p > 1), None)
            grow = ratio(item["ms"], before["ms"]) if before else float("nan")
            if page is not None and before:
                growths.setdefault(shape, []).append(grow)
            if page is None:
                met = item["ms"] <= STATS_TARGET_MS
                rows.append((shape, name, "", f"{before['ms']:.0f}" if before else "?", f"{item['ms']:.0f}", f"{grow:.2f}",
                             "", f"≤ {STATS_TARGET_MS} ms: {'met' if met else 'NOT met'}"))
                continue
            per = (item["keys"] + item["docs"]) / max(item["returned"], 1)
            bound = 20 if shape == "burst" else 4
            checks = [f"≤ {PAGE_TARGET_MS} ms: {'met' if item['ms'] <= PAGE_TARGET_MS else 'NOT met'}",
                      f"≤ 1.5×: {'met' if grow <= 1.5 else 'NOT met'}",
                      f"≤ {bound}: {'met' if per <= bound else 'NOT met'}"]
            rows.append((shape, name, page, f"{before['ms']:.0f}" if before else "?", f"{item['ms']:.0f}", f"{grow:.2f}",
                         f"{per:.2f} ({item['reads']} reads, {item['keys']:,} keys, {item['docs']:,} docs, "
                         f"{item['returned']} rows; {item['index']})", "; ".join(checks)))
    ctx.report.table(
        f"Data shapes (issue 17): GET /logs pages of {PAGE_LIMIT} and stats over HTTP (gunicorn 1 worker, p50 of "
        f"{RUNS} runs, stats {STATS_RUNS}), at {small:,} and {large:,} stored actions; explain at {large:,}: index "
        "keys plus bucket documents examined per action returned, over every read of the page (seeks included)",
        ("data", "query", "page", f"p50 ms at {small:,}", f"p50 ms at {large:,}", "growth", f"examined per returned at {large:,}",
         "targets"), rows)
    for note in notes:
        ctx.report.note(note)
    if (small, large) == (100_000, 1_000_000) and growths:
        every = [grow for values in growths.values() for grow in values]
        ctx.report.target("data shapes: every page at 1,000,000 ÷ the same page at 100,000, every shape", "≤ 1.5×",
                          "; ".join(f"{shape} {spread(values, '×')}" for shape, values in growths.items()),
                          max(every) <= 1.5)


def _team(ctx, large):
    database = getattr(ctx, "shapes_spread_database", None)
    if database:
        for threads in (4, 8):
            outcomes = team(ctx, database, threads)
            refused = sum(n for status, n in outcomes.items() if status != 200)
            ctx.report.note(f"Team at {large:,} (spread): {TEAM_CLIENTS} clients looping one-day queries across all "
                            f"users for {TEAM_SECONDS} s, 2 workers of GUNICORN_THREADS={threads}: "
                            f"{dict(outcomes)}; refused: {refused} ({'met' if not refused else 'NOT met'}: none refused)")
            ctx.report.target(f"six analysts looping one-day queries across all users for {TEAM_SECONDS} s, 2 workers of "
                              f"GUNICORN_THREADS={threads}: none refused", "0 refused",
                              f"{refused:,} refused, {outcomes.get(200, 0):,} answered at {large:,} actions", not refused)
        ctx.client.drop_database(database)
