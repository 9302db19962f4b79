"""An asyncpg pool: every task acquires one of ``pool_size`` connections, then releases it."""

from __future__ import annotations

import asyncio
from time import perf_counter

from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies.base import (
    WORKLOAD_PARAMS,
    Attempt,
    Strategy,
    Target,
    close_pool,
    measured,
    open_pool,
    run_statements,
    waves_ideal,
)


async def execute(spec: RunSpec, target: Target, rec: Tally) -> None:
    assert target.app_dsn is not None
    min_size = spec.pool_size if spec.min_size is None else spec.min_size
    # min_size connections open here, before the measured window, as at a service's start.
    pool, failures = await open_pool(
        target.app_dsn, min_size, spec.pool_size, spec.connect_timeout, target.settings(spec)
    )
    if pool is None:
        rec.begin()
        for exc in failures:  # each connection the server refused, as its log counts them
            rec.refused(exc)
        # no pool: every task fails, with the first error its connections met
        rec.failure(failures[0], count=spec.tasks, attempts=0)
        rec.end()
        return
    timeout, retries = spec.acquire_timeout, spec.retries

    async def attempt(done: Attempt) -> None:
        async with pool.acquire(timeout=timeout) as conn:
            done.acquired = perf_counter()
            await run_statements(conn, spec, done, rec)

    try:
        rec.begin()
        # gather: all tasks wait on the pool at once, as request handlers of a service do.
        await asyncio.gather(*(measured(rec, retries, attempt) for _ in range(spec.tasks)))
        rec.end()
    finally:
        await close_pool(pool)


STRATEGY = Strategy(
    name="pool",
    summary="an asyncpg pool of pool_size connections (min_size = pool_size unless given)",
    needs_server=True,
    params=("pool_size", "min_size", "acquire_timeout", *WORKLOAD_PARAMS),
    execute=execute,
    ideal=lambda spec: waves_ideal(spec, spec.pool_size),
    peak_connections=lambda spec: spec.pool_size,
)
