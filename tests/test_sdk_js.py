"""The browser client's own unit tests (tests/js, Node's test runner) and its TypeScript declarations."""
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent / "js"
TSC = JS / "node_modules" / ".bin" / "tsc"


def test_node_unit_tests_of_the_browser_client():
    """Fake storage (with a quota), locks, clock and fetch: every failure mode of issue 20."""
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (.ci/run installs Debian's nodejs)")
    tests = sorted(str(p) for p in JS.glob("*.test.mjs"))
    result = subprocess.run([node, "--test", *tests], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]



def test_typescript_declarations_match_a_typed_example():
    """tsc --noEmit on tests/js/typed-example.ts, which imports the module through logstore.d.ts."""
    if not TSC.exists():
        pytest.skip("typescript is not installed in tests/js/node_modules (.ci/run: npm install --prefix tests/js)")
    result = subprocess.run([str(TSC), "--noEmit", "-p", str(JS / "tsconfig.json")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
