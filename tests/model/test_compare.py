"""dbkit.model.compare: runs matched by name, ratios, spread from repeats, gates against base."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dbkit.model.checks import parse_checks
from dbkit.model.compare import CHANGED, NO_SPREAD, NOISE, NOT_MEASURED, SAME, compare
from dbkit.model.errors import ConfigError
from dbkit.model.results import Result, Run
from tests.helpers import sample_result


def _pool(result: Result) -> Run:
    return next(r for r in result.runs if r.name == "pool-20")


def _with_runs(result: Result, *runs: Run) -> Result:
    return dataclasses.replace(result, runs=runs)


def _walls(run: Run, *walls: float) -> tuple[Run, ...]:
    """The run repeated, once per wall time (600 queries each: qps = 600 / wall)."""
    return tuple(dataclasses.replace(run, wall_s=w) for w in walls)


def test_runs_are_matched_by_name_with_the_ratio_new_over_base() -> None:
    base = sample_result()
    pool = _pool(base)
    faster = dataclasses.replace(pool, wall_s=pool.wall_s / 2)
    renamed = dataclasses.replace(base.runs[0], name="unbatched-2")
    got = compare(base, _with_runs(base, faster, renamed))
    assert [r.name for r in got.runs] == ["pool-20"]
    assert got.only_base == ("unbatched",) and got.only_new == ("unbatched-2",)
    qps = got.runs[0].figure("qps")
    assert qps.ratio == pytest.approx(2.0)
    assert (qps.base, qps.new) == (pytest.approx(192.0), pytest.approx(384.0))
    # one run a side: a difference, but no spread to judge it by
    assert qps.status == NO_SPREAD
    assert got.runs[0].figure("p99").status == SAME
    assert got.runs[0].figure("errors").ratio == 1.0  # 0 errors before and after
    assert got.runs[0].figure("peak").status == NOT_MEASURED  # pool-20 has no own peak


def test_repeats_give_a_spread_that_tells_a_change_from_noise() -> None:
    pool = _pool(sample_result())
    base = _with_runs(sample_result(), *_walls(pool, 3.0, 3.1, 3.2))
    slower = _with_runs(sample_result(), *_walls(pool, 3.6, 3.7, 3.8))
    alike = _with_runs(sample_result(), *_walls(pool, 3.05, 3.15, 3.3))
    changed = compare(base, slower).runs[0]
    assert (changed.base_repeats, changed.new_repeats) == (3, 3)
    assert changed.figure("qps").status == CHANGED
    assert changed.figure("qps").ratio == pytest.approx(3.1 / 3.7)
    assert changed.figure("qps").base_values == pytest.approx((200, 600 / 3.1, 187.5))
    assert compare(base, alike).runs[0].figure("qps").status == NOISE
    # repeats on one side only: the single value is in or out of the other side's range
    once_out = _with_runs(sample_result(), *_walls(pool, 4.0))
    once_in = _with_runs(sample_result(), *_walls(pool, 3.1))
    assert compare(base, once_out).runs[0].figure("qps").status == CHANGED
    assert compare(base, once_in).runs[0].figure("qps").status == NOISE


def test_gates_take_base_as_a_factor_of_the_base_median() -> None:
    pool = _pool(sample_result())
    base = _with_runs(sample_result(), *_walls(pool, 3.0, 3.1, 3.2))
    new = _with_runs(sample_result(), *_walls(pool, 3.4))  # 600/3.4 = 176 q/s vs 194 = 0.91x
    checks = parse_checks(["qps>=0.95*base", "qps>=0.9*base", "p99<=base", "p99<2"], base=True)
    got = compare(base, new, checks)
    assert [(v.check, v.passed) for v in got.checks] == [
        ("qps>=0.95*base", False),
        ("qps>=0.9*base", True),
        ("p99<=base", True),
        ("p99<2", False),  # a plain threshold is checked on NEW alone: p99 is 3.0
    ]
    assert got.checks[0].threshold == pytest.approx(0.95 * 600 / 3.1)
    assert got.checks[0].value == pytest.approx(600 / 3.4)
    assert not got.passed


def test_a_gate_that_cannot_be_measured_fails() -> None:
    base = sample_result()
    checks = parse_checks(["nope.qps>=base", "pool-20.peak<=base"], base=True)
    got = compare(base, base, checks)
    assert [(v.run, v.passed, v.note) for v in got.checks] == [
        ("nope", False, "no run nope in the new file"),
        ("pool-20", False, "peak not measured in the base"),
    ]
    lonely = compare(base, _with_runs(base, dataclasses.replace(base.runs[0], name="x")),
                     parse_checks(["qps>=base"], base=True))  # fmt: skip
    assert [(v.run, v.passed) for v in lonely.checks] == [(None, False)]


@pytest.mark.parametrize(
    ("text", "base", "needle"),
    [
        ("qps>=0.95*base", False, "'base' is known only when comparing"),
        ("qps>=0.95*bse", True, "or a factor of the base"),
        ("p99<=1.1ms*base", True, "a factor of base has no unit"),
        ("qps>=-1*base", True, "never negative"),
    ],
)
def test_base_is_parsed_in_one_place_and_refused_where_unknown(
    text: str, base: bool, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        parse_checks([text], base=base)


def test_base_alone_is_a_factor_of_one_and_eff_may_exceed_one_times_base() -> None:
    (plain,) = parse_checks(["errors[53300]<=base"], base=True)
    assert (plain.base, plain.threshold, plain.key) == (True, 1.0, "53300")
    (eff,) = parse_checks(["eff>=1.05*base"], base=True)
    assert eff.threshold == 1.05


def test_the_comparison_is_json() -> None:
    base = sample_result()
    got = compare(base, base, parse_checks(["qps>=base"], base=True), "a.json", "b.json")
    doc = json.loads(json.dumps(got.to_dict()))
    assert (doc["base"], doc["new"], doc["passed"]) == ("a.json", "b.json", True)
    assert [r["name"] for r in doc["runs"]] == ["unbatched", "pool-20"]
    assert [f["figure"] for f in doc["runs"][0]["figures"]] == [
        "qps", "p50", "p99", "wait_p99", "errors", "peak"
    ]  # fmt: skip
    assert len(doc["checks"]) == 2
