"""Per session and hour, the values its actions carried: what ``/logs/top`` and ``/logs/paths`` add up.

A top list or the paths of a month used to unwind every action of the month from the buckets; these
documents keep, per session and UTC hour (``w``, ``windows``) and per write, only the few distinct
values those reads group by ("a session-hour's distinct pages, not its actions", issue 22):

``{userId, sessionId, w, last, p: "<json>", e: [time, page], x: [time, page], v: "<json>"}`` where

- ``p`` is the NAVIGATEs' transitions, a JSON object ``{pair: count}`` (``pair``: the JSON text of
  ``[pageFrom, pageTo]``): the paths' transitions and the top lists of ``pageFrom`` and ``pageTo``;
- ``e``/``x`` are the first NAVIGATE's time (microseconds since the epoch) and ``pageFrom``, and
  the last one's time and ``pageTo`` (at one instant: the least ``pageFrom``, the greatest
  ``pageTo``): the paths' entry and exit pages, a session's first and last of all its documents;
- ``v`` is the VIEWs' ``viewedId`` values, a JSON object ``{viewedId: count}``.

The three are strings by the SPEC (POST refuses anything else), so they are the JSON keys as they
are. Append-only: each ingest inserts one document per session and hour it wrote NAVIGATEs or
VIEWs to, with that write's values alone (no read, no update, so no conflict with anyone); a read
adds up the documents of a session-hour (counts add, ``e``/``x`` take the least and greatest),
exactly. Distinct users and sessions per value stay exact: each document names its session.

Bounded: a write that brings more than ``CAP`` distinct transitions or viewed items to one
session-hour inserts an overflow marker ``{..., o: true}`` instead, as does a delete taking
actions off a session-hour: a read then answers that session-hour from its buckets, as it does the
hours a range's ``from``/``to`` cuts. JSON text rather than BSON: a read decodes one string per
document (SecantusDB decodes every element of what it reads in Python; a BSON object of 30 counts
costs several times a string) and the client's ``json`` adds them up in C.

``last`` (the retention TTL) is the end of the hour: a session-hour's values expire with its
newest bucket at the latest an hour after it, as the hours' counts do (docs/DESIGN.md, retention).
Written in the ingest transaction, filled for existing data by the migration to layout 5
(``store.migrate``).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING, DeleteMany, InsertOne

from ..windows import SPAN, later

VALUES = "hour_values"
# Distinct transitions or viewed items one write may bring to one session-hour; more, and the
# session-hour is answered from its buckets.
CAP = 64
NAVIGATE, VIEW = "NAVIGATE", "VIEW"
# The fields these documents answer, and the part of the document each is read from.
KEPT = {"viewedId": "v", "pageTo": "p", "pageFrom": "p"}

INDEXES = (
    ([("userId", ASCENDING), ("sessionId", ASCENDING), ("w", ASCENDING)], {"name": "session_hour"}),
    ([("w", ASCENDING)], {"name": "w"}),
)

_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_ONE_MS = timedelta(milliseconds=1)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_string = json.encoder.encode_basestring


def micros(instant, u=0):
    """Microseconds since the epoch of a stored action's time: its instant (naive UTC, or aware) to
    the millisecond, plus ``u`` (the microseconds below it; an instant fresh from a POST still has
    them, one read back from the database has not)."""
    return (instant - (_EPOCH if instant.tzinfo is None else _EPOCH_UTC)) // _MICRO - instant.microsecond % 1000 + u


def _head(key, window):
    return {"userId": key[0], "sessionId": key[1], "w": window, "last": later(window, SPAN) - _ONE_MS}


def document(key, window, actions):
    """The values document of ``actions`` (all of session ``key``, window ``window``), or None
    when they hold no NAVIGATE or VIEW."""
    pairs, viewed = {}, {}
    entry = leave = None
    for action in actions:
        kind = action["type"]
        if kind == NAVIGATE:
            p = action["p"]
            pair = (p.get("pageFrom"), p.get("pageTo"))
            pairs[pair] = pairs.get(pair, 0) + 1
            # (t, u) orders the actions of one write (all aware from a POST, all naive from the
            # buckets); the epoch's microseconds are worked out for the two kept only.
            when = (action["t"], action.get("u", 0))
            if entry is None or (when, pair[0]) < entry:
                entry = (when, pair[0])
            if leave is None or (when, pair[1]) > leave:
                leave = (when, pair[1])
        elif kind == VIEW:
            value = action["p"].get("viewedId")
            viewed[value] = viewed.get(value, 0) + 1
    if not pairs and not viewed:
        return None
    if len(pairs) > CAP or len(viewed) > CAP or not all(
            isinstance(frm, str) and isinstance(to, str) for frm, to in pairs) or not all(
            isinstance(value, str) for value in viewed):
        return overflow_document(key, window)
    found = {**_head(key, window), "v": _text(viewed),
             "p": _text({pair_key(frm, to): number for (frm, to), number in pairs.items()})}
    if entry is not None:
        found["e"] = [micros(*entry[0]), entry[1]]
        found["x"] = [micros(*leave[0]), leave[1]]
    return found


def pair_key(frm, to):
    """The key of transition ``frm → to`` in ``p``: the JSON text of ``[frm, to]`` (two strings),
    put together from the C encoder of a string (``json.dumps`` costs a JSONEncoder per call)."""
    return f"[{_string(frm)},{_string(to)}]"


def pages_of(pair):
    """``(pageFrom, pageTo)`` of a transition's key in ``p``."""
    frm, to = json.loads(pair)
    return frm, to


