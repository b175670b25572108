"""Limits that follow the client, not the key: ingest per client address and per ``userId``, and
unknown keys per address (``LOGSTORE_CLIENT_RATE_LIMIT``, ``LOGSTORE_USER_RATE_LIMIT``,
``LOGSTORE_AUTH_FAILURE_LIMIT``).

Every browser of a frontend sends the one public write key, so a limit per key is a limit on all of
them together: one visitor that exhausts it locks every other out. These limits give each client its
own share. Each is a rate with a burst (``600/minute burst 120``): up to ``burst`` requests at once,
then one per ``period / count`` on average, by the generic cell rate algorithm (GCRA, as in
redis-cell): a counter is one number, the time ``tat`` at which the client would be back to a full
burst; a request moves it one interval on; a request that finds it more than ``burst`` intervals
ahead is refused. Refused requests move it too (up to one interval past the burst), so a client that
keeps hammering stays refused, and is let in again two intervals after it stops.
The counters live in MongoDB beside the per-key ones (``ratelimits``), one upserting update each,
shared by every worker and dyno.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app, request
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from .config import ConfigError
from .errors import ApiError

COLLECTION = "ratelimits"
PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_FORMAT = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(second|minute|hour|day)s?(?:\s+burst\s+(\d+))?\s*$", re.IGNORECASE)
# A body of more distinct users than this is a server-side import, not a browser: only its first
# ones are counted (the per-address and per-key limits still hold), so a request costs at most this.
MAX_USERS_COUNTED = 100


@dataclass(frozen=True)
class Rate:
    count: int
    period: int  # seconds
    unit: str
    burst: int

    @property
    def interval(self):
        return self.period / self.count

    def __str__(self):
        return f"{self.count}/{self.unit} burst {self.burst}"


def parse_rate(name, text):
    """``"600/minute burst 120"`` → Rate; the burst defaults to the count of one period."""
    match = _FORMAT.match(text or "")
    if not match or int(match.group(1)) < 1 or (match.group(3) is not None and int(match.group(3)) < 1):
        raise ConfigError(f"{name} must look like 600/minute or 600/minute burst 120 (second, minute, hour or "
                          f"day), or off; not {text!r}")
    count, unit = int(match.group(1)), match.group(2).lower()
    return Rate(count, PERIODS[unit], unit, int(match.group(3) or count))


def resolve(name, text, default):
    """The Rate a setting asks for: ``off`` none, unset ``default`` (a text, or None)."""
    text = (text or "").strip() or default
    if text is None or text.lower() == "off":
        return None
    return parse_rate(name, text)


@dataclass(frozen=True)
class Limits:
    client: Rate | None = None
    user: Rate | None = None
    failures: Rate | None = None


def init_app(app):
    app.extensions["logstore.client_limits"] = app.extensions["logstore.settings"].client_limits()


def _limits():
    return current_app.extensions.get("logstore.client_limits") or Limits()


def _collection():
    return current_app.extensions["logstore.db"][COLLECTION]


def _digest(text):
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def client_network(address):
    """The unit a client is counted by: an IPv4 address, or the /64 of an IPv6 one (one subscriber's
    network, inside which a client picks any address it likes)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def address_digest():
    """The client's network (after ProxyFix, which LOGSTORE_TRUSTED_PROXIES sets up) as a short digest."""
    return _digest(client_network(request.remote_addr or ""))


def _update(rate, now):
    """The pipeline that moves a counter one interval on (no further than one past the burst)."""
    interval, cap = rate.interval, (rate.burst + 1) * rate.interval
    moved = {"$add": [{"$max": [{"$ifNull": ["$tat", now]}, now]}, interval]}
    expires = datetime.fromtimestamp(now + cap, timezone.utc)
    return [{"$set": {"tat": {"$min": [moved, now + cap]}, "expires": expires}}]


def _wait(rate, tat, now):
    """None when a counter at ``tat`` let the request through, else the whole seconds to wait."""
    ahead = tat - now
    if ahead <= rate.burst * rate.interval + 1e-9:
        return None
    return max(1, math.ceil(ahead - (rate.burst - 1) * rate.interval - 1e-9))


