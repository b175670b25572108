"""Ten million actions (issue 23): every page shape, stats and the overview over a store of
100,000 sessions of 100 actions, 1,000 users, spread over 300 days — the benchmark's density of a
month, ten times the query part's largest size. Not in the default run: ``--parts ten-million``.

Seeded with the raw bulk writer the other parts use (``data.insert_documents``: the buckets, the
hours' counts and the rollups built by the service's own code, exactly what a POST stores), from
two threads; then read over HTTP through one gunicorn worker, each probe ``REPEATS`` times in turn.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlencode

from . import data
from .query import get_ok, next_path, utc
from .report import spread
from .timing import Http, percentile

SESSIONS, ACTIONS, USERS = 100_000, 100, 1_000
QUICK_SESSIONS, QUICK_USERS = 5_000, 50        # --quick: a smoke run, each user as large as at full size
# 300 days / 100,000 sessions: session k starts GAP_SECONDS after session k - 1.
GAP_SECONDS = 259
CHUNK = 100                       # sessions per bulk write (10,000 actions)
REPEATS = 5
PAGE_LIMIT = 500
USER_LIMIT = 100                  # one user holds 10,000 actions: 100 pages of 100
DEEP_PAGE = 50
PAGE_TARGET, ALL_TARGET, MONTH_TARGET = 0.250, 1.0, 0.250


def start_of(k, gap=GAP_SECONDS):
    return data.BASE + timedelta(seconds=gap * k)


def session(k, users=USERS, gap=GAP_SECONDS):
    """Session ``k`` as ``data.session_log`` builds it, moved from its 5-minute grid onto this one."""
    shift = gap * k - data.SESSION_GAP.total_seconds() * k
    return {"userId": data.user_name(k % users), "sessionId": data.session_name(k),
            "actions": [data.action(k, n, shift) for n in range(ACTIONS)]}


def seed(collection, sessions, users, gap):
    def chunk(first):
        logs = [session(k, users, gap) for k in range(first, min(first + CHUNK, sessions))]
        documents = data.stored_documents(data.body(logs))
        data.insert_documents(collection, documents)
        return sum(d["count"] for d in documents)

    with ThreadPoolExecutor(2) as pool:
        return sum(pool.map(chunk, range(0, sessions, CHUNK)))


def probes(sessions, gap):
    """(name, path, kind): kind 'page', 'all' (a count over everything) or 'month'."""
    middle = start_of(sessions // 2, gap)
    mid = utc(middle)
    month = {"from": utc(middle), "to": utc(middle + timedelta(days=30))}
    pages = {
        "no filter": {},
        "types=CLICK,VIEW": {"types": "CLICK,VIEW"},
        "types=NAVIGATE": {"types": "NAVIGATE"},
        "from= mid-data": {"from": mid},
        "one user": {"userId": data.user_name(7)},
    }
    listed = []
    for name, params in pages.items():
        limit = USER_LIMIT if "userId" in params else PAGE_LIMIT
        listed.append((f"GET /logs {name} (limit {limit})", "/logs?" + urlencode({**params, "limit": limit}), "page"))
    listed += [
        ("stats groupBy=type, everything", "/logs/stats?groupBy=type", "all"),
        ("stats groupBy=day,type tz=+05:30, everything", "/logs/stats?" + urlencode(
            {"groupBy": "day,type", "tz": "+05:30"}), "all"),
        ("stats groupBy=type, a month", "/logs/stats?" + urlencode({"groupBy": "type", **month}), "month"),
        ("stats groupBy=day,type tz=+05:30, a month", "/logs/stats?" + urlencode(
            {"groupBy": "day,type", "tz": "+05:30", **month}), "month"),
        ("overview tz=+05:30, a month", "/logs/overview?" + urlencode({"tz": "+05:30", **month}), "month"),
    ]
    return listed


def _settle(http, seconds=120):
    """Wait until a first page answers: right after seeding, SecantusDB may still be writing its
    files, and a read then ran past the 10 s limit once (503 QUERY_TIMEOUT). Returns the wait."""
    started = time.perf_counter()
    while True:
        status, _ = http.request("GET", "/logs?limit=1")
        if status == 200 or time.perf_counter() - started > seconds:
            return time.perf_counter() - started
        time.sleep(5)


def run(ctx):
    sessions, users = (QUICK_SESSIONS, QUICK_USERS) if ctx.quick else (SESSIONS, USERS)
    gap = GAP_SECONDS * SESSIONS // sessions
    database = ctx.procs.new_database("tenmillion")
    collection = ctx.client[database]["sessions"]
    started = time.perf_counter()
    stored = seed(collection, sessions, users, gap)
    seeding = time.perf_counter() - started
    print(f"ten-million: seeded {stored:,} actions in {seeding:.0f} s", flush=True)
    base, server = ctx.procs.start_gunicorn(database, workers=1)
    http = Http(base)
    rows, medians = [], {}
    try:
        settled = _settle(http)
        listed = probes(sessions, gap)
        deep = {}
        for name, path, kind in listed:       # page 50 of each page shape, by following Link
            if kind != "page":
                continue
            at = path
            for _ in range(DEEP_PAGE - 1):
                at = next_path(http, at)
                if at is None:
                    raise RuntimeError(f"{name}: fewer than {DEEP_PAGE} pages")
            deep[name] = at
        timed = []
        for name, path, kind in listed:
            if kind == "page":
                timed += [(f"{name}, page 1", path, kind), (f"{name}, page {DEEP_PAGE}", deep[name], kind)]
            else:
                timed.append((name, path, kind))
        times = {name: [] for name, _, _ in timed}
        for turn in range(REPEATS + 1):        # turn 0 warms up and is not kept
            for name, path, _ in timed:
                start = time.perf_counter()
                get_ok(http, path)
                if turn:
                    times[name].append(time.perf_counter() - start)
        for name, _, kind in timed:
            target = {"page": PAGE_TARGET, "all": ALL_TARGET, "month": MONTH_TARGET}[kind]
            median, worst = percentile(times[name], 0.5), max(times[name])
            medians[name] = (kind, median)
            rows.append((name, f"{median * 1000:,.0f} ms", f"{worst * 1000:,.0f} ms",
                         f"≤ {target * 1000:,.0f} ms: {'met' if median <= target else 'NOT met'}"))
            print(f"ten-million: {name}: {median * 1000:.0f} ms (max {worst * 1000:.0f})", flush=True)
        size = ctx.client[database].command("dbStats").get("dataSize")
    finally:
        http.close()
        ctx.procs.stop_server(server)
        ctx.client.drop_database(database)
    ctx.report.table(
        f"Ten million actions: {stored:,} actions ({sessions:,} sessions of {ACTIONS}, {users:,} users, one "
        f"session every {gap} s over 300 days), seeded in {seeding:.0f} s by raw bulk writes of what a "
        f"POST stores (buckets, hours' counts, rollups, session-hours' values{f'; data size {size / 1e9:.2f} GB' if size else ''}); "
        f"first page answered {settled:.0f} s after the seeding; "
        f"GET over HTTP through gunicorn (1 worker), median and slowest of {REPEATS} runs after one untimed; "
        f"pages 1 and {DEEP_PAGE} (page {DEEP_PAGE} found by following `Link`), a month = 30 days from mid-data",
        ("query", "median", "slowest", "target (median)"), rows)
    if not ctx.quick:
        pages = [median for kind, median in medians.values() if kind == "page"]
        ctx.report.target("ten million actions: every page shape, pages 1 and 50 (median)", "≤ 250 ms",
                          spread([m * 1000 for m in pages], " ms", digits=0), max(pages) <= PAGE_TARGET)
        for name, (kind, median) in medians.items():
            if kind != "page":
                target = {"all": ALL_TARGET, "month": MONTH_TARGET}[kind]
                ctx.report.target(f"ten million actions: {name} (median)", f"≤ {target * 1000:,.0f} ms",
                                  f"{median * 1000:,.0f} ms", median <= target)
