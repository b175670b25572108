"""Every rule of SPEC Data, with pointers and codes; the fast and the full path must agree."""
import json

import pytest

from logstore import validation
from logstore.validation import InvalidJSON, ValidationFailed, parse_batch, parse_batch_partial
from tests.builders import SPEC_EXAMPLE, action, session_log


def encode(value):
    return json.dumps(value).encode()


def problems_of(body):
    with pytest.raises(ValidationFailed) as caught:
        parse_batch(encode(body) if not isinstance(body, bytes) else body)
    return [(p.pointer, p.code) for p in caught.value.problems]


def test_spec_example_is_valid_and_converted():
    [stored] = parse_batch(encode([SPEC_EXAMPLE]))
    assert (stored.user_id, stored.session_id) == ("ABC123XYZ", "XYZ456ABC")
    assert [a["type"] for a in stored.actions] == ["CLICK", "VIEW", "NAVIGATE"]
    assert all(a["o"] == -360 for a in stored.actions)
    assert stored.actions[0]["p"] == {"locationX": 52, "locationY": 11}


def test_a_single_object_body_is_one_session():
    assert len(parse_batch(encode(SPEC_EXAMPLE))) == 1


@pytest.mark.parametrize("bad, code", [
    (123, "NOT_A_STRING"), (None, "NOT_A_STRING"), ({"$ne": None}, "NOT_A_STRING"),
    (["a"], "NOT_A_STRING"), ("", "INVALID_LENGTH"), ("x" * 257, "INVALID_LENGTH"),
])
@pytest.mark.parametrize("field", ["userId", "sessionId"])
def test_ids_must_be_strings_of_1_to_256(field, bad, code):
    body = [dict(session_log(), **{field: bad})]
    assert problems_of(body) == [(f"/0/{field}", code)]


def test_ids_of_256_characters_are_fine():
    assert parse_batch(encode(session_log(user="u" * 256, session="s" * 256)))


@pytest.mark.parametrize("field", ["userId", "sessionId", "actions"])
def test_missing_fields_are_required(field):
    body = session_log()
    del body[field]
    assert problems_of([body]) == [(f"/0/{field}", "REQUIRED")]


def test_actions_must_be_a_non_empty_array():
    assert problems_of([session_log(actions=[])][:1] and [{"userId": "u", "sessionId": "s", "actions": []}]) == [
        ("/0/actions", "EMPTY_ACTIONS")]
    assert problems_of([{"userId": "u", "sessionId": "s", "actions": {"0": action()}}]) == [
        ("/0/actions", "NOT_AN_ARRAY")]


@pytest.mark.parametrize("time", [
    "2018-10-18T21:37:28", "2018-10-18", "21:37:28", "2018-10-18T21:37-06:00", 1539920248, None, "",
    "2018-10-18T21:37:28-0600", "2018-10-18T21:37:28.123+0530", "2018-10-18T21:37:28.5-0000",
])
def test_bad_times_are_invalid(time):
    assert problems_of([session_log(actions=[action(time=time)])]) == [("/0/actions/0/time", "INVALID_TIME")]


@pytest.mark.parametrize("time", [
    "2018-10-18T21:37:28Z", "2018-10-18T21:37:28+09:30", "2018-10-18T21:37:28.123456-03:00",
    "2018-10-18T21:37:28.1+14:00", "2018-10-18T21:37:28-12:00",
])
def test_any_offset_and_fractions_are_valid(time):
    assert parse_batch(encode([session_log(actions=[action(time=time)])]))


@pytest.mark.parametrize("escaped", [
    rb"2018-10-18T21:37:28\u002d0600", rb"2018-10-18T21:37:28-060\u0030", rb"2018-10-18T21:37:2\u0038+0530",
])
def test_offset_without_colon_is_invalid_when_written_with_escapes(escaped):
    body = encode([session_log(actions=[action(time="TIME")])]).replace(b"TIME", escaped)
    assert problems_of(body) == [("/0/actions/0/time", "INVALID_TIME")]


def test_a_property_that_looks_like_a_colonless_offset_is_kept():
    [stored] = parse_batch(encode([session_log(actions=[action(
        kind="VIEW", viewedId="2018-10-18T21:37:28-0600", note="1+2345")])]))
    assert stored.actions[0]["p"]["viewedId"] == "2018-10-18T21:37:28-0600"


@pytest.mark.parametrize("kind", ["click", "SCROLL", "", 1, None])
def test_unknown_action_types_are_invalid(kind):
    body = [session_log(actions=[{"time": "2018-10-18T21:37:28Z", "type": kind, "properties": {}}])]
    assert problems_of(body) == [("/0/actions/0/type", "INVALID_ACTION_TYPE")]


@pytest.mark.parametrize("kind, properties, problems", [
    ("CLICK", {"locationX": 1}, [("locationY", "REQUIRED")]),
    ("CLICK", {"locationX": True, "locationY": 2}, [("locationX", "NOT_A_NUMBER")]),
    ("CLICK", {"locationX": "1", "locationY": None}, [("locationX", "NOT_A_NUMBER"), ("locationY", "NOT_A_NUMBER")]),
    ("VIEW", {}, [("viewedId", "REQUIRED")]),
    ("VIEW", {"viewedId": ""}, [("viewedId", "NOT_A_STRING")]),
    ("VIEW", {"viewedId": 7}, [("viewedId", "NOT_A_STRING")]),
    ("NAVIGATE", {"pageFrom": "a"}, [("pageTo", "REQUIRED")]),
    ("NAVIGATE", {"pageFrom": "", "pageTo": ["x"]}, [("pageFrom", "NOT_A_STRING"), ("pageTo", "NOT_A_STRING")]),
])
def test_required_properties_by_type(kind, properties, problems):
    body = [session_log(actions=[{"time": "2018-10-18T21:37:28Z", "type": kind, "properties": properties}])]
    assert problems_of(body) == [(f"/0/actions/0/properties/{name}", code) for name, code in problems]


