"""``python -m bench.profile``: pyinstrument profiles of the ingest and the query path, in-process.

The app runs in this process (Flask's test client, no HTTP server) against the suite's own
SecantusDB daemon, so the profile shows the service's own CPU; time spent waiting for the database
shows up as pymongo's socket reads. Writes ``docs/profiles/{ingest,query}.txt`` (kept in git) and
the interactive ``bench/out/profiles/*.html`` (1 MB each, not kept).
"""
from __future__ import annotations

import sys
from pathlib import Path

from pyinstrument import Profiler

from logstore import create_app
from logstore.config import Settings

from . import data, query
from .procs import Processes

ROOT = Path(__file__).resolve().parents[1]
OUT, HTML_OUT = ROOT / "docs" / "profiles", ROOT / "bench" / "out" / "profiles"


def profile(name, function, repeats):
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(repeats):
        function()
    profiler.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    HTML_OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.txt").write_text(profiler.output_text(unicode=True, color=False))
    (HTML_OUT / f"{name}.html").write_text(profiler.output_html())
    print(f"bench.profile: wrote {OUT / name}.txt and {HTML_OUT / name}.html", flush=True)


def main():
    procs = Processes()
    try:
        procs.start_database()
        client = procs.client()
        database = procs.new_database("profile")
        app = create_app(Settings(), database=client[database])
        http = app.test_client()
        bodies = [data.body([data.session_log(k, 10_000, 100) for k in range(first, first + 100)])
                  for first in range(10_000_000, 10_002_100, 100)]        # built before, not profiled

        def post():
            reply = http.post("/logs", data=bodies.pop(), content_type="application/json")
            assert reply.status_code == 201, reply.get_json()

        post()
        profile("ingest", post, 20)                     # 20 POSTs of 10,000 actions

        class Seed:
            query_sessions = 0
        query.grow(Seed, client[database]["sessions"], 2000)  # 200,000 actions of query data
        shapes = [query.shapes(2000, turn) for turn in range(5)]

        def get():
            for params in shapes.pop(0).values() if len(shapes) > 1 else shapes[0].values():
                reply = http.get("/logs", query_string=params)
                assert reply.status_code == 200
        profile("query", get, 5)                        # every shape, 5 times, over 200,000+ actions
        client.close()
    finally:
        procs.close()


if __name__ == "__main__":
    sys.exit(main())
