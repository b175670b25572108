"""The README's Layout table names every module of ``logstore/`` and only modules that exist.

The table is read from README.md itself (the section "## Layout", the first backticked ``.py``
paths of each row's first cell, relative to ``logstore/``), so a module added, renamed or removed
without the table fails here, naming it.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "logstore"


def layout_table_modules(readme_text):
    section = readme_text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    named = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("| ---"):
            continue
        first_cell = line.split("|")[1]
        named += re.findall(r"`([\w/]+\.py)`", first_cell)
    return named


def package_modules():
    return {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")}


def test_the_reader_finds_the_modules_of_a_row_s_first_cell_only():
    text = ("# x\n\n## Layout\n\n| module | what |\n| --- | --- |\n"
            "| `a.py`, `store/b.py` | holds `c.py` |\n\n## Next\n\n| `d.py` | x |\n")
    assert layout_table_modules(text) == ["a.py", "store/b.py"]


def test_the_layout_table_names_every_module_of_the_package_and_no_other():
    named = layout_table_modules((ROOT / "README.md").read_text(encoding="utf-8"))
    assert named, "no module found in the README's Layout table"
    assert len(named) == len(set(named)), sorted(m for m in named if named.count(m) > 1)
    modules = package_modules()
    assert not set(named) - modules, f"named in README's Layout but not in logstore/: {sorted(set(named) - modules)}"
    assert not modules - set(named), f"in logstore/ but not in README's Layout: {sorted(modules - set(named))}"
