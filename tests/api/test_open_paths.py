"""The README's list of paths that need no key is the list the code serves without one."""
import re

from logstore import create_app
from logstore.config import Settings
from logstore.launcher import ROOT


def readme_open_paths():
    text = " ".join((ROOT / "README.md").read_text().split())
    sentence = re.search(r"every endpoint except (.*?) needs one", text).group(1)
    return {path.rstrip("/") or "/" for path in re.findall(r"`(/[^`]*)`", sentence)}


def served_open_paths(db):
    app = create_app(Settings(write_keys=frozenset({"w"}), read_keys=frozenset({"r"}), admin_keys=frozenset({"a"})),
                     database=db)
    client = app.test_client()
    open_paths = set()
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<[^>]+>", "x", rule.rule)
        statuses = {getattr(client, method.lower())(url).status_code
                    for method in rule.methods - {"HEAD", "OPTIONS"}}
        # A rule with a variable is asked for a file that does not exist: 404, not 401, when open.
        # Without one, 404 is a rule that serves nothing (flask-restx's "/").
        refused = {401} if "<" in rule.rule else {401, 404}
        if statuses - refused:
            open_paths.add(re.sub(r"<[^>]+>", "*", rule.rule).rstrip("/") or "/")
    return open_paths


def test_the_readme_lists_exactly_the_paths_open_without_a_key(db):
    assert readme_open_paths() == served_open_paths(db)
    assert {"/dashboard", "/health", "/docs"} <= readme_open_paths()
