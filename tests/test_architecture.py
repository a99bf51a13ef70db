"""The package keeps the shape ARCHITECTURE.md describes: its subpackages, imports that point down
the layers and never in a circle, no private name borrowed across modules, a small package root,
short functions and modules. Everything is read with ``ast``: nothing here imports the package."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "electra_demo"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

# The layers bottom-up, as ARCHITECTURE.md lists them: a module may import from its own layer and
# the layers below, never from one above. Each entry is a module or a subpackage (with its modules).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("electra_demo", "electra_demo.config", "electra_demo.checks", "electra_demo.optional"),
    ("electra_demo.text", "electra_demo.trained"),
    ("electra_demo.runtime",),
    ("electra_demo.tasks", "electra_demo.finetune"),
    ("electra_demo.service", "electra_demo.adapt"),
    ("electra_demo.api", "electra_demo.batch", "electra_demo.tools"),
    ("electra_demo.page", "electra_demo.scale"),
    # the thin ``python -m`` entries that keep documented commands working
    ("electra_demo.serve_ray", "electra_demo.batch_ray", "electra_demo.tiny", "electra_demo.evaluate_qa"),
)
MAX_ROOT_MODULES = 10
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


@dataclass(frozen=True)
class Import:
    """One import statement's target, seen from the module that holds it."""

    module: str  # the importing module
    target: str  # the imported module (a package's ``__init__`` is the package's name)
    line: int
    names: tuple[str, ...]  # for ``from target import a, b``; empty for ``import target``


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The module a ``from ... import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: str, path: Path) -> Iterator[Import]:
    """Every import in ``module`` of a package module, wherever it stands (top level, a function,
    an ``if TYPE_CHECKING:`` block): ``from pkg import sub`` counts as importing ``pkg.sub``."""
    known = modules()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "electra_demo":
                    yield Import(module, alias.name, node.lineno, ())
        elif isinstance(node, ast.ImportFrom):
            source = absolute(module, node, path.name == "__init__.py")
            if source.split(".")[0] != "electra_demo":
                continue
            plain = tuple(a.name for a in node.names if f"{source}.{a.name}" not in known)
            if plain:
                yield Import(module, source, node.lineno, plain)
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    yield Import(module, f"{source}.{alias.name}", node.lineno, ())


def layer_of(module: str) -> int:
    """The index of the layer that holds ``module`` (its longest matching entry)."""
    best: tuple[int, int] | None = None
    for index, entries in enumerate(LAYERS):
        for entry in entries:
            if (module == entry or module.startswith(entry + ".")) and (best is None or len(entry) > best[1]):
                best = (index, len(entry))
    assert best is not None, f"{module} has no layer in LAYERS: add it (and to ARCHITECTURE.md)"
    return best[0]


def graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (itself left out)."""
    edges: dict[str, set[str]] = {name: set() for name in modules()}
    for name, path in modules().items():
        for found in imports(name, path):
            if found.target != name:
                edges[name].add(found.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def subpackages() -> set[str]:
    """``electra_demo``'s subpackages, nested ones included, as paths (``page/tabs``)."""
    return {
        init.parent.relative_to(PACKAGE).as_posix()
        for init in PACKAGE.rglob("__init__.py")
        if init.parent != PACKAGE
    }


def named_subpackages() -> set[str]:
    """The subpackages ARCHITECTURE.md names, written in code as ``name/`` (``page/tabs/``,
    ``electra_demo/api/``); the repository's own folders (``tests/``, ``docs/``) are not."""
    paths = re.findall(r"`(?:electra_demo/)?([a-z_]+(?:/[a-z_]+)*)/`", ARCHITECTURE.read_text())
    return {path for path in paths if not (ROOT / path.split("/")[0]).is_dir()}


def layers_section() -> str:
    text = ARCHITECTURE.read_text()
    assert "\n## Layers" in text, "ARCHITECTURE.md has no '## Layers' section"
    return text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]


def test_architecture_names_every_subpackage_and_no_other():
    named, actual = named_subpackages(), subpackages()
    assert not named - actual, f"ARCHITECTURE.md names missing subpackages: {sorted(named - actual)}"
    assert not actual - named, f"ARCHITECTURE.md does not name these subpackages: {sorted(actual - named)}"


def test_architecture_names_only_files_that_exist():
    """A path (``tasks/detect.py``) exists under the package or the repository; a bare name
    (``kinds.py``, said within its subpackage's line) is a module somewhere in the package."""
    names = {path.name for path in PACKAGE.rglob("*.py")}
    missing = [
        path
        for path in re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", ARCHITECTURE.read_text())
        if not ((PACKAGE / path).exists() or (ROOT / path).exists() or ("/" not in path and path in names))
    ]
    assert not missing, f"ARCHITECTURE.md names files that do not exist: {missing}"


