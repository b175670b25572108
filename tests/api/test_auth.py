"""API keys: kinds, both header forms, 401 / 403, the open mode and the production refusal."""
import json
import logging

import pytest

from logstore import auth, create_app
from logstore.auth import KeyRing
from logstore.config import ConfigError, Settings
from logstore.startup import check_settings
from tests.builders import SPEC_EXAMPLE

KEYS = dict(write_keys=frozenset({"w-key-1", "w-key-2"}), read_keys=frozenset({"r-key"}),
            admin_keys=frozenset({"a-key"}))


@pytest.fixture
def settings():
    return Settings(**KEYS)


def post(client, headers=None):
    return client.post("/logs", data=json.dumps(SPEC_EXAMPLE), content_type="application/json", headers=headers)


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_no_key_is_401_with_a_challenge(client, db):
    for response in (post(client), client.get("/logs")):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["code"] == "UNAUTHORIZED"
    assert db.sessions.count_documents({}) == 0


@pytest.mark.parametrize("headers", [bearer("nope"), {"X-API-Key": "nope"}, {"Authorization": "Basic dzprZXkx"},
                                     bearer("w-key-1x"), bearer("w-key-")])
def test_unknown_keys_are_401(client, headers):
    response = post(client, headers)
    assert response.status_code == 401 and response.get_json()["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("headers", [bearer("w-key-1"), {"X-API-Key": "w-key-2"}, {"authorization": "bearer w-key-1"},
                                     bearer("a-key")])
def test_write_and_admin_keys_may_post(client, headers):
    assert post(client, headers).status_code == 201


def test_read_key_may_get_but_not_post(client, db):
    assert client.get("/logs", headers=bearer("r-key")).status_code == 200
    assert client.get("/logs", headers={"X-API-Key": "a-key"}).status_code == 200
    response = post(client, bearer("r-key"))
    assert response.status_code == 403 and response.get_json()["code"] == "FORBIDDEN"
    assert db.sessions.count_documents({}) == 0


def test_write_key_may_not_read(client):
    response = client.get("/logs", headers=bearer("w-key-1"))
    assert response.status_code == 403 and response.get_json()["code"] == "FORBIDDEN"


def test_health_ready_and_docs_stay_open(client):
    for path in ("/health", "/ready", "/swagger.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_key_kinds_compare_against_every_key():
    ring = KeyRing(Settings(read_keys=frozenset({"same"}), admin_keys=frozenset({"same", "other"})))
    assert ring.kinds_of("same") == {"read", "admin"}
    assert ring.kinds_of("other") == {"admin"}
    assert ring.kinds_of("") == set() and ring.kinds_of("sam") == set()


def test_open_mode_warns_once_at_start(db, caplog, monkeypatch):
    monkeypatch.setattr(auth._OpenStart, "warned", False)  # as in a new process
    with caplog.at_level(logging.WARNING, logger="logstore"):
        client = create_app(Settings(), database=db).test_client()
        create_app(Settings(), database=db)  # a second app in the same process, as a gunicorn worker is
    [record] = [r for r in caplog.records if "no API keys are configured" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert post(client).status_code == 201


def test_open_mode_warning_is_one_json_line(monkeypatch, capsys):
    monkeypatch.setattr(auth._OpenStart, "warned", False)
    check_settings({})
    check_settings({})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "no API keys" in line]
    assert [(line["level"], line["logger"]) for line in lines] == [("warning", "logstore.auth")]


def test_production_refuses_to_start_open(db):
    with pytest.raises(ConfigError, match="LOGSTORE_AUTH=off"):
        create_app(Settings(production=True), database=db)
    create_app(Settings(production=True, auth_off=True), database=db)
    create_app(Settings(production=True, write_keys=frozenset({"w" * 16})), database=db)


def test_production_refuses_keys_shorter_than_16_characters(db):
    with pytest.raises(ConfigError, match="LOGSTORE_READ_KEYS holds 1 key.* shorter than 16 characters"):
        create_app(Settings(production=True, write_keys=frozenset({"w" * 16}), read_keys=frozenset({"r" * 15})),
                   database=db)
    with pytest.raises(ConfigError, match="shorter than 16"):
        Settings.from_env({"DYNO": "web.1", "MONGO_URL": "mongodb://h/db", "LOGSTORE_ADMIN_KEYS": "a"})
    create_app(Settings(**KEYS), database=db)  # locally a short key is the developer's business


def test_swagger_offers_both_key_headers(client):
    spec = client.get("/swagger.json").get_json()
    assert {d["name"] for d in spec["securityDefinitions"].values()} == {"Authorization", "X-API-Key"}
    for method in ("get", "post"):
        operation = spec["paths"]["/logs"][method]
        assert operation["security"] == [{"bearer": []}, {"apiKey": []}]
        assert {"401", "403", "429"} <= set(operation["responses"])
    assert "security" not in spec["paths"]["/health"]["get"]


def test_keys_never_reach_the_logs(client, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="logstore")
    responses = [post(client, bearer("w-key-1")), post(client, {"X-API-Key": "wrong-secret-key"}),
                 client.get("/logs?api_key=r-key", headers=bearer("r-key")),
                 client.get("/logs", headers=bearer("r-key"))]
    for response in responses:
        response.close()  # the request line is written when the answer is closed, as gunicorn does
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text
    assert '"path": "/logs"' in logged  # the request lines were written
    for secret in ("w-key-1", "wrong-secret-key", "r-key"):
        assert secret not in logged


@pytest.mark.parametrize("path", ["/logs/export", "/logs/stats?groupBy=type"])
def test_export_and_stats_need_a_read_key(client, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer("w-key-1")).status_code == 403
    assert client.get(path, headers=bearer("r-key")).status_code == 200
    assert client.get(path, headers=bearer("a-key")).status_code == 200


def test_delete_needs_an_admin_key(client, db):
    assert post(client, bearer("w-key-1")).status_code == 201
    for headers, status in [(None, 401), (bearer("r-key"), 403), (bearer("w-key-1"), 403)]:
        assert client.delete("/logs?userId=ABC123XYZ", headers=headers).status_code == status
    assert db.sessions.count_documents({}) == 1
    response = client.delete("/logs?userId=ABC123XYZ", headers=bearer("a-key"))
    assert response.status_code == 200 and response.get_json() == {"deleted": 3}


def test_the_dashboard_page_is_open_but_its_data_is_not(client):
    assert client.get("/dashboard").status_code == 200
    assert client.get("/logs/stats").status_code == 401
