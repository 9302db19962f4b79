"""Pool-budget arithmetic: does a fleet's worst case fit under max_connections? No I/O.

The rule (REFERENCES, "Pool sizing"): the sum over services of replicas x workers x
(pool_size + max_overflow) must stay at or under max_connections - superuser_reserved_connections
- reserved_connections - headroom (for admin sessions and migrations). Every process holds its
own pool, so the multiplication is the whole story; the incidents are 16 x 45 = 720 and
12 x 5 x 20 = 1,200 against a 100-connection server.

With a pooler in the path (PgBouncer), the fleet's pools are the pooler's clients, checked against
its max_client_conn (past it PgBouncer refuses with 08P01), and the server sees the pooler's
server connections instead: at most PoolerSpec.server_connections, and never more than the
clients the pooler let in (a server connection is opened for a client that needs one).

What a service is, and how its figures are checked, is dbkit.model.service's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbkit.model.pooler import PoolerSpec
from dbkit.model.service import Service, check_services, check_whole

if TYPE_CHECKING:  # plan.py stays import-light: ServerInfo is only a type here
    from dbkit.model.server_info import ServerInfo


@dataclass(frozen=True)
class Budget:
    """The connections the application may use: max_connections less every slot set aside.

    `superuser_reserved` and `reserved` mirror superuser_reserved_connections and (PostgreSQL 16+)
    reserved_connections; `headroom` is kept free for admin sessions and migrations; `in_use` is
    what other clients already hold. `available` may be zero or negative: then nothing fits.
    """

    max_connections: int
    superuser_reserved: int = 3
    reserved: int = 0
    headroom: int = 0
    in_use: int = 0

    def __post_init__(self) -> None:
        for key in ("max_connections", "superuser_reserved", "reserved", "headroom", "in_use"):
            check_whole("budget: ", key, getattr(self, key), 0)

    @property
    def available(self) -> int:
        taken = self.superuser_reserved + self.reserved + self.headroom + self.in_use
        return self.max_connections - taken

    @classmethod
    def from_server(cls, info: ServerInfo, headroom: int = 0, in_use: int = 0) -> Budget:
        """The budget of a running server, from the settings dbkit read back from it."""
        return cls(
            max_connections=info.max_connections,
            superuser_reserved=info.superuser_reserved_connections,
            reserved=info.reserved_connections,
            headroom=headroom,
            in_use=in_use,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "max_connections": self.max_connections,
            "superuser_reserved": self.superuser_reserved,
            "reserved": self.reserved,
            "headroom": self.headroom,
            "in_use": self.in_use,
        }


CLIENT = "client"  # the pooler's max_client_conn
SERVER = "server"  # the server's budget


@dataclass(frozen=True)
class Load:
    """One client peak against the limits in its path: the pooler's max_client_conn (when there
    is a pooler) and the server's budget.

    ``clients`` are the connections the fleet's pools open (to the pooler, when there is one);
    ``server`` the connections the server sees from them: ``clients`` directly, through a pooler
    the least of its ``server_connections`` and the clients it lets in.
    """

    clients: int
    available: int
    pooler: PoolerSpec | None = None

    @property
    def accepted(self) -> int:
        """The clients the pooler lets in (all of them without a pooler)."""
        if self.pooler is None:
            return self.clients
        return min(self.clients, self.pooler.client_limit)

    @property
    def server(self) -> int:
        if self.pooler is None:
            return self.clients
        return min(self.pooler.server_connections, self.accepted)

    @property
    def client_over_by(self) -> int:
        return self.clients - self.accepted

    @property
    def server_over_by(self) -> int:
        return max(0, self.server - self.available)

    @property
    def session_waits(self) -> int:
        """In session mode, the clients let in past the pooler's server connections: a client
        keeps its server connection while connected, and a pool keeps its connections, so these
        wait for one (then query_wait_timeout, 08P01). Not a limit of the budget: 0 otherwise."""
        if self.pooler is None or self.pooler.pool_mode != "session":
            return 0
        return max(0, self.accepted - self.pooler.server_connections)

    @property
    def client_limit(self) -> int:
        """The most clients the path takes with no limit broken: the server's budget without a
        pooler; with one, its max_client_conn, and the budget too when the pooler may open more
        server connections than the budget (0 when nothing fits)."""
        if self.pooler is None:
            return max(0, self.available)
        if self.pooler.server_connections <= self.available:
            return self.pooler.client_limit
        return max(0, min(self.pooler.client_limit, self.available))

    @property
    def fits(self) -> bool:
        return not self.client_over_by and not self.server_over_by

    @property
    def breaks_first(self) -> str | None:
        """``"server"``, ``"client"`` or None: the limit the clients reach first as they grow.

        The server breaks at ``available + 1`` clients (when the pooler may open that many), the
        pooler at ``max_client_conn + 1``; when the server's budget is broken it is therefore
        reached first, since a pooler refuses clients past max_client_conn before the server
        sees them.
        """
        if self.server_over_by:
            return SERVER
        if self.client_over_by:
            return CLIENT
        return None


@dataclass(frozen=True)
class Plan:
    """A fleet measured against a budget; every number is derived, nothing is stored twice.

    With `scale_to`, each service runs max(replicas, scale_to) pods at the surge of a rolling
    deploy (old and new pods overlap, and a service already above scale_to is not scaled down).
    With `pooler`, the fleet's pools connect to it, and the server budget is checked against
    the pooler's server connections (see Load).
    """

    services: tuple[Service, ...]
    budget: Budget
    scale_to: int | None = None
    pooler: PoolerSpec | None = None

    @property
    def processes(self) -> int:
        return sum(s.processes for s in self.services)

    @property
    def total_steady(self) -> int:
        return sum(s.steady for s in self.services)

    @property
    def total_peak(self) -> int:
        return sum(s.peak for s in self.services)

    @property
    def load(self) -> Load:
        """The fleet's peak against the limits in its path."""
        return Load(self.total_peak, self.budget.available, self.pooler)

    @property
    def fits(self) -> bool:
        return self.load.fits

    @property
    def over_by(self) -> int:
        """How far the server's connections (the pooler's, with one) pass the budget."""
        return self.load.server_over_by

    @property
    def breaks_first(self) -> str | None:
        return self.load.breaks_first

    @property
    def max_pool_per_worker(self) -> int:
        """The largest pool_size + max_overflow that fits if every process used the same."""
        if not self.processes:
            return 0
        return self.load.client_limit // self.processes

    @property
    def max_db_connections_that_fits(self) -> int:
        """With a pooler: the largest max_db_connections that keeps the pooler's server
        connections within the budget (0 when not even one per database does; 0 without a
        pooler)."""
        if self.pooler is None or self.budget.available <= 0:
            return 0
        return self.budget.available // self.pooler.databases

    def max_pool_size(self, service: Service) -> int:
        """The largest pool_size for ``service`` within ``max_pool_per_worker``: that less its
        max_overflow, which counts too (0 when the overflow alone is more)."""
        return max(0, self.max_pool_per_worker - service.max_overflow)

    @property
    def surge_peak(self) -> int | None:
        if self.scale_to is None:
            return None
        return sum(s.peak_at(max(s.replicas, self.scale_to)) for s in self.services)

    @property
    def surge_load(self) -> Load | None:
        peak = self.surge_peak
        return None if peak is None else Load(peak, self.budget.available, self.pooler)

    @property
    def surge_fits(self) -> bool | None:
        load = self.surge_load
        return None if load is None else load.fits

    @property
    def passes(self) -> bool:
        """The verdict a gate acts on: the fleet fits, and so does its surge when one is asked."""
        return self.fits and self.surge_fits is not False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: `budget` is the available number, its parts sit beside it."""
        out: dict[str, Any] = {
            "budget": self.budget.available,
            **self.budget.to_dict(),
            "total_steady": self.total_steady,
            "total_peak": self.total_peak,
            "fits": self.fits,
            "over_by": self.over_by,
            "breaks_first": self.breaks_first,
            "max_pool_per_worker": self.max_pool_per_worker,
            "services": [
                {
                    "name": s.name,
                    "replicas": s.replicas,
                    "workers": s.workers,
                    "pool_size": s.pool_size,
                    "max_overflow": s.max_overflow,
                    "min_size": s.min_size,
                    "driver": s.driver,
                    "steady": s.steady,
                    "peak": s.peak,
                    "max_pool_size": self.max_pool_size(s),
                }
                for s in self.services
            ],
        }
        if self.pooler is not None:
            p = self.pooler
            out["pooler"] = {
                **p.to_dict(),
                "clients": self.total_peak,
                "clients_accepted": self.load.accepted,
                "client_over_by": self.load.client_over_by,
                "server_peak": self.load.server,
                "session_waits": self.load.session_waits,
                "max_db_connections_that_fits": self.max_db_connections_that_fits,
            }
        surge = self.surge_load
        if self.scale_to is not None and surge is not None:
            out["surge"] = {
                "scale_to": self.scale_to,
                "peak": surge.clients,
                "fits": surge.fits,
                "over_by": surge.server_over_by,
                "breaks_first": surge.breaks_first,
            }
            if self.pooler is not None:
                out["surge"]["server_peak"] = surge.server
                out["surge"]["client_over_by"] = surge.client_over_by
        return out


def plan_fleet(
    services: Sequence[Service],
    budget: Budget,
    scale_to: int | None = None,
    pooler: PoolerSpec | None = None,
) -> Plan:
    """Measure a fleet against a budget; `scale_to` also checks a rolling deploy's surge;
    `pooler` puts a pooler between the fleet and the server.

    Raises ConfigError for an empty fleet, a repeated service name or a scale_to below 1.
    """
    check_services(services, "plan")
    if scale_to is not None:
        check_whole("plan: ", "scale_to", scale_to, 1)
    return Plan(tuple(services), budget, scale_to, pooler)
