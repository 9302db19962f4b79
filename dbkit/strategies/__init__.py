"""The concurrency strategies, one module each, by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields

from dbkit.model.errors import ConfigError
from dbkit.model.spec import STRATEGY_NAMES, RunSpec
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
assert tuple(STRATEGIES) == STRATEGY_NAMES

__all__ = ["STRATEGIES", "Strategy", "Target", "check_uses", "get_strategy"]

# RunSpec fields that only some strategies use; every strategy takes the others (tasks, ...).
OPTIONAL_FIELDS = tuple(
    f.name
    for f in fields(RunSpec)
    if any(f.name in s.params for s in STRATEGIES.values())
    and not all(f.name in s.params for s in STRATEGIES.values())
)
# What says where the server is: meaningless for a strategy without one.
SERVER_OPTIONS = ("server", "dsn", "dsn_file", "max_connections", "allow_storm")


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        ) from None


def check_uses(strategy: str, given: Iterable[str], spell: Callable[[str], str] = str) -> None:
    """Refuse what ``strategy`` would ignore: a field it does not use, or a server option for a
    strategy without a server. Said, never dropped silently, whoever builds the run (options,
    scenario files, library callers); ``spell`` names a field as the caller's user wrote it.
    """
    chosen = get_strategy(strategy)
    given = list(given)
    if not chosen.needs_server:
        extra = [spell(key) for key in given if key in SERVER_OPTIONS]
        if extra:
            raise ConfigError(f"{strategy} has no server: it does not use {', '.join(extra)}")
    unused = [spell(key) for key in given if key in OPTIONAL_FIELDS and key not in chosen.params]
    if unused:
        takes = ", ".join(spell(f) for f in OPTIONAL_FIELDS if f in chosen.params)
        raise ConfigError(f"{strategy} does not use {', '.join(unused)}; it takes {takes}")
