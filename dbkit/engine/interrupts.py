"""Ctrl-C (and SIGTERM, which takes its path) while measuring: never lose what was measured.

The first signal during a measurement cancels the measuring task, which closes its pools
gracefully and returns what it measured; a second one cancels it again, which cuts that close
short (pools are terminated). Neither raises, so the partial result is always built and kept.
Outside a measurement, the first signal raises KeyboardInterrupt (nothing to keep yet: unwind,
stop the server); once the kit is stopping, later signals are only counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_state: dict[str, Any] = {"count": 0, "target": None, "holding": False}


def count() -> int:
    """How many interrupts this process has had."""
    return int(_state["count"])


def on_signal(signum: int, frame: Any) -> None:
    """The SIGINT handler: cancel the measurement in progress, else interrupt once."""
    _state["count"] += 1
    target = _state["target"]
    if target is not None:
        loop, task = target
        loop.call_soon_threadsafe(task.cancel)
    elif _state["count"] == 1 and not _state["holding"]:
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
    _state["target"] = (asyncio.get_running_loop(), task)
    signal.signal(signal.SIGINT, on_signal)
    try:
        yield
    finally:
        _state["target"] = None
        signal.signal(signal.SIGINT, previous)
