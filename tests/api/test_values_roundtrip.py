"""SPEC "Values", generated: property values and times across the whole accepted range, POSTed
over the wire and compared with every read (GET in both formats, export as NDJSON and CSV, counts
per day in zones east and west), under SecantusDB's types and mongod's (``server_types``)."""
import csv
import io
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logstore.exports import PROPERTY_COLUMNS
from logstore.validation import MAX_DEPTH

# Each test runs as SecantusDB answers and as mongod would (tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")

INT64 = (-(2 ** 63), 2 ** 63 - 1)
EDGE_INTS = [INT64[0], INT64[0] + 1, -(2 ** 31) - 1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 2 ** 53 + 1, INT64[1] - 1,
             INT64[1], 1733344444444, 0, -1]
EDGE_FLOATS = [sys.float_info.max, -sys.float_info.max, sys.float_info.min, 5e-324, -5e-324, -0.0, 0.0, 1.5e308,
               0.1, 2.0 ** 63, -(2.0 ** 63)]
# A character of every plane of Unicode (planes 3-13 are unassigned, but still code points).
EVERY_PLANE = "".join(chr(plane * 0x10000 + 0x41 + plane) for plane in range(17)) + "é✓😀\ufffe\U0010fffd"
FIRST = datetime(1, 1, 1, tzinfo=timezone.utc)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
ZONES = ("UTC", "+14:00", "-12:00", "+05:45", "America/Denver")

characters = st.characters(blacklist_categories=("Cs",))
strings = st.one_of(st.text(characters, max_size=20), st.just(EVERY_PLANE), st.just("x" * 3000))
keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="$.\x00"), min_size=1,
               max_size=6).filter(lambda key: key not in PROPERTY_COLUMNS)
integers = st.one_of(st.sampled_from(EDGE_INTS), st.integers(*INT64))
floats = st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(allow_nan=False, allow_infinity=False))
numbers = st.one_of(integers, floats)
leaves = st.one_of(st.none(), st.booleans(), integers, floats, strings)
values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(keys, inner, max_size=3)), max_leaves=8)


def nested(depth, leaf):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


deepest = leaves.map(lambda leaf: nested(MAX_DEPTH - 1, leaf))  # the leaf at the deepest level allowed


def text_of(instant, offset_minutes):
    """RFC 3339 in ``offset_minutes``, written as the service writes it back."""
    local = instant.astimezone(timezone(timedelta(minutes=offset_minutes)))
    spec = "milliseconds" if local.microsecond else "seconds"
    text = local.replace(tzinfo=None).isoformat(timespec=spec)
    if not offset_minutes:
        return text + "Z"
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@st.composite
def times(draw):
    """An instant at the first or last millisecond of the accepted range, or any between, in an
    offset that can write it (year 1 cannot be written west of UTC, nor 9999 east of it)."""
    offset = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    edge = draw(st.sampled_from(["first", "last", "any"]))
    if edge == "first" and offset >= 0:
        instant = FIRST
    elif edge == "last" and offset <= 0:
        instant = LAST
    else:
        instant = draw(st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30))).replace(tzinfo=timezone.utc)
        instant = instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    return instant, text_of(instant, offset)


@st.composite
def actions(draw):
    instant, text = draw(times())
    extra = draw(st.dictionaries(keys, st.one_of(values, deepest), max_size=4))
    kind = draw(st.sampled_from(["CLICK", "VIEW"]))
    if kind == "CLICK":
        required = {"locationX": draw(numbers), "locationY": draw(numbers)}
    else:
        required = {"viewedId": draw(strings.filter(bool))}
    return instant, {"time": text, "type": kind, "properties": {**required, **extra}}


