"""The dashboard in headless Chromium, served by gunicorn: its numbers against GET /logs/stats."""
import csv
import io
import json
import urllib.request
from urllib.parse import urlencode

import pytest

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
    fill(browser, "userId", "ann")
    browser.find_element("css selector", "input[name=types][value=NAVIGATE]").click()
    fill(browser, "from", "2020-01-02")
    fill(browser, "to", "2020-01-04")
    fill(browser, "tz", "America/Denver")
    fill(browser, "apiKey", "not-needed-yet")
    browser.find_element("id", "show").click()
    WebDriverWait(browser, 20).until(
        lambda d: d.find_element("id", "stats-table").get_attribute("data-ready") == "true")
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
    assert browser.execute_script("return localStorage.getItem('logstore.apiKey')") == "not-needed-yet"
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
