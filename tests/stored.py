"""Checks of what is stored, shared by tests of every path that writes."""
from collections import Counter

from logstore.spans import window_of


def assert_hours_agree(db):
    """The hours' counts (``store.hours``) are exactly what the buckets hold, type by type, and no
    hour document counts nothing."""
    from_buckets, from_hours = Counter(), Counter()
    for bucket in db.sessions.find({}, {"userId": 1, "sessionId": 1, "actions.t": 1, "actions.type": 1}):
        for act in bucket["actions"]:
            from_buckets[(bucket["userId"], bucket["sessionId"], window_of(act["t"]), act["type"])] += 1
    for hour in db.session_hours.find():
        assert hour["count"] == sum(hour["n"].values()) > 0, hour
        for kind, number in hour["n"].items():
            if number:
                from_hours[(hour["userId"], hour["sessionId"], hour["w"], kind)] += number
    assert from_hours == from_buckets
