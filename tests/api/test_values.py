"""SPEC "Values": every value POST accepts reads back unchanged, and every malformed input is a
400 or 405 problem naming what is wrong, over the wire."""
import base64
import csv
import io
import json

import msgspec
import pytest

from tests.builders import action, session_log

# Each test runs as SecantusDB answers and as mongod would (tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")

BIG = 2 ** 40


def post(client, body, status=201):
    response = client.post("/logs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == status, response.get_json()
    return response.get_json()


def get(client, path, status=200):
    response = client.get(path)
    assert response.status_code == status, response.data[:500]
    return response


def ndjson(response):
    return [json.loads(line) for line in response.data.decode().splitlines()]


def test_a_64_bit_integer_reads_back_through_every_read(client):
    post(client, [session_log(user="big", actions=[action("2020-01-01T00:00:00Z", locationX=BIG,
                                                          at=1733344444444, nested={"n": [-(2 ** 63), 2 ** 63 - 1]})])])
    expected = {"locationX": BIG, "locationY": 11, "at": 1733344444444, "nested": {"n": [-(2 ** 63), 2 ** 63 - 1]}}
    for query in ("", "?userId=big", "?types=CLICK"):
        [session] = get(client, "/logs" + query).get_json()
        assert session["actions"][0]["properties"] == expected
    [flat] = get(client, "/logs?format=actions").get_json()
    assert flat["properties"] == expected
    [line] = ndjson(get(client, "/logs/export"))
    assert line["properties"] == expected
    header, row = list(csv.reader(io.StringIO(get(client, "/logs/export?format=csv").data.decode())))
    assert row[header.index("locationX")] == str(BIG)
    assert json.loads(row[header.index("properties")]) == {"at": 1733344444444, "nested": expected["nested"]}


def test_every_page_of_a_paged_read_links_the_next(client):
    post(client, [session_log(actions=[action(f"2020-01-01T00:00:0{k}Z", locationX=BIG + k) for k in range(5)])])
    seen, path = [], "/logs?format=actions&limit=2"
    while path:
        response = get(client, path)
        seen += [row["properties"]["locationX"] for row in response.get_json()]
        link = response.headers.get("Link")
        path = link[link.index("/logs"):link.index(">")] if link else None
    assert seen == [BIG + k for k in range(5)]


def test_a_document_written_by_another_client_does_not_break_reads_of_others(client, db):
    post(client, [session_log(user="ok", actions=[action("2020-01-01T00:00:00Z")])])
    from bson import Decimal128, ObjectId

    bucket = db.sessions.find_one({"userId": "ok"})
    foreign = {**bucket, "_id": ObjectId(), "userId": "foreign"}
    foreign["actions"] = [{**bucket["actions"][0], "p": {"locationX": Decimal128("1.5"), "locationY": 1,
                                                          "oid": ObjectId(), "blob": b"\x00\xff"}}]
    db.sessions.insert_one(foreign)
    users = {s["userId"] for s in get(client, "/logs").get_json()}
    assert users == {"ok", "foreign"}
    assert {line["userId"] for line in ndjson(get(client, "/logs/export"))} == {"ok", "foreign"}
    get(client, "/logs/export?format=csv")
    get(client, "/logs/stats?groupBy=user")


@pytest.mark.parametrize("missing", [("type",), ("p",), ("type", "p", "o")])
def test_an_action_stored_without_its_fields_does_not_break_reads_of_others(client, db, missing):
    post(client, [session_log(user="ok", actions=[action("2020-01-01T00:00:00Z")])])
    bucket = db.sessions.find_one({"userId": "ok"})
    from bson import ObjectId

    broken = {**bucket, "_id": ObjectId(), "userId": "broken"}
    broken["actions"] = [{k: v for k, v in bucket["actions"][0].items() if k not in missing}]
    db.sessions.insert_one(broken)
    assert {s["userId"] for s in get(client, "/logs").get_json()} == {"ok", "broken"}
    assert {r["userId"] for r in get(client, "/logs?format=actions").get_json()} == {"ok", "broken"}
    assert {line["userId"] for line in ndjson(get(client, "/logs/export"))} == {"ok", "broken"}
    rows = list(csv.reader(io.StringIO(get(client, "/logs/export?format=csv").data.decode())))
    assert {row[0] for row in rows[1:]} == {"ok", "broken"}


def test_ndjson_says_its_charset(client):
    post(client, [session_log(actions=[action(kind="VIEW", viewedId="é✓😀")])])
    response = get(client, "/logs/export")
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert ndjson(response)[0]["properties"]["viewedId"] == "é✓😀"


LAST = "9999-12-31T23:59:59.999Z"


def test_actions_at_the_last_and_first_instant_read_back_and_count(client):
    times = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", LAST]
    post(client, [session_log(user="edge", actions=[action(t) for t in times])])
    [session] = get(client, "/logs?userId=edge").get_json()
    assert [a["time"] for a in session["actions"]] == times
    assert [line["time"] for line in ndjson(get(client, "/logs/export"))] == times
    assert [line["time"] for line in ndjson(get(client, f"/logs/export?from={LAST}"))] == [LAST]
    for tz in ("UTC", "-05:00", "+14:00", "America/Denver", "Pacific/Kiritimati"):
        rows = get(client, f"/logs/stats?groupBy=day&tz={tz.replace('+', '%2B')}").get_json()
        assert sum(row["count"] for row in rows) == 3, tz
    assert get(client, "/logs/stats?groupBy=day").get_json() == [
        {"day": "0001-01-01", "count": 1}, {"day": "9999-12-31", "count": 2}]


@pytest.mark.parametrize("time", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
                                  "0001-01-01T00:59:59.999+01:00"])
