"""The insights endpoints over the wire (SecantusDB, or TEST_MONGO_URL), each figure compared with the
same figure worked out in Python from the POSTed data (SPEC "Insights")."""
import json
import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from statistics import median
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from logstore import create_app
from logstore.config import Settings
from logstore.times import parse_time
from tests.api.test_bounded_reads import app_for, big  # noqa: F401  (fixture: 20,000 stored actions)
from tests.builders import action, session_log
from tests.commands import SENT

# Insights read back as they do on MongoDB too (includeArrayIndex as Int64: tests/mongod_types.py).
pytestmark = pytest.mark.usefixtures("server_types")

TYPES = ("CLICK", "VIEW", "NAVIGATE")
IST = timezone(timedelta(hours=5, minutes=30))
PAGES = ("home", "list", "item", "cart", "checkout")
ITEMS = ("i1", "i2", "i3", "i4")


def random_sessions(seed=7):
    """Sessions of 8 users over five days, each with strictly increasing times (whole seconds) in
    several offsets; many sessions cross an hour, some a midnight of +05:30 (18:30Z)."""
    rng = random.Random(seed)
    body = []
    for number in range(30):
        user = f"u{number % 8}"
        start = datetime(2020, 3, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(5 * 24 * 60))
        instant, page, acts = start, rng.choice(PAGES), []
        for _ in range(rng.randrange(1, 25)):
            instant += timedelta(seconds=rng.randrange(1, 1500))
            offset = timezone(timedelta(minutes=rng.choice([-360, 0, 330])))
            text = instant.astimezone(offset).isoformat()
            kind = rng.choice(TYPES if number % 5 else ("CLICK", "VIEW"))   # every fifth: a bounce
            if kind == "NAVIGATE":
                target = rng.choice(PAGES)
                acts.append(action(text, kind, pageFrom=page, pageTo=target))
                page = target
            elif kind == "VIEW":
                extra = {"color": rng.choice(["red", "blue"])} if rng.random() < 0.5 else {}
                acts.append(action(text, kind, viewedId=rng.choice(ITEMS), **extra))
            else:
                extra = {"page": "popup"} if rng.random() < 0.1 else {}
                acts.append(action(text, kind, locationX=rng.randrange(3), locationY=rng.randrange(2), **extra))
        body.append(session_log(user=user, session=f"s{number}", actions=acts))
    return body


# Hand-made cases: a session across midnight in +05:30 (18:30Z), a user on three days, a funnel
# whose step 2 comes before step 1, a journey cut by `within`.
CASES = [
    session_log(user="mid", session="m1", actions=[
        action("2020-03-02T18:10:00Z", "NAVIGATE", pageFrom="home", pageTo="cart"),
        action("2020-03-02T18:20:00Z", "CLICK", locationX=5, locationY=5),
        action("2020-03-03T00:20:00+05:30", "VIEW", viewedId="i1")]),
    *[session_log(user="often", session=f"o{d}", actions=[action(f"2020-03-0{d}T10:00:00Z", "VIEW", viewedId="i2")])
      for d in (1, 3, 5)],
    session_log(user="rev", session="r1", actions=[
        action("2020-03-02T09:00:00Z", "NAVIGATE", pageFrom="home", pageTo="checkout"),
        action("2020-03-02T09:01:00Z", "NAVIGATE", pageFrom="checkout", pageTo="cart")]),
    session_log(user="slow", session="w1", actions=[
        action("2020-03-02T11:00:00Z", "NAVIGATE", pageFrom="home", pageTo="cart"),
        action("2020-03-02T11:30:00Z", "NAVIGATE", pageFrom="cart", pageTo="checkout")]),
]
BODY = random_sessions() + CASES


@pytest.fixture(scope="module")
def api(module_db):
    """The app over one database seeded once for the module, and the actions as Python sees them."""
    app = create_app(Settings(), database=module_db)
    app.config["TESTING"] = True
    client = app.test_client()
    response = client.post("/logs", data=json.dumps(BODY), content_type="application/json")
    assert response.status_code == 201, response.get_json()
    return client


