"""Run the service on a laptop: a local SecantusDB (when MONGO_URL is unset) plus gunicorn.

Both run as child processes that die with this one (PR_SET_PDEATHSIG on Linux), so Ctrl-C, a
SIGTERM or even a SIGKILL of the launcher leaves nothing behind. They run in sessions of their own,
so that a Ctrl-C reaches the launcher only, and the launcher stops them in order within
``STOP_SECONDS``: gunicorn first (requests in flight get ``LOCAL_GRACEFUL_SECONDS`` to finish),
then the database (logstore.local_database: running commands interrupted, storage closed, 2.5 s at most).
"""
from __future__ import annotations

import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

PR_SET_PDEATHSIG = 1
ROOT = Path(__file__).resolve().parents[1]
# gunicorn's graceful timeout under the launcher; the Procfile's web line keeps gunicorn.conf.py's
# 25 s for a deploy. A POST takes well under a second; a long read in flight is cut after this.
LOCAL_GRACEFUL_SECONDS = 4
STOP_SECONDS = 10


def die_with_parent():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_secantus(data_dir, host="127.0.0.1", port=None, extra_args=(), log_file=None, patched=True):
    """Start SecantusDB on loopback with its data under ``data_dir``; return (process, url).

    :param patched: through ``logstore.local_database`` (the fixes of ``secantus_patches``, a bounded stop);
        False runs SecantusDB's own command line, as the tests that show what the patches fix do.
    """
    port = port or free_port(host)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    module = "logstore.local_database" if patched else "secantus"
    command = [sys.executable, "-m", module, "--host", host, "--port", str(port),
               "--storage-path", str(data_dir), "--log-level", "WARNING", *extra_args]
    process = subprocess.Popen(command, preexec_fn=die_with_parent, stdout=log_file, stderr=log_file,
                               start_new_session=True)
    url = f"mongodb://{host}:{port}/logstore"
    wait_for_mongo(url, process)
    return process, url


def wait_for_mongo(url, process=None, seconds=60):
    """Ping ``url`` until the database answers; fail early if ``process`` exits, or after ``seconds``."""
    def answers():
        with MongoClient(url, serverSelectionTimeoutMS=500) as client:
            client.admin.command("ping")
        return True
    _wait_until(answers, PyMongoError, process, seconds, f"the database at {url}")


def procfile_command(kind="web"):
    """A Procfile line as argv, its program taken from this interpreter's folder (the venv's bin)."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == kind:
            argv = shlex.split(command)
            argv[0] = str(Path(sys.executable).parent / argv[0])
            return argv
    raise RuntimeError(f"no {kind} line in the Procfile")


def wait_for_http(url, process=None, seconds=60):
    """Poll ``url`` until it answers 200; fail early if ``process`` exits, or after ``seconds``."""
    def answers():
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    _wait_until(answers, OSError, process, seconds, url)


def _wait_until(answers, failure, process, seconds, what):
    """Call ``answers()`` every 0.2 s until it returns true (``failure`` counts as not yet)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: its process exited with code {process.returncode} before it answered")
        try:
            if answers():
                return
        except failure:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {seconds} s")


def stop(process, seconds=30):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main():
    """Start the local database if needed, then gunicorn on 127.0.0.1:$PORT (5000); stop both on exit."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    env = dict(os.environ)
    from .config import ConfigError, Settings

    try:
        # Before any local database starts: production never falls back to one (SPEC, Running).
        Settings.from_env(env)
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    database = server = None
    try:
        if not (env.get("MONGO_URL") or env.get("MONGODB_URI")):
            database, env["MONGO_URL"] = _start_local_database(env)
        if not stopping.is_set():
            _release(env)
        if not stopping.is_set():
            server = _start_gunicorn(env)
            while server.poll() is None and not stopping.wait(0.2):
                pass
    finally:
        _stop_all(server, database)
    return 0 if stopping.is_set() or server is None else server.returncode


def _start_local_database(env):
    data_dir = Path(env.get("LOGSTORE_DATA_DIR", "data")).resolve()
    print(f"logstore: MONGO_URL is unset; starting the local database with its data in {data_dir}", flush=True)
    database, url = start_secantus(data_dir, extra_args=shlex.split(env.get("LOGSTORE_SECANTUS_ARGS", "")))
    print(f"logstore: the local database is at {url}", flush=True)
    return database, url


def _release(env):
    """What the Procfile's release phase does on Heroku: create the indexes and migrate buckets of
    an older layout (docs/DESIGN.md), before any worker serves a request. In this process, without
    building the app, so that the start's one warning of an open service is not said twice."""
    from .config import Settings
    from .db import connect, release

    settings = Settings.from_env(env)
    database = connect(env["MONGO_URL"], settings.db_timeout_ms, settings.db_socket_timeout_ms)
    try:
        rewritten = release(database, settings)
        if rewritten:
            print(f"logstore: {rewritten} sessions rewritten into hour buckets (docs/DESIGN.md)", flush=True)
    except PyMongoError as exc:
        print(f"logstore: could not create indexes or migrate now ({exc}); the workers will retry", flush=True)
    finally:
        database.client.close()


def _start_gunicorn(env):
    port = env.get("PORT", "5000")
    host = env.get("LOGSTORE_HOST", "127.0.0.1")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:app", "--bind", f"{host}:{port}",
         "--workers", env.get("WEB_CONCURRENCY", "2"), "--graceful-timeout", str(LOCAL_GRACEFUL_SECONDS)],
        env=env, preexec_fn=die_with_parent, start_new_session=True,
    )
    print(f"logstore: serving on http://{host}:{port} (docs at /docs); Ctrl-C stops it", flush=True)
    return server


def _stop_all(server, database):
    """gunicorn first, so that the requests in flight can still use the database; all within STOP_SECONDS."""
    deadline = time.monotonic() + STOP_SECONDS
    stop(server, LOCAL_GRACEFUL_SECONDS + 1.5)
    stop(database, max(deadline - time.monotonic() - 0.5, 0.5))
