"""GET /sdk/logstore.js: a public, cacheable ES module any origin may load, whose hash the README pins."""
import re
from pathlib import Path

import mongomock
import pytest

from logstore import create_app
from logstore.api.sdk import INTEGRITY, SDK_PATH, integrity
from logstore.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def guarded():
    """Keys on and CORS for one other origin only: the SDK must still load, from anywhere."""
    settings = Settings(write_keys=frozenset({"w"}), read_keys=frozenset({"r"}),
                        cors_origins=("https://app.example.com",))
    return create_app(settings, database=mongomock.MongoClient().db).test_client()


def test_sdk_is_javascript_with_cache_headers(guarded):
    response = guarded.get("/sdk/logstore.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert response.data == SDK_PATH.read_bytes()
    assert response.headers["ETag"]
    assert "public" in response.headers["Cache-Control"] and "max-age=3600" in response.headers["Cache-Control"]
    assert response.headers["X-SDK-Integrity"] == INTEGRITY


def test_sdk_revalidates_with_its_etag(guarded):
    etag = guarded.get("/sdk/logstore.js").headers["ETag"]
    again = guarded.get("/sdk/logstore.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert guarded.get("/sdk/logstore.js", headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("origin", ["https://app.example.com", "https://elsewhere.test"])
def test_sdk_needs_no_key_and_loads_from_any_origin(guarded, origin):
    response = guarded.get("/sdk/logstore.js", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert guarded.post("/logs", json=[], headers={"Origin": origin}).status_code == 401  # the API is not


def test_sdk_is_in_swagger(client):
    operation = client.get("/swagger.json").get_json()["paths"]["/sdk/logstore.js"]["get"]
    assert "application/javascript" in operation["produces"]



def test_readme_integrity_is_the_served_files():
    """The README's snippet pins the file's hash: edit the SDK, and this says which hash to paste."""
    pinned = set(re.findall(r"sha384-[A-Za-z0-9+/=]+", README.read_text()))
    assert pinned == {integrity(SDK_PATH.read_bytes())}, f"README: use {integrity(SDK_PATH.read_bytes())}"


def test_sdk_version_is_in_readme():
    version = re.search(r'export const VERSION = "([^"]+)"', SDK_PATH.read_text()).group(1)
    assert f"SDK {version}" in README.read_text()
