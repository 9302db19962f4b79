"""A check's verdict on one run, as a result document records it (dbkit.model.checks makes
them). Apart from checks.py so that results.py can hold verdicts without importing the parser."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Verdict:
    """A check's outcome on one run: the check's text, the run (``fleet`` for a fleet's
    totals; None when no run matched), the figure, the value measured (None: not measured),
    whether it passed, and why it could not be measured (``note``)."""

    check: str
    run: str | None
    figure: str
    op: str
    threshold: float
    value: float | None
    passed: bool
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "run": self.run,
            "figure": self.figure,
            "op": self.op,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            check=data["check"],
            run=data["run"],
            figure=data["figure"],
            op=data["op"],
            threshold=data["threshold"],
            value=data["value"],
            passed=data["passed"],
            note=data.get("note"),
        )
