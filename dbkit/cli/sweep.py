"""``dbkit sweep``: one strategy over a grid of sizes, and the knee of its throughput curve."""

from __future__ import annotations

from typing import Annotated

import typer

from dbkit.cli.common import command_line, guarded, say_server, the_server
from dbkit.cli.gate import CheckOpt, Gate, JunitOpt
from dbkit.cli.options import (
    AcquireTimeoutOpt,
    AllowStormOpt,
    ArrivalsOpt,
    DsnFileOpt,
    DsnOpt,
    DurationOpt,
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
    ResultsDirOpt,
    ServerOpt,
    SqlOpt,
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
from dbkit.engine.sweep import parse_sizes, run_sweep, sweep_specs
from dbkit.model.repeats import check_repeat
from dbkit.store.results import DEFAULT_DIR
from dbkit.store.scenario import build_spec


def sweep(
    ctx: typer.Context,
    strategy: Annotated[
        str, typer.Argument(help="pool, sqlalchemy, semaphore, batched or unbatched.")
    ],
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
    """Run one strategy over a grid of pool sizes; name the knee of the throughput curve."""

    def go() -> None:
        values = {
            "strategy": strategy, "tasks": tasks, "queries": queries, "hold": hold, "sql": sql,
            "max_overflow": max_overflow, "acquire_timeout": acquire_timeout,
            "statement_cache": statement_cache, "rate": rate, "duration": duration,
            "arrivals": arrivals,
        }  # fmt: skip
        base = build_spec(values, "options", "sweep", given=typed_here(ctx, [*values]), spell=spell)
        grid = parse_sizes(sizes)
        sweep_specs(base, grid, param)  # refused before any server starts
        check_repeat(repeat)
        gate = Gate.of(check, junit)
        through = pooler_spec(pooler, pool_mode, pooler_size, max_client_conn)
        at_rate = "" if base.rate is None else f" --rate {base.rate:g} --duration {base.duration:g}"
        target = the_server(server, dsn, dsn_file, max_connections, image)
        save_and_show(
            lambda progress: run_sweep(
                base, grid, target, param=param, loop=loop, command=command_line(),
                progress=progress, on_server=say_server, repeat=repeat,
                allow_storm=allow_storm, pooler=through,
            ),
            stem=f"sweep-{strategy}", out=out, results_dir=results_dir, as_json=as_json,
            title=f"dbkit sweep {strategy} --sizes {sizes}{at_rate}", plot=plot, gate=gate,
        )  # fmt: skip

    guarded(go)
