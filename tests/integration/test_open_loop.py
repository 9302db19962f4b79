"""Open-loop arrivals (--rate) on a real server: every arrival recorded, latency from arrival,
and a pool too small for the rate shows its queue as wait.

Bounds come from capacity, never from how fast this machine happens to be: a pool of 5 whose
tasks each hold a connection 0.05 s serves at most 100 tasks a second, whatever the load.
"""

from __future__ import annotations

import json

import pytest

from dbkit.engine.run import run_one
from dbkit.engine.sweep import run_sweep
from dbkit.model.spec import RunSpec
from dbkit.servers import EmbeddedServer, ServerSpec
from tests.helpers import dbkit


def test_run_pool_at_a_rate_records_its_arrivals_with_latency_from_arrival() -> None:
    # The run, with a task short enough (0.01 s) that a pool of 20 keeps up with 200/s.
    proc = dbkit(
        "run", "pool", "--rate", "200", "--duration", "5", "--pool-size", "20",
        "--queries", "1", "--hold", "0.01", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    # Poisson bounds for 1,000 expected arrivals (the kit fixes the count at rate x duration).
    assert 850 <= run["tasks"] <= 1150
    assert run["ok"] == run["tasks"] and run["failed"] == 0
    params = run["params"]
    assert (params["rate"], params["duration"], params["arrivals"]) == (200, 5, "poisson")
    # The window lasts as long as the arrivals do: a burst of 1,000 would be over in 0.5 s.
    assert run["wall_s"] >= 4.5
    latency, wait, service = run["latency_s"], run["wait_s"], run["service_s"]
    assert service["p50"] >= 0.01  # each task's pg_sleep
    assert latency["p50"] >= service["p50"]
    # The pool keeps up: a task finds a connection at once, where a queue would be seconds.
    assert wait["p50"] < 0.25
    assert run["peak_connections"] <= 20


def test_a_pool_too_small_for_the_rate_shows_the_queue_as_wait(pg: EmbeddedServer) -> None:
    # 400 arrivals within 1 s; a pool of 5 serves at most 100 a second, so they take 4 s or
    # more: the median task waits about a second or longer, the last ones three.
    spec = RunSpec("pool", rate=400, duration=1, pool_size=5, queries=1, hold=0.05)
    run = run_one(spec, pg.app_dsn, pg.admin_dsn)
    assert run.tasks == 400 and run.ok == 400
    assert run.wall_s >= 400 / 100 - 0.05
    assert run.wait_s.p50 is not None and run.wait_s.p50 > 0.5
    assert run.wait_s.p99 is not None and run.wait_s.p99 > 2.0  # 40 times the hold
    assert run.latency_s.max is not None and run.latency_s.max > 2.5


@pytest.mark.parametrize(
    "spec",
    [
        RunSpec("unbatched", rate=40, duration=1, queries=1, hold=0.02),
        RunSpec("batched", rate=40, duration=1, batch_size=10, queries=1, hold=0.02),
        RunSpec("semaphore", rate=40, duration=1, limit=3, queries=1, hold=0.02),
        RunSpec("pool", rate=40, duration=1, pool_size=4, queries=1, hold=0.02, arrivals="fixed"),
        RunSpec("sqlalchemy", rate=40, duration=1, pool_size=4, queries=1, hold=0.02),
        RunSpec("psycopg", rate=40, duration=1, pool_size=4, queries=1, hold=0.02),
        RunSpec("pool", rate=40, duration=1, pool_size=4, queries=1, hold=0.02, procs=2),
    ],
    ids=lambda spec: f"{spec.name}-{spec.arrivals}-procs{spec.procs}",
)
def test_every_strategy_runs_at_a_rate(pg: EmbeddedServer, spec: RunSpec) -> None:
    from dbkit.engine.run import run_procs

    runner = run_procs if spec.procs > 1 else run_one
    run = runner(spec, pg.app_dsn, pg.admin_dsn)
    assert run.tasks == 40 and run.ok == 40 and run.failed == 0
    assert run.params["rate"] == 40 and run.params["arrivals"] == spec.arrivals
    assert run.wall_s >= 0.9  # the last of 40 arrivals over 1 s, then served
    assert run.peak_connections is not None and run.peak_connections <= {
        "unbatched": 40, "batched": 10, "semaphore": 3,
    }.get(spec.strategy, 4)  # fmt: skip


def test_sweep_at_a_rate_shows_which_pool_keeps_up() -> None:
    # 100 tasks a second of 0.05 s each: a pool of 2 serves 40 a second and queues; 10 keep up.
    base = RunSpec("pool", rate=100, duration=1, queries=1, hold=0.05)
    result = run_sweep(base, [2, 10], ServerSpec("embedded", max_connections=30))
    small, large = result.runs
    assert [r.params["pool_size"] for r in result.runs] == [2, 10]
    assert all(r.tasks == 100 and r.ok == 100 and r.params["rate"] == 100 for r in result.runs)
    assert small.wait_s.p99 is not None and large.wait_s.p99 is not None
    assert small.wait_s.p99 > 1.0  # 100 tasks at 40 a second: the last wait over a second
    assert small.wait_s.p99 > large.wait_s.p99
