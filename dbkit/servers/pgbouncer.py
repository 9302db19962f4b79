"""A real PgBouncer started by dbkit in front of a server, for one dbkit process.

The binary comes from DBKIT_PGBOUNCER, else PATH (then /usr/sbin, where Debian puts it). It runs
in the foreground on 127.0.0.1 and a free port, with its own config and auth file in a temp
folder, as an unprivileged user when dbkit runs as root (PgBouncer refuses root, like
PostgreSQL). Its life is tied to ours three ways: the ``with`` block stops it, an atexit hook
stops one a caller forgot, and PR_SET_PDEATHSIG sends it SIGTERM (PgBouncer's immediate
shutdown) when the thread that started it dies, even by SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

from dbkit.model.errors import ConfigError, ServerError
from dbkit.model.pooler import PoolerInfo, PoolerSpec, supports_prepared_statements
from dbkit.servers.base import APP_PASSWORD, Server
from dbkit.servers.embedded import free_port
from dbkit.servers.unprivileged import run_as, spawn, subprocess_ids

BINARY_ENV = "DBKIT_PGBOUNCER"
# Debian and RPM packages install it here, outside an ordinary user's PATH.
FALLBACK_DIRS = ("/usr/sbin", "/usr/local/sbin")
DIR_PREFIX = "dbkit-pgb-"
ADMIN_USER = "dbkit_pgb_admin"  # in admin_users: may run SHOW on the console (database pgbouncer)
ADMIN_DATABASE = "pgbouncer"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
START_ATTEMPTS = 3  # a free port can be taken between our probe and PgBouncer's bind
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*$")  # names written unquoted into the config


def find_pgbouncer() -> Path:
    """The PgBouncer binary: DBKIT_PGBOUNCER, else ``pgbouncer`` on PATH or in /usr/sbin."""
    override = os.environ.get(BINARY_ENV, "").strip()
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServerError(f"{BINARY_ENV}={override} is not an executable file")
        return path
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path=":".join(FALLBACK_DIRS))
    if found is None:
        raise ServerError(
            "no pgbouncer binary: install PgBouncer (Debian/Ubuntu: apt-get install pgbouncer) "
            f"or set {BINARY_ENV} to its path"
        )
    return Path(found)


def pgbouncer_version(binary: Path, user: tuple[int, int] | None = None) -> str:
    """The version ``pgbouncer --version`` prints (``1.18.0``), run as ``user`` when given, so a
    binary that user cannot run fails here, with its own words, rather than at start."""
    ids = subprocess_ids(user)
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, check=False, cwd="/", timeout=30,
            user=ids[0], group=ids[1], extra_groups=ids[2],
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerError(f"cannot run {binary} --version: {exc}") from None
    out = done.stdout.decode(errors="replace")
    match = re.search(r"PgBouncer\s+(\d+\.\d+(?:\.\d+)?\S*)", out)
    if done.returncode != 0 or match is None:
        err = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ServerError(f"{binary} --version failed (exit {done.returncode}): {err[0]}")
    return match.group(1)


@dataclass(frozen=True)
class Upstream:
    """The server PgBouncer connects to: where it is, the role and password the workload uses
    (the password is also the one clients give PgBouncer), and the database."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_dsn(cls, dsn: str) -> Upstream:
        """From a ``postgresql://`` URL (the server's app DSN); no password: the kit's app one
        (a server that trusts local connections ignores it; PgBouncer's clients still give it)."""
        url = urlsplit(dsn)
        user = unquote(url.username or "")
        if url.scheme not in ("postgres", "postgresql") or not url.hostname or not user:
            raise ConfigError("PgBouncer needs the server as a postgresql:// URL with a user")
        database = unquote(url.path.lstrip("/")) or user
        for what, name in (("role", user), ("database", database)):
            if not _NAME.match(name):
                raise ConfigError(f"PgBouncer in front of this server: unusual {what} {name!r}")
        password = unquote(url.password) if url.password is not None else APP_PASSWORD
        return cls(url.hostname, url.port or 5432, user, password, database)


