"""Validate a POSTed batch of session logs and convert it to stored actions, without Flask.

Two paths share one set of rules. The fast path decodes the body straight into typed structs with
msgspec (types, lengths, times, unknown fields, all in C) and then screens each action's properties;
a body that passes is converted in the same loop. Anything it refuses is handed to the full path,
which walks the plain JSON and reports every problem (up to ``MAX_PROBLEMS``) with its JSON Pointer.
Property tests check that both paths accept exactly the same bodies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Annotated, Any, Literal, Union

import msgspec

from . import action_types
from .action_types import ACTION_TYPES, REQUIRED_PROPERTIES
from .times import TimeFormatError, in_range, offset_minutes, parse_time, parse_times

MAX_PROBLEMS = 100
MAX_DEPTH = 32
SESSION_FIELDS = frozenset(("userId", "sessionId", "actions"))
ACTION_FIELDS = frozenset(("time", "type", "properties", "id"))
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


# Flat property values, as they nearly always are: msgspec checks their kinds and the int64 range
# in C while decoding. (A JSON float is always finite: msgspec refuses 1e999 as malformed.)
_Flat = Union[None, bool, Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)], float, str]


def _typed(values):
    """The fast path's structs for bodies whose property values are of type ``values``.

    Structs with ``gc=False``: a body's ten thousand actions are not tracked by the garbage
    collector (they hold JSON values only, which cannot form a cycle).
    """
    action = msgspec.defstruct("_Action", [
        ("time", str),    # parsed in bulk by times.parse_times, which also holds the offset's colon to RFC 3339
        ("type", Literal[ACTION_TYPES]),
        ("properties", dict[str, values]),
        ("id", Union[Name, msgspec.UnsetType], msgspec.UNSET),
    ], forbid_unknown_fields=True, gc=False)
    session = msgspec.defstruct("_Session", [
        ("userId", Name), ("sessionId", Name), ("actions", Annotated[list[action], msgspec.Meta(min_length=1)]),
    ], forbid_unknown_fields=True, gc=False)
    return action, msgspec.json.Decoder(Union[list[session], session])


_Action, _any_decoder = _typed(Any)
_, _flat_decoder = _typed(_Flat)
_plain_decoder = msgspec.json.Decoder()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the body: where (a JSON Pointer), a stable code, and why."""

    pointer: str
    code: str
    detail: str

    def to_dict(self):
        return {"pointer": self.pointer, "code": self.code, "detail": self.detail}


class InvalidJSON(ValueError):
    """The body is not JSON at all."""


class ValidationFailed(ValueError):
    """The body is JSON but breaks the rules; ``problems`` lists them, ``total`` counts them all."""

    def __init__(self, problems, total):
        super().__init__(f"{total} problems in the request body")
        self.problems = problems
        self.total = total


@dataclass
class SessionLog:
    """A valid session log, its actions converted to the stored form."""

    user_id: str
    session_id: str
    actions: list = field(default_factory=list)


@dataclass
class Rejected:
    """A session left out by ``partial`` ingest: its index in the body and its problems."""

    index: int
    problems: list

    def to_dict(self):
        return {"index": self.index, "errors": [p.to_dict() for p in self.problems]}


def parse_batch(body):
    """Validate and convert a whole body, all or nothing.

    :return: ``list[SessionLog]`` in body order.
    :raise InvalidJSON: the body does not parse.
    :raise ValidationFailed: any rule is broken; nothing is returned then.
    """
    sessions = _fast_parse(body)
    if sessions is not None:
        return sessions
    documents, single = _plain_parse(body)
    problems, total = [], 0
    for index, document in enumerate(documents):
        for problem in session_problems(document, "" if single else f"/{index}"):
            total += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(problem)
    if total:
        raise ValidationFailed(problems, total)
    return [_convert_document(document) for document in documents]


def parse_batch_partial(body):
    """Validate each session on its own: return ``(valid SessionLogs, [Rejected])``."""
    sessions = _fast_parse(body)
    if sessions is not None:
        return sessions, []
    documents, single = _plain_parse(body)
    valid, rejected = [], []
    for index, document in enumerate(documents):
        problems = list(session_problems(document, "" if single else f"/{index}"))
        if problems:
            rejected.append(Rejected(index, problems[:MAX_PROBLEMS]))
        else:
            valid.append(_convert_document(document))
    return valid, rejected


def count_actions(sessions):
    return sum(len(session.actions) for session in sessions)


# --- the fast path -------------------------------------------------------------------------------

# msgspec decodes nested arrays and objects recursively; thousands of levels exhaust the stack.
TOO_DEEP_TO_PARSE = "arrays and objects are nested too deeply to parse"


