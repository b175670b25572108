"""Run the service on a laptop: a local SecantusDB (when MONGO_URL is unset) plus gunicorn.

Both run as child processes that die with this one (PR_SET_PDEATHSIG on Linux), so Ctrl-C, a
SIGTERM or even a SIGKILL of the launcher leaves nothing behind.
"""
from __future__ import annotations

import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

PR_SET_PDEATHSIG = 1
ROOT = Path(__file__).resolve().parents[1]


def _die_with_parent():
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

    :param patched: through ``logstore.localdb`` (the fixes of ``secantus_patches``, a bounded stop);
        False runs SecantusDB's own command line, as the tests that show what the patches fix do.
    """
    port = port or free_port(host)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    module = "logstore.localdb" if patched else "secantus"
    command = [sys.executable, "-m", module, "--host", host, "--port", str(port),
               "--storage-path", str(data_dir), "--log-level", "WARNING", *extra_args]
    process = subprocess.Popen(command, preexec_fn=_die_with_parent, stdout=log_file, stderr=log_file)
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
    env = dict(os.environ)
    database = None
    if not (env.get("MONGO_URL") or env.get("MONGODB_URI")):
        data_dir = Path(env.get("LOGSTORE_DATA_DIR", "data")).resolve()
        print(f"logstore: MONGO_URL is unset; starting the local database with its data in {data_dir}",
              flush=True)
        database, env["MONGO_URL"] = start_secantus(data_dir)
    port = env.get("PORT", "5000")
    host = env.get("LOGSTORE_HOST", "127.0.0.1")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:app", "--bind", f"{host}:{port}",
         "--workers", env.get("WEB_CONCURRENCY", "2")],
        env=env, preexec_fn=_die_with_parent,
    )
    print(f"logstore: serving on http://{host}:{port} (docs at /docs); Ctrl-C stops it", flush=True)
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)
        server.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        code = server.wait()
        while server.poll() is None:
            time.sleep(0.1)
    finally:
        stop(server)
        stop(database)
    return 0 if stopping else code
