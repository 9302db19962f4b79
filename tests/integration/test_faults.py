"""Faults mid-run on the real embedded server: errors by SQLSTATE, failures, recovery times."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from dbkit.engine.fleet import run_fleet
from dbkit.engine.guards import check_stop_is_last
from dbkit.engine.run import run_experiment
from dbkit.model.errors import ConfigError
from dbkit.model.faults import Fault
from dbkit.model.results import Run
from dbkit.model.service import Service
from dbkit.model.spec import RunSpec
from dbkit.servers import EmbeddedServer, ServerSpec
from tests.helpers import LOST

# What a client may see while its server goes away and comes back, by SQLSTATE or errno.
# A connection the server dropped while it sat in the pool can fail its next statement on the
# client's side before the loss is noticed: asyncpg's InternalClientError, no SQLSTATE.
SOCKET = {"ConnectionRefusedError[ECONNREFUSED]", "ConnectionResetError[ECONNRESET]"}


@pytest.fixture
def own_server() -> Iterator[ServerSpec]:
    yield ServerSpec("embedded", max_connections=50)


def _only(result_runs: tuple[Run, ...]) -> Run:
    assert len(result_runs) == 1
    return result_runs[0]


def _classes(run: Run) -> set[str]:
    return {e.sqlstate or e.type for e in run.errors}


@pytest.mark.parametrize("procs", [1, 2], ids=["one-process", "procs"])
def test_terminate_fault_fails_inflight_tasks_and_recovers(pg: EmbeddedServer, procs: int) -> None:
    # One injector for every path: split over processes, the fault is marked in each.
    spec = RunSpec(
        "pool", tasks=200, pool_size=20, queries=2, hold=0.1, fault="terminate@0.35", procs=procs
    )
    run = _only(run_experiment([spec], ServerSpec("dsn", dsn=pg.admin_dsn)).runs)
    assert run.ok + run.failed == 200
    assert run.failed > 0
    (fault,) = run.faults
    assert fault.kind == "terminate" and fault.at_s >= 0.35
    assert fault.terminated >= 1
    assert fault.failed == run.failed  # nothing failed before the fault
    assert sum(fault.errors_by_sqlstate.values()) == run.failed
    assert _classes(run) <= LOST
    assert fault.recovery_s is not None and 0 < fault.recovery_s < 5


T = TypeVar("T")
OUTSIDE = 5  # sessions of the workload's role that are not the kit's


def with_outside_sessions(dsn: str, work: Callable[[], T]) -> tuple[T, int]:
    """Run ``work()`` while OUTSIDE plain sessions of ``dsn``'s role sit open (as another
    service's would); returns what it returned and how many sessions are still alive after."""

    async def still_alive(conns: list[asyncpg.Connection], pids: list[int]) -> int:
        # alive: the backend is still there and the session still answers
        admin = await asyncpg.connect(dsn)
        try:
            present = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = any($1::int[])", pids
            )
        finally:
            await admin.close()
        answering = 0
        for conn in conns:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                answering += await conn.fetchval("SELECT 1")
        return min(int(present), answering)

    with asyncio.Runner() as runner:
        conns = runner.run(_connect_all(dsn, OUTSIDE))
        try:
            pids = [conn.get_server_pid() for conn in conns]
            outcome = work()  # in loops of its own, while these sessions stay open
            alive = runner.run(still_alive(conns, pids))
        finally:
            for conn in conns:
                conn.terminate()
    return outcome, alive


async def _connect_all(dsn: str, count: int) -> list[asyncpg.Connection]:
    return [await asyncpg.connect(dsn) for _ in range(count)]


def test_terminate_fault_ends_only_the_runs_backends(pg: EmbeddedServer) -> None:
    # The outside sessions have the run's role (the DSN's): only the run's tag tells them apart.
    spec = RunSpec("pool", tasks=200, pool_size=20, queries=2, hold=0.1, fault="terminate@0.35")
    server = ServerSpec("dsn", dsn=pg.admin_dsn)
    result, alive = with_outside_sessions(pg.admin_dsn, lambda: run_experiment([spec], server))
    assert alive == OUTSIDE
    run = _only(result.runs)
    (fault,) = run.faults
    assert 1 <= fault.terminated <= 20  # the pool's, none of the outside sessions
    assert run.failed > 0 and fault.failed == run.failed
    assert _classes(run) <= LOST
    assert fault.recovery_s is not None
    assert run.ok + run.failed == 200


