"""The browser client (/sdk/logstore.js) in headless Chromium against gunicorn and SecantusDB.

The page lives on a loopback origin of its own and imports the release's URL (/sdk/<version>/logstore.js)
from the service with an import map that pins its integrity, as the README does. The browser's time
zone is Asia/Kolkata (+05:30): an offset no server default could produce by accident. Each test
counts what reached the database: every action the page recorded stored once (0 lost, 0 duplicated),
with the time and offset the browser wrote.
"""
import http.server
import json
import re
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode
from collections import Counter
from pathlib import Path
from datetime import datetime, timedelta

import pytest
from pymongo import MongoClient

from logstore.api.sdk import INTEGRITY, LATEST, VERSIONS
from logstore.launcher import free_port
from tests.browser import browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e

ZONE, OFFSET = "Asia/Kolkata", "+05:30"
RELEASES = {entry["version"]: entry["integrity"] for entry in VERSIONS["versions"]}
KEYS = {"LOGSTORE_WRITE_KEYS": "write-key", "LOGSTORE_READ_KEYS": "read-key"}
# Fast timers, so that a test waits for seconds rather than minutes.
OPTIONS = {"apiKey": "write-key", "userId": "ann", "flushIntervalMs": 200, "minBackoffMs": 100,
           "maxBackoffMs": 1000, "adoptIntervalMs": 500}

# A spy on fetch, installed before the module runs: what each POST carried, and its status.
PAGE = """<!doctype html><meta charset="utf-8"><title>app</title>
<script type="importmap">{importmap}</script>
<script>
window.sent = [];
const realFetch = window.fetch;
window.fetch = (url, init) => {{
  const entry = {{key: init.headers["Idempotency-Key"], encoding: init.headers["Content-Encoding"] || null,
                 keepalive: Boolean(init.keepalive), status: null}};
  sent.push(entry);
  return realFetch(url, init).then((r) => {{ entry.status = r.status; return r; }});
}};
</script>
<script type="module">
import * as logstore from "logstore";
const config = JSON.parse(new URLSearchParams(location.search).get("config") || "{{}}");
if (config.withoutWebLocks) Object.defineProperty(navigator, "locks", {{value: undefined}});
window.reports = [];
window.retries = [];
window.shows = [];
addEventListener("pageshow", (e) => shows.push(e.persisted));
window.log = logstore.init({{...config, onError: (e) => reports.push(e), onRetry: (r) => retries.push(r)}});
window.logstoreLoaded = true;
window.log.ready.then(() => {{ window.logstoreReady = true; }});
</script>
"""

RECORD = """
const [n, label] = arguments, ids = [];
for (let i = 0; i < n; i += 1) {
  if (i % 3 === 0) ids.push(log.click(i, -i, {label}));
  else if (i % 3 === 1) ids.push(log.view(`${label}-${i}`));
  else ids.push(log.navigate(label, `page-${i}`));
}
return ids;
"""

FLUSH = """
const [timeoutMs, done] = arguments;
log.flush(timeoutMs == null ? {} : {timeoutMs}).then((result) => done({...result, stats: log.stats()}));
"""


class PageServer(http.server.ThreadingHTTPServer):
    html = b""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if not self.path.startswith("/bf"):  # /bf…: a page the back/forward cache may keep
            self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(self.server.html)

    def log_message(self, *args):
        pass


