"""Fixtures: a real MongoDB-protocol server over a socket (SecantusDB, or TEST_MONGO_URL), a fresh
database per test, the app and its client, and a factory of session logs."""
from __future__ import annotations

import os
import uuid

import pytest
from pymongo import MongoClient

from logstore import create_app
from logstore.config import Settings
from tests.commands import SENT


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory):
    """The server every integration test talks to over the wire."""
    url = os.environ.get("TEST_MONGO_URL")
    if url:
        yield url
        return
    from secantus import SecantusDBServer

    from logstore import secantus_patches

    secantus_patches.apply()  # the database of `dev.py run` has them too (logstore.local_database)
    server = SecantusDBServer(host="127.0.0.1", port=0,
                              storage_path=str(tmp_path_factory.mktemp("secantus")))
    server.start()
    yield f"mongodb://127.0.0.1:{server.port}/"
    secantus_patches.wake_listener(server)
    server.stop()


@pytest.fixture(params=["secantus", "mongod"])
def server_types(request):
    """Run a test twice: as SecantusDB answers, and with SecantusDB answering mongod's types
    (``tests/mongod_types.py``). Against TEST_MONGO_URL the server's own types are the only ones."""
    if request.param == "secantus":
        yield request.param
        return
    if os.environ.get("TEST_MONGO_URL"):
        pytest.skip("TEST_MONGO_URL: the server answers with its own types")
    from tests.mongod_types import answering_as_mongod

    with answering_as_mongod():
        yield request.param


@pytest.fixture(scope="session")
def mongo_client(mongo_url):
    # SENT sees what a test's calls send (tests/commands.py); it records only inside SENT.aggregates().
    client = MongoClient(mongo_url, serverSelectionTimeoutMS=5000, w="majority", event_listeners=[SENT])
    yield client
    client.close()


@pytest.fixture
def db(mongo_client):
    """A database of its own for each test, dropped afterwards."""
    name = f"logstore_test_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def module_db(mongo_client, request):
    """A database with its indexes, shared by one module's tests (for data costly to seed), then dropped."""
    from logstore import store

    name = f"logstore_test_{request.module.__name__.rsplit('.', 1)[-1]}_{uuid.uuid4().hex[:6]}"
    database = mongo_client[name]
    store.ensure_indexes(database)
    yield database
    mongo_client.drop_database(name)


@pytest.fixture
def settings():
    return Settings()


@pytest.fixture
def app(db, settings):
    app = create_app(settings, database=db)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()
