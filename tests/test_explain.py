"""Every read of every query shape is an index range, and a page examines about what it returns:
checked with explain over the wire, on each pipeline an ordered read sends (``tests.commands``)."""
import json
from datetime import datetime, timedelta

import pytest

from logstore import pipelines, store
from logstore.filters import Bound, LogFilter
from logstore.pipelines import sort_key
from logstore.validation import parse_batch
from tests.builders import action, session_log
from tests.commands import SENT

FROM = Bound(datetime(2020, 1, 1, 6))
TO = Bound(datetime(2020, 1, 2, 3))
SHAPES = {
    "no filter": LogFilter(),
    "types=CLICK,VIEW": LogFilter(types=("CLICK", "VIEW")),
    "types=NAVIGATE": LogFilter(types=("NAVIGATE",)),
    "all three types": LogFilter(types=("CLICK", "VIEW", "NAVIGATE")),
    "from far back": LogFilter(start=Bound(datetime(2000, 1, 1))),
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
LIMIT = 100


@pytest.fixture(scope="module")
def seeded(module_db):
    """12 users × 3 sessions of 60 actions a minute apart, the sessions two hours apart: 2,160 actions."""
    db = module_db
    base = datetime(2020, 1, 1)
    body = [session_log(user=f"u{u}", session=f"s{s}", actions=[
        action((base + timedelta(hours=2 * (u * 3 + s), minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
               ("CLICK", "VIEW", "NAVIGATE")[k % 3]) for k in range(60)]) for u in range(12) for s in range(3)]
    store.insert_sessions(db, parse_batch(json.dumps(body).encode()))
    return db


def explained(db, pipeline):
    answer = db.command("explain", {"aggregate": store.SESSIONS, "pipeline": pipeline, "cursor": {}},
                        verbosity="executionStats")
    cursor = answer["stages"][0]["$cursor"] if "stages" in answer else answer
    return json.dumps(cursor["queryPlanner"]["winningPlan"]), cursor["executionStats"]


def examined_page(db, log_filter, after=None):
    with SENT.aggregates() as sent:
        rows, _ = store.query_page(db, log_filter, LIMIT, after)
    plans, examined = [], 0
    for _, pipeline in sent:
        plan, stats = explained(db, pipeline)
        plans.append(plan)
        examined += stats.get("totalKeysExamined", 0) + stats.get("totalDocsExamined", 0)
    return rows, plans, examined


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_read_of_each_query_shape_uses_an_index(seeded, shape):
    _, plans, _ = examined_page(seeded, SHAPES[shape])
    assert plans
    for plan in plans:
        assert "IXSCAN" in plan and "COLLSCAN" not in plan, plan


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_page_examines_at_most_two_keys_and_documents_per_action_returned(seeded, shape):
    rows, _, examined = examined_page(seeded, SHAPES[shape])
    if len(rows) == LIMIT:          # a full page, then a later one, continued by its cursor
        rows, _, examined = examined_page(seeded, SHAPES[shape], sort_key(rows[-1]))
    assert rows, shape
    assert examined <= 2 * len(rows) + 2, (shape, examined, len(rows))


def test_the_index_stage_comes_first():
    for log_filter in SHAPES.values():
        first = pipelines.window_pipeline(log_filter, datetime(2020, 1, 1), datetime(2020, 1, 2))[0]
        assert "$match" in first and "first" in first["$match"]


def test_the_heads_read_examines_only_the_batch_s_sessions(db):
    """Reading a session's newest bucket must not read the other sessions of its user: a user with
    many sessions would make every POST slower (on MongoDB the index bounds both fields anyway)."""
    store.ensure_indexes(db)
    body = [session_log(user="u1", session=f"s{s}", actions=[action("2020-01-01T00:00:00Z", "CLICK")])
            for s in range(30)]
    store.insert_sessions(db, parse_batch(json.dumps(body).encode()))
    keys = [("u1", "s7"), ("u1", "new")]
    pipeline = pipelines.heads_pipeline(keys, {"userId": 1, "sessionId": 1, "b": 1})
    plan, stats = explained(db, pipeline)
    assert "IXSCAN" in plan
    assert stats["totalDocsExamined"] == 1
