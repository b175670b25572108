"""The only package that touches collections: the write path (buckets), the read path (reads),
the hours' counts (hour_counts) that stats add up (stats), deletes, indexes, the meta document
(meta: extent, layout), the migration of older layouts, idempotency records, rate-limit counters
and the transaction loop.

Its names load on first use, so that a light module of it (``store.errors``) is imported without
the rest (and without pymongo)."""
from __future__ import annotations

import importlib

_HOMES = {
    "SESSIONS": "buckets", "IngestResult": "buckets", "insert_sessions": "buckets",
    "action_stats": "stats", "delete_actions": "deletes", "ensure_indexes": "indexes",
    "Deadline": "reads", "export_rows": "reads", "query_page": "reads",
    "QueryTimeout": "errors",
}

__all__ = sorted(_HOMES)


def __getattr__(name):
    home = _HOMES.get(name)
    if home is not None:
        value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{home}"), name)  # once
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")  # ``store.reads`` before anyone imported it
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
