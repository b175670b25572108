"""Every analyst query shape starts with an index-backed $match, checked with explain over the wire."""
import json
from datetime import datetime, timedelta

import pytest

from logstore import pipelines, store
from logstore.filters import Bound, LogFilter
from logstore.validation import parse_batch
from tests.builders import action, session_log

FROM = Bound(datetime(2020, 1, 2))
TO = Bound(datetime(2020, 1, 3))
SHAPES = {
    "user": LogFilter(user_id="u3"),
    "user+session": LogFilter(user_id="u3", session_id="s1"),
    "session": LogFilter(session_id="s1"),
    "session+types+range": LogFilter(session_id="s1", types=("CLICK", "VIEW"), start=FROM, end=TO),
    "user+types+range": LogFilter(user_id="u3", types=("CLICK", "VIEW"), start=FROM, end=TO),
    "types+range": LogFilter(types=("CLICK",), start=FROM, end=TO),
    "several types+range": LogFilter(types=("CLICK", "NAVIGATE"), start=FROM, end=TO),
    "range": LogFilter(start=FROM, end=TO),
    "from only": LogFilter(start=FROM),
}


@pytest.fixture
def seeded(db):
    store.ensure_indexes(db)
    base = datetime(2020, 1, 1)
    body = [session_log(user=f"u{u}", session=f"s{s}", actions=[
        action((base + timedelta(hours=u * 5 + s + k)).strftime("%Y-%m-%dT%H:%M:%SZ"), ("CLICK", "VIEW", "NAVIGATE")[k % 3])
        for k in range(4)]) for u in range(12) for s in range(3)]
    store.insert_sessions(db, parse_batch(json.dumps(body).encode()))
    return db


def winning_plan(db, pipeline):
    explained = db.command("explain", {"aggregate": store.SESSIONS, "pipeline": pipeline, "cursor": {}},
                           verbosity="queryPlanner")
    planner = explained["stages"][0]["$cursor"]["queryPlanner"] if "stages" in explained else explained["queryPlanner"]
    return json.dumps(planner["winningPlan"])


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_query_shape_uses_an_index(seeded, shape):
    pipeline = pipelines.page_pipeline(SHAPES[shape], 100)
    plan = winning_plan(seeded, pipeline)
    assert "IXSCAN" in plan and "COLLSCAN" not in plan, plan


def test_the_index_stage_comes_first(seeded):
    for log_filter in SHAPES.values():
        first = pipelines.page_pipeline(log_filter, 10)[0]
        assert "$match" in first


def test_the_heads_read_examines_only_the_batch_s_sessions(db):
    """Reading a session's newest bucket must not read the other sessions of its user: a user with
    many sessions would make every POST slower (on MongoDB the index bounds both fields anyway)."""
    store.ensure_indexes(db)
    body = [session_log(user="u1", session=f"s{s}", actions=[action("2020-01-01T00:00:00Z", "CLICK")])
            for s in range(30)]
    store.insert_sessions(db, parse_batch(json.dumps(body).encode()))
    keys = [("u1", "s7"), ("u1", "new")]
    pipeline = pipelines.heads_pipeline(keys, {"userId": 1, "sessionId": 1, "b": 1})
    explained = db.command("explain", {"aggregate": store.SESSIONS, "pipeline": pipeline, "cursor": {}},
                           verbosity="executionStats")
    cursor = explained["stages"][0]["$cursor"] if "stages" in explained else explained
    assert "IXSCAN" in json.dumps(cursor["queryPlanner"]["winningPlan"])
    assert cursor["executionStats"]["totalDocsExamined"] == 1
