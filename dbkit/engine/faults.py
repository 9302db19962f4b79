"""Faults injected during a run: what a service sees when its database misbehaves.

``terminate@T`` ends every backend of the run's workload (pg_terminate_backend) T s into
the run: those whose application_name is the run's tag or one of its members' (a fleet's
services; model.identity), never another client's, whatever its role;
``restart@T`` restarts the server (fast shutdown, then start on the same port and data folder);
``stop@T`` stops it for good. Restart and stop need a server dbkit started itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol

import asyncpg

from dbkit.model.errors import ConfigError
from dbkit.model.faults import Fault, FaultRecord
from dbkit.model.identity import FAULT_APP_NAME, OWNED_BY
from dbkit.model.tally import Tally

RECOVERY_POLL_S = 0.005
WAIT_SLICE_S = 0.05  # how soon a waiting injector notices that the run has ended

TERMINATE_RUN = f"""
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND {OWNED_BY} AND pid <> pg_backend_pid()
"""


@dataclass
class FaultTarget:
    """What an injector needs: a superuser DSN, and server controls if the server is ours."""

    admin_dsn: str
    halt: Callable[[], Awaitable[None]] | None = None
    resume: Callable[[], Awaitable[None]] | None = None

    def check(self, fault: Fault) -> None:
        if fault.kind in ("restart", "stop") and self.halt is None:
            raise ConfigError(f"a {fault.kind} fault needs a server dbkit started (embedded)")


async def perform(fault: Fault, target: FaultTarget, app_name: str) -> int | None:
    """Do the fault's action now; returns how many backends a terminate ended (those whose
    application_name is ``app_name``, the run's tag)."""
    if fault.kind == "terminate":
        conn = await asyncpg.connect(
            target.admin_dsn, timeout=10, server_settings={"application_name": FAULT_APP_NAME}
        )
        try:
            return int(await conn.fetchval(TERMINATE_RUN, app_name))
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
    assert target.halt is not None and target.resume is not None
    await target.halt()
    if fault.kind == "restart":
        await target.resume()
    return None


async def watch_recovery(count: Callable[[], int], running: Callable[[], bool]) -> bool:
    """Wait until ``count()`` grows (a statement succeeded) or ``running()`` turns false."""
    seen = count()
    while count() == seen and running():
        await asyncio.sleep(RECOVERY_POLL_S)
    return count() > seen


class Probe(Protocol):
    """How an injector sees the run it disturbs: one process's tally, or processes' gauges."""

    def window(self) -> float | None:
        """The measured window's start (a perf_counter() value), once it has started."""

    def running(self) -> bool: ...

    async def mark(self) -> None:
        """The action is about to begin: every tally snapshots its failures (returns once
        each has)."""

    def over(self) -> None:
        """The action is over: statements that start from now on count towards recovery."""

    def after(self) -> int:
        """Statements that started after ``over`` and succeeded, so far."""


class TallyProbe:
    """A run in this process: the injector reads and marks its tally directly."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def window(self) -> float | None:
        return self.tally.t0 if self.tally.started else None

    def running(self) -> bool:
        return self.tally.t_end is None

    async def mark(self) -> None:
        self.tally.mark_fault()

    def over(self) -> None:
        self.tally.fault_over()

    def after(self) -> int:
        return self.tally.queries_after_fault


class Injector:
    """Runs one fault at its time and watches for the first successful statement after it;
    the same for one process, ``--procs`` and a fleet (what it watches is its Probe)."""

    def __init__(self, fault: Fault, target: FaultTarget, app_name: str) -> None:
        target.check(fault)
        self.fault = fault
        self.target = target
        self.app_name = app_name  # a terminate ends the backends with this application_name
        self._t0: float | None = None
        self._action_s = 0.0
        self._terminated: int | None = None
        self._recovered_at: float | None = None
        self._fired_at: float | None = None

    async def run(self, probe: Probe) -> None:
        """Ends by itself soon after the run does: the caller waits for it rather than cancel
        it, so that a restart is never left half done (server down) when the run ends early."""
        while (t0 := probe.window()) is None:  # the window starts after pools are ready
            if not probe.running():
                return  # the run ended during its setup
            await asyncio.sleep(RECOVERY_POLL_S)
        self._t0 = t0
        due = t0 + self.fault.at_s
        while probe.running() and (left := due - perf_counter()) > 0:
            await asyncio.sleep(min(left, WAIT_SLICE_S))
        if not probe.running():
            return  # the run ended before the fault was due
        await probe.mark()
        self._fired_at = perf_counter()
        self._terminated = await perform(self.fault, self.target, self.app_name)
        self._action_s = perf_counter() - self._fired_at
        probe.over()
        # Recovery: the first statement that started after the action and succeeded.
        if await watch_recovery(probe.after, probe.running):
            self._recovered_at = perf_counter()

    def record(self, tally: Tally) -> FaultRecord | None:
        """The outcome, once the run is over, from the run's (merged) tally; None if the run
        ended before the fault."""
        if self._fired_at is None or self._t0 is None:
            return None
        failed, errors = tally.since_fault()
        return FaultRecord(
            kind=self.fault.kind,
            at_s=self._fired_at - self._t0,
            action_s=self._action_s,
            recovery_s=None if self._recovered_at is None else self._recovered_at - self._fired_at,
            failed=failed,
            errors_by_sqlstate=errors,
            terminated=self._terminated,
        )
