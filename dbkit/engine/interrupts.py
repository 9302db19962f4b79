"""Ctrl-C (and SIGTERM, which takes its path) while measuring: never lose what was measured.

The first signal during a measurement cancels the measuring task, which closes its pools
gracefully and returns what it measured; a second one cancels it again, which cuts that close
short (pools are terminated). Neither raises, so the partial result is always built and kept.
Before anything was measured, the first signal raises KeyboardInterrupt (nothing to keep yet:
unwind, stop the server). Once this process has measured, a signal outside a measurement (a
run's monitor stopping, a pooler starting between two runs) never raises: it is counted, the
experiment ends at its next run (``taken``), and a measurement that begins after it is
cancelled at once. Once a result is being kept, signals are only counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

_state: dict[str, Any] = {
    "count": 0,
    "target": None,
    "holding": False,
    "measured": False,
    "since": None,  # within an experiment (taken): the count when it began
}


def count() -> int:
    """How many interrupts this process has had."""
    return int(_state["count"])


def on_signal(signum: int, frame: Any) -> None:
    """The SIGINT handler: cancel the measurement in progress; else, before anything was
    measured, interrupt once; else only count."""
    _state["count"] += 1
    target = _state["target"]
    if target is not None:
        loop, task = target
        loop.call_soon_threadsafe(task.cancel)
    elif _state["count"] == 1 and not _state["holding"] and not _state["measured"]:
        raise KeyboardInterrupt


def exiting() -> None:
    """The process is about to exit after an interrupt: ignore further signals.

    Python restores the default handlers while it shuts down, and a signal in that window
    (a second Ctrl-C, or `timeout -s INT` signalling the process and then its group) would end
    the process by the signal, losing the exit status that says the partial result was kept.
    """
    if count():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def hold() -> None:
    """From here on (a result is being kept), signals are only counted."""
    _state["holding"] = True


@contextlib.contextmanager
def cancelling(task: asyncio.Future[Any]) -> Iterator[None]:
    """While inside, SIGINT cancels ``task`` (each time) instead of raising.

    Only in the main thread, where signal handlers live; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    loop = asyncio.get_running_loop()
    _state["target"] = (loop, task)
    _state["measured"] = True
    signal.signal(signal.SIGINT, on_signal)
    since = _state["since"]
    if since is not None and count() > since:  # a stop was asked for before this one began
        loop.call_soon(task.cancel)
    try:
        yield
    finally:
        _state["target"] = None
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def taken() -> Iterator[Callable[[], bool]]:
    """An experiment's whole life: SIGINT is the kit's (in the main thread; elsewhere nothing
    changes), and the function yielded says whether a signal came since it began, so that the
    experiment stops at its next run and keeps what was measured."""
    since = _state["since"]
    _state["since"] = count()
    mark = count()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if main:
        signal.signal(signal.SIGINT, on_signal)
    try:
        yield lambda: count() > mark
    finally:
        _state["since"] = since
        if main:
            signal.signal(signal.SIGINT, previous)