@pytest.fixture
def app_page():
    """A page origin of its own (127.0.0.1, another port); ``serve(api)`` sets the page for an API."""
    server = PageServer(("127.0.0.1", free_port()), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    def serve(api, version=LATEST):
        sdk = f"{api}/sdk/{version}/logstore.js"
        pinned = INTEGRITY if version == LATEST else RELEASES[version]
        importmap = json.dumps({"imports": {"logstore": sdk}, "integrity": {sdk: pinned}})
        server.html = PAGE.format(importmap=importmap).encode()

    serve.origin = origin
    serve.server = server
    yield serve
    server.shutdown()
    server.server_close()


def open_page(driver, origin, path="/", **options):
    """Load the page (in the current tab) with the client's options; wait until it owns its queue
    (with consent pending: until the module has run)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ZONE})
    config = json.dumps({**OPTIONS, **options})
    driver.get(f"{origin}{path}?{urlencode({'config': config})}")
    flag = "logstoreLoaded" if options.get("consent") == "pending" else "logstoreReady"
    WebDriverWait(driver, 15).until(lambda d: d.execute_script(f"return window.{flag} === true"),
                                    "the page did not load the SDK (integrity, CORS or a script error)")


def record(driver, n, label):
    return driver.execute_script(RECORD, n, label)


def queued_in_storage(driver):
    """Actions in localStorage: one key per batch (``<prefix>:b:<id>``), listed by a page's index."""
    return driver.execute_script(
        "return Object.keys(localStorage).filter((k) => k.includes(':b:'))"
        ".reduce((n, k) => n + JSON.parse(localStorage[k]).records.length, 0)")


def flush(driver, timeout_ms=None):
    return driver.execute_async_script(FLUSH, timeout_ms)


def block_logs(driver, blocked):
    """The network to /logs cut (DevTools request blocking) or restored, for the current tab."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/logs?*"] if blocked else []})


def wait_until(condition, timeout, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(message)


def stored_ids(mongo, database):
    return [a["id"] for d in mongo[database].sessions.find({}, {"actions.id": 1}) for a in d["actions"]]


def exported(api):
    request = urllib.request.Request(api + "/logs/export", headers={"X-API-Key": "read-key"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [json.loads(line) for line in response.read().splitlines()]


def assert_exactly_once(api, mongo, database, expected, started):
    """Every expected id stored once, nothing else; each time in +05:30, between ``started`` and now."""
    stored = stored_ids(mongo, database)
    counts = Counter(stored)
    lost = len(set(expected) - set(counts))
    duplicated = len(stored) - len(counts)
    print(f"\n{len(expected)} actions recorded, {len(stored)} stored: lost = {lost}, duplicated = {duplicated}")
    assert lost == 0, f"{lost} actions lost"
    assert duplicated == 0, f"{duplicated} actions stored twice"
    assert set(counts) == set(expected), "stored actions the page did not record (or dropped)"
    rows = exported(api)
    assert len(rows) == len(expected)
    now = datetime.now().astimezone()
    for row in rows:
        written = datetime.fromisoformat(row["time"])
        assert row["time"].endswith(OFFSET), row["time"]
        assert started - timedelta(seconds=1) <= written <= now + timedelta(seconds=1), row["time"]
    return rows


@pytest.fixture
def service(start_gunicorn, app_page, mongo_client):
    """gunicorn with keys on and CORS for the page's origin; returns (api, mongo client, database)."""
    api, database = start_gunicorn(workers=1, extra_env={**KEYS, "CORS_ORIGINS": app_page.origin})
    app_page(api)
    return api, mongo_client, database


def test_sdk_batches_gzips_and_drops_only_the_invalid_action(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin, flushAt=100, gzipMinBytes=1000)
    ids = record(browser, 250, "first")
    # A property key with a dot is refused by the service, not by the client: a 400 pointer names it.
    bad = browser.execute_script("return log.action('CLICK', {locationX: 1, locationY: 2, 'a.b': 3})")
    ids += record(browser, 20, "after")
    # What the page changes after recording is not what was recorded.
    mutated = browser.execute_script("const p = {viewedId: 'v1'}; const id = log.action('VIEW', p); "
                                     "p.viewedId = 'changed'; return id")
    ids.append(mutated)
    result = flush(browser)
    assert result["pending"] == 0 and result["dropped"] == 1, result
    assert result["stats"]["duplicates"] == 0 and result["stats"]["replayed"] == 0

    rows = assert_exactly_once(api, mongo, database, ids, started)
    assert {(r["userId"], r["sessionId"]) for r in rows} == {("ann", browser.execute_script("return log.sessionId"))}
    by_id = {r["id"]: r for r in rows}
    assert by_id[ids[0]]["properties"] == {"locationX": 0, "locationY": 0, "label": "first"}
    assert by_id[ids[1]]["type"] == "VIEW" and by_id[ids[2]]["properties"]["pageTo"] == "page-2"
    assert by_id[mutated]["properties"] == {"viewedId": "v1"}
    sent = browser.execute_script("return window.sent")
    assert any(s["encoding"] == "gzip" and s["status"] == 201 for s in sent), sent
    assert len({s["key"] for s in sent}) == len(sent), "a batch was sent twice"
    reports = browser.execute_script("return window.reports")
    assert [r["kind"] for r in reports] == ["rejected"]
    assert [a["id"] for a in reports[0]["actions"]] == [bad] and reports[0]["errors"][0]["code"] == "INVALID_KEY"


def test_network_cut_and_restored(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin)
    ids = record(browser, 30, "online")
    assert flush(browser)["pending"] == 0
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    ids += record(browser, 60, "offline")
    cut = flush(browser, 1500)
    assert cut["pending"] == 60 and cut["stats"]["retries"] >= 2, cut
    assert stored_ids(mongo, database).__len__() == 30
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**offline, "offline": False})
    ids += record(browser, 10, "restored")
    result = flush(browser, 15000)
    assert result["pending"] == 0 and result["stats"]["dropped"] == 0, result
    assert_exactly_once(api, mongo, database, ids, started)
    retried = [s for s in browser.execute_script("return window.sent") if s["status"] is None]
    assert retried, "no attempt failed while offline"
    succeeded = {s["key"] for s in browser.execute_script("return window.sent") if s["status"] == 201}
    assert {s["key"] for s in retried} <= succeeded, "a batch got a new key on retry"


