"""API keys: three kinds (read, write, admin), compared in constant time, checked by a decorator.

``@requires("read")`` on a Resource method (or any view) lets a request through when no keys are
configured at all (the open mode, warned about at start) or when it carries a key of that kind or
an admin key. No key or an unknown one is 401, a key of another kind 403. The key itself never
leaves this module: the rest of the service (logs, idempotency scopes, rate limits) sees only
``caller_id()``, a short digest of it. What Swagger shows of the guard is ``api/shared.requires``.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging

from flask import current_app, g, request

from . import clientlimits, headers, ratelimit
from .config import ConfigError, check_key_lengths
from .errors import ApiError

log = logging.getLogger(__name__)

KINDS = ("read", "write", "admin")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="logstore"'}


def _digest(key):
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class KeyRing:
    """The configured keys, kept as SHA-256 digests so that every comparison has one length."""

    def __init__(self, settings):
        self.entries = [(_digest(key), kind) for kind, keys in (
            ("read", settings.read_keys), ("write", settings.write_keys), ("admin", settings.admin_keys))
            for key in sorted(keys)]

    @property
    def is_open(self):
        return not self.entries

    def kinds_of(self, key):
        """Every kind ``key`` holds; compares against every configured key, whatever matches first."""
        presented = _digest(key)
        kinds = set()
        for digest, kind in self.entries:
            if hmac.compare_digest(presented, digest):
                kinds.add(kind)
        return kinds


def init_app(app):
    """Keep the key ring; refuse an open start in production unless LOGSTORE_AUTH=off says so."""
    settings = app.extensions["logstore.settings"]
    ring = KeyRing(settings)
    app.extensions["logstore.keys"] = ring
    check_key_lengths(settings)
    if ring.is_open:
        check_open_start(settings)
        warn_if_open(settings)


class _OpenStart:
    warned = False


def warn_if_open(settings):
    """Log, once per process tree, that no key is configured.

    gunicorn's master calls this before forking its workers (gunicorn.conf.py, on_starting); the
    workers inherit ``warned`` and stay silent, so a start logs it once, not once per worker.
    """
    if _OpenStart.warned or not KeyRing(settings).is_open:
        return
    _OpenStart.warned = True
    log.warning("no API keys are configured: every endpoint is open to anyone who can reach it")


def check_open_start(settings):
    """ConfigError when ``settings`` hold no key and production does not say LOGSTORE_AUTH=off."""
    if KeyRing(settings).is_open and settings.production and not settings.auth_off:
        raise ConfigError(
            "no API keys are configured: in production logstore refuses to start open. Set "
            "LOGSTORE_WRITE_KEYS / LOGSTORE_READ_KEYS / LOGSTORE_ADMIN_KEYS, or LOGSTORE_AUTH=off to "
            "run open on purpose")


def presented_key():
    """The key sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    value = request.headers.get("X-API-Key", "").strip()
    return value or None


def authenticate(kind):
    """Check the current request for a key allowing ``kind``; set ``g.caller`` to its digest."""
    ring = current_app.extensions["logstore.keys"]
    if ring.is_open:
        g.caller = None
        return
    key = presented_key()
    if key is None:
        raise ApiError(401, "UNAUTHORIZED", "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                       headers=CHALLENGE)
    kinds = ring.kinds_of(key)
    if not kinds:
        clientlimits.after_unknown_key()  # 429 instead, once this address has guessed too often
        raise ApiError(401, "UNAUTHORIZED", "the API key is not valid",
                       headers={"WWW-Authenticate": 'Bearer realm="logstore", error="invalid_token"'})
    if kind not in kinds and "admin" not in kinds:
        raise ApiError(403, "FORBIDDEN", f"this API key may not {_verbs[kind]}; it needs a {kind} or admin key")
    g.caller = _digest(key).hex()[:16]


_verbs = {"read": "read logs", "write": "store logs", "admin": "change or delete logs"}


def caller_id():
    """A short digest of the caller's key (None when the service is open): safe to store and log."""
    return g.get("caller")


def requires(kind):
    """Decorate a view (or Resource method): key of ``kind`` (or admin) needed, then the rate limit."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            headers.mark_keyed()
            clientlimits.before_key_check()
            authenticate(kind)
            if kind == "write":
                clientlimits.check_client()  # before the key's count: a refused client spends none of it
            ratelimit.check(caller_id())
            return view(*args, **kwargs)

        return wrapper

    return decorate
