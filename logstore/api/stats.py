"""GET /logs/stats, on the logs namespace: counts per group, the same filters as GET /logs."""
from __future__ import annotations

from flask import request
from flask_restx import Resource

from .. import filters, formats, pipelines, store
from ..db import get_db
from ..readgate import gate
from . import schemas
from .logs import ns
from .params import FILTER_DOCS, STATS_DOCS
from .shared import READ_UNAVAILABLE, json_response, requires, settings

STATS_QUERY = filters.FILTER_PARAMS + ("groupBy", "tz")


@ns.route("/stats", "/stats/")
class LogsStats(Resource):
    @ns.doc(params={**FILTER_DOCS, **STATS_DOCS})
    @ns.response(200, "Counts per group, sorted by the group keys in the order given", [schemas.stats_row])
    @ns.response(400, "Unknown parameter, groupBy key or time zone; the problem names it", schemas.problem)
    @ns.response(503, READ_UNAVAILABLE, schemas.problem)
    @requires("read")
    def get(self):
        """Count matching actions per type, day (in a time zone), user and/or session."""
        log_filter = filters.parse_filter(request.args, STATS_QUERY)
        group_by = filters.parse_group_by(request.args, tuple(pipelines.GROUP_KEYS))
        tz = filters.parse_zone(request.args)
        deadline = store.Deadline(settings().query_timeout_ms)
        with gate().held():
            groups = store.action_stats(get_db(), log_filter, group_by, tz, deadline)
        return json_response(formats.stats_rows(groups, [pipelines.GROUP_KEYS[k] for k in group_by]))
