"""Scenario files and run specs: every bad value is an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkit.errors import ConfigError
from dbkit.experiment import expand
from dbkit.scenario import find_scenario, load_scenario
from dbkit.spec import RunSpec

SHIPPED = ("storm", "pool", "compare", "sleep")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name: str) -> None:
    scen = load_scenario(name)
    assert scen.runs and scen.description
    assert scen.max_connections == 100


def test_pool_scenario_has_the_failure_three_pools_and_sqlalchemy() -> None:
    runs = load_scenario("pool").runs
    strategies = [r.strategy for r in runs]
    assert strategies[0] == "unbatched"
    assert len({r.pool_size for r in runs if r.strategy == "pool"}) >= 3
    assert "sqlalchemy" in strategies
    assert {r.tasks for r in runs} == {1000}
    assert any(r.strategy == "pool" and r.pool_size == 90 for r in runs)


def test_sleep_scenario_expands_to_both_modes_at_three_sizes() -> None:
    runs = expand(load_scenario("sleep").runs)
    assert [(r.tasks, r.mode) for r in runs] == [
        (n, m) for n in (1_000, 10_000, 100_000) for m in ("unbatched", "batched")
    ]


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("runs = [", "malformed TOML"),
        ('bogus = 1\n[[runs]]\nstrategy = "pool"', "unknown key bogus"),
        ('[[runs]]\nstrategy = "pool"\npool_sise = 3', "unknown key runs[0].pool_sise"),
        ('[[runs]]\nstrategy = "pool"\npool_size = "ten"', "runs[0].pool_size: wrong type"),
        ('[[runs]]\nstrategy = "pool"\npool_size = true', "runs[0].pool_size: wrong type"),
        ('[[runs]]\nstrategy = "pool"\npool_size = 0', "pool_size must be at least 1 (got 0)"),
        ('[[runs]]\nstrategy = "unbatched"\ntasks = -5', "tasks must be at least 1 (got -5)"),
        ('[[runs]]\nstrategy = "warp"', "unknown strategy 'warp'"),
        ("[[runs]]\ntasks = 5", "runs[0].strategy: missing"),
        ('[server]\nmax_connections = 0\n[[runs]]\nstrategy = "pool"', "server.max_connections"),
        ('[defaults]\nstrategy = "pool"\n[[runs]]\ntasks = 1', "unknown key defaults.strategy"),
        ("description = 'x'", "runs: needs at least one"),
        (
            '[[runs]]\nstrategy = "pool"\npool_size = 150',
            "runs[0].pool_size = 150: larger than server.max_connections 100",
        ),
        (
            '[server]\nmax_connections = 20\n[[runs]]\nstrategy = "sqlalchemy"\npool_size = 15\n'
            "max_overflow = 10",
            "runs[0].pool_size + max_overflow = 25: larger than server.max_connections 20",
        ),
    ],
)
def test_bad_scenario_files(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert path in str(info.value)
    assert needle in str(info.value)


def test_missing_scenario_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no scenario 'nope'; known: .*pool"):
        find_scenario("nope")


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"tasks": 0}, "tasks must be at least 1"),
        ({"queries": 0}, "queries must be at least 1"),
        ({"hold": -1.0}, "hold must be zero or more"),
        ({"strategy": "pool", "min_size": 20}, "min_size must be within 0..pool_size"),
        ({"acquire_timeout": 0.0}, "acquire_timeout must be above 0"),
        ({"mode": "batched"}, "applies to sleep only"),
        ({"sql": "  "}, "sql must not be empty"),
    ],
)
def test_run_spec_validation(changes: dict[str, object], needle: str) -> None:
    values = {"strategy": "unbatched", **changes}
    with pytest.raises(ConfigError, match=needle):
        RunSpec(**values)  # type: ignore[arg-type]


def test_defaults_follow_the_post() -> None:
    spec = RunSpec("batched", tasks=1000)
    assert spec.effective_batch_size == 200  # five batches
    assert spec.workload.statement == "SELECT pg_sleep(0.1)"
    assert spec.workload.task_hold_s == pytest.approx(0.3)