def test_the_runs_peak_excludes_other_sessions_and_the_servers_includes_them(
    pg: EmbeddedServer,
) -> None:
    spec = RunSpec("pool", tasks=60, pool_size=10, queries=1, hold=0.05)
    server = ServerSpec("dsn", dsn=pg.admin_dsn)
    result, alive = with_outside_sessions(pg.admin_dsn, lambda: run_experiment([spec], server))
    assert alive == OUTSIDE
    run = _only(result.runs)
    assert run.ok == 60
    assert run.peak_connections == 10  # the pool opens all ten before the run starts
    assert run.peak_server_connections is not None
    assert run.peak_server_connections >= run.peak_connections + OUTSIDE
    assert run.connections and max(n for _, n in run.connections) == 10
    assert max(n for _, n in run.server_connections) == run.peak_server_connections
    assert run.application_name is not None and run.application_name.startswith("dbkit-")


def test_the_cli_terminates_only_its_own_and_shows_both_peaks(
    pg: EmbeddedServer, tmp_path: Path
) -> None:
    # The case: `dbkit run --dsn` as a plain role, other sessions of that role open.
    out = tmp_path / "r.json"
    args = [
        "run", "pool", "--tasks", "100", "--pool-size", "10", "--queries", "2", "--hold", "0.1",
        "--fault", "terminate@0.3", "--dsn", pg.app_dsn, "--out", str(out),
    ]  # fmt: skip
    command = [sys.executable, "-m", "dbkit", *args]
    env = {**os.environ, "COLUMNS": "200"}

    def cli() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    proc, alive = with_outside_sessions(pg.app_dsn, cli)
    assert proc.returncode == 0, proc.stderr
    assert alive == OUTSIDE
    (run,) = json.loads(out.read_text())["runs"]
    (fault,) = run["faults"]
    assert 1 <= fault["terminated"] <= 10 and run["failed"] > 0
    assert run["peak_connections"] == 10
    assert run["peak_server_connections"] >= 10 + OUTSIDE
    assert f"10 (server {run['peak_server_connections']})" in proc.stdout


def test_a_fleet_terminate_fault_ends_only_the_fleets_backends(pg: EmbeddedServer) -> None:
    services = [
        Service("api", replicas=2, workers=1, pool_size=4),
        Service("jobs", replicas=1, workers=1, pool_size=2, driver="sqlalchemy"),
    ]
    server = ServerSpec("dsn", dsn=pg.admin_dsn)

    def fleet_run():  # type: ignore[no-untyped-def]
        return run_fleet(services, server, duration=2.5, hold=0.05, procs=2, fault="terminate@1")

    result, alive = with_outside_sessions(pg.admin_dsn, fleet_run)
    assert alive == OUTSIDE
    fleet = result.fleet
    assert fleet is not None
    fault = fleet.fault
    assert fault is not None
    assert 1 <= fault.terminated <= 10  # 2 x 4 + 2 at most: none of the outside sessions
    assert fault.recovery_s is not None
    assert 1 <= fleet.peak_connections <= 10
    assert fleet.peak_server_connections >= fleet.peak_connections + OUTSIDE
    assert fleet.application_name is not None and fleet.application_name.startswith("dbkit-")
    # each service's run carries its member tag; the terminate ended the members' backends too
    tag = fleet.application_name
    assert [run.application_name for run in result.runs] == [f"{tag}.0", f"{tag}.1"]
    failed = sum(run.failed for run in result.runs)
    assert failed > 0  # the terminated connections' tasks
    # one injector for every path: the fleet's fault counts what failed after it, by SQLSTATE
    assert fault.failed == failed and sum(fault.errors_by_sqlstate.values()) >= failed


