"""LOGSTORE_RATE_LIMIT: per key, counted in MongoDB, 429 with Retry-After."""
import pytest

from logstore import create_app
from logstore.config import ConfigError, Settings
from logstore.config import Limit, parse_limit


def test_limits_parse():
    assert parse_limit("600/minute") == Limit(600, 60, "minute")
    assert parse_limit("10 per second") == Limit(10, 1, "second")
    assert parse_limit("5/hours") == Limit(5, 3600, "hour")
    for bad in ("600", "0/minute", "ten/minute", "5/fortnight", ""):
        with pytest.raises(ConfigError):
            parse_limit(bad)


def test_bad_rate_limit_stops_the_start(db):
    with pytest.raises(ConfigError, match="LOGSTORE_RATE_LIMIT"):
        create_app(Settings(rate_limit="lots"), database=db)


def test_over_the_limit_is_429_per_key_and_shared_by_apps(db):
    settings = Settings(rate_limit="3/hour", read_keys=frozenset({"k1", "k2"}))
    # Two apps on one database stand for two workers (or dynos): they share the count.
    first, second = (create_app(settings, database=db).test_client() for _ in range(2))
    statuses = [c.get("/logs", headers={"X-API-Key": "k1"}).status_code for c in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]
    refused = second.get("/logs", headers={"X-API-Key": "k1"})
    assert refused.get_json()["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2 * 3600  # the sliding window reaches back one more
    assert first.get("/logs", headers={"X-API-Key": "k2"}).status_code == 200  # another key, its own count
    assert first.get("/health").status_code == 200  # probes are not counted
    counters = list(db.ratelimits.find())
    assert {c["n"] for c in counters} == {5, 1} and all("k1" not in c["_id"] for c in counters)


def test_open_service_limits_by_client_address(db):
    client = create_app(Settings(rate_limit="2/minute"), database=db).test_client()
    assert [client.get("/logs").status_code for _ in range(3)] == [200, 200, 429]
    other = client.get("/logs", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_counters_expire_with_a_ttl_index(app, db):
    index = db.ratelimits.index_information()["expires_ttl"]
    assert index["expireAfterSeconds"] == 0


def test_no_burst_of_twice_the_limit_across_a_window_boundary(db):
    """A fixed window would let 10 requests at the end of one minute and 10 at the start of the next
    through; the sliding estimate counts the previous window by the part of it still in view."""
    from logstore import ratelimit

    app = create_app(Settings(rate_limit="10/minute"), database=db)
    minute = 60 * 29_000_000  # the start of some minute, in seconds since the epoch

    def statuses(now, count):
        out = []
        for _ in range(count):
            with app.test_request_context("/logs"):
                try:
                    ratelimit.check("caller", now=now)
                    out.append(200)
                except ratelimit.ApiError as exc:
                    out.append(exc.status)
        return out

    assert statuses(minute + 59, 10) == [200] * 10           # the end of one window: all 10 pass
    # One second into the next: 59/60 of the previous window is still in view, so none passes.
    assert statuses(minute + 61, 3) == [429] * 3
    # Half a minute later half of the previous 10 still count, plus this window's 3 refused ones:
    # 5 + 4 and 5 + 5 pass, 5 + 6 does not.
    assert statuses(minute + 90, 5) == [200] * 2 + [429] * 3
    # Two windows on, nothing of the first is in view.
    assert statuses(minute + 180, 10) == [200] * 10


def test_retry_after_says_when_the_estimate_falls_under_the_limit(db):
    from logstore import ratelimit

    app = create_app(Settings(rate_limit="10/minute"), database=db)
    minute = 60 * 29_000_000
    with app.test_request_context("/logs"):
        for _ in range(10):
            ratelimit.check("caller", now=minute + 59)
        with pytest.raises(ratelimit.ApiError) as refused:
            ratelimit.check("caller", now=minute + 61)
    # The next request passes once 10 * (1 - f) + 2 <= 10: f >= 0.2, 12 s into the window, 11 s on.
    assert refused.value.headers["Retry-After"] == "11"


def test_a_late_clock_does_not_reset_the_count(db):
    """Dynos' clocks differ a little: a request stamped just before the boundary that arrives after
    others stamped after it must count in their window, not start the count over."""
    from logstore import ratelimit

    app = create_app(Settings(rate_limit="10/minute"), database=db)
    minute = 60 * 29_000_000
    with app.test_request_context("/logs"):
        for _ in range(10):
            ratelimit.check("caller", now=minute + 61)
        with pytest.raises(ratelimit.ApiError):
            ratelimit.check("caller", now=minute + 59.9)   # a dyno whose clock is 1.1 s behind
        with pytest.raises(ratelimit.ApiError):
            ratelimit.check("caller", now=minute + 62)