def same(got, sent):
    """Equal, and of the same JSON kinds: 1 is not 1.0, -0.0 is not 0.0, True is not 1."""
    if type(got) is not type(sent):
        return False
    if isinstance(sent, float):
        return repr(got) == repr(sent)
    if isinstance(sent, list):
        return len(got) == len(sent) and all(same(a, b) for a, b in zip(got, sent))
    if isinstance(sent, dict):
        return got.keys() == sent.keys() and all(same(got[k], sent[k]) for k in sent)
    return got == sent


def expected_day(instant, zone):
    from logstore.times import parse_tz

    tz = parse_tz(zone)[1]
    try:
        return instant.astimezone(tz).date().isoformat()
    except OverflowError:  # beyond years 1-9999 there: counted in the first or last day
        return "0001-01-01" if instant.year == 1 else "9999-12-31"


def by_id(rows):
    return {row["id"]: row for row in rows}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sent=st.lists(actions(), min_size=1, max_size=4))
def test_every_accepted_value_reads_back_unchanged_through_every_read(client, sent):
    user = uuid.uuid4().hex
    body = [{"userId": user, "sessionId": "s", "actions": [{**a, "id": str(k)} for k, (_, a) in enumerate(sent)]}]
    posted = client.post("/logs", data=json.dumps(body), content_type="application/json")
    assert posted.status_code == 201, posted.get_json()
    want = {str(k): a for k, (_, a) in enumerate(sent)}

    def check(rows, shape):
        assert set(rows) == set(want), shape
        for key, row in rows.items():
            assert row["time"] == want[key]["time"], shape
            assert row["type"] == want[key]["type"], shape
            assert same(row["properties"], want[key]["properties"]), (shape, row["properties"])

    [session] = client.get(f"/logs?userId={user}&limit=10000").get_json()
    check(by_id(session["actions"]), "sessions")
    check(by_id(client.get(f"/logs?userId={user}&format=actions").get_json()), "actions")
    paged, path = [], f"/logs?userId={user}&format=actions&limit=1"
    while path:
        page = client.get(path)
        assert page.status_code == 200, page.get_json()
        paged += page.get_json()
        link = page.headers.get("Link")
        path = link[link.index("/logs"):link.index(">")] if link else None
    check(by_id(paged), "paged")
    export = client.get(f"/logs/export?userId={user}")
    assert export.status_code == 200
    # Lines end at "\n" only: a string may hold U+2028 or \x1c, where str.splitlines would also cut.
    check(by_id([json.loads(line) for line in export.get_data(as_text=True).split("\n") if line]), "ndjson")
    check_csv(client.get(f"/logs/export?userId={user}&format=csv").get_data(as_text=True), list(want.values()))
    for zone in ZONES:
        got = client.get(f"/logs/stats?userId={user}&groupBy=day&tz={zone.replace('+', '%2B')}")
        assert got.status_code == 200, (zone, got.get_json())
        days = {}
        for instant, _ in sent:
            day = expected_day(instant, zone)
            days[day] = days.get(day, 0) + 1
        assert {row["day"]: row["count"] for row in got.get_json()} == days, zone


def check_csv(text, sent):
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == len(sent)
    by_time = {}
    for action in sent:
        by_time.setdefault((action["time"], action["type"]), []).append(action)
    for row in rows:
        cells = dict(zip(header, row))
        candidates = by_time[(cells["time"], cells["type"])]
        assert any(csv_matches(cells, action) for action in candidates), cells


def csv_matches(cells, action):
    try:
        return _csv_matches(cells, action)
    except ValueError:  # a cell of another action of the same time and type
        return False


def _csv_matches(cells, action):
    properties = action["properties"]
    for name in PROPERTY_COLUMNS:
        value, cell = properties.get(name), cells[name]
        if value is None:
            if cell != "":
                return False
        elif isinstance(value, str):
            if cell != value:
                return False
        elif not same(json.loads(cell), value):
            return False
    rest = {k: v for k, v in properties.items() if k not in PROPERTY_COLUMNS}
    return same(json.loads(cells["properties"]), rest) if rest else cells["properties"] == ""
