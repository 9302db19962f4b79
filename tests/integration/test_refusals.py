"""The kit's 53300 count against the server's own log: one per refused connection attempt.

The server logs every connection it refuses as a FATAL line; with ``%e`` in log_line_prefix
that line starts with its SQLSTATE, so the count is by SQLSTATE, never by message text.
"""

from __future__ import annotations

import asyncio

import asyncpg

from dbkit.engine.fleet import run_fleet
from dbkit.engine.run import run_experiment
from dbkit.model.results import Result
from dbkit.model.service import Service
from dbkit.model.spec import RunSpec
from dbkit.servers import EmbeddedServer, ServerSpec
from tests.helpers import TOO_MANY, kit_count, refused_in_log, server_count_since


def test_a_run_counts_every_refusal_the_server_logged(logged: EmbeddedServer) -> None:
    before = refused_in_log(logged)
    spec = RunSpec(strategy="unbatched", tasks=40, queries=1, hold=0.3)
    result = run_experiment([spec], ServerSpec("dsn", dsn=logged.app_dsn), allow_storm=True)
    kit = kit_count(result)
    assert kit > 0
    assert server_count_since(logged, before, kit) == kit


def test_a_fleet_counts_every_refusal_the_server_logged(logged: EmbeddedServer) -> None:
    # 4 pools of 6 opened eagerly against 16 slots: a pool whose first connections succeed and
    # a later one is refused fails as a whole, and is tried again every 0.5 s; each refused
    # connection is one 53300 in the server's log, and must be one in the kit's count.
    before = refused_in_log(logged)
    result = run_fleet(
        [
            Service("api", replicas=4, workers=1, pool_size=6),
            Service(
                "jobs", replicas=1, workers=1, pool_size=3, max_overflow=3, driver="sqlalchemy"
            ),
        ],
        ServerSpec("dsn", dsn=logged.app_dsn),
        duration=2.0,
        procs=1,
        allow_storm=True,
    )
    kit = kit_count(result)
    assert result.fleet is not None
    assert kit == sum(s.errors_by_sqlstate.get(TOO_MANY, 0) for s in result.fleet.services)
    assert kit > 0
    assert server_count_since(logged, before, kit) == kit


def test_retried_refusals_count_as_the_server_logged_them(logged: EmbeddedServer) -> None:
    # With --retry, a refused attempt that is tried again is still a refusal in the server's
    # log: the kit's count is per attempt, while `failed` counts the tasks that gave up.
    before = refused_in_log(logged)
    spec = RunSpec(strategy="unbatched", tasks=40, queries=1, hold=0.3, retries=2)
    result = run_experiment([spec], ServerSpec("dsn", dsn=logged.app_dsn), allow_storm=True)
    (run,) = result.runs
    kit = kit_count(result)
    assert run.retries > 0
    assert server_count_since(logged, before, kit) == kit
    too_many = [e for e in run.errors if e.sqlstate == TOO_MANY]
    assert sum(e.tasks for e in too_many) <= run.failed  # tasks that ended with it


def test_a_pool_that_cannot_open_counts_each_refused_connection(logged: EmbeddedServer) -> None:
    # 10 sessions of another client leave 6 of the plain role's 16 slots: a pool of 12 opens
    # 6 and is refused 6 times; every task fails (there is no pool), the count is the server's.
    async def hold_and_run() -> Result:
        others = [await asyncpg.connect(logged.app_dsn) for _ in range(10)]
        try:
            spec = RunSpec(strategy="pool", tasks=30, pool_size=12, queries=1, hold=0.05)
            return await asyncio.to_thread(
                run_experiment, [spec], ServerSpec("dsn", dsn=logged.app_dsn), allow_storm=True
            )
        finally:
            for conn in others:
                await conn.close()

    before = refused_in_log(logged)
    result = asyncio.run(hold_and_run())
    (run,) = result.runs
    kit = kit_count(result)
    assert run.failed == 30 and run.ok == 0
    assert 0 < kit < 30
    assert server_count_since(logged, before, kit) == kit


# psycopg reports a refused connection as psycopg.OperationalError without a SQLSTATE (no psycopg
# API has the server's code for it): the kit's count is that class's, the server's its 53300s.
PSYCOPG_REFUSED = ("psycopg.OperationalError", None)


def _psycopg_refused(result: Result) -> int:
    errors = [e for run in result.runs for e in run.errors]
    return sum(e.count for e in errors if (e.type, e.sqlstate) == PSYCOPG_REFUSED)


def _run_beside_others(server: EmbeddedServer, spec: RunSpec, others: int) -> Result:
    async def hold_and_run() -> Result:
        held = [await asyncpg.connect(server.app_dsn) for _ in range(others)]
        try:
            return await asyncio.to_thread(
                run_experiment, [spec], ServerSpec("dsn", dsn=server.app_dsn), allow_storm=True
            )
        finally:
            for conn in held:
                await conn.close()

    return asyncio.run(hold_and_run())


def test_a_psycopg_pool_that_cannot_fill_counts_every_attempt_its_workers_made(
    logged: EmbeddedServer,
) -> None:
    # 10 sessions of another client leave 6 of the plain role's 16 slots to a pool of 12: its
    # workers are refused, try again after about 1 s and 3 s, until connect_timeout; every
    # attempt is one 53300 in the server's log and one refusal in the kit's count.
    spec = RunSpec("psycopg", tasks=30, pool_size=12, queries=1, hold=0.05, connect_timeout=3)
    before = refused_in_log(logged)
    result = _run_beside_others(logged, spec, 10)
    (run,) = result.runs
    kit = _psycopg_refused(result)
    assert run.failed == 30 and run.ok == 0  # there is no pool
    assert {(e.type, e.sqlstate) for e in run.errors} == {PSYCOPG_REFUSED}  # no code invented
    assert kit > 0
    assert server_count_since(logged, before, kit) == kit
    assert run.peak_connections is not None and run.peak_connections <= 12


def test_a_growing_psycopg_pool_counts_its_refusals_and_serves_with_what_it_has(
    logged: EmbeddedServer,
) -> None:
    # min_size 2 opens before the window; the pool grows under load until the server refuses,
    # then retries in the background while the tasks share the connections it has.
    spec = RunSpec("psycopg", tasks=60, pool_size=12, min_size=2, queries=1, hold=0.3)
    before = refused_in_log(logged)
    result = _run_beside_others(logged, spec, 10)
    (run,) = result.runs
    kit = _psycopg_refused(result)
    assert run.ok == 60 and run.failed == 0
    assert kit > 0 and all(e.tasks == 0 for e in run.errors)  # refused attempts, no task's end
    assert server_count_since(logged, before, kit) == kit
    assert run.peak_connections is not None and 2 <= run.peak_connections < 12
