"""The one parser of query strings: GET /logs, export, stats and DELETE all read filters here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .action_types import ACTION_TYPES
from .times import TimeFormatError, parse_time, parse_tz, sub_millis, to_naive_utc

FILTER_PARAMS = ("userId", "sessionId", "types", "from", "to")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000


class InvalidParameter(ValueError):
    """A query parameter is unknown or has a bad value; ``name`` says which."""

    def __init__(self, name, detail, code="INVALID_PARAMETER"):
        super().__init__(detail)
        self.name = name
        self.detail = detail
        self.code = code


@dataclass(frozen=True)
class Bound:
    """A time bound: the millisecond instant (naive UTC) and the microseconds below it."""

    instant: object
    micros: int = 0


@dataclass(frozen=True)
class LogFilter:
    """Which actions a request is about. Every field is optional; empty means no constraint."""

    user_id: Optional[str] = None
    session_id: Optional[str] = None
    types: Optional[tuple] = None
    start: Optional[Bound] = None
    end: Optional[Bound] = None

    @property
    def is_empty(self):
        return not (self.user_id or self.session_id or self.types or self.start or self.end)

    def fingerprint(self):
        """A short stable text of the filter, so that a cursor can only continue its own query."""
        def bound(b):
            return None if b is None else f"{b.instant.isoformat()}+{b.micros}"
        return repr((self.user_id, self.session_id, self.types, bound(self.start), bound(self.end)))


def parse_filter(args, allowed=FILTER_PARAMS):
    """Read a LogFilter from a multi-dict of query arguments (werkzeug's or any ``getlist`` mapping).

    :param allowed: every parameter the endpoint accepts; anything else is an error, so that a typo
        such as ``type=CLICK`` is reported instead of silently matching every type.
    :raise InvalidParameter: naming the first offending parameter.
    """
    for name in args.keys():
        if name not in allowed:
            raise InvalidParameter(name, f"unknown query parameter '{name}'; allowed: {', '.join(allowed)}",
                                   code="UNKNOWN_PARAMETER")
    start = _bound(args, "from")
    end = _bound(args, "to")
    if start and end and (start.instant, start.micros) > (end.instant, end.micros):
        raise InvalidParameter("from", "from is after to")
    return LogFilter(
        user_id=_single_string(args, "userId"),
        session_id=_single_string(args, "sessionId"),
        types=_types(args),
        start=start,
        end=end,
    )


def single_value(args, name):
    """The one value of a parameter, or None; a repeated or empty parameter is an error."""
    values = args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidParameter(name, f"{name} may be given once")
    if values[0] == "":
        raise InvalidParameter(name, f"{name} is empty")
    return values[0]


def parse_limit(args):
    text = single_value(args, "limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidParameter("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def parse_choice(args, name, choices, default):
    value = single_value(args, name)
    if value is None:
        return default
    if value not in choices:
        raise InvalidParameter(name, f"{name} must be one of {', '.join(choices)}")
    return value


def _single_string(args, name):
    value = single_value(args, name)
    if value is not None and len(value) > 256:
        raise InvalidParameter(name, f"{name} has at most 256 characters")
    return value


def _types(args):
    values = args.getlist("types")
    if not values:
        return None
    chosen = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name not in ACTION_TYPES:
                raise InvalidParameter("types", f"unknown type '{name}'; types are {', '.join(ACTION_TYPES)}")
            if name not in chosen:
                chosen.append(name)
    return tuple(sorted(chosen, key=ACTION_TYPES.index))


def _bound(args, name):
    text = single_value(args, name)
    if text is None:
        return None
    if len(text) > 6 and text[-6] == " ":
        # An unencoded '+' in a query string arrives as a space: "…28 05:00" meant "…28+05:00".
        text = f"{text[:-6]}+{text[-5:]}"
    try:
        instant = parse_time(text)
    except TimeFormatError as exc:
        raise InvalidParameter(name, f"{name}: {exc}") from None
    micros = sub_millis(instant)
    try:
        naive = to_naive_utc(instant)
    except OverflowError:
        raise InvalidParameter(name, f"{name} lies outside the years 1 to 9999 in UTC") from None
    return Bound(naive.replace(microsecond=naive.microsecond - micros), micros)


def parse_group_by(args, keys):
    """The ``groupBy`` keys in the order given (a comma list, or the parameter repeated); () if absent."""
    chosen = []
    for value in args.getlist("groupBy"):
        for name in value.split(","):
            name = name.strip()
            if name not in keys:
                raise InvalidParameter("groupBy", f"unknown groupBy key '{name}'; keys are {', '.join(keys)}")
            if name in chosen:
                raise InvalidParameter("groupBy", f"groupBy names '{name}' twice")
            chosen.append(name)
    return tuple(chosen)


def parse_zone(args, default="UTC"):
    """The ``tz`` parameter in the form MongoDB's date operators take (see ``times.parse_tz``)."""
    text = single_value(args, "tz")
    if text is None:
        return default
    if text[0] == " ":
        text = "+" + text[1:]  # an unencoded '+' arrives as a space
    try:
        return parse_tz(text)[0]
    except TimeFormatError as exc:
        raise InvalidParameter("tz", str(exc)) from None
