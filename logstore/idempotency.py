"""Idempotency-Key: a retried POST gets the first answer again instead of storing twice.

Records live in MongoDB (collection ``idempotency``, read and written by ``store/idempotency.py``), so they hold across workers and dynos::

    {_id: sha256(scope, key), fingerprint, owner, state: "pending" | "done", lease, created,
     status, body}

1. *Claim*: insert a ``pending`` record with a random ``owner`` and a ``lease`` (LEASE_SECONDS).
   The unique ``_id`` makes one request the owner; the others find its record and get
   - 422 when their body (fingerprint) differs: the key is being reused for another request;
   - the stored status and body (``Idempotent-Replayed: true``) when it is ``done``;
   - 409 while it is ``pending`` and its lease runs;
   - the claim itself when the lease ran out (the owner crashed or was killed mid-request).
2. *Complete*: inside the ingest transaction, ``pending`` → ``done`` with the answer, conditioned on
   still being the owner. The stored actions and the record commit together or not at all; an owner
   whose lease was taken over fails here and its transaction aborts, so at most one claim stores.
3. *Release*: a request that fails (400, 413, 503 …) deletes its pending claim. Failures are not
   cached: they stored nothing, and the client may fix the body and retry under the same key.

Records expire 24 hours after they were created (TTL index on ``created``; also checked on read,
because the TTL monitor runs only once a minute). Keys are scoped by the caller's API key.
"""
from __future__ import annotations

import hashlib
import math
import uuid
from datetime import datetime, timedelta, timezone

import msgspec

from .errors import ApiError
from .store import idempotency as records
from .store.idempotency import TTL_SECONDS

# Longer than gunicorn's worker timeout (30 s), so a live request keeps its claim; a crashed one
# blocks retries (409) for at most this long.
LEASE_SECONDS = 60
MAX_KEY_LENGTH = 255


def check_key(key):
    """The key if it is 1 to 255 visible ASCII characters; else a 400."""
    if not (0 < len(key) <= MAX_KEY_LENGTH and all("!" <= c <= "~" for c in key)):
        raise ApiError(400, "INVALID_IDEMPOTENCY_KEY",
                       f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (a UUID, say)")
    return key


def fingerprint(method, path, args, body):
    """What makes two requests "the same": method, path, query arguments and the (inflated) body."""
    digest = hashlib.sha256()
    for part in (method, path, repr(sorted(args.items(multi=True)))):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def run(db, key, scope, request_fingerprint, process, now=None):
    """Answer a request once per key: ``process(on_commit)`` returns the 201 reply of a first run.

    :param scope: the caller's key digest (None when the service is open).
    :param process: called with an ``on_commit(session, reply)`` hook for the ingest transaction.
    :return: ``(status, body bytes, replayed)``.
    :raise ApiError: 409 while another request holds the key, 422 for a different body.
    """
    record_id = hashlib.sha256(f"{scope or '-'}\0{key}".encode()).hexdigest()
    claim = _claim(db, record_id, request_fingerprint, now)
    if isinstance(claim, tuple):
        return claim[0], claim[1], True
    completed = []

    def on_commit(session, reply):
        _complete(db, record_id, claim, reply, session)
        completed.append(True)

    try:
        reply = process(on_commit)
    except BaseException:
        _release(db, record_id, claim)
        raise
    body = _encode(reply)
    if not completed and reply.get("rejected"):
        # Nothing went through the transaction (every session rejected): no stored actions to pair with.
        _complete(db, record_id, claim, reply, None)
    elif not completed:
        # An empty body (`[]`) stores nothing and answers the same every time: no record (each would
        # keep ~300 bytes for 24 h, for anyone who sends `[]` with new keys).
        _release(db, record_id, claim)
    return 201, body, False


def _utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)  # pymongo hands back naive UTC


def _claim(db, record_id, request_fingerprint, now):
    """Our owner token once the key is ours, or ``(status, body)`` of a finished first request."""
    now = now or _utcnow()
    owner = uuid.uuid4().hex
    record = {"_id": record_id, "fingerprint": request_fingerprint, "owner": owner, "state": "pending",
              "lease": now + timedelta(seconds=LEASE_SECONDS), "created": now}
    for _attempt in range(4):
        if records.insert_claim(db, record):
            return owner
        existing = records.find_record(db, record_id)
        if existing is None:
            continue  # expired and removed between our insert and our read
        expired = existing["created"] <= now - timedelta(seconds=TTL_SECONDS)
        if not expired:
            if existing["fingerprint"] != request_fingerprint:
                raise ApiError(422, "IDEMPOTENCY_KEY_REUSED",
                               "this Idempotency-Key was used for a different request in the last 24 hours; "
                               "use a new key for a new request", title="Idempotency-Key reused")
            if existing["state"] == "done":
                return existing["status"], existing["body"]
            if existing["lease"] > now:
                wait = math.ceil((existing["lease"] - now).total_seconds())
                raise ApiError(409, "IDEMPOTENCY_KEY_IN_USE",
                               "a request with this Idempotency-Key is still being processed; retry shortly",
                               title="Idempotency-Key in use", headers={"Retry-After": str(min(wait, 5))})
        # A claim whose owner died (lease over), or a record past 24 h: take it over, unless someone
        # else did since we read it, or its owner completed it meanwhile (a request committing in
        # this instant): the filter asks again for what made the record ours to take.
        if records.take_over(db, record_id, existing["owner"], now, record):
            return owner
    raise ApiError(409, "IDEMPOTENCY_KEY_IN_USE", "requests with this Idempotency-Key are racing; retry shortly",
                   title="Idempotency-Key in use", headers={"Retry-After": "1"})


def _complete(db, record_id, owner, reply, session):
    if not records.complete(db, record_id, owner, _encode(reply), session) and session is not None:
        # Our lease ran out and another request took the key over: let it be the one that stores.
        raise ApiError(409, "IDEMPOTENCY_KEY_IN_USE",
                       "this request took too long and another request with its Idempotency-Key took over; "
                       "retry to get that request's answer", title="Idempotency-Key in use",
                       headers={"Retry-After": "1"})


def _release(db, record_id, owner):
    """Drop our pending claim after a failure (store.idempotency.release)."""
    records.release(db, record_id, owner)


def _encode(reply):
    return msgspec.json.encode(reply)
