"""LOGSTORE_TRUSTED_PROXIES, LOGSTORE_TRUST_FORWARDED_HOST, LOGSTORE_PUBLIC_URL: forwarded headers
are believed only from configured hops, and URLs the service sends are built on the public URL."""
import json

import pytest

from logstore import create_app
from logstore.config import ConfigError, Settings
from tests.builders import session_log

FORGED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}


def client_of(db, **settings):
    return create_app(Settings(**settings), database=db).test_client()


def seed(client, count=3):
    body = [session_log(session=f"s{n}") for n in range(count)]
    assert client.post("/logs", data=json.dumps(body), content_type="application/json").status_code == 201


def test_the_defaults_trust_one_hop_on_heroku_and_none_elsewhere():
    assert Settings.from_env({}).trusted_proxies == 0
    heroku = {"DYNO": "web.1", "MONGO_URL": "mongodb://h/db", "LOGSTORE_AUTH": "off"}
    assert Settings.from_env(heroku).trusted_proxies == 1
    assert Settings.from_env({"LOGSTORE_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    assert not Settings.from_env({}).trust_forwarded_host
    for name, bad in (("LOGSTORE_TRUSTED_PROXIES", "one"), ("LOGSTORE_TRUSTED_PROXIES", "-1"),
                      ("LOGSTORE_TRUST_FORWARDED_HOST", "yes please"), ("LOGSTORE_PUBLIC_URL", "https://a.example/x"),
                      ("LOGSTORE_PUBLIC_URL", "logs.example.com")):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: bad})


def test_forged_forwarded_headers_are_ignored_without_a_trusted_proxy(db):
    client = client_of(db, rate_limit="1/hour")  # open: limited per client address
    assert client.get("/logs", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 200
    # Another forged address is still the same client.
    assert client.get("/logs", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 429
    seed(client_of(db))
    page = client_of(db).get("/logs?limit=1", headers=FORGED)
    assert page.headers["Link"].startswith("<http://localhost/logs?")


def test_one_trusted_hop_takes_the_address_the_router_appended(db):
    client = client_of(db, rate_limit="1/hour", trusted_proxies=1)
    # Heroku's router appends what it saw; whatever the client wrote before it is not believed.
    assert client.get("/logs", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}).status_code == 200
    assert client.get("/logs", headers={"X-Forwarded-For": "7.7.7.7, 198.51.100.1"}).status_code == 429
    assert client.get("/logs", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 200


def test_forwarded_proto_is_believed_from_a_trusted_hop_but_not_the_host(db):
    seed(client_of(db))
    page = client_of(db, trusted_proxies=1).get("/logs?limit=1", headers=FORGED)
    assert page.headers["Link"].startswith("<https://localhost/logs?")
    trusting = client_of(db, trusted_proxies=1, trust_forwarded_host=True).get("/logs?limit=1", headers=FORGED)
    assert trusting.headers["Link"].startswith("<https://evil.example/logs?")


def test_link_and_redirects_are_built_on_the_public_url(db):
    seed(client_of(db))
    client = client_of(db, public_url="https://logs.example.com", trusted_proxies=1, trust_forwarded_host=True)
    page = client.get("/logs?limit=1", headers=FORGED)
    assert page.headers["Link"].startswith("<https://logs.example.com/logs?limit=1&cursor=")
    redirect = client.get("/dashboard//?x=1", headers=FORGED)
    assert redirect.status_code == 308 and redirect.headers["Location"] == "https://logs.example.com/dashboard/?x=1"
    plain = client_of(db).get("/dashboard//", headers=FORGED)
    assert plain.headers["Location"] == "http://localhost/dashboard/"  # the request's own host


@pytest.mark.parametrize("value", ["prod", " production", "Production", "staging"])
def test_an_unknown_logstore_env_stops_the_start(value):
    with pytest.raises(ConfigError, match="LOGSTORE_ENV must be one of production, development"):
        Settings.from_env({"LOGSTORE_ENV": value})
    assert not Settings.from_env({"LOGSTORE_ENV": "development"}).production
