"""One MongoClient per process, kept in ``app.extensions``; the check of the server at start; the
``migrate`` command (the release: every index, then the migration of older buckets)."""
from __future__ import annotations

import logging

import click
from flask import current_app
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from . import values
from .config import ConfigError
from .store.indexes import ensure_all_indexes
from .store.migrate import migrate

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "logstore"
CONNECT_TIMEOUT_MS = 10_000
# MongoDB 5.0 speaks wire version 13: the oldest server the service is written for (SPEC "Running").
MIN_WIRE_VERSION = 13
UNAUTHORIZED = 13
STANDALONE = ("MONGO_URL points at a standalone MongoDB server: POST and DELETE run in transactions, which "
              "need a replica set or a sharded cluster (Atlas always is one). Start mongod with --replSet "
              "and run rs.initiate() once, or point MONGO_URL at Atlas.")


def check_server(database):
    """Raise ConfigError for a server the service cannot run on, asked with ``hello``: a standalone
    (no ``setName``, not a mongos' ``isdbgrid``) refuses every transaction, so every POST and DELETE
    would be a 500; a server older than 5.0 lacks what the pipelines use. A server that cannot be
    reached now only gets a warning: an outage must not stop a start (requests answer 503 until it
    is back)."""
    try:
        reply = database.client.admin.command("hello")
    except PyMongoError as exc:
        log.warning("could not ask the database what it is at start (%s); POST and DELETE need a replica "
                    "set or a sharded cluster", exc)
        return None
    if not reply.get("setName") and reply.get("msg") != "isdbgrid":
        raise ConfigError(STANDALONE)
    if reply.get("maxWireVersion", 0) < MIN_WIRE_VERSION:
        raise ConfigError("MONGO_URL points at a MongoDB server older than 5.0 (wire version "
                          f"{reply.get('maxWireVersion')}); logstore needs MongoDB 5.0 or newer")
    return reply


def connect(url, timeout_ms=1500, socket_timeout_ms=20_000):
    """Open a client for ``url`` and return the database its path names (``logstore`` if none).

    Clients are pools and not fork-safe, so each gunicorn worker makes its own in create_app.
    ``timeout_ms`` bounds the wait for a reachable server (then 503) and the ingest's retries;
    ``socket_timeout_ms`` the wait for one reply, below gunicorn's 30 s worker timeout so that a
    hung database still gets a problem document rather than a killed worker.

    The connect timeout is also what pymongo's monitor waits for a heartbeat; a heartbeat that
    times out clears the pool and cancels the operations in flight, so it is kept well above
    ``timeout_ms``: a busy server (a long export on SecantusDB) must not cancel a healthy stream.
    A server that is down refuses connections at once, and selection still gives up at ``timeout_ms``.
    """
    client = MongoClient(
        url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=max(timeout_ms, CONNECT_TIMEOUT_MS),
        socketTimeoutMS=socket_timeout_ms,
        w="majority",
        appname="logstore",
    )
    return client.get_default_database(DEFAULT_DATABASE)


def init_app(app, database=None):
    """Attach a database to the app: the one given (tests), else one opened from the settings."""
    if database is None:
        settings = app.extensions["logstore.settings"]
        if not settings.mongo_url:
            raise RuntimeError(
                "MONGO_URL is not set. Run `python3 dev.py run` (or `python app.py`) for the local default "
                "database, or point MONGO_URL at MongoDB."
            )
        database = connect(settings.mongo_url, settings.db_timeout_ms, settings.db_socket_timeout_ms)
    app.extensions["logstore.db"] = values.decoding(database)
    app.cli.add_command(migrate_command)


def get_db():
    return current_app.extensions["logstore.db"]


def ping(database):
    """True when the database answers a ping within the client's timeout."""
    try:
        database.client.admin.command("ping")
        return True
    except PyMongoError:
        return False


def release(database, settings, full=False):
    """What a release does before any worker serves: every index, then the migration of older
    buckets; returns how many sessions were rewritten."""
    ensure_all_indexes(database, settings.retention_days)
    return migrate(database, full=full)


@click.command("migrate")
@click.option("--full", is_flag=True, help="also check buckets of the current layout and count every hour again (a full scan)")
def migrate_command(full):
    """Create (or confirm) every index, then rewrite buckets of an older layout and count the sessions'
    hours; the Procfile's release phase runs this. Safe to run again: resumes where a stopped run ended."""
    database = get_db()
    try:
        check_server(database)
        rewritten = release(database, current_app.extensions["logstore.settings"], full=full)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OperationFailure as exc:
        if exc.code == UNAUTHORIZED:
            raise click.ClickException(missing_privilege(exc, database.name)) from None
        raise
    click.echo(f"indexes are in place; buckets are of the current layout ({rewritten} sessions rewritten)")


def missing_privilege(error, name):
    """One line for a release refused for want of a privilege: which one, and the role that has it."""
    message = str(error.details.get("errmsg") if error.details else error)
    if "collMod" in message:
        return (f"the release's database user may not run collMod on {name}, which changing "
                f"LOGSTORE_RETENTION_DAYS needs: grant it the role dbAdmin on {name} (Atlas: Database Access → "
                f"Specific Privileges → dbAdmin@{name}), or a role with the collMod action (docs/DEPLOY.md). "
                f"The server said: {message}")
    return (f"the release's database user lacks a privilege on {name} (it needs readWrite and dbAdmin there; "
            f"docs/DEPLOY.md): {message}")

