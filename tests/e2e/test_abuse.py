"""Issue 19 over the wire, under gunicorn: the public write key cannot be turned against other users,
forwarded headers are believed only as configured, exports are safe to open, headers are right, and
starts that must not happen do not."""
import csv
import io
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from logstore.launcher import ROOT, free_port
from tests.builders import action, session_log
from tests.e2e.test_gunicorn import request
from tests.e2e.test_production import run_web

pytestmark = pytest.mark.e2e

WRITE = "public-write-key-shared-by-browsers"
READ = "analyst-read-key-0123456789"
KEYS = {"LOGSTORE_WRITE_KEYS": WRITE, "LOGSTORE_READ_KEYS": READ, "LOGSTORE_ADMIN_KEYS": "",
        "CORS_ORIGINS": "https://app.example.com"}


def post(base, address, user, key=WRITE, session="s"):
    headers = {"X-API-Key": key, "X-Forwarded-For": address}
    return request("POST", base + "/logs", [session_log(user=user, session=session)], headers)


SETUPS = {
    # The issue's: a per-key limit; the per-address and per-user ones default to a tenth of it (12).
    "key limit": ({"LOGSTORE_RATE_LIMIT": "120/minute", "LOGSTORE_TRUSTED_PROXIES": "1"}, 12),
    # Production's defaults as on Heroku (DYNO: one trusted hop, 600/minute burst 120 per address).
    "production": ({"DYNO": "web.1"}, 120),
}


@pytest.mark.parametrize("setup", list(SETUPS))
def test_one_client_hammering_the_write_key_does_not_lock_out_three_others(start_gunicorn, setup):
    """Behind one trusted router hop as on Heroku: the hammering client is refused once past its
    burst, the three browsers posting normally never are."""
    extra_env, burst = SETUPS[setup]
    base, _ = start_gunicorn(workers=2, extra_env={**KEYS, **extra_env})
    hammered, stop = [], threading.Event()
    started = time.monotonic()

    def hammer():
        while not stop.is_set() and len(hammered) < 400:
            n = len(hammered)
            # A new userId and a new forged X-Forwarded-For each time: only the part before the
            # router's own entry (the last) changes, and that part is not believed.
            hammered.append(post(base, f"10.{n % 250}.0.1, 198.51.100.66", f"abuser-{n}", session="h")[0])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    others = {n: [] for n in range(3)}
    try:
        time.sleep(1.0)  # the hammering is well under way
        for round_ in range(6):
            for n, answers in others.items():
                answers.append(post(base, f"203.0.113.{n + 1}", f"browser-{n}", session=f"r{round_}")[0])
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    elapsed = time.monotonic() - started
    assert all(answers == [201] * 6 for answers in others.values()), others
    # Its burst, then its rate (120/minute or 600/minute: 2 or 10 a second), and nothing more.
    allowed = burst + elapsed * {12: 0.2, 120: 10}[burst] + 2
    assert hammered.count(429) > len(hammered) // 4 and hammered.count(201) <= allowed, (
        hammered.count(201), hammered.count(429), elapsed)


def test_one_user_is_limited_across_addresses(start_gunicorn, mongo_client):
    base, database = start_gunicorn(workers=1, extra_env={**KEYS, "LOGSTORE_USER_RATE_LIMIT": "1/hour burst 2",
                                                          "LOGSTORE_TRUSTED_PROXIES": "1"})
    statuses = [post(base, f"203.0.113.{n}", "one-user", session=f"u{n}")[0] for n in range(4)]
    assert statuses == [201, 201, 429, 429]
    assert post(base, "203.0.113.9", "another-user")[0] == 201
    assert mongo_client[database].sessions.count_documents({"userId": "one-user"}) == 2


