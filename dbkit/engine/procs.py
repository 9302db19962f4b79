"""One run split over several OS processes (``--procs``), merged back into one tally.

A single asyncio process tops out well below what PostgreSQL serves on two cores; ``--procs N``
gives each of N processes its share of the tasks and of the pool (or limit, batch: the knobs
the strategy declares it splits), starts them together through the process layer
(engine/processes.py), and merges their tallies. The monitor and a fault's injector stay in
this process; every process's connections carry the run's one tag (application_name).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter
from typing import Any

from dbkit.engine import interrupts
from dbkit.engine.faults import Injector
from dbkit.engine.monitor import Monitor
from dbkit.engine.processes import (
    START_AHEAD_S,
    LocalProcesses,
    ProcessProbe,
    Share,
    merge_outcomes,
)
from dbkit.engine.status import Status
from dbkit.engine.units import Burst
from dbkit.model.faults import FaultRecord
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies.shares import split


def run_split(
    spec: RunSpec,
    app_dsn: str,
    admin_dsn: str,
    loop: str,
    app_name: str,
    progress: Callable[[Status], None] | None = None,
    injector: Injector | None = None,
) -> tuple[Tally, Monitor, bool, FaultRecord | None]:
    """Run ``spec`` over ``spec.procs`` processes, every connection tagged ``app_name``; return
    the merged tally, the monitor, whether Ctrl-C stopped any process before its share was done
    (what every process measured until then is in the tally), and the fault's record."""
    shares = [
        Share(i, (Burst(spec.name, part),), app_dsn, app_name, loop)
        for i, part in enumerate(split(spec, spec.procs))
    ]
    executor = LocalProcesses(shares)
    try:
        executor.start()
        with asyncio.Runner() as runner:
            outcomes, monitor = runner.run(
                interrupts.cancellable(
                    _observe(executor, Monitor(admin_dsn, app_name), spec, progress, injector)
                )
            )
    finally:
        executor.close()
    tallies, interrupted = merge_outcomes(outcomes)
    tally = tallies.get(spec.name) or Tally.merged([])
    fault = injector.record(tally) if injector is not None else None
    return tally, monitor, interrupted, fault


async def _observe(
    executor: LocalProcesses,
    monitor: Monitor,
    spec: RunSpec,
    progress: Callable[[Status], None] | None,
    injector: Injector | None,
) -> tuple[list[Any], Monitor]:
    def tick() -> None:
        if progress is not None:
            failed = executor.failed()  # first: a process publishes done, then failed
            done = max(executor.done(), failed)
            progress(Status.of(done, spec.tasks, done - failed, failed, monitor))

    async with monitor:
        start_at = perf_counter() + START_AHEAD_S
        probe = ProcessProbe(executor, start_at)
        injecting = asyncio.create_task(injector.run(probe)) if injector is not None else None
        try:
            outcomes = await executor.collect(start_at, None, tick)
        finally:
            probe.finished = True
            if injecting is not None:
                # gather: the injector ends by itself once the run has (never mid-restart)
                await asyncio.gather(injecting, return_exceptions=True)
    return outcomes, monitor
