"""A server dbkit starts itself (embedded, or in Docker): what every such server shares.

Its limits are checked once, here, for ServerSpec and for a server built directly; it runs with
the same settings, its superuser DSN serves the monitor and a plain role the workload; and its
lifetime is one ``start()`` (undone by ``stop()`` if any step fails) and one ``stop()``.
A subclass says how to bring its PostgreSQL up (``_launch``) and down (``stop``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from types import TracebackType
from typing import ClassVar, Self

from dbkit.model.errors import ConfigError
from dbkit.model.server_info import ServerInfo
from dbkit.servers.base import (
    APP_PASSWORD,
    APP_ROLE,
    DEFAULT_SETTINGS,
    set_up,
)

DEFAULT_MAX_CONNECTIONS = 100  # PostgreSQL's own default
MIN_MAX_CONNECTIONS = 4  # PostgreSQL's 3 superuser-reserved slots, plus one for the workload
MAX_MAX_CONNECTIONS = 262_143  # PostgreSQL's own bound (MAX_BACKENDS): it refuses to start above
LOCALHOST = "127.0.0.1"  # where a started server listens, and the only address it is reached on
SUPERUSER = "postgres"


def check_max_connections(max_connections: int) -> None:
    """Refuse a max_connections PostgreSQL would refuse, or that leaves the workload no slot."""
    if max_connections < MIN_MAX_CONNECTIONS:
        raise ConfigError(
            f"max_connections must be at least {MIN_MAX_CONNECTIONS}: 3 are reserved for "
            f"superusers and the workload needs one (got {max_connections})"
        )
    if max_connections > MAX_MAX_CONNECTIONS:
        raise ConfigError(
            f"max_connections must be at most {MAX_MAX_CONNECTIONS:,}, PostgreSQL's own "
            f"limit (got {max_connections:,})"
        )


def server_dsns(where: str, superuser_password: str | None) -> tuple[str, str]:
    """The superuser DSN and the plain role's DSN for ``host:port/db...``; without a password,
    TCP is trusted and the DSNs carry none."""
    if superuser_password is None:
        return f"postgresql://{SUPERUSER}@{where}", f"postgresql://{APP_ROLE}@{where}"
    return (
        f"postgresql://{SUPERUSER}:{superuser_password}@{where}",
        f"postgresql://{APP_ROLE}:{APP_PASSWORD}@{where}",
    )


class StartedServer:
    """A throwaway PostgreSQL dbkit starts for one command, with ``max_connections`` and the
    kit's settings (DEFAULT_SETTINGS, then ``settings``). Use as a context manager, or call
    ``start()`` and ``stop()``; ``stop()`` is safe to call twice."""

    backend: ClassVar[str]
    reason = "asked for"
    throwaway = True
    image: str | None = None  # the container image it runs from (docker only)

    def __init__(
        self, max_connections: int = DEFAULT_MAX_CONNECTIONS, settings: dict[str, str] | None = None
    ) -> None:
        check_max_connections(max_connections)
        self.max_connections = max_connections
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.admin_dsn = ""
        self.app_dsn = ""
        self.info: ServerInfo | None = None

    def start(self) -> Self:
        """Bring the server up, create the workload's plain role, read its settings back."""
        self._prepare()
        try:
            self.admin_dsn, self.app_dsn = self._launch()
            info = asyncio.run(set_up(self.admin_dsn, self.app_dsn, self.backend))
            self.info = dataclasses.replace(info, image=self.image)
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> None:
        """What must hold before anything is started (nothing to undo if it fails)."""

    def _launch(self) -> tuple[str, str]:
        """Start PostgreSQL; return its superuser DSN and the plain role's DSN."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
