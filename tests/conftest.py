"""Fixtures: real PostgreSQL servers started by dbkit's own embedded backend.

Only tests marked ``docker`` see a Docker engine; every other test (and every dbkit command it
runs) sees none, so ``--server auto`` means the embedded server there, engine or not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dbkit.servers import EmbeddedServer
from dbkit.servers.container import docker_available
from tests.helpers import ENGINE_VAR, NO_ENGINE, docker_engine

os.environ[ENGINE_VAR] = NO_ENGINE


@pytest.fixture(autouse=True)
def _engine_for_docker_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    if "docker" in request.keywords:
        with docker_engine():
            yield
    else:
        yield


@pytest.fixture(scope="session")
def pg() -> Iterator[EmbeddedServer]:
    """A server with the default max_connections (100) for the whole session."""
    with EmbeddedServer(max_connections=100) as server:
        yield server


@pytest.fixture(scope="session")
def pg20() -> Iterator[EmbeddedServer]:
    """A server with max_connections 20."""
    with EmbeddedServer(max_connections=20) as server:
        yield server


@pytest.fixture(scope="session")
def logged() -> Iterator[EmbeddedServer]:
    """max_connections 20 (16 for the plain role once the monitor has its slot), logging every
    connection and each line's SQLSTATE first (tests/helpers.py counts its refusals)."""
    settings = {"log_connections": "on", "log_line_prefix": "%e "}
    with EmbeddedServer(max_connections=20, settings=settings) as server:
        yield server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    docker_items = [item for item in items if "docker" in item.keywords]
    if not docker_items:
        return
    with docker_engine():
        ok, why = docker_available()
    if not ok:
        for item in docker_items:
            item.add_marker(pytest.mark.skip(reason=f"docker test: {why}"))