def _fast_parse(body):
    """Typed decode and convert; ``None`` when anything needs the full path to explain it."""
    decoded, screen = _typed_decode(body)
    if decoded is None:
        return None
    if type(decoded) is not list:
        decoded = [decoded]
    every = list(chain.from_iterable(map(_ACTIONS, decoded)))
    try:
        instants = parse_times(list(map(_TIME, every)))
    except TimeFormatError:
        return None
    # Aware datetimes compare as instants: the earliest and the latest are the ones that may lie
    # outside the years 1 to 9999 in UTC (two C-level passes; the full path names the time).
    if instants and not (in_range(min(instants)) and in_range(max(instants))):
        return None
    if not all(map(screen, map(_TYPE, every), map(_PROPERTIES, every))):
        return None
    stored = _stored_actions(every, instants)
    sessions, end = [], 0
    for session in decoded:
        start, end = end, end + len(session.actions)
        sessions.append(SessionLog(session.userId, session.sessionId, stored[start:end]))
    return sessions


def _typed_decode(body):
    """The body as structs, and the screen its properties still need: ``(None, None)`` if it does
    not fit them. Flat properties first; a body with nested values is decoded again."""
    for decoder, screen in ((_flat_decoder, _flat_properties_look_clean), (_any_decoder, _properties_look_clean)):
        try:
            return decoder.decode(body), screen
        except msgspec.ValidationError:
            continue
        except msgspec.DecodeError as exc:
            raise InvalidJSON(str(exc)) from None
        except UnicodeDecodeError as exc:
            raise InvalidJSON(f"the body is not UTF-8 (byte {exc.start})") from None
        except RecursionError:
            raise InvalidJSON(TOO_DEEP_TO_PARSE) from None
    return None, None


_ACTIONS, _TIME, _TYPE, _PROPERTIES = (attrgetter(name) for name in ("actions", "time", "type", "properties"))


def _stored_actions(actions, instants):
    """The stored form of each action: ``t`` instant, ``o`` offset, ``u`` sub-ms micros, ``p``."""
    offsets, stored = {}, []
    append = stored.append
    unset = msgspec.UNSET
    for action, instant in zip(actions, instants):
        tzinfo = instant.tzinfo
        offset = offsets.get(tzinfo)
        if offset is None:
            offset = offsets[tzinfo] = offset_minutes(instant)
        row = {"t": instant, "o": offset, "type": action.type, "p": action.properties}
        micros = instant.microsecond % 1000
        if micros:
            row["u"] = micros
        if action.id is not unset:
            row["id"] = action.id
        append(row)
    return stored


def _properties_look_clean(action_type, properties):
    """A quick screen of one action: True means surely valid; False means ask ``properties_problems``."""
    for value in properties.values():
        kind = type(value)
        if kind in _PLAIN or (kind is int and INT64_MIN <= value <= INT64_MAX) or (
                kind is float and math.isfinite(value)):
            continue
        # A nested value or a number out of range: the full rules decide.
        return not any(True for _ in properties_problems(action_type, properties, ""))
    return _flat_properties_look_clean(action_type, properties)


def _flat_properties_look_clean(action_type, properties):
    """``_properties_look_clean`` of properties whose values are known to be flat and in range."""
    if not (properties.keys() <= _clean_keys or _learn_keys(properties)):
        return False
    for name, kinds in _REQUIRED_KINDS[action_type]:
        value = properties.get(name)
        if kinds is None:
            if type(value) is not str or not value:
                return False
        elif type(value) not in kinds:
            return False
    return True


# Property keys already found valid: a set lookup in C instead of three string tests per key. The
# keys a frontend sends are few; the cap keeps a hostile stream of new keys from growing it forever.
_clean_keys = set()
_CLEAN_KEYS_MAX, _CLEAN_KEY_LENGTH = 10_000, 64
_PLAIN = frozenset((str, bool, type(None)))
_REQUIRED_KINDS = {
    action_type: tuple((name, frozenset((int, float)) if kind == "number" else None) for name, kind in required)
    for action_type, required in REQUIRED_PROPERTIES.items()
}


def key_is_valid(key):
    """A property key is stored as given: it may not start with $ nor hold a . or a NUL character."""
    return not (key.startswith("$") or "." in key or "\x00" in key)


def _learn_keys(properties):
    """True when every key is valid; remembers the short ones."""
    for key in properties:
        if key not in _clean_keys:
            if not key_is_valid(key):
                return False
            if len(_clean_keys) < _CLEAN_KEYS_MAX and len(key) <= _CLEAN_KEY_LENGTH:
                _clean_keys.add(key)
    return True


# --- the full path -------------------------------------------------------------------------------

