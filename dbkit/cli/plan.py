"""``dbkit plan``: do the fleet's pools fit the server? The exit code is the answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dbkit.cli.common import guarded
from dbkit.cli.options import (
    DeployFileArg,
    DsnFileOpt,
    HeadroomOpt,
    JsonOpt,
    MarginOpt,
    ServiceOpt,
)
from dbkit.model.presets import format_presets
from dbkit.model.presets import list_presets as all_presets
from dbkit.model.rightsize import DEFAULT_MARGIN
from dbkit.present.plan import format_plan
from dbkit.present.rightsize import format_advice
from dbkit.store.measured import plan_with_advice


def plan(
    deploy_file: DeployFileArg = None,
    service: ServiceOpt = None,
    max_connections: Annotated[
        int | None, typer.Option(help="The server's max_connections.", show_default=False)
    ] = None,
    reserved: Annotated[
        int | None,
        typer.Option(help="superuser_reserved_connections [default: 3].", show_default=False),
    ] = None,
    headroom: HeadroomOpt = None,
    dsn: Annotated[
        str | None,
        typer.Option(
            "--dsn",
            envvar="DBKIT_DSN",
            help="Read max_connections, reserved slots and connections in use from this server.",
            show_default=False,
        ),
    ] = None,
    dsn_file: DsnFileOpt = None,
    scale_to: Annotated[
        int | None,
        typer.Option(help="Replicas during a rolling deploy's surge.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
    preset: Annotated[
        str | None,
        typer.Option(
            help="A managed database's limits, e.g. aws-rds:db.t3.micro, azure:B2s, "
            "supabase:small, neon:0.25 (max_connections and reserved slots; values given "
            "override them).",
            show_default=False,
        ),
    ] = None,
    list_presets: Annotated[
        bool, typer.Option("--list-presets", help="Print the presets with their sources; exit.")
    ] = False,
    measured: Annotated[
        Path | None,
        typer.Option(
            help="A dbkit fleet result (JSON): advise each service's per-worker pool from its "
            "measured active connections and demand, as the change to the deploy file.",
            show_default=False,
        ),
    ] = None,
    margin: MarginOpt = DEFAULT_MARGIN,
) -> None:
    """Does the fleet's pools fit the server? Exit 0 when it fits, 1 when not, 2 on bad input.

    With --measured, each service's pool is also advised from a fleet result (the exit code
    stays the plan's)."""
    if list_presets:  # the whole table, nothing planned
        for text in format_presets(all_presets()):
            typer.echo(text)
        raise typer.Exit(0)
    result, advice = guarded(
        lambda: plan_with_advice(
            deploy_file, service or (), measured=measured, margin=margin,
            max_connections=max_connections, reserved=reserved, headroom=headroom, dsn=dsn,
            dsn_file=dsn_file, scale_to=scale_to, preset=preset,
        )
    )  # fmt: skip
    if as_json:
        doc = result.to_dict()
        if measured is not None:
            doc["advice"] = [a.to_dict() for a in advice]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        for line in [*format_plan(result), *(["", *format_advice(advice)] if advice else [])]:
            typer.echo(line)
    raise typer.Exit(0 if result.passes else 1)
