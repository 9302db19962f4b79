"""The concurrency strategies, one module each, by name."""

from __future__ import annotations

from dbkit.errors import ConfigError
from dbkit.spec import STRATEGY_NAMES
from dbkit.strategies import batched, pool, semaphore, sleep, sqlalchemy_pool, unbatched
from dbkit.strategies.base import Strategy, Target

STRATEGIES: dict[str, Strategy] = {
    module.STRATEGY.name: module.STRATEGY
    for module in (sleep, unbatched, batched, semaphore, pool, sqlalchemy_pool)
}
assert tuple(STRATEGIES) == STRATEGY_NAMES

__all__ = ["STRATEGIES", "Strategy", "Target", "get_strategy"]


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        ) from None
