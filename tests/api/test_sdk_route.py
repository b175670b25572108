"""GET /sdk/…: the browser client, public, loadable from any origin; each release immutable, its hash listed."""
import re
from pathlib import Path

import mongomock
import pytest

from logstore import create_app
from logstore.api.sdk import INTEGRITY, LATEST, RELEASES_DIR, SDK_PATH, TYPES_PATH, integrity, version_of
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
    paths = client.get("/swagger.json").get_json()["paths"]
    assert "application/javascript" in paths["/sdk/logstore.js"]["get"]["produces"]
    assert "application/javascript" in paths["/sdk/{version}/logstore.js"]["get"]["produces"]
    for path in ("/sdk/logstore.d.ts", "/sdk/{version}/logstore.d.ts", "/sdk/versions.json"):
        assert "get" in paths[path], path



def test_each_release_is_served_immutable_at_its_version(guarded):
    for version, path in [(LATEST, SDK_PATH), ("1.0.0", RELEASES_DIR / "1.0.0" / "logstore.js")]:
        response = guarded.get(f"/sdk/{version}/logstore.js", headers={"Origin": "https://elsewhere.test"})
        assert response.status_code == 200 and response.mimetype == "application/javascript"
        assert response.data == path.read_bytes()
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-SDK-Integrity"] == integrity(path.read_bytes())
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    latest = guarded.get("/sdk/logstore.js")
    assert latest.headers["X-SDK-Version"] == LATEST and "immutable" not in latest.headers["Cache-Control"]


def test_an_unknown_release_is_a_problem_document(guarded):
    for path in ("/sdk/9.9.9/logstore.js", "/sdk/1.0.0/logstore.d.ts", "/sdk/latest/logstore.js"):
        response = guarded.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json" and response.get_json()["code"] == "NOT_FOUND"
        assert "versions.json" in response.get_json()["detail"]


def test_typescript_declarations_are_served_beside_the_module(guarded):
    for path in ("/sdk/logstore.d.ts", f"/sdk/{LATEST}/logstore.d.ts"):
        response = guarded.get(path)
        assert response.status_code == 200 and response.data == TYPES_PATH.read_bytes()
        assert response.mimetype == "application/typescript"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "immutable" in guarded.get(f"/sdk/{LATEST}/logstore.d.ts").headers["Cache-Control"]


def test_versions_lists_every_release_with_its_integrity(guarded):
    response = guarded.get("/sdk/versions.json")
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    listing = response.get_json()
    assert listing["latest"] == LATEST == listing["versions"][0]["version"]
    assert [v["version"] for v in listing["versions"]] == [LATEST, "1.0.0"]
    for entry in listing["versions"]:
        served = guarded.get(entry["url"]).data
        assert entry["integrity"] == integrity(served)
    assert listing["versions"][0]["types"] == f"/sdk/{LATEST}/logstore.d.ts" and listing["versions"][1]["types"] is None


def test_releases_are_kept_under_their_version():
    """A release folder holds the file of that version; the latest is the working file, not a copy."""
    folders = [p for p in RELEASES_DIR.iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        assert version_of((folder / "logstore.js").read_bytes()) == folder.name
    assert LATEST not in {folder.name for folder in folders}, \
        "the latest release is logstore/static/sdk/logstore.js; a folder is for the ones before it"


def test_readme_pins_hashes_only_on_versioned_urls_and_they_are_the_served_files():
    """Every hash the README gives is on a /sdk/<version>/ URL and is that release's file's.

    Edit the SDK without changing VERSION, and this fails: a released file never changes; bump VERSION
    (and move the old file to static/sdk/releases/<old version>/).
    """
    text = README.read_text()
    pinned = re.findall(r'"(https://[^"]+/sdk/([^/"]+/)?logstore\.js)":\s*"(sha384-[A-Za-z0-9+/=]+)"', text)
    assert pinned, "the README pins no hash"
    assert all(version for _, version, _ in pinned), "an integrity hash on the unversioned /sdk/logstore.js"
    for _, version, value in pinned:
        version = version.rstrip("/")
        path = SDK_PATH if version == LATEST else RELEASES_DIR / version / "logstore.js"
        assert value == integrity(path.read_bytes()), f"README: {version} is {integrity(path.read_bytes())}"
    hashes = set(re.findall(r"sha384-[A-Za-z0-9+/=]+", text))
    assert integrity(SDK_PATH.read_bytes()) in hashes


def test_sdk_version_is_in_readme():
    version = re.search(r'export const VERSION = "([^"]+)"', SDK_PATH.read_text()).group(1)
    assert f"SDK {version}" in README.read_text()
    assert f"/sdk/{version}/logstore.js" in README.read_text()
