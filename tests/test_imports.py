"""The package's import contract: layers import downward only, and no dbkit module imports
itself round a cycle. Read from the source (every import, a function's own too), not from
what happens to be loaded."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import dbkit

PACKAGE = Path(dbkit.__file__).parent
# Lowest first: a module may import its own layer's package and any layer below, never above.
# Packages in one layer do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("model",),
    ("servers", "strategies"),
    ("engine",),
    ("store",),
    ("present",),
    ("cli",),
)
FACADE = ("dbkit", "dbkit.__main__")  # the public API and `python -m dbkit`: above every layer


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The package's modules that ``path`` imports: ``from a import b`` is a.b when that is a
    module, else a."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package at ``root`` -> the package's modules it imports."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = _imports(path, name, path.name == "__init__.py", set(modules))
        graph[name] = {n for n in found if n in modules and n != name}
    return graph


def _layer(module: str) -> tuple[int, str] | None:
    if module in FACADE:
        return None
    top = module.split(".")[1] if "." in module else module
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank, top
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def layer_violations(root: Path) -> list[str]:
    """Every import that goes up a layer, or across packages of one layer."""
    problems = []
    for module, imported in import_graph(root).items():
        mine = _layer(module)
        for other in sorted(imported):
            theirs = _layer(other)
            if mine is None or theirs is None:
                if theirs is None and mine is not None:
                    problems.append(f"{module} imports the facade {other}")
                continue
            if theirs[0] > mine[0] or (theirs[0] == mine[0] and theirs[1] != mine[1]):
                problems.append(f"{module} ({mine[1]}) imports {other} ({theirs[1]})")
    return problems


def cycles(root: Path) -> list[list[str]]:
    """Import cycles among the package's modules (a package and its own modules excepted:
    ``dbkit.x`` importing ``dbkit.x.y`` which imports ``dbkit.x`` is Python's normal way)."""
    graph = import_graph(root)
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if node.startswith(nxt + ".") or nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_layers_import_downward_only() -> None:
    assert layer_violations(PACKAGE) == []


def test_no_import_cycle_among_dbkit_modules() -> None:
    assert cycles(PACKAGE) == []


@pytest.mark.parametrize(
    ("where", "line", "expected"),
    [
        ("model/spec.py", "from dbkit.engine import run", "dbkit.model.spec (model) imports"),
        ("servers/base.py", "import dbkit.strategies.base", "(servers) imports"),
        ("engine/run.py", "from dbkit.cli import main", "(engine) imports dbkit.cli"),
    ],
)
def test_the_contract_fails_when_a_lower_layer_imports_a_higher(
    tmp_path: Path, where: str, line: str, expected: str
) -> None:
    fake = tmp_path / "dbkit"
    for name in ("model/spec.py", "servers/base.py", "strategies/base.py", "engine/run.py",
                 "cli/__init__.py", "__init__.py", "model/__init__.py", "servers/__init__.py",
                 "strategies/__init__.py", "engine/__init__.py"):  # fmt: skip
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text("")
    (fake / where).write_text(f"def late():\n    {line}\n")  # a function's import counts too
    problems = layer_violations(fake)
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_cycle_is_found(tmp_path: Path) -> None:
    fake = tmp_path / "dbkit"
    (fake / "engine").mkdir(parents=True)
    for name in ("__init__.py", "engine/__init__.py"):
        (fake / name).write_text("")
    (fake / "engine/a.py").write_text("from dbkit.engine import b\n")
    (fake / "engine/b.py").write_text("def f():\n    from dbkit.engine.a import x\n")
    assert cycles(fake) == [["dbkit.engine.a", "dbkit.engine.b", "dbkit.engine.a"]]
