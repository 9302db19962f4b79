"""A server-side pooler in the path: what to start (PoolerSpec), what ran (PoolerInfo), and
what its admin console said at one moment (PoolSample). Pure data, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from dbkit.model.errors import ConfigError

POOLER_KINDS = ("pgbouncer",)
POOL_MODES = ("session", "transaction")
# PgBouncer keeps prepared statements across server connections in transaction mode from 1.21.
PREPARED_STATEMENTS_SINCE = (1, 21)
DEFAULT_MAX_CLIENT_CONN = 100  # PgBouncer's own


@dataclass(frozen=True)
class PoolerSpec:
    """Which pooler to put between the workload and the server, and its limits.

    The names follow PgBouncer's settings: ``pool_size`` is ``default_pool_size`` (server
    connections per database and user), ``max_db_connections`` 0 means no cap per database,
    ``query_wait_timeout`` 0 means a client may wait for a server connection forever, and
    ``max_prepared_statements`` > 0 needs PgBouncer 1.21 or later. The defaults are PgBouncer's,
    except the pool mode: transaction, the mode that lets many clients share a few connections,
    and ``max_client_conn``: None sizes it to what goes through (``sized_for``: PgBouncer's 100,
    or more when a run may open more connections, its console counted).

    ``max_user_connections`` (0: no cap) caps server connections per user across databases.
    ``databases`` and ``users`` are not settings: PgBouncer keeps one pool per (database, user)
    pair, and a plan counts ``databases x users`` pools; a pooler the kit starts serves one
    database and one user.
    """

    kind: str = "pgbouncer"
    pool_mode: str = "transaction"
    pool_size: int = 20
    max_client_conn: int | None = None
    max_db_connections: int = 0
    reserve_pool_size: int = 0
    max_prepared_statements: int = 0
    query_wait_timeout: float = 120.0
    max_user_connections: int = 0
    databases: int = 1
    users: int = 1

    def __post_init__(self) -> None:
        if self.kind not in POOLER_KINDS:
            raise ConfigError(
                f"unknown pooler {self.kind!r}; choose one of {', '.join(POOLER_KINDS)}"
            )
        if self.pool_mode not in POOL_MODES:
            raise ConfigError(
                f"unknown pool mode {self.pool_mode!r}; choose one of {', '.join(POOL_MODES)}"
            )
        _at_least("the pooler's pool size (default_pool_size)", self.pool_size, 1)
        if self.max_client_conn is not None:
            _at_least("max_client_conn", self.max_client_conn, 1)
        _at_least("max_db_connections (0: no cap)", self.max_db_connections, 0)
        _at_least("reserve_pool_size", self.reserve_pool_size, 0)
        _at_least("max_prepared_statements (0: off)", self.max_prepared_statements, 0)
        _at_least("max_user_connections (0: no cap)", self.max_user_connections, 0)
        _at_least("databases", self.databases, 1)
        _at_least("users", self.users, 1)
        wait = self.query_wait_timeout
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not math.isfinite(wait):
            raise ConfigError(f"query_wait_timeout must be a number of seconds (got {wait!r})")
        if wait < 0:
            raise ConfigError(f"query_wait_timeout must be at least 0 (0: no limit; got {wait})")

    @property
    def client_limit(self) -> int:
        """max_client_conn as PgBouncer runs it: as given, else PgBouncer's default."""
        return DEFAULT_MAX_CLIENT_CONN if self.max_client_conn is None else self.max_client_conn

    def sized_for(self, clients: int) -> PoolerSpec:
        """This spec for ``clients`` connections at once: max_client_conn as given, or, left to
        the kit (None), PgBouncer's default or ``clients`` when more."""
        if self.max_client_conn is not None:
            return self
        return replace(self, max_client_conn=max(DEFAULT_MAX_CLIENT_CONN, clients))

    @property
    def pools(self) -> int:
        """The pooler's pools: one per (database, user) pair."""
        return self.databases * self.users

    @property
    def server_connections(self) -> int:
        """The most server connections the pooler may open, whatever its clients do.

        Each pool opens up to ``default_pool_size + reserve_pool_size``; ``max_db_connections``
        caps each database's pools together, ``max_user_connections`` each user's. With every
        pool alike, the most all pools reach under both caps is the least of the three totals.
        """
        per_pool = self.pool_size + self.reserve_pool_size
        caps = [self.pools * per_pool]
        if self.max_db_connections:
            caps.append(self.databases * self.max_db_connections)
        if self.max_user_connections:
            caps.append(self.users * self.max_user_connections)
        return min(caps)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, by PgBouncer's names, with the pools and the server connections they make."""
        return {
            "kind": self.kind,
            "pool_mode": self.pool_mode,
            "default_pool_size": self.pool_size,
            "reserve_pool_size": self.reserve_pool_size,
            "max_client_conn": self.max_client_conn,
            "max_db_connections": self.max_db_connections,
            "max_user_connections": self.max_user_connections,
            "max_prepared_statements": self.max_prepared_statements,
            "query_wait_timeout": self.query_wait_timeout,
            "databases": self.databases,
            "users": self.users,
            "pools": self.pools,
            "server_connections": self.server_connections,
        }

    def settings(self) -> dict[str, str]:
        """The pooler's settings this spec fixes, by PgBouncer's names, as its config says them."""
        return {
            "pool_mode": self.pool_mode,
            "default_pool_size": str(self.pool_size),
            "max_client_conn": str(self.client_limit),
            "max_db_connections": str(self.max_db_connections),
            "max_user_connections": str(self.max_user_connections),
            "reserve_pool_size": str(self.reserve_pool_size),
            "max_prepared_statements": str(self.max_prepared_statements),
            "query_wait_timeout": _seconds(self.query_wait_timeout),
        }


