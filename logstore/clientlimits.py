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
The counters live in MongoDB beside the per-key ones (``ratelimits``, ``store/ratelimits.py``), one upserting update each,
shared by every worker and dyno.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time

from flask import current_app, request

from .config import Limits
from .db import get_db
from .errors import ApiError
from .store import ratelimits

# A body of more distinct users than this is a server-side import, not a browser: only its first
# ones are counted (the per-address and per-key limits still hold), so a request costs at most this.
MAX_USERS_COUNTED = 100


def init_app(app):
    app.extensions["logstore.client_limits"] = app.extensions["logstore.settings"].client_limits()


def _limits():
    return current_app.extensions.get("logstore.client_limits") or Limits()


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


def _wait(rate, tat, now):
    """None when a counter at ``tat`` let the request through, else the whole seconds to wait."""
    ahead = tat - now
    if ahead <= rate.burst * rate.interval + 1e-9:
        return None
    return max(1, math.ceil(ahead - (rate.burst - 1) * rate.interval - 1e-9))


def take(counter_id, rate, now=None):
    """Count one request on ``counter_id``; None if it passes, else the seconds to wait."""
    now = time.time() if now is None else now
    return _wait(rate, ratelimits.take_cell(get_db(), counter_id, rate.interval, rate.burst, now), now)


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
    """``take`` for several counters in two round trips."""
    tats = ratelimits.take_cells(get_db(), counter_ids, rate.interval, rate.burst, now)
    return [_wait(rate, tat, now) for tat in tats]


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
    tat = ratelimits.cell_tat(get_db(), "f:" + digest)
    if tat is not None and _wait(rate, tat, now) is not None:
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
