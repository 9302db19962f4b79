"""Plots and CSV export from hand-built results: no server, real matplotlib (Agg)."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dbkit.model.errors import ConfigError, ResultExistsError
from dbkit.model.faults import FaultRecord
from dbkit.model.fleet import FleetSection, ServiceFigures
from dbkit.model.records import ErrorRecord
from dbkit.model.results import Knee, Result, Run, SweepSection
from dbkit.model.stats import LatencySummary
from dbkit.model.timeline import Timeline
from dbkit.present.export import COLUMNS, write_csv
from dbkit.present.plot import choose_panels, plot_results, sweep_series
from dbkit.present.plot.activity import MAX_TIMELINES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
META = {
    "backend": "embedded",
    "server_version": "18.6",
    "max_connections": 100,
    "superuser_reserved_connections": 3,
    "reserved_connections": 0,
    "app_role": "dbkit_app",
    "app_role_is_superuser": False,
    "event_loop": "asyncio",
    "cpu_count": 2,
}


def make_run(
    strategy: str,
    name: str,
    params: Mapping[str, Any],
    *,
    tasks: int = 1000,
    failed: int = 0,
    wall_s: float = 2.0,
    ideal_s: float | None = 0.3,
    errors: tuple[ErrorRecord, ...] = (),
    timeline: tuple[tuple[float, int], ...] = (),
) -> Run:
    ok = tasks - failed
    return Run(
        strategy=strategy,
        name=name,
        params={**params, "tasks": tasks},
        tasks=tasks,
        ok=ok,
        failed=failed,
        queries_ok=3 * ok,
        wall_s=wall_s,
        setup_s=0.01,
        ideal_s=ideal_s,
        latency_s=LatencySummary(p50=wall_s / 2, p90=wall_s * 0.9, p99=wall_s, max=wall_s)
        if ok
        else LatencySummary(),
        errors=errors,
        peak_server_connections=max((n for _, n in timeline), default=None),
        server_connections=timeline,
    )


def storm_result() -> Result:
    errors = (
        ErrorRecord("asyncpg.exceptions.TooManyConnectionsError", "53300", 808, 1.0, 1.2, "x"),
        ErrorRecord("builtins.TimeoutError", None, 20, 1.1, 1.3, ""),
    )
    unbatched = make_run(
        "unbatched",
        "unbatched",
        {"queries": 3, "hold": 0.1},
        failed=828,
        wall_s=1.4,
        errors=errors,
        timeline=((0.0, 0), (1.0, 0), (1.2, 96), (1.3, 96), (1.4, 0)),
    )
    batched = make_run("batched", "batched", {"batch_size": 50}, wall_s=6.2, ideal_s=6.0)
    return Result(metadata=META, runs=(unbatched, batched))


def sleep_result() -> Result:
    runs = []
    for tasks in (1000, 10_000, 100_000):
        runs.append(
            make_run("sleep", "sleep-unbatched", {"mode": "unbatched"}, tasks=tasks, wall_s=0.4)
        )
        runs.append(
            make_run(
                "sleep",
                "sleep-batched",
                {"mode": "batched", "batch_size": tasks // 5},
                tasks=tasks,
                wall_s=1.6,
                ideal_s=1.5,
            )
        )
    return Result(metadata={"backend": None, "event_loop": "asyncio"}, runs=tuple(runs))


def sweep_result() -> Result:
    sizes = (10, 20, 40, 80)
    walls = (30.0, 15.0, 8.0, 7.8)
    runs = tuple(
        make_run("pool", f"pool-{s}", {"pool_size": s}, wall_s=w, ideal_s=300 / s)
        for s, w in zip(sizes, walls, strict=True)
    )
    knee = Knee(value=40, throughput_qps=375.0, best_value=80, best_throughput_qps=384.6)
    sweep = SweepSection(param="pool_size", values=sizes, tolerance=0.05, knee=knee)
    return Result(metadata=META, runs=runs, sweep=sweep)


def fleet_result(*, with_timeline: bool = True) -> Result:
    def service(name: str, peak: int) -> ServiceFigures:
        return ServiceFigures(name, 2, peak, 100, 0, 50.0, 0.1, 0.01, {}, 0)

    fleet = FleetSection(
        budget=92,
        max_connections=100,
        total_peak_planned=120,
        peak_connections=None,
        peak_server_connections=None,
        ok=200,
        failed=0,
        fits_plan=False,
        throughput_qps=100.0,
        p99_s=0.1,
        acquire_wait_p99_s=0.01,
        services=(service("api", 90), service("worker", 30)),
    )
    runs: tuple[Run, ...] = ()
    if with_timeline:
        timeline = tuple((t / 10, min(97, 4 * t)) for t in range(40))
        runs = (make_run("sqlalchemy", "fleet", {"pool_size": 10}, timeline=timeline),)
    return Result(metadata=META, runs=runs, fleet=fleet)


def pool_result() -> Result:
    runs = (
        make_run("pool", "pool-50", {"pool_size": 50}, wall_s=6.1, ideal_s=6.0),
        make_run("semaphore", "semaphore-50", {"limit": 50}, wall_s=6.3, ideal_s=6.0),
    )
    return Result(metadata=META, runs=runs)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 10_000
    assert data.startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("make", "prefixes"),
    [
        (storm_result, ["Storm: 828 of 2,000 tasks failed", "Storm: connections stop at 96"]),
        (sleep_result, ["Sleep baseline:"]),
        (sweep_result, ["Sweep: throughput levels off at pool_size 40"]),
        (fleet_result, ["Fleet: planned peak 120 vs budget 92 (over by 28)"]),
        (lambda: fleet_result(with_timeline=False), ["Fleet: planned peak 120"]),
        (pool_result, ["Comparison: pool-50 is fastest without failures"]),
    ],
    ids=["storm", "sleep", "sweep", "fleet", "fleet-plan", "generic"],
)
def test_each_kind_draws_its_panels(tmp_path: Path, make: Any, prefixes: list[str]) -> None:
    path = tmp_path / "plot.png"
    titles = plot_results([make()], path)
    assert_png(path)
    assert len(titles) == len(prefixes)
    for title, prefix in zip(titles, prefixes, strict=True):
        assert title.startswith(prefix), title
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]  # no temp file left


def test_storm_title_names_the_commonest_failure(tmp_path: Path) -> None:
    titles = plot_results([storm_result()], tmp_path / "storm.png")
    assert titles[0].endswith("mostly 53300 too_many_connections")
    # The plain role may use 100 - 3 reserved; the title says how close the storm came.
    assert "97 a plain role may use" in titles[1]


def test_several_results_share_one_png(tmp_path: Path) -> None:
    path = tmp_path / "all.png"
    titles = plot_results([storm_result(), sleep_result(), sweep_result()], path)
    assert_png(path)
    kinds = [t.split(":")[0] for t in titles]
    assert kinds == ["Sweep", "Storm", "Storm", "Sleep baseline"]


def test_runs_no_panel_covers_get_a_comparison() -> None:
    storm = storm_result()
    with_pool = Result(metadata=META, runs=(*storm.runs, *pool_result().runs))
    assert len(choose_panels([storm])) == 2
    assert len(choose_panels([with_pool])) == 3


def test_nothing_to_plot_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to plot"):
        plot_results([Result(metadata=META, runs=())], tmp_path / "empty.png")
    with pytest.raises(ConfigError):
        plot_results([], tmp_path / "none.png")
    assert not list(tmp_path.iterdir())


def test_plot_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    path.write_bytes(b"mine")
    with pytest.raises(ResultExistsError):
        plot_results([storm_result()], path)
    assert path.read_bytes() == b"mine"


def test_csv_round_trip(tmp_path: Path) -> None:
    sources = [
        (Path("results/storm.json"), storm_result()),
        (Path("results/sweep.json"), sweep_result()),
    ]
    path = write_csv(sources, tmp_path / "runs.csv")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    assert len(rows) == 2 + 4
    unbatched, batched, pool10 = rows[0], rows[1], rows[2]
    assert unbatched["source"] == "results/storm.json"
    assert unbatched["backend"] == "embedded"
    assert unbatched["server_version"] == "18.6"
    assert unbatched["max_connections"] == "100"
    assert unbatched["strategy"] == "unbatched"
    assert (unbatched["tasks"], unbatched["ok"], unbatched["failed"]) == ("1000", "172", "828")
    assert unbatched["interrupted"] == "False"  # a partial run says so (True)
    assert unbatched["errors"] == "53300:808;TimeoutError:20"
    assert unbatched["peak_server_connections"] == "96"
    assert unbatched["pool_size"] == ""
    assert batched["batch_size"] == "50"
    assert batched["errors"] == ""
    run = sweep_result().runs[0]
    assert pool10["pool_size"] == "10"
    assert float(pool10["wall_s"]) == run.wall_s
    assert float(pool10["throughput_qps"]) == run.throughput_qps
    assert float(pool10["efficiency"]) == run.efficiency
    assert float(pool10["latency_p99_s"]) == run.latency_s.p99
    for part, summary in (("wait", run.wait_s), ("service", run.service_s)):  # its two parts
        assert pool10[f"{part}_p99_s"] == ("" if summary.p99 is None else str(summary.p99))


def test_csv_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    write_csv([(Path("a.json"), storm_result())], path)
    before = path.read_text()
    # bad input like an existing --plot: a ConfigError (exit 2), naming the path
    with pytest.raises(ConfigError, match=f"{path} already exists; dbkit never overwrites"):
        write_csv([(Path("b.json"), sleep_result())], path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_csv_to_an_unwritable_place_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^cannot write /proc/z.csv: No such file or directory$"):
        write_csv([(Path("a.json"), storm_result())], Path("/proc/z.csv"))


def test_before_and_after_of_the_same_pools_plot(tmp_path: Path) -> None:
    # Two results (before/after) with the same strategy and pool sizes: runs at one pool size
    # must never be compared with each other to order the points.
    def attempt(wall: float, label: str) -> Result:
        runs = tuple(
            make_run("pool", f"pool-{s}", {"pool_size": s}, wall_s=wall * 10 / s) for s in (10, 50)
        )
        return Result(metadata={**META, "command": ["dbkit", "scenario", label]}, runs=runs)

    path = tmp_path / "x.png"
    before_after = [attempt(6.0, "compare"), attempt(5.0, "compare")]
    titles = plot_results(before_after, path)
    assert_png(path)
    assert titles == ["Sweep: throughput and p99 latency by pool_size"]
    # a curve each, named by its source, rather than one curve zigzagging between them
    assert [s.label for s in sweep_series(before_after)] == [
        "pool (scenario compare #1)",
        "pool (scenario compare #2)",
    ]
    # a repeated point within one sweep draws too
    repeated = sweep_result()
    repeated = Result(metadata=META, runs=(*repeated.runs, repeated.runs[0]), sweep=repeated.sweep)
    plot_results([repeated], tmp_path / "y.png")
    assert_png(tmp_path / "y.png")


def test_csv_says_which_runs_were_interrupted(tmp_path: Path) -> None:
    import dataclasses

    storm = storm_result()
    cut = dataclasses.replace(storm, runs=(dataclasses.replace(storm.runs[0], interrupted=True),))
    path = write_csv([(Path("cut.json"), cut)], tmp_path / "cut.csv")
    with path.open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["interrupted"] == "True"


def test_only_the_sweeps_own_runs_are_on_its_curve() -> None:
    # A sweep's document holding other pool runs too (pool-5 and pool-100, run beside it):
    # the curve is the sweep's grid; the others are compared, never drawn as sweep points.
    sweep = sweep_result()
    others = (
        make_run("pool", "pool-5", {"pool_size": 5}, wall_s=60.0),
        make_run("pool", "pool-100", {"pool_size": 100}, wall_s=7.0),
    )
    mixed = Result(metadata=META, runs=(*sweep.runs, *others), sweep=sweep.sweep)
    (series,) = sweep_series([mixed])
    assert [r.name for r in series.runs] == ["pool-10", "pool-20", "pool-40", "pool-80"]
    assert len(choose_panels([mixed])) == 2  # the sweep, and a comparison for the others
    # the same pool runs in a result of their own: a curve of their own, named apart
    pools = Result(metadata={**META, "command": ["dbkit", "scenario", "pools"]}, runs=others)
    labels = [(s.label, len(s.runs)) for s in sweep_series([pools, sweep])]
    assert labels == [("pool", 4), ("pool (scenario pools)", 2)]


def test_an_interrupted_run_is_never_called_fastest(tmp_path: Path) -> None:
    import dataclasses

    done = make_run("pool", "pool-50", {"pool_size": 50}, wall_s=6.1, ideal_s=6.0)
    # cut short by Ctrl-C: few tasks in little time, so its rate looks high
    cut = dataclasses.replace(
        make_run("semaphore", "semaphore-50", {"limit": 50}, tasks=40, wall_s=0.1, ideal_s=6.0),
        interrupted=True,
    )
    (title,) = plot_results([Result(metadata=META, runs=(done, cut))], tmp_path / "p.png")
    assert title.startswith("Comparison: pool-50 is fastest without failures"), title
    assert "semaphore-50 was interrupted" in title
    only_cut = Result(metadata=META, runs=(cut,))
    (title,) = plot_results([only_cut], tmp_path / "q.png")
    assert "fastest" not in title and "semaphore-50 was interrupted" in title


def test_a_run_with_a_timeline_gets_its_panel_with_the_fault_marked(tmp_path: Path) -> None:
    tl = Timeline(
        interval_s=0.1,
        t=tuple(round(i / 10, 4) for i in range(30)),
        done=tuple(0 if 10 <= i < 13 else 20 for i in range(30)),
        errors={"57P01": tuple(5 if i == 10 else 0 for i in range(30))},
        connections=tuple(None if i == 11 else 10 for i in range(30)),
    )
    fault = FaultRecord("terminate", 1.0, 0.05, 0.3, 5, {"57P01": 5}, 10)
    run = dataclasses.replace(
        make_run("pool", "pool-10", {"pool_size": 10}, tasks=545, failed=5, wall_s=3.0),
        timeline=tl,
        faults=(fault,),
    )
    path = tmp_path / "timeline.png"
    titles = plot_results([Result(metadata=META, runs=(run,))], path)
    assert_png(path)
    assert titles[-1] == "Timeline pool-10: 540 ok, 5 failed in 3.0 s, up to 10 connections"
    # several runs: one panel each, at most MAX_TIMELINES of them
    many = Result(metadata=META, runs=(run,) * (MAX_TIMELINES + 2))
    assert sum(t.startswith("Timeline") for t in plot_results([many], tmp_path / "m.png")) == (
        MAX_TIMELINES
    )


def test_a_fleet_services_timeline_is_drawn_beside_the_fleet(tmp_path: Path) -> None:
    base = fleet_result()
    tl = Timeline(t=(0.0, 0.1, 0.2), done=(5, 0, 5), connections=(10, 0, 10))
    fault = FaultRecord("terminate", 0.1, 0.02, 0.1, 2, {}, 10)
    fleet = dataclasses.replace(base.fleet, fault=fault) if base.fleet else None
    runs = tuple(dataclasses.replace(r, timeline=tl) for r in base.runs)
    path = tmp_path / "fleet.png"
    titles = plot_results([dataclasses.replace(base, runs=runs, fleet=fleet)], path)
    assert_png(path)
    assert titles[0].startswith("Fleet: planned peak 120")
    assert titles[-1].startswith("Timeline fleet: ")


def test_repeats_timelines_say_which_repeat_they_are(tmp_path: Path) -> None:
    tl = Timeline(t=(0.0, 0.1), done=(5, 5), connections=(5, 5))
    run = dataclasses.replace(make_run("pool", "pool-5", {"pool_size": 5}), timeline=tl)
    again = dataclasses.replace(run, wall_s=run.wall_s + 0.1)
    titles = plot_results([Result(metadata=META, runs=(run, again))], tmp_path / "r.png")
    timelines = [t.split(":")[0] for t in titles if t.startswith("Timeline")]
    assert timelines == ["Timeline pool-5 #1", "Timeline pool-5 #2"]


def test_a_timeline_draws_tasks_in_flight_and_the_poolers_connections(tmp_path: Path) -> None:
    tl = Timeline(
        t=(0.0, 0.1, 0.2),
        done=(20, 20, 60),
        connections=(10, 10, None),
        in_flight=(80, 60, 0),
        pooler=(12, None, 12),
    )
    run = dataclasses.replace(
        make_run("pool", "pool-10", {"pool_size": 10}, tasks=100, wall_s=0.3), timeline=tl
    )
    path = tmp_path / "flight.png"
    titles = plot_results([Result(metadata=META, runs=(run,))], path)
    assert_png(path)
    assert titles[-1] == (
        "Timeline pool-10: 100 ok, 0 failed in 0.3 s, the pooler's up to 12 server connections, "
        "80 tasks in flight"
    )
    direct = dataclasses.replace(run, timeline=dataclasses.replace(tl, pooler=()))
    titles = plot_results([Result(metadata=META, runs=(direct,))], tmp_path / "direct.png")
    assert titles[-1].endswith(", up to 10 connections, 80 tasks in flight")
