"""Samples the server's client connections from pg_stat_activity while a run goes on.

Each sample holds two counts: the run's own connections (application_name equal to the run's
tag, dbkit.model.identity) and every client backend on the server, other people's included. The
monitor connects with the superuser DSN so that it sits in a reserved slot and does not
take one from the workload; its own backend is counted in neither. It runs its own event loop in a
thread of its own, so it keeps sampling while the workload's loop is busy (a storm's first
thousand connects hold that loop for a while: exactly when the count is worth watching).

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
from dbkit.model.identity import MONITOR_APP_NAME
from dbkit.model.pooler import PoolSample
from dbkit.servers.base import CLIENT_BACKENDS
from dbkit.servers.pgbouncer_console import PoolerConsole, open_console

COUNT_CLIENTS = f"""
SELECT count(*) FILTER (WHERE application_name = $1), count(*) FROM pg_stat_activity
WHERE {CLIENT_BACKENDS} AND pid <> pg_backend_pid()
"""
DEFAULT_INTERVAL_S = 0.05
MONITOR_CONNECT_S = 10.0
MONITOR_CLOSE_S = 5.0
POLL_S = 0.005


class Monitor:
    """``async with Monitor(dsn, tag) as m:`` samples every ``interval`` s into ``m.samples``:
    (perf_counter(), connections tagged ``app_name``, all client connections).

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

    async def __aenter__(self) -> Monitor:
        self._thread = threading.Thread(target=self._main, name="dbkit-monitor", daemon=True)
        self._thread.start()
        while not self._ready.is_set():
            await asyncio.sleep(POLL_S)
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
        row = await self._conn.fetchrow(COUNT_CLIENTS, self.app_name)
        assert row is not None
        self.samples.append((perf_counter(), int(row[0]), int(row[1])))

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
