"""The test tree's own rules: test modules share code through tests/helpers.py only, use
dbkit's public names only, and mirror the package's layers."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another() -> None:
    offenders = {
        f"{path.relative_to(TESTS)} imports {name}"
        for path in TESTS.rglob("test_*.py")
        for name in _imported(path)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
    }
    assert not offenders, sorted(offenders)


def _private_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dbkit"):
            names.update(
                f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_")
            )
    return names


def test_no_test_imports_a_private_name_of_dbkit() -> None:
    offenders = {
        f"{path.relative_to(TESTS)} imports {name}"
        for path in TESTS.rglob("test_*.py")
        for name in _private_names(path)
    }
    assert not offenders, sorted(offenders)


def test_the_test_folders_mirror_the_packages_layers() -> None:
    import dbkit

    package = Path(dbkit.__file__).parent
    layers = {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name not in ("golden",
               "integration", "__pycache__")}  # fmt: skip
    assert folders <= layers, sorted(folders - layers)  # no test folder without its layer
