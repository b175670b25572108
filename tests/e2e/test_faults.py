"""Retries are safe: dropped connections, write conflicts and lost commit replies under gunicorn.

SecantusDB's ``configureFailPoint failCommand`` (scoped to the service's appname) is re-armed every
few tens of milliseconds with ``{skip: k, times: 1}`` on one of the commands an ingest issues. Client
threads POST 1,000+ small batches, each action with an id, and retry every failure and timeout with
the same body. Afterwards every action must be stored exactly once.
"""
import random
import threading
import time
from collections import Counter

import pytest
from pymongo import MongoClient

from tests.builders import action, session_log
from tests.e2e.client import RetryingPoster

pytestmark = pytest.mark.e2e

THREADS = 6
BATCHES_PER_THREAD = 175  # 1,050 batches in all
ACTIONS_PER_BATCH = 3
SESSIONS_PER_THREAD = 4   # so most batches append to an existing session
HTTP_TIMEOUT = 1.5        # a commit blocked longer than this is a reply the client never sees
BLOCKED_COMMITS = 6


def fault(rng, blocked_left):
    """One failCommand configuration; mostly dropped connections."""
    roll = rng.random()
    if blocked_left and roll < 0.03:
        # The commit runs after the client has given up: applied, but the client saw a timeout.
        return "blocked commit", {"failCommands": ["commitTransaction"], "blockConnection": True,
                                  "blockTimeMS": int(HTTP_TIMEOUT * 1000) + 1000}
    if roll < 0.15:
        # The commit applies, then the reply carries an error: the driver retries the commit.
        return "commit applied, error answered", {"failCommands": ["commitTransaction"],
                                                  "writeConcernError": {"code": 64, "errmsg": "wtimeout"}}
    if roll < 0.25:
        return "write conflict", {"failCommands": [rng.choice(["update", "insert"])], "errorCode": 112}
    command = rng.choice(["aggregate", "update", "insert", "commitTransaction", "abortTransaction"])
    return f"closed on {command}", {"failCommands": [command], "closeConnection": True}


def chaos(admin, stop, armed, seed=4):
    rng = random.Random(seed)
    while not stop.is_set():
        kind, data = fault(rng, BLOCKED_COMMITS - armed["blocked commit"])
        admin.admin.command({"configureFailPoint": "failCommand", "mode": {"skip": rng.randint(0, 6), "times": 1},
                             "data": {"appName": "logstore", **data}})
        armed[kind] += 1
        stop.wait(0.4 if kind == "blocked commit" else rng.uniform(0.01, 0.06))
    admin.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


def batch(thread, number):
    ids = [f"{thread}-{number}-{k}" for k in range(ACTIONS_PER_BATCH)]
    actions = [dict(action(f"2020-01-01T00:{number // 60:02d}:{number % 60:02d}Z"), id=i) for i in ids]
    return session_log(user=f"user{thread}", session=f"s{number % SESSIONS_PER_THREAD}", actions=actions), ids


def test_retried_posts_store_every_action_exactly_once_under_faults(secantus_daemon, start_gunicorn):
    daemon = secantus_daemon(extra_args=("--enable-test-commands",))
    base, database = start_gunicorn(workers=4, server_url=daemon.url)
    admin = MongoClient(daemon.url, appname="chaos-monkey")
    connections_before = admin.admin.command("serverStatus")["connections"]["totalCreated"]
    stop, armed = threading.Event(), Counter()
    monkey = threading.Thread(target=chaos, args=(admin, stop, armed), daemon=True)
    expected, replies, failed, posters = [], [], [], []

    def client(thread):
        poster = RetryingPoster(base, timeout=HTTP_TIMEOUT)
        posters.append(poster)
        for number in range(BATCHES_PER_THREAD):
            document, ids = batch(thread, number)
            expected.extend(ids)
            reply, attempts = poster.post_until_stored(document)
            (replies if reply else failed).append((reply, attempts, ids))

    started = time.monotonic()
    monkey.start()
    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(150)
    stop.set()
    monkey.join(10)
    elapsed = time.monotonic() - started

    stored = [a["id"] for d in admin[database].sessions.find({}, {"actions.id": 1}) for a in d["actions"]]
    lost = len(set(expected) - set(stored))
    duplicated = len(stored) - len(set(stored))
    outcomes = sum((p.outcomes for p in posters), Counter())
    dropped = admin.admin.command("serverStatus")["connections"]["totalCreated"] - connections_before
    replayed = sum(1 for reply, attempts, _ in replies if attempts > 1 and reply["duplicates"])
    admin.close()
    print(f"\n{len(replies)} batches stored in {elapsed:.1f} s; faults armed: {dict(armed)}; "
          f"connections opened: {dropped}; client outcomes: {dict(outcomes)}; "
          f"retried batches answered with duplicates: {replayed}")
    print(f"lost = {lost}")
    print(f"duplicated = {duplicated}")

    assert not any(t.is_alive() for t in threads), "a client thread did not finish"
    assert not failed, f"{len(failed)} batches never got a 201: {failed[:3]}"
    assert len(replies) == THREADS * BATCHES_PER_THREAD >= 1000
    assert lost == 0
    assert duplicated == 0
    assert all(r["actions"] + r["duplicates"] == ACTIONS_PER_BATCH for r, _, _ in replies)
    assert all(r["duplicates"] == 0 for r, attempts, _ in replies if attempts == 1), "a first try met duplicates"
    assert not any(key.startswith("500") for key in outcomes), outcomes
    assert sum(armed.values()) >= 100 and dropped >= 50, "too few faults to prove anything"
    if armed["blocked commit"]:
        assert replayed >= 1, "no retry of a batch whose commit had applied"
