"""A PostgreSQL in a Docker container, through testcontainers (used when an engine answers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from types import TracebackType
from typing import Any

from dbkit.errors import ConfigError, ServerError
from dbkit.servers.base import APP_PASSWORD, APP_ROLE, ServerInfo, ensure_app_role, read_info

# Pinned: `latest` is 18+, which moved PGDATA; the image's user is a superuser.
IMAGE = "postgres:17-alpine"
IMAGE_ENV = "DBKIT_DOCKER_IMAGE"  # another image to start instead, e.g. one built locally
SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "dbkit_admin"
PULL_TIMEOUT_S = 300
_DETAIL_CHARS = 160


def image() -> str:
    """The PostgreSQL image to start: DBKIT_DOCKER_IMAGE, else the pinned official one."""
    return os.environ.get(IMAGE_ENV, "").strip() or IMAGE


def docker_available() -> tuple[bool, str]:
    """Whether a Docker engine answers, and if not, why (for skip messages and --server auto)."""
    try:
        from docker.client import DockerClient
    except ImportError:
        return False, "the docker package is not installed"
    try:
        client = DockerClient.from_env(timeout=3)
        client.ping()
    except Exception as exc:  # DockerException, or requests' errors from a dead socket
        return False, f"no Docker engine answers ({type(exc).__name__})"
    return True, "a Docker engine answers"


def docker_usable() -> tuple[bool, str]:
    """Whether a Docker engine answers and has (or can pull) every image a container needs.

    An engine without a registry or without pull rights answers, yet cannot start the server:
    ``--server auto`` then falls back to the embedded server, saying why.
    """
    ok, why = docker_available()
    if not ok:
        return ok, why
    missing = _unavailable_image()
    if missing:
        return False, f"a Docker engine answers but {missing}"
    return True, f"a Docker engine answers and has {image()}"


def needed_images() -> list[str]:
    """The PostgreSQL image, and testcontainers' reaper (Ryuk) unless it is disabled."""
    from testcontainers.core.config import testcontainers_config

    ryuk = [] if testcontainers_config.ryuk_disabled else [testcontainers_config.ryuk_image]
    return [image(), *ryuk]


def _unavailable_image() -> str | None:
    """Why the engine cannot provide a needed image (pulling what is absent), or None."""
    from docker.client import DockerClient
    from docker.errors import DockerException, ImageNotFound

    try:
        client = DockerClient.from_env(timeout=PULL_TIMEOUT_S)
        for name in needed_images():
            try:
                client.images.get(name)
            except ImageNotFound:
                try:
                    client.images.pull(name)
                except DockerException as exc:
                    return f"cannot pull {name} ({_one_line(exc)})"
    except Exception as exc:  # DockerException, or requests' errors from a dead socket
        return f"cannot list its images ({_one_line(exc)})"
    return None


def _one_line(exc: Exception) -> str:
    from docker.errors import APIError

    if isinstance(exc, APIError):
        text = f"{exc.status_code}: {exc.explanation or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."


def container_command(max_connections: int, settings: dict[str, str] | None = None) -> str:
    """The server command line the container runs."""
    parts = ["postgres", "-c", f"max_connections={max_connections}"]
    for key, value in (settings or {}).items():
        parts += ["-c", f"{key}={value}"]
    return " ".join(parts)


def _postgres_container_class() -> Any:
    try:  # 4.15 moved the class; the old path still works but warns
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        from testcontainers.postgres import PostgresContainer
    return PostgresContainer


def build_container(max_connections: int, settings: dict[str, str] | None = None) -> Any:
    """The testcontainers PostgresContainer dbkit runs (constructing it needs an engine)."""
    container = _postgres_container_class()(
        image(), username=SUPERUSER, password=SUPERUSER_PASSWORD, dbname="postgres"
    )
    return container.with_command(container_command(max_connections, settings))


class ContainerServer:
    """A throwaway PostgreSQL in Docker; Ryuk removes it even if dbkit is killed."""

    backend = "docker"
    reason = "asked for"
    throwaway = True

    def __init__(self, max_connections: int = 100, settings: dict[str, str] | None = None):
        if max_connections < 1:
            raise ConfigError(f"max_connections must be at least 1 (got {max_connections})")
        self.max_connections = max_connections
        self.settings = settings
        self._container: Any = None
        self.admin_dsn = ""
        self.app_dsn = ""
        self.info: ServerInfo | None = None

    def start(self) -> ContainerServer:
        missing = _unavailable_image()
        if missing:
            raise ServerError(
                f"the Docker engine {missing}; load or build the image there, point "
                f"{IMAGE_ENV} at one it has, or use --server embedded"
            )
        try:
            self._container = build_container(self.max_connections, self.settings)
            self._container.start()
        except Exception as exc:
            self.stop()
            raise ServerError(f"cannot start the Docker container: {exc}") from None
        try:
            host = self._container.get_container_host_ip()
            port = self._container.get_exposed_port(5432)
            self.admin_dsn = f"postgresql://{SUPERUSER}:{SUPERUSER_PASSWORD}@{host}:{port}/postgres"
            self.app_dsn = f"postgresql://{APP_ROLE}:{APP_PASSWORD}@{host}:{port}/postgres"
            asyncio.run(ensure_app_role(self.admin_dsn))
            self.info = asyncio.run(read_info(self.admin_dsn, self.app_dsn, self.backend))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):  # already gone; Ryuk cleans up the rest
                container.stop()

    def __enter__(self) -> ContainerServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
