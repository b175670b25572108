"""The dashboard's first screen in headless Chromium, served by gunicorn: the overview's figures and
their change, the top tables, paths, the funnel builder and the click map, each against the API's
own answer for the same view, and the click map checked pixel by pixel in a screenshot."""
import json
import struct
import urllib.request
import zlib
from urllib.parse import urlencode

import pytest

from tests.api.test_insights import BODY
from tests.browser import browser  # noqa: F401  (fixture)
from tests.e2e.test_gunicorn import request

pytestmark = pytest.mark.e2e

VIEW = {"from": "2020-03-04", "to": "2020-03-05", "tz": "+05:30"}
API_VIEW = {"from": "2020-03-04T00:00:00+05:30", "to": "2020-03-05T23:59:59.999999+05:30"}


def api(base, path, **query):
    with urllib.request.urlopen(f"{base}{path}?{urlencode(query, doseq=True)}") as got:
        return json.load(got)


def wait_for(driver, element_id, seconds=60):
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import TimeoutException

    try:
        WebDriverWait(driver, seconds).until(
            lambda d: d.find_element("id", element_id).get_attribute("data-ready") == "true")
    except TimeoutException:
        state = driver.execute_script(
            "return [...document.querySelectorAll('[data-ready]')].map(e => e.id + '=' + e.dataset.ready + ' '"
            " + e.textContent.slice(0, 200))")
        raise AssertionError(f"#{element_id} not ready: {state}; console: {driver.get_log('browser')}") from None


def png_pixels(data):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA PNG (what Chromium's screenshots are)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and not interlace
    step = 3 if color == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * step
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - step] if i >= step else 0
            b, c = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * step:x * step + 3]) for x in range(width)])
        previous = line
    return width, height, rows


def figure(driver, key):
    card = driver.find_element("css selector", f"#overview [data-figure={key}]")
    return card.find_element("css selector", ".value").text, card.find_element("css selector", ".change").text


def table_rows(driver, table_id):
    return [[td.text for td in tr.find_elements("css selector", "td")]
            for tr in driver.find_elements("css selector", f"#{table_id} tbody tr")]


