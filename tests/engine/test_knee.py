"""Sweep grids and the knee, on hand-made runs (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkit.engine.sweep import find_knee, parse_sizes, run_sweep, sweep_result, sweep_specs
from dbkit.model.errors import ConfigError
from dbkit.model.results import Result, Run, SweepSection
from dbkit.model.spec import RunSpec
from dbkit.model.stats import LatencySummary
from dbkit.present.report import format_sweep
from dbkit.servers import ServerSpec
from dbkit.store.results import read_result, write_result


def _run(qps: float, ok: int = 10, interrupted: bool = False) -> Run:
    return Run(
        strategy="pool", name="p", params={}, tasks=10, ok=ok, failed=10 - ok,
        queries_ok=int(qps), wall_s=1.0, setup_s=0.0, ideal_s=None, latency_s=LatencySummary(),
        interrupted=interrupted,
    )  # fmt: skip


def test_knee_is_the_smallest_size_within_five_percent_of_the_best() -> None:
    runs = [_run(100), _run(180), _run(960), _run(1000), _run(990)]
    knee = find_knee(runs, [1, 2, 4, 8, 16])
    assert knee is not None
    assert (knee.value, knee.best_value) == (4, 8)
    sweep = SweepSection(param="pool_size", values=(1, 2, 4, 8, 16), tolerance=0.05, knee=knee)
    assert "knee: pool_size 4" in format_sweep(sweep)[0]


def test_knee_ignores_points_where_nothing_succeeded() -> None:
    assert find_knee([_run(0, ok=0), _run(0, ok=0)], [1, 2]) is None
    knee = find_knee([_run(0, ok=0), _run(50), _run(40)], [1, 2, 4])
    assert knee is not None and knee.value == 2


def test_no_knee_within_the_grid_when_the_best_is_the_largest_value() -> None:
    # `make sweep` twice: flat within noise from 2 to 64, the best (by noise) at 64.
    runs = [_run(q) for q in (100, 500, 505, 498, 502, 499, 530)]
    knee = find_knee(runs, [1, 2, 4, 8, 16, 32, 64])
    assert knee is not None
    assert (knee.value, knee.best_value) == (None, 64)
    line = format_sweep(SweepSection(param="pool_size", values=(), tolerance=0.05, knee=knee))[0]
    assert line.startswith("knee: none within the grid (the best, 530 q/s at pool_size 64")


def test_a_knee_stands_out_of_the_noise_of_repeated_points() -> None:
    values = [2, 4, 8, 16]
    first = [_run(q) for q in (500, 930, 1000, 950)]
    alone = find_knee(first, values)  # one round: 5 % tolerance, 930 is not within it
    assert alone is not None and (alone.value, alone.noise) == (8, None)
    second = [_run(q) for q in (510, 1010, 1000, 950)]
    knee = find_knee(first + second, values * 2)
    assert knee is not None
    assert knee.noise == pytest.approx(80 / 970) and knee.tolerance == knee.noise
    # within the noise of the best, pool_size 4 is as good as 8; 2 stands out of it
    assert (knee.value, knee.best_value) == (4, 8)
    assert knee.tolerance is not None
    sweep = SweepSection(
        param="pool_size", values=tuple(values), repeat=2, tolerance=knee.tolerance, knee=knee
    )
    line = format_sweep(sweep)[0]
    assert "within 8% of the best" in line and "noise 8% over 2 rounds" in line


def test_parse_sizes() -> None:
    assert parse_sizes("90, 10,50") == [10, 50, 90]
    assert parse_sizes(" 7 ") == [7]


def test_sweep_specs_set_the_param() -> None:
    specs = sweep_specs(RunSpec("semaphore", tasks=100), [5, 10])
    assert [(s.limit, s.tasks) for s in specs] == [(5, 100), (10, 100)]
    specs = sweep_specs(RunSpec("pool"), [3, 7])
    assert [s.pool_size for s in specs] == [3, 7]
    with pytest.raises(ConfigError, match="cannot sweep"):
        sweep_specs(RunSpec("pool"), [3], "queries")
    with pytest.raises(ConfigError, match="at least one value"):
        sweep_specs(RunSpec("pool"), [])
    with pytest.raises(ConfigError, match="pool_size 3 twice"):
        sweep_specs(RunSpec("pool"), [3, 3])


def test_knee_of_an_interrupted_sweep_counts_only_finished_runs() -> None:
    # Ctrl-C in the second of three runs: two runs, the last partial, for three values.
    runs = [_run(100), _run(5000, ok=3, interrupted=True)]
    knee = find_knee(runs, [1, 2, 4])
    assert knee is not None and (knee.value, knee.best_value) == (None, 1)
    runs = [_run(100), _run(90), _run(5000, ok=3, interrupted=True)]
    knee = find_knee(runs, [1, 2, 4])
    assert knee is not None and (knee.value, knee.best_value) == (1, 1)
    assert find_knee([_run(5000, interrupted=True)], [1, 2]) is None
    assert find_knee([], [1, 2]) is None


def test_an_interrupted_sweep_keeps_its_partial_document() -> None:
    runs = (_run(100), _run(98), _run(900, interrupted=True))
    result = sweep_result(Result({}, runs, interrupted=True), [2, 5, 10], "pool_size")
    assert result.interrupted and len(result.runs) == 3
    assert result.sweep is not None
    assert result.sweep.values == (2, 5, 10)
    assert result.sweep.knee is not None and result.sweep.knee.value == 2
    assert result.to_dict()["sweep"]["knee"]["pool_size"] == 2  # the value by its name too
    empty = sweep_result(Result({}, (), interrupted=True), [2], "pool_size")
    assert empty.to_dict()["sweep"] == {
        "param": "pool_size", "values": [2], "repeat": 1, "tolerance": 0.05, "knee": None,
    }  # fmt: skip


def test_repeat_is_bounded() -> None:
    server = ServerSpec("dsn", dsn="postgresql://nobody@127.0.0.1:1/none")
    for bad in (0, 21):
        with pytest.raises(ConfigError, match="repeat must be a whole number from 1 to 20"):
            run_sweep(RunSpec("pool"), [1, 2], server, repeat=bad)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "--sizes: '' is not a positive integer"),
        ("1,,2", "--sizes: '' is not a positive integer"),
        ("1,2,", "--sizes: '' is not a positive integer"),
        ("a,b", "--sizes: 'a' is not a positive integer"),
        ("1.5", "--sizes: '1.5' is not a positive integer"),
        ("0,5", "--sizes: '0' is not a positive integer"),
        ("5,-3", "--sizes: '-3' is not a positive integer"),
        ("1_000", "--sizes: '1_000' is not a positive integer"),
        ("5,5", "--sizes: '5' repeats an earlier value"),
        ("5,05", "--sizes: '05' repeats an earlier value"),
        ("00", "--sizes: '00' is not a positive integer"),
        ("9" * 5000, "--sizes: 99999999999999999999... is too large"),
    ],
)
def test_bad_sizes_name_the_item(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sizes(text)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("strategy", "param", "needle"),
    [
        ("pool", "batch_size", "pool does not use batch_size; sweep one of: pool_size, tasks"),
        ("pool", "limit", "pool does not use limit; sweep one of: pool_size, tasks"),
        ("semaphore", "pool_size", "semaphore does not use pool_size; sweep one of: limit, tasks"),
        ("batched", "limit", "batched does not use limit; sweep one of: batch_size, tasks"),
        ("unbatched", "pool_size", "unbatched does not use pool_size; sweep one of: tasks"),
        ("sqlalchemy", "limit", "sqlalchemy does not use limit; sweep one of: pool_size, tasks"),
        ("pool", "queries", "cannot sweep 'queries'; sweep one of: pool_size, tasks"),
    ],
)
def test_a_param_the_strategy_does_not_use_is_refused(
    strategy: str, param: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        sweep_specs(RunSpec(strategy), [1, 2], param)
    assert str(info.value) == needle


def test_every_strategy_can_sweep_what_it_uses() -> None:
    for strategy, param in [("pool", "tasks"), ("semaphore", "limit"), ("batched", "batch_size"),
                            ("sqlalchemy", "pool_size"), ("unbatched", "tasks")]:  # fmt: skip
        specs = sweep_specs(RunSpec(strategy), [3, 7], param)
        assert [getattr(s, param) for s in specs] == [3, 7]


def test_run_sweep_refuses_an_unused_param_before_starting_a_server() -> None:
    # A server that cannot start: reaching it would be a ServerError, not this ConfigError.
    server = ServerSpec("dsn", dsn="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ConfigError, match="pool does not use batch_size"):
        run_sweep(RunSpec("pool"), [1, 2], server, param="batch_size")


def test_a_sweep_without_a_knee_within_its_grid_reads_back(tmp_path: Path) -> None:
    # Throughput still rising at the largest size: no knee, and the file must still report.
    runs = tuple(_run(q) for q in (100, 200, 400))
    result = sweep_result(Result({}, runs), [2, 4, 8], "pool_size")
    path = write_result(result, tmp_path / "sweep.json")
    back = read_result(path)
    assert back.to_dict() == result.to_dict()
    assert back.sweep is not None and back.sweep == result.sweep
