"""psycopg 3's pool: every task takes one of ``pool_size`` connections of a psycopg_pool
``AsyncConnectionPool`` (its ``max_size``), ``min_size`` of them opened before the window.

psycopg_pool opens connections in background workers and, when one fails, tries it again
later (after about 1 s, then 2, 4, ...); every attempt is a connection the server sees, so each
failed one is counted once, by its class, as the server counts it (``Refusals``). psycopg
reports a refused connection as ``psycopg.OperationalError`` without a SQLSTATE: no psycopg
API carries the server's code for a connection refused at startup (see the README, "psycopg"),
so those failures are recorded by class with an empty SQLSTATE, never by their message.

A fleet worker opens, uses and closes the same pools through ``open_psycopg_pool``,
``pooled`` and ``close_psycopg_pool``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from time import perf_counter
from typing import TYPE_CHECKING, Any

from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies.base import (
    POOL_CLOSE_TIMEOUT_S,
    WORKLOAD_PARAMS,
    Attempt,
    Deadline,
    Strategy,
    Target,
    hand_over,
    handle_requests,
    measured,
    run_statements,
    waves_ideal,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

# psycopg is imported where it is used, as SQLAlchemy is: runs of the other strategies should
# not carry its objects on their heap.

DEFAULT_POOL_TIMEOUT_S = 30.0  # psycopg_pool's own acquire timeout, recorded when not given
POOL_TIMEOUT_TYPE = "psycopg_pool.PoolTimeout"  # what a timed-out acquire raises, by type name
MIN_CONNECT_TIMEOUT_S = 2  # libpq's connect_timeout is whole seconds, and at least 2

OnFailure = Callable[[BaseException], None]


def quiet_pool_logs() -> None:
    """psycopg_pool logs a warning for every connection it fails to open; those failures are
    what the kit measures and records, so keep them off the user's terminal."""
    log = logging.getLogger("psycopg.pool")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
    log.propagate = False


def options_text(settings: Mapping[str, str], dsn_options: str | None = None) -> str:
    """libpq's ``options``: ``-c name=value`` per setting, after the DSN's own (a later ``-c``
    wins); spaces and backslashes escaped as libpq reads them."""
    parts = [dsn_options] if dsn_options else []
    for name, value in settings.items():
        escaped = value.replace("\\", "\\\\").replace(" ", "\\ ")
        parts.append(f"-c {name}={escaped}")
    return " ".join(parts)


def connect_kwargs(dsn: str, settings: Mapping[str, str], connect_timeout: float) -> dict[str, Any]:
    """What every connection of the pool is opened with: autocommit, as asyncpg's (a task's
    transaction is its own BEGIN ... ROLLBACK), the run's settings, and the tag as
    ``application_name``, which replaces a DSN's own as it does for asyncpg."""
    from psycopg.conninfo import conninfo_to_dict

    settings = dict(settings)
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "connect_timeout": max(MIN_CONNECT_TIMEOUT_S, math.ceil(connect_timeout)),
    }
    app_name = settings.pop("application_name", None)
    if app_name is not None:
        kwargs["application_name"] = app_name
    if settings:
        dsn_options = conninfo_to_dict(dsn).get("options")
        kwargs["options"] = options_text(
            settings, None if dsn_options is None else str(dsn_options)
        )
    return kwargs


def counting_connection_class(on_failure: OnFailure) -> type[AsyncConnection[Any]]:
    """An ``AsyncConnection`` whose ``connect`` hands each failure to ``on_failure`` before
    raising it: the pool opens every connection (first tries and retries) through it.

    psycopg tries each address a host name resolves to and raises only the last failure: a
    DSN naming one address (``127.0.0.1``, as the kit's servers do) is one attempt per connect.
    """
    from psycopg import AsyncConnection

    class CountingConnection(AsyncConnection[Any]):
        @classmethod
        async def connect(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().connect(*args, **kwargs)
            except Exception as exc:
                on_failure(exc)
                raise

    return CountingConnection


async def open_psycopg_pool(
    dsn: str,
    settings: Mapping[str, str],
    min_size: int,
    max_size: int,
    timeout: float | None = None,
    *,
    connect_timeout: float = 60.0,
    on_failure: OnFailure | None = None,
) -> AsyncConnectionPool[Any]:
    """An open psycopg pool of ``max_size`` whose workers start opening ``min_size``
    connections in the background (``await pool.wait(seconds)`` waits for them); acquires wait
    ``timeout`` seconds (psycopg_pool's 30 when None). ``on_failure`` gets every failed
    connection attempt, each once. Close it with ``close_psycopg_pool``.
    """
    from psycopg_pool import AsyncConnectionPool

    quiet_pool_logs()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        dsn,
        connection_class=counting_connection_class(on_failure or (lambda exc: None)),
        kwargs=connect_kwargs(dsn, settings, connect_timeout),
        min_size=min_size,
        max_size=max_size,
        timeout=DEFAULT_POOL_TIMEOUT_S if timeout is None else timeout,
        name=settings.get("application_name"),
        open=False,
    )
    await pool.open(wait=False)
    return pool


