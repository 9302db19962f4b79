"""Repeated runs: the runs of one name in a result (through the same pooler, or none) are
that run's repeats. No I/O.

``--repeat N`` on ``run`` and ``scenario`` (and a sweep's rounds over its grid) records N runs
of each name, in the order they ran; a scenario listing a run twice records two. The count is
the number of runs of the name: no key in the file says it, so nothing can disagree with the
runs. Tables and ``--check`` read a name's repeats as one figure: the median, with the range
(min to max) as its spread, over the repeats that finished; a repeat cut short by Ctrl-C is
partial and counts only when no repeat of its name finished.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dbkit.model.errors import ConfigError

if TYPE_CHECKING:
    from dbkit.model.results import Run

MAX_REPEAT = 20


def check_repeat(repeat: int) -> None:
    """Refuse (ConfigError, one line) a repeat count that is not a whole number from 1 to
    MAX_REPEAT, before anything runs."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise ConfigError(f"repeat must be a whole number from 1 to {MAX_REPEAT} (got {repeat})")


def same_run(run: Run) -> tuple[str, str | None]:
    """What makes runs repeats of one another: the name, and the pooler the run went through
    (a scenario may run ``storm`` straight to the server and through PgBouncer: two runs)."""
    return run.name, None if run.pooler is None else run.pooler.kind


def groups(runs: Iterable[Run]) -> list[list[Run]]:
    """The runs grouped as repeats (``same_run``), in the order each first ran; each group's
    repeats in their order."""
    found: dict[tuple[str, str | None], list[Run]] = {}
    for run in runs:
        found.setdefault(same_run(run), []).append(run)
    return list(found.values())


def repeated(runs: Iterable[Run]) -> bool:
    """Whether some run has repeats."""
    return any(len(group) > 1 for group in groups(runs))


def settled(runs: Sequence[Run]) -> list[Run]:
    """The repeats a figure is read from: those that finished, or every one when none did
    (an interrupted run alone is still what was measured)."""
    finished = [run for run in runs if not run.interrupted]
    return finished or list(runs)


@dataclass(frozen=True)
class Spread:
    """A figure over repeats: the median, and the range from ``low`` to ``high``."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Spread | None:
        """The spread of the values measured (None left out); None when none was."""
        known = [float(v) for v in values if v is not None]
        if not known:
            return None
        return cls(statistics.median(known), min(known), max(known))
