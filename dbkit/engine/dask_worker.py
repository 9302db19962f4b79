"""A Dask worker's side of a fleet: what runs in the worker process (engine/dask_cluster.py
is the coordinator's side, and the only module that imports ``distributed``).

A share runs as an ``async def`` task on the worker's event loop: it prepares its units, says
"ready", waits for the common start, and runs them with ``run_share``, as a local process
does. What a local process shares with its parent through memory (progress, the fault's
marks, "stop now") lives here in a registry of the worker process, per fleet and share; the
coordinator reads and writes it on a timer with one broadcast (``sync``), never per task. Each
share has its own stop count, since one worker process may serve several fleets in turn.

The common start: the coordinator sends its start as a perf_counter() value, the wall-clock
time of that instant and its boot id. A worker on the same boot of the same machine (a
LocalCluster, a container on this host) shares the monotonic clock and starts at exactly that
value; a worker on another host starts when its wall clock reads the sent time (hosts kept in
step by NTP), and shifts its tallies onto the coordinator's clock before sending them back.
A wall-clock time rather than a ``distributed.Event``: every worker starts at the same instant
whatever the broadcast's latency, and the tallies need that instant in the worker's clock
anyway to be merged with the coordinator's samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from dbkit.engine.guards import raise_fd_limit
from dbkit.engine.loops import quiet_driver_logs
from dbkit.engine.machine import package_version
from dbkit.engine.processes import (
    G_AFTER_FAULT,
    G_DONE,
    G_FAILED,
    G_FAULT,
    G_MARKED,
    GAUGES,
    START_WAIT_S,
    Outcome,
    Share,
    run_share,
)
from dbkit.model.errors import DbkitError

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This boot of this machine (Linux): processes with the same one share perf_counter()."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class Start:
    """The common start as the coordinator sends it: its perf_counter() value, the wall-clock
    time of that instant, and the coordinator's boot id."""

    at: float
    wall: float
    boot: str | None

    def local(self) -> tuple[float, float]:
        """(the start in this process's perf_counter(), the offset of this clock from the
        coordinator's: 0 on the same boot of the same machine)."""
        if self.boot is not None and self.boot == boot_id():
            return self.at, 0.0
        local = perf_counter() + (self.wall - time.time())
        return local, local - self.at


class ShareGauges:
    """A share's gauges, indexed as run_share's publisher indexes a local process's."""

    def __init__(self, index: int) -> None:
        self.base = index * GAUGES
        self.values = [0.0] * GAUGES
        self.ready = False

    def __getitem__(self, i: int) -> float:
        return self.values[i - self.base]

    def __setitem__(self, i: int, value: float) -> None:
        self.values[i - self.base] = value


@dataclass
class FleetState:
    """One fleet's state in this worker process."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    start: Start | None = None
    stops: int = 0
    shares: dict[int, ShareGauges] = field(default_factory=dict)


# The worker process's fleets, by the coordinator's key. Tasks and the coordinator's calls
# (Client.run) both run on the worker's event loop, one at a time: no lock is needed.
FLEETS: dict[str, FleetState] = {}


@dataclass(frozen=True)
class Report:
    """What a share's task sends back: its outcome (None: the fleet was closed before its
    start), how late the start reached it (seconds; <= 0: in time) and its clock's offset."""

    outcome: Outcome | None
    late_s: float
    offset_s: float


async def serve_share(fleet: str, share: Share) -> Report:
    """The task: prepare, say ready, wait for the start, run the share, report."""
    state = FLEETS.setdefault(fleet, FleetState())
    gauges = state.shares[share.index] = ShareGauges(share.index)
    try:
        quiet_driver_logs()
        raise_fd_limit()
        for unit in share.units:
            unit.prepare()
        gauges.ready = True
        try:
            await asyncio.wait_for(state.started.wait(), START_WAIT_S)
        except TimeoutError:
            raise DbkitError(f"no start signal within {START_WAIT_S:.0f} s") from None
        if state.start is None:  # closed before it started
            return Report(None, 0.0, 0.0)
        start_at, offset = state.start.local()
        late = perf_counter() - start_at
        outcome = await run_share(share, start_at, gauges, stops=lambda: state.stops)
        if offset:
            for tally in outcome.tallies.values():
                tally.shift(-offset)
        return Report(outcome, late, offset)
    finally:
        del state.shares[share.index]
        if not state.shares:
            FLEETS.pop(fleet, None)


def begin(fleet: str, start: Start) -> None:
    """The coordinator's start, to every share of ``fleet`` in this process."""
    state = FLEETS.get(fleet)
    if state is not None and state.start is None:
        state.start = start
        state.started.set()


def sync(fleet: str, fault: float, stops: int) -> dict[int, tuple[float, ...]]:
    """The coordinator's timer: its fault state and stop count in, each share's gauges out
    (done, failed, after_fault, marked, ready)."""
    state = FLEETS.get(fleet)
    if state is None:
        return {}
    state.stops = max(state.stops, stops)
    out: dict[int, tuple[float, ...]] = {}
    for index, gauges in state.shares.items():
        if fault > gauges.values[G_FAULT]:  # 1: a fault's action begins, 2: it is over
            gauges.values[G_FAULT] = fault
        v = gauges.values
        out[index] = (v[G_DONE], v[G_FAILED], v[G_AFTER_FAULT], v[G_MARKED], float(gauges.ready))
    return out


def close(fleet: str) -> None:
    """The coordinator is done with ``fleet``: whatever still runs is cancelled (as a second
    Ctrl-C cancels it), a share still waiting for its start returns at once."""
    state = FLEETS.get(fleet)
    if state is not None:
        state.stops = max(state.stops, 2)
        state.started.set()


def describe(dask_worker: Any = None) -> dict[str, Any]:
    """This worker process: its host, boot, pid, dbkit version, event loop, task slots and
    whether Dask's statistical profiler samples it."""
    import dask.config

    return {
        "host": socket.gethostname(),
        "boot": boot_id(),
        "pid": os.getpid(),
        "dbkit": package_version("dbkit"),
        "loop": type(asyncio.get_running_loop()).__name__,
        "nthreads": None if dask_worker is None else int(dask_worker.state.nthreads),
        "profiler": bool(dask.config.get("distributed.worker.profile.enabled", True)),
    }


def ignore_interrupts() -> None:
    """A LocalCluster's worker processes are in this terminal's process group: Ctrl-C is the
    coordinator's to handle (it stops the shares and keeps what they measured), as a local
    load process ignores SIGINT."""
    with contextlib.suppress(ValueError):  # not the main thread: nothing to change
        signal.signal(signal.SIGINT, signal.SIG_IGN)
