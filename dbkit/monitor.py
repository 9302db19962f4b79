"""Samples the server's client connections from pg_stat_activity while a run goes on.

The monitor connects with the superuser DSN so that it sits in a reserved slot and does not
take one from the workload; its own backend is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from time import perf_counter

import asyncpg

COUNT_CLIENTS = """
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
"""
DEFAULT_INTERVAL_S = 0.05


class Monitor:
    """``async with Monitor(dsn) as m:`` samples every ``interval`` s into ``m.samples``."""

    def __init__(self, dsn: str, interval: float = DEFAULT_INTERVAL_S) -> None:
        self.dsn = dsn
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (perf_counter(), client connections)
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def peak(self) -> int | None:
        return max((n for _, n in self.samples), default=None)

    async def __aenter__(self) -> Monitor:
        self._conn = await asyncpg.connect(self.dsn, timeout=10)
        await self._sample()
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._sample()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 5)
            self._conn = None

    async def _sample(self) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=10)
        count = await self._conn.fetchval(COUNT_CLIENTS)
        self.samples.append((perf_counter(), int(count)))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._sample()
            except Exception:
                # The server may be restarting or refusing, the connection half-dead (asyncpg
                # then raises InternalClientError); the monitor must never end the run: the
                # next tick reconnects.
                if self._conn is not None:
                    self._conn.terminate()
                    self._conn = None
