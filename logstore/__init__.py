"""logstore: a document store for user-session logs, served by Flask and flask-restx over MongoDB."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def create_app(settings=None, *, database=None):
    """Build the app.

    :param settings: a Settings; read from the environment when omitted.
    :param database: a pymongo Database to use instead of connecting to ``settings.mongo_url``.
    """
    # Imported here, not above: importing one module of the package (``logstore.store.errors``, or
    # ``logstore.startup`` in gunicorn's master) must not load all the others; an app built loads them.
    from flask import Flask

    from . import auth, clientlimits, cors, dashboard, db, headers, ratelimit, readgate, requestlog
    from .api import build_api
    from .config import Settings
    from .errors import register_error_handlers

    settings = settings or Settings.from_env()
    requestlog.configure_logging()  # first: what the steps below log at start is JSON too
    app = Flask(__name__, static_folder=None)  # no /static: the dashboard and the SDK serve their own files
    app.config.update(ERROR_INCLUDE_MESSAGE=False, RESTX_ERROR_404_HELP=False, RESTX_MASK_SWAGGER=False)
    app.extensions["logstore.settings"] = settings
    trust_proxies(app, settings)
    auth.init_app(app)
    ratelimit.init_app(app)
    clientlimits.init_app(app)
    db.init_app(app, database)
    readgate.init_app(app)
    requestlog.init_app(app)
    cors.init_app(app)
    headers.init_app(app)
    register_error_handlers(app)
    build_api(app)
    app.register_blueprint(dashboard.bp)
    _ensure_indexes(app)
    return app


def trust_proxies(app, settings):
    """Read the client address and scheme from as many X-Forwarded-* hops as LOGSTORE_TRUSTED_PROXIES
    says (Heroku's router is one, and appends the address it saw), and X-Forwarded-Host only when
    LOGSTORE_TRUST_FORWARDED_HOST says so: whatever a client sends beyond that is not believed."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    hops = settings.trusted_proxies
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops,
                                x_host=hops if settings.trust_forwarded_host else 0)


def _ensure_indexes(app):
    """Create indexes at start; a database that is down now must not stop the start."""
    from pymongo.errors import PyMongoError

    from .store.indexes import ensure_all_indexes

    try:
        ensure_all_indexes(app.extensions["logstore.db"], app.extensions["logstore.settings"].retention_days)
    except PyMongoError as exc:
        log.warning("could not create indexes at start (%s); `flask migrate` will", exc)
