"""A real PgBouncer started by the kit in front of the embedded server: the pool holds the
server's connections down while clients wait, its own refusals and asyncpg's prepared-statement
failures by SQLSTATE, its console read, and no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from dbkit.model.errors import ConfigError, DbkitError
from dbkit.model.pooler import PoolerSpec, PoolSample, supports_prepared_statements
from dbkit.servers import EmbeddedServer
from dbkit.servers.base import APP_ROLE
from dbkit.servers.pgbouncer import (
    DIR_PREFIX,
    PgBouncer,
    Upstream,
    clear_stale,
    find_pgbouncer,
    pgbouncer_version,
    start_pgbouncer,
)
from dbkit.servers.pgbouncer_console import PoolerConsole, open_console, sample_pooler

try:
    VERSION: str | None = pgbouncer_version(find_pgbouncer())
    WHY_NOT = ""
except DbkitError as exc:
    VERSION, WHY_NOT = None, str(exc)

pytestmark = pytest.mark.skipif(VERSION is None, reason=f"no PgBouncer: {WHY_NOT}")

DATABASE = "postgres"  # the embedded server's database, the one PgBouncer serves
# Through transaction mode a statement prepared on one server connection is missing on the
# next (26000) or, its name reused by another client, already there (42P05). asyncpg numbers
# its statements with one counter per process, so within a process names never collide: only
# 26000 shows; another process starts its count again at 1, and meets the names of the first.
PREPARED_STATEMENT_STATES = {"26000", "42P05"}

APP_BACKENDS = f"""
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND usename = '{APP_ROLE}'
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")  # a zombie has exited; its parent has not reaped it
    return not (status.exists() and "State:\tZ" in status.read_text())


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _key(exc: BaseException) -> tuple[str, str | None]:
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}", getattr(exc, "sqlstate", None)


async def _connect_all(dsn: str, count: int, **kwargs: Any) -> list[asyncpg.Connection]:
    return [await asyncpg.connect(dsn, **kwargs) for _ in range(count)]


async def _close_all(conns: list[asyncpg.Connection]) -> None:
    await asyncio.gather(*(c.close() for c in conns if not c.is_closed()))


def test_transaction_mode_holds_the_server_to_the_pool_while_clients_wait(
    pg: EmbeddedServer,
) -> None:
    spec = PoolerSpec(pool_mode="transaction", pool_size=5, max_client_conn=100)
    clients, max_rounds = 50, 40

    async def main(pooler: PgBouncer) -> tuple[list[int], list[PoolSample], int]:
        conns = await _connect_all(pooler.app_dsn, clients, statement_cache_size=0)
        monitor = await asyncpg.connect(pg.admin_dsn)  # the server, as its superuser
        seen_waiting = asyncio.Event()
        server_counts: list[int] = []
        samples: list[PoolSample] = []

        async def client(conn: asyncpg.Connection) -> int:
            done = 0
            # at least 3 rounds each, more until the console has shown clients waiting
            while done < 3 or (not seen_waiting.is_set() and done < max_rounds):
                await conn.execute("SELECT pg_sleep(0.05)")
                done += 1
            return done

        async def watch(console: PoolerConsole) -> None:
            while not all_done.done():
                server_counts.append(int(await monitor.fetchval(APP_BACKENDS)))
                sample = await console.sample(DATABASE)
                samples.append(sample)
                if sample.cl_waiting > 0 and len(samples) >= 5:
                    seen_waiting.set()
                await asyncio.sleep(0.01)

        try:
            async with open_console(pooler.admin_dsn) as console:
                all_done = asyncio.gather(*(client(c) for c in conns))
                watcher = asyncio.create_task(watch(console))
                rounds = await all_done
                await watcher
        finally:
            await _close_all([*conns, monitor])
        return server_counts, samples, sum(rounds)

    with start_pgbouncer(spec, pg) as pooler:
        counts, samples, queries = asyncio.run(main(pooler))
    print(
        f"server backends of {APP_ROLE}: max {max(counts)} of {len(counts)} readings; "
        f"cl_waiting max {max(s.cl_waiting for s in samples)}, "
        f"maxwait max {max(s.maxwait_s for s in samples):.3f} s, {queries} queries"
    )
    assert queries >= 3 * clients  # every client ran, none failed (a failure would raise)
    assert counts and max(counts) == spec.pool_size, counts  # filled, never past it
    # every client stays connected to PgBouncer, active or waiting for a server connection
    assert all(s.cl_active + s.cl_waiting == clients for s in samples), samples
    assert max(s.cl_waiting for s in samples) > 0
    assert max(s.server_connections for s in samples) <= spec.pool_size
    assert samples[-1].total_query_count >= queries


