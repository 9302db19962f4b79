"""A SQLAlchemy async engine's pool (QueuePool, or NullPool for ``pool_size`` 0) over asyncpg."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies.base import (
    POOL_CLOSE_TIMEOUT_S,
    WORKLOAD_PARAMS,
    Attempt,
    Deadline,
    Strategy,
    Target,
    hand_over,
    handle_requests,
    measured,
    statements,
    waves_ideal,
)

DEFAULT_POOL_TIMEOUT_S = 30.0  # SQLAlchemy's own default, recorded in params when not given


if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# SQLAlchemy is imported where it is used: its ~30,000 objects would otherwise sit on the heap of
# every run, and each full garbage collection walks them (see bench/README.md).


def create_engine(
    dsn: str, settings: Mapping[str, str], connect_timeout: float, **pool: Any
) -> AsyncEngine:
    """An async engine whose connections asyncpg opens from ``dsn`` as every other path does.

    SQLAlchemy's own URL handling would pass a DSN's query options (``?application_name=``,
    ``?sslmode=``) to asyncpg as keyword arguments it does not take; this way the DSN means
    the same to every strategy, and ``settings`` (the run's tag among them) always apply.
    """
    import asyncpg
    from sqlalchemy.ext.asyncio import create_async_engine

    settings = dict(settings)

    def connect() -> Any:  # SQLAlchemy awaits what this returns
        return asyncpg.connect(dsn, timeout=connect_timeout, server_settings=settings)

    return create_async_engine("postgresql+asyncpg://", async_creator=connect, **pool)


def engine_options(spec: RunSpec) -> dict[str, Any]:
    """The pool's keyword arguments given to ``create_async_engine`` for this spec."""
    from sqlalchemy.pool import NullPool

    options: dict[str, Any] = {}
    if spec.pool_size == 0:
        options["poolclass"] = NullPool
    else:
        options.update(
            pool_size=spec.pool_size,
            max_overflow=spec.max_overflow,
            pool_timeout=spec.acquire_timeout or DEFAULT_POOL_TIMEOUT_S,
        )
    return options


async def _prewarm(engine: AsyncEngine, count: int) -> None:
    """Open the pool's steady connections before the measured window, as asyncpg's pool does."""
    conns = [await engine.connect() for _ in range(count)]
    for conn in conns:
        await conn.close()


def _attempt(
    engine: AsyncEngine, spec: RunSpec, rec: Tally
) -> Callable[[Attempt], Awaitable[None]]:
    statement, queries = spec.workload.statement, spec.queries
    commits = spec.sql is not None and spec.commit

    async def attempt(done: Attempt) -> None:
        # The connection's implicit transaction is rolled back on close unless committed.
        async with engine.connect() as conn:
            done.acquired = perf_counter()
            await statements(conn.exec_driver_sql, statement, queries, done, rec)
            if commits:
                await conn.commit()

    return attempt


def _engine(spec: RunSpec, target: Target) -> AsyncEngine:
    assert target.app_dsn is not None
    return create_engine(
        target.app_dsn, target.settings(spec), spec.connect_timeout, **engine_options(spec)
    )


async def execute(spec: RunSpec, target: Target, rec: Tally) -> None:
    engine = _engine(spec, target)
    try:
        try:
            await _prewarm(engine, spec.pool_size)
        except Exception as exc:
            rec.begin()
            # the pool cannot fill: every task fails; the server refused this one connection
            rec.failure(exc, count=spec.tasks, attempts=1)
            rec.end()
            return
        attempt, retries = _attempt(engine, spec, rec), spec.retries
        rec.begin()
        # The tasks wait on the engine's pool, as request handlers do.
        await hand_over(spec, rec, lambda arrived: measured(rec, retries, attempt, arrived))
        rec.end()
    finally:
        # An engine must be disposed before its event loop ends; never reused across runs.
        await engine.dispose()


async def serve(
    spec: RunSpec, target: Target, rec: Tally, deadline: Deadline, concurrency: int
) -> None:
    """One fleet worker: an engine whose pool opens connections on first use, as in a real
    service (no prewarm), under ``concurrency`` request handlers until the deadline."""
    engine = _engine(spec, target)
    rec.pools_opened += 1
    attempt = _attempt(engine, spec, rec)
    try:
        # gather: the worker's request handlers all compete for its engine's pool at once.
        await asyncio.gather(*(handle_requests(rec, deadline, attempt) for _ in range(concurrency)))
    finally:
        # An engine must be disposed before its event loop ends.
        await asyncio.wait_for(engine.dispose(), POOL_CLOSE_TIMEOUT_S)


def _width(spec: RunSpec) -> int:
    return spec.tasks if spec.pool_size == 0 else spec.pool_size + spec.max_overflow


def _label(spec: RunSpec) -> str:
    if spec.pool_size == 0:
        return "sqlalchemy-nullpool"
    return f"sqlalchemy-{spec.pool_size}+{spec.max_overflow}"


def _check(spec: RunSpec) -> None:
    if spec.pool_size == 0 and spec.max_overflow:
        raise ConfigError("pool_size 0 is NullPool, which has no overflow: drop max_overflow")


def _recorded(spec: RunSpec) -> dict[str, Any]:
    params: dict[str, Any] = {
        "poolclass": "NullPool" if spec.pool_size == 0 else "AsyncAdaptedQueuePool"
    }
    if spec.acquire_timeout is None and spec.pool_size > 0:
        params["acquire_timeout"] = DEFAULT_POOL_TIMEOUT_S
    return params


def _prepare() -> None:
    # Before "ready", not after the start: importing SQLAlchemy and its asyncpg dialect takes
    # up to 2 s on a loaded machine, which would eat a short fleet's whole measured window.
    import sqlalchemy.dialects.postgresql.asyncpg
    import sqlalchemy.ext.asyncio  # noqa: F401


STRATEGY = Strategy(
    name="sqlalchemy",
    summary="a SQLAlchemy async engine: pool_size + max_overflow (pool_size 0 = NullPool)",
    needs_server=True,
    params=("pool_size", "max_overflow", "acquire_timeout", *WORKLOAD_PARAMS),
    execute=execute,
    ideal=lambda spec: waves_ideal(spec, _width(spec)),
    peak_connections=lambda spec: min(spec.tasks, _width(spec)),
    label=_label,
    check=_check,
    bounded=lambda spec: spec.pool_size > 0,  # NullPool opens one connection per task
    splits=("pool_size", "max_overflow"),
    sweeps="pool_size",
    driver="sqlalchemy",
    serve=serve,
    recorded=_recorded,
    prepare=_prepare,
)
