"""``dbkit scenario``: every run of a scenario file on one server, into one result file."""

from __future__ import annotations

from typing import Annotated

import typer

from dbkit.cli.bundles import bundled
from dbkit.cli.common import command_line, guarded, say, say_server
from dbkit.cli.gate import CheckOptions
from dbkit.cli.options import (
    FaultOpt,
    LoopOpt,
    OutputOptions,
    PlotOpt,
    RepeatOpt,
    ServerOptions,
)
from dbkit.cli.output import save_and_show
from dbkit.cli.pooler_options import PoolerOptions
from dbkit.engine.repeat import run_repeated
from dbkit.engine.run import expand
from dbkit.model.repeats import check_repeat
from dbkit.store.scenario import load_scenario


@bundled
def scenario(
    name: Annotated[
        str, typer.Argument(help="A scenario name (scenarios/NAME.toml) or a path to a .toml file.")
    ],
    *,
    fault: FaultOpt = None,
    repeat: RepeatOpt = 1,
    pooling: PoolerOptions,
    plot: PlotOpt = False,
    db: ServerOptions,
    output: OutputOptions,
    checks: CheckOptions,
    loop: LoopOpt = "asyncio",
) -> None:
    """Run every run of a scenario file on one server into one result file."""

    def go() -> None:
        scen = load_scenario(name, db.max_connections)
        check_repeat(repeat)
        runs = list(scen.runs_with(fault))
        cache = pooling.statement_cache
        if cache is not None:  # every run's, as --fault; refused where unused
            runs = [spec.replace(statement_cache=cache) for spec in runs]
        # --pooler sends every run through the pooler it names; else the file's [pooler]
        # takes the runs that say pooler = true
        through = pooling.spec()
        pooled = None if through is not None else scen.pooled
        through = through or scen.pooler
        gate = checks.gate(runs=[spec.name for spec in expand(runs)])
        target = db.spec(scen.max_connections)
        if not output.as_json and scen.description:  # once the options are known good
            say(f"scenario {scen.name}: {scen.description}")
        save_and_show(
            lambda progress: run_repeated(
                runs, target, loop=loop, command=command_line(), progress=progress,
                on_server=say_server, allow_storm=db.allow_storm, pooler=through, pooled=pooled,
                repeat=repeat,
            ),
            stem=f"scenario-{scen.name}", output=output,
            title=f"dbkit scenario {scen.name}" + (f" --repeat {repeat}" if repeat > 1 else ""),
            plot=plot, gate=gate,
        )  # fmt: skip

    guarded(go)
