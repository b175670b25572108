"""GET /logs/stats: one aggregation, compared with counts made in Python from the same data."""
import json
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from logstore.times import parse_time
from tests.builders import action, session_log
from tests.commands import SENT

# Each test runs as SecantusDB answers and as mongod would (tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")

TYPES = ("CLICK", "VIEW", "NAVIGATE")


@pytest.fixture
def seeded(client):
    """Actions every ~50 min over three days, in several offsets: many sit near a day boundary somewhere."""
    rng = random.Random(3)
    body, sent = [], []
    for user in ("ann", "bob", "cy"):
        for session in ("s1", "s2"):
            acts = []
            for _ in range(rng.randrange(20, 40)):
                instant = datetime(2020, 3, 7, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(3 * 24 * 60))
                offset = timezone(timedelta(minutes=rng.choice([-360, 0, 330, 60])))
                text = instant.astimezone(offset).isoformat()
                acts.append(action(text, rng.choice(TYPES)))
                sent.append((user, session, instant, acts[-1]["type"]))
            body.append(session_log(user=user, session=session, actions=acts))
    response = client.post("/logs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    return sent


def stats(client, query, status=200):
    response = client.get("/logs/stats" + query)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def expected(rows, keys, zone):
    count = Counter()
    for user, session, instant, kind in rows:
        values = {"type": kind, "day": instant.astimezone(zone).date().isoformat(), "userId": user,
                  "sessionId": session}
        count[tuple(values[k] for k in keys)] += 1
    return [{**dict(zip(keys, key)), "count": n} for key, n in sorted(count.items())]


@pytest.mark.parametrize("tz, zone", [("UTC", timezone.utc), ("America/Denver", ZoneInfo("America/Denver")),
                                      ("%2B05:30", timezone(timedelta(hours=5, minutes=30))),
                                      ("Asia/Kathmandu", ZoneInfo("Asia/Kathmandu"))])
def test_counts_per_day_and_type_match_python_in_each_time_zone(client, seeded, tz, zone):
    assert stats(client, f"?groupBy=day,type&tz={tz}") == expected(seeded, ("day", "type"), zone)


def test_a_time_zone_moves_actions_across_the_day_boundary(client):
    # 03:00Z and 06:00Z on March 8 are still March 7 in Denver (UTC-7), already March 8 in UTC;
    # at -05:00 they fall on either side of midnight.
    body = [session_log(actions=[action("2020-03-08T03:00:00Z"), action("2020-03-08T11:30:00+05:30", "VIEW")])]
    assert client.post("/logs", data=json.dumps(body), content_type="application/json").status_code == 201
    assert stats(client, "?groupBy=day") == [{"day": "2020-03-08", "count": 2}]
    assert stats(client, "?groupBy=day&tz=America/Denver") == [{"day": "2020-03-07", "count": 2}]
    assert stats(client, "?groupBy=day&tz=%2B05:30") == [{"day": "2020-03-08", "count": 2}]
    assert stats(client, "?groupBy=day&tz=-05:00") == [{"day": "2020-03-07", "count": 1},
                                                        {"day": "2020-03-08", "count": 1}]


def test_rows_follow_the_order_of_the_group_keys(client, seeded):
    got = stats(client, "?groupBy=type,user,session")
    assert got == expected(seeded, ("type", "userId", "sessionId"), timezone.utc)
    assert list(got[0]) == ["type", "userId", "sessionId", "count"]


def test_filters_apply_and_no_group_by_gives_the_total(client, seeded):
    start, end = "2020-03-08T00:00:00-06:00", "2020-03-09T12:00:00Z"
    rows = [r for r in seeded if r[0] == "bob" and r[3] in ("CLICK", "VIEW")
            and parse_time(start) <= r[2] <= parse_time(end)]
    query = f"?userId=bob&types=CLICK,VIEW&from={start}&to={end}"
    assert stats(client, query) == [{"count": len(rows)}]
    assert stats(client, query + "&groupBy=day,type&tz=Europe/Paris") == expected(
        rows, ("day", "type"), ZoneInfo("Europe/Paris"))
    assert stats(client, "?userId=nobody") == [{"count": 0}]
    assert stats(client, "?userId=nobody&groupBy=type") == []


@pytest.mark.parametrize("query, parameter", [
    ("?groupBy=week", "groupBy"), ("?groupBy=day,day", "groupBy"), ("?tz=Mars/Olympus", "tz"),
    ("?tz=%2B25:00", "tz"), ("?tz=UTC&tz=UTC", "tz"), ("?group=day", "group"), ("?limit=3", "limit"),
])
def test_bad_stats_parameters_get_400_naming_them(client, query, parameter):
    problem = stats(client, query, status=400)
    assert problem["parameter"] == parameter


@pytest.fixture
def dense(client, db):
    """Sessions with an action every 1 to 6 minutes over two days: most buckets hold many actions,
    and some cross a midnight of each zone below (18:30Z is midnight at +05:30, 06:00Z at -06:00)."""
    rng = random.Random(11)
    body, sent = [], []
    for user in ("ann", "bob"):
        for session in ("d1", "d2", "d3"):
            instant = datetime(2020, 3, 7, 17, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(60))
            acts = []
            while instant < datetime(2020, 3, 9, 8, tzinfo=timezone.utc):
                offset = timezone(timedelta(minutes=rng.choice([-360, 0, 330])))
                text = instant.astimezone(offset).isoformat(timespec="milliseconds")
                acts.append(action(text, rng.choice(TYPES)))
                sent.append((user, session, instant, acts[-1]["type"]))
                instant += timedelta(minutes=rng.randrange(1, 7), milliseconds=rng.randrange(1000))
            body.append(session_log(user=user, session=session, actions=acts))
    assert client.post("/logs", data=json.dumps(body), content_type="application/json").status_code == 201
    return sent


def whole_share(db, log_filter_query, by_day, tz):
    """How many of the stored actions the stats pipeline counted from bucket summaries."""
    from werkzeug.datastructures import MultiDict
    from urllib.parse import parse_qsl
    from logstore import filters, pipelines
    log_filter = filters.parse_filter(MultiDict(parse_qsl(log_filter_query)))
    stages = pipelines.bucket_match_stages(log_filter) + [
        {"$group": {"_id": pipelines.whole_bucket(log_filter, by_day, tz), "n": {"$sum": "$count"}}}]
    counts = {row["_id"]: row["n"] for row in db.sessions.aggregate(stages)}
    return counts.get(True, 0) / max(1, sum(counts.values()))


@pytest.mark.parametrize("tz, zone", [("UTC", timezone.utc), ("%2B05:30", timezone(timedelta(hours=5, minutes=30))),
                                      ("-06:00", timezone(timedelta(hours=-6))),
                                      ("America/Denver", ZoneInfo("America/Denver"))])
def test_buckets_that_cross_a_midnight_are_counted_exactly(client, db, dense, tz, zone):
    assert stats(client, f"?groupBy=day,type&tz={tz}") == expected(dense, ("day", "type"), zone)
    assert stats(client, f"?groupBy=day,user,session&tz={tz}") == expected(dense, ("day", "userId", "sessionId"), zone)
    # Buckets are whole UTC hours: a zone of whole hours never cuts one, a half-hour zone cuts those
    # that hold its midnight, and only those are unwound.
    share = whole_share(db, "", True, tz.replace("%2B", "+"))
    assert 0.9 < share < 1 if "05:30" in tz else share == 1


@pytest.mark.parametrize("start, end", [
    ("2020-03-07T19:17:31.250Z", "2020-03-08T23:59:59.999+05:30"),
    ("2020-03-08T00:00:00.000001-06:00", "2020-03-08T10:42:00.5Z"),
    ("2020-03-08T13:00:00Z", "2020-03-08T14:00:00Z"),
])
def test_buckets_cut_by_the_range_are_counted_exactly(client, dense, start, end):
    rows = [r for r in dense if parse_time(start) <= r[2] <= parse_time(end)]
    query = f"?from={start.replace('+', '%2B')}&to={end.replace('+', '%2B')}"
    assert stats(client, query) == [{"count": len(rows)}]
    assert stats(client, query + "&groupBy=day,type&tz=%2B05:30") == expected(
        rows, ("day", "type"), timezone(timedelta(hours=5, minutes=30)))
    kept = [r for r in rows if r[3] in ("VIEW", "NAVIGATE")]
    assert stats(client, query + "&types=VIEW,NAVIGATE&groupBy=type,user") == expected(kept, ("type", "userId"),
                                                                                        timezone.utc)


def test_with_no_range_and_no_day_every_bucket_is_counted_from_its_summary(db, dense):
    assert whole_share(db, "", False, "UTC") == 1


def read_windows(db, query, group_by, tz):
    """The collections ``store.action_stats`` read, and the ``first`` ranges of its bucket reads."""
    from logstore import filters, store
    from werkzeug.datastructures import MultiDict
    from urllib.parse import parse_qsl
    with SENT.aggregates() as trace:
        store.action_stats(db, filters.parse_filter(MultiDict(parse_qsl(query))), group_by, tz)
    ranges = []
    for name, pipeline in trace:
        if name != "sessions":
            continue
        if "first" in pipeline[0]["$match"]:
            ranges.append(tuple(pipeline[0]["$match"]["first"].values()))
        else:       # the sessions straddling a midnight, by (userId, sessionId, w): their hours
            ranges += sorted({(t["w"], t["w"] + timedelta(hours=1)) for t in pipeline[1]["$match"]["$or"]})
    return [name for name, _ in trace], ranges


def test_a_count_reads_buckets_only_for_the_hours_that_hold_a_range_end_or_a_midnight(db, dense):
    hour = timedelta(hours=1)
    # Without a user or session (filter or group) the rollups of the hours answer, also for types;
    # with one, the per-session hours.
    assert read_windows(db, "", ("day", "type"), "UTC") == (["hour_totals"], [])
    assert read_windows(db, "types=CLICK,VIEW", ("type",), "UTC") == (["hour_totals"], [])
    assert read_windows(db, "", ("user",), "+05:30") == (["session_hours"], [])
    assert read_windows(db, "userId=ann", ("type",), "UTC") == (["session_hours"], [])
    assert read_windows(db, "sessionId=d1", (), "UTC") == (["session_hours"], [])
    # Midnight at +05:30 is 18:30Z: the data covers two of them, each inside one hour.
    names, ranges = read_windows(db, "", ("day", "type"), "+05:30")
    assert ranges == [(datetime(2020, 3, d, 18), datetime(2020, 3, d, 18) + hour) for d in (7, 8)]
    names, ranges = read_windows(db, "from=2020-03-07T20:15:00Z&to=2020-03-08T09:00:00Z", ("type",), "UTC")
    assert ranges == [(datetime(2020, 3, 7, 20), datetime(2020, 3, 7, 21)), (datetime(2020, 3, 8, 9), datetime(2020, 3, 8, 10))]
    names, ranges = read_windows(db, "from=2020-03-07T20:00:00Z&to=2020-03-07T20:59:59.999Z", ("type",), "UTC")
    assert names == ["sessions"] and ranges == [(datetime(2020, 3, 7, 20), datetime(2020, 3, 7, 21))]


@pytest.mark.parametrize("tz, zone", [("UTC", timezone.utc), ("%2B05:30", timezone(timedelta(hours=5, minutes=30))),
                                      ("America/Denver", ZoneInfo("America/Denver"))])
def test_counts_from_the_rollups_with_types_and_a_range_match_python(client, dense, tz, zone):
    start, end = "2020-03-07T19:17:31.250Z", "2020-03-09T02:00:00Z"
    rows = [r for r in dense if parse_time(start) <= r[2] <= parse_time(end) and r[3] in ("CLICK", "NAVIGATE")]
    query = f"?from={start}&to={end}&types=CLICK,NAVIGATE&groupBy=day,type&tz={tz}"
    assert stats(client, query) == expected(rows, ("day", "type"), zone)
    assert stats(client, "?types=VIEW") == [{"count": sum(r[3] == "VIEW" for r in dense)}]


def test_counts_stay_exact_after_racing_writers_and_deletes(client, db, dense):
    """Writers appending to the same hours while a delete takes actions out of them: the rollups
    (written by concurrent writes into several sub-buckets) still add up to what is stored."""
    import threading

    from logstore import store
    from logstore.filters import LogFilter
    from logstore.validation import parse_batch
    from tests.stored import assert_hours_agree

    errors = []

    def writer(w):
        try:
            for k in range(4):
                when = datetime(2020, 3, 8, 12, 5 * k + w, tzinfo=timezone.utc).isoformat()
                body = [session_log(user=f"w{w}", session=f"r{k % 2}", actions=[action(when, TYPES[k % 3])]),
                        session_log(user="ann", session="d1", actions=[action(when, "VIEW")])]
                store.insert_sessions(db, parse_batch(json.dumps(body).encode()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def deleter():
        try:
            for _ in range(2):
                store.delete_actions(db, LogFilter(user_id="ann", types=("VIEW",)))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)] + [threading.Thread(target=deleter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert_hours_agree(db)
    assert db.hour_totals.count_documents({"t": "n", "w": datetime(2020, 3, 8, 12)}) > 1   # several writers' sub-buckets
    stored = [(b["userId"], b["sessionId"], a["t"].replace(tzinfo=timezone.utc), a["type"])
              for b in db.sessions.find() for a in b["actions"]]
    for tz, zone in (("UTC", timezone.utc), ("%2B05:30", timezone(timedelta(hours=5, minutes=30)))):
        assert stats(client, f"?groupBy=day,type&tz={tz}") == expected(stored, ("day", "type"), zone)


def test_an_hour_cut_by_a_midnight_is_read_from_the_buckets_only_for_sessions_on_both_sides(client, db):
    """Midnight at +05:30 is 18:30Z. s1 lies before it, s2 after it, s3 on both sides: only s3's
    buckets are read, the others are counted from the rollups' per-session entries."""
    body = [session_log(user="a", session="s1", actions=[action("2020-03-07T18:05:00Z"), action("2020-03-07T18:29:59.999Z", "VIEW")]),
            session_log(user="a", session="s2", actions=[action("2020-03-07T18:30:00Z", "NAVIGATE"), action("2020-03-07T18:59:00Z")]),
            session_log(user="b", session="s3", actions=[action("2020-03-07T18:10:00Z", "VIEW"), action("2020-03-07T18:45:00Z", "VIEW")]),
            session_log(user="b", session="s1", actions=[action("2020-03-07T18:31:00Z", "CLICK")])]
    assert client.post("/logs", data=json.dumps(body), content_type="application/json").status_code == 201
    assert stats(client, "?groupBy=day,type&tz=%2B05:30") == [
        {"day": "2020-03-07", "type": "CLICK", "count": 1}, {"day": "2020-03-07", "type": "VIEW", "count": 2},
        {"day": "2020-03-08", "type": "CLICK", "count": 2}, {"day": "2020-03-08", "type": "NAVIGATE", "count": 1},
        {"day": "2020-03-08", "type": "VIEW", "count": 1}]
    names, ranges = read_windows(db, "", ("day", "type"), "+05:30")
    assert names == ["hour_totals", "hour_totals", "sessions"]
    assert ranges == [(datetime(2020, 3, 7, 18), datetime(2020, 3, 7, 19))]
    from logstore import filters, store
    from werkzeug.datastructures import MultiDict
    with SENT.aggregates() as trace:
        store.action_stats(db, filters.parse_filter(MultiDict()), ("day", "type"), "+05:30")
    assert trace[-1][1][:2] == [{"$match": {"sessionId": {"$in": ["s3"]}}},
                                {"$match": {"$or": [{"userId": "b", "sessionId": "s3", "w": datetime(2020, 3, 7, 18)}]}}]


def test_changing_spread_keeps_counts_exact(client, db, monkeypatch):
    """Rollups written with one ``SPREAD`` (sub-buckets per hour) are read and added to with another,
    larger and smaller: reads add up whatever sub-buckets an hour has, and writes land in their own."""
    from logstore.store import rollups
    from tests.stored import assert_hours_agree

    rng = random.Random(11)
    sent = []

    def post(spread, base, batch):
        monkeypatch.setattr(rollups, "SPREAD", spread)
        slots = rollups._Slots()
        slots.base = base
        monkeypatch.setattr(rollups, "slots", slots)
        body = []
        for user, session in (("ann", "s1"), ("bob", "s1"), (f"new{batch}", "s9")):
            acts = []
            for _ in range(15):
                instant = datetime(2020, 3, 7, 17, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(4 * 3600))
                acts.append(action(instant.isoformat(), rng.choice(TYPES)))
                sent.append((user, session, instant, acts[-1]["type"]))
            body.append(session_log(user=user, session=session, actions=acts))
        assert client.post("/logs", data=json.dumps(body), content_type="application/json").status_code == 201

    # SPREAD 3 in sub-buckets 0-2, then 7 (sub-buckets beyond the old range), then 1 (only 0).
    for batch, (spread, base) in enumerate([(3, 0), (3, 1), (3, 2), (7, 5), (7, 6), (1, 0)]):
        post(spread, base, batch)
    assert {doc["k"] for doc in db[rollups.ROLLUPS].find()} == {0, 1, 2, 5, 6}
    assert_hours_agree(db)
    ist = timezone(timedelta(hours=5, minutes=30))
    for spread in (1, 4, 16):          # a read needs no SPREAD: every sub-buckets' documents add up
        monkeypatch.setattr(rollups, "SPREAD", spread)
        assert stats(client, "?groupBy=type") == expected(sent, ("type",), timezone.utc)
        assert stats(client, "?groupBy=day,type&tz=%2B05:30") == expected(sent, ("day", "type"), ist)
        overview = client.get("/logs/overview?tz=%2B05:30").get_json()
        assert (overview["users"], overview["sessions"], overview["actions"]) == (
            len({r[0] for r in sent}), len({r[:2] for r in sent}), len(sent))
    # A delete takes actions off every sub-bucket that holds them, under yet another SPREAD.
    monkeypatch.setattr(rollups, "SPREAD", 2)
    assert client.delete("/logs?userId=ann&from=2020-03-07T18:00:00Z&to=2020-03-07T19:30:00Z").status_code == 200
    kept = [r for r in sent if not (r[0] == "ann" and parse_time("2020-03-07T18:00:00Z") <= r[2]
                                    <= parse_time("2020-03-07T19:30:00Z"))]
    assert stats(client, "?groupBy=day,type&tz=%2B05:30") == expected(kept, ("day", "type"), ist)
    assert_hours_agree(db)
