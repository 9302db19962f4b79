"""The pg_stat_activity monitor: counts other clients, samples while the workload's loop is busy."""

from __future__ import annotations

import asyncio
import threading
import time

import asyncpg
import pytest

from dbkit.engine.monitor import Monitor
from dbkit.engine.run import run_one, run_procs
from dbkit.model.identity import member_tag, new_tag
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


def test_counts_the_runs_connections_by_state_and_each_member_apart(pg: EmbeddedServer) -> None:
    tag = new_tag()
    member = member_tag(tag, 1)

    async def main() -> Monitor:
        conns = [
            await asyncpg.connect(pg.app_dsn, server_settings={"application_name": name})
            for name in (tag, tag, member, member, member)
        ]
        other = await asyncpg.connect(pg.app_dsn)
        sleeping = [asyncio.ensure_future(c.execute("SELECT pg_sleep(1.5)")) for c in conns[:1]]
        sleeping += [asyncio.ensure_future(c.execute("SELECT pg_sleep(1.5)")) for c in conns[2:4]]
        sleeping.append(asyncio.ensure_future(other.execute("SELECT pg_sleep(1.5)")))
        await conns[4].execute("BEGIN")  # idle in transaction
        try:
            await asyncio.sleep(0.3)  # the statements are running (well within 1.5 s)
            async with Monitor(pg.admin_dsn, tag) as monitor:
                pass
        finally:
            await asyncio.gather(*sleeping)
            for conn in [*conns, other]:
                await conn.close()
        return monitor

    monitor = asyncio.run(main())
    at, states = monitor.states[0]
    # (connections, active, idle, idle in transaction) of the tag and of its member; the
    # other client's statement is counted among every client's only
    assert states == {tag: (2, 1, 1, 0), member: (3, 2, 0, 1)}
    assert monitor.samples[0][:2] == (at, 5)
    assert monitor.active()[0] == (at, 3) and monitor.active(member)[0] == (at, 2)
    assert monitor.own(tag)[0] == (at, 5) and monitor.own(member)[0] == (at, 3)
    assert monitor.active(member_tag(tag, 2))[0] == (at, 0)  # a member with no connection


def test_a_pool_run_records_its_active_connections_and_demand(pg: EmbeddedServer) -> None:
    # A pool of 20 opened eagerly, 5 tasks of 4 x 0.1 s: 20 connections, at most 5 active.
    spec = RunSpec("pool", tasks=5, pool_size=20, min_size=20, queries=4, hold=0.1)
    run = run_one(spec, pg.app_dsn, pg.admin_dsn)
    assert run.failed == 0, run.errors
    assert run.peak_connections == 20
    assert run.active_peak is not None and 1 <= run.active_peak <= 5
    assert run.active_p99 is not None and 0 <= run.active_p99 <= run.active_peak
    # Little's law: tasks per second x mean service (at least the 0.4 s each holds), never
    # more than the 5 tasks at once
    tasks_per_s = run.ok / run.wall_s
    assert run.demand is not None and tasks_per_s * 0.4 <= run.demand <= 5.0 + 1e-6


def test_a_monitor_cancelled_while_it_starts_leaves_no_thread_or_connection(
    pg: EmbeddedServer,
) -> None:
    # Ctrl-C before anything was measured cancels the monitor's entry: its thread and its
    # connection must end with it, not sample for the rest of the process.
    async def enter_and_cancel() -> None:
        monitor = Monitor(pg.admin_dsn, new_tag())

        async def enter() -> None:
            async with monitor:
                await asyncio.sleep(60)

        task = asyncio.ensure_future(enter())
        await asyncio.sleep(0)  # the thread is started, its first sample not yet in
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(enter_and_cancel())
    for _ in range(300):  # bounded: 30 s; it ends as soon as its connection does
        if not any(t.name == "dbkit-monitor" for t in threading.enumerate()):
            break
        time.sleep(0.1)
    assert not any(t.name == "dbkit-monitor" for t in threading.enumerate())

    async def monitors() -> int:
        conn = await asyncpg.connect(pg.admin_dsn)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    "dbkit monitor",
                )
            )
        finally:
            await conn.close()

    assert asyncio.run(monitors()) == 0


def test_a_fleets_budget_is_what_the_server_lets_the_workload_open_beside_the_monitor(
    pg20: EmbeddedServer,
) -> None:
    # A superuser's connection takes an ordinary slot while one is free (the reserved ones are
    # only the last to go): with the monitor connected, the workload opens one fewer.
    from dbkit.engine.fleet_result import fleet_budget

    async def opened_beside_the_monitor() -> int:
        async with Monitor(pg20.admin_dsn, new_tag()) as monitor:
            in_use = monitor.samples[0][2]
            conns = []
            try:
                for _ in range(pg20.info.max_connections + 1):  # bounded: more than can be
                    conns.append(await asyncpg.connect(pg20.app_dsn))
            except asyncpg.TooManyConnectionsError:
                pass
            finally:
                for conn in conns:
                    await conn.close()
            assert in_use == 0
            return len(conns)

    opened = asyncio.run(opened_beside_the_monitor())
    assert fleet_budget(pg20.info, headroom=0, in_use=0).available == opened
