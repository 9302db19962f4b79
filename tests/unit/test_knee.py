"""Sweep grids and the knee, on hand-made runs (no server)."""

from __future__ import annotations

import pytest

from dbkit.errors import ConfigError
from dbkit.report import format_sweep
from dbkit.results import Run
from dbkit.spec import RunSpec
from dbkit.stats import LatencySummary
from dbkit.sweep import find_knee, parse_sizes, sweep_specs


def _run(qps: float, ok: int = 10) -> Run:
    return Run(
        strategy="pool", name="p", params={}, tasks=10, ok=ok, failed=10 - ok,
        queries_ok=int(qps), wall_s=1.0, setup_s=0.0, ideal_s=None, latency_s=LatencySummary(),
    )  # fmt: skip


def test_knee_is_the_smallest_size_within_five_percent_of_the_best() -> None:
    runs = [_run(100), _run(180), _run(960), _run(1000), _run(990)]
    knee = find_knee(runs, [1, 2, 4, 8, 16])
    assert knee is not None
    assert (knee["value"], knee["best_value"]) == (4, 8)
    assert "knee: pool_size 4" in format_sweep({"param": "pool_size", "tolerance": 0.05,
                                                "knee": knee})[0]  # fmt: skip


def test_knee_ignores_points_where_nothing_succeeded() -> None:
    assert find_knee([_run(0, ok=0), _run(0, ok=0)], [1, 2]) is None
    knee = find_knee([_run(0, ok=0), _run(50)], [1, 2])
    assert knee is not None and knee["value"] == 2


def test_parse_sizes() -> None:
    assert parse_sizes("90, 10,50") == [10, 50, 90]
    for bad in ("", "a,b", "0,5", "5,5"):
        with pytest.raises(ConfigError):
            parse_sizes(bad)


def test_sweep_specs_set_the_param() -> None:
    specs = sweep_specs(RunSpec("semaphore", tasks=100), [5, 10])
    assert [(s.limit, s.tasks) for s in specs] == [(5, 100), (10, 100)]
    specs = sweep_specs(RunSpec("pool"), [3, 7])
    assert [s.pool_size for s in specs] == [3, 7]
    with pytest.raises(ConfigError, match="cannot sweep"):
        sweep_specs(RunSpec("pool"), [3], "queries")
