"""Ways of getting a PostgreSQL, and ``start_server(spec)``: the choice between them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from dbkit.errors import ConfigError
from dbkit.servers.base import Server, ServerInfo
from dbkit.servers.container import ContainerServer, docker_available
from dbkit.servers.embedded import EmbeddedServer
from dbkit.servers.existing import ExistingServer

KINDS = ("auto", "embedded", "docker", "dsn")

__all__ = [
    "KINDS",
    "ContainerServer",
    "EmbeddedServer",
    "ExistingServer",
    "Server",
    "ServerInfo",
    "ServerSpec",
    "resolve_kind",
    "start_server",
]


MIN_MAX_CONNECTIONS = 4  # PostgreSQL's 3 superuser-reserved slots, plus one for the workload


@dataclass(frozen=True)
class ServerSpec:
    """Which server to use: kind auto|embedded|docker|dsn, its max_connections, or a DSN."""

    kind: str = "auto"
    max_connections: int = 100
    dsn: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown server {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.max_connections < MIN_MAX_CONNECTIONS:
            raise ConfigError(
                f"max_connections must be at least {MIN_MAX_CONNECTIONS}: 3 are reserved for "
                f"superusers and the workload needs one (got {self.max_connections})"
            )
        if self.kind == "dsn" and not self.dsn:
            raise ConfigError("--server dsn needs --dsn or DBKIT_DSN")
        if self.kind in ("embedded", "docker") and self.dsn:
            raise ConfigError(
                f"--server {self.kind} starts its own server, but a DSN was given "
                "(--dsn, --dsn-file or DBKIT_DSN): drop one of them"
            )


def resolve_kind(spec: ServerSpec) -> tuple[str, str]:
    """The backend ``auto`` stands for, and why it was chosen."""
    if spec.kind != "auto":
        return spec.kind, "asked for"
    if spec.dsn:
        return "dsn", "a DSN was given"
    ok, why = docker_available()
    return ("docker", why) if ok else ("embedded", why)


@contextlib.contextmanager
def start_server(spec: ServerSpec) -> Iterator[Server]:
    """Start (or reach) the server ``spec`` names; stop it when the block ends, even on error."""
    kind, why = resolve_kind(spec)
    server: EmbeddedServer | ContainerServer | ExistingServer
    if kind == "dsn":
        if not spec.dsn:
            raise ConfigError("--server dsn needs --dsn or DBKIT_DSN")
        server = ExistingServer(spec.dsn)
    elif kind == "docker":
        server = ContainerServer(spec.max_connections)
    else:
        server = EmbeddedServer(spec.max_connections)
    server.reason = why
    with server:
        yield server  # type: ignore[misc]
