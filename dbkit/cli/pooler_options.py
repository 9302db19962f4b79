"""The pooler options every load command shares (run, scenario, sweep, fleet), defined once
and taken as one bundle, and the one place they become a PoolerSpec (or None: straight to the
server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from dbkit.cli.bundles import Bundle
from dbkit.model.errors import ConfigError
from dbkit.model.pooler import POOL_MODES, POOLER_KINDS, PoolerSpec

PoolerOpt = Annotated[
    str | None,
    typer.Option(
        "--pooler",
        help=f"Put a pooler dbkit starts in front of the server it starts: "
        f"{', '.join(POOLER_KINDS)}. The workload connects to it; the monitor to the server.",
        show_default=False,
    ),
]
PoolModeOpt = Annotated[
    str | None,
    typer.Option(
        "--pool-mode",
        help=f"The pooler's pool mode: {' or '.join(POOL_MODES)}. [default: transaction]",
        show_default=False,
    ),
]
PoolerSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--pooler-size",
        help="Server connections the pooler keeps for the workload (PgBouncer's "
        "default_pool_size). [default: 20]",
        show_default=False,
    ),
]
MaxClientConnOpt = Annotated[
    int | None,
    typer.Option(
        "--max-client-conn",
        help="Clients the pooler takes at once, its console's connection counted. [default: "
        "100, or as many as the run may open, plus the console, when more]",
        show_default=False,
    ),
]
StatementCacheOpt = Annotated[
    int | None,
    typer.Option(
        "--statement-cache",
        help="asyncpg's statement_cache_size (asyncpg strategies): set, each statement is "
        "prepared through it; 0 prepares unnamed statements and keeps none, as a "
        "transaction-mode pooler needs. [default: unset: plain simple queries]",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class PoolerOptions(Bundle):
    """--pooler, --pool-mode, --pooler-size, --max-client-conn, and --statement-cache (how
    asyncpg prepares statements, which a transaction-mode pooler cares about)."""

    pooler: PoolerOpt = None
    pool_mode: PoolModeOpt = None
    pooler_size: PoolerSizeOpt = None
    max_client_conn: MaxClientConnOpt = None
    statement_cache: StatementCacheOpt = None

    def spec(self) -> PoolerSpec | None:
        """The PoolerSpec the options ask for (see pooler_spec)."""
        return pooler_spec(self.pooler, self.pool_mode, self.pooler_size, self.max_client_conn)


def pooler_spec(
    kind: str | None,
    pool_mode: str | None = None,
    pool_size: int | None = None,
    max_client_conn: int | None = None,
) -> PoolerSpec | None:
    """The PoolerSpec the options ask for; None without --pooler (and then no pooler option
    may be given: it would be ignored)."""
    if kind is None:
        given = [
            name
            for name, value in (
                ("--pool-mode", pool_mode),
                ("--pooler-size", pool_size),
                ("--max-client-conn", max_client_conn),
            )
            if value is not None
        ]
        if given:
            raise ConfigError(f"{', '.join(given)} without --pooler: add --pooler pgbouncer")
        return None
    defaults = PoolerSpec()
    return PoolerSpec(
        kind=kind,
        pool_mode=defaults.pool_mode if pool_mode is None else pool_mode,
        pool_size=defaults.pool_size if pool_size is None else pool_size,
        max_client_conn=max_client_conn,
    )
