"""Samples the server's client connections from pg_stat_activity while a run goes on.

Each sample holds two counts: the run's own connections (application_name equal to the run's
tag, dbkit.model.identity) and every client backend on the server, other people's included. The
monitor connects with the superuser DSN, so it is never refused for the workload's sake; but a
superuser's connection takes an ordinary slot while one is free (the reserved slots are only
the last to go), so it costs the workload one slot, which the guards and a fleet's budget count
(engine/guards.MONITOR_SLOTS, engine/fleet_result.fleet_budget). Its own backend is counted in
neither. It runs its own event loop in a
thread of its own, so it keeps sampling while the workload's loop is busy (a storm's first
thousand connects hold that loop for a while: exactly when the count is worth watching).

Each sample also counts the run's own connections by state, per application_name (the run's
tag, or in a fleet each service's member tag, model.identity): ``active`` (running a
statement), ``idle`` and ``idle in transaction`` (its aborted form too), in ``states``. One
query, grouped by application_name with FILTER clauses, other clients folded into one group: a
sample stays one cheap read of pg_stat_activity. With a pooler in the path these are the states
of the pooler's server connections that carry the tag when sampled (PgBouncer sets it as a
client is linked; a pool's RESET ALL clears it), not of the clients' connections to the pooler.

With a pooler in the path (``pooler``: its console), each tick also reads the pooler's pools
(SHOW POOLS, SHOW STATS) into ``pool_samples``; the console connection is one of the pooler's
clients, and a reading that fails is skipped as a server one is.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from time import perf_counter

import asyncpg

from dbkit.engine.pooled import PoolerTap
from dbkit.model.identity import MONITOR_APP_NAME, OWNED_BY
from dbkit.model.pooler import PoolSample
from dbkit.servers.base import CLIENT_BACKENDS
from dbkit.servers.pgbouncer_console import PoolerConsole, open_console

# One row per application_name of the run's (its tag, its members'), one for everyone else's:
# (name or null, connections, active, idle, idle in transaction).
COUNT_CLIENTS = f"""
SELECT CASE WHEN {OWNED_BY} THEN application_name END, count(*),
  count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state = 'idle'),
  count(*) FILTER (WHERE state LIKE 'idle in transaction%')
FROM pg_stat_activity WHERE {CLIENT_BACKENDS} AND pid <> pg_backend_pid() GROUP BY 1
"""
# A state reading of one application_name: (connections, active, idle, idle in transaction).
States = tuple[int, int, int, int]
DEFAULT_INTERVAL_S = 0.05
MONITOR_CONNECT_S = 10.0
MONITOR_CLOSE_S = 5.0
POLL_S = 0.005


class Monitor:
    """``async with Monitor(dsn, tag) as m:`` samples every ``interval`` s into ``m.samples``:
    (perf_counter(), connections tagged ``app_name`` or a member's, all client connections),
    and into ``states`` at the same instants: {application_name: States} of the run's own.

    Entering returns once the first sample is in (or raises what connecting raised); leaving
    takes a last sample and waits for the monitor's thread to end.
    """

    def __init__(
        self,
        dsn: str,
        app_name: str,
        interval: float = DEFAULT_INTERVAL_S,
        pooler: PoolerTap | None = None,
    ) -> None:
        self.dsn = dsn
        self.app_name = app_name
        self.interval = interval
        self.pooler = pooler
        self.samples: list[tuple[float, int, int]] = []
        self.states: list[tuple[float, dict[str, States]]] = []  # the same instants' states
        self.pool_samples: list[tuple[float, PoolSample]] = []  # (perf_counter(), reading)
        self._console: PoolerConsole | None = None
        self._console_exit: contextlib.AsyncExitStack | None = None
        self._conn: asyncpg.Connection | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    @property
    def peak(self) -> int | None:
        """The most connections of the run's own seen at once."""
        return max((own for _, own, _ in self.samples), default=None)

    @property
    def last(self) -> int | None:
        """The run's own connections at the latest sample (None before the first)."""
        return self.samples[-1][1] if self.samples else None

    @property
    def server_peak(self) -> int | None:
        """The most client connections seen on the server at once, anyone's."""
        return max((total for _, _, total in self.samples), default=None)

    def own(self, app_name: str | None = None) -> list[tuple[float, int]]:
        """(perf_counter(), connections) of ``app_name`` (a member's tag), or of the whole
        run (its tag: every member's together; the default)."""
        return self._series(app_name, 0)

    def active(self, app_name: str | None = None) -> list[tuple[float, int]]:
        """(perf_counter(), connections in state ``active``) of ``app_name``, as ``own``."""
        return self._series(app_name, 1)

    def _series(self, app_name: str | None, column: int) -> list[tuple[float, int]]:
        if app_name is None or app_name == self.app_name:
            return [(t, sum(s[column] for s in by.values())) for t, by in self.states]
        return [(t, by[app_name][column] if app_name in by else 0) for t, by in self.states]

    async def __aenter__(self) -> Monitor:
        self._thread = threading.Thread(target=self._main, name="dbkit-monitor", daemon=True)
        self._thread.start()
        try:
            while not self._ready.is_set():
                await asyncio.sleep(POLL_S)
        except BaseException:  # cancelled (Ctrl-C) while it starts: it must not outlive this
            await asyncio.shield(self._stop_thread())
            raise
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def poke(self) -> None:
        """Take a sample now rather than at the next tick; callable from any thread."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already closed
                loop.call_soon_threadsafe(wake.set)

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop_thread()

    async def _stop_thread(self) -> None:
        self._stopping.set()
        self.poke()
        thread = self._thread
        while thread is not None and thread.is_alive():
            await asyncio.sleep(POLL_S)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            try:
                await self._sample()
                await self._sample_pooler()
            except BaseException as exc:  # handed to the caller of __aenter__
                self._error = exc
                return
            finally:
                self._ready.set()
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                self._wake.clear()
                try:
                    await self._sample()
                except Exception:
                    # The server may be restarting or refusing, the connection half-dead
                    # (asyncpg then raises InternalClientError); the monitor must never end the
                    # run: the next tick reconnects.
                    if self._conn is not None:
                        self._conn.terminate()
                        self._conn = None
                with contextlib.suppress(Exception):
                    await self._sample_pooler()
        finally:
            await self._close_console()
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._conn.close(), MONITOR_CLOSE_S)
                self._conn = None

    async def _sample(self) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.dsn,
                timeout=MONITOR_CONNECT_S,
                server_settings={"application_name": MONITOR_APP_NAME},
            )
        rows = await self._conn.fetch(COUNT_CLIENTS, self.app_name)
        at = perf_counter()
        mine = {r[0]: (r[1], r[2], r[3], r[4]) for r in rows if r[0] is not None}
        every = sum(int(r[1]) for r in rows)
        self.samples.append((at, sum(n for n, *_ in mine.values()), every))
        self.states.append((at, mine))

    async def _sample_pooler(self) -> None:
        if self.pooler is None:
            return
        try:
            if self._console is None:
                stack = contextlib.AsyncExitStack()
                self._console = await stack.enter_async_context(open_console(self.pooler.admin_dsn))
                self._console_exit = stack
            reading = await self._console.sample(self.pooler.database)
        except BaseException:
            await self._close_console()  # the next tick connects again
            raise
        self.pool_samples.append((perf_counter(), reading))

    async def _close_console(self) -> None:
        stack, self._console_exit, self._console = self._console_exit, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stack.aclose(), MONITOR_CLOSE_S)