def sent_actions():
    """Every POSTed action: (user, session, instant (aware UTC), type, properties), in session order."""
    rows = []
    for log in BODY:
        for act in log["actions"]:
            rows.append((log["userId"], log["sessionId"], parse_time(act["time"]).astimezone(timezone.utc),
                         act["type"], act["properties"]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return rows


def matching(frm=None, to=None, types=None, user=None):
    lo = parse_time(frm) if frm else None
    hi = parse_time(to) if to else None
    return [r for r in sent_actions() if (lo is None or r[2] >= lo) and (hi is None or r[2] <= hi)
            and (types is None or r[3] in types) and (user is None or r[0] == user)]


def get(client, path, status=200, **query):
    response = client.get(f"{path}?{urlencode(query, doseq=True)}")
    assert response.status_code == status, response.get_json()
    return response.get_json()


# ---- overview ---------------------------------------------------------------------------------

def overview_of(rows, zone, first_day=None, last_day=None):
    sessions = defaultdict(list)
    for row in rows:
        sessions[row[:2]].append(row)
    days = defaultdict(lambda: [set(), set(), 0])
    for row in rows:
        figures = days[row[2].astimezone(zone).date().isoformat()]
        figures[0].add(row[0])
        figures[1].add(row[:2])
        figures[2] += 1
    lengths = [(max(r[2] for r in acts) - min(r[2] for r in acts)).total_seconds() for acts in sessions.values()]
    bounces = sum(1 for acts in sessions.values() if not any(r[3] == "NAVIGATE" for r in acts))
    listed = sorted(days)
    first_day, last_day = first_day or (listed[0] if listed else None), last_day or (listed[-1] if listed else None)
    every = []
    if first_day:
        day = datetime.fromisoformat(first_day)
        while day.date().isoformat() <= last_day:
            every.append(day.date().isoformat())
            day += timedelta(days=1)
    return {"users": len({key[0] for key in sessions}), "sessions": len(sessions), "actions": len(rows),
            "bounceRate": bounces / len(sessions) if sessions else None,
            "medianSessionSeconds": median(lengths) if lengths else None,
            "days": [{"day": d, "users": len(days[d][0]) if d in days else 0,
                      "sessions": len(days[d][1]) if d in days else 0, "actions": days[d][2] if d in days else 0}
                     for d in every]}


def close(got, want):
    for key in ("bounceRate", "medianSessionSeconds"):
        if want[key] is None:
            assert got[key] is None
        else:
            assert got[key] == pytest.approx(want[key], abs=1e-9), key
    rest = {k: v for k, v in got.items() if k not in ("bounceRate", "medianSessionSeconds", "previous")}
    assert rest == {k: v for k, v in want.items() if k not in ("bounceRate", "medianSessionSeconds")}


@pytest.mark.parametrize("query", [
    {},
    {"from": "2020-03-02T03:17:41.250+05:30", "to": "2020-03-04T20:00:00.5Z"},   # cut hours at both ends
    {"from": "2020-03-02T00:00:00+05:30", "to": "2020-03-04T23:59:59.999999+05:30"},
    {"types": "CLICK,VIEW"},                                                      # no NAVIGATE: all bounce
    {"types": "NAVIGATE", "from": "2020-03-01T12:00:00Z"},
    {"userId": "u3"},
    {"sessionId": "s4"},
])
@pytest.mark.parametrize("tz", ["+05:30", "America/Denver", "Asia/Kathmandu"])
def test_overview_matches_python_in_each_time_zone(api, query, tz):
    zone = IST if tz == "+05:30" else ZoneInfo(tz)
    got = get(api, "/logs/overview", tz=tz, **query)
    rows = matching(query.get("from"), query.get("to"), query.get("types", "").split(",") if "types" in query
                    else None, query.get("userId"))
    if "sessionId" in query:
        rows = [r for r in rows if r[1] == query["sessionId"]]
    first = parse_time(query["from"]).astimezone(zone).date().isoformat() if "from" in query else None
    last = parse_time(query["to"]).astimezone(zone).date().isoformat() if "to" in query else None
    want = overview_of(rows, zone, first, last)
    assert want["sessions"] > 0
    close(got, want)


def test_overview_counts_a_session_across_midnight_on_both_days_and_a_user_once(api):
    got = get(api, "/logs/overview", tz="+05:30", userId="mid")
    assert got["users"] == 1 and got["sessions"] == 1 and got["actions"] == 3
    assert [(d["day"], d["sessions"], d["actions"]) for d in got["days"]] == [("2020-03-02", 1, 2), ("2020-03-03", 1, 1)]
    assert got["medianSessionSeconds"] == 2400 and got["bounceRate"] == 0
    often = get(api, "/logs/overview", userId="often")
    assert often["users"] == 1 and often["sessions"] == 3 and often["bounceRate"] == 1
    assert [d["users"] for d in often["days"]] == [1, 0, 1, 0, 1]   # every day listed, empty ones too
    assert often["medianSessionSeconds"] == 0


def test_overview_compare_previous_is_the_period_of_the_same_length_before(api):
    query = {"from": "2020-03-04T00:00:00+05:30", "to": "2020-03-05T23:59:59.999999+05:30", "tz": "+05:30"}
    got = get(api, "/logs/overview", compare="previous", **query)
    close(got, overview_of(matching(query["from"], query["to"]), IST, "2020-03-04", "2020-03-05"))
    previous = overview_of(matching("2020-03-02T00:00:00+05:30", "2020-03-03T23:59:59.999999+05:30"), IST,
                           "2020-03-02", "2020-03-03")
    close(got["previous"], previous)
    assert got["previous"]["actions"] > 0 and got["previous"] != {k: v for k, v in got.items() if k != "previous"}


# ---- top --------------------------------------------------------------------------------------

def top_of(rows, field, limit):
    count, users = Counter(), defaultdict(set)
    for row in rows:
        if field in row[4]:
            count[row[4][field]] += 1
            users[row[4][field]].add(row[0])
    ordered = sorted(count, key=lambda v: (-count[v], v))
    return [{"value": v, "count": count[v], "users": len(users[v])} for v in ordered[:limit]]


@pytest.mark.parametrize("field, query", [
    ("viewedId", {}), ("pageTo", {"limit": "3"}), ("pageFrom", {"from": "2020-03-02T05:00:00Z"}),
    ("color", {}), ("page", {"types": "CLICK"}), ("viewedId", {"types": "CLICK"}),
])
def test_top_values_match_python(api, field, query):
    got = get(api, "/logs/top", field=field, **query)
    rows = matching(query.get("from"), None, query["types"].split(",") if "types" in query else None)
    assert got == top_of(rows, field, int(query.get("limit", 10)))
    assert got or query.get("types") == "CLICK" and field == "viewedId"


# ---- paths ------------------------------------------------------------------------------------

def paths_of(rows, limit=50):
    navs = [r for r in rows if r[3] == "NAVIGATE"]
    pairs, sessions, by_session = Counter(), defaultdict(set), defaultdict(list)
    for row in navs:
        pair = (row[4]["pageFrom"], row[4]["pageTo"])
        pairs[pair] += 1
        sessions[pair].add(row[:2])
        by_session[row[:2]].append(row)
    entries = Counter(acts[0][4]["pageFrom"] for acts in by_session.values())
    exits = Counter(acts[-1][4]["pageTo"] for acts in by_session.values())
    ranked = lambda counter: [{"page": p, "sessions": n} for p, n in  # noqa: E731
                              sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]]
    return {"transitions": [{"pageFrom": f, "pageTo": t, "count": n, "sessions": len(sessions[(f, t)])}
                            for (f, t), n in sorted(pairs.items(), key=lambda i: (-i[1], i[0]))[:limit]],
            "entries": ranked(entries), "exits": ranked(exits)}


@pytest.mark.parametrize("query", [{}, {"limit": "4"}, {"from": "2020-03-02T00:00:00Z", "to": "2020-03-03T12:00:00Z"},
                                   {"userId": "u2"}])
def test_paths_match_python(api, query):
    got = get(api, "/logs/paths", **query)
    rows = matching(query.get("from"), query.get("to"), None, query.get("userId"))
    assert got == paths_of(rows, int(query.get("limit", 50)))
    assert got["transitions"]


def test_paths_without_navigations_are_empty(api):
    assert get(api, "/logs/paths", types="CLICK,VIEW") == {"transitions": [], "entries": [], "exits": []}


# ---- funnel -----------------------------------------------------------------------------------

def step_matches(row, step):
    kind, _, rest = step.partition(":")
    if row[3] != kind:
        return False
    if not rest:
        return True
    key, value = rest.split("=", 1)
    return str(row[4].get(key)) == value if key in row[4] else False


def funnel_of(rows, steps, per="session", within=None):
    journeys = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r[2], r[1])):
        journeys[row[0] if per == "user" else row[:2]].append(row)
    counts, gaps = [0] * len(steps), [[] for _ in steps]
    for acts in journeys.values():
        reached = []
        for row in acts:
            if len(reached) == len(steps):
                break
            if step_matches(row, steps[len(reached)]):
                if reached and within is not None and (row[2] - reached[0]).total_seconds() > within:
                    break
                reached.append(row[2])
        for k, instant in enumerate(reached):
            counts[k] += 1
            if k:
                gaps[k].append((instant - reached[k - 1]).total_seconds())
    return {"steps": [{"step": s, "count": counts[k], "medianSecondsFromPrevious": median(gaps[k]) if gaps[k] else None}
                      for k, s in enumerate(steps)]}


