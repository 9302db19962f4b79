"""A deployed service, as a deploy file or ``--service`` describes it: replicas x workers,
each worker process with a pool of its driver. What the plan (dbkit.model.plan) multiplies
and the fleet (dbkit.engine.fleet) runs; each figure checked as it is given. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbkit.model.errors import ConfigError

DRIVERS = ("asyncpg", "sqlalchemy", "psycopg")
# The strategy that runs one worker's pool of each driver (a fleet's service, a run's record).


def check_whole(where: str, key: str, value: object, low: int, high: int | None = None) -> None:
    """A whole number from ``low`` to ``high`` (None: no limit), else a ConfigError naming
    ``where`` and ``key``: how a service's figures (and a budget's) are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}{key} = {value!r}: must be a whole number")
    if value < low:
        raise ConfigError(f"{where}{key} = {value!r}: must be at least {low}")
    if high is not None and value > high:
        raise ConfigError(f"{where}{key} = {value!r}: must be at most {high}")


@dataclass(frozen=True)
class Service:
    """One deployed service: `replicas` pods, each running `workers` processes with a pool each.

    `pool_size` is the pool's persistent size (asyncpg's and psycopg_pool's `max_size`,
    SQLAlchemy's `pool_size`); `max_overflow` the extra connections SQLAlchemy opens under load;
    `min_size` the connections asyncpg or psycopg_pool opens at pool creation (SQLAlchemy has
    no such option).
    """

    name: str
    replicas: int
    workers: int
    pool_size: int
    max_overflow: int = 0
    min_size: int | None = None
    driver: str = "asyncpg"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"service name = {self.name!r}: must be a non-empty string")
        where = f"service {self.name}: "
        check_whole(where, "replicas", self.replicas, 1)
        check_whole(where, "workers", self.workers, 1)
        check_whole(where, "pool_size", self.pool_size, 1)
        check_whole(where, "max_overflow", self.max_overflow, 0)
        if self.driver not in DRIVERS:
            raise ConfigError(f"{where}driver = {self.driver!r}: must be one of {DRIVERS}")
        if self.max_overflow and self.driver != "sqlalchemy":
            # Counting overflow an asyncpg or psycopg pool never opens would inflate the peak.
            raise ConfigError(
                f"{where}max_overflow = {self.max_overflow!r}: a SQLAlchemy option; "
                f"{self.driver}'s pool has no overflow (min_size/max_size only): drop it or set "
                "driver=sqlalchemy"
            )
        if self.min_size is not None:
            check_whole(where, "min_size", self.min_size, 0, self.pool_size)
            if self.driver == "sqlalchemy":
                raise ConfigError(
                    f"{where}min_size = {self.min_size!r}: an asyncpg and psycopg option; "
                    "SQLAlchemy keeps up to pool_size connections"
                )

    @property
    def processes(self) -> int:
        return self.replicas * self.workers

    @property
    def per_worker_peak(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def per_worker_steady(self) -> int:
        # asyncpg and psycopg open min_size at start-up; a busy SQLAlchemy pool settles at
        # pool_size.
        return self.pool_size if self.min_size is None else self.min_size

    @property
    def steady(self) -> int:
        return self.processes * self.per_worker_steady

    @property
    def peak(self) -> int:
        return self.processes * self.per_worker_peak

    def peak_at(self, replicas: int) -> int:
        """Peak connections if this service ran `replicas` pods (a scaled or surging deploy)."""
        check_whole(f"service {self.name}: ", "replicas", replicas, 0)
        return replicas * self.workers * self.per_worker_peak


def check_services(services: Sequence[Service], who: str) -> None:
    """At least one service, and no name twice (ConfigError prefixed with ``who``)."""
    if not services:
        raise ConfigError(f"{who}: no services given")
    seen: set[str] = set()
    for service in services:
        if service.name in seen:
            raise ConfigError(f"{who}: service {service.name} given twice")
        seen.add(service.name)