def pooled(
    pool: AsyncConnectionPool[Any], timeout: float | None = None
) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
    """One connection of ``pool`` for the block, waiting ``timeout`` seconds at most (the
    pool's own when None): ``psycopg_pool.PoolTimeout`` when none came in time."""
    return pool.connection(timeout=timeout)


async def close_psycopg_pool(
    pool: AsyncConnectionPool[Any], timeout: float = POOL_CLOSE_TIMEOUT_S
) -> None:
    """Close the pool: its idle connections, and its workers, waited for up to ``timeout``
    seconds, so that no attempt of theirs ends after the caller has counted."""
    await pool.close(timeout=timeout)


class Refusals:
    """The pool's failed connection attempts: kept until the measured window starts, then
    recorded (``Tally.refused``) as they happen, each once, by class."""

    def __init__(self) -> None:
        self.before: list[BaseException] = []
        self.rec: Tally | None = None

    def __call__(self, exc: BaseException) -> None:
        if self.rec is None:
            self.before.append(exc)
        else:
            self.rec.refused(exc)

    def begin(self, rec: Tally) -> None:
        """The window starts: record what came before it, and the rest as it comes."""
        rec.begin()
        for exc in self.before:
            rec.refused(exc)
        self.rec = rec


def _min_size(spec: RunSpec) -> int:
    return spec.pool_size if spec.min_size is None else spec.min_size


def _attempt(
    pool: AsyncConnectionPool[Any], spec: RunSpec, rec: Tally
) -> Callable[[Attempt], Awaitable[None]]:
    timeout = spec.acquire_timeout

    async def attempt(done: Attempt) -> None:
        async with pool.connection(timeout=timeout) as conn:
            done.acquired = perf_counter()
            await run_statements(conn, spec, done, rec)

    return attempt


async def execute(spec: RunSpec, target: Target, rec: Tally) -> None:
    from psycopg_pool import PoolTimeout

    assert target.app_dsn is not None
    refusals = Refusals()
    pool = await open_psycopg_pool(
        target.app_dsn,
        target.settings(spec),
        _min_size(spec),
        spec.pool_size,
        spec.acquire_timeout,
        connect_timeout=spec.connect_timeout,
        on_failure=refusals,
    )
    try:
        # min_size connections open here, before the measured window, as at a service's start;
        # the pool's workers retry refused ones meanwhile, for connect_timeout at most.
        try:
            await pool.wait(timeout=spec.connect_timeout)
        except PoolTimeout as exc:  # psycopg closed the pool: no pool, every task fails
            refusals.begin(rec)
            first = refusals.before[0] if refusals.before else exc
            rec.failure(first, count=spec.tasks, attempts=0 if refusals.before else 1)
            rec.end()
            return
        attempt, retries = _attempt(pool, spec, rec), spec.retries
        refusals.begin(rec)
        # The tasks wait on the pool, as request handlers of a service do.
        await hand_over(spec, rec, lambda arrived: measured(rec, retries, attempt, arrived))
        rec.end()
    finally:
        # Attempts in flight (a growing pool's) end here and are still counted.
        await close_psycopg_pool(pool, max(POOL_CLOSE_TIMEOUT_S, spec.connect_timeout))


async def serve(
    spec: RunSpec, target: Target, rec: Tally, deadline: Deadline, concurrency: int
) -> None:
    """One fleet worker: its pool fills in the background, as a service's does (each refused
    attempt of its workers counted once, as the server counts it), under ``concurrency``
    request handlers until the deadline."""
    assert target.app_dsn is not None
    pool = await open_psycopg_pool(
        target.app_dsn,
        target.settings(spec),
        _min_size(spec),
        spec.pool_size,
        spec.acquire_timeout,
        connect_timeout=spec.connect_timeout,
        on_failure=rec.refused,
    )
    rec.pools_opened += 1
    attempt = _attempt(pool, spec, rec)
    try:
        # gather: the worker's request handlers all compete for its pool at once.
        await asyncio.gather(*(handle_requests(rec, deadline, attempt) for _ in range(concurrency)))
    finally:
        await close_psycopg_pool(pool, max(POOL_CLOSE_TIMEOUT_S, spec.connect_timeout))


def _check(spec: RunSpec) -> None:
    if spec.pool_size < 1:
        raise ConfigError(f"pool_size must be at least 1 (got {spec.pool_size})")


def _recorded(spec: RunSpec) -> dict[str, Any]:
    return {
        "min_size": _min_size(spec),
        "acquire_timeout": spec.acquire_timeout or DEFAULT_POOL_TIMEOUT_S,
    }


def _prepare() -> None:
    import psycopg_pool  # noqa: F401


STRATEGY = Strategy(
    name="psycopg",
    summary="a psycopg 3 pool (psycopg_pool) of pool_size connections (min_size = pool_size "
    "unless given)",
    needs_server=True,
    params=("pool_size", "min_size", "acquire_timeout", *WORKLOAD_PARAMS),
    execute=execute,
    ideal=lambda spec: waves_ideal(spec, spec.pool_size),
    peak_connections=lambda spec: spec.pool_size,
    label=lambda spec: f"psycopg-{spec.pool_size}",
    check=_check,
    bounded=lambda spec: True,
    splits=("pool_size", "min_size"),
    sweeps="pool_size",
    driver="psycopg",
    serve=serve,
    recorded=_recorded,
    prepare=_prepare,
)
