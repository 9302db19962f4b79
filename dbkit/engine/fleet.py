"""A deploy's fleet run for real: every replica x worker of every service as its own pool.

`run_fleet` spreads the simulated workers over a few "spawn" processes (engine/fleet_worker.py),
starts them together at a common monotonic time, puts every pool under saturating load
(`SELECT pg_sleep(hold)` per acquire) until the deadline, and samples the server's connections
from a superuser monitor in this process meanwhile. The plan says whether the pools fit on
paper; the fleet shows what the server does when they do not: 53300, and where it came first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import math
import os
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from time import monotonic, perf_counter
from typing import Any

from dbkit.engine import interrupts
from dbkit.engine.faults import FaultTarget, perform, watch_recovery
from dbkit.engine.fleet_worker import (
    JOIN_TIMEOUT_S,
    POLL_S,
    PUBLISH_S,
    STOP_SIGNAL,
    Child,
    ProcessJob,
    ServiceRecord,
    WorkerJob,
    await_ready,
    merge_errors,
    merge_samples,
    reap,
    receive,
    spawn,
)
from dbkit.engine.guards import check_open_files, check_storm
from dbkit.engine.metadata import collect_metadata
from dbkit.engine.monitor import Monitor
from dbkit.engine.run import loop_factory
from dbkit.model.errors import ConfigError, DbkitError
from dbkit.model.faults import Fault
from dbkit.model.identity import new_tag
from dbkit.model.plan import Budget, Service, check_services, plan_fleet
from dbkit.model.results import ErrorRecord, Result, Run
from dbkit.model.stats import LatencySummary, percentile
from dbkit.servers import ServerInfo, ServerSpec, start_server
from dbkit.strategies.base import CLOSE_TIMEOUT_S

DEFAULT_PROCS = 4
DEFAULT_ACQUIRE_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 10.0
START_DELAY_S = 0.3  # the common start lies this far ahead of the start signal

MAX_DURATION_S = 24 * 3600.0
# (seconds since the common start, duration): called on a timer, never per task.
FleetProgress = Callable[[float, float], None]
# (seconds since the common start, the fleet's own connections, every client's connections)
Sample = tuple[float, int, int]


def run_fleet(
    services: Sequence[Service],
    server: ServerSpec,
    *,
    duration: float = 10.0,
    hold: float = 0.05,
    concurrency: int | None = None,
    procs: int | None = None,
    headroom: int = 0,
    acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT_S,
    loop: str = "asyncio",
    command: Sequence[str] = (),
    progress: FleetProgress | None = None,
    fault: str | None = None,
    allow_storm: bool = False,
) -> Result:
    """Run every worker pool of `services` at once against `server` for `duration` seconds.

    Each worker (replicas x workers per service) gets its own pool (asyncpg, or a SQLAlchemy
    engine, as the service's driver says) and `concurrency` load tasks (default 2 x its
    pool_size + max_overflow) that acquire (waiting at most `acquire_timeout`), run
    `SELECT pg_sleep(hold)` and release until the deadline. A pool that cannot open its
    connections records each refused one as a failed task (so the 53300 count is the server's),
    is closed and is tried again every 0.5 s. Workers run in `procs` processes (default
    min(workers, 4)). Returns one Run per service and a `fleet` section; errors are data, keyed
    by (type, SQLSTATE). Every connection of every process carries the fleet's one tag as its
    application_name: a terminate fault ends those only, and the peaks count them apart from
    the server's other clients. On a server dbkit did not start (a DSN), a fleet whose planned
    peak may take more connections than are free there is refused unless `allow_storm`, as
    `run_experiment` refuses a run. Raises ConfigError for bad input (and such a refusal),
    DbkitError if a process fails.
    """
    _check(services, duration, hold, concurrency, procs, headroom, acquire_timeout)
    planned_fault = Fault.parse(fault) if fault is not None else None
    factory = loop_factory(loop)  # validates the loop name before any process starts
    tag = new_tag()
    # The deal of workers over processes is known before the server: its DSN is filled in later.
    jobs = _jobs(services, "", duration, hold, concurrency, procs, acquire_timeout, loop, tag)
    check_open_files("fleet", max(sum(w.max_connections for w in job.workers) for job in jobs))
    started_at = dt.datetime.now(dt.UTC)
    with start_server(server) as srv:
        info = srv.info
        check_storm(srv, [("fleet", sum(s.peak for s in services))], allow_storm)
        jobs = [dataclasses.replace(job, app_dsn=srv.app_dsn) for job in jobs]
        target = FaultTarget(
            srv.admin_dsn, getattr(srv, "halt", None), getattr(srv, "resume", None)
        )
        if planned_fault is not None:
            target.check(planned_fault)
        # Shared success counters, for a fault's recovery watch only: without a fault no load
        # process pays for publishing them.
        ctx = get_context("spawn")
        counters = [ctx.Value("q", 0, lock=False) if planned_fault else None for _ in jobs]
        children: list[Child] = []
        finished = False
        fault_record: dict[str, Any] | None = None
        try:
            setup_started = perf_counter()
            for job, counter in zip(jobs, counters, strict=True):
                children.append(spawn(job, extra=(counter,)))
            await_ready(children)
            setup_s = perf_counter() - setup_started
            injection = None
            if planned_fault is not None:
                injection = FleetFault(planned_fault, target, counters, duration, tag)
            with asyncio.Runner(loop_factory=factory) as runner:
                records, samples, in_use, wall_s, interrupted = runner.run(
                    interrupts.cancellable(
                        _observe(
                            children, Monitor(srv.admin_dsn, tag), duration, acquire_timeout,
                            progress, injection,
                        )
                    )
                )  # fmt: skip
            fault_record = injection.record() if injection is not None else None
            finished = True
        finally:
            # After an error or Ctrl-C the children's work is worthless: end them at once.
            reap(children, JOIN_TIMEOUT_S if finished else 0.0)
    budget = _budget(info, headroom, in_use)
    result = _result(
        services, info, budget, records, samples, wall_s, setup_s,
        params=dict(hold=hold, duration=duration, acquire_timeout=acquire_timeout, fault=fault),
        concurrency=concurrency,
        jobs=jobs,
        metadata=collect_metadata(info, loop, command, started_at),
        app_name=tag,
    )  # fmt: skip
    if interrupted:
        runs = tuple(dataclasses.replace(run, interrupted=True) for run in result.runs)
        result = dataclasses.replace(result, runs=runs, interrupted=True)
    if fault_record is None:
        return result
    assert result.fleet is not None
    return dataclasses.replace(result, fleet={**result.fleet, "fault": fault_record})


class FleetFault:
    """A fault at a second of the fleet's run; recovery is the first success after it."""

    def __init__(
        self, fault: Fault, target: FaultTarget, counters: list[Any], duration: float, tag: str
    ) -> None:
        self.fault, self.target, self.counters, self.duration = fault, target, counters, duration
        self.tag = tag  # a terminate ends the backends with this application_name only
        self.fired_s: float | None = None
        self.action_s = 0.0
        self.recovery_s: float | None = None
        self.terminated: int | None = None

    def _ok(self) -> int:
        return sum(int(c.value) for c in self.counters)

    async def run(self, start_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at + self.fault.at_s - monotonic()))
        if self.fault.at_s >= self.duration:
            return
        fired = monotonic()
        self.fired_s = fired - start_at
        self.terminated = await perform(self.fault, self.target, self.tag)
        self.action_s = monotonic() - fired
        # Workers publish their counts every PUBLISH_S: successes of statements that ended
        # before the action may still arrive for a moment, and are not a recovery.
        await asyncio.sleep(2 * PUBLISH_S)
        end = start_at + self.duration
        if await watch_recovery(self._ok, lambda: monotonic() < end):
            self.recovery_s = monotonic() - fired

    def record(self) -> dict[str, Any] | None:
        if self.fired_s is None:
            return None
        return {
            "kind": self.fault.kind,
            "at_s": self.fired_s,
            "action_s": self.action_s,
            "recovery_s": self.recovery_s,
            "terminated": self.terminated,
        }


