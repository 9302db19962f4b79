"""The pg_stat_activity monitor: counts other clients, samples while the workload's loop is busy."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from dbkit.engine.monitor import Monitor
from dbkit.engine.run import run_one, run_procs
from dbkit.model.identity import new_tag
from dbkit.model.spec import RunSpec
from dbkit.servers import EmbeddedServer


def test_counts_the_runs_connections_and_all_clients_but_not_itself(pg: EmbeddedServer) -> None:
    tag = new_tag()

    async def main() -> tuple[Monitor, Monitor]:
        async with Monitor(pg.admin_dsn, tag) as alone:
            pass
        ours = [
            await asyncpg.connect(pg.app_dsn, server_settings={"application_name": tag})
            for _ in range(2)
        ]
        others = [await asyncpg.connect(pg.app_dsn) for _ in range(3)]
        try:
            async with Monitor(pg.admin_dsn, tag) as busy:
                pass
        finally:
            for conn in ours + others:
                await conn.close()
        return alone, busy

    alone, busy = asyncio.run(main())
    assert alone.peak == 0 and alone.server_peak is not None
    assert busy.peak == 2  # the run's own: its tag, whatever the role
    assert busy.server_peak == alone.server_peak + 5  # every client backend, but not itself
    assert all(len(sample) == 3 for sample in busy.samples)


def test_keeps_sampling_while_the_workload_loop_is_blocked(pg: EmbeddedServer) -> None:
    async def main() -> tuple[list[float], float, float]:
        async with Monitor(pg.admin_dsn, new_tag(), interval=0.02) as monitor:
            blocked_from = time.perf_counter()
            time.sleep(0.5)  # the workload's loop does not run at all meanwhile
            blocked_to = time.perf_counter()
        return [t for t, _, _ in monitor.samples], blocked_from, blocked_to

    times, start, end = asyncio.run(main())
    during = [t for t in times if start < t < end]
    assert len(during) >= 3, times  # 25 are due; a loaded machine still gets a few


def test_a_refused_connection_is_raised_on_entry(pg: EmbeddedServer) -> None:
    bad = pg.admin_dsn.replace("postgres@", "nobody_here@", 1)
    assert bad != pg.admin_dsn

    async def main() -> None:
        async with Monitor(bad, new_tag()):
            pass

    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        (RunSpec("unbatched", tasks=6, queries=1, hold=0.4), 1, 6),
        (RunSpec("batched", tasks=6, batch_size=3, queries=1, hold=0.4), 1, 3),
        (RunSpec("semaphore", tasks=6, limit=3, queries=1, hold=0.4), 1, 3),
        (RunSpec("pool", tasks=20, pool_size=4, queries=1, hold=0.05), 4, 4),
        (RunSpec("sqlalchemy", tasks=20, pool_size=4, queries=1, hold=0.05), 4, 4),
        (RunSpec("psycopg", tasks=20, pool_size=4, queries=1, hold=0.05), 4, 4),
        (RunSpec("sqlalchemy", tasks=6, pool_size=0, queries=1, hold=0.4), 1, 6),
        (RunSpec("pool", tasks=40, pool_size=4, queries=1, hold=0.05, procs=2), 1, 4),
    ],
    ids=["unbatched", "batched", "semaphore", "pool", "sqlalchemy", "psycopg", "nullpool", "procs"],
)
def test_every_connection_path_carries_the_runs_tag(
    pg: EmbeddedServer, spec: RunSpec, low: int, high: int
) -> None:
    # A DSN's own application_name does not replace the run's tag (README: "Whose connections").
    app_dsn = pg.app_dsn + ("&" if "?" in pg.app_dsn else "?") + "application_name=mine"
    if spec.procs > 1:
        run = run_procs(spec, app_dsn, pg.admin_dsn)
    else:
        run = run_one(spec, app_dsn, pg.admin_dsn)
    assert run.failed == 0, run.errors
    assert run.peak_connections is not None and low <= run.peak_connections <= high
    assert run.peak_server_connections is not None
    assert run.peak_server_connections >= run.peak_connections
