"""Headers of answers: no-store on keyed answers, Vary: Origin with CORS, nosniff and framing
everywhere, a strict CSP on the two HTML pages (logstore/headers.py)."""
import pytest

from logstore import create_app
from logstore.config import Settings
from logstore.headers import page_policy

ORIGIN = "https://app.example.com"


@pytest.mark.parametrize("method, path", [("get", "/logs"), ("get", "/logs/stats"), ("get", "/logs/export"),
                                          ("post", "/logs"), ("delete", "/logs?userId=u")])
def test_keyed_answers_are_not_stored_by_caches_errors_included(client, db, method, path):
    assert getattr(client, method)(path).headers["Cache-Control"] == "no-store"
    keyed = create_app(Settings(read_keys=frozenset({"r"})), database=db).test_client()
    refused = getattr(keyed, method)(path)
    assert refused.status_code in (401, 403) and refused.headers["Cache-Control"] == "no-store"


def test_open_paths_keep_their_own_caching(client):
    for path in ("/health", "/docs", "/dashboard", "/sdk/logstore.js"):
        assert client.get(path).headers.get("Cache-Control") != "no-store", path


def test_every_answer_says_nosniff_and_no_framing(client):
    for path in ("/health", "/logs", "/nowhere", "/docs", "/dashboard"):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path


def test_the_pages_have_a_strict_csp_allowing_only_their_own_inline_code(client):
    for path in ("/docs", "/dashboard"):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "base-uri 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    dashboard = client.get("/dashboard").headers["Content-Security-Policy"]
    assert "script-src 'self';" in dashboard and dashboard.endswith("style-src 'self'")  # no inline code at all
    assert "sha256-" in client.get("/docs").headers["Content-Security-Policy"]  # Swagger UI's inline script
    assert "Content-Security-Policy" not in client.get("/logs").headers


def test_page_policy_hashes_inline_scripts_styles_and_style_attributes():
    html = b'<style>a{}</style><svg style="x:1"></svg><script src="/a.js"></script><script>go()</script>'
    policy = page_policy(html)
    assert "script-src 'self' 'sha256-" in policy and policy.count("'sha256-") == 3
    assert "'unsafe-hashes'" in policy  # the one style attribute, by its hash


def test_vary_origin_wherever_cors_applies(db):
    client = create_app(Settings(cors_origins=(ORIGIN,)), database=db).test_client()
    for path, headers in (("/logs", {"Origin": ORIGIN}), ("/logs", {}), ("/health", {"Origin": "null"}),
                          ("/nowhere", {"Origin": ORIGIN + ".evil.example"})):
        assert "Origin" in client.get(path, headers=headers).headers.get("Vary", ""), (path, headers)
    preflight = client.options("/logs", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "Origin" in preflight.headers["Vary"]
    everyone = create_app(Settings(cors_origins=("*",)), database=db).test_client()
    assert "Origin" not in everyone.get("/logs", headers={"Origin": ORIGIN}).headers.get("Vary", "")
