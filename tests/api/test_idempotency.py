"""Idempotency-Key on POST /logs: replay, 422 for another body, 409 in flight, crash recovery."""
import json
from datetime import datetime, timedelta

import pytest

from logstore import create_app, idempotency
from logstore.store import idempotency as store_idempotency
from logstore.api import logs
from logstore.config import Settings
from tests.builders import SPEC_EXAMPLE, action, session_log


def post(client, body, key="key-1", **headers):
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/logs", data=json.dumps(body), content_type="application/json", headers=headers)


def stored_actions(db):
    return sum(doc["count"] for doc in db.sessions.find())


def test_a_repeat_gets_the_first_answer_and_stores_nothing(client, db):
    first = post(client, [SPEC_EXAMPLE])
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = post(client, [SPEC_EXAMPLE])
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() == {"sessions": 1, "actions": 3, "duplicates": 0}
    assert stored_actions(db) == 3
    assert post(client, [SPEC_EXAMPLE], key=None).status_code == 201  # without a key: stored again
    assert stored_actions(db) == 6


def test_the_same_key_with_another_body_is_422(client, db):
    post(client, [SPEC_EXAMPLE])
    response = post(client, [session_log(user="someone-else")])
    assert response.status_code == 422
    assert response.get_json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert db.sessions.count_documents({"userId": "someone-else"}) == 0
    # partial=true is another request too
    assert client.post("/logs?partial=true", data=json.dumps([SPEC_EXAMPLE]), content_type="application/json",
                       headers={"Idempotency-Key": "key-1"}).status_code == 422


def test_the_same_key_while_the_first_is_in_flight_is_409(app, db, monkeypatch):
    client = app.test_client()
    original, nested = logs.ingest, []

    def ingest_with_a_retry_meanwhile(*args, **kwargs):
        if not nested:  # the client retries while this request is still being processed
            nested.append(post(client, [SPEC_EXAMPLE]))
        return original(*args, **kwargs)

    monkeypatch.setattr(logs, "ingest", ingest_with_a_retry_meanwhile)
    assert post(client, [SPEC_EXAMPLE]).status_code == 201
    [retry] = nested
    assert retry.status_code == 409 and retry.get_json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert 1 <= int(retry.headers["Retry-After"]) <= 5
    assert stored_actions(db) == 3
    assert post(client, [SPEC_EXAMPLE]).headers["Idempotent-Replayed"] == "true"


