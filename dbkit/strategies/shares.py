"""A run's shares for ``--procs``: the tasks and the knobs its strategy declares it splits."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec
from dbkit.strategies import STRATEGIES, Strategy, get_strategy


def split(spec: RunSpec, procs: int) -> list[RunSpec]:
    """``procs`` specs whose tasks and bounds (pool, limit, batch) add up to ``spec``'s.

    Tasks follow the bound: a process with a larger share of the pool gets a larger share of
    the tasks, so that every process's pool is as busy as the others'. An open-loop run's rate
    is shared as its tasks are: each process's share arrives at ``its tasks / duration`` per
    second over the same duration, on a schedule of its own (seed + its index), so that the
    shares' arrivals add up to the run's and do not coincide."""
    strategy = get_strategy(spec.strategy)
    if strategy.splits is None:
        splittable = [s.name for s in _splittable()]
        raise ConfigError(f"--procs applies to {', '.join(splittable)}, not {spec.strategy}")
    values = {**asdict(spec), **strategy.recorded(spec)}
    bound = strategy.splits[0] if strategy.splits else "tasks"
    width = values[bound] if bound != "tasks" else spec.tasks
    if procs > min(spec.tasks, width):
        raise ConfigError(f"--procs {procs} is more than the tasks or the pool can be split in")
    widths = [_share(width, procs, i) for i in range(procs)]
    tasks = _proportional(spec.tasks, widths)
    parts = []
    for i in range(procs):
        share: dict[str, Any] = {"tasks": tasks[i], "label": spec.name, "procs": 1}
        if spec.duration is not None:
            share.update(rate=tasks[i] / spec.duration, seed=spec.seed + i)
        for knob in strategy.splits:
            if values.get(knob) is not None:
                share[knob] = _share(values[knob], procs, i)
        if "min_size" in share and "pool_size" in share:
            share["min_size"] = min(share["min_size"], share["pool_size"])
        parts.append(spec.replace(**share))
    return parts


def _splittable() -> list[Strategy]:
    return [s for s in STRATEGIES.values() if s.splits is not None]


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def _proportional(total: int, weights: list[int]) -> list[int]:
    """``total`` dealt in proportion to ``weights`` (largest remainders), each at least 1."""
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: -(total * weights[i] % whole))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares
