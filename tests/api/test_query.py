"""GET /logs: filters, offsets, round trip, formats and paging, over the wire."""
import json
import random
from urllib.parse import urlparse

import pytest

from tests.builders import SPEC_EXAMPLE, action, session_log

# Each test runs as SecantusDB answers and as mongod would (tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")


def post(client, body):
    response = client.post("/logs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.get_json()
    return response


def get(client, query="", status=200):
    response = client.get("/logs" + query)
    assert response.status_code == status, response.get_json()
    return response


def test_round_trip_gives_back_the_same_sessions(client):
    other = session_log(user="u2", session="s2", actions=[
        action("2018-10-18T20:00:00.123+05:30", "VIEW"), action("2018-10-18T20:00:01Z", "NAVIGATE", extra={"a": [1]})])
    post(client, [SPEC_EXAMPLE, other])
    got = get(client).get_json()
    by_key = {(s["userId"], s["sessionId"]): s for s in got}
    assert by_key[("ABC123XYZ", "XYZ456ABC")] == SPEC_EXAMPLE
    assert by_key[("u2", "s2")] == other


def test_sessions_are_ordered_by_their_first_matching_action(client):
    post(client, [session_log(user="late", actions=[action("2020-01-01T12:00:00Z")]),
                  session_log(user="early", actions=[action("2020-01-01T11:00:00Z")]),
                  session_log(user="b-tie", actions=[action("2020-01-01T11:30:00Z")]),
                  session_log(user="a-tie", actions=[action("2020-01-01T11:30:00Z")])])
    assert [s["userId"] for s in get(client).get_json()] == ["early", "a-tie", "b-tie", "late"]


def test_actions_come_back_in_time_order_whatever_the_order_sent(client):
    post(client, [session_log(actions=[action("2020-01-01T12:00:00Z"), action("2020-01-01T05:00:00-06:00"),
                                       action("2020-01-01T10:00:00Z")])])
    [session] = get(client).get_json()
    assert [a["time"] for a in session["actions"]] == [
        "2020-01-01T10:00:00Z", "2020-01-01T05:00:00-06:00", "2020-01-01T12:00:00Z"]


def test_filters_by_user_session_and_types(client):
    post(client, [SPEC_EXAMPLE, session_log(user="other"), session_log(session="second")])
    assert {s["userId"] for s in get(client, "?userId=other").get_json()} == {"other"}
    sessions = get(client, "?userId=ABC123XYZ&sessionId=XYZ456ABC&types=CLICK,VIEW").get_json()
    assert [[a["type"] for a in s["actions"]] for s in sessions] == [["CLICK", "VIEW"]]
    repeated = get(client, "?userId=ABC123XYZ&sessionId=XYZ456ABC&types=CLICK&types=VIEW").get_json()
    assert repeated == sessions


def test_sessions_without_a_matching_action_are_left_out(client):
    post(client, [SPEC_EXAMPLE, session_log(user="viewer", actions=[action(kind="VIEW")])])
    assert [s["userId"] for s in get(client, "?types=NAVIGATE").get_json()] == ["ABC123XYZ"]


def test_times_compare_as_instants_across_offsets(client):
    post(client, [SPEC_EXAMPLE])
    rows = get(client, "?format=actions&from=2018-10-19T03:37:28Z&to=2018-10-19T03:37:28Z").get_json()
    assert [(r["time"], r["type"]) for r in rows] == [("2018-10-18T21:37:28-06:00", "CLICK")]
    rows = get(client, "?format=actions&from=2018-10-19T09:07:29%2B05:30").get_json()
    assert [r["type"] for r in rows] == ["VIEW", "NAVIGATE"]


def test_an_unencoded_plus_in_the_offset_still_works(client):
    post(client, [SPEC_EXAMPLE])
    assert len(get(client, "?format=actions&from=2018-10-19T09:07:29+05:30").get_json()) == 2


def test_bounds_are_exact_below_the_millisecond(client):
    post(client, [session_log(actions=[action("2020-01-01T00:00:00.000500Z"), action("2020-01-01T00:00:00.001Z")])])
    assert len(get(client, "?format=actions&to=2020-01-01T00:00:00Z").get_json()) == 0
    assert len(get(client, "?format=actions&to=2020-01-01T00:00:00.0005Z").get_json()) == 1
    assert len(get(client, "?format=actions&from=2020-01-01T00:00:00.000501Z").get_json()) == 1
    assert len(get(client, "?format=actions&from=2020-01-01T00:00:00.0005Z&to=2020-01-01T00:00:00.001Z").get_json()) == 2


def test_format_actions_gives_flat_rows(client):
    post(client, [SPEC_EXAMPLE])
    rows = get(client, "?format=actions").get_json()
    assert rows[0] == {"userId": "ABC123XYZ", "sessionId": "XYZ456ABC", "time": "2018-10-18T21:37:28-06:00",
                       "type": "CLICK", "properties": {"locationX": 52, "locationY": 11}}
    assert len(rows) == 3


@pytest.mark.parametrize("query, parameter", [
    ("?type=CLICK", "type"),
    ("?types=CLICK,SCROLL", "types"),
    ("?from=yesterday", "from"),
    ("?to=2018-10-18T21:37:28", "to"),
    ("?from=2018-10-18T21:37:28-0600", "from"),
    ("?to=2018-10-18T21:37:28%2B0530", "to"),
    ("?to=2018-10-18T21:37:28+0530", "to"),
    ("?from=2018-10-19T00:00:00Z&to=2018-10-18T00:00:00Z", "from"),
    ("?limit=0", "limit"),
    ("?limit=10001", "limit"),
    ("?limit=ten", "limit"),
    ("?cursor=garbage", "cursor"),
    ("?format=xml", "format"),
    ("?userId=a&userId=b", "userId"),
    ("?userId=", "userId"),
    ("?userId[$ne]=x", "userId[$ne]"),
])
def test_bad_parameters_get_400_naming_them(client, query, parameter):
    problem = get(client, query, status=400).get_json()
    assert problem["parameter"] == parameter
    assert problem["status"] == 400 and problem["code"]


def test_paging_returns_every_action_exactly_once(client):
    rng = random.Random(7)
    sent = []
    for user in range(6):
        for session in range(3):
            acts = [action(f"2020-01-0{1 + rng.randrange(3)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
                           rng.choice(["CLICK", "VIEW", "NAVIGATE"]), n=len(sent) + k) for k in range(rng.randrange(1, 9))]
            sent.extend(a["properties"]["n"] for a in acts)
            post(client, [session_log(user=f"u{user}", session=f"s{session}", actions=acts)])
    for fmt in ("actions", "sessions"):
        seen, url, pages = [], f"/logs?limit=7&format={fmt}", 0
        while url:
            response = client.get(url)
            assert response.status_code == 200
            body = response.get_json()
            rows = body if fmt == "actions" else [a for s in body for a in s["actions"]]
            assert len(rows) <= 7
            seen.extend(r["properties"]["n"] for r in rows)
            link = response.headers.get("Link")
            url = None
            if link:
                target = urlparse(link[link.index("<") + 1:link.index(">")])
                url = f"{target.path}?{target.query}"
            pages += 1
        assert sorted(seen) == sorted(sent)
        assert pages == -(-len(sent) // 7)


def test_paging_in_time_order_across_pages(client):
    post(client, [session_log(user=f"u{i}", actions=[action(f"2020-01-01T00:00:{s:02d}Z") for s in range(i, 40, 5)])
                  for i in range(5)])
    times, url = [], "/logs?format=actions&limit=6"
    while url:
        response = client.get(url)
        times.extend(r["time"] for r in response.get_json())
        link = response.headers.get("Link")
        url = link and urlparse(link[1:link.index(">")]).path + "?" + urlparse(link[1:link.index(">")]).query
    assert times == sorted(times) and len(times) == 40


def test_a_cursor_only_continues_its_own_query(client):
    post(client, [session_log(actions=[action(f"2020-01-01T00:00:0{s}Z") for s in range(5)])])
    link = get(client, "?limit=2&types=CLICK").headers["Link"]
    cursor = link.split("cursor=")[1].split(">")[0]
    assert get(client, f"?limit=2&types=VIEW&cursor={cursor}", status=400).get_json()["code"] == "INVALID_CURSOR"


def test_limit_caps_the_page(client):
    post(client, [session_log(actions=[action(f"2020-01-01T00:00:{s:02d}Z") for s in range(30)])])
    response = get(client, "?limit=10&format=actions")
    assert len(response.get_json()) == 10
    assert 'rel="next"' in response.headers["Link"]
    assert "Link" not in get(client, "?limit=30").headers
