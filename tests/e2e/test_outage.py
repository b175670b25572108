"""The database process stops and starts again under a running gunicorn: fast 503s, no lost action."""
import json
import statistics
import threading
import time
import urllib.error
import urllib.request

import pytest
from pymongo import MongoClient

from tests.builders import action, session_log
from tests.e2e.client import RetryingPoster

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 4


def ready_status(base):
    try:
        with urllib.request.urlopen(base + "/ready", timeout=5) as response:
            return response.status, response.headers.get("Retry-After")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Retry-After")


def test_a_database_restart_loses_no_acknowledged_action(secantus_daemon, start_gunicorn):
    daemon = secantus_daemon()
    base, database = start_gunicorn(workers=4, server_url=daemon.url)  # a worker for each caller
    poster = RetryingPoster(base, timeout=10, pause=0.1, max_attempts=1)  # one try: we see every 503
    acknowledged, refusals, stop = [], [], threading.Event()
    down_at = [None]  # when the database process had stopped

    def post_continuously(writer):
        number = 0
        while not stop.is_set() and number < 2000:
            ids = [f"{writer}-{number}-{k}" for k in range(3)]
            document = session_log(user=f"u{writer}", session=f"s{number % 5}",
                                   actions=[dict(action(), id=i) for i in ids])
            sent_at = time.monotonic()
            status, reply, seconds = poster.post_once(json.dumps(document).encode())
            if status == 201:
                acknowledged.extend(ids)  # stored now, or (duplicates) by an earlier try
                number += 1  # the next batch; an unacknowledged one is retried with the same ids
            else:
                during = down_at[0] is not None and sent_at >= down_at[0]
                refusals.append((status, reply.get("code"), seconds, reply.get("missingRetryAfter"), during))
                time.sleep(0.1)

    writers = [threading.Thread(target=post_continuously, args=(w,), daemon=True) for w in range(2)]
    for writer in writers:
        writer.start()
    time.sleep(1.5)
    stored_before = len(acknowledged)
    daemon.stop()
    down_at[0] = time.monotonic()
    time.sleep(0.5)
    ready_down = ready_status(base)  # slow on a loaded machine: count refusals by when they were sent
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at[0])))
    refused_during = sum(1 for *_, during in refusals if during)
    daemon.start()
    up_at = time.monotonic()
    deadline = up_at + 30
    while ready_status(base)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    recovered_after = time.monotonic() - up_at
    acknowledged_at_restart = len(acknowledged)
    time.sleep(1.5)
    stop.set()
    for writer in writers:
        writer.join(30)

    with MongoClient(daemon.url) as check:
        stored = [a["id"] for d in check[database].sessions.find({}, {"actions.id": 1}) for a in d["actions"]]
    lost = len(set(acknowledged) - set(stored))
    duplicated = len(stored) - len(set(stored))
    # A request sent during the outage, and one in flight when the database went away (its time
    # includes its work before the failure and the driver's own retry of a failed commit).
    seconds_to_503 = [seconds for status, _, seconds, _, during in refusals if status == 503 and during]
    in_flight_503 = [seconds for status, _, seconds, _, during in refusals if status == 503 and not during]
    print(f"\nacknowledged {len(acknowledged)} actions ({stored_before} before the outage); "
          f"refusals: {len(refusals)}, of which 503: {len(seconds_to_503)}; time to 503: "
          f"median {statistics.median(seconds_to_503 or [0]):.2f} s, max {max(seconds_to_503 or [0]):.2f} s "
          f"(in flight at the stop: {in_flight_503}); "
          f"/ready during the outage: {ready_down}; ready again {recovered_after:.1f} s after the restart")
    print(f"lost = {lost}")
    print(f"duplicated = {duplicated}")

    assert not any(writer.is_alive() for writer in writers)
    assert stored_before > 0, "nothing was stored before the outage"
    assert ready_down[0] == 503 and ready_down[1]
    assert refused_during >= 1 and seconds_to_503, "no request met the outage"
    assert {(status, code) for status, code, *_ in refusals} <= {(503, "DATABASE_UNAVAILABLE")}, refusals
    assert not any(missing for *_, missing, _ in refusals), "a 503 without Retry-After"
    assert max(seconds_to_503) <= 2.2, f"503s during the outage took up to {max(seconds_to_503):.2f} s"
    assert max(in_flight_503, default=0) <= 5, f"a request in flight at the stop took {max(in_flight_503):.2f} s"
    assert recovered_after < 30, "the service did not recover without a restart"
    assert len(acknowledged) > acknowledged_at_restart, "no action acknowledged after the restart"
    assert lost == 0
    assert duplicated == 0