def test_asyncpg_statement_cache_through_transaction_mode_fails_by_sqlstate(
    pg: EmbeddedServer,
) -> None:
    spec = PoolerSpec(pool_mode="transaction", pool_size=2)

    async def run(dsn: str, **kwargs: Any) -> tuple[int, dict[tuple[str, str | None], int]]:
        conns = await _connect_all(dsn, 10, **kwargs)
        errors: dict[tuple[str, str | None], int] = {}
        ok = 0

        async def client(conn: asyncpg.Connection) -> None:
            nonlocal ok
            for i in range(10):  # a few statement texts, each prepared once per connection
                try:
                    await conn.fetchval(f"SELECT $1::int + {i % 3}", i)
                    ok += 1
                except asyncpg.PostgresError as exc:
                    errors[_key(exc)] = errors.get(_key(exc), 0) + 1

        try:
            await asyncio.gather(*(client(c) for c in conns))
        finally:
            await _close_all(conns)
        return ok, errors

    with start_pgbouncer(spec, pg) as pooler:
        _ok, cached = asyncio.run(run(pooler.app_dsn))
        clean_ok, uncached = asyncio.run(run(pooler.app_dsn, statement_cache_size=0))
    print("with the statement cache:", cached)
    assert cached, "asyncpg's statement cache ran clean through transaction mode"
    assert {state for _kind, state in cached} <= PREPARED_STATEMENT_STATES, cached
    assert {state for _kind, state in cached} == {"26000"}, cached  # one process: no 42P05
    assert uncached == {} and clean_ok == 100


