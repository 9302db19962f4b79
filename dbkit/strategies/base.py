"""What a strategy is, and what every task shares: statements, retries, outcome recording."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol

import asyncpg

from dbkit.model.identity import tagged
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally

RETRY_BASE_S = 0.05  # a task's first backoff before it tries again; doubled each time
RETRY_CAP_S = 1.0  # the longest backoff
POOL_CLOSE_TIMEOUT_S = 10.0  # a pool or engine closing gracefully; then it is terminated
CONNECTION_CLOSE_TIMEOUT_S = 5.0  # one task's own connection closing; then it is terminated
# The engine (fleet.py, fleet_worker.py) still imports the pool's under its old name.
CLOSE_TIMEOUT_S = POOL_CLOSE_TIMEOUT_S


@dataclass(frozen=True)
class Target:
    """Where the workload connects: the app DSN (None for strategies without a database), and
    the run's tag (dbkit.model.identity), the application_name of every connection it opens."""

    app_dsn: str | None
    app_name: str

    def settings(self, spec: RunSpec) -> dict[str, str]:
        """The session settings of every workload connection: the spec's, and the tag."""
        return tagged(spec.server_settings, self.app_name)


Execute = Callable[[RunSpec, Target, Tally], Awaitable[None]]


@dataclass(frozen=True)
class Strategy:
    """A concurrency strategy: how it runs, what it can cost the server, its ideal time."""

    name: str
    summary: str
    needs_server: bool
    params: tuple[str, ...]
    execute: Execute
    ideal: Callable[[RunSpec], float | None]
    peak_connections: Callable[[RunSpec], int | None]


WORKLOAD_PARAMS = (
    "queries", "hold", "sql", "connect_timeout", "statement_timeout", "retries", "fault", "procs",
)  # fmt: skip


def waves_ideal(spec: RunSpec, width: int) -> float | None:
    """``ceil(tasks / width)`` sequential waves, each holding a connection the task's time."""
    hold = spec.workload.task_hold_s
    if hold is None or width < 1:
        return None
    return -(-spec.tasks // width) * hold


class Executes(Protocol):
    async def execute(self, query: str, /) -> Any: ...


class Attempt:
    """One attempt of a task, filled in by the strategy: when its connection was in hand
    (``acquired``, a perf_counter() value) and how many statements succeeded (``queries``)."""

    __slots__ = ("acquired", "queries")

    def __init__(self, arrived: float) -> None:
        self.acquired = arrived
        self.queries = 0


async def run_statements(conn: Executes, spec: RunSpec, done: Attempt, rec: Tally) -> None:
    """The task's statements on one connection; ``done.queries`` counts the successful ones."""
    statement, queries = spec.workload.statement, spec.queries
    if not spec.rolls_back:
        await statements(conn.execute, statement, queries, done, rec)
        return
    await conn.execute("BEGIN")
    try:
        await statements(conn.execute, statement, queries, done, rec)
    except Exception:
        # Roll back here, so that the pool does not release a connection with an open (failed)
        # transaction, which asyncpg resets with a warning per connection on stderr.
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("ROLLBACK")


async def statements(
    execute: Callable[[str], Awaitable[Any]],
    statement: str,
    queries: int,
    done: Attempt,
    rec: Tally,
) -> None:
    """``queries`` times ``execute(statement)`` (asyncpg's execute, SQLAlchemy's
    exec_driver_sql); ``done.queries`` counts the successes, the tally those after a fault."""
    for _ in range(queries):
        after_fault = rec.fault_done
        await execute(statement)
        done.queries += 1
        if after_fault:
            rec.queries_after_fault += 1


async def measured(rec: Tally, retries: int, attempt: Callable[[Attempt], Awaitable[None]]) -> None:
    """Run ``attempt`` up to 1 + ``retries`` times with backoff; record the outcome, never raise.

    The one definition of latency (see dbkit.model.tally): from the task's arrival, the start of
    the measured window (every strategy hands the workload over as one burst), to its
    completion; its wait runs until the successful attempt has its connection (``attempt``
    sets ``acquired`` when it does), so queueing, connecting, retries and their backoff are
    wait, and the rest is service.
    """
    arrived = rec.t0
    tried = 0
    while True:
        done = Attempt(arrived)
        try:
            await attempt(done)
        except Exception as exc:
            if tried < retries:
                tried += 1
                rec.retries += 1
                rec.refused(exc)  # the server counted this attempt too
                await asyncio.sleep(min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (tried - 1)))
                continue
            rec.failure(exc, done.queries)
            return
        rec.success(arrived, done.acquired, done.queries)
        return


async def open_pool(
    dsn: str,
    min_size: int,
    max_size: int,
    connect_timeout: float,
    settings: Mapping[str, str],
) -> tuple[asyncpg.Pool | None, list[BaseException]]:
    """An asyncpg pool with ``min_size`` connections open, as ``create_pool(min_size=...)``
    opens one; or None, its connections closed again, and every failure, when any failed.

    create_pool raises only the first failure of the connections it opens, however many the
    server refused: here each connection is its own acquire and each failure is returned, so
    the kit can count refusals as the server does.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        timeout=connect_timeout,
        server_settings=dict(settings),
    )
    try:
        # gather: the min_size connections open at once; wait for every attempt's outcome.
        opened = await asyncio.gather(
            *(pool.acquire() for _ in range(min_size)), return_exceptions=True
        )
        failures = [o for o in opened if isinstance(o, BaseException)]
        for outcome in opened:
            if not isinstance(outcome, BaseException):
                await pool.release(outcome)
    except BaseException:
        pool.terminate()  # cancelled (the run is stopping): no outcome to count
        raise
    if failures:
        await close_pool(pool)  # as create_pool does when a connection fails
        return None, failures
    return pool, []


async def close_pool(pool: asyncpg.Pool, timeout: float = POOL_CLOSE_TIMEOUT_S) -> None:
    """Graceful close within ``timeout``; on failure or cancellation, terminate and re-raise."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except (Exception, asyncio.CancelledError):
        pool.terminate()
        raise


async def close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await conn.close(timeout=CONNECTION_CLOSE_TIMEOUT_S)
    except Exception:
        conn.terminate()


async def connect_task(target: Target, spec: RunSpec, rec: Tally) -> None:
    """One task with its own connection; its outcome is recorded, never raised."""
    assert target.app_dsn is not None
    dsn, settings = target.app_dsn, target.settings(spec)

    async def attempt(done: Attempt) -> None:
        conn = await asyncpg.connect(dsn, timeout=spec.connect_timeout, server_settings=settings)
        done.acquired = perf_counter()
        try:
            await run_statements(conn, spec, done, rec)
        finally:
            await close_quietly(conn)

    await measured(rec, spec.retries, attempt)
