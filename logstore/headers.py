"""Response headers every answer or some answers need: caching, framing, content sniffing, CSP, Vary.

- ``Cache-Control: no-store`` on every answer of an endpoint that takes a key (logs, exports,
  stats, their errors too): no shared cache or browser disk keeps what a key read.
- ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY`` on every answer.
- A strict ``Content-Security-Policy`` on the two HTML pages, ``/dashboard`` and ``/docs``: nothing
  but this origin's own files, no inline code except the inline script and styles of Swagger UI's
  page (flask-restx's template), allowed by their SHA-256 hashes, computed from the page as sent.
- A redirect's ``Location`` (werkzeug's, for a path such as ``/logs//``) on LOGSTORE_PUBLIC_URL when
  set; otherwise werkzeug builds it from the request's own host.
- ``Vary: Origin`` on every answer when ``CORS_ORIGINS`` lists origins (not ``*``): the CORS headers
  depend on the request's Origin, so a cache must not hand one origin's answer to another.
"""
from __future__ import annotations

import base64
import hashlib
import re

from urllib.parse import urlsplit

from flask import g, request

CSP_BASE = ("default-src 'none'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGES = ("/dashboard", "/dashboard/", "/docs", "/docs/")
_SCRIPT = re.compile(rb"<script(?:\s[^>]*)?>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_STYLE = re.compile(rb"<style(?:\s[^>]*)?>(.*?)</style>", re.DOTALL | re.IGNORECASE)
_STYLE_ATTRIBUTE = re.compile(rb"""\sstyle\s*=\s*"([^"]*)\"""", re.IGNORECASE)


def init_app(app):
    settings = app.extensions["logstore.settings"]
    vary_origin = list(settings.cors_origins) not in ([], ["*"])

    @app.after_request
    def add_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if g.get("keyed"):
            response.headers["Cache-Control"] = "no-store"
        if vary_origin:
            response.vary.add("Origin")
        if settings.public_url and response.status_code in (301, 302, 303, 307, 308) and response.location:
            response.headers["Location"] = on_public_url(response.location, settings.public_url)
        if request.path in PAGES and response.mimetype == "text/html" and not response.is_streamed:
            response.headers["Content-Security-Policy"] = page_policy(response.get_data())
        return response


def on_public_url(location, public_url):
    """``location`` (absolute or not) with the scheme and host of ``public_url``."""
    parts = urlsplit(location)
    return public_url + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def mark_keyed():
    """Called by ``auth.requires``: this answer belongs to a key (or to the open service's data)."""
    g.keyed = True


def _hash(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'"


def page_policy(html):
    """The CSP of one HTML page: its own files, plus the hashes of the inline code it holds."""
    scripts = [_hash(body) for body in _SCRIPT.findall(html) if body.strip()]
    styles = [_hash(body) for body in _STYLE.findall(html)]
    attributes = [_hash(body) for body in _STYLE_ATTRIBUTE.findall(html)]
    style_src = " ".join(["'self'", *styles, *(["'unsafe-hashes'", *attributes] if attributes else [])])
    script_src = " ".join(["'self'", *scripts])
    return f"{CSP_BASE}; script-src {script_src}; style-src {style_src}"
