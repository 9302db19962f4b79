"""ServerInfo: the settings read back from a server, which travel with every result."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerInfo:
    """Settings read back from the server; they travel with every result."""

    backend: str
    server_version: str
    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int
    app_role: str
    app_role_is_superuser: bool
    image: str | None = None  # the container image the server runs in (docker only)

    @property
    def app_reserved(self) -> int:
        """Slots the workload role cannot use."""
        if self.app_role_is_superuser:
            return 0
        return self.superuser_reserved_connections + self.reserved_connections

    @property
    def app_slots(self) -> int:
        """Connections the workload role may open (before the monitor takes its own)."""
        return self.max_connections - self.app_reserved
