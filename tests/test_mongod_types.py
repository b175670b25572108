"""The types the server answers with, as mongod documents them: a difference between SecantusDB
and mongod that the service meets (tests/mongod_types.py) fails here, not on Atlas."""
from bson.int64 import Int64

from logstore import values


def unwound_indexes(db):
    db.t.insert_one({"a": [10, 11]})
    return [row["i"] for row in db.t.aggregate([{"$unwind": {"path": "$a", "includeArrayIndex": "i"}}])]


def test_mongod_answers_the_unwind_index_as_a_64_bit_integer(db, server_types):
    indexes = unwound_indexes(db)
    assert indexes == [0, 1]
    if server_types == "mongod":
        assert all(type(index) is Int64 for index in indexes)


def test_the_app_reads_every_64_bit_integer_as_an_int(db, server_types):
    assert all(type(index) is int for index in unwound_indexes(values.decoding(db)))


def test_counts_are_typed_as_mongod_types_them(db, server_types):
    # $sum and $count: the widest type of the inputs; 32 bits while a sum of 32-bit values fits,
    # 64 bits past it (https://www.mongodb.com/docs/manual/reference/operator/aggregation/sum/).
    db.small.insert_many([{"n": 1}, {"n": 2}])
    db.large.insert_many([{"n": 2 ** 30}, {"n": 2 ** 30}, {"n": 2 ** 30}])
    db.longs.insert_many([{"n": Int64(1)}, {"n": Int64(2)}])
    group = [{"$group": {"_id": None, "sum": {"$sum": "$n"}, "ones": {"$sum": 1}, "count": {"$count": {}}}}]
    [small] = db.small.aggregate(group)
    assert (type(small["sum"]), type(small["ones"]), type(small["count"])) == (int, int, int)
    [large] = db.large.aggregate(group)
    assert large["sum"] == 3 * 2 ** 30 and type(large["sum"]) is Int64
    [longs] = db.longs.aggregate(group)
    assert longs["sum"] == 3 and type(longs["sum"]) is Int64
    [counted] = db.small.aggregate([{"$count": "n"}])
    assert type(counted["n"]) is int
