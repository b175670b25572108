"""Reading a request body within the configured limits, without Flask.

A gzip body is inflated as a stream with a cap on the output (``decompressobj().decompress(data,
max_length)``), so a small body that would inflate to gigabytes costs at most ``limit`` bytes of
memory and the time to inflate ``limit`` bytes before it is refused.
"""
from __future__ import annotations

import zlib

CHUNK = 64 * 1024
GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip container only, not raw or zlib streams


class BodyTooLarge(ValueError):
    pass


class UnsupportedEncoding(ValueError):
    pass


class InvalidEncoding(ValueError):
    """The body claims an encoding it does not have (a broken or truncated gzip stream)."""


def read_limited(stream, content_length, limit):
    """Read at most ``limit`` bytes; BodyTooLarge if the body declares or turns out to be larger."""
    if content_length is not None and content_length > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    return data


def read_body(stream, content_length, content_encoding, limit):
    """The body, decoded per ``Content-Encoding`` (none, ``identity`` or ``gzip``), at most ``limit`` bytes.

    :raise UnsupportedEncoding: any other encoding (or a list of them).
    :raise BodyTooLarge: more than ``limit`` bytes, before or after inflating.
    :raise InvalidEncoding: not a complete gzip stream.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return read_limited(stream, content_length, limit)
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedEncoding(f"Content-Encoding {content_encoding!r} is not supported; send gzip or none")
    # JSON shrinks under gzip; a compressed body larger than the inflated limit cannot fit it.
    if content_length is not None and content_length > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    return gunzip_limited(_chunks(stream, limit), limit)


def _chunks(stream, limit):
    read = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        read += len(chunk)
        if read > limit:
            raise BodyTooLarge(f"the body is larger than {limit} bytes")
        yield chunk


def gunzip_limited(chunks, limit):
    """Inflate gzip ``chunks`` (bytes, in order), never holding more than ``limit + 1`` output bytes."""
    inflater = zlib.decompressobj(GZIP_WBITS)
    out = bytearray()
    try:
        for chunk in chunks:
            data = chunk
            while data and not inflater.eof:
                # max_length: at most one byte past the limit, however much this input would inflate to.
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise BodyTooLarge(f"the body is larger than {limit} bytes once inflated")
                data = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error as exc:
        raise InvalidEncoding(f"the body is not valid gzip: {exc}") from None
    if not inflater.eof:
        raise InvalidEncoding("the body is not valid gzip: the stream ends early")
    if inflater.unused_data:
        raise InvalidEncoding("the body holds data after its gzip stream; send one gzip member")
    return bytes(out)