def test_database_503s_are_retried_after_retry_after(secantus_daemon, start_gunicorn, app_page, browser):  # noqa: F811
    daemon = secantus_daemon(extra_args=("--enable-test-commands",))
    api, database = start_gunicorn(workers=1, server_url=daemon.url, extra_env={
        **KEYS, "CORS_ORIGINS": app_page.origin, "LOGSTORE_DB_TIMEOUT_MS": "300"})
    app_page(api)
    mongo = MongoClient(daemon.url, appname="chaos-monkey")
    started = datetime.now().astimezone()
    try:
        open_page(browser, app_page.origin)
        ids = record(browser, 20, "before")
        assert flush(browser)["pending"] == 0
        # Every ingest's read of its sessions meets a write conflict: the service answers 503 BUSY.
        mongo.admin.command({"configureFailPoint": "failCommand", "mode": "alwaysOn",
                             "data": {"appName": "logstore", "failCommands": ["aggregate"], "errorCode": 112}})
        ids += record(browser, 40, "during")
        busy = flush(browser, 2500)
        assert busy["pending"] == 40, busy
        mongo.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        result = flush(browser, 15000)
        assert result["pending"] == 0, result
        assert_exactly_once(api, mongo, database, ids, started)
    finally:
        mongo.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        mongo.close()
    retries = browser.execute_script("return window.retries")
    assert retries and all(r["status"] == 503 and r["code"] == "DATABASE_BUSY" for r in retries), retries
    # Retry-After: 1 wins over the 100 ms first backoff.
    assert all(r["delayMs"] >= 1000 for r in retries), retries
    keys = Counter(s["key"] for s in browser.execute_script("return window.sent"))
    assert max(keys.values()) >= 2, "the 503'd batch was not retried with its own key"


def test_reload_with_a_full_queue_sends_it_on_the_next_load(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin, maxQueueSize=200, flushAt=20)
    block_logs(browser, True)
    ids = record(browser, 260, "queued")
    reports = browser.execute_script("return window.reports")
    dropped = [a["id"] for r in reports if r["kind"] == "queue-full" for a in r["actions"]]
    assert len(dropped) == sum(r["count"] for r in reports if r["kind"] == "queue-full") == 60
    assert set(dropped) <= set(ids[:80])  # the oldest, except a batch of 20 that was on its way
    assert browser.execute_script("return log.pending()") == 200
    browser.refresh()  # the page's keepalive flush on the way out is blocked too
    open_page(browser, app_page.origin, maxQueueSize=200)
    assert queued_in_storage(browser) == 200
    # Keepalive requests sent on the way out may get past DevTools' blocking (they outlive the page),
    # but the page never saw their answers: all 200 are still queued, and the next load sends them.
    print(f"\nstored by the old page's keepalive flush: {len(stored_ids(mongo, database))}")
    block_logs(browser, False)
    wait_until(lambda: len(stored_ids(mongo, database)) >= 200, 20, "the queue of the page before was not sent")
    result = flush(browser, 10000)
    assert result["pending"] == 0 and result["stats"]["stored"] == 200, result
    assert_exactly_once(api, mongo, database, [i for i in ids if i not in dropped], started)


