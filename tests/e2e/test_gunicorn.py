"""The service as deployed: gunicorn from the Procfile, HTTP on loopback, SecantusDB over a socket."""
import json
import urllib.error
import urllib.request

import pytest

from tests.builders import SPEC_EXAMPLE, action, session_log

pytestmark = pytest.mark.e2e


def request(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_post_then_get_over_http(start_gunicorn):
    base, _ = start_gunicorn()
    status, _, body = request("POST", base + "/logs", [SPEC_EXAMPLE])
    assert status == 201 and json.loads(body) == {"sessions": 1, "actions": 3, "duplicates": 0}
    status, headers, body = request("GET", base + "/logs?types=CLICK,VIEW")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert [a["type"] for a in json.loads(body)[0]["actions"]] == ["CLICK", "VIEW"]


def test_errors_are_problem_documents_over_http(start_gunicorn):
    base, _ = start_gunicorn(workers=1)
    for method, path, body, status in [("GET", "/nowhere", None, 404), ("PUT", "/logs", None, 405),
                                        ("GET", "/logs?type=CLICK", None, 400),
                                        ("POST", "/logs", [{"userId": 1}], 400)]:
        got, headers, raw = request(method, base + path, body)
        assert got == status
        assert headers["Content-Type"] == "application/problem+json"
        assert json.loads(raw)["status"] == status


def test_workers_share_one_store(start_gunicorn):
    base, _ = start_gunicorn(workers=2)
    for user in range(20):
        assert request("POST", base + "/logs", [session_log(user=f"u{user}", actions=[action()])])[0] == 201
    status, _, body = request("GET", base + "/logs?format=actions&limit=100")
    assert status == 200 and len(json.loads(body)) == 20


def test_health_ready_and_docs(start_gunicorn):
    base, _ = start_gunicorn(workers=1)
    assert request("GET", base + "/health")[0] == 200
    assert request("GET", base + "/ready")[0] == 200
    status, _, raw = request("GET", base + "/swagger.json")
    assert status == 200 and "/logs" in json.loads(raw)["paths"]
    status, headers, _ = request("GET", base + "/docs")
    assert status == 200 and headers["Content-Type"].startswith("text/html")


def test_idempotency_key_holds_across_workers(start_gunicorn, mongo_client):
    """Eight concurrent sends of one batch under one key, to two workers: stored exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    base, database = start_gunicorn(workers=2)
    body = [SPEC_EXAMPLE]

    def send(_):
        return request("POST", base + "/logs", body, {"Idempotency-Key": "retry-storm"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    statuses = sorted(status for status, _, _ in answers)
    assert set(statuses) <= {201, 409} and 201 in statuses
    stored = [json.loads(raw) for status, _, raw in answers if status == 201]
    assert all(reply == {"sessions": 1, "actions": 3, "duplicates": 0} for reply in stored)
    assert sum(d["count"] for d in mongo_client[database].sessions.find()) == 3
    for status, headers, _ in answers:
        if status == 409:
            assert int(headers["Retry-After"]) >= 1


@pytest.mark.parametrize("raw, status", [
    (b"NOT A REQUEST LINE AT ALL\r\n\r\n", 400),
    (b"GET /logs?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /logs HTTP/1.1\r\nHost: x\r\nBad Header Name: y\r\n\r\n", 400),
])
def test_requests_gunicorn_refuses_itself_get_problem_documents(start_gunicorn, raw, status):
    import socket
    from urllib.parse import urlparse

    base, _ = start_gunicorn(workers=1)
    address = urlparse(base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(raw)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Content-Type: application/problem+json" in head
    problem = json.loads(body)
    assert problem["status"] == status and problem["code"] and problem["requestId"]
