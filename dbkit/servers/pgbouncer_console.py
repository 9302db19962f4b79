"""Reading PgBouncer's admin console: SHOW POOLS and SHOW STATS into a PoolSample.

The console speaks the simple query protocol only. asyncpg has no public call that runs a
simple query and returns its rows (``fetch`` sends Parse/Bind, which the console refuses with
08P01 "extended query protocol not supported by admin console"; ``execute`` without arguments
is simple but returns only the command tag), so the console is read with psycopg 3: its
``execute`` of a query with no parameters sends one simple Query message, as long as psycopg
does not prepare it (it prepares a query run 5 times unless told not to: the console refuses).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dbkit.model.dsn import mask_text
from dbkit.model.errors import ServerError
from dbkit.model.pooler import PoolSample

if TYPE_CHECKING:
    import psycopg

# psycopg is imported where a console is opened: a run without a pooler never loads it (about
# 5 MB of the process's memory).

CONSOLE_DATABASE = "pgbouncer"  # the console's own row in SHOW POOLS / SHOW STATS
CONNECT_TIMEOUT_S = 10  # psycopg's connect_timeout is whole seconds (at least 2)


class PoolerConsole:
    """An open connection to PgBouncer's admin console (from ``open_console``).

    It is one of PgBouncer's clients: it counts against ``max_client_conn``.
    """

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def show(self, what: str) -> list[dict[str, Any]]:
        """The rows of ``SHOW <what>`` (POOLS, STATS, CLIENTS, SERVERS, CONFIG...), by column."""
        if not what.replace("_", "").isalpha():
            raise ValueError(f"not a SHOW command: {what!r}")
        cur = await self._conn.execute(f"SHOW {what.upper()}", prepare=False)
        names = [col.name for col in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def sample(self, database: str) -> PoolSample:
        """SHOW POOLS summed over ``database``'s pools (one per user) and SHOW STATS for it."""
        at = time.monotonic()
        pools = [row for row in await self.show("POOLS") if row["database"] == database]
        stats = [row for row in await self.show("STATS") if row["database"] == database]
        total = _summed(pools)
        maxwait = max(
            (_int(row, "maxwait") + _int(row, "maxwait_us") / 1e6 for row in pools), default=0.0
        )
        counters = _summed(stats)
        return PoolSample(
            at=at,
            cl_active=total.get("cl_active", 0),
            cl_waiting=total.get("cl_waiting", 0),
            sv_active=total.get("sv_active", 0),
            sv_idle=total.get("sv_idle", 0),
            sv_used=total.get("sv_used", 0),
            sv_tested=total.get("sv_tested", 0),
            sv_login=total.get("sv_login", 0),
            maxwait_s=maxwait,
            total_xact_count=counters.get("total_xact_count", 0),
            total_query_count=counters.get("total_query_count", 0),
            total_wait_time_s=counters.get("total_wait_time", 0) / 1e6,  # microseconds
        )


@asynccontextmanager
async def open_console(admin_dsn: str) -> AsyncIterator[PoolerConsole]:
    """Connect to the admin console at ``admin_dsn`` for the duration of an ``async with``."""
    import psycopg

    try:
        conn = await psycopg.AsyncConnection.connect(
            admin_dsn,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            prepare_threshold=None,  # never prepare: a prepared statement is extended protocol
        )
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[-1:] or ["no detail"]
        raise ServerError(
            f"cannot reach PgBouncer's console at {mask_text(admin_dsn)}: "
            f"{type(exc).__name__}: {mask_text(detail[0])}"
        ) from None
    try:
        yield PoolerConsole(conn)
    finally:
        await conn.close()


async def sample_pooler(admin_dsn: str, database: str) -> PoolSample:
    """One reading of PgBouncer's pools for ``database``, on a connection of its own."""
    async with open_console(admin_dsn) as console:
        return await console.sample(database)


def _int(row: dict[str, Any], key: str) -> int:
    value = row.get(key)
    if isinstance(value, int | Decimal):  # SHOW STATS columns come as numeric
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        return 0


_COUNTED = (
    "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login",
    "total_xact_count", "total_query_count", "total_wait_time",
)  # fmt: skip


def _summed(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {key: sum(_int(row, key) for row in rows) for key in _COUNTED if rows and key in rows[0]}
