"""The processes of a simulated fleet: each runs its share of worker pools under load.

``process_main`` is the target of a "spawn" process. It says it is ready, waits for the common
start time (an absolute ``time.monotonic()``, system-wide on Linux), runs every pool it was given
until the deadline in one event loop, and sends back one picklable ServiceRecord per service;
times in records are seconds from the fleet's common start. The parent's side (spawn, ready,
receive, reap) and the merging of records are at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from time import monotonic, perf_counter
from typing import Any, Protocol

import asyncpg

from dbkit.model.dsn import mask_text
from dbkit.model.errors import DbkitError
from dbkit.model.results import ErrorRecord
from dbkit.model.tally import (
    ErrorTallies,
    error_records,
    quiet_driver_logs,
    tally_error,
    type_name,
)
from dbkit.strategies.base import CLOSE_TIMEOUT_S, close_pool, open_pool

SAMPLE_CAP = 20_000  # latencies (and their waits and services) kept per service per process
POOL_RETRY_S = 0.5  # a pool that could not open is tried again after this long
FAILURE_BACKOFF_S = 0.1  # a load task waits this long after a failure, as a client retrying
READY_TIMEOUT_S = 120.0  # spawned processes import asyncpg and SQLAlchemy before they are ready
POLL_S = 0.05
PUBLISH_S = 0.01
JOIN_TIMEOUT_S = 5.0
START_WAIT_S = 120.0  # a child never waits longer than this for the start signal


Child = tuple[BaseProcess, Connection]  # a running process and the parent's end of its pipe


@dataclass(frozen=True)
class WorkerJob:
    """One simulated worker process of a service: its own pool and `concurrency` load tasks."""

    service: str
    driver: str
    pool_size: int
    max_overflow: int
    min_size: int
    concurrency: int

    @property
    def max_connections(self) -> int:
        """The most connections its pool holds (an asyncpg pool's max_overflow is 0)."""
        return self.pool_size + self.max_overflow


@dataclass(frozen=True)
class ProcessJob:
    """What one OS process runs: its worker pools and the load's settings."""

    index: int
    app_dsn: str
    workers: tuple[WorkerJob, ...]
    hold: float
    duration: float
    acquire_timeout: float
    connect_timeout: float
    loop: str
    app_name: (
        str  # the fleet's tag (dbkit.model.identity): every connection of every process has it
    )

    @property
    def server_settings(self) -> dict[str, str]:
        return {"application_name": self.app_name}


@dataclass(frozen=True)
class ServiceRecord:
    """One service's outcome in one process; latencies, waits and services are uniform samples."""

    service: str
    tasks: int
    ok: int
    failed: int
    queries_ok: int
    pool_timeouts: int
    pools_opened: int
    end_s: float
    latencies: tuple[float, ...]
    latencies_seen: int
    waits: tuple[float, ...]
    waits_seen: int
    errors: tuple[ErrorRecord, ...]
    services: tuple[float, ...] = ()
    services_seen: int = 0


class Reservoir:
    """A uniform sample of at most `cap` values out of `seen` (Vitter's algorithm R)."""

    __slots__ = ("_rand", "cap", "seen", "values")

    def __init__(self, cap: int, rng: random.Random) -> None:
        self.cap = cap
        self.seen = 0
        self.values: list[float] = []
        self._rand = rng.randrange

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.cap:
            self.values.append(value)
        else:
            slot = self._rand(self.seen)
            if slot < self.cap:
                self.values[slot] = value


class ServiceStats:
    """The hot path for one service in one process: counters, samples, errors by key."""

    def __init__(self, service: str, start_at: float, rng: random.Random) -> None:
        self.service = service
        self.start_at = start_at
        self.failed = 0
        self.pool_timeouts = 0
        self.pools_opened = 0
        self.end = start_at
        self.latencies = Reservoir(SAMPLE_CAP, rng)
        self.waits = Reservoir(SAMPLE_CAP, rng)
        self.services = Reservoir(SAMPLE_CAP, rng)
        self.errors: ErrorTallies = {}

    @property
    def ok(self) -> int:
        """Successes: every one adds its latency, once (counting it again was hot-path work)."""
        return self.latencies.seen

    def success(self, arrived: float, acquired: float) -> None:
        """A request done now: latency, wait and service as every strategy's (see
        model.tally), arrival being when its handler issued it; failed requests are in none."""
        now = perf_counter()
        self.latencies.add(now - arrived)
        self.waits.add(acquired - arrived)
        self.services.add(now - acquired)

    def failure(self, exc: BaseException) -> None:
        self.failed += 1
        tally_error(self.errors, exc, monotonic() - self.start_at)

    def record(self) -> ServiceRecord:
        errors = error_records(self.errors)
        return ServiceRecord(
            service=self.service,
            tasks=self.ok + self.failed,
            ok=self.ok,
            failed=self.failed,
            queries_ok=self.ok,
            pool_timeouts=self.pool_timeouts,
            pools_opened=self.pools_opened,
            end_s=self.end - self.start_at,
            latencies=tuple(self.latencies.values),
            latencies_seen=self.latencies.seen,
            waits=tuple(self.waits.values),
            waits_seen=self.waits.seen,
            errors=errors,
            services=tuple(self.services.values),
            services_seen=self.services.seen,
        )


class _Conn(Protocol):
    async def execute(self, statement: str) -> Any: ...


# Acquires one connection (an async context manager) from a pool of either driver.
Acquire = Callable[[], contextlib.AbstractAsyncContextManager[Any]]


def _is_pool_timeout(exc: BaseException) -> bool:
    # asyncpg's acquire(timeout=) raises the builtin TimeoutError; SQLAlchemy its own.
    return isinstance(exc, TimeoutError) or type_name(type(exc)) == "sqlalchemy.exc.TimeoutError"


STOP_SIGNAL = signal.SIGUSR1  # the parent's "stop now" (Ctrl-C): results so far still count
_stop = {"count": 0}  # how many "stop now" signals came; any at all means stop


def _request_stop(signum: int, frame: Any) -> None:
    _stop["count"] += 1


def stop_requests() -> int:
    """How many times the parent has said "stop now" (a second time: stop closing gracefully)."""
    return int(_stop["count"])


class Deadline:
    """When this process's workers stop: the planned end, or now once the parent asks."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

    def left(self) -> float:
        return 0.0 if _stop["count"] else self.at - monotonic()


async def _load(
    acquire: Acquire, run: Callable[[Any], Any], stats: ServiceStats, deadline: Deadline
) -> None:
    """One request handler: acquire, run the statement, release; until the deadline."""
    while deadline.left() > 0:
        started = perf_counter()
        acquired = 0.0  # not yet in hand
        try:
            async with acquire() as conn:
                acquired = perf_counter()
                await run(conn)
        except Exception as exc:
            if not acquired and _is_pool_timeout(exc):
                stats.pool_timeouts += 1
            stats.failure(exc)
            await asyncio.sleep(max(0.0, min(FAILURE_BACKOFF_S, deadline.left())))
            continue
        stats.success(started, acquired)


async def _asyncpg_worker(
    job: ProcessJob, worker: WorkerJob, stats: ServiceStats, deadline: Deadline
) -> None:
    statement = f"SELECT pg_sleep({job.hold!r})"
    pool: asyncpg.Pool | None = None
    while pool is None and deadline.left() > 0:
        pool = await _open_pool(job, worker, stats)
        if pool is None:  # the worker cannot serve yet
            await asyncio.sleep(max(0.0, min(POOL_RETRY_S, deadline.left())))
    if pool is None:
        return
    stats.pools_opened += 1
    timeout = job.acquire_timeout

    async def run(conn: _Conn) -> None:
        await conn.execute(statement)

    try:
        # gather: the worker's request handlers all compete for its pool at once.
        await asyncio.gather(
            *(
                _load(lambda: pool.acquire(timeout=timeout), run, stats, deadline)
                for _ in range(worker.concurrency)
            )
        )
    finally:
        await close_pool(pool, CLOSE_TIMEOUT_S)


async def _open_pool(
    job: ProcessJob, worker: WorkerJob, stats: ServiceStats
) -> asyncpg.Pool | None:
    """The worker's pool with min_size connections open, or None when any failed: each
    refused connection counts once, as in the server's log (strategies.base.open_pool)."""
    pool, failures = await open_pool(
        job.app_dsn, worker.min_size, worker.pool_size, job.connect_timeout, job.server_settings
    )
    for exc in failures:
        stats.failure(exc)
    return pool


async def _sqlalchemy_worker(
    job: ProcessJob, worker: WorkerJob, stats: ServiceStats, deadline: Deadline
) -> None:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from dbkit.strategies.sqlalchemy_pool import create_engine

    # No prewarm: a SQLAlchemy pool opens connections on first use, as in a real service.
    engine = create_engine(
        job.app_dsn,
        job.server_settings,
        job.connect_timeout,
        pool_size=worker.pool_size,
        max_overflow=worker.max_overflow,
        pool_timeout=job.acquire_timeout,
    )
    stats.pools_opened += 1
    statement = f"SELECT pg_sleep({job.hold!r})"

    async def run(conn: AsyncConnection) -> None:
        await conn.exec_driver_sql(statement)

    try:
        # gather: the worker's request handlers all compete for its engine's pool at once.
        await asyncio.gather(
            *(_load(engine.connect, run, stats, deadline) for _ in range(worker.concurrency))
        )
    finally:
        # An engine must be disposed before its event loop ends.
        await asyncio.wait_for(engine.dispose(), CLOSE_TIMEOUT_S)


async def _publish(stats: dict[str, ServiceStats], counter: Any) -> None:
    while True:  # successes so far, for the parent's fault recovery watch; a timer, not per task
        counter.value = sum(s.ok for s in stats.values())
        await asyncio.sleep(PUBLISH_S)


async def run_process(job: ProcessJob, start_at: float, counter: Any = None) -> list[ServiceRecord]:
    """Every worker pool of this process, started together at `start_at`, until the deadline."""
    rng = random.Random(job.index)
    stats: dict[str, ServiceStats] = {}
    for worker in job.workers:
        stats.setdefault(worker.service, ServiceStats(worker.service, start_at, rng))
    await asyncio.sleep(max(0.0, start_at - monotonic()))
    deadline = Deadline(start_at + job.duration)
    coros = [
        (_asyncpg_worker if w.driver == "asyncpg" else _sqlalchemy_worker)(
            job, w, stats[w.service], deadline
        )
        for w in job.workers
    ]
    publisher = asyncio.create_task(_publish(stats, counter)) if counter is not None else None
    # gather: all worker pools of this process start at the common time, as a deploy does.
    outcomes = await asyncio.gather(*coros, return_exceptions=True)
    if publisher is not None:
        publisher.cancel()
    end = monotonic()
    for s in stats.values():
        s.end = end
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [s.record() for s in stats.values()]


def process_main(job: ProcessJob, conn: Connection, counter: Any = None) -> None:
    """Entry point of a spawned fleet process."""
    serve(
        conn,
        job.loop,
        lambda start_at: run_process(job, start_at, counter),
        prepare=lambda: _import_drivers(job),
    )


def _import_drivers(job: ProcessJob) -> None:
    # Before "ready", not after the start: importing SQLAlchemy and its asyncpg dialect takes
    # up to 2 s on a loaded machine, which would eat a short fleet's whole measured window.
    if any(w.driver == "sqlalchemy" for w in job.workers):
        import sqlalchemy.dialects.postgresql.asyncpg
        import sqlalchemy.ext.asyncio  # noqa: F401


def serve(
    conn: Connection,
    loop: str,
    work: Callable[[float], Coroutine[Any, Any, Any]],
    prepare: Callable[[], None] | None = None,
) -> None:
    """A spawned process's life: ``prepare()``, say "ready", wait for the start time, run
    ``work(start_at)`` in one event loop, send ("done", its result) or ("error", text).

    The parent owns Ctrl-C, so children ignore SIGINT; on Ctrl-C the parent sends STOP_SIGNAL,
    and fleet workers end their work at once and report what they measured.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(STOP_SIGNAL, _request_stop)
    from dbkit.engine.guards import raise_fd_limit
    from dbkit.engine.run import loop_factory

    quiet_driver_logs()
    try:
        raise_fd_limit()
        factory = loop_factory(loop)
        if prepare is not None:
            prepare()
        conn.send(("ready", None))
        if not conn.poll(START_WAIT_S):
            return
        kind, start_at = conn.recv()
        if kind != "start":
            return
        with asyncio.Runner(loop_factory=factory) as runner:
            outcome = runner.run(work(start_at))
        conn.send(("done", outcome))
    except (EOFError, BrokenPipeError):
        return  # the parent is gone: nothing to report to
    except Exception as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type_name(type(exc))}: {mask_text(str(exc))[:500]}"))
    finally:
        conn.close()


# The parent's side of the processes.


def spawn(
    job: Any, target: Callable[..., None] | None = None, extra: tuple[Any, ...] = ()
) -> Child:
    """Start one "spawn" process for `job` (no state inherited); it says "ready" on its pipe."""
    ctx = get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    proc = ctx.Process(
        target=target or process_main,
        args=(job, child_end, *extra),
        name=f"dbkit-load-{job.index}",
    )
    proc.daemon = True  # multiprocessing ends it if the parent exits first
    proc.start()
    child_end.close()
    return proc, parent_end


def await_ready(children: list[Child]) -> None:
    deadline = monotonic() + READY_TIMEOUT_S
    for proc, conn in children:
        while not conn.poll(POLL_S):
            if not proc.is_alive():
                raise DbkitError(f"fleet process {proc.name} exited before it was ready")
            if monotonic() > deadline:
                raise DbkitError(f"fleet process {proc.name} not ready after {READY_TIMEOUT_S} s")
        kind, detail = receive(proc, conn)
        if kind != "ready":
            raise DbkitError(f"fleet process {proc.name} failed to start: {detail}")


def receive(proc: BaseProcess, conn: Connection) -> tuple[str, Any]:
    try:
        kind, payload = conn.recv()
    except (EOFError, OSError):
        raise DbkitError(f"fleet process {proc.name} exited without a report") from None
    return str(kind), payload


def reap(children: list[Child], wait: float) -> None:
    """Join every child; terminate, then kill, whichever does not end in `wait`: no orphans."""
    for _, conn in children:
        conn.close()  # a child still waiting for the start signal sees EOF and exits
    for proc, _ in children:
        proc.join(wait)
        if proc.is_alive():
            proc.terminate()
            proc.join(JOIN_TIMEOUT_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
        proc.close()


# Merging what the processes sent back.


def merge_samples(parts: Sequence[tuple[Sequence[float], int]]) -> list[float]:
    """Merge uniform samples of different populations into one uniform sample of their union."""
    parts = [(values, seen) for values, seen in parts if seen > 0]
    if not parts:
        return []
    rate = min(len(values) / seen for values, seen in parts)
    rng = random.Random(0)
    out: list[float] = []
    for values, seen in parts:
        keep = min(len(values), round(rate * seen))
        out += values if keep == len(values) else rng.sample(list(values), keep)
    return out


def merge_errors(errors: Sequence[ErrorRecord]) -> tuple[ErrorRecord, ...]:
    merged: dict[tuple[str, str | None], ErrorRecord] = {}
    for e in sorted(errors, key=lambda e: e.first_s):
        key = (e.type, e.sqlstate)
        seen = merged.get(key)
        if seen is None:
            merged[key] = e  # the earliest, whose example is kept
        else:
            merged[key] = ErrorRecord(
                e.type, e.sqlstate, seen.count + e.count, seen.first_s,
                max(seen.last_s, e.last_s), seen.example, seen.tasks_ended + e.tasks_ended,
            )  # fmt: skip
    return tuple(sorted(merged.values(), key=lambda e: (-e.count, e.first_s)))
