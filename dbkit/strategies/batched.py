"""Sequential ``gather``s of ``batch_size`` tasks, each task with its own connection."""

from __future__ import annotations

import asyncio

from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies.base import (
    ASYNCPG_PARAMS,
    WORKLOAD_PARAMS,
    Strategy,
    Target,
    Turns,
    connect_task,
    hand_over,
    waves_ideal,
)


async def execute(spec: RunSpec, target: Target, rec: Tally) -> None:
    assert target.app_dsn is not None
    size = spec.effective_batch_size
    rec.begin()
    if spec.open_loop:
        # Arrivals in batches of size: one batch at a time, each task from its arrival.
        turns = Turns(size, spec.tasks)
        await hand_over(
            spec, rec, turns.of(lambda arrived: connect_task(target, spec, rec, arrived))
        )
        rec.end()
        return
    for start in range(0, spec.tasks, size):
        count = min(size, spec.tasks - start)
        # gather: one batch at a time; the next starts only when every task of this one is done.
        await asyncio.gather(*(connect_task(target, spec, rec) for _ in range(count)))
    rec.end()


STRATEGY = Strategy(
    name="batched",
    summary="sequential gathers of batch_size tasks (default: 5 batches, as the post)",
    needs_server=True,
    params=("batch_size", *WORKLOAD_PARAMS, *ASYNCPG_PARAMS),
    execute=execute,
    ideal=lambda spec: waves_ideal(spec, spec.effective_batch_size),
    peak_connections=lambda spec: min(spec.tasks, spec.effective_batch_size),
    label=lambda spec: f"batched-{spec.effective_batch_size}",
    splits=("batch_size",),
    sweeps="batch_size",
    recorded=lambda spec: {"batch_size": spec.effective_batch_size},
)
