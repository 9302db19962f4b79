"""A duration's name means one thing: a module-level ``*_S`` constant with the name another
module gives a different value is two meanings under one name. Read from the source."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import dbkit

PACKAGE = Path(dbkit.__file__).parent
# Names the engine still gives two values; its rewrite names each meaning on its own.


def _durations(path: Path) -> dict[str, object]:
    """The module's ``NAME_S = value`` constants, an alias of another one resolved."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not (isinstance(target, ast.Name) and target.id.endswith("_S")):
            continue
        if isinstance(value, ast.Name) and value.id in found:
            found[target.id] = found[value.id]
            continue
        try:
            found[target.id] = ast.literal_eval(value)
        except ValueError:
            continue  # not a literal: nothing to compare
    return found


def duration_names_with_two_values(root: Path) -> dict[str, dict[str, object]]:
    """Each ``*_S`` name that two modules under ``root`` bind to different values."""
    values: dict[str, dict[str, object]] = defaultdict(dict)
    for path in sorted(root.rglob("*.py")):
        for name, value in _durations(path).items():
            values[name][str(path.relative_to(root.parent))] = value
    return {
        name: where
        for name, where in sorted(values.items())
        if len({repr(v) for v in where.values()}) > 1
    }


def test_a_duration_name_has_one_value_across_the_package() -> None:
    clashes = duration_names_with_two_values(PACKAGE)
    assert clashes == {}


def test_the_check_sees_a_clash(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "a.py").write_text("WAIT_S = 1.0\nKEPT_S = 2.0\n")
    (root / "b.py").write_text("WAIT_S = 5.0\nOTHER_S = 2.0\nKEPT_S = OTHER_S\n")
    assert duration_names_with_two_values(root) == {"WAIT_S": {"pkg/a.py": 1.0, "pkg/b.py": 5.0}}
