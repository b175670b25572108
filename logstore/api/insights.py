"""GET /logs/overview, /logs/top, /logs/paths, /logs/funnel and /logs/clicks, on the logs namespace:
the filters of GET /logs, each method parses, makes one store call, answers JSON (SPEC "Insights")."""
from __future__ import annotations

from flask import request
from flask_restx import Model, Resource, fields

from .. import filters, insights_params as params
from ..db import get_db
from ..readgate import gate
from ..store import Deadline, insights
from . import schemas
from .logs import ns
from .params import FILTER_DOCS
from .shared import READ_UNAVAILABLE, json_response, requires, settings

TZ_PARAM = {"tz": {"description": "where days begin: an IANA name (America/Denver) or an offset (+05:30); "
                   "default UTC", "type": "string", "in": "query"}}
OVERVIEW_DOCS = {**TZ_PARAM, "compare": {
    "description": "previous: add the same figures for the period of the same length just before from "
                   "(needs from and to)", "type": "string", "enum": ["previous"], "in": "query"}}
TOP_DOCS = {
    "field": {"description": "the property whose values are counted: viewedId, pageTo, pageFrom or any key",
              "type": "string", "in": "query", "required": True, "example": "viewedId"},
    "limit": {"description": f"values listed, 1 to {params.TOP_MAX} (default {params.TOP_LIMIT})",
              "type": "integer", "in": "query"},
}
PATHS_DOCS = {"limit": {"description": f"rows per list, 1 to {params.PATHS_MAX} (default {params.PATHS_LIMIT})",
                          "type": "integer", "in": "query"}}
FUNNEL_DOCS = {
    "step": {"description": f"{params.MIN_STEPS} to {params.MAX_STEPS}, in order: TYPE or TYPE:property=value "
             "(the value as text, or the number it reads as)", "type": "array", "items": {"type": "string"},
             "collectionFormat": "multi", "in": "query", "required": True},
    "per": {"description": "session (default): journeys within a session; user: across a user's sessions",
            "type": "string", "enum": ["session", "user"], "in": "query"},
    "within": {"description": "seconds after step 1 that a journey lasts (later steps are not reached)",
               "type": "number", "in": "query"},
}
CLICKS_DOCS = {"page": {"description": "the page whose clicks are drawn (default: the one with the most clicks)",
                          "type": "string", "in": "query"}}

class NullableFloat(fields.Float):
    """A number or null (Swagger 2.0 says so with ``x-nullable``)."""

    def schema(self):
        return {**super().schema(), "x-nullable": True}


class NullableString(fields.String):
    def schema(self):
        return {**super().schema(), "x-nullable": True}


class AnyValue(fields.Raw):
    """A stored property's value: any JSON value (no ``type`` in the schema)."""

    def schema(self):
        return {key: value for key, value in super().schema().items() if key != "type"}


day_figures = Model("OverviewDay", {
    "day": fields.String(description="YYYY-MM-DD in tz", example="2018-10-18"),
    "users": fields.Integer(description="distinct users with a matching action that day"),
    "sessions": fields.Integer(description="distinct sessions with a matching action that day"),
    "actions": fields.Integer(description="matching actions that day"),
})
_figures = {
    "users": fields.Integer(description="distinct users with a matching action (each once, however many days)"),
    "sessions": fields.Integer(description="distinct sessions with a matching action"),
    "actions": fields.Integer(description="matching actions"),
    "bounceRate": NullableFloat(description="share of sessions without a NAVIGATE among their matching actions; "
                               "null without sessions"),
    "medianSessionSeconds": NullableFloat(description="median of (last - first matching action) over sessions; "
                                          "null without sessions"),
    "days": fields.List(fields.Nested(day_figures), description="every day of the range in tz"),
}
period = Model("OverviewPeriod", _figures)
overview_model = Model("Overview", {**_figures, "previous": fields.Nested(
    period, description="with compare=previous: the period of the same length just before from")})
top_row = Model("TopValue", {
    "value": AnyValue(description="the property's value"), "count": fields.Integer(description="actions"),
    "users": fields.Integer(description="distinct users"),
})
transition = Model("Transition", {
    "pageFrom": AnyValue, "pageTo": AnyValue,
    "count": fields.Integer(description="NAVIGATE actions"), "sessions": fields.Integer(description="distinct sessions"),
})
page_sessions = Model("PageSessions", {"page": AnyValue, "sessions": fields.Integer})
paths_model = Model("Paths", {
    "transitions": fields.List(fields.Nested(transition)),
    "entries": fields.List(fields.Nested(page_sessions), description="pageFrom of each session's first NAVIGATE"),
    "exits": fields.List(fields.Nested(page_sessions), description="pageTo of each session's last NAVIGATE"),
})
funnel_step = Model("FunnelStep", {
    "step": fields.String(example="NAVIGATE:pageTo=cart"),
    "count": fields.Integer(description="sessions (users with per=user) that reached the step"),
    "medianSecondsFromPrevious": NullableFloat(description="null for step 1 and for a step no one reached"),
})
funnel_model = Model("Funnel", {"steps": fields.List(fields.Nested(funnel_step))})
click_point = Model("ClickPoint", {"x": AnyValue(description="locationX"), "y": AnyValue(description="locationY"),
                                   "count": fields.Integer})
