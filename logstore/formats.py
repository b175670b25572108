"""Pure shapers of answers: action rows as stored → the POST shape, flat rows, Link headers."""
from __future__ import annotations

from urllib.parse import urlencode

from .times import format_time


def stored_fields(stored):
    """``(time, type, properties)`` of a stored action, its time in its original offset.

    Every action the service writes has all three; one another client wrote without its type or
    properties reads as ``null`` and ``{}`` instead of failing the whole read (SPEC "Values")."""
    properties = stored.get("p")
    return (format_time(stored["t"], stored.get("o", 0), stored.get("u", 0)), stored.get("type"),
            properties if isinstance(properties, dict) else {})


def action_out(stored):
    """A stored action in the shape the frontend sent it, its time in its original offset."""
    time, kind, properties = stored_fields(stored)
    action = {"time": time, "type": kind, "properties": properties}
    if "id" in stored:
        action["id"] = stored["id"]
    return action


def flat_row(row):
    """A page row as the flat ``{userId, sessionId, time, type, properties}`` an analyst loads."""
    stored = row["actions"]
    time, kind, properties = stored_fields(stored)
    flat = {"userId": row["userId"], "sessionId": row["sessionId"], "time": time, "type": kind,
            "properties": properties}
    if "id" in stored:
        flat["id"] = stored["id"]
    return flat


def session_logs(rows):
    """Group time-ordered rows into session logs, each session where its first row stands."""
    sessions = {}
    for row in rows:
        key = (row["userId"], row["sessionId"])
        session = sessions.get(key)
        if session is None:
            session = sessions[key] = {"userId": key[0], "sessionId": key[1], "actions": []}
        session["actions"].append(action_out(row["actions"]))
    return list(sessions.values())


def next_link(base_url, args, cursor):
    """A ``Link`` header value for the next page: the same query with ``cursor`` replaced."""
    pairs = [(name, value) for name, value in args.items(multi=True) if name != "cursor"]
    pairs.append(("cursor", cursor))
    return f'<{base_url}?{urlencode(pairs)}>; rel="next"'


def stats_rows(groups, fields):
    """``stats_pipeline`` groups → ``[{<field>: value, …, "count": n}]``, keys in the order asked.

    With no fields the answer is one row, the total, which is 0 when nothing matches.
    """
    if not fields:
        return [{"count": groups[0]["count"] if groups else 0}]
    return [{**{field: group["_id"].get(field) for field in fields}, "count": group["count"]} for group in groups]
