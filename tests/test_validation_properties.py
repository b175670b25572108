"""Property tests: any JSON gives a validation result (never a crash), and both paths agree."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logstore import validation

keys = st.one_of(st.sampled_from(["locationX", "locationY", "viewedId", "pageFrom", "pageTo", "$gt", "a.b",
                                  "x\u0000", "", "id"]), st.text(max_size=6))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2 ** 70, max_value=2 ** 70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)), max_leaves=12)
times = st.one_of(st.sampled_from([
    "2018-10-18T21:37:28-06:00", "2018-10-18T21:37:28Z", "2018-10-18T21:37:28.5+05:30", "2018-10-18T21:37:28",
    "2018-10-18 21:37:28Z", "2018-10-18T21:37:28.123456789z", "2018-02-30T00:00:00Z",
    "2018-10-18T21:37:28-0600", "2018-10-18T21:37:28.5+0530", "2018-10-18T21:37:28+0000"]), json_values)
actions = st.fixed_dictionaries(
    {"time": times, "type": st.one_of(st.sampled_from(["CLICK", "VIEW", "NAVIGATE"]), json_values),
     "properties": st.one_of(st.dictionaries(keys, json_values, max_size=4), json_values)},
    optional={"id": st.one_of(st.text(max_size=3), json_values), "extra": json_values})
names = st.one_of(st.text(min_size=0, max_size=3), json_values)
sessions = st.fixed_dictionaries({"userId": names, "sessionId": names, "actions": st.one_of(
    st.lists(actions, max_size=3), json_values)}, optional={"other": json_values})
bodies = st.one_of(st.lists(sessions, max_size=3), sessions, json_values)


def _mutated(base, value_strategy):
    """A valid document with at most one field replaced or removed, the likeliest place to disagree."""
    return st.tuples(st.sampled_from(sorted(base)), value_strategy, st.booleans()).map(
        lambda change: {**{k: v for k, v in base.items() if not (change[2] and k == change[0])},
                        **({} if change[2] else {change[0]: change[1]})})


VALID_ACTIONS = [
    {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 1, "locationY": 2}},
    {"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewedId": "v"}, "id": "a"},
    {"time": "2018-10-18T21:37:28.5+05:30", "type": "NAVIGATE", "properties": {"pageFrom": "a", "pageTo": "b"}},
]
near_valid_actions = st.sampled_from(VALID_ACTIONS).flatmap(lambda a: _mutated(a, json_values))
near_valid_sessions = st.lists(near_valid_actions, min_size=1, max_size=3).flatmap(
    lambda acts: _mutated({"userId": "u", "sessionId": "s", "actions": acts}, names))
bodies = st.one_of(bodies, st.lists(near_valid_sessions, min_size=1, max_size=2), near_valid_sessions)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_both_paths_agree_on_any_json(document):
    body = json.dumps(document).encode()
    fast = validation._fast_parse(body)
    documents, single = validation._plain_parse(body) if isinstance(document, (list, dict)) else ([], False)
    full_problems = [p for i, d in enumerate(documents)
                     for p in validation.session_problems(d, "" if single else f"/{i}")]
    if fast is not None:
        assert not full_problems, full_problems
        assert [(s.user_id, s.session_id, s.actions) for s in fast] == [
            (s.user_id, s.session_id, s.actions) for s in map(validation._convert_document, documents)]
    elif isinstance(document, (list, dict)):
        assert full_problems, "the fast path refused a body the full path accepts"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_give_a_result_or_a_validation_error(body):
    try:
        validation.parse_batch(body)
    except (validation.InvalidJSON, validation.ValidationFailed):
        pass
