"""One ``gather`` of every task, each opening its own connection: the 100-connection failure."""

from __future__ import annotations

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
    rec.begin()
    # Every task connects as it arrives -- in a burst, all at once: the point is the storm.
    await hand_over(spec, rec, lambda arrived: connect_task(target, spec, rec, arrived))
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
