"""GET /logs/export, on the logs namespace: every matching action streamed, the same filters as GET /logs."""
from __future__ import annotations

import contextlib
import functools
import logging
from itertools import chain

import msgspec
from flask import Response, request
from flask_restx import Resource

from .. import exports, filters, store
from ..db import get_db
from ..errors import export_cut_reason, request_id
from ..readgate import gate
from . import schemas
from .logs import ns
from .params import EXPORT_DOCS, FILTER_DOCS
from .shared import READ_UNAVAILABLE, requires, settings

log = logging.getLogger(__name__)

EXPORT_QUERY = filters.FILTER_PARAMS + ("format", "order", "raw")
EXPORTERS = {
    "ndjson": (exports.ndjson_chunks, "application/x-ndjson; charset=utf-8"),
    "csv": (exports.csv_chunks, "text/csv; charset=utf-8"),
}


class ExportCut(RuntimeError):
    """Raised into the server mid-stream, so that it drops the connection without ending the body."""


@ns.route("/export", "/export/")
class LogsExport(Resource):
    @ns.doc(params={**FILTER_DOCS, **EXPORT_DOCS})
    @ns.produces(["application/x-ndjson", "text/csv", "application/problem+json"])  # errors
    @ns.response(200, "Every matching action, streamed in time order (order=stored: window by window), not paged")
    @ns.response(400, "Unknown parameter or bad value; the problem names it", schemas.problem)
    @ns.response(503, READ_UNAVAILABLE, schemas.problem)
    @requires("read")
    def get(self):
        """Stream every matching action as NDJSON or CSV, in time order, with bounded memory."""
        log_filter = filters.parse_filter(request.args, EXPORT_QUERY)
        shape = filters.parse_choice(request.args, "format", tuple(EXPORTERS), "ndjson")
        order = filters.parse_choice(request.args, "order", ("time", "stored"), "time")
        raw = filters.parse_choice(request.args, "raw", ("true", "false"), "false") == "true"
        encode, mimetype = EXPORTERS[shape]
        if raw and shape == "csv":
            encode = functools.partial(exports.csv_chunks, raw=True)
        deadline = store.Deadline(settings().query_timeout_ms, per_command=True)
        slot = gate()
        slot.enter()
        with contextlib.ExitStack() as on_failure:  # the slot is left here if the first read fails, else by the stream
            on_failure.callback(slot.leave)
            source = store.export_rows(get_db(), log_filter, ordered=order == "time", deadline=deadline)
            # The first window is read here, so that a database that is down or a first read past
            # its limit is a 503 problem rather than a cut stream.
            first = next(source, None)
            rows = chain([first], source) if first is not None else iter(())
            on_failure.pop_all()
        headers = {"Content-Disposition": f'attachment; filename="logs.{shape}"'}
        return Response(_streamed(rows, source, encode, shape, slot), content_type=mimetype, headers=headers)


def _streamed(rows, source, encode, shape, slot):
    """Yield the encoded chunks and give the read slot back however the stream ends.

    A read that fails mid-stream (its time limit, the database gone, a fault here) cannot change the status any
    more: NDJSON gets a last line ``{"error": {...}}``, and then the connection is dropped without
    the end of the chunked body, which every HTTP client reports as an incomplete response.
    """
    try:
        yield from encode(rows)
    except Exception as exc:  # noqa: BLE001 (the status is sent: say so in the body, then cut)
        code, detail = export_cut_reason(exc)
        if code == "INTERNAL_ERROR":
            log.exception("export cut mid-stream (request %s)", request_id())
        else:
            log.warning("export cut mid-stream: %s", code)
        if shape == "ndjson":
            yield msgspec.json.encode({"error": {"code": code, "detail": detail}}) + b"\n"
        raise ExportCut(f"export cut: {code}") from None
    finally:
        source.close()
        slot.leave()