def test_two_tabs_of_one_user_send_their_own_actions_once(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin)
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    open_page(browser, app_page.origin)
    second = browser.current_window_handle
    ids = []
    for tab in (first, second, first, second):
        browser.switch_to.window(tab)
        ids += record(browser, 25, f"tab-{tab[-4:]}")
    sessions, sent = set(), []
    for tab in (first, second):
        browser.switch_to.window(tab)
        result = flush(browser, 15000)
        assert result["pending"] == 0 and result["stats"]["duplicates"] == 0, result
        sessions.add(browser.execute_script("return log.sessionId"))
        sent += browser.execute_script("return window.sent")
    assert len(sessions) == 2  # a session per tab
    assert len({s["key"] for s in sent}) == len(sent), "a batch was sent twice"
    rows = assert_exactly_once(api, mongo, database, ids, started)
    assert {r["sessionId"] for r in rows} == sessions

    # The first tab goes away with actions it could not send; the second adopts and sends them.
    browser.switch_to.window(first)
    block_logs(browser, True)
    ids += record(browser, 30, "orphaned")
    browser.close()
    browser.switch_to.window(second)
    wait_until(lambda: len(stored_ids(mongo, database)) >= len(ids), 20, "the closed tab's actions were not adopted")
    assert flush(browser, 10000)["pending"] == 0
    assert_exactly_once(api, mongo, database, ids, started)


def test_a_page_closed_right_after_an_action_still_sends_it(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    browser.get(app_page.origin + "/blank")  # a tab that stays, so that closing the other keeps the browser
    keeper = browser.current_window_handle
    browser.switch_to.new_window("tab")
    open_page(browser, app_page.origin, flushIntervalMs=60000)  # nothing would be sent before the close
    ids = browser.execute_script("return [log.click(3, 4), log.view('last-thing')]")
    browser.close()
    wait_until(lambda: len(stored_ids(mongo, database)) >= 2, 10, "the keepalive flush on pagehide did not arrive")
    # The closed page never saw the 201, so its queue is still in localStorage: the next page replays
    # it with the same Idempotency-Key, and nothing is stored twice.
    browser.switch_to.window(keeper)
    open_page(browser, app_page.origin)
    wait_until(lambda: browser.execute_script(
        "return Object.keys(localStorage).filter((k) => k.includes(':p:') || k.includes(':b:')).length") == 0, 10,
        "the closed page's queue was not adopted")
    assert flush(browser, 10000)["pending"] == 0
    assert_exactly_once(api, mongo, database, ids, started)


def test_413_splits_a_batch_and_429_waits_for_retry_after(start_gunicorn, app_page, mongo_client, browser):  # noqa: F811
    api, database = start_gunicorn(workers=1, extra_env={
        **KEYS, "CORS_ORIGINS": app_page.origin, "LOGSTORE_MAX_ACTIONS": "30", "LOGSTORE_RATE_LIMIT": "4/second"})
    app_page(api)
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin, flushAt=1000, maxBatchActions=120)
    ids = record(browser, 120, "big")
    result = flush(browser, 20000)
    assert result["pending"] == 0 and result["dropped"] == 0, result
    assert_exactly_once(api, mongo_client, database, ids, started)
    statuses = Counter(s["status"] for s in browser.execute_script("return window.sent"))
    assert statuses[413] >= 3 and statuses[201] >= 4, statuses  # 120 → 60 → 30 actions a batch
    limited = [r for r in browser.execute_script("return window.retries") if r["status"] == 429]
    assert limited and all(r["delayMs"] >= 1000 for r in limited), limited


