"""A before/after comparison of two results: per run and figure, the ratio NEW/BASE and
whether the difference stands out of the spread. No I/O.

Runs are matched by name. Runs of one name repeated in a file (a sweep's rounds over its grid,
a scenario listing a run twice) are that run's repeats: the figure compared is their median,
and their range (min to max) is the spread. A difference is **changed** when the two ranges do
not overlap (with repeats on at least one side), **noise** when they do; with a single run on
either side no spread is known, and the comparison says so rather than claim a change.

Gates are ``--check`` expressions (dbkit.model.checks) whose number may be a factor of the
base's figure: ``qps>=0.95*base`` passes when NEW's median throughput is at least 95 % of
BASE's; a plain number (``p99<0.5``) is checked against NEW alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dbkit.model.checks import Check, run_figure
from dbkit.model.results import Result, Run
from dbkit.model.verdict import OPERATORS, Verdict

# the figures every comparison shows, and what they measure
FIGURES: dict[str, str] = {
    "qps": "throughput (successful queries/s)",
    "p50": "p50 latency (s)",
    "p99": "p99 latency (s)",
    "wait_p99": "p99 wait for a connection (s)",
    "errors": "failed attempts",
    "peak": "peak of the run's own connections",
}
HIGHER_IS_BETTER = frozenset({"qps"})

# what a figure's difference is
CHANGED = "changed"  # outside the spread: the ranges of the repeats do not overlap
NOISE = "noise"  # within the spread
SAME = "same"  # every value equal on both sides
NO_SPREAD = "no spread known"  # a single run on both sides and the values differ
NOT_MEASURED = "not measured"  # no value on one side (no task succeeded, an older file)


@dataclass(frozen=True)
class FigureDelta:
    """One figure of one run on both sides: each repeat's value, the medians, NEW/BASE (None
    when BASE is 0 and NEW is not, or either is unknown) and what the difference is."""

    figure: str
    base_values: tuple[float, ...]
    new_values: tuple[float, ...]
    base: float | None
    new: float | None
    ratio: float | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "base": self.base,
            "new": self.new,
            "ratio": self.ratio,
            "status": self.status,
            "base_values": list(self.base_values),
            "new_values": list(self.new_values),
        }


@dataclass(frozen=True)
class RunDelta:
    """A run found in both results, with how often it ran on each side."""

    name: str
    base_repeats: int
    new_repeats: int
    figures: tuple[FigureDelta, ...]

    def figure(self, name: str) -> FigureDelta:
        return next(f for f in self.figures if f.figure == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base_repeats": self.base_repeats,
            "new_repeats": self.new_repeats,
            "figures": [f.to_dict() for f in self.figures],
        }


@dataclass(frozen=True)
class Comparison:
    """Two results compared: the runs in both (in BASE's order), the names found in only one,
    and the gates' verdicts (on NEW, against BASE where they say ``base``)."""

    runs: tuple[RunDelta, ...]
    only_base: tuple[str, ...] = ()
    only_new: tuple[str, ...] = ()
    checks: tuple[Verdict, ...] = ()
    base_label: str = "base"
    new_label: str = "new"

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base_label,
            "new": self.new_label,
            "runs": [r.to_dict() for r in self.runs],
            "only_base": list(self.only_base),
            "only_new": list(self.only_new),
            "checks": [v.to_dict() for v in self.checks],
            "passed": self.passed,
        }


def compare(
    base: Result,
    new: Result,
    checks: Sequence[Check] = (),
    base_label: str = "base",
    new_label: str = "new",
) -> Comparison:
    """BASE and NEW compared run by run (matched by name), and the gates judged."""
    base_runs, new_runs = group_runs(base), group_runs(new)
    both = [name for name in base_runs if name in new_runs]
    runs = tuple(
        RunDelta(
            name=name,
            base_repeats=len(base_runs[name]),
            new_repeats=len(new_runs[name]),
            figures=tuple(delta(figure, base_runs[name], new_runs[name]) for figure in FIGURES),
        )
        for name in both
    )
    verdicts = tuple(v for check in checks for v in judge(check, base_runs, new_runs, both))
    return Comparison(
        runs=runs,
        only_base=tuple(n for n in base_runs if n not in new_runs),
        only_new=tuple(n for n in new_runs if n not in base_runs),
        checks=verdicts,
        base_label=base_label,
        new_label=new_label,
    )


