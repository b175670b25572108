"""Pure parts of export, stats and delete: pipeline shapes, parameter parsing, CSV cells."""
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug.datastructures import MultiDict

from logstore import exports, filters, pipelines
from logstore.filters import Bound, InvalidParameter, LogFilter
from logstore.times import TimeFormatError, parse_tz

RANGE = LogFilter(types=("CLICK",), start=Bound(datetime(2020, 1, 1)), end=Bound(datetime(2020, 1, 2)))


def test_a_window_read_starts_with_an_index_range_on_first_and_ends_with_a_sorted_limit():
    lo, hi = datetime(2020, 1, 1, 3), datetime(2020, 1, 1, 4)
    stages = pipelines.window_pipeline(RANGE, lo, hi, limit=7)
    assert stages[0]["$match"] == {"types": "CLICK", "first": {"$gte": lo, "$lt": hi}}
    # The server sorts and keeps only what the page still needs (a top-k sort): a window read
    # returns at most ``limit`` rows, whatever the window holds (store.reads).
    assert stages[-2] == pipelines.SORT_STAGE
    assert stages[-1] == {"$limit": 7}
    unwind = stages.index({"$unwind": "$actions"})
    # Cut before it is unwound: the kept indexes are filtered (by type alone for a bucket wholly in
    # the window, by type and time otherwise), and only those become rows.
    whole, inside, cut = stages[unwind - 1]["$project"]["actions"]["$map"]["input"]["$cond"]
    assert all("$filter" in branch["$let"]["in"] for branch in (inside, cut))
    assert set(inside["$let"]["vars"]) == {"types"} and set(cut["$let"]["vars"]) == {"times", "types"}


def test_stats_pipeline_groups_on_the_keys_asked_and_sorts_in_their_order():
    stages = pipelines.stats_pipeline(RANGE, ("day", "type"), "America/Denver")
    group, sort = stages[-2]["$group"], stages[-1]["$sort"]
    assert list(group["_id"]) == ["day", "type"]
    assert group["_id"]["day"]["$dateToString"]["timezone"] == "America/Denver"
    assert list(sort) == ["_id.day", "_id.type"]
    assert pipelines.stats_pipeline(RANGE, (), "UTC")[-1] == {
        "$group": {"_id": None, "count": {"$sum": {"$ifNull": ["$actions.c", 1]}}}}


def test_whole_buckets_are_those_inside_the_range_and_within_one_day():
    assert pipelines.whole_bucket(LogFilter()) is True
    assert pipelines.whole_bucket(RANGE) == {"$and": [{"$gte": ["$first", datetime(2020, 1, 1)]},
                                                      {"$lt": ["$last", datetime(2020, 1, 2)]}]}
    micro = LogFilter(start=Bound(datetime(2020, 1, 1), 5))
    assert pipelines.whole_bucket(micro) == {"$gt": ["$first", datetime(2020, 1, 1)]}
    day = pipelines.whole_bucket(LogFilter(), by_day=True, tz="+05:30")
    assert day["$eq"][0]["$dateToString"]["timezone"] == "+05:30"


def test_delete_targets_start_with_the_given_buckets_by_shard_key_and_keep_their_ids():
    buckets = [{"_id": "a", "userId": "u", "sessionId": "s1"}, {"_id": "b", "userId": "u", "sessionId": "s2"}]
    stages = pipelines.delete_targets_pipeline(RANGE, buckets)
    assert stages[0] == {"$match": {"userId": "u", "sessionId": {"$in": ["s1", "s2"]}, "_id": {"$in": ["a", "b"]}}}
    assert any(stage.get("$project", {}).get("_id") == 1 for stage in stages)


@pytest.mark.parametrize("text, name, offset", [
    ("UTC", "UTC", timedelta(0)), ("+05:30", "+05:30", timedelta(hours=5, minutes=30)),
    ("-0600", "-06:00", timedelta(hours=-6)), ("+05", "+05:00", timedelta(hours=5)), ("Z", "+00:00", timedelta(0)),
])
def test_parse_tz_accepts_names_and_offsets(text, name, offset):
    got, zone = parse_tz(text)
    assert got == name and datetime(2020, 1, 1, tzinfo=zone).utcoffset() == offset


@pytest.mark.parametrize("text", ["Mars/Olympus", "../etc/passwd", "+25:00", "", "5:30", "utc/"])
def test_parse_tz_refuses_anything_else(text):
    with pytest.raises(TimeFormatError):
        parse_tz(text)


def test_group_by_and_zone_parameters():
    args = MultiDict([("groupBy", "day, type"), ("groupBy", "user"), ("tz", " 05:30")])
    assert filters.parse_group_by(args, tuple(pipelines.GROUP_KEYS)) == ("day", "type", "user")
    assert filters.parse_zone(args) == "+05:30"
    assert filters.parse_group_by(MultiDict(), ("day",)) == ()
    assert filters.parse_zone(MultiDict()) == "UTC"
    with pytest.raises(InvalidParameter) as info:
        filters.parse_group_by(MultiDict([("groupBy", "day,hour")]), tuple(pipelines.GROUP_KEYS))
    assert info.value.name == "groupBy"


def test_csv_row_puts_known_properties_in_columns_and_the_rest_as_json():
    row = {"userId": "u", "sessionId": "s", "actions": {
        "t": datetime(2020, 1, 1, 3), "o": -360, "type": "CLICK",
        "p": {"locationX": 1.5, "locationY": -2, "flag": True, "pageTo": {"x": 1}}}}
    assert exports.csv_row(row) == ["u", "s", "2019-12-31T21:00:00-06:00", "CLICK", "1.5", "-2", "", "",
                                    '{"x":1}', '{"flag":true}']
