"""Real processes on loopback: gunicorn started from the Procfile's web line."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from logstore import launcher
from logstore.launcher import ROOT, free_port, procfile_command, stop, wait_for_http


@pytest.fixture
def start_gunicorn(mongo_url, tmp_path, mongo_client):
    """Start the Procfile's web line on a free loopback port; returns (base_url, database name).

    ``server_url``: another server's URL (a test's own daemon) instead of the session's server.
    """
    started, databases = [], []

    def start(workers=2, extra_env=None, server_url=None):
        database = f"logstore_e2e_{uuid.uuid4().hex[:10]}"
        if server_url is None:
            databases.append(database)
        port = free_port()
        command = procfile_command("web")
        env = {**os.environ, "MONGO_URL": (server_url or mongo_url).rstrip("/") + "/" + database,
               "WEB_CONCURRENCY": str(workers), "GUNICORN_CMD_ARGS": f"--bind=127.0.0.1:{port}",
               **(extra_env or {})}
        env.pop("PORT", None)
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base + "/health", process)
        return base, database

    start.processes = started  # for tests that signal the server themselves
    yield start
    for process in started:
        stop(process)
    for database in databases:
        mongo_client.drop_database(database)


class Daemon:
    """A SecantusDB daemon of one test's own, on a fixed loopback port, that can stop and start again."""

    def __init__(self, data_dir, log_path, extra_args=()):
        self.data_dir, self.log_path, self.extra_args = data_dir, log_path, tuple(extra_args)
        self.port = free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/"
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process, _ = launcher.start_secantus(self.data_dir, port=self.port, extra_args=self.extra_args,
                                                   log_file=log)

    def stop(self):
        launcher.stop(self.process)


@pytest.fixture
def secantus_daemon(tmp_path):
    """Start a SecantusDB daemon for this test only (``extra_args`` e.g. --enable-test-commands)."""
    daemons = []

    def start(extra_args=()):
        daemon = Daemon(tmp_path / f"secantus-{len(daemons)}", tmp_path / f"secantus-{len(daemons)}.log", extra_args)
        daemons.append(daemon)
        daemon.start()
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()
