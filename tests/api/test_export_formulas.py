"""GET /logs/export?format=csv is safe to open in a spreadsheet (OWASP "CSV injection"); raw=true
gives the cells as stored; NDJSON is never changed."""
import csv
import io
import json

from logstore.exports import neutralise
from tests.builders import action, session_log

FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\tTAB", "\rCR"]


def post(client, body):
    response = client.post("/logs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.get_json()


def table(client, query):
    response = client.get("/logs/export" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def seed(client):
    post(client, [session_log(user="=1+1", session="@s", actions=[
        action(f"2020-01-01T10:00:0{n}Z", "VIEW", viewedId=formula) for n, formula in enumerate(FORMULAS)] + [
        action("2020-01-01T10:00:07Z", "CLICK", locationX=-5, locationY=-0.25),
        action("2020-01-01T10:00:08Z", "NAVIGATE", pageFrom="-5", pageTo="a=b", note="=x")])])


def test_csv_cells_that_start_like_a_formula_get_a_leading_quote(client):
    seed(client)
    rows = table(client, "?format=csv")[1:]
    assert [row[6] for row in rows[:6]] == ["'" + formula for formula in FORMULAS]
    assert {(row[0], row[1]) for row in rows} == {("'=1+1", "'@s")}
    click, navigate = rows[6], rows[7]
    assert click[4:6] == ["-5", "-0.25"]          # numbers of a number column stay numbers
    assert navigate[7:9] == ["'-5", "a=b"]        # a text "-5" is text: quoted; "=" inside is harmless
    assert json.loads(navigate[9]) == {"note": "=x"}  # the JSON of further keys starts with {


def test_raw_true_gives_the_cells_as_stored_and_ndjson_is_unchanged(client):
    seed(client)
    rows = table(client, "?format=csv&raw=true")[1:]
    assert [row[6] for row in rows[:6]] == FORMULAS and rows[0][0] == "=1+1"
    lines = [json.loads(line) for line in client.get("/logs/export").get_data(as_text=True).splitlines()]
    assert [line["properties"]["viewedId"] for line in lines[:6]] == FORMULAS and lines[0]["userId"] == "=1+1"
    assert client.get("/logs/export?raw=true").get_data() == client.get("/logs/export").get_data()
    bad = client.get("/logs/export?format=csv&raw=yes")
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "raw"


def test_neutralise_leaves_other_cells_alone():
    assert [neutralise(c) for c in ("", "abc", "1-2", " =x", "'=x")] == ["", "abc", "1-2", " =x", "'=x"]
