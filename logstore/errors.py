"""Problem documents (RFC 9457): the one shape of every error the service answers with."""
from __future__ import annotations

import logging
import uuid

import msgspec
from flask import Response, g, has_request_context, request
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger(__name__)

PROBLEM_MIME = "application/problem+json"
TYPE_BASE = "/docs/errors#"

# HTTP errors werkzeug raises on its own, mapped to our stable codes.
HTTP_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE", 429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 503: "DATABASE_UNAVAILABLE",
}


class ApiError(Exception):
    """An error meant for the client: its status, stable code, title and detail."""

    def __init__(self, status, code, detail, *, title=None, errors=None, headers=None, **extra):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or HTTP_STATUS_CODES.get(status, "Error")
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


def request_id():
    """The id of the current request: the caller's X-Request-ID if sane, else a new one."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
    return g.request_id


def problem_response(error):
    """A Response holding the problem document for ``error`` (ApiError, HTTPException, or other)."""
    if isinstance(error, ApiError):
        return _problem(error.status, error.code, error.title, error.detail, error.errors,
                        error.headers, error.extra)
    if isinstance(error, HTTPException) and error.code is not None:
        headers = {}
        if error.code == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)
        detail = error.description or HTTP_STATUS_CODES.get(error.code, "")
        return _problem(error.code, HTTP_CODES.get(error.code, "HTTP_ERROR"),
                        HTTP_STATUS_CODES.get(error.code, "Error"), detail, None, headers, {})
    if isinstance(error, ConnectionFailure) or _is_unreachable(error):
        log.warning("database unavailable (request %s): %s", request_id(), error)
        return _problem(503, "DATABASE_UNAVAILABLE", "Database unavailable",
                        "the database cannot be reached; try again shortly", None,
                        {"Retry-After": "5"}, {})
    log.exception("unhandled error (request %s)", request_id())
    return _problem(500, "INTERNAL_ERROR", "Internal Server Error",
                    "an unexpected error occurred; quote the requestId when reporting it", None, {}, {})


def _is_unreachable(error):
    return isinstance(error, PyMongoError) and error.timeout


def _problem(status, code, title, detail, errors, headers, extra):
    body = {
        "type": TYPE_BASE + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "requestId": request_id(),
    }
    body.update(extra)
    if errors is not None:
        body["errors"] = errors
    response = Response(msgspec.json.encode(body), status=status, mimetype=PROBLEM_MIME)
    response.headers.update(headers)
    response.headers["X-Request-ID"] = body["requestId"] or ""
    return response


def register_error_handlers(app):
    """Route every error raised outside flask-restx (unknown paths, other views) to a problem."""
    app.register_error_handler(ApiError, problem_response)
    app.register_error_handler(HTTPException, problem_response)
    app.register_error_handler(Exception, problem_response)
