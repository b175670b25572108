"""Production behaviour of the real process: refused starts, graceful shutdown, the JSON request log."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from logstore.launcher import free_port
from tests.builders import SPEC_EXAMPLE
from logstore.launcher import ROOT, procfile_command

pytestmark = pytest.mark.e2e


def run_web(extra_env, seconds=30):
    """Run the Procfile's web line to its end (it must end: these starts are refused)."""
    command = procfile_command("web")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("LOGSTORE_", "MONGO", "CORS_", "GUNICORN_", "DYNO"))}
    env.update({"MONGO_URL": "", "MONGODB_URI": "", "PORT": str(free_port()), **extra_env})
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds)


@pytest.mark.parametrize("production", [{"DYNO": "web.1"}, {"LOGSTORE_ENV": "production"}])
def test_production_without_mongo_url_does_not_start(production):
    started = time.monotonic()
    result = run_web({**production, "LOGSTORE_WRITE_KEYS": "w"})
    assert result.returncode != 0
    assert "Error: MONGO_URL (or MONGODB_URI) is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 20


def test_production_refuses_to_start_open(mongo_url):
    result = run_web({"DYNO": "web.1", "MONGO_URL": mongo_url})
    assert result.returncode != 0
    assert "no API keys are configured" in result.stderr and "LOGSTORE_AUTH=off" in result.stderr


def raw_post_in_two_halves(port, body, pause):
    """Send the headers and half the body, call ``pause()``, then the rest; return the raw answer."""
    head = (f"POST /logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body[:len(body) // 2])
        pause()
        sock.sendall(body[len(body) // 2:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_sigterm_lets_the_request_in_flight_finish(start_gunicorn, mongo_client):
    base, database = start_gunicorn(workers=1)
    [server] = start_gunicorn.processes
    port = int(base.rsplit(":", 1)[1])

    def deploy_meanwhile():
        time.sleep(0.3)  # the worker is now inside the request, reading its body
        server.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # the body's second half arrives well after the SIGTERM

    answer = raw_post_in_two_halves(port, json.dumps([SPEC_EXAMPLE]).encode(), deploy_meanwhile)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert server.wait(20) == 0
    assert mongo_client[database].sessions.count_documents({}) == 1
    with pytest.raises(OSError):  # and it took no new connections after the SIGTERM
        urllib.request.urlopen(base + "/health", timeout=2)


def test_one_json_line_per_request_and_no_access_log(start_gunicorn, tmp_path):
    base, _ = start_gunicorn(workers=1, extra_env={"LOGSTORE_READ_KEYS": "secret-read-key"})
    request = urllib.request.Request(base + "/logs?userId=u1&api_key=secret-read-key",
                                     headers={"Authorization": "Bearer secret-read-key", "X-Request-ID": "trace-1"})
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 400  # api_key is not a parameter of /logs
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline and not lines:
        text = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
        lines = [json.loads(line) for line in text.splitlines() if '"trace-1"' in line]
        time.sleep(0.1)
    [line] = lines
    assert {k: line[k] for k in ("requestId", "method", "path", "status")} == {
        "requestId": "trace-1", "method": "GET", "path": "/logs", "status": 400}
    assert isinstance(line["ms"], float)
    assert "secret-read-key" not in text and "userId=u1" not in text
    assert '"GET /logs' not in text  # gunicorn's own access log is off


def test_open_start_warns_once_as_one_json_line(start_gunicorn, tmp_path):
    open_env = {name: "" for name in ("LOGSTORE_WRITE_KEYS", "LOGSTORE_READ_KEYS", "LOGSTORE_ADMIN_KEYS")}
    base, _ = start_gunicorn(workers=2, extra_env=open_env)
    assert urllib.request.urlopen(base + "/ready", timeout=10).status == 200   # both workers had time to boot
    time.sleep(1.0)
    text = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
    assert text.count("Booting worker") == 2
    [line] = [line for line in text.splitlines() if "no API keys are configured" in line]
    assert {k: v for k, v in json.loads(line).items() if k in ("level", "logger")} == {
        "level": "warning", "logger": "logstore.auth"}
