"""JUnit XML for CI systems: one testcase per verdict, and one per run no check covers.

The layout is the common one (Jenkins, GitLab, GitHub reporters, junitparser read it):
``<testsuites><testsuite name tests failures errors skipped time><testcase classname name
time>``, a ``<failure message type>`` for a failed check, an ``<error>`` for a run that was
interrupted. A run without checks passes: no threshold was set, so only its figures are
reported (in ``<system-out>``); failed tasks there are data, not a verdict.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from dbkit.model.results import Result, Run
from dbkit.model.verdict import Verdict
from dbkit.present.checks import describe, format_value
from dbkit.present.report import repeat_marks
from dbkit.store.files import write_new

CLASSNAME = "dbkit"


def junit_xml(result: Result, verdicts: Sequence[Verdict], suite: str = "dbkit") -> bytes:
    """The JUnit document for ``result`` and its verdicts, as UTF-8 bytes."""
    runs = {run.name: run for run in result.runs}
    covered = {v.run for v in verdicts}
    root = ET.Element("testsuites", name=suite)
    element = ET.SubElement(root, "testsuite", name=suite)
    tests = failures = errors = 0
    for verdict in verdicts:
        run = runs.get(verdict.run or "")
        case = _case(element, f"{verdict.check} [{verdict.run or '-'}]", verdict.run, run)
        tests += 1
        ET.SubElement(case, "system-out").text = describe(verdict)
        if not verdict.passed:
            failures += 1
            message = f"{verdict.check}: {verdict.figure} {format_value(verdict)}"
            if verdict.note:
                message = f"{verdict.check}: {verdict.note}"
            failure = ET.SubElement(case, "failure", message=message, type="check")
            measured = verdict.note or f"{verdict.figure} measured {format_value(verdict)}"
            failure.text = (
                f"run {verdict.run or '-'}: {measured}; "
                f"required {verdict.figure} {verdict.op} {verdict.threshold:g}"
            )
    for run, mark in zip(result.runs, repeat_marks(result.runs), strict=True):
        if run.name in covered:
            continue
        case = _case(element, f"run {run.name}{mark}", run.name, run)  # repeats told apart
        tests += 1
        ET.SubElement(case, "system-out").text = _figures(run)
        if run.interrupted:
            errors += 1
            ET.SubElement(
                case, "error", message="interrupted", type="interrupted"
            ).text = "the run was interrupted; its figures are partial"
    total_time = sum(run.wall_s for run in result.runs)  # each run once, however many checks
    for node in (root, element):
        node.set("tests", str(tests))
        node.set("failures", str(failures))
        node.set("errors", str(errors))
        node.set("time", f"{total_time:.3f}")
    element.set("skipped", "0")
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def write_junit(
    path: Path, result: Result, verdicts: Sequence[Verdict], suite: str = "dbkit"
) -> Path:
    """Write the JUnit document to ``path``: atomically, never over an existing file
    (ResultExistsError)."""
    data = junit_xml(result, verdicts, suite)
    return write_new(Path(path), lambda out: out.write(data))


def _case(parent: ET.Element, name: str, run_name: str | None, run: Run | None) -> ET.Element:
    classname = f"{CLASSNAME}.{run_name}" if run_name else CLASSNAME  # a fleet's: dbkit.fleet
    time = f"{run.wall_s:.3f}" if run is not None else "0"
    return ET.SubElement(parent, "testcase", classname=classname, name=name, time=time)


def _figures(run: Run) -> str:
    lat = run.latency_s
    p99 = "-" if lat.p99 is None else f"{lat.p99:.3g} s"
    return (
        f"{run.strategy} {run.name}: {run.ok}/{run.tasks} ok, {run.failed} failed, "
        f"{run.throughput_qps:.1f} qps, p99 {p99}, peak {run.peak_connections}"
    )
