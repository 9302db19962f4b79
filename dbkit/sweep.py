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
    """``"10,50,90"`` -> [10, 50, 90]; at least one whole number, each at least 1, no repeats."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--sizes takes whole numbers separated by commas (got {text!r})"
        ) from None
    if not sizes:
        raise ConfigError("--sizes needs at least one value")
    if min(sizes) < 1 or len(set(sizes)) != len(sizes):
        raise ConfigError(f"--sizes values must be distinct and at least 1 (got {text!r})")
    return sorted(sizes)


def sweep_specs(base: RunSpec, sizes: Sequence[int], param: str | None = None) -> list[RunSpec]:
    """One spec per value of ``param``, otherwise equal to ``base``."""
    param = param or DEFAULT_PARAM[base.strategy]
    if param not in SWEEP_PARAMS:
        raise ConfigError(f"cannot sweep {param!r}; choose one of {', '.join(SWEEP_PARAMS)}")
    return [base.replace(**{param: size}, label=None) for size in sizes]


def find_knee(runs: Sequence[Run], values: Sequence[int]) -> dict[str, Any] | None:
    """The smallest value within KNEE_TOLERANCE of the best throughput (None without data)."""
    points = [(v, r.throughput_qps) for v, r in zip(values, runs, strict=True) if r.ok > 0]
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
) -> Result:
    """Run ``base`` at every value of ``param`` on one server; the result names the knee."""
    if base.strategy == "sleep":
        raise ConfigError("sweep the database strategies; sleep has no pool to size")
    param = param or DEFAULT_PARAM[base.strategy]
    specs = sweep_specs(base, sizes, param)
    result = run_experiment(
        specs, server, loop=loop, command=command, progress=progress, on_server=on_server
    )
    knee = find_knee(result.runs, sizes)
    sweep = {
        "param": param,
        "values": list(sizes),
        "tolerance": KNEE_TOLERANCE,
        "knee": None if knee is None else {param: knee["value"], **knee},
    }
    return dataclasses.replace(result, sweep=sweep)
