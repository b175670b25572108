"""SecantusDB made to answer with mongod's types, in the tests only.

SecantusDB and mongod store and return the same values, but not always as the same BSON types, and
the driver hands a 64-bit integer back as ``bson.int64.Int64``, a type the JSON encoder refuses
unless the service decodes it (``logstore.values``). What mongod answers, from its documentation:

- ``$unwind``'s ``includeArrayIndex``: "the array index ... is NumberLong" (a 64-bit integer)
  whatever its size; SecantusDB answers a 32-bit one when it fits. This module makes it a 64-bit one.
- ``$sum`` (and ``$count``, which is ``{$sum: 1}``): the widest numeric type of its inputs, a 32-bit
  sum that overflows becomes a 64-bit one (then a double). SecantusDB already does so (its
  ``bson_sum`` keeps the BSON type; a Python int goes out as 32 bits when it fits, else 64), which
  ``tests/test_mongod_types.py`` checks under both modes, so a change there fails a test here.

``answering_as_mongod()`` turns it on for as long as it is held: the server runs in this process
(``tests/conftest.py``), so the switch is a flag read by the wrapped stage. Tests that take the
``server_types`` fixture run once per mode.
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping

from bson.int64 import Int64


class _Mode:
    mongod = False


def install():
    """Wrap SecantusDB's ``$unwind`` once; without ``answering_as_mongod`` it answers as before."""
    from secantus import aggregate

    unwind = aggregate._STAGES["$unwind"]
    if getattr(unwind, "mongod_typed", False):
        return

    def mongod_unwind(spec, docs, ctx):
        result = unwind(spec, docs, ctx)
        name = spec.get("includeArrayIndex") if isinstance(spec, Mapping) else None
        if _Mode.mongod and name:
            for doc in result:
                index = doc.get(name)
                if type(index) is int:
                    doc[name] = Int64(index)
        return result

    mongod_unwind.mongod_typed = True
    aggregate._STAGES["$unwind"] = mongod_unwind


@contextlib.contextmanager
def answering_as_mongod():
    install()
    _Mode.mongod = True
    try:
        yield
    finally:
        _Mode.mongod = False