def _check(
    services: Sequence[Service],
    duration: float,
    hold: float,
    concurrency: int | None,
    procs: int | None,
    headroom: int,
    acquire_timeout: float,
) -> None:
    check_services(services, "fleet")
    if not 0 < duration <= MAX_DURATION_S:
        raise ConfigError(
            f"fleet: duration must be more than 0 and at most {MAX_DURATION_S:.0f} seconds "
            f"(got {duration})"
        )
    if not 0 <= hold < math.inf:
        raise ConfigError(f"fleet: hold must be a finite number of seconds, 0 or more (got {hold})")
    if not 0 < acquire_timeout < math.inf:
        raise ConfigError(
            f"fleet: acquire timeout must be a finite number above 0 (got {acquire_timeout})"
        )
    if concurrency is not None and concurrency < 1:
        raise ConfigError(f"fleet: concurrency must be at least 1 (got {concurrency})")
    if procs is not None and procs < 1:
        raise ConfigError(f"fleet: procs must be at least 1 (got {procs})")
    if headroom < 0:
        raise ConfigError(f"fleet: headroom must not be negative (got {headroom})")


def _concurrency(service: Service, concurrency: int | None) -> int:
    return concurrency if concurrency is not None else 2 * service.per_worker_peak


def _jobs(
    services: Sequence[Service],
    app_dsn: str,
    duration: float,
    hold: float,
    concurrency: int | None,
    procs: int | None,
    acquire_timeout: float,
    loop: str,
    tag: str,
) -> list[ProcessJob]:
    """Deal the workers out round-robin, so each process holds a slice of every service."""
    workers = [
        WorkerJob(
            service=s.name,
            driver=s.driver,
            pool_size=s.pool_size,
            max_overflow=s.max_overflow,
            min_size=s.per_worker_steady,
            concurrency=_concurrency(s, concurrency),
        )
        for s in services
        for _ in range(s.processes)
    ]
    count = min(len(workers), procs if procs is not None else DEFAULT_PROCS)
    return [
        ProcessJob(
            index=i,
            app_dsn=app_dsn,
            workers=tuple(workers[i::count]),
            hold=hold,
            duration=duration,
            acquire_timeout=acquire_timeout,
            connect_timeout=CONNECT_TIMEOUT_S,
            loop=loop,
            app_name=tag,
        )
        for i in range(count)
    ]


