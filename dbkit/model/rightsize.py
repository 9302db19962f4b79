"""Right-sizing: how many connections a service's workers use, and the pool that serves them.

The figures (per run, and per service of a fleet; dbkit.model.results records them):

- ``active_peak`` and ``active_p99``: the most, and the 99th percentile, of the run's own
  connections the monitor saw in state ``active`` (running a statement) in pg_stat_activity,
  over the samples taken in the measured window (one every 50 ms). In a fleet, per service (its
  member tag, model.identity). Through a pooler, a run's are the pooler's server connections
  linked to a client (its console's sv_active: in transaction mode, those in a transaction),
  since the tag is seldom on them (a pool's RESET ALL clears it); a fleet service's stay its
  member tag's count there, a lower bound; a run split over processes has none (no console).
- ``demand``: Little's law, L = lambda x W: completed tasks per second of the window (lambda)
  x their mean service time (W: from a connection in hand to the task done, the tally's latency
  minus its wait, dbkit.model.tally). The mean number of connections the tasks kept busy: what
  a pool must hold on average, whatever the states in between (a transaction's client-side
  think time shows as ``idle in transaction``, not ``active``, yet holds the connection).

The advice (``advise``), per service of N per worker (pool_size + max_overflow) over P worker
processes (replicas x workers), with a margin m (0.25 by default: a quarter spare)::

    K = max(1, ceil(max(active_p99 / P, demand / P) x (1 + m)))

the per-worker pool that serves the load measured with m spare: the busier of the two
figures, spread evenly over the workers (the monitor sees a service's connections, not a
worker's; an uneven spread needs more). A peak equal to every connection of the service's
pools means they were full: the load wanted that many or more, so K is a floor and the advice
says ``saturated``. No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from dbkit.model.errors import ConfigError
from dbkit.model.keys import Key, read, write
from dbkit.model.stats import percentile

DEFAULT_MARGIN = 0.25


def active_figures(
    samples: Sequence[tuple[float, int]], start: float, end: float
) -> tuple[int | None, float | None]:
    """(peak, p99) of the counts sampled at ``start <= t <= end``; (None, None) for none."""
    inside = sorted(n for t, n in samples if start <= t <= end)
    if not inside:
        return None, None
    return inside[-1], round(percentile(inside, 99), 3)


def demand_of(completed: int, window_s: float, services: Sequence[float]) -> float | None:
    """Little's law: ``completed`` tasks per second of ``window_s`` x the mean of their
    ``services`` (seconds; a uniform sample of them is enough). None when unknown."""
    if window_s <= 0 or not services:
        return None
    return round(completed / window_s * math.fsum(services) / len(services), 4)


def check_margin(margin: float) -> None:
    """A margin is a finite fraction, 0 or more (ConfigError otherwise)."""
    if not (isinstance(margin, int | float) and 0 <= margin < math.inf):
        raise ConfigError(f"margin must be a fraction, 0 or more, e.g. 0.25 (got {margin})")


@dataclass(frozen=True, kw_only=True)
class Advice:
    """One service's pool against what it used: the deploy's ``pool_size`` + ``max_overflow``
    per worker, the measured figures over its ``processes`` workers (service-wide), and the
    per-worker pool ``advised`` (K of the rule above; None when nothing was measured).
    ``measured_pool``: the per-worker pool the figures were measured with."""

    service: Annotated[str, Key("str")]
    pool_size: Annotated[int, Key("count")]
    max_overflow: Annotated[int, Key("count")]
    processes: Annotated[int, Key("count")]
    measured_pool: Annotated[int, Key("count")]  # per worker, the pool the figures came from
    active_peak: Annotated[int | None, Key((None, "count"))]
    active_p99: Annotated[float | None, Key((None, "amount"))]
    demand: Annotated[float | None, Key((None, "amount"))]
    margin: Annotated[float, Key("amount")]
    advised: Annotated[int | None, Key((None, "count"))]
    saturated: Annotated[bool, Key("bool")]

    @property
    def per_worker(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def new_sizes(self) -> tuple[int, int] | None:
        """(pool_size, max_overflow) that add up to ``advised``: the overflow kept as far as it
        fits, pool_size at least 1; None when nothing was measured."""
        if self.advised is None:
            return None
        size = max(1, self.advised - self.max_overflow)
        return size, max(0, min(self.max_overflow, self.advised - size))

    def toml_lines(self) -> list[str]:
        """The change to the deploy file: ``[services.api]`` and ``pool_size = 10  # was 25:
        at most 7 active of 25`` (a comment only, when nothing was measured)."""
        head = f"[services.{self.service}]"
        sizes = self.new_sizes
        if sizes is None or self.active_peak is None:
            return [head, "# not measured: no active connections sampled"]
        size, overflow = sizes
        pools = str(self.measured_pool)
        if self.processes > 1:
            pools = f"{self.processes} x {self.measured_pool}"
        was = "as now" if size == self.pool_size else f"was {self.pool_size}"
        note = f"# {was}: at most {self.active_peak} active of {pools}"
        if self.saturated:
            note += " (saturated: every connection was busy; the load may want more)"
        lines = [head, f"pool_size = {size}  {note}"]
        if overflow != self.max_overflow:
            lines.append(f"max_overflow = {overflow}  # was {self.max_overflow}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**write(self), "toml": "\n".join(self.toml_lines())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Advice:
        return cls(**read(cls, data))


def advise(
    service: str,
    *,
    pool_size: int,
    max_overflow: int = 0,
    processes: int,
    active_peak: int | None,
    active_p99: float | None,
    demand: float | None,
    measured_per_worker: int | None = None,
    margin: float = DEFAULT_MARGIN,
) -> Advice:
    """The per-worker pool that serves the measured load with ``margin`` spare (the rule in
    the module's docstring). ``measured_per_worker``: the pool the figures were measured with
    (default the deploy's, ``pool_size + max_overflow``), to tell whether it was full."""
    check_margin(margin)
    if processes < 1:
        raise ConfigError(f"advice for {service}: processes must be at least 1 (got {processes})")
    known = [x for x in (active_p99, demand) if x is not None]
    advised = None
    if known and active_peak is not None:
        need = max(known) / processes * (1 + margin)
        advised = max(1, math.ceil(round(need, 9)))
    measured = measured_per_worker or pool_size + max_overflow
    return Advice(
        service=service,
        pool_size=pool_size,
        max_overflow=max_overflow,
        processes=processes,
        measured_pool=measured,
        active_peak=active_peak,
        active_p99=active_p99,
        demand=demand,
        margin=margin,
        advised=advised,
        saturated=active_peak is not None and active_peak >= processes * measured,
    )


class Deployed(Protocol):
    """What advice reads of a deploy's service (dbkit.model.service.Service)."""

    @property
    def name(self) -> str: ...
    @property
    def replicas(self) -> int: ...
    @property
    def workers(self) -> int: ...
    @property
    def pool_size(self) -> int: ...
    @property
    def max_overflow(self) -> int: ...
    @property
    def per_worker_peak(self) -> int: ...


class Measured(Protocol):
    """What advice reads of a fleet service's run (dbkit.model.results.Run, which reads this
    module's Advice through model/fleet.py: a protocol, not an import, keeps them acyclic)."""

    @property
    def name(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def active_peak(self) -> int | None: ...
    @property
    def active_p99(self) -> float | None: ...
    @property
    def demand(self) -> float | None: ...


def advise_runs(
    services: Sequence[Deployed], runs: Sequence[Measured], margin: float = DEFAULT_MARGIN
) -> tuple[Advice, ...]:
    """Per service of a deploy, the advice from the fleet run of the same name in ``runs``
    (a fleet result's): its figures over the workers it was measured with (its params'
    replicas x workers and pool). A service without such a run is advised nothing."""
    by_name = {run.name: run for run in runs}
    out = []
    for service in services:
        run = by_name.get(service.name)
        params = {} if run is None else run.params
        sizes = [_count(params.get(k)) for k in ("replicas", "workers", "pool_size")]
        if run is None or min(sizes) < 1:
            replicas, workers, per_worker = (
                service.replicas, service.workers, service.per_worker_peak
            )  # fmt: skip
            figures: tuple[int | None, float | None, float | None] = (None, None, None)
        else:
            replicas, workers, size = sizes
            per_worker = size + _count(params.get("max_overflow"))
            figures = (run.active_peak, run.active_p99, run.demand)
        out.append(
            advise(
                service.name,
                pool_size=service.pool_size,
                max_overflow=service.max_overflow,
                processes=replicas * workers,
                active_peak=figures[0],
                active_p99=figures[1],
                demand=figures[2],
                measured_per_worker=per_worker,
                margin=margin,
            )
        )
    return tuple(out)


def _count(value: object) -> int:
    """A recorded whole number, or 0 for anything else (a hand-made file's)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
