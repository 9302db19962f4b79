"""A grid over one knob (pool size by default) for one strategy, and the knee of its curve.

The knee is the smallest value whose throughput is within ``KNEE_TOLERANCE`` of the best: past
it, more connections buy (almost) nothing, as the PostgreSQL wiki's connection-count curve shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from dbkit.errors import ConfigError
from dbkit.experiment import OnServer, Progress, run_experiment
from dbkit.results import Result, Run
from dbkit.servers import ServerSpec
from dbkit.spec import RunSpec
from dbkit.strategies import get_strategy

KNEE_TOLERANCE = 0.05
SWEEP_PARAMS = ("pool_size", "limit", "batch_size", "tasks")
DEFAULT_PARAM = {
    "pool": "pool_size",
    "sqlalchemy": "pool_size",
    "semaphore": "limit",
    "batched": "batch_size",
    "unbatched": "tasks",
    "sleep": "tasks",
}


def parse_sizes(text: str) -> list[int]:
    """``"10,50,90"`` -> [10, 50, 90], sorted; every item a whole number of at least 1, once."""
    sizes: list[int] = []
    for part in text.split(","):
        item = part.strip()
        # Digits only: int() would also take "+5", "1_000" and non-ASCII digits.
        if not (item.isascii() and item.isdigit()) or not item.strip("0"):
            raise ConfigError(f"--sizes: {item!r} is not a positive integer")
        if len(item.lstrip("0")) > 18:  # and int() refuses over 4,300 digits
            raise ConfigError(f"--sizes: {item[:20]}... is too large")
        value = int(item)
        if value in sizes:
            raise ConfigError(f"--sizes: {item!r} repeats an earlier value")
        sizes.append(value)
    return sorted(sizes)


def sweepable(strategy: str) -> tuple[str, ...]:
    """The SWEEP_PARAMS ``strategy`` uses: its own ``params``, and tasks, which every one has."""
    uses = get_strategy(strategy).params
    return tuple(p for p in SWEEP_PARAMS if p == "tasks" or p in uses)


def sweep_specs(base: RunSpec, sizes: Sequence[int], param: str | None = None) -> list[RunSpec]:
    """One spec per value of ``param``, otherwise equal to ``base``.

    A ``param`` the strategy ignores is refused: its runs would be identical and the knee noise.
    """
    param = param or DEFAULT_PARAM[base.strategy]
    usable = sweepable(base.strategy)
    if param not in SWEEP_PARAMS:
        raise ConfigError(f"cannot sweep {param!r}; sweep one of: {', '.join(usable)}")
    if param not in usable:
        raise ConfigError(
            f"{base.strategy} does not use {param}; sweep one of: {', '.join(usable)}"
        )
    if not sizes:
        raise ConfigError("a sweep needs at least one value")
    for i, size in enumerate(sizes):
        if size in sizes[:i]:
            raise ConfigError(f"the grid has {param} {size} twice")
    return [base.replace(**{param: size}, label=None) for size in sizes]


def find_knee(runs: Sequence[Run], values: Sequence[int]) -> dict[str, Any] | None:
    """The smallest value within KNEE_TOLERANCE of the best throughput (None without data).

    ``runs[i]`` ran ``values[i]``. After Ctrl-C there are fewer runs than values and the last
    may be partial: only runs that finished and completed a task count.
    """
    # strict=False: an interrupted sweep has run only the first len(runs) values.
    pairs = zip(values, runs, strict=False)
    points = [(v, r.throughput_qps) for v, r in pairs if r.ok > 0 and not r.interrupted]
    if not points:
        return None
    best_value, best = max(points, key=lambda p: p[1])
    for value, qps in sorted(points):
        if qps >= (1 - KNEE_TOLERANCE) * best:
            return {
                "value": value,
                "throughput_qps": qps,
                "best_value": best_value,
                "best_throughput_qps": best,
            }
    return None  # unreachable: the best point always qualifies


def sweep_result(result: Result, sizes: Sequence[int], param: str) -> Result:
    """``result`` (the runs of ``sizes``, in order, perhaps cut short) with its sweep and knee."""
    knee = find_knee(result.runs, sizes)
    sweep = {
        "param": param,
        "values": list(sizes),
        "tolerance": KNEE_TOLERANCE,
        "knee": None if knee is None else {param: knee["value"], **knee},
    }
    return dataclasses.replace(result, sweep=sweep)


def run_sweep(
    base: RunSpec,
    sizes: Sequence[int],
    server: ServerSpec,
    *,
    param: str | None = None,
    loop: str = "asyncio",
    command: Sequence[str] = (),
    progress: Progress | None = None,
    on_server: OnServer | None = None,
    allow_storm: bool = False,
) -> Result:
    """Run ``base`` at every value of ``param`` on one server; the result names the knee.

    On a server dbkit did not start, as ``run_experiment``: nothing that may take more
    connections than are free runs unless ``allow_storm``.
    """
    if base.strategy == "sleep":
        raise ConfigError("sweep the database strategies; sleep has no pool to size")
    param = param or DEFAULT_PARAM[base.strategy]
    specs = sweep_specs(base, sizes, param)
    result = run_experiment(
        specs, server, loop=loop, command=command, progress=progress, on_server=on_server,
        allow_storm=allow_storm,
    )  # fmt: skip
    return sweep_result(result, sizes, param)
