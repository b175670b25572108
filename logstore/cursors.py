"""Opaque paging cursors: the sort key of a page's last row, bound to the query it came from."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

import msgspec

from . import values
from .filters import InvalidParameter

_EPOCH = datetime(1970, 1, 1)
# A bucket's number and an action's index are BSON integers: a cursor holding more is not ours.
INT64_MAX = 2 ** 63 - 1


def _digest(fingerprint):
    return hashlib.blake2s(fingerprint.encode(), digest_size=6).hexdigest()


def encode_cursor(key, fingerprint):
    """``key`` is ``(time, userId, sessionId, bucket, index)``; the token hides and signs nothing secret."""
    millis = (key[0] - _EPOCH) // timedelta(milliseconds=1)
    payload = [millis, key[1], key[2], key[3], key[4], _digest(fingerprint)]
    return base64.urlsafe_b64encode(values.encode(payload)).decode().rstrip("=")


def decode_cursor(token, fingerprint):
    """The sort key inside ``token``; InvalidParameter if it is malformed or from another query."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        millis, user_id, session_id, bucket, index, digest = msgspec.json.decode(raw)
        if not (isinstance(millis, int) and isinstance(user_id, str) and isinstance(session_id, str)
                and isinstance(bucket, int) and isinstance(index, int)
                and 0 <= bucket <= INT64_MAX and 0 <= index <= INT64_MAX):
            raise ValueError
        when = _EPOCH + timedelta(milliseconds=millis)
    except (ValueError, TypeError, OverflowError, msgspec.DecodeError):
        raise InvalidParameter("cursor", "cursor is not one this service issued", code="INVALID_CURSOR") from None
    if digest != _digest(fingerprint):
        raise InvalidParameter("cursor", "cursor belongs to a query with other filters", code="INVALID_CURSOR")
    return when, user_id, session_id, bucket, index
