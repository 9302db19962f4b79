"""The server a command asks for (ServerSpec) and what it refuses: no server needed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dbkit.engine.fleet import run_fleet
from dbkit.engine.run import run_experiment
from dbkit.engine.sweep import run_sweep
from dbkit.model.errors import ConfigError, ServerError
from dbkit.model.service import Service
from dbkit.model.spec import RunSpec
from dbkit.servers import ContainerServer, ServerSpec, resolve_kind, server_spec
from tests.helpers import assert_one_line_error, dbkit

NO_ENGINE_HERE = "unix:///nonexistent.sock"  # no Docker engine answers there
# Nothing listens on port 1: a call that got as far as connecting would fail differently.
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"
LIMIT_FOR_A_DSN = "--max-connections sets the limit of a server dbkit starts"

ENTRY_POINTS: dict[str, Callable[[ServerSpec], object]] = {
    "run_experiment": lambda server: run_experiment([RunSpec("pool", tasks=3)], server),
    "run_sweep": lambda server: run_sweep(RunSpec("pool", tasks=3), [1, 2], server),
    "run_fleet": lambda server: run_fleet(
        [Service("api", replicas=1, workers=1, pool_size=2)], server, duration=1.0
    ),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("kind", ["dsn", "auto"])
def test_a_dsns_server_refuses_max_connections_in_every_library_call(entry: str, kind: str) -> None:
    with pytest.raises(ConfigError) as refused:
        ENTRY_POINTS[entry](ServerSpec(kind, dsn=UNREACHABLE, max_connections=100))
    (line,) = str(refused.value).splitlines()
    assert line.startswith(LIMIT_FOR_A_DSN)
    with pytest.raises(ConfigError) as also:
        server_spec(kind, dsn=UNREACHABLE, max_connections=100)
    assert str(also.value) == line  # the CLI's own way in says the same


def test_the_cli_refuses_a_dsn_with_max_connections_in_the_librarys_words() -> None:
    with pytest.raises(ConfigError) as refused:
        ServerSpec(dsn=UNREACHABLE, max_connections=100)
    cli = dbkit("run", "pool", "--tasks", "3", "--dsn", UNREACHABLE, "--max-connections", "100")
    assert cli.returncode == 2 and cli.stderr.strip() == f"dbkit: error: {refused.value}"


def test_a_dsns_server_keeps_its_own_limit_and_a_started_one_takes_the_default() -> None:
    assert ServerSpec("dsn", dsn=UNREACHABLE).limit is None
    assert ServerSpec("embedded").limit == 100
    assert ServerSpec("embedded", max_connections=30).limit == 30
    # A command's own default (a scenario's or deploy file's limit) is no choice of the user's.
    assert server_spec("dsn", dsn=UNREACHABLE, default_max_connections=50).limit is None
    assert server_spec("embedded", default_max_connections=50).limit == 50


def test_docker_with_no_engine_at_docker_host_says_so_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc = dbkit("run", "pool", "--tasks", "3", "--server", "docker",
                 env={"DOCKER_HOST": NO_ENGINE_HERE})  # fmt: skip
    assert_one_line_error(proc, 1, f"no Docker engine answers at DOCKER_HOST={NO_ENGINE_HERE}")
    assert "--server embedded" in proc.stderr and "images" not in proc.stderr
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE_HERE)
    with pytest.raises(ServerError) as refused:
        ContainerServer(10).start()
    assert proc.stderr.strip() == f"dbkit: error: {refused.value}"  # the library says the same
    kind, why = resolve_kind(ServerSpec("auto"))
    assert kind == "embedded" and why.startswith(
        f"no Docker engine answers at DOCKER_HOST={NO_ENGINE_HERE}"
    )
