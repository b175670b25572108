"""Settings, read from the environment when the app is created (never at import)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


# Rates of the limits (ratelimit.py per key, clientlimits.py per client): settings, parsed here.
PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT_FORMAT = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Limit:
    count: int
    period: int  # seconds
    unit: str


def parse_limit(text):
    """``"600/minute"`` (also ``600 per minute``, ``10/second``, ``/hour``, ``/day``) → Limit."""
    match = _LIMIT_FORMAT.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ConfigError(f"LOGSTORE_RATE_LIMIT must look like 600/minute (second, minute, hour or day), "
                          f"not {text!r}")
    unit = match.group(2).lower()
    return Limit(int(match.group(1)), PERIODS[unit], unit)


_RATE_FORMAT = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(second|minute|hour|day)s?(?:\s+burst\s+(\d+))?\s*$", re.IGNORECASE)


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
    match = _RATE_FORMAT.match(text or "")
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


ENVIRONMENTS = ("production", "development")
MIN_KEY_LENGTH = 16
# Limits on by default in production; "off" turns one off. With a per-key LOGSTORE_RATE_LIMIT they
# default to a tenth of it instead (default_client_limits).
DEFAULT_CLIENT_RATE_LIMIT = "600/minute burst 120"
DEFAULT_USER_RATE_LIMIT = "60/minute burst 30"
# On everywhere: unknown keys per client address.
DEFAULT_AUTH_FAILURE_LIMIT = "10/minute burst 10"


def _environment(env):
    """``production`` when Heroku's DYNO is set or LOGSTORE_ENV says so; an unknown LOGSTORE_ENV stops the start."""
    name = env.get("LOGSTORE_ENV", "")
    if name not in ("", *ENVIRONMENTS):
        raise ConfigError(f"LOGSTORE_ENV must be one of {', '.join(ENVIRONMENTS)} (or unset), not {name!r}")
    return bool(env.get("DYNO")) or name == "production"


def _trusted_proxies(env):
    text = env.get("LOGSTORE_TRUSTED_PROXIES", "")
    if text == "":
        return 1 if env.get("DYNO") else 0  # Heroku's router is one hop
    if not text.isdigit():
        raise ConfigError(f"LOGSTORE_TRUSTED_PROXIES must be a whole number of proxy hops (0, 1, …), not {text!r}")
    return int(text)


def _flag(env, name):
    text = env.get(name, "").strip().lower()
    if text not in ("", "true", "false", "1", "0"):
        raise ConfigError(f"{name} must be true or false, not {env.get(name)!r}")
    return text in ("true", "1")


