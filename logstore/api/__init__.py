"""The flask-restx Api: paths of every namespace are decided here."""
from flask import request
from flask_restx import Api

from ..errors import PROBLEM_MIME, ApiError, problem_response
from . import export  # noqa: F401  (adds /logs/export to the logs namespace)
from . import insights  # noqa: F401  (adds /logs/overview, top, paths, funnel, clicks to it)
from . import stats  # noqa: F401  (adds /logs/stats to it)
from .health import ns as health_ns
from .logs import ns as logs_ns
from .sdk import ns as sdk_ns
from .shared import SECURITY_DEFINITIONS


class ProblemApi(Api):
    """An Api whose every error, inside a resource or not, is a problem document."""

    def handle_error(self, e):
        return problem_response(e)

    def make_response(self, data, *args, **kwargs):
        """A reply a resource returned as data is JSON, whatever the Accept header: problem+json is
        listed among the representations only so that Swagger says errors come in it."""
        response = self.representations["application/json"](data, *args, **kwargs)
        response.headers["Content-Type"] = "application/json"
        return response


def require_utf8_query():
    """A query string of raw bytes that are not UTF-8 is the client's error (werkzeug would raise)."""
    try:
        request.query_string.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "INVALID_PARAMETER", "the query string is not UTF-8; percent-encode its bytes",
                       title="Invalid query string") from None


def build_api(app):
    app.before_request(require_utf8_query)
    api = ProblemApi(
        app,
        version="1.0",
        title="logstore",
        description="Ingest and query user-session logs (clicks, views, page navigation).",
        doc="/docs",
        authorizations=SECURITY_DEFINITIONS,
    )
    # Errors are application/problem+json: list it so that Swagger's "produces" says so. Replies are
    # built as Responses with their own media type; this only documents and negotiates.
    api.representations[PROBLEM_MIME] = api.representations["application/json"]
    api.add_namespace(logs_ns, path="/logs")
    api.add_namespace(health_ns, path="/")
    api.add_namespace(sdk_ns, path="/sdk")
    return api
