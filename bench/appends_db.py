"""Appends alone, one client: database CPU per appended action, and where SecantusDB spends it.

    .venv/bin/python -m bench.appends_db [--py-spy PATH_TO_PY_SPY]

Stores 400 sessions of 20 actions through ``store.insert_sessions`` into a fresh SecantusDB, then
appends 20 actions to each of them, three times over, in batches of 50 sessions (the throughput
benchmark's append batches, without its 8 concurrent clients), and prints the database's CPU per
appended action against per stored action of the first writes. With ``--py-spy``, the appends run
under py-spy in the database process (raw output to ``bench/out/appends-db.pyspy``;
docs/profiles/secantus-append.txt summarises one).
"""
from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import pymongo

from logstore import store, validation
from logstore.store import buckets

from . import data
from .procs import cpu_seconds, scratch_secantus

USERS, SESSIONS, BATCH, ACTIONS, ROUNDS = 1_000, 400, 50, 20, 3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--py-spy", help="path of a py-spy binary: profile the database during the appends")
    args = parser.parse_args()
    with scratch_secantus() as (process, url):
        db = pymongo.MongoClient(url, w="majority")["appends"]
        store.ensure_indexes(db)
        first_writes = _timed(db, process.pid, [_batch(first, 0) for first in range(0, SESSIONS, BATCH)])
        spy = _profile(args.py_spy, process.pid) if args.py_spy else None
        appends = _timed(db, process.pid, [_batch(first, ACTIONS * turn) for turn in range(1, ROUNDS + 1)
                                           for first in range(0, SESSIONS, BATCH)])
        if spy is not None:
            spy.send_signal(2)
            spy.wait()
        for label, (cpu, slowest) in (("new sessions", first_writes), ("appends", appends)):
            print(f"{label:13s} database CPU {cpu * 1e6:5.0f} µs per action, slowest batch {slowest * 1000:4.0f} ms")
        print(f"appends / new sessions, database CPU per action: {appends[0] / first_writes[0]:.1f}")


def _batch(first, offset_seconds):
    """BATCH sessions from ``first``, ACTIONS actions each, their times shifted by ``offset_seconds``."""
    return validation.parse_batch(data.body([
        {"userId": data.user_name(k % USERS), "sessionId": data.session_name(k),
         "actions": [data.action(k, n, offset_seconds) for n in range(ACTIONS)]}
        for k in range(first, first + BATCH)]))


def _timed(db, pid, batches):
    """Store each batch as a POST would; return the database's CPU per action and the slowest batch."""
    cpu_before, slowest, actions = cpu_seconds(pid), 0.0, 0
    for sessions in batches:
        started = time.perf_counter()
        result = buckets.insert_sessions(db, sessions)
        slowest = max(slowest, time.perf_counter() - started)
        actions += result.actions
    return (cpu_seconds(pid) - cpu_before) / actions, slowest


def _profile(py_spy, pid):
    out = Path(__file__).parent / "out" / "appends-db.pyspy"
    out.parent.mkdir(exist_ok=True)
    spy = subprocess.Popen([py_spy, "record", "-p", str(pid), "-o", str(out), "-f", "raw", "-r", "200"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return spy


if __name__ == "__main__":
    main()
