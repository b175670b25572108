"""The reads a call of the store sends (its aggregates, and with ``reads()`` its finds), seen on the wire by a pymongo command listener.

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
        with self._recording(finds=False) as sent:
            yield sent

    @contextmanager
    def reads(self):
        """Like ``aggregates``, and each ``find`` too, as ``(collection name, [{"$match": filter},
        {"$project": projection}])``, except those of the ``meta`` document (the layout and extent
        every store call looks up first)."""
        with self._recording(finds=True) as sent:
            yield sent

    @contextmanager
    def _recording(self, finds):
        sent = []
        me = threading.get_ident()
        self.open[me] = (sent, finds)
        try:
            yield sent
        finally:
            self.open.pop(me, None)

    def started(self, event):
        recording = self.open.get(threading.get_ident())
        if recording is None:
            return
        sent, finds = recording
        if event.command_name == "aggregate":
            sent.append((event.command["aggregate"], list(event.command["pipeline"])))
        elif finds and event.command_name == "find" and event.command["find"] != "meta":
            sent.append((event.command["find"], [{"$match": dict(event.command.get("filter", {}))},
                                                 {"$project": dict(event.command.get("projection", {}))}]))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


SENT = Aggregates()
