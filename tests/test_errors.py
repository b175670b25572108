"""Which failures are the database's (503, retry later) and which are bugs (500)."""
import pytest
from flask import Flask
from pymongo.errors import (AutoReconnect, BulkWriteError, ConnectionFailure, DuplicateKeyError, ExecutionTimeout,
                            NetworkTimeout, NotPrimaryError, OperationFailure, ServerSelectionTimeoutError,
                            WriteConcernError, WTimeoutError)

from logstore.store import transactions
from logstore.errors import problem_response
from logstore.filters import InvalidParameter
from logstore.store.errors import QueryTimeout, UnknownTimeZone


def labelled(error, label):
    error._add_error_label(label)
    return error


UNAVAILABLE = [
    ServerSelectionTimeoutError("no servers found"),
    AutoReconnect("connection reset"),
    NetworkTimeout("timed out"),
    ConnectionFailure("refused"),
    NotPrimaryError("not primary", {"code": 10107}),
    WTimeoutError("waiting for replication timed out", 64),
    labelled(OperationFailure("WriteConflict", 112), "TransientTransactionError"),
    labelled(OperationFailure("commit result unknown", 91), "UnknownTransactionCommitResult"),
    OperationFailure("interrupted at shutdown", 11600),
    OperationFailure("primary stepped down", 189),
    OperationFailure("host unreachable", 6),
    WriteConcernError("write concern failed", 100),
    transactions.StorageBusy("too many concurrent writers"),
]

BUGS = [
    RuntimeError("bug"),
    KeyError("x"),
    OperationFailure("bad value", 2),
    OperationFailure("document too large", 10334),
    DuplicateKeyError("E11000", 11000),
    BulkWriteError({"writeErrors": [{"code": 2, "errmsg": "bad"}]}),
]


@pytest.fixture
def app_context():
    with Flask(__name__).test_request_context("/logs"):
        yield


@pytest.mark.parametrize("error", UNAVAILABLE, ids=lambda e: type(e).__name__)
def test_database_failures_are_503_with_retry_after(app_context, error):
    response = problem_response(error)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] in {"DATABASE_UNAVAILABLE", "DATABASE_BUSY"}


@pytest.mark.parametrize("error", [ExecutionTimeout("operation exceeded time limit", 50),
                                   OperationFailure("exceeded time limit", 262)])
def test_a_time_limit_is_a_query_timeout_on_a_read_and_unavailable_on_a_write(error):
    """A read the server stopped for time, wherever the service made it (the extent's find too), is
    a QUERY_TIMEOUT; a write that meets a time limit stays DATABASE_UNAVAILABLE (retry the body)."""
    for method, code in (("GET", "QUERY_TIMEOUT"), ("DELETE", "QUERY_TIMEOUT"), ("POST", "DATABASE_UNAVAILABLE")):
        with Flask(__name__).test_request_context("/logs", method=method):
            response = problem_response(error)
        assert response.status_code == 503 and response.get_json()["code"] == code, method


def test_a_read_stopped_at_its_time_limit_is_a_query_timeout(app_context):
    """Only reads raise QueryTimeout (store.reads turns their ExecutionTimeout into it): a write whose
    retries ran out of time stays DATABASE_UNAVAILABLE above."""
    response = problem_response(QueryTimeout())
    assert response.status_code == 503 and response.get_json()["code"] == "QUERY_TIMEOUT"
    assert response.headers["Retry-After"].isdigit()


def test_errors_a_zone_the_server_does_not_know_is_the_same_400_as_a_bad_tz(app_context):
    """The store says UnknownTimeZone (no HTTP below this module); the client gets what a tz
    parameter the service refuses itself answers: 400 INVALID_PARAMETER naming ``tz``."""
    stored = problem_response(UnknownTimeZone("Europe/Atlantis")).get_json()
    refused = problem_response(InvalidParameter("tz", "the database does not know the time zone 'Europe/Atlantis'"))
    assert stored.pop("requestId") and refused.get_json().pop("requestId")
    expected = refused.get_json()
    del expected["requestId"]
    assert stored == expected
    assert stored["status"] == 400 and stored["parameter"] == "tz" and stored["code"] == "INVALID_PARAMETER"


@pytest.mark.parametrize("error", BUGS, ids=lambda e: type(e).__name__)
def test_bugs_stay_500(app_context, error):
    response = problem_response(error)
    assert response.status_code == 500
    assert response.get_json()["code"] == "INTERNAL_ERROR"
