"""The time grid: ``by_window``'s shortcut places every action where ``window_of`` does."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from logstore.windows import by_window, window_of

ZONES = [timezone.utc, timezone(timedelta(hours=-6)), timezone(timedelta(hours=5, minutes=30)),
         timezone(timedelta(hours=14)), ZoneInfo("America/New_York")]
# Around a window's edges, a daylight-saving change, and the ends of what a datetime can hold.
EDGES = [datetime(2026, 1, 1), datetime(2026, 11, 1, 6), datetime(1, 1, 1, 0, 0), datetime(9999, 12, 31, 23)]
instants = st.builds(
    lambda base, seconds, zone: _placed(base, seconds, zone),
    st.sampled_from(EDGES), st.floats(min_value=-7300, max_value=7300, allow_nan=False).map(lambda s: round(s, 6)),
    st.one_of(st.none(), st.sampled_from(ZONES)))


def _placed(base, seconds, zone):
    """``base`` plus ``seconds`` (held at ``base`` past a datetime's range) as a naive UTC datetime,
    or as the same instant in ``zone``."""
    try:
        naive_utc = base + timedelta(seconds=seconds)
    except OverflowError:
        naive_utc = base
    try:
        return naive_utc if zone is None else naive_utc.replace(tzinfo=timezone.utc).astimezone(zone)
    except OverflowError:
        return naive_utc


def _reference(actions):
    groups = {}
    for action in actions:
        groups.setdefault(window_of(action["t"]), []).append(action)
    return groups


@given(st.lists(instants, max_size=40))
def test_by_window_groups_as_window_of_does(times):
    actions = [{"t": t, "n": n} for n, t in enumerate(times)]
    assert by_window(actions) == _reference(actions)


def test_a_zone_with_daylight_saving_is_placed_by_the_instant_not_the_wall_clock():
    # 01:30 comes twice in New York on 2026-11-01: 05:30 UTC, then 06:30 UTC.
    new_york = ZoneInfo("America/New_York")
    actions = [{"t": datetime(2026, 11, 1, hour, 30, tzinfo=timezone.utc).astimezone(new_york)} for hour in (6, 5)]
    assert list(by_window(actions)) == [datetime(2026, 11, 1, 6), datetime(2026, 11, 1, 5)]


def test_the_last_microsecond_of_a_window_stays_in_it_and_the_next_opens_another():
    zone = timezone(timedelta(hours=-6))
    last = datetime(2026, 1, 1, 0, 59, 59, 999999, tzinfo=timezone.utc).astimezone(zone)
    actions = [{"t": last - timedelta(minutes=5)}, {"t": last}, {"t": last + timedelta(microseconds=1)},
               {"t": datetime(2026, 1, 1, 0, 30)}]
    assert {w: len(group) for w, group in by_window(actions).items()} == {
        datetime(2026, 1, 1, 0): 3, datetime(2026, 1, 1, 1): 1}