def test_first_screen_shows_what_the_insights_endpoints_answer(start_gunicorn, browser, tmp_path):  # noqa: F811
    base, _ = start_gunicorn(workers=1)
    assert request("POST", base + "/logs", BODY)[0] == 201
    browser.get(f"{base}/dashboard?{urlencode(VIEW)}")
    for section in ("overview", "insights-top", "insights-paths", "funnel-chart", "clickmap"):
        wait_for(browser, section)
    browser.save_screenshot(str(tmp_path / "first-screen.png"))

    # Overview: each figure as the API counts it, with its change against the two days before.
    overview = api(base, "/logs/overview", tz="+05:30", compare="previous", **API_VIEW)
    assert overview["users"] > 0 and overview["previous"]["users"] > 0
    users, change = figure(browser, "users")
    assert users == f"{overview['users']:,}"
    expected = (overview["users"] - overview["previous"]["users"]) / overview["previous"]["users"] * 100
    assert change == f"{'+' if expected >= 0 else ''}{expected:.0f}% vs previous period"
    assert figure(browser, "sessions")[0] == f"{overview['sessions']:,}"
    assert figure(browser, "actions")[0] == f"{overview['actions']:,}"
    assert figure(browser, "bounceRate")[0] == f"{overview['bounceRate'] * 100:.1f}%"
    points = (overview["bounceRate"] - overview["previous"]["bounceRate"]) * 100
    assert figure(browser, "bounceRate")[1] == f"{'+' if points >= 0 else ''}{points:.1f} pp vs previous period"
    # The daily chart of dashboard.js is still drawn below the figures.
    wait_for(browser, "stats-table")
    assert browser.find_elements("css selector", "#chart rect[data-day]")

    # Top pages and items, paths: the same rows as the API, in its order.
    pages = api(base, "/logs/top", field="pageTo", **API_VIEW)
    assert table_rows(browser, "top-pages") == [[r["value"], str(r["count"]), str(r["users"])] for r in pages] and pages
    items = api(base, "/logs/top", field="viewedId", **API_VIEW)
    assert table_rows(browser, "top-items") == [[r["value"], str(r["count"]), str(r["users"])] for r in items] and items
    paths = api(base, "/logs/paths", limit=10, **API_VIEW)
    assert table_rows(browser, "paths-transitions") == [
        [f"{r['pageFrom']} → {r['pageTo']}", str(r["count"]), str(r["sessions"])] for r in paths["transitions"]]
    assert table_rows(browser, "paths-entries") == [[r["page"], str(r["sessions"])] for r in paths["entries"]]

    # The funnel builder: the default two steps, then a third step with a condition, per user.
    def bars():
        return [(r.get_attribute("data-step"), int(r.get_attribute("data-count")))
                for r in browser.find_elements("css selector", "#funnel-chart rect")]
    default = api(base, "/logs/funnel", step=["NAVIGATE", "CLICK"], **API_VIEW)
    assert bars() == [(s["step"], s["count"]) for s in default["steps"]]
    browser.find_element("id", "funnel-add").click()
    steps = browser.find_elements("css selector", "#funnel-steps li")
    assert len(steps) == 3
    browser.execute_script("arguments[0].value = 'viewedId=i2'", steps[2].find_element("css selector", "input"))
    browser.execute_script("arguments[0].value = 'user'", browser.find_element("id", "funnel-per"))
    browser.find_element("id", "funnel-run").click()
    wanted = api(base, "/logs/funnel", step=["NAVIGATE", "CLICK", "VIEW:viewedId=i2"], per="user", **API_VIEW)
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 30).until(lambda d: bars() == [(s["step"], s["count"]) for s in wanted["steps"]])
    assert wanted["steps"][0]["count"] > 0
    # The funnel is kept in the address: a reload shows the same steps, per and bars.
    from urllib.parse import parse_qs, urlsplit
    kept = parse_qs(urlsplit(browser.current_url).query)
    assert kept["step"] == ["NAVIGATE", "CLICK", "VIEW:viewedId=i2"] and kept["per"] == ["user"]
    assert kept["from"] == [VIEW["from"]] and kept["tz"] == [VIEW["tz"]]
    browser.refresh()
    wait_for(browser, "funnel-chart")
    WebDriverWait(browser, 30).until(lambda d: bars() == [(s["step"], s["count"]) for s in wanted["steps"]])
    assert browser.find_element("id", "funnel-per").get_attribute("value") == "user"
    assert [li.find_element("css selector", "input").get_attribute("value")
            for li in browser.find_elements("css selector", "#funnel-steps li")] == ["", "", "viewedId=i2"]
    # A link that names a funnel shows it; one without keeps the builder's steps.
    browser.get(f"{base}/dashboard?{urlencode({**VIEW, 'step': ['VIEW', 'NAVIGATE:pageTo=cart'], 'within': '3600'}, doseq=True)}")
    linked = api(base, "/logs/funnel", step=["VIEW", "NAVIGATE:pageTo=cart"], within="3600", **API_VIEW)
    wait_for(browser, "funnel-chart")
    WebDriverWait(browser, 30).until(lambda d: bars() == [(s["step"], s["count"]) for s in linked["steps"]])
    assert browser.find_element("id", "funnel-within").get_attribute("value") == "3600"
    assert parse_qs(urlsplit(browser.current_url).query)["step"] == ["VIEW", "NAVIGATE:pageTo=cart"]
    browser.get(f"{base}/dashboard?{urlencode(VIEW)}")
    for section in ("overview", "insights-top", "insights-paths", "funnel-chart", "clickmap"):
        wait_for(browser, section)
    assert bars() == [(s["step"], s["count"]) for s in default["steps"]]

    # The click map: the page with the most clicks, each click a hot spot, empty places white.
    clicks = api(base, "/logs/clicks", **API_VIEW)
    canvas = browser.find_element("id", "heatmap")
    assert canvas.get_attribute("data-page") == clicks["page"] and clicks["points"]
    options = [o.get_attribute("value") for o in browser.find_elements("css selector", "#click-page option")]
    assert options == [p["page"] for p in clicks["pages"]]
    width, height, rows = png_pixels(canvas.screenshot_as_png)
    border = int(browser.execute_script("return arguments[0].clientLeft", canvas))
    assert (width, height) == (480 + 2 * border, 300 + 2 * border)
    rows = [row[border:width - border] for row in rows[border:height - border]]
    width, height = 480, 300
    max_x, max_y = float(canvas.get_attribute("data-max-x")), float(canvas.get_attribute("data-max-y"))
    radius = float(canvas.get_attribute("data-radius"))

    def at(x, y):
        return rows[round(radius + y / max_y * (height - 2 * radius))][round(radius + x / max_x * (width - 2 * radius))]
    hottest = max(clicks["points"], key=lambda p: p["count"])
    r, g, b = at(hottest["x"], hottest["y"])
    assert r > 200 and b < 120, (r, g, b)       # red to yellow where the most clicks are
    for p in clicks["points"]:
        assert at(p["x"], p["y"]) != (255, 255, 255)
    covered = {(round(radius + p["x"] / max_x * (width - 2 * radius)), round(radius + p["y"] / max_y * (height - 2 * radius)))
               for p in clicks["points"]}
    far = [(x, y) for x in range(0, width, 20) for y in range(0, height, 20)
           if all((x - cx) ** 2 + (y - cy) ** 2 > (radius + 2) ** 2 for cx, cy in covered)]
    assert far and all(rows[y][x] == (255, 255, 255) for x, y in far)
    # Another page, chosen in the select: its own points.
    other = clicks["pages"][1]["page"]
    browser.execute_script("const s = document.getElementById('click-page'); s.value = arguments[0];"
                           "s.dispatchEvent(new Event('change'));", other)
    WebDriverWait(browser, 30).until(lambda d: canvas.get_attribute("data-page") == other)
    wait_for(browser, "clickmap")
    assert int(canvas.get_attribute("data-points")) == len(api(base, "/logs/clicks", page=other, **API_VIEW)["points"])
    assert (tmp_path / "first-screen.png").stat().st_size > 20_000


def test_a_bad_view_shows_the_problem_instead_of_figures(start_gunicorn, browser):  # noqa: F811
    base, _ = start_gunicorn(workers=1)
    browser.get(f"{base}/dashboard?{urlencode(VIEW)}")
    wait_for(browser, "overview")
    # An empty store: the figures say so rather than failing.
    assert figure(browser, "users")[0] == "0" and figure(browser, "bounceRate")[0] == "–"
    browser.execute_script("arguments[0].value = 'not-a-number'", browser.find_element("id", "funnel-within"))
    browser.find_element("id", "funnel-run").click()
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 30).until(lambda d: d.find_element("id", "funnel-chart").get_attribute("data-ready") == "error")
    assert "within" in browser.find_element("css selector", "#funnel-chart .insight-error").text
