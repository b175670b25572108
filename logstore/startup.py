"""The checks a start must pass, runnable before any worker exists (gunicorn.conf.py's on_starting),
and the warnings a start gives once."""
from __future__ import annotations

from . import auth, cors, db
from .config import Settings
from .requestlog import configure_logging


def check_settings(environ=None):
    """Read the settings and raise ConfigError for any start that must not happen.

    The same checks run again in create_app; here they stop gunicorn's master with one clear line.
    """
    configure_logging()
    settings = Settings.from_env(environ)
    auth.check_open_start(settings)
    cors.check_origins(settings.cors_origins)
    auth.warn_if_open(settings)
    if settings.mongo_url:
        check_database(settings)
    return settings


def check_database(settings):
    """Ask the server at ``MONGO_URL`` what it is (``db.check_server``): a standalone stops the start."""
    database = db.connect(settings.mongo_url, settings.db_timeout_ms, settings.db_socket_timeout_ms)
    try:
        db.check_server(database)
    finally:
        database.client.close()
