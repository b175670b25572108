"""Limits per client address, per userId and per unknown key (logstore/clientlimits.py): the one
public write key cannot be used to lock other browsers out, and key guessing is slowed."""
import json

import pytest

from logstore import clientlimits, create_app
from logstore.config import Rate, parse_rate, resolve
from logstore.config import (DEFAULT_AUTH_FAILURE_LIMIT, DEFAULT_CLIENT_RATE_LIMIT, DEFAULT_USER_RATE_LIMIT,
                             ConfigError, Settings)
from tests.builders import session_log

WRITE = "public-write-key-0001"
READ = "analyst-read-key-0001"


def make_client(db, **limits):
    settings = Settings(write_keys=frozenset({WRITE}), read_keys=frozenset({READ}), **limits)
    return create_app(settings, database=db).test_client()


def post(client, address, user="u1", key=WRITE, body=None):
    body = [session_log(user=user)] if body is None else body
    return client.post("/logs", data=json.dumps(body), content_type="application/json",
                       headers={"X-API-Key": key}, environ_base={"REMOTE_ADDR": address})


def test_rates_parse_with_a_burst():
    assert parse_rate("X", "600/minute burst 120") == Rate(600, 60, "minute", 120)
    assert parse_rate("X", "10 per second") == Rate(10, 1, "second", 10)  # the burst defaults to the count
    assert resolve("X", "off", "5/minute") is None and resolve("X", "", "5/minute") == Rate(5, 60, "minute", 5)
    for bad in ("600", "0/minute", "5/minute burst 0", "5/minute burst", "lots"):
        with pytest.raises(ConfigError, match="X must look like"):
            parse_rate("X", bad)
    with pytest.raises(ConfigError, match="LOGSTORE_USER_RATE_LIMIT"):
        Settings.from_env({"LOGSTORE_USER_RATE_LIMIT": "fast"})


def test_defaults_are_on_in_production_and_with_a_key_limit_only():
    production = Settings.from_env({"DYNO": "web.1", "MONGO_URL": "mongodb://h/db"}).client_limits()
    assert production == clientlimits.Limits(parse_rate("", DEFAULT_CLIENT_RATE_LIMIT),
                                             parse_rate("", DEFAULT_USER_RATE_LIMIT),
                                             parse_rate("", DEFAULT_AUTH_FAILURE_LIMIT))
    local = Settings.from_env({}).client_limits()
    assert (local.client, local.user) == (None, None) and local.failures is not None
    # With a per-key limit, a tenth of it per address and per user: one client cannot take it all.
    keyed = Settings.from_env({"DYNO": "web.1", "MONGO_URL": "mongodb://h/db", "LOGSTORE_RATE_LIMIT": "120/minute"})
    assert keyed.client_limits().client == keyed.client_limits().user == Rate(12, 60, "minute", 12)
    assert Settings.from_env({"LOGSTORE_RATE_LIMIT": "5/hour"}).client_limits().client == Rate(1, 3600, "hour", 1)
    off = Settings.from_env({"DYNO": "web.1", "MONGO_URL": "mongodb://h/db", "LOGSTORE_CLIENT_RATE_LIMIT": "off",
                             "LOGSTORE_AUTH_FAILURE_LIMIT": "off"}).client_limits()
    assert off.client is None and off.failures is None and off.user is not None


def test_one_address_exhausts_only_its_own_share(db):
    client = make_client(db, client_rate_limit="1/hour burst 3", rate_limit="6/hour")
    assert [post(client, "10.0.0.1").status_code for _ in range(5)] == [201, 201, 201, 429, 429]
    refused = post(client, "10.0.0.1")
    assert refused.get_json()["code"] == "RATE_LIMITED" and "this address" in refused.get_json()["detail"]
    assert 3600 <= int(refused.headers["Retry-After"]) <= 2 * 3600
    # The refused POSTs spent none of the key's 6: three other addresses still get them.
    assert [post(client, f"10.0.0.{n}").status_code for n in (2, 3, 4)] == [201, 201, 201]
    assert post(client, "10.0.0.5").status_code == 429  # and now the key's own limit holds
    assert all("10.0.0" not in c["_id"] for c in db.ratelimits.find())  # addresses kept as digests


