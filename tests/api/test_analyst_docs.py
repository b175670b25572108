"""Swagger covers export, stats and delete with every parameter; the dashboard page is served."""


def params(operation):
    return {p["name"] for p in operation.get("parameters", [])}


def test_swagger_documents_export_stats_and_delete(client):
    spec = client.get("/swagger.json").get_json()
    filters = {"userId", "sessionId", "types", "from", "to"}
    export = spec["paths"]["/logs/export"]["get"]
    assert params(export) == filters | {"format", "order", "raw"}
    assert set(export["produces"]) == {"application/x-ndjson", "text/csv", "application/problem+json"}
    stats = spec["paths"]["/logs/stats"]["get"]
    assert params(stats) == filters | {"groupBy", "tz"}
    assert stats["responses"]["200"]["schema"]["items"]["$ref"] == "#/definitions/StatsRow"
    delete = spec["paths"]["/logs"]["delete"]
    assert params(delete) == filters
    assert delete["responses"]["200"]["schema"]["$ref"] == "#/definitions/DeleteResult"
    for operation in (export, stats, delete):
        assert operation["summary"] and {"400", "503"} <= set(operation["responses"])


def test_dashboard_page_and_assets_are_served_without_redirects(client):
    for path in ("/dashboard", "/dashboard/"):
        page = client.get(path)
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert b"/dashboard/static/dashboard.js" in page.data and b"https://" not in page.data
    assert client.get("/dashboard/static/dashboard.js").status_code == 200
