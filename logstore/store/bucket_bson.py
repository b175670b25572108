"""Bucket writes as BSON put together by hand around the actions' array, encoded once.

A batch's actions are BSON-encoded once anyway, for their sizes (``buckets._Sizes``); a write that
takes all of one window's actions sends that encoding as it is, inside a ``RawBSONDocument``, so
that pymongo does not encode the actions a second time. What is built here is byte for byte what
``bson.encode`` gives for the same document (``tests/test_write_plan.py`` holds it to that).

BSON, as far as it is used here: a document is an int32 total length (little-endian, itself
included), its elements, and a NUL; an element is a type byte, the key as a C string, the value.
An array is a document whose keys are "0", "1", …; type 0x03 is a document, 0x04 an array.
"""
from __future__ import annotations

import struct

import bson
from bson.raw_bson import RawBSONDocument

DOCUMENT, ARRAY = b"\x03", b"\x04"
_INT32 = struct.Struct("<i")


def encoded_list(values):
    """``(length of the encoded {"a": values}, the encoded array alone)``."""
    encoded = bson.encode({"a": values})
    # {"a": [...]} is: int32 length, 0x04 "a" NUL, the array document, NUL.
    return len(encoded), encoded[7:-1]


def with_array(fields, name, array):
    """The document ``{**fields, name: <array>}``, the array given encoded."""
    head = bson.encode(fields)
    return RawBSONDocument(document(head[4:-1] + _element(ARRAY, name, array)))


def push_each_first(name, array, rest):
    """The update ``{"$push": {name: {"$each": <array>}}, **rest}``, the array given encoded."""
    push = document(_element(DOCUMENT, name, document(_element(ARRAY, "$each", array))))
    return RawBSONDocument(document(_element(DOCUMENT, "$push", push) + bson.encode(rest)[4:-1]))


def document(elements):
    """A BSON document of already encoded elements: int32 total length, the elements, NUL."""
    return _INT32.pack(len(elements) + 5) + elements + b"\x00"


def _element(kind, name, value):
    return kind + name.encode() + b"\x00" + value
