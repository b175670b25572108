"""Export benchmark, standalone: stream >= 1,000,000 stored actions through GET /logs/export and
measure the serving process's peak RSS growth and rows/s, in time order (the default),
``order=stored`` and CSV, against pymongo alone iterating a stored-order pipeline (every bucket
unwound, nothing sorted). The suite's ``export`` part (``bench.streaming``) measures the same on
the query part's data; this one seeds its own, at any size, or on a MongoDB of your own.

    .venv/bin/python -m bench.export                      # 1,000,000 actions, a fresh local SecantusDB
    .venv/bin/python -m bench.export --actions 200000     # smaller
    .venv/bin/python -m bench.export --mongo-url mongodb://host/db   # a MongoDB of your own (dropped after)

Seeding goes straight to the collection (``bench.data.seed``: sessions of 100 actions bucketed by
the service's own code, ``insert_many``): posting a million actions would measure ingest, not export.
The processes are the suite's (``bench.procs``): the Procfile's web line (gunicorn, one worker),
its RSS sampled from /proc while the export streams (``bench.streaming.served``). Prints the
figures; never fails.
"""
from __future__ import annotations

import argparse
import time

from logstore import store

from . import data
from .procs import Processes, rss_bytes
from .streaming import RAW_BATCH, STORED_ORDER, served

ACTIONS_PER_SESSION = 100      # bench.data's sessions, the flagship density
USERS = 1000


def seed(db, total):
    """``total`` actions (rounded up to whole sessions) through the service's own bucketing."""
    started = time.perf_counter()
    sessions = (total + ACTIONS_PER_SESSION - 1) // ACTIONS_PER_SESSION
    stored = data.seed(db[store.SESSIONS], 0, sessions, USERS, ACTIONS_PER_SESSION)
    return stored, time.perf_counter() - started


def raw_pymongo(db):
    """Rows/s of pymongo alone iterating the stored-order pipeline (decoding every row, nothing else)."""
    started = time.perf_counter()
    rows = 0
    for _ in db[store.SESSIONS].aggregate(STORED_ORDER, allowDiskUse=True, batchSize=RAW_BATCH):
        rows += 1
    return rows, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=1_000_000)
    parser.add_argument("--mongo-url", help="a MongoDB to use (a fresh database in it, dropped after)")
    args = parser.parse_args(argv)
    procs = Processes()
    client = name = None
    try:
        if args.mongo_url:
            procs.use_database(args.mongo_url)
        else:
            procs.start_database()
        name = procs.new_database("bench_export")
        client = procs.client()
        db = client[name]
        stored, seconds = seed(db, args.actions)
        print(f"seeded {stored:,} actions in {seconds:.1f} s", flush=True)
        # Twice: the first pass also warms the server's cache; the faster pass is the bar to meet.
        raw_rate = 0
        for attempt in ("cold", "warm"):
            rows, raw_seconds = raw_pymongo(db)
            raw_rate = max(raw_rate, rows / raw_seconds)
            print(f"pymongo alone ({attempt}): {rows:,} rows in {raw_seconds:.1f} s = "
                  f"{rows / raw_seconds:,.0f} rows/s", flush=True)
        # SecantusDB computes a whole pipeline before its first batch (~20 s for a million actions);
        # the long database timeout keeps a slow first batch from being answered with a 503.
        base, server = procs.start_gunicorn(name, workers=1, env={"LOGSTORE_DB_TIMEOUT_MS": "60000",
                                                                  "PYTHONUNBUFFERED": "1"})
        for shape, order in (("ndjson", "time"), ("ndjson", "stored"), ("csv", "time")):
            rows, seconds, before, peak = served(base, server, f"/logs/export?format={shape}&order={order}")
            rows -= 1 if shape == "csv" else 0          # the header line
            print(f"export {shape:6} order={order:6}: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
                  f"({rows / seconds / raw_rate:.0%} of pymongo alone); worker RSS {before / 2**20:.0f} MB "
                  f"before, peak growth {(peak - before) / 2**20:.1f} MB", flush=True)
        if procs.db_process is not None:
            print(f"(the local SecantusDB's own peak RSS: {rss_bytes(procs.db_process.pid, 'VmHWM') / 2**20:,.0f} MB; "
                  "it materialises each pipeline, mongod streams it)", flush=True)
    finally:
        if client is not None:
            client.drop_database(name)
            client.close()
        procs.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
