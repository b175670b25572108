"""The aggregates a call of the store sends, seen on the wire by a pymongo command listener.

``SENT`` listens on the session's ``mongo_client`` (``tests/conftest.py``), so every ``db`` and
``module_db`` of a test is observed; it keeps nothing unless a test opens ``SENT.aggregates()``,
and then only what the test's own thread sends.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from pymongo import monitoring


class Aggregates(monitoring.CommandListener):
    def __init__(self):
        self.open = {}          # thread id → the list its block fills

    @contextmanager
    def aggregates(self):
        """Yield a list that receives ``(collection name, pipeline)`` of each aggregate this thread
        sends until the block ends (a cursor's getMores are not reads of their own)."""
        sent = []
        me = threading.get_ident()
        self.open[me] = sent
        try:
            yield sent
        finally:
            self.open.pop(me, None)

    def started(self, event):
        sent = self.open.get(threading.get_ident())
        if sent is not None and event.command_name == "aggregate":
            sent.append((event.command["aggregate"], list(event.command["pipeline"])))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


SENT = Aggregates()
