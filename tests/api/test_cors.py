"""CORS_ORIGINS: preflights answered, headers allowed and exposed, other origins get no CORS headers."""
import pytest

from logstore import create_app
from logstore.config import ConfigError, Settings

ORIGIN = "https://app.example.com"


@pytest.fixture
def settings():
    return Settings(cors_origins=(ORIGIN, "http://127.0.0.1:8080"), write_keys=frozenset({"w"}))


def preflight(client, origin=ORIGIN, headers="authorization, content-type, content-encoding, idempotency-key"):
    return client.options("/logs", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": headers})


def test_preflight_is_answered_without_a_key(client):
    response = preflight(client)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "content-encoding", "idempotency-key"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_every_header_the_api_reads_may_be_sent(client):
    headers = "authorization, x-api-key, content-type, content-encoding, idempotency-key, x-request-id"
    allowed = preflight(client, headers=headers).headers["Access-Control-Allow-Headers"].lower()
    assert all(name in allowed for name in headers.split(", "))


def test_answers_and_errors_carry_the_cors_headers(client):
    response = client.get("/logs", headers={"Origin": ORIGIN})  # 401: the page must be able to read it
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"link", "retry-after", "x-request-id"} <= exposed


def test_other_origins_get_no_cors_headers(client):
    for response in (preflight(client, origin="https://evil.example.net"),
                     client.get("/logs", headers={"Origin": "https://app.example.com.evil.net"})):
        assert "Access-Control-Allow-Origin" not in response.headers


def test_no_cors_origins_means_no_cors(db):
    client = create_app(Settings(), database=db).test_client()
    assert "Access-Control-Allow-Origin" not in preflight(client).headers


def test_star_allows_any_origin(db):
    client = create_app(Settings(cors_origins=("*",)), database=db).test_client()
    assert preflight(client, origin="https://anywhere.test").headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("origin", ["https://*.example.com", "https://app.example.com/", "app.example.com",
                                    "https://a.com|https://b.com"])
def test_origins_that_are_not_origins_stop_the_start(db, origin):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        create_app(Settings(cors_origins=(origin,)), database=db)