def _public_url(env):
    text = (env.get("LOGSTORE_PUBLIC_URL") or "").strip().rstrip("/")
    if text and not re.match(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$", text):
        raise ConfigError(f"LOGSTORE_PUBLIC_URL must be an origin such as https://logs.example.com (scheme, "
                          f"host, optional port; no path), not {text!r}")
    return text or None


def default_client_limits(production, rate_limit):
    """The per-address and per-userId limits when unset: with a per-key LOGSTORE_RATE_LIMIT, a tenth
    of it each (its count is shared by every browser of a write key: one client must not take it
    all); else in production DEFAULT_CLIENT_RATE_LIMIT and DEFAULT_USER_RATE_LIMIT; else none."""
    if rate_limit:
        key = parse_limit(rate_limit)
        share = max(1, key.count // 10)
        return (f"{share}/{key.unit} burst {share}",) * 2
    if production:
        return DEFAULT_CLIENT_RATE_LIMIT, DEFAULT_USER_RATE_LIMIT
    return None, None


def check_key_lengths(settings):
    """In production every API key must be at least MIN_KEY_LENGTH characters: a short one is guessed."""
    if not settings.production:
        return
    for name, keys in (("LOGSTORE_WRITE_KEYS", settings.write_keys), ("LOGSTORE_READ_KEYS", settings.read_keys),
                       ("LOGSTORE_ADMIN_KEYS", settings.admin_keys)):
        short = [key for key in keys if len(key) < MIN_KEY_LENGTH]
        if short:
            raise ConfigError(
                f"{name} holds {len(short)} key(s) shorter than {MIN_KEY_LENGTH} characters: in production "
                f"logstore refuses keys that short. Make new ones, e.g. openssl rand -hex 24")


def _gunicorn_threads(environ):
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
    db_timeout_ms: int = 1500
    db_socket_timeout_ms: int = 20_000
    query_timeout_ms: int = 10_000
    heavy_reads: int = 2
    client_rate_limit: str | None = None
    user_rate_limit: str | None = None
    auth_failure_limit: str | None = None
    trusted_proxies: int = 0
    trust_forwarded_host: bool = False
    public_url: str | None = None

    def client_limits(self):
        """The per-client limits; ConfigError for a malformed one."""
        return Limits(client=resolve("LOGSTORE_CLIENT_RATE_LIMIT", self.client_rate_limit, None),
                      user=resolve("LOGSTORE_USER_RATE_LIMIT", self.user_rate_limit, None),
                      failures=resolve("LOGSTORE_AUTH_FAILURE_LIMIT", self.auth_failure_limit, None))
    heavy_read_wait_ms: int = 2000      # how long a heavy read waits for a slot (readgate); 0: never
    gunicorn_threads: int = 4           # GUNICORN_THREADS: bounds the heavy reads waiting at once

    @classmethod
    def from_env(cls, environ=None):
        """Read every LOGSTORE_* and MONGO_* variable; raise ConfigError for a start that must not happen."""
        env = os.environ if environ is None else environ
        production = _environment(env)
        mongo_url = env.get("MONGO_URL") or env.get("MONGODB_URI") or None
        if production and not mongo_url:
            raise ConfigError(
                "MONGO_URL (or MONGODB_URI) is not set: in production logstore never falls back to a "
                "local database. Set it to your MongoDB connection string, e.g. "
                "heroku config:set MONGO_URL='mongodb+srv://…/logstore'"
            )
        origins = env.get("CORS_ORIGINS", "")
        rate_limit = env.get("LOGSTORE_RATE_LIMIT") or None
        client_default, user_default = default_client_limits(production, rate_limit)
        settings = cls(
            mongo_url=mongo_url,
            production=production,
            max_body_bytes=int(_number(env, "LOGSTORE_MAX_BODY_MB", 10) * 1024 * 1024),
            max_actions=_number(env, "LOGSTORE_MAX_ACTIONS", 50_000, int),
            write_keys=_keys(env.get("LOGSTORE_WRITE_KEYS")),
            read_keys=_keys(env.get("LOGSTORE_READ_KEYS")),
            admin_keys=_keys(env.get("LOGSTORE_ADMIN_KEYS")),
            auth_off=env.get("LOGSTORE_AUTH", "").lower() == "off",
            retention_days=_number(env, "LOGSTORE_RETENTION_DAYS", None),
            rate_limit=rate_limit,
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            db_timeout_ms=_number(env, "LOGSTORE_DB_TIMEOUT_MS", 1500, int),
            db_socket_timeout_ms=_number(env, "LOGSTORE_DB_SOCKET_TIMEOUT_MS", 20_000, int),
            query_timeout_ms=_number(env, "LOGSTORE_QUERY_TIMEOUT_MS", 10_000, int),
            heavy_reads=_number(env, "LOGSTORE_HEAVY_READS", default_heavy_reads(env), int),
            client_rate_limit=env.get("LOGSTORE_CLIENT_RATE_LIMIT") or client_default,
            user_rate_limit=env.get("LOGSTORE_USER_RATE_LIMIT") or user_default,
            auth_failure_limit=env.get("LOGSTORE_AUTH_FAILURE_LIMIT") or DEFAULT_AUTH_FAILURE_LIMIT,
            trusted_proxies=_trusted_proxies(env),
            trust_forwarded_host=_flag(env, "LOGSTORE_TRUST_FORWARDED_HOST"),
            public_url=_public_url(env),
            heavy_read_wait_ms=_wait_ms(env, "LOGSTORE_HEAVY_READ_WAIT_MS", 2000),
            gunicorn_threads=_gunicorn_threads(env),
        )
        settings.client_limits()  # a malformed limit stops the start here
        check_key_lengths(settings)
        return settings