FUNNELS = [
    (["NAVIGATE:pageTo=cart", "CLICK", "NAVIGATE:pageTo=checkout"], {}),
    (["VIEW", "NAVIGATE", "CLICK"], {"per": "user"}),
    (["VIEW:viewedId=i1", "VIEW:viewedId=i2"], {"within": "3600"}),
    (["NAVIGATE:pageTo=cart", "NAVIGATE:pageTo=checkout"], {"from": "2020-03-02T00:00:00Z",
                                                            "to": "2020-03-02T23:59:59Z"}),
    (["CLICK:locationX=1", "CLICK:locationY=0", "VIEW"], {"per": "user", "within": "7200"}),
]


@pytest.mark.parametrize("steps, query", FUNNELS)
def test_funnel_matches_python(api, steps, query):
    got = get(api, "/logs/funnel", step=steps, **query)
    rows = matching(query.get("from"), query.get("to"))
    want = funnel_of(rows, steps, query.get("per", "session"), float(query["within"]) if "within" in query else None)
    assert got == want
    assert want["steps"][0]["count"] > want["steps"][-1]["count"] >= 0


def test_funnel_step_2_before_step_1_is_not_reached_and_within_cuts_a_journey(api):
    steps = ["NAVIGATE:pageTo=cart", "NAVIGATE:pageTo=checkout"]
    rev = get(api, "/logs/funnel", step=steps, userId="rev")    # checkout at 09:00, cart at 09:01
    assert [s["count"] for s in rev["steps"]] == [1, 0]
    slow = get(api, "/logs/funnel", step=steps, userId="slow")  # cart 11:00, checkout 11:30
    assert [s["count"] for s in slow["steps"]] == [1, 1] and slow["steps"][1]["medianSecondsFromPrevious"] == 1800
    assert [s["count"] for s in get(api, "/logs/funnel", step=steps, userId="slow", within="1800")["steps"]] == [1, 1]
    assert [s["count"] for s in get(api, "/logs/funnel", step=steps, userId="slow", within="1799")["steps"]] == [1, 0]


