from datetime import datetime, timezone

import pytest

from logstore.times import (TimeFormatError, format_time, offset_minutes, parse_time, parse_times, sub_millis,
                            to_naive_utc)


@pytest.mark.parametrize("text, utc, offset", [
    ("2018-10-18T21:37:28-06:00", datetime(2018, 10, 19, 3, 37, 28), -360),
    ("2018-10-18T21:37:28Z", datetime(2018, 10, 18, 21, 37, 28), 0),
    ("2018-10-18t21:37:28z", datetime(2018, 10, 18, 21, 37, 28), 0),
    ("2018-10-18T21:37:28.5+05:30", datetime(2018, 10, 18, 16, 7, 28, 500000), 330),
    ("2018-10-18T21:37:28.123456789+14:00", datetime(2018, 10, 18, 7, 37, 28, 123457), 840),
    ("2018-10-18T21:37:28-12:00", datetime(2018, 10, 19, 9, 37, 28), -720),
])
def test_parse_time_gives_the_instant_and_its_offset(text, utc, offset):
    instant = parse_time(text)
    assert to_naive_utc(instant) == utc
    assert offset_minutes(instant) == offset


@pytest.mark.parametrize("text", [
    "2018-10-18T21:37:28",          # no offset: names no instant
    "2018-10-18T21:37-06:00",       # no seconds
    "2018-10-18",
    "20181018T213728Z",             # basic format is not RFC 3339
    "2018-10-18T21:37:28+05",       # offset without minutes
    "2018-10-18T21:37:28-0600",     # offset without its colon: ISO 8601's basic form, not RFC 3339
    "2018-10-18T21:37:28.5+0530",
    "2018-10-18T21:37:28+0000",
    "2018-10-18T21:37:28,5Z",
    "2018-10-18T21:37:28.Z",
    "2018-13-18T21:37:28Z",
    "2018-10-18T25:37:28Z",
    "yesterday",
    "",
])
def test_parse_time_refuses_what_is_not_rfc3339_with_offset(text):
    with pytest.raises(TimeFormatError):
        parse_time(text)


@pytest.mark.parametrize("value", [None, 1539920248, ["2018-10-18T21:37:28Z"], {"$gt": ""}])
def test_parse_time_refuses_non_strings(value):
    with pytest.raises(TimeFormatError):
        parse_time(value)


def test_offset_without_colon_is_explained():
    with pytest.raises(TimeFormatError, match="colon"):
        parse_time("2018-10-18T21:37:28-0600")


def test_missing_offset_is_explained():
    with pytest.raises(TimeFormatError, match="offset"):
        parse_time("2018-10-18T21:37:28")


@pytest.mark.parametrize("text", [
    "2018-10-18T21:37:28-06:00", "2018-10-18T21:37:28Z", "2018-10-18T21:37:28.123+05:30",
    "2018-10-18T21:37:28.123456-00:30", "1999-12-31T23:59:59.999Z",
])
def test_format_time_writes_back_what_was_sent(text):
    instant = parse_time(text)
    stored = to_naive_utc(instant).replace(microsecond=instant.microsecond // 1000 * 1000)
    assert format_time(stored, offset_minutes(instant), sub_millis(instant)) == text


def test_format_time_writes_offset_zero_as_z():
    assert format_time(datetime(2018, 10, 18, 21, 37, 28), 0) == "2018-10-18T21:37:28Z"
    assert parse_time("2018-10-18T21:37:28+00:00").tzinfo.utcoffset(None).total_seconds() == 0


def test_aware_instants_compare_across_offsets():
    assert parse_time("2018-10-18T21:37:28-06:00") == datetime(2018, 10, 19, 3, 37, 28, tzinfo=timezone.utc)


def test_parse_times_gives_what_parse_time_gives():
    texts = ["2018-10-18T21:37:28-06:00", "2018-10-18T21:37:28.5Z", "2018-10-18t21:37:28.123456+05:30"]
    assert parse_times(texts) == [parse_time(text) for text in texts]


@pytest.mark.parametrize("bad", ["2018-10-18T21:37:28-0600", "2018-10-18T21:37:28", "", "yesterday"])
def test_parse_times_refuses_a_list_holding_one_bad_time(bad):
    with pytest.raises(TimeFormatError):
        parse_times(["2018-10-18T21:37:28Z", bad])