def test_without_web_locks_a_reload_still_sends_the_queue(service, app_page, browser):  # noqa: F811
    """Browsers without navigator.locks: a lease in localStorage, released on pagehide."""
    api, mongo, database = service
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin, withoutWebLocks=True)
    block_logs(browser, True)
    ids = record(browser, 30, "lease")
    # The lease: the page's index key says when it was last alive.
    assert browser.execute_script(
        "return Object.keys(localStorage).filter((k) => k.includes(':p:')).some((k) => JSON.parse(localStorage[k]).at > 0)")
    browser.refresh()
    block_logs(browser, False)
    open_page(browser, app_page.origin, withoutWebLocks=True)
    wait_until(lambda: len(stored_ids(mongo, database)) >= 30, 10, "the queue of the page before was not sent")
    assert flush(browser, 10000)["pending"] == 0
    assert_exactly_once(api, mongo, database, ids, started)


FILL_STORAGE = """
// The app's own code fills the origin's localStorage (a persisted store, a cache).
let i = 0, error = null;
for (const size of [256 * 1024, 16 * 1024, 1024, 64, 1]) {
  const chunk = "x".repeat(size);
  try { for (let n = 0; n < 400; n += 1, i += 1) localStorage.setItem(`app-cache-${i}`, chunk); } catch (e) { error = e.name; }
}
return [i, error];
"""


def test_localstorage_full_mid_session_loses_nothing(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin, flushIntervalMs=60000)
    ids = [browser.execute_script("return log.click(1, 1)")]
    filled, error = browser.execute_script(FILL_STORAGE)
    assert error == "QuotaExceededError" and filled > 0
    ids += record(browser, 10, "full")
    result = flush(browser, 15000)
    assert result == {**result, "stored": 11, "dropped": 0, "pending": 0}, result
    assert_exactly_once(api, mongo, database, ids, started)
    storage = [r for r in browser.execute_script("return window.reports") if r["kind"] == "storage"]
    assert storage and storage[0]["durable"] is False, storage


def test_three_tabs_started_and_closed_at_once(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    browser.get(app_page.origin + "/blank")
    keeper = browser.current_window_handle
    tabs, ids = [], []
    for n in range(3):
        browser.switch_to.new_window("tab")
        open_page(browser, app_page.origin, flushIntervalMs=60000)  # nothing sent before the close
        tabs.append(browser.current_window_handle)
    for n, tab in enumerate(tabs):
        browser.switch_to.window(tab)
        ids += record(browser, 20, f"tab-{n}")
    for tab in tabs:  # closed one right after the other
        browser.switch_to.window(tab)
        browser.close()
    browser.switch_to.window(keeper)
    open_page(browser, app_page.origin)  # adopts whatever the closing tabs' keepalive flush did not settle
    wait_until(lambda: browser.execute_script(
        "return Object.keys(localStorage).filter((k) => k.includes(':p:') || k.includes(':b:')).length") == 0
        and len(set(stored_ids(mongo, database))) >= 60, 20, "the closed tabs' queues were not all sent")
    assert flush(browser, 10000)["pending"] == 0
    assert_exactly_once(api, mongo, database, ids, started)


class _FlakyProxy(http.server.BaseHTTPRequestHandler):
    """Forwards to the service, but answers POST /logs with HTML 400s and 502s while ``bad`` lasts."""

    protocol_version = "HTTP/1.1"

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command == "POST" and self.server.bad:
            status = self.server.bad.pop(0)
            page = f"<html><body><h1>{status}</h1>proxy</body></html>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        request = urllib.request.Request(self.server.upstream + self.path, data=body, method=self.command, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as error:
            response = error
        data = response.read()
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_OPTIONS = do_GET = _forward

    def log_message(self, *args):
        pass


def test_a_proxy_answering_html_400s_and_502s_for_a_while(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _FlakyProxy)
    proxy.upstream, proxy.bad = api, [400, 502, 400, 502, 400, 400]
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        started = datetime.now().astimezone()
        open_page(browser, app_page.origin, url=f"http://127.0.0.1:{proxy.server_address[1]}", flushAt=4)
        ids = record(browser, 16, "proxied")
        result = flush(browser, 25000)
        assert result["pending"] == 0 and result["dropped"] == 0 and result["stats"]["dropped"] == 0, result
        assert_exactly_once(api, mongo, database, ids, started)
        assert proxy.bad == []
        reports = browser.execute_script("return window.reports")
        assert {r["kind"] for r in reports} == {"unexpected-response"}, reports
        assert {r["status"] for r in reports} == {400, 502}
    finally:
        proxy.shutdown()
        proxy.server_close()


LOCKS_HELD = "navigator.locks.query().then((s) => arguments[0](s.held.map((l) => l.name)))"


def test_the_back_forward_cache_keeps_the_page_and_its_queue(service, app_page, browser):  # noqa: F811
    """A page holds its lock while shown, none in the cache; one adopted meanwhile is left to the adopter."""
    api, mongo, database = service
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin, path="/bf-app")
    ids = record(browser, 5, "before")
    assert flush(browser, 10000)["pending"] == 0
    page_id = browser.execute_script("return log.pageId")
    assert [n for n in browser.execute_async_script(LOCKS_HELD) if page_id in n], "the page holds its lock while shown"
    block_logs(browser, True)
    ids += record(browser, 5, "cached")  # waiting in the queue when the page goes into the cache
    # Another page of the origin: it can adopt the cached page's queue only because that page holds
    # no lock (the HTML spec lets a held lock keep a page out of the back/forward cache).
    open_page(browser, app_page.origin, path="/bf-elsewhere")
    assert browser.execute_script("return log.pending()") == 5, "the cached page's queue was not adopted"
    block_logs(browser, False)
    assert flush(browser, 10000)["pending"] == 0
    browser.back()
    wait_until(lambda: browser.execute_script("return document.readyState") == "complete", 10, "no page")
    restored = browser.execute_script("return window.shows || []")
    reasons = browser.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n.notRestoredReasons ? JSON.stringify(n.notRestoredReasons) : null")
    assert restored == [False, True], f"not restored from the back/forward cache: {restored}; reasons: {reasons}"
    wait_until(lambda: browser.execute_script("return log.pending()") == 0, 10, "the adopted queue was not left to the adopter")
    wait_until(lambda: f"page:{browser.execute_script('return log.pageId')}" in " ".join(
        browser.execute_async_script(LOCKS_HELD)), 10, "the lock was not taken again")
    ids += record(browser, 5, "after")
    result = flush(browser, 10000)
    assert result["pending"] == 0 and result["stats"]["duplicates"] == 0, result
    assert_exactly_once(api, mongo, database, ids, started)


