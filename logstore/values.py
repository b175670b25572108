"""Values as the service reads them back: the one place where the driver's types become plain ones.

pymongo hands a 64-bit BSON integer back as ``bson.int64.Int64`` (a subclass of int), whatever
wrote it: a property the frontend sent beyond 32 bits (``Date.now()``, an order id), the index
mongod's ``$unwind`` gives as a 64-bit integer, a count past 2^31. msgspec refuses to encode a
subclass of int, so every database the app reads through is opened with ``CODEC_OPTIONS``, whose
decoder turns each one into an int while the reply is decoded, at any depth.

Everything POST stores is JSON (``validation`` refuses what BSON or JSON cannot hold: integers
beyond 64 bits, non-finite numbers, keys MongoDB reserves), so it reads back as it came. A document
written by another client may hold types JSON has no form for (Decimal128, ObjectId, binary,
regular expressions…): ``encoder`` writes those as strings rather than failing the whole answer,
so one foreign document never turns other users' reads into a 500.
"""
from __future__ import annotations

import logging
from datetime import datetime

import msgspec
from bson.codec_options import TypeDecoder, TypeRegistry
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from pymongo.database import Database

log = logging.getLogger(__name__)


class _Int64AsInt(TypeDecoder):
    bson_type = Int64

    def transform_bson(self, value):
        return int(value)


TYPE_REGISTRY = TypeRegistry([_Int64AsInt()])


def decoding(database):
    """``database`` with the codec options under which every read gives plain Python values (a
    stand-in that is no pymongo Database, as a unit test may pass, is used as it is)."""
    if not isinstance(database, Database):
        return database
    return database.with_options(codec_options=database.codec_options.with_options(type_registry=TYPE_REGISTRY))


def foreign_value(value):
    """A JSON form for a stored value of a type POST never stores (msgspec's ``enc_hook``)."""
    if isinstance(value, int):  # an Int64 read through a database without ``decoding``
        return int(value)
    if isinstance(value, bytes):
        return bytes(value)  # bson.Binary: base64, as msgspec writes bytes
    if isinstance(value, Decimal128):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    log.warning("a stored value of type %s is written as its string", type(value).__name__)
    return str(value)


encoder = msgspec.json.Encoder(enc_hook=foreign_value)
encode = encoder.encode
