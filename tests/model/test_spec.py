"""RunSpec's open-loop fields: rate and duration together, bounded, and tasks derived from them."""

from __future__ import annotations

import pytest

import dbkit.strategies  # registers the strategies RunSpec knows (used below too)
from dbkit.model.errors import ConfigError
from dbkit.model.spec import MAX_TASKS, RunSpec, check_uses


def test_an_open_loop_runs_tasks_are_its_arrivals() -> None:
    spec = RunSpec("pool", rate=200, duration=5, pool_size=20)
    assert spec.open_loop and spec.tasks == 1000
    assert spec.arrival_params == {"rate": 200, "duration": 5, "arrivals": "poisson", "seed": 0}
    assert RunSpec("pool", rate=2.5, duration=1).tasks == 3  # half rounds up
    assert RunSpec("sleep", rate=10, duration=0.1, arrivals="fixed").tasks == 1


def test_a_burst_records_no_arrivals() -> None:
    spec = RunSpec("pool", tasks=50)
    assert not spec.open_loop and spec.arrival_params == {} and spec.tasks == 50


def test_replace_derives_tasks_again() -> None:
    spec = RunSpec("pool", rate=200, duration=5)
    assert spec.replace(pool_size=5).tasks == 1000  # a sweep's point keeps its arrivals
    assert spec.replace(rate=100).tasks == 500
    assert spec.replace(duration=1).tasks == 200
    assert spec.replace(rate=None, duration=None).tasks == 1000  # a burst of the default again


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"rate": 10}, "give duration"),
        ({"duration": 10}, "give rate"),
        ({"rate": 0, "duration": 1}, "rate must be above 0"),
        ({"rate": -5, "duration": 1}, "rate must be above 0"),
        ({"rate": 5, "duration": 0}, "duration must be above 0"),
        ({"rate": 5, "duration": 24 * 3600 + 1}, "at most 86400 s"),
        ({"rate": float("inf"), "duration": 1}, "rate must be a finite number"),
        ({"rate": 5, "duration": float("nan")}, "duration must be a finite number"),
        ({"rate": 1, "duration": 0.4}, "must be at least 1"),
        ({"rate": MAX_TASKS, "duration": 2}, f"at most {MAX_TASKS:,} arrivals"),
        ({"rate": 5, "duration": 1, "arrivals": "bursty"}, "arrivals must be poisson or fixed"),
        ({"arrivals": "fixed"}, "arrivals applies to an open-loop run"),
        ({"seed": 3}, "seed applies to an open-loop run"),
        ({"rate": 5, "duration": 1, "seed": -1}, "seed must be at least 0"),
        ({"rate": 5, "duration": 1, "tasks": 7}, "an open-loop run's tasks are its arrivals"),
    ],
)
def test_open_loop_fields_are_refused_when_wrong(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        RunSpec("pool", **fields)  # type: ignore[arg-type]


def test_tasks_given_with_a_rate_is_refused_even_at_its_default() -> None:
    # The value cannot tell --tasks 1000 from the default; what the user typed can.
    with pytest.raises(ConfigError, match="--tasks does not go with --rate"):
        check_uses("pool", ["tasks", "rate", "duration"], lambda f: "--" + f)


def test_every_strategy_takes_a_rate() -> None:
    for name in dbkit.strategies.STRATEGIES:
        mode = {"mode": "unbatched"} if name == "sleep" else {}
        assert RunSpec(name, rate=10, duration=1, **mode).tasks == 10  # type: ignore[arg-type]