def test_a_time_whose_instant_falls_outside_years_1_to_9999_is_refused(client, time):
    problem = post(client, [session_log(actions=[action(time)])], status=400)
    assert problem["errors"][0]["pointer"] == "/0/actions/0/time"
    assert problem["errors"][0]["code"] == "INVALID_TIME"


def test_a_time_at_the_edges_in_an_offset_is_accepted(client):
    times = ["0001-01-01T01:00:00+01:00", "9999-12-31T22:59:59.999-01:00"]
    post(client, [session_log(actions=[action(t) for t in times])])
    assert [a["time"] for a in get(client, "/logs").get_json()[0]["actions"]] == times


@pytest.mark.parametrize("query", ["from=0001-01-01T00:00:00%2B01:00", "to=9999-12-31T23:59:59-01:00"])
def test_a_filter_time_outside_years_1_to_9999_is_a_400(client, query):
    problem = get(client, "/logs?" + query, status=400).get_json()
    assert problem["parameter"] in ("from", "to")


def test_a_body_that_is_not_utf8_is_a_400(client):
    response = client.post("/logs", data=b'[{"userId": "\xff\xfe", "sessionId": "s", "actions": []}]',
                           content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_a_very_long_tz_is_a_400(client):
    problem = get(client, "/logs/stats?groupBy=day&tz=" + "A" * 3000, status=400).get_json()
    assert problem["parameter"] == "tz"


@pytest.mark.parametrize("payload", [[0, "a", "b", 2 ** 70, 0], [0, "a", "b", 0, 2 ** 64], [0, "a", "b", -1, 0],
                                     [2 ** 80, "a", "b", 0, 0]])
def test_a_cursor_with_integers_out_of_range_is_a_400(client, payload):
    post(client, [session_log()])
    token = base64.urlsafe_b64encode(msgspec.json.encode(payload + ["x"])).decode().rstrip("=")
    problem = get(client, "/logs?cursor=" + token, status=400).get_json()
    assert problem["code"] == "INVALID_CURSOR"


@pytest.mark.parametrize("path", ["//logs/export", "//logs/stats", "//logs"])
def test_a_wrong_method_on_a_doubled_slash_is_a_problem_not_a_500(client, path):
    # As a server hands it over (the test client would read "//logs" as a host name).
    response = client.open("/", method="PUT", environ_overrides={"PATH_INFO": path})
    assert response.status_code == 405, response.data[:300]
    assert "GET" in response.headers["Allow"]
    assert response.mimetype == "application/problem+json"


def test_the_time_out_of_range_is_named_among_valid_ones(client):
    times = ["2020-01-01T00:00:00Z", "9999-12-31T23:30:00-00:31", "0001-01-01T00:00:00Z"]
    problem = post(client, [session_log(actions=[action(t) for t in times])], status=400)
    assert [e["pointer"] for e in problem["errors"]] == ["/0/actions/1/time"]


def test_an_export_cut_by_a_fault_of_the_service_ends_with_an_error_line(client, monkeypatch):
    from logstore import exports
    from logstore.api import export

    post(client, [session_log(actions=[action(f"2020-01-01T00:00:{k:02d}Z") for k in range(5)])])
    real = exports.flat_row

    def failing_after_two(row, calls=[]):
        calls.append(row)
        if len(calls) > 2:
            raise TypeError("a row this code cannot shape")
        return real(row)

    monkeypatch.setattr(exports, "flat_row", failing_after_two)
    monkeypatch.setattr(exports, "ROWS_PER_CHUNK", 2)
    response = client.get("/logs/export", buffered=False)
    assert response.status_code == 200
    chunks = []
    with pytest.raises(export.ExportCut):
        for chunk in response.response:
            chunks.append(chunk)
    lines = [json.loads(line) for line in b"".join(chunks).decode().split("\n") if line]
    assert len(lines) == 3 and "error" not in lines[0]
    assert lines[-1]["error"]["code"] == "INTERNAL_ERROR"
