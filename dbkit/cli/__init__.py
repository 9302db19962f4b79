"""The `dbkit` command: parse options, call one library function, print its result.

Library errors (DbkitError) become a one-line message on stderr and exit status 2 for bad
input, 1 for anything else the user should know; no traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dbkit.engine import interrupts
from dbkit.engine.fleet import run_fleet
from dbkit.engine.loops import LOOPS, quiet_driver_logs
from dbkit.engine.run import run_experiment
from dbkit.engine.sweep import check_repeat, parse_sizes, run_sweep, sweep_specs
from dbkit.model.dsn import mask_text
from dbkit.model.errors import ConfigError, DbkitError, ResultExistsError
from dbkit.model.plan import format_plan
from dbkit.model.presets import format_presets
from dbkit.model.presets import list_presets as all_presets
from dbkit.model.results import Result
from dbkit.model.spec import SERVER_OPTIONS, RunSpec, strategy_names
from dbkit.present.fleet import format_fleet
from dbkit.present.report import format_result
from dbkit.servers import (
    DOCKER_IMAGE,
    KINDS,
    Server,
    ServerSpec,
    default_kind,
    printable_dsn,
    server_spec,
    start_server,
)
from dbkit.store.deploy import build_plan, collect_deploy
from dbkit.store.files import check_writable, output_path, rescue_copy
from dbkit.store.results import DEFAULT_DIR, default_path, read_result, write_result
from dbkit.store.scenario import build_spec, load_scenario
from dbkit.strategies import STRATEGIES

app = typer.Typer(
    help="PostgreSQL connection-limit experiments: reproduce the 100-connection failure, "
    "compare concurrency strategies, size pools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say [default: ...] and [services.NAME] literally
)
server_app = typer.Typer(
    help="Start a throwaway PostgreSQL.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(server_app, name="server")

# soft_wrap: a message is one line however narrow the terminal (or 80 columns when piped), so
# that it can be grepped and pasted whole.
err = Console(stderr=True, highlight=False, soft_wrap=True)
quiet_driver_logs()

# -- shared options ------------------------------------------------------------------------

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
LoopOpt = Annotated[str, typer.Option("--loop", help=f"Event loop: {', '.join(LOOPS)}.")]
TasksOpt = Annotated[int, typer.Option(help="How many tasks (coroutines).")]
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
MaxOverflowOpt = Annotated[int, typer.Option(help="sqlalchemy: connections beyond the pool.")]
AcquireTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        help="pool, sqlalchemy, psycopg: seconds to wait for a connection [default: asyncpg "
        "forever, SQLAlchemy and psycopg 30].",
        show_default=False,
    ),
]
PlotOpt = Annotated[bool, typer.Option("--plot", help="Also write a PNG next to the result file.")]
DsnFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--dsn-file", help="Read the DSN from the first line of this file.", show_default=False
    ),
]
AllowStormOpt = Annotated[
    bool,
    typer.Option(
        "--allow-storm",
        help="On a --dsn server, run even what may take more connections than are free.",
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
FaultOpt = Annotated[
    str | None,
    typer.Option(
        "--fault",
        help="KIND@SECONDS into the run: terminate (the run's own backends), restart or stop "
        "(the server; embedded only).",
        show_default=False,
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"dbkit: error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


_signals = {"term": False}


def _interrupt_code() -> int:
    return 143 if _signals["term"] else 130


def guarded(func: Callable[[], Any]) -> Any:
    """Run a library call; DbkitError -> one line and exit 2 (bad input) or 1."""
    previous_term = signal.getsignal(signal.SIGTERM)
    previous_int = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGTERM, _sigterm)
    # Also when started in the background by a shell without job control (SIGINT arrives
    # ignored): take it back, so that SIGTERM (which takes the Ctrl-C path) and kill -INT work.
    signal.signal(signal.SIGINT, interrupts.on_signal)
    try:
        return func()
    except ConfigError as exc:
        fail(mask_text(str(exc)), 2)
    except DbkitError as exc:
        fail(mask_text(str(exc)), 1)
    except OSError as exc:  # a file or folder the kit was pointed at: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        fail(mask_text(f"{where}{exc.strerror or exc}"), 1)
    except KeyboardInterrupt:
        fail("interrupted; the server was stopped", _interrupt_code())
    finally:
        if not interrupts.count():  # else the kit is on its way out: later signals stay quiet
            signal.signal(signal.SIGTERM, previous_term)
            signal.signal(signal.SIGINT, previous_int)


def _sigterm(signum: int, frame: Any) -> None:
    # SIGTERM takes the Ctrl-C path: inside a run, the kit's SIGINT handler (engine.interrupts)
    # cancels the measurement and the partial result is kept; elsewhere KeyboardInterrupt
    # unwinds and closes servers.
    _signals["term"] = True
    on_sigint = signal.getsignal(signal.SIGINT)
    if callable(on_sigint):
        on_sigint(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


class ProgressDisplay:
    """A progress bar per run on stderr, refreshed by rich's own timer."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=not enabled,
        )
        self._tasks: dict[int, Any] = {}
        self._started = False

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:  # a display never started leaves no blank line above an error
            self._progress.stop()

    def __call__(self, index: int, name: str, done: int, total: int) -> None:
        task = self._tasks.get(index)
        if task is None:
            if not self._started:  # started with the first run, not before
                self._progress.start()
                self._started = True
            task = self._tasks[index] = self._progress.add_task(name, total=total)
        self._progress.update(task, completed=done)


