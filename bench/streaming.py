"""Export: rows/s and the worker's peak RSS while streaming ``GET /logs/export`` (NDJSON).

The endpoint is built on another branch; until it answers, this part reports "not available".
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from urllib.parse import urlencode

from logstore import pipelines, storage

from . import data
from .procs import rss_bytes, worker_pids
from .query import ACTIONS_PER_SESSION, log_filter, session_start, utc
from .timing import Http, ratio

ENDPOINT = "/logs/export"
EXPORT_SESSIONS = 200               # the most recent 100,000 actions at every size


def available(ctx):
    status, _ = Http(ctx.query_base).request("GET", ENDPOINT + "?format=ndjson&userId=probe")
    return status != 404


def run_at_size(ctx, size):
    if not available(ctx):
        ctx.report.note(f"Export at {size:,} actions: not available (`GET {ENDPOINT}` answers 404 on this branch).")
        return
    sessions = ctx.query_sessions
    params = {"format": "ndjson",
              "from": utc(session_start(max(0, sessions - EXPORT_SESSIONS))),
              "to": utc(session_start(sessions) + timedelta(seconds=ACTIONS_PER_SESSION))}
    pids = worker_pids(ctx.query_server)
    before = max((rss_bytes(pid) for pid in pids), default=0)
    peak, done = [before], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], *(rss_bytes(pid) for pid in pids)) if pids else 0
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    rows = _stream_lines(ctx.query_base, ENDPOINT + "?" + urlencode(params))
    http_seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    pipeline = pipelines.unwound_actions(log_filter({k: v for k, v in params.items() if k != "format"}))
    start = time.perf_counter()
    raw_rows = sum(1 for _ in ctx.client[ctx.query_database][storage.SESSIONS].aggregate(
        pipeline + [pipelines.SORT_STAGE], allowDiskUse=True))
    raw_seconds = time.perf_counter() - start
    ctx.report.table(
        f"Export at {size:,} stored actions: NDJSON of the latest {EXPORT_SESSIONS * ACTIONS_PER_SESSION:,} "
        "actions, against iterating the same sorted pipeline with pymongo",
        ("what", "rows", "rows/s", "ratio", "worker RSS before → peak"),
        [("raw pipeline", raw_rows, f"{raw_rows / raw_seconds:,.0f}", "1.00", ""),
         (f"GET {ENDPOINT}", rows, f"{rows / http_seconds:,.0f}",
          f"{ratio(rows / http_seconds, raw_rows / raw_seconds):.2f}",
          f"{before / 2**20:.0f} MB → {peak[0] / 2**20:.0f} MB")])


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
                rows += 1
        return rows
    finally:
        http.close()
