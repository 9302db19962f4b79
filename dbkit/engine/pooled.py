"""Where a run's workload connects: the server itself, or a pooler dbkit starts in front of it.

One mechanism for every entry point (``run_experiment`` behind `run`, `scenario` and `sweep`;
``run_fleet`` behind `fleet`): ``endpoints(server, pooler)`` hands the workload the pooler's
app DSN while the monitor and the faults keep the server's superuser DSN, and stops the pooler
when the block ends. A pooler is started only in front of a server dbkit started itself (its
role, password and database are the kit's own), from the thread that runs the experiment (the
main one: PgBouncer dies with the thread that started it).

Errors of a run through a pooler all came through it: the workload's only peer is PgBouncer.
An error record keeps what the driver said, (exception class, SQLSTATE); whether PgBouncer
raised it itself (08P01 once max_client_conn is reached, 08003 as asyncpg reports a client
dropped after query_wait_timeout) or relayed the server's is not known per error, and is not
recorded: the run's ``pooler`` section says every error of that run came through the pooler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from dbkit.model.errors import ConfigError
from dbkit.model.pooler import PoolerInfo, PoolerSpec
from dbkit.servers import Server, ServerSpec
from dbkit.servers.pgbouncer import start_pgbouncer

CONSOLE_SLOTS = 1  # the monitor's connection to the pooler's console: one of its clients


@dataclass(frozen=True)
class PoolerTap:
    """What the monitor needs to read a pooler's console: its admin DSN and the database whose
    pools the workload uses, with the kind and pool mode a run records."""

    admin_dsn: str
    database: str
    kind: str
    pool_mode: str
    pool_size: int  # server connections it keeps for the workload: the run's width there


@dataclass(frozen=True)
class Endpoints:
    """Where the workload connects (``app_dsn``), the server's superuser DSN (``admin_dsn``),
    and the pooler in between, if any (its info for the metadata, its console for sampling)."""

    app_dsn: str
    admin_dsn: str
    pooler: PoolerInfo | None = None
    tap: PoolerTap | None = None


def check_startable(server: ServerSpec, pooler: PoolerSpec | None) -> None:
    """A pooler goes only in front of a server dbkit starts: refuse one with a DSN at once."""
    if pooler is not None and (server.kind == "dsn" or server.dsn):
        raise ConfigError(
            "a pooler is started only in front of a server dbkit starts (embedded or docker), "
            "not one given by a DSN: drop --pooler or the DSN"
        )
    if pooler is not None and pooler.pools > 1:
        raise ConfigError(
            f"a pooler the kit starts serves one database and one user, not {pooler.databases} "
            f"x {pooler.users}: plan such a pooler with `dbkit plan`, run it with databases = "
            "users = 1"
        )


@contextlib.contextmanager
def endpoints(srv: Server, pooler: PoolerSpec | None, clients: int = 0) -> Iterator[Endpoints]:
    """The workload's endpoints on ``srv``: through a fresh ``pooler`` when one is given (it is
    stopped when the block ends, also on an error), else the server's own. ``clients``: the
    most connections the workload may open at once, which a max_client_conn left to the kit
    (None) takes in, with the monitor's console connection."""
    if pooler is None:
        yield Endpoints(srv.app_dsn, srv.admin_dsn)
        return
    if srv.backend == "dsn":
        raise ConfigError("a pooler is started only in front of a server dbkit starts")
    pooler = pooler.sized_for(clients + CONSOLE_SLOTS)
    with start_pgbouncer(pooler, srv) as bouncer:
        tap = PoolerTap(
            bouncer.admin_dsn, bouncer.upstream.database, pooler.kind, pooler.pool_mode,
            pooler.pool_size,
        )  # fmt: skip
        yield Endpoints(bouncer.app_dsn, srv.admin_dsn, bouncer.info, tap)