def _say_server(server: Server) -> None:
    info = server.info
    err.print(
        f"server: {server.backend} ({server.reason}), PostgreSQL {info.server_version}"
        + (f" (image {info.image})" if info.image else "")
        + f", max_connections {info.max_connections}, workload role {info.app_role}",
        markup=False,
    )


def _server_spec(
    server: str | None,
    dsn: str | None,
    max_connections: int | None,
    default: int,
    dsn_file: Path | None = None,
    image: str | None = None,
) -> ServerSpec:
    return server_spec(
        server,
        dsn=dsn,
        dsn_file=None if dsn_file is None else str(dsn_file),
        max_connections=max_connections,
        default_max_connections=default,
        image=image,
    )


def _command() -> list[str]:
    """The command line as typed, for the result's metadata (which masks its passwords)."""
    return ["dbkit", *sys.argv[1:]]


def _save_and_show(
    measure: Callable[[ProgressDisplay], Result],
    *,
    stem: str,
    out: Path | None,
    results_dir: Path,
    as_json: bool,
    title: str,
    plot: bool = False,
    formatter: Callable[[Result], list[str]] | None = None,
) -> Result:
    """Run ``measure`` with a progress display, write its result, then print it."""
    path = out or default_path(stem, results_dir)
    check_writable(path)  # before the run, so no time is spent on a result that cannot be kept
    if plot:
        if path.suffix == ".png":
            raise ConfigError(f"{path}: the result is JSON; --plot writes the PNG next to it")
        check_writable(path.with_suffix(".png"))
    started = time.perf_counter()
    with ProgressDisplay(enabled=True) as progress:
        result = measure(progress)
    interrupts.hold()  # a signal from here on must not cost the result: it is only counted
    path, problem = _keep(result, path, stem, results_dir if out is None else None)
    if as_json:
        sys.stdout.write(result.dumps())
    else:
        lines = formatter(result) if formatter else format_result(result, title=title)
        for line in lines:
            typer.echo(line)
    if problem:
        fail(problem, 1)
    for run in result.runs:  # a fleet's fault is the fleet's, in format_fleet
        fault = run.params.get("fault")
        if fault and not run.faults and not run.interrupted and result.fleet is None:
            err.print(f"note: fault {fault} never fired: {run.name} ended at {run.wall_s:.2f} s")
    err.print(f"result: {path} ({time.perf_counter() - started:.1f} s in all)", markup=False)
    if result.interrupted or interrupts.count():
        err.print("interrupted: the partial result above was kept", markup=False)
        raise typer.Exit(_interrupt_code())
    if plot:
        _plot([result], path.with_suffix(".png"))
    barren = [run.name for run in result.runs if run.tasks and not run.ok]
    if barren:  # a storm still has its survivors; nothing at all is a broken setup or statement
        fail(f"no task succeeded in {', '.join(barren)} (errors above; result kept)", 1)
    return result


