"""``dbkit fleet``: the deploy for real, every replica x worker as its own pool, under load."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from dbkit.cli.bundles import bundled
from dbkit.cli.common import command_line, guarded
from dbkit.cli.gate import CheckOptions, Gate
from dbkit.cli.options import (
    CommitOpt,
    DeployFileArg,
    FaultOpt,
    HeadroomOpt,
    LoopOpt,
    MarginOpt,
    OutputOptions,
    PlotOpt,
    ServerOptions,
    ServiceOpt,
    SqlOpt,
    StatementTimeoutOpt,
)
from dbkit.cli.output import ProgressDisplay, save_and_show
from dbkit.cli.pooler_options import PoolerOptions
from dbkit.engine.fleet import run_fleet
from dbkit.engine.status import Status
from dbkit.model.results import Result
from dbkit.model.rightsize import DEFAULT_MARGIN
from dbkit.present.fleet import format_fleet
from dbkit.store.deploy import collect_deploy


@bundled
def fleet(
    deploy_file: DeployFileArg = None,
    *,
    service: ServiceOpt = None,
    duration: Annotated[float, typer.Option(help="Seconds of saturating load.")] = 10.0,
    hold: Annotated[float, typer.Option(help="Seconds each pg_sleep holds a connection.")] = 0.05,
    queries: Annotated[int, typer.Option(help="Statements per request (per acquire).")] = 1,
    sql: SqlOpt = None,
    commit: CommitOpt = False,
    statement_timeout: StatementTimeoutOpt = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Load tasks per worker [default: 2 x (pool_size + max_overflow)].",
            show_default=False,
        ),
    ] = None,
    procs: Annotated[
        int | None,
        typer.Option(
            help="OS processes to spread the workers over [default: the cores less one, at "
            "least 1].",
            show_default=False,
        ),
    ] = None,
    headroom: HeadroomOpt = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Run the workers on a Dask cluster: a scheduler's ADDRESS (tcp://host:8786) or "
            "local:N (a LocalCluster of N worker processes here, closed after). Needs "
            "pip install 'dbkit[dask]'. --procs then counts shares (default: one per cluster "
            "worker). [default: local processes]",
            show_default=False,
        ),
    ] = None,
    acquire_timeout: Annotated[
        float, typer.Option(help="Seconds a worker waits for a pooled connection.")
    ] = 2.0,
    fault: FaultOpt = None,
    pooling: PoolerOptions,
    margin: MarginOpt = DEFAULT_MARGIN,
    plot: PlotOpt = False,
    db: ServerOptions,
    output: OutputOptions,
    checks: CheckOptions,
    loop: LoopOpt = "asyncio",
) -> None:
    """Run the deploy for real: every replica x worker as its own pool, under load.

    Exit 0 when the fleet ran clean, 1 when any worker saw an error. After the table: each
    service's pool against the connections it kept active, and the change to the deploy file
    that right-sizes it (--margin spare).
    """

    def go() -> tuple[Result, Gate]:
        deploy = collect_deploy(deploy_file, service or ())
        gate = checks.gate(services=[s.name for s in deploy.services])
        # --pooler, else the deploy file's [pooler] table: the fleet runs the deploy it plans
        through = pooling.spec() or deploy.pooler
        target = db.spec(deploy.max_connections)

        def measure(progress: ProgressDisplay) -> Result:
            def tick(status: Status) -> None:
                tenths = dataclasses.replace(status, done=status.done * 10, total=status.total * 10)
                progress(0, "fleet (tenths of s)", tenths)

            return run_fleet(
                deploy.services, target, duration=duration, hold=hold, queries=queries, sql=sql,
                commit=commit, statement_timeout=statement_timeout, concurrency=concurrency,
                procs=procs, headroom=deploy.headroom(headroom), acquire_timeout=acquire_timeout,
                loop=loop, command=command_line(), fault=fault, allow_storm=db.allow_storm,
                progress=tick, pooler=through, statement_cache=pooling.statement_cache,
                margin=margin,
                cluster=cluster,
            )  # fmt: skip

        return save_and_show(
            measure,
            stem=f"fleet-{Path(deploy_file).stem if deploy_file else 'services'}",
            output=output,
            title="dbkit fleet",
            plot=plot,
            formatter=format_fleet,
            gate=gate,
        ), gate

    result, gate = guarded(go)
    failed = 1 if result.fleet and result.fleet.first_failure else 0
    raise typer.Exit(gate.exit_code(result, failed))
