"""Settings, read from the environment when the app is created (never at import)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


def _keys(text):
    return frozenset(key.strip() for key in (text or "").split(",") if key.strip())


def _number(environ, name, default, kind=float):
    text = environ.get(name)
    if text in (None, ""):
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {text!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


def default_heavy_reads(environ):
    """Half of a gunicorn worker's threads (GUNICORN_THREADS, 4 by default), at least one."""
    try:
        threads = int(environ.get("GUNICORN_THREADS") or 4)
    except ValueError:
        threads = 4
    return max(1, threads // 2)


def _worker_threads(environ):
    try:
        return max(1, int(environ.get("GUNICORN_THREADS") or 4))
    except ValueError:
        return 4


def _wait_ms(env, name, default):
    """A number of milliseconds that may be 0 (never wait)."""
    text = env.get(name)
    if text is None or text == "":
        return default
    if text.strip() == "0":
        return 0
    return _number(env, name, default, int)


@dataclass(frozen=True)
class Settings:
    mongo_url: str | None = None
    production: bool = False
    max_body_bytes: int = 10 * 1024 * 1024
    max_actions: int = 50_000
    write_keys: frozenset = field(default_factory=frozenset)
    read_keys: frozenset = field(default_factory=frozenset)
    admin_keys: frozenset = field(default_factory=frozenset)
    auth_off: bool = False
    retention_days: float | None = None
    rate_limit: str | None = None
    cors_origins: tuple = ()
    server_timeout_ms: int = 1500
    socket_timeout_ms: int = 20_000
    query_timeout_ms: int = 10_000
    heavy_reads: int = 2
    heavy_read_wait_ms: int = 2000      # how long a heavy read waits for a slot (readgate); 0: never
    worker_threads: int = 4             # GUNICORN_THREADS: bounds the heavy reads waiting at once

    @classmethod
    def from_env(cls, environ=None):
        """Read every LOGSTORE_* and MONGO_* variable; raise ConfigError for a start that must not happen."""
        env = os.environ if environ is None else environ
        production = bool(env.get("DYNO")) or env.get("LOGSTORE_ENV", "").lower() == "production"
        mongo_url = env.get("MONGO_URL") or env.get("MONGODB_URI") or None
        if production and not mongo_url:
            raise ConfigError(
                "MONGO_URL (or MONGODB_URI) is not set: in production logstore never falls back to a "
                "local database. Set it to your MongoDB connection string, e.g. "
                "heroku config:set MONGO_URL='mongodb+srv://…/logstore'"
            )
        origins = env.get("CORS_ORIGINS", "")
        return cls(
            mongo_url=mongo_url,
            production=production,
            max_body_bytes=int(_number(env, "LOGSTORE_MAX_BODY_MB", 10) * 1024 * 1024),
            max_actions=_number(env, "LOGSTORE_MAX_ACTIONS", 50_000, int),
            write_keys=_keys(env.get("LOGSTORE_WRITE_KEYS")),
            read_keys=_keys(env.get("LOGSTORE_READ_KEYS")),
            admin_keys=_keys(env.get("LOGSTORE_ADMIN_KEYS")),
            auth_off=env.get("LOGSTORE_AUTH", "").lower() == "off",
            retention_days=_number(env, "LOGSTORE_RETENTION_DAYS", None),
            rate_limit=env.get("LOGSTORE_RATE_LIMIT") or None,
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            server_timeout_ms=_number(env, "LOGSTORE_DB_TIMEOUT_MS", 1500, int),
            socket_timeout_ms=_number(env, "LOGSTORE_DB_SOCKET_TIMEOUT_MS", 20_000, int),
            query_timeout_ms=_number(env, "LOGSTORE_QUERY_TIMEOUT_MS", 10_000, int),
            heavy_reads=_number(env, "LOGSTORE_HEAVY_READS", default_heavy_reads(env), int),
            heavy_read_wait_ms=_wait_ms(env, "LOGSTORE_HEAVY_READ_WAIT_MS", 2000),
            worker_threads=_worker_threads(env),
        )
