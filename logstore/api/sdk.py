"""The browser client, ``GET /sdk/logstore.js``: public (like /docs), cacheable, loadable from any origin."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from flask import Response, request
from flask_restx import Namespace, Resource

SDK_PATH = Path(__file__).resolve().parent.parent / "static" / "sdk" / "logstore.js"
MAX_AGE = 3600  # an hour, then a cheap revalidation by ETag: a deploy reaches every page within the hour

ns = Namespace("sdk", description="The browser client (a JavaScript module)")


def integrity(source):
    """The Subresource Integrity value of ``source`` (bytes), as the README gives it."""
    return "sha384-" + base64.b64encode(hashlib.sha384(source).digest()).decode()


SOURCE = SDK_PATH.read_bytes()
INTEGRITY = integrity(SOURCE)
ETAG = hashlib.sha256(SOURCE).hexdigest()[:32]


@ns.route("/logstore.js")
class Sdk(Resource):
    @ns.produces(["application/javascript"])
    @ns.response(200, "The ES module; Cache-Control, ETag, and Access-Control-Allow-Origin: *")
    @ns.response(304, "Not modified (If-None-Match matched the ETag)")
    def get(self):
        """The browser client module: import it from a page to send logs (see the README)."""
        response = Response(SOURCE, mimetype="application/javascript")
        response.set_etag(ETAG)
        response.cache_control.public = True
        response.cache_control.max_age = MAX_AGE
        # A module script is fetched in CORS mode: pages on any origin may load it (it holds no
        # secret; sending logs still needs CORS_ORIGINS and a key). flask-cors leaves a set header be.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-SDK-Integrity"] = INTEGRITY
        return response.make_conditional(request)
