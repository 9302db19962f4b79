"""The options several commands share, each with its help text, and how they are spelled;
the bundles of them every measuring command takes (the server's, the output's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from dbkit.cli.bundles import Bundle
from dbkit.engine.loops import LOOPS
from dbkit.model.errors import ConfigError
from dbkit.servers import DOCKER_IMAGE, KINDS, ServerSpec, server_spec
from dbkit.store.files import output_path
from dbkit.store.results import DEFAULT_DIR

ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        help=f"Where PostgreSQL comes from: {', '.join(KINDS)}. auto = the DSN if given, else "
        "Docker when an engine answers and has the image, else the embedded server. "
        "[default: DBKIT_SERVER, else auto]",
        show_default=False,
    ),
]
DsnOpt = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        envvar="DBKIT_DSN",
        help="An existing server (postgresql://user:pass@host:port/db). Prefer DBKIT_DSN, "
        "which keeps the password out of shell history.",
        show_default=False,
    ),
]
DsnFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--dsn-file", help="Read the DSN from the first line of this file.", show_default=False
    ),
]
ImageOpt = Annotated[
    str | None,
    typer.Option(
        "--image",
        help="The docker server's PostgreSQL image, e.g. postgres:15-alpine for the major you run "
        f"in production. [default: DBKIT_DOCKER_IMAGE, else {DOCKER_IMAGE}]",
        show_default=False,
    ),
]
MaxConnOpt = Annotated[
    int | None,
    typer.Option(
        "--max-connections",
        help="max_connections of a server dbkit starts (not with a DSN: that server keeps its "
        "own) [default: 100, or the scenario's or deploy file's].",
        show_default=False,
    ),
]
RepeatOpt = Annotated[
    int,
    typer.Option(
        "--repeat",
        help="Measure every run this many times (1 to 20), in rounds on one server: each repeat "
        "is its own run in the result; the table shows the median (min-max) and --check "
        "judges the median.",
    ),
]
AllowStormOpt = Annotated[
    bool,
    typer.Option(
        "--allow-storm",
        help="On a --dsn server, run even what may take more connections than are free.",
    ),
]


def _output_path(text: str) -> Path:
    try:
        return output_path(text)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Result file to write (never overwritten).",
        show_default=False,
        parser=_output_path,
    ),
]
ResultsDirOpt = Annotated[
    Path, typer.Option("--results-dir", help="Folder for result files named automatically.")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result document on stdout, nothing else.")
]


@dataclass(frozen=True)
class ServerOptions(Bundle):
    """Where PostgreSQL comes from: --server, --image, --dsn, --dsn-file, --allow-storm,
    --max-connections."""

    server: ServerOpt = None
    image: ImageOpt = None
    dsn: DsnOpt = None
    dsn_file: DsnFileOpt = None
    allow_storm: AllowStormOpt = False
    max_connections: MaxConnOpt = None

    def spec(self, default: int = 100) -> ServerSpec:
        """The server the options ask for (the library's server_spec, fed as typed);
        ``default``: the max_connections of a server dbkit starts when none is given."""
        return server_spec(
            self.server,
            dsn=self.dsn,
            dsn_file=None if self.dsn_file is None else str(self.dsn_file),
            max_connections=self.max_connections,
            default_max_connections=default,
            image=self.image,
        )


@dataclass(frozen=True)
class OutputOptions(Bundle):
    """Where the result goes and how it is printed: --out, --results-dir, --json."""

    out: OutOpt = None
    results_dir: ResultsDirOpt = DEFAULT_DIR
    as_json: JsonOpt = False


LoopOpt = Annotated[str, typer.Option("--loop", help=f"Event loop: {', '.join(LOOPS)}.")]
PlotOpt = Annotated[bool, typer.Option("--plot", help="Also write a PNG next to the result file.")]
TasksOpt = Annotated[
    int, typer.Option(help="How many tasks (coroutines), all at once; not with --rate.")
]
RateOpt = Annotated[
    float | None,
    typer.Option(
        help="Open loop: tasks arriving per second, for --duration seconds (tasks = rate x "
        "duration); latency counts from each arrival. [default: a burst of --tasks]",
        show_default=False,
    ),
]
DurationOpt = Annotated[
    float | None,
    typer.Option(help="Seconds the --rate arrivals last.", show_default=False),
]
ArrivalsOpt = Annotated[
    str,
    typer.Option(
        help="With --rate: poisson (random gaps, as independent clients make) or fixed (even gaps)."
    ),
]
QueriesOpt = Annotated[int, typer.Option(help="Statements per task.")]
HoldOpt = Annotated[float, typer.Option(help="Seconds each pg_sleep (or asyncio.sleep) holds.")]
SqlOpt = Annotated[
    str | None,
    typer.Option(
        help="Statement to run instead of pg_sleep, e.g. a CPU-bound "
        "'SELECT count(*) FROM generate_series(1, 200000)'.",
        show_default=False,
    ),
]
StatementTimeoutOpt = Annotated[
    float | None,
    typer.Option(help="Seconds a statement may run (server-side).", show_default=False),
]
CommitOpt = Annotated[
    bool, typer.Option("--commit", help="Commit custom --sql (default: rolled back).")
]
MaxOverflowOpt = Annotated[int, typer.Option(help="sqlalchemy: connections beyond the pool.")]
AcquireTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        help="pool, sqlalchemy, psycopg: seconds to wait for a connection [default: asyncpg "
        "forever, SQLAlchemy and psycopg 30].",
        show_default=False,
    ),
]
FaultOpt = Annotated[
    str | None,
    typer.Option(
        "--fault",
        help="KIND@SECONDS into the run: terminate (the run's own backends), restart or stop "
        "(the server; embedded only).",
        show_default=False,
    ),
]
DeployFileArg = Annotated[
    Path | None,
    typer.Argument(help="Deploy file (TOML) listing [services.NAME].", show_default=False),
]
ServiceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--service",
        help="NAME:replicas=8,workers=4,pool_size=10[,max_overflow=5,min_size=2,"
        "driver=sqlalchemy]; repeatable, added to the file's services.",
        show_default=False,
    ),
]
HeadroomOpt = Annotated[
    int | None,
    typer.Option(
        help="Slots kept for admin and migrations [default: the file's, or 0].",
        show_default=False,
    ),
]

MarginOpt = Annotated[
    float,
    typer.Option(
        help="Right-sizing: spare pool capacity over the measured need, as a fraction (0.25: "
        "a quarter more connections than the busiest of active p99 and demand).",
        min=0,
    ),
]

CLI_NAMES = {"retries": "retry"}  # RunSpec field -> the command's parameter, where they differ


def spell(field: str) -> str:
    """A RunSpec field as the command's option: ``retries`` -> ``--retry``."""
    return "--" + CLI_NAMES.get(field, field).replace("_", "-")


def typed_here(ctx: typer.Context, fields: list[str]) -> list[str]:
    """The RunSpec ``fields`` whose options were given on the command line (not defaults, not
    environment variables): what the user set, and so what a strategy must use."""
    given = []
    for field in fields:
        source = ctx.get_parameter_source(CLI_NAMES.get(field, field))
        if source is not None and source.name == "COMMANDLINE":
            given.append(field)
    return given
