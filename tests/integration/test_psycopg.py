"""The psycopg strategy (psycopg_pool's AsyncConnectionPool) against a real embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg

from dbkit.engine.guards import MONITOR_SLOTS
from dbkit.engine.run import run_one
from dbkit.model.spec import RunSpec
from dbkit.servers import EmbeddedServer
from tests.helpers import dbkit


def test_a_pool_of_50_runs_1000_tasks_clean_efficient_and_within_its_size(
    pg: EmbeddedServer,
) -> None:
    # `dbkit run psycopg --tasks 1000 --pool-size 50`: twenty waves of 3 x 0.1 s.
    run = run_one(RunSpec("psycopg", tasks=1000, pool_size=50), pg.app_dsn, pg.admin_dsn)
    assert run.errors == () and (run.ok, run.failed, run.queries_ok) == (1000, 0, 3000)
    assert run.ideal_s is not None and abs(run.ideal_s - 6.0) < 1e-9
    assert run.wall_s >= run.ideal_s
    # Efficiency is a timing: on a loaded machine every pool loses some. Measured against
    # asyncpg's pool of the same size right after, on the same machine, not against a clock
    # (alone, on 2 cores: psycopg 0.95, asyncpg 0.94; the bar is 0.9 there).
    asyncpg_pool = run_one(RunSpec("pool", tasks=1000, pool_size=50), pg.app_dsn, pg.admin_dsn)
    assert run.efficiency is not None and asyncpg_pool.efficiency is not None
    assert run.efficiency >= 0.9 * asyncpg_pool.efficiency, (run.efficiency, asyncpg_pool)
    assert run.peak_connections is not None and 1 <= run.peak_connections <= 50
    assert run.peak_server_connections is not None
    assert run.peak_server_connections <= 50 + MONITOR_SLOTS
    # the queue is in the wait: the last wave waited for nineteen before it
    assert run.wait_s.p99 is not None and run.wait_s.p99 >= 19 * 0.3 * 0.9


def test_a_statement_timeout_is_recorded_by_its_sqlstate(pg: EmbeddedServer) -> None:
    spec = RunSpec("psycopg", tasks=6, pool_size=3, queries=1, hold=0.5, statement_timeout=0.1)
    run = run_one(spec, pg.app_dsn, pg.admin_dsn)
    assert (run.ok, run.failed) == (0, 6)
    assert {(e.type, e.sqlstate) for e in run.errors} == {("psycopg.errors.QueryCanceled", "57014")}
    assert sum(e.count for e in run.errors) == 6


def test_custom_sql_is_rolled_back_unless_commit(pg: EmbeddedServer) -> None:
    async def admin(sql: str) -> int:
        conn = await asyncpg.connect(pg.admin_dsn)
        try:
            await conn.execute(sql)
            return int(await conn.fetchval("SELECT count(*) FROM dbkit_psycopg_probe"))
        finally:
            await conn.close()

    asyncio.run(admin("CREATE TABLE IF NOT EXISTS dbkit_psycopg_probe (id int)"))
    asyncio.run(admin("TRUNCATE dbkit_psycopg_probe"))
    spec = RunSpec(
        "psycopg",
        tasks=10,
        pool_size=5,
        queries=2,
        sql="INSERT INTO dbkit_psycopg_probe VALUES (1)",
    )
    rolled_back = run_one(spec, pg.admin_dsn, None)
    assert (rolled_back.ok, rolled_back.queries_ok) == (10, 20)
    assert asyncio.run(admin("SELECT 1")) == 0
    committed = run_one(spec.replace(commit=True), pg.admin_dsn, None)
    assert committed.ok == 10
    assert asyncio.run(admin("SELECT 1")) == 20


def test_the_command_runs_the_psycopg_strategy(pg: EmbeddedServer, tmp_path: Path) -> None:
    proc = dbkit(
        "run", "psycopg", "--tasks", "40", "--pool-size", "5", "--min-size", "2", "--hold",
        "0.01", "--acquire-timeout", "10", "--dsn", pg.app_dsn, "--json", "--results-dir",
        str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(proc.stdout)["runs"]
    assert (run["strategy"], run["name"], run["ok"], run["errors"]) == (
        "psycopg", "psycopg-5", 40, []
    )  # fmt: skip
    assert run["params"]["pool_size"] == 5 and run["params"]["min_size"] == 2
    assert run["params"]["acquire_timeout"] == 10
    assert 1 <= run["peak_connections"] <= 5


def test_the_fleets_pool_functions_open_acquire_time_out_and_close(pg: EmbeddedServer) -> None:
    from dbkit.model.error_counts import type_name
    from dbkit.model.identity import new_tag, tagged
    from dbkit.strategies.psycopg_pool import (
        POOL_TIMEOUT_TYPE,
        close_psycopg_pool,
        open_psycopg_pool,
        pooled,
    )

    tag = new_tag()
    failures: list[BaseException] = []

    async def use() -> tuple[str, list[str], str]:
        pool = await open_psycopg_pool(
            pg.app_dsn, tagged({}, tag), 1, 2, 0.2, on_failure=failures.append
        )
        try:
            async with pooled(pool) as conn, pooled(pool) as other:
                cur = await conn.execute("SELECT current_setting('application_name')")
                row = await cur.fetchone()
                await other.execute("SELECT 1")
                try:  # both connections are taken: the third acquire times out
                    async with pooled(pool):
                        pass
                except Exception as exc:
                    timed_out = type_name(type(exc))
                else:
                    timed_out = "nothing"
            assert row is not None
            return str(row[0]), [type_name(type(e)) for e in failures], timed_out
        finally:
            await close_psycopg_pool(pool)

    app_name, failed, timed_out = asyncio.run(use())
    assert app_name == tag
    assert failed == []  # nothing refused
    assert timed_out == POOL_TIMEOUT_TYPE
