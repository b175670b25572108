"""The dashboard in headless Chromium, served by gunicorn: its numbers against GET /logs/stats, its
opening view (the last 30 days), its loading state, its errors and its address."""
import csv
import io
import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from logstore import store
from logstore.validation import parse_batch
from tests.browser import browser  # noqa: F401  (fixture)
from tests.builders import action, session_log
from tests.e2e.test_gunicorn import request

pytestmark = pytest.mark.e2e

# Times in UTC; Denver is UTC-07:00 in January, so e.g. 2020-01-03T05:30Z counts on January 2 there.
SEED = [
    session_log(user="ann", session="a1", actions=[
        action("2020-01-02T08:00:00Z"), action("2020-01-03T05:30:00Z", "VIEW"), action("2020-01-03T06:59:59Z"),
        action("2020-01-03T07:00:00Z", "VIEW"), action("2020-01-03T12:00:00+05:30", "NAVIGATE"),
        action("2020-01-04T23:00:00-07:00", "CLICK"), action("2020-01-05T06:00:00Z", "VIEW")]),
    session_log(user="ann", session="a2", actions=[
        action(f"2020-01-0{d}T{h:02d}:15:00Z", ("CLICK", "VIEW", "NAVIGATE")[(d + h) % 3])
        for d in range(1, 7) for h in range(0, 24, 5)]),
    session_log(user="bob", session="b1", actions=[action("2020-01-03T10:00:00Z")] * 3),
]
QUERY = {"userId": "ann", "types": "CLICK,VIEW", "from": "2020-01-02T00:00:00-07:00",
         "to": "2020-01-04T23:59:59.999999-07:00"}


def fill(driver, element_id, value):
    driver.execute_script("arguments[0].value = arguments[1]", driver.find_element("id", element_id), value)


def wait_ready(driver, seconds=60):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, seconds).until(
        lambda d: d.find_element("id", "stats-table").get_attribute("data-ready") == "true")


def stats_of(base, query):
    with urllib.request.urlopen(f"{base}{query}") as got:
        return {(row["day"], row["type"]): row["count"] for row in json.load(got)}


def address_query(driver):
    return {key: values[0] for key, values in parse_qs(urlsplit(driver.current_url).query,
                                                        keep_blank_values=True).items()}


def shown_counts(driver):
    counts = {}
    for row in driver.find_elements("css selector", "#stats-table tbody tr"):
        for cell in row.find_elements("css selector", "td[data-type]"):
            counts[(row.get_attribute("data-day"), cell.get_attribute("data-type"))] = int(cell.text)
    return counts


