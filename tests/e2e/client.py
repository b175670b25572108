"""A retrying HTTP client, as a frontend should be: same body, same action ids, until a 201."""
from __future__ import annotations

import http.client
import json
import time
from collections import Counter


class RetryingPoster:
    """POSTs bodies to /logs, retrying failures and timeouts; counts what it saw."""

    def __init__(self, base, timeout=5.0, pause=0.05, max_attempts=200):
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.timeout, self.pause, self.max_attempts = timeout, pause, max_attempts
        self.outcomes = Counter()  # "201", "503 DATABASE_UNAVAILABLE", "timeout", "connection", ...
        self.slow_503s = []        # seconds taken by any 503 slower than 2 s

    def post_once(self, body):
        """One attempt: (status or None, reply dict, seconds)."""
        started = time.monotonic()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("POST", "/logs", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read()
            reply = json.loads(raw) if raw else {}
            if response.status == 503 and not response.getheader("Retry-After"):
                reply["missingRetryAfter"] = True
            return response.status, reply, time.monotonic() - started
        except TimeoutError:
            return None, {"code": "timeout"}, time.monotonic() - started
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            return None, {"code": f"connection ({type(exc).__name__})"}, time.monotonic() - started
        finally:
            connection.close()

    def post_until_stored(self, document):
        """Retry ``document`` until a 201; return (the 201 reply, attempts) or (None, attempts)."""
        body = json.dumps(document).encode()
        for attempt in range(1, self.max_attempts + 1):
            status, reply, seconds = self.post_once(body)
            self.outcomes[f"{status or ''} {reply.get('code', '')}".strip()] += 1
            if status == 201:
                return reply, attempt
            if status == 503 and seconds > 2.0:
                self.slow_503s.append(round(seconds, 2))
            if status is not None and status != 503:
                return None, attempt  # a 4xx or 500: retrying the same body cannot help
            time.sleep(self.pause)
        return None, self.max_attempts
