import mongomock

from logstore import create_app
from logstore.config import Settings


def test_health_needs_no_database():
    class Unreachable:
        def __getattr__(self, name):
            raise AssertionError("health must not touch the database")

    app = create_app(Settings(), database=mongomock.MongoClient().db)
    app.extensions["logstore.db"] = Unreachable()
    assert app.test_client().get("/health").status_code == 200


def test_ready_is_503_when_the_database_does_not_answer():
    from pymongo import MongoClient

    from logstore.launcher import free_port

    dead = MongoClient(f"mongodb://127.0.0.1:{free_port()}/x", serverSelectionTimeoutMS=300).get_default_database()
    app = create_app(Settings(), database=dead)
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["code"] == "DATABASE_UNAVAILABLE"


def test_ready_is_200_with_a_database(client):
    assert client.get("/ready").get_json() == {"status": "ready"}


def test_swagger_documents_every_endpoint_and_its_models(client):
    spec = client.get("/swagger.json").get_json()
    assert {"/logs", "/health", "/ready"} <= set(spec["paths"])
    get_params = {p["name"] for p in spec["paths"]["/logs"]["get"]["parameters"]}
    assert {"userId", "sessionId", "types", "from", "to", "limit", "cursor", "format"} <= get_params
    assert {"SessionLog", "Action", "IngestResult", "Problem"} <= set(spec["definitions"])
    assert "400" in spec["paths"]["/logs"]["post"]["responses"]


def test_docs_page_is_served(client):
    response = client.get("/docs")
    assert response.status_code == 200 and b"swagger" in response.data.lower()


def test_unhandled_errors_are_500_problems_with_a_request_id(app):
    from logstore.api import logs

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    original = logs.store.query_page
    logs.store.query_page = boom
    try:
        response = app.test_client().get("/logs", headers={"X-Request-ID": "req-123"})
    finally:
        logs.store.query_page = original
    assert response.status_code == 500
    body = response.get_json()
    assert body["code"] == "INTERNAL_ERROR" and body["requestId"] == "req-123"
    assert "secret internals" not in response.get_data(as_text=True)


def test_swagger_says_errors_are_problem_documents_and_replies_stay_json(client):
    assert "application/problem+json" in client.get("/swagger.json").get_json()["produces"]
    response = client.get("/health", headers={"Accept": "application/problem+json"})
    assert response.status_code == 200 and response.mimetype == "application/json"
