"""The /logs namespace: ingest and query. Each method parses, makes one call, shapes the answer."""
from __future__ import annotations

from flask import Response, request
from flask_restx import Namespace, Resource

from .. import clientlimits, filters, formats, idempotency, store
from ..auth import caller_id
from ..bodies import BodyTooLarge, InvalidEncoding, UnsupportedEncoding, read_body
from ..cursors import decode_cursor, encode_cursor
from ..db import get_db
from ..errors import ApiError
from ..ingest import ingest
from ..pipelines import sort_key
from ..readgate import gate
from . import schemas
from .params import FILTER_DOCS, PAGE_DOCS
from .shared import READ_UNAVAILABLE, WRITE_UNAVAILABLE, json_response, requires, settings

ns = Namespace("logs", description="Ingest and query session logs")
for model in schemas.ALL:
    ns.add_model(model.name, model)

LOGS_QUERY = filters.FILTER_PARAMS + ("limit", "cursor", "format")
def public_base_url():
    """This request's URL without its query, on LOGSTORE_PUBLIC_URL when set, else on the request's
    own host (X-Forwarded-Host only counts when LOGSTORE_TRUST_FORWARDED_HOST says so)."""
    public = settings().public_url
    return public + request.script_root + request.path if public else request.base_url


def read_json_body():
    if request.mimetype != "application/json":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as Content-Type: application/json")
    limit = settings().max_body_bytes
    try:
        return read_body(request.stream, request.content_length, request.headers.get("Content-Encoding"), limit)
    except BodyTooLarge as exc:
        raise ApiError(413, "BODY_TOO_LARGE", str(exc), title="Body too large") from None
    except UnsupportedEncoding as exc:
        raise ApiError(415, "UNSUPPORTED_ENCODING", str(exc), title="Unsupported Content-Encoding") from None
    except InvalidEncoding as exc:
        raise ApiError(400, "INVALID_ENCODING", str(exc), title="Malformed body encoding") from None


def idempotent_response(key, body, process):
    """The answer of ``process`` once per Idempotency-Key: stored, replayed, or refused (409 / 422)."""
    key = idempotency.check_key(key)
    fingerprint = idempotency.fingerprint(request.method, request.path.rstrip("/"), request.args, body)
    status, raw, replayed = idempotency.run(get_db(), key, caller_id(), fingerprint, process)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(raw, status=status, mimetype="application/json", headers=headers)


@ns.route("", "/")
class Logs(Resource):
    @ns.doc(params={
        "partial": {"description": "true: store the valid sessions, report the invalid ones",
                    "type": "boolean", "in": "query"},
        "Idempotency-Key": {"description": "any unique string (a UUID): a retry with the same key and body "
                            "within 24 h gets the first answer again and stores nothing", "type": "string",
                            "in": "header"},
        "Content-Encoding": {"description": "gzip, or absent", "type": "string", "in": "header"}})
    @ns.expect([schemas.session_log])
    @ns.response(201, "Stored (or, with Idempotent-Replayed: true, the first answer to this Idempotency-Key)",
                 schemas.ingest_result)
    @ns.response(400, "Invalid body: every problem with its JSON Pointer", schemas.problem)
    @ns.response(409, "A request with this Idempotency-Key is still being processed", schemas.problem)
    @ns.response(413, "Body (after gzip) or action count over the limit", schemas.problem)
    @ns.response(415, "Not application/json, or a Content-Encoding other than gzip", schemas.problem)
    @ns.response(422, "This Idempotency-Key was used with a different body", schemas.problem)
    @ns.response(503, WRITE_UNAVAILABLE, schemas.problem)
    @requires("write")
    def post(self):
        """Store an array of session logs (or one), all or nothing."""
        partial = _partial_flag(request.args)
        body = read_json_body()

        def process(on_commit=None):
            return ingest(get_db(), body, settings().max_actions, partial=partial, on_commit=on_commit,
                          admit=clientlimits.check_users)

        key = request.headers.get("Idempotency-Key")
        if key is not None:
            return idempotent_response(key, body, process)
        return json_response(process(), 201)

    @ns.doc(params={**FILTER_DOCS, **PAGE_DOCS})
    @ns.response(200, "Matching session logs (or flat actions) in time order", [schemas.session_log])
    @ns.response(400, "Unknown parameter or bad value; the problem names it", schemas.problem)
    @ns.response(503, READ_UNAVAILABLE, schemas.problem)
    @requires("read")
    def get(self):
        """Query actions by user, session, types and time range, page by page."""
        args = request.args
        log_filter = filters.parse_filter(args, LOGS_QUERY)
        limit = filters.parse_limit(args)
        shape = filters.parse_choice(args, "format", ("sessions", "actions"), "sessions")
        token = filters.single_value(args, "cursor")
        after = decode_cursor(token, log_filter.fingerprint()) if token else None
        deadline = store.Deadline(settings().query_timeout_ms)
        with gate().held(heavy=log_filter.user_id is None):
            rows, more = store.query_page(get_db(), log_filter, limit, after, deadline)
        body = formats.session_logs(rows) if shape == "sessions" else [formats.flat_row(r) for r in rows]
        headers = {}
        if more:
            cursor = encode_cursor(sort_key(rows[-1]), log_filter.fingerprint())
            headers["Link"] = formats.next_link(public_base_url(), args, cursor)
        return json_response(body, headers=headers)

    @ns.doc(params=FILTER_DOCS)
    @ns.response(200, "Deleted; the number of actions removed", schemas.delete_result)
    @ns.response(400, "No filter, or an unknown parameter or bad value", schemas.problem)
    @ns.response(503, WRITE_UNAVAILABLE, schemas.problem)
    @requires("admin")
    def delete(self):
        """Delete the matching actions (at least one filter required); sessions left empty go too."""
        log_filter = filters.parse_filter(request.args, filters.FILTER_PARAMS)
        if log_filter.is_empty:
            raise ApiError(400, "FILTER_REQUIRED", "name at least one of userId, sessionId, types, from, to: "
                           "DELETE /logs never deletes everything", title="Filter required")
        deadline = store.Deadline(settings().query_timeout_ms, per_command=True)
        return json_response({"deleted": store.delete_actions(get_db(), log_filter, deadline)})


def _partial_flag(args):
    value = filters.parse_choice(args, "partial", ("true", "false"), "false")
    for name in args:
        if name != "partial":
            raise filters.InvalidParameter(name, f"unknown query parameter '{name}'", code="UNKNOWN_PARAMETER")
    return value == "true"
