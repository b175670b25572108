"""Per-key rate limit (``LOGSTORE_RATE_LIMIT``, e.g. ``600/minute``), shared by every worker and dyno.

A sliding window, estimated from two fixed ones (the approach of Cloudflare's and nginx's limiters):
the requests of the current window plus those of the previous window weighted by the part of it
still inside the sliding window. A plain fixed window would let a client send twice the limit
across a boundary (the limit at the end of one window, the limit again at the start of the next).

The counts live in MongoDB (``store/ratelimits.py``), one document per caller and period ``{_id, w, n, p, expires}`` (window
number, its count, the previous window's count), updated by one upserting pipeline update, so one
round trip per request; a TTL index removes it once both windows are over. Kept in process memory
the count would be per worker: with 4 workers on 3 dynos a client would get 12 times the limit.
Refused requests count too, so a client that keeps hammering stays refused.
"""
from __future__ import annotations

import hashlib
import math
import time

from flask import current_app, request

from .config import parse_limit
from .db import get_db
from .errors import ApiError
from .store import ratelimits

def init_app(app):
    settings = app.extensions["logstore.settings"]
    app.extensions["logstore.rate_limit"] = parse_limit(settings.rate_limit) if settings.rate_limit else None


def check(caller, now=None):
    """Count this request against ``caller`` (a key digest; the client address when open).

    :raise ApiError: 429 with Retry-After once the caller's sliding-window estimate is over the limit.
    """
    limit = current_app.extensions.get("logstore.rate_limit")
    if limit is None:
        return
    now = time.time() if now is None else now
    window = int(now // limit.period)
    who = caller or "ip-" + hashlib.sha256((request.remote_addr or "").encode()).hexdigest()[:16]
    window, previous, current = ratelimits.bump_window(get_db(), f"{who}:{limit.period}", window, limit.period)
    # The part of the window gone, 0 to 1 (0 when another dyno's clock has already moved the
    # counter into a later window than this one's).
    elapsed = min(max(now / limit.period - window, 0.0), 1.0)
    if previous * (1 - elapsed) + current > limit.count:
        raise ApiError(429, "RATE_LIMITED",
                       f"more than {limit.count} requests per {limit.unit} with this key; try again later",
                       title="Too many requests",
                       headers={"Retry-After": str(retry_after(limit, window, previous, current, now))})


def retry_after(limit, window, previous, current, now):
    """Whole seconds until one more request would pass, if none is sent meanwhile (at least 1)."""
    room = limit.count - current - 1                     # what the previous window may still weigh
    if room >= 0:
        # previous * (1 - f) <= room  ⇔  f >= 1 - room / previous (previous > room, or it had passed)
        at = (window + 1 - room / previous) * limit.period
    else:
        # Not in this window: in the next, this window's count is the previous one.
        at = (window + 2 - (limit.count - 1) / current) * limit.period
    return max(1, math.ceil(at - now - 1e-9))
