"""What every way of getting a PostgreSQL provides: the Server protocol and ServerInfo."""

from __future__ import annotations

from typing import Protocol

import asyncpg

from dbkit.model.dsn import mask_text
from dbkit.model.errors import ServerError
from dbkit.model.server_info import ServerInfo

APP_ROLE = "dbkit_app"
APP_PASSWORD = "dbkit_app"
# A one-off connection of the kit's own (read the settings, create the role, count clients).
ADMIN_CONNECT_TIMEOUT_S = 10.0

# Durability is pointless on a throwaway server; these make start-up and writes cheap.
# Every server dbkit starts (embedded or in Docker) runs with them.
DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}


class Server(Protocol):
    """A running PostgreSQL: a superuser DSN for monitoring and an app DSN for the workload."""

    backend: str
    reason: str  # why this backend was chosen, for the user
    throwaway: bool  # started by dbkit for this command: its DSNs hold no secret of the user
    admin_dsn: str
    app_dsn: str
    info: ServerInfo

    def stop(self) -> None: ...


def printable_dsn(server: Server, dsn: str) -> str:
    """A DSN as it may be shown: whole for a throwaway server dbkit started (so it can be
    pasted), with the password masked for a server the user gave (--dsn)."""
    return dsn if server.throwaway else mask_text(dsn)


async def read_info(admin_dsn: str, app_dsn: str, backend: str) -> ServerInfo:
    """Connect once and read the settings that make a result meaningful."""
    conn = await connect_or_explain(admin_dsn)
    try:
        return await _info(conn, app_dsn, backend)
    finally:
        await conn.close()


async def set_up(admin_dsn: str, app_dsn: str, backend: str) -> ServerInfo:
    """A server dbkit started: create the plain (non-superuser) role the workload runs as, as
    in production, and read its settings back (as ``read_info``), over one connection."""
    conn = await connect_or_explain(admin_dsn)
    try:
        await _ensure_role(conn)
        return await _info(conn, app_dsn, backend)
    finally:
        await conn.close()


async def _info(conn: asyncpg.Connection, app_dsn: str, backend: str) -> ServerInfo:
    row = await conn.fetchrow(
        """
        SELECT current_setting('server_version') AS server_version,
               current_setting('max_connections')::int AS max_connections,
               current_setting('superuser_reserved_connections')::int AS su_reserved,
               coalesce(current_setting('reserved_connections', true), '0')::int AS reserved
        """
    )
    assert row is not None
    app_user = await _role_of(app_dsn, conn)
    is_super = await conn.fetchval(
        "SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = $1), false)", app_user
    )
    return ServerInfo(
        backend=backend,
        server_version=row["server_version"],
        max_connections=row["max_connections"],
        superuser_reserved_connections=row["su_reserved"],
        reserved_connections=row["reserved"],
        app_role=app_user,
        app_role_is_superuser=bool(is_super),
    )


async def _role_of(app_dsn: str, admin: asyncpg.Connection) -> str:
    from urllib.parse import urlsplit

    user = urlsplit(app_dsn).username
    if user:
        return user
    return str(await admin.fetchval("SELECT current_user"))


async def _ensure_role(conn: asyncpg.Connection) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_ROLE)
    if not exists:
        await conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER PASSWORD '{APP_PASSWORD}'")


async def connect_or_explain(
    dsn: str, timeout: float = ADMIN_CONNECT_TIMEOUT_S
) -> asyncpg.Connection:
    """Connect, turning every failure into a one-line ServerError with the password masked."""
    try:
        return await asyncpg.connect(dsn, timeout=timeout)
    except (
        OSError,
        TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        ValueError,
    ) as exc:
        state = getattr(exc, "sqlstate", None)
        what = f"{type(exc).__name__}" + (f" [{state}]" if state else "")
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise ServerError(
            f"cannot connect to {mask_text(dsn)}: {what}: {mask_text(detail)}"
        ) from None


# Which rows of pg_stat_activity are client connections, for any role that looks. A role
# without pg_read_all_stats sees other roles' rows with backend_type NULL; such a row is a
# client when it is connected to a database and has a role (PostgreSQL's own processes lack
# one or both; a database-connected worker counted too errs on the safe side). Counting them is
# what keeps a guard from storming someone else's server.
CLIENT_BACKENDS = (
    "(backend_type = 'client backend'"
    " OR (backend_type IS NULL AND datid IS NOT NULL AND usesysid IS NOT NULL))"
)


async def read_in_use(dsn: str) -> int:
    """Client connections open on the server now, anyone's, not counting our own."""
    conn = await connect_or_explain(dsn)
    try:
        count = await conn.fetchval(
            f"SELECT count(*) FROM pg_stat_activity WHERE {CLIENT_BACKENDS} "
            "AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return int(count)
