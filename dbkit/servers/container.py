"""A PostgreSQL in a Docker container, through testcontainers (used when an engine answers)."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

from dbkit.model.errors import ServerError
from dbkit.servers.started import (
    DEFAULT_MAX_CONNECTIONS,
    LOCALHOST,
    SUPERUSER,
    StartedServer,
    server_dsns,
)

# Pinned: `latest` is 18+, which moved PGDATA; the image's user is a superuser.
IMAGE = "postgres:17-alpine"
IMAGE_ENV = "DBKIT_DOCKER_IMAGE"  # another image to start instead, e.g. one built locally
OWNER_LABEL = "org.dbkit.owner-pid"  # the kit process a container belongs to
OWNER_START_LABEL = "org.dbkit.owner-start"  # and when that process started
CONTAINER_PORT = 5432  # the server's port inside the container, published on LOCALHOST
SUPERUSER_PASSWORD = "dbkit_admin"
DEFAULT_ENGINE = "unix:///var/run/docker.sock"  # where the docker package looks without DOCKER_HOST
UNIX = "unix://"
# What makes the docker package look elsewhere than DEFAULT_ENGINE when DOCKER_HOST is unset: a
# Docker CLI context (DOCKER_CONTEXT, or a currentContext in a config file).
CONTEXT_ENV = ("DOCKER_CONTEXT", "DOCKER_CONFIG")
CONFIG_FILES = (".docker/config.json", ".dockercfg")  # under the home folder
PING_TIMEOUT_S = 3  # whether an engine answers at all
PULL_TIMEOUT_S = 300  # each request to the engine while the images are looked for and pulled
SWEEP_TIMEOUT_S = 30  # each request while orphaned containers are listed and removed
_DETAIL_CHARS = 160


def image(chosen: str | None = None) -> str:
    """The PostgreSQL image to start: the one chosen (--image), else DBKIT_DOCKER_IMAGE, else the
    pinned official one."""
    return (chosen or "").strip() or os.environ.get(IMAGE_ENV, "").strip() or IMAGE


def docker_available() -> tuple[bool, str]:
    """Whether a Docker engine answers, and if not, why (for skip messages and --server auto)."""
    if _no_engine_socket():
        # What the docker package would say, without its imports (0.1 s of every auto start).
        reason = os.strerror(errno.ENOENT)
        return False, f"no Docker engine answers at {engine_address()} ({reason})"
    try:
        from docker.client import DockerClient
    except ImportError:
        return False, "the docker package is not installed"
    try:
        client = DockerClient.from_env(timeout=PING_TIMEOUT_S)
        client.ping()
    except Exception as exc:  # DockerException, or requests' errors from a dead socket
        return False, f"no Docker engine answers at {engine_address()} ({_os_reason(exc)})"
    return True, "a Docker engine answers"


def engine_address() -> str:
    """Where the Docker engine is looked for: DOCKER_HOST, else the default socket."""
    given = os.environ.get("DOCKER_HOST", "").strip()
    return f"DOCKER_HOST={given}" if given else DEFAULT_ENGINE


def _no_engine_socket() -> bool:
    """True when the docker package would look for its engine at a Unix socket that does not
    exist: DOCKER_HOST's ``unix:///path``, or, with no DOCKER_HOST and no Docker CLI context
    or config that could name another, the default socket."""
    given = os.environ.get("DOCKER_HOST", "").strip()
    if not given:
        if any(os.environ.get(name) for name in CONTEXT_ENV):
            return False
        home = Path(os.path.expanduser("~"))
        if any((home / name).exists() for name in CONFIG_FILES):
            return False
        given = DEFAULT_ENGINE
    if not given.startswith(UNIX + "/"):
        return False  # tcp://, ssh://, a relative path: the docker package's to judge
    return not os.path.lexists(given[len(UNIX) :])


def _os_reason(exc: BaseException) -> str:
    """The operating system's word for why the engine was not reached ("No such file or
    directory", "Permission denied"), found inside the docker and requests wrappers; else the
    exception's class."""
    todo: list[object] = [exc]
    looked: set[int] = set()
    while todo:
        found = todo.pop(0)
        if id(found) in looked:
            continue
        looked.add(id(found))
        if isinstance(found, OSError) and found.strerror:
            return found.strerror
        if isinstance(found, BaseException):
            todo += [*found.args, found.__cause__, found.__context__]
    return type(exc).__name__


def docker_usable(chosen: str | None = None) -> tuple[bool, str]:
    """Whether a Docker engine answers and has (or can pull) every image a container needs.

    An engine without a registry or without pull rights answers, yet cannot start the server:
    ``--server auto`` then falls back to the embedded server, saying why.
    """
    ok, why = docker_available()
    if not ok:
        return ok, why
    missing = _unavailable_image(chosen)
    if missing:
        return False, f"a Docker engine answers but {missing}"
    return True, f"a Docker engine answers and has {image(chosen)}"


