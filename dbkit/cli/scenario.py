"""``dbkit scenario``: every run of a scenario file on one server, into one result file."""

from __future__ import annotations

from typing import Annotated

import typer

from dbkit.cli.common import command_line, guarded, say, say_server, the_server
from dbkit.cli.gate import CheckOpt, Gate, JunitOpt
from dbkit.cli.options import (
    AllowStormOpt,
    DsnFileOpt,
    DsnOpt,
    FaultOpt,
    ImageOpt,
    JsonOpt,
    LoopOpt,
    MaxConnOpt,
    OutOpt,
    PlotOpt,
    RepeatOpt,
    ResultsDirOpt,
    ServerOpt,
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
from dbkit.store.results import DEFAULT_DIR
from dbkit.store.scenario import load_scenario


def scenario(
    name: Annotated[
        str, typer.Argument(help="A scenario name (scenarios/NAME.toml) or a path to a .toml file.")
    ],
    fault: FaultOpt = None,
    repeat: RepeatOpt = 1,
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
    """Run every run of a scenario file on one server into one result file."""

    def go() -> None:
        scen = load_scenario(name, max_connections)
        check_repeat(repeat)
        runs = list(scen.runs_with(fault))
        if statement_cache is not None:  # every run's, as --fault; refused where unused
            runs = [spec.replace(statement_cache=statement_cache) for spec in runs]
        # --pooler sends every run through the pooler it names; else the file's [pooler]
        # takes the runs that say pooler = true
        through = pooler_spec(pooler, pool_mode, pooler_size, max_client_conn)
        pooled = None if through is not None else scen.pooled
        through = through or scen.pooler
        gate = Gate.of(check, junit, runs=[spec.name for spec in expand(runs)])
        target = the_server(server, dsn, dsn_file, max_connections, image, scen.max_connections)
        if not as_json and scen.description:  # once the options are known good
            say(f"scenario {scen.name}: {scen.description}")
        save_and_show(
            lambda progress: run_repeated(
                runs, target, loop=loop, command=command_line(), progress=progress,
                on_server=say_server, allow_storm=allow_storm, pooler=through, pooled=pooled,
                repeat=repeat,
            ),
            stem=f"scenario-{scen.name}", out=out, results_dir=results_dir, as_json=as_json,
            title=f"dbkit scenario {scen.name}" + (f" --repeat {repeat}" if repeat > 1 else ""),
            plot=plot, gate=gate,
        )  # fmt: skip

    guarded(go)
