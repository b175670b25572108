"""``python -m bench.dashboard [--sessions N] [--actions N] [--runs N]``: how long the dashboard takes
to draw its opening view (the last 30 days) in headless Chromium over a seeded store.

It starts its own SecantusDB daemon (``logstore.launcher.start_secantus``) and gunicorn from the Procfile
(``bench.procs``), seeds ``sessions`` sessions of ``actions`` actions as stored buckets (by default
10,000 × 100 = 1,000,000 actions) with timestamps spread over the last 30 days, so the opening view
holds all of them, then opens ``/dashboard`` with no query ``runs`` times and prints, for each, the
time from asking for the page to the drawn table (``data-ready``), the page's own timings (first
part drawn, all parts drawn: it asks for a month a week at a time), and ``GET /logs/stats`` of the
whole range in one request, timed alone. It measures; it
never fails. Everything it started is stopped, and its data removed, at the end.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from logstore import store

from . import data
from .timing import Http

SPAN = timedelta(days=29)       # inside the opening view: from the day of now - 30 days to today
END_MARGIN = timedelta(hours=1)


def recent_logs(first, count, sessions, users, actions, end):
    """Sessions ``first`` … ``first + count - 1`` of ``sessions`` in all, spread evenly over ``SPAN``
    before ``end``: ``bench.data``'s actions (types, properties) one second apart, times moved there."""
    gap = SPAN / sessions
    start = end - SPAN
    logs = []
    for k in range(first, first + count):
        log = data.session_log(k, users, actions)
        begins = start + gap * k
        for number, action in enumerate(log["actions"]):
            action["time"] = (begins + timedelta(seconds=number)).isoformat().replace("+00:00", "Z")
        logs.append(log)
    return logs


def seed_recent(collection, sessions, users, actions, end=None, chunk=50):
    """Insert the ``recent_logs`` as stored buckets (and widen the stored extent); return actions added."""
    end = end or (datetime.now(timezone.utc) - END_MARGIN).replace(microsecond=0)
    added = 0
    for first in range(0, sessions, chunk):
        logs = recent_logs(first, min(chunk, sessions - first), sessions, users, actions, end)
        documents = data.stored_documents(data.body(logs))
        data.insert_documents(collection, documents)
        added += sum(d["count"] for d in documents)
    return added


