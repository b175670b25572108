"""A real browser: a page on one loopback origin POSTs to gunicorn on another, through CORS."""
import http.server
import json
import threading
import urllib.request

import pytest

from logstore.launcher import free_port
from tests.browser import browser  # noqa: F401  (fixture)
from tests.builders import SPEC_EXAMPLE

pytestmark = pytest.mark.e2e

PAGE = b"<!doctype html><title>frontend</title><p>frontend"

SEND = """
const [api, body, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const headers = {"Authorization": "Bearer write-key", "Content-Type": "application/json",
                 "Idempotency-Key": "browser-batch-1"};
async function send() {
  const r = await fetch(api + "/logs", {method: "POST", headers, body});
  return {status: r.status, json: await r.json(), requestId: r.headers.get("X-Request-ID"),
          replayed: r.headers.get("Idempotent-Replayed")};
}
(async () => {
  try {
    const first = await send(), again = await send();
    const read = await fetch(api + "/logs?userId=ABC123XYZ", {headers: {"X-API-Key": "read-key"}});
    done({first, again, read: {status: read.status, json: await read.json()}});
  } catch (e) { done({error: String(e)}); }
})();
"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def page_origin():
    """Serve a page from 127.0.0.1 on a port of its own: an origin other than the API's."""
    servers = []

    def start():
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def stored_actions(api):
    request = urllib.request.Request(api + "/logs?format=actions", headers={"X-API-Key": "read-key"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_page_on_an_allowed_origin_posts_and_reads_through_cors(start_gunicorn, page_origin, browser):  # noqa: F811
    allowed, other = page_origin(), page_origin()
    api, _ = start_gunicorn(workers=2, extra_env={"CORS_ORIGINS": allowed, "LOGSTORE_WRITE_KEYS": "write-key",
                                                  "LOGSTORE_READ_KEYS": "read-key"})
    body = json.dumps([SPEC_EXAMPLE])

    browser.get(allowed + "/")
    result = browser.execute_async_script(SEND, api, body)
    assert "error" not in result, result
    assert result["first"]["status"] == 201 and result["first"]["json"]["actions"] == 3
    assert result["first"]["requestId"]  # an exposed header the page can read
    assert result["again"]["status"] == 201 and result["again"]["replayed"] == "true"
    assert result["read"]["status"] == 200 and len(result["read"]["json"][0]["actions"]) == 3
    assert len(stored_actions(api)) == 3

    browser.get(other + "/")
    refused = browser.execute_async_script(SEND, api, body)
    assert "TypeError" in refused.get("error", ""), refused  # the browser refuses: fetch fails
    assert len(stored_actions(api)) == 3  # the preflight failed, so the POST was never sent