# ---- click map --------------------------------------------------------------------------------

def clicks_of(rows, page):
    by_session, on_page = defaultdict(list), Counter()
    for row in rows:
        by_session[row[:2]].append(row)
    points = defaultdict(Counter)
    for acts in by_session.values():
        current = None
        for row in acts:
            if row[3] == "NAVIGATE":
                current = row[4]["pageTo"]
            elif row[3] == "CLICK":
                where = row[4].get("page", current)
                if where is not None:
                    on_page[where] += 1
                    points[where][(row[4]["locationX"], row[4]["locationY"])] += 1
    return on_page, points[page]


def test_click_map_places_clicks_on_the_page_of_the_latest_navigation_or_their_own(api):
    on_page, _ = clicks_of(matching(), None)
    top = sorted(on_page.items(), key=lambda i: (-i[1], i[0]))[0][0]
    got = get(api, "/logs/clicks")
    assert got["page"] == top
    assert got["pages"] == [{"page": p, "clicks": n} for p, n in sorted(on_page.items(), key=lambda i: (-i[1], i[0]))]
    for page in ("cart", "popup"):
        _, points = clicks_of(matching(), page)
        got = get(api, "/logs/clicks", page=page)
        assert {(p["x"], p["y"]): p["count"] for p in got["points"]} == dict(points) and points
    # The click at 18:20 follows the NAVIGATE to cart at 18:10 in session m1.
    assert get(api, "/logs/clicks", page="cart", userId="mid")["points"] == [{"x": 5, "y": 5, "count": 1}]