async def _observe(
    children: list[Child],
    monitor: Monitor,
    duration: float,
    acquire_timeout: float,
    progress: FleetProgress | None,
    injection: FleetFault | None = None,
) -> tuple[list[ServiceRecord], list[Sample], int, float, bool]:
    """Monitor the server, give the common start, and collect every process's records
    (those measured until a Ctrl-C too: the last value says whether one came)."""
    async with monitor:
        in_use = monitor.samples[0][2]  # clients other than ours, before the fleet starts
        start_at = monotonic() + START_DELAY_S
        perf_at_start = perf_counter() + START_DELAY_S
        for _, conn in children:
            conn.send(("start", start_at))
        fault_task = asyncio.create_task(injection.run(start_at)) if injection else None
        # In-flight work may finish after the deadline: a pool retry, an acquire, a close.
        give_up = start_at + duration + acquire_timeout + CONNECT_TIMEOUT_S + CLOSE_TIMEOUT_S + 10
        records: list[ServiceRecord] = []
        pending = list(children)
        interrupted = False
        while pending:
            if progress is not None:
                progress(max(0.0, min(monotonic() - start_at, duration)), duration)
            still = []
            for proc, conn in pending:
                if conn.poll():
                    kind, payload = receive(proc, conn)
                    if kind != "done":
                        raise DbkitError(f"fleet process {proc.name} failed: {payload}")
                    records += payload
                elif not proc.is_alive():
                    raise DbkitError(f"fleet process {proc.name} exited without a report")
                else:
                    still.append((proc, conn))
            pending = still
            if pending:
                if monotonic() > give_up:
                    raise DbkitError(
                        f"fleet processes did not finish by {give_up - start_at:.0f} s"
                    )
                try:
                    await asyncio.sleep(POLL_S)
                except asyncio.CancelledError:
                    if interrupted:
                        # A second Ctrl-C: every process was told to stop already; what they
                        # measured still counts, so their reports are still awaited.
                        continue
                    # Ctrl-C or SIGTERM: every process stops its work now and reports it.
                    interrupted = True
                    for proc, _ in pending:
                        if proc.pid is not None:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(proc.pid, STOP_SIGNAL)
        if progress is not None:
            progress(duration, duration)
        wall_s = monotonic() - start_at
        if fault_task is not None:
            fault_task.cancel()
            # gather: wait for the cancelled injector, whatever it was doing.
            await asyncio.gather(fault_task, return_exceptions=True)
    samples = [(round(t - perf_at_start, 4), own, total) for t, own, total in monitor.samples]
    return records, samples, in_use, wall_s, interrupted


def _budget(info: ServerInfo, headroom: int, in_use: int) -> Budget:
    """Slots the workload role may use, less clients already there (not the monitor)."""
    if info.app_role_is_superuser:
        # A superuser workload may use every slot; the monitor then takes one of them.
        return Budget(info.max_connections, 0, 0, headroom=headroom, in_use=in_use + 1)
    # The monitor sits in a superuser-reserved slot, unless there is none.
    monitor = 1 if info.superuser_reserved_connections == 0 else 0
    return Budget.from_server(info, headroom=headroom, in_use=in_use + monitor)


def _p99(values: Sequence[float]) -> float | None:
    return percentile(sorted(values), 99) if values else None


def _error_dicts(errors: Sequence[ErrorRecord]) -> list[dict[str, Any]]:
    return [
        {
            "type": e.type,
            "sqlstate": e.sqlstate,
            "count": e.count,
            "first_s": round(e.first_s, 4),
            "last_s": round(e.last_s, 4),
            "example": e.example,
        }
        for e in errors
    ]


