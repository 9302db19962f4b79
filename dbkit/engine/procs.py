"""One run split over several OS processes (``--procs``), merged back into one Run.

A single asyncio process tops out well below what PostgreSQL serves on two cores; ``--procs N``
gives each of N spawned processes its share of the tasks and of the pool (or limit), starts
them together, and merges their records: latencies, counts and errors keyed by (type,
SQLSTATE) with first/last times on the common monotonic clock. The monitor stays here; every
process's connections carry the run's one tag (application_name), so it counts them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from time import perf_counter
from typing import Any

from dbkit.engine import interrupts
from dbkit.engine.fleet_worker import (
    JOIN_TIMEOUT_S,
    POLL_S,
    STOP_SIGNAL,
    Child,
    await_ready,
    reap,
    receive,
    serve,
    spawn,
    stop_requests,
)
from dbkit.engine.monitor import Monitor
from dbkit.model.errors import ConfigError, DbkitError
from dbkit.model.spec import RunSpec
from dbkit.model.tally import ErrorTally, Tally
from dbkit.strategies import Target, get_strategy

SPLITTABLE = ("unbatched", "batched", "semaphore", "pool", "sqlalchemy")
START_DELAY_S = 0.2
STOP_POLL_S = 0.05  # how often a load process looks for the parent's "stop now"


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
    interrupted: bool = False  # the parent's Ctrl-C stopped it: what it measured until then


def child_main(job: Job, conn: Connection, done_counter: Any) -> None:
    """A spawned process: ready, wait for the start time, run its share, send its Part back."""
    serve(conn, job.loop, lambda start_at: _child_run(job, start_at, done_counter))


async def _child_run(job: Job, start_at: float, done_counter: Any) -> Part:
    await asyncio.sleep(max(0.0, start_at - perf_counter()))
    rec = Tally()

    async def tick() -> None:
        while True:  # progress for the parent, on a timer, never per task
            done_counter.value = rec.done
            await asyncio.sleep(0.1)

    work = asyncio.ensure_future(
        get_strategy(job.spec.strategy).execute(job.spec, Target(job.app_dsn, job.app_name), rec)
    )

    async def stop_on_request() -> None:
        # The parent's Ctrl-C arrives as STOP_SIGNAL: each one cancels the work, as Ctrl-C
        # does in one process (the first closes the pools gracefully, a second cuts that short).
        seen = 0
        while True:
            if stop_requests() > seen:
                seen = stop_requests()
                work.cancel()
            await asyncio.sleep(STOP_POLL_S)

    helpers = [asyncio.create_task(tick()), asyncio.create_task(stop_on_request())]
    try:
        await asyncio.wait([work])
    finally:
        for helper in helpers:
            helper.cancel()
        done_counter.value = rec.done
    interrupted = work.cancelled()
    if not interrupted:
        work.result()  # a failure of the strategy itself is the process's failure
    t_end = rec.t_end if rec.t_end is not None else perf_counter()
    return Part(
        latencies=rec.latencies.tobytes(),
        waits=rec.waits.tobytes(),
        failed=rec.failed,
        queries_ok=rec.queries_ok,
        retries=rec.retries,
        t0=rec.t0,
        t_end=t_end,
        errors=[
            (kind, state, t.count, rec.t0 + t.first_s, rec.t0 + t.last_s, t.example, t.tasks)
            for (kind, state), t in rec.errors.items()
        ],
        interrupted=interrupted,
    )


def run_split(
    spec: RunSpec,
    procs: int,
    app_dsn: str,
    admin_dsn: str,
    loop: str,
    app_name: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Tally, Monitor, bool]:
    """Run ``spec`` over ``procs`` processes, every connection tagged ``app_name``; return the
    merged Tally, the monitor, and whether Ctrl-C stopped any process before its share was
    done (what every process measured until then is in the Tally)."""
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
                interrupts.cancellable(
                    _observe(children, counters, Monitor(admin_dsn, app_name), spec, progress)
                )
            )
    finally:
        reap(children, JOIN_TIMEOUT_S)
    rec, monitor = _merge(parts, monitor)
    return rec, monitor, any(p.interrupted for p in parts)


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
            try:
                await asyncio.sleep(POLL_S)
            except asyncio.CancelledError:
                # Ctrl-C or SIGTERM (each one): every process still working stops its work
                # and reports what it measured, which is awaited and kept.
                for i, (proc, _) in enumerate(children):
                    if i not in parts and proc.pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(proc.pid, STOP_SIGNAL)
    return [parts[i] for i in sorted(parts)], monitor


def _merge(parts: list[Part], monitor: Monitor) -> tuple[Tally, Monitor]:
    rec = Tally()
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
