"""The insights' own query parameters (the filters are ``filters.parse_filter``'s): no Flask, no
database. Each raises ``filters.InvalidParameter`` naming the parameter, like the filters do."""
from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import timedelta

from .action_types import ACTION_TYPES
from .filters import Bound, InvalidParameter, single_value

TOP_LIMIT, TOP_MAX = 10, 1000
PATHS_LIMIT, PATHS_MAX = 50, 1000
MIN_STEPS, MAX_STEPS = 2, 10
# A property key as POST accepts it: no leading $, no dot, no NUL.
_KEY = re.compile(r"[^$.\x00][^.\x00]{0,255}")
_STEP = re.compile(r"(?P<type>[A-Z]+)(?::(?P<key>[^=]+)=(?P<value>.*))?", re.S)
ONE_US = timedelta(microseconds=1)


def parse_count(args, name, default, most):
    """A whole number from 1 to ``most`` (``limit``), or ``default``."""
    text = single_value(args, name)
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise InvalidParameter(name, f"{name} must be a whole number from 1 to {most}")
    return int(text)


def parse_field(args, name="field", required=True):
    """A property key (``viewedId``, ``pageTo``, any key an action may carry)."""
    value = single_value(args, name)
    if value is None:
        if required:
            raise InvalidParameter(name, f"{name} is required: a property key such as viewedId or pageTo")
        return None
    if not _KEY.fullmatch(value):
        raise InvalidParameter(name, f"{name} must be a property key of 1 to 256 characters, without '.', "
                               "NUL or a leading '$'")
    return value


def parse_steps(args):
    """The funnel's ``step`` parameters in order: ``(type, key or None, values or None)`` each,
    from ``TYPE`` or ``TYPE:key=value``. ``values`` holds the text and, when it reads as a finite
    number, that number too (a step on ``locationX=10`` matches the number 10)."""
    texts = args.getlist("step")
    if not MIN_STEPS <= len(texts) <= MAX_STEPS:
        raise InvalidParameter("step", f"give {MIN_STEPS} to {MAX_STEPS} step parameters, in order "
                               f"(got {len(texts)})")
    steps = []
    for text in texts:
        match = _STEP.fullmatch(text)
        if not match or match.group("type") not in ACTION_TYPES:
            raise InvalidParameter("step", f"step {text!r} must be TYPE or TYPE:property=value, TYPE one of "
                                   f"{', '.join(ACTION_TYPES)}")
        key = match.group("key")
        if key is None:
            steps.append((match.group("type"), None, None))
            continue
        if not _KEY.fullmatch(key):
            raise InvalidParameter("step", f"step {text!r}: {key!r} is not a property key")
        steps.append((match.group("type"), key, _values(match.group("value"))))
    return steps


def _values(text):
    values = [text]
    try:
        number = float(text)
    except ValueError:
        return tuple(values)
    if math.isfinite(number):
        values.append(int(number) if number.is_integer() and "." not in text and "e" not in text.lower()
                      else number)
    return tuple(values)


def parse_within(args):
    """``within``: seconds (a positive number) after step 1 that a journey lasts; None: no end."""
    text = single_value(args, "within")
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidParameter("within", "within must be a positive number of seconds")
    return seconds


def previous_period(log_filter):
    """The filter of the period of the same length just before ``from``: ``[from - L, from)`` where
    ``L`` is ``to - from`` plus a microsecond (``to`` is inclusive), so that days of the dashboard
    (midnight to 23:59:59.999999) give the same number of days before."""
    if log_filter.start is None or log_filter.end is None:
        raise InvalidParameter("compare", "compare=previous needs both from and to")
    start, end = _instant(log_filter.start), _instant(log_filter.end)
    length = end - start + ONE_US
    try:
        return replace(log_filter, start=_bound(start - length), end=_bound(start - ONE_US))
    except OverflowError:
        raise InvalidParameter("compare", "the previous period lies before the year 1") from None


def _instant(bound):
    return bound.instant + timedelta(microseconds=bound.micros)


def _bound(instant):
    micros = instant.microsecond % 1000
    return Bound(instant - timedelta(microseconds=micros), micros)
