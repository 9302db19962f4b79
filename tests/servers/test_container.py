"""The container server's command line, and how an absent engine is found: no engine needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dbkit.servers.container import IMAGE, container_command


def test_container_command_pins_the_image_and_passes_max_connections() -> None:
    assert IMAGE == "postgres:17-alpine"  # latest is 18+, which moved PGDATA
    assert container_command(100) == "postgres -c max_connections=100"
    assert container_command(20, {"fsync": "off"}) == (
        "postgres -c max_connections=20 -c fsync=off"
    )


def _available_in_a_fresh_process(env: dict[str, str]) -> list[object]:
    code = (
        "import json, sys\n"
        "from dbkit.servers.container import docker_available\n"
        "ok, why = docker_available()\n"
        "print(json.dumps([ok, why, 'docker' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    answer: list[object] = json.loads(out.stdout)
    return answer


def test_no_engine_socket_is_said_without_loading_the_docker_package(tmp_path: Path) -> None:
    # The docker package (and requests with it) costs every `--server auto` start about 0.1 s
    # of imports; where the engine's Unix socket does not exist, its answer is known without.
    socket = tmp_path / "no-engine.sock"
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket}"}
    assert _available_in_a_fresh_process(env) == [
        False,
        f"no Docker engine answers at DOCKER_HOST=unix://{socket} (No such file or directory)",
        False,
    ]


def test_an_existing_socket_or_another_address_is_asked_through_the_docker_package(
    tmp_path: Path,
) -> None:
    # Something at the path that is no engine: the docker package finds that out, as before.
    socket = tmp_path / "not-an-engine.sock"
    socket.write_text("")
    for host in (f"unix://{socket}", "tcp://127.0.0.1:1"):
        ok, why, loaded = _available_in_a_fresh_process({**os.environ, "DOCKER_HOST": host})
        assert ok is False and loaded is True
        assert str(why).startswith(f"no Docker engine answers at DOCKER_HOST={host} (")
