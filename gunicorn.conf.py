"""gunicorn settings, read from the environment (gunicorn loads ./gunicorn.conf.py by itself).

GUNICORN_CMD_ARGS and command-line flags still override everything here (the tests bind with
``GUNICORN_CMD_ARGS=--bind=127.0.0.1:<port>``).
"""
import os
import sys

from dotenv import load_dotenv

load_dotenv()

# Heroku gives the port in PORT and expects us on every interface.
bind = f"0.0.0.0:{os.environ.get('PORT') or '5000'}"
# Heroku sets WEB_CONCURRENCY from the dyno size; 2 suits a small dyno.
workers = int(os.environ.get("WEB_CONCURRENCY") or "2")
# A worker silent this long is killed and replaced (a 50,000-action POST takes a few seconds).
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or "30")
# On SIGTERM (a deploy, a restart) workers finish the requests in flight for up to this long.
# Heroku sends SIGKILL 30 s after SIGTERM, so stay below that.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT") or "25")
keepalive = 5
# gunicorn would take X-Forwarded-Proto (and -Ssl, -Protocol) from any client on loopback by itself;
# which forwarded headers to believe is the app's LOGSTORE_TRUSTED_PROXIES alone (ProxyFix).
secure_scheme_headers = {}
# Threaded workers: a long GET /logs/export streams from a request thread while the worker's main
# thread keeps telling the arbiter it is alive. With the default sync worker, any response that
# takes longer than the timeout is aborted mid-stream, so an export of millions of actions would
# fail. Threads also keep one slow export from blocking the worker's other requests.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or "4")
# The app writes its own JSON line per request (logstore/requestlog.py); gunicorn's own access log
# would print every request twice, with its query string.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL") or "info"


def on_starting(server):
    """Check the settings once, in the master, before any worker starts: a bad start stops here.

    gunicorn prints a RuntimeError (ConfigError is one) as ``Error: <message>`` and exits 1, instead of
    every worker failing to boot with a traceback.
    """
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from logstore.startup import check_settings

    check_settings()
    # Requests gunicorn refuses itself (a malformed request line, an over-long URI) get a problem
    # document too, not gunicorn's HTML page; workers fork from here and inherit it.
    from logstore.gunicorn_errors import install

    install()


# Python's cyclic GC runs a young collection every 700 container allocations; a 10,000-action POST
# makes about 40,000 containers (actions, properties, decoded structs) that all live until the
# response, so it paid for dozens of collections that found nothing (≈ 2 ms of its CPU). Almost
# everything the service allocates is freed by reference counting; cycles are rare and small.
GC_YOUNG_THRESHOLD = 50_000


def post_worker_init(worker):
    """Once the app is loaded in a worker: move what startup allocated (Flask, pymongo, the app)
    out of the GC's generations for good, and collect the young generation less often."""
    import gc

    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
