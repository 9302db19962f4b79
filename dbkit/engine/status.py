"""What a measurement has done so far, as a progress line shows it: one record for every path
(a run in one process, a run over processes, a fleet), read on a timer, never per task."""

from __future__ import annotations

from dataclasses import dataclass

from dbkit.engine.monitor import Monitor


@dataclass(frozen=True)
class Status:
    """``done`` of ``total`` (tasks; a fleet's seconds), the tasks that succeeded and failed
    so far, and the run's own connections at the monitor's last sample (None without one)."""

    done: float
    total: float
    ok: int
    failed: int
    connections: int | None = None

    @classmethod
    def of(cls, done: float, total: float, ok: int, failed: int, monitor: Monitor | None) -> Status:
        return cls(done, total, ok, failed, None if monitor is None else monitor.last)
