"""Small measuring helpers: percentiles, an HTTP client on one kept connection, CPU timers."""
from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit


def percentile(values, fraction):
    """Nearest-rank percentile of a list of numbers."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def ratio(value, baseline):
    return value / baseline if baseline else float("nan")


class Http:
    """One HTTP/1.1 connection (re-opened when gunicorn's sync worker closes it)."""

    def __init__(self, base_url, timeout=600):
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        """Send a request; return (status, body bytes). A GET on a kept connection that the server
        closed meanwhile (gunicorn's keep-alive is 5 s) is sent again once, on a new connection."""
        try:
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if method != "GET":
                raise
            self.connection.close()
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        return response.status, data

    def post_json(self, path, body):
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def close(self):
        self.connection.close()


def best_cpu_interleaved(functions, repeats):
    """The least process CPU time of each function over ``repeats`` rounds that call them in turn,
    so that all of them see the same moments of a shared machine."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.process_time()
            function()
            best[index] = min(best[index], time.process_time() - start)
    return best
