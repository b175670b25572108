"""The store's own exceptions, which ``logstore.errors`` maps to problem documents.

Light on purpose: it imports nothing, so the error module (and gunicorn's master) can know them
without loading the store or pymongo.
"""
from __future__ import annotations


class QueryTimeout(Exception):
    """A read ran past its time limit (``LOGSTORE_QUERY_TIMEOUT_MS``) and was stopped."""


class StorageBusy(Exception):
    """The work met conflicts or transient errors on every attempt within the budget; retry later."""


class Conflict(Exception):
    """Another writer changed a document between our read and our write; read again."""


class UnknownTimeZone(ValueError):
    """The server's time zone database does not know ``tz`` (Python's did: a version apart)."""

    def __init__(self, tz):
        super().__init__(f"the database does not know the time zone {tz!r}")
        self.tz = tz