def test_ipv6_clients_are_counted_by_their_64(db):
    assert clientlimits.client_network("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert clientlimits.client_network("::ffff:192.0.2.1") == "192.0.2.1"
    client = make_client(db, client_rate_limit="1/hour burst 2")
    statuses = [post(client, f"2001:db8:1:2::{n:x}").status_code for n in range(1, 4)]
    assert statuses == [201, 201, 429]  # a new address of the same /64 is the same client
    assert post(client, "2001:db8:1:3::1").status_code == 201


def test_the_address_limit_is_for_ingest_not_for_reads(db):
    client = make_client(db, client_rate_limit="1/hour burst 1")
    assert post(client, "10.0.0.1").status_code == 201
    reads = [client.get("/logs", headers={"X-API-Key": READ}, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code
             for _ in range(3)]
    assert reads == [200, 200, 200]


def test_a_burst_then_the_rate(db, monkeypatch):
    client = make_client(db, client_rate_limit="60/minute burst 2")  # one per second, two at once
    clock = [1_000_000.0]
    monkeypatch.setattr(clientlimits.time, "time", lambda: clock[0])
    assert [post(client, "10.0.0.1").status_code for _ in range(3)] == [201, 201, 429]
    clock[0] += 2.0  # the refused request took one interval more: after two, one passes again
    assert post(client, "10.0.0.1").status_code == 201
    assert post(client, "10.0.0.1").status_code == 429


def test_per_user_limit_counts_the_bodys_user_ids(db):
    client = make_client(db, user_rate_limit="1/hour burst 2")
    statuses = [post(client, f"10.1.0.{n}", user="victim").status_code for n in range(3)]
    assert statuses == [201, 201, 429]  # one user from three addresses: its own limit
    refused = post(client, "10.1.0.9", user="victim")
    assert "userId" in refused.get_json()["detail"] and int(refused.headers["Retry-After"]) >= 1
    assert post(client, "10.1.0.9", user="someone-else").status_code == 201
    # A body of several users counts each (two round trips, whatever their number), and any over
    # its limit refuses the body: nothing of it is stored.
    both = post(client, "10.1.0.9",
                body=[session_log(user="a", session="s1"), session_log(user="victim", session="s2")])
    assert both.status_code == 429
    assert db.sessions.count_documents({"userId": "a"}) == 0
    assert post(client, "10.1.0.9", body=[session_log(user="a"), session_log(user="b")]).status_code == 201


def test_unknown_keys_are_limited_per_address_and_a_right_guess_is_refused_too(db):
    client = make_client(db, auth_failure_limit="1/hour burst 3")
    guesses = [post(client, "10.2.0.1", key=f"guess-{n}").status_code for n in range(5)]
    assert guesses == [401, 401, 401, 429, 429]
    refused = post(client, "10.2.0.1", key=WRITE)  # the right key, from the guessing address
    assert refused.status_code == 429 and "unknown API key" in refused.get_json()["detail"]
    assert post(client, "10.2.0.2", key=WRITE).status_code == 201  # another address is not touched
    assert post(client, "10.2.0.2", key="typo").status_code == 401
    # A missing key is no guess: 401, never counted.
    answers = [client.get("/logs", environ_base={"REMOTE_ADDR": "10.2.0.3"}).status_code for _ in range(5)]
    assert answers == [401] * 5


def test_a_body_of_many_users_survives_racing_first_requests(app, db, monkeypatch):
    """Two first requests for the same users upsert the same counters at once: the loser's
    duplicate-key errors are counted again, not answered with a 500."""
    from pymongo.errors import BulkWriteError

    rate = parse_rate("X", "10/hour burst 5")
    real = db.ratelimits.bulk_write
    calls = []

    def racing(requests, ordered=True):
        calls.append(1)
        if len(calls) == 1:  # the other request created "u:b" just before ours
            db.ratelimits.insert_one({"_id": requests[1]._filter["_id"], "tat": 0.0})
            real(requests[:1], ordered=ordered)
            raise BulkWriteError({"writeErrors": [{"index": 1, "code": 11000, "errmsg": "E11000"}]})
        return real(requests, ordered=ordered)

    with app.test_request_context("/logs"):
        monkeypatch.setattr(type(db.ratelimits), "bulk_write", lambda self, *a, **k: racing(*a, **k))
        waits = clientlimits._take_many(["u:a", "u:b"], rate, now=1_000.0)
    assert waits == [None, None]
    assert {doc["_id"]: round(doc["tat"], 1) for doc in db.ratelimits.find()} == {"u:a": 1360.0, "u:b": 1360.0}
