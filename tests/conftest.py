"""Fixtures: real PostgreSQL servers started by dbkit's own embedded backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbkit.servers import EmbeddedServer
from dbkit.servers.container import docker_available


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    docker_items = [item for item in items if "docker" in item.keywords]
    if not docker_items:
        return
    ok, why = docker_available()
    if not ok:
        for item in docker_items:
            item.add_marker(pytest.mark.skip(reason=f"docker test: {why}"))
