"""A bound on the heavy analyst reads one worker runs at once, so that POSTs always find a thread.

A gunicorn gthread worker serves ``GUNICORN_THREADS`` requests at once. Reads across all users
(``GET /logs`` without ``userId``, export, stats) can each hold a thread for seconds; without a
bound, two analysts looping them take every thread and the frontend's POSTs queue behind them.
Heavy reads take a slot of ``LOGSTORE_HEAVY_READS`` (half the threads by default). One that finds
every slot taken waits for one up to ``LOGSTORE_HEAVY_READ_WAIT_MS`` (2 s by default), so a team of
analysts whose reads take a fraction of a second is served; only a sustained overload answers 503
``READS_BUSY`` with ``Retry-After``. A waiting read holds a thread too, so at most
``threads - slots - 1`` wait at once (one thread always stays free for POSTs and single-user
queries, which never take a slot nor wait for one); any further heavy read is refused at once.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from flask import current_app

from .errors import ApiError

RETRY_AFTER = "2"


class ReadGate:
    def __init__(self, slots, wait_ms=0, waiters=0):
        self.slots = slots
        self.wait_ms = wait_ms
        self.waiters = waiters
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._waiting = 0

    def enter(self):
        """Take a slot: at once, or after waiting up to ``wait_ms`` when a waiter's place is free;
        else raise the 503."""
        if self._free.acquire(blocking=False):
            return
        if self.wait_ms and self._wait_for_slot():
            return
        raise self._busy()

    def _wait_for_slot(self):
        with self._lock:
            if self._waiting >= self.waiters:
                return False
            self._waiting += 1
        try:
            return self._free.acquire(timeout=self.wait_ms / 1000)
        finally:
            with self._lock:
                self._waiting -= 1

    def _busy(self):
        return ApiError(503, "READS_BUSY",
                           f"{self.slots} reads across all users are already running in this worker and none ended "
                           f"within {self.wait_ms} ms; retry "
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
    settings = app.extensions["logstore.settings"]
    waiters = max(0, settings.gunicorn_threads - settings.heavy_reads - 1)
    app.extensions["logstore.readgate"] = ReadGate(settings.heavy_reads, settings.heavy_read_wait_ms, waiters)


def gate():
    return current_app.extensions["logstore.readgate"]
