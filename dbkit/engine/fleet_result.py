"""A fleet's result from its merged tallies: one Run per service, and the fleet's section."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from dbkit.engine.monitor import Monitor
from dbkit.engine.pooled import PoolerTap
from dbkit.engine.run_record import build_run
from dbkit.model.faults import FaultRecord
from dbkit.model.fleet import FirstFailure, FleetSection, ServiceFigures
from dbkit.model.plan import Budget, plan_fleet
from dbkit.model.records import ErrorRecord
from dbkit.model.results import Run
from dbkit.model.rightsize import DEFAULT_MARGIN, advise_runs
from dbkit.model.server_info import ServerInfo
from dbkit.model.service import Service
from dbkit.model.spec import RunSpec
from dbkit.model.stats import percentile
from dbkit.model.tally import Tally


def fleet_budget(info: ServerInfo, headroom: int, in_use: int) -> Budget:
    """Slots the workload role may use, less clients already there (``in_use``, not the
    monitor) and the monitor's own: a superuser's connection takes an ordinary slot while one
    is free (the reserved slots are only the last to go), so the monitor always costs one."""
    if info.app_role_is_superuser:
        # A superuser workload may use every slot.
        return Budget(info.max_connections, 0, 0, headroom=headroom, in_use=in_use + 1)
    return Budget.from_server(info, headroom=headroom, in_use=in_use + 1)


def _p99(values: Sequence[float]) -> float | None:
    return percentile(sorted(values), 99) if values else None


def service_run(
    spec: RunSpec,
    tally: Tally | None,
    params: dict[str, Any],
    monitor: Monitor,
    tag: str,
    setup_s: float,
    start_at: float,
    interrupted: bool,
    tap: PoolerTap | None = None,
) -> Run:
    """One service's Run, built as any run's is from its merged tally (``spec`` is one of its
    workers')."""
    if tally is None:  # no process reported it (an interrupted start)
        tally = Tally()
        tally.t0 = tally.t_end = start_at
    run = build_run(
        spec, tally, monitor, tag, setup_s, interrupted=interrupted, params=params, tap=tap
    )
    # A fleet's requests are not a burst of tasks: its tasks are the requests it made, and a
    # run in a fleet has no ideal time.
    return dataclasses.replace(run, tasks=tally.done, ideal_s=None)


def fleet_section(
    services: Sequence[Service],
    info: ServerInfo,
    budget: Budget,
    runs: Sequence[Run],
    tallies: dict[str, Tally],
    fleet_tally: Tally,
    monitor: Monitor,
    tag: str,
    processes: int,
    start_at: float,
    fault: FaultRecord | None,
    margin: float = DEFAULT_MARGIN,
) -> FleetSection:
    """The fleet's totals and per-service figures, and per service the pool that serves the
    measured load with ``margin`` spare (dbkit.model.rightsize)."""
    figures = []
    first: FirstFailure | None = None
    for service, run in zip(services, runs, strict=True):
        tally = tallies.get(service.name) or Tally()
        figures.append(
            ServiceFigures(
                name=service.name,
                processes=service.processes,
                planned_peak=service.peak,
                ok=run.ok,
                failed=run.failed,
                throughput_qps=run.throughput_qps,
                p99_s=run.latency_s.p99,
                acquire_wait_p99_s=_p99(tally.waits),
                errors_by_sqlstate=_by_state(run.errors),
                pool_timeouts=tally.pool_timeouts,
                active_peak=run.active_peak,
                active_p99=run.active_p99,
                demand=run.demand,
            )
        )
        if run.errors:
            e = min(run.errors, key=lambda e: e.first_s)
            if first is None or e.first_s < first.at_s:
                first = FirstFailure(service.name, e.sqlstate, e.type, round(e.first_s, 4))
    plan = plan_fleet(services, budget)
    wall = max((r.wall_s for r in runs), default=0.0)
    return FleetSection(
        budget=budget.available,
        budget_parts=budget.to_dict(),
        max_connections=info.max_connections,
        total_peak_planned=plan.total_peak,
        peak_connections=monitor.peak,
        peak_server_connections=monitor.server_peak,
        application_name=tag,
        processes=processes,
        ok=sum(r.ok for r in runs),
        failed=sum(r.failed for r in runs),
        errors=fleet_tally.error_records(start_at),
        first_failure=first,
        fits_plan=plan.fits,
        throughput_qps=sum(r.queries_ok for r in runs) / wall if wall > 0 else 0.0,
        p99_s=_p99(fleet_tally.latencies),
        acquire_wait_p99_s=_p99(fleet_tally.waits),
        services=tuple(figures),
        fault=fault,
        advice=advise_runs(services, runs, margin),
        margin=margin,
    )


def _by_state(errors: Sequence[ErrorRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in errors:
        key = e.sqlstate or e.type
        counts[key] = counts.get(key, 0) + e.count
    return counts