def group_runs(result: Result) -> dict[str, list[Run]]:
    """The result's runs by name, in the order the names first ran: repeats together."""
    groups: dict[str, list[Run]] = {}
    for run in result.runs:
        groups.setdefault(run.name, []).append(run)
    return groups


def values(runs: Sequence[Run], check: Check) -> tuple[float, ...]:
    """What ``check``'s figure measured in each run (runs that did not measure it left out)."""
    found = (run_figure(run, check) for run in runs)
    return tuple(float(v) for v in found if v is not None)


def delta(figure: str, base: Sequence[Run], new: Sequence[Run]) -> FigureDelta:
    """One figure compared: medians, NEW/BASE and whether the difference is out of the spread."""
    probe = Check(text=figure, run=None, figure=figure, key=None, op="==", threshold=0.0)
    before, after = values(base, probe), values(new, probe)
    if not before or not after:
        return FigureDelta(figure, before, after, _median(before), _median(after), None,
                           NOT_MEASURED)  # fmt: skip
    b, n = statistics.median(before), statistics.median(after)
    return FigureDelta(figure, before, after, b, n, ratio(b, n), spread_status(before, after))


def ratio(base: float, new: float) -> float | None:
    """NEW/BASE; 1 when both are 0 (no errors before or after), None when only BASE is 0."""
    if base == 0:
        return 1.0 if new == 0 else None
    return new / base


def spread_status(base: Sequence[float], new: Sequence[float]) -> str:
    """SAME when every value is equal; with repeats on either side, CHANGED when the ranges
    (min to max) do not overlap, NOISE when they do; otherwise NO_SPREAD."""
    if len({*base, *new}) == 1:
        return SAME
    if len(base) < 2 and len(new) < 2:
        return NO_SPREAD
    apart = max(base) < min(new) or max(new) < min(base)
    return CHANGED if apart else NOISE


def judge(
    check: Check,
    base: dict[str, list[Run]],
    new: dict[str, list[Run]],
    both: Sequence[str],
) -> list[Verdict]:
    """One Verdict per run ``check`` applies to: the run it names, else every run in both
    files. NEW's median is checked against the threshold, or against factor x BASE's median."""
    if check.run is not None:
        names = [check.run]
    elif both:
        names = list(both)
    else:
        return [_verdict(check, None, None, check.threshold, "no run is in both files")]
    return [_judge_run(check, name, base, new) for name in names]


def _judge_run(
    check: Check, name: str, base: dict[str, list[Run]], new: dict[str, list[Run]]
) -> Verdict:
    if name not in new or (check.base and name not in base):
        side = "the new file" if name not in new else "the base file"
        return _verdict(check, name, None, check.threshold, f"no run {name} in {side}")
    value = _median(values(new[name], check))
    threshold = check.threshold
    if check.base:
        known = _median(values(base[name], check))
        if known is None:
            return _verdict(check, name, None, threshold, f"{check.label} not measured in the base")
        threshold = check.threshold * known
    note = None if value is not None else f"{check.label} not measured"
    return _verdict(check, name, value, threshold, note)


def _median(found: Sequence[float]) -> float | None:
    return statistics.median(found) if found else None


def _verdict(
    check: Check, run: str | None, value: float | None, threshold: float, note: str | None
) -> Verdict:
    passed = note is None and value is not None and OPERATORS[check.op](value, threshold)
    return Verdict(
        check=check.text,
        run=run,
        figure=check.label,
        op=check.op,
        threshold=threshold,
        value=value,
        passed=passed,
        note=note,
    )
