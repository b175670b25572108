"""``python -m bench [--quick] [--parts a,b] [--no-write]``: run the benchmark suite, print the figures
and write them, dated, into docs/PERFORMANCE.md. It measures; it never fails a build.

Each part runs against the suite's own SecantusDB daemon (a separate process, as the raw-driver
baselines need) and its own gunicorn processes on free loopback ports; all of them and the
temporary data directory are removed at the end, also after Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field

from . import dashboard, ingest, insights, load, query, shapes, streaming, ten_million
from .commands import Commands
from .procs import Processes
from .report import Report
from .timing import Http


@dataclass
class Part:
    name: str
    run: object
    endpoint: str = None            # a part whose endpoint answers 404 is reported "not available"
    at_each_size: bool = False      # run by the query part once per data size, on its data
    default: bool = True            # run when --parts names none


PARTS = [
    Part("ingest-cpu", ingest.run_cpu),
    Part("post", ingest.run_post),
    Part("throughput", ingest.run_throughput),
    Part("query", query.run),
    Part("load", load.run_at_size, at_each_size=True),     # at the largest size only
    Part("export", streaming.run_at_size, endpoint=streaming.ENDPOINT, at_each_size=True),
    Part("insights", insights.run_at_size, endpoint=insights.ENDPOINT, at_each_size=True),
    Part("dashboard", dashboard.run_part),
    Part("shapes", shapes.run),          # gap, burst, rare type, deleted history (issue 17)
    Part("ten-million", ten_million.run, default=False),   # about ten minutes; --parts ten-million
]

FULL_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (100_000, 200_000)   # the users the user queries ask for all exist from 19,000 on


@dataclass
class Context:
    quick: bool
    procs: Processes
    report: Report
    sizes: tuple
    client: object = None
    commands: Commands = field(default_factory=Commands)   # what ``client`` sends (bench.commands)
    at_each_size: list = field(default_factory=list)
    users_for_ingest: int = 10_000   # the spec's "10,000 users sending at once"
    next_session: int = 10_000_000

    def take_sessions(self, count):
        """A fresh range of session numbers, so that no two requests write the same session."""
        first = self.next_session
        self.next_session += count
        return first


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 dev.py bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats: a smoke run")
    parser.add_argument("--parts", help="comma list of parts to run: " + ",".join(p.name for p in PARTS))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    args = parser.parse_args(argv)
    chosen = set(args.parts.split(",")) if args.parts else {p.name for p in PARTS if p.default}
    command = "python3 dev.py bench" + " ".join([""] + (argv if argv is not None else sys.argv[1:]))
    signal.signal(signal.SIGTERM, _interrupt)
    # A shell starts background jobs with SIGINT ignored; take it back so that Ctrl-C or kill -INT
    # always stops the run and cleans up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.perf_counter()
    interrupted = False
    procs = Processes()
    report = Report(command, record_targets=not args.quick)
    ctx = Context(quick=args.quick, procs=procs, report=report, sizes=QUICK_SIZES if args.quick else FULL_SIZES)
    try:
        procs.start_database()
        ctx.client = procs.client(event_listeners=[ctx.commands])
        ctx.at_each_size = [_guarded(p) for p in PARTS if p.at_each_size and p.name in chosen]
        for part in PARTS:
            if part.name in chosen and not part.at_each_size:
                _run_part(part, ctx)
        if "query" not in chosen and ctx.at_each_size:
            report.note("Export and load need the query part's data; run them together with `query`.")
    except KeyboardInterrupt:
        print("bench: interrupted; cleaning up", file=sys.stderr)
        interrupted = True
    finally:
        if ctx.client is not None:
            ctx.client.close()
        procs.close()
    if interrupted:
        # What was measured so far is still worth keeping, marked as a partial run.
        if not args.no_write and report.blocks:
            report.note(f"**Interrupted after {(time.perf_counter() - started) / 60:.1f} min: the parts above "
                        "are all this run measured.**")
            print(f"bench: partial figures written to {report.write(time.perf_counter() - started)}")
        return 130
    elapsed = time.perf_counter() - started
    print(f"bench: done in {elapsed / 60:.1f} min", flush=True)
    if not args.no_write:
        print(f"bench: figures written to {report.write(elapsed)}")
    return 0


def _run_part(part, ctx):
    """Run one part; a failure is reported and the suite goes on (the benchmark never fails a build)."""
    print(f"== {part.name}", flush=True)
    started = time.perf_counter()
    try:
        part.run(ctx)
    except KeyboardInterrupt:
        raise
    except Exception:                                   # noqa: BLE001 — reported, not fatal
        ctx.report.note(f"Part `{part.name}` failed:\n\n```\n{traceback.format_exc(limit=3)}```")
    print(f"== {part.name}: {time.perf_counter() - started:.0f} s", flush=True)


def _guarded(part):
    def run(ctx, size):
        if part.endpoint and Http(ctx.query_base).request("GET", part.endpoint)[0] == 404:
            ctx.report.note(f"{part.name} at {size:,} actions: not available (`GET {part.endpoint}` answers 404).")
            return
        _run_part(Part(part.name, lambda c: part.run(c, size)), ctx)
    return run


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
