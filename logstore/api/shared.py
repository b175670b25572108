"""What every namespace of the API uses: the JSON reply, the app's settings, the key guard as
Swagger documents it, and the 503 descriptions of reads and writes."""
from __future__ import annotations

from flask import Response, current_app

from .. import auth, values
from . import schemas

# Swagger: both ways of sending a key, offered on every protected operation.
SECURITY_DEFINITIONS = {
    "bearer": {"type": "apiKey", "in": "header", "name": "Authorization",
               "description": "Authorization: Bearer <key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "X-API-Key: <key>"},
}
SECURITY = ["bearer", "apiKey"]  # either one

WRITE_UNAVAILABLE = ("Database unavailable or busy (Retry-After); DATABASE_STANDALONE: the database cannot run "
                     "transactions (a standalone server)")
READ_UNAVAILABLE = ("Database unavailable; QUERY_TIMEOUT: a read ran past its time limit; QUERY_TOO_LARGE: its "
                    "groups outgrew the database's memory; READS_BUSY: too many "
                    "reads across all users in this worker (each with Retry-After)")


def json_response(data, status=200, headers=None):
    """JSON through msgspec: several times faster than the stdlib on a 10,000-action page."""
    return Response(values.encode(data), status=status, mimetype="application/json", headers=headers)


def settings():
    return current_app.extensions["logstore.settings"]


def requires(kind):
    """``auth.requires(kind)``, with what Swagger shows of it: the key headers the operation takes
    and what refusal looks like."""
    guard = auth.requires(kind)

    def decorate(view):
        wrapper = guard(view)
        wrapper.__apidoc__ = _swagger_doc(getattr(view, "__apidoc__", {}), kind)
        return wrapper

    return decorate


def _swagger_doc(doc, kind):
    """flask-restx reads ``__apidoc__``: the key headers this operation takes and what refusal looks like."""
    problem = schemas.problem
    responses = dict(doc.get("responses", {}))
    responses.setdefault("401", ("No API key, or an unknown one (WWW-Authenticate says how to send it)", problem))
    responses.setdefault("403", (f"The API key is not a {kind} or admin key", problem))
    over = ("Over LOGSTORE_RATE_LIMIT for this key, LOGSTORE_CLIENT_RATE_LIMIT for this address or "
            "LOGSTORE_USER_RATE_LIMIT for a userId of the body" if kind == "write" else
            "Over LOGSTORE_RATE_LIMIT for this key")
    responses.setdefault("429", (f"{over}, or LOGSTORE_AUTH_FAILURE_LIMIT (unknown keys from this address); "
                                 "Retry-After says when to retry", problem))
    return {**doc, "security": SECURITY, "responses": responses}
