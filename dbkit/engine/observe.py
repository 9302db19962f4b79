"""Work spread over an executor's processes, watched from this one: the monitor, the common
start, a fault's injector, and the collection of every process's outcome.

``--procs`` and the fleet both measure this way. Ctrl-C (and SIGTERM, which takes its path)
cancels only the collection, each time it comes: the executor then tells its processes to stop
and still collects what each measured. The monitor's last sample and the injector's end are
never cut short by a signal, so however many signals arrive (a key held down) what every
process measured is returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol

from dbkit.engine import interrupts
from dbkit.engine.faults import Injector
from dbkit.engine.monitor import Monitor
from dbkit.engine.processes import Outcome


class Executor(Protocol):
    """Where the shares run (engine/processes.LocalProcesses is the local one): started,
    collected from a common start ``start_ahead_s`` after the start signal (the executor's own
    lead: the time its start takes to reach every share), with gauges a fault's injector and
    the progress read, and described for the result's metadata."""

    kind: str
    start_ahead_s: float

    async def collect(
        self, start_at: float, give_up: float | None, tick: Callable[[], None] | None = None
    ) -> Sequence[Outcome]: ...

    def done(self) -> int: ...

    def failed(self) -> int: ...

    def after_fault(self) -> int: ...

    async def mark_fault(self) -> None: ...

    def fault_over(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class ProcessProbe:
    """How a fault's injector sees work spread over processes: the executor's gauges."""

    def __init__(self, executor: Executor, start_at: float) -> None:
        self.executor = executor
        self.start_at = start_at
        self.finished = False  # set once every outcome is in

    def window(self) -> float | None:
        return self.start_at

    def running(self) -> bool:
        return not self.finished

    async def mark(self) -> None:
        await self.executor.mark_fault()

    def over(self) -> None:
        self.executor.fault_over()

    def after(self) -> int:
        return self.executor.after_fault()


@dataclass(frozen=True)
class Observed:
    """What ``observe`` returns: every process's outcome, the common start (a perf_counter()
    time), and the server's client connections seen before it (other people's)."""

    outcomes: list[Outcome]
    start_at: float
    in_use: int


def counts(executor: Executor) -> tuple[int, int]:
    """(done, failed) so far over every process, read in the order the processes publish them
    (done, then failed), so failed never exceeds done."""
    failed = executor.failed()
    return max(executor.done(), failed), failed


async def observe(
    executor: Executor,
    monitor: Monitor,
    injector: Injector | None = None,
    tick: Callable[[float], None] | None = None,
    give_up_after: float | None = None,
) -> Observed:
    """Monitor the server, give the started executor its common start, run the injector, and
    collect every outcome (those measured until a Ctrl-C too). ``tick(start_at)`` is called on
    every look at the processes and once at the end; processes still working ``give_up_after``
    seconds after the start are a failure."""
    async with monitor:
        in_use = monitor.samples[0][2]  # clients other than ours, before the start
        start_at = perf_counter() + executor.start_ahead_s
        probe = ProcessProbe(executor, start_at)
        injecting = asyncio.create_task(injector.run(probe)) if injector is not None else None
        give_up = None if give_up_after is None else start_at + give_up_after
        collecting = asyncio.ensure_future(
            executor.collect(start_at, give_up, None if tick is None else lambda: tick(start_at))
        )
        try:
            # Let the collection reach its first wait before a signal may cancel it: cancelled
            # at that wait, it stops the processes and still collects; cancelled before its
            # first step, it would never have run.
            await asyncio.sleep(0)
            with interrupts.cancelling(collecting):
                await asyncio.wait([collecting])
        finally:
            probe.finished = True
            if injecting is not None:
                # gather: the injector ends by itself once the run has (never mid-restart)
                await asyncio.gather(injecting, return_exceptions=True)
        outcomes = list(collecting.result())
        if tick is not None:
            tick(start_at)
    return Observed(outcomes, start_at, in_use)