def test_restart_fault_with_and_without_retries(own_server: ServerSpec) -> None:
    base = RunSpec("pool", tasks=300, pool_size=30, queries=2, hold=0.1, fault="restart@0.5")
    # Twelve retries back off for 8.55 s in all, far longer than a restart takes (0.05-0.5 s).
    result = run_experiment([base, base.replace(retries=12, label="retry")], own_server)
    plain, retried = result.runs
    for run in (plain, retried):
        assert run.ok + run.failed == 300
        (fault,) = run.faults
        assert fault.kind == "restart" and fault.action_s > 0
        assert fault.failed == run.failed  # nothing failed before the fault
        assert run.peak_server_connections is not None and run.peak_server_connections <= 30
    # Without retries, tasks fail fast while the server is down; whether any is left to succeed
    # once it is back depends on how fast it restarts, so recovery is seen on some machines only.
    (plain_fault,) = plain.faults
    assert plain.failed > 0
    assert _classes(plain) <= LOST | SOCKET
    assert plain_fault.recovery_s is None or plain_fault.recovery_s >= plain_fault.action_s
    # With retries every task outlives the restart: recovery is always seen, nothing is lost.
    (retried_fault,) = retried.faults
    assert retried.failed == 0 and retried.ok == 300
    assert retried.retries > 0
    assert retried_fault.recovery_s is not None
    assert retried_fault.recovery_s >= retried_fault.action_s


def test_stop_fault_never_recovers_and_every_task_is_counted(own_server: ServerSpec) -> None:
    spec = RunSpec("semaphore", tasks=150, limit=20, queries=1, hold=0.1, fault="stop@0.3")
    run = _only(run_experiment([spec], own_server).runs)
    assert run.ok + run.failed == 150
    (fault,) = run.faults
    assert fault.recovery_s is None
    assert fault.failed == run.failed > 0
    assert _classes(run) <= LOST | SOCKET


def test_fault_parsing_and_refusals(pg: EmbeddedServer) -> None:
    assert Fault.parse("restart@2.5") == Fault("restart", 2.5)
    for bad in ("reboot@1", "restart", "restart@-1", "terminate@soon"):
        with pytest.raises(ConfigError, match="KIND@SECONDS"):
            Fault.parse(bad)
    with pytest.raises(ConfigError, match="faults need a database"):
        RunSpec("sleep", fault="terminate@1")
    spec = RunSpec("pool", tasks=5, pool_size=2, hold=0.01, fault="restart@1")
    with pytest.raises(ConfigError, match="restart fault needs a server dbkit started"):
        run_experiment([spec], ServerSpec("dsn", dsn=pg.admin_dsn))


def test_statement_errors_and_timeouts_are_recorded_per_task(pg: EmbeddedServer) -> None:
    dsn = ServerSpec("dsn", dsn=pg.admin_dsn)
    specs = [
        RunSpec("pool", tasks=10, pool_size=5, queries=1, sql="SELEC 1", label="syntax"),
        RunSpec("pool", tasks=10, pool_size=5, queries=1, sql="SELECT 1/0", label="div0"),
        RunSpec(
            "pool",
            tasks=10,
            pool_size=5,
            queries=1,
            sql="SELECT pg_sleep(30)",
            statement_timeout=0.2,
            label="timeout",
        ),
    ]
    syntax, div0, timeout = run_experiment(specs, dsn).runs
    assert (syntax.failed, _classes(syntax)) == (10, {"42601"})
    assert (div0.failed, _classes(div0)) == (10, {"22012"})
    assert (timeout.failed, _classes(timeout)) == (10, {"57014"})
    assert timeout.wall_s < 10  # bounded by the statement timeout, not the 30 s sleep


def test_a_stop_fault_before_other_runs_is_refused_before_any_server_starts() -> None:
    runs = [RunSpec("pool", tasks=10, fault="stop@1"), RunSpec("semaphore", tasks=10)]
    with pytest.raises(ConfigError, match="a stop fault leaves no server for the runs after it"):
        run_experiment(runs, ServerSpec("embedded"))
    check_stop_is_last(runs[::-1])  # as the last run it is fine
    check_stop_is_last([runs[0], RunSpec("sleep", tasks=10)])  # and sleep needs no server
