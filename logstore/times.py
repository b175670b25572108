"""RFC 3339 date-times: strict parsing to an instant plus the offset it was written in, and back.

msgspec's RFC 3339 parser is the one definition of a valid time, for the fast ingest path and for
every other caller, so the two can never disagree. It accepts ``T``/``t``/space between date and
time, ``Z``/``z`` or ``±HH:MM``, and any number of fraction digits, rounded to the microsecond.

A stored time is a BSON datetime (UTC, milliseconds) plus ``o``, the offset in minutes as sent, and
``u``, the microseconds below the millisecond when there are any.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

import msgspec

UTC = timezone.utc
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
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
        return _convert(text, AwareTime)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if "timezone" in message:
            raise TimeFormatError("the time has no offset (add Z or ±HH:MM): it names no instant") from None
        raise TimeFormatError(
            "expected an RFC 3339 date-time with seconds and an offset, such as 2018-10-18T21:37:28-06:00"
        ) from None


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
    local = stored + timedelta(minutes=offset, microseconds=micros)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    micro = local.microsecond
    if micro:
        text += f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    if offset == 0:
        return text + "Z"
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"
