"""``dbkit run``: one strategy on one server, recorded."""

from __future__ import annotations

from typing import Annotated

import typer

from dbkit.cli.common import command_line, guarded, say_server, the_server
from dbkit.cli.gate import CheckOpt, Gate, JunitOpt
from dbkit.cli.options import (
    AcquireTimeoutOpt,
    AllowStormOpt,
    ArrivalsOpt,
    CommitOpt,
    DsnFileOpt,
    DsnOpt,
    DurationOpt,
    FaultOpt,
    HoldOpt,
    ImageOpt,
    JsonOpt,
    LoopOpt,
    MaxConnOpt,
    MaxOverflowOpt,
    OutOpt,
    PlotOpt,
    QueriesOpt,
    RateOpt,
    RepeatOpt,
    ResultsDirOpt,
    ServerOpt,
    SqlOpt,
    StatementTimeoutOpt,
    TasksOpt,
    spell,
    typed_here,
)
from dbkit.cli.output import save_and_show
from dbkit.cli.pooler_options import (
    MaxClientConnOpt,
    PoolerOpt,
    PoolerSizeOpt,
    PoolModeOpt,
    StatementCacheOpt,
    pooler_spec,
)
from dbkit.engine.repeat import run_repeated
from dbkit.engine.run import expand
from dbkit.model.repeats import check_repeat
from dbkit.model.spec import SERVER_OPTIONS, RunSpec
from dbkit.store.results import DEFAULT_DIR
from dbkit.store.scenario import build_spec
from dbkit.strategies import STRATEGIES


def run(
    ctx: typer.Context,
    strategy: Annotated[
        str,
        typer.Argument(
            help="; ".join(f"{name}: {s.summary}" for name, s in STRATEGIES.items()),
            show_default=False,
        ),
    ],
    tasks: TasksOpt = 1000,
    rate: RateOpt = None,
    duration: DurationOpt = None,
    arrivals: ArrivalsOpt = "poisson",
    queries: QueriesOpt = 3,
    hold: HoldOpt = 0.1,
    sql: SqlOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="batched: tasks per gather [default: tasks / 5].", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(help="semaphore: connections open at once.")] = 50,
    pool_size: Annotated[
        int, typer.Option(help="pool, sqlalchemy, psycopg: pool size (sqlalchemy 0 = NullPool).")
    ] = 10,
    min_size: Annotated[
        int | None,
        typer.Option(
            help="pool, psycopg: connections opened at start [default: pool size].",
            show_default=False,
        ),
    ] = None,
    max_overflow: MaxOverflowOpt = 0,
    acquire_timeout: AcquireTimeoutOpt = None,
    connect_timeout: Annotated[float, typer.Option(help="Seconds a connect may take.")] = 60.0,
    mode: Annotated[
        str | None,
        typer.Option(help="sleep: unbatched or batched [default: both].", show_default=False),
    ] = None,
    retry: Annotated[
        int, typer.Option(help="Retries per failed task, with exponential backoff.")
    ] = 0,
    procs: Annotated[
        int,
        typer.Option(help="Load processes, each with its share of the tasks and the pool."),
    ] = 1,
    fault: FaultOpt = None,
    repeat: RepeatOpt = 1,
    statement_timeout: StatementTimeoutOpt = None,
    commit: CommitOpt = False,
    pooler: PoolerOpt = None,
    pool_mode: PoolModeOpt = None,
    pooler_size: PoolerSizeOpt = None,
    max_client_conn: MaxClientConnOpt = None,
    statement_cache: StatementCacheOpt = None,
    plot: PlotOpt = False,
    server: ServerOpt = None,
    image: ImageOpt = None,
    dsn: DsnOpt = None,
    dsn_file: DsnFileOpt = None,
    allow_storm: AllowStormOpt = False,
    max_connections: MaxConnOpt = None,
    out: OutOpt = None,
    results_dir: ResultsDirOpt = DEFAULT_DIR,
    as_json: JsonOpt = False,
    check: CheckOpt = None,
    junit: JunitOpt = None,
    loop: LoopOpt = "asyncio",
) -> None:
    """Run one strategy on one server and record the result."""

    def go() -> None:
        values = {
            "strategy": strategy, "tasks": tasks, "queries": queries, "hold": hold, "sql": sql,
            "batch_size": batch_size, "limit": limit, "pool_size": pool_size,
            "min_size": min_size, "max_overflow": max_overflow,
            "acquire_timeout": acquire_timeout, "connect_timeout": connect_timeout, "mode": mode,
            "retries": retry, "fault": fault, "statement_timeout": statement_timeout,
            "commit": commit, "procs": procs, "statement_cache": statement_cache, "rate": rate,
            "duration": duration, "arrivals": arrivals,
        }  # fmt: skip
        given = typed_here(ctx, [*values, *SERVER_OPTIONS])
        spec = build_spec(values, "options", "run", given=given, spell=spell)
        check_repeat(repeat)
        gate = Gate.of(check, junit, runs=[s.name for s in expand([spec])])
        through = pooler_spec(pooler, pool_mode, pooler_size, max_client_conn)
        target = the_server(server, dsn, dsn_file, max_connections, image)
        save_and_show(
            lambda progress: run_repeated(
                [spec], target, loop=loop, command=command_line(), progress=progress,
                on_server=say_server, allow_storm=allow_storm, pooler=through, repeat=repeat,
            ),
            stem=f"run-{spec.name}", out=out, results_dir=results_dir, as_json=as_json,
            title=f"dbkit run {spec.name}{_at_rate(spec)}{_times(repeat)}", plot=plot, gate=gate,
        )  # fmt: skip

    guarded(go)


def _times(repeat: int) -> str:
    return "" if repeat == 1 else f" --repeat {repeat}"


def _at_rate(spec: RunSpec) -> str:
    return "" if spec.rate is None else f" at {spec.rate:g}/s for {spec.duration:g} s"
