"""What a strategy is, and what every task shares: statements, retries, outcome recording.

A strategy declares everything about itself in its own module (its STRATEGY): what it runs
(``execute``: a burst of ``tasks``, or an open-loop run's tasks as they arrive, both handed
over by ``hand_over``, which is told how one task runs), and, for a pool, ``serve`` (one worker
of a fleet: its pool under ``concurrency`` request handlers until a deadline); the fields it
uses, how it labels a run, the rules its specs obey, whether its peak is a bound, which knobs
``--procs`` shares out and which one a sweep varies. No other module lists strategy names.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol, cast

import asyncpg

from dbkit.model.arrivals import last_arrival, schedule
from dbkit.model.error_counts import type_name
from dbkit.model.identity import tagged
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally

RETRY_BASE_S = 0.05  # a task's first backoff before it tries again; doubled each time
RETRY_CAP_S = 1.0  # the longest backoff
POOL_CLOSE_TIMEOUT_S = 10.0  # a pool or engine closing gracefully; then it is terminated
CONNECTION_CLOSE_TIMEOUT_S = 5.0  # one task's own connection closing; then it is terminated
POOL_RETRY_S = 0.5  # a fleet worker's pool that could not open is tried again after this long
POOL_TIMEOUT_TYPES = ("sqlalchemy.exc.TimeoutError", "psycopg_pool.PoolTimeout")
FAILURE_BACKOFF_S = 0.1  # a request handler waits this long after a failure, as a client would


@dataclass(frozen=True)
class Target:
    """Where the workload connects: the app DSN (None for strategies without a database), and
    the run's tag (dbkit.model.identity), the application_name of every connection it opens."""

    app_dsn: str | None
    app_name: str

    def settings(self, spec: RunSpec) -> dict[str, str]:
        """The session settings of every workload connection: the spec's, and the tag."""
        return tagged(spec.server_settings, self.app_name)


class Deadline:
    """When a fleet worker's request handlers stop: the planned end, or now once ``stopped()``
    (the parent's Ctrl-C) says so."""

    __slots__ = ("at", "stopped")

    def __init__(self, at: float, stopped: Callable[[], bool]) -> None:
        self.at = at
        self.stopped = stopped

    def left(self) -> float:
        return 0.0 if self.stopped() else self.at - perf_counter()


Execute = Callable[[RunSpec, Target, Tally], Awaitable[None]]
# One fleet worker: its pool, ``concurrency`` request handlers, until the deadline.
Serve = Callable[[RunSpec, Target, Tally, Deadline, int], Awaitable[None]]


def _no_rules(spec: RunSpec) -> None:
    return None


def _no_imports() -> None:
    return None


@dataclass(frozen=True)
class Strategy:
    """A concurrency strategy: how it runs, what it can cost the server, its ideal time, and
    what the rest of the kit needs to know of it."""

    name: str
    summary: str
    needs_server: bool
    params: tuple[str, ...]
    execute: Execute
    ideal: Callable[[RunSpec], float | None]
    peak_connections: Callable[[RunSpec], int | None]
    label: Callable[[RunSpec], str]  # the run's short name for tables: pool-10, semaphore-50
    check: Callable[[RunSpec], None] = _no_rules  # rules of its own, beyond RunSpec's
    bounded: Callable[[RunSpec], bool] = lambda spec: False  # its peak is a promise it keeps
    splits: tuple[str, ...] | None = None  # knobs --procs shares out; None: not splittable
    sweeps: str = "tasks"  # the knob a sweep varies by default
    driver: str | None = None  # the driver name a deploy file gives a service of this pool
    serve: Serve | None = None  # one fleet worker (pools only)
    recorded: Callable[[RunSpec], dict[str, Any]] = lambda spec: {}  # params it resolved
    task_bytes: int = 6_000  # resident cost of one pending task, measured on CPython 3.11
    prepare: Callable[[], None] = _no_imports  # imports a load process makes before "ready"


WORKLOAD_PARAMS = (
    "queries", "hold", "sql", "connect_timeout", "statement_timeout", "retries", "fault", "procs",
)  # fmt: skip
# What the strategies whose connections asyncpg opens take besides: its statement cache.
ASYNCPG_PARAMS = ("statement_cache",)


def asyncpg_options(spec: RunSpec) -> dict[str, Any]:
    """Keyword arguments for every asyncpg connect of ``spec``'s workload: the statement cache
    size when the spec sets one (0 turns it off, as a transaction-mode pooler needs), else
    nothing, and asyncpg keeps its own default (100 statements per connection)."""
    if spec.statement_cache is None:
        return {}
    return {"statement_cache_size": spec.statement_cache}


