"""Verdict lines: what a CI log shows first, one line per check and run, pass or fail with the
value measured (``PASS p99<0.5 (p99 0.231 s)``)."""

from __future__ import annotations

from collections.abc import Sequence

from dbkit.model.checks import TIMES
from dbkit.model.verdict import Verdict


def format_value(verdict: Verdict) -> str:
    """The measured value with its unit, precise enough to tell it from the threshold."""
    value = verdict.value
    if value is None:
        return "not measured"
    base = verdict.figure.split("[", 1)[0]
    if base in ("errors", "ok", "failed", "peak") and value == int(value):
        return str(int(value))
    text = f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if float(text) == verdict.threshold and value != verdict.threshold:
        text = repr(value)  # rounding must not make 0.50004 read as the threshold 0.5
    return f"{text} s" if base in TIMES else text


def describe(verdict: Verdict, with_run: bool = True) -> str:
    """What was measured, as the parenthesis of a verdict line says it."""
    if verdict.run is None:
        return verdict.note or "not measured"
    where = f"{verdict.run}: " if with_run else ""
    if verdict.value is None:
        return f"{where}{verdict.note or verdict.figure + ' not measured'}"
    return f"{where}{verdict.figure} {format_value(verdict)}"


def format_verdicts(verdicts: Sequence[Verdict]) -> list[str]:
    """``PASS p99<0.5 (p99 0.231 s)`` / ``FAIL ...``, one line per verdict, then a summary
    line; runs are named once the verdicts cover more than one."""
    runs = {v.run for v in verdicts}
    with_run = len(runs) > 1
    lines = [
        f"{'PASS' if v.passed else 'FAIL'} {v.check} ({describe(v, with_run)})" for v in verdicts
    ]
    failed = sum(not v.passed for v in verdicts)
    if verdicts:
        summary = "all passed" if not failed else f"{failed} failed"
        lines.append(f"checks: {len(verdicts)}, {summary}")
    return lines
