"""GET /logs/export and GET /logs/stats, on the logs namespace: the same filters as GET /logs."""
from __future__ import annotations

from flask import Response, request
from flask_restx import Resource

from .. import exports, filters, formats, pipelines, storage
from ..auth import requires
from ..db import get_db
from . import schemas
from .logs import json_response, ns
from .params import EXPORT_PARAMS, FILTER_PARAMS, STATS_PARAMS

EXPORT_QUERY = filters.FILTER_PARAMS + ("format",)
STATS_QUERY = filters.FILTER_PARAMS + ("groupBy", "tz")
EXPORTERS = {
    "ndjson": (exports.ndjson_chunks, "application/x-ndjson"),
    "csv": (exports.csv_chunks, "text/csv"),
}


@ns.route("/export", "/export/")
class LogsExport(Resource):
    @ns.doc(params={**FILTER_PARAMS, **EXPORT_PARAMS})
    @ns.produces(["application/x-ndjson", "text/csv", "application/problem+json"])  # errors
    @ns.response(200, "Every matching action, streamed in storage order (bucket by bucket), not paged")
    @ns.response(400, "Unknown parameter or bad value; the problem names it", schemas.problem)
    @ns.response(503, "Database unavailable", schemas.problem)
    @requires("read")
    def get(self):
        """Stream every matching action as NDJSON or CSV, straight from a database cursor."""
        log_filter = filters.parse_filter(request.args, EXPORT_QUERY)
        shape = filters.parse_choice(request.args, "format", tuple(EXPORTERS), "ndjson")
        encode, mimetype = EXPORTERS[shape]
        cursor = storage.export_rows(get_db(), log_filter)
        headers = {"Content-Disposition": f'attachment; filename="logs.{shape}"'}
        return Response(_closing(cursor, encode), mimetype=mimetype, headers=headers)


@ns.route("/stats", "/stats/")
class LogsStats(Resource):
    @ns.doc(params={**FILTER_PARAMS, **STATS_PARAMS})
    @ns.response(200, "Counts per group, sorted by the group keys in the order given", [schemas.stats_row])
    @ns.response(400, "Unknown parameter, groupBy key or time zone; the problem names it", schemas.problem)
    @ns.response(503, "Database unavailable", schemas.problem)
    @requires("read")
    def get(self):
        """Count matching actions per type, day (in a time zone), user and/or session."""
        log_filter = filters.parse_filter(request.args, STATS_QUERY)
        group_by = filters.parse_group_by(request.args, tuple(pipelines.GROUP_KEYS))
        tz = filters.parse_zone(request.args)
        groups = storage.action_stats(get_db(), log_filter, group_by, tz)
        return json_response(formats.stats_rows(groups, [pipelines.GROUP_KEYS[k] for k in group_by]))


def _closing(cursor, encode):
    """Yield the encoded chunks; close the server cursor however the stream ends (a client gone, say)."""
    try:
        yield from encode(cursor)
    finally:
        cursor.close()
