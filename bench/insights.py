"""Insights: how long the analysts' insights take on the query part's data (SPEC "Insights", cost).

Times, over HTTP against the query part's gunicorn and at each of its sizes: a 30-day overview (the
last 30 days of the data, ``tz=+05:30`` so that a midnight cuts an hour of every day), the same with
``compare=previous``, a 30-day top list (``field=viewedId``), 30-day paths, and a one-day funnel of
three steps. Targets: ≤ 1 s, ≤ 1 s, ≤ 1 s and ≤ 2 s.

``python -m bench.insights [--actions N] [--runs N] [--reads overview,top,paths,funnel]`` runs the same reads in-process instead: its own
SecantusDB server in this process (as the tests run it), the data seeded with ``bench.data``, each
store function called directly. It measures; it never fails.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta, timezone
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from logstore import filters, insights_params, store
from logstore.store import insights

from . import data
from .timing import Http

ENDPOINT = "/logs/overview"
ACTIONS_PER_SESSION = 100
TZ = "+05:30"
# Every session of bench.data reaches all three: page5 at its 45th action, a click, page1 at its 81st.
FUNNEL = ["NAVIGATE:pageTo=page5", "CLICK", "NAVIGATE:pageTo=page1"]


def _utc(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def probes(sessions):
    """``(name, path, query, target seconds)`` of each timed read over ``sessions`` sessions of data."""
    end = data.BASE + data.SESSION_GAP * sessions + timedelta(seconds=ACTIONS_PER_SESSION)
    month = {"from": _utc(end - timedelta(days=30)), "to": _utc(end)}
    day = {"from": _utc(end - timedelta(days=1)), "to": _utc(end)}
    return [
        ("overview, 30 days", "/logs/overview", {**month, "tz": TZ}, 1.0),
        ("overview, 30 days, compare=previous", "/logs/overview", {**month, "tz": TZ, "compare": "previous"}, None),
        ("top viewedId, 30 days", "/logs/top", {**month, "field": "viewedId"}, 1.0),
        ("paths, 30 days", "/logs/paths", month, 1.0),
        ("funnel of 3 steps, 1 day", "/logs/funnel", {**day, "step": FUNNEL}, 2.0),
    ]


def available(ctx):
    status, _ = Http(ctx.query_base).request("GET", ENDPOINT + "?userId=probe")
    return status != 404


def run_at_size(ctx, size):
    """The bench part: each probe over HTTP (median of a few runs) at this size of the query data."""
    if not available(ctx):
        ctx.report.note(f"Insights at {size:,} actions: not available (`GET {ENDPOINT}` answers 404).")
        return
    http = Http(ctx.query_base)
    runs = 3 if ctx.quick else 5
    rows = []
    for name, path, query, target in probes(ctx.query_sessions):
        seconds, status = [], None
        for _ in range(runs):
            started = time.perf_counter()
            status, _ = http.request("GET", f"{path}?{urlencode(query, doseq=True)}")
            seconds.append(time.perf_counter() - started)
        took = statistics.median(seconds)
        verdict = "" if target is None else f"≤ {target:g} s: {'met' if took <= target and status == 200 else 'NOT met'}"
        rows.append((name, status, f"{took:.3f}", f"{max(seconds):.3f}", verdict))
        if target is not None and size == 1_000_000:
            ctx.report.target(f"insights: {name} at 1,000,000 actions (HTTP, median)", f"≤ {target:g} s",
                              f"{took:.2f} s" + ("" if status == 200 else f" (answered {status})"),
                              took <= target and status == 200)
    ctx.report.table(f"Insights over HTTP at {size:,} stored actions (gunicorn, 1 worker; median and slowest of "
                     f"{runs} runs, seconds)", ("read", "status", "median s", "slowest s", "target"), rows)


def _calls(db, sessions):
    """The probes as store calls (what each endpoint's resource makes)."""
    calls = []
    for name, path, query, target in probes(sessions):
        args = MultiDict([(k, v) for k, values in query.items() for v in (values if isinstance(values, list) else [values])])
        log_filter = filters.parse_filter(args, filters.FILTER_PARAMS + ("tz", "compare", "field", "step"))
        if path == "/logs/overview":
            call = (lambda f=log_filter, c="compare" in query: insights.overview(db, f, TZ, c))
        elif path == "/logs/top":
            call = (lambda f=log_filter: insights.top_values(db, f, "viewedId", 10))
        elif path == "/logs/paths":
            call = (lambda f=log_filter: insights.paths(db, f, 50))
        else:
            steps = insights_params.parse_steps(args)
            call = (lambda f=log_filter, s=steps: insights.funnel(db, f, s))
        calls.append((name, call, target))
    return calls


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.insights", description=__doc__.split("\n")[0])
    parser.add_argument("--actions", type=int, default=100_000, help="actions to seed (100 per session)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reads", help="comma list of the reads to time, by first word: overview,top,paths,funnel")
    args = parser.parse_args(argv)
    from pymongo import MongoClient
    from secantus import SecantusDBServer

    from logstore import secantus_patches

    secantus_patches.apply()
    with tempfile.TemporaryDirectory() as path:
        server = SecantusDBServer(host="127.0.0.1", port=0, storage_path=path)
        server.start()
        client = MongoClient(f"mongodb://127.0.0.1:{server.port}/", w="majority")
        try:
            db = client["bench_insights"]
            store.ensure_indexes(db)
            sessions = args.actions // ACTIONS_PER_SESSION
            started = time.perf_counter()
            for first in range(0, sessions, 20):
                logs = [data.session_log(k, 0, ACTIONS_PER_SESSION, user=data.user_name(k // 2))
                        for k in range(first, min(first + 20, sessions))]
                data.insert_documents(db[store.SESSIONS], data.stored_documents(data.body(logs)))
            print(f"seeded {args.actions:,} actions ({sessions:,} sessions) in {time.perf_counter() - started:.1f} s")
            print(f"| read | median s | slowest s | target |\n| --- | --- | --- | --- |")
            chosen = set(args.reads.split(",")) if args.reads else None
            for name, call, target in _calls(db, sessions):
                if chosen is not None and name.split()[0].strip(",") not in chosen:
                    continue
                seconds = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    call()
                    seconds.append(time.perf_counter() - started)
                took = statistics.median(seconds)
                verdict = "" if target is None else f"≤ {target:g} s: {'met' if took <= target else 'NOT met'}"
                print(f"| {name} | {took:.3f} | {max(seconds):.3f} | {verdict} |", flush=True)
        finally:
            client.close()
            secantus_patches.wake_listener(server)
            server.stop()


if __name__ == "__main__":
    main()
