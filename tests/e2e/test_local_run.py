"""The README's run command: `python app.py` starts SecantusDB under a data folder, keeps the data
across restarts, and leaves no process behind."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logstore.launcher import free_port
from tests.builders import SPEC_EXAMPLE
from logstore.launcher import ROOT, wait_for_http
from tests.e2e.test_gunicorn import request

pytestmark = pytest.mark.e2e


def processes_mentioning(text):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def launch(data_dir, port, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URL", "MONGODB_URI", "DYNO", "LOGSTORE_ENV")}
    env.update({"LOGSTORE_DATA_DIR": str(data_dir), "PORT": str(port), "WEB_CONCURRENCY": "1", **(extra_env or {})})
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process


def interrupt(process):
    process.send_signal(signal.SIGINT)
    process.wait(60)


def wait_gone(text, seconds=30):
    deadline = time.monotonic() + seconds
    while processes_mentioning(text) and time.monotonic() < deadline:
        time.sleep(0.2)
    return processes_mentioning(text)


def test_local_run_keeps_data_across_restarts_and_leaves_nothing(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = launch(data_dir, port)
    try:
        wait_for_http(base + "/ready", first, 90)
        assert request("POST", base + "/logs", [SPEC_EXAMPLE])[0] == 201
    finally:
        interrupt(first)
    assert wait_gone(str(data_dir)) == []
    assert any(data_dir.iterdir()), "the data folder holds the database"

    second = launch(data_dir, port)
    try:
        wait_for_http(base + "/ready", second, 90)
        status, _, body = request("GET", base + "/logs")
        assert status == 200 and json.loads(body) == [SPEC_EXAMPLE]
    finally:
        second.kill()  # even a hard kill of the launcher takes its children with it
        second.wait(30)
    assert wait_gone(str(data_dir)) == []


def test_with_mongo_url_set_nothing_local_starts(tmp_path, mongo_url):
    data_dir = tmp_path / "unused"
    port = free_port()
    process = launch(data_dir, port, {"MONGO_URL": mongo_url.rstrip("/") + "/logstore_launch_test"})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", process, 60)
        assert not data_dir.exists()
        assert processes_mentioning(str(data_dir)) == []
    finally:
        interrupt(process)
