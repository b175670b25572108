"""Operator injection and look-alikes, in the body and in the query string: refused, or plain strings."""
import base64
import json
from urllib.parse import quote

import pytest

from tests.builders import SPEC_EXAMPLE, action, session_log

# Each test runs as SecantusDB answers and as mongod would (tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")


def post(client, body):
    return client.post("/logs", data=json.dumps(body), content_type="application/json")


def with_action(**changes):
    return [session_log(actions=[{**action(), **changes}])]


@pytest.mark.parametrize("body, pointer, code", [
    ([{**SPEC_EXAMPLE, "userId": {"$ne": None}}], "/0/userId", "NOT_A_STRING"),
    ([{**SPEC_EXAMPLE, "sessionId": {"$gt": ""}}], "/0/sessionId", "NOT_A_STRING"),
    ([{**SPEC_EXAMPLE, "actions": {"$gt": []}}], "/0/actions", "NOT_AN_ARRAY"),
    ([{**SPEC_EXAMPLE, "$set": {"userId": "x"}}], "/0/$set", "UNKNOWN_FIELD"),
    (with_action(id={"$ne": None}), "/0/actions/0/id", "NOT_A_STRING"),
    (with_action(time={"$gt": "2018-01-01T00:00:00Z"}), "/0/actions/0/time", "INVALID_TIME"),
    (with_action(type={"$in": ["CLICK"]}), "/0/actions/0/type", "INVALID_ACTION_TYPE"),
    (with_action(properties={"locationX": 1, "locationY": 2, "$where": "sleep(1000)"}),
     "/0/actions/0/properties/$where", "INVALID_KEY"),
    (with_action(properties={"locationX": 1, "locationY": 2, "a": [{"b": {"$inc": {"n": 1}}}]}),
     "/0/actions/0/properties/a/0/b/$inc", "INVALID_KEY"),
    (with_action(properties={"locationX": 1, "locationY": 2, "a.b": 1}), "/0/actions/0/properties/a.b", "INVALID_KEY"),
    (with_action(properties={"locationX": {"$gt": 0}, "locationY": 2}), "/0/actions/0/properties/locationX",
     "NOT_A_NUMBER"),
])
def test_operators_in_the_body_are_refused(client, db, body, pointer, code):
    response = post(client, body)
    assert response.status_code == 400
    problems = [(e["pointer"], e["code"]) for e in response.get_json()["errors"]]
    assert (pointer, code) in problems
    assert db.sessions.count_documents({}) == 0


@pytest.mark.parametrize("query, parameter", [
    ("userId[$ne]=x", "userId[$ne]"), ("userId%5B%24ne%5D=x", "userId[$ne]"), ("types[$in]=CLICK", "types[$in]"),
    ("from[$gt]=2018-01-01T00:00:00Z", "from[$gt]"), ("$where=1", "$where"), ("format[$ne]=x", "format[$ne]"),
])
def test_operator_shaped_parameter_names_are_400(client, query, parameter):
    response = client.get("/logs?" + query)
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["code"] == "UNKNOWN_PARAMETER" and problem["parameter"] == parameter


@pytest.mark.parametrize("query, parameter", [
    ("types=" + quote('{"$ne":"x"}'), "types"), ("limit=" + quote('{"$gt":0}'), "limit"),
    ("from=" + quote('{"$gt":""}'), "from"), ("userId=a&userId=b", "userId"),
    ("cursor=" + base64.urlsafe_b64encode(json.dumps([{"$gt": 0}, {"$ne": None}, "s", 0, 0, "x"]).encode()).decode(),
     "cursor"),
])
def test_operator_shaped_values_that_must_parse_are_400(client, query, parameter):
    response = client.get("/logs?" + query)
    assert response.status_code == 400 and response.get_json()["parameter"] == parameter


@pytest.mark.parametrize("value", ['{"$ne":null}', '{"$gt":""}', "$userId", "$sessionId", ".*", "ABC.*", "'||'1'=='1"])
def test_operator_shaped_strings_are_just_strings(client, value):
    assert post(client, [SPEC_EXAMPLE]).status_code == 201
    for name in ("userId", "sessionId"):
        response = client.get(f"/logs?{name}={quote(value)}")
        assert response.status_code == 200 and response.get_json() == [], (name, value)
    assert len(client.get("/logs?userId=ABC123XYZ").get_json()) == 1  # the data is there to be matched


def test_an_operator_shaped_user_id_is_stored_and_found_literally(client):
    literal = '{"$ne":null}'
    assert post(client, [session_log(user=literal), SPEC_EXAMPLE]).status_code == 201
    [found] = client.get(f"/logs?userId={quote(literal)}").get_json()
    assert found["userId"] == literal
