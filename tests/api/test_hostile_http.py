"""Property tests through the HTTP layer: whatever a client sends, the answer is never a 5xx, and
every error is a problem document."""
import json
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_validation_properties import bodies, json_values

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

raw_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    bodies.map(lambda v: json.dumps(v).encode()),
    # JSON the stdlib writes but strict parsers refuse, and deep nesting.
    st.sampled_from([b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"[" * 5000 + b"]" * 5000, b"\xef\xbb\xbf[]",
                     b'"\\ud800"', b"[1e999]", b"\x00", b"", b"   "]),
)


def assert_answer(response, allowed):
    assert response.status_code in allowed, (response.status_code, response.get_data()[:300])
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert problem["status"] == response.status_code and problem["code"].isupper()


@SETTINGS
@given(body=raw_bodies)
def test_any_body_posted_is_stored_or_refused_never_a_5xx(client, body):
    assert_answer(client.post("/logs", data=body, content_type="application/json"), {201, 400, 413})


header_characters = st.characters(codec="latin-1", exclude_characters="\r\n\x00")


@SETTINGS
@given(content_type=st.one_of(st.text(header_characters, max_size=40), st.sampled_from(
    ["application/json; charset=latin-1", "APPLICATION/JSON", "application/json;;", "application/json; x=\"",
     "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"])))
def test_any_content_type_is_answered_never_a_5xx(client, content_type):
    body = json.dumps({"userId": "u", "sessionId": "s", "actions": [
        {"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewedId": "v"}}]})
    response = client.post("/logs", data=body, headers={"Content-Type": content_type})
    assert_answer(response, {201, 400, 415})


names = st.one_of(st.sampled_from(["userId", "sessionId", "types", "from", "to", "limit", "cursor", "format",
                                   "partial", "type", ""]), st.text(max_size=8))
query_values = st.one_of(st.text(max_size=30), st.sampled_from(
    ["CLICK,VIEW", "2018-10-18T21:37:28Z", "2018-10-18T21:37:28 06:00", "0", "-1", "10001", "1e3", "sessions",
     "actions", "eyJhIjoxfQ", "AAAA", "%00", "\x00"]))


@SETTINGS
@given(query=st.one_of(st.lists(st.tuples(names, query_values), max_size=5).map(urlencode),
                       st.binary(max_size=80).map(lambda raw: raw.decode("latin-1"))))
def test_any_query_string_is_answered_never_a_5xx(client, query):
    raw = {"QUERY_STRING": query}  # as a WSGI server passes it: undecoded, any bytes
    assert_answer(client.get("/logs", environ_overrides=raw), {200, 400})
    assert_answer(client.post("/logs", environ_overrides=raw, data="[]", content_type="application/json"),
                  {201, 400})


def test_json_nested_past_the_decoders_limit_is_a_400_not_a_500(client):
    deep = "[" * 5000 + "]" * 5000
    inside = json.dumps({"userId": "u", "sessionId": "s", "actions": [
        {"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewedId": "v", "x": "@"}}]})
    for body in (deep, inside.replace('"@"', deep)):
        for path in ("/logs", "/logs?partial=true"):
            response = client.post(path, data=body, content_type="application/json")
            assert response.status_code == 400, (path, response.get_json())
            assert response.get_json()["code"] == "INVALID_JSON"


def test_a_query_string_of_raw_non_utf8_bytes_is_a_400(client):
    for path in ("/logs", "/ready"):
        response = client.get(path, environ_overrides={"QUERY_STRING": "userId=\x8d"})
        assert response.status_code == 400
        assert response.get_json()["code"] == "INVALID_PARAMETER"
