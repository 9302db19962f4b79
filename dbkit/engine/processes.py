"""The process layer: load spread over worker processes, started together, collected, merged.

``--procs`` and the fleet both hand a list of Shares (what each process runs) to an executor.
The executor is the one seam for *where* the work runs: ``LocalProcesses`` runs each share in
a "spawn" process of this machine (no state inherited). Its life: spawn, every process imports
what it needs and says "ready"; one common start time (a perf_counter() value, system-wide
monotonic on Linux) is sent to all; each runs its units in one event loop and sends back one
Tally per group; the parent meanwhile publishes progress and fault marks through shared gauges
and, on Ctrl-C, tells every process to stop (STOP_SIGNAL) and still collects what each measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from time import perf_counter
from typing import Any, Protocol

from dbkit.engine.loops import loop_factory, quiet_driver_logs
from dbkit.model.dsn import mask_text
from dbkit.model.error_counts import type_name
from dbkit.model.errors import DbkitError
from dbkit.model.tally import Tally

STOP_SIGNAL = signal.SIGUSR1  # the parent's "stop now" (Ctrl-C): results so far still count
PROCESS_READY_S = 120.0  # spawned processes import asyncpg and SQLAlchemy before they are ready
START_WAIT_S = 120.0  # a process never waits longer than this for the start signal
PIPE_POLL_S = 0.05  # how often the parent looks at its pipes
GAUGE_S = 0.02  # how often a process publishes its counts and looks for a fault mark
STOP_POLL_S = 0.05  # how often a process looks for the parent's "stop now"
REAP_WAIT_S = 5.0  # a process that does not end by itself after this long is terminated

MARK_WAIT_S = 2.0  # the longest a fault waits for every process to have marked its tallies

# Shared per process: what it has done (progress), its successes after a fault (the fault's
# recovery watch), the parent's fault state (1: its action begins, 2: it is over) and the
# process's answer (1: its tallies are marked); of what it has done, the tasks that failed.
G_DONE, G_AFTER_FAULT, G_FAULT, G_MARKED, G_FAILED, GAUGES = 0, 1, 2, 3, 4, 5

_stop = {"count": 0}


def _request_stop(signum: int, frame: Any) -> None:
    _stop["count"] += 1


def stop_requests() -> int:
    """How many times the parent has said "stop now" (a second time: stop closing gracefully)."""
    return int(_stop["count"])


class Unit(Protocol):
    """One piece of a share's work: its tallies are keyed by ``group`` (a run, a service).
    A unit that ``ends_on_stop`` ends by itself at the parent's first "stop now"."""

    @property
    def group(self) -> str: ...

    @property
    def ends_on_stop(self) -> bool: ...

    async def run(
        self,
        app_dsn: str,
        app_name: str,
        tally: Tally,
        start_at: float,
        stopped: Callable[[], bool],
    ) -> None: ...

    def prepare(self) -> None:
        """Imports and checks before "ready", so the common start is not spent importing."""


@dataclass(frozen=True)
class Share:
    """What one worker process runs: its units, against ``app_dsn``, every connection tagged
    ``app_name`` (the run's tag, the same in every process)."""

    index: int
    units: tuple[Unit, ...]
    app_dsn: str
    app_name: str
    loop: str = "asyncio"
    sample_cap: int | None = None  # latency samples kept per group (None: all)


@dataclass(frozen=True)
class Outcome:
    """What one process sent back: a tally per group, and whether a stop cut it short."""

    tallies: dict[str, Tally]
    interrupted: bool


async def run_share(
    share: Share, start_at: float, gauges: Any = None, stops: Callable[[], int] = stop_requests
) -> Outcome:
    """A share's units, started together at ``start_at``; the process's side of the layer.

    ``stops`` counts the coordinator's "stop now" requests: this process's STOP_SIGNALs by
    default; an executor whose shares share a process with others (a Dask worker) gives each
    share its own count."""
    tallies: dict[str, Tally] = {}
    for unit in share.units:
        tallies.setdefault(unit.group, Tally(share.sample_cap, seed=share.index))
    await asyncio.sleep(max(0.0, start_at - perf_counter()))

    def stopped() -> bool:
        return stops() > 0

    async def every_unit() -> None:
        # gather: every unit of this process starts at the common time, as a deploy does.
        await asyncio.gather(
            *(
                u.run(share.app_dsn, share.app_name, tallies[u.group], start_at, stopped)
                for u in share.units
            )
        )

    # A task, not the gather itself: a cancelled gather reports a CancelledError as its
    # outcome without counting as cancelled; a cancelled task does.
    work = asyncio.ensure_future(every_unit())
    graceful = all(unit.ends_on_stop for unit in share.units)
    helpers = [asyncio.create_task(_stop_on_request(work, 2 if graceful else 1, stops))]
    if gauges is not None:
        helpers.append(asyncio.create_task(_publish(share.index, gauges, tallies)))
    try:
        await asyncio.wait([work])
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if gauges is not None:
            _gauge_out(share.index, gauges, tallies)
    interrupted = work.cancelled() or stops() > 0
    if not work.cancelled():
        work.result()  # a failure of the work itself is the process's failure
    for tally in tallies.values():
        if tally.t_end is None:
            tally.end()
    return Outcome(tallies, interrupted)


