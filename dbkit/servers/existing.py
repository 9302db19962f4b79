"""A server the user already runs, given by --dsn or DBKIT_DSN. dbkit changes nothing on it."""

from __future__ import annotations

import asyncio
from types import TracebackType

from dbkit.model.dsn import check_dsn, mask_text, remember_secret
from dbkit.model.errors import ConfigError
from dbkit.model.server_info import ServerInfo
from dbkit.servers.base import read_info


class ExistingServer:
    """The workload and the monitor both use the given DSN; no role is created."""

    backend = "dsn"
    reason = "asked for"
    throwaway = False

    def __init__(self, dsn: str) -> None:
        remember_secret(dsn.strip())
        try:
            self.admin_dsn = self.app_dsn = check_dsn(dsn.strip())
        except ValueError as exc:
            raise ConfigError(mask_text(str(exc))) from None
        self.info: ServerInfo | None = None

    def start(self) -> ExistingServer:
        self.info = asyncio.run(read_info(self.admin_dsn, self.app_dsn, self.backend))
        return self

    def stop(self) -> None:
        pass

    def __enter__(self) -> ExistingServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