def test_a_claim_left_by_a_crash_is_taken_over_once_its_lease_ends(client, db, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("worker killed mid-request")

    with monkeypatch.context() as patch:
        patch.setattr(logs, "ingest", crash)
        patch.setattr(idempotency, "_release", lambda *args: None)  # a killed process releases nothing
        assert post(client, [SPEC_EXAMPLE]).status_code == 500
    [claim] = db.idempotency.find()
    assert claim["state"] == "pending"
    assert post(client, [SPEC_EXAMPLE]).status_code == 409  # the lease still runs
    db.idempotency.update_one({}, {"$set": {"lease": datetime.utcnow() - timedelta(seconds=1)}})
    response = post(client, [SPEC_EXAMPLE])
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert stored_actions(db) == 3
    assert post(client, [SPEC_EXAMPLE]).headers["Idempotent-Replayed"] == "true"


def test_a_failed_first_attempt_is_not_cached(client, db):
    broken = [session_log(actions=[action(time="2018-10-18T21:37:28")])]
    assert post(client, broken).status_code == 400
    assert post(client, broken).status_code == 400  # not 409, not a replay
    assert db.idempotency.count_documents({}) == 0
    fixed = post(client, [SPEC_EXAMPLE])  # the client repairs the body and keeps its key
    assert fixed.status_code == 201 and stored_actions(db) == 3


def test_the_record_commits_with_the_actions_or_not_at_all(client, db, monkeypatch):
    original = logs.ingest

    def taken_over_meanwhile(*args, **kwargs):
        # Our lease ran out and another request took the key: our transaction must store nothing.
        db.idempotency.update_one({}, {"$set": {"owner": "someone-else"}})
        return original(*args, **kwargs)

    monkeypatch.setattr(logs, "ingest", taken_over_meanwhile)
    response = post(client, [SPEC_EXAMPLE])
    assert response.status_code == 409
    assert db.sessions.count_documents({}) == 0
    assert db.idempotency.find_one()["state"] == "pending"


def test_records_older_than_a_day_are_forgotten(client, db):
    post(client, [SPEC_EXAMPLE])
    db.idempotency.update_one({}, {"$set": {"created": datetime.utcnow() - timedelta(hours=24, seconds=1)}})
    response = post(client, [session_log(user="new")])
    assert response.status_code == 201 and db.sessions.count_documents({"userId": "new"}) == 1
    index = db.idempotency.index_information()["created_ttl"]
    assert index["expireAfterSeconds"] == 24 * 3600


def test_keys_are_scoped_by_api_key(db):
    client = create_app(Settings(write_keys=frozenset({"w1", "w2"})), database=db).test_client()
    assert post(client, [SPEC_EXAMPLE], **{"X-API-Key": "w1"}).status_code == 201
    other = post(client, [SPEC_EXAMPLE], **{"X-API-Key": "w2"})
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert post(client, [SPEC_EXAMPLE], **{"X-API-Key": "w1"}).headers["Idempotent-Replayed"] == "true"
    assert stored_actions(db) == 6
    assert not any("w1" in json.dumps(doc, default=str) for doc in db.idempotency.find())


def test_a_partial_batch_with_nothing_stored_is_replayed_too(client, db):
    body = [session_log(user="")]
    first = client.post("/logs?partial=true", data=json.dumps(body), content_type="application/json",
                        headers={"Idempotency-Key": "p"})
    again = client.post("/logs?partial=true", data=json.dumps(body), content_type="application/json",
                        headers={"Idempotency-Key": "p"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and first.get_json()["rejected"][0]["index"] == 0
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "two words"])
def test_malformed_keys_are_400(client, key):
    response = post(client, [SPEC_EXAMPLE], key=key)
    assert response.status_code == 400 and response.get_json()["code"] == "INVALID_IDEMPOTENCY_KEY"


def test_swagger_documents_the_header_and_its_answers(client):
    operation = client.get("/swagger.json").get_json()["paths"]["/logs"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"409", "413", "415", "422"} <= set(operation["responses"])


def test_a_body_that_stores_nothing_leaves_no_record(client, db):
    for n in range(3):
        response = client.post("/logs", data=b"[ ]", content_type="application/json",
                               headers={"Idempotency-Key": f"empty-{n}"})
        assert response.status_code == 201 and response.get_json()["sessions"] == 0
    assert db.idempotency.count_documents({}) == 0
    assert post(client, [SPEC_EXAMPLE], key="full").status_code == 201
    assert db.idempotency.count_documents({}) == 1  # a body that stores something still has one


def test_a_takeover_never_overwrites_a_claim_that_completed_meanwhile(db, monkeypatch):
    # A's lease ran out while it committed; B read A's pending record, then A's commit landed:
    # B's takeover must find A's answer, not replace it (and store A's batch a second time).
    now = datetime.utcnow()
    first = idempotency._claim(db, "r", "fp", now - timedelta(seconds=idempotency.LEASE_SECONDS + 5))
    read = store_idempotency.find_record

    def commits_while_read(database, record_id):
        found = read(database, record_id)
        monkeypatch.setattr(store_idempotency, "find_record", read)
        idempotency._complete(database, "r", first, {"stored": 1}, None)
        return found

    monkeypatch.setattr(store_idempotency, "find_record", commits_while_read)
    assert idempotency._claim(db, "r", "fp", now) == (201, b'{"stored":1}')
    stored = db.idempotency.find_one({"_id": "r"})
    assert stored["owner"] == first and stored["state"] == "done"


def test_an_expired_record_is_taken_over_whatever_its_state(db):
    now = datetime.utcnow()
    first = idempotency._claim(db, "r", "fp", now - timedelta(seconds=idempotency.TTL_SECONDS + 5))
    idempotency._complete(db, "r", first, {"stored": 1}, None)
    taken = idempotency._claim(db, "r", "other", now)
    assert isinstance(taken, str) and taken != first
    assert db.idempotency.find_one({"_id": "r"})["state"] == "pending"
