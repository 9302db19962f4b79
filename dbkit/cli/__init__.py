"""The ``dbkit`` command: the Typer app, assembled from one module per command, and ``main``.

Importing this package is light on purpose (no Typer, no driver, no library): ``main`` imports
the rest, so a Ctrl-C at any moment after it starts is caught and said in one line.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import typer

INTERRUPTED = "dbkit: error: interrupted"
_signals = {"count": 0}


def _first_interrupt(signum: int, frame: Any) -> None:
    # Until a command takes the signals over (cli.common.guarded), and again after it: the
    # first Ctrl-C interrupts whatever is going on; later ones are only counted, so the kit can
    # say so in one line and exit, never cut short mid-message into a traceback.
    _signals["count"] += 1
    if _signals["count"] == 1:
        raise KeyboardInterrupt


# Each command's module, in the order `dbkit --help` lists them; ``server`` is a group (``up``).
COMMANDS = {
    "run": "dbkit.cli.run",
    "scenario": "dbkit.cli.scenario",
    "sweep": "dbkit.cli.sweep",
    "report": "dbkit.cli.report",
    "compare": "dbkit.cli.compare",
    "plan": "dbkit.cli.plan",
    "fleet": "dbkit.cli.fleet",
}
SERVER_GROUP = "server"


def build_app(command: str | None = None) -> typer.Typer:
    """The Typer app: every command, the ``server`` group and the ``--version`` option; with
    ``command``, that command alone (and the root option): what one invocation runs imports
    no other command's part of the library (the fleet's processes, compare's tables)."""
    import importlib

    import typer

    from dbkit.cli.common import root

    app = typer.Typer(
        help="PostgreSQL connection-limit experiments: reproduce the 100-connection failure, "
        "compare concurrency strategies, size pools.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # help texts say [default: ...] and [services.NAME] literally
    )
    for name, module in COMMANDS.items():
        if command in (None, name):
            app.command()(getattr(importlib.import_module(module), name))
    if command in (None, SERVER_GROUP):
        from dbkit.cli.server import up

        server_app = typer.Typer(
            help="Start a throwaway PostgreSQL.", no_args_is_help=True, rich_markup_mode=None
        )
        server_app.command("up")(up)
        app.add_typer(server_app, name=SERVER_GROUP)

    app.callback()(root)
    return app


def _command_of(args: list[str]) -> str | None:
    """The command ``args`` run when they name one first; else None (options before it, or
    none: help or the version, which need every command)."""
    if args and (args[0] in COMMANDS or args[0] == SERVER_GROUP):
        return args[0]
    return None


def main(args: list[str] | None = None) -> NoReturn:
    """The ``dbkit`` command. Click's own usage errors (an unknown option, a missing argument)
    become the kit's one line, exit 2, like every other bad input; a Ctrl-C that no command
    caught (while the kit loads, parses or prints help) is ``dbkit: error: interrupted``, 130.

    It is the process's entry point: it ends by raising SystemExit, leaving SIGINT ignored."""
    try:
        signal.signal(signal.SIGINT, _first_interrupt)
        code = _run(sys.argv[1:] if args is None else args)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # what is left is Python's own shutdown
    except KeyboardInterrupt:
        _signals["count"] += 1  # a later one is only counted, until it is ignored:
        # ignored, not handled: Python puts back the default action of every signal it has a
        # handler for as it shuts down, and a Ctrl-C then would end the process by the signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stderr.write(INTERRUPTED + "\n")
        code = 130
    raise SystemExit(code)


def _run(args: list[str]) -> int:
    """Parse and run one command; returns its exit status."""
    import typer

    from dbkit.cli.common import interrupt_code, say
    from dbkit.engine import interrupts

    command = typer.main.get_command(build_app(_command_of(args)))
    try:
        with command.make_context("dbkit", list(args)) as ctx:
            command.invoke(ctx)
        return 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors and the like
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `dbkit` / `dbkit server`: the help
            say(exc.format_message())
            return 2
        say(f"dbkit: error: {' '.join(exc.format_message().split())}")
        return int(getattr(exc, "exit_code", 2))
    except typer.Abort:
        return interrupt_code()
    except BrokenPipeError:  # stdout closed early (`dbkit --help | head -1`): quietly
        # Python flushes stdout once more at exit; point it at nothing, so that flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        interrupts.exiting()
