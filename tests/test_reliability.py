"""Interruptions, servers that are not ours, hostile input: the real command, end to end."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from dbkit.engine.guards import OWN_FILES
from dbkit.servers import EmbeddedServer
from dbkit.servers.embedded import postmaster_status
from tests.helpers import assert_one_line_error, dbkit

SECRET = "orange"  # a password that is also a plausible word, to catch any leak


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _spawn(*args: str, sigint_ignored: bool = False) -> subprocess.Popen[str]:
    """``dbkit ARGS``; ``sigint_ignored`` as a shell without job control starts `cmd &`."""
    return subprocess.Popen(
        [sys.executable, "-m", "dbkit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"never saw {needle!r}")


def _wait_for_busy_pool(folder: Path, size: int, timeout: float = 60) -> None:
    """Until ``size`` workload backends of the server in ``folder`` run a statement."""
    deadline = time.monotonic() + timeout
    # Line 8 of postmaster.pid reads "starting" before "ready": a connection then gets 57P03.
    while (state := postmaster_status(folder / "data"))[0] != "ready":
        assert folder.exists(), f"{folder} went away: the kit stopped before its server was ready"
        assert time.monotonic() < deadline, f"{folder} never said the server was ready"
        time.sleep(0.05)
    port = state[1]
    assert port is not None
    busy = "SELECT count(*) FROM pg_stat_activity WHERE usename = 'dbkit_app' AND state = 'active'"

    async def poll() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres")
        try:
            deadline = time.monotonic() + timeout
            while await conn.fetchval(busy) < size:
                assert time.monotonic() < deadline, f"no busy pool of {size} on port {port}"
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    asyncio.run(poll())


def test_the_wait_for_a_busy_pool_waits_until_the_server_is_ready() -> None:
    """A pid file of 8 lines is not a ready server: line 8 reads "starting" before "ready"."""
    # A standby with hot_standby off and nothing to follow never gets "ready" on line 8 (18
    # writes "standby") and answers every connection with 57P03, as a server still starting
    # does: the state the wait once mistook for ready.
    with EmbeddedServer(max_connections=10, settings={"hot_standby": "off"}) as server:
        assert server.folder is not None
        asyncio.run(server.halt())
        (server.folder / "data" / "standby.signal").touch()
        server._spawn()
        deadline = time.monotonic() + 60
        while not (status := postmaster_status(server.folder / "data")[0]):
            assert time.monotonic() < deadline, "the standby never wrote line 8 of its pid file"
            time.sleep(0.05)
        assert status != "ready"
        with pytest.raises(AssertionError, match="never said the server was ready"):
            _wait_for_busy_pool(server.folder, 1, timeout=1.0)


def _server_folders_of(pid: int) -> list[Path]:
    """Embedded-server folders owned by process ``pid`` (other tests may run servers too)."""
    found = []
    for folder in Path("/tmp").glob("dbkit-pg-*"):
        try:
            if int((folder / "owner.pid").read_text().split()[0]) == pid:
                found.append(folder)
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.parametrize(
    ("sig", "code", "sigint_ignored"),
    [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, False), (signal.SIGTERM, 143, True)],
)
def test_signal_mid_run_keeps_a_partial_result_and_stops_the_server(
    tmp_path: Path, sig: signal.Signals, code: int, sigint_ignored: bool
) -> None:
    out = tmp_path / "partial.json"
    proc = _spawn(
        "run", "pool", "--tasks", "3000", "--pool-size", "10", "--hold", "0.1", "--queries", "1",
        "--server", "embedded", "--out", str(out),
    )  # fmt: skip
    _wait_for_line(proc, "server: embedded")
    (folder,) = _server_folders_of(proc.pid)
    _wait_for_busy_pool(folder, 10)  # the run is under way: no signal lands before it starts
    time.sleep(0.5)  # some tasks finish meanwhile; nothing below depends on how many
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    (run,) = doc["runs"]
    assert run["interrupted"] is True
    assert 0 <= run["ok"] < 3000
    assert run["ok"] + run["failed"] < 3000
    # the pool's 10, and the test's own poller while it waited
    assert len(run["latency_s"]) == 4 and run["peak_server_connections"] in (10, 11)
    assert "INTERRUPTED" in stdout
    assert _server_folders_of(proc.pid) == []  # the server was stopped and its folder removed


@pytest.fixture(scope="module")
def pw_server() -> Iterator[EmbeddedServer]:
    """A server that checks passwords (scram) on TCP, with superuser password SECRET."""
    with EmbeddedServer(max_connections=30, password=SECRET) as server:
        yield server


def _port(server: EmbeddedServer) -> int:
    return server.port


@pytest.mark.parametrize(
    ("dsn_tail", "needle"),
    [
        (f"postgres:wrong{SECRET}@127.0.0.1:{{port}}/postgres?sslmode=disable", "[28P01]"),
        (f"postgres:{SECRET}@127.0.0.1:{{port}}/nodb?sslmode=disable", "[3D000]"),
        (f"postgres:{SECRET}@127.0.0.1:{{port}}/postgres?sslmode=require", "cannot connect"),
        (f"postgres:{SECRET}@127.0.0.1:1/postgres", "ConnectionRefusedError"),
    ],
)
def test_connection_problems_are_one_line_and_never_show_the_password(
    pw_server: EmbeddedServer, dsn_tail: str, needle: str
) -> None:
    dsn = "postgresql://" + dsn_tail.format(port=_port(pw_server))
    proc = dbkit("run", "pool", "--tasks", "5", "--dsn", dsn)
    assert_one_line_error(proc, 1, needle)
    assert SECRET not in proc.stderr


def test_a_dsn_from_a_file_runs_and_no_output_shows_its_password(
    pw_server: EmbeddedServer, tmp_path: Path
) -> None:
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text(f"# staging\n{pw_server.admin_dsn}\n")
    out = tmp_path / "r.json"
    proc = dbkit(
        "run", "unbatched", "--tasks", "5", "--hold", "0.01", "--dsn-file", str(dsn_file),
        "--out", str(out), "--sql", f"SELECT '{SECRET}'",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["runs"][0]["ok"] == 5
    for text in (proc.stdout, proc.stderr, out.read_text()):
        assert SECRET not in text
    bad = dbkit("run", "pool", "--dsn-file", str(tmp_path / "missing"))
    assert_one_line_error(bad, 2, "cannot read the DSN file")


def _roles(dsn: str) -> list[str]:
    async def read() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            return [r[0] for r in await conn.fetch("SELECT rolname FROM pg_roles ORDER BY 1")]
        finally:
            await conn.close()

    return asyncio.run(read())


def test_a_server_that_is_not_ours_is_protected(pg20: EmbeddedServer, tmp_path: Path) -> None:
    dsn = pg20.admin_dsn.replace("postgres@", "dbkit_app@")  # a plain role
    roles = _roles(pg20.admin_dsn)
    refused = dbkit("run", "unbatched", "--tasks", "40", "--dsn", dsn)
    assert_one_line_error(refused, 2, "may open 40 connections but only 16 are free")
    assert "--allow-storm" in refused.stderr
    allowed = dbkit(
        "run", "unbatched", "--tasks", "40", "--hold", "0.2", "--dsn", dsn, "--allow-storm",
        "--json", "--results-dir", str(tmp_path),
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    run = json.loads(allowed.stdout)["runs"][0]
    assert run["failed"] > 0 and {e["sqlstate"] for e in run["errors"]} == {"53300"}
    fitting = dbkit("run", "pool", "--pool-size", "10", "--tasks", "20", "--hold", "0.01",
                    "--dsn", dsn, "--results-dir", str(tmp_path))  # fmt: skip
    assert fitting.returncode == 0, fitting.stderr
    assert _roles(pg20.admin_dsn) == roles  # nothing created on a server that is not ours


def test_custom_sql_is_rolled_back_unless_commit(pg: EmbeddedServer, tmp_path: Path) -> None:
    async def setup(sql: str) -> int:
        conn = await asyncpg.connect(pg.admin_dsn)
        try:
            await conn.execute(sql)
            return int(await conn.fetchval("SELECT count(*) FROM dbkit_probe"))
        finally:
            await conn.close()

    asyncio.run(setup("CREATE TABLE IF NOT EXISTS dbkit_probe (id int); TRUNCATE dbkit_probe"))
    args = [
        "--tasks", "10", "--pool-size", "5", "--queries", "2", "--dsn", pg.admin_dsn,
        "--sql", "INSERT INTO dbkit_probe VALUES (1)", "--results-dir", str(tmp_path),
    ]  # fmt: skip
    rolled_back = dbkit("run", "pool", *args)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert asyncio.run(setup("SELECT 1")) == 0
    committed = dbkit("run", "pool", *args, "--commit")
    assert committed.returncode == 0, committed.stderr
    assert asyncio.run(setup("SELECT 1")) == 20


def test_a_sleep_run_too_large_for_memory_is_refused() -> None:
    proc = dbkit("run", "sleep", "--tasks", "10000000")
    assert proc.returncode == 2
    assert "GiB of memory is available" in proc.stderr or "tasks must be at most" in proc.stderr


@pytest.mark.slow
def test_100000_task_storm_completes_counts_every_task_and_stays_bounded(tmp_path: Path) -> None:
    out = tmp_path / "storm.json"
    # One process of it needs 100,000 sockets; under a lower hard open-files limit (a
    # container's) the kit refuses that rather than measure EMFILE (test_guards), so the storm
    # is spread over just enough processes to stay within the limit.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    room = 100_000 if hard == resource.RLIM_INFINITY else min(100_000, hard - OWN_FILES)
    procs = -(-100_000 // room)
    # The default 60 s connect timeout: creating 100,000 connects keeps the loop busy for ~13 s,
    # so with 10 s nearly every attempt timed out before the server could refuse it (53300).
    proc = subprocess.run(
        [sys.executable, "-c", (
            "import resource, sys; from dbkit.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print('RSS_KB', max(resource.getrusage(r).ru_maxrss for r in "
            "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)), file=sys.stderr); raise\n"
        ), "run", "unbatched", "--tasks", "100000", "--queries", "1", "--hold", "0.1",
           "--procs", str(procs), "--server", "embedded", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads(out.read_text())["runs"][0]
    assert run["ok"] + run["failed"] == 100_000
    assert sum(e["count"] for e in run["errors"]) == run["failed"]
    assert "53300" in {e["sqlstate"] for e in run["errors"]}
    assert run["peak_server_connections"] <= 100
    rss_kb = int(proc.stderr.split("RSS_KB")[1].split()[0])
    assert rss_kb < 1_500_000, f"peak RSS {rss_kb / 1024:.0f} MB"


def test_ctrl_c_mid_fleet_keeps_what_every_process_measured(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    proc = _spawn(
        "fleet", "scenarios/deploys/fits.toml", "--duration", "60", "--server", "embedded",
        "--out", str(out),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (folders := _server_folders_of(proc.pid)):
        assert proc.poll() is None and time.monotonic() < deadline, "no server started"
        time.sleep(0.05)
    _wait_for_busy_pool(folders[0], 10)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)  # far less than the 60 s planned
    assert "interrupted" in stderr and "api" in stdout and "INTERRUPTED after" in stdout
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["fleet"]["failed"] == 0
    (run,) = doc["runs"]
    assert run["interrupted"] is True and run["failed"] == 0 and run["wall_s"] < 60
    assert _server_folders_of(proc.pid) == []
