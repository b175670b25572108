"""The transaction loop of every write: run, commit, retry within a budget, then give up clearly.

It retries as pymongo's ``ClientSession.with_transaction`` does, but within a short budget: that one
retries for 120 s, far past any HTTP client's patience; this one gives up after the client's server
selection timeout (LOGSTORE_DB_TIMEOUT_MS) and never waits twice for a server that could not be
found. A callback that lost a race on a document raises ``Conflict`` (or hits a unique index) and
is run again from its reads.
"""
from __future__ import annotations

import contextlib
import logging
import random
import time

import pymongo
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError, ServerSelectionTimeoutError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from .errors import Conflict, StorageBusy

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
# Backoff between transaction attempts: jittered, growing, capped (pymongo uses the same shape).
BACKOFF_FIRST, BACKOFF_MAX = 0.005, 0.25
# Longest wait for a server to abort a failed attempt on (a reachable one answers in milliseconds).
ABORT_SECONDS = 0.5


def run_transaction(client, callback, budget):
    """Run ``callback(session)`` in a transaction and commit it, retrying for ``budget`` seconds.

    Retried, as ``ClientSession.with_transaction`` does: an attempt whose error is labelled
    TransientTransactionError (dropped connection, write conflict, election) or that lost a race on
    a bucket; a commit labelled UnknownTransactionCommitResult, with the same transaction number,
    which the server applies at most once. The first try has the client's usual timeouts; every
    retry runs under a pymongo deadline of what is left of the budget, so retrying, server selection
    included, ends with it. A server that could not be selected at all is not waited for again.
    """
    started = time.monotonic()
    attempt = 0
    with client.start_session() as session:
        while True:
            attempt += 1
            with _retry_deadline(started, budget, attempt > 1):
                session.start_transaction(read_concern=ReadConcern("snapshot"),
                                          write_concern=WriteConcern("majority"))
                try:
                    result = callback(session)
                except Exception as exc:
                    _abort(session, exc, started, budget)
                    if not (_raced(exc) or _labelled(exc, "TransientTransactionError")):
                        raise
                    error = exc
                else:
                    if _commit(session, started, budget, attempt > 1):
                        return result
                    error = None
            _pause_or_give_up(error, started, budget, attempt)


def _retry_deadline(started, budget, retrying):
    """No deadline for a first try; for a retry, what is left of the budget (at least a moment)."""
    if not retrying:
        return contextlib.nullcontext()
    return pymongo.timeout(max(budget - (time.monotonic() - started), 0.001))


def _abort(session, exc, started, budget):
    """Abort the attempt on the server, so that its writes stop blocking the retry; but wait for a
    server no longer than the budget allows, and not at all when none could be found a moment ago
    (mongod drops an abandoned transaction after transactionLifetimeLimitSeconds anyway)."""
    if not session.in_transaction:
        return
    left = 0.0 if isinstance(exc, ServerSelectionTimeoutError) else budget - (time.monotonic() - started)
    with pymongo.timeout(min(max(left, 0.001), ABORT_SECONDS)):
        session.abort_transaction()  # never raises; ends the transaction client-side in any case


def _commit(session, started, budget, retrying):
    """Commit; True once committed, False when the whole transaction must run again."""
    while True:
        try:
            with _retry_deadline(started, budget, retrying):
                session.commit_transaction()
            return True
        except PyMongoError as exc:
            retrying = True
            if _labelled(exc, "UnknownTransactionCommitResult") and _within(started, budget):
                continue
            if _labelled(exc, "TransientTransactionError") and _within(started, budget):
                return False
            raise


def _raced(exc):
    return isinstance(exc, (Conflict, DuplicateKeyError)) or (
        isinstance(exc, BulkWriteError) and is_duplicate_key(exc))


def _labelled(exc, label):
    return (isinstance(exc, PyMongoError) and exc.has_error_label(label)
            and not isinstance(exc, ServerSelectionTimeoutError))


def _within(started, budget, pause=0.0):
    return time.monotonic() + pause - started < budget


def _pause_or_give_up(exc, started, budget, attempt):
    """Sleep a jittered backoff before the next attempt, or raise when the budget is spent."""
    pause = random.random() * min(BACKOFF_FIRST * 2 ** attempt, BACKOFF_MAX)
    if attempt < MAX_ATTEMPTS and _within(started, budget, pause):
        log.info("transaction attempt %d failed (%s); retrying", attempt, exc or "commit")
        time.sleep(pause)
        return
    if isinstance(exc, ConnectionFailure):
        raise exc  # the database is unreachable: a 503 DATABASE_UNAVAILABLE
    raise StorageBusy(f"no commit after {attempt} attempts: {exc or 'transient commit errors'}") from exc


def is_duplicate_key(exc):
    return any(error.get("code") == 11000 for error in exc.details.get("writeErrors", ()))
