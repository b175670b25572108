"""The ``idempotency`` collection: one record per Idempotency-Key, claimed, completed or released.

What a record means and when a request may take one over is decided by ``logstore.idempotency``
(the HTTP guard); this module only reads and writes the records::

    {_id: sha256(scope, key), fingerprint, owner, state: "pending" | "done", lease, created,
     status, body}

Records expire 24 hours after they were created (TTL index on ``created``).
"""
from __future__ import annotations

from datetime import timedelta

from pymongo.errors import DuplicateKeyError, PyMongoError

COLLECTION = "idempotency"
TTL_SECONDS = 24 * 3600


def ensure_indexes(db):
    db[COLLECTION].create_index("created", name="created_ttl", expireAfterSeconds=TTL_SECONDS)


def insert_claim(db, record):
    """Insert a pending ``record``; False when a record of its ``_id`` exists already."""
    try:
        db[COLLECTION].insert_one(record)
        return True
    except DuplicateKeyError:
        return False


def find_record(db, record_id):
    return db[COLLECTION].find_one({"_id": record_id})


def take_over(db, record_id, owner, now, record):
    """Replace the record of ``owner`` by ``record`` if it may still be taken over (takeover_filter);
    True when it was."""
    return db[COLLECTION].find_one_and_replace(takeover_filter(record_id, owner, now), record) is not None


def takeover_filter(record_id, owner, now):
    """The record ``record_id`` of ``owner`` only while it may be taken over: pending with its lease
    run out, or past its 24 hours (whatever its state)."""
    return {"_id": record_id, "owner": owner,
            "$or": [{"state": "pending", "lease": {"$lte": now}},
                    {"created": {"$lte": now - timedelta(seconds=TTL_SECONDS)}}]}


def complete(db, record_id, owner, body, session=None):
    """``pending`` → ``done`` with the 201 ``body``, while ``owner`` still holds the record; in the
    ingest transaction when ``session`` is given. True when it did."""
    done = db[COLLECTION].update_one(
        {"_id": record_id, "owner": owner, "state": "pending"},
        {"$set": {"state": "done", "status": 201, "body": body}},
        session=session)
    return done.matched_count > 0


def release(db, record_id, owner):
    """Drop ``owner``'s pending claim; if the database is down, the lease runs out instead."""
    try:
        db[COLLECTION].delete_one({"_id": record_id, "owner": owner, "state": "pending"})
    except PyMongoError:
        pass
