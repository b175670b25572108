"""Reading bodies: gzip inflated with a hard cap, unknown encodings refused."""
import gzip
import io
import zlib

import pytest

from logstore.bodies import BodyTooLarge, InvalidEncoding, UnsupportedEncoding, read_body

MIB = 1 << 20


def gzip_bomb(mebibytes):
    """A valid gzip stream of ``mebibytes`` MiB of zeros, built from one compressed block repeated.

    After Z_FULL_FLUSH the compressor forgets its history, so every further MiB of zeros compresses
    to the same bytes: a 4 GiB bomb is ~4 MB and takes a second to make (mostly the CRC).
    """
    zeros = bytes(MIB)
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.flush(zlib.Z_FINISH)[:-8]  # the empty final block, without its trailer
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    trailer = crc.to_bytes(4, "little") + ((mebibytes * MIB) % (1 << 32)).to_bytes(4, "little")
    return head + block * (mebibytes - 1) + tail + trailer


def test_the_bomb_builder_makes_valid_gzip():
    assert gzip.decompress(gzip_bomb(3)) == bytes(3 * MIB)


def read(data, encoding="gzip", limit=1000, declared=True):
    return read_body(io.BytesIO(data), len(data) if declared else None, encoding, limit)


def test_gzip_is_inflated():
    assert read(gzip.compress(b'{"a": 1}')) == b'{"a": 1}'
    assert read(gzip.compress(b"[]"), encoding=" GZIP ") == b"[]"
    assert read(b"[1]", encoding="identity") == b"[1]"


def test_inflated_size_counts_against_the_limit():
    assert read(gzip.compress(b"x" * 1000)) == b"x" * 1000
    with pytest.raises(BodyTooLarge):
        read(gzip.compress(b"x" * 1001))
    with pytest.raises(BodyTooLarge):
        read(gzip.compress(b"x" * 1001), declared=False)


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, gzip", "compress", "zstd"])
def test_other_encodings_are_unsupported(encoding):
    with pytest.raises(UnsupportedEncoding):
        read(b"[]", encoding=encoding)


@pytest.mark.parametrize("data", [b"[]", gzip.compress(b"[]")[:-4], gzip.compress(b"[]") + b"junk",
                                  gzip.compress(b"[]") + gzip.compress(b"[]"), b""])
def test_broken_gzip_is_invalid(data):
    with pytest.raises(InvalidEncoding):
        read(data)
