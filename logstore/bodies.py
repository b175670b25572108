"""Reading a request body within the configured limits, without Flask."""
from __future__ import annotations


class BodyTooLarge(ValueError):
    pass


def read_limited(stream, content_length, limit):
    """Read at most ``limit`` bytes; BodyTooLarge if the body declares or turns out to be larger."""
    if content_length is not None and content_length > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    return data
