"""`main`, the entry point: a Ctrl-C at any moment, even while the kit is still being imported,
is one line and exit 130, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

# Runs `python -m dbkit ARGS` as the command does, after arranging for SIGINT to arrive at the
# moment module TRIP is first imported: a real signal, at a chosen point of start-up.
TRIPPED_START = """
import os, runpy, signal, sys

TRIP = os.environ["DBKIT_TEST_TRIP"]

class Trip:
    def find_spec(self, name, path=None, target=None):
        if name == TRIP:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Trip())
sys.argv = ["dbkit", *sys.argv[1:]]
runpy.run_module("dbkit", run_name="__main__", alter_sys=True)
"""


def _sleep_run(tmp_path: Path) -> list[str]:
    return ["run", "sleep", "--tasks", "10", "--hold", "30", "--mode", "unbatched",
            "--results-dir", str(tmp_path)]  # fmt: skip


@pytest.mark.parametrize("trip", ["typer", "rich.console", "asyncpg", "dbkit.engine.run"])
@pytest.mark.parametrize("command", ["help", "run"])
def test_ctrl_c_while_the_kit_imports_is_one_line_exit_130(
    tmp_path: Path, trip: str, command: str
) -> None:
    args = ["--help"] if command == "help" else _sleep_run(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", TRIPPED_START, *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200", "DBKIT_TEST_TRIP": trip},
    )  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == ["dbkit: error: interrupted"], proc.stderr
    assert proc.stdout == ""


def _drain(stream: object, into: list[str], module: str, seen: threading.Event) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.append(line)
        if line.startswith("import time:") and line.split("|")[-1].strip() == module:
            seen.set()
    seen.set()  # the stream ended (the process exited) without the marker: stop waiting


@pytest.mark.parametrize("command", ["help", "run"])
def test_ctrl_c_held_down_from_start_up_never_shows_a_traceback(
    tmp_path: Path, command: str
) -> None:
    args = ["--help"] if command == "help" else _sleep_run(tmp_path)
    # -X importtime reports each finished import on stderr: once `typer` is reported, start-up
    # has reached main, which imports it (before that, Python itself is starting, and a
    # KeyboardInterrupt there is Python's own traceback, outside anything the kit can catch).
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "dbkit", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    lines: list[str] = []
    seen = threading.Event()
    reader = threading.Thread(target=_drain, args=(proc.stderr, lines, "typer", seen))
    reader.start()
    assert proc.stdout is not None
    out = threading.Thread(target=proc.stdout.read)
    out.start()
    assert seen.wait(120), "start-up never reached the kit"
    assert proc.poll() is None, "".join(lines)  # the command cannot be over by then
    for _ in range(20_000):  # Ctrl-C held down: bounded, about a signal a millisecond
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGINT)
        time.sleep(0.001)
    proc.wait(timeout=120)
    reader.join(timeout=120)
    out.join(timeout=120)
    stderr = "".join(line for line in lines if not line.startswith("import time:"))
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    # --help may be done before the first signal lands; the 30 s run never is
    assert proc.returncode == 130 or (command == "help" and proc.returncode == 0), stderr
    if proc.returncode == 130:
        assert stderr.splitlines()[-1].startswith("dbkit: error: interrupted"), stderr


# What `main(ARGS)` imported: the modules of the commands it did not run stay unloaded.
LOADED = """
import json, sys
from dbkit.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps([code, sorted(m for m in sys.modules if m.startswith("dbkit.cli."))]),
      file=sys.stderr)
"""
OTHER_COMMANDS = {"dbkit.cli.compare", "dbkit.cli.fleet", "dbkit.cli.sweep", "dbkit.cli.report"}


def _loaded(args: list[str]) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, timeout=120
    )
    code, modules = json.loads(done.stderr.strip().splitlines()[-1])
    return code, set(modules), done.stdout


def test_a_command_loads_its_own_module_not_every_commands() -> None:
    # Each command module imports its part of the library (the fleet its processes, compare its
    # tables): a `dbkit run` process pays for none of the others' imports.
    code, modules, out = _loaded(["run", "--help"])
    assert code == 0 and out.startswith("Usage: dbkit run [OPTIONS]")
    assert "dbkit.cli.run" in modules and not modules & OTHER_COMMANDS


@pytest.mark.parametrize("args", [["--help"], ["--version"], []])
def test_the_app_without_a_command_still_knows_every_command(args: list[str]) -> None:
    code, modules, out = _loaded(args)
    assert modules >= OTHER_COMMANDS
    if args == ["--help"]:
        assert code == 0
        for name in ("run", "scenario", "sweep", "report", "compare", "plan", "fleet", "server"):
            assert f" {name} " in out
