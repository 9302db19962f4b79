"""What several test modules share: running the real CLI, waiting for its sessions on the
server (to interrupt it mid-run), the error classes of a lost connection, and what a fleet
must do wherever it runs. Test modules
import from here, never from one another."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from dbkit.engine.status import Status
from dbkit.model.records import ErrorRecord
from dbkit.model.results import Result, Run
from dbkit.model.stats import LatencySummary
from dbkit.model.timeline import Timeline
from dbkit.servers import EmbeddedServer

# A connection the server dropped (terminated, shut down, restarting), by SQLSTATE, or by type
# where the driver fails first on the client side with none.
LOST = {
    "08003", "08006", "57P01", "57P03", "57P02", "asyncpg.exceptions._base.InternalClientError"
}  # fmt: skip


# The suite hides a Docker engine from every test but those marked ``docker`` (tests/conftest.py):
# with an engine up, ``--server auto`` would otherwise quietly measure a container wherever a
# test means the embedded server. DOCKER_HOST as the suite found it (None: the default socket).
ENGINE_VAR = "DOCKER_HOST"
REAL_ENGINE = os.environ.get(ENGINE_VAR)
NO_ENGINE = "unix:///nonexistent/dbkit-tests-see-no-docker-engine.sock"


@contextlib.contextmanager
def docker_engine() -> Iterator[None]:
    """Within the block, this process and the dbkit commands it runs see the real engine."""
    hidden = os.environ.get(ENGINE_VAR)
    _set_engine(REAL_ENGINE)
    try:
        yield
    finally:
        _set_engine(hidden)


def _set_engine(value: str | None) -> None:
    if value is None:
        os.environ.pop(ENGINE_VAR, None)
    else:
        os.environ[ENGINE_VAR] = value


def dbkit(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``dbkit`` command, wide enough that no line wraps."""
    return subprocess.run(
        [sys.executable, "-m", "dbkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    """Bad input: exit ``code``, one line ``dbkit: error: ...`` naming ``needle``, no stdout."""
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()  # one line: no blank line above it either
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dbkit: error: ")
    assert needle in lines[0]
    assert proc.stdout == ""


GOLDEN = Path(__file__).parent / "golden" / "result-v1.json"


def sample_result() -> Result:
    """The result the golden file holds: a storm and a pool run."""
    storm = Run(
        strategy="unbatched",
        name="unbatched",
        params={"queries": 3, "hold": 0.1, "sql": None, "connect_timeout": 60.0, "tasks": 200},
        tasks=200,
        ok=96,
        failed=104,
        queries_ok=288,
        wall_s=1.25,
        setup_s=0.004,
        ideal_s=0.3,
        latency_s=LatencySummary(p50=0.5, p90=0.9, p99=1.1, max=1.2),
        wait_s=LatencySummary(p50=0.2, p90=0.6, p99=0.8, max=0.9),
        service_s=LatencySummary(p50=0.3, p90=0.3, p99=0.31, max=0.32),
        errors=(
            ErrorRecord(
                "asyncpg.exceptions.TooManyConnectionsError",
                "53300",
                104,
                0.05,
                0.8,
                "sorry, too many clients already",
                104,
            ),
        ),
        peak_server_connections=96,
        server_connections=((0.0, 0), (0.05, 96)),
        # the run's own (its tag): 5 of the server's 96 were another client's
        peak_connections=91,
        connections=((0.0, 0), (0.05, 91)),
        application_name="dbkit-5f0c2a9e1b7d4c36",
        # right-sizing: 96 tasks in 1.25 s x a 0.3 s mean service = 23.04 busy on average
        active_peak=91,
        active_p99=90.1,
        demand=23.04,
        # per half second (the kit writes 0.1 s): sums to ok and to the error's count
        timeline=Timeline(
            interval_s=0.5,
            t=(0.0, 0.5, 1.0),
            done=(60, 30, 6),
            errors={"53300": (80, 24, 0)},
            connections=(91, 91, 91),
            in_flight=(60, 6, 0),  # 200 arrived at once; each row's done and failed tasks left
        ),
    )
    pool = Run(
        strategy="pool",
        name="pool-20",
        params={"pool_size": 20, "min_size": 20, "acquire_timeout": None, "tasks": 200},
        tasks=200,
        ok=200,
        failed=0,
        queries_ok=600,
        wall_s=3.125,
        setup_s=0.1,
        ideal_s=3.0,
        latency_s=LatencySummary(p50=1.5, p90=2.75, p99=3.0, max=3.1),
        wait_s=LatencySummary(p50=1.2, p90=2.4, p99=2.7, max=2.8),
        service_s=LatencySummary(p50=0.3, p90=0.3, p99=0.31, max=0.32),
        peak_server_connections=20,
    )
    meta = {
        "dbkit_version": "0.1.0",
        "started_at": "2026-11-24T16:00:00+00:00",
        "command": ["dbkit", "run", "pool", "--dsn", "postgresql://u:***@h/db"],
        "backend": "embedded",
        "server_version": "18.6",
        "max_connections": 100,
        "superuser_reserved_connections": 3,
    }
    return Result(metadata=meta, runs=(storm, pool))


# The server's own count of refused connections: with ``%e`` in log_line_prefix each FATAL line
# starts with its SQLSTATE (the ``logged`` fixture of tests/conftest.py), so the count is by
# SQLSTATE, never by message text.
TOO_MANY = "53300"


def refused_in_log(server: EmbeddedServer) -> int:
    """53300 FATAL lines in ``server``'s log so far."""
    assert server.folder is not None
    lines = (server.folder / "server.log").read_text(errors="replace").splitlines()
    return sum(1 for line in lines if line.startswith(TOO_MANY + " ") and "FATAL" in line)


def kit_count(result: Result) -> int:
    """The 53300s the kit recorded over every run of ``result``."""
    return sum(e.count for run in result.runs for e in run.errors if e.sqlstate == TOO_MANY)


def server_count_since(server: EmbeddedServer, before: int, kit: int) -> int:
    """Refusals logged since ``before``; polled a moment, as the log is written by the server."""
    deadline = time.monotonic() + 5.0
    while (seen := refused_in_log(server) - before) != kit and time.monotonic() < deadline:
        time.sleep(0.1)
    return seen


def server_now(admin_dsn: str) -> Any:
    """The server's clock: sessions that start later are the command's, not an earlier test's."""

    async def now() -> Any:
        conn = await asyncpg.connect(admin_dsn)
        try:
            return await conn.fetchval("SELECT clock_timestamp()")
        finally:
            await conn.close()

    return asyncio.run(now())


def wait_for_sessions(
    admin_dsn: str, size: int, proc: subprocess.Popen[str], column: str, since: Any
) -> None:
    """Bounded polling until ``size`` workload sessions run a statement, counting those whose
    ``column`` of pg_stat_activity (backend_start, query_start) is later than ``since``."""
    busy = (
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'dbkit_app' AND state = 'active'"
        f" AND {column} > $1"
    )

    async def poll() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            deadline = time.monotonic() + 60
            while await conn.fetchval(busy, since) < size:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, f"no {size} sessions busy since {since}"
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    asyncio.run(poll())


def wait_until_busy(admin_dsn: str, size: int, proc: subprocess.Popen[str], since: Any) -> None:
    """Until ``size`` workload sessions that started after ``since`` run a statement: the
    command's run is under way. (An earlier test's sessions may still be active for a moment
    after its process ended, and must not count: a signal sent before the command has taken
    its handlers is lost when it was started with SIGINT ignored, as in a background job.)"""
    wait_for_sessions(admin_dsn, size, proc, "backend_start", since)


def wait_until_serving(admin_dsn: str, size: int, proc: subprocess.Popen[str], since: Any) -> None:
    """Until ``size`` workload sessions that connected after ``since`` have each completed a
    statement and started another (so requests are done: ok > 0); fails if ``proc`` exits."""
    wait_until_busy(admin_dsn, size, proc, since)
    wait_for_sessions(admin_dsn, size, proc, "query_start", server_now(admin_dsn))


# Fleets, on local processes (tests/integration/test_fleet.py) or on a Dask LocalCluster
# (test_dask.py): what either must do, checked the same way.


def spawned_children() -> list[int]:
    """Processes this one spawned ("spawn" start method: a fleet's load processes, a
    LocalCluster's workers) that are still alive; not postgres, nor multiprocessing's resource
    tracker, which lives as long as this process by design."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def assert_fleet_ran(result: Result, ticks: list[Status], duration: float, hold: float) -> None:
    """A fleet of ``duration`` s holding each connection ``hold`` s: every service served, for
    the whole duration, its statements taking the hold; the progress ended on the fleet's own
    totals; no process outlives it; and the whole document survives JSON."""
    fleet = result.fleet
    assert fleet is not None
    for run in result.runs:
        assert run.ok > 0
        assert run.tasks == run.ok + run.failed
        assert run.wall_s >= duration
        assert run.service_s.p50 is not None and run.service_s.p50 >= hold  # pg_sleep(hold)
    assert fleet.ok == sum(r.ok for r in result.runs)
    assert ticks and (ticks[-1].done, ticks[-1].total) == (duration, duration)
    assert all(0 <= t.done <= t.total for t in ticks)
    assert (ticks[-1].ok, ticks[-1].failed) == (fleet.ok, fleet.failed)
    assert spawned_children() == []
    again = Result.from_dict(json.loads(result.dumps()))
    assert again.fleet is not None and again.fleet.to_dict() == fleet.to_dict()
    assert again.metadata["executor"] == result.metadata["executor"]


def assert_terminate_recovered(result: Result, at_s: float, within_s: float) -> None:
    """A ``terminate@at_s`` fault fired, ended backends, and the fleet served again less than
    ``within_s`` after it; what failed, failed as a lost connection."""
    assert result.fleet is not None
    fault = result.fleet.fault
    assert fault is not None and fault.kind == "terminate" and fault.at_s >= at_s
    assert fault.terminated is not None and fault.terminated >= 1
    assert fault.recovery_s is not None and fault.action_s < fault.recovery_s < within_s
    assert result.fleet.failed > 0
    classes = {e.sqlstate or e.type for e in result.fleet.errors}
    assert classes <= LOST, classes
