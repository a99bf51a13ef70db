"""The tests' own layout: what test modules share lives in ``tests/helpers/`` (functions, data) and
``tests/conftest.py`` (fixtures, used by name), so no test module imports another test module or
conftest, and no loose ``*_helpers.py`` sits beside the tests. Read with ``ast``: nothing imported."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).parent


def imported(path: Path) -> Iterator[str]:
    """Every module ``path`` imports (``from tests import x`` counts as ``tests.x``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def is_test_module(name: str) -> bool:
    """``name`` is a test module, conftest or a loose helper module of this folder."""
    if name.startswith("."):
        return True  # relative: the tests are no package to import from
    parts = name.split(".")
    if parts[0] == "tests":
        parts = parts[1:]
    elif len(parts) > 1:
        return False  # another package's module (``a.test_x``) is not ours
    first = parts[0] if parts else ""
    return first.startswith("test_") or first == "conftest" or first.endswith("_helpers")


def test_no_test_module_imports_another_test_module_or_conftest():
    found = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        if "fixtures" not in path.relative_to(TESTS).parts
        for name in imported(path)
        if is_test_module(name)
    ]
    assert found == [], "share through tests/helpers/ or a conftest fixture instead:\n" + "\n".join(found)


def test_shared_helpers_live_in_the_helpers_package():
    assert (TESTS / "helpers" / "__init__.py").is_file()
    assert sorted(p.name for p in TESTS.glob("*_helpers.py")) == []


def test_the_check_finds_what_it_looks_for():
    for name in ("tests.test_browser", "test_batch", "tests.conftest", "conftest", "tests.v1_helpers", ".x"):
        assert is_test_module(name), name
    for name in ("tests.helpers.data", "tests.helpers", "tests", "pytest", "electra_demo.test_x", "testing"):
        assert not is_test_module(name), name
