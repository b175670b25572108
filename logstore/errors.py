"""Problem documents (RFC 9457): the one shape of every error the service answers with."""
from __future__ import annotations

import logging
import uuid

import msgspec
from flask import Response, g, has_request_context, request
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, WriteConcernError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from .filters import InvalidParameter
from .store.errors import QueryTimeout, StorageBusy, UnknownTimeZone

log = logging.getLogger(__name__)

PROBLEM_MIME = "application/problem+json"
TYPE_BASE = "/docs/errors#"

# HTTP errors werkzeug raises on its own, mapped to our stable codes.
HTTP_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE", 429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 503: "DATABASE_UNAVAILABLE",
}

# What a client should wait before retrying after a 503 (seconds): an outage, or contention.
RETRY_AFTER_UNAVAILABLE = "5"
RETRY_AFTER_BUSY = "1"
# After a read stopped for time: long enough for the database to have let go of it.
RETRY_AFTER_QUERY_TIMEOUT = "5"
QUERY_TIMEOUT_DETAIL = ("the query ran past its time limit and the database stopped it; narrow it and ask "
                        "again: a from/to range, a userId, fewer types or a smaller limit")
# Labels MongoDB and pymongo put on errors that a later retry can succeed after.
TRANSIENT_LABELS = ("TransientTransactionError", "UnknownTransactionCommitResult", "RetryableWriteError")
# Codes of a node that steps down, shuts down or cannot reach its peers (the retryable writes
# specification's list), for errors that come without a label.
UNAVAILABLE_CODES = frozenset({6, 7, 89, 91, 134, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
# A read stopped for time: MaxTimeMSExpired (50, mongod), ExceededTimeLimit (262, what mongos
# answers when a shard's part ran past maxTimeMS), NetworkInterfaceExceededTimeLimit (202, mongos
# waiting on a shard), LockTimeout (24, a lock not granted in time). 262 is also in the retryable
# writes' list above: a write that meets it is retried as unavailable, a read is a QUERY_TIMEOUT.
TIME_LIMIT_CODES = frozenset({24, 50, 202, 262})
# A $group or $sort over the server's memory limit that may not spill to disk
# (QueryExceededMemoryLimitNoDiskUseAllowed, 292; the sort's 16819 and 16820 and ExceededMemoryLimit,
# 146, of older servers). The service passes allowDiskUse to every group that grows with the data;
# Atlas M0 and Flex clusters ignore it, so there a count over too many groups meets this.
MEMORY_LIMIT_CODES = frozenset({146, 292, 16819, 16820})
QUERY_TOO_LARGE_DETAIL = ("the database ran out of memory for this query's groups and may not use disk for "
                          "them (Atlas M0 and Flex clusters never may): narrow it and ask again: a from/to "
                          "range, a userId, or fewer groupBy keys (user and session make a group each)")
# What a standalone mongod answers a transaction with (IllegalOperation, "Transaction numbers are
# only allowed on a replica set member or mongos"): the start refuses such a server (db.check_server),
# but one that could not be asked at start, or was swapped since, must not answer 500 either.
ILLEGAL_OPERATION = 20
STANDALONE_DETAIL = ("the database is a standalone MongoDB server, which cannot run the transactions POST and "
                     "DELETE need; the operator must point MONGO_URL at a replica set (docs/DEPLOY.md)")
# The methods whose database work is a bounded read (DELETE reads what it deletes under a deadline).
READ_METHODS = frozenset({"GET", "HEAD", "DELETE"})


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
    """A Response holding the problem document for ``error`` (ApiError, a query parameter's
    InvalidParameter, HTTPException, or other)."""
    if isinstance(error, UnknownTimeZone):
        error = InvalidParameter("tz", str(error))  # the store's word for a bad parameter: the same 400
    if isinstance(error, ApiError):
        return _problem(error.status, error.code, error.title, error.detail, error.errors,
                        error.headers, error.extra)
    if isinstance(error, InvalidParameter):
        return _problem(400, error.code, "Invalid query parameter", error.detail, None, {},
                        {"parameter": error.name})
    if isinstance(error, HTTPException) and error.code is not None:
        headers = {}
        if error.code == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)
        detail = error.description or HTTP_STATUS_CODES.get(error.code, "")
        return _problem(error.code, HTTP_CODES.get(error.code, "HTTP_ERROR"),
                        HTTP_STATUS_CODES.get(error.code, "Error"), detail, None, headers, {})
    if isinstance(error, OperationFailure) and error.code == ILLEGAL_OPERATION and "replica set" in str(error):
        log.error("the database refuses transactions: it is a standalone server (request %s)", request_id())
        return _problem(503, "DATABASE_STANDALONE", "Database cannot run transactions", STANDALONE_DETAIL, None,
                        {"Retry-After": RETRY_AFTER_UNAVAILABLE}, {})
    if is_memory_limit(error):
        log.warning("query over the database's memory limit (request %s): %s", request_id(), error)
        return _problem(503, "QUERY_TOO_LARGE", "Query too large", QUERY_TOO_LARGE_DETAIL, None, {}, {})
    if isinstance(error, QueryTimeout) or is_read_time_limit(error):
        log.warning("query stopped at its time limit (request %s)", request_id())
        return _problem(503, "QUERY_TIMEOUT", "Query timed out", QUERY_TIMEOUT_DETAIL, None,
                        {"Retry-After": RETRY_AFTER_QUERY_TIMEOUT}, {})
    if isinstance(error, StorageBusy):
        log.warning("database busy (request %s): %s", request_id(), error)
        return _problem(503, "DATABASE_BUSY", "Database busy",
                        "other requests are writing the same sessions; retry the same body shortly", None,
                        {"Retry-After": RETRY_AFTER_BUSY}, {})
    if is_database_unavailable(error):
        log.warning("database unavailable (request %s): %r", request_id(), error)
        return _problem(503, "DATABASE_UNAVAILABLE", "Database unavailable",
                        "the database cannot be reached; retry the same body shortly", None,
                        {"Retry-After": RETRY_AFTER_UNAVAILABLE}, {})
    log.exception("unhandled error (request %s)", request_id())
    return _problem(500, "INTERNAL_ERROR", "Internal Server Error",
                    "an unexpected error occurred; quote the requestId when reporting it", None, {}, {})


def export_cut_reason(error):
    """The code and detail of an export that ``error`` cut mid-stream, once its 200 was sent."""
    server_code = getattr(error, "code", None)
    if isinstance(error, QueryTimeout) or getattr(error, "timeout", False) or server_code in TIME_LIMIT_CODES:
        return "QUERY_TIMEOUT", QUERY_TIMEOUT_DETAIL
    if server_code in MEMORY_LIMIT_CODES:
        return "QUERY_TOO_LARGE", QUERY_TOO_LARGE_DETAIL
    if isinstance(error, PyMongoError):
        return "DATABASE_UNAVAILABLE", "the database failed during the export"
    return "INTERNAL_ERROR", f"the export failed (request {request_id()}); the rows before this line are complete"


def is_read_time_limit(error):
    """True for a read the server stopped for time, by any of its time-limit codes (also a read the
    service makes outside ``store.reads.run``, such as the extent's or the layout's)."""
    return (isinstance(error, OperationFailure) and error.code in TIME_LIMIT_CODES
            and has_request_context() and request.method in READ_METHODS)


def is_memory_limit(error):
    return isinstance(error, OperationFailure) and error.code in MEMORY_LIMIT_CODES


def is_database_unavailable(error):
    """True for a failure of the database rather than of this code: unreachable, timed out, electing
    a primary, shutting down, or unable to confirm a write. Anything else is a bug (500)."""
    if isinstance(error, (ConnectionFailure, WriteConcernError)):
        return True
    if not isinstance(error, PyMongoError):
        return False
    return (error.timeout or any(error.has_error_label(label) for label in TRANSIENT_LABELS)
            or (isinstance(error, OperationFailure) and error.code in UNAVAILABLE_CODES))


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
