"""--check expressions: parsed before anything runs, evaluated over a result's runs or a
fleet's totals, formatted as verdict lines."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from dbkit.model.checks import (
    FIGURES,
    FLEET,
    all_passed,
    evaluate,
    parse_check,
    parse_checks,
    refuse_for_fleet,
    refuse_unknown_runs,
)
from dbkit.model.errors import ConfigError
from dbkit.model.results import ErrorRecord, Result
from dbkit.present.checks import format_verdicts
from tests.helpers import sample_result


@pytest.mark.parametrize(
    ("text", "run", "label", "op", "threshold"),
    [
        ("p99<0.5", None, "p99", "<", 0.5),
        ("errors==0", None, "errors", "==", 0.0),
        ("errors[53300]==0", None, "errors[53300]", "==", 0.0),
        ("errors[TooManyConnectionsError] <= 3", None, "errors[TooManyConnectionsError]", "<=", 3),
        ("peak<=90", None, "peak", "<=", 90.0),
        ("qps>=800", None, "qps", ">=", 800.0),
        ("wait_p99<0.1", None, "wait_p99", "<", 0.1),
        ("eff>=0.9", None, "eff", ">=", 0.9),
        ("pool-90.p99<4", "pool-90", "p99", "<", 4.0),
        ("a.b.max>1e-3", "a.b", "max", ">", 0.001),
        ("p90 != 2", None, "p90", "!=", 2.0),
        ("p50<250ms", None, "p50", "<", 0.25),
        ("ok>=100", None, "ok", ">=", 100.0),
        ("failed==0", None, "failed", "==", 0.0),
    ],
)
def test_expressions_parse(
    text: str, run: str | None, label: str, op: str, threshold: float
) -> None:
    check = parse_check(text)
    assert (check.run, check.label, check.op) == (run, label, op)
    assert check.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("p99", "expected [RUN.]FIGURE OP NUMBER"),
        ("p98<1", "unknown figure 'p98'"),
        ("p99=0.5", "write '=='"),
        ("p99<fast", "'fast' is not a number"),
        ("p99<-1", "never negative"),
        ("qps>=800ms", "qps is not a time"),
        ("peak[1]<3", "only errors takes [KEY]"),
        ("errors[]==0", "errors[]"),
        ("eff>=90", "share from 0 to 1"),
        ("p99<0.5<1", "not a number"),
        ("", "expected [RUN.]FIGURE OP NUMBER"),
    ],
)
def test_a_bad_expression_is_one_clear_line(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_checks(["p99<1", text])
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert message.startswith(f"--check {text!r}: ")


def test_every_figure_reads_a_value_from_a_run() -> None:
    storm = sample_result().runs[0]
    for figure in FIGURES:
        [verdict] = evaluate(parse_checks([f"unbatched.{figure}>=0"]), sample_result())
        assert verdict.run == storm.name and verdict.value is not None, figure


def test_verdicts_carry_the_measured_value() -> None:
    result = sample_result()  # unbatched: p99 1.1 s, 104 x 53300, peak 91; pool-20: p99 3.0 s
    checks = parse_checks(["p99<2", "errors[53300]==0", "pool-20.wait_p99<=2.7", "qps>=100"])
    verdicts = evaluate(checks, result)
    got = [(v.check, v.run, v.value, v.passed) for v in verdicts]
    assert got == [
        ("p99<2", "unbatched", 1.1, True),
        ("p99<2", "pool-20", 3.0, False),
        ("errors[53300]==0", "unbatched", 104.0, False),
        ("errors[53300]==0", "pool-20", 0.0, True),
        ("pool-20.wait_p99<=2.7", "pool-20", 2.7, True),
        ("qps>=100", "unbatched", 288 / 1.25, True),
        ("qps>=100", "pool-20", 600 / 3.125, True),
    ]
    assert not all_passed(verdicts)
    assert all_passed(v for v in verdicts if v.run == "unbatched" and v.figure != "errors[53300]")


def test_errors_match_by_sqlstate_or_exception_type() -> None:
    result = sample_result()
    by = {
        text: evaluate(parse_checks([text]), result)[0].value
        for text in (
            "unbatched.errors==0",
            "unbatched.errors[53300]==0",
            "unbatched.errors[57P01]==0",
            "unbatched.errors[TooManyConnectionsError]==0",
            "unbatched.errors[asyncpg.exceptions.TooManyConnectionsError]==0",
        )
    }
    assert list(by.values()) == [104.0, 104.0, 0.0, 104.0, 104.0]


def test_a_figure_not_measured_fails_and_says_so() -> None:
    # pool-20 of the sample predates the run's own connection count: no peak
    [verdict] = evaluate(parse_checks(["pool-20.peak<=90"]), sample_result())
    assert (verdict.value, verdict.passed, verdict.note) == (None, False, "peak not measured")
    nothing = dataclasses.replace(
        sample_result().runs[1], ok=0, latency_s=type(sample_result().runs[1].latency_s)()
    )
    result = Result(metadata={}, runs=(nothing,))
    [verdict] = evaluate(parse_checks(["p99<1"]), result)
    assert not verdict.passed and verdict.note == "p99 not measured"


def test_a_run_the_result_lacks_fails_and_names_it() -> None:
    [verdict] = evaluate(parse_checks(["pool-90.p99<4"]), sample_result())
    assert (verdict.run, verdict.passed, verdict.note) == (None, False, "no run named pool-90")
    empty = Result(metadata={}, runs=(), interrupted=True)
    [verdict] = evaluate(parse_checks(["p99<4"]), empty)
    assert not verdict.passed and verdict.note == "no run finished"


def test_names_known_up_front_are_refused_before_anything_runs() -> None:
    checks = parse_checks(["p99<1", "pool-90.p99<4"])
    refuse_unknown_runs(checks, ["pool-90", "pool-20"])
    with pytest.raises(ConfigError, match=r"no run named 'pool-90' \(known: pool-20\)"):
        refuse_unknown_runs(checks, ["pool-20"])


FLEET_TOTALS = {
    "ok": 900,
    "failed": 12,
    "throughput_qps": 812.5,
    "p99_s": 0.25,
    "acquire_wait_p99_s": 0.05,
    "peak_connections": 88,
    "errors": [
        {"type": "asyncpg.exceptions.TooManyConnectionsError", "sqlstate": "53300", "count": 10},
        {"type": "asyncio.TimeoutError", "sqlstate": None, "count": 2},
    ],
    "services": [],
}


def test_a_fleet_is_checked_on_its_totals_and_its_services_by_name() -> None:
    result = dataclasses.replace(sample_result(), fleet=FLEET_TOTALS)
    checks = parse_checks(
        ["qps>=800", "p99<0.2", "errors[53300]==0", "errors[TimeoutError]<=2", "peak<=90",
         "wait_p99<0.1", "failed==0", "unbatched.eff>=0.5"]
    )  # fmt: skip
    verdicts = evaluate(checks, result)
    got = [(v.run, v.value, v.passed) for v in verdicts]
    assert got == [
        (FLEET, 812.5, True),
        (FLEET, 0.25, False),
        (FLEET, 10.0, False),
        (FLEET, 2.0, True),
        (FLEET, 88.0, True),
        (FLEET, 0.05, True),
        (FLEET, 12.0, False),
        ("unbatched", pytest.approx(0.3 / 1.25 * 96 / 200), False),
    ]


def test_an_older_fleet_without_its_error_list_counts_its_services() -> None:
    totals = {
        **FLEET_TOTALS,
        "errors": None,
        "services": [{"errors_by_sqlstate": {"53300": 4}}, {"errors_by_sqlstate": {"53300": 3}}],
    }
    result = dataclasses.replace(sample_result(), fleet=totals)
    [verdict] = evaluate(parse_checks(["errors[53300]<=7"]), result)
    assert (verdict.value, verdict.passed) == (7.0, True)


def test_a_fleet_refuses_figures_its_totals_lack_and_unknown_services() -> None:
    refuse_for_fleet(parse_checks(["p99<1", "api.eff>=0.5"]), ["api"])
    with pytest.raises(ConfigError, match="a fleet's totals have no eff"):
        refuse_for_fleet(parse_checks(["eff>=0.5"]), ["api"])
    with pytest.raises(ConfigError, match="no service named 'web'"):
        refuse_for_fleet(parse_checks(["web.p99<1"]), ["api"])


def test_verdict_lines_say_pass_or_fail_with_the_value() -> None:
    one = Result(metadata={}, runs=(sample_result().runs[1],))
    lines = format_verdicts(evaluate(parse_checks(["p99<3.5", "errors==0", "qps>=800"]), one))
    assert lines == [
        "PASS p99<3.5 (p99 3 s)",
        "PASS errors==0 (errors 0)",
        "FAIL qps>=800 (qps 192)",
        "checks: 3, 1 failed",
    ]
    both = format_verdicts(evaluate(parse_checks(["p99<2", "ghost.p99<1"]), sample_result()))
    assert both == [
        "PASS p99<2 (unbatched: p99 1.1 s)",
        "FAIL p99<2 (pool-20: p99 3 s)",
        "FAIL ghost.p99<1 (no run named ghost)",
        "checks: 3, 2 failed",
    ]


def test_a_value_that_rounds_to_the_threshold_is_shown_whole() -> None:
    run = dataclasses.replace(
        sample_result().runs[1],
        latency_s=dataclasses.replace(sample_result().runs[1].latency_s, p99=0.50004),
    )
    lines = format_verdicts(evaluate(parse_checks(["p99<0.5"]), Result({}, (run,))))
    assert lines[0] == "FAIL p99<0.5 (p99 0.50004 s)"


def test_errors_are_counted_as_attempts() -> None:
    # a retried attempt that later succeeded still counts: errors==0 means none at all
    run = dataclasses.replace(
        sample_result().runs[1],
        errors=(
            ErrorRecord("asyncpg.exceptions.AdminShutdownError", "57P01", 3, 0.1, 0.2, "x", 0),
        ),
    )
    [verdict] = evaluate(parse_checks(["errors==0"]), Result({}, (run,)))
    assert (verdict.value, verdict.passed) == (3.0, False)


def test_a_fleet_section_with_attributes_reads_the_same() -> None:
    # the fleet's totals as a dataclass: the same names as attributes, errors as ErrorRecords
    record = ErrorRecord("asyncpg.exceptions.TooManyConnectionsError", "53300", 10, 0.1, 0.2, "x")
    service = SimpleNamespace(errors_by_sqlstate={"53300": 10})
    section = SimpleNamespace(
        **{k: v for k, v in FLEET_TOTALS.items() if k not in ("errors", "services")},
        errors=(record,),
        services=(service,),
    )
    checks = parse_checks(["qps>=800", "errors[53300]==0", "peak<=90"])
    verdicts = evaluate(checks, dataclasses.replace(sample_result(), fleet=section))
    assert [(v.run, v.value, v.passed) for v in verdicts] == [
        (FLEET, 812.5, True),
        (FLEET, 10, False),
        (FLEET, 88, True),
    ]
    # no error records (a file from before them reads back with none): the services' counts
    older = SimpleNamespace(**{**vars(section), "errors": ()})
    [verdict] = evaluate(
        parse_checks(["errors==0"]), dataclasses.replace(sample_result(), fleet=older)
    )
    assert verdict.value == 10
