"""CORS for browsers on the origins in ``CORS_ORIGINS`` (a comma list of exact origins, or ``*``)."""
from __future__ import annotations

import re

from flask_cors import CORS

from .config import ConfigError

ALLOW_HEADERS = ["Authorization", "X-API-Key", "Content-Type", "Content-Encoding", "Idempotency-Key",
                 "X-Request-ID"]
EXPOSE_HEADERS = ["Link", "Retry-After", "X-Request-ID", "Idempotent-Replayed"]
METHODS = ["GET", "HEAD", "POST", "DELETE", "OPTIONS"]
# scheme://host[:port], nothing else: flask-cors would read *, ?, [ … in an origin as a regex.
_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?$")
PREFLIGHT_MAX_AGE = 600


def check_origins(origins):
    """The origins as a list; ConfigError for an entry that is not an exact origin (or a lone ``*``)."""
    origins = list(origins)
    if origins != ["*"]:
        for origin in origins:
            if not _ORIGIN.match(origin):
                raise ConfigError(f"CORS_ORIGINS: {origin!r} is not an origin such as https://app.example.com "
                                  f"(scheme, host, optional port; no path, no wildcard) or a lone *")
    return origins


def init_app(app):
    """Answer preflights and add the CORS headers to every response, errors included; off when unset."""
    origins = check_origins(app.extensions["logstore.settings"].cors_origins)
    if not origins:
        return
    # No credentials (cookies): keys travel in headers, which is what lets "*" be safe to offer.
    CORS(app, origins=origins, allow_headers=ALLOW_HEADERS, expose_headers=EXPOSE_HEADERS, methods=METHODS,
         max_age=PREFLIGHT_MAX_AGE, supports_credentials=False, send_wildcard=origins == ["*"])
