"""gunicorn settings, read from the working directory by every start: the Procfile's web line,
``python app.py`` and the tests. WEB_CONCURRENCY (workers) and PORT still come from the environment.

Threaded workers: a long GET /logs/export streams from a request thread while the worker's main
thread keeps telling the arbiter it is alive. With the default sync worker, any response that
takes longer than the worker timeout (30 s) is aborted mid-stream, so an export of a few million
actions would fail. Threads also keep one slow export from blocking the worker's other requests.
"""
worker_class = "gthread"
threads = 4
