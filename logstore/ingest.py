"""Ingest a POSTed body: validate, enforce the action limit, store. No Flask here."""
from __future__ import annotations

from . import store, validation
from .errors import ApiError


def ingest(db, body, max_actions, partial=False, on_commit=None, admit=None):
    """Validate and store ``body`` (bytes); return the reply dict for a 201.

    :param admit: called with the valid sessions' userIds before anything is stored (the per-user
        rate limit), from the sessions already parsed: it may raise to refuse.
    :param on_commit: called as ``on_commit(pymongo_session, reply)`` inside the storing transaction
        (not at all when nothing is to be stored).

    :raise ApiError: 400 for JSON or rule problems (nothing stored), 413 past ``max_actions``.
    """
    try:
        if partial:
            sessions, rejected = validation.parse_batch_partial(body)
        else:
            sessions, rejected = validation.parse_batch(body), None
    except validation.InvalidJSON as exc:
        raise ApiError(400, "INVALID_JSON", f"the body is not valid JSON: {exc}", title="Malformed JSON") from None
    except validation.ValidationFailed as exc:
        raise ApiError(400, "VALIDATION_FAILED", f"{exc.total} problems in the request body",
                       title="Invalid request body", errors=[p.to_dict() for p in exc.problems]) from None
    total = validation.count_actions(sessions)
    if total > max_actions:
        raise ApiError(413, "TOO_MANY_ACTIONS",
                       f"{total} actions in one request; the limit is {max_actions}", title="Too many actions")
    if admit is not None and sessions:
        admit([session.user_id for session in sessions])
    hook = None
    if on_commit is not None:
        def hook(session, result):
            on_commit(session, _reply(result, rejected))
    result = store.insert_sessions(db, sessions, on_commit=hook) if sessions else store.IngestResult()
    return _reply(result, rejected)


def _reply(result, rejected):
    reply = result.to_dict()
    if rejected is not None:
        reply["rejected"] = [r.to_dict() for r in rejected]
    return reply