async def _stop_on_request(
    work: asyncio.Future[Any], cancel_from: int, stops: Callable[[], int]
) -> None:
    # The parent's Ctrl-C arrives as STOP_SIGNAL. Units that run for a duration end by
    # themselves at the first (their deadline reads the count); a burst is cancelled, as Ctrl-C
    # does in one process; each later signal cancels whatever still runs (pools close abruptly).
    seen = 0
    while True:
        if stops() > seen:
            seen = stops()
            if seen >= cancel_from:
                work.cancel()
        await asyncio.sleep(STOP_POLL_S)


def _gauge_out(index: int, gauges: Any, tallies: dict[str, Tally]) -> None:
    base = index * GAUGES
    gauges[base + G_DONE] = sum(t.done for t in tallies.values())
    gauges[base + G_FAILED] = sum(t.failed for t in tallies.values())
    gauges[base + G_AFTER_FAULT] = sum(t.queries_after_fault for t in tallies.values())


async def _publish(index: int, gauges: Any, tallies: dict[str, Tally]) -> None:
    base = index * GAUGES
    while True:  # on a timer, never per task
        fault = gauges[base + G_FAULT]
        if fault:
            for tally in tallies.values():
                tally.fault_over() if fault >= 2 else tally.mark_fault()
            gauges[base + G_MARKED] = 1.0
        _gauge_out(index, gauges, tallies)
        await asyncio.sleep(GAUGE_S)