def needed_images(chosen: str | None = None) -> list[str]:
    """The PostgreSQL image, and testcontainers' reaper (Ryuk) unless it is disabled."""
    from testcontainers.core.config import testcontainers_config

    ryuk = [] if testcontainers_config.ryuk_disabled else [testcontainers_config.ryuk_image]
    return [image(chosen), *ryuk]


def _unavailable_image(chosen: str | None = None) -> str | None:
    """Why the engine cannot provide a needed image (pulling what is absent), or None."""
    from docker.client import DockerClient
    from docker.errors import DockerException, ImageNotFound

    try:
        client = DockerClient.from_env(timeout=PULL_TIMEOUT_S)
        for name in needed_images(chosen):
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


def build_container(
    max_connections: int, settings: dict[str, str] | None = None, chosen: str | None = None
) -> Any:
    """The testcontainers PostgresContainer dbkit runs (constructing it needs an engine).

    Its port is published on 127.0.0.1 only, and the kit reaches it there whatever
    testcontainers would guess (on a machine with /.dockerenv it picks the bridge gateway).
    The container carries the kit's pid in a label, for the sweep at the next start.
    """
    _reach_the_engine_on_localhost()
    container = _postgres_container_class()(
        image(chosen), username=SUPERUSER, password=SUPERUSER_PASSWORD, dbname="postgres"
    )
    container.ports[f"{CONTAINER_PORT}/tcp"] = (LOCALHOST, None)
    container.ports.pop(str(CONTAINER_PORT), None)
    container.with_kwargs(labels={OWNER_LABEL: str(os.getpid()), OWNER_START_LABEL: _started()})
    return container.with_command(container_command(max_connections, settings))


def _reach_the_engine_on_localhost() -> None:
    """testcontainers' own connections (to its reaper) go to the Docker host too, not through
    the bridge it picks where /.dockerenv exists; TESTCONTAINERS_CONNECTION_MODE still wins."""
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    if testcontainers_config.connection_mode_override is None:
        testcontainers_config.connection_mode_override = ConnectionMode.docker_host


def _started(pid: int | str = "self") -> str:
    """When process ``pid`` started (clock ticks since boot): a pid alone may be reused."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


def sweep_orphans() -> list[str]:
    """Remove the containers of kit processes that are gone (killed before they could stop
    them); returns their ids. The reaper (Ryuk) does this too, unless it is disabled."""
    from docker.client import DockerClient

    removed = []
    client = DockerClient.from_env(timeout=SWEEP_TIMEOUT_S)
    try:
        for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
            labels = container.labels or {}
            pid = labels.get(OWNER_LABEL, "")
            if not pid.isdigit() or _started(pid) == labels.get(OWNER_START_LABEL, ""):
                continue  # its kit process still runs
            with contextlib.suppress(Exception):  # another kit may be removing it too
                container.remove(force=True, v=True)
                removed.append(container.id)
    finally:
        client.close()
    return removed


_image = image  # ContainerServer's parameter of the same name hides the function


class ContainerServer(StartedServer):
    """A throwaway PostgreSQL in Docker, with the embedded server's settings (so that both give
    a storm the same shape); Ryuk removes it even if dbkit is killed."""

    backend = "docker"

    def __init__(
        self,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        settings: dict[str, str] | None = None,
        image: str | None = None,
    ):
        super().__init__(max_connections, settings)
        self.image = _image(image)
        self._container: Any = None

    def _prepare(self) -> None:
        ok, why = docker_available()
        if not ok:
            raise ServerError(
                f"{why}: start one there (e.g. systemctl start docker), point DOCKER_HOST at "
                "one that runs, or use --server embedded"
            )
        missing = _unavailable_image(self.image)
        if missing:
            raise ServerError(
                f"the Docker engine {missing}; load or build the image there, point "
                f"{IMAGE_ENV} at one it has, or use --server embedded"
            )
        with contextlib.suppress(Exception):  # a sweep that fails must not stop this start
            sweep_orphans()

    def _launch(self) -> tuple[str, str]:
        try:
            self._container = build_container(self.max_connections, self.settings, self.image)
            self._container.start()
        except Exception as exc:
            raise ServerError(f"cannot start the Docker container: {exc}") from None
        where = f"{LOCALHOST}:{self._published_port()}/postgres"
        return server_dsns(where, SUPERUSER_PASSWORD)

    def _published_port(self) -> int:
        """The host port the engine published the server's port on (on 127.0.0.1)."""
        wrapped = self._container.get_wrapped_container()
        wrapped.reload()
        for binding in wrapped.attrs["NetworkSettings"]["Ports"].get(f"{CONTAINER_PORT}/tcp") or []:
            if binding.get("HostIp") == LOCALHOST and binding.get("HostPort"):
                return int(binding["HostPort"])
        raise ServerError(
            f"the Docker engine published no port for {CONTAINER_PORT} on {LOCALHOST}"
        )

    def stop(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):  # already gone; Ryuk cleans up the rest
                container.stop()
