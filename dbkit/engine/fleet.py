"""A deploy's fleet run for real: every replica x worker of every service as its own pool.

`run_fleet` turns each simulated worker into a unit of the process layer (engine/processes.py:
its service's pool strategy under saturating load until the deadline, running the workload:
`SELECT pg_sleep(hold)` per request by default, or the given SQL), deals them over a few
processes, starts them together, and samples the server's connections from a superuser
monitor in this process meanwhile. Each process's tallies (one per service) are merged as any
run's are. The plan says whether the pools fit on paper; the fleet shows what the server does
when they do not: 53300, and where it came first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import os
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

from dbkit.engine import interrupts
from dbkit.engine.dask_cluster import DaskExecutor
from dbkit.engine.dask_setup import ClusterSpec, require_dask
from dbkit.engine.faults import FaultTarget, Injector
from dbkit.engine.fleet_result import fleet_budget, fleet_section, service_run
from dbkit.engine.guards import check_fleet_clients, check_open_files, check_pooled, check_storm
from dbkit.engine.loops import loop_factory
from dbkit.engine.metadata import collect_metadata
from dbkit.engine.monitor import Monitor
from dbkit.engine.observe import counts, observe
from dbkit.engine.pooled import check_startable, endpoints
from dbkit.engine.processes import LocalProcesses, Share, merge_outcomes
from dbkit.engine.status import Status
from dbkit.engine.units import Worker
from dbkit.model.errors import ConfigError
from dbkit.model.faults import Fault
from dbkit.model.identity import member_tag, new_tag
from dbkit.model.pooler import PoolerSpec
from dbkit.model.results import Result
from dbkit.model.rightsize import DEFAULT_MARGIN, check_margin
from dbkit.model.service import Service, check_services
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.servers import ServerSpec, start_server
from dbkit.strategies import for_driver
from dbkit.strategies.base import POOL_CLOSE_TIMEOUT_S

# Load processes by default: one core left for the server. On 2 cores one process carried 250
# pools best (bench/README.md, fleet efficiency): more processes only added their own CPU.
DEFAULT_PROCS = max(1, (os.cpu_count() or 2) - 1)
DEFAULT_ACQUIRE_TIMEOUT_S = 2.0
WORKER_CONNECT_S = 10.0
SAMPLE_CAP = 20_000  # latencies (and their waits) kept per service per process
MAX_DURATION_S = 24 * 3600.0
# done = seconds since the common start, of total = the duration: called on a timer.
FleetProgress = Callable[[Status], None]


@dataclasses.dataclass(frozen=True)
class FleetWorkload:
    """What every request of the fleet runs: ``queries`` statements per acquire
    (``SELECT pg_sleep(hold)``, or ``sql`` in a rolled-back transaction unless ``commit``)."""

    hold: float = 0.05
    queries: int = 1
    sql: str | None = None
    commit: bool = False
    statement_timeout: float | None = None
    statement_cache: int | None = None  # asyncpg's, for asyncpg services (see RunSpec)

    def fields(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if out["statement_cache"] is None:  # recorded only when set, as before it existed
            del out["statement_cache"]
        return out


def run_fleet(
    services: Sequence[Service],
    server: ServerSpec,
    *,
    duration: float = 10.0,
    hold: float = 0.05,
    queries: int = 1,
    sql: str | None = None,
    commit: bool = False,
    statement_timeout: float | None = None,
    concurrency: int | None = None,
    procs: int | None = None,
    headroom: int = 0,
    acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT_S,
    loop: str = "asyncio",
    command: Sequence[str] = (),
    progress: FleetProgress | None = None,
    fault: str | None = None,
    allow_storm: bool = False,
    pooler: PoolerSpec | None = None,
    statement_cache: int | None = None,
    margin: float = DEFAULT_MARGIN,
    cluster: str | None = None,
) -> Result:
    """Run every worker pool of `services` at once against `server` for `duration` seconds.

    Each worker (replicas x workers per service) gets its own pool (the strategy of the
    service's driver: asyncpg's pool, a SQLAlchemy engine) and `concurrency` request handlers
    (default 2 x its pool_size + max_overflow) that acquire (waiting at most
    `acquire_timeout`), run the workload (`queries` x `SELECT pg_sleep(hold)`, or `sql`) and
    release until the deadline. A pool that cannot open its connections records each refused
    one as a failed request (so the 53300 count is the server's), and is tried again every
    0.5 s. Workers run in `procs` processes (default: a core's fewer than the machine has,
    at least 1). Returns one Run per service and a typed `fleet` section; errors are data,
    keyed by (type, SQLSTATE). Every connection of every process carries the fleet's tag
    as its application_name, each service's its member tag (model.identity): a terminate
    fault ends those only, the peaks count them apart from the server's other clients, and
    each service's run counts its own. On a server dbkit did not start (a DSN), a fleet whose
    planned peak may take more connections than are free there is refused unless
    `allow_storm`, as `run_experiment` refuses a run. With `pooler`, the workers connect
    through a PgBouncer dbkit starts in front of the server (engine/pooled.py), read by the
    monitor as a run's is; `statement_cache` is asyncpg's statement_cache_size for asyncpg
    services (see RunSpec.statement_cache). The fleet section advises each service's pool from
    its measured active connections and demand, with `margin` spare (dbkit.model.rightsize).
    Raises
    ConfigError for bad input (and such a refusal), DbkitError if a process fails.

    With `cluster` (``local:N`` or a Dask scheduler's address, engine/dask_cluster.py) the
    workers run as tasks on a Dask cluster's worker processes instead, `procs` shares
    (default: one per cluster worker); a worker process that dies mid-fleet has its share
    counted as failed, with the reason.
    """
    _check(services, duration, hold, concurrency, procs, headroom, acquire_timeout)
    check_margin(margin)
    on_dask = ClusterSpec.parse(cluster) if cluster is not None else None
    if on_dask is not None:
        require_dask()
    check_startable(server, pooler)
    workload = FleetWorkload(hold, queries, sql, commit, statement_timeout, statement_cache)
    if statement_cache is not None:
        for service in services:
            if "statement_cache" not in for_driver(service.driver).params:
                raise ConfigError(
                    f"fleet: {service.name}: driver {service.driver} has no asyncpg statement "
                    "cache: drop statement_cache"
                )
    planned_fault = Fault.parse(fault) if fault is not None else None
    loop_factory(loop)  # a bad loop name is refused before any process starts
    tag = new_tag()

    # One worker spec per service: its workers run it, and its run is recorded with it.
    specs = [
        _worker_spec(s, workload, _concurrency(s, concurrency), acquire_timeout) for s in services
    ]

    # The deal of workers over processes is known before the server: its DSN is filled in later.
    def deal(count: int | None) -> list[Share]:
        return _shares(services, specs, duration, count, loop, tag)

    shares = deal(procs if on_dask is None else procs or on_dask.local or 1)
    peaks = [
        sum(w.max_connections for w in share.units if isinstance(w, Worker)) for share in shares
    ]
    if on_dask is None or on_dask.local is not None:  # processes of this machine
        check_open_files("fleet", max(peaks))
    if pooler is not None:
        check_fleet_clients(sum(s.peak for s in services), pooler, statement_timeout)
    started_at = dt.datetime.now(dt.UTC)
    with (
        interrupts.taken() as stopped,
        start_server(server) as srv,
        endpoints(srv, pooler, sum(peaks)) as ends,
    ):
        info = srv.info
        if pooler is None:
            check_storm(srv, [("fleet", sum(s.peak for s in services))], allow_storm)
        else:
            check_pooled(pooler, info)
        shares = [dataclasses.replace(share, app_dsn=ends.app_dsn) for share in shares]

        def on_cluster(workers: int) -> list[Share]:
            return [
                dataclasses.replace(share, app_dsn=ends.app_dsn) for share in deal(procs or workers)
            ]

        target = FaultTarget(
            srv.admin_dsn, getattr(srv, "halt", None), getattr(srv, "resume", None)
        )
        injector = Injector(planned_fault, target, tag) if planned_fault is not None else None
        executor: LocalProcesses | DaskExecutor = (
            LocalProcesses(shares) if on_dask is None else DaskExecutor(on_dask, on_cluster)
        )
        finished = False
        try:
            setup_started = perf_counter()
            executor.start()
            setup_s = perf_counter() - setup_started
            shares = executor.shares
            monitor = Monitor(srv.admin_dsn, tag, pooler=ends.tap)

            def tick(start_at: float) -> None:
                if progress is not None:
                    done, failed = counts(executor)
                    elapsed = max(0.0, min(perf_counter() - start_at, duration))
                    progress(Status.of(elapsed, duration, done - failed, failed, monitor))

            # In-flight work may finish after the deadline: a pool retry, an acquire, a close.
            give_up_after = (
                duration + acquire_timeout + WORKER_CONNECT_S + POOL_CLOSE_TIMEOUT_S + 10
            )
            with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
                observed = runner.run(observe(executor, monitor, injector, tick, give_up_after))
            outcomes, in_use, start_at = observed.outcomes, observed.in_use, observed.start_at
            finished = True
        finally:
            # After an error or Ctrl-C the processes' work is worthless: end them at once.
            executor.close(5.0 if finished else 0.0)
    tallies, interrupted = merge_outcomes(outcomes)
    interrupted = interrupted or stopped()  # a signal once the processes were done counts too
    fleet_tally = Tally.merged(list(tallies.values()))
    fault_record = injector.record(fleet_tally) if injector is not None else None
    runs = tuple(
        service_run(
            spec,
            tallies.get(s.name),
            _params(s, workload, duration, _concurrency(s, concurrency), acquire_timeout, fault),
            monitor,
            member_tag(tag, index),
            setup_s,
            start_at,
            interrupted,
            ends.tap,
        )
        for index, (s, spec) in enumerate(zip(services, specs, strict=True))
    )
    section = fleet_section(
        services,
        info,
        fleet_budget(info, headroom, in_use),
        runs,
        tallies,
        fleet_tally,
        monitor,
        tag,
        len(shares),
        start_at,
        fault_record,
        margin,
    )
    metadata = collect_metadata(info, loop, command, started_at, ends.pooler)
    metadata["executor"] = executor.describe()
    return Result(metadata=metadata, runs=runs, fleet=section, interrupted=interrupted)


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


def _params(
    service: Service,
    workload: FleetWorkload,
    duration: float,
    width: int,
    acquire_timeout: float,
    fault: str | None,
) -> dict[str, Any]:
    """What a service's run records: its deploy, its workers' load and the fleet's settings."""
    return {
        "replicas": service.replicas,
        "workers": service.workers,
        "pool_size": service.pool_size,
        "max_overflow": service.max_overflow,
        "min_size": service.min_size,
        "driver": service.driver,
        "concurrency": width,
        **workload.fields(),
        "duration": duration,
        "acquire_timeout": acquire_timeout,
        "fault": fault,
    }


def _worker_spec(
    service: Service, workload: FleetWorkload, concurrency: int, acquire_timeout: float
) -> RunSpec:
    """A worker of ``service`` as a run of its driver's pool strategy: the fields it uses."""
    strategy = for_driver(service.driver)
    pool: dict[str, Any] = {
        "pool_size": service.pool_size,
        "max_overflow": service.max_overflow,
        "min_size": service.per_worker_steady,
        "acquire_timeout": acquire_timeout,
    }
    # The workload's fields go as given (its rules are RunSpec's); the pool's, as its driver's
    # strategy takes them.
    used = {**workload.fields(), **{k: v for k, v in pool.items() if k in strategy.params}}
    return RunSpec(
        strategy.name,
        tasks=concurrency,  # the requests in flight at once: its peak is min(this, the pool)
        connect_timeout=WORKER_CONNECT_S,
        label=service.name,
        **used,
    )


def _shares(
    services: Sequence[Service],
    specs: Sequence[RunSpec],
    duration: float,
    procs: int | None,
    loop: str,
    tag: str,
) -> list[Share]:
    """Deal the workers out round-robin, so each process holds a slice of every service;
    ``specs`` holds each service's worker spec."""
    workers = []
    for index, (s, spec) in enumerate(zip(services, specs, strict=True)):
        # each service's connections carry its member tag: the monitor counts it apart
        workers += [
            Worker(s.name, spec, spec.tasks, duration, member=index)  # tasks: its handlers
            for _ in range(s.processes)
        ]
    count = min(len(workers), procs if procs is not None else DEFAULT_PROCS)
    return [
        Share(i, tuple(workers[i::count]), "", tag, loop, sample_cap=SAMPLE_CAP)
        for i in range(count)
    ]
