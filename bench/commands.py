"""What the store sends, seen from outside it: a pymongo command listener on the benchmark's client.

The store takes no parameter for the benchmark: ``python -m bench`` builds its client with
``event_listeners=[ctx.commands]`` (``Commands``), and a part that wants to know which reads one call
made (to ``explain`` them, to count them) runs the call inside ``ctx.commands.recording()``. Only
the commands of the recording thread are kept, so the HTTP clients and servers of other threads and
processes never mix into them.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager

from pymongo import monitoring

from logstore import store


class Commands(monitoring.CommandListener):
    """Keeps ``(command name, command document)`` of every command the client sends from a thread
    while that thread holds ``recording()`` open; ignores every other command."""

    def __init__(self):
        self.open = {}          # thread id → the list its recording fills

    @contextmanager
    def recording(self):
        """Yield the list that receives the commands this thread sends until the block ends."""
        sent = []
        me = threading.get_ident()
        self.open[me] = sent
        try:
            yield sent
        finally:
            self.open.pop(me, None)

    def started(self, event):
        sent = self.open.get(threading.get_ident())
        if sent is not None:
            sent.append((event.command_name, event.command))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def aggregates(sent, collection=None):
    """``(collection name, pipeline)`` of each ``aggregate`` in ``sent`` (of ``collection`` only, if
    given), in the order they were sent; the ``getMore`` of a cursor is not a read of its own."""
    return [(command["aggregate"], list(command["pipeline"])) for name, command in sent
            if name == "aggregate" and (collection is None or command["aggregate"] == collection)]


def examined(ctx, db, read):
    """Run ``read()`` (a call of the store on ``db``, a database of ``ctx.client``), then ``explain``
    (executionStats) every bucket read it sent: ``(what read returned, {reads, keys, docs, index})``,
    index keys and bucket documents examined in all, the indexes used."""
    with ctx.commands.recording() as sent:
        answer = read()
    reads = aggregates(sent, store.SESSIONS)
    keys = docs = 0
    names = []
    for _, pipeline in reads:
        explained = db.command("explain", {"aggregate": store.SESSIONS, "pipeline": pipeline, "cursor": {}},
                               verbosity="executionStats")
        stats = explained.get("executionStats") or explained["stages"][0]["$cursor"]["executionStats"]
        plan = explained.get("queryPlanner") or explained["stages"][0]["$cursor"]["queryPlanner"]
        keys += stats.get("totalKeysExamined", 0)
        docs += stats.get("totalDocsExamined", 0)
        names += index_names(plan)
    return answer, {"reads": len(reads), "keys": keys, "docs": docs,
                    "index": ", ".join(dict.fromkeys(names)) or "?"}


def index_names(plan):
    """The indexes an ``explain`` plan uses, in order, with ``COLLSCAN`` for a collection scan."""
    names = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("stage") == "COLLSCAN":
                names.append("COLLSCAN")
            if "indexName" in node:
                names.append(node["indexName"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(json.loads(json.dumps(plan, default=str)))
    return names
