"""Ways of getting a PostgreSQL, and ``start_server(spec)``: the choice between them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from dbkit.model.dsn import given_dsn
from dbkit.model.errors import ConfigError
from dbkit.model.server_info import ServerInfo
from dbkit.servers.base import Server, printable_dsn
from dbkit.servers.container import IMAGE as DOCKER_IMAGE
from dbkit.servers.container import ContainerServer, docker_usable
from dbkit.servers.embedded import EmbeddedServer
from dbkit.servers.existing import ExistingServer
from dbkit.servers.started import DEFAULT_MAX_CONNECTIONS, check_max_connections

KINDS = ("auto", "embedded", "docker", "dsn")
KIND_ENV = "DBKIT_SERVER"  # the server every command uses unless --server says otherwise

__all__ = [
    "DOCKER_IMAGE",
    "KINDS",
    "ContainerServer",
    "EmbeddedServer",
    "ExistingServer",
    "Server",
    "ServerInfo",
    "ServerSpec",
    "default_kind",
    "printable_dsn",
    "resolve_kind",
    "start_server",
]


def default_kind() -> str:
    """The server kind when none is asked for: DBKIT_SERVER, else ``auto``."""
    kind = os.environ.get(KIND_ENV, "").strip() or "auto"
    if kind not in KINDS:
        raise ConfigError(f"{KIND_ENV}={kind!r} is not a server; choose one of {', '.join(KINDS)}")
    return kind


@dataclass(frozen=True)
class ServerSpec:
    """Which server to use: kind auto|embedded|docker|dsn, its max_connections, or a DSN.

    The kind defaults to DBKIT_SERVER (else auto), for the CLI and library callers alike.
    ``max_connections`` sets the limit of a server dbkit starts (None: 100); a DSN's server
    keeps its own, so the two together are refused, here, for every caller.
    An image is for the docker server only (auto picks Docker only if the engine has it).
    """

    kind: str = field(default_factory=default_kind)
    max_connections: int | None = None
    dsn: str | None = None
    image: str | None = None  # the docker server's image; else DBKIT_DOCKER_IMAGE, else pinned

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown server {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.dsn and self.max_connections is not None:
            raise ConfigError(
                "--max-connections sets the limit of a server dbkit starts; the DSN's server "
                "keeps its own (read back from it): drop one of them"
            )
        if self.max_connections is not None:
            check_max_connections(self.max_connections)
        if self.image is not None and (self.kind == "dsn" or self.dsn):
            raise ConfigError(
                "--image picks the docker server's image and means nothing with a DSN (that "
                "server is already running): drop --image, or the DSN to let dbkit start one"
            )
        if self.image is not None and self.kind == "embedded":
            raise ConfigError(
                "--image picks the docker server's image; the embedded server has none: "
                "use --server docker, or drop --image"
            )
        if self.kind == "dsn" and not self.dsn:
            raise ConfigError("--server dsn needs --dsn or DBKIT_DSN")
        if self.kind in ("embedded", "docker") and self.dsn:
            chosen = f"--server {self.kind}"
            if os.environ.get(KIND_ENV, "").strip() == self.kind:
                chosen += f" (or {KIND_ENV}={self.kind})"
            raise ConfigError(
                f"{chosen} starts its own server, but a DSN was given "
                "(--dsn, --dsn-file or DBKIT_DSN): drop one of them"
            )

    @property
    def limit(self) -> int | None:
        """The max_connections of the server dbkit starts; None for a DSN's server."""
        if self.dsn:
            return None
        return DEFAULT_MAX_CONNECTIONS if self.max_connections is None else self.max_connections


def server_spec(
    kind: str | None = None,
    *,
    dsn: str | None = None,
    dsn_file: str | None = None,
    max_connections: int | None = None,
    default_max_connections: int = DEFAULT_MAX_CONNECTIONS,
    image: str | None = None,
) -> ServerSpec:
    """The server the user asked for, from a command's options (or a library caller's).

    A DSN comes from ``dsn`` or from the first line of ``dsn_file``, never both: two would
    leave one silently unused, and running against a server other than the one typed is the
    kind of surprise a shared server must not get. ``max_connections`` is the user's choice
    (ServerSpec refuses it with a DSN); ``default_max_connections`` the command's own default
    for a server dbkit starts (a scenario's or deploy file's limit), unused with a DSN.
    """
    dsn = given_dsn(dsn, dsn_file)  # masked from here on, wherever it shows up
    limit = max_connections
    if limit is None and dsn is None:
        limit = default_max_connections
    if kind is None:  # DBKIT_SERVER, else auto
        return ServerSpec(max_connections=limit, dsn=dsn, image=image)
    return ServerSpec(kind=kind, max_connections=limit, dsn=dsn, image=image)


def resolve_kind(spec: ServerSpec) -> tuple[str, str]:
    """The backend ``auto`` stands for, and why it was chosen."""
    if spec.kind != "auto":
        return spec.kind, "asked for"
    if spec.dsn:
        return "dsn", "a DSN was given"
    ok, why = docker_usable(spec.image)
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
        server = ContainerServer(spec.limit or DEFAULT_MAX_CONNECTIONS, image=spec.image)
    else:
        server = EmbeddedServer(spec.limit or DEFAULT_MAX_CONNECTIONS)
    server.reason = why
    with server:
        yield server  # type: ignore[misc]
