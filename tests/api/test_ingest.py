"""POST /logs through the Flask app, over the wire to the database."""
import json

import pytest

from tests.builders import SPEC_EXAMPLE, action, session_log


def post(client, body, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/logs", data=data, content_type=kwargs.pop("content_type", "application/json"), **kwargs)


def test_post_stores_and_reports_counts(client, db):
    response = post(client, [SPEC_EXAMPLE])
    assert response.status_code == 201
    assert response.get_json() == {"sessions": 1, "actions": 3, "duplicates": 0}
    assert db.sessions.count_documents({}) == 1


@pytest.mark.parametrize("path", ["/logs", "/logs/"])
def test_both_paths_work_without_redirect(client, path):
    response = client.post(path, data=json.dumps(SPEC_EXAMPLE), content_type="application/json")
    assert response.status_code == 201


def test_posting_to_an_existing_session_adds_to_it(client, db):
    post(client, [SPEC_EXAMPLE])
    post(client, [session_log(actions=[action("2018-10-18T21:40:00-06:00")])])
    [doc] = db.sessions.find()
    assert doc["count"] == 4


def test_invalid_body_stores_nothing_and_lists_every_problem(client, db):
    body = [SPEC_EXAMPLE, {"userId": {"$ne": None}, "sessionId": "s",
                           "actions": [action(time="2018-10-18T21:37:28"), action(kind="VIEW", viewedId=5)]}]
    response = post(client, body)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "VALIDATION_FAILED" and problem["status"] == 400
    assert problem["detail"] == "3 problems in the request body"
    assert [(e["pointer"], e["code"]) for e in problem["errors"]] == [
        ("/1/userId", "NOT_A_STRING"), ("/1/actions/0/time", "INVALID_TIME"),
        ("/1/actions/1/properties/viewedId", "NOT_A_STRING")]
    assert problem["requestId"]
    assert db.sessions.count_documents({}) == 0


def test_malformed_json_is_400(client, db):
    response = post(client, b'[{"userId": ')
    assert response.status_code == 400
    assert response.get_json()["code"] == "INVALID_JSON"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_other_content_types_are_415(client, content_type):
    response = post(client, [SPEC_EXAMPLE], content_type=content_type)
    assert response.status_code == 415
    assert response.get_json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_json_with_charset_is_accepted(client):
    assert post(client, [SPEC_EXAMPLE], content_type="application/json; charset=utf-8").status_code == 201


def test_body_over_the_limit_is_413(db):
    from logstore import create_app
    from logstore.config import Settings

    client = create_app(Settings(max_body_bytes=1000), database=db).test_client()
    response = post(client, [session_log(actions=[action()] * 30)])
    assert response.status_code == 413
    assert response.get_json()["code"] == "BODY_TOO_LARGE"
    assert db.sessions.count_documents({}) == 0


def test_too_many_actions_is_413(db):
    from logstore import create_app
    from logstore.config import Settings

    client = create_app(Settings(max_actions=5), database=db).test_client()
    response = post(client, [session_log(actions=[action()] * 6)])
    assert response.status_code == 413
    assert response.get_json()["code"] == "TOO_MANY_ACTIONS"
    assert db.sessions.count_documents({}) == 0


def test_partial_stores_the_valid_sessions(client, db):
    body = [session_log(user="a"), session_log(user=""), session_log(user="c")]
    response = client.post("/logs?partial=true", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    reply = response.get_json()
    assert (reply["sessions"], reply["actions"]) == (2, 2)
    assert reply["rejected"][0]["index"] == 1
    assert sorted(db.sessions.distinct("userId")) == ["a", "c"]


def test_repeated_action_ids_count_as_duplicates(client):
    body = [session_log(actions=[dict(action(), id="x1"), dict(action(), id="x2")])]
    assert post(client, body).get_json() == {"sessions": 1, "actions": 2, "duplicates": 0}
    assert post(client, body).get_json() == {"sessions": 1, "actions": 0, "duplicates": 2}


def test_gzip_bodies_are_accepted(client, db):
    import gzip

    response = client.post("/logs", data=gzip.compress(json.dumps([SPEC_EXAMPLE]).encode()),
                           content_type="application/json", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 201 and stored_count(db) == 3


def stored_count(db):
    return sum(doc["count"] for doc in db.sessions.find())


def test_unknown_content_encoding_is_415(client, db):
    response = client.post("/logs", data=json.dumps([SPEC_EXAMPLE]), content_type="application/json",
                           headers={"Content-Encoding": "br"})
    assert response.status_code == 415 and response.get_json()["code"] == "UNSUPPORTED_ENCODING"
    assert db.sessions.count_documents({}) == 0


def test_broken_gzip_is_400(client):
    response = client.post("/logs", data=b"not gzip", content_type="application/json",
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400 and response.get_json()["code"] == "INVALID_ENCODING"


def test_a_gzip_bomb_is_413_fast_and_in_flat_memory(client, db):
    """4 GiB of zeros in ~4 MB of gzip: refused after inflating just past the 10 MB limit."""
    import time
    import tracemalloc

    from tests.test_bodies import gzip_bomb

    bomb = gzip_bomb(4096)
    assert len(bomb) < 5_000_000
    tracemalloc.start()
    started = time.perf_counter()
    response = client.post("/logs", data=bomb, content_type="application/json", headers={"Content-Encoding": "gzip"})
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 413 and response.get_json()["code"] == "BODY_TOO_LARGE"
    assert elapsed < 2.0
    assert peak < 40 * 1024 * 1024  # the 10 MB limit and its copies, not gigabytes
    assert db.sessions.count_documents({}) == 0
