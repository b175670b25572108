"""The action types and their required properties are defined once (logstore/action_types.py):
validation, Swagger and the dashboard read them from there."""
import json
import re
from pathlib import Path

from logstore.action_types import ACTION_TYPES, REQUIRED_PROPERTIES
from tests.builders import session_log

PACKAGE = Path(__file__).resolve().parents[2] / "logstore"


def test_action_types_swagger_offers_the_types_defined_once(client):
    spec = client.get("/swagger.json").get_json()
    assert spec["definitions"]["Action"]["properties"]["type"]["enum"] == list(ACTION_TYPES)
    described = spec["definitions"]["Action"]["properties"]["properties"]["description"]
    assert all(name in described for required in REQUIRED_PROPERTIES.values() for name, _ in required)


def test_action_types_the_dashboard_gets_them_from_the_server(client):
    page = client.get("/dashboard").get_data(as_text=True)
    assert f'data-action-types="{",".join(ACTION_TYPES)}"' in page
    assert re.findall(r'name="types" value="(\w+)"', page) == list(ACTION_TYPES)
    assert "<script>" not in page  # the CSP stays strict: no inline script carries them


def test_action_types_validation_asks_each_type_for_its_properties(client):
    for kind, required in REQUIRED_PROPERTIES.items():
        body = [session_log(actions=[{"time": "2020-01-01T00:00:00Z", "type": kind, "properties": {}}])]
        response = client.post("/logs", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400
        pointers = {problem["pointer"] for problem in response.get_json()["errors"]}
        assert pointers == {f"/0/actions/0/properties/{name}" for name, _ in required}, kind


def test_action_types_no_other_module_spells_the_list():
    spelled = re.compile(r"""["']CLICK["'],\s*["']VIEW["'],\s*["']NAVIGATE["']""")
    found = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*")
             if path.suffix in (".py", ".js", ".html") and path.name != "action_types.py"
             and "sdk" not in path.parts and spelled.search(path.read_text())]
    assert found == []