def _keep(result: Result, path: Path, stem: str, auto_dir: Path | None) -> tuple[Path, str | None]:
    """Write the result, never losing it: returns where it went and what went wrong, if any.

    An auto-named file whose name another dbkit took meanwhile takes the next free name; any
    other failure saves a copy in the temp folder and says where.
    """
    while True:
        try:
            return write_result(result, path), None
        except ResultExistsError as exc:
            if auto_dir is None:
                reason = str(exc)
                break
            path = default_path(stem, auto_dir)
        except OSError as exc:
            reason = f"cannot write {path}: {exc.strerror or exc}"
            break
    rescued = rescue_copy(lambda f: f.write(result.dumps().encode()), stem)
    return rescued, f"{reason}; the result was saved to {rescued}"


def _plot(results: list[Result], path: Path) -> None:
    from dbkit.present.plot import plot_results

    check_writable(path)
    panels = plot_results(results, path)
    err.print(f"plot: {path} ({', '.join(panels)})", markup=False)


def _run_and_save(
    specs: list[RunSpec],
    spec: ServerSpec,
    *,
    loop: str,
    plot: bool = False,
    allow_storm: bool = False,
    **show: Any,
) -> None:
    _save_and_show(
        lambda progress: run_experiment(
            specs, spec, loop=loop, command=_command(), progress=progress,
            on_server=_say_server, allow_storm=allow_storm,
        ),
        plot=plot,
        **show,
    )  # fmt: skip


CLI_NAMES = {"retries": "retry"}  # RunSpec field -> the command's parameter, where they differ


def _option(field: str) -> str:
    return "--" + CLI_NAMES.get(field, field).replace("_", "-")


def _typed_here(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (not a default or variable)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


# -- commands -------------------------------------------------------------------------------


@app.command()
def run(
    ctx: typer.Context,
    strategy: Annotated[
        str,
        typer.Argument(
            help="; ".join(f"{name}: {s.summary}" for name, s in STRATEGIES.items()),
            show_default=False,
        ),
    ],
    tasks: TasksOpt = 1000,
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
    statement_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds a statement may run (server-side).", show_default=False),
    ] = None,
    commit: Annotated[
        bool, typer.Option("--commit", help="Commit custom --sql (default: rolled back).")
    ] = False,
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
    loop: LoopOpt = "asyncio",
) -> None:
    """Run one strategy on one server and record the result."""

    def go() -> None:
        if strategy not in strategy_names():
            raise ConfigError(
                f"unknown strategy {strategy!r}; choose one of {', '.join(strategy_names())}"
            )
        values = {
            "strategy": strategy, "tasks": tasks, "queries": queries, "hold": hold, "sql": sql,
            "batch_size": batch_size, "limit": limit, "pool_size": pool_size,
            "min_size": min_size, "max_overflow": max_overflow,
            "acquire_timeout": acquire_timeout, "connect_timeout": connect_timeout, "mode": mode,
            "retries": retry, "fault": fault, "statement_timeout": statement_timeout,
            "commit": commit, "procs": procs,
        }  # fmt: skip
        if commit and sql is None:
            raise ConfigError("--commit applies to a custom --sql statement; there is none")
        given = [f for f in [*values, *SERVER_OPTIONS] if _typed_here(ctx, CLI_NAMES.get(f, f))]
        spec = build_spec(values, "options", "run", given=given, spell=_option)
        _run_and_save(
            [spec],
            _server_spec(server, dsn, max_connections, 100, dsn_file, image),
            allow_storm=allow_storm,
            plot=plot,
            stem=f"run-{spec.name}",
            out=out,
            results_dir=results_dir,
            as_json=as_json,
            loop=loop,
            title=f"dbkit run {spec.name}",
        )

    guarded(go)


