"""An asyncpg pool: every task acquires one of ``pool_size`` connections, then releases it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

import asyncpg

from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies.base import (
    ASYNCPG_PARAMS,
    POOL_RETRY_S,
    WORKLOAD_PARAMS,
    Attempt,
    Deadline,
    Strategy,
    Target,
    asyncpg_options,
    close_pool,
    hand_over,
    handle_requests,
    measured,
    open_pool,
    run_statements,
    waves_ideal,
)


def _min_size(spec: RunSpec) -> int:
    return spec.pool_size if spec.min_size is None else spec.min_size


def _attempt(pool: asyncpg.Pool, spec: RunSpec, rec: Tally) -> Callable[[Attempt], Awaitable[None]]:
    timeout = spec.acquire_timeout

    async def attempt(done: Attempt) -> None:
        async with pool.acquire(timeout=timeout) as conn:
            done.acquired = perf_counter()
            await run_statements(conn, spec, done, rec)

    return attempt


async def execute(spec: RunSpec, target: Target, rec: Tally) -> None:
    assert target.app_dsn is not None
    # min_size connections open here, before the measured window, as at a service's start.
    pool, failures = await open_pool(
        target.app_dsn, _min_size(spec), spec.pool_size, spec.connect_timeout,
        target.settings(spec), asyncpg_options(spec),
    )  # fmt: skip
    if pool is None:
        rec.begin()
        for exc in failures:  # each connection the server refused, as its log counts them
            rec.refused(exc)
        # no pool: every task fails, with the first error its connections met
        rec.failure(failures[0], count=spec.tasks, attempts=0)
        rec.end()
        return
    attempt, retries = _attempt(pool, spec, rec), spec.retries
    try:
        rec.begin()
        # The tasks wait on the pool, as request handlers of a service do.
        await hand_over(spec, rec, lambda arrived: measured(rec, retries, attempt, arrived))
        rec.end()
    finally:
        await close_pool(pool)


async def serve(
    spec: RunSpec, target: Target, rec: Tally, deadline: Deadline, concurrency: int
) -> None:
    """One fleet worker: its pool opens min_size connections (each one the server refuses is a
    failed request, as its log counts it; the pool is tried again every POOL_RETRY_S), then
    ``concurrency`` request handlers share it until the deadline."""
    assert target.app_dsn is not None
    pool: asyncpg.Pool | None = None
    while pool is None and deadline.left() > 0:
        pool, failures = await open_pool(
            target.app_dsn, _min_size(spec), spec.pool_size, spec.connect_timeout,
            target.settings(spec), asyncpg_options(spec),
        )  # fmt: skip
        for exc in failures:
            rec.failure(exc)
        if pool is None:  # the worker cannot serve yet
            await asyncio.sleep(max(0.0, min(POOL_RETRY_S, deadline.left())))
    if pool is None:
        return
    rec.pools_opened += 1
    attempt = _attempt(pool, spec, rec)
    try:
        # gather: the worker's request handlers all compete for its pool at once.
        await asyncio.gather(*(handle_requests(rec, deadline, attempt) for _ in range(concurrency)))
    finally:
        await close_pool(pool)


def _check(spec: RunSpec) -> None:
    if spec.pool_size < 1:
        raise ConfigError(f"pool_size must be at least 1 (got {spec.pool_size})")


def _recorded(spec: RunSpec) -> dict[str, Any]:
    return {"min_size": _min_size(spec)}


STRATEGY = Strategy(
    name="pool",
    summary="an asyncpg pool of pool_size connections (min_size = pool_size unless given)",
    needs_server=True,
    params=("pool_size", "min_size", "acquire_timeout", *WORKLOAD_PARAMS, *ASYNCPG_PARAMS),
    execute=execute,
    ideal=lambda spec: waves_ideal(spec, spec.pool_size),
    peak_connections=lambda spec: spec.pool_size,
    label=lambda spec: f"pool-{spec.pool_size}",
    check=_check,
    bounded=lambda spec: True,
    splits=("pool_size", "min_size"),
    sweeps="pool_size",
    driver="asyncpg",
    serve=serve,
    recorded=_recorded,
)
