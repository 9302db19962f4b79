"""The refusals every command passes through (dbkit/engine/guards.py), on real servers and limits.

A server the kit did not start is stood in for by the kit's own embedded server reached only
through `--dsn` (backend "dsn"), with connections held open elsewhere, as a user's staging
server would have them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from dbkit.engine.fleet import run_fleet
from dbkit.model.errors import ConfigError
from dbkit.model.service import Service
from dbkit.servers import EmbeddedServer, ServerSpec
from tests.helpers import assert_one_line_error, dbkit

HELD = 5  # connections another client keeps open on the "outside" server


@contextlib.contextmanager
def held(dsn: str, count: int) -> Iterator[None]:
    """``count`` idle connections of another client, open for the block."""

    async def open_all() -> list[asyncpg.Connection]:
        return list(await asyncio.gather(*(asyncpg.connect(dsn) for _ in range(count))))

    async def close_all() -> None:
        await asyncio.gather(*(c.close() for c in conns))

    # Idle connections need no running loop; the kit's own asyncio.run calls come meanwhile.
    loop = asyncio.new_event_loop()
    conns = loop.run_until_complete(open_all())
    try:
        yield
    finally:
        loop.run_until_complete(close_all())
        loop.close()


@pytest.fixture
def outside(pg20: EmbeddedServer) -> Iterator[str]:
    """A plain role's DSN to a max_connections 20 server, HELD connections busy: 20 - 3
    superuser-reserved - 5 in use - 1 monitor = 11 free."""
    dsn = pg20.admin_dsn.replace("postgres@", "dbkit_app@")
    with held(dsn, HELD):
        yield dsn


FREE = 11
REFUSED = (
    f"but only {FREE} are free on this server (max_connections 20 - 3 reserved - {HELD} in use"
)


def test_a_fleet_that_may_exceed_the_free_connections_is_refused(outside: str) -> None:
    # 2 x 2 x 4 = 16 planned against 11 free: refused before any process starts.
    storm = [Service("api", replicas=2, workers=2, pool_size=4)]
    with pytest.raises(ConfigError, match=re.escape("fleet may open 16 connections " + REFUSED)):
        run_fleet(storm, ServerSpec("dsn", dsn=outside), duration=1.0)
    fits = [Service("api", replicas=2, workers=2, pool_size=2)]  # 8 of 11
    result = run_fleet(fits, ServerSpec("dsn", dsn=outside), duration=1.0, procs=1)
    assert result.fleet is not None and result.fleet.ok > 0
    assert result.fleet.first_failure is None


def test_allow_storm_lets_a_fleet_storm_on_purpose(outside: str) -> None:
    # 2 x 2 x 5 = 20 against 11 free: with --allow-storm it runs, and the server refuses some.
    result = run_fleet(
        [Service("api", replicas=2, workers=2, pool_size=5)],
        ServerSpec("dsn", dsn=outside),
        duration=1.0,
        procs=1,
        allow_storm=True,
    )
    assert result.fleet is not None
    assert result.fleet is not None
    assert "53300" in {e.sqlstate for e in result.fleet.errors}


@pytest.mark.parametrize(
    "args",
    [
        ["fleet", "--service", "api:replicas=2,workers=2,pool_size=4", "--duration", "1"],
        ["sweep", "pool", "--sizes", "5,16", "--tasks", "20"],
        ["run", "pool", "--pool-size", "16", "--tasks", "20"],
        ["scenario", "SCENARIO"],
    ],
    ids=["fleet", "sweep", "run", "scenario"],
)
def test_every_command_with_a_dsn_refuses_a_storm_alike(
    outside: str, tmp_path: Path, args: list[str]
) -> None:
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text(outside + "\n")
    scenario = tmp_path / "storm.toml"
    scenario.write_text('[[runs]]\nstrategy = "unbatched"\ntasks = 16\n')
    args = [str(scenario) if a == "SCENARIO" else a for a in args]
    proc = dbkit(*args, "--dsn-file", str(dsn_file), "--results-dir", str(tmp_path))
    assert_one_line_error(proc, 2, "may open 16 connections " + REFUSED)
    assert proc.stderr.rstrip().endswith("--allow-storm runs it anyway")
    assert not list(tmp_path.glob("*.json"))  # refused before anything ran


def test_every_command_takes_allow_storm() -> None:
    for command in ("run", "scenario", "sweep", "fleet"):
        proc = dbkit(command, "--help")
        assert "--allow-storm" in proc.stdout and "--dsn-file" in proc.stdout, command


PR_CAPBSET_DROP = 24
CAP_SYS_RESOURCE = 24  # lets a process raise its hard limits


def _has_cap_sys_resource() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def _low_files(limit: int, privileged: bool) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    if not privileged:
        # Out of the bounding set, the capability is gone after exec, even for root.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0)


def _with_file_limit(
    limit: int, *args: str, privileged: bool = False
) -> subprocess.CompletedProcess[str]:
    """The real command in a child whose hard open-files limit is ``limit`` (and which cannot
    raise it, unless ``privileged`` and this process can)."""
    return subprocess.run(
        [sys.executable, "-m", "dbkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _low_files(limit, privileged),
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["run", "unbatched", "--tasks", "1000"], "unbatched may open 1,000 sockets"),
        (["run", "unbatched", "--tasks", "1000", "--procs", "2"], "unbatched may open 500 sockets"),
        (["run", "batched", "--tasks", "2000", "--batch-size", "600"], "may open 600 sockets"),
        (["sweep", "unbatched", "--sizes", "10,900"], "unbatched may open 900 sockets"),
        (
            ["fleet", "--service", "api:replicas=4,workers=2,pool_size=50", "--procs", "2"],
            "fleet may open 200 sockets",
        ),
    ],
    ids=["run", "procs", "batched", "sweep", "fleet"],
)
def test_more_sockets_than_open_files_is_refused_before_a_server_starts(
    tmp_path: Path, args: list[str], what: str
) -> None:
    proc = _with_file_limit(256, *args, "--server", "embedded", "--results-dir", str(tmp_path))
    assert_one_line_error(proc, 2, what)
    assert "open-files limit is 256 (ulimit -Hn, which dbkit cannot raise" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_a_run_within_the_open_files_limit_still_runs(pg: EmbeddedServer, tmp_path: Path) -> None:
    # 90 sockets + the kit's own files fit in 160: the guard leaves it alone.
    proc = _with_file_limit(
        160, "run", "unbatched", "--tasks", "90", "--hold", "0.01", "--queries", "1",
        "--dsn", pg.admin_dsn, "--results-dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert '"ok": 90' in proc.stdout


@pytest.mark.skipif(
    not _has_cap_sys_resource(), reason="needs CAP_SYS_RESOURCE to raise a hard limit"
)
def test_a_kit_that_may_raise_its_hard_limit_does_so_and_runs(
    pg: EmbeddedServer, tmp_path: Path
) -> None:
    proc = _with_file_limit(
        160, "run", "unbatched", "--tasks", "300", "--hold", "0.05", "--queries", "1",
        "--dsn", pg.admin_dsn, "--allow-storm", "--results-dir", str(tmp_path), "--json",
        privileged=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    assert run["ok"] + run["failed"] == 300
    assert {e["sqlstate"] for e in run["errors"]} <= {"53300"}  # no EMFILE


def test_other_roles_connections_count_as_in_use_for_a_plain_role(pg20: EmbeddedServer) -> None:
    # A plain role sees other roles' sessions with backend_type NULL (no pg_read_all_stats):
    # they are in use all the same, for the guard, plan's budget and the monitor's total.
    from dbkit.engine.monitor import Monitor
    from dbkit.model.spec import RunSpec
    from dbkit.servers.base import read_in_use

    plain = pg20.admin_dsn.replace("postgres@", "dbkit_app@")

    async def sample() -> int | None:
        async with Monitor(plain, "dbkit-none") as monitor:
            return monitor.server_peak

    with held(pg20.admin_dsn, HELD):  # another role's sessions (here a superuser's)
        assert asyncio.run(read_in_use(plain)) == HELD
        assert asyncio.run(sample()) == HELD
        storm = RunSpec(strategy="unbatched", tasks=16, queries=1, hold=0.1)
        from dbkit.engine.run import run_experiment

        with pytest.raises(ConfigError, match=re.escape("may open 16 connections " + REFUSED)):
            run_experiment([storm], ServerSpec("dsn", dsn=plain))
