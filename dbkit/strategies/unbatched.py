"""One ``gather`` of every task, each opening its own connection: the 100-connection failure."""

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
    rec.begin()
    # gather: all tasks connect at once -- the point of this strategy is the storm.
    await asyncio.gather(*(connect_task(target, spec, rec) for _ in range(spec.tasks)))
    rec.end()


STRATEGY = Strategy(
    name="unbatched",
    summary="one gather of all tasks, one connection each (reproduces SQLSTATE 53300)",
    needs_server=True,
    params=(*WORKLOAD_PARAMS, *ASYNCPG_PARAMS),
    execute=execute,
    ideal=lambda spec: waves_ideal(spec, spec.tasks),
    peak_connections=lambda spec: spec.tasks,
    label=lambda spec: "unbatched",
    splits=(),
)
