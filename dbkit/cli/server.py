"""``dbkit server up``: a throwaway PostgreSQL until Ctrl-C."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from dbkit.cli.common import guarded
from dbkit.cli.options import ImageOpt
from dbkit.model.errors import ConfigError
from dbkit.present.document import format_server_up
from dbkit.servers import ServerSpec, default_kind, start_server


def up(
    max_connections: Annotated[int, typer.Option(help="max_connections of the server.")] = 100,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="auto, embedded or docker. [default: DBKIT_SERVER, else auto]",
            show_default=False,
        ),
    ] = None,
    image: ImageOpt = None,
) -> None:
    """Start a throwaway PostgreSQL, print its DSNs, and stop it on Ctrl-C."""

    def go() -> None:
        kind = server or default_kind()
        if kind == "dsn":
            raise ConfigError("server up starts a server; --server dsn makes no sense here")
        spec = ServerSpec(kind=kind, max_connections=max_connections, image=image)
        with start_server(spec) as srv:
            for line in format_server_up(srv):
                typer.echo(line)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                typer.echo("stopping")

    guarded(go)
