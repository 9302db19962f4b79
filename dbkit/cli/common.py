"""What every command shares: the stderr console, the one-line error, the signal handling.

Library errors (DbkitError) become a one-line message on stderr and exit status 2 for bad
input, 1 for anything else the user should know; no traceback.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from dbkit.engine import interrupts
from dbkit.engine.loops import quiet_driver_logs
from dbkit.model.dsn import mask_text
from dbkit.model.errors import ConfigError, DbkitError
from dbkit.present.document import server_line
from dbkit.servers import Server

T = TypeVar("T")

# soft_wrap: a message is one line however narrow the terminal (or 80 columns when piped), so
# that it can be grepped and pasted whole.
err = Console(stderr=True, highlight=False, soft_wrap=True)
quiet_driver_logs()  # the pool's refill tracebacks are what a run records, not terminal output


def fail(message: str, code: int = 1) -> NoReturn:
    """``dbkit: error: MESSAGE`` on stderr, then exit ``code``."""
    err.print(f"dbkit: error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def say(message: str) -> None:
    """One line on stderr, taken as typed (no markup)."""
    err.print(message, markup=False)


_signals = {"term": False}


def interrupt_code() -> int:
    """130 after Ctrl-C (SIGINT), 143 after SIGTERM: what a shell reports for either."""
    return 143 if _signals["term"] else 130


def guarded(func: Callable[[], T]) -> T:
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
        fail("interrupted before anything was measured", interrupt_code())
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


def say_server(server: Server) -> None:
    say(server_line(server))


def command_line() -> list[str]:
    """The command line as typed, for the result's metadata (which masks its passwords)."""
    return ["dbkit", *sys.argv[1:]]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"dbkit {version('dbkit')}")
        raise typer.Exit(0)


def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options before any command (the help text is the Typer app's)."""
