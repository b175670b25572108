"""Every command the service sends for a user-filtered request carries the shard key's prefix, userId.

docs/SCALING.md shards ``sessions`` on ``{userId: 1, sessionId: 1}``: a read or write whose filter
holds ``userId`` goes to the shards that own that user only, anything else to every shard. This
watches the commands on the wire (pymongo command monitoring) while the app ingests and answers
user-filtered queries, and checks each filter.
"""
import json
import uuid

import pytest
from pymongo import MongoClient, monitoring

from logstore import create_app
from logstore.config import Settings
from tests.builders import action, session_log

SHARD_KEY_PREFIX = "userId"
QUERIES = ("find", "aggregate", "update", "delete", "findAndModify", "count", "distinct")


class Recorder(monitoring.CommandListener):
    def __init__(self):
        self.commands = []

    def started(self, event):
        if event.command_name in QUERIES + ("insert",):
            self.commands.append((event.command_name, event.command))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def watched(mongo_url):
    recorder = Recorder()
    client = MongoClient(mongo_url, event_listeners=[recorder], w="majority")
    name = f"logstore_test_{uuid.uuid4().hex[:12]}"
    app = create_app(Settings(), database=client[name])
    recorder.commands.clear()                           # index creation at start is not a request
    yield app.test_client(), recorder
    client.drop_database(name)
    client.close()


@pytest.fixture
def seeded(watched):
    """``watched`` after one user's four sessions were stored; only the reads after are recorded."""
    client, recorder = watched
    assert client.post("/logs", json=body("u", 4, count=30)).status_code == 201
    recorder.commands.clear()
    return client, recorder


def filters_of(name, command):
    """The filter(s) a command selects documents with."""
    if name == "aggregate":
        # mongos parses and optimizes the pipeline (adjacent $match stages coalesce) before it
        # targets shards on the first stage (cluster_aggregate.cpp), so the leading $match stages count.
        leading = []
        for stage in command["pipeline"]:
            if "$match" not in stage:
                break
            leading.append(stage["$match"])
        return [{"$and": leading} if len(leading) > 1 else (leading or [{}])[0]]
    if name == "update":
        return [statement["q"] for statement in command["updates"]]
    if name == "delete":
        return [statement["q"] for statement in command["deletes"]]
    if name == "findAndModify":
        return [command.get("query", {})]
    return [command.get("filter", command.get("query", {}))]


def user_bound(selector):
    """True when the filter pins userId (equality or $in) at its top level, in an $and, or in every
    branch of an $or (mongos targets an $or by the union of its branches)."""
    if SHARD_KEY_PREFIX in selector:
        value = selector[SHARD_KEY_PREFIX]
        return not isinstance(value, dict) or set(value) <= {"$eq", "$in"}
    branches = selector.get("$or")
    if branches and all(user_bound(branch) for branch in branches):
        return True
    return any(user_bound(part) for part in selector.get("$and", ()))


def assert_all_targeted(recorder):
    assert recorder.commands, "no command was recorded"
    for name, command in recorder.commands:
        if command.get(name) == "meta":
            continue            # the one-document extent, an unsharded collection (docs/SCALING.md)
        if command.get(name) == "hour_totals":
            # The rollups of every user's hours, unsharded or sharded on {k, t, w} (docs/SCALING.md):
            # each write names its one document; the reads (of everyone's counts) never come here.
            assert name in ("update", "delete", "find"), command
            for selector in filters_of(name, command):
                assert {"t", "w", "k"} <= set(selector) or "w" in selector, selector
            continue
        if name == "insert":
            assert all(SHARD_KEY_PREFIX in document for document in command["documents"]), command
            continue
        for selector in filters_of(name, command):
            assert user_bound(selector), f"{name} without {SHARD_KEY_PREFIX}: {json.dumps(selector, default=str)}"


def body(user, sessions, start=0, count=3, ids=False):
    logs = []
    for s in range(sessions):
        actions = [action(f"2020-01-0{1 + k % 3}T10:00:{k % 60:02d}Z", ("CLICK", "VIEW", "NAVIGATE")[k % 3])
                   for k in range(start, start + count)]
        if ids:
            for k, item in enumerate(actions, start):
                item["id"] = f"a{k}"
        logs.append(session_log(user=f"{user}{s % 2}", session=f"s{s}", actions=actions))
    return logs


def test_ingest_commands_carry_the_shard_key(watched):
    client, recorder = watched
    assert client.post("/logs", json=body("u", 4)).status_code == 201              # new sessions
    assert client.post("/logs", json=body("u", 4, start=3)).status_code == 201     # appends to them
    assert client.post("/logs", json=body("u", 2, count=600)).status_code == 201   # fills a bucket, opens more
    assert client.post("/logs", json=body("u", 2, ids=True)).status_code == 201    # reads stored ids
    assert client.post("/logs?partial=true", json=body("v", 1)).status_code == 201
    names = {name for name, _ in recorder.commands}
    assert {"insert", "update"} <= names, names
    assert_all_targeted(recorder)