def test_without_a_trusted_proxy_forged_headers_change_nothing(start_gunicorn):
    base, _ = start_gunicorn(workers=1, extra_env={**KEYS, "LOGSTORE_CLIENT_RATE_LIMIT": "1/hour burst 3"})
    statuses = [post(base, f"192.0.2.{n}", f"u{n}", session=f"f{n}")[0] for n in range(5)]
    assert statuses == [201, 201, 201, 429, 429]  # five forged addresses are one client: the socket's
    for n in range(2):
        assert request("POST", base + "/logs", [session_log(session=f"p{n}")], {"X-API-Key": READ})[0] == 403
    # A forged host goes nowhere: the Link is on the request's own host.
    status, headers, _ = request("GET", base + "/logs?limit=1", headers={
        "X-API-Key": READ, "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert status == 200 and headers["Link"].startswith(f"<{base}/logs?limit=1&cursor=")
    assert headers["Cache-Control"] == "no-store" and "Origin" in headers["Vary"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_key_guessing_is_slowed_per_address(start_gunicorn):
    base, _ = start_gunicorn(workers=2, extra_env=KEYS)  # the failure limit is on by default: 10/minute burst 10
    guesses = [request("GET", base + "/logs", headers={"X-API-Key": f"guess-{n:04d}"})[0] for n in range(14)]
    assert guesses[:10] == [401] * 10 and guesses[-2:] == [429, 429]
    # The right key from the guessing address is refused too (both workers: each saw it guess).
    assert {request("GET", base + "/logs", headers={"X-API-Key": READ})[0] for _ in range(4)} == {429}


def test_csv_export_is_safe_to_open_and_raw_gives_it_as_stored(start_gunicorn):
    base, _ = start_gunicorn(workers=1, extra_env=KEYS)
    body = [session_log(user="=cmd|' /C calc'!A0", actions=[
        action("2020-01-01T10:00:00Z", "CLICK", locationX=-5, locationY=3, note="@SUM(1)"),
        action("2020-01-01T10:00:01Z", "VIEW", viewedId="+1-2")])]
    assert request("POST", base + "/logs", body, {"X-API-Key": WRITE})[0] == 201

    def rows(query):
        status, headers, raw = request("GET", base + "/logs/export" + query, headers={"X-API-Key": READ})
        assert status == 200 and headers["Cache-Control"] == "no-store"
        return list(csv.reader(io.StringIO(raw.decode(), newline="")))[1:]

    safe = rows("?format=csv")
    assert safe[0][0] == "'=cmd|' /C calc'!A0" and safe[0][4:6] == ["-5", "3"] and safe[1][6] == "'+1-2"
    assert json.loads(safe[0][9]) == {"note": "@SUM(1)"}
    raw = rows("?format=csv&raw=true")
    assert raw[0][0] == "=cmd|' /C calc'!A0" and raw[1][6] == "+1-2"
    lines = request("GET", base + "/logs/export", headers={"X-API-Key": READ})[2].decode().splitlines()
    assert json.loads(lines[0])["userId"] == "=cmd|' /C calc'!A0"


def test_pages_have_a_strict_csp_and_empty_bodies_leave_no_record(start_gunicorn, mongo_client):
    base, database = start_gunicorn(workers=1, extra_env=KEYS)
    for path in ("/docs", "/dashboard"):
        status, headers, _ = request("GET", base + path)
        assert status == 200, path  # open: the page asks for a key
        assert "default-src 'none'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    status, _, _ = request("POST", base + "/logs", [], {"X-API-Key": WRITE, "Idempotency-Key": "empty-1"})
    assert status == 201 and mongo_client[database].idempotency.count_documents({}) == 0


@pytest.mark.parametrize("env, message", [
    ({"LOGSTORE_ENV": "prod"}, "LOGSTORE_ENV must be one of production, development"),
    ({"LOGSTORE_ENV": " production"}, "LOGSTORE_ENV must be one of production, development"),
    ({"DYNO": "web.1", "MONGO_URL": "mongodb://127.0.0.1:1/x", "LOGSTORE_WRITE_KEYS": "short"},
     "LOGSTORE_WRITE_KEYS holds 1 key(s) shorter than 16 characters"),
])
def test_starts_that_must_not_happen_do_not(env, message):
    result = run_web(env)
    assert result.returncode != 0 and f"Error: {message}" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_the_launcher_refuses_production_without_mongo_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO", "LOGSTORE_", "DYNO"))}
    env.update({"LOGSTORE_ENV": "production", "LOGSTORE_DATA_DIR": str(tmp_path / "data"), "PORT": str(free_port()),
                "LOGSTORE_WRITE_KEYS": WRITE})
    started = time.monotonic()
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout
    assert "Error: MONGO_URL (or MONGODB_URI) is not set" in result.stderr
    assert "starting the local database" not in result.stdout and not (tmp_path / "data").exists()
    assert time.monotonic() - started < 20