@pytest.mark.parametrize("x, y", [(0, 0), (-5, -0.5), (1e300, 3)])
def test_zero_and_negative_locations_are_valid(x, y):
    assert parse_batch(encode([session_log(actions=[action(locationX=x, locationY=y)])]))


@pytest.mark.parametrize("properties, pointer", [
    ({"$where": 1}, "/$where"),
    ({"a.b": 1}, "/a.b"),
    ({"a\u0000": 1}, "/a\u0000"),
    ({"deep": {"deeper": [{"$gt": 1}]}}, "/deep/deeper/0/$gt"),
    ({"x/y": {"$ne": None}}, "/x~1y/$ne"),
])
def test_operator_and_dotted_keys_are_invalid_at_any_depth(properties, pointer):
    body = [session_log(actions=[action(**properties)])]
    assert problems_of(body) == [(f"/0/actions/0/properties{pointer}", "INVALID_KEY")]


def test_further_properties_are_kept_as_sent():
    extra = {"nested": {"list": [1, "two", None, {"k": False}]}, "n": 2 ** 62, "": "empty key"}
    [stored] = parse_batch(encode([session_log(actions=[action(**extra)])]))
    assert stored.actions[0]["p"] == {"locationX": 52, "locationY": 11, **extra}


def test_numbers_that_bson_cannot_hold_are_invalid():
    assert problems_of([session_log(actions=[action(big=2 ** 64)])]) == [
        ("/0/actions/0/properties/big", "NUMBER_OUT_OF_RANGE")]
    body = b'[{"userId":"u","sessionId":"s","actions":[{"time":"2018-10-18T21:37:28Z","type":"CLICK",' \
           b'"properties":{"locationX":1e999,"locationY":1}}]}]'
    with pytest.raises(InvalidJSON, match="out of range"):
        parse_batch(body)


def test_nesting_is_bounded():
    deep = current = {}
    for _ in range(validation.MAX_DEPTH + 5):
        current["a"] = {}
        current = current["a"]
    assert problems_of([session_log(actions=[action(deep=deep)])])[0][1] == "TOO_DEEP"


def test_unknown_fields_are_reported():
    body = [dict(session_log(), userid="typo")]
    body[0]["actions"][0]["tme"] = "x"
    assert sorted(problems_of(body)) == [("/0/actions/0/tme", "UNKNOWN_FIELD"), ("/0/userid", "UNKNOWN_FIELD")]


def test_every_problem_is_listed_with_its_pointer():
    body = [
        session_log(),
        {"userId": 5, "sessionId": "s", "actions": [action(time="2018-10-18T21:37:28"), action(kind="VIEW", viewedId="")]},
        "not an object",
    ]
    assert problems_of(body) == [
        ("/1/userId", "NOT_A_STRING"),
        ("/1/actions/0/time", "INVALID_TIME"),
        ("/1/actions/1/properties/viewedId", "NOT_A_STRING"),
        ("/2", "NOT_AN_OBJECT"),
    ]


def test_at_most_100_problems_are_listed_but_all_are_counted():
    body = [session_log(actions=[action(time="bad")] * 150)]
    with pytest.raises(ValidationFailed) as caught:
        parse_batch(encode(body))
    assert len(caught.value.problems) == 100
    assert caught.value.total == 150


@pytest.mark.parametrize("body", [b"", b"{", b"[1,", b"nul", b"\xff\xfe"])
def test_malformed_json_is_not_a_validation_problem(body):
    with pytest.raises(InvalidJSON):
        parse_batch(body)


@pytest.mark.parametrize("body", [b"1", b'"x"', b"null", b"true"])
def test_a_body_that_is_neither_array_nor_object_is_invalid(body):
    assert problems_of(body) == [("", "INVALID_BODY")]


def test_action_ids_are_optional_strings():
    stored = parse_batch(encode([session_log(actions=[dict(action(), id="a-1")])]))
    assert stored[0].actions[0]["id"] == "a-1"
    for bad in (7, None, {"$ne": 1}):
        assert problems_of([session_log(actions=[dict(action(), id=bad)])]) == [("/0/actions/0/id", "NOT_A_STRING")]


def test_partial_keeps_the_valid_sessions_and_reports_the_rest():
    body = [session_log(user="a"), session_log(user=""), session_log(user="c")]
    valid, rejected = parse_batch_partial(encode(body))
    assert [s.user_id for s in valid] == ["a", "c"]
    assert [r.to_dict() for r in rejected] == [
        {"index": 1, "errors": [{"pointer": "/1/userId", "code": "INVALID_LENGTH",
                                  "detail": "userId must have 1 to 256 characters"}]}]


def test_sub_millisecond_time_keeps_its_microseconds():
    [stored] = parse_batch(encode([session_log(actions=[action(time="2018-10-18T21:37:28.123456Z")])]))
    assert stored.actions[0]["u"] == 456
