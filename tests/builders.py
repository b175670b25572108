"""Builders of session-log bodies for tests."""


def action(time="2018-10-18T21:37:28-06:00", kind="CLICK", **properties):
    defaults = {
        "CLICK": {"locationX": 52, "locationY": 11},
        "VIEW": {"viewedId": "FDJKLHSLD"},
        "NAVIGATE": {"pageFrom": "communities", "pageTo": "inventory"},
    }
    return {"time": time, "type": kind, "properties": {**defaults[kind], **properties}}


def session_log(user="ABC123XYZ", session="XYZ456ABC", actions=None):
    return {"userId": user, "sessionId": session, "actions": actions or [action()]}


SPEC_EXAMPLE = {
    "userId": "ABC123XYZ",
    "sessionId": "XYZ456ABC",
    "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 52, "locationY": 11}},
        {"time": "2018-10-18T21:37:30-06:00", "type": "VIEW", "properties": {"viewedId": "FDJKLHSLD"}},
        {"time": "2018-10-18T21:37:30-06:00", "type": "NAVIGATE",
         "properties": {"pageFrom": "communities", "pageTo": "inventory"}},
    ],
}