# ---- bad parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("path, query, parameter", [
    ("/logs/overview", {"tz": "Mars/Olympus"}, "tz"),
    ("/logs/overview", {"compare": "previous"}, "compare"),
    ("/logs/overview", {"compare": "last-year", "from": "2020-03-01T00:00:00Z", "to": "2020-03-02T00:00:00Z"},
     "compare"),
    ("/logs/overview", {"type": "CLICK"}, "type"),
    ("/logs/overview", {"from": "yesterday"}, "from"),
    ("/logs/top", {}, "field"),
    ("/logs/top", {"field": "a.b"}, "field"),
    ("/logs/top", {"field": "viewedId", "limit": "1001"}, "limit"),
    ("/logs/paths", {"limit": "0"}, "limit"),
    ("/logs/funnel", {"step": "CLICK"}, "step"),
    ("/logs/funnel", {"step": ["CLICK", "JUMP"]}, "step"),
    ("/logs/funnel", {"step": ["CLICK"] * 11}, "step"),
    ("/logs/funnel", {"step": ["CLICK", "VIEW"], "within": "-5"}, "within"),
    ("/logs/funnel", {"step": ["CLICK", "VIEW"], "per": "day"}, "per"),
    ("/logs/clicks", {"page": ["a", "b"]}, "page"),
])
def test_bad_parameters_are_400_naming_the_parameter(api, path, query, parameter):
    problem = get(api, path, status=400, **query)
    assert problem["parameter"] == parameter and problem["status"] == 400


# ---- what each reads --------------------------------------------------------------------------

def test_overview_reads_the_hours_and_only_cut_hours_from_the_buckets(api, module_db):
    from logstore import filters
    from logstore.store import insights
    from logstore.store.hour_counts import HOURS
    from logstore.store.rollups import ROLLUPS
    from werkzeug.datastructures import MultiDict

    # Of one user, the per-session hours; of everyone, the rollups' sessions documents.
    one = filters.parse_filter(MultiDict({"userId": "u1", "from": "2020-03-02T03:17:41Z"}))
    with SENT.reads() as trace:
        insights.overview(module_db, one, "+05:30")
    assert trace[0][0] == HOURS
    log_filter = filters.parse_filter(MultiDict({"from": "2020-03-02T03:17:41Z", "to": "2020-03-04T20:00:00Z"}))
    with SENT.reads() as trace:
        insights.overview(module_db, log_filter, "+05:30")
    assert trace[0][0] == ROLLUPS and "$unwind" not in json.dumps(trace[0][1], default=str)
    # The rollups of the hours of from and to are read too: a session whose actions of such an hour
    # lie all inside (or all outside) the range is counted from them.
    assert trace[0][1][0]["$match"]["w"] == {"$gte": datetime(2020, 3, 2, 3), "$lt": datetime(2020, 3, 4, 21)}
    assert [name for name, _ in trace[1:]] == ["sessions"]
    # From the buckets only the sessions the bound cuts in the hours of from and to, and those with
    # actions on both sides of a midnight of +05:30 (18:00Z–19:00Z; m1's 18:20Z and 18:50Z, for
    # one), all in one read that names each (userId, sessionId, w).
    edges = {datetime(2020, 3, 2, 3), datetime(2020, 3, 4, 20)}
    midnights = {datetime(2020, 3, d, 18) for d in (2, 3, 4)}
    [stages] = [stages for _, stages in trace[1:]]
    triples = stages[1]["$match"]["$or"]
    assert {t["w"] for t in triples} <= midnights | edges and {"w": datetime(2020, 3, 2, 18)}.items() <= {
        k: v for t in triples if t["sessionId"] == "m1" for k, v in t.items()}.items()
    assert set(stages[0]["$match"]["sessionId"]["$in"]) == {t["sessionId"] for t in triples}
    rows = [r for r in sent_actions() if r[2].replace(tzinfo=None) >= datetime(2020, 3, 2, 3)]
    by_session_hour = {}
    for user, session, instant, _, _ in rows:
        hour = instant.replace(tzinfo=None, minute=0, second=0, microsecond=0)
        if hour in edges:
            by_session_hour.setdefault((user, session, hour), []).append(instant.replace(tzinfo=None))
    bound = {datetime(2020, 3, 2, 3): datetime(2020, 3, 2, 3, 17, 41), datetime(2020, 3, 4, 20): datetime(2020, 3, 4, 20)}
    cut_by_bound = {key for key, times in by_session_hour.items() if min(times) <= bound[key[2]] <= max(times)}
    assert {(t["userId"], t["sessionId"], t["w"]) for t in triples if t["w"] in edges} == cut_by_bound
    # With a types filter an hour's first/last are not those of its matching actions: buckets only.
    with SENT.reads() as trace:
        insights.overview(module_db, filters.parse_filter(MultiDict({"types": "CLICK"})), "UTC")
    assert [name for name, _ in trace] == ["sessions"] and trace[0][1][0] == {"$match": {"types": "CLICK"}}


