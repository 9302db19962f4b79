"""One run split over several OS processes (``--procs``), merged back into one Run.

A single asyncio process tops out well below what PostgreSQL serves on two cores; ``--procs N``
gives each of N spawned processes its share of the tasks and of the pool (or limit), starts
them together, and merges their records: latencies, counts and errors keyed by (type,
SQLSTATE) with first/last times on the common monotonic clock. The monitor stays here; every
process's connections carry the run's one tag (application_name), so it counts them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from time import perf_counter
from typing import Any

from dbkit.errors import ConfigError, DbkitError
from dbkit.fleet_worker import (
    JOIN_TIMEOUT_S,
    POLL_S,
    Child,
    await_ready,
    reap,
    receive,
    serve,
    spawn,
)
from dbkit.monitor import Monitor
from dbkit.recorder import ErrorTally, Recorder
from dbkit.spec import RunSpec
from dbkit.strategies import Target, get_strategy

SPLITTABLE = ("unbatched", "batched", "semaphore", "pool", "sqlalchemy")
START_DELAY_S = 0.2


def split(spec: RunSpec, procs: int) -> list[RunSpec]:
    """``procs`` specs whose tasks and pool (or limit, batch) add up to ``spec``'s."""
    if spec.strategy not in SPLITTABLE:
        raise ConfigError(f"--procs applies to {', '.join(SPLITTABLE)}, not {spec.strategy}")
    if spec.fault is not None:
        raise ConfigError("--fault cannot be combined with --procs yet")
    bound = {"pool": spec.pool_size, "sqlalchemy": spec.pool_size, "semaphore": spec.limit}
    width = bound.get(spec.strategy, spec.tasks)
    if procs > min(spec.tasks, width):
        raise ConfigError(f"--procs {procs} is more than the tasks or the pool can be split in")
    parts = []
    for i in range(procs):
        share: dict[str, Any] = {"tasks": _share(spec.tasks, procs, i), "label": spec.name}
        if spec.strategy in ("pool", "sqlalchemy"):
            share["pool_size"] = _share(spec.pool_size, procs, i)
            share["max_overflow"] = _share(spec.max_overflow, procs, i)
            if spec.min_size is not None:
                share["min_size"] = min(_share(spec.min_size, procs, i), share["pool_size"])
        elif spec.strategy == "semaphore":
            share["limit"] = _share(spec.limit, procs, i)
        elif spec.strategy == "batched":
            share["batch_size"] = max(1, _share(spec.effective_batch_size, procs, i))
        parts.append(spec.replace(**share))
    return parts


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


@dataclass(frozen=True)
class Job:
    index: int
    spec: RunSpec
    app_dsn: str
    loop: str
    app_name: str  # the run's tag, the same in every process


@dataclass(frozen=True)
class Part:
    """What one process measured; times are perf_counter() values (system-wide monotonic)."""

    latencies: bytes
    waits: bytes
    failed: int
    queries_ok: int
    retries: int
    t0: float
    t_end: float
    errors: list[tuple[str, str | None, int, float, float, str, int]]


def child_main(job: Job, conn: Connection, done_counter: Any) -> None:
    """A spawned process: ready, wait for the start time, run its share, send its Part back."""
    serve(conn, job.loop, lambda start_at: _child_run(job, start_at, done_counter))


async def _child_run(job: Job, start_at: float, done_counter: Any) -> Part:
    await asyncio.sleep(max(0.0, start_at - perf_counter()))
    rec = Recorder()

    async def tick() -> None:
        while True:  # progress for the parent, on a timer, never per task
            done_counter.value = rec.done
            await asyncio.sleep(0.1)

    ticker = asyncio.create_task(tick())
    try:
        await get_strategy(job.spec.strategy).execute(
            job.spec, Target(job.app_dsn, job.app_name), rec
        )
    finally:
        ticker.cancel()
        done_counter.value = rec.done
    assert rec.t_end is not None
    return Part(
        latencies=rec.latencies.tobytes(),
        waits=rec.waits.tobytes(),
        failed=rec.failed,
        queries_ok=rec.queries_ok,
        retries=rec.retries,
        t0=rec.t0,
        t_end=rec.t_end,
        errors=[
            (kind, state, t.count, rec.t0 + t.first_s, rec.t0 + t.last_s, t.example, t.tasks)
            for (kind, state), t in rec.errors.items()
        ],
    )


def run_split(
    spec: RunSpec,
    procs: int,
    app_dsn: str,
    admin_dsn: str,
    loop: str,
    app_name: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Recorder, Monitor]:
    """Run ``spec`` over ``procs`` processes, every connection tagged ``app_name``; return the
    merged Recorder and the monitor."""
    from multiprocessing import get_context

    ctx = get_context("spawn")
    counters = [ctx.Value("q", 0, lock=False) for _ in range(procs)]
    children: list[Child] = []
    try:
        for i, part in enumerate(split(spec, procs)):
            children.append(
                spawn(
                    Job(i, part, app_dsn, loop, app_name), target=child_main, extra=(counters[i],)
                )
            )
        await_ready(children)
        with asyncio.Runner() as runner:
            parts, monitor = runner.run(
                _observe(children, counters, Monitor(admin_dsn, app_name), spec, progress)
            )
    finally:
        reap(children, JOIN_TIMEOUT_S)
    return _merge(parts, monitor)


async def _observe(
    children: list[Child],
    counters: list[Any],
    monitor: Monitor,
    spec: RunSpec,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[Part], Monitor]:
    parts: dict[int, Part] = {}
    async with monitor:
        start_at = perf_counter() + START_DELAY_S
        for _, conn in children:
            conn.send(("start", start_at))
        while len(parts) < len(children):
            for i, (proc, conn) in enumerate(children):
                if i in parts or not conn.poll(0):
                    continue
                kind, payload = receive(proc, conn)
                if kind != "done":
                    raise DbkitError(f"load process {proc.name} failed: {payload}")
                parts[i] = payload
            if progress is not None:
                progress(sum(c.value for c in counters), spec.tasks)
            await asyncio.sleep(POLL_S)
    return [parts[i] for i in sorted(parts)], monitor


def _merge(parts: list[Part], monitor: Monitor) -> tuple[Recorder, Monitor]:
    rec = Recorder()
    rec.t0 = min(p.t0 for p in parts)
    rec.t_end = max(p.t_end for p in parts)
    rec.started = True
    for p in parts:
        # one latency and one wait per successful task, in the same order in both arrays
        rec.latencies.frombytes(p.latencies)
        rec.waits.frombytes(p.waits)
        rec.failed += p.failed
        rec.queries_ok += p.queries_ok
        rec.retries += p.retries
    for p in parts:
        for kind, state, count, first, last, example, tasks in p.errors:
            first, last = first - rec.t0, last - rec.t0
            seen = rec.errors.get((kind, state))
            if seen is None:
                rec.errors[(kind, state)] = ErrorTally(count, first, last, example, tasks)
            else:
                seen.count += count
                seen.tasks += tasks
                if first < seen.first_s:
                    seen.first_s, seen.example = first, example
                seen.last_s = max(seen.last_s, last)
    return rec, monitor