def _at_least(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number (got {value!r})")
    if value < low:
        raise ConfigError(f"{name} must be at least {low} (got {value})")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parse_version(text: str) -> tuple[int, ...]:
    """``(1, 18, 0)`` from ``"1.18.0"`` (a suffix after the numbers is ignored)."""
    parts = []
    for piece in text.strip().split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(piece):
            break
    if not parts:
        raise ValueError(f"not a version: {text!r}")
    return tuple(parts)


def supports_prepared_statements(version: str) -> bool:
    """True when a PgBouncer of this version has ``max_prepared_statements`` (1.21 and later)."""
    return parse_version(version) >= PREPARED_STATEMENTS_SINCE


@dataclass(frozen=True)
class PoolerInfo:
    """The pooler a run went through, for the result's metadata: its kind, its version, and the
    settings it ran with (PgBouncer's names and values, as written in its config)."""

    kind: str
    version: str
    settings: Mapping[str, str] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, object]:
        """The JSON-ready form: ``{"kind", "version", "settings"}``."""
        return {"kind": self.kind, "version": self.version, "settings": dict(self.settings)}


@dataclass(frozen=True)
class PoolSample:
    """One reading of the pooler's admin console (SHOW POOLS summed over the workload's pools,
    SHOW STATS for its database), ``at`` the reader's ``time.monotonic()``.

    Client counts: ``cl_active`` are linked to a server connection or idle, ``cl_waiting`` wait
    for one. Server counts: ``sv_active`` linked to a client, ``sv_idle`` ready, ``sv_used``
    idle and not yet checked, ``sv_tested`` being checked, ``sv_login`` logging in.
    ``maxwait_s`` is the longest a waiting client has waited now. The totals are counters since
    the pooler started (``total_wait_time_s``: the time clients spent waiting, summed).
    """

    at: float
    cl_active: int
    cl_waiting: int
    sv_active: int
    sv_idle: int
    sv_used: int
    sv_tested: int
    sv_login: int
    maxwait_s: float
    total_xact_count: int = 0
    total_query_count: int = 0
    total_wait_time_s: float = 0.0

    @property
    def server_connections(self) -> int:
        """Server connections the pooler holds now, in any state."""
        return self.sv_active + self.sv_idle + self.sv_used + self.sv_tested + self.sv_login


# What a run records of each console reading, in this order: the client and server counts the
# pool's behaviour shows in, and how long the longest waiting client had waited.
SAMPLE_KEYS = ("cl_active", "cl_waiting", "sv_active", "sv_idle", "maxwait_s")


@dataclass(frozen=True)
class PoolerSection:
    """A run's view of the pooler it went through (the optional ``pooler`` key of a run): its
    kind and pool mode, and the console's readings, each ``(t, cl_active, cl_waiting,
    sv_active, sv_idle, maxwait_s)`` with ``t`` in seconds from the run's start. Peaks are the
    largest of each over the readings (absent, None, when there were none: a run split over
    processes is not read from the console)."""

    kind: str
    pool_mode: str
    samples: tuple[tuple[float, int, int, int, int, float], ...] = ()

    def peaks(self) -> dict[str, float | int | None]:
        return {
            key: max((s[i + 1] for s in self.samples), default=None)
            for i, key in enumerate(SAMPLE_KEYS)
        }

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "pool_mode": self.pool_mode,
            "peaks": self.peaks(),
            "samples": [
                {"t": s[0], **dict(zip(SAMPLE_KEYS, s[1:], strict=True))} for s in self.samples
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PoolerSection:
        raw = data.get("samples") or []
        assert isinstance(raw, list)
        samples = tuple(
            (
                float(s["t"]), int(s["cl_active"]), int(s["cl_waiting"]), int(s["sv_active"]),
                int(s["sv_idle"]), float(s["maxwait_s"]),
            )
            for s in raw
        )  # fmt: skip
        return cls(kind=str(data["kind"]), pool_mode=str(data["pool_mode"]), samples=samples)

    @classmethod
    def of(
        cls, kind: str, pool_mode: str, readings: Sequence[tuple[float, PoolSample]], t0: float
    ) -> PoolerSection:
        """From the monitor's ``(perf_counter(), PoolSample)`` readings, times from ``t0``."""
        samples = tuple(
            (round(t - t0, 4), s.cl_active, s.cl_waiting, s.sv_active, s.sv_idle, s.maxwait_s)
            for t, s in readings
        )
        return cls(kind, pool_mode, samples)
