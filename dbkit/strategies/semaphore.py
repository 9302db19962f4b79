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
    hand_over,
    waves_ideal,
)


async def execute(spec: RunSpec, target: Target, rec: Tally) -> None:
    assert target.app_dsn is not None
    gate = asyncio.Semaphore(spec.limit)

    async def gated(arrived: float) -> None:
        async with gate:
            await connect_task(target, spec, rec, arrived)

    rec.begin()
    # Every task is started as it arrives; the semaphore bounds the connections.
    await hand_over(spec, rec, gated)
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