def take(counter_id, rate, now=None):
    """Count one request on ``counter_id``; None if it passes, else the seconds to wait."""
    now = time.time() if now is None else now
    for _attempt in range(3):
        try:
            doc = _collection().find_one_and_update({"_id": counter_id}, _update(rate, now), upsert=True,
                                                    return_document=ReturnDocument.AFTER, projection={"tat": 1})
            return _wait(rate, doc["tat"], now)
        except DuplicateKeyError:
            continue  # two first requests raced to create the counter; the loser updates it
    raise RuntimeError("could not count the request against the rate limit")


def _refuse(wait, detail):
    raise ApiError(429, "RATE_LIMITED", detail, title="Too many requests", headers={"Retry-After": str(wait)})


def check_client(now=None):
    """Ingest per client address: 429 past LOGSTORE_CLIENT_RATE_LIMIT."""
    rate = _limits().client
    if rate is None:
        return
    wait = take("a:" + address_digest(), rate, now)
    if wait is not None:
        _refuse(wait, f"this address sent more POSTs than {rate} allows; try again later")


def check_users(user_ids, now=None):
    """Ingest per userId (the body's distinct ones, at most MAX_USERS_COUNTED): 429 past LOGSTORE_USER_RATE_LIMIT.

    One round trip for a body of one user (what a browser sends), two for more.
    """
    rate = _limits().user
    if rate is None or not user_ids:
        return
    now = time.time() if now is None else now
    ids = ["u:" + _digest(user) for user in list(dict.fromkeys(user_ids))[:MAX_USERS_COUNTED]]
    if len(ids) == 1:
        waits = [take(ids[0], rate, now)]
    else:
        waits = _take_many(ids, rate, now)
    waits = [w for w in waits if w is not None]
    if waits:
        _refuse(max(waits), f"more POSTs for one userId of this body than {rate} allows; try again later")


def _take_many(counter_ids, rate, now):
    """``take`` for several counters in two round trips: a bulk of upserts, then one read."""
    collection = _collection()
    try:
        collection.bulk_write([UpdateOne({"_id": i}, _update(rate, now), upsert=True) for i in counter_ids],
                              ordered=False)
    except BulkWriteError as exc:
        # Upserts that raced another request's first one for the same counter: count them again
        # (the others went through).
        raced = [counter_ids[error["index"]] for error in exc.details.get("writeErrors", [])
                 if error.get("code") == 11000]
        if len(raced) != len(exc.details.get("writeErrors", [])):
            raise
        for counter_id in raced:
            collection.update_one({"_id": counter_id}, _update(rate, now), upsert=True)
    return [_wait(rate, doc["tat"], now) for doc in collection.find({"_id": {"$in": counter_ids}}, {"tat": 1})]


class _Suspects:
    """Addresses this process has seen send an unknown key lately: only their requests pay a read of
    the failure counter before the key is checked, so a valid key costs nothing extra."""
    lock = threading.Lock()
    until = {}
    LIMIT = 10_000

    @classmethod
    def add(cls, digest, until):
        with cls.lock:
            if len(cls.until) >= cls.LIMIT:  # forget the lapsed ones; if none lapsed, all (memory stays bounded)
                now = time.time()
                cls.until = {d: u for d, u in cls.until.items() if u > now}
                if len(cls.until) >= cls.LIMIT:
                    cls.until = {}
            cls.until[digest] = until

    @classmethod
    def holds(cls, digest, now):
        return cls.until.get(digest, 0) > now


def before_key_check(now=None):
    """429 for an address past LOGSTORE_AUTH_FAILURE_LIMIT, before its key is looked at: a guess that
    happens to be right is refused like the others, so guessing is slowed, not merely answered."""
    rate = _limits().failures
    if rate is None:
        return
    now = time.time() if now is None else now
    digest = address_digest()
    if not _Suspects.holds(digest, now):
        return
    doc = _collection().find_one({"_id": "f:" + digest}, {"tat": 1})
    if doc is not None and _wait(rate, doc["tat"], now) is not None:
        _count_failure(rate, digest, now)  # refused requests count: a guesser that keeps on stays out


def after_unknown_key(now=None):
    """Count an unknown key against the address; 429 instead of 401 once past the limit."""
    rate = _limits().failures
    if rate is None:
        return
    _count_failure(rate, address_digest(), time.time() if now is None else now)


def _count_failure(rate, digest, now):
    _Suspects.add(digest, now + (rate.burst + 1) * rate.interval)
    wait = take("f:" + digest, rate, now)
    if wait is not None:
        _refuse(wait, f"too many requests with an unknown API key from this address ({rate}); try again later")
