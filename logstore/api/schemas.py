"""flask-restx models: they document bodies and replies in Swagger; validation lives in validation.py."""
from flask_restx import Model, fields

from .. import action_types

ACTION_TYPES = list(action_types.ACTION_TYPES)

action = Model("Action", {
    "time": fields.String(required=True, description="RFC 3339 date-time with an offset (Z or ±HH:MM), seconds required",
                          example="2018-10-18T21:37:28-06:00"),
    "type": fields.String(required=True, enum=ACTION_TYPES),
    "properties": fields.Raw(required=True, description=f"{action_types.required_described()} (non-empty strings). "
                             "Further keys are kept; no key may start with $ or contain . or NUL.",
                             example={"locationX": 52, "locationY": 11}),
    "id": fields.String(description="optional client id, unique in its session: a repeat is not stored again",
                        min_length=1, max_length=256),
})

session_log = Model("SessionLog", {
    "userId": fields.String(required=True, min_length=1, max_length=256, example="ABC123XYZ"),
    "sessionId": fields.String(required=True, min_length=1, max_length=256, example="XYZ456ABC"),
    "actions": fields.List(fields.Nested(action), required=True, min_items=1),
})

flat_action = Model("FlatAction", {
    "userId": fields.String, "sessionId": fields.String, "time": fields.String,
    "type": fields.String(enum=ACTION_TYPES), "properties": fields.Raw, "id": fields.String,
})

rejected = Model("Rejected", {
    "index": fields.Integer(description="position of the session log in the body"),
    "errors": fields.List(fields.Raw, description="problems: pointer, code, detail"),
})

ingest_result = Model("IngestResult", {
    "sessions": fields.Integer(description="session logs in the body"),
    "actions": fields.Integer(description="actions stored"),
    "duplicates": fields.Integer(description="actions skipped because their id was already stored"),
    "rejected": fields.List(fields.Nested(rejected), description="only with ?partial=true"),
})

problem_item = Model("ProblemItem", {
    "pointer": fields.String(description="JSON Pointer into the body", example="/0/actions/2/time"),
    "code": fields.String(example="INVALID_TIME"),
    "detail": fields.String,
})

problem = Model("Problem", {
    "type": fields.String, "title": fields.String, "status": fields.Integer, "detail": fields.String,
    "code": fields.String(description="stable UPPER_SNAKE_CASE code, listed in the README"),
    "requestId": fields.String, "parameter": fields.String(description="the query parameter at fault"),
    "errors": fields.List(fields.Nested(problem_item)),
})

status = Model("Status", {"status": fields.String(example="ok")})

stats_row = Model("StatsRow", {
    "type": fields.String(enum=ACTION_TYPES, description="with groupBy=type"),
    "day": fields.String(description="with groupBy=day: the day in the requested tz", example="2018-10-18"),
    "userId": fields.String(description="with groupBy=user"),
    "sessionId": fields.String(description="with groupBy=session"),
    "count": fields.Integer(required=True, description="matching actions in the group", example=12),
})

delete_result = Model("DeleteResult", {"deleted": fields.Integer(description="actions deleted", example=3)})

ALL = (action, session_log, flat_action, rejected, ingest_result, problem_item, problem, status, stats_row,
       delete_result)
