"""Checks of what is stored, shared by tests of every path that writes."""
from collections import Counter
from datetime import timedelta

from logstore.windows import SPAN, window_of


def assert_hours_agree(db):
    """The hours' counts (``store.hour_counts``) and the rollups (``store.rollups``) are exactly what the
    buckets hold, type by type, and no hour or rollup document counts nothing."""
    from_buckets, from_hours = Counter(), Counter()
    sessions = {}
    for bucket in db.sessions.find({}, {"userId": 1, "sessionId": 1, "actions.t": 1, "actions.type": 1}):
        for act in bucket["actions"]:
            key = (bucket["userId"], bucket["sessionId"], window_of(act["t"]))
            from_buckets[key + (act["type"],)] += 1
            seen = sessions.setdefault(key, [0, 0, act["t"], act["t"]])
            seen[0] += 1
            seen[1] += act["type"] == "NAVIGATE"
            seen[2], seen[3] = min(seen[2], act["t"]), max(seen[3], act["t"])
    for hour in db.session_hours.find():
        assert hour["count"] == sum(hour["n"].values()) > 0, hour
        for kind, number in hour["n"].items():
            if number:
                from_hours[(hour["userId"], hour["sessionId"], hour["w"], kind)] += number
    assert from_hours == from_buckets
    assert_rollups_agree(db, from_buckets, sessions)
    assert_values_agree(db)


def assert_values_agree(db):
    """The session-hours' values (``store.hour_values``) add up to what the buckets hold: per session and
    hour its transitions and viewed items (counts), first and last NAVIGATE, unless an overflow
    marker sends its reads to the buckets; and every session-hour with a NAVIGATE or VIEW has them."""
    import json

    from logstore.store import hour_values

    from_buckets = {}
    for bucket in db.sessions.find({}, {"userId": 1, "sessionId": 1, "actions": 1}):
        for act in bucket["actions"]:
            key = (bucket["userId"], bucket["sessionId"], window_of(act["t"]))
            found = from_buckets.setdefault(key, [Counter(), Counter(), None, None])
            if act["type"] == "NAVIGATE":
                when = hour_values.micros(act["t"], act.get("u", 0))
                found[0][json.dumps([act["p"]["pageFrom"], act["p"]["pageTo"]])] += 1
                entry, leave = (when, act["p"]["pageFrom"]), (when, act["p"]["pageTo"])
                found[2] = entry if found[2] is None else min(found[2], entry)
                found[3] = leave if found[3] is None else max(found[3], leave)
            elif act["type"] == "VIEW":
                found[1][act["p"]["viewedId"]] += 1
    from_values, marked = {}, set()
    for doc in db[hour_values.VALUES].find():
        key = (doc["userId"], doc["sessionId"], doc["w"])
        assert doc["last"] == doc["w"] + SPAN - timedelta(milliseconds=1), doc
        if doc.get("o"):
            marked.add(key)
            continue
        found = from_values.setdefault(key, [Counter(), Counter(), None, None])
        found[0].update({json.dumps(list(hour_values.pages_of(pair))): n for pair, n in json.loads(doc["p"]).items()})
        found[1].update(json.loads(doc["v"]))
        if "e" in doc:
            entry, leave = tuple(doc["e"]), tuple(doc["x"])
            found[2] = entry if found[2] is None else min(found[2], entry)
            found[3] = leave if found[3] is None else max(found[3], leave)
    wanted = {key: found for key, found in from_buckets.items() if (found[0] or found[1]) and key not in marked}
    assert {key: found for key, found in from_values.items() if key not in marked} == wanted


def assert_rollups_agree(db, from_buckets, sessions):
    """Per UTC hour and type, the counts documents add up to the buckets' actions; per session and
    hour, the sessions documents hold its count and NAVIGATEs exactly, and first/last around its
    actions (deletes leave them as they were, as in the hours' counts)."""
    from logstore.store import rollups

    per_hour, from_rollups = Counter(), Counter()
    for (_, _, window, kind), number in from_buckets.items():
        per_hour[(window, kind)] += number
    entries, spans = {}, {}
    for doc in db[rollups.ROLLUPS].find():
        if doc["t"] == rollups.SPANS:
            spans[doc["w"]] = max(spans.get(doc["w"], 0), int(doc["span"]))
            continue
        if doc["t"] == rollups.COUNTS:
            assert int(doc["count"]) == sum(int(v) for v in doc["n"].values()) > 0, doc
            assert doc["w"] <= doc["last"] < doc["w"] + SPAN, doc
            for kind, number in doc["n"].items():
                if number:
                    from_rollups[(doc["w"], kind)] += int(number)
        else:
            assert doc["t"] == rollups.SESSIONS and doc["s"], doc
            assert int(doc["count"]) == sum(int(e["c"]) for e in doc["s"].values()), doc
            for name, entry in doc["s"].items():
                user, session = rollups.decode_key(name)
                assert int(entry["c"]) == sum(int(n) for n in entry["n"].values()) > 0, doc
                assert all(int(n) >= 0 for n in entry["n"].values()), doc
                # Concurrent writes put a session's actions of one hour into several sub-buckets.
                held = entries.setdefault((user, session, doc["w"]), [0, 0, entry["f"], entry["l"]])
                held[0] += int(entry["c"])
                held[1] += int(entry["n"].get("NAVIGATE", 0))
                held[2], held[3] = min(held[2], entry["f"]), max(held[3], entry["l"])
    assert from_rollups == per_hour
    # Every bucket's span is within the longest one recorded for its window (reads rely on it).
    for bucket in db.sessions.find({"w": {"$exists": True}}, {"w": 1, "first": 1, "last": 1}):
        assert (bucket["last"] - bucket["first"]) // timedelta(milliseconds=1) <= spans.get(bucket["w"], -1), bucket
    assert set(entries) == set(sessions)
    for key, (count, nav, first, last) in sessions.items():
        held = entries[key]
        assert (held[0], held[1]) == (count, nav), (key, held)
        assert held[2] <= first and last <= held[3], (key, held)
