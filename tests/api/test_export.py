"""GET /logs/export: NDJSON and CSV, every matching action, streamed; over the wire."""
import csv
import io
import json

import pytest

from logstore import exports, store
from logstore.store import reads
from tests.builders import SPEC_EXAMPLE, action, session_log

# Each test runs as SecantusDB answers and as mongod would (tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")


def post(client, body):
    response = client.post("/logs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.get_json()


def export(client, query=""):
    response = client.get("/logs/export" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.is_streamed
    return response


def test_ndjson_gives_one_flat_action_per_line(client):
    post(client, [SPEC_EXAMPLE])
    response = export(client)
    assert response.mimetype == "application/x-ndjson"
    lines = response.get_data(as_text=True).splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[0] == {"userId": "ABC123XYZ", "sessionId": "XYZ456ABC", "time": "2018-10-18T21:37:28-06:00",
                       "type": "CLICK", "properties": {"locationX": 52, "locationY": 11}}
    assert [r["type"] for r in rows] == ["CLICK", "VIEW", "NAVIGATE"]


def test_csv_has_the_spec_columns_and_further_keys_as_json(client):
    post(client, [session_log(actions=[
        action("2020-01-01T10:00:00.000500+05:30", "CLICK", locationX=-3, locationY=0.5),
        action("2020-01-01T10:00:01Z", "VIEW", viewedId='say "hi", ok', extra={"a": [1, 2]}, note="x"),
        action("2020-01-01T10:00:02Z", "NAVIGATE")])])
    response = export(client, "?format=csv")
    assert response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == ["userId", "sessionId", "time", "type", "locationX", "locationY", "viewedId", "pageFrom",
                        "pageTo", "properties"]
    assert table[1] == ["ABC123XYZ", "XYZ456ABC", "2020-01-01T10:00:00.000500+05:30", "CLICK", "-3", "0.5",
                        "", "", "", ""]
    assert table[2][6] == 'say "hi", ok'
    assert json.loads(table[2][9]) == {"extra": {"a": [1, 2]}, "note": "x"}
    assert table[3][7:9] == ["communities", "inventory"]
    assert len(table) == 4


def test_export_applies_the_filters_of_get(client):
    post(client, [SPEC_EXAMPLE, session_log(user="other", actions=[action("2018-10-19T03:37:29Z")])])
    query = "?types=CLICK&from=2018-10-19T03:37:28Z&to=2018-10-19T03:37:29Z"
    exported = [json.loads(line) for line in export(client, query).get_data(as_text=True).splitlines()]
    got = client.get("/logs" + query + "&format=actions").get_json()
    assert sorted(map(json.dumps, exported)) == sorted(map(json.dumps, got))
    assert len(exported) == 2


def test_export_is_not_limited_by_the_page_size_and_streams_in_chunks(client, monkeypatch):
    monkeypatch.setattr(exports, "ROWS_PER_CHUNK", 100)
    monkeypatch.setattr(reads, "EXPORT_ROWS", 50)
    post(client, [session_log(user=f"u{u}", actions=[action(f"2020-01-01T00:{m:02d}:{s:02d}Z") for m in range(6)
                                                     for s in range(0, 60, 2)]) for u in range(7)])
    response = export(client, "?format=csv")
    chunks = list(response.response)
    assert len(chunks) >= 1260 // 100
    rows = b"".join(chunks).decode().splitlines()
    assert len(rows) == 1 + 7 * 180


def test_an_empty_export_is_empty_or_just_the_header(client):
    assert export(client).get_data() == b""
    assert export(client, "?format=csv").get_data(as_text=True).splitlines() == [",".join(exports.CSV_COLUMNS)]


@pytest.mark.parametrize("query, parameter", [("?format=xml", "format"), ("?limit=5", "limit"),
                                              ("?type=CLICK", "type"), ("?cursor=x", "cursor")])
def test_bad_export_parameters_get_400(client, query, parameter):
    response = client.get("/logs/export" + query)
    assert response.status_code == 400 and response.get_json()["parameter"] == parameter


def test_export_encodes_rows_as_the_cursor_yields_them(client, monkeypatch):
    """The first chunk leaves after about one chunk of rows was read, not after the whole result."""
    monkeypatch.setattr(exports, "ROWS_PER_CHUNK", 100)
    monkeypatch.setattr(reads, "EXPORT_ROWS", 100)
    post(client, [session_log(user=f"u{u}", actions=[action(f"2020-01-01T00:00:{s:02d}Z") for s in range(60)])
                  for u in range(10)])
    pulled = []
    real = store.export_rows

    def counting(*args, **kwargs):
        for row in real(*args, **kwargs):
            pulled.append(1)
            yield row

    monkeypatch.setattr(store, "export_rows", counting)
    response = client.get("/logs/export", buffered=False)
    chunks = iter(response.response)
    first = next(chunks)
    assert first.count(b"\n") == 100 and len(pulled) <= 101
    assert sum(chunk.count(b"\n") for chunk in chunks) == 500 and len(pulled) == 600
    response.close()
