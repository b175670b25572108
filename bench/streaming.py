"""Export: rows/s and the worker's peak RSS while streaming every stored action through
``GET /logs/export`` (NDJSON), against pymongo alone iterating the same pipeline
(``pipelines.export_pipeline``, storage order, same batch size). ``bench.export`` is the
standalone version of this part, with CSV and a MongoDB of your own.
"""
from __future__ import annotations

import threading
import time

from logstore import pipelines, storage

from .procs import rss_bytes, worker_pids
from logstore.filters import LogFilter
from .timing import Http, ratio

ENDPOINT = "/logs/export"


def available(ctx):
    status, _ = Http(ctx.query_base).request("GET", ENDPOINT + "?format=ndjson&userId=probe")
    return status != 404


def run_at_size(ctx, size):
    if not available(ctx):
        ctx.report.note(f"Export at {size:,} actions: not available (`GET {ENDPOINT}` answers 404 on this branch).")
        return
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
    rows = _stream_lines(ctx.query_base, ENDPOINT + "?format=ndjson")
    http_seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    start = time.perf_counter()
    raw_rows = sum(1 for _ in ctx.client[ctx.query_database][storage.SESSIONS].aggregate(
        pipelines.export_pipeline(LogFilter()), allowDiskUse=True, batchSize=storage.EXPORT_BATCH))
    raw_seconds = time.perf_counter() - start
    ctx.report.table(
        f"Export of all {size:,} stored actions (NDJSON, storage order), against pymongo iterating "
        "the same pipeline with the same batch size",
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
