"""schemathesis: requests generated from /swagger.json, valid and invalid, never get a 5xx, get only
documented status codes and content types, match the documented response models, and every error
is a problem document."""
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (not_a_server_error, response_schema_conformance, status_code_conformance,
                                 content_type_conformance)
from schemathesis.generation import GenerationMode

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXAMPLES_PER_OPERATION = 60


def strategy(app):
    """Cases for every operation of the app's own /swagger.json, fitting the schema or not."""
    schema = schemathesis.openapi.from_wsgi("/swagger.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {("POST", "/logs"), ("GET", "/logs")}
    return st.one_of([op.as_strategy(mode) for op in operations for mode in GenerationMode]), len(operations)


def test_generated_requests_get_no_server_error_and_problem_documents(app):
    cases, count = strategy(app)
    seen = []

    @given(case=cases)
    # No shrinking: it can take minutes on a schema this size; the failing request is in the message.
    @settings(max_examples=EXAMPLES_PER_OPERATION * count, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                 response_schema_conformance, content_type_conformance])
        seen.append(response.status_code)
        if response.status_code >= 400:
            headers = {name.lower(): value for name, value in response.headers.items()}
            assert headers["content-type"] == ["application/problem+json"], case.as_curl_command()
            problem = response.json()
            assert problem["status"] == response.status_code and problem["code"].isupper()

    run()
    assert any(status < 300 for status in seen) and any(400 <= status < 500 for status in seen)
