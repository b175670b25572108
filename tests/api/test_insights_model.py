"""Insights against a Python model, on data hypothesis makes up, over the wire: each example POSTs
its sessions into a stretch of days of its own, and asks about that stretch only."""
import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logstore import create_app
from logstore.config import Settings
from logstore.times import parse_time
from tests.api.test_insights import IST, close, funnel_of, get, overview_of, paths_of, top_of
from tests.builders import action, session_log

PAGES = ("p1", "p2", "p3")
OFFSETS = (timezone(timedelta(hours=-6)), timezone.utc, IST)
STRETCH = timedelta(days=4)
_stretches = itertools.count()

kinds = st.sampled_from(("CLICK", "VIEW", "NAVIGATE"))
steps_in_session = st.lists(st.tuples(kinds, st.integers(1, 4 * 3600), st.sampled_from(PAGES),
                                      st.sampled_from(("i1", "i2")), st.integers(0, 2)), min_size=1, max_size=8)
sessions = st.lists(st.tuples(st.sampled_from(("a", "b", "c")), st.integers(0, 36 * 3600), steps_in_session),
                    min_size=1, max_size=6)


@pytest.fixture(scope="module")
def api(module_db):
    app = create_app(Settings(), database=module_db)
    app.config["TESTING"] = True
    return app.test_client()


def build(start, generated):
    """The POST body of ``generated`` in the stretch beginning at ``start``, and its rows for the model."""
    body, rows = [], []
    for number, (user, begin, acts) in enumerate(generated):
        instant, page, sent = start + timedelta(seconds=begin), "p1", []
        for kind, gap, target, item, offset in acts:
            instant += timedelta(seconds=gap)     # strictly increasing within a session
            text = instant.astimezone(OFFSETS[offset]).isoformat()
            if kind == "NAVIGATE":
                sent.append(action(text, kind, pageFrom=page, pageTo=target))
                page = target
            elif kind == "VIEW":
                sent.append(action(text, kind, viewedId=item))
            else:
                sent.append(action(text, kind, locationX=offset, locationY=1))
            rows.append((user, f"s{number}", parse_time(text).astimezone(timezone.utc), kind, sent[-1]["properties"]))
        body.append(session_log(user=user, session=f"s{number}", actions=sent))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return body, rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(generated=sessions, within=st.sampled_from([None, 600, 7200]))
def test_every_insight_matches_the_model(api, generated, within):
    start = datetime(2031, 1, 1, tzinfo=timezone.utc) + STRETCH * next(_stretches)
    body, rows = build(start, generated)
    response = api.post("/logs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.get_json()
    # From 18:00 local on the first day (a cut hour at +05:30 is 12:30Z): some actions lie before it.
    frm = (start + timedelta(hours=12, minutes=30)).astimezone(IST)
    to = start + STRETCH - timedelta(microseconds=1)
    window = {"from": frm.isoformat(), "to": to.isoformat()}
    inside = [r for r in rows if frm <= r[2] <= to]

    got = get(api, "/logs/overview", tz="+05:30", **window)
    close(got, overview_of(inside, IST, frm.date().isoformat(), to.astimezone(IST).date().isoformat()))
    for field in ("viewedId", "pageTo"):
        assert get(api, "/logs/top", field=field, **window) == top_of(inside, field, 10)
    assert get(api, "/logs/paths", **window) == paths_of(inside)
    steps = ["NAVIGATE:pageTo=p2", "CLICK", "VIEW:viewedId=i1"]
    for per in ("session", "user"):
        query = {"per": per, **({"within": str(within)} if within else {})}
        assert get(api, "/logs/funnel", step=steps, **query, **window) == funnel_of(inside, steps, per, within)