def wait_drawn(driver, seconds):
    """Wait for the page's table to be drawn (or an error shown); return (ready, error text)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = driver.execute_script(
            "const t = document.getElementById('stats-table'), e = document.getElementById('error');"
            "return [t.dataset.ready || '', e.hidden ? '' : e.textContent.trim()];")
        if state[0] == "true":
            return True, ""
        if state[1]:
            return False, " ".join(state[1].split())
        time.sleep(0.02)
    return False, f"not drawn within {seconds} s"


def measure_draws(driver, base, runs, timeout=300):
    """Open the dashboard with no query ``runs`` times; return one dict per run."""
    results = []
    for _ in range(runs):
        driver.get("about:blank")
        asked = time.perf_counter()
        driver.get(base + "/dashboard")
        ready, error = wait_drawn(driver, timeout)
        wall = time.perf_counter() - asked
        table = driver.find_element("id", "stats-table")
        results.append({
            "seconds": wall, "ready": ready, "error": error,
            "request_ms": int(table.get_attribute("data-draw-ms") or 0),
            "first_ms": int(table.get_attribute("data-first-draw-ms") or 0),
            "requests": table.get_attribute("data-requests"),
            "query": table.get_attribute("data-query"),
            "status": driver.find_element("id", "status").text,
        })
    return results


def run_part(ctx):
    """The ``dashboard`` part of ``python3 dev.py bench``: the opening view over the largest size of
    actions seeded into a database of its own, on the suite's database server."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        ctx.report.note("dashboard: not measured (chromium and chromium-driver are not installed).")
        return
    from tests.browser import chromium_driver

    actions = 100
    sessions = max(ctx.sizes) // actions
    database = ctx.procs.new_database("dashboard")
    profile = Path(tempfile.mkdtemp(prefix="logstore-bench-chromium-"))
    driver = server = None
    try:
        added = seed_recent(ctx.client[database][store.SESSIONS], sessions, 2_000, actions)
        base, server = ctx.procs.start_gunicorn(database, workers=2)
        driver = chromium_driver(profile)
        driver.set_page_load_timeout(300)
        results = measure_draws(driver, base, 3)
    finally:
        if driver is not None:
            driver.quit()
        if server is not None:
            ctx.procs.stop_server(server)
        ctx.client.drop_database(database)
        shutil.rmtree(profile, ignore_errors=True)
    rows = [(f"{number}", f"{r['first_ms'] / 1000:.2f} s", f"{r['request_ms'] / 1000:.2f} s ({r['requests']} requests)",
             f"{r['seconds']:.2f} s" if r["ready"] else f"not drawn: {r['error']}")
            for number, r in enumerate(results, 1)]
    drawn = [r["seconds"] for r in results if r["ready"]]
    median = statistics.median(drawn) if len(drawn) == len(results) else None
    rows.append(("median", "", "", f"{median:.2f} s" if median is not None else "—"))
    ctx.report.target(f"dashboard: its opening month drawn in Chromium over {added:,} actions (median of "
                      f"{len(results)})", "about 2 s (≤ 2.5 s)", f"{median:.2f} s" if median is not None else "not drawn",
                      median is not None and median <= 2.5)
    ctx.report.table(
        f"Dashboard: its opening view (the last 30 days by day and type) in headless Chromium over {added:,} "
        f"actions spread over the last {SPAN.days} days (gunicorn 2 workers); the page's own timings, and "
        f"from asking for the page to the drawn table; target about 2 s "
        f"({'met' if median is not None and median <= 2.5 else 'NOT met'})",
        ("load", "first part drawn", "all parts drawn", "page asked → drawn"), rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--actions", type=int, default=100, help="actions per session")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3, help="page loads to time")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--seeded", metavar="URL",
                        help="a database already seeded by seed_recent (mongodb://host:port/name): "
                             "no daemon is started and nothing is seeded")
    args = parser.parse_args(argv)

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        print("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
        return 1
    from tests.browser import chromium_driver
    from .procs import Processes

    procs = Processes()
    driver = None
    profile = Path(tempfile.mkdtemp(prefix="logstore-bench-chromium-"))
    try:
        started = time.perf_counter()
        if args.seeded:
            procs.url, database = args.seeded.rsplit("/", 1)
            with procs.client() as client:
                buckets = client[database][store.SESSIONS].estimated_document_count()
            added = args.sessions * args.actions   # as --sessions and --actions say it was seeded
            print(f"{args.seeded}: {buckets:,} buckets", flush=True)
        else:
            procs.start_database()
            database = procs.new_database("dashboard")
            with procs.client() as client:
                added = seed_recent(client[database][store.SESSIONS], args.sessions, args.users, args.actions)
                buckets = client[database][store.SESSIONS].estimated_document_count()
            print(f"seeded {added:,} actions in {buckets:,} buckets over the last {SPAN.days} days "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        base, _ = procs.start_gunicorn(database, args.workers)
        driver = chromium_driver(profile)
        driver.set_page_load_timeout(300)
        results = measure_draws(driver, base, args.runs)
        http = Http(base)
        for number, result in enumerate(results, 1):
            print(f"draw {number}: {result['seconds']:.2f} s from asking for the page to the drawn view; "
                  f"as the page measured it: first part drawn {result['first_ms'] / 1000:.2f} s, all "
                  f"{result['requests']} stats requests drawn {result['request_ms'] / 1000:.2f} s; "
                  + (f"{result['status']}" if result["ready"] else f"NOT DRAWN: {result['error']}"), flush=True)
        query = results[-1]["query"]
        if query:
            alone = []
            for _ in range(args.runs):
                began = time.perf_counter()
                status, _ = http.request("GET", query)
                alone.append(time.perf_counter() - began)
            print(f"GET {query} alone: {', '.join(f'{s:.2f}' for s in alone)} s (status {status})")
        drawn = [r["seconds"] for r in results if r["ready"]]
        if drawn:
            print(f"dashboard, last 30 days, {added:,} actions: median {statistics.median(drawn):.2f} s to draw")
        return 0
    finally:
        if driver is not None:
            driver.quit()
        procs.close()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
