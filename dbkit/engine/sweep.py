"""A grid over one knob (pool size by default) for one strategy, and the knee of its curve.

The knee is the smallest value whose throughput is within the tolerance of the best: past it,
more connections buy (almost) nothing, as the PostgreSQL wiki's connection-count curve shows.
The tolerance is ``KNEE_TOLERANCE`` or the noise the sweep measured, whichever is larger: with
``repeat`` rounds over the grid, the largest relative spread of one value's repeated points.
A difference inside the noise is no knee. When the best is the largest value measured, the
curve has not levelled off within the grid, and no knee is claimed.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence

from dbkit.engine.repeat import run_repeated
from dbkit.engine.run import OnServer, Progress
from dbkit.model.errors import ConfigError
from dbkit.model.pooler import PoolerSpec
from dbkit.model.repeats import check_repeat
from dbkit.model.results import Knee, Result, Run, SweepSection
from dbkit.model.spec import RunSpec
from dbkit.servers import ServerSpec
from dbkit.strategies import get_strategy

KNEE_TOLERANCE = 0.05  # the least difference that counts, however quiet the runs were
SWEEP_PARAMS = ("pool_size", "limit", "batch_size", "tasks")


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


def sweepable(strategy: str, open_loop: bool = False) -> tuple[str, ...]:
    """The SWEEP_PARAMS ``strategy`` uses: its own ``params``, and tasks, which every one has
    but an open-loop run (``--rate``), whose tasks are its arrivals."""
    uses = get_strategy(strategy).params
    return tuple(p for p in SWEEP_PARAMS if (p == "tasks" and not open_loop) or p in uses)


def sweep_specs(base: RunSpec, sizes: Sequence[int], param: str | None = None) -> list[RunSpec]:
    """One spec per value of ``param``, otherwise equal to ``base``.

    A ``param`` the strategy ignores is refused: its runs would be identical and the knee noise.
    """
    param = param or get_strategy(base.strategy).sweeps
    usable = sweepable(base.strategy, base.open_loop)
    if not usable:
        raise ConfigError(f"{base.strategy} has nothing to sweep at a rate: its tasks are arrivals")
    if param not in SWEEP_PARAMS:
        raise ConfigError(f"cannot sweep {param!r}; sweep one of: {', '.join(usable)}")
    if param == "tasks" and base.open_loop:
        raise ConfigError(
            f"an open-loop sweep cannot vary tasks, which are its arrivals (rate x duration); "
            f"sweep one of: {', '.join(usable)}"
        )
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


def find_knee(runs: Sequence[Run], values: Sequence[int]) -> Knee | None:
    """The knee of the curve ``runs[i]`` ran at ``values[i]`` (a value may repeat), or None
    without data.

    The Knee: ``value`` (None when there is no knee within the grid: the best is the largest
    value), ``throughput_qps`` at it, ``best_value`` and ``best_throughput_qps``, the
    ``tolerance`` used and the ``noise`` measured (None without repeated values). Each value's
    throughput is the mean of its points. After Ctrl-C there are fewer runs than values and the
    last may be partial: only runs that finished and completed a task count.
    """
    # strict=False: an interrupted sweep has run only the first len(runs) values.
    pairs = zip(values, runs, strict=False)
    samples: dict[int, list[float]] = {}
    for value, run in pairs:
        if run.ok > 0 and not run.interrupted:
            samples.setdefault(value, []).append(run.throughput_qps)
    if not samples:
        return None
    means = {value: statistics.fmean(qps) for value, qps in samples.items()}
    spreads = [
        (max(qps) - min(qps)) / means[value]
        for value, qps in samples.items()
        if len(qps) > 1 and means[value] > 0
    ]
    noise = max(spreads) if spreads else None
    tolerance = max(KNEE_TOLERANCE, noise or 0.0)
    best_value = max(means, key=lambda v: means[v])
    best = means[best_value]
    knee = Knee(
        value=None,
        throughput_qps=None,
        best_value=best_value,
        best_throughput_qps=best,
        tolerance=tolerance,
        noise=noise,
    )
    if best_value == max(means):
        return knee  # still highest at the end of the grid: it has not levelled off within it
    value = min(v for v in means if means[v] >= (1 - tolerance) * best)
    return dataclasses.replace(knee, value=value, throughput_qps=means[value])


def sweep_result(result: Result, sizes: Sequence[int], param: str, repeat: int = 1) -> Result:
    """``result`` (``repeat`` rounds over ``sizes``, in order, perhaps cut short) with its sweep
    and knee."""
    knee = find_knee(result.runs, list(sizes) * repeat)
    sweep = SweepSection(
        param=param,
        values=tuple(sizes),
        repeat=repeat,
        tolerance=KNEE_TOLERANCE if knee is None or knee.tolerance is None else knee.tolerance,
        knee=knee,
    )
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
    repeat: int = 1,
    allow_storm: bool = False,
    pooler: PoolerSpec | None = None,
) -> Result:
    """Run ``base`` at every value of ``param`` on one server, ``repeat`` rounds over the grid
    (which measures the noise the knee must stand out of); the result names the knee.

    On a server dbkit did not start, as ``run_experiment``: nothing that may take more
    connections than are free runs unless ``allow_storm``; with ``pooler``, every run goes
    through a PgBouncer dbkit starts in front of the server (a fresh one per run).
    """
    if base.strategy == "sleep":
        raise ConfigError("sweep the database strategies; sleep has no pool to size")
    check_repeat(repeat)
    param = param or get_strategy(base.strategy).sweeps
    # in rounds over the grid (engine/repeat.py): drift spreads over every value
    result = run_repeated(
        sweep_specs(base, sizes, param), server, repeat=repeat, loop=loop, command=command,
        progress=progress, on_server=on_server, allow_storm=allow_storm, pooler=pooler,
    )  # fmt: skip
    return sweep_result(result, sizes, param, repeat)
