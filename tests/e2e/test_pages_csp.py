"""The two HTML pages under their Content-Security-Policy in headless Chromium: Swagger UI still
renders and runs, the dashboard draws, and it keeps a key past the tab only when asked to."""
import pytest

from tests.browser import chromium_driver
from tests.e2e.test_gunicorn import request

pytestmark = pytest.mark.e2e

READ = "analyst-read-key-0123456789"


def csp_violations(driver):
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


@pytest.fixture
def logging_browser(tmp_path):
    """Chromium whose console (CSP violations included) the test can read."""
    from selenium import webdriver

    original = webdriver.ChromeOptions.__init__

    def with_logging(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    webdriver.ChromeOptions.__init__ = with_logging
    try:
        driver = chromium_driver(tmp_path / "chromium-profile")
    finally:
        webdriver.ChromeOptions.__init__ = original
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_swagger_ui_works_under_its_csp(start_gunicorn, logging_browser):
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = start_gunicorn(workers=1, extra_env={"LOGSTORE_READ_KEYS": READ})
    status, headers, _ = request("GET", base + "/docs")
    assert status == 200 and "'unsafe-inline'" not in headers["Content-Security-Policy"]
    logging_browser.get(base + "/docs")
    # Rendered from /swagger.json by the page's inline script: the tags, collapsed (docExpansion none).
    WebDriverWait(logging_browser, 30).until(lambda d: len(d.find_elements("css selector", ".opblock-tag")) >= 3)
    for tag in logging_browser.find_elements("css selector", ".opblock-tag"):
        tag.click()
    WebDriverWait(logging_browser, 10).until(lambda d: d.find_elements("css selector", ".opblock-summary"))
    paths = {e.text for e in logging_browser.find_elements("css selector", ".opblock-summary-path")}
    assert {"/logs", "/logs/export", "/health"} <= paths
    # The inline style attribute of the page's icon sprite applies (allowed by its hash).
    position = logging_browser.execute_script(
        "return getComputedStyle(document.querySelector('body > svg')).position")
    assert position == "absolute"
    # "Try it out" runs a request from the page (connect-src 'self').
    logging_browser.find_element("css selector", "#operations-health-get_health .opblock-summary").click()
    WebDriverWait(logging_browser, 10).until(lambda d: d.find_elements("css selector", ".try-out__btn"))
    logging_browser.find_element("css selector", ".try-out__btn").click()
    logging_browser.find_element("css selector", ".execute").click()
    live = ".live-responses-table tbody .response-col_status"
    WebDriverWait(logging_browser, 20).until(lambda d: d.find_elements("css selector", live))
    assert logging_browser.find_element("css selector", live).text.strip() == "200"
    assert csp_violations(logging_browser) == []


def test_the_dashboard_draws_under_its_csp_and_remembers_a_key_only_when_asked(start_gunicorn, logging_browser):
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = start_gunicorn(workers=1, extra_env={"LOGSTORE_READ_KEYS": READ})
    driver = logging_browser
    driver.get(base + "/dashboard?from=2020-01-01&to=2020-01-03")
    driver.find_element("id", "apiKey").send_keys(READ)
    driver.find_element("id", "show").click()
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element("id", "stats-table").get_attribute("data-ready") == "true")
    assert driver.find_element("id", "error").get_attribute("hidden") is not None  # the key worked
    assert driver.execute_script("return [sessionStorage.getItem('logstore.apiKey'), "
                                 "localStorage.getItem('logstore.apiKey.remembered')]") == [READ, None]
    driver.find_element("id", "rememberKey").click()
    driver.find_element("id", "show").click()
    assert driver.execute_script("return [sessionStorage.getItem('logstore.apiKey'), "
                                 "localStorage.getItem('logstore.apiKey.remembered')]") == [None, READ]
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()  # a later visit: the remembered key and the ticked box come back
    WebDriverWait(driver, 30).until(lambda d: d.find_element("id", "apiKey").get_attribute("value") == READ)
    assert driver.find_element("id", "rememberKey").is_selected()
    driver.find_element("id", "rememberKey").click()  # unticked: forgotten past this tab
    driver.find_element("id", "show").click()
    assert driver.execute_script("return localStorage.getItem('logstore.apiKey.remembered')") is None
    # A key an earlier version left in localStorage is moved to this tab's session at the next visit.
    driver.execute_script("localStorage.setItem('logstore.apiKey', 'left-by-an-old-version'); sessionStorage.clear()")
    driver.refresh()
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element("id", "apiKey").get_attribute("value") == "left-by-an-old-version")
    assert driver.execute_script("return [localStorage.getItem('logstore.apiKey'), "
                                 "sessionStorage.getItem('logstore.apiKey')]") == [None, "left-by-an-old-version"]
    assert not driver.find_element("id", "rememberKey").is_selected()
    assert csp_violations(driver) == []
