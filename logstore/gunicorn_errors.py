"""Problem documents for the errors gunicorn answers by itself, before the app sees a request.

A malformed request line, an over-long URI or too many header bytes never reach Flask: gunicorn
writes its own HTML page (``gunicorn.util.write_error``). ``install()`` swaps that writer for one
that sends the same status as an RFC 9457 problem document, so no client ever gets HTML.
"""
from __future__ import annotations

import json
import uuid

from gunicorn import util

from .errors import HTTP_CODES, PROBLEM_MIME, TYPE_BASE

GUNICORN_CODES = {414: "URI_TOO_LONG", 417: "EXPECTATION_FAILED", 431: "HEADERS_TOO_LARGE",
                  501: "NOT_IMPLEMENTED"}


def problem_bytes(status, reason, message):
    """The whole HTTP response, head and problem body, for a status gunicorn chose."""
    code = GUNICORN_CODES.get(status) or HTTP_CODES.get(status, "HTTP_ERROR")
    request_id = uuid.uuid4().hex
    body = json.dumps({
        "type": TYPE_BASE + code.lower().replace("_", "-"), "title": reason, "status": status,
        "detail": message or reason, "code": code, "requestId": request_id,
    }).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: {PROBLEM_MIME}\r\n"
            f"X-Request-ID: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_problem(sock, status_int, reason, mesg):
    util.write_nonblock(sock, problem_bytes(status_int, reason, mesg))


def install():
    """Make gunicorn's own error responses problem documents (in this process and its workers)."""
    util.write_error = write_problem
