"""spawn: the one way a server's process (postgres, PgBouncer) is started."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dbkit.servers.unprivileged import run_as, spawn

WAIT_S = 10.0
LOWERED = 256  # a soft limit of open files below any hard one


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _wait_for(path: Path, lines: int) -> list[str]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = path.read_text().splitlines() if path.exists() else []
        if len(found) >= lines:
            return found
        time.sleep(0.05)
    return path.read_text().splitlines() if path.exists() else []


def test_spawn_runs_as_the_servers_user_in_its_own_group_with_output_in_the_log(
    tmp_path: Path,
) -> None:
    user = run_as()
    if user is not None:
        os.chown(tmp_path, *user)
    script = 'echo "$(id -u) $(ps -o pgid= -p $$) $HOME"; pwd'
    proc = spawn(
        ["/bin/sh", "-c", script], folder=tmp_path, log=tmp_path / "out.log",
        env={"PATH": "/usr/bin:/bin", "HOME": "elsewhere"}, user=user,
        death_signal=signal.SIGTERM,
    )  # fmt: skip
    assert proc.wait(WAIT_S) == 0
    first, where = (tmp_path / "out.log").read_text().splitlines()
    uid, pgid, home = first.split()
    assert int(uid) == (os.getuid() if user is None else user[0])
    assert int(pgid) == proc.pid != os.getpgrp()  # its own group: a Ctrl-C is the kit's
    assert home == "elsewhere" and Path(where) == tmp_path
    assert proc.stdin is None and proc.stdout is None


@pytest.mark.parametrize("open_files", [True, False])
def test_spawn_raises_the_open_file_limit_only_when_asked(tmp_path: Path, open_files: bool) -> None:
    # The starter lowers its own soft limit first: the spawned process inherits it, unless raised.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= LOWERED:
        pytest.skip(f"the hard limit of open files ({hard}) leaves nothing to raise")
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from dbkit.servers.unprivileged import spawn
        resource.setrlimit(resource.RLIMIT_NOFILE, ({LOWERED}, {hard}))
        proc = spawn(
            ["/bin/sh", "-c", "ulimit -Sn"], folder=Path({str(tmp_path)!r}),
            log=Path({str(tmp_path / "out.log")!r}), env={{"PATH": "/usr/bin:/bin"}},
            user=None, death_signal=signal.SIGTERM, open_files={open_files},
        )
        proc.wait({WAIT_S})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=WAIT_S * 2)
    limit = int((tmp_path / "out.log").read_text())
    assert limit == (hard if open_files else LOWERED)


def test_a_spawned_process_gets_its_death_signal_when_its_starter_is_killed(
    tmp_path: Path,
) -> None:
    # The starter prints the child's pid, then is SIGKILLed: the child, trapping SIGTERM,
    # writes the signal it got into its log and exits.
    script = textwrap.dedent(
        f"""
        import signal, sys, time
        from pathlib import Path
        from dbkit.servers.unprivileged import spawn
        trap = "trap 'echo TERM; exit 0' TERM; echo up; while :; do sleep 0.05; done"
        proc = spawn(
            ["/bin/sh", "-c", trap], folder=Path({str(tmp_path)!r}),
            log=Path({str(tmp_path / "out.log")!r}), env={{"PATH": "/usr/bin:/bin"}},
            user=None, death_signal=signal.SIGTERM,
        )
        print(proc.pid, flush=True)
        time.sleep(60)
        """
    )
    starter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert starter.stdout is not None
    pid = int(starter.stdout.readline())
    assert _wait_for(tmp_path / "out.log", 1) == ["up"]
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    assert _wait_gone(pid), "the spawned process outlived its SIGKILLed starter"
    assert _wait_for(tmp_path / "out.log", 2) == ["up", "TERM"]