def _result(
    services: Sequence[Service],
    info: ServerInfo,
    budget: Budget,
    records: Sequence[ServiceRecord],
    samples: Sequence[Sample],
    wall_s: float,
    setup_s: float,
    *,
    params: dict[str, Any],
    concurrency: int | None,
    jobs: Sequence[ProcessJob],
    metadata: dict[str, Any],
    app_name: str,
) -> Result:
    own = tuple((t, n) for t, n, _ in samples)  # the fleet's connections (its tag)
    server = tuple((t, n) for t, _, n in samples)  # every client backend, anyone's
    peak = max((n for _, n in own), default=None)
    server_peak = max((n for _, n in server), default=None)
    runs: list[Run] = []
    summaries: list[dict[str, Any]] = []
    all_lat: list[tuple[Sequence[float], int]] = []
    all_waits: list[tuple[Sequence[float], int]] = []
    first_failure: dict[str, Any] | None = None
    for service in services:
        mine = [r for r in records if r.service == service.name]
        lat_parts = [(r.latencies, r.latencies_seen) for r in mine]
        wait_parts = [(r.waits, r.waits_seen) for r in mine]
        all_lat += lat_parts
        all_waits += wait_parts
        latencies = merge_samples(lat_parts)
        waits = merge_samples(wait_parts)
        errors = merge_errors([e for r in mine for e in r.errors])
        ok = sum(r.ok for r in mine)
        failed = sum(r.failed for r in mine)
        run = Run(
            strategy="pool" if service.driver == "asyncpg" else "sqlalchemy",
            name=service.name,
            params={
                "replicas": service.replicas,
                "workers": service.workers,
                "pool_size": service.pool_size,
                "max_overflow": service.max_overflow,
                "min_size": service.min_size,
                "driver": service.driver,
                "concurrency": _concurrency(service, concurrency),
                **params,
            },
            tasks=sum(r.tasks for r in mine),
            ok=ok,
            failed=failed,
            queries_ok=sum(r.queries_ok for r in mine),
            wall_s=max((r.end_s for r in mine), default=wall_s),
            setup_s=setup_s,
            ideal_s=None,
            latency_s=LatencySummary.of(latencies),
            wait_s=LatencySummary.of(waits),
            service_s=LatencySummary.of(
                merge_samples([(r.services, r.services_seen) for r in mine])
            ),
            errors=errors,
            peak_server_connections=server_peak,
            server_connections=server,
            peak_connections=peak,
            connections=own,
            application_name=app_name,
        )
        runs.append(run)
        if errors:
            first = min(errors, key=lambda e: e.first_s)
            if first_failure is None or first.first_s < first_failure["at_s"]:
                first_failure = {
                    "service": service.name,
                    "sqlstate": first.sqlstate,
                    "type": first.type,
                    "at_s": round(first.first_s, 4),
                }
        summaries.append(
            {
                "name": service.name,
                "processes": service.processes,
                "planned_peak": service.peak,
                "ok": ok,
                "failed": failed,
                "throughput_qps": run.throughput_qps,
                "p99_s": run.latency_s.p99,
                "acquire_wait_p99_s": _p99(waits),
                # keyed by SQLSTATE, or by the exception type when it carries none
                "errors_by_sqlstate": _by_state(errors),
                "pool_timeouts": sum(r.pool_timeouts for r in mine),
            }
        )
    plan = plan_fleet(services, budget)
    total_queries = sum(r.queries_ok for r in runs)
    fleet_wall = max((r.wall_s for r in runs), default=wall_s)
    fleet = {
        "budget": budget.available,
        "budget_parts": budget.to_dict(),
        "max_connections": info.max_connections,
        "total_peak_planned": plan.total_peak,
        "peak_connections": peak,
        "peak_server_connections": server_peak,
        "application_name": app_name,
        "processes": len(jobs),
        "ok": sum(r.ok for r in runs),
        "failed": sum(r.failed for r in runs),
        "errors": _error_dicts(merge_errors([e for r in runs for e in r.errors])),
        "first_failure": first_failure,
        "fits_plan": plan.fits,
        "throughput_qps": total_queries / fleet_wall if fleet_wall > 0 else 0.0,
        "p99_s": _p99(merge_samples(all_lat)),
        "acquire_wait_p99_s": _p99(merge_samples(all_waits)),
        "services": summaries,
    }
    return Result(metadata=metadata, runs=tuple(runs), fleet=fleet)


def _by_state(errors: Sequence[ErrorRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in errors:
        key = e.sqlstate or e.type
        counts[key] = counts.get(key, 0) + e.count
    return counts