def _plain_parse(body):
    try:
        decoded = _plain_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidJSON(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"the body is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise InvalidJSON(TOO_DEEP_TO_PARSE) from None
    if isinstance(decoded, dict):
        return [decoded], True
    if isinstance(decoded, list):
        return decoded, False
    raise ValidationFailed(
        [Problem("", "INVALID_BODY", "expected a JSON array of session logs or one session log object")], 1
    )


def session_problems(document, pointer):
    """Yield every Problem of one session log (plain JSON) at ``pointer``."""
    if not isinstance(document, dict):
        yield Problem(pointer, "NOT_AN_OBJECT", "a session log must be a JSON object")
        return
    for key in document.keys() - SESSION_FIELDS:
        yield Problem(f"{pointer}/{_escape(key)}", "UNKNOWN_FIELD",
                      "allowed fields are userId, sessionId and actions")
    for name in ("userId", "sessionId"):
        yield from _name_problems(document, name, pointer)
    actions = document.get("actions")
    if "actions" not in document:
        yield Problem(f"{pointer}/actions", "REQUIRED", "actions is required")
    elif not isinstance(actions, list):
        yield Problem(f"{pointer}/actions", "NOT_AN_ARRAY", "actions must be an array of actions")
    elif not actions:
        yield Problem(f"{pointer}/actions", "EMPTY_ACTIONS", "a session log needs at least one action")
    else:
        for index, action in enumerate(actions):
            yield from action_problems(action, f"{pointer}/actions/{index}")


def _name_problems(document, name, pointer, required=True):
    if name not in document:
        if required:
            yield Problem(f"{pointer}/{name}", "REQUIRED", f"{name} is required")
        return
    value = document[name]
    if not isinstance(value, str):
        yield Problem(f"{pointer}/{name}", "NOT_A_STRING", f"{name} must be a string")
    elif not 1 <= len(value) <= 256:
        yield Problem(f"{pointer}/{name}", "INVALID_LENGTH", f"{name} must have 1 to 256 characters")


def action_problems(action, pointer):
    """Yield every Problem of one action (plain JSON) at ``pointer``."""
    if not isinstance(action, dict):
        yield Problem(pointer, "NOT_AN_OBJECT", "an action must be a JSON object")
        return
    for key in action.keys() - ACTION_FIELDS:
        yield Problem(f"{pointer}/{_escape(key)}", "UNKNOWN_FIELD",
                      "allowed fields are time, type, properties and id")
    if "time" not in action:
        yield Problem(f"{pointer}/time", "REQUIRED", "time is required")
    else:
        try:
            parse_time(action["time"])
        except TimeFormatError as exc:
            yield Problem(f"{pointer}/time", "INVALID_TIME", str(exc))
    action_type = action.get("type")
    if "type" not in action:
        yield Problem(f"{pointer}/type", "REQUIRED", "type is required")
    elif action_type not in ACTION_TYPES or not isinstance(action_type, str):
        action_type = None
        yield Problem(f"{pointer}/type", "INVALID_ACTION_TYPE", f"type must be {action_types.listed()}")
    yield from _name_problems(action, "id", pointer, required=False)
    properties = action.get("properties")
    if "properties" not in action:
        yield Problem(f"{pointer}/properties", "REQUIRED", "properties is required")
    elif not isinstance(properties, dict):
        yield Problem(f"{pointer}/properties", "NOT_AN_OBJECT", "properties must be a JSON object")
    else:
        yield from properties_problems(action_type, properties, f"{pointer}/properties")


def properties_problems(action_type, properties, pointer):
    """Yield the Problems of an action's properties: required keys by type, then every key and value."""
    for name, kind in REQUIRED_PROPERTIES.get(action_type, ()):
        where = f"{pointer}/{name}"
        if name not in properties:
            yield Problem(where, "REQUIRED", f"{action_type} needs properties.{name}")
            continue
        value = properties[name]
        if kind == "number" and type(value) is not int and type(value) is not float:
            yield Problem(where, "NOT_A_NUMBER", f"{name} must be a number (booleans are not)")
        elif kind == "string" and (type(value) is not str or not value):
            yield Problem(where, "NOT_A_STRING", f"{name} must be a non-empty string")
    yield from _value_problems(properties, pointer, 0)


def _value_problems(value, pointer, depth):
    """Yield Problems of keys and numbers anywhere below a properties value."""
    if depth > MAX_DEPTH:
        yield Problem(pointer, "TOO_DEEP", f"properties may nest at most {MAX_DEPTH} levels")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{pointer}/{_escape(key)}"
            if not key_is_valid(key):
                yield Problem(where, "INVALID_KEY",
                              "keys may not start with $ or contain . or a NUL character")
            yield from _value_problems(item, where, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _value_problems(item, f"{pointer}/{index}", depth + 1)
    elif type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        yield Problem(pointer, "NUMBER_OUT_OF_RANGE", "integers must fit in 64 bits")
    elif type(value) is float and not math.isfinite(value):
        yield Problem(pointer, "NUMBER_OUT_OF_RANGE", "numbers must be finite")


def _convert_document(document):
    """The stored form of a session log the full path found valid (the fast path's conversion)."""
    actions = msgspec.convert(document["actions"], list[_Action])
    instants = [parse_time(action.time) for action in actions]
    return SessionLog(document["userId"], document["sessionId"], _stored_actions(actions, instants))


def _escape(key):
    """Escape a key for a JSON Pointer (RFC 6901)."""
    return str(key).replace("~", "~0").replace("/", "~1")