@app.command()
def scenario(
    name: Annotated[
        str, typer.Argument(help="A scenario name (scenarios/NAME.toml) or a path to a .toml file.")
    ],
    fault: FaultOpt = None,
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
    loop: LoopOpt = "asyncio",
) -> None:
    """Run every run of a scenario file on one server into one result file."""

    def go() -> None:
        scen = load_scenario(name, max_connections)
        runs = [r.replace(fault=fault) if fault else r for r in scen.runs]
        spec = _server_spec(server, dsn, max_connections, scen.max_connections, dsn_file, image)
        if not as_json and scen.description:  # once the options are known good
            err.print(f"scenario {scen.name}: {scen.description}", markup=False)
        _run_and_save(
            runs,
            spec,
            allow_storm=allow_storm,
            plot=plot,
            stem=f"scenario-{scen.name}",
            out=out,
            results_dir=results_dir,
            as_json=as_json,
            loop=loop,
            title=f"dbkit scenario {scen.name}",
        )

    guarded(go)


@app.command()
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
    queries: QueriesOpt = 3,
    hold: HoldOpt = 0.1,
    sql: SqlOpt = None,
    max_overflow: MaxOverflowOpt = 0,
    acquire_timeout: AcquireTimeoutOpt = None,
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
    loop: LoopOpt = "asyncio",
) -> None:
    """Run one strategy over a grid of pool sizes; name the knee of the throughput curve."""

    def go() -> None:
        values = {
            "strategy": strategy, "tasks": tasks, "queries": queries, "hold": hold, "sql": sql,
            "max_overflow": max_overflow, "acquire_timeout": acquire_timeout,
        }  # fmt: skip
        given = [f for f in values if _typed_here(ctx, f)]
        base = build_spec(values, "options", "sweep", given=given, spell=_option)
        grid = parse_sizes(sizes)
        sweep_specs(base, grid, param)  # refused before any server starts
        check_repeat(repeat)
        spec = _server_spec(server, dsn, max_connections, 100, dsn_file, image)
        _save_and_show(
            lambda progress: run_sweep(
                base, grid, spec, param=param, loop=loop, command=_command(),
                progress=progress, on_server=_say_server, repeat=repeat,
                allow_storm=allow_storm,
            ),
            stem=f"sweep-{strategy}",
            out=out,
            results_dir=results_dir,
            as_json=as_json,
            title=f"dbkit sweep {strategy} --sizes {sizes}",
            plot=plot,
        )  # fmt: skip

    guarded(go)


@app.command()
def report(
    files: Annotated[list[Path], typer.Argument(help="Result files to show.", show_default=False)],
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write a PNG of the runs (never overwritten).", show_default=False
        ),
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="Write one CSV row per run (never overwritten).", show_default=False
        ),
    ] = None,
) -> None:
    """Print the tables of result files again; plot them or export them as CSV."""

    def go() -> None:
        results: list[tuple[Path, Result]] = [(f, read_result(f)) for f in files]
        for target in (csv, plot):
            if target is not None:
                check_writable(target)
        for i, (path, result) in enumerate(results):
            if i:
                typer.echo("")
            lines = format_fleet(result) if result.fleet else format_result(result, str(path))
            for line in lines:
                typer.echo(line)
        if csv is not None:
            from dbkit.present.export import write_csv

            err.print(f"csv: {write_csv(results, csv)}", markup=False)
        if plot is not None:
            _plot([result for _, result in results], plot)

    guarded(go)