def waves_ideal(spec: RunSpec, width: int) -> float | None:
    """``ceil(tasks / width)`` sequential waves, each holding a connection the task's time; an
    open-loop run lasts at least until its last arrival has been served."""
    hold = spec.workload.task_hold_s
    if hold is None or width < 1:
        return None
    waves = -(-spec.tasks // width) * hold
    if spec.rate is None or spec.duration is None:
        return waves
    last = last_arrival(spec.tasks, spec.duration, spec.arrivals, spec.seed)
    return max(waves, last + hold)


# One task, given when it arrived (a perf_counter() value): it records its outcome, never raises.
Task = Callable[[float], Coroutine[Any, Any, Any]]


async def hand_over(spec: RunSpec, rec: Tally, task: Task) -> None:
    """Every task of the run to ``task``, once the window has begun: a burst's all at once, as
    they arrive at its start; an open-loop run's each at its arrival (``arrive``)."""
    if spec.rate is None or spec.duration is None:
        # gather: every task at once -- the burst; its strategy's pool, semaphore or the
        # server's limit is what makes them wait.
        await asyncio.gather(*(task(rec.t0) for _ in range(spec.tasks)))
        return
    await arrive(schedule(spec.tasks, spec.duration, spec.arrivals, spec.seed), rec.t0, task)


async def arrive(offsets: Iterable[float], t0: float, task: Task) -> None:
    """Open-loop arrivals: ``task(t0 + offset)`` started at each arrival (``offsets`` in order,
    seconds after ``t0``), whether or not earlier ones are done; then wait for those in flight.

    Bounded by ``offsets``: one task per arrival, none after the last. An arrival that finds
    this loop late (a busy event loop) starts at once, still stamped with its planned time, so
    the delay is the task's wait, as a request's would be in production: never omitted.
    Ctrl-C cancels the tasks in flight and waits for them (the TaskGroup does).
    """
    async with asyncio.TaskGroup() as group:
        for offset in offsets:
            at = t0 + offset
            delay = at - perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            group.create_task(task(at))


class Turns:
    """Arrivals taken in batches of ``size``, in arrival order: a batch starts once every task
    of the one before it is done, as sequential gathers would run them; each task of it starts
    then, or at its arrival if later. ``total`` is how many arrive (the last batch may be
    smaller)."""

    def __init__(self, size: int, total: int) -> None:
        self.size, self.total = size, total
        self.arrived = 0
        self.running = 0  # the batch whose turn it is
        self.done: dict[int, int] = {}  # tasks done, per batch still running
        self.turns: dict[int, asyncio.Event] = {}  # batches waiting for their turn

    def of(self, task: Task) -> Task:
        """``task``, waiting for its batch's turn first."""

        def batched(arrived: float) -> Coroutine[Any, Any, Any]:
            batch = self.arrived // self.size
            self.arrived += 1
            return self._run(batch, task, arrived)

        return batched

    async def _run(self, batch: int, task: Task, arrived: float) -> None:
        if batch > self.running:
            await self.turns.setdefault(batch, asyncio.Event()).wait()
        try:
            await task(arrived)
        finally:
            done = self.done[batch] = self.done.get(batch, 0) + 1
            if done == min(self.size, self.total - batch * self.size):
                del self.done[batch]
                self.running = batch + 1
                turn = self.turns.pop(batch + 1, None)
                if turn is not None:
                    turn.set()


class Executes(Protocol):
    async def execute(self, query: str, /) -> Any: ...


class Attempt:
    """One attempt of a task, filled in by the strategy: when its connection was in hand
    (``acquired``, a perf_counter() value) and how many statements succeeded (``queries``)."""

    __slots__ = ("acquired", "queries")

    def __init__(self, arrived: float) -> None:
        self.acquired = arrived
        self.queries = 0


class Prepares(Executes, Protocol):
    async def fetch(self, query: str, /) -> Any: ...


async def run_statements(conn: Executes, spec: RunSpec, done: Attempt, rec: Tally) -> None:
    """The task's statements on one connection; ``done.queries`` counts the successful ones.

    A statement is sent as a simple query (``execute``: nothing is prepared), unless the spec
    sets ``statement_cache`` (asyncpg strategies only): then as asyncpg's ``fetch`` sends it,
    prepared through the statement cache (named and kept, up to that many per connection; with
    0, unnamed and kept nowhere), as an application's parameterised queries are."""
    statement, queries = spec.workload.statement, spec.queries
    run = conn.execute if spec.statement_cache is None else cast(Prepares, conn).fetch
    if not spec.rolls_back:
        await statements(run, statement, queries, done, rec)
        return
    await conn.execute("BEGIN")
    try:
        await statements(run, statement, queries, done, rec)
    except Exception:
        # Roll back here, so that the pool does not release a connection with an open (failed)
        # transaction, which asyncpg resets with a warning per connection on stderr.
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("ROLLBACK")


async def statements(
    execute: Callable[[str], Awaitable[Any]],
    statement: str,
    queries: int,
    done: Attempt,
    rec: Tally,
) -> None:
    """``queries`` times ``execute(statement)`` (asyncpg's execute, SQLAlchemy's
    exec_driver_sql); ``done.queries`` counts the successes, the tally those after a fault."""
    for _ in range(queries):
        after_fault = rec.fault_done
        await execute(statement)
        done.queries += 1
        if after_fault:
            rec.queries_after_fault += 1


def _gave_up_waiting(exc: BaseException) -> bool:
    # asyncpg's acquire(timeout=) raises the builtin TimeoutError; SQLAlchemy and psycopg_pool
    # their own.
    return isinstance(exc, TimeoutError) or type_name(type(exc)) in POOL_TIMEOUT_TYPES


async def measured(
    rec: Tally,
    retries: int,
    attempt: Callable[[Attempt], Awaitable[None]],
    arrived: float | None = None,
) -> bool:
    """Run ``attempt`` up to 1 + ``retries`` times with backoff; record the outcome, never
    raise; True when it succeeded.

    The one definition of latency (see dbkit.model.tally): from the task's arrival (``arrived``;
    by default the start of the measured window, where a burst hands its tasks over) to its
    completion; its wait runs until the successful attempt has its connection (``attempt``
    sets ``acquired`` when it does), so queueing, connecting, retries and their backoff are
    wait, and the rest is service.
    """
    arrived = rec.t0 if arrived is None else arrived
    tried = 0
    while True:
        done = Attempt(arrived)
        try:
            await attempt(done)
        except Exception as exc:
            if tried < retries:
                tried += 1
                rec.retries += 1
                rec.refused(exc)  # the server counted this attempt too
                await asyncio.sleep(min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (tried - 1)))
                continue
            if done.acquired == arrived and _gave_up_waiting(exc):
                rec.pool_timeouts += 1
            rec.failure(exc, done.queries, arrived=arrived)
            return False
        rec.success(arrived, done.acquired, done.queries)
        return True