def test_consent_pending_then_granted(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    open_page(browser, app_page.origin, consent="pending", userId=None,
              autocapture={"navigation": True, "clicks": True})
    assert browser.execute_script("return [log.click(1, 2), log.view('v')]") == [None, None]
    browser.execute_script("history.pushState({}, '', '/somewhere'); document.body.click()")
    time.sleep(0.5)
    assert browser.execute_script("return [localStorage.length, sessionStorage.length, sent.length]") == [0, 0, 0]
    browser.execute_script("log.optIn()")
    browser.execute_script("return log.ready")
    ids = record(browser, 5, "granted")
    assert flush(browser, 10000)["pending"] == 0
    assert_exactly_once(api, mongo, database, ids, started)
    assert browser.execute_script("return log.userId").startswith("anonymous-")


def test_a_single_page_apps_route_changes_are_navigate_actions(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    open_page(browser, app_page.origin, autocapture={"navigation": True, "clicks": True})
    browser.execute_script("history.pushState({}, '', '/inventory?token=secret')")
    browser.execute_script("history.replaceState({}, '', '/inventory/42')")
    browser.execute_script("history.back()")
    wait_until(lambda: browser.execute_script("return location.pathname") == "/", 5, "history.back() did not happen")
    browser.execute_script("location.hash = '#reviews'")
    wait_until(lambda: browser.execute_script("return log.pending()") >= 4, 5, "hashchange not recorded")
    browser.execute_script(
        "const b = document.createElement('button'); b.id = 'buy'; b.textContent = 'Buy for $12'; "
        "document.body.append(b); b.click()")
    assert flush(browser, 10000)["pending"] == 0
    rows = sorted(exported(api), key=lambda r: r["time"])
    moves = [(r["properties"]["pageFrom"], r["properties"]["pageTo"]) for r in rows if r["type"] == "NAVIGATE"]
    assert moves == [("/", "/inventory"), ("/inventory", "/inventory/42"), ("/inventory/42", "/"), ("/", "/#reviews")], moves
    clicks = [r["properties"] for r in rows if r["type"] == "CLICK"]
    assert len(clicks) == 1 and clicks[0]["selector"] == "#buy" and clicks[0]["page"] == "/", clicks
    assert "Buy for" not in json.dumps(rows) and "secret" not in json.dumps(rows)


def readme_snippet(api):
    """The README's first HTML snippet (import map, stub, calls), pointed at this service."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    html = re.search(r"```html\n(.*?)```", text, re.S).group(1)
    return html.replace("https://logs.example.com", api).replace("<a write key>", "write-key")


def test_the_readmes_stub_queues_calls_and_a_failed_load_breaks_nothing(service, app_page, browser):  # noqa: F811
    api, mongo, database = service
    started = datetime.now().astimezone()
    app_page.server.html = ('<!doctype html><meta charset="utf-8">' + readme_snippet(api) +
                            '<script type="module">window.appRan = true;</script>').encode()
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ZONE})
    browser.get(app_page.origin + "/")
    wait_until(lambda: browser.execute_script("return Boolean(window.logstore && window.logstore.client)"), 15,
               "the stub was not taken over (integrity, CORS or a script error)")
    result = browser.execute_async_script("logstore.client.flush({timeoutMs: 10000}).then(arguments[0])")
    assert result["pending"] == 0
    rows = assert_exactly_once(api, mongo, database, [r["id"] for r in exported(api)], started)
    assert [(r["type"], r["userId"]) for r in sorted(rows, key=lambda r: r["time"])] == [
        ("VIEW", "ABC123XYZ"), ("NAVIGATE", "ABC123XYZ")]
    assert browser.execute_script("return window.appRan") is True

    # The module cannot load (a wrong URL, a blocked host): the page's own modules run all the same.
    app_page.server.html = ('<!doctype html><meta charset="utf-8">' +
                            readme_snippet(api).replace(f"/sdk/{LATEST}/", "/sdk/0.0.0/") +
                            '<script type="module">window.appRan = true;</script>').encode()
    browser.get(app_page.origin + "/")
    wait_until(lambda: browser.execute_script("return window.appRan === true"), 10, "the page's module did not run")
    assert browser.execute_script("logstore.click(1, 2); return logstore.q.length") == 4  # init, view, navigate, click

    # The import map's integrity applies to the dynamic import(): another hash, and the module is refused.
    wrong = re.sub(r"sha384-[A-Za-z0-9+/=]+", "sha384-" + "A" * 64, readme_snippet(api))
    app_page.server.html = ('<!doctype html><meta charset="utf-8">' + wrong +
                            '<script type="module">window.appRan = true;</script>').encode()
    browser.get(app_page.origin + "/")
    wait_until(lambda: browser.execute_script("return window.appRan === true"), 10, "the page's module did not run")
    time.sleep(1)
    assert browser.execute_script("return Boolean(logstore.client)") is False, "a module of another hash ran"


def test_an_upgrade_from_sdk_1_sends_the_queue_it_left(service, app_page, browser):  # noqa: F811
    """A page of SDK 1.0.0 queues actions (format 1) and reloads into the latest: they are migrated and sent."""
    api, mongo, database = service
    started = datetime.now().astimezone()
    app_page(api, "1.0.0")
    open_page(browser, app_page.origin, url=api)  # 1.0.0 finds its service only from /sdk/logstore.js
    assert browser.execute_script("return (await import('logstore')).VERSION") == "1.0.0"
    block_logs(browser, True)
    ids = record(browser, 30, "old")
    browser.execute_script("log.close()")  # no flush on the way out: the queue stays for the next page
    assert browser.execute_script("return Object.keys(localStorage).some((k) => k.includes(':q:'))")
    app_page(api)
    browser.refresh()
    block_logs(browser, False)
    open_page(browser, app_page.origin)
    wait_until(lambda: len(set(stored_ids(mongo, database))) >= 30, 15, "the format-1 queue was not sent")
    result = flush(browser, 10000)
    assert result["pending"] == 0 and result["stats"]["stored"] == 30, result  # this page sent them
    assert_exactly_once(api, mongo, database, ids, started)
    assert not browser.execute_script("return Object.keys(localStorage).filter((k) => k.includes(':q:'))")
    assert not [r for r in browser.execute_script("return window.reports") if r["kind"] == "storage-format"]
