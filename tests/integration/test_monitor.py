"""The pg_stat_activity monitor: counts other clients, samples while the workload's loop is busy."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from dbkit.monitor import Monitor
from dbkit.servers import EmbeddedServer


def test_counts_clients_but_not_itself(pg: EmbeddedServer) -> None:
    async def main() -> tuple[int | None, int | None]:
        async with Monitor(pg.admin_dsn) as alone:
            pass
        conns = [await asyncpg.connect(pg.app_dsn) for _ in range(3)]
        try:
            async with Monitor(pg.admin_dsn) as busy:
                pass
        finally:
            for conn in conns:
                await conn.close()
        return alone.peak, busy.peak

    alone, busy = asyncio.run(main())
    assert alone is not None and busy == alone + 3


def test_keeps_sampling_while_the_workload_loop_is_blocked(pg: EmbeddedServer) -> None:
    async def main() -> tuple[list[float], float, float]:
        async with Monitor(pg.admin_dsn, interval=0.02) as monitor:
            blocked_from = time.perf_counter()
            time.sleep(0.5)  # the workload's loop does not run at all meanwhile
            blocked_to = time.perf_counter()
        return [t for t, _ in monitor.samples], blocked_from, blocked_to

    times, start, end = asyncio.run(main())
    during = [t for t in times if start < t < end]
    assert len(during) >= 3, times  # 25 are due; a loaded machine still gets a few


def test_a_refused_connection_is_raised_on_entry(pg: EmbeddedServer) -> None:
    bad = pg.admin_dsn.replace("postgres@", "nobody_here@", 1)
    assert bad != pg.admin_dsn

    async def main() -> None:
        async with Monitor(bad):
            pass

    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        asyncio.run(main())
