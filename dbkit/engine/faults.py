"""Faults injected during a run: what a service sees when its database misbehaves.

``terminate@T`` ends every backend of the run's workload (pg_terminate_backend) T s into
the run: those whose application_name is the run's tag (model.identity), never another client's,
whatever its role;
``restart@T`` restarts the server (fast shutdown, then start on the same port and data folder);
``stop@T`` stops it for good. Restart and stop need a server dbkit started itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter

import asyncpg

from dbkit.model.errors import ConfigError
from dbkit.model.faults import Fault, FaultRecord
from dbkit.model.identity import FAULT_APP_NAME
from dbkit.model.results import error_label
from dbkit.model.tally import Tally

RECOVERY_POLL_S = 0.005
WAIT_SLICE_S = 0.05  # how soon a waiting injector notices that the run has ended

TERMINATE_RUN = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND application_name = $1 AND pid <> pg_backend_pid()
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


def _errors_by_state(rec: Tally) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (kind, state), tally in rec.errors.items():
        key = error_label(kind, state)
        counts[key] = counts.get(key, 0) + tally.count
    return counts


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


class Injector:
    """Runs one fault at its time and watches for the first successful statement after it."""

    def __init__(self, fault: Fault, target: FaultTarget, rec: Tally, app_name: str) -> None:
        target.check(fault)
        self.fault = fault
        self.target = target
        self.app_name = app_name
        self.rec = rec
        self._before: tuple[int, dict[str, int]] = (0, {})
        self._action_s = 0.0
        self._terminated: int | None = None
        self._recovered_at: float | None = None
        self._fired_at: float | None = None

    async def run(self) -> None:
        """Ends by itself soon after the run does: the caller waits for it rather than cancel
        it, so that a restart is never left half done (server down) when the run ends early."""
        rec = self.rec
        while not rec.started:  # the measured window starts after pools are ready
            if rec.t_end is not None:
                return  # the run ended during its setup
            await asyncio.sleep(RECOVERY_POLL_S)
        due = rec.t0 + self.fault.at_s
        while rec.t_end is None and (left := due - perf_counter()) > 0:
            await asyncio.sleep(min(left, WAIT_SLICE_S))
        if rec.t_end is not None:
            return  # the run ended before the fault was due
        self._fired_at = perf_counter()
        self._before = (rec.failed, _errors_by_state(rec))
        await self._act()
        self._action_s = perf_counter() - self._fired_at
        # Recovery: the first statement that started after the action and succeeded.
        rec.fault_done = True
        if await watch_recovery(lambda: rec.queries_after_fault, lambda: rec.t_end is None):
            self._recovered_at = perf_counter()

    async def _act(self) -> None:
        self._terminated = await perform(self.fault, self.target, self.app_name)

    def record(self) -> FaultRecord | None:
        """The outcome, once the run is over (None if the run ended before the fault)."""
        if self._fired_at is None:
            return None
        failed_before, errors_before = self._before
        errors_now = _errors_by_state(self.rec)
        return FaultRecord(
            kind=self.fault.kind,
            at_s=self._fired_at - self.rec.t0,
            action_s=self._action_s,
            recovery_s=None if self._recovered_at is None else self._recovered_at - self._fired_at,
            failed=self.rec.failed - failed_before,
            errors_by_sqlstate={
                key: count - errors_before.get(key, 0)
                for key, count in errors_now.items()
                if count > errors_before.get(key, 0)
            },
            terminated=self._terminated,
        )