def test_dashboard_shows_what_the_stats_endpoint_counts(start_gunicorn, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = start_gunicorn(workers=1)
    assert request("POST", base + "/logs", SEED)[0] == 201
    browser.get(base + "/dashboard")
    wait_ready(browser)   # the opening view (the last 30 days: nothing stored there)
    assert browser.find_element("id", "chart").text == "No matching actions."
    fill(browser, "userId", "ann")
    browser.find_element("css selector", "input[name=types][value=NAVIGATE]").click()
    fill(browser, "from", "2020-01-02")
    fill(browser, "to", "2020-01-04")
    fill(browser, "tz", "America/Denver")
    fill(browser, "apiKey", "not-needed-yet")
    browser.find_element("id", "show").click()
    WebDriverWait(browser, 20).until(
        lambda d: d.find_element("id", "stats-table").get_attribute("data-ready") == "true")
    # The view is in the address (the API key is not), and that address draws it again.
    assert address_query(browser) == {"userId": "ann", "types": "CLICK,VIEW", "from": "2020-01-02",
                                      "to": "2020-01-04", "tz": "America/Denver"}
    assert "not-needed-yet" not in browser.current_url
    browser.save_screenshot(str(tmp_path / "dashboard.png"))

    stats_query = urlencode({**QUERY, "groupBy": "day,type", "tz": "America/Denver"})
    with urllib.request.urlopen(f"{base}/logs/stats?{stats_query}") as got:
        stats = {(row["day"], row["type"]): row["count"] for row in json.load(got)}
    shown = shown_counts(browser)
    assert {key for key, n in shown.items() if n} == set(stats)
    assert {key: n for key, n in shown.items() if n} == stats
    assert [day for day, _ in sorted(stats)][0] == "2020-01-02" and ("2020-01-02", "VIEW") in stats
    bars = {(r.get_attribute("data-day"), r.get_attribute("data-type")): int(r.get_attribute("data-count"))
            for r in browser.find_elements("css selector", "#chart rect[data-day]")}
    assert bars == stats

    href = browser.find_element("id", "export-csv").get_attribute("href")
    assert href.startswith(base + "/logs/export?") and "format=csv" in href and "userId=ann" in href
    with urllib.request.urlopen(href) as exported:
        rows = list(csv.DictReader(io.StringIO(exported.read().decode())))
    assert len(rows) == sum(stats.values()) and {r["type"] for r in rows} <= {"CLICK", "VIEW"}
    # Kept for this tab's session only ("remember" is not ticked): tests/e2e/test_pages_csp.py.
    assert browser.execute_script("return sessionStorage.getItem('logstore.apiKey')") == "not-needed-yet"
    assert browser.execute_script("return localStorage.getItem('logstore.apiKey')") is None
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


# A store seeded through the write path (what a POST of the same sessions stores), all in the last 30 days.
SESSIONS, USERS, ACTIONS = 300, 30, 100
TYPES = ("CLICK", "VIEW", "NAVIGATE")


def seed_recent(db, sessions, users, actions, chunk=50):
    """``sessions`` sessions of ``actions`` actions one second apart (CLICK, VIEW, NAVIGATE in turn;
    session ``k`` of user ``user%06d`` ``k % users``), spread evenly over the 29 days before an hour
    ago, so that the opening view holds all of them; return the actions stored."""
    end = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)
    gap, start = timedelta(days=29) / sessions, end - timedelta(days=29)
    added = 0
    for first in range(0, sessions, chunk):
        body = [session_log(user=f"user{k % users:06d}", session=f"sess{k:08d}", actions=[
            action((start + gap * k + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"), TYPES[n % 3])
            for n in range(actions)]) for k in range(first, min(first + chunk, sessions))]
        added += store.insert_sessions(db, parse_batch(json.dumps(body).encode())).actions
    return added


@pytest.fixture
def seeded(start_gunicorn, mongo_client):
    base, database = start_gunicorn(workers=2)
    assert seed_recent(mongo_client[database], SESSIONS, USERS, ACTIONS) == SESSIONS * ACTIONS
    return base


def test_dashboard_opens_on_the_last_30_days_and_draws_at_once(seeded, browser):  # noqa: F811
    started = time.perf_counter()
    browser.get(seeded + "/dashboard")
    wait_ready(browser)
    took = time.perf_counter() - started
    page_ms = int(browser.find_element("id", "stats-table").get_attribute("data-draw-ms"))
    print(f"\ndashboard opening view, {SESSIONS * ACTIONS:,} actions: drawn {took:.2f} s after asking for "
          f"the page (stats request + drawing {page_ms / 1000:.2f} s)")
    assert took < 30

    # From the day of now - 30 days to today, in the browser's zone, by day and type.
    zone, today, month_ago = browser.execute_script(
        "const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;"
        "const day = (t) => new Intl.DateTimeFormat('en-CA', {timeZone: tz}).format(new Date(t));"
        "return [tz, day(Date.now()), day(Date.now() - 30 * 86400000)];")
    assert address_query(browser) == {"from": month_ago, "to": today, "tz": zone}
    assert [browser.find_element("id", key).get_attribute("value") for key in ("from", "to", "tz")] == [
        month_ago, today, zone]
    query = browser.find_element("id", "stats-table").get_attribute("data-query")
    assert parse_qs(urlsplit(query).query)["groupBy"] == ["day,type"]
    stats = stats_of(seeded, query)
    assert sum(stats.values()) == SESSIONS * ACTIONS   # every seeded action is in the view
    assert {key: n for key, n in shown_counts(browser).items() if n} == stats
    bars = {(r.get_attribute("data-day"), r.get_attribute("data-type")): int(r.get_attribute("data-count"))
            for r in browser.find_elements("css selector", "#chart rect[data-day]")}
    assert bars == stats
    # The table has a row for every day of the view, empty ones included.
    days = [row.get_attribute("data-day") for row in browser.find_elements("css selector", "#stats-table tbody tr")]
    assert days[0] == month_ago and days[-1] == today and len(days) >= 30
    assert f"{SESSIONS * ACTIONS} actions" in browser.find_element("id", "status").text
    # A month is asked for in parts of a few days, newest first; they add up to the one query above.
    assert int(browser.find_element("id", "stats-table").get_attribute("data-requests")) > 1
    # Loading is over: not busy, Show enabled, no error.
    assert browser.find_element("id", "result").get_attribute("aria-busy") == "false"
    assert browser.find_element("id", "show").is_enabled()
    assert not browser.find_element("id", "error").is_displayed()


def test_an_address_with_filters_shows_that_view(seeded, browser):  # noqa: F811
    now = datetime.now(timezone.utc)
    first, last = (now - timedelta(days=20)).date().isoformat(), (now - timedelta(days=5)).date().isoformat()
    view = {"from": first, "to": last, "userId": "user000007", "types": "CLICK,NAVIGATE", "tz": "+05:30"}
    browser.get(f"{seeded}/dashboard?{urlencode(view)}")
    wait_ready(browser)
    assert browser.find_element("id", "userId").get_attribute("value") == "user000007"
    assert [browser.find_element("id", key).get_attribute("value") for key in ("from", "to", "tz")] == [
        first, last, "+05:30"]
    checked = [box.get_attribute("value") for box in browser.find_elements("css selector", "input[name=types]")
               if box.is_selected()]
    assert checked == ["CLICK", "NAVIGATE"]
    assert address_query(browser) == view

    expected = stats_of(seeded, "/logs/stats?" + urlencode({
        "userId": "user000007", "types": "CLICK,NAVIGATE", "from": f"{first}T00:00:00+05:30",
        "to": f"{last}T23:59:59.999999+05:30", "groupBy": "day,type", "tz": "+05:30"}))
    assert expected and {t for _, t in expected} == {"CLICK", "NAVIGATE"}
    assert {key: n for key, n in shown_counts(browser).items() if n} == expected
    bars = {(r.get_attribute("data-day"), r.get_attribute("data-type")): int(r.get_attribute("data-count"))
            for r in browser.find_elements("css selector", "#chart rect[data-day]")}
    assert bars == expected

    # Show with other filters is a new entry in the history; Back draws the view before it again.
    browser.find_element("css selector", "input[name=types][value=VIEW]").click()
    browser.find_element("id", "show").click()
    wait_ready(browser)
    assert address_query(browser) == {key: value for key, value in view.items() if key != "types"}
    assert any(t == "VIEW" for _, t in shown_counts(browser))
    browser.back()
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 30).until(lambda d: address_query(d) == view and not d.find_element(
        "css selector", "input[name=types][value=VIEW]").is_selected())
    wait_ready(browser)
    assert {key: n for key, n in shown_counts(browser).items() if n} == expected


def test_the_page_shows_it_is_loading_and_then_the_result(seeded, browser):  # noqa: F811
    browser.get(seeded + "/dashboard")
    wait_ready(browser)
    # Hold the next stats answer for a second and a half, to look at the page while it waits.
    browser.execute_script(
        "const real = window.fetch; window.fetch = (...args) => new Promise("
        "(resolve) => setTimeout(() => resolve(real(...args)), 1500));")
    browser.find_element("id", "show").click()
    assert browser.find_element("id", "result").get_attribute("aria-busy") == "true"
    assert not browser.find_element("id", "show").is_enabled()
    assert browser.find_element("id", "status").text.startswith("Loading")
    assert browser.find_element("id", "stats-table").get_attribute("data-ready") is None
    wait_ready(browser)
    assert browser.find_element("id", "result").get_attribute("aria-busy") == "false"
    assert browser.find_element("id", "show").is_enabled()
    assert not browser.find_element("id", "status").text.startswith("Loading")


def test_errors_are_shown_with_their_detail(seeded, browser):  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    def shown_error():
        WebDriverWait(browser, 30).until(lambda d: d.find_element("id", "error").is_displayed())
        assert browser.find_element("id", "result").get_attribute("aria-busy") == "false"
        assert browser.find_element("id", "show").is_enabled()
        assert not browser.find_element("id", "result").is_displayed()
        return browser.find_element("id", "error")

    # The service's own problem document: a range that ends before it begins.
    browser.get(seeded + "/dashboard?" + urlencode({"from": "2020-01-05", "to": "2020-01-01", "tz": "UTC"}))
    error = shown_error()
    assert error.get_attribute("data-code") == "INVALID_PARAMETER"
    assert "from is after to" in browser.find_element("id", "error-detail").text
    assert browser.find_element("id", "error-title").text == "Invalid query parameter"

    # A stats read stopped at its time limit (503 QUERY_TIMEOUT, as the service answers it).
    browser.get(seeded + "/dashboard")
    wait_ready(browser)
    browser.execute_script(
        "window.fetch = async () => new Response(JSON.stringify({type: '/docs/errors#query-timeout',"
        " title: 'Query timed out', status: 503, code: 'QUERY_TIMEOUT', requestId: 'r123',"
        " detail: 'the query ran past its time limit and the database stopped it'}),"
        " {status: 503, headers: {'Content-Type': 'application/problem+json', 'Retry-After': '5'}});")
    browser.find_element("id", "show").click()
    error = shown_error()
    assert error.get_attribute("data-code") == "QUERY_TIMEOUT"
    assert browser.find_element("id", "error-title").text == "Query timed out"
    assert "ran past its time limit" in browser.find_element("id", "error-detail").text
    assert "retry after 5 s" in error.text and "r123" in error.text

    # An address asking for what is not a day says so, without asking the service.
    browser.get(seeded + "/dashboard?from=yesterday&to=2020-01-01")
    assert "from must be a day" in shown_error().text


def test_a_part_stopped_at_the_time_limit_is_asked_for_again_in_halves(seeded, browser):  # noqa: F811
    browser.get(seeded + "/dashboard")
    wait_ready(browser)
    drawn = shown_counts(browser)
    # The service stops every stats read of more than one day (as a slow database would).
    browser.execute_script(
        "const real = window.fetch; window.asked = [];"
        "window.fetch = (url, options) => {"
        "  const q = new URL(url, location.href).searchParams; window.asked.push(url);"
        "  const days = (Date.parse(q.get('to')) - Date.parse(q.get('from'))) / 86400000;"
        "  if (days <= 1) return real(url, options);"
        "  return Promise.resolve(new Response(JSON.stringify({title: 'Query timed out', status: 503,"
        "    code: 'QUERY_TIMEOUT', detail: 'stopped'}), {status: 503,"
        "    headers: {'Content-Type': 'application/problem+json', 'Retry-After': '5'}}));};")
    browser.find_element("id", "show").click()
    wait_ready(browser)
    assert shown_counts(browser) == drawn
    asked = browser.execute_script("return window.asked.length")
    days = len(browser.find_elements("css selector", "#stats-table tbody tr"))
    assert asked > days   # every day asked for alone in the end, after the parts that were stopped
    assert not browser.find_element("id", "error").is_displayed()
