"""``dbkit run``: one strategy on one server, recorded."""

from __future__ import annotations

from typing import Annotated

import typer

from dbkit.cli.bundles import bundled
from dbkit.cli.common import command_line, guarded, say_server
from dbkit.cli.gate import CheckOptions
from dbkit.cli.options import (
    AcquireTimeoutOpt,
    ArrivalsOpt,
    CommitOpt,
    DurationOpt,
    FaultOpt,
    HoldOpt,
    LoopOpt,
    MaxOverflowOpt,
    OutputOptions,
    PlotOpt,
    QueriesOpt,
    RateOpt,
    RepeatOpt,
    ServerOptions,
    SqlOpt,
    StatementTimeoutOpt,
    TasksOpt,
    spell,
    typed_here,
)
from dbkit.cli.output import save_and_show
from dbkit.cli.pooler_options import PoolerOptions
from dbkit.engine.repeat import run_repeated
from dbkit.engine.run import expand
from dbkit.model.repeats import check_repeat
from dbkit.model.spec import SERVER_OPTIONS, RunSpec
from dbkit.store.scenario import build_spec
from dbkit.strategies import STRATEGIES


@bundled
def run(
    ctx: typer.Context,
    strategy: Annotated[
        str,
        typer.Argument(
            help="; ".join(f"{name}: {s.summary}" for name, s in STRATEGIES.items()),
            show_default=False,
        ),
    ],
    *,
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
    pooling: PoolerOptions,
    plot: PlotOpt = False,
    db: ServerOptions,
    output: OutputOptions,
    checks: CheckOptions,
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
            "commit": commit, "procs": procs, "statement_cache": pooling.statement_cache,
            "rate": rate,
            "duration": duration, "arrivals": arrivals,
        }  # fmt: skip
        given = typed_here(ctx, [*values, *SERVER_OPTIONS])
        spec = build_spec(values, "options", "run", given=given, spell=spell)
        check_repeat(repeat)
        gate = checks.gate(runs=[s.name for s in expand([spec])])
        through = pooling.spec()
        target = db.spec()
        save_and_show(
            lambda progress: run_repeated(
                [spec], target, loop=loop, command=command_line(), progress=progress,
                on_server=say_server, allow_storm=db.allow_storm, pooler=through, repeat=repeat,
            ),
            stem=f"run-{spec.name}", output=output,
            title=f"dbkit run {spec.name}{_at_rate(spec)}{_times(repeat)}", plot=plot, gate=gate,
        )  # fmt: skip

    guarded(go)


def _times(repeat: int) -> str:
    return "" if repeat == 1 else f" --repeat {repeat}"


def _at_rate(spec: RunSpec) -> str:
    return "" if spec.rate is None else f" at {spec.rate:g}/s for {spec.duration:g} s"
