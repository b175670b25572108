"""At start (gunicorn's master and the release phase) the service asks the server what it is: a
standalone, which refuses transactions, stops the start with one clear line instead of answering
every POST and DELETE with a 500. A release missing a privilege says which."""
import json

import pytest
from pymongo import MongoClient
from secantus import SecantusDBServer

from logstore import create_app, db as dbmod, startup
from logstore.config import ConfigError, Settings
from tests.builders import session_log


@pytest.fixture(scope="module")
def standalone_url(tmp_path_factory):
    """SecantusDB as a standalone: its hello has no setName, as a standalone mongod's."""
    server = SecantusDBServer(host="127.0.0.1", port=0, replica_set_name=None,
                              storage_path=str(tmp_path_factory.mktemp("standalone")))
    server.start()
    yield f"mongodb://127.0.0.1:{server.port}/logstore_standalone"
    server.stop()


class Hello:
    """A database whose server answers ``hello`` with ``reply``."""

    def __init__(self, reply):
        self.client = self
        self.admin = self
        self.reply = reply

    def command(self, name):
        assert name == "hello"
        return self.reply


def test_a_replica_set_and_a_mongos_are_taken(db):
    assert dbmod.check_server(db)["setName"]        # the suite's SecantusDB, as the local default runs it
    assert dbmod.check_server(Hello({"msg": "isdbgrid", "maxWireVersion": 21}))
    assert dbmod.check_server(Hello({"setName": "atlas-abc-shard-0", "maxWireVersion": 25}))


@pytest.mark.parametrize("reply, words", [({"isWritablePrimary": True, "maxWireVersion": 21}, "standalone"),
                                          ({"setName": "rs0", "maxWireVersion": 9}, "older than 5.0")])
def test_a_server_that_cannot_run_the_service_is_refused_with_one_line(reply, words):
    with pytest.raises(ConfigError, match=words) as refused:
        dbmod.check_server(Hello(reply))
    assert "\n" not in str(refused.value)


def test_gunicorns_master_refuses_a_standalone_before_any_worker(standalone_url):
    with pytest.raises(ConfigError, match="standalone MongoDB server"):
        startup.check_settings({"MONGO_URL": standalone_url})


def test_a_server_that_cannot_be_reached_at_start_is_only_a_warning(caplog):
    settings = startup.check_settings({"MONGO_URL": "mongodb://127.0.0.1:9/x", "LOGSTORE_DB_TIMEOUT_MS": "200"})
    assert settings.mongo_url and "could not ask the database" in caplog.text


def test_secantus_as_a_standalone_runs_transactions_that_mongod_would_refuse(standalone_url):
    # An emulator gap (docs/DESIGN.md): a standalone mongod refuses a transaction (code 20,
    # IllegalOperation), SecantusDB's takes it. The check goes by what hello says, as mongod's
    # does; the local default runs SecantusDB as a replica set (setName "secantus"), never refused.
    client = MongoClient(standalone_url, serverSelectionTimeoutMS=3000)
    app = create_app(Settings(), database=client.get_default_database())
    response = app.test_client().post("/logs", data=json.dumps(session_log()), content_type="application/json")
    assert response.status_code == 201
    client.close()


def test_the_release_refuses_a_standalone_with_one_line(standalone_url, monkeypatch):
    monkeypatch.setenv("MONGO_URL", standalone_url)
    app = create_app()
    with app.app_context():  # the flask command pushes one too
        result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 1
    assert "Error: MONGO_URL points at a standalone MongoDB server" in result.output
    assert "Traceback" not in result.output
    app.extensions["logstore.db"].client.close()


@pytest.fixture
def mongod_roles(monkeypatch):
    """SecantusDB's readWrite made mongod's: without collMod (MongoDB's built-in readWrite does not
    grant it, SERVER-20772; SecantusDB 0.7.0b3's does, docs/DESIGN.md emulator gaps)."""
    from secantus import rbac

    spec = rbac.BUILT_IN_ROLES["readWrite"]
    narrowed = rbac._RoleSpec(spec.actions - {rbac.A_COLL_MOD}, any_db=spec.any_db, cluster=spec.cluster,
                              admin_only=spec.admin_only)
    monkeypatch.setitem(rbac.BUILT_IN_ROLES, "readWrite", narrowed)


@pytest.fixture
def users_url(tmp_path):
    """A SecantusDB requiring authentication, with users ``web`` (readWrite on ``lt``) and
    ``release`` (readWrite and dbAdmin on ``lt``): the URL of each."""
    server = SecantusDBServer(host="127.0.0.1", port=0, storage_path=str(tmp_path))
    server.start()
    client = MongoClient(f"mongodb://127.0.0.1:{server.port}/")
    client.lt.command("createUser", "web", pwd="pw", roles=[{"role": "readWrite", "db": "lt"}])
    client.lt.command("createUser", "release", pwd="pw", roles=[{"role": "readWrite", "db": "lt"},
                                                                  {"role": "dbAdmin", "db": "lt"}])
    client.close()
    server.stop()
    server = SecantusDBServer(host="127.0.0.1", port=0, require_auth=True, storage_path=str(tmp_path))
    server.start()
    yield lambda user: f"mongodb://{user}:pw@127.0.0.1:{server.port}/lt?authSource=lt"
    server.stop()


def release_with(monkeypatch, url, retention_days):
    monkeypatch.setenv("MONGO_URL", url)
    monkeypatch.setenv("LOGSTORE_RETENTION_DAYS", retention_days)
    app = create_app()
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["migrate"])
    app.extensions["logstore.db"].client.close()
    return result


def test_the_release_with_readwrite_alone_names_collmod_when_the_retention_changes(
        mongod_roles, users_url, monkeypatch):
    assert release_with(monkeypatch, users_url("web"), "7").exit_code == 0     # new TTL indexes: readWrite
    changed = release_with(monkeypatch, users_url("web"), "8")                  # collMod: dbAdmin
    assert changed.exit_code == 1
    assert changed.output.startswith("Error: the release's database user may not run collMod on lt")
    assert "dbAdmin" in changed.output and "Traceback" not in changed.output
    assert release_with(monkeypatch, users_url("release"), "8").exit_code == 0
