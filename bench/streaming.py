"""Export: rows/s and the worker's peak RSS while streaming every stored action through
``GET /logs/export`` (NDJSON), in time order (the default) and ``order=stored``, against pymongo
alone iterating a stored-order pipeline over all buckets (``STORED_ORDER``, unwound, nothing
sorted). ``bench.export`` is the standalone version of this part, with CSV and a MongoDB of your
own, on the same processes (``bench.procs``) and the same measurement (``served``).
"""
from __future__ import annotations

import threading
import time

from logstore import store

from .procs import rss_bytes, worker_pids
from .timing import Http, ratio

ENDPOINT = "/logs/export"
RSS_TARGET = 50 * 2**20
RAW_BATCH = 2000
# pymongo alone, in stored order: every bucket's actions, unwound, nothing sorted.
STORED_ORDER = [{"$project": {"userId": 1, "sessionId": 1, "b": 1, "actions": 1}},
                {"$unwind": {"path": "$actions", "includeArrayIndex": "i"}}]


def available(ctx):
    status, _ = Http(ctx.query_base).request("GET", ENDPOINT + "?format=ndjson&userId=probe")
    return status != 404


def run_at_size(ctx, size):
    if not available(ctx):
        ctx.report.note(f"Export at {size:,} actions: not available (`GET {ENDPOINT}` answers 404 on this branch).")
        return
    collection = ctx.client[ctx.query_database][store.SESSIONS]
    start = time.perf_counter()
    raw_rows = sum(1 for _ in collection.aggregate(STORED_ORDER, allowDiskUse=True, batchSize=RAW_BATCH))
    raw_seconds = time.perf_counter() - start
    raw_rate = raw_rows / raw_seconds
    rows_out = [("pymongo, stored-order pipeline", raw_rows, f"{raw_rate:,.0f}", "1.00", "", "", "")]
    for order in ("time", "stored"):
        rows, seconds, before, peak = served(ctx.query_base, ctx.query_server, f"{ENDPOINT}?format=ndjson&order={order}")
        rate = rows / seconds
        growth = peak - before
        target = (f"≥ 0.5: {'met' if ratio(rate, raw_rate) >= 0.5 else 'NOT met'}" if order == "time" else "")
        if order == "time" and size == 1_000_000:
            ctx.report.target("export of 1,000,000 actions (NDJSON, time order): rows/s ÷ pymongo iterating the buckets",
                              "≥ 0.5", f"{ratio(rate, raw_rate):.2f} ({rate:,.0f} ÷ {raw_rate:,.0f} rows/s)",
                              ratio(rate, raw_rate) >= 0.5)
            ctx.report.target("export of 1,000,000 actions: the gunicorn worker's peak RSS growth", "< 50 MB",
                              f"+{growth / 2**20:.1f} MB", growth < RSS_TARGET)
        rows_out.append((f"GET {ENDPOINT}?format=ndjson&order={order}", rows, f"{rate:,.0f}",
                         f"{ratio(rate, raw_rate):.2f}", target,
                         f"{before / 2**20:.0f} MB → {peak / 2**20:.0f} MB (+{growth / 2**20:.1f})",
                         f"< 50 MB: {'met' if growth < RSS_TARGET else 'NOT met'}"))
    ctx.report.table(
        f"Export of all {size:,} stored actions (NDJSON over HTTP, gunicorn from the Procfile), against "
        f"pymongo iterating `$project` + `$unwind` of every bucket (stored order, batchSize {RAW_BATCH}); "
        "worker RSS sampled every 10 ms",
        ("what", "rows", "rows/s", "ratio to pymongo", "target (time order)", "worker RSS before → peak",
         "target (RSS growth)"), rows_out)


def served(base, server, path):
    """Stream ``path`` from gunicorn ``server`` at ``base``; return (rows, seconds, RSS before, peak
    RSS) of the busiest worker. A CSV's header line counts as a row."""
    pids = worker_pids(server)
    before = max((rss_bytes(pid) for pid in pids), default=0)
    peak, done = [before], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], *(rss_bytes(pid) for pid in pids)) if pids else 0
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        rows = _stream_lines(base, path)
    finally:
        done.set()
        sampler.join()
    return rows, time.perf_counter() - start, before, peak[0]


def _stream_lines(base, path):
    http = Http(base)
    try:
        http.connection.request("GET", path)
        response = http.connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        rows = 0
        for line in response:
            if line.strip():
                if line.startswith(b'{"error"'):
                    raise RuntimeError(f"GET {path} was cut: {line[:300]!r}")
                rows += 1
        return rows
    finally:
        http.close()
