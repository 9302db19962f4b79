"""What a strategy is, and the one task most strategies share: connect, query, close."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter

import asyncpg

from dbkit.recorder import Recorder
from dbkit.spec import RunSpec


@dataclass(frozen=True)
class Target:
    """Where the workload connects: the app DSN (None for strategies without a database)."""

    app_dsn: str | None


Execute = Callable[[RunSpec, Target, Recorder], Awaitable[None]]


@dataclass(frozen=True)
class Strategy:
    """A concurrency strategy: how it runs, what it can cost the server, its ideal time."""

    name: str
    summary: str
    needs_server: bool
    params: tuple[str, ...]
    execute: Execute
    ideal: Callable[[RunSpec], float | None]
    peak_connections: Callable[[RunSpec], int | None]


WORKLOAD_PARAMS = ("queries", "hold", "sql", "connect_timeout")


def waves_ideal(spec: RunSpec, width: int) -> float | None:
    """``ceil(tasks / width)`` sequential waves, each holding a connection the task's time."""
    hold = spec.workload.task_hold_s
    if hold is None or width < 1:
        return None
    return -(-spec.tasks // width) * hold


async def close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await conn.close(timeout=5)
    except Exception:
        conn.terminate()


async def connect_task(dsn: str, spec: RunSpec, rec: Recorder) -> None:
    """One task with its own connection; its outcome is recorded, never raised."""
    started = perf_counter()
    statement = spec.workload.statement
    done = 0
    try:
        conn = await asyncpg.connect(dsn, timeout=spec.connect_timeout)
        try:
            for _ in range(spec.queries):
                await conn.execute(statement)
                done += 1
        finally:
            await close_quietly(conn)
    except Exception as exc:
        rec.failure(exc, done)
        return
    rec.success(perf_counter() - started, done)
