"""Faults mid-run on the real embedded server: errors by SQLSTATE, failures, recovery times."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbkit.errors import ConfigError
from dbkit.experiment import _check_stop_is_last, run_experiment
from dbkit.faults import Fault
from dbkit.results import Run
from dbkit.servers import EmbeddedServer, ServerSpec
from dbkit.spec import RunSpec

# What a client may see while its server goes away and comes back, by SQLSTATE or errno.
# A connection the server dropped while it sat in the pool can fail its next statement on the
# client's side before the loss is noticed: asyncpg's InternalClientError, no SQLSTATE.
LOST = {
    "08003", "08006", "57P01", "57P03", "57P02", "asyncpg.exceptions._base.InternalClientError"
}  # fmt: skip
SOCKET = {"ConnectionRefusedError[ECONNREFUSED]", "ConnectionResetError[ECONNRESET]"}


@pytest.fixture
def own_server() -> Iterator[ServerSpec]:
    yield ServerSpec("embedded", max_connections=50)


def _only(result_runs: tuple[Run, ...]) -> Run:
    assert len(result_runs) == 1
    return result_runs[0]


def _classes(run: Run) -> set[str]:
    return {e.sqlstate or e.type for e in run.errors}


def test_terminate_fault_fails_inflight_tasks_and_recovers(pg: EmbeddedServer) -> None:
    spec = RunSpec("pool", tasks=200, pool_size=20, queries=2, hold=0.1, fault="terminate@0.35")
    run = _only(run_experiment([spec], ServerSpec("dsn", dsn=pg.admin_dsn)).runs)
    assert run.ok + run.failed == 200
    assert run.failed > 0
    (fault,) = run.faults
    assert fault["kind"] == "terminate" and fault["at_s"] >= 0.35
    assert fault["terminated"] >= 1
    assert fault["failed"] == run.failed  # nothing failed before the fault
    assert sum(fault["errors_by_sqlstate"].values()) == run.failed
    assert _classes(run) <= LOST
    assert fault["recovery_s"] is not None and 0 < fault["recovery_s"] < 5


def test_restart_fault_with_and_without_retries(own_server: ServerSpec) -> None:
    base = RunSpec("pool", tasks=300, pool_size=30, queries=2, hold=0.1, fault="restart@0.5")
    # Twelve retries back off for 8.55 s in all, far longer than a restart takes (0.05-0.5 s).
    result = run_experiment([base, base.replace(retries=12, label="retry")], own_server)
    plain, retried = result.runs
    for run in (plain, retried):
        assert run.ok + run.failed == 300
        (fault,) = run.faults
        assert fault["kind"] == "restart" and fault["action_s"] > 0
        assert fault["failed"] == run.failed  # nothing failed before the fault
        assert run.peak_server_connections is not None and run.peak_server_connections <= 30
    # Without retries, tasks fail fast while the server is down; whether any is left to succeed
    # once it is back depends on how fast it restarts, so recovery is seen on some machines only.
    (plain_fault,) = plain.faults
    assert plain.failed > 0
    assert _classes(plain) <= LOST | SOCKET
    assert plain_fault["recovery_s"] is None or plain_fault["recovery_s"] >= plain_fault["action_s"]
    # With retries every task outlives the restart: recovery is always seen, nothing is lost.
    (retried_fault,) = retried.faults
    assert retried.failed == 0 and retried.ok == 300
    assert retried.retries > 0
    assert retried_fault["recovery_s"] is not None
    assert retried_fault["recovery_s"] >= retried_fault["action_s"]


def test_stop_fault_never_recovers_and_every_task_is_counted(own_server: ServerSpec) -> None:
    spec = RunSpec("semaphore", tasks=150, limit=20, queries=1, hold=0.1, fault="stop@0.3")
    run = _only(run_experiment([spec], own_server).runs)
    assert run.ok + run.failed == 150
    (fault,) = run.faults
    assert fault["recovery_s"] is None
    assert fault["failed"] == run.failed > 0
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
    _check_stop_is_last(runs[::-1])  # as the last run it is fine
    _check_stop_is_last([runs[0], RunSpec("sleep", tasks=10)])  # and sleep needs no server
