"""The read of a batch's newest buckets (``store.buckets.read_heads``), alone: database CPU per read.

    .venv/bin/python -m bench.heads_read [--py-spy PATH_TO_PY_SPY]

Seeds 15,000 sessions of 20 actions (users 0–9,999, so most users hold one or two sessions) into a
fresh SecantusDB, then reads the heads of 40 batches of 50 new sessions and of 40 batches of 50
stored ones, twice, and prints the database's CPU and the wall time per read. With ``--py-spy``, it
then reads new sessions for 3 s more under py-spy in the database process (raw output to
``bench/out/heads-read.pyspy``; docs/profiles/secantus-heads-read.txt summarises one).
"""
from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import pymongo

from logstore import store
from logstore.store import buckets

from . import data
from .procs import cpu_seconds, scratch_secantus

USERS, STORED, BATCH, READS = 10_000, 15_000, 50, 40
PROFILE_SECONDS = 3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--py-spy", help="path of a py-spy binary: profile the database during one pass")
    args = parser.parse_args()
    with scratch_secantus() as (process, url):
        db = pymongo.MongoClient(url)["heads"]
        store.ensure_indexes(db)
        for first in range(0, STORED, 500):
            batch = [data.session_log(k, USERS, 20) for k in range(first, first + 500)]
            data.insert_documents(db[store.SESSIONS], data.stored_documents(data.body(batch)))
        fresh = iter(range(STORED + 10_000, 10**9, BATCH))
        for _turn in range(2):
            _measure(db, process.pid, "new sessions", lambda: next(fresh))
            stored = iter(range(0, STORED, BATCH))
            _measure(db, process.pid, "stored sessions", lambda: next(stored))
        if args.py_spy:
            spy = _profile(args.py_spy, process.pid)
            deadline = time.monotonic() + PROFILE_SECONDS
            while time.monotonic() < deadline:
                _measure(db, process.pid, None, lambda: next(fresh))
            spy.wait()


def _profile(py_spy, pid):
    out = Path(__file__).parent / "out" / "heads-read.pyspy"
    out.parent.mkdir(exist_ok=True)
    spy = subprocess.Popen([py_spy, "record", "-p", str(pid), "-o", str(out), "-f", "raw", "-r", "200",
                            "-d", str(PROFILE_SECONDS)])
    time.sleep(0.5)
    return spy


def _measure(db, pid, label, next_first):
    """READS reads of BATCH sessions each; print the database's CPU and wall time per read (unless
    ``label`` is None)."""
    collection = db[store.SESSIONS]
    cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
    for _ in range(READS):
        first = next_first()
        keys = [(data.user_name(k % USERS), data.session_name(k)) for k in range(first, first + BATCH)]
        buckets.read_heads(collection, keys, False, None)
    cpu, wall = cpu_seconds(pid) - cpu_before, time.perf_counter() - wall_before
    if label is not None:
        print(f"{label:16s} database CPU {cpu / READS * 1000:6.2f} ms per read, wall {wall / READS * 1000:6.2f} ms")


if __name__ == "__main__":
    main()
