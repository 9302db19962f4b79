"""Real runs' timelines: per interval, they add up to the run's own counts."""

from __future__ import annotations

from dbkit.engine.fleet import run_fleet
from dbkit.engine.run import run_one, run_procs
from dbkit.engine.status import Status
from dbkit.model.records import error_label
from dbkit.model.results import Run
from dbkit.model.service import Service
from dbkit.model.spec import RunSpec
from dbkit.model.tally import TICK_S
from dbkit.servers import EmbeddedServer, ServerSpec


def _adds_up(run: Run) -> None:
    """Completions sum to ok, each label's failed attempts to its error records' counts, and
    the rows cover the window densely, one interval apart."""
    tl = run.timeline
    assert tl and tl.interval_s == TICK_S
    assert sum(tl.done) == run.ok
    by_label: dict[str, int] = {}
    for e in run.errors:
        label = error_label(e.type, e.sqlstate)
        by_label[label] = by_label.get(label, 0) + e.count
    assert {label: sum(series) for label, series in tl.errors.items()} == by_label
    assert -TICK_S < tl.t[0] <= 0 and tl.t[-1] <= run.wall_s < tl.t[-1] + TICK_S + 1e-6
    assert all(abs(b - a - TICK_S) < 1e-3 for a, b in zip(tl.t, tl.t[1:], strict=False))
    if run.connections:
        assert len(tl.connections) == len(tl)
        seen = [n for n in tl.connections if n is not None]
        assert seen and max(seen) <= (run.peak_connections or 0)
    # in flight: every row's, never below 0, nothing left at the window's end (all ended),
    # never more than the tasks there were
    assert len(tl.in_flight) == len(tl)
    assert min(tl.in_flight) >= 0 and tl.in_flight[-1] == 0
    assert max(tl.in_flight) <= run.ok + run.failed


def test_a_storm_timeline_adds_up_to_its_counts(pg: EmbeddedServer) -> None:
    run = run_one(RunSpec("unbatched", tasks=200, queries=1, hold=0.3), pg.app_dsn, pg.admin_dsn)
    assert run.failed > 0 and run.ok > 0
    _adds_up(run)
    assert set(run.timeline.errors) == {"53300"}
    assert max(n or 0 for n in run.timeline.connections) > 0


def test_a_pool_timeline_adds_up_and_completes_in_waves(pg: EmbeddedServer) -> None:
    run = run_one(
        RunSpec("pool", tasks=100, pool_size=10, queries=1, hold=0.1), pg.app_dsn, pg.admin_dsn
    )
    _adds_up(run)
    assert run.timeline.errors == {}
    # ten waves of 0.1 s: completions spread over at least five intervals, never all in one
    assert sum(1 for n in run.timeline.done if n) >= 5
    # a burst: all 100 arrive at the start, then only leave; in flight is what is not done
    tl = run.timeline
    assert tl.in_flight[0] == 100 - tl.done[0]
    for i in range(1, len(tl)):
        assert tl.in_flight[i] == tl.in_flight[i - 1] - tl.done[i]


def test_an_open_loop_run_through_a_small_pool_piles_up_tasks_in_flight(
    pg: EmbeddedServer,
) -> None:
    # 60 arrivals a second for 1.5 s; a pool of 2 holding 0.1 s serves at most 20 a second
    spec = RunSpec("pool", rate=60, duration=1.5, pool_size=2, queries=1, hold=0.1)
    run = run_one(spec, pg.app_dsn, pg.admin_dsn)
    _adds_up(run)
    tl = run.timeline
    # by the last arrival 90 had come and at most 2 x 0.1 s-waves a row had left: the queue grew
    last = max(i for i, t in enumerate(tl.t) if t < 1.5)
    assert tl.in_flight[last] >= 90 - 20 * 1.5 - 2 * 5  # over 50 waiting, allowing some slack
    assert tl.in_flight[last] > tl.in_flight[2]


def test_a_procs_timeline_is_merged_from_every_process(pg: EmbeddedServer) -> None:
    spec = RunSpec("unbatched", tasks=200, queries=1, hold=0.3, procs=2)
    run = run_procs(spec, pg.app_dsn, pg.admin_dsn)
    assert run.failed > 0
    _adds_up(run)


def test_a_fleet_services_timeline_adds_up() -> None:
    # 3 x 2 x 20 eager connections against 97 slots: some pools are refused (53300)
    result = run_fleet(
        [Service("api", replicas=3, workers=2, pool_size=20)],
        ServerSpec("embedded", max_connections=100),
        duration=1.5,
        hold=0.05,
    )
    (run,) = result.runs
    assert run.ok > 0 and run.failed > 0
    _adds_up(run)
    assert "53300" in run.timeline.errors
    # closed loop: each worker's request handlers (run_fleet's default, twice its pool) keep
    # at most their own number in flight
    assert 0 < max(run.timeline.in_flight) <= 3 * 2 * (2 * 20)


def test_the_progress_line_counts_ok_failed_and_connections(pg: EmbeddedServer) -> None:
    seen: list[Status] = []
    spec = RunSpec("unbatched", tasks=200, queries=1, hold=0.3)
    run = run_one(spec, pg.app_dsn, pg.admin_dsn, progress=lambda i, name, s: seen.append(s))
    last = seen[-1]
    assert (last.done, last.total, last.ok, last.failed) == (200, 200, run.ok, run.failed)
    assert all(s.ok + s.failed == s.done for s in seen)
    assert 0 < max(s.connections or 0 for s in seen) <= (run.peak_connections or 0)


def test_a_procs_progress_line_counts_every_process(pg: EmbeddedServer) -> None:
    seen: list[Status] = []
    spec = RunSpec("unbatched", tasks=200, queries=1, hold=0.3, procs=2)
    run = run_procs(spec, pg.app_dsn, pg.admin_dsn, progress=lambda i, name, s: seen.append(s))
    last = seen[-1]
    assert (last.done, last.ok, last.failed) == (200, run.ok, run.failed)
    assert max(s.connections or 0 for s in seen) > 0