def test_a_second_process_meets_the_first_ones_statement_names_42p05(pg: EmbeddedServer) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys, asyncpg
        async def main():
            conn = await asyncpg.connect(sys.argv[1])  # with its statement cache
            try:
                await conn.fetchval("SELECT $1::int", 1)
                print("ok")
            except asyncpg.PostgresError as exc:
                print(f"{type(exc).__module__}.{type(exc).__qualname__}", exc.sqlstate)
            finally:
                await conn.close()
        asyncio.run(main())
        """
    )
    # One server connection: the second process's first statement lands where the first one
    # left its own, under the same name (transaction mode resets nothing between clients).
    with start_pgbouncer(PoolerSpec(pool_mode="transaction", pool_size=1), pg) as pooler:
        outs = [
            subprocess.run(
                [sys.executable, "-c", script, pooler.app_dsn],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout.split()
            for _ in range(2)
        ]  # fmt: skip
    assert outs == [["ok"], ["asyncpg.exceptions.DuplicatePreparedStatementError", "42P05"]]


def test_max_prepared_statements_needs_pgbouncer_1_21(pg: EmbeddedServer) -> None:
    assert VERSION is not None
    if supports_prepared_statements(VERSION):
        pytest.skip(f"PgBouncer {VERSION} has max_prepared_statements (tested elsewhere)")
    with pytest.raises(ConfigError, match=r"1\.21"):
        PgBouncer(PoolerSpec(max_prepared_statements=100), Upstream.from_dsn(pg.app_dsn)).start()
    assert not _own_folders(), "a refused start left its folder"


def test_max_prepared_statements_lets_the_statement_cache_run_clean(pg: EmbeddedServer) -> None:
    assert VERSION is not None
    if not supports_prepared_statements(VERSION):
        pytest.skip(f"PgBouncer {VERSION} has no max_prepared_statements (1.21 and later)")
    spec = PoolerSpec(pool_mode="transaction", pool_size=2, max_prepared_statements=100)

    async def run(dsn: str) -> int:
        conns = await _connect_all(dsn, 10)
        try:
            for i in range(10):
                await asyncio.gather(*(c.fetchval(f"SELECT $1::int + {i % 3}", i) for c in conns))
        finally:
            await _close_all(conns)
        return 100

    with start_pgbouncer(spec, pg) as pooler:
        assert asyncio.run(run(pooler.app_dsn)) == 100


def test_max_client_conn_exceeded_is_refused_with_08p01(pg: EmbeddedServer) -> None:
    spec = PoolerSpec(pool_size=2, max_client_conn=5)

    async def main(dsn: str) -> BaseException | None:
        conns = await _connect_all(dsn, spec.max_client_conn, statement_cache_size=0)
        try:
            extra = await asyncpg.connect(dsn, statement_cache_size=0)
        except asyncpg.PostgresError as exc:
            return exc
        finally:
            await _close_all(conns)
        await extra.close()
        return None

    with start_pgbouncer(spec, pg) as pooler:
        refused = asyncio.run(main(pooler.app_dsn))
    assert refused is not None, "a client past max_client_conn was let in"
    assert _key(refused) == ("asyncpg.exceptions.ProtocolViolationError", "08P01")


def test_query_wait_timeout_ends_the_waiting_client(pg: EmbeddedServer) -> None:
    spec = PoolerSpec(pool_size=1, query_wait_timeout=0.5)

    async def main(pooler: PgBouncer) -> BaseException | None:
        holder, waiter = await _connect_all(pooler.app_dsn, 2, statement_cache_size=0)
        try:
            async with holder.transaction():  # the pool's one server connection, held
                await holder.execute("SELECT 1")
                try:
                    await waiter.fetchval("SELECT 1")
                except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    return exc
                return None
        finally:
            await _close_all([holder, waiter])

    with start_pgbouncer(spec, pg) as pooler:
        ended = asyncio.run(main(pooler))
    assert ended is not None, "a client waited past query_wait_timeout"
    # PgBouncer sends 08P01 and closes; asyncpg, mid-query, reports the closed connection
    print("query_wait_timeout:", _key(ended))
    assert _key(ended) == ("asyncpg.exceptions.ConnectionDoesNotExistError", "08003")


def test_info_and_dsns_name_what_runs(pg: EmbeddedServer) -> None:
    spec = PoolerSpec(pool_mode="session", pool_size=3, max_db_connections=4, reserve_pool_size=1)

    async def main(pooler: PgBouncer) -> tuple[str, dict[str, Any], PoolSample]:
        conn = await asyncpg.connect(pooler.app_dsn)  # session mode: the statement cache is fine
        try:
            user = str(await conn.fetchval("SELECT current_user"))
            async with open_console(pooler.admin_dsn) as console:
                config = {row["key"]: row["value"] for row in await console.show("CONFIG")}
            return user, config, await sample_pooler(pooler.admin_dsn, DATABASE)
        finally:
            await conn.close()

    with start_pgbouncer(spec, pg) as pooler:
        user, config, sample = asyncio.run(main(pooler))
        info = pooler.info
    assert info is not None and info.kind == "pgbouncer" and info.version == VERSION
    assert user == APP_ROLE
    for key, value in info.settings.items():  # what the metadata says is what PgBouncer runs
        assert config[key] == value, key
    assert info.settings["pool_mode"] == "session" and info.settings["default_pool_size"] == "3"
    assert sample.cl_active == 1 and sample.cl_waiting == 0 and sample.server_connections == 1


def test_in_front_of_a_server_that_asks_for_passwords() -> None:
    async def main(dsn: str) -> str:
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            return str(await conn.fetchval("SELECT current_user"))
        finally:
            await conn.close()

    with EmbeddedServer(max_connections=10, password="s3cret") as server:
        assert ":" in server.app_dsn.split("@")[0].removeprefix("postgresql://")
        with start_pgbouncer(PoolerSpec(pool_size=1), server) as pooler:
            assert asyncio.run(main(pooler.app_dsn)) == APP_ROLE  # scram at both hops


def test_pgbouncer_is_gone_after_the_block_also_when_it_raises(pg: EmbeddedServer) -> None:
    seen: dict[str, Any] = {}
    with pytest.raises(RuntimeError, match="boom"), start_pgbouncer(PoolerSpec(), pg) as pooler:
        seen["pid"], seen["folder"] = pooler.pid, pooler.folder
        assert _alive(pooler.pid or 0)
        raise RuntimeError("boom in the middle of a run")
    assert _wait_gone(seen["pid"]), "PgBouncer outlived the block"
    assert not seen["folder"].exists()


def test_sigkill_of_the_kit_takes_pgbouncer_down() -> None:
    script = textwrap.dedent(
        """
        import time
        from dbkit.model.pooler import PoolerSpec
        from dbkit.servers import EmbeddedServer
        from dbkit.servers.pgbouncer import start_pgbouncer
        with EmbeddedServer(max_connections=10) as server:
            with start_pgbouncer(PoolerSpec(), server) as pooler:
                print(pooler.pid, pooler.folder, flush=True)
                time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    pid_text, folder_text = child.stdout.readline().split()
    pid, folder = int(pid_text), Path(folder_text)
    assert _alive(pid)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _wait_gone(pid), "PgBouncer outlived a SIGKILLed dbkit"
    assert folder.exists()  # the dead kit could not clean up ...
    assert folder in clear_stale()  # ... so the next start does
    assert not folder.exists()


def test_a_missing_binary_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBKIT_PGBOUNCER", "/nonexistent/pgbouncer")
    with pytest.raises(DbkitError, match="DBKIT_PGBOUNCER"):
        find_pgbouncer()


def _own_folders() -> list[Path]:
    mine = [str(os.getpid())]
    return [
        p
        for p in Path(tempfile.gettempdir()).glob(DIR_PREFIX + "*")
        if (p / "owner.pid").exists() and (p / "owner.pid").read_text().split() == mine
    ]
