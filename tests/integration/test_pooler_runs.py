"""Runs through a PgBouncer the kit starts in front of its embedded server: a storm that the
server alone refuses completes, the server side held to the pooler's pool; asyncpg's statement
cache through transaction mode fails by SQLSTATE, and runs clean without it; the pooler's
console readings and its version travel with the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbkit.engine.fleet import run_fleet
from dbkit.engine.run import run_experiment
from dbkit.engine.sweep import run_sweep
from dbkit.model.errors import ConfigError, DbkitError
from dbkit.model.pooler import PoolerSpec
from dbkit.model.results import Result
from dbkit.model.service import Service
from dbkit.model.shape import problem_in
from dbkit.model.spec import RunSpec
from dbkit.servers import ServerSpec
from dbkit.servers.pgbouncer import find_pgbouncer, pgbouncer_version
from tests.helpers import assert_one_line_error, dbkit

try:
    VERSION: str | None = pgbouncer_version(find_pgbouncer())
    WHY_NOT = ""
except DbkitError as exc:
    VERSION, WHY_NOT = None, str(exc)

needs_pgbouncer = pytest.mark.skipif(VERSION is None, reason=f"no PgBouncer: {WHY_NOT}")
PREPARED_STATEMENT_STATES = {"26000", "42P05"}
MONITOR = 1  # the monitor's own connection, counted by nobody but allowed for


@needs_pgbouncer
def test_a_storm_through_transaction_mode_completes_within_the_pool() -> None:
    result = run_experiment(
        [RunSpec("unbatched", tasks=500, queries=1, hold=0.05, statement_cache=0)],
        ServerSpec("embedded"),
        pooler=PoolerSpec(pool_mode="transaction", pool_size=20),
    )
    (run,) = result.runs
    assert (run.ok, run.failed, run.errors) == (500, 0, ())
    assert run.peak_connections is not None and run.peak_connections <= 20
    assert run.peak_server_connections is not None
    assert run.peak_server_connections <= 20 + MONITOR
    assert run.pooler is not None and run.pooler.samples
    assert (run.pooler.kind, run.pooler.pool_mode) == ("pgbouncer", "transaction")
    peaks = run.pooler.peaks()
    assert peaks["sv_active"] is not None and peaks["sv_active"] <= 20
    assert run.params["statement_cache"] == 0
    assert run.ideal_s == pytest.approx(500 / 20 * 0.05)  # waves of the pooler's pool
    assert result.metadata["pooler"]["version"] == VERSION
    settings = result.metadata["pooler"]["settings"]
    assert settings["pool_mode"] == "transaction"
    assert int(settings["max_client_conn"]) >= 500  # sized to the storm, its console counted
    # per interval, the pooler's server connections: within its pool, the monitor aside
    pooled = [n for n in run.timeline.pooler if n is not None]
    assert len(run.timeline.pooler) == len(run.timeline) and pooled
    assert 0 < max(pooled) <= 20 + MONITOR
    document = json.loads(result.dumps())
    assert problem_in(document) is None
    back = Result.from_dict(document)
    assert back.runs[0].pooler == run.pooler


@needs_pgbouncer
def test_the_statement_cache_through_transaction_mode_fails_by_sqlstate_and_zero_is_clean() -> None:
    cached = RunSpec("pool", tasks=300, queries=3, hold=0.01, pool_size=10, statement_cache=100)
    split = RunSpec("unbatched", tasks=100, queries=1, hold=0.01, procs=2, statement_cache=0)
    result = run_experiment(
        [cached, cached.replace(statement_cache=0), cached.replace(label="direct"), split],
        ServerSpec("embedded"),
        pooler=PoolerSpec(pool_mode="transaction", pool_size=3),
        pooled=[True, True, False, True],
    )
    with_cache, without, direct, over_procs = result.runs
    # split over processes: through the pooler all the same, its console not read
    assert (over_procs.ok, over_procs.errors) == (100, ())
    assert over_procs.pooler is not None and over_procs.pooler.samples == ()
    states = {e.sqlstate for e in with_cache.errors}
    assert states and states <= PREPARED_STATEMENT_STATES, with_cache.errors
    assert with_cache.failed > 0
    assert (without.ok, without.errors) == (300, ())
    assert (direct.ok, direct.errors, direct.pooler) == (300, (), None)
    assert with_cache.pooler is not None and without.pooler is not None
    assert "pooler" not in direct.to_dict()


def test_a_pooler_needs_a_server_the_kit_starts() -> None:
    with pytest.raises(ConfigError, match="server dbkit starts"):
        run_experiment(
            [RunSpec("unbatched", tasks=5)],
            ServerSpec("dsn", dsn="postgresql://u:p@127.0.0.1:1/db"),
            pooler=PoolerSpec(),
        )


def test_a_statement_timeout_through_a_pooler_is_refused_before_any_server() -> None:
    with pytest.raises(ConfigError, match="statement_timeout"):
        run_experiment(
            [RunSpec("unbatched", tasks=5, statement_timeout=1.0)],
            ServerSpec("embedded"),
            pooler=PoolerSpec(),
        )


def test_a_bounded_run_beyond_max_client_conn_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_client_conn 100"):
        run_experiment(
            [RunSpec("pool", tasks=500, pool_size=150)],
            ServerSpec("embedded"),
            pooler=PoolerSpec(max_client_conn=100),
        )


@needs_pgbouncer
def test_a_fleet_and_a_sweep_go_through_the_pooler() -> None:
    services = [Service("api", replicas=1, workers=2, pool_size=5)]
    result = run_fleet(
        services, ServerSpec("embedded"), duration=1.0, hold=0.02, procs=1,
        pooler=PoolerSpec(pool_size=4), statement_cache=0,
    )  # fmt: skip
    (run,) = result.runs
    assert run.ok > 0 and run.failed == 0, run.errors
    assert run.peak_connections is not None and run.peak_connections <= 4
    assert run.pooler is not None and run.pooler.samples
    assert run.params["statement_cache"] == 0
    assert result.metadata["pooler"]["kind"] == "pgbouncer"
    swept = run_sweep(
        RunSpec("pool", tasks=40, queries=1, hold=0.01), [2, 4], ServerSpec("embedded"),
        pooler=PoolerSpec(pool_size=3),
    )  # fmt: skip
    assert [r.ok for r in swept.runs] == [40, 40]
    assert all(r.pooler is not None for r in swept.runs)


def test_a_fleet_with_a_statement_cache_for_a_driver_without_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="statement cache"):
        run_fleet(
            [Service("api", replicas=1, workers=1, pool_size=2, driver="sqlalchemy")],
            ServerSpec("embedded"),
            statement_cache=0,
        )


@needs_pgbouncer
def test_the_cli_runs_a_storm_through_pgbouncer(tmp_path: Path) -> None:
    proc = dbkit(
        "run", "unbatched", "--server", "embedded", "--pooler", "pgbouncer", "--pool-mode",
        "transaction", "--pooler-size", "20", "--tasks", "500", "--hold", "0.05", "--json",
        "--results-dir", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    (run,) = document["runs"]
    assert (run["ok"], run["failed"], run["errors"]) == (500, 0, [])
    assert run["pooler"]["pool_mode"] == "transaction"
    assert document["metadata"]["pooler"]["settings"]["default_pool_size"] == "20"


def test_the_cli_refuses_pooler_options_without_a_pooler_in_one_line() -> None:
    for command in (["run", "unbatched"], ["scenario", "storm"], ["sweep", "pool"]):
        proc = dbkit(*command, "--server", "embedded", "--pool-mode", "session")
        assert_one_line_error(proc, 2, "--pool-mode without --pooler")
    proc = dbkit("run", "pool", "--pooler", "pgbouncer", "--dsn", "postgresql://u:p@127.0.0.1:1/d")
    assert_one_line_error(proc, 2, "server dbkit starts")
    proc = dbkit("run", "psycopg", "--statement-cache", "0")
    assert_one_line_error(proc, 2, "psycopg does not use --statement-cache")


def test_fleet_runs_a_deploy_files_pooler_table_for_real(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.toml"
    deploy.write_text(
        "[database]\nmax_connections = 100\n"
        '[pooler]\npool_mode = "transaction"\ndefault_pool_size = 5\n'
        "[services.api]\nreplicas = 2\nworkers = 2\npool_size = 5\n"
    )
    out = tmp_path / "fleet.json"
    proc = dbkit("fleet", str(deploy), "--duration", "2", "--server", "embedded",
                 "--statement-cache", "0", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["metadata"]["pooler"]["kind"] == "pgbouncer"
    assert doc["fleet"]["ok"] > 0 and doc["fleet"]["failed"] == 0
    # 20 client connections, at most the pooler's 5 on the server (and the monitor)
    assert doc["fleet"]["peak_server_connections"] <= 5 + 1
    many = tmp_path / "many.toml"
    many.write_text(deploy.read_text().replace("[pooler]\n", "[pooler]\ndatabases = 2\n"))
    refused = dbkit("fleet", str(many), "--server", "embedded", cwd=tmp_path)
    assert_one_line_error(refused, 2, "serves one database and one user")


@needs_pgbouncer
def test_a_pooled_runs_active_figures_are_the_server_connections_the_pooler_linked() -> None:
    # 40 tasks on a pool of 10 through a pooler of 5: at most 5 server connections busy at
    # once, and the run's active figures say so (its tag is seldom on a pooled connection).
    result = run_experiment(
        [RunSpec("pool", tasks=40, pool_size=10, queries=2, hold=0.05, statement_cache=0)],
        ServerSpec("embedded"),
        pooler=PoolerSpec(pool_mode="transaction", pool_size=5),
    )
    (run,) = result.runs
    assert run.failed == 0, run.errors
    assert run.active_peak is not None and 1 <= run.active_peak <= 5
    assert run.active_p99 is not None and run.active_p99 <= run.active_peak
    assert run.demand is not None and 0 < run.demand <= 10 * 1.05  # the client pool's 10
