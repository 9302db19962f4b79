"""The docker backend, for real: skipped with the reason where no Docker engine answers."""

from __future__ import annotations

import pytest

from dbkit.experiment import run_one
from dbkit.servers import ContainerServer
from dbkit.servers.container import IMAGE, build_container
from dbkit.spec import RunSpec

pytestmark = pytest.mark.docker


def test_builds_the_pinned_container_with_max_connections() -> None:
    container = build_container(42)
    assert container.image == IMAGE
    assert container._command == "postgres -c max_connections=42"


def test_container_server_honours_max_connections() -> None:
    with ContainerServer(max_connections=30) as server:
        assert server.info is not None and server.info.max_connections == 30
        assert not server.info.app_role_is_superuser
        run = run_one(RunSpec("unbatched", tasks=60, hold=0.1), server.app_dsn, server.admin_dsn)
        assert run.ok + run.failed == 60
        assert {e.sqlstate for e in run.errors} == {"53300"}
