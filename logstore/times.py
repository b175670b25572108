"""RFC 3339 date-times: strict parsing to an instant plus the offset it was written in, and back.

msgspec's RFC 3339 parser is the one definition of a valid time, for the fast ingest path and for
every other caller, so the two can never disagree. It accepts ``T``/``t``/space between date and
time, ``Z``/``z`` or ``±HH:MM``, and any number of fraction digits, rounded to the microsecond. It
also accepts an offset without its colon (``-0600``, ISO 8601's basic form), which RFC 3339 does
not; ``parse_time`` and ``parse_times`` refuse it.

A stored time is a BSON datetime (UTC, milliseconds) plus ``o``, the offset in minutes as sent, and
``u``, the microseconds below the millisecond when there are any.
"""
from __future__ import annotations

import operator
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

UTC = timezone.utc
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
_AwareTimes = list[AwareTime]
_ZULU = ("Z", "z")
_LAST_THREE = operator.itemgetter(slice(-3, None))
_convert = msgspec.convert


class TimeFormatError(ValueError):
    """Raised for a value that is not an RFC 3339 date-time with an offset."""


def parse_time(text):
    """Parse an RFC 3339 date-time with an offset into an aware datetime.

    :raise TimeFormatError: for anything else, a time without an offset included.
    """
    if type(text) is not str:
        raise TimeFormatError("expected a string such as 2018-10-18T21:37:28-06:00")
    try:
        instant = _convert(text, AwareTime)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if "timezone" in message:
            raise TimeFormatError("the time has no offset (add Z or ±HH:MM): it names no instant") from None
        raise TimeFormatError(
            "expected an RFC 3339 date-time with seconds and an offset, such as 2018-10-18T21:37:28-06:00"
        ) from None
    if _colonless(text):
        raise TimeFormatError(NO_COLON)
    if not in_range(instant):
        raise TimeFormatError(OUT_OF_RANGE)
    return instant


OUT_OF_RANGE = "the time lies outside the years 1 to 9999 in UTC (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z)"
# The offsets beyond which an instant of year 1 or 9999 may fall outside those years in UTC.
_EDGE_YEARS = (1, 9999)


def in_range(instant):
    """True when an aware datetime's UTC instant lies in the years 1 to 9999 (what BSON dates and
    Python datetimes both hold); only times written in years 1 and 9999 need the conversion."""
    if instant.year not in _EDGE_YEARS:
        return True
    try:
        instant.astimezone(UTC)
    except OverflowError:
        return False
    return True


NO_COLON = "write the offset with its colon, as ±HH:MM (RFC 3339), e.g. -06:00 for -0600"


def _colonless(text):
    """For a text msgspec parsed: True when its offset is ±HHMM (the only other forms are Z and ±HH:MM)."""
    return text[-3:-2] != ":" and text[-1:] not in _ZULU


def parse_times(texts):
    """Parse a list of strings as ``parse_time`` would, in one call (the fast ingest path's).

    :raise TimeFormatError: when any of them is not valid; without saying which.
    """
    try:
        instants = _convert(texts, _AwareTimes)
    except msgspec.ValidationError:
        raise TimeFormatError("a time is not an RFC 3339 date-time with an offset") from None
    # The distinct last three characters are few (":00", ":30", "28Z" …): one C-level pass, then a short loop.
    if any(_colonless(ending) for ending in set(map(_LAST_THREE, texts))):
        raise TimeFormatError(NO_COLON)
    return instants


def offset_minutes(instant):
    """The UTC offset of an aware datetime, in whole minutes."""
    return int(instant.utcoffset().total_seconds()) // 60


def to_naive_utc(instant):
    """Aware datetime → naive UTC, the form pymongo hands back and queries compare."""
    if instant.tzinfo is None:
        return instant
    return instant.astimezone(UTC).replace(tzinfo=None)


def sub_millis(instant):
    """Microseconds below the millisecond: what a BSON datetime cannot hold."""
    return instant.microsecond % 1000


def format_time(stored, offset, micros=0):
    """Write a stored time back in the offset it was sent in (offset zero as ``Z``).

    :param stored: the stored datetime, naive UTC as pymongo returns it (milliseconds).
    :param offset: the offset it was sent in, in minutes.
    :param micros: the microseconds below the millisecond, when the time had any.
    """
    # Hot in exports (once per action): isoformat and cached offsets, no strftime.
    shift = _SHIFTS.get(offset)
    if shift is None:
        shift = _SHIFTS[offset] = (timedelta(minutes=offset), _offset_text(offset))
    local = stored + shift[0]
    if micros:
        local += timedelta(microseconds=micros)
    micro = local.microsecond
    if not micro:
        return local.isoformat(timespec="seconds") + shift[1]
    if micro % 1000 == 0:
        return local.isoformat(timespec="milliseconds") + shift[1]
    return local.isoformat(timespec="microseconds") + shift[1]


_SHIFTS = {}


def _offset_text(offset):
    if offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"

_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})?")
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")


def parse_tz(text):
    """A time zone for day boundaries, in the form MongoDB's date operators take.

    Accepts an IANA name (``America/Denver``, ``UTC``) or an offset ``±HH:MM`` (also ``±HHMM``,
    ``±HH``, ``Z``); returns the name, or the offset as ``±HH:MM``. Also returns a tzinfo for
    Python callers (tests, the dashboard's expectations).

    :raise TimeFormatError: for anything else.
    """
    if text in ("Z", "z"):
        return "+00:00", timezone.utc
    match = _OFFSET.fullmatch(text)
    if match:
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise TimeFormatError(f"offset {text!r} is out of range")
        delta = timedelta(hours=hours, minutes=minutes) * (-1 if sign == "-" else 1)
        return f"{sign}{hours:02d}:{minutes:02d}", timezone(delta)
    if len(text) <= MAX_ZONE_NAME and _ZONE_NAME.fullmatch(text):
        try:
            return text, ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    shown = text if len(text) <= MAX_ZONE_NAME else text[:MAX_ZONE_NAME] + "…"
    raise TimeFormatError(f"unknown time zone {shown!r}: give an IANA name such as America/Denver "
                          "or an offset such as +05:30")


# The longest IANA zone name is 32 characters (America/Argentina/ComodRivadavia); a longer text is
# no zone, and is not handed to the file system.
MAX_ZONE_NAME = 64
# The first and last instant of the years 1 to 9999 (naive UTC, milliseconds: what BSON holds).
FIRST_INSTANT = datetime(1, 1, 1)
LAST_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999000)


def day_limits(tz):
    """The first and last instant (naive UTC) whose day in ``tz`` lies in the years 1 to 9999, or
    None where every stored instant's does: the days an action is counted in are clamped to them,
    since neither Python nor MongoDB's ``$dateToString`` (years 0–9999) writes 10000-01-01."""
    zone = parse_tz(tz)[1]
    first = FIRST_INSTANT.replace(tzinfo=UTC)
    last = LAST_INSTANT.replace(tzinfo=UTC)
    low = high = None
    west = zone.utcoffset(first.replace(tzinfo=None))
    if west < timedelta(0):
        low = FIRST_INSTANT - west
    east = zone.utcoffset(last.replace(tzinfo=None))
    if east > timedelta(0):
        high = LAST_INSTANT - east
    return low, high