@app.command()
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

    def go() -> Any:
        return build_plan(
            deploy_file,
            service or (),
            max_connections=max_connections,
            reserved=reserved,
            headroom=headroom,
            dsn=dsn or None,
            scale_to=scale_to,
            preset=preset,
        )

    result = guarded(go)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        for line in format_plan(result):
            typer.echo(line)
    fits = result.fits and (result.surge_fits is not False)
    raise typer.Exit(0 if fits else 1)


@app.command()
def fleet(
    deploy_file: DeployFileArg = None,
    service: ServiceOpt = None,
    duration: Annotated[float, typer.Option(help="Seconds of saturating load.")] = 10.0,
    hold: Annotated[float, typer.Option(help="Seconds each pg_sleep holds a connection.")] = 0.05,
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
            help="OS processes to spread the workers over [default: up to 4].", show_default=False
        ),
    ] = None,
    headroom: HeadroomOpt = None,
    acquire_timeout: Annotated[
        float, typer.Option(help="Seconds a worker waits for a pooled connection.")
    ] = 2.0,
    fault: FaultOpt = None,
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
    loop: LoopOpt = "asyncio",
) -> None:
    """Run the deploy for real: every replica x worker as its own pool, under load.

    Exit 0 when the fleet ran clean, 1 when any worker saw an error.
    """

    def go() -> Result:
        deploy = collect_deploy(deploy_file, service or ())
        target = deploy.database.get("max_connections", 100)
        spec = _server_spec(server, dsn, max_connections, target, dsn_file, image)
        room = headroom if headroom is not None else deploy.database.get("headroom", 0)

        def measure(progress: ProgressDisplay) -> Result:
            def tick(elapsed: float, total: float) -> None:
                progress(0, "fleet (tenths of s)", int(elapsed * 10), int(total * 10))

            return run_fleet(
                deploy.services, spec, duration=duration, hold=hold, concurrency=concurrency,
                procs=procs, headroom=room, acquire_timeout=acquire_timeout, loop=loop,
                command=_command(), fault=fault, allow_storm=allow_storm,
                progress=tick,
            )  # fmt: skip

        return _save_and_show(
            measure,
            stem=f"fleet-{Path(deploy_file).stem if deploy_file else 'services'}",
            out=out,
            results_dir=results_dir,
            as_json=as_json,
            title="dbkit fleet",
            plot=plot,
            formatter=format_fleet,
        )

    result = guarded(go)
    raise typer.Exit(1 if result.fleet and result.fleet.first_failure else 0)


@server_app.command("up")
def server_up(
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
            info = srv.info
            typer.echo(
                f"PostgreSQL {info.server_version} ({srv.backend}: {srv.reason}"
                + (f", image {info.image}" if info.image else "")
                + "), "
                f"max_connections {info.max_connections}, "
                f"{info.superuser_reserved_connections} superuser-reserved"
            )
            typer.echo(f"superuser DSN: {printable_dsn(srv, srv.admin_dsn)}")
            typer.echo(
                f"app DSN:       {printable_dsn(srv, srv.app_dsn)}  (plain role, as in production)"
            )
            typer.echo("Ctrl-C stops it.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                typer.echo("stopping")

    guarded(go)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"dbkit {version('dbkit')}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options before any command (the help text is the Typer app's)."""


def main(args: list[str] | None = None) -> NoReturn:
    """The ``dbkit`` command. Click's own usage errors (an unknown option, a missing argument)
    become the kit's one line, exit 2, like every other bad input."""
    try:
        code = app(args=args, prog_name="dbkit", standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors and the like
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `dbkit` / `dbkit server`: the help
            err.print(exc.format_message(), markup=False)
            sys.exit(2)
        message = " ".join(exc.format_message().split())
        err.print(f"dbkit: error: {message}", markup=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        code = _interrupt_code()
    finally:
        interrupts.exiting()
    sys.exit(code if isinstance(code, int) else 0)
