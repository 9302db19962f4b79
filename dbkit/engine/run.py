"""Running strategies on a server: the library's entry point behind `dbkit run` and `scenario`.

Each run gets its own ``asyncio`` loop (one ``Runner`` per run), so pools, engines and
connections never leak from one run into the next. A run in one process and a run split over
processes (``--procs``, engine/procs.py) are measured alike: one tally, one monitor, one
fault injector, one Run built from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter

from dbkit.engine import interrupts
from dbkit.engine.faults import FaultTarget, Injector, TallyProbe
from dbkit.engine.guards import (
    check_fits,
    check_pooled,
    check_pooled_clients,
    check_runs,
    check_storm,
    peak_of,
)
from dbkit.engine.loops import loop_factory
from dbkit.engine.metadata import collect_metadata
from dbkit.engine.monitor import Monitor
from dbkit.engine.pooled import PoolerTap, check_startable, endpoints
from dbkit.engine.run_record import build_run
from dbkit.engine.status import Status
from dbkit.model.errors import ConfigError
from dbkit.model.faults import Fault
from dbkit.model.identity import new_tag
from dbkit.model.pooler import PoolerInfo, PoolerSpec
from dbkit.model.results import Result, Run
from dbkit.model.spec import SLEEP_MODES, RunSpec
from dbkit.model.tally import Tally
from dbkit.servers import Server, ServerInfo, ServerSpec, start_server
from dbkit.strategies import Target, get_strategy

PROGRESS_INTERVAL_S = 0.1

# (run index, run name, what it has done so far): called on a timer, never per task.
Progress = Callable[[int, str, Status], None]
# Called once the server answers, before the first run: its backend and settings.
OnServer = Callable[[Server], None]


def expand(specs: Iterable[RunSpec]) -> list[RunSpec]:
    """A sleep spec without a mode stands for two runs, unbatched then batched, as the post."""
    return [spec for spec, _ in _expand_pooled(specs, None)]


def _expand_pooled(
    specs: Iterable[RunSpec], pooled: Sequence[bool] | None
) -> list[tuple[RunSpec, bool]]:
    specs = list(specs)
    if pooled is None:
        pooled = [True] * len(specs)
    if len(pooled) != len(specs):
        raise ConfigError(f"pooled names {len(pooled)} runs; there are {len(specs)}")
    out: list[tuple[RunSpec, bool]] = []
    for spec, through in zip(specs, pooled, strict=True):
        if "mode" in get_strategy(spec.strategy).params and spec.mode is None:
            out += [(spec.replace(mode=mode), through) for mode in SLEEP_MODES]
        else:
            out.append((spec, through))
    return out


def run_experiment(
    specs: Sequence[RunSpec],
    server: ServerSpec,
    *,
    loop: str = "asyncio",
    command: Sequence[str] = (),
    progress: Progress | None = None,
    on_server: OnServer | None = None,
    allow_storm: bool = False,
    pooler: PoolerSpec | None = None,
    pooled: Sequence[bool] | None = None,
) -> Result:
    """Run ``specs`` in order on one server (started only if a strategy needs one).

    On a server dbkit did not start (``--dsn``), nothing that could take more connections than
    are free runs unless ``allow_storm``. Ctrl-C ends the current run: its partial outcome is
    kept, the runs after it are skipped, and the result is marked ``interrupted``.

    With ``pooler``, runs go through a pooler dbkit starts in front of the server (a fresh one
    per run, see engine/pooled.py): every run, or those ``pooled`` marks (one flag per spec,
    as a scenario's ``pooler = true``). The server-side limit of such a run is the pooler's.
    """
    check_startable(server, pooler)
    pairs = _expand_pooled(specs, pooled)
    if not pairs:
        raise ConfigError("nothing to run")
    runs = [spec for spec, _ in pairs]
    through = [pooler if flag else None for _, flag in pairs]
    for spec, via in zip(runs, through, strict=True):
        if via is not None:
            if not get_strategy(spec.strategy).needs_server:
                raise ConfigError(f"{spec.name} has no server: it cannot go through a pooler")
            check_pooled_clients(spec, via)
    loop_factory(loop)  # a bad loop name is refused before anything starts
    check_runs(runs)
    started_at = dt.datetime.now(dt.UTC)
    needs_server = any(get_strategy(s.strategy).needs_server for s in runs)
    info: ServerInfo | None = None
    pooler_info: PoolerInfo | None = None
    done: list[Run] = []
    with interrupts.taken() as stopped:
        if needs_server:
            with start_server(server) as srv:
                info = srv.info
                for spec, via in zip(runs, through, strict=True):
                    if via is None:
                        check_fits(spec, info)
                    else:
                        check_pooled(via, info)
                direct = [
                    (s.name, peak_of(s)) for s, via in zip(runs, through, strict=True) if not via
                ]
                check_storm(srv, direct, allow_storm)
                if on_server is not None:
                    on_server(srv)
                faults = FaultTarget(
                    srv.admin_dsn, getattr(srv, "halt", None), getattr(srv, "resume", None)
                )
                for index, (spec, via) in enumerate(zip(runs, through, strict=True)):
                    if stopped():  # Ctrl-C between two runs: the next is skipped
                        break
                    with endpoints(srv, via, peak_of(spec)) as ends:
                        pooler_info = pooler_info or ends.pooler
                        if spec.procs > 1:
                            run = run_procs(
                                spec, ends.app_dsn, ends.admin_dsn, loop, progress, index, faults,
                                ends.tap,
                            )  # fmt: skip
                        else:
                            run = run_one(
                                spec, ends.app_dsn, ends.admin_dsn, loop, progress, index, faults,
                                ends.tap,
                            )  # fmt: skip
                    done.append(run)
                    if run.interrupted:
                        break
        else:
            for index, spec in enumerate(runs):
                if stopped():
                    break
                run = run_one(spec, None, None, loop, progress, index)
                done.append(run)
                if run.interrupted:
                    break
        interrupted = stopped() or any(run.interrupted for run in done)
    metadata = collect_metadata(info, loop, command, started_at, pooler_info)
    return Result(metadata, tuple(done), interrupted=interrupted)


def _injector(spec: RunSpec, faults: FaultTarget | None, tag: str) -> Injector | None:
    if spec.fault is None:
        return None
    if faults is None:
        raise ConfigError("faults need a server")
    return Injector(Fault.parse(spec.fault), faults, tag)


def run_procs(
    spec: RunSpec,
    app_dsn: str,
    admin_dsn: str,
    loop: str = "asyncio",
    progress: Progress | None = None,
    index: int = 0,
    faults: FaultTarget | None = None,
    tap: PoolerTap | None = None,
) -> Run:
    """One run split over ``spec.procs`` processes (see engine/procs.py), merged into one Run.

    Every process's connections carry the run's one tag (model.identity). Through a pooler
    (``tap``), the run records it, without console readings (its monitor reads the server)."""
    from dbkit.engine.procs import run_split

    report = None if progress is None else functools.partial(progress, index, spec.name)
    started = perf_counter()
    tag = new_tag()
    injector = _injector(spec, faults, tag)
    tally, monitor, interrupted, fault = run_split(
        spec, app_dsn, admin_dsn, loop, tag, report, injector
    )
    if report is not None:
        report(Status.of(tally.done, spec.tasks, tally.ok, tally.failed, monitor))
    return build_run(
        spec, tally, monitor, tag, setup_s=tally.t0 - started, fault=fault,
        interrupted=interrupted, tap=tap,
    )  # fmt: skip


def run_one(
    spec: RunSpec,
    app_dsn: str | None,
    admin_dsn: str | None,
    loop: str = "asyncio",
    progress: Progress | None = None,
    index: int = 0,
    faults: FaultTarget | None = None,
    tap: PoolerTap | None = None,
) -> Run:
    """One run in a fresh event loop; returns its measured Run (partial if interrupted).
    Through a pooler (``tap``: its console), the monitor reads the pooler's pools as well.

    Every connection of its workload carries the run's own tag (model.identity): a terminate
    fault ends those, and the monitor counts them apart from the server's other clients."""
    report = None if progress is None else functools.partial(progress, index, spec.name)
    tag = new_tag()
    injector = _injector(spec, faults, tag)
    # Objects that exist before the run (the kit, asyncpg, SQLAlchemy) are moved out of the
    # collector's sight: every full collection during a 100,000-task run would walk them all.
    gc.collect()
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
            return runner.run(
                _measure(spec, Target(app_dsn, tag), admin_dsn, report, injector, tap)
            )
    finally:
        gc.unfreeze()


async def _measure(
    spec: RunSpec,
    target: Target,
    admin_dsn: str | None,
    progress: Callable[[Status], None] | None,
    injector: Injector | None = None,
    tap: PoolerTap | None = None,
) -> Run:
    strategy = get_strategy(spec.strategy)
    rec = Tally()
    monitor = (
        Monitor(admin_dsn, target.app_name, pooler=tap)
        if strategy.needs_server and admin_dsn
        else None
    )
    if monitor is not None:
        rec.on_begin = monitor.poke  # a sample with the pools open, however short the run
    helpers = []
    if progress is not None:
        helpers.append(asyncio.create_task(_tick(spec, rec, monitor, progress)))
    injecting = None if injector is None else asyncio.create_task(injector.run(TallyProbe(rec)))
    setup_started = perf_counter()
    interrupted = False
    try:
        async with monitor if monitor is not None else contextlib.nullcontext():
            # Ctrl-C or SIGTERM cancels the strategy's task, never this one: the strategy's
            # gather cancels every task and closes its pool on the way out (a second signal
            # cuts that close short), and what was measured is kept here.
            work = asyncio.ensure_future(strategy.execute(spec, target, rec))
            with interrupts.cancelling(work):
                await asyncio.wait([work])
            try:
                work.result()
            except asyncio.CancelledError:
                interrupted = True
    finally:
        if rec.t_end is None:
            rec.end()
        for helper in helpers:
            helper.cancel()
        # The injector ends by itself once the run has (never mid-restart); the ticker is
        # cancelled. gather: wait for both, ignoring what they raise.
        await asyncio.gather(*helpers, *filter(None, [injecting]), return_exceptions=True)
    if progress is not None:
        progress(Status.of(rec.done, spec.tasks, rec.ok, rec.failed, monitor))
    fault = injector.record(rec) if injector is not None else None
    return build_run(
        spec,
        rec,
        monitor,
        target.app_name,
        setup_s=rec.t0 - setup_started,
        fault=fault,
        interrupted=interrupted,
        tap=tap,
    )


async def _tick(
    spec: RunSpec, rec: Tally, monitor: Monitor | None, progress: Callable[[Status], None]
) -> None:
    while True:
        progress(Status.of(rec.done, spec.tasks, rec.ok, rec.failed, monitor))
        await asyncio.sleep(PROGRESS_INTERVAL_S)
