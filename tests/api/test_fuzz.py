"""Fuzzing the whole surface: bodies, query strings of every read, paths and methods. Whatever a
client sends, the answer is never a 5xx, and every error is a problem document (SPEC "Errors")."""
import base64
import json
from urllib.parse import quote, urlencode

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_hostile_http import assert_answer
from tests.builders import action, session_log

SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

EDGE_TIMES = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59.999+01:00",
              "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.9999999Z",
              "0000-12-31T23:00:00-01:00", "2020-02-30T00:00:00Z", "2020-01-01T24:00:00Z", "2020-01-01T00:00:60Z",
              "2020-01-01T00:00:00+24:00", "2020-01-01T00:00:00-23:59"]
INT_EDGES = [2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 30, 2 ** 63 - 1, -(2 ** 63)]


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def cursor_of(payload):
    return base64.urlsafe_b64encode(msgspec.json.encode(payload)).decode().rstrip("=")


times = st.one_of(st.sampled_from(EDGE_TIMES), st.text(max_size=30))
cursors = st.one_of(
    st.lists(st.one_of(st.integers(), st.sampled_from(INT_EDGES), st.text(max_size=4)), max_size=7).map(cursor_of),
    st.text(max_size=40))
zones = st.one_of(st.sampled_from(["UTC", "+14:00", "-12:00", "Z", "America/Denver", "../../etc/passwd", "A" * 3000,
                                   "Etc/GMT+12", "+99:99", "\x00", "posixrules", "Factory"]), st.text(max_size=40))
reads = st.sampled_from(["/logs", "/logs/export", "/logs/stats"])
read_params = st.dictionaries(
    st.sampled_from(["userId", "sessionId", "types", "from", "to", "limit", "cursor", "format", "groupBy", "tz",
                     "order"]),
    st.one_of(times, cursors, zones, st.sampled_from(["csv", "ndjson", "actions", "day,type", "user", "stored",
                                                      "CLICK", "0", "10000", "-1"])),
    max_size=5)


@SETTINGS
@given(path=reads, params=read_params)
def test_any_read_query_is_answered_never_a_5xx(client, path, params):
    response = client.get(path + "?" + urlencode(params))
    assert_answer(response, {200, 400})
    if response.is_streamed:
        response.get_data()


property_values = st.one_of(st.sampled_from(INT_EDGES), st.floats(), st.text(max_size=10),
                            st.integers(0, 40).map(nested))
raw_mutations = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\ud800", b"\x00", b"\xf4\x90\x80\x80"])


@SETTINGS
@given(time=times, key=st.text(max_size=6), value=property_values, mutation=st.one_of(st.none(), raw_mutations))
def test_any_body_near_the_edges_is_stored_or_refused_never_a_5xx(client, time, key, value, mutation):
    body = json.dumps([session_log(actions=[action(time, **{key or "k": value})])]).encode()
    if mutation is not None:
        at = body.index(b'"k"') + 1 if b'"k"' in body else body.index(b"VIEW" if b"VIEW" in body else b"CLICK")
        body = body[:at] + mutation + body[at:]
    response = client.post("/logs", data=body, content_type="application/json")
    assert_answer(response, {201, 400})


segments = st.one_of(st.sampled_from(["logs", "export", "stats", "", "docs", "ready", "health", "sdk", "..",
                                      "logstore.js", "swagger.json", "%00", "%ff", "logs;x"]),
                     st.text(max_size=8).map(lambda text: quote(text, safe="")))
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"])


@SETTINGS
@given(method=methods, parts=st.lists(segments, min_size=1, max_size=4), leading=st.sampled_from(["/", "//", "///"]))
def test_any_path_and_method_is_answered_never_a_5xx(client, method, parts, leading):
    path = leading + "/".join(parts)
    response = client.open("/", method=method, environ_overrides={"PATH_INFO": path})
    assert response.status_code < 500, (method, path, response.status_code, response.get_data()[:300])
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", (method, path)
    if response.status_code == 405:
        assert response.headers["Allow"]
