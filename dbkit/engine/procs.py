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

from dbkit.engine.faults import Injector
from dbkit.engine.monitor import Monitor
from dbkit.engine.observe import counts, observe
from dbkit.engine.processes import LocalProcesses, Share, merge_outcomes
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
    monitor = Monitor(admin_dsn, app_name)

    def tick(start_at: float) -> None:
        if progress is not None:
            done, failed = counts(executor)
            progress(Status.of(done, spec.tasks, done - failed, failed, monitor))

    try:
        executor.start()
        with asyncio.Runner() as runner:
            observed = runner.run(observe(executor, monitor, injector, tick))
    finally:
        executor.close()
    outcomes = observed.outcomes
    tallies, interrupted = merge_outcomes(outcomes)
    tally = tallies.get(spec.name) or Tally.merged([])
    fault = injector.record(tally) if injector is not None else None
    return tally, monitor, interrupted, fault