def test_architecture_lists_the_layers_of_this_test():
    """The '## Layers' section names each entry of LAYERS above the foundation, in LAYERS' order."""
    section = layers_section()
    positions = []
    for entries in LAYERS[1:]:
        for entry in entries:
            short = re.escape(entry.removeprefix("electra_demo.").replace(".", "/"))
            match = re.search(rf"`(?:electra_demo/)?{short}(?:/|\.py)`", section)
            assert match, f"ARCHITECTURE.md's layers do not name {entry}"
            positions.append((match.start(), entry))
    assert [entry for _, entry in positions] == [entry for _, entry in sorted(positions)], (
        f"ARCHITECTURE.md lists the layers in another order than LAYERS: {sorted(positions)}"
    )
    for entry in LAYERS[0][1:]:
        assert f"{entry.removeprefix('electra_demo.')}" in section, f"the foundation's {entry} is missing"


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_imports_point_down_the_layers():
    upward = [
        f"{found.module} (layer {layer_of(found.module)}) imports {found.target} "
        f"(layer {layer_of(found.target)}) at line {found.line}"
        for name, path in modules().items()
        for found in imports(name, path)
        if layer_of(found.target) > layer_of(found.module)
    ]
    assert not upward, "imports pointing up a layer:\n" + "\n".join(upward)


def test_no_import_cycle_between_modules():
    found = cycles(graph())
    assert not found, "modules importing each other (directly or round a circle):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def module_aliases(path: Path, module: str) -> dict[str, str]:
    """Local names this file binds to package modules: ``from pkg import sub [as s]``,
    ``import electra_demo.x as y``, and ``electra_demo`` itself after ``import electra_demo.x``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.ImportFrom):
            source = absolute(module, node, path.name == "__init__.py")
            for alias in node.names:
                if f"{source}.{alias.name}" in modules():
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "electra_demo":
                    aliases[alias.asname or "electra_demo"] = alias.name if alias.asname else "electra_demo"
    return aliases


def private_uses(path: Path, module: str) -> Iterator[str]:
    """Private names this file takes from another package module: ``from m import _x``, and
    ``m._x`` where ``m`` names a package module it imported."""
    where = path.relative_to(ROOT)
    for found in imports(module, path):
        for name in found.names:
            if found.target != module and is_private(name):
                yield f"{where}:{found.line} imports {name} from {found.target}"
    aliases = module_aliases(path, module)
    for node in ast.walk(tree(path)):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        name = dotted(node.value)
        if name is None or name.split(".")[0] not in aliases:
            continue
        first, _, rest = name.partition(".")
        target = ".".join(filter(None, (aliases[first], rest)))
        if target in modules() and target != module:
            yield f"{where}:{node.lineno} uses {name}.{node.attr} ({target})"


def test_no_private_name_is_imported_from_another_module():
    files = [(name, path) for name, path in modules().items()] + [("app", ROOT / "app.py")]
    found = [use for name, path in files for use in private_uses(path, name)]
    assert not found, "private names used across modules (make them public):\n" + "\n".join(found)


def test_package_root_holds_few_modules():
    root = sorted(path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert len(root) <= MAX_ROOT_MODULES, f"{len(root)} modules at the package root: {root}"


def function_lengths(path: Path) -> Iterator[tuple[str, int]]:
    """Each outermost function (or method) and its lines, nested functions counted in it."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield f"{prefix}{child.name}", child.end_lineno - child.lineno + 1  # def to end
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree(path), "")


def test_functions_are_short():
    long = [
        f"{path.relative_to(ROOT)}:{name} has {lines} lines"
        for path in modules().values()
        for name, lines in function_lengths(path)
        if lines > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_modules_are_short():
    long = [
        f"{path.relative_to(ROOT)} has {lines} lines"
        for path in modules().values()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(long)


def test_the_checks_find_what_they_look_for():
    """The graph checks themselves, on planted cases: a circle, and layers in order."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    page, service, task = (
        layer_of(f"electra_demo.{m}") for m in ("page.tabs.detect", "service", "tasks.detect")
    )
    assert page > service > task
    assert (
        layer_of("electra_demo.trained.kinds") == layer_of("electra_demo.text.qa") > layer_of("electra_demo")
    )
    targets = {found.target for found in imports("electra_demo.service", modules()["electra_demo.service"])}
    assert "electra_demo.config" in targets and "electra_demo.tasks.detect" in targets
    assert is_private("_x") and not is_private("__version__") and not is_private("x")
