"""``dbkit plan``: do the fleet's pools fit the server? The exit code is the answer."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from dbkit.cli.common import guarded
from dbkit.cli.options import DeployFileArg, DsnFileOpt, HeadroomOpt, JsonOpt, ServiceOpt
from dbkit.model.presets import format_presets
from dbkit.model.presets import list_presets as all_presets
from dbkit.present.plan import format_plan
from dbkit.store.deploy import build_plan


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
) -> None:
    """Does the fleet's pools fit the server? Exit 0 when it fits, 1 when not, 2 on bad input."""
    if list_presets:  # the whole table, nothing planned
        for text in format_presets(all_presets()):
            typer.echo(text)
        raise typer.Exit(0)
    result = guarded(
        lambda: build_plan(
            deploy_file, service or (), max_connections=max_connections, reserved=reserved,
            headroom=headroom, dsn=dsn, dsn_file=dsn_file, scale_to=scale_to, preset=preset,
        )
    )  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        for line in format_plan(result):
            typer.echo(line)
    raise typer.Exit(0 if result.passes else 1)
