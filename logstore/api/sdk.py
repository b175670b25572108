"""The browser client: public (like /docs), loadable from any origin.

``/sdk/logstore.js`` (and ``logstore.d.ts``) is the latest release, cached for an hour then
revalidated by ETag; ``/sdk/<version>/logstore.js`` is one release, which never changes, cached
for a year as immutable, so that a page may pin its integrity hash; ``/sdk/versions.json`` lists
every release with that hash. Releases before the latest are kept, byte for byte, under
``static/sdk/releases/<version>/``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from flask import Response, request
from flask_restx import Namespace, Resource

from ..errors import ApiError

SDK_DIR = Path(__file__).resolve().parent.parent / "static" / "sdk"
SDK_PATH = SDK_DIR / "logstore.js"
TYPES_PATH = SDK_DIR / "logstore.d.ts"
RELEASES_DIR = SDK_DIR / "releases"
MAX_AGE = 3600  # the latest: an hour, then a cheap revalidation by ETag (a deploy reaches every page within the hour)
IMMUTABLE = "public, max-age=31536000, immutable"  # a release: a year, never revalidated

ns = Namespace("sdk", description="The browser client (a JavaScript module and its TypeScript declarations)")


def integrity(source):
    """The Subresource Integrity value of ``source`` (bytes), as the README gives it."""
    return "sha384-" + base64.b64encode(hashlib.sha384(source).digest()).decode()


def version_of(source):
    """The ``VERSION`` a module's source (bytes) exports."""
    return re.search(rb'export const VERSION = "([^"]+)"', source).group(1).decode()


def load_releases():
    """Every release: {version: {"js": bytes, "types": bytes or None}}, the latest included."""
    releases = {}
    for folder in sorted(RELEASES_DIR.iterdir()) if RELEASES_DIR.is_dir() else ():
        js, types = folder / "logstore.js", folder / "logstore.d.ts"
        if js.is_file():
            releases[folder.name] = {"js": js.read_bytes(), "types": types.read_bytes() if types.is_file() else None}
    releases[LATEST] = {"js": SOURCE, "types": TYPES}
    return releases


def _sort_key(version):
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


SOURCE = SDK_PATH.read_bytes()
TYPES = TYPES_PATH.read_bytes() if TYPES_PATH.is_file() else None
LATEST = version_of(SOURCE)
INTEGRITY = integrity(SOURCE)
ETAG = hashlib.sha256(SOURCE).hexdigest()[:32]
RELEASES = load_releases()
VERSIONS = {
    "latest": LATEST,
    "versions": [
        {"version": version, "url": f"/sdk/{version}/logstore.js", "integrity": integrity(release["js"]),
         "types": f"/sdk/{version}/logstore.d.ts" if release["types"] else None}
        for version, release in sorted(RELEASES.items(), key=lambda item: _sort_key(item[0]), reverse=True)
    ],
}


def _public(response):
    # A module script is fetched in CORS mode: pages on any origin may load it (it holds no
    # secret; sending logs still needs CORS_ORIGINS and a key). flask-cors leaves a set header be.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _latest(body, mimetype):
    response = Response(body, mimetype=mimetype)
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    return _public(response).make_conditional(request)


def _release(version, part):
    release = RELEASES.get(version)
    body = release and release[part]
    if body is None:
        known = ", ".join(entry["version"] for entry in VERSIONS["versions"])
        raise ApiError(404, "NOT_FOUND", f"no SDK release {version!r} with this file (releases: {known}; "
                       "see /sdk/versions.json)")
    response = Response(body, mimetype="application/javascript" if part == "js" else "application/typescript")
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.headers["Cache-Control"] = IMMUTABLE
    if part == "js":
        response.headers["X-SDK-Integrity"] = integrity(body)
    return _public(response).make_conditional(request)


@ns.route("/logstore.js")
class Sdk(Resource):
    @ns.produces(["application/javascript"])
    @ns.response(200, "The latest ES module; Cache-Control: public, max-age=3600, ETag, Access-Control-Allow-Origin: *")
    @ns.response(304, "Not modified (If-None-Match matched the ETag)")
    def get(self):
        """The latest browser client: follows the service's upgrades (pin /sdk/<version>/logstore.js instead to pin a hash)."""
        response = _latest(SOURCE, "application/javascript")
        response.headers["X-SDK-Integrity"] = INTEGRITY
        response.headers["X-SDK-Version"] = LATEST
        return response


@ns.route("/logstore.d.ts")
class SdkTypes(Resource):
    @ns.produces(["application/typescript"])
    @ns.response(200, "TypeScript declarations of the latest module")
    def get(self):
        """TypeScript declarations of /sdk/logstore.js."""
        return _latest(TYPES, "application/typescript")


@ns.route("/<string:version>/logstore.js")
@ns.param("version", "a release, e.g. 2.0.0 (see /sdk/versions.json)")
class SdkRelease(Resource):
    @ns.produces(["application/javascript", "application/problem+json"])  # the 404
    @ns.response(200, "One release, which never changes: Cache-Control: public, max-age=31536000, immutable")
    @ns.response(404, "No such release (problem document)")
    def get(self, version):
        """One release of the browser client, to pin with its integrity hash (listed by /sdk/versions.json)."""
        return _release(version, "js")


@ns.route("/<string:version>/logstore.d.ts")
@ns.param("version", "a release, e.g. 2.0.0")
class SdkReleaseTypes(Resource):
    @ns.produces(["application/typescript", "application/problem+json"])  # the 404
    @ns.response(200, "TypeScript declarations of one release (immutable)")
    @ns.response(404, "No such release, or one without declarations (before 2.0.0)")
    def get(self, version):
        """TypeScript declarations of one release."""
        return _release(version, "types")


@ns.route("/versions.json")
class SdkVersions(Resource):
    @ns.response(200, "Every release, newest first: {latest, versions: [{version, url, integrity, types}]}")
    def get(self):
        """The releases of the browser client and their Subresource Integrity hashes (sha384)."""
        return _latest((json.dumps(VERSIONS, indent=1) + "\n").encode(), "application/json")
