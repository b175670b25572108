"""The package's imports point only down its layers, read from the code (``ast``, imports inside
functions included): the layers are written once, here, top to bottom."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "logstore"

# Top to bottom: a module may import its own layer and the layers below it, never one above.
# A name ending in "." is a package: every module in it.
LAYERS = (
    ("entry", ("logstore", "logstore.startup", "logstore.launcher", "logstore.local_database",
               "logstore.gunicorn_errors", "logstore.secantus_patches")),
    ("api", ("logstore.api.",)),
    ("guards", ("logstore.auth", "logstore.idempotency", "logstore.ratelimit", "logstore.clientlimits",
                "logstore.readgate", "logstore.cors", "logstore.bodies", "logstore.headers", "logstore.requestlog",
                "logstore.dashboard", "logstore.ingest", "logstore.db")),
    ("errors", ("logstore.errors",)),
    ("store", ("logstore.store.",)),
    ("builders", ("logstore.pipelines", "logstore.insights_pipelines", "logstore.formats", "logstore.exports")),
    ("rules", ("logstore.times", "logstore.windows", "logstore.validation", "logstore.filters", "logstore.cursors",
               "logstore.insights_params", "logstore.config", "logstore.action_types")),
    ("values", ("logstore.values",)),
)
WEB = ("flask", "flask_restx", "werkzeug")
DATABASE = ("pymongo", "bson")
# Imports no layer order forbids but the design does: (importer, imported, why). A name ending in
# "." covers a package; "module:Name" one name taken from a module.
FORBIDDEN = (
    ("logstore.api.", DATABASE, "api/ parses, calls and shapes: the database is store/'s"),
    ("logstore.store.", WEB, "store/ runs without Flask"),
    ("logstore.builders", WEB + DATABASE, "the builders are pure"),
    ("logstore.rules", WEB + DATABASE, "the rules know no HTTP and no database"),
    ("logstore.values", WEB, "the codec knows no HTTP"),
    ("logstore.store.", ("logstore.filters:InvalidParameter",), "store/ raises its own errors (store/errors.py), "
                                                              "never a parameter's 400"),
)
# errors.py maps the store's exceptions: it may know store/errors.py, and nothing else of the store.
ERRORS_MAY_KNOW_OF_THE_STORE = ("logstore.store.errors",)


def module_name(path, package=PACKAGE):
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path):
    return path.name == "__init__.py"


def imports(path, root=PACKAGE):
    """(line, imported module, name or None) for every import of the file, wherever it stands."""
    name = module_name(path, root)
    package = name if is_package(path) else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if _exists(submodule, root):
                    yield node.lineno, submodule, None
                else:
                    yield node.lineno, source, alias.name


def _exists(dotted, root):
    path = root.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _covers(prefix, name):
    return name.startswith(prefix) or name == prefix.rstrip(".") if prefix.endswith(".") else name == prefix


def layer_of(name):
    for rank, (layer, members) in enumerate(LAYERS):
        if any(_covers(member, name) for member in members):
            return rank, layer
    return None


def _in(selector, name):
    """``selector`` is a module/package prefix, or ``logstore.<layer>`` for a whole layer."""
    for layer, members in LAYERS:
        if selector == f"logstore.{layer}":
            return any(_covers(member, name) for member in members)
    return _covers(selector, name) or name.startswith(selector + ".")


def violations(package=PACKAGE):
    found = []
    for path in sorted(package.rglob("*.py")):
        name = module_name(path, package)
        home = layer_of(name)
        where = f"{path.relative_to(package.parent)}"
        if home is None:
            found.append(f"{where}: module {name} is in no layer of tests/test_layers.py (put it in one)")
            continue
        for line, imported, taken in imports(path, package):
            top = imported.split(".")[0]
            for importer, banned, why in FORBIDDEN:
                if not _in(importer, name):
                    continue
                for item in banned:
                    module, _, only = item.partition(":")
                    hit = (imported == module and taken == only) if only else top == module
                    if hit:
                        found.append(f"{where}:{line} imports {imported}{'.' + taken if taken else ''}: {why}")
            if name == "logstore.errors" and imported.startswith("logstore.store") \
                    and imported not in ERRORS_MAY_KNOW_OF_THE_STORE:
                found.append(f"{where}:{line} imports {imported}: errors.py may know only the store's exceptions "
                             f"({', '.join(ERRORS_MAY_KNOW_OF_THE_STORE)})")
            if top != "logstore":
                continue
            target = layer_of(imported)
            if target is None:
                continue  # reported as a module of no layer, where it is defined
            if target[0] < home[0]:
                found.append(f"{where}:{line} imports {imported}: {home[1]} may not import {target[1]} (above it)")
    return found


def test_layers_every_import_points_down():
    assert violations() == []


def test_layers_the_check_names_an_upward_import(tmp_path):
    """The check itself: a store module importing the HTTP errors, or pymongo in api/, is named."""
    package = tmp_path / "logstore"
    (package / "store").mkdir(parents=True)
    (package / "api").mkdir()
    for empty in ("__init__.py", "store/__init__.py", "api/__init__.py", "errors.py"):
        (package / empty).write_text("")
    (package / "store" / "reads.py").write_text("def f():\n    from ..errors import ApiError\n")
    (package / "api" / "logs.py").write_text("import pymongo\n")
    (package / "stray.py").write_text("")
    assert violations(package) == [
        "logstore/api/logs.py:1 imports pymongo: api/ parses, calls and shapes: the database is store/'s",
        "logstore/store/reads.py:2 imports logstore.errors: store may not import errors (above it)",
        "logstore/stray.py: module logstore.stray is in no layer of tests/test_layers.py (put it in one)",
    ]


def test_layers_the_store_errors_load_without_the_store():
    """gunicorn's master and errors.py know the store's exceptions without loading the store (or pymongo)."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import logstore.store.errors, sys; "
                               "print(sorted(m for m in sys.modules if m.startswith(('logstore.store.', 'pymongo'))))"],
        capture_output=True, text=True, check=True, cwd=PACKAGE.parent).stdout.strip()
    assert loaded == "['logstore.store.errors']"
