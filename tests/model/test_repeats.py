"""dbkit.model.repeats, and checks on repeated runs: the median of the repeats is judged."""

from __future__ import annotations

import dataclasses

import pytest

from dbkit.model.checks import evaluate, parse_checks
from dbkit.model.errors import ConfigError
from dbkit.model.pooler import PoolerSection
from dbkit.model.repeats import Spread, check_repeat, groups, repeated, settled
from dbkit.model.results import Result, Run
from dbkit.model.stats import LatencySummary
from tests.helpers import sample_result


def _pool(p99: float, *, interrupted: bool = False, wall_s: float = 3.0) -> Run:
    """The sample's pool run, repeated: its own p99 and wall time."""
    pool = sample_result().runs[1]
    return dataclasses.replace(
        pool, latency_s=LatencySummary(p50=1.0, p90=2.0, p99=p99, max=p99),
        wall_s=wall_s, interrupted=interrupted,
    )  # fmt: skip


def _result(*runs: Run) -> Result:
    return Result(sample_result().metadata, runs)


@pytest.mark.parametrize("bad", [0, -1, 21, 2.5, True, "3"])
def test_a_repeat_count_is_a_whole_number_from_1_to_20(bad: object) -> None:
    with pytest.raises(ConfigError, match="repeat must be a whole number from 1 to 20"):
        check_repeat(bad)  # type: ignore[arg-type]
    check_repeat(1)
    check_repeat(20)


def test_repeats_are_runs_of_one_name_through_the_same_pooler() -> None:
    storm, pool = sample_result().runs
    pooled = dataclasses.replace(pool, pooler=PoolerSection("pgbouncer", "transaction", ()))
    found = groups([pool, storm, pool, pooled, pool])
    assert [[r.name for r in g] for g in found] == [["pool-20"] * 3, ["unbatched"], ["pool-20"]]
    assert found[2][0].pooler is not None  # the pooled run is not a repeat of the direct one
    assert repeated([pool, storm, pool]) and not repeated([pool, pooled, storm])


def test_a_spread_is_the_median_and_the_range_of_what_was_measured() -> None:
    spread = Spread.of([3.0, None, 1.0, 2.5])
    assert spread == Spread(2.5, 1.0, 3.0)
    assert Spread.of([None]) is None
    assert Spread.of([4]) == Spread(4.0, 4.0, 4.0)


def test_an_interrupted_repeat_counts_only_when_none_finished() -> None:
    done, cut = _pool(1.0), _pool(9.0, interrupted=True)
    assert settled([done, cut]) == [done]
    assert settled([cut]) == [cut]


def test_a_check_on_repeated_runs_judges_their_median_once() -> None:
    result = _result(_pool(0.2), _pool(0.9), _pool(0.3))
    # named: the median of the three (0.3), not the first repeat's 0.2
    (named,) = evaluate(parse_checks(["pool-20.p99<0.25"]), result)
    assert (named.run, named.value, named.passed) == ("pool-20", 0.3, False)
    # unnamed: one verdict per run, its repeats together
    (every,) = evaluate(parse_checks(["p99<0.5"]), result)
    assert (every.run, every.value, every.passed) == ("pool-20", 0.3, True)


def test_a_check_on_repeats_leaves_out_an_interrupted_one() -> None:
    result = _result(_pool(0.2), _pool(0.4), _pool(5.0, interrupted=True))
    (verdict,) = evaluate(parse_checks(["pool-20.p99<0.5"]), result)
    assert verdict.value == pytest.approx(0.3) and verdict.passed


def test_a_figure_one_repeat_did_not_measure_fails_the_check() -> None:
    unmeasured = dataclasses.replace(_pool(0.2), latency_s=LatencySummary())
    (verdict,) = evaluate(parse_checks(["p99<0.5"]), _result(_pool(0.2), unmeasured))
    assert not verdict.passed and verdict.value is None
    assert verdict.note == "p99 not measured in 1 of 2 repeats"


def test_a_single_run_is_judged_as_before() -> None:
    storm, pool = sample_result().runs
    verdicts = evaluate(parse_checks(["p99<2"]), _result(storm, pool))
    assert [(v.run, v.value, v.passed) for v in verdicts] == [
        ("unbatched", 1.1, True),
        ("pool-20", 3.0, False),
    ]