page_clicks = Model("PageClicks", {"page": fields.String, "clicks": fields.Integer})
clicks_model = Model("ClickMap", {
    "page": NullableString(description="the page drawn; null when no click is on any page"),
    "pages": fields.List(fields.Nested(page_clicks), description="pages by clicks, at most 50"),
    "points": fields.List(fields.Nested(click_point), description="the page's click positions and their counts"),
})
for model in (day_figures, period, overview_model, top_row, transition, page_sessions, paths_model, funnel_step,
              funnel_model, click_point, page_clicks, clicks_model):
    ns.add_model(model.name, model)

BAD_PARAMETER = "Unknown parameter or bad value; the problem names it"


def _read(log_filter):
    """The deadline and read slot of one insight: heavy unless it is about one user."""
    return Deadline(settings().query_timeout_ms), gate().held(heavy=log_filter.user_id is None)


@ns.route("/overview", "/overview/")
class LogsOverview(Resource):
    @ns.doc(params={**FILTER_DOCS, **OVERVIEW_DOCS})
    @ns.response(200, "Users, sessions, actions, bounce rate, median session length, per day", overview_model)
    @ns.response(400, BAD_PARAMETER, schemas.problem)
    @ns.response(503, READ_UNAVAILABLE, schemas.problem)
    @requires("read")
    def get(self):
        """The top row of an analytics page: distinct users and sessions, bounces, session length, per day."""
        log_filter = filters.parse_filter(request.args, filters.FILTER_PARAMS + ("tz", "compare"))
        tz = filters.parse_zone(request.args)
        compare = filters.parse_choice(request.args, "compare", ("previous",), None) == "previous"
        if compare:
            params.previous_period(log_filter)   # 400 before any read when from or to is missing
        deadline, slot = _read(log_filter)
        with slot:
            return json_response(insights.overview(get_db(), log_filter, tz, compare, deadline))


@ns.route("/top", "/top/")
class LogsTop(Resource):
    @ns.doc(params={**FILTER_DOCS, **TOP_DOCS})
    @ns.response(200, "The most frequent values, by count descending then value", [top_row])
    @ns.response(400, BAD_PARAMETER, schemas.problem)
    @ns.response(503, READ_UNAVAILABLE, schemas.problem)
    @requires("read")
    def get(self):
        """The most frequent values of a property among the matching actions, with their distinct users."""
        log_filter = filters.parse_filter(request.args, filters.FILTER_PARAMS + ("field", "limit"))
        field = params.parse_field(request.args)
        limit = params.parse_count(request.args, "limit", params.TOP_LIMIT, params.TOP_MAX)
        deadline, slot = _read(log_filter)
        with slot:
            return json_response(insights.top_values(get_db(), log_filter, field, limit, deadline))


@ns.route("/paths", "/paths/")
class LogsPaths(Resource):
    @ns.doc(params={**FILTER_DOCS, **PATHS_DOCS})
    @ns.response(200, "Transitions pageFrom → pageTo, entry and exit pages, each by count", paths_model)
    @ns.response(400, BAD_PARAMETER, schemas.problem)
    @ns.response(503, READ_UNAVAILABLE, schemas.problem)
    @requires("read")
    def get(self):
        """How users move between pages, from the matching NAVIGATE actions."""
        log_filter = filters.parse_filter(request.args, filters.FILTER_PARAMS + ("limit",))
        limit = params.parse_count(request.args, "limit", params.PATHS_LIMIT, params.PATHS_MAX)
        deadline, slot = _read(log_filter)
        with slot:
            return json_response(insights.paths(get_db(), log_filter, limit, deadline))


@ns.route("/funnel", "/funnel/")
class LogsFunnel(Resource):
    @ns.doc(params={**FILTER_DOCS, **FUNNEL_DOCS})
    @ns.response(200, "Per step, how many sessions (or users) reached it and the median time from the previous",
                 funnel_model)
    @ns.response(400, BAD_PARAMETER, schemas.problem)
    @ns.response(503, READ_UNAVAILABLE, schemas.problem)
    @requires("read")
    def get(self):
        """Ordered steps within a session (or a user), with an optional window after step 1."""
        log_filter = filters.parse_filter(request.args, filters.FILTER_PARAMS + ("step", "per", "within"))
        steps = params.parse_steps(request.args)
        per = filters.parse_choice(request.args, "per", ("session", "user"), "session")
        within = params.parse_within(request.args)
        deadline, slot = _read(log_filter)
        with slot:
            result = insights.funnel(get_db(), log_filter, steps, per, within, deadline)
        texts = request.args.getlist("step")
        return json_response({"steps": [{"step": text, **row} for text, row in zip(texts, result["steps"])]})


@ns.route("/clicks", "/clicks/")
class LogsClicks(Resource):
    @ns.doc(params={**FILTER_DOCS, **CLICKS_DOCS})
    @ns.response(200, "The click positions of one page (a click map), and the pages by clicks", clicks_model)
    @ns.response(400, BAD_PARAMETER, schemas.problem)
    @ns.response(503, READ_UNAVAILABLE, schemas.problem)
    @requires("read")
    def get(self):
        """Where users click on a page: a click's page is its own page property, else the pageTo of its
        session's latest NAVIGATE before it."""
        log_filter = filters.parse_filter(request.args, filters.FILTER_PARAMS + ("page",))
        page = filters.single_value(request.args, "page")
        deadline, slot = _read(log_filter)
        with slot:
            return json_response(insights.click_map(get_db(), log_filter, page, deadline))