async def handle_requests(
    rec: Tally, deadline: Deadline, attempt: Callable[[Attempt], Awaitable[None]]
) -> None:
    """One request handler of a fleet worker: a request arrives, is served (``attempt``) and
    recorded, and the next arrives, until the deadline; after a failure it backs off a little,
    as a client retrying would."""
    while deadline.left() > 0:
        if not await measured(rec, 0, attempt, perf_counter()):
            await asyncio.sleep(max(0.0, min(FAILURE_BACKOFF_S, deadline.left())))


async def open_pool(
    dsn: str,
    min_size: int,
    max_size: int,
    connect_timeout: float,
    settings: Mapping[str, str],
    options: Mapping[str, Any] | None = None,
) -> tuple[asyncpg.Pool | None, list[BaseException]]:
    """An asyncpg pool with ``min_size`` connections open, as ``create_pool(min_size=...)``
    opens one; or None, its connections closed again, and every failure, when any failed.

    create_pool raises only the first failure of the connections it opens, however many the
    server refused: here each connection is its own acquire and each failure is returned, so
    the kit can count refusals as the server does.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        timeout=connect_timeout,
        server_settings=dict(settings),
        **(options or {}),
    )
    try:
        # gather: the min_size connections open at once; wait for every attempt's outcome.
        opened = await asyncio.gather(
            *(pool.acquire() for _ in range(min_size)), return_exceptions=True
        )
        failures = [o for o in opened if isinstance(o, BaseException)]
        for outcome in opened:
            if not isinstance(outcome, BaseException):
                await pool.release(outcome)
    except BaseException:
        pool.terminate()  # cancelled (the run is stopping): no outcome to count
        raise
    if failures:
        await close_pool(pool)  # as create_pool does when a connection fails
        return None, failures
    return pool, []


async def close_pool(pool: asyncpg.Pool, timeout: float = POOL_CLOSE_TIMEOUT_S) -> None:
    """Graceful close within ``timeout``; else terminate. A close that fails (a connection the
    server ended mid-close, after a terminate fault) ends the pool as well: what its tasks met
    is recorded already, so it is not the run's failure. Cancellation terminates and goes on."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except asyncio.CancelledError:
        pool.terminate()
        raise
    except (Exception, TimeoutError):
        pool.terminate()


async def close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await conn.close(timeout=CONNECTION_CLOSE_TIMEOUT_S)
    except Exception:
        conn.terminate()


async def connect_task(
    target: Target, spec: RunSpec, rec: Tally, arrived: float | None = None
) -> None:
    """One task with its own connection, arrived at ``arrived`` (by default the window's
    start); its outcome is recorded, never raised."""
    assert target.app_dsn is not None
    dsn, settings, options = target.app_dsn, target.settings(spec), asyncpg_options(spec)

    async def attempt(done: Attempt) -> None:
        conn = await asyncpg.connect(
            dsn, timeout=spec.connect_timeout, server_settings=settings, **options
        )
        done.acquired = perf_counter()
        try:
            await run_statements(conn, spec, done, rec)
        finally:
            await close_quietly(conn)

    await measured(rec, spec.retries, attempt, arrived)
