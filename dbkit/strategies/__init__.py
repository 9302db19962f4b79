"""The concurrency strategies, one module each, by name; each declares what it is."""

from __future__ import annotations

from dbkit.model.errors import ConfigError
from dbkit.model.spec import Kind, register
from dbkit.strategies import (
    batched,
    pool,
    psycopg_pool,
    semaphore,
    sleep,
    sqlalchemy_pool,
    unbatched,
)
from dbkit.strategies.base import Strategy, Target

STRATEGIES: dict[str, Strategy] = {
    module.STRATEGY.name: module.STRATEGY
    for module in (sleep, unbatched, batched, semaphore, pool, sqlalchemy_pool, psycopg_pool)
}
for _strategy in STRATEGIES.values():
    register(
        Kind(
            _strategy.name, _strategy.needs_server, _strategy.params, _strategy.label,
            _strategy.check,
        )
    )  # fmt: skip

__all__ = ["STRATEGIES", "Strategy", "Target", "for_driver", "get_strategy"]


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        ) from None


def for_driver(driver: str) -> Strategy:
    """The pool strategy a fleet service with ``driver`` runs."""
    for strategy in STRATEGIES.values():
        if strategy.driver == driver and strategy.serve is not None:
            return strategy
    drivers = ", ".join(s.driver for s in STRATEGIES.values() if s.driver)
    raise ConfigError(f"unknown driver {driver!r}; choose one of {drivers}")
