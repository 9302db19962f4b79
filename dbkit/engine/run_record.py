"""What a run's measurement becomes: a Run, from its tally, its monitor's samples and its spec.

One builder for every way the kit measures (one process, ``--procs``, each fleet service), so
latency, connections, the timeline and the right-sizing figures have one definition each.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from dbkit.engine.monitor import Monitor
from dbkit.engine.pooled import PoolerTap
from dbkit.model.faults import FaultRecord
from dbkit.model.pooler import PoolerSection
from dbkit.model.results import Run
from dbkit.model.rightsize import active_figures, demand_of
from dbkit.model.spec import RunSpec
from dbkit.model.stats import LatencySummary
from dbkit.model.tally import Tally
from dbkit.model.timeline import Timeline
from dbkit.strategies import get_strategy
from dbkit.strategies.base import waves_ideal


def params_of(spec: RunSpec) -> dict[str, Any]:
    """What a run records of its spec: the fields its strategy uses, as it resolved them."""
    strategy = get_strategy(spec.strategy)
    values = asdict(spec)
    params = {key: values[key] for key in strategy.params}
    params["tasks"] = spec.tasks
    params.update(spec.arrival_params)  # an open-loop run's rate, duration, arrivals and seed
    params.update(strategy.recorded(spec))
    return params


def connection_samples(
    monitor: Monitor | None, t0: float, app_name: str | None = None
) -> tuple[tuple[tuple[float, int], ...], tuple[tuple[float, int], ...]]:
    """The monitor's samples from ``t0``: (the run's own connections, or those of the member
    ``app_name`` (a fleet's service); every client's)."""
    if monitor is None:
        return (), ()
    own = tuple((round(t - t0, 4), n) for t, n in monitor.own(app_name))
    server = tuple((round(t - t0, 4), n) for t, _, n in monitor.samples)
    return own, server


def ideal_of(spec: RunSpec, tap: PoolerTap | None = None) -> float | None:
    """The strategy's ideal time; through a pooler, its waves are at most the pooler's pool
    wide, however many clients the strategy opens (a storm of 1000 through a pool of 20 runs
    in 50 waves at best)."""
    strategy = get_strategy(spec.strategy)
    if tap is None:
        return strategy.ideal(spec)
    width = min(strategy.peak_connections(spec) or spec.tasks, tap.pool_size)
    return waves_ideal(spec, width)


def build_run(
    spec: RunSpec,
    rec: Tally,
    monitor: Monitor | None,
    app_name: str,
    setup_s: float,
    fault: FaultRecord | None = None,
    interrupted: bool = False,
    params: dict[str, Any] | None = None,
    tap: PoolerTap | None = None,
) -> Run:
    """A Run from what was measured: the tally, and the monitor's samples of ``app_name``
    (the pooler's too, when the run went through the pooler ``tap`` reads); its right-sizing
    figures as dbkit.model.rightsize defines them."""
    assert rec.t_end is not None
    own, server = connection_samples(monitor, rec.t0, app_name)
    active = [] if monitor is None else monitor.active(app_name)
    if tap is not None and monitor is not None and app_name == monitor.app_name:
        # through a pooler the tag is on its server connections only now and then: the busy
        # ones are those it linked to a client (a fleet's service keeps its member tag's)
        active = [(t, reading.sv_active) for t, reading in monitor.pool_samples]
    active_peak, active_p99 = active_figures(active, rec.t0, rec.t_end)
    pooler = None
    if tap is not None:
        readings = monitor.pool_samples if monitor is not None else []
        pooler = PoolerSection.of(tap.kind, tap.pool_mode, readings, rec.t0)
    services = rec.services()  # every sampled task's service time: one pass, used twice
    return Run(
        strategy=spec.strategy,
        name=spec.name,
        params=params_of(spec) if params is None else params,
        tasks=spec.tasks,
        ok=rec.ok,
        failed=rec.failed,
        queries_ok=rec.queries_ok,
        wall_s=rec.t_end - rec.t0,
        setup_s=max(0.0, setup_s),
        ideal_s=ideal_of(spec, tap),
        latency_s=LatencySummary.of(rec.latencies),
        wait_s=LatencySummary.of(rec.waits),
        service_s=LatencySummary.of(services),
        errors=rec.error_records(),
        peak_server_connections=None if monitor is None else monitor.server_peak,
        server_connections=server,
        peak_connections=None if monitor is None else max((n for _, n in own), default=None),
        connections=own,
        application_name=app_name if monitor is not None else None,
        retries=rec.retries,
        faults=() if fault is None else (fault,),
        interrupted=interrupted,
        pooler=pooler,
        timeline=Timeline.of(rec, own, pooler_samples(monitor, rec.t0) if tap else ()),
        active_peak=active_peak,
        active_p99=active_p99,
        demand=demand_of(rec.ok, rec.t_end - rec.t0, services),
    )


def pooler_samples(monitor: Monitor | None, t0: float) -> tuple[tuple[float, int], ...]:
    """The server connections the pooler held, per console reading, in seconds from ``t0``."""
    if monitor is None:
        return ()
    return tuple((round(t - t0, 4), r.server_connections) for t, r in monitor.pool_samples)
