"""One JSON line per request on stdout, and the same JSON shape for the service's other log lines.

A request line holds the request id, method, path, status and duration; never the body, the query
string (it may carry anything, keys included) or any header value other than the request id.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone

from flask import g, request

from .errors import request_id

access_log = logging.getLogger("logstore.access")


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name}
        line.update(getattr(record, "fields", None) or {"message": record.getMessage()})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (test captures swap it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


def configure_logging():
    """Send the ``logstore`` loggers to stdout as JSON lines, once per process."""
    logger = logging.getLogger("logstore")
    if any(getattr(h, "logstore", False) for h in logger.handlers):
        return
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter())
    handler.logstore = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def init_app(app):
    configure_logging()
    app.before_request(_start)
    app.after_request(_finish)


def _start():
    g.started = time.perf_counter()


def _finish(response):
    fields = {"requestId": request_id(), "method": request.method, "path": request.path,
              "status": response.status_code}
    response.headers["X-Request-ID"] = fields["requestId"]
    started = g.get("started")

    def write():
        # On close, so that a streamed answer is timed to its last byte.
        if started is not None:
            fields["ms"] = round((time.perf_counter() - started) * 1000, 1)
        access_log.info("request", extra={"fields": fields})

    response.call_on_close(write)
    return response