def serve(conn: Connection, share: Share, gauges: Any = None) -> None:
    """A spawned process's life: prepare, say "ready", wait for the start time, run the share
    in one event loop, send ("done", Outcome) or ("error", text).

    The parent owns Ctrl-C, so the process ignores SIGINT; the parent sends STOP_SIGNAL.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(STOP_SIGNAL, _request_stop)
    from dbkit.engine.guards import raise_fd_limit

    quiet_driver_logs()
    try:
        raise_fd_limit()
        factory = loop_factory(share.loop)
        for unit in share.units:
            unit.prepare()
        conn.send(("ready", None))
        if not conn.poll(START_WAIT_S):
            return
        kind, start_at = conn.recv()
        if kind != "start":
            return
        with asyncio.Runner(loop_factory=factory) as runner:
            outcome = runner.run(run_share(share, start_at, gauges))
        conn.send(("done", outcome))
    except (EOFError, BrokenPipeError):
        return  # the parent is gone: nothing to report to
    except Exception as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type_name(type(exc))}: {mask_text(str(exc))[:500]}"))
    finally:
        conn.close()


class LocalProcesses:
    """The local executor: one "spawn" process per share, on this machine."""

    kind = "local"
    # The common start lies this far ahead of the start signal: time for every process to
    # read it from its pipe.
    start_ahead_s = 0.3

    def __init__(self, shares: Sequence[Share]) -> None:
        ctx = get_context("spawn")
        self.shares = list(shares)
        self.gauges = ctx.Array("d", GAUGES * len(self.shares), lock=False)
        self.children: list[tuple[BaseProcess, Connection]] = []

    def start(self) -> None:
        """Spawn every process and wait until each says it is ready."""
        ctx = get_context("spawn")
        for share in self.shares:
            parent_end, child_end = ctx.Pipe()
            proc: BaseProcess = ctx.Process(
                target=serve, args=(child_end, share, self.gauges), name=f"dbkit-load-{share.index}"
            )
            proc.daemon = True  # multiprocessing ends it if the parent exits first
            proc.start()
            child_end.close()
            self.children.append((proc, parent_end))
        deadline = perf_counter() + PROCESS_READY_S
        for proc, conn in self.children:
            while not conn.poll(PIPE_POLL_S):
                if not proc.is_alive():
                    raise DbkitError(f"load process {proc.name} exited before it was ready")
                if perf_counter() > deadline:
                    raise DbkitError(
                        f"load process {proc.name} not ready after {PROCESS_READY_S} s"
                    )
            kind, detail = _receive(proc, conn)
            if kind != "ready":
                raise DbkitError(f"load process {proc.name} failed to start: {detail}")

    def done(self) -> int:
        """Tasks done so far in every process (published on a timer)."""
        return int(sum(self.gauges[i * GAUGES + G_DONE] for i in range(len(self.shares))))

    def failed(self) -> int:
        """Tasks failed so far in every process (published on a timer, with ``done``)."""
        return int(sum(self.gauges[i * GAUGES + G_FAILED] for i in range(len(self.shares))))

    def after_fault(self) -> int:
        """Statements that started after the fault's mark and succeeded, in every process."""
        return int(sum(self.gauges[i * GAUGES + G_AFTER_FAULT] for i in range(len(self.shares))))

    async def mark_fault(self) -> None:
        """Every process snapshots its tallies' failures before a fault's action begins."""
        count = len(self.shares)
        for i in range(count):
            self.gauges[i * GAUGES + G_FAULT] = 1.0
        deadline = perf_counter() + MARK_WAIT_S
        while perf_counter() < deadline and not all(
            self.gauges[i * GAUGES + G_MARKED] for i in range(count)
        ):
            await asyncio.sleep(GAUGE_S / 4)

    def fault_over(self) -> None:
        for i in range(len(self.shares)):
            self.gauges[i * GAUGES + G_FAULT] = 2.0

    async def collect(
        self, start_at: float, give_up: float | None, tick: Callable[[], None] | None = None
    ) -> list[Outcome]:
        """Send the start; await every process's outcome (those of a Ctrl-C too: the processes
        are told to stop and what they measured is kept). ``give_up`` is a perf_counter() time
        after which processes still working are a failure."""
        for _, conn in self.children:
            conn.send(("start", start_at))
        outcomes: dict[int, Outcome] = {}
        while len(outcomes) < len(self.children):
            for i, (proc, conn) in enumerate(self.children):
                if i in outcomes:
                    continue
                if conn.poll(0):
                    kind, payload = _receive(proc, conn)
                    if kind != "done":
                        raise DbkitError(f"load process {proc.name} failed: {payload}")
                    outcomes[i] = payload
                elif not proc.is_alive():
                    raise DbkitError(f"load process {proc.name} exited without a report")
            if tick is not None:
                tick()
            if len(outcomes) == len(self.children):
                break
            if give_up is not None and perf_counter() > give_up:
                raise DbkitError(f"load processes did not finish by {give_up - start_at:.0f} s")
            try:
                await asyncio.sleep(PIPE_POLL_S)
            except asyncio.CancelledError:
                # Ctrl-C or SIGTERM (each one): every process still working stops and reports
                # what it measured, which is awaited and kept.
                for i, (proc, _) in enumerate(self.children):
                    if i not in outcomes and proc.pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(proc.pid, STOP_SIGNAL)
        return [outcomes[i] for i in sorted(outcomes)]

    def close(self, wait: float = REAP_WAIT_S) -> None:
        """Join every process; terminate, then kill, whichever does not end: no orphans."""
        for _, conn in self.children:
            conn.close()  # a process still waiting for the start signal sees EOF and exits
        for proc, _ in self.children:
            proc.join(wait)
            if proc.is_alive():
                proc.terminate()
                proc.join(REAP_WAIT_S)
            if proc.is_alive():
                proc.kill()
                proc.join()
            proc.close()
        self.children = []

    def describe(self) -> dict[str, Any]:
        """The result's ``executor`` metadata: local processes, how many, on this host."""
        return {"kind": self.kind, "workers": len(self.shares), "hosts": [socket.gethostname()]}


def _receive(proc: BaseProcess, conn: Connection) -> tuple[str, Any]:
    try:
        kind, payload = conn.recv()
    except (EOFError, OSError):
        raise DbkitError(f"load process {proc.name} exited without a report") from None
    return str(kind), payload


def merge_outcomes(outcomes: Sequence[Outcome]) -> tuple[dict[str, Tally], bool]:
    """One tally per group over every process, and whether any was stopped early."""
    groups: dict[str, list[Tally]] = {}
    for outcome in outcomes:
        for group, tally in outcome.tallies.items():
            groups.setdefault(group, []).append(tally)
    merged = {group: Tally.merged(parts) for group, parts in groups.items()}
    return merged, any(o.interrupted for o in outcomes)
