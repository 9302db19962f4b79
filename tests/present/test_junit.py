"""JUnit XML: one testcase per verdict and per run no check covers, readable by a JUnit
parser, written once and never over a file."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dbkit.model.checks import evaluate, parse_checks
from dbkit.model.errors import ResultExistsError
from dbkit.present.junit import junit_xml, write_junit
from tests.helpers import sample_result


def _cases(data: bytes) -> list[ET.Element]:
    root = ET.fromstring(data)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    return suite.findall("testcase")


def test_one_testcase_per_verdict_failures_carry_the_value() -> None:
    result = sample_result()
    verdicts = evaluate(parse_checks(["p99<2", "pool-20.errors==0"]), result)
    data = junit_xml(result, verdicts)
    root = ET.fromstring(data)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    cases = _cases(data)
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("dbkit.unbatched", "p99<2 [unbatched]"),
        ("dbkit.pool-20", "p99<2 [pool-20]"),
        ("dbkit.pool-20", "pool-20.errors==0 [pool-20]"),
    ]
    failure = cases[1].find("failure")
    assert failure is not None and cases[0].find("failure") is None
    assert failure.get("message") == "p99<2: p99 3 s"
    assert failure.text == "run pool-20: p99 measured 3 s; required p99 < 2"
    assert cases[1].get("time") == "3.125"
    assert root.get("time") == suite.get("time") == "4.375"  # each run's wall time once


def test_runs_without_checks_get_a_testcase_each() -> None:
    result = sample_result()
    cases = _cases(junit_xml(result, ()))
    assert [c.get("name") for c in cases] == ["run unbatched", "run pool-20"]
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)
    out = cases[0].find("system-out")
    assert out is not None and "96/200 ok, 104 failed" in (out.text or "")
    # a check on one run: the other still has its own testcase
    only = evaluate(parse_checks(["pool-20.p99<4"]), result)
    names = [c.get("name") for c in _cases(junit_xml(result, only))]
    assert names == ["pool-20.p99<4 [pool-20]", "run unbatched"]


def test_an_interrupted_run_without_checks_is_an_error() -> None:
    run = dataclasses.replace(sample_result().runs[1], interrupted=True)
    result = dataclasses.replace(sample_result(), runs=(run,), interrupted=True)
    root = ET.fromstring(junit_xml(result, ()))
    assert root.get("errors") == "1"
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("type") == "interrupted"


def test_a_missing_run_and_a_fleet_total_have_testcases() -> None:
    result = dataclasses.replace(sample_result(), fleet={"p99_s": 0.3, "errors": []})
    verdicts = evaluate(parse_checks(["ghost.p99<1", "p99<0.5"]), result)
    cases = _cases(junit_xml(result, verdicts))
    assert [(c.get("classname"), c.get("name")) for c in cases[:2]] == [
        ("dbkit", "ghost.p99<1 [-]"),
        ("dbkit.fleet", "p99<0.5 [fleet]"),
    ]
    missing = cases[0].find("failure")
    assert missing is not None and missing.get("message") == "ghost.p99<1: no run named ghost"
    assert missing.text == "run -: no run named ghost; required p99 < 1"


def test_special_characters_are_escaped() -> None:
    run = dataclasses.replace(sample_result().runs[1], name='a<b>&"c')
    result = dataclasses.replace(sample_result(), runs=(run,))
    verdicts = evaluate(parse_checks(["p99<2"]), result)
    [case] = _cases(junit_xml(result, verdicts))
    assert case.get("classname") == 'dbkit.a<b>&"c'


def test_written_once_and_never_over_a_file(tmp_path: Path) -> None:
    result = sample_result()
    verdicts = evaluate(parse_checks(["p99<2"]), result)
    path = write_junit(tmp_path / "ci" / "junit.xml", result, verdicts)
    assert path.read_bytes() == junit_xml(result, verdicts)
    with pytest.raises(ResultExistsError):
        write_junit(path, result, ())
    assert path.read_bytes() == junit_xml(result, verdicts)
    assert [p.name for p in path.parent.iterdir()] == ["junit.xml"]  # no temp file left


def test_a_junit_parser_reads_it(tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser", reason="junitparser (a dev dependency)")
    result = sample_result()
    verdicts = evaluate(parse_checks(["p99<2", "errors[53300]==0"]), result)
    path = write_junit(tmp_path / "junit.xml", result, verdicts)
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    cases = [case for suite in suites for case in suite]
    assert len(cases) == 4
    outcome = {case.name: case.is_passed for case in cases}
    assert outcome == {
        "p99<2 [unbatched]": True,
        "p99<2 [pool-20]": False,
        "errors[53300]==0 [unbatched]": False,
        "errors[53300]==0 [pool-20]": True,
    }
    failed = [case for case in cases if not case.is_passed]
    assert [r.message for case in failed for r in case.result] == [
        "p99<2: p99 3 s",
        "errors[53300]==0: errors[53300] 104",
    ]


def test_a_repeated_run_without_checks_gets_a_testcase_per_repeat_told_apart() -> None:
    storm, pool = sample_result().runs
    cut = dataclasses.replace(pool, interrupted=True)
    result = dataclasses.replace(sample_result(), runs=(pool, storm, pool, cut))
    names = [c.get("name") for c in _cases(junit_xml(result, ()))]
    assert names == ["run pool-20 #1", "run unbatched", "run pool-20 #2", "run pool-20 #3"]
