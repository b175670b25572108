"""A bound on the heavy analyst reads one worker runs at once, so that POSTs always find a thread.

A gunicorn gthread worker serves ``GUNICORN_THREADS`` requests at once. Reads across all users
(``GET /logs`` without ``userId``, export, stats) can each hold a thread for seconds; without a
bound, two analysts looping them take every thread and the frontend's POSTs queue behind them.
Heavy reads take a slot of ``LOGSTORE_HEAVY_READS`` (half the threads by default) without
waiting: when none is free they are refused at once with 503 ``READS_BUSY`` and ``Retry-After``.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from flask import current_app

from .errors import ApiError

RETRY_AFTER = "2"


class ReadGate:
    def __init__(self, slots):
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)

    def enter(self):
        """Take a slot, or raise the 503 at once."""
        if not self._free.acquire(blocking=False):
            raise ApiError(503, "READS_BUSY",
                           f"{self.slots} reads across all users are already running in this worker; retry "
                           "after Retry-After, or ask for one user (userId), which is never held back",
                           title="Too many heavy reads", headers={"Retry-After": RETRY_AFTER})

    def leave(self):
        self._free.release()

    @contextmanager
    def held(self, heavy=True):
        """A slot for the block when ``heavy``; a light read passes straight through."""
        if not heavy:
            yield
            return
        self.enter()
        try:
            yield
        finally:
            self.leave()


def init_app(app):
    app.extensions["logstore.readgate"] = ReadGate(app.extensions["logstore.settings"].heavy_reads)


def gate():
    return current_app.extensions["logstore.readgate"]