def test_top_paths_and_funnel_start_with_an_index_backed_match_on_their_types(api, module_db):
    from logstore import filters
    from logstore.store import insights, hour_values
    from werkzeug.datastructures import MultiDict

    log_filter = filters.parse_filter(MultiDict({"from": "2020-03-02T00:00:00Z"}))
    with SENT.reads() as trace:
        insights.top_values(module_db, log_filter, "locationX", 10)
        insights.funnel(module_db, log_filter, [("NAVIGATE", None, None), ("NAVIGATE", "pageTo", ("cart",))])
    firsts = [stages[0]["$match"] for _, stages in trace]
    assert [m["types"] for m in firsts] == ["CLICK", "NAVIGATE"]
    assert all(m["first"] == {"$gte": datetime(2020, 3, 2)} for m in firsts)
    # viewedId, pageTo, pageFrom and the paths: the session-hours' values of the whole hours, and
    # (``from`` on an hour, no ``to``, nothing overflowed) no bucket at all.
    with SENT.reads() as trace:
        insights.top_values(module_db, log_filter, "viewedId", 10)
        insights.paths(module_db, log_filter, 10)
    assert [name for name, _ in trace] == [hour_values.VALUES, hour_values.VALUES]
    assert all(stages[0] == {"$match": {"w": {"$gte": datetime(2020, 3, 2)}}} for _, stages in trace)


# ---- bounded reads ----------------------------------------------------------------------------

INSIGHTS = ["/logs/overview?tz=%2B05:30&types=CLICK,NAVIGATE", "/logs/top?field=pageTo", "/logs/paths",
            "/logs/funnel?step=CLICK&step=NAVIGATE&per=user", "/logs/clicks"]


@pytest.mark.parametrize("path", INSIGHTS)
def test_an_insight_past_its_time_limit_is_a_503_query_timeout(big, path):  # noqa: F811
    started = datetime.now()
    response = app_for(big, query_timeout_ms=2).get(path)
    assert response.status_code == 503 and response.get_json()["code"] == "QUERY_TIMEOUT", response.get_data()[:300]
    assert (datetime.now() - started).total_seconds() < 1.0
    assert app_for(big).get(path).status_code == 200


def test_insights_across_users_take_a_heavy_slot_and_one_user_s_do_not(big):  # noqa: F811
    app = create_app(Settings(heavy_reads=1), database=big)
    client = app.test_client()
    slots = app.extensions["logstore.readgate"]
    slots.enter()
    try:
        for path in INSIGHTS:
            response = client.get(path)
            assert response.status_code == 503 and response.get_json()["code"] == "READS_BUSY", path
            assert client.get(path + ("&" if "?" in path else "?") + "userId=u3").status_code == 200, path
    finally:
        slots.leave()
