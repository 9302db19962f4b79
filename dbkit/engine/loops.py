"""The event loop a run measures in, and the drivers' logging while it does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from dbkit.model.errors import ConfigError

LOOPS = ("asyncio", "uvloop")


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``asyncio.Runner``: None for asyncio's own loop."""
    if loop == "asyncio":
        return None
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise ConfigError("uvloop is not installed: pip install 'dbkit[uvloop]'") from None
        return uvloop.new_event_loop
    raise ConfigError(f"unknown event loop {loop!r}; choose one of {', '.join(LOOPS)}")


def quiet_driver_logs() -> None:
    """asyncpg's pool logs a traceback each time it fails to refill after a fault; those
    failures are what we measure and record, so keep them off the user's terminal."""
    logging.getLogger("asyncpg").addHandler(logging.NullHandler())
    logging.getLogger("asyncpg").propagate = False