def overflow_document(key, window):
    """The marker that sends reads of session-hour ``(key, window)`` to its buckets."""
    return {**_head(key, window), "o": True}


def _text(rows):
    return _ENCODER.encode(rows)


def added(key, by_window):
    """The inserts of one write's new actions of session ``key`` (grouped by ``windows.by_window``)."""
    operations = []
    for window in sorted(by_window):
        found = document(key, window, by_window[window])
        if found is not None:
            operations.append(InsertOne(found))
    return operations


def removed(key_windows):
    """The overflow markers of the session-hours ``{(key, window)}`` a delete took actions off."""
    return [InsertOne(overflow_document(key, window)) for key, window in sorted(key_windows)]


def rebuilt(key, by_window):
    """Operations that replace the values of session ``key`` by those of its stored actions
    (grouped by window): the migration."""
    return [DeleteMany({"userId": key[0], "sessionId": key[1]})] + added(key, by_window)


PARTS = {"v": ("v",), "p": ("p",), "paths": ("p", "e", "x")}


def read_filter(match_stages):
    """The filter of a ``find`` for the ``$match`` stages of ``pipelines.hours_match_stages`` (their
    fields never repeat: ``sessionId`` is in the second only when the first names the user)."""
    found = {}
    for stage in match_stages:
        found.update(stage["$match"])
    return found


def projection(part):
    """What a read of ``part`` (``v``, ``p`` or ``paths``: ``p`` with ``e``/``x``) takes of a document."""
    return {"_id": 0, "userId": 1, "sessionId": 1, "w": 1, "o": 1, **{name: 1 for name in PARTS[part]}}


def answering(documents):
    """``(kept, overflowed)``: the documents that answer (those of session-hours without an
    overflow marker) and ``{w: {(userId, sessionId)}}`` of the session-hours that a marker sends
    to the buckets."""
    kept, overflowed = [], {}
    for doc in documents:
        if doc.get("o"):
            overflowed.setdefault(doc["w"], set()).add((doc["userId"], doc["sessionId"]))
        else:
            kept.append(doc)
    if overflowed:
        kept = [doc for doc in kept if (doc["userId"], doc["sessionId"]) not in overflowed.get(doc["w"], ())]
    return kept, overflowed
