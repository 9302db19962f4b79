"""``--check`` and ``--junit``: a verdict CI can act on, the same for every measuring command.

Checks are parsed (and run names checked) before anything runs; after it, the verdicts go
into the result, come first in the output, into a JUnit file when asked, and decide the exit
code: 0 when every check passed, 3 when one failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from dbkit.cli.bundles import Bundle
from dbkit.model.checks import (
    Check,
    all_passed,
    evaluate,
    parse_checks,
    refuse_for_fleet,
    refuse_unknown_runs,
)
from dbkit.model.results import Result
from dbkit.present.checks import format_verdicts
from dbkit.present.junit import write_junit
from dbkit.store.files import check_writable

CHECK_FAILED = 3

CheckOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--check",
        help="A gate on the result, e.g. 'p99<0.5', 'errors==0', 'errors[53300]==0', "
        "'peak<=90', 'qps>=800', 'wait_p99<0.1', 'eff>=0.9', 'RUN.p99<4'; repeatable. "
        "Exit 3 when one fails.",
        show_default=False,
    ),
]
JunitOpt = Annotated[
    Path | None,
    typer.Option("--junit", help="Also write the verdicts as JUnit XML here.", show_default=False),
]


@dataclasses.dataclass(frozen=True)
class CheckOptions(Bundle):
    """--check and --junit, as every measuring command takes them."""

    check: CheckOpt = None
    junit: JunitOpt = None

    def gate(
        self, runs: Iterable[str] | None = None, services: Iterable[str] | None = None
    ) -> Gate:
        """The options' Gate (see Gate.of)."""
        return Gate.of(self.check, self.junit, runs=runs, services=services)


@dataclasses.dataclass(frozen=True)
class Gate:
    """The checks of one command, parsed, and where their JUnit file goes."""

    checks: tuple[Check, ...] = ()
    junit: Path | None = None

    @classmethod
    def of(
        cls,
        texts: Iterable[str] | None,
        junit: Path | None,
        runs: Iterable[str] | None = None,
        services: Iterable[str] | None = None,
    ) -> Gate:
        """Refuse a malformed check, or one naming a run (``runs``) or service
        (``services``) the command will not have, before anything runs."""
        checks = parse_checks(texts or ())
        if services is not None:
            refuse_for_fleet(checks, services)
        elif runs is not None:
            refuse_unknown_runs(checks, runs)
        if junit is not None:
            check_writable(junit)
        return cls(checks, junit)

    def judge(self, result: Result) -> Result:
        """The result with its verdicts (none without checks)."""
        if not self.checks:
            return result
        return dataclasses.replace(result, checks=evaluate(self.checks, result))

    def lines(self, result: Result) -> list[str]:
        return format_verdicts(result.checks)

    def write(self, result: Result) -> Path | None:
        if self.junit is None:
            return None
        return write_junit(self.junit, result, result.checks)

    def exit_code(self, result: Result, otherwise: int) -> int:
        """With checks, the verdict decides: 0 when all passed, 3 when one failed."""
        if not self.checks:
            return otherwise
        return 0 if all_passed(result.checks) else CHECK_FAILED
