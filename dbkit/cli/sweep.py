"""``dbkit sweep``: one strategy over a grid of sizes, and the knee of its throughput curve."""

from __future__ import annotations

from typing import Annotated

import typer

from dbkit.cli.bundles import bundled
from dbkit.cli.common import command_line, guarded, say_server
from dbkit.cli.gate import CheckOptions
from dbkit.cli.options import (
    AcquireTimeoutOpt,
    ArrivalsOpt,
    DurationOpt,
    HoldOpt,
    LoopOpt,
    MaxOverflowOpt,
    OutputOptions,
    PlotOpt,
    QueriesOpt,
    RateOpt,
    ServerOptions,
    SqlOpt,
    TasksOpt,
    spell,
    typed_here,
)
from dbkit.cli.output import save_and_show
from dbkit.cli.pooler_options import PoolerOptions
from dbkit.engine.sweep import parse_sizes, run_sweep, sweep_specs
from dbkit.model.repeats import check_repeat
from dbkit.store.scenario import build_spec


@bundled
def sweep(
    ctx: typer.Context,
    strategy: Annotated[
        str, typer.Argument(help="pool, sqlalchemy, semaphore, batched or unbatched.")
    ],
    *,
    sizes: Annotated[
        str, typer.Option(help="Values to try, comma-separated, e.g. 10,50,90.")
    ] = "10,50,90",
    param: Annotated[
        str | None,
        typer.Option(
            help="What --sizes sets: pool_size, limit, batch_size or tasks "
            "[default: pool_size for pools, limit for semaphore].",
            show_default=False,
        ),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            help="Rounds over the grid; 2 or more measure the noise a knee must stand out of."
        ),
    ] = 1,
    tasks: TasksOpt = 1000,
    rate: RateOpt = None,
    duration: DurationOpt = None,
    arrivals: ArrivalsOpt = "poisson",
    queries: QueriesOpt = 3,
    hold: HoldOpt = 0.1,
    sql: SqlOpt = None,
    max_overflow: MaxOverflowOpt = 0,
    acquire_timeout: AcquireTimeoutOpt = None,
    pooling: PoolerOptions,
    plot: PlotOpt = False,
    db: ServerOptions,
    output: OutputOptions,
    checks: CheckOptions,
    loop: LoopOpt = "asyncio",
) -> None:
    """Run one strategy over a grid of pool sizes; name the knee of the throughput curve."""

    def go() -> None:
        values = {
            "strategy": strategy, "tasks": tasks, "queries": queries, "hold": hold, "sql": sql,
            "max_overflow": max_overflow, "acquire_timeout": acquire_timeout,
            "statement_cache": pooling.statement_cache, "rate": rate, "duration": duration,
            "arrivals": arrivals,
        }  # fmt: skip
        base = build_spec(values, "options", "sweep", given=typed_here(ctx, [*values]), spell=spell)
        grid = parse_sizes(sizes)
        sweep_specs(base, grid, param)  # refused before any server starts
        check_repeat(repeat)
        gate = checks.gate()
        through = pooling.spec()
        at_rate = "" if base.rate is None else f" --rate {base.rate:g} --duration {base.duration:g}"
        target = db.spec()
        save_and_show(
            lambda progress: run_sweep(
                base, grid, target, param=param, loop=loop, command=command_line(),
                progress=progress, on_server=say_server, repeat=repeat,
                allow_storm=db.allow_storm, pooler=through,
            ),
            stem=f"sweep-{strategy}", output=output,
            title=f"dbkit sweep {strategy} --sizes {sizes}{at_rate}", plot=plot, gate=gate,
        )  # fmt: skip

    guarded(go)
