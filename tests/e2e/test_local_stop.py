"""Stopping `python3 dev.py run` (app.py): SIGTERM or Ctrl-C stops everything within 10 s, with a
long read in flight; a POST in flight still finishes; no stack trace; a restart finds every action."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from pymongo import MongoClient

from logstore.launcher import ROOT, free_port, wait_for_http
from tests.builders import SPEC_EXAMPLE, session_log
from tests.e2e.test_gunicorn import request
from tests.e2e.test_local_run import wait_gone
from tests.e2e.test_production import raw_post_in_two_halves

pytestmark = pytest.mark.e2e

STOP_SECONDS = 10


class Launcher:
    """``python app.py`` in a session of its own (as a terminal runs it), its output collected."""

    def __init__(self, data_dir, extra_env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items()
               if k not in ("MONGO_URL", "MONGODB_URI", "DYNO", "LOGSTORE_ENV") and not k.startswith("GUNICORN_")}
        env.update({"LOGSTORE_DATA_DIR": str(data_dir), "PORT": str(self.port), "WEB_CONCURRENCY": "1",
                    **(extra_env or {})})
        self.process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, start_new_session=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()
        wait_for_http(self.base + "/ready", self.process, 90)

    @property
    def output(self):
        return "".join(self.lines)

    def database_url(self):
        [line] = [line for line in self.lines if "the local database is at " in line]
        return line.rsplit(" ", 1)[1].strip()

    def stop(self, signum):
        """Signal as a process manager (SIGTERM to the launcher) or a terminal's Ctrl-C (SIGINT to its
        process group) does; return the seconds until the launcher has exited."""
        started = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(signum)
        self.process.wait(60)
        elapsed = time.monotonic() - started
        self.reader.join(10)
        return elapsed


def block_next_query(url, seconds):
    """Make the database hold the next aggregate command for ``seconds`` (a long read in flight)."""
    with MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        client.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                             data={"failCommands": ["aggregate"], "blockConnection": True,
                                   "blockTimeMS": seconds * 1000})


def read_cut_short(url):
    """A read the stop may cut: it ends with no answer, or an error, never a hang."""
    try:
        request("GET", url)
    except OSError:
        pass


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_local_run_stops_within_10_s_with_a_long_read_in_flight(tmp_path, signum):
    data_dir = tmp_path / "data"
    launcher = Launcher(data_dir, {"LOGSTORE_SECANTUS_ARGS": "--enable-test-commands"})
    try:
        assert request("POST", launcher.base + "/logs", [SPEC_EXAMPLE])[0] == 201
        block_next_query(launcher.database_url(), 120)
        threading.Thread(target=read_cut_short, args=(launcher.base + "/logs",), daemon=True).start()
        time.sleep(1.0)  # the read is now waiting on the database
        stopped = []

        def stop_meanwhile():
            time.sleep(0.3)  # the POST's worker is reading its body
            threading.Thread(target=lambda: stopped.append(launcher.stop(signum)), daemon=True).start()
            time.sleep(1.0)  # its second half arrives after the signal

        body = json.dumps([session_log(session="in-flight")]).encode()
        answer = raw_post_in_two_halves(launcher.port, body, stop_meanwhile)
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        deadline = time.monotonic() + 60
        while not stopped and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if launcher.process.poll() is None:
            launcher.process.kill()
    print(f"stopped in {stopped} s; output:\n{launcher.output}")
    assert stopped and stopped[0] < STOP_SECONDS, (stopped, launcher.output[-3000:])
    assert "Traceback" not in launcher.output, launcher.output[-3000:]
    assert wait_gone(str(data_dir)) == []

    again = Launcher(data_dir)
    try:
        status, _, body = request("GET", again.base + "/logs?format=actions")
        assert status == 200
        assert sorted({row["sessionId"] for row in json.loads(body)}) == ["XYZ456ABC", "in-flight"]
    finally:
        again.stop(signal.SIGTERM)
    assert "Traceback" not in again.output
