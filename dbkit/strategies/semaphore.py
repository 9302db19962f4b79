"""Every task started at once, at most ``limit`` connections open at a time."""

from __future__ import annotations

import asyncio

from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies.base import (
    ASYNCPG_PARAMS,
    WORKLOAD_PARAMS,
    Strategy,
    Target,
    connect_task,
    waves_ideal,
)


async def execute(spec: RunSpec, target: Target, rec: Tally) -> None:
    assert target.app_dsn is not None
    gate = asyncio.Semaphore(spec.limit)

    async def gated() -> None:
        async with gate:
            await connect_task(target, spec, rec)

    rec.begin()
    # gather: all tasks are scheduled; the semaphore, not the gather, bounds the connections.
    await asyncio.gather(*(gated() for _ in range(spec.tasks)))
    rec.end()


STRATEGY = Strategy(
    name="semaphore",
    summary="all tasks started, a semaphore allows at most `limit` open connections",
    needs_server=True,
    params=("limit", *WORKLOAD_PARAMS, *ASYNCPG_PARAMS),
    execute=execute,
    ideal=lambda spec: waves_ideal(spec, min(spec.limit, spec.tasks)),
    peak_connections=lambda spec: min(spec.limit, spec.tasks),
    label=lambda spec: f"semaphore-{spec.limit}",
    bounded=lambda spec: True,
    splits=("limit",),
    sweeps="limit",
)
