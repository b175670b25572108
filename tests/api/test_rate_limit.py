"""LOGSTORE_RATE_LIMIT: per key, counted in MongoDB, 429 with Retry-After."""
import pytest

from logstore import create_app
from logstore.config import ConfigError, Settings
from logstore.ratelimit import Limit, parse_limit


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
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
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
