"""The processes a run needs: its own SecantusDB daemon and gunicorn from the Procfile, on loopback.

Every child dies with the benchmark (PR_SET_PDEATHSIG), and ``Processes.close`` stops them and
removes the temporary directory, also after Ctrl-C.
"""
from __future__ import annotations

import os
import socket
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from subprocess import Popen, STDOUT

from pymongo import MongoClient

from logstore import launcher, store

ROOT = launcher.ROOT
# ``LOGSTORE_BENCH_PORTS=5170-5179``: the loopback ports the suite's servers take (the first free
# ones of the range), on a machine shared by several people; unset, any free port.
PORTS_VARIABLE = "LOGSTORE_BENCH_PORTS"


def free_port():
    """A free loopback port: of LOGSTORE_BENCH_PORTS when set, else any."""
    spec = os.environ.get(PORTS_VARIABLE)
    if not spec:
        return launcher.free_port()
    low, _, high = spec.partition("-")
    for port in range(int(low), int(high or low) + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS_VARIABLE}={spec}")


class Processes:
    """A temp dir, one database server, and the gunicorn servers started on it."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="logstore-bench-"))
        self.db_process = None
        self.url = None
        self.servers = []

    def use_database(self, url):
        """Run on a MongoDB of one's own (``mongodb://host[:port][/db]``) instead of starting one;
        ``new_database`` makes fresh databases in it, which the caller drops."""
        url = url.rstrip("/")
        self.url = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
        return self.url

    def start_database(self):
        log = open(self.tmp / "secantus.log", "wb")
        self.db_process, url = launcher.start_secantus(self.tmp / "secantus", port=free_port(), log_file=log)
        self.url = url.rsplit("/", 1)[0]
        return self.url

    def client(self, **options):
        return MongoClient(self.url, w="majority", **options)

    def new_database(self, prefix="bench"):
        """A fresh database name with the service's indexes in place."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with self.client() as client:
            store.ensure_indexes(client[name])
        return name

    def start_gunicorn(self, database, workers, env=None):
        """gunicorn from the Procfile web line on a free port; returns (base_url, process).

        :param env: more environment variables for it (say, a longer LOGSTORE_QUERY_TIMEOUT_MS).
        """
        port = free_port()
        command = launcher.procfile_command("web")
        extra_env = env
        env = {**os.environ, "MONGO_URL": f"{self.url}/{database}", "WEB_CONCURRENCY": str(workers),
               "GUNICORN_CMD_ARGS": f"--bind=127.0.0.1:{port} --timeout=300"}
        env.pop("PORT", None)
        env.update(extra_env or {})
        log = open(self.tmp / f"gunicorn-{port}.log", "wb")
        process = Popen(command, cwd=ROOT, env=env, stdout=log, stderr=STDOUT,
                        preexec_fn=launcher.die_with_parent)
        self.servers.append(process)
        base = f"http://127.0.0.1:{port}"
        launcher.wait_for_http(base + "/health", process)
        time.sleep(1.0)  # every worker booted, so the first timed request is not a boot
        return base, process

    def stop_server(self, process):
        launcher.stop(process)
        if process in self.servers:
            self.servers.remove(process)

    def close(self):
        for process in list(self.servers):
            launcher.stop(process)
        self.servers.clear()
        launcher.stop(self.db_process)
        shutil.rmtree(self.tmp, ignore_errors=True)


def worker_pids(process):
    """The pids of a gunicorn master's workers."""
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children]


def cpu_seconds(pid):
    """User + system CPU a process has used so far, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid, field="VmRSS"):
    """Resident set size of a process (``VmHWM``: its peak), from /proc (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0

