"""A comparison as text: the gates' verdicts first, then one row per run and figure with both
values, NEW/BASE and what the difference is, then the runs found in only one file."""

from __future__ import annotations

import dataclasses

from dbkit.model.checks import TIMES
from dbkit.model.compare import (
    CHANGED,
    HIGHER_IS_BETTER,
    NO_SPREAD,
    NOISE,
    Comparison,
    FigureDelta,
    RunDelta,
)
from dbkit.model.verdict import Verdict
from dbkit.present.checks import describe as describe_verdict
from dbkit.present.checks import format_value
from dbkit.present.tables import align

HEADER = ("run", "figure", "base", "new", "new/base", "difference")


def format_comparison(comparison: Comparison) -> list[str]:
    """The verdicts (when gated), a legend naming both files, the table, and the leftovers."""
    lines = format_gates(comparison.checks)
    if lines:
        lines.append("")
    lines += [f"base: {comparison.base_label}", f"new:  {comparison.new_label}", ""]
    if comparison.runs:
        rows = [row for run in comparison.runs for row in _rows(run)]
        lines += align(HEADER, rows, left=(0, 1, 5), rule=True)
    else:
        lines.append("no run name is in both files")
    for label, names in (
        (comparison.base_label, comparison.only_base),
        (comparison.new_label, comparison.only_new),
    ):
        if names:
            lines.append(f"only in {label}: {', '.join(names)}")
    return lines


def format_gates(verdicts: tuple[Verdict, ...]) -> list[str]:
    """``PASS qps>=0.95*base (pool-20: qps 1,020, bound 969)``: one line per gate and run,
    with the bound the base made of the factor; then a summary line."""
    lines = []
    for v in verdicts:
        measured = describe_verdict(v)
        if v.value is not None:
            measured += f", bound {format_value(dataclasses.replace(v, value=v.threshold))}"
        lines.append(f"{'PASS' if v.passed else 'FAIL'} {v.check} ({measured})")
    failed = sum(not v.passed for v in verdicts)
    if verdicts:
        lines.append(f"checks: {len(verdicts)}, {f'{failed} failed' if failed else 'all passed'}")
    return lines


def _rows(run: RunDelta) -> list[list[str]]:
    name = run.name
    if run.base_repeats > 1 or run.new_repeats > 1:
        name += f" (x{run.base_repeats} / x{run.new_repeats})"
    return [
        [name if i == 0 else "", f.figure, _side(f, f.base_values, f.base),
         _side(f, f.new_values, f.new), _ratio(f), describe(f)]
        for i, f in enumerate(run.figures)
    ]  # fmt: skip


def _side(delta: FigureDelta, found: tuple[float, ...], median: float | None) -> str:
    """The median, with its range when the run was repeated: ``0.231 (0.220-0.250)``."""
    if median is None:
        return "-"
    text = number(delta.figure, median)
    if len(found) > 1 and min(found) != max(found):
        text += f" ({number(delta.figure, min(found))}-{number(delta.figure, max(found))})"
    return text


def number(figure: str, value: float) -> str:
    """Times in seconds to 4 places, counts whole, throughput with thousands separators."""
    if figure in TIMES:
        return f"{value:.4f}"
    if figure == "qps":
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{value:g}"


def _ratio(delta: FigureDelta) -> str:
    if delta.ratio is None:
        return "-" if delta.base is None or delta.new is None else "from 0"
    return f"{delta.ratio:.2f}x"


def describe(delta: FigureDelta) -> str:
    """What the difference is, in words: ``better, outside the spread``, ``noise``..."""
    if delta.status == CHANGED:
        assert delta.base is not None and delta.new is not None
        higher = delta.new > delta.base
        better = higher == (delta.figure in HIGHER_IS_BETTER)
        return f"{'better' if better else 'worse'}, outside the spread"
    if delta.status == NOISE:
        return "within the spread (noise)"
    if delta.status == NO_SPREAD:
        return "no spread known (run once)"
    return delta.status