class PgBouncer:
    """A PgBouncer started by dbkit in front of ``upstream``, configured by ``spec``.

    Use as a context manager, or call ``start()`` and ``stop()``, from the main thread (or one
    that outlives PgBouncer: PDEATHSIG fires when the starting thread ends). Once started:
    ``app_dsn`` reaches the upstream database through PgBouncer, ``admin_dsn`` its admin console
    (SHOW commands; simple query protocol only), ``info`` the version and settings it runs with.
    The console's own connection is one of PgBouncer's clients: it counts in max_client_conn.
    """

    kind = "pgbouncer"

    def __init__(self, spec: PoolerSpec, upstream: Upstream, binary: Path | None = None) -> None:
        if spec.kind != self.kind:
            raise ConfigError(f"PgBouncer cannot run a {spec.kind!r} pooler spec")
        self.spec = spec
        self.upstream = upstream
        self._binary = binary
        self.folder: Path | None = None
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self.app_dsn = ""
        self.admin_dsn = ""
        self.info: PoolerInfo | None = None

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> PgBouncer:
        clear_stale()
        user = run_as()
        binary = self._binary or find_pgbouncer()
        version = pgbouncer_version(binary, user)
        settings = self._settings(version)
        self.folder = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        (self.folder / "owner.pid").write_text(f"{os.getpid()}\n")
        _LIVE.add(self)
        try:
            admin_password = os.urandom(12).hex()
            self._write_auth_file(admin_password)
            for _attempt in range(START_ATTEMPTS):
                self.port = free_port()
                self._write_config(settings)
                if user is not None:
                    for path in [self.folder, *self.folder.iterdir()]:
                        os.chown(path, *user)
                if self._launch(binary, user):
                    break
            else:
                raise ServerError(f"PgBouncer did not start: {self._log_tail()}")
            up = self.upstream
            where = f"127.0.0.1:{self.port}"
            self.app_dsn = (
                f"postgresql://{quote(up.user, safe='')}:{quote(up.password, safe='')}@{where}/"
                f"{quote(up.database, safe='')}?sslmode=disable"
            )
            self.admin_dsn = (
                f"postgresql://{ADMIN_USER}:{admin_password}@{where}/{ADMIN_DATABASE}"
                "?sslmode=disable"
            )
            self.info = PoolerInfo(kind=self.kind, version=version, settings=settings)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Immediate shutdown (SIGTERM), then remove the folder. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        folder, self.folder = self.folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- steps ----------------------------------------------------------------------------

    def _settings(self, version: str) -> dict[str, str]:
        """What the config fixes beyond the plumbing, for the config and for ``info``."""
        settings = self.spec.settings()
        if not supports_prepared_statements(version):
            if self.spec.max_prepared_statements > 0:
                raise ConfigError(
                    f"max_prepared_statements needs PgBouncer 1.21 or later; this is {version}"
                )
            # 1.18 to 1.20 know no such setting (and refuse a config that names it): they keep
            # no prepared statement across server connections, which is what 0 says.
            del settings["max_prepared_statements"]
        return settings

    def _write_auth_file(self, admin_password: str) -> None:
        assert self.folder is not None
        lines = [(self.upstream.user, self.upstream.password), (ADMIN_USER, admin_password)]
        path = self.folder / "userlist.txt"
        path.write_text("".join(f"{_quoted(u)} {_quoted(p)}\n" for u, p in lines))
        path.chmod(0o600)

    def _write_config(self, settings: dict[str, str]) -> None:
        assert self.folder is not None
        up = self.upstream
        plumbing = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",  # TCP only: no socket file in /tmp shared with others
            "auth_type": "scram-sha-256",
            "auth_file": str(self.folder / "userlist.txt"),
            "admin_users": ADMIN_USER,
            # A storm of thousands of clients would fill the log, and the CPU writing it.
            "log_connections": "0",
            "log_disconnections": "0",
        }
        body = [
            "[databases]",
            f"{up.database} = host={up.host} port={up.port} dbname={up.database}",
            "",
            "[pgbouncer]",
            *(f"{key} = {value}" for key, value in {**plumbing, **settings}.items()),
        ]
        path = self.folder / "pgbouncer.ini"
        path.write_text("\n".join(body) + "\n")
        path.chmod(0o600)

    def _launch(self, binary: Path, user: tuple[int, int] | None) -> bool:
        """Start PgBouncer and wait until it accepts connections; False when the port was
        taken meanwhile (try another), ServerError when it failed for any other reason."""
        assert self.folder is not None
        # SIGTERM, PgBouncer's immediate shutdown, when the thread that started it dies
        # (SIGINT would wait for clients to finish); as many open files as the hard limit
        # allows: a storm's clients are file descriptors.
        self._proc = spawn(
            [str(binary), str(self.folder / "pgbouncer.ini")], folder=self.folder,
            log=self.folder / "pgbouncer.log",
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.folder)},
            user=user, death_signal=signal.SIGTERM, open_files=True,
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                if _port_taken(self.port):
                    return False
                raise ServerError(f"PgBouncer exited at start: {self._log_tail()}")
            if _accepts(self.port):
                return True
            time.sleep(0.02)
        raise ServerError(f"PgBouncer not ready after {READY_TIMEOUT_S:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        if self.folder is None:
            return "no log"
        try:
            text = (self.folder / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return "no log"
        lines = text.strip().splitlines()
        return lines[-1] if lines else "empty log"


@contextlib.contextmanager
def start_pgbouncer(spec: PoolerSpec, server: Server) -> Iterator[PgBouncer]:
    """Start a PgBouncer in front of ``server`` (its app role, password and database) for the
    duration of a ``with`` block; it is gone when the block ends, also on an error."""
    with PgBouncer(spec, Upstream.from_dsn(server.app_dsn)) as pooler:
        yield pooler


def clear_stale(tmp: Path | None = None) -> list[Path]:
    """Remove folders left by a dbkit that died (its PgBouncer died with it); return them."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(DIR_PREFIX + "*"):
        try:
            owner = int((folder / "owner.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            owner = None
        if owner is not None and (owner == os.getpid() or _pid_alive(owner)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


# Started and not yet stopped: stopped at interpreter exit if their owner forgot.
_LIVE: set[PgBouncer] = set()


@atexit.register
def _stop_forgotten() -> None:
    for pooler in list(_LIVE):
        pooler.stop()


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