@pytest.mark.parametrize("query", [
    "userId=u0",
    "userId=u0&sessionId=s0",
    "userId=u0&types=CLICK,VIEW&from=2020-01-01T00:00:00Z&to=2020-01-02T23:00:00Z",
    "userId=u0&types=NAVIGATE&format=actions",
    "userId=u0&from=2020-01-02T00:00:00Z",
    "userId=u1&to=2020-01-02T00:00:00.5Z",
])
def test_user_queries_carry_the_shard_key(seeded, query):
    client, recorder = seeded
    url = f"/logs?{query}&limit=2"
    pages = 0
    while url and pages < 4:                                # follow a few cursors: they stay targeted
        reply = client.get(url)
        assert reply.status_code == 200, reply.get_json()
        link = reply.headers.get("Link")
        url = link[link.index("<") + 1:link.index(">")].split("localhost", 1)[-1] if link else None
        pages += 1
    assert pages > 1
    assert_all_targeted(recorder)


@pytest.mark.parametrize("query", [
    "userId=u0&groupBy=day,type&tz=%2B05:30&to=2020-01-02T10:00:30Z",
    "userId=u0&sessionId=s0&groupBy=type&from=2020-01-01T00:30:00Z&to=2020-01-02T23:00:00Z",
])
def test_user_stats_carry_the_shard_key(seeded, query):
    client, recorder = seeded
    reply = client.get(f"/logs/stats?{query}")
    assert reply.status_code == 200 and reply.get_json(), reply.get_json()
    collections = {command.get(name) for name, command in recorder.commands if name == "aggregate"}
    assert collections == {"session_hours", "sessions"}          # the hours' counts and the cut windows
    assert_all_targeted(recorder)


SHARD_KEY = ("userId", "sessionId")
KEYED = ("sessions", "session_hours")


def pinned(selector, field):
    """True when ``selector`` pins ``field`` by equality or $in, at its top level or in an $and."""
    if field in selector:
        value = selector[field]
        return not isinstance(value, dict) or set(value) <= {"$eq", "$in"}
    return any(pinned(part, field) for part in selector.get("$and", ()))


def writes_of(recorder, collections=KEYED):
    """``(collection, filter)`` of every update and delete statement sent to ``collections``."""
    for name, command in recorder.commands:
        if name in ("update", "delete") and command[name] in collections:
            for selector in filters_of(name, command):
                yield command[name], selector


def assert_writes_on_one_shard(recorder):
    """A single-document write that names the whole shard key goes to one shard (MongoDB routes an
    updateOne/deleteOne without it to every shard, or refuses it before 7.1 without an _id)."""
    writes = list(writes_of(recorder))
    assert writes, "no write was recorded"
    for collection, selector in writes:
        assert all(pinned(selector, field) for field in SHARD_KEY), (collection, json.dumps(selector, default=str))


@pytest.mark.parametrize("query", ["userId=u0", "userId=u0&types=CLICK", "userId=u1&sessionId=s1",
                                   "userId=u0&from=2020-01-02T00:00:00Z&to=2020-01-02T10:00:10.5Z"])
def test_delete_commands_carry_the_shard_key(seeded, query):
    client, recorder = seeded
    reply = client.delete(f"/logs?{query}")
    assert reply.status_code == 200 and reply.get_json()["deleted"] > 0, reply.get_json()
    assert_all_targeted(recorder)
    assert_writes_on_one_shard(recorder)                    # each bucket's rewrite and its hour's counts


def test_the_hours_counts_are_written_per_session_and_hour_on_one_shard(watched):
    client, recorder = watched
    assert client.post("/logs", json=body("u", 3)).status_code == 201
    assert client.post("/logs", json=body("u", 3, start=3)).status_code == 201     # $inc of stored hours
    hours = [command for name, command in recorder.commands if command.get(name) == "session_hours"]
    assert hours, "no command on session_hours"
    for name, command in recorder.commands:
        if command.get(name) == "session_hours" and name == "insert":
            assert all(set(SHARD_KEY) <= set(document) for document in command["documents"])
    assert_writes_on_one_shard(recorder)


def test_idempotency_records_are_only_ever_selected_by_id(watched):
    # `idempotency` stays unsharded (or is sharded on _id): every command names its _id.
    client, recorder = watched
    for attempt in range(2):
        reply = client.post("/logs", json=body("k", 1), headers={"Idempotency-Key": "key-1"})
        assert reply.status_code == 201
    commands = [(name, command) for name, command in recorder.commands if command.get(name) == "idempotency"]
    assert {name for name, _ in commands} >= {"insert", "find", "update"}, commands
    for name, command in commands:
        if name == "insert":
            assert all("_id" in document for document in command["documents"])
            continue
        for selector in filters_of(name, command):
            assert "_id" in selector, (name, selector)


def test_migration_writes_carry_the_shard_key(mongo_url):
    from logstore.store import migrate
    from tests.test_migration import seed_old_store

    recorder = Recorder()
    client = MongoClient(mongo_url, event_listeners=[recorder], w="majority")
    name = f"logstore_test_{uuid.uuid4().hex[:12]}"
    try:
        database = client[name]
        seed_old_store(database)
        recorder.commands.clear()
        assert migrate.migrate(database) > 0
        assert_writes_on_one_shard(recorder)
        for name_, command in recorder.commands:
            if name_ == "insert" and command["insert"] in KEYED:
                assert all(set(SHARD_KEY) <= set(document) for document in command["documents"])
    finally:
        client.drop_database(name)
        client.close()
