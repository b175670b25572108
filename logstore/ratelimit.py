"""Per-key rate limit (``LOGSTORE_RATE_LIMIT``, e.g. ``600/minute``), shared by every worker and dyno.

Fixed windows counted in MongoDB: one document per caller and window, ``{_id: "<caller>:<window>",
n, expires}``, bumped with an upserting ``$inc`` and removed by a TTL index once its window is over.
The count lives in the database because a limit kept in process memory would be per worker: with
4 workers on 3 dynos a client would get 12 times the limit. A fixed window lets a client send up to
twice the limit across a window boundary; for protecting the service from a runaway frontend that is
enough, and it costs one round trip per request.
"""
from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app, request
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .config import ConfigError
from .errors import ApiError

COLLECTION = "ratelimits"
PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_FORMAT = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Limit:
    count: int
    period: int  # seconds
    unit: str


def parse_limit(text):
    """``"600/minute"`` (also ``600 per minute``, ``10/second``, ``/hour``, ``/day``) → Limit."""
    match = _FORMAT.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ConfigError(f"LOGSTORE_RATE_LIMIT must look like 600/minute (second, minute, hour or day), "
                          f"not {text!r}")
    unit = match.group(2).lower()
    return Limit(int(match.group(1)), PERIODS[unit], unit)


def init_app(app):
    settings = app.extensions["logstore.settings"]
    app.extensions["logstore.rate_limit"] = parse_limit(settings.rate_limit) if settings.rate_limit else None


def ensure_indexes(db):
    db[COLLECTION].create_index("expires", name="expires_ttl", expireAfterSeconds=0)


def check(caller, now=None):
    """Count this request against ``caller`` (a key digest; the client address when open).

    :raise ApiError: 429 with Retry-After once the caller is over the limit in this window.
    """
    limit = current_app.extensions.get("logstore.rate_limit")
    if limit is None:
        return
    now = time.time() if now is None else now
    window = int(now // limit.period)
    window_end = (window + 1) * limit.period
    who = caller or "ip-" + hashlib.sha256((request.remote_addr or "").encode()).hexdigest()[:16]
    count = _bump(current_app.extensions["logstore.db"][COLLECTION], f"{who}:{limit.period}:{window}", window_end)
    if count > limit.count:
        raise ApiError(429, "RATE_LIMITED",
                       f"more than {limit.count} requests per {limit.unit} with this key; try again later",
                       title="Too many requests", headers={"Retry-After": str(max(1, math.ceil(window_end - now)))})


def _bump(collection, counter_id, window_end):
    expires = datetime.fromtimestamp(window_end, timezone.utc)
    for _attempt in range(3):
        try:
            doc = collection.find_one_and_update(
                {"_id": counter_id}, {"$inc": {"n": 1}, "$setOnInsert": {"expires": expires}},
                upsert=True, return_document=ReturnDocument.AFTER, projection={"n": 1})
            return doc["n"]
        except DuplicateKeyError:
            # Two first requests of a window raced to create the counter; the loser increments it.
            continue
    raise RuntimeError("could not count the request against the rate limit")
