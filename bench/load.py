"""Heavy analyst reads alongside POSTs and user queries (issue 11): no read may cost the frontend
its POSTs.

On the query part's data at its largest size, gunicorn from the Procfile (2 workers of 4 threads,
its own default limits) serves, for ``SECONDS``: 2 analysts looping the heaviest reads
(``format=actions&limit=10000`` with and without ``types``, stats by session, day and type, a full
export), 4 clients POSTing single new sessions (each with an Idempotency-Key) and 1 client querying
single users. Expected: every POST and user query 2xx; analysts 200, or 503 ``QUERY_TIMEOUT`` /
``READS_BUSY`` with ``Retry-After``. Loopback only; every loop ends with the run.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

from . import data
from .timing import percentile

SECONDS, QUICK_SECONDS = 30, 10
ANALYSTS, POSTERS, USER_CLIENTS = 2, 4, 1
POST_ACTIONS = 20
ANALYST_READS = (
    ("actions page", "/logs?format=actions&limit=10000"),
    ("actions page", "/logs?format=actions&limit=10000&types=CLICK,VIEW"),
    ("stats", "/logs/stats?groupBy=session,day,type"),
    ("export", "/logs/export?format=ndjson"),
)
USERS = (7, 31, 55, 79, 93, 3, 11, 19)
CHUNK = 1 << 16


class Client:
    """One kept HTTP/1.1 connection; re-opened after an error or a ``Connection: close``."""

    def __init__(self, base, timeout=60):
        parts = urlsplit(base)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.connection = None

    def call(self, method, path, body=None, headers=None, stop_at=None):
        """(status, Retry-After, problem code, seconds, whether the body was cut by ``stop_at``)."""
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        start = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
            cut, payload = False, b""
            if response.status == 200 and stop_at is not None:      # a stream: read it, stop with the run
                while response.read(CHUNK):
                    if time.monotonic() > stop_at:
                        cut = True
                        break
            else:
                payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return "error: " + type(exc).__name__, None, None, time.perf_counter() - start, False
        seconds = time.perf_counter() - start
        if cut or response.getheader("Connection", "").lower() == "close":
            self.close()
        code = None
        if response.status >= 400:
            try:
                code = json.loads(payload).get("code")
            except ValueError:
                code = "?"
        return response.status, response.getheader("Retry-After"), code, seconds, cut

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def run_at_size(ctx, size):
    if size != max(ctx.sizes):
        return
    seconds = QUICK_SECONDS if ctx.quick else SECONDS
    base, server = ctx.procs.start_gunicorn(ctx.query_database, workers=2)
    results = []                                    # (kind, status, retry_after, code, seconds, cut)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    first_new = ctx.query_sessions
    next_session = [first_new]

    def record(kind, outcome):
        with lock:
            results.append((kind,) + outcome)

    def analyst(index):
        client, turn = Client(base, timeout=120), index
        while time.monotonic() < stop_at:
            kind, path = ANALYST_READS[turn % len(ANALYST_READS)]
            turn += 1
            outcome = client.call("GET", path, stop_at=stop_at if kind == "export" else None)
            record(kind, outcome)
            if outcome[0] == 503:
                time.sleep(0.2)                     # a client backing off a little (not Retry-After's 5 s)
        client.close()

    def poster():
        client = Client(base)
        while time.monotonic() < stop_at:
            with lock:
                k = next_session[0]
                next_session[0] += 1
            # Every new session starts when the last stored one did: new data lands in the current
            # hour, as in production, so the extent is widened once, not by every POST.
            shift = -(k - first_new) * data.SESSION_GAP.total_seconds()
            body = data.body([{"userId": data.user_name(k // 2), "sessionId": data.session_name(k),
                               "actions": [data.action(k, n, shift) for n in range(POST_ACTIONS)]}])
            record("POST", client.call("POST", "/logs", body, {"Content-Type": "application/json",
                                                               "Idempotency-Key": uuid.uuid4().hex}))
        client.close()

    def user_reader():
        client, turn = Client(base), 0
        while time.monotonic() < stop_at:
            user = USERS[turn % len(USERS)]
            turn += 1
            record("user query", client.call("GET", f"/logs?userId={data.user_name(user)}"))
        client.close()

    threads = ([threading.Thread(target=analyst, args=(i,)) for i in range(ANALYSTS)]
               + [threading.Thread(target=poster) for _ in range(POSTERS)]
               + [threading.Thread(target=user_reader) for _ in range(USER_CLIENTS)])
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        ctx.procs.stop_server(server)
    ctx.query_sessions = next_session[0]
    _report(ctx, size, seconds, results)


def _report(ctx, size, seconds, results):
    rows, kept = [], []
    for kind in ("POST", "user query", "actions page", "stats", "export"):
        mine = [r for r in results if r[0] == kind]
        if not mine:
            continue
        statuses = Counter(_status_label(r) for r in mine)
        bad = sum(1 for r in mine if not _is_2xx(r[1]))
        no_retry = sum(1 for r in mine if r[1] == 503 and not r[2])
        analyst = kind not in ("POST", "user query")
        if analyst:
            ok = all(r[1] == 200 or (r[1] == 503 and r[2] and r[3] in ("QUERY_TIMEOUT", "READS_BUSY")) for r in mine)
            expected = "200 or 503 with Retry-After"
        else:
            ok = bad == 0
            expected = "all 2xx"
        done = [r[4] for r in mine if not r[5]]
        kept.append((kind, len(mine), ok))
        cut = sum(1 for r in mine if r[5])
        rows.append((kind, len(mine), ", ".join(f"{label}: {n}" for label, n in sorted(statuses.items())),
                     bad, no_retry, f"{percentile(done, 0.5) * 1000:.0f} / {percentile(done, 0.95) * 1000:.0f}",
                     cut or "", f"{expected}: {'met' if ok else 'NOT met'}"))
    ctx.report.table(
        f"Heavy reads alongside writes at {size:,} stored actions, {seconds} s: {ANALYSTS} analysts looping "
        "`/logs?format=actions&limit=10000` (with and without `types=CLICK,VIEW`), stats by session, day and type, "
        f"and a full NDJSON export; {POSTERS} clients POSTing single new sessions of {POST_ACTIONS} actions with "
        f"an Idempotency-Key; {USER_CLIENTS} client querying single users. gunicorn from the Procfile "
        "(2 workers × 4 threads, default LOGSTORE_QUERY_TIMEOUT_MS and LOGSTORE_HEAVY_READS)",
        ("kind", "responses", "by status (problem code)", "non-2xx", "503 without Retry-After",
         "p50 / p95 ms (complete ones)", "exports still streaming at the end", "expected"), rows)
    ctx.report.target(f"heavy reads beside writes at {size:,} actions, {seconds} s: POSTs and user queries all 2xx, "
                      "analyst reads 200 or 503 with Retry-After",
                      "every answer as expected", ", ".join(f"{kind} {n} {'ok' if ok else 'NOT ok'}" for kind, n, ok in kept),
                      all(ok for _, _, ok in kept))


def _is_2xx(status):
    return isinstance(status, int) and 200 <= status < 300


def _status_label(result):
    status, code = result[1], result[3]
    return f"{status} {code}" if code else str(status)
