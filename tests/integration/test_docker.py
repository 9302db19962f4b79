"""The docker backend, for real: skipped with the reason where no Docker engine answers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from dbkit.engine.run import run_one
from dbkit.model.spec import RunSpec
from dbkit.servers import ContainerServer
from dbkit.servers.container import (
    IMAGE_ENV,
    OWNER_LABEL,
    build_container,
    docker_usable,
    image,
)
from tests.helpers import assert_one_line_error, dbkit

pytestmark = pytest.mark.docker

# No engine can provide this: the repository exists nowhere, and no registry may be reachable.
ABSENT_IMAGE = "dbkit-test-absent/postgres:0"


@pytest.fixture
def images() -> None:
    """Skip, saying why, where the engine answers but cannot provide the images."""
    ok, why = docker_usable()
    if not ok:
        pytest.skip(f"docker test: {why}")


def test_builds_the_pinned_container_with_max_connections() -> None:
    container = build_container(42)
    assert container.image == image()
    assert container._command == "postgres -c max_connections=42"


@pytest.mark.usefixtures("images")
def test_container_server_honours_max_connections() -> None:
    with ContainerServer(max_connections=30) as server:
        assert server.info is not None and server.info.max_connections == 30
        assert not server.info.app_role_is_superuser
        run = run_one(RunSpec("unbatched", tasks=60, hold=0.1), server.app_dsn, server.admin_dsn)
        assert run.ok + run.failed == 60
        assert {e.sqlstate for e in run.errors} == {"53300"}


def test_auto_falls_back_to_embedded_when_the_engine_cannot_provide_the_image(
    tmp_path: Path,
) -> None:
    proc = dbkit(
        "run", "pool", "--tasks", "5", "--pool-size", "2", "--hold", "0.01", "--server", "auto",
        "--results-dir", str(tmp_path), env={IMAGE_ENV: ABSENT_IMAGE},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (said,) = [line for line in proc.stderr.splitlines() if line.startswith("server: ")]
    assert said.startswith(
        f"server: embedded (a Docker engine answers but cannot pull {ABSENT_IMAGE}"
    )
    result = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert result["runs"][0]["ok"] == 5


def test_docker_without_the_image_fails_in_one_line_with_a_hint() -> None:
    proc = dbkit("run", "pool", "--tasks", "5", "--server", "docker", env={IMAGE_ENV: ABSENT_IMAGE})
    assert_one_line_error(proc, 1, f"cannot pull {ABSENT_IMAGE}")
    assert "--server embedded" in proc.stderr and IMAGE_ENV in proc.stderr


@pytest.mark.usefixtures("images")
def test_server_up_prints_dsns_that_can_be_pasted() -> None:
    proc, dsns = _server_up()
    try:
        assert set(dsns) == {"superuser DSN", "app DSN"}

        async def users() -> list[str]:
            found = []
            for dsn in dsns.values():
                conn = await asyncpg.connect(dsn)
                try:
                    found.append(str(await conn.fetchval("SELECT current_user")))
                finally:
                    await conn.close()
            return found

        assert sorted(asyncio.run(users())) == ["dbkit_app", "postgres"]
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_server_up_says_why_auto_fell_back() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbkit", "server", "up", "--server", "auto"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200", IMAGE_ENV: ABSENT_IMAGE},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert f"(embedded: a Docker engine answers but cannot pull {ABSENT_IMAGE}" in first


def _server_up(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start ``dbkit server up --server docker`` and read the two DSNs it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbkit", "server", "up", "--server", "docker", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip
    assert proc.stdout is not None
    dsns: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while len(dsns) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if " DSN:" in line:
            name, _, rest = line.partition(":")
            dsns[name] = rest.split()[0]
    if len(dsns) < 2:
        proc.kill()
        _out, errs = proc.communicate(timeout=60)
        pytest.fail(f"server up printed no DSNs: {errs}")
    return proc, dsns


def _containers_of(pid: int) -> list[Any]:
    """The containers the kit process ``pid`` started, found by the kit's own label."""
    from docker.client import DockerClient

    client = DockerClient.from_env(timeout=30)
    try:
        return list(client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={pid}"}))
    finally:
        client.close()


@pytest.mark.usefixtures("images")
def test_docker_server_keeps_every_connection_on_localhost() -> None:
    # Without testcontainers' own setting, on a machine with /.dockerenv it would use the bridge.
    proc, dsns = _server_up(env={"TESTCONTAINERS_CONNECTION_MODE": ""})
    try:
        assert {urlsplit(dsn).hostname for dsn in dsns.values()} == {"127.0.0.1"}
        (container,) = _containers_of(proc.pid)
        bindings = container.attrs["HostConfig"]["PortBindings"]["5432/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert _containers_of(proc.pid) == []  # stopped with the kit


@pytest.mark.usefixtures("images")
def test_sigkill_leaves_no_container_the_next_start_sweeps_it() -> None:
    # The reaper off: what removes the container is the kit's own sweep at its next start.
    proc, _dsns = _server_up(env={"TESTCONTAINERS_RYUK_DISABLED": "true"})
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert len(_containers_of(proc.pid)) == 1  # killed: nothing could stop it
    with ContainerServer(max_connections=10):
        assert _containers_of(proc.pid) == []


@pytest.mark.usefixtures("images")
def test_image_option_records_the_image_and_the_version_it_reported(tmp_path: Path) -> None:
    chosen = image()
    proc = dbkit(
        "run", "unbatched", "--server", "docker", "--image", chosen, "--tasks", "300",
        "--hold", "0.3", "--results-dir", str(tmp_path), env={IMAGE_ENV: ""},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(next(tmp_path.glob("*.json")).read_text())
    meta = result["metadata"]
    assert meta["backend"] == "docker" and meta["image"] == chosen
    assert meta["server_version"][:1].isdigit()
    (run,) = result["runs"]
    assert 0 < run["peak_connections"] <= 97  # the plain role's slots, as on the embedded server
    assert {e["sqlstate"] for e in run["errors"]} == {"53300"}
    assert run["ok"] + sum(e["tasks"] for e in run["errors"]) == 300


def test_image_option_is_refused_for_a_server_that_is_not_docker() -> None:
    proc = dbkit("run", "pool", "--tasks", "5", "--server", "embedded", "--image", "x/y:1")
    assert_one_line_error(proc, 2, "--image")
